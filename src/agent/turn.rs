//! One user turn: request → stream → gate → run tools → append → repeat.
//!
//! The loop ends on a final answer, on `--max-turns` or `--max-budget-usd`, on a hook that
//! stops it, on a compaction or an error the retries could not get past, or on interrupt. Two `max_tokens` cases are handled without troubling the user: a
//! tool call cut off mid-input is asked again once with the model's full output budget, and
//! a text answer cut off is continued in a follow-up request (at most
//! [`MAX_CONTINUATIONS`] times). Whatever way the turn ends, every `tool_use` in the history
//! has its `tool_result`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use serde_json::{Value, json};

use tokio_util::sync::CancellationToken;

use super::Session;
use super::compact::{CompactError, Trigger};
use super::gate::{self, Gated};
use super::speculate::{self, Speculation};
use super::{early, invoke, structured};
use crate::conversation::ToolCall;
use crate::conversation::history::{
    self, CONTINUE_PROMPT, ContentBlock, INTERRUPTED_REQUEST, INTERRUPTED_TOOLS, Message, Role, ToolResultContent,
};
use crate::hooks::{HookEvent, context_block};
use crate::protocol::{
    AssistantMessage, Event, EventSink, PermissionDenial, TurnError, TurnErrorKind, TurnOutcome, TurnStatus, UserInput,
};
use crate::provider::retry::{SampleError, sample};
use crate::provider::{ProviderError, Request, Response, StopReason};
use crate::provider::{models, reasoning};
use crate::session::Record;
use crate::tools::scheduler::Planned;
use crate::tools::{ToolContext, ToolOutput, scheduler, state};

/// How long `-p` waits for MCP servers before its first request.
const HEADLESS_MCP_WAIT: Duration = Duration::from_secs(5);

/// Follow-up requests for one answer cut off by the output limit.
const MAX_CONTINUATIONS: u32 = 3;

/// What the turn has counted so far.
pub(super) struct TurnState {
    started: Instant,
    api_duration: Duration,
    requests: u32,
    continuations: u32,
    /// Text of answers cut off at the output limit, awaiting their continuation.
    cut_text: String,
    denials: Vec<PermissionDenial>,
    /// Stop hooks that blocked the end in a row.
    stop_blocks: u32,
    /// A hook said `continue: false`.
    stop: Option<String>,
    /// A prompt-too-long error was met by compacting (once per turn).
    compacted_for_error: bool,
    /// The prompt said `ultrathink`: this turn thinks harder.
    ultrathink: bool,
    /// `--json-schema`: the structured answer given, and the reminders sent for it.
    structured: Option<Value>,
    structured_nudges: u32,
}

/// Stop hooks may keep a turn going this many times in a row, then they are overruled.
const MAX_STOP_BLOCKS: u32 = 8;

pub(super) async fn run_turn(
    session: &mut Session,
    input: UserInput,
    speculation: Option<Speculation>,
    cancel: CancellationToken,
    events: &EventSink,
) -> Event {
    // What the user typed, for hooks and the session list, before a command expands it.
    let typed = history::text_of(&input.content);
    let command = invoke::parse_invocation(&input).and_then(|(name, args)| Some((session.find_command(&name)?, args)));
    let input = match command {
        Some((prompt, args)) => match session.expand_command(&prompt, &args, input, &cancel).await {
            Ok(input) => input,
            Err(message) => {
                session.revoke();
                events.emit(Event::Error { message: message.clone() });
                let error = TurnError { kind: TurnErrorKind::Command, status: None, message };
                return ended(session, &mut new_turn(), TurnStatus::Failed(error));
            }
        },
        None => input,
    };
    let end = run_expanded(session, input, typed, speculation, cancel, events).await;
    session.revoke();
    end
}

pub(super) fn new_turn() -> TurnState {
    TurnState {
        started: Instant::now(),
        api_duration: Duration::ZERO,
        requests: 0,
        continuations: 0,
        cut_text: String::new(),
        denials: Vec::new(),
        stop_blocks: 0,
        stop: None,
        compacted_for_error: false,
        ultrathink: false,
        structured: None,
        structured_nudges: 0,
    }
}

/// How a step of the loop went: round again, or the turn ends with this event.
enum Flow {
    Again,
    End(Box<Event>),
}

impl Flow {
    fn end(event: Event) -> Flow {
        Flow::End(Box::new(event))
    }
}

async fn run_expanded(
    session: &mut Session,
    input: UserInput,
    prompt: String,
    speculation: Option<Speculation>,
    cancel: CancellationToken,
    events: &EventSink,
) -> Event {
    let mut turn = new_turn();
    turn.ultrathink = reasoning::mentions_ultrathink(&prompt);
    let hooked = session.run_hooks(HookEvent::UserPromptSubmit, "", json!({ "prompt": prompt }), None, events).await;
    if hooked.blocked() || hooked.stop.is_some() {
        let reason = if hooked.blocked() { hooked.block_reason() } else { hooked.stop.clone().unwrap_or_default() };
        let shown = if reason.is_empty() { String::new() } else { format!(": {reason}") };
        events.emit(Event::Notice { message: format!("A UserPromptSubmit hook blocked the prompt{shown}") });
        return ended(session, &mut turn, TurnStatus::HookStopped { reason });
    }
    let adopted = match speculation {
        Some(speculation) => speculate::adopt(session, speculation, input.id.as_deref(), &cancel, events).await,
        None => None,
    };
    let mut flow = match adopted {
        Some(stop) => adopted_flow(session, &mut turn, stop, &cancel, events).await,
        None => {
            submit(session, input, prompt, hooked.context, &cancel, events).await;
            Flow::Again
        }
    };
    let mut full_budget = session.context.model.max_output_tokens;
    let mut max_tokens = session.context.output_budget();
    // Calls started early for an answer that was then asked again.
    let mut carried = Vec::new();
    loop {
        if let Flow::End(event) = std::mem::replace(&mut flow, Flow::Again) {
            return *event;
        }
        if let Some(limit) = session.context.max_turns
            && turn.requests >= limit
        {
            return ended(session, &mut turn, TurnStatus::MaxTurns { limit });
        }
        if session.context.model.max_output_tokens != full_budget {
            // The model changed under the turn (the fallback took over): its own limits.
            full_budget = session.context.model.max_output_tokens;
            max_tokens = session.context.output_budget();
        }
        deliver_messages(session);
        match session.keep_within_window(&cancel, events).await {
            Ok(()) => {}
            Err(CompactError::Cancelled) => return interrupted(session, &mut turn, INTERRUPTED_REQUEST),
            Err(CompactError::Blocked(message)) => events.emit(Event::Notice { message }),
            Err(error) => return ended(session, &mut turn, compaction_failed(&error)),
        }
        let asked = request_response(session, &mut turn, max_tokens, std::mem::take(&mut carried), &cancel, events);
        let (response, early) = match asked.await {
            Ok(answer) => answer,
            Err(error) => match failed_request(session, &mut turn, error, &cancel, events).await {
                Flow::Again => continue,
                Flow::End(event) => return *event,
            },
        };
        if response.truncated_tool_call && max_tokens < full_budget {
            max_tokens = full_budget;
            carried = early.calls;
            continue;
        }
        let calls = record_response(session, &response, events);
        session.collect_subagent_costs();
        if let Some(limit) = session.context.max_budget_usd
            && session.over_budget(limit)
        {
            stop_team(session).await;
            return ended(session, &mut turn, TurnStatus::MaxBudget { limit });
        }
        if calls.is_empty() && background_reported(session, &cancel).await {
            continue;
        }
        if calls.is_empty() && cancel.is_cancelled() {
            // Stopped while waiting for background agents: not an answer.
            return interrupted(session, &mut turn, INTERRUPTED_REQUEST);
        }
        flow = if calls.is_empty() {
            answered(session, &mut turn, &response, events).await
        } else {
            ran_tools(session, &mut turn, calls, early, &cancel, events).await
        };
    }
}

/// The turn goes on from where the adopted speculation stopped.
async fn adopted_flow(
    session: &mut Session,
    turn: &mut TurnState,
    stop: speculate::Stop,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Flow {
    match stop {
        speculate::Stop::Answered(response) => {
            turn.requests += 1;
            answered(session, turn, &response, events).await
        }
        speculate::Stop::Calls(calls) => {
            turn.requests += 1;
            ran_tools(session, turn, calls, early::Early::default(), cancel, events).await
        }
        speculate::Stop::Request => Flow::Again,
    }
}

/// The budget is spent: the main agent's background agents stop too, and what they spent
/// joins the session's cost (waited for a few seconds at most).
async fn stop_team(session: &mut Session) {
    if session.subagent {
        return;
    }
    let background = Arc::clone(&session.services.background);
    background.stop_all();
    let deadline = Instant::now() + Duration::from_secs(5);
    while background.running() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    session.collect_subagent_costs();
}

/// A worker's messages (SendMessage) join the last message before its next request.
fn deliver_messages(session: &mut Session) {
    let Some(inbox) = &session.inbox else { return };
    let messages = std::mem::take(&mut *state::lock(inbox));
    if messages.is_empty() {
        return;
    }
    let content: Vec<ContentBlock> = messages
        .iter()
        .map(|m| ContentBlock::text(format!("<message from=\"main agent\">\n{m}\n</message>")))
        .collect();
    session.record(Record::User { content: content.clone(), permission_mode: None, meta: false });
    match session.history.last_mut() {
        Some(last) if last.role == Role::User => last.content.extend(content),
        _ => session.history.push(Message { role: Role::User, content }),
    }
}

/// A headless session whose model is done while background agents still work waits for
/// them (nobody would send the next message): their notifications go to the model as a
/// message of their own, and the turn goes on. `false`: nothing to wait for.
async fn background_reported(session: &mut Session, cancel: &CancellationToken) -> bool {
    let background = &session.services.background;
    if !session.services.headless || session.subagent {
        return false;
    }
    if background.running() > 0 {
        background.changed(cancel).await;
    }
    let notifications = background.take_notifications();
    if notifications.is_empty() || cancel.is_cancelled() {
        return false;
    }
    let content: Vec<ContentBlock> = notifications.into_iter().map(ContentBlock::text).collect();
    session.record(Record::User { content: content.clone(), permission_mode: None, meta: false });
    session.history.push(Message { role: Role::User, content });
    true
}

/// The user's message as the model gets it — with the session's context on the first
/// turn (the date, the repository's state, the memory files, so the system prompt and the
/// prompt cache never change), the skills when they changed, what hooks added, and the
/// attached files — counted, recorded and put in the history.
pub(super) async fn submit(
    session: &mut Session,
    input: UserInput,
    prompt: String,
    hook_context: Vec<String>,
    cancel: &CancellationToken,
    events: &EventSink,
) {
    session.turns += 1;
    session.last_prompt.clone_from(&prompt);
    if session.first_prompt.is_none() {
        session.first_prompt = Some(prompt);
    }
    let mut content: Vec<ContentBlock> = Vec::new();
    let listing = session.listing();
    if session.history.is_empty() {
        let mut context = session_context(session, events);
        if let Some(text) = &listing {
            context.push_str("\n\n");
            context.push_str(text);
        }
        content.push(ContentBlock::text(context_block(&context)));
        session.listing_sent.clone_from(&listing);
    } else {
        if listing != session.listing_sent {
            if let Some(text) = &listing {
                content.push(ContentBlock::text(context_block(text)));
            }
            session.listing_sent = listing;
        }
        if let Some(text) = session.changed_memory() {
            content.push(ContentBlock::text(context_block(&text)));
        }
    }
    content.extend(session.pending_context.drain(..).map(|c| ContentBlock::text(context_block(&c))));
    // Background agents report to the main conversation, never to one of themselves (nor
    // to a speculation, which may never be sent).
    if !session.subagent && session.held.is_none() {
        content.extend(session.services.background.take_notifications().into_iter().map(ContentBlock::text));
    }
    content.extend(input.content);
    content.extend(attach_files(session, &input.attachments, cancel).await);
    content.extend(hook_context.iter().map(|c| ContentBlock::text(context_block(c))));
    let mode = state::lock(&session.services.permissions).mode;
    if let (Some(id), Some(transcript)) = (&input.id, &session.transcript) {
        transcript.name_next(id);
    }
    session.record(Record::User { content: content.clone(), permission_mode: Some(mode), meta: false });
    let prompt = Message { role: Role::User, content };
    session.begin_checkpoint_turn(&prompt.typed_text(), input.id.as_deref());
    session.history.push(prompt);
}

/// A request that did not get an answer: an interrupt, a prompt too long for the window
/// (compacted once, then asked again), or an error the retries could not get past.
async fn failed_request(
    session: &mut Session,
    turn: &mut TurnState,
    error: SampleError,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Flow {
    match error {
        SampleError::Cancelled => Flow::end(interrupted(session, turn, INTERRUPTED_REQUEST)),
        SampleError::Failed { error: ProviderError::ContextTooLong { .. }, .. } if !turn.compacted_for_error => {
            turn.compacted_for_error = true;
            match session.compact(Trigger::Auto, None, cancel, events).await {
                Ok(_) => Flow::Again,
                Err(CompactError::Cancelled) => Flow::end(interrupted(session, turn, INTERRUPTED_REQUEST)),
                Err(error) => Flow::end(ended(session, turn, compaction_failed(&error))),
            }
        }
        SampleError::Failed { error, .. }
            if error.status() == Some(529) && session.context.fallback_model.is_some() =>
        {
            fall_back(session, events);
            Flow::Again
        }
        SampleError::Failed { error, attempts } => {
            let mut failure = turn_error(&error, attempts);
            if failure.kind == TurnErrorKind::ContextTooLong && turn.compacted_for_error {
                failure.message = format!(
                    "The conversation was compacted and is still too long for the model's context window. \
                     Use /clear to start a new conversation, or switch to a model with a larger window. \
                     The API said: {}",
                    failure.message
                );
            }
            Flow::end(ended(session, turn, TurnStatus::Failed(failure)))
        }
    }
}

/// The model stayed overloaded through every retry: the session goes on with the fallback
/// model (`--fallback-model`, `fallbackModel`) from this request on, and says so. Once.
fn fall_back(session: &mut Session, events: &EventSink) {
    let Some(fallback) = session.context.fallback_model.take() else { return };
    let from = std::mem::replace(&mut session.context.model, models::lookup(&fallback));
    events.emit(Event::Notice {
        message: format!("{} is overloaded: continuing on the fallback model {}", from.id, session.context.model.id),
    });
    events.emit(Event::SessionChanged(session.info()));
}

/// The model called tools: they ran; the turn goes on unless it was interrupted or a
/// hook stopped it.
async fn ran_tools(
    session: &mut Session,
    turn: &mut TurnState,
    calls: Vec<ToolCall>,
    early: early::Early,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Flow {
    run_tools(session, turn, calls, early, cancel, events).await;
    if cancel.is_cancelled() {
        return Flow::end(interrupted(session, turn, INTERRUPTED_TOOLS));
    }
    match turn.stop.take() {
        Some(reason) => Flow::end(ended(session, turn, TurnStatus::HookStopped { reason })),
        None => Flow::Again,
    }
}

/// The model answered without tools: an answer cut off at the output limit is continued;
/// Stop hooks may keep the turn going (at most [`MAX_STOP_BLOCKS`] times in a row);
/// otherwise the turn is done.
async fn answered(session: &mut Session, turn: &mut TurnState, response: &Response, events: &EventSink) -> Flow {
    let text = history::text_of(&response.content);
    if response.stop_reason == Some(StopReason::MaxTokens) && turn.continuations < MAX_CONTINUATIONS {
        turn.continuations += 1;
        turn.cut_text.push_str(&text);
        push_note(session, CONTINUE_PROMPT, true);
        return Flow::Again;
    }
    if session.context.output_schema.is_some() && turn.structured.is_none() {
        if turn.structured_nudges >= structured::MAX_NUDGES {
            return Flow::end(ended(session, turn, TurnStatus::StructuredOutputMissing));
        }
        turn.structured_nudges += 1;
        push_note(session, structured::NUDGE, true);
        return Flow::Again;
    }
    let fields = json!({
        "stop_hook_active": turn.stop_blocks > 0,
        "last_assistant_message": text,
        "background_tasks": [],
        "session_crons": [],
    });
    let hooked = session.run_hooks(HookEvent::Stop, "", fields, None, events).await;
    if hooked.blocked() {
        if turn.stop_blocks < MAX_STOP_BLOCKS {
            turn.stop_blocks += 1;
            push_note(session, &format!("Stop hook feedback:\n{}", hooked.block_reason()), true);
            return Flow::Again;
        }
        events.emit(Event::Notice {
            message: format!("Stop hooks blocked the end {MAX_STOP_BLOCKS} times in a row; the turn ends here."),
        });
    }
    let result = std::mem::take(&mut turn.cut_text) + &text;
    let stop_reason = response.stop_reason.clone();
    Flow::end(Event::TurnComplete(outcome(session, turn, TurnStatus::Success, result, stop_reason)))
}

/// The turn ends without an answer.
fn ended(session: &Session, turn: &mut TurnState, status: TurnStatus) -> Event {
    Event::TurnComplete(outcome(session, turn, status, String::new(), None))
}

/// The turn was interrupted: the history says so (`note`), and the turn is aborted.
fn interrupted(session: &mut Session, turn: &mut TurnState, note: &str) -> Event {
    push_note(session, note, false);
    Event::TurnAborted(outcome(session, turn, TurnStatus::Interrupted, String::new(), None))
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
    let Some(read) = session.context.tools.get("Read") else { return Vec::new() };
    let denials = session.tools.read_denials();
    let mut blocks = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        // Attached by the user, or mentioned by a command file: a Read deny rule binds both.
        if let Some(denial) =
            denials.as_ref().and_then(|d| d.denial_of(&session.tools.resolve(&path.to_string_lossy())))
        {
            blocks.push(ContentBlock::text(format!("(The file {} was not attached: {denial}.)", path.display())));
            continue;
        }
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

/// Builds the request from the (repaired) history and streams it, with retries; the
/// read-only calls at its head start while it streams ([`early`]).
pub(super) async fn request_response(
    session: &mut Session,
    turn: &mut TurnState,
    max_tokens: u32,
    carried: Vec<early::EarlyCall>,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Result<(Response, early::Early), SampleError> {
    history::repair(&mut session.history);
    // Headless, nobody is waiting at a prompt: the first request gets the servers that
    // start within a few seconds.
    if let Some(manager) = session.mcp()
        && (session.services.headless || session.services.approval_mode == super::ApprovalMode::Refuse)
        && session.mcp_generation.is_none()
    {
        manager.settled(HEADLESS_MCP_WAIT).await;
    }
    session.sync_mcp_tools();
    let (context, services) = (&session.context, &session.services);
    let request = Request {
        model: &context.model.id,
        system: &context.system_prompt,
        messages: &session.history,
        tools: context.tools.specs(),
        max_tokens,
        session_id: &session.session_id,
        reasoning: context.reasoning(turn.ultrathink, max_tokens),
    };
    let started = Instant::now();
    let (watcher, seen) = early::watch(events);
    let sampling = async {
        let watcher = watcher;
        sample(services.provider.as_ref(), &request, &services.retry, cancel, &watcher).await
    };
    let (response, early) = tokio::join!(sampling, early::run(session, seen, carried, cancel, events));
    turn.api_duration += started.elapsed();
    let response = response?;
    turn.requests += 1;
    session.record_cost(&response.usage);
    events.emit(Event::Usage {
        usage: response.usage,
        total: session.costs.total,
        total_cost_usd: session.costs.total_cost_usd,
    });
    Ok((response, early))
}

/// Appends the answer to the history, tells the front ends, and returns its tool calls.
pub(super) fn record_response(session: &mut Session, response: &Response, events: &EventSink) -> Vec<ToolCall> {
    // A call id the model used before is renamed here, before anything acts on the call.
    session.history.push(Message { role: Role::Assistant, content: response.content.clone() });
    history::unique_tool_use_ids(&mut session.history);
    let content = session.history.last().map(|m| m.content.clone()).unwrap_or_default();
    let message = AssistantMessage {
        id: response.id.clone(),
        model: if response.model.is_empty() { session.context.model.id.clone() } else { response.model.clone() },
        content,
        stop_reason: response.stop_reason.clone(),
        usage: response.usage,
    };
    let calls = message
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::ToolUse { id, name, input } => {
                Some(ToolCall { id: id.clone(), name: name.clone(), input: input.clone() })
            }
            _ => None,
        })
        .collect();
    session.record(Record::Assistant(message.clone()));
    events.emit(Event::AssistantMessage(message));
    session.meter.measured(&response.usage, session.history.len());
    calls
}

/// What the first message says about where the session runs, and the memory files (what
/// is wrong with their imports is told to the user).
fn session_context(session: &mut Session, events: &EventSink) -> String {
    let cwd = &session.context.cwd;
    let git = match crate::config::git_branch(cwd) {
        Some(branch) => format!("a git repository, on branch {branch}"),
        None if cwd.ancestors().any(|d| d.join(".git").exists()) => "a git repository".to_owned(),
        None => "not a git repository".to_owned(),
    };
    let mut text = format!(
        "Today's date is {}. The working directory {} is {git}.",
        chrono::Local::now().format("%Y-%m-%d"),
        cwd.display()
    );
    let (memory, problems) = session.context.memory.load_reporting();
    for message in problems {
        events.emit(Event::Notice { message: format!("Memory files: {message}") });
    }
    let rendered = crate::memory::render(&memory);
    if !memory.is_empty() {
        text.push_str("\n\n");
        text.push_str(&rendered);
    }
    session.memory.sent = Some(rendered);
    text
}

fn compaction_failed(error: &CompactError) -> TurnStatus {
    TurnStatus::Failed(TurnError { kind: TurnErrorKind::ContextTooLong, status: None, message: error.message() })
}

/// Gates the calls (but those that started early), runs them, and appends their results
/// in call order.
pub(super) async fn run_tools(
    session: &mut Session,
    turn: &mut TurnState,
    calls: Vec<ToolCall>,
    early: early::Early,
    cancel: &CancellationToken,
    events: &EventSink,
) {
    if let Some(launcher) = &session.launcher {
        launcher.follow(session);
    }
    let mut gated = Gated::default();
    let (mut plan, rest) = early.plan(calls, &mut gated);
    plan.extend(gate::plan_calls(session, rest, cancel, events, &mut gated).await);
    turn.denials.append(&mut gated.denials);
    // The calls that run, for their PostToolUse hooks.
    let ran: HashMap<String, (String, Value)> = plan
        .iter()
        .filter_map(|p| match p {
            Planned::Run { call_id, name, input, .. } | Planned::Started { call_id, name, input, .. } => {
                Some((call_id.clone(), (name.clone(), input.clone())))
            }
            Planned::Answered { .. } => None,
        })
        .collect();
    // Each result is on disk before a front end is shown it. A skill's result is written
    // once its text is added, below.
    let expands = |name: &str, output: &ToolOutput| name == "Skill" && !output.is_error;
    let transcript = session.transcript.clone();
    let held = session.held.as_ref();
    let keep = |call_id: &str, name: &str, output: &ToolOutput| {
        if expands(name, output) {
            return;
        }
        let record =
            || Record::ToolResult { block: result_block(call_id, output), structured: output.structured.clone() };
        if let Some(transcript) = &transcript {
            transcript.record(record());
        } else if let Some(held) = held {
            state::lock(held).push(record());
        }
    };
    let finished = scheduler::run(plan, &session.tools, cancel, events, &keep).await;
    if let Some(Err(e)) = session.transcript.as_ref().map(crate::session::Transcript::hold_lock) {
        events.emit(Event::Error { message: format!("{e} (it was taken while a tool read cairn's lock folder)") });
    }
    session.collect_subagent_costs();
    let mut results = Vec::with_capacity(finished.len());
    let mut after: Vec<(String, String, Value, ToolOutput)> = Vec::new();
    for mut f in finished {
        if let Some((name, input)) = ran.get(&f.call_id) {
            if expands(name, &f.output) {
                f.output = with_skill_text(session, f.output, cancel).await;
                let block = result_block(&f.call_id, &f.output);
                session.record(Record::ToolResult { block, structured: f.output.structured.clone() });
            }
            if name == structured::TOOL
                && !f.output.is_error
                && let Some(schema) = &session.context.output_schema
            {
                turn.structured = Some(structured::answer(schema, input));
            }
            after.push((f.call_id.clone(), name.clone(), input.clone(), f.output.clone()));
        }
        results.push(result_block(&f.call_id, &f.output));
    }
    session.history.push(Message { role: Role::User, content: results });
    let mut notes: Vec<String> = gated.context;
    let touched: Vec<Value> = ran.values().map(|(_, input)| input.clone()).collect();
    notes.extend(session.nested_memory(&touched.iter().collect::<Vec<_>>(), events));
    if !cancel.is_cancelled() {
        for (call_id, name, input, output) in after {
            let (event, mut fields) = if output.is_error {
                (HookEvent::PostToolUseFailure, json!({ "error": output.text_content() }))
            } else {
                (HookEvent::PostToolUse, json!({ "tool_response": output.structured }))
            };
            fields["tool_name"] = json!(name);
            fields["tool_input"] = input.clone();
            fields["tool_use_id"] = json!(call_id);
            let summary = session.run_hooks(event, &name, fields, Some((&name, &input)), events).await;
            for (command, reason) in &summary.blocks {
                notes.push(format!("{event}:{name} hook blocking error from command: \"{command}\": {reason}"));
            }
            notes.extend(summary.context);
            if let Some(reason) = summary.stop {
                turn.stop = Some(reason);
            }
        }
    }
    if let Some(reason) = gated.stop {
        turn.stop = Some(reason);
    }
    if !notes.is_empty() {
        let content: Vec<ContentBlock> = notes.iter().map(|n| ContentBlock::text(context_block(n))).collect();
        session.record(Record::User { content: content.clone(), permission_mode: None, meta: true });
        session.history.push(Message { role: Role::User, content });
    }
}

/// The `tool_result` block for a call's output.
fn result_block(call_id: &str, output: &ToolOutput) -> ContentBlock {
    ContentBlock::ToolResult {
        tool_use_id: call_id.to_owned(),
        content: output.content.clone(),
        is_error: output.is_error,
    }
}

/// A Skill call's result gains the skill's rendered instructions (or becomes the reason
/// they could not be rendered).
async fn with_skill_text(session: &mut Session, mut output: ToolOutput, cancel: &CancellationToken) -> ToolOutput {
    let name = output.structured["commandName"].as_str().unwrap_or_default().to_owned();
    let args = output.structured["args"].as_str().unwrap_or_default().to_owned();
    match session.skill_text(&name, &args, cancel).await {
        Ok(text) => {
            output.content.push(ToolResultContent::Text { text });
            output
        }
        Err(message) => ToolOutput::error(message),
    }
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
        let plural = if attempts == 1 { "" } else { "s" };
        message.push_str(&format!(" (gave up after {attempts} attempt{plural})"));
    }
    TurnError { kind, status, message }
}

fn outcome(
    session: &Session,
    turn: &mut TurnState,
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
        permission_denials: std::mem::take(&mut turn.denials),
        structured_output: turn.structured.take(),
    }
}
