//! The core's task: it takes the front end's [`Op`]s one at a time. Between turns each is
//! done at once; a user turn runs while the task keeps listening, so an interrupt cancels
//! the turn's token, an approval answer reaches the gate waiting for it, a permission-mode
//! change applies to the next tool call and queries about the setup are answered; user
//! turns, model changes, `/clear`, `/resume` and `/compact` that arrive meanwhile wait
//! their turn, and notes and reloads are applied when it ends (a rename is written to the
//! transcript at once and taken into the session when the turn ends).

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::compact::Trigger;
use super::speculate::{self, Speculation};
use super::suggest::{self, Suggesting};
use super::{Session, host, queries, turn};
use crate::custom::watch::Changed;
use crate::protocol::{Event, EventSink, Op, UserInput};
use crate::provider::models;
use crate::provider::reasoning::Effort;
use crate::session::{Loaded, Record};
use crate::tools::state;

/// Work that waits for the running turn to end.
enum Pending {
    Turn(UserInput),
    SetModel(String),
    SetEffort(Option<Effort>),
    SetOutputStyle(String),
    SetThinkingBudget(Option<u32>),
    Clear,
    Resume(String),
    Compact(Option<String>),
    Rewind {
        to: String,
        scope: crate::protocol::RewindScope,
        overwrite: bool,
    },
    Fork(Option<String>),
    /// Background agents reported while the session was idle (the interactive UI).
    Woken,
    /// The suggested next prompt came (the interactive UI).
    Suggested(suggest::Suggested),
}

impl Pending {
    /// The op as work that waits for a turn, or the op back if it does not wait.
    fn of(op: Op) -> Result<Pending, Op> {
        Ok(match op {
            Op::UserTurn(input) => Pending::Turn(input),
            Op::SetModel(model) => Pending::SetModel(model),
            Op::SetEffort(effort) => Pending::SetEffort(effort),
            Op::SetOutputStyle(name) => Pending::SetOutputStyle(name),
            Op::SetThinkingBudget(tokens) => Pending::SetThinkingBudget(tokens),
            Op::Clear => Pending::Clear,
            Op::Resume(key) => Pending::Resume(key),
            Op::Compact(instructions) => Pending::Compact(instructions),
            Op::Rewind { to, scope, overwrite } => Pending::Rewind { to, scope, overwrite },
            Op::Fork { at } => Pending::Fork(at),
            other => return Err(other),
        })
    }
}

/// What the idle session works ahead on: the suggestion asked for, and the speculation on
/// it.
#[derive(Default)]
struct Ahead {
    suggesting: Option<Suggesting>,
    speculation: Option<Speculation>,
}

impl Ahead {
    /// Stops working ahead (the user did something else).
    fn drop_all(&mut self, session: &mut Session, events: &EventSink) {
        self.suggesting = None;
        if let Some(speculation) = self.speculation.take() {
            speculation.discard(session, events);
        }
    }

    /// The speculation, if `input` is exactly its prompt and nothing since would make the
    /// live turn differ; any other is discarded.
    fn matching(&mut self, session: &mut Session, input: &UserInput, events: &EventSink) -> Option<Speculation> {
        self.suggesting = None;
        let speculation = self.speculation.take()?;
        let same = crate::conversation::history::text_of(&input.content).trim() == speculation.prompt.trim()
            && input.attachments.is_empty()
            && speculate::allowed(session);
        if same {
            return Some(speculation);
        }
        speculation.discard(session, events);
        None
    }
}

/// What arrived while a turn ran and is applied once it has ended.
#[derive(Default)]
struct Meanwhile {
    shutdown: bool,
    /// The session's info changed (the mode, the title): front ends hear it after the turn.
    changed: bool,
    renamed: Option<String>,
    reloads: Vec<Changed>,
    notes: Vec<String>,
}

pub(super) async fn run(
    mut session: Session,
    resumed: Option<Loaded>,
    mut ops: mpsc::UnboundedReceiver<Op>,
    events: EventSink,
) {
    open(&mut session, resumed, &events).await;
    let mut queued = VecDeque::new();
    let mut ahead = Ahead::default();
    loop {
        let next = match queued.pop_front() {
            Some(next) => next,
            None => match next_op(&session, &mut ops, &mut ahead).await {
                Some(Ok(pending)) => pending,
                Some(Err(Op::Shutdown)) | None => break,
                Some(Err(Op::DropSuggestion)) => {
                    ahead.drop_all(&mut session, &events);
                    continue;
                }
                Some(Err(Op::SpeculateDraft(draft))) => {
                    if session.ahead.drafts {
                        ahead.drop_all(&mut session, &events);
                        if !draft.trim().is_empty() && speculate::allowed(&session) {
                            ahead.speculation = Some(speculate::start(&session, draft));
                        }
                    }
                    continue;
                }
                Some(Err(op)) => {
                    // Work done ahead holds only while nothing it depends on changes: the
                    // mode, the rules, the hooks, the files cairn reads, the agents.
                    if !matches!(op, Op::Query(_) | Op::ApprovalAnswer { .. } | Op::HostAnswer { .. }) {
                        ahead.drop_all(&mut session, &events);
                    }
                    between_turns(&mut session, op, &events).await;
                    continue;
                }
            },
        };
        let mut speculation = None;
        let input = match next {
            Pending::Suggested(suggested) => {
                ahead.speculation = suggested_prompt(&mut session, suggested, &events);
                continue;
            }
            Pending::Turn(input) => {
                speculation = ahead.matching(&mut session, &input, &events);
                input
            }
            // The reports go to the model as a message of their own (added by the turn).
            Pending::Woken if session.services.background.waiting() > 0 => {
                events.emit(Event::BackgroundReported { count: session.services.background.waiting() });
                UserInput::default()
            }
            Pending::Woken => continue,
            Pending::Compact(instructions) if !session.history.is_empty() => {
                if compact_listening(&mut session, instructions, &mut ops, &mut queued, &events).await {
                    break;
                }
                continue;
            }
            other => {
                ahead.drop_all(&mut session, &events);
                apply(&mut session, other, &events).await;
                continue;
            }
        };
        ahead.drop_all(&mut session, &events);
        let mut meanwhile = Meanwhile::default();
        let turn = (input, speculation);
        let ended = listen_while(&mut session, turn, &mut ops, &mut queued, &mut meanwhile, &events).await;
        let answered = matches!(&ended, Event::TurnComplete(o) if o.status == crate::protocol::TurnStatus::Success);
        after_turn(&mut session, ended, &mut meanwhile, &events).await;
        if meanwhile.shutdown {
            break;
        }
        if answered && session.ahead.suggest && queued.is_empty() {
            ahead.suggesting = suggest::start(&session);
        }
    }
    ahead.drop_all(&mut session, &events);
    session.close(&events).await;
}

/// A suggestion came: it is counted and shown, and worked on when speculation may start.
fn suggested_prompt(session: &mut Session, suggested: suggest::Suggested, events: &EventSink) -> Option<Speculation> {
    let cost_usd = session.costs.record(&suggested.model, &suggested.usage);
    session.services.spend(cost_usd);
    let text = suggested.text;
    events.emit(Event::PromptSuggestion { text: text.clone(), cost_usd });
    let plain = !text.starts_with(['/', '#', '!', '@']);
    (plain && speculate::allowed(session)).then(|| speculate::start(session, text))
}

/// The next op from the front end; for a coordinator in the interactive UI, also a wake-up
/// when its workers report while it is idle (headless sessions wait for them in the turn;
/// other background agents' reports join the next message).
async fn next_op(
    session: &Session,
    ops: &mut mpsc::UnboundedReceiver<Op>,
    ahead: &mut Ahead,
) -> Option<Result<Pending, Op>> {
    let services = &session.services;
    let coordinator = session.launcher.as_ref().is_some_and(|l| l.coordinator);
    loop {
        let suggested = async {
            match ahead.suggesting.as_mut() {
                Some(Suggesting(task)) => task.await.ok().flatten(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            op = ops.recv() => return op.map(Pending::of),
            () = services.background.reported(), if coordinator && !services.headless => {
                return Some(Ok(Pending::Woken));
            }
            suggestion = suggested => {
                ahead.suggesting = None;
                if let Some(suggestion) = suggestion {
                    return Some(Ok(Pending::Suggested(suggestion)));
                }
            }
        }
    }
}

/// The session begins (or continues one read from disk): front ends are told, then the
/// SessionStart hooks run.
async fn open(session: &mut Session, resumed: Option<Loaded>, events: &EventSink) {
    let restored = resumed.map(|loaded| {
        let transcript = session.transcript.take();
        session.adopt(loaded, transcript)
    });
    events.emit(Event::SessionStarted(session.info()));
    for message in state::read(&session.services.catalog).warnings.clone() {
        events.emit(Event::Notice { message });
    }
    let source = if restored.is_some() { "resume" } else { "startup" };
    if let Some(todos) = restored {
        session.announce_restored(todos, events);
    }
    session.session_start(source, events).await;
}

/// An op that does not wait for a turn, with no turn running.
async fn between_turns(session: &mut Session, op: Op, events: &EventSink) {
    match op {
        // A background agent's question, answered while the session is idle.
        Op::ApprovalAnswer { call_id, decision } => session.services.approvals.answer(&call_id, decision),
        Op::HostAnswer { id, answer } => session.services.host_calls.answer(&id, answer),
        Op::RegisterHooks(registered) => host::register(&session.services, &registered, events),
        Op::AddAgents(agents) => {
            host::add_agents(&session.services, agents);
            events.emit(Event::SessionChanged(session.info()));
        }
        Op::Reload(changed) => session.reload(&changed, events),
        Op::Remember(note) => session.remember(&note, events),
        Op::Rename(title) => session.rename(title, events).await,
        Op::Query(query) => session.answer(query, events),
        Op::SetPermissionMode(mode) if set_mode(&session.services, mode, events) => {
            events.emit(Event::SessionChanged(session.info()));
        }
        _ => {}
    }
}

/// Changes the permission mode, unless a setting turned that mode off; whether it changed.
fn set_mode(services: &super::Services, mode: crate::permissions::PermissionMode, events: &EventSink) -> bool {
    let mut policy = state::lock(&services.permissions);
    if mode == crate::permissions::PermissionMode::BypassPermissions && policy.bypass_disabled {
        let message = "bypassPermissions mode is turned off by a setting (permissions.disableBypassPermissionsMode)";
        events.emit(Event::Error { message: message.into() });
        return false;
    }
    policy.mode = mode;
    true
}

/// Work that waited for the turn (a user turn aside).
async fn apply(session: &mut Session, pending: Pending, events: &EventSink) {
    match pending {
        Pending::Turn(_) | Pending::Woken | Pending::Suggested(_) => {}
        Pending::SetModel(model) => {
            session.context.model = models::lookup(&model);
            events.emit(Event::SessionChanged(session.info()));
        }
        Pending::SetOutputStyle(name) => session.set_output_style(&name, events),
        Pending::SetThinkingBudget(tokens) => session.context.reasoning.budget_tokens = tokens,
        Pending::SetEffort(effort) => {
            session.context.reasoning.effort = effort;
            events.emit(Event::SessionChanged(session.info()));
        }
        Pending::Clear => {
            session.session_end("clear", events).await;
            session.start_over(events);
            session.session_start("clear", events).await;
        }
        Pending::Resume(key) => {
            if session.resume(key, events).await {
                session.session_start("resume", events).await;
            }
        }
        Pending::Compact(_) if session.history.is_empty() => {
            events.emit(Event::Notice { message: "Nothing to compact yet.".into() });
        }
        Pending::Compact(instructions) => {
            let compacted = session.compact(Trigger::Manual, instructions, &CancellationToken::new(), events).await;
            if let Err(e) = compacted {
                events.emit(Event::Error { message: e.message() });
            }
        }
        Pending::Rewind { to, scope, overwrite } => session.rewind(&to, scope, overwrite, events),
        Pending::Fork(at) => session.fork(at.as_deref(), events),
    }
}

/// `/compact` while still listening: an interrupt cancels it (the history stays as it
/// was); work that waits is queued, other ops are handled once it is done. Whether the
/// front end asked to shut down.
async fn compact_listening(
    session: &mut Session,
    instructions: Option<String>,
    ops: &mut mpsc::UnboundedReceiver<Op>,
    queued: &mut VecDeque<Pending>,
    events: &EventSink,
) -> bool {
    let cancel = CancellationToken::new();
    let mut later = Vec::new();
    let mut shutdown = false;
    let result = {
        let compacting = session.compact(Trigger::Manual, instructions, &cancel, events);
        tokio::pin!(compacting);
        loop {
            tokio::select! {
                result = &mut compacting => break result,
                op = ops.recv(), if !shutdown => match op.map(Pending::of) {
                    Some(Ok(pending)) => queued.push_back(pending),
                    Some(Err(Op::Interrupt)) => cancel.cancel(),
                    Some(Err(Op::Shutdown)) | None => {
                        shutdown = true;
                        cancel.cancel();
                    }
                    Some(Err(op)) => later.push(op),
                },
            }
        }
    };
    match result {
        Ok(_) => {}
        Err(super::compact::CompactError::Cancelled) => {
            events.emit(Event::Notice { message: "Compaction interrupted; the conversation is as it was.".into() });
        }
        Err(e) => events.emit(Event::Error { message: e.message() }),
    }
    for op in later {
        between_turns(session, op, events).await;
    }
    shutdown
}

/// Runs a user turn and keeps listening to the front end until it ends; how it ended.
async fn listen_while(
    session: &mut Session,
    (input, speculation): (UserInput, Option<Speculation>),
    ops: &mut mpsc::UnboundedReceiver<Op>,
    queued: &mut VecDeque<Pending>,
    meanwhile: &mut Meanwhile,
    events: &EventSink,
) -> Event {
    let cancel = CancellationToken::new();
    let services = Arc::clone(&session.services);
    let transcript = session.transcript.clone();
    let cwd = session.context.cwd.clone();
    let turn = turn::run_turn(session, input, speculation, cancel.clone(), events);
    tokio::pin!(turn);
    loop {
        let op = tokio::select! {
            ended = &mut turn => return ended,
            op = ops.recv(), if !meanwhile.shutdown => op,
        };
        let op = match op.map(Pending::of) {
            Some(Ok(pending)) => {
                queued.push_back(pending);
                continue;
            }
            Some(Err(op)) => op,
            None => Op::Shutdown,
        };
        match op {
            Op::Interrupt => cancel.cancel(),
            Op::Background => {
                services.background.detach.notify_waiters();
                services.shells.detach.notify_waiters();
            }
            Op::ApprovalAnswer { call_id, decision } => services.approvals.answer(&call_id, decision),
            Op::HostAnswer { id, answer } => services.host_calls.answer(&id, answer),
            Op::RegisterHooks(registered) => host::register(&services, &registered, events),
            Op::AddAgents(agents) => host::add_agents(&services, agents),
            Op::SetPermissionMode(mode) => meanwhile.changed |= set_mode(&services, mode, events),
            Op::Reload(changed) => meanwhile.reloads.extend(changed),
            Op::Remember(note) => meanwhile.notes.push(note),
            Op::Query(query) => queries::answer_query(&services, &cwd, query, events),
            Op::Rename(title) => {
                let title = title.trim().to_owned();
                if title.is_empty() {
                    continue;
                }
                if let Some(transcript) = &transcript {
                    transcript.record(Record::Title(title.clone()));
                }
                meanwhile.renamed = Some(title);
            }
            Op::Shutdown => {
                meanwhile.shutdown = true;
                cancel.cancel();
            }
            Op::UserTurn(_)
            | Op::SetModel(_)
            | Op::SetEffort(_)
            | Op::SetOutputStyle(_)
            | Op::SetThinkingBudget(_)
            | Op::Clear
            | Op::Resume(_)
            | Op::Compact(_)
            | Op::Rewind { .. }
            | Op::Fork { .. }
            | Op::DropSuggestion
            | Op::SpeculateDraft(_) => {}
        }
    }
}

/// The turn has ended: what arrived meanwhile is applied, the turn's end is on disk, then
/// front ends are told.
async fn after_turn(session: &mut Session, ended: Event, meanwhile: &mut Meanwhile, events: &EventSink) {
    if let Some(title) = meanwhile.renamed.take() {
        session.title = Some(title);
        meanwhile.changed = true;
    }
    if !meanwhile.reloads.is_empty() {
        meanwhile.reloads.sort();
        meanwhile.reloads.dedup();
        session.reload(&meanwhile.reloads, events);
    }
    for note in std::mem::take(&mut meanwhile.notes) {
        session.remember(&note, events);
    }
    session.finish_turn(&ended, events).await;
    events.emit(ended);
    if meanwhile.changed {
        events.emit(Event::SessionChanged(session.info()));
    }
}
