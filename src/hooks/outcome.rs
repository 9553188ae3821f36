//! What hooks said, read by Claude Code's protocol: exit 0 (stdout is JSON when it starts
//! with `{`), exit 2 (block; stderr is the reason), anything else a non-blocking error (but
//! a JSON answer on stdout still counts). [`Summary`] gathers the outcomes of one event:
//! blocks, `continue: false`, a PreToolUse permission decision (deny beats defer beats ask
//! beats allow), `updatedInput`, context for the model, messages for the user.

use std::time::Duration;

use serde_json::Value;

use super::HookEvent;

/// Text a hook hands the model or the user is cut to this many characters.
const MAX_TEXT: usize = 10_000;

/// One hook's run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub command: String,
    /// `None` when it did not finish (timed out, could not start).
    pub exit: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Why it did not finish.
    pub error: Option<String>,
    pub elapsed: Duration,
}

impl Outcome {
    pub(super) fn finished(
        command: String,
        exit: Option<i32>,
        stdout: String,
        stderr: String,
        elapsed: Duration,
    ) -> Outcome {
        Outcome { command, exit: exit.or(Some(-1)), stdout, stderr, error: None, elapsed }
    }

    pub(super) fn failed(command: String, error: String) -> Outcome {
        Outcome {
            command,
            exit: None,
            stdout: String::new(),
            stderr: String::new(),
            error: Some(error),
            elapsed: Duration::ZERO,
        }
    }

    /// Stdout as JSON, when it is an object.
    fn json(&self) -> Option<Value> {
        let text = self.stdout.trim_start();
        if !text.starts_with('{') {
            return None;
        }
        serde_json::from_str::<Value>(text).ok().filter(Value::is_object)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PermissionVerdict {
    Allow,
    Ask,
    Defer,
    Deny,
}

/// Everything the hooks of one event said.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub outcomes: Vec<Outcome>,
    /// Hooks that blocked: `(command, reason)`.
    pub blocks: Vec<(String, String)>,
    /// `continue: false`: stop, with the reason for the user.
    pub stop: Option<String>,
    /// A PreToolUse decision and its reason; or a PermissionRequest answer.
    pub permission: Option<(PermissionVerdict, String)>,
    /// A replacement for the tool's input.
    pub updated_input: Option<Value>,
    /// Context for the model, worded as Claude Code words it.
    pub context: Vec<String>,
    /// For the user: `systemMessage`s.
    pub messages: Vec<String>,
    /// For the user: hooks that failed without blocking.
    pub errors: Vec<String>,
}

impl Summary {
    /// The same with every credential cairn holds replaced (a hook that prints the
    /// environment it inherited from cairn shows no key, to the model or anyone).
    #[must_use]
    pub fn redacted(mut self, secrets: &crate::secrets::Secrets) -> Summary {
        if secrets.is_empty() {
            return self;
        }
        let clean = |text: &mut String| {
            if let std::borrow::Cow::Owned(redacted) = secrets.redact(text) {
                *text = redacted;
            }
        };
        for outcome in &mut self.outcomes {
            clean(&mut outcome.stdout);
            clean(&mut outcome.stderr);
            outcome.error.iter_mut().for_each(clean);
        }
        for (command, reason) in &mut self.blocks {
            clean(command);
            clean(reason);
        }
        self.stop.iter_mut().for_each(clean);
        if let Some((_, reason)) = &mut self.permission {
            clean(reason);
        }
        self.context.iter_mut().chain(&mut self.messages).chain(&mut self.errors).for_each(clean);
        self
    }

    pub(super) fn gather(event: HookEvent, target: &str, outcomes: Vec<Outcome>) -> Summary {
        let mut summary = Summary::default();
        let label =
            if target.is_empty() || !event.is_about_a_tool() { event.to_string() } else { format!("{event}:{target}") };
        for outcome in &outcomes {
            if let Some(error) = &outcome.error {
                summary.errors.push(format!("{label} hook error: {}: {error}", outcome.command));
                continue;
            }
            let json = outcome.json();
            match outcome.exit {
                Some(2) => {
                    let reason = json.as_ref().and_then(|j| j["reason"].as_str()).map(str::to_owned);
                    let reason = reason.unwrap_or_else(|| outcome.stderr.trim().to_owned());
                    summary.blocks.push((outcome.command.clone(), cap(&reason)));
                }
                Some(0) => match json {
                    Some(json) => summary.apply(event, &label, &outcome.command, &json),
                    None => {
                        let text = outcome.stdout.trim();
                        if !text.is_empty() && matches!(event, HookEvent::UserPromptSubmit | HookEvent::SessionStart) {
                            let wording = if event == HookEvent::UserPromptSubmit {
                                "hook success"
                            } else {
                                "hook additional context"
                            };
                            summary.context.push(format!("{event} {wording}: {}", cap(text)));
                        }
                    }
                },
                Some(code) => match json {
                    // A JSON answer counts whatever the exit code (Claude Code's newer rule).
                    Some(json) => summary.apply(event, &label, &outcome.command, &json),
                    None => {
                        let first = outcome.stderr.lines().next().unwrap_or("").trim();
                        summary.errors.push(format!(
                            "{label} hook error: {}: Failed with non-blocking status code {code}{}",
                            outcome.command,
                            if first.is_empty() { String::new() } else { format!(": {first}") }
                        ));
                    }
                },
                None => {}
            }
        }
        summary.outcomes = outcomes;
        summary
    }

    fn apply(&mut self, event: HookEvent, label: &str, command: &str, json: &Value) {
        if json["continue"] == Value::Bool(false) {
            let reason = json["stopReason"].as_str().unwrap_or("").to_owned();
            self.stop = Some(self.stop.take().map_or(reason.clone(), |r| if r.is_empty() { reason } else { r }));
        }
        if let Some(message) = json["systemMessage"].as_str().filter(|m| !m.trim().is_empty()) {
            self.messages.push(cap(message));
        }
        let reason = json["reason"].as_str().unwrap_or("").to_owned();
        match json["decision"].as_str() {
            Some("block") if event == HookEvent::PreToolUse => self.decide(PermissionVerdict::Deny, reason),
            Some("approve") if event == HookEvent::PreToolUse => self.decide(PermissionVerdict::Allow, reason),
            Some("block") => self.blocks.push((command.to_owned(), cap(&reason))),
            _ => {}
        }
        let specific = &json["hookSpecificOutput"];
        if let Some(decision) = specific["permissionDecision"].as_str() {
            let verdict = match decision {
                "allow" => Some(PermissionVerdict::Allow),
                "deny" => Some(PermissionVerdict::Deny),
                "ask" => Some(PermissionVerdict::Ask),
                "defer" => Some(PermissionVerdict::Defer),
                _ => None,
            };
            if let Some(verdict) = verdict {
                let reason = specific["permissionDecisionReason"].as_str().unwrap_or("").to_owned();
                self.decide(verdict, reason);
            }
        }
        // PermissionRequest: {"decision": {"behavior": "allow" | "deny", "message", "updatedInput"}}.
        if let Some(behavior) = specific["decision"]["behavior"].as_str() {
            let verdict = if behavior == "allow" { PermissionVerdict::Allow } else { PermissionVerdict::Deny };
            let message = specific["decision"]["message"].as_str().unwrap_or("").to_owned();
            self.decide(verdict, message);
            if let Some(input) = specific["decision"]["updatedInput"].as_object() {
                self.updated_input = Some(Value::Object(input.clone()));
            }
        }
        if let Some(input) = specific["updatedInput"].as_object() {
            self.updated_input = Some(Value::Object(input.clone()));
        }
        if let Some(context) = specific["additionalContext"].as_str().filter(|c| !c.trim().is_empty()) {
            self.context.push(format!("{label} hook additional context: {}", cap(context)));
        }
    }

    /// Keeps the strongest decision: deny, then defer, then ask, then allow.
    fn decide(&mut self, verdict: PermissionVerdict, reason: String) {
        match &self.permission {
            Some((current, _)) if *current >= verdict => {}
            _ => self.permission = Some((verdict, reason)),
        }
    }

    pub fn blocked(&self) -> bool {
        !self.blocks.is_empty()
    }

    /// The blocking reasons, one per line.
    pub fn block_reason(&self) -> String {
        self.blocks.iter().map(|(_, r)| r.as_str()).filter(|r| !r.is_empty()).collect::<Vec<_>>().join("\n")
    }
}

fn cap(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_TEXT).collect();
    format!("{cut}… (cut at {MAX_TEXT} characters)")
}

/// Context for the model as Claude Code hands it over: a `<system-reminder>` block.
pub fn context_block(text: &str) -> String {
    format!("<system-reminder>\n{text}\n</system-reminder>")
}
