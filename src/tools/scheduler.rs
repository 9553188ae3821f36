//! Runs one response's tool calls: read-only tools together, everything else alone.
//!
//! Calls are taken in order and cut into groups: a run of consecutive read-only calls (and
//! calls already answered by the gate) forms one concurrent group, at most
//! [`MAX_CONCURRENT`] of them running at once; a mutating call is a group of its own. So `[Read, Read, Bash, Read]` runs as `{Read, Read}`, `{Bash}`,
//! `{Read}`. Results come back, and `ToolCallFinished` events go out, in call order whatever
//! order the tools finished in; each result is handed to the caller's `keep` (the session
//! writes it down) before its event goes out, so what a front end shows is never lost. On
//! interrupt, every call without a result gets an "interrupted" one, so the history stays
//! valid to send.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{RegisteredTool, SessionState, ToolContext, ToolKind, ToolOutput};
use crate::conversation::history::INTERRUPTED_TOOL_RESULT;
use crate::protocol::{Event, EventSink};

/// Read-only calls in flight at once: enough for a model's fan-out, not a fork bomb.
pub const MAX_CONCURRENT: usize = 10;

/// One call after the gate: ready to run, already running (a read-only call started while
/// the answer still streamed), or already answered (invalid, unknown, denied).
pub enum Planned {
    Run { call_id: String, name: String, input: Value, tool: Arc<RegisteredTool> },
    Started { call_id: String, name: String, input: Value, running: Running },
    Answered { call_id: String, name: String, input: Value, output: ToolOutput },
}

/// A read-only call already running on its own task; stopped if it is dropped unread.
pub struct Running(std::sync::Mutex<Option<tokio_util::task::AbortOnDropHandle<ToolOutput>>>);

impl Running {
    /// Starts the call now.
    pub fn start(tool: Arc<RegisteredTool>, input: Value, ctx: ToolContext) -> Running {
        let task = tokio::spawn(async move { tool.call(input, ctx).await });
        Running(std::sync::Mutex::new(Some(tokio_util::task::AbortOnDropHandle::new(task))))
    }

    /// Its output, once it is done (an error if it was stopped or panicked).
    async fn output(&self) -> ToolOutput {
        let task = super::state::lock(&self.0).take();
        match task {
            Some(task) => task.await.unwrap_or_else(|e| ToolOutput::error(format!("The tool failed: {e}"))),
            None => ToolOutput::error(INTERRUPTED_TOOL_RESULT),
        }
    }
}

impl Planned {
    fn runs_alone(&self) -> bool {
        matches!(self, Planned::Run { tool, .. } if tool.kind == ToolKind::Mutating)
    }

    fn ids(&self) -> (&str, &str, &Value) {
        match self {
            Planned::Run { call_id, name, input, .. }
            | Planned::Started { call_id, name, input, .. }
            | Planned::Answered { call_id, name, input, .. } => (call_id, name, input),
        }
    }
}

pub struct Finished {
    pub call_id: String,
    pub output: ToolOutput,
}

/// What the caller does with each result before its event goes out: `(call id, tool name,
/// output)`.
pub type Keep<'k> = &'k (dyn Fn(&str, &str, &ToolOutput) + Sync);

/// Runs the calls; returns one result per call, in call order.
pub async fn run(
    plan: Vec<Planned>,
    session: &Arc<SessionState>,
    cancel: &CancellationToken,
    events: &EventSink,
    keep: Keep<'_>,
) -> Vec<Finished> {
    let mut results = Vec::with_capacity(plan.len());
    let mut rest = plan.into_iter().peekable();
    while rest.peek().is_some() {
        let mut group = vec![];
        while let Some(next) = rest.peek() {
            if next.runs_alone() && !group.is_empty() {
                break;
            }
            let alone = next.runs_alone();
            group.extend(rest.next());
            if alone {
                break;
            }
        }
        if cancel.is_cancelled() {
            results.extend(group.iter().map(|p| interrupted(p, events, keep)));
            continue;
        }
        run_group(group, session, cancel, events, keep, &mut results).await;
    }
    results
}

async fn run_group(
    group: Vec<Planned>,
    session: &Arc<SessionState>,
    cancel: &CancellationToken,
    events: &EventSink,
    keep: Keep<'_>,
    results: &mut Vec<Finished>,
) {
    for planned in &group {
        let (call_id, name, input) = planned.ids();
        events.emit(Event::ToolCallStarted {
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            input: input.clone(),
        });
    }
    let calls: Vec<_> = group
        .iter()
        .map(|planned| {
            let (call_id, _, _) = planned.ids();
            let ctx =
                ToolContext { call_id: call_id.to_owned(), cancel: cancel.child_token(), session: Arc::clone(session) };
            async move {
                match planned {
                    Planned::Run { tool, input, .. } => tool.call(input.clone(), ctx).await,
                    Planned::Started { running, .. } => running.output().await,
                    Planned::Answered { output, .. } => output.clone(),
                }
            }
        })
        .collect();
    // In call order, at most MAX_CONCURRENT at a time.
    let mut running = futures::stream::iter(calls).buffered(MAX_CONCURRENT);
    let mut done = 0;
    loop {
        let next = tokio::select! {
            biased;
            next = running.next() => next,
            () = cancelled_after_grace(cancel) => break,
        };
        let Some(output) = next else { break };
        // What a tool read may hold cairn's own credentials (`/proc/$PPID/environ`).
        let output = super::redacted(output, &session.secrets);
        let (call_id, name, _) = group[done].ids();
        results.push(finish(call_id, name, output, events, keep));
        done += 1;
    }
    drop(running);
    results.extend(group[done..].iter().map(|p| interrupted(p, events, keep)));
}

/// Tools see the cancellation themselves and return what they have; this is the backstop
/// for one that does not.
async fn cancelled_after_grace(cancel: &CancellationToken) {
    cancel.cancelled().await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
}

fn finish(call_id: &str, name: &str, output: ToolOutput, events: &EventSink, keep: Keep<'_>) -> Finished {
    keep(call_id, name, &output);
    events.emit(Event::ToolCallFinished { call_id: call_id.to_owned(), name: name.to_owned(), output: output.clone() });
    Finished { call_id: call_id.to_owned(), output }
}

fn interrupted(planned: &Planned, events: &EventSink, keep: Keep<'_>) -> Finished {
    let (call_id, name, _) = planned.ids();
    let output = match planned {
        Planned::Answered { output, .. } => output.clone(),
        Planned::Run { .. } | Planned::Started { .. } => ToolOutput::error(INTERRUPTED_TOOL_RESULT),
    };
    finish(call_id, name, output, events, keep)
}
