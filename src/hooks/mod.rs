//! Hooks: the user's commands, run at points of the session exactly as Claude Code runs
//! them, so existing hook scripts work unchanged.
//!
//! Settings hold, per event, groups of a matcher and handlers (reference §1.1). [`Hooks`]
//! compiles them once; [`Hooks::run`] runs every handler whose matcher fits the event's
//! target (the tool name for tool events, the `source`/`reason`/`trigger` for others) — all
//! of them at once, identical commands once — with the event's JSON on stdin, and reads
//! the outcome (`outcome`): exit 0 with optional JSON on stdout, exit 2 to block, anything
//! else a non-blocking error. The core decides what an outcome does to the session; the
//! wording the model sees lives in `outcome` too.

mod callback;
mod event;
mod outcome;
mod process;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conversation::tool_names::canonical;
pub use callback::{CallbackHost, Callbacks, HostRef};
pub use event::HookEvent;
pub use outcome::{Outcome, PermissionVerdict, Summary, context_block};
use process::Run;

/// Claude Code's default: ten minutes.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, Debug)]
enum Matcher {
    All,
    /// Exact names (`Edit|Write`, `Bash`).
    Names(Vec<String>),
    /// Anything else: a regular expression, unanchored.
    Pattern(Regex),
}

impl Matcher {
    fn parse(text: Option<&str>) -> Result<Matcher, String> {
        let text = text.unwrap_or("").trim();
        if text.is_empty() || text == "*" {
            return Ok(Matcher::All);
        }
        let plain = text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | ',' | '|'));
        if plain {
            let names = text.split(['|', ',']).map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
            return Ok(Matcher::Names(names));
        }
        Regex::new(text)
            .map(Matcher::Pattern)
            .map_err(|e| format!("the matcher {text:?} is not a valid regular expression: {e}"))
    }

    fn fits(&self, target: &str) -> bool {
        match self {
            Matcher::All => true,
            // Old and new names of a tool (`Task`/`Agent`, `KillShell`/`TaskStop`) are one.
            Matcher::Names(names) => names.iter().any(|n| n == target || canonical(n) == canonical(target)),
            Matcher::Pattern(regex) => regex.is_match(target),
        }
    }
}

/// One command to run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Program {
    /// `sh -c` this.
    Shell(String),
    /// This program and arguments, no shell.
    Exec(Vec<String>),
    /// A host program's hook, by the id it registered.
    Callback(String),
}

impl Program {
    /// How messages name it.
    pub fn display(&self) -> String {
        match self {
            Program::Shell(command) => command.clone(),
            Program::Exec(args) => args.join(" "),
            Program::Callback(id) => format!("callback {id}"),
        }
    }
}

#[derive(Clone, Debug)]
struct Handler {
    program: Program,
    timeout: Duration,
    /// A permission rule the call must match (`"if": "Bash(git commit:*)"`).
    condition: Option<crate::permissions::PermissionRule>,
}

#[derive(Clone, Debug)]
struct Group {
    event: HookEvent,
    matcher: Matcher,
    matcher_text: String,
    handlers: Vec<Handler>,
    source: String,
}

/// A problem with a configured hook; the hook is skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookProblem {
    pub source: String,
    pub event: String,
    pub problem: String,
}

/// One group of a settings file's `hooks.<Event>` list: a matcher and its handlers.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct HookMatcher {
    /// Which calls (tool names, or the event's own field): omitted, "" or "*" for all; names
    /// separated by `|`; anything else is a regular expression.
    pub matcher: Option<String>,
    pub hooks: Vec<HookHandler>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HookHandler {
    /// "command" (the others Claude Code knows — http, prompt, agent, mcp_tool — are not run
    /// by cairn).
    #[serde(rename = "type")]
    pub kind: String,
    /// The shell command (run with `sh -c`).
    pub command: Option<String>,
    /// Arguments: the command runs without a shell.
    pub args: Option<Vec<String>>,
    /// Seconds before the hook is stopped (default 600).
    pub timeout: Option<f64>,
    /// A permission rule the call must match for the hook to run (tool events).
    #[serde(rename = "if")]
    pub condition: Option<String>,
    /// Shown while the hook runs.
    pub status_message: Option<String>,
}

/// The hooks of a session.
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    groups: Vec<Group>,
    /// The folder the session started in (`CLAUDE_PROJECT_DIR`).
    project_dir: PathBuf,
    /// The settings' `env`, for the hooks' environment.
    env: Vec<(String, String)>,
    /// A host's hooks (kept when the settings' hooks are read again), and the host.
    callbacks: Vec<Group>,
    host: Option<HostRef>,
}

/// What a hook run needs to know besides its input.
pub struct Invocation<'a> {
    pub event: HookEvent,
    /// What matchers are checked against: a tool name, a `source`, a `reason`…
    pub target: &'a str,
    pub input: Value,
    /// The folder hooks run in (the session's current one).
    pub cwd: &'a Path,
    /// For `if` conditions: the tool call.
    pub call: Option<(&'a str, &'a Value)>,
    /// A deadline for all of them together (SessionEnd), over each hook's own.
    pub budget: Option<Duration>,
}

impl Hooks {
    /// Compiles the configured groups; what cannot be used is reported and skipped.
    pub fn new(
        configured: &[(String, HookMatcher, String)],
        project_dir: &Path,
        env: Vec<(String, String)>,
    ) -> (Hooks, Vec<HookProblem>) {
        let mut problems = Vec::new();
        let mut groups = Vec::new();
        for (event, group, source) in configured {
            let problem = |problem: String| HookProblem { source: source.clone(), event: event.clone(), problem };
            let Some(known) = HookEvent::parse(event) else {
                problems.push(problem(format!("cairn does not know the event {event:?}; its hooks never run")));
                continue;
            };
            let matcher = match Matcher::parse(group.matcher.as_deref()) {
                Ok(matcher) => matcher,
                Err(e) => {
                    problems.push(problem(e));
                    continue;
                }
            };
            let mut handlers = Vec::new();
            for handler in &group.hooks {
                match compile_handler(handler, project_dir) {
                    Ok((h, note)) => {
                        handlers.push(h);
                        problems.extend(note.map(problem));
                    }
                    Err(e) => problems.push(problem(e)),
                }
            }
            if !handlers.is_empty() {
                groups.push(Group {
                    event: known,
                    matcher,
                    matcher_text: group.matcher.clone().unwrap_or_default(),
                    handlers,
                    source: source.clone(),
                });
            }
        }
        let hooks = Hooks { groups, project_dir: project_dir.to_path_buf(), env, callbacks: Vec::new(), host: None };
        (hooks, problems)
    }

    /// Adds a host's hooks, run through `host`; what cannot be used is reported.
    pub fn add_callbacks(&mut self, registered: &[Callbacks], host: HostRef) -> Vec<String> {
        let mut problems = Vec::new();
        for group in registered {
            let Some(event) = HookEvent::parse(&group.event) else {
                problems.push(format!("cairn does not know the event {:?}; its callbacks never run", group.event));
                continue;
            };
            let matcher = match Matcher::parse(group.matcher.as_deref()) {
                Ok(matcher) => matcher,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            let timeout =
                group.timeout.and_then(|s| crate::limits::seconds(s, MAX_TIMEOUT)).map_or(DEFAULT_TIMEOUT, |t| t.value);
            let handlers = group
                .ids
                .iter()
                .map(|id| Handler { program: Program::Callback(id.clone()), timeout, condition: None })
                .collect();
            self.callbacks.push(Group {
                event,
                matcher,
                matcher_text: group.matcher.clone().unwrap_or_default(),
                handlers,
                source: "the host program".into(),
            });
        }
        self.host = Some(host);
        problems
    }

    /// These hooks, with the host's hooks of `before` kept (the settings were read again).
    #[must_use]
    pub fn keeping_callbacks_of(mut self, before: &Hooks) -> Hooks {
        self.callbacks.clone_from(&before.callbacks);
        self.host.clone_from(&before.host);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.callbacks.is_empty()
    }

    /// Whether any hook is configured for the event.
    pub fn has(&self, event: HookEvent) -> bool {
        self.all_groups().any(|g| g.event == event)
    }

    fn all_groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().chain(&self.callbacks)
    }

    /// What is configured, for `/hooks`: event, matcher, command, source.
    pub fn listing(&self) -> Vec<(HookEvent, String, String, String)> {
        let mut out = Vec::new();
        for group in self.all_groups() {
            for handler in &group.handlers {
                out.push((group.event, group.matcher_text.clone(), handler.program.display(), group.source.clone()));
            }
        }
        out
    }

    /// Runs every hook that fits, at once, and gathers their outcomes in configuration
    /// order.
    pub async fn run(&self, invocation: Invocation<'_>) -> Summary {
        let mut seen: HashSet<&Program> = HashSet::new();
        let mut chosen: Vec<&Handler> = Vec::new();
        for group in self.all_groups().filter(|g| g.event == invocation.event && g.matcher.fits(invocation.target)) {
            for handler in &group.handlers {
                if !condition_fits(handler, invocation.call, invocation.cwd) {
                    continue;
                }
                if seen.insert(&handler.program) {
                    chosen.push(handler);
                }
            }
        }
        if chosen.is_empty() {
            return Summary::default();
        }
        let stdin = Arc::new(serde_json::to_vec(&invocation.input).unwrap_or_default());
        let runs = chosen.iter().map(|handler| {
            let timeout = invocation.budget.map_or(handler.timeout, |b| b.min(handler.timeout));
            if let (Program::Callback(id), Some(host)) = (&handler.program, &self.host) {
                return Box::pin(callback::run(host.clone(), id.clone(), invocation.input.clone(), timeout))
                    as futures::future::BoxFuture<'static, Outcome>;
            }
            Box::pin(
                Run {
                    program: handler.program.clone(),
                    cwd: invocation.cwd.to_path_buf(),
                    project_dir: self.project_dir.clone(),
                    env: self.env.clone(),
                    stdin: Arc::clone(&stdin),
                    timeout,
                }
                .start(),
            )
        });
        let outcomes = futures::future::join_all(runs).await;
        Summary::gather(invocation.event, invocation.target, outcomes)
    }
}

/// The longest a hook may be given: a day (a `"timeout": 1e300` is held to it, and said).
const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// A handler, and a note on what was changed to make it usable.
fn compile_handler(handler: &HookHandler, project_dir: &Path) -> Result<(Handler, Option<String>), String> {
    if handler.kind != "command" {
        return Err(format!(
            "{:?} hooks are not supported by cairn (only \"command\"); this one is skipped",
            handler.kind
        ));
    }
    let substitute = |text: &str| {
        let dir = project_dir.display().to_string();
        text.replace("${CLAUDE_PROJECT_DIR}", &dir)
            .replace("$CLAUDE_PROJECT_DIR", &dir)
            .replace("${CAIRN_PROJECT_DIR}", &dir)
    };
    let program = match (&handler.args, &handler.command) {
        (Some(args), command) if !args.is_empty() || command.is_some() => {
            let mut all: Vec<String> = command.iter().cloned().collect();
            all.extend(args.iter().cloned());
            Program::Exec(all.iter().map(|a| substitute(a)).collect())
        }
        (_, Some(command)) if !command.trim().is_empty() => Program::Shell(command.clone()),
        _ => return Err("a command hook needs a \"command\"".into()),
    };
    let mut note = None;
    let timeout = match handler.timeout.map(|s| (s, crate::limits::seconds(s, MAX_TIMEOUT))) {
        Some((seconds, Some(capped))) if seconds > 0.0 => {
            if capped.capped {
                note = Some(format!(
                    "\"timeout\": {seconds} s is longer than cairn waits for a hook; it is held to {} s",
                    MAX_TIMEOUT.as_secs()
                ));
            }
            capped.value
        }
        Some(_) => return Err("\"timeout\" must be a positive number of seconds".into()),
        None => DEFAULT_TIMEOUT,
    };
    let condition = match &handler.condition {
        Some(rule) => Some(crate::permissions::PermissionRule::parse(rule).map_err(|e| format!("\"if\": {e}"))?),
        None => None,
    };
    Ok((Handler { program, timeout, condition }, note))
}

/// An `if` rule fits a call when it would match it as a permission rule: for Bash, one
/// of the script's commands; for the file tools, the path.
fn condition_fits(handler: &Handler, call: Option<(&str, &Value)>, cwd: &Path) -> bool {
    use crate::permissions::{CompiledRule, Origin, Purpose, Subject, family, paths, shell};
    let Some(rule) = &handler.condition else { return true };
    let Some((tool, input)) = call else { return false };
    if family(tool) != rule.family() {
        return false;
    }
    if rule.specifier.is_none() {
        return true;
    }
    let anchors = paths::Anchors { settings_dir: cwd.to_path_buf(), project_dir: cwd.to_path_buf(), home: None };
    let origin = Origin { label: "hook".into(), dir: cwd.to_path_buf() };
    let Ok(compiled) = CompiledRule::new(rule.clone(), origin, Purpose::Ask, &anchors) else { return false };
    match family(tool) {
        "Bash" => {
            let script = input.get("command").and_then(Value::as_str).unwrap_or("");
            shell::analyze(script).commands.iter().any(|c| {
                let text: Vec<&str> = c.words.iter().map(|w| w.text.as_str()).collect();
                compiled.matches(&Subject::Command(&text.join(" ")))
            })
        }
        "Read" | "Edit" => {
            let path =
                ["file_path", "notebook_path", "path"].into_iter().find_map(|f| input.get(f).and_then(Value::as_str));
            let target = paths::Target::resolve(path.unwrap_or("."), cwd, None);
            compiled.matches(&Subject::Read(&target)) || compiled.matches(&Subject::Write(&target))
        }
        _ => compiled.matches(&Subject::Call { tool, input }),
    }
}

#[cfg(test)]
mod tests;
