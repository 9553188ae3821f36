//! One user turn: request → stream → gate → run tools → append → repeat.
//!
//! The loop ends on a final answer, on `--max-turns`, on an error the retries could not get
//! past, or on interrupt. Two `max_tokens` cases are handled without troubling the user: a
//! tool call cut off mid-input is asked again once with the model's full output budget, and
//! a text answer cut off is continued in a follow-up request (at most
//! [`MAX_CONTINUATIONS`] times). Whatever way the turn ends, every `tool_use` in the history
//! has its `tool_result`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use tokio_util::sync::CancellationToken;

use super::gate::{self, ToolCall};
use super::history::{
    self, CONTINUE_PROMPT, ContentBlock, INTERRUPTED_REQUEST, INTERRUPTED_TOOLS, Message, Role, ToolResultContent,
};
use super::{Approvals, Session};
use crate::protocol::{
    AssistantMessage, Event, EventSink, PermissionDenial, TurnError, TurnErrorKind, TurnOutcome, TurnStatus, UserInput,
};
use crate::provider::retry::{SampleError, sample};
use crate::provider::{ProviderError, Request, Response, StopReason};
use crate::session::Record;
use crate::tools::{ToolContext, scheduler, state};

/// Follow-up requests for one answer cut off by the output limit.
const MAX_CONTINUATIONS: u32 = 3;

/// What the turn has counted so far.
struct TurnState {
    started: Instant,
    api_duration: Duration,
    requests: u32,
    continuations: u32,
    /// Text of answers cut off at the output limit, awaiting their continuation.
    cut_text: String,
    denials: Vec<PermissionDenial>,
}

pub(super) async fn run_turn(
    session: &mut Session,
    input: UserInput,
    cancel: CancellationToken,
    approvals: &Approvals,
    events: &EventSink,
) -> Event {
    let mut turn = TurnState {
        started: Instant::now(),
        api_duration: Duration::ZERO,
        requests: 0,
        continuations: 0,
        cut_text: String::new(),
        denials: Vec::new(),
    };
    let mut content = input.content;
    content.extend(attach_files(session, &input.attachments, &cancel).await);
    let mode = state::lock(&session.permissions).mode;
    session.record(Record::User { content: content.clone(), permission_mode: Some(mode), meta: false });
    session.history.push(Message { role: Role::User, content });
    let full_budget = session.config.model.max_output_tokens;
    let mut max_tokens = session.config.model.default_output_budget();
    loop {
        if let Some(limit) = session.config.max_turns
            && turn.requests >= limit
        {
            return Event::TurnComplete(outcome(session, turn, TurnStatus::MaxTurns { limit }, String::new(), None));
        }
        let response = match request_response(session, &mut turn, max_tokens, &cancel, events).await {
            Ok(response) => response,
            Err(SampleError::Cancelled) => {
                push_note(session, INTERRUPTED_REQUEST, false);
                return Event::TurnAborted(outcome(session, turn, TurnStatus::Interrupted, String::new(), None));
            }
            Err(SampleError::Failed { error, attempts }) => {
                let status = TurnStatus::Failed(turn_error(&error, attempts));
                return Event::TurnComplete(outcome(session, turn, status, String::new(), None));
            }
        };
        if response.truncated_tool_call && max_tokens < full_budget {
            max_tokens = full_budget;
            continue;
        }
        let calls = record_response(session, &response, events);
        if !calls.is_empty() {
            run_tools(session, &mut turn, calls, approvals, &cancel, events).await;
            if cancel.is_cancelled() {
                push_note(session, INTERRUPTED_TOOLS, false);
                return Event::TurnAborted(outcome(session, turn, TurnStatus::Interrupted, String::new(), None));
            }
            continue;
        }
        let text = history::text_of(&response.content);
        if response.stop_reason == Some(StopReason::MaxTokens) && turn.continuations < MAX_CONTINUATIONS {
            turn.continuations += 1;
            turn.cut_text.push_str(&text);
            push_note(session, CONTINUE_PROMPT, true);
            continue;
        }
        let result = std::mem::take(&mut turn.cut_text) + &text;
        let stop_reason = response.stop_reason.clone();
        return Event::TurnComplete(outcome(session, turn, TurnStatus::Success, result, stop_reason));
    }
}

/// A user message cairn adds itself (an interrupt note, a request to continue), recorded
/// like any other; `meta` marks one the user did not write.
fn push_note(session: &mut Session, text: &str, meta: bool) {
    session.record(Record::User { content: vec![ContentBlock::text(text)], permission_mode: None, meta });
    session.history.push(Message::user_text(text));
}

/// Files the user attached, read with the Read tool (so they count as read for Edit and
/// Write), as content blocks after the message.
async fn attach_files(session: &Session, paths: &[PathBuf], cancel: &CancellationToken) -> Vec<ContentBlock> {
    let Some(read) = session.config.tools.get("Read") else { return Vec::new() };
    let mut blocks = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let ctx = ToolContext {
            call_id: format!("attachment-{i}"),
            cancel: cancel.clone(),
            session: Arc::clone(&session.tools),
        };
        let output = read.call(json!({ "file_path": path }), ctx).await;
        let shown = path.display();
        if output.is_error {
            blocks.push(ContentBlock::text(format!(
                "(The attached file {shown} could not be read: {})",
                output.text_content()
            )));
            continue;
        }
        for part in output.content {
            blocks.push(match part {
                ToolResultContent::Text { text } => {
                    ContentBlock::text(format!("<attached-file path=\"{shown}\">\n{text}</attached-file>"))
                }
                ToolResultContent::Image { source } => ContentBlock::Image { source },
            });
        }
    }
    blocks
}

/// Builds the request from the (repaired) history and streams it, with retries.
async fn request_response(
    session: &mut Session,
    turn: &mut TurnState,
    max_tokens: u32,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Result<Response, SampleError> {
    history::repair(&mut session.history);
    let config = &session.config;
    let request = Request {
        model: &config.model.id,
        system: &config.system_prompt,
        messages: &session.history,
        tools: config.tools.specs(),
        max_tokens,
        session_id: &config.session_id,
    };
    let started = Instant::now();
    let response = sample(config.provider.as_ref(), &request, &config.retry, cancel, events).await;
    turn.api_duration += started.elapsed();
    let response = response?;
    turn.requests += 1;
    session.costs.record(&config.model, &response.usage);
    events.emit(Event::Usage {
        usage: response.usage,
        total: session.costs.total,
        total_cost_usd: session.costs.total_cost_usd,
    });
    Ok(response)
}

/// Appends the answer to the history, tells the front ends, and returns its tool calls.
fn record_response(session: &mut Session, response: &Response, events: &EventSink) -> Vec<ToolCall> {
    let message = AssistantMessage {
        id: response.id.clone(),
        model: if response.model.is_empty() { session.config.model.id.clone() } else { response.model.clone() },
        content: response.content.clone(),
        stop_reason: response.stop_reason.clone(),
        usage: response.usage,
    };
    session.record(Record::Assistant(message.clone()));
    events.emit(Event::AssistantMessage(message));
    let calls = response
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::ToolUse { id, name, input } => {
                Some(ToolCall { id: id.clone(), name: name.clone(), input: input.clone() })
            }
            _ => None,
        })
        .collect();
    session.history.push(Message { role: Role::Assistant, content: response.content.clone() });
    calls
}

/// Gates the calls, runs them, and appends their results in call order.
async fn run_tools(
    session: &mut Session,
    turn: &mut TurnState,
    calls: Vec<ToolCall>,
    approvals: &Approvals,
    cancel: &CancellationToken,
    events: &EventSink,
) {
    let plan = gate::plan_calls(session, calls, approvals, cancel, events, &mut turn.denials).await;
    let finished = scheduler::run(plan, &session.tools, cancel, events).await;
    let mut results = Vec::with_capacity(finished.len());
    for f in finished {
        let block =
            ContentBlock::ToolResult { tool_use_id: f.call_id, content: f.output.content, is_error: f.output.is_error };
        session.record(Record::ToolResult { block: block.clone(), structured: f.output.structured });
        results.push(block);
    }
    session.history.push(Message { role: Role::User, content: results });
}

fn turn_error(error: &ProviderError, attempts: u32) -> TurnError {
    let status = error.status();
    let kind = match error {
        ProviderError::ContextTooLong { .. } => TurnErrorKind::ContextTooLong,
        ProviderError::Http { status: 401, .. } => TurnErrorKind::Authentication,
        ProviderError::Http { status: 403, .. } => TurnErrorKind::PermissionDenied,
        e if e.is_retryable() => TurnErrorKind::RetriesExhausted,
        ProviderError::StreamError { .. } | ProviderError::Http { .. } => TurnErrorKind::InvalidRequest,
        _ => TurnErrorKind::RetriesExhausted,
    };
    let mut message = error.to_string();
    if kind == TurnErrorKind::RetriesExhausted {
        message.push_str(&format!(" (gave up after {attempts} attempts)"));
    }
    TurnError { kind, status, message }
}

fn outcome(
    session: &Session,
    turn: TurnState,
    status: TurnStatus,
    result: String,
    stop_reason: Option<StopReason>,
) -> TurnOutcome {
    TurnOutcome {
        status,
        result,
        stop_reason,
        num_turns: turn.requests,
        duration: turn.started.elapsed(),
        api_duration: turn.api_duration,
        usage: session.costs.total,
        total_cost_usd: session.costs.total_cost_usd,
        model_usage: session.costs.by_model.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        permission_denials: turn.denials,
    }
}
