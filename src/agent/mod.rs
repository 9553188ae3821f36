//! The agent core: one task that owns a session and runs its turns.
//!
//! [`spawn`] starts it and hands back the two ends a front end needs: a sender of [`Op`]s
//! and a receiver of [`Event`]s. The task takes one user turn at a time (`turn` runs the
//! loop: request → stream → gate → tools → repeat); while a turn runs it still listens, so
//! an interrupt cancels the turn's token, an approval answer reaches the gate waiting for
//! it, and a permission-mode change applies to the next tool call. User turns, model changes
//! and `/clear` that arrive meanwhile wait their turn. Nothing here prints.

mod gate;
pub mod history;
pub mod prompt;
mod turn;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cost::CostTracker;
use crate::permissions::PermissionPolicy;
use crate::protocol::{ApprovalDecision, Event, EventSink, Op, SessionInfo, UserInput};
use crate::provider::Provider;
use crate::provider::models::{self, ModelInfo};
use crate::provider::retry::RetryPolicy;
use crate::tools::bash::shells::ShellRegistry;
use crate::tools::{SessionState, ToolRegistry, state};
use history::Message;

/// What to do with a call the permission rules leave to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalMode {
    /// Ask through [`Event::ApprovalRequest`] and wait for [`Op::ApprovalAnswer`].
    Ask,
    /// Nobody can answer (`-p`): refuse the call and list it in `permission_denials`.
    Refuse,
}

pub struct AgentConfig {
    pub provider: Arc<dyn Provider>,
    pub model: ModelInfo,
    pub system_prompt: String,
    pub tools: ToolRegistry,
    pub permissions: PermissionPolicy,
    pub approvals: ApprovalMode,
    pub retry: RetryPolicy,
    /// Model requests allowed per user turn.
    pub max_turns: Option<u32>,
    /// The project folder: where the session starts, and where files may be written.
    pub cwd: PathBuf,
    /// More folders files may be written under (`--add-dir`).
    pub add_dirs: Vec<PathBuf>,
    pub session_id: String,
    /// This session's own folder (spilled tool output, background shell logs).
    pub session_dir: PathBuf,
    /// Every process group the tools start; the front end kills them all on its way out.
    pub shells: Arc<ShellRegistry>,
}

pub struct AgentHandle {
    pub ops: mpsc::UnboundedSender<Op>,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub task: JoinHandle<()>,
}

/// Starts the core on the current tokio runtime.
pub fn spawn(config: AgentConfig) -> AgentHandle {
    let (ops_tx, ops_rx) = mpsc::unbounded_channel();
    let (sink, events) = EventSink::new();
    config.tools.prepare_validators();
    let tools = Arc::new(SessionState::new(
        &config.cwd,
        &config.add_dirs,
        config.session_dir.join("tool-results"),
        Arc::clone(&config.shells),
        sink.clone(),
    ));
    let permissions = Arc::new(Mutex::new(config.permissions.clone()));
    let session = Session { config, tools, permissions, history: Vec::new(), costs: CostTracker::default() };
    let task = tokio::spawn(run(session, ops_rx, sink));
    AgentHandle { ops: ops_tx, events, task }
}

/// A session's state: what the turns read and extend.
struct Session {
    config: AgentConfig,
    /// What the tools share: working directory, files seen, todos, shells.
    tools: Arc<SessionState>,
    /// The rules and mode in force; shared so a mode change reaches a running turn.
    permissions: Arc<Mutex<PermissionPolicy>>,
    history: Vec<Message>,
    costs: CostTracker,
}

impl Session {
    fn info(&self) -> SessionInfo {
        SessionInfo {
            session_id: self.config.session_id.clone(),
            model: self.config.model.id.clone(),
            cwd: self.config.cwd.clone(),
            tools: self.config.tools.names(),
            permission_mode: state::lock(&self.permissions).mode,
        }
    }
}

/// Work that waits for the running turn to end.
enum Pending {
    Turn(UserInput),
    SetModel(String),
    Clear,
}

async fn run(mut session: Session, mut ops: mpsc::UnboundedReceiver<Op>, events: EventSink) {
    events.emit(Event::SessionStarted(session.info()));
    let approvals = Approvals::default();
    let mut queued = VecDeque::new();
    loop {
        let next = match queued.pop_front() {
            Some(next) => next,
            None => match ops.recv().await {
                Some(Op::UserTurn(input)) => Pending::Turn(input),
                Some(Op::SetModel(model)) => Pending::SetModel(model),
                Some(Op::Clear) => Pending::Clear,
                Some(Op::SetPermissionMode(mode)) => {
                    state::lock(&session.permissions).mode = mode;
                    events.emit(Event::SessionChanged(session.info()));
                    continue;
                }
                Some(Op::Interrupt | Op::ApprovalAnswer { .. }) => continue,
                Some(Op::Shutdown) | None => return,
            },
        };
        let input = match next {
            Pending::Turn(input) => input,
            Pending::SetModel(model) => {
                session.config.model = models::lookup(&model);
                events.emit(Event::SessionChanged(session.info()));
                continue;
            }
            Pending::Clear => {
                session.history.clear();
                session.config.session_id = uuid::Uuid::new_v4().to_string();
                events.emit(Event::SessionChanged(session.info()));
                continue;
            }
        };
        let cancel = CancellationToken::new();
        let mut shutdown = false;
        let mut mode_changed = false;
        let permissions = Arc::clone(&session.permissions);
        let ended = {
            let turn = turn::run_turn(&mut session, input, cancel.clone(), &approvals, &events);
            tokio::pin!(turn);
            loop {
                tokio::select! {
                    ended = &mut turn => break ended,
                    op = ops.recv(), if !shutdown => match op {
                        Some(Op::Interrupt) => cancel.cancel(),
                        Some(Op::ApprovalAnswer { call_id, decision }) => approvals.answer(&call_id, decision),
                        Some(Op::SetPermissionMode(mode)) => {
                            state::lock(&permissions).mode = mode;
                            mode_changed = true;
                        }
                        Some(Op::UserTurn(input)) => queued.push_back(Pending::Turn(input)),
                        Some(Op::SetModel(model)) => queued.push_back(Pending::SetModel(model)),
                        Some(Op::Clear) => queued.push_back(Pending::Clear),
                        Some(Op::Shutdown) | None => {
                            shutdown = true;
                            cancel.cancel();
                        }
                    },
                }
            }
        };
        events.emit(ended);
        if mode_changed {
            events.emit(Event::SessionChanged(session.info()));
        }
        if shutdown {
            return;
        }
    }
}

/// Approval requests waiting for the user, by tool call id.
#[derive(Default)]
struct Approvals {
    pending: Mutex<HashMap<String, oneshot::Sender<ApprovalDecision>>>,
}

impl Approvals {
    fn request(&self, call_id: &str) -> oneshot::Receiver<ApprovalDecision> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(call_id.to_owned(), tx);
        }
        rx
    }

    /// Drops a request nobody answered (the turn was interrupted).
    fn forget(&self, call_id: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(call_id);
        }
    }

    fn answer(&self, call_id: &str, decision: ApprovalDecision) {
        let waiting = self.pending.lock().ok().and_then(|mut p| p.remove(call_id));
        if let Some(tx) = waiting {
            let _ = tx.send(decision);
        }
    }
}
