//! The gate every tool call passes before it may run, in call order: the tool must exist,
//! its input must match the tool's schema, and the permission rules (or the user) must allow
//! it. A call that fails any check is answered at once with an error result that tells the
//! model what to do; the loop goes on.

use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{ApprovalMode, Approvals, Session};
use crate::config::settings;
use crate::permissions::{Call, Context, Decision, Origin, PermissionRule, commands, family, shell};
use crate::protocol::{ApprovalDecision, Event, EventSink, PermissionDenial};
use crate::tools::scheduler::Planned;
use crate::tools::{Approval, ToolContext, ToolKind, ToolOutput, state};

pub(super) struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: Value,
}

pub(super) async fn plan_calls(
    session: &Session,
    calls: Vec<ToolCall>,
    approvals: &Approvals,
    cancel: &CancellationToken,
    events: &EventSink,
    denials: &mut Vec<PermissionDenial>,
) -> Vec<Planned> {
    let mut plan = Vec::with_capacity(calls.len());
    for mut call in calls {
        let answered = |output: ToolOutput, call: ToolCall| Planned::Answered {
            call_id: call.id,
            name: call.name,
            input: call.input,
            output,
        };
        let Some(tool) = session.config.tools.get(&call.name) else {
            let available = session.config.tools.names().join(", ");
            let message = format!(
                "<tool_use_error>Error: No such tool available: {}. Available tools: {available}.</tool_use_error>",
                call.name
            );
            plan.push(answered(ToolOutput::error(message), call));
            continue;
        };
        if let Err(problem) = tool.prepare(&mut call.input) {
            let message = format!(
                "<tool_use_error>InputValidationError: {} was called with invalid input: {problem}. \
                 Fix the input to match the tool's schema and call it again.</tool_use_error>",
                call.name
            );
            plan.push(answered(ToolOutput::error(message), call));
            continue;
        }
        let decision = decide(session, tool.name, tool.kind, tool.approval, &call.input);
        let refusal = match decision {
            Decision::Allow => None,
            Decision::Deny { reason } => {
                Some(format!("Permission to use {} was denied: {reason}. Do not retry this call.", call.name))
            }
            Decision::Ask { reason } => match session.config.approvals {
                ApprovalMode::Refuse => Some(format!(
                    "Permission to use {} was denied: cairn is running non-interactively and no permission \
                     rule allows this call{}. Do not retry it; finish what you can without it. (The user can \
                     allow it with --allowedTools or --permission-mode.)",
                    call.name,
                    if reason.is_empty() { String::new() } else { format!(" ({reason})") }
                )),
                ApprovalMode::Ask => {
                    let ctx = ToolContext {
                        call_id: call.id.clone(),
                        cancel: cancel.clone(),
                        session: Arc::clone(&session.tools),
                    };
                    let preview = tool.preview(&call.input, &ctx);
                    let answer = ask_user(&call, preview, approvals, cancel, events).await;
                    if matches!(answer, Answer::Allowed | Answer::AllowedForSession) {
                        approve_paths(session, tool.name, &call.input);
                    }
                    match answer {
                        Answer::Allowed => None,
                        Answer::AllowedForSession => {
                            remember(session, tool.name, &call.input, events);
                            None
                        }
                        Answer::Refused(message) => Some(message),
                    }
                }
            },
        };
        match refusal {
            None => plan.push(Planned::Run { call_id: call.id, name: call.name, input: call.input, tool }),
            Some(message) => {
                denials.push(PermissionDenial {
                    tool_name: call.name.clone(),
                    tool_use_id: call.id.clone(),
                    tool_input: call.input.clone(),
                });
                plan.push(answered(ToolOutput::error(message), call));
            }
        }
    }
    plan
}

enum Answer {
    Allowed,
    AllowedForSession,
    Refused(String),
}

/// What the permission rules say about a call, in the session's current folder.
fn decide(session: &Session, tool: &str, kind: ToolKind, approval: Approval, input: &Value) -> Decision {
    let cwd = session.tools.cwd();
    let readable = [session.tools.spill_dir()];
    let ctx = Context { cwd: &cwd, working_dirs: session.tools.working_dirs(), readable_dirs: &readable };
    state::lock(&session.permissions).decide(&Call { tool, kind, approval, input }, &ctx)
}

/// An approved write outside the working folders may go ahead: the tool is told so.
fn approve_paths(session: &Session, tool: &str, input: &Value) {
    if family(tool) != "Edit" {
        return;
    }
    if let Some(path) = ["file_path", "notebook_path"].into_iter().find_map(|f| input.get(f).and_then(Value::as_str)) {
        session.tools.approve_write(&session.tools.resolve(path));
    }
}

/// The rules "don't ask again" adds: each command of a Bash script (at most five), the
/// domain for WebFetch, the whole tool otherwise. Bash and WebFetch rules are also saved to
/// `.cairn/settings.local.json`, as Claude Code saves them; edits are allowed for the session.
fn remember(session: &Session, tool: &str, input: &Value, events: &EventSink) {
    let rules = session_rules(tool, input);
    let origin = Origin { label: "this session".into(), dir: session.config.cwd.clone() };
    {
        let mut permissions = state::lock(&session.permissions);
        for rule in &rules {
            let _ = permissions.allow(rule.clone(), origin.clone());
        }
    }
    if matches!(family(tool), "Bash" | "WebFetch") && session.config.approvals == ApprovalMode::Ask {
        let texts: Vec<String> = rules.iter().map(ToString::to_string).collect();
        if let Err(e) = settings::add_local_allow_rules(&session.config.cwd, &texts) {
            events.emit(Event::Error { message: format!("Could not save the rule for next time: {e}") });
        }
    }
}

fn session_rules(tool: &str, input: &Value) -> Vec<PermissionRule> {
    let rule = |specifier: Option<String>| PermissionRule { tool: tool.to_owned(), specifier };
    match family(tool) {
        "Bash" => {
            let script = input.get("command").and_then(Value::as_str).unwrap_or("");
            let analysis = shell::analyze(script);
            let mut rules: Vec<PermissionRule> = Vec::new();
            for command in analysis.commands.iter().filter(|c| !commands::is_read_only(&c.words)).take(5) {
                let text: Vec<&str> = command.words.iter().map(|w| w.text.as_str()).collect();
                let candidate = rule(Some(text.join(" ")));
                if !rules.contains(&candidate) {
                    rules.push(candidate);
                }
            }
            if rules.is_empty() {
                rules.push(rule(Some(script.trim().to_owned())));
            }
            rules
        }
        "WebFetch" => {
            let host = input
                .get("url")
                .and_then(Value::as_str)
                .and_then(|u| reqwest::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned));
            vec![rule(host.map(|h| format!("domain:{h}")))]
        }
        _ => vec![rule(None)],
    }
}

/// Asks the front end and waits for the answer.
async fn ask_user(
    call: &ToolCall,
    preview: Option<String>,
    approvals: &Approvals,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Answer {
    let answer = approvals.request(&call.id);
    events.emit(Event::ApprovalRequest {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        input: call.input.clone(),
        preview,
    });
    let decision = tokio::select! {
        decision = answer => decision.ok(),
        () = cancel.cancelled() => None,
    };
    approvals.forget(&call.id);
    match decision {
        Some(ApprovalDecision::Allow) => Answer::Allowed,
        Some(ApprovalDecision::AllowForSession) => Answer::AllowedForSession,
        Some(ApprovalDecision::Deny { reason: Some(reason) }) if !reason.trim().is_empty() => {
            Answer::Refused(format!("The user refused this {} call and said: {reason}", call.name))
        }
        Some(ApprovalDecision::Deny { .. }) => Answer::Refused(format!(
            "The user refused this {} call. Do not retry it; ask the user how to proceed.",
            call.name
        )),
        None => Answer::Refused(format!("The {} call was not run: the user interrupted.", call.name)),
    }
}
