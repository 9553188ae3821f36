//! The gate every tool call passes before it may run, in call order: the tool must exist,
//! its input must match the tool's schema, and the permission rules (or the user) must allow
//! it. A call that fails any check is answered at once with an error result that tells the
//! model what to do; the loop goes on.

use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{ApprovalMode, Approvals, Session};
use crate::permissions::{Decision, PermissionRule};
use crate::protocol::{ApprovalDecision, Event, EventSink, PermissionDenial};
use crate::tools::scheduler::Planned;
use crate::tools::{ToolContext, ToolOutput, state};

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
        let decision = state::lock(&session.permissions).decide(tool.name, tool.kind, tool.approval, &call.input);
        let refusal = match decision {
            Decision::Allow => None,
            Decision::Deny { reason } => {
                Some(format!("Permission to use {} was denied: {reason}. Do not retry this call.", call.name))
            }
            Decision::Ask => match session.config.approvals {
                ApprovalMode::Refuse => Some(format!(
                    "Permission to use {} was denied: cairn is running non-interactively and no permission \
                     rule allows this call. Do not retry it; finish what you can without it. (The user can \
                     allow it with --allowedTools or --permission-mode.)",
                    call.name
                )),
                ApprovalMode::Ask => {
                    let ctx = ToolContext {
                        call_id: call.id.clone(),
                        cancel: cancel.clone(),
                        session: Arc::clone(&session.tools),
                    };
                    let preview = tool.preview(&call.input, &ctx);
                    match ask_user(&call, preview, approvals, cancel, events).await {
                        Answer::Allowed => None,
                        Answer::AllowedForSession => {
                            state::lock(&session.permissions).allow.push(session_rule(tool.name, &call.input));
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

/// The rule "don't ask again" adds: this exact command for Bash, the whole tool otherwise.
fn session_rule(tool: &str, input: &Value) -> PermissionRule {
    let specifier = match (tool, input.get("command").and_then(Value::as_str)) {
        ("Bash", Some(command)) => Some(command.to_owned()),
        _ => None,
    };
    PermissionRule { tool: tool.to_owned(), specifier }
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
