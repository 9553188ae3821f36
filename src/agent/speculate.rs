//! Speculative execution: while the user reads the answer, the agent works ahead on the
//! prompt it suggested, so that sending it answers at once.
//!
//! A speculation is a copy of the session run in the background with the same request
//! (the same system prompt, tools and history, so the prompt cache serves it) but a safe
//! subset of what a turn may do: read-only tools; Bash only for scripts the gate judges
//! read-only; Write and Edit into an [`Overlay`] (reads see it first, nothing reaches the
//! project) — and, once anything is in the overlay, nothing that would read the disk behind
//! it. It stops at the first call outside that subset or needing permission, at the answer,
//! or at its bounds ([`MAX_REQUESTS`], [`MAX_TIME`], [`MAX_COST_USD`]). It never asks, never
//! runs hooks (it does not start when PreToolUse, PostToolUse or UserPromptSubmit hooks are
//! set) and is never recorded: its records are held.
//!
//! When the user sends exactly the suggested prompt, [`adopt`] takes it over: what it
//! streamed is shown at once and the rest streams live; its overlay's writes are applied
//! to the real files whose content is still what the speculation started from (a file
//! changed meanwhile drops the writes from the step that first touched it on, and the turn
//! does that step live); the held records go to the transcript; and the turn continues
//! live from where the speculation stopped. Anything else discards it, and what it spent
//! is reported as speculative.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::{Session, TurnContext, early, gate, turn};
use crate::conversation::ToolCall;
use crate::cost::Usage;
use crate::hooks::HookEvent;
use crate::permissions::Decision;
use crate::protocol::{Event, EventSink, UserInput};
use crate::provider::Response;
use crate::tools::overlay::{self, Overlay};
use crate::tools::state;

/// Requests a speculation makes at most.
pub const MAX_REQUESTS: usize = 4;
/// How long it works at most.
pub const MAX_TIME: Duration = Duration::from_secs(60);
/// What it may spend at most before it stops.
pub const MAX_COST_USD: f64 = 0.20;

/// What the interactive UI works ahead with.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ahead {
    /// Suggest the next prompt (`promptSuggestionEnabled`).
    pub suggest: bool,
    /// Work on the suggestion before it is sent (`speculationEnabled`).
    pub speculate: bool,
    /// Work on a draft the user paused on too (`speculateDrafts`).
    pub drafts: bool,
}

/// A speculation at work.
pub(super) struct Speculation {
    pub prompt: String,
    task: AbortOnDropHandle<Finished>,
    /// Stop after the current step (adoption).
    halt: CancellationToken,
    /// Stop now (discarded).
    cancel: CancellationToken,
    /// What it streamed, held until adopted.
    events: mpsc::UnboundedReceiver<Event>,
    /// What each request cost, for a speculation discarded.
    spent: Arc<Mutex<Vec<Usage>>>,
    model: crate::provider::models::ModelInfo,
}

/// Where it stopped: the turn goes on from there.
pub(super) enum Stop {
    /// The model answered: the turn ends as after any answer (Stop hooks included).
    Answered(Response),
    /// The model called tools it may not run: the turn runs them live.
    Calls(Vec<ToolCall>),
    /// Between requests (a bound, an error): the turn asks the model again.
    Request,
}

/// One step that ran tools: where the history and records stood before its results.
struct StepMark {
    history_len: usize,
    records_len: usize,
    calls: Vec<ToolCall>,
}

struct Finished {
    session: Box<Session>,
    stop: Stop,
    steps: Vec<StepMark>,
}

/// Whether a speculation may start now: it is on, and no hook would see prompts or calls.
pub(super) fn allowed(session: &Session) -> bool {
    let hooks = session.services.hooks();
    session.ahead.speculate
        && !session.services.headless
        && !session.subagent
        && ![HookEvent::UserPromptSubmit, HookEvent::PreToolUse, HookEvent::PostToolUse, HookEvent::PostToolUseFailure]
            .into_iter()
            .any(|event| hooks.has(event))
}

/// Starts working ahead on `prompt`.
pub(super) fn start(session: &Session, prompt: String) -> Speculation {
    let (sink, events) = EventSink::new();
    let context = TurnContext {
        model: session.context.model.clone(),
        system_prompt: session.context.system_prompt.clone(),
        tools: session.context.tools.clone(),
        max_turns: None,
        max_budget_usd: None,
        cwd: session.context.cwd.clone(),
        add_dirs: session.context.add_dirs.clone(),
        session_dir: session.context.session_dir.clone(),
        memory: session.context.memory.clone(),
        mcp_tools: session.context.mcp_tools,
        reasoning: session.context.reasoning,
        max_output: session.context.max_output,
        prompt_spec: session.context.prompt_spec.clone(),
        fallback_model: None,
        output_schema: None,
    };
    let services = Arc::clone(&session.services);
    // Git refreshes its index on `git status` unless told not to: nothing is written.
    let mut env = services.env.clone();
    env.push(("GIT_OPTIONAL_LOCKS".into(), "0".into()));
    let mut spec = Session::with_events(services, context, session.session_id.clone(), None, sink.clone(), env);
    spec.held = Some(Mutex::new(Vec::new()));
    spec.history = session.history.clone();
    spec.costs = session.costs.clone();
    spec.turns = session.turns;
    spec.title.clone_from(&session.title);
    spec.first_prompt.clone_from(&session.first_prompt);
    spec.listing_sent.clone_from(&session.listing_sent);
    spec.pending_context.clone_from(&session.pending_context);
    spec.memory = session.memory.clone();
    spec.meter = session.meter.clone();
    spec.mcp_generation = None;
    spec.tools.take_seen_from(&session.tools);
    let _ = spec.tools.set_cwd(session.tools.cwd());
    spec.tools.set_overlay(Arc::new(Overlay::new(session.tools.working_dirs().to_vec())));
    let (halt, cancel) = (CancellationToken::new(), CancellationToken::new());
    let spent = Arc::new(Mutex::new(Vec::new()));
    let model = session.context.model.clone();
    let task = tokio::spawn(work(spec, prompt.clone(), halt.clone(), cancel.clone(), sink, Arc::clone(&spent)));
    Speculation { prompt, task: AbortOnDropHandle::new(task), halt, cancel, events, spent, model }
}

/// The speculative run: the prompt submitted as a turn would, then request after request
/// while every call is one it may make.
async fn work(
    mut spec: Session,
    prompt: String,
    halt: CancellationToken,
    cancel: CancellationToken,
    sink: EventSink,
    spent: Arc<Mutex<Vec<Usage>>>,
) -> Finished {
    // The time limit cancels the work, wherever it is.
    let timer = {
        let cancel = cancel.clone();
        AbortOnDropHandle::new(tokio::spawn(async move {
            tokio::time::sleep(MAX_TIME).await;
            cancel.cancel();
        }))
    };
    let input =
        UserInput { content: vec![crate::conversation::history::ContentBlock::text(&prompt)], ..UserInput::default() };
    turn::submit(&mut spec, input, prompt, Vec::new(), &cancel, &sink).await;
    let mut state = turn::new_turn();
    let max_tokens = spec.context.output_budget();
    let mut steps = Vec::new();
    let mut stop = Stop::Request;
    let base_cost = spec.costs.total_cost_usd;
    while !halt.is_cancelled() && !cancel.is_cancelled() && state::lock(&spent).len() < MAX_REQUESTS {
        let Ok((response, _)) =
            turn::request_response(&mut spec, &mut state, max_tokens, Vec::new(), &cancel, &sink).await
        else {
            break;
        };
        state::lock(&spent).push(response.usage);
        if response.truncated_tool_call {
            break;
        }
        let calls = turn::record_response(&mut spec, &response, &sink);
        if calls.is_empty() {
            stop = Stop::Answered(response);
            break;
        }
        let over = spec.costs.total_cost_usd - base_cost >= MAX_COST_USD;
        let wrote = spec.tools.overlay().is_some_and(|o| !o.is_empty());
        if halt.is_cancelled() || over || !calls.iter().all(|c| may_run(&spec, c, wrote)) {
            stop = Stop::Calls(calls);
            break;
        }
        let records_len = spec.held.as_ref().map_or(0, |h| state::lock(h).len());
        if let Some(overlay) = spec.tools.overlay() {
            overlay.begin_step(steps.len());
        }
        steps.push(StepMark { history_len: spec.history.len(), records_len, calls: calls.clone() });
        turn::run_tools(&mut spec, &mut state, calls.clone(), early::Early::default(), &cancel, &sink).await;
        if cancel.is_cancelled() {
            // Cut short (the time ran out): this step is done live, if at all.
            let mark = steps.pop().map_or((spec.history.len(), 0), |m| (m.history_len, m.records_len));
            spec.history.truncate(mark.0);
            if let Some(held) = &spec.held {
                state::lock(held).truncate(mark.1);
            }
            stop = Stop::Calls(calls);
            break;
        }
    }
    drop(timer);
    Finished { session: Box::new(spec), stop, steps }
}

/// Whether the speculation may make this call: allowed without asking, and in the safe
/// subset (once the overlay holds a file, only tools that see the overlay).
fn may_run(spec: &Session, call: &ToolCall, wrote: bool) -> bool {
    let Some(tool) = spec.context.tools.get(&call.name) else { return false };
    let mut input = call.input.clone();
    if tool.prepare(&mut input).is_err() {
        return false;
    }
    if gate::decide(spec, tool.name, tool.kind, tool.approval, &input) != Decision::Allow {
        return false;
    }
    let text = |field: &str| input.get(field).and_then(Value::as_str).unwrap_or_default();
    match tool.name {
        "Read" => true,
        "Grep" | "Glob" | "LS" => !wrote,
        // Where the overlay takes files: the project's folders (not the memory folder, nor
        // a file the user let the session write elsewhere).
        "Write" | "Edit" | "MultiEdit" => {
            spec.tools.overlay().is_some_and(|o| o.takes(&spec.tools.resolve(text("file_path"))))
        }
        "Bash" => {
            !wrote
                && input.get("run_in_background").and_then(Value::as_bool) != Some(true)
                && input.get("dangerouslyDisableSandbox").and_then(Value::as_bool) != Some(true)
                && crate::permissions::commands::script_is_read_only(text("command"))
        }
        _ => false,
    }
}

impl Speculation {
    /// Stops it and reports what it cost, as speculative (the session's costs count it).
    pub fn discard(self, session: &mut Session, events: &EventSink) {
        self.cancel.cancel();
        wasted(session, &self.model, &self.spent, self.prompt, events);
    }
}

/// What a discarded speculation spent joins the session's costs (the team's budget heard
/// of it as it was spent), reported as speculative.
fn wasted(
    session: &mut Session,
    model: &crate::provider::models::ModelInfo,
    spent: &Mutex<Vec<Usage>>,
    prompt: String,
    events: &EventSink,
) {
    let usages = std::mem::take(&mut *state::lock(spent));
    let mut cost = 0.0;
    let mut tokens = 0;
    for usage in &usages {
        cost += session.costs.record(model, usage);
        tokens += usage.input_tokens + usage.output_tokens;
    }
    events.emit(Event::SpeculationEnded { prompt, adopted: false, cost_usd: cost, tokens });
}

/// Takes the speculation over for the turn that sent its prompt: `None` if it could not
/// be (interrupted while it finished its step; the turn then goes on as usual, and what it
/// spent is counted).
pub(super) async fn adopt(
    session: &mut Session,
    speculation: Speculation,
    input_id: Option<&str>,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Option<Stop> {
    let Speculation { prompt, task, halt, cancel: stop_now, events: mut held, spent, model: _ } = speculation;
    while let Ok(event) = held.try_recv() {
        events.emit(event);
    }
    halt.cancel();
    tokio::pin!(task);
    let finished = loop {
        tokio::select! {
            biased;
            // Interrupted: the speculation stops now, and what it finished is kept (the turn
            // then ends as interrupted), as a live turn keeps its finished steps.
            () = cancel.cancelled(), if !stop_now.is_cancelled() => stop_now.cancel(),
            Some(event) = held.recv() => events.emit(event),
            done = &mut task => break done.ok()?,
        }
    };
    while let Ok(event) = held.try_recv() {
        events.emit(event);
    }
    let Finished { session: mut spec, mut stop, steps } = finished;
    let usages = std::mem::take(&mut *state::lock(&spent));
    let tokens = usages.iter().map(|u| u.input_tokens + u.output_tokens).sum();
    let cost = spec.costs.total_cost_usd - session.costs.total_cost_usd;
    // Files changed behind the speculation: its steps from the first that touched one on
    // are dropped, and the turn does that step live.
    let files = spec.tools.overlay().map(|o| o.files()).unwrap_or_default();
    let mut keep = steps.len();
    loop {
        let cut = files.iter().filter(|f| f.step >= keep || !overlay::unchanged(f)).map(|f| f.first_step).min();
        match cut {
            Some(step) if step < keep => keep = step,
            _ => break,
        }
    }
    if let Some(mark) = steps.get(keep) {
        spec.history.truncate(mark.history_len);
        if let Some(held) = &spec.held {
            state::lock(held).truncate(mark.records_len);
        }
        stop = Stop::Calls(mark.calls.clone());
        events.emit(Event::Notice {
            message: "A file changed while cairn worked ahead; that part of the work is being done again.".into(),
        });
    }
    let held = spec.held.take().map(|h| h.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner));
    let mut records = held.unwrap_or_default().into_iter();
    // The prompt is recorded first, under the id the front end gave it, and the turn's
    // checkpoint and rewind mark begin there, as for a prompt sent live.
    if let (Some(id), Some(transcript)) = (input_id, &session.transcript) {
        transcript.name_next(id);
    }
    if let Some(first) = records.next() {
        session.record(first);
    }
    session.begin_checkpoint_turn(&prompt, input_id);
    for file in files.iter().filter(|f| f.step < keep) {
        apply(session, file, events).await;
    }
    for record in records {
        session.record(record);
    }
    session.history = std::mem::take(&mut spec.history);
    session.costs = spec.costs.clone();
    session.turns = spec.turns;
    session.last_prompt = std::mem::take(&mut spec.last_prompt);
    session.first_prompt = spec.first_prompt.take();
    session.listing_sent = spec.listing_sent.take();
    session.pending_context.clear();
    let dirty = session.memory.dirty;
    session.memory = std::mem::take(&mut spec.memory);
    session.memory.dirty |= dirty;
    let _ = session.tools.set_cwd(spec.tools.cwd());
    session.meter = spec.meter.clone();
    session.tools.take_seen_from(&spec.tools);
    events.emit(Event::SpeculationEnded { prompt, adopted: true, cost_usd: cost, tokens });
    Some(stop)
}

/// Writes one of the overlay's files to disk as the Write tool does (checkpointed, so
/// `/rewind` undoes it; atomically; remembered as seen).
async fn apply(session: &Session, file: &overlay::Layered, events: &EventSink) {
    let ctx = crate::tools::ToolContext {
        call_id: "speculation".into(),
        cancel: CancellationToken::new(),
        session: Arc::clone(&session.tools),
    };
    let old = std::fs::read(&file.path).ok();
    if let Err(e) =
        crate::tools::write::save(&ctx, &file.path, old.as_deref(), file.text.as_bytes(), "Speculation").await
    {
        events.emit(Event::Error { message: e.to_string() });
    }
}
