//! Streaming tool execution: a read-only call starts as soon as its `tool_use` block is
//! complete in the stream, while the rest of the answer (more text, more calls) still
//! arrives.
//!
//! [`Watcher`] sits between the stream and the front ends: it forwards every event and
//! hands each finished call to [`run`], which takes the calls through the gate in order —
//! PreToolUse hooks and the permission check exactly as after the stream — and starts
//! those that pass. Only a prefix starts early, of at most as many calls as the scheduler
//! runs at once: the first call that is not a read-only tool (an edit, a command, a
//! sub-agent, a question) closes it, and it and every call after it wait for the whole
//! response, so a later read sees what an earlier edit wrote.
//! Results still go back in call order, with their events, once the response is recorded.
//! A stream that fails and is retried leaves its started calls aside: the retried response
//! reuses one when it asks for the identical call, and the others are stopped.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Session;
use super::gate::{self, Gated};
use crate::conversation::ToolCall;
use crate::protocol::EventSink;
use crate::provider::retry::{Observer, Retry};
use crate::provider::{BlockStart, StreamEvent};
use crate::tools::scheduler::{Planned, Running};
use crate::tools::{RegisteredTool, ToolContext, ToolKind, state};

/// The built-in tools that may start before the response is complete; MCP tools marked
/// read-only may too. Sub-agents, questions and the task board wait.
const EARLY_TOOLS: &[&str] = &["Read", "Grep", "Glob", "LS", "WebFetch"];

/// What the stream told the runner.
enum Seen {
    Call(ToolCall),
    Retry,
}

/// Forwards the stream to the front ends and reports each `tool_use` block once complete.
pub(super) struct Watcher<'a> {
    events: &'a EventSink,
    seen: mpsc::UnboundedSender<Seen>,
    /// Block index → (id, name, input JSON so far).
    open: Mutex<HashMap<usize, (String, String, String)>>,
}

/// A watcher and the runner's end of it.
pub(super) fn watch(events: &EventSink) -> (Watcher<'_>, Receiver) {
    let (seen, receiver) = mpsc::unbounded_channel();
    (Watcher { events, seen, open: Mutex::default() }, Receiver(receiver))
}

pub(super) struct Receiver(mpsc::UnboundedReceiver<Seen>);

impl Observer for Watcher<'_> {
    fn streamed(&self, event: StreamEvent) {
        match &event {
            StreamEvent::BlockStart { index, block: BlockStart::ToolUse { id, name } } => {
                state::lock(&self.open).insert(*index, (id.clone(), name.clone(), String::new()));
            }
            StreamEvent::ToolInputDelta { index, partial_json } => {
                if let Some((_, _, json)) = state::lock(&self.open).get_mut(index) {
                    json.push_str(partial_json);
                }
            }
            StreamEvent::BlockStop { index } => {
                let finished = state::lock(&self.open).remove(index);
                if let Some((id, name, json)) = finished
                    && let Some(input) = crate::provider::parse_tool_input(&json).filter(Value::is_object)
                {
                    let _ = self.seen.send(Seen::Call(ToolCall { id, name, input }));
                }
            }
            _ => {}
        }
        self.events.streamed(event);
    }

    fn retrying(&self, retry: Retry) {
        state::lock(&self.open).clear();
        let _ = self.seen.send(Seen::Retry);
        self.events.retrying(retry);
    }
}

/// A call started (or answered by the gate) while the response streamed.
pub(super) struct EarlyCall {
    /// The call as the stream had it, before hooks changed its input.
    pub call: ToolCall,
    pub planned: Planned,
    /// What the gate learned about this call.
    pub gated: Gated,
}

/// The calls of the response that started early, in call order.
#[derive(Default)]
pub(super) struct Early {
    pub calls: Vec<EarlyCall>,
}

impl Early {
    /// The plan for the recorded response's calls: the early ones that match it (their
    /// ids as recorded), then the rest to go through the gate. What the gate learned about
    /// the early ones joins `gated`.
    pub fn plan(self, calls: Vec<ToolCall>, gated: &mut Gated) -> (Vec<Planned>, Vec<ToolCall>) {
        let mut calls = calls.into_iter().peekable();
        let mut plan = Vec::new();
        for early in self.calls {
            let Some(call) = calls.next_if(|c| c.name == early.call.name && c.input == early.call.input) else {
                break;
            };
            plan.push(renamed(early.planned, call.id));
            let EarlyCall { gated: mut theirs, .. } = early;
            gated.denials.append(&mut theirs.denials);
            gated.context.append(&mut theirs.context);
            gated.stop = gated.stop.take().or(theirs.stop);
        }
        (plan, calls.collect())
    }
}

/// The call under the id the history gave it (a reused id is renamed when recorded).
fn renamed(planned: Planned, id: String) -> Planned {
    match planned {
        Planned::Run { name, input, tool, .. } => Planned::Run { call_id: id, name, input, tool },
        Planned::Started { name, input, running, .. } => Planned::Started { call_id: id, name, input, running },
        Planned::Answered { name, input, output, .. } => Planned::Answered { call_id: id, name, input, output },
    }
}

/// `CAIRN_STREAMING_TOOLS=0` turns early starts off (to compare, or to rule them out).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("CAIRN_STREAMING_TOOLS").ok().is_none_or(|v| v != "0" && v != "false"))
}

/// Whether a call to `tool` may start before the response is complete.
fn starts_early(tool: &RegisteredTool) -> bool {
    tool.kind == ToolKind::ReadOnly && (EARLY_TOOLS.contains(&tool.name) || tool.name.starts_with("mcp__"))
}

/// Takes one call through the gate and, if it passes, starts it.
async fn start(session: &Session, call: ToolCall, cancel: &CancellationToken, events: &EventSink) -> EarlyCall {
    let mut gated = Gated::default();
    let planned = match gate::plan_one(session, call.clone(), cancel, events, &mut gated).await {
        Planned::Run { call_id, name, input, tool } => {
            let ctx = ToolContext {
                call_id: call_id.clone(),
                cancel: cancel.child_token(),
                session: std::sync::Arc::clone(&session.tools),
            };
            let running = Running::start(tool, input.clone(), ctx);
            Planned::Started { call_id, name, input, running }
        }
        other => other,
    };
    EarlyCall { call, planned, gated }
}

/// Takes the calls the watcher reports through the gate and starts them, until the first
/// that must wait; returns when the stream is done (the watcher dropped).
pub(super) async fn run(
    session: &Session,
    Receiver(mut seen): Receiver,
    carried: Vec<EarlyCall>,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Early {
    let mut early = Early::default();
    if session.held.is_some() || !enabled() {
        // A speculation runs nothing before it has judged the whole response.
        while seen.recv().await.is_some() {}
        return early;
    }
    // Calls a failed attempt (or an answer cut off and asked again) started, for the new
    // response to reuse.
    let mut aside: Vec<EarlyCall> = carried;
    let mut open = true;
    while let Some(next) = seen.recv().await {
        let call = match next {
            Seen::Retry => {
                aside.append(&mut early.calls);
                open = true;
                continue;
            }
            Seen::Call(call) if open => call,
            Seen::Call(_) => continue,
        };
        if let Some(i) = aside.iter().position(|a| a.call.name == call.name && a.call.input == call.input) {
            let mut reused = aside.remove(i);
            reused.call.id = call.id;
            early.calls.push(reused);
        } else if session.context.tools.get(&call.name).is_some_and(|t| starts_early(&t)) {
            early.calls.push(start(session, call, cancel, events).await);
        } else {
            open = false;
            continue;
        }
        // As many as the scheduler runs at once start early; the rest wait for it.
        open = early.calls.last().is_some_and(|c| c.gated.stop.is_none())
            && early.calls.len() < crate::tools::scheduler::MAX_CONCURRENT;
    }
    early
}
