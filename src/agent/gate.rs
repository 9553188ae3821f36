//! The gate every tool call passes before it may run, in call order: the tool must exist,
//! its input must match the tool's schema, and the permission rules (or the user) must allow
//! it. A call that fails any check is answered at once with an error result that tells the
//! model what to do; the loop goes on.

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{ApprovalMode, Approvals, Session};
use crate::permissions::Decision;
use crate::protocol::{ApprovalDecision, Event, EventSink, PermissionDenial};
use crate::tools::ToolOutput;
use crate::tools::scheduler::Planned;

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
        let refusal = match session.config.permissions.decide(tool.name, tool.kind, tool.approval, &call.input) {
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
                ApprovalMode::Ask => ask_user(&call, approvals, cancel, events).await,
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

/// Asks the front end and waits for the answer; `None` means allowed.
async fn ask_user(
    call: &ToolCall,
    approvals: &Approvals,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Option<String> {
    let answer = approvals.request(&call.id);
    events.emit(Event::ApprovalRequest {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        input: call.input.clone(),
    });
    let decision = tokio::select! {
        decision = answer => decision.ok(),
        () = cancel.cancelled() => None,
    };
    approvals.forget(&call.id);
    match decision {
        Some(ApprovalDecision::Allow) => None,
        Some(ApprovalDecision::Deny { reason }) => Some(match reason {
            Some(reason) => format!("The user refused this {} call: {reason}", call.name),
            None => format!("The user refused this {} call. Do not retry it; ask the user how to proceed.", call.name),
        }),
        None => Some(format!("The {} call was not run: the user interrupted.", call.name)),
    }
}
