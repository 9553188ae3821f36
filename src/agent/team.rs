//! Agents in the background, and the team a coordinator runs.
//!
//! [`start`] runs a Task call's agent on a task of its own, once a worker slot is free,
//! and returns its id at once; when the agent ends, its report becomes a notification for
//! the main conversation, and its session is parked. `SendMessage` reaches a working agent
//! through its inbox and starts a parked one again with the message. In coordinator mode
//! (`--coordinator`, `CAIRN_COORDINATOR_MODE=1`, `"coordinatorMode": true`) the main agent
//! gets only [`ORCHESTRATION`] tools and a system prompt that teaches delegation; every
//! Task call starts a worker, and workers share the team's task list
//! (`TaskList`/`TaskGet`/`TaskUpdate`), whose changes reach the coordinator as
//! notifications.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::Services;
use super::background::Agent;
use super::subagent::{Launcher, Parked, TaskInput, with_note};
use crate::custom::AgentDef;
use crate::tools::tasks::{TaskCreate, TaskGet, TaskList, TaskUpdate};
use crate::tools::{Approval, Tool, ToolContext, ToolError, ToolKind, ToolOutput, ToolRegistry, state};

/// The coordinator's tools: start, message, read and stop workers, and the task list.
pub const ORCHESTRATION: &[&str] =
    &["Task", "SendMessage", "BashOutput", "KillShell", "TaskCreate", "TaskUpdate", "TaskList", "TaskGet"];

/// Starts the call's agent in the background; what the model is told at once.
pub(super) fn start(
    launcher: &Arc<Launcher>,
    definition: AgentDef,
    input: TaskInput,
    ctx: &ToolContext,
) -> Result<ToolOutput, String> {
    let background = &launcher.services.background;
    let agent = background.start(&input.description, input.name.as_deref())?;
    // Its progress is reported under the Task call that started it.
    let ctx = ToolContext { call_id: ctx.call_id.clone(), cancel: agent.cancel(), session: Arc::clone(&ctx.session) };
    let waits = background.slots.available_permits() == 0;
    let text = format!(
        "Started background agent {id} ({description}){waiting}. Its report will arrive as a <task-notification> \
         when it ends; meanwhile go on with other work. Send it more with SendMessage (to \"{label}\"), read it \
         early with TaskOutput (task_id \"{id}\"), stop it with TaskStop.",
        id = agent.id,
        description = input.description,
        label = agent.label(),
        waiting = if waits { "; it waits for a free worker slot" } else { "" },
    );
    let launcher = Arc::clone(launcher);
    tokio::spawn(async move {
        let Some(_slot) = slot(&launcher.services, &agent).await else {
            return launcher.services.background.finish(&agent, &ToolOutput::error("Stopped before it started."));
        };
        match launcher.prepare(&definition, &input, &ctx, Some(&agent)) {
            Ok(parked) => work(&launcher, &agent, parked, &input.description, input.prompt, &ctx).await,
            Err(message) => launcher.services.background.finish(&agent, &ToolOutput::error(message)),
        }
    });
    Ok(ToolOutput::text(text))
}

/// Runs the call's agent in the foreground, its report the call's result — unless the user
/// moves it to the background (Ctrl-B): then the call returns at once and the report comes
/// as a notification. The agent has a cancellation of its own, cancelled with the turn's
/// only while it is in the foreground.
pub(super) async fn foreground(
    launcher: &Arc<Launcher>,
    definition: AgentDef,
    input: TaskInput,
    ctx: ToolContext,
) -> ToolOutput {
    let own = CancellationToken::new();
    let description = input.description.clone();
    let agent_ctx =
        ToolContext { call_id: ctx.call_id.clone(), cancel: own.clone(), session: Arc::clone(&ctx.session) };
    let runner = Arc::clone(launcher);
    let mut run = tokio::spawn(async move { runner.run(&definition, input, agent_ctx).await });
    // Dropped with the call (its turn gone): the agent stops, unless it moved away.
    let guard = own.clone().drop_guard();
    let background = &launcher.services.background;
    let detached = background.detach.notified();
    tokio::pin!(detached);
    let joined = tokio::select! {
        joined = &mut run => joined,
        () = ctx.cancel.cancelled() => {
            own.cancel();
            run.await
        }
        () = &mut detached => {
            guard.disarm();
            let agent = background.adopt(&description, own);
            let text = format!(
                "The user moved this agent to the background: it is agent {id} ({description}) and goes on \
                 working. Its report will arrive as a <task-notification>; read it early with TaskOutput (task_id \
                 \"{id}\"), stop it with TaskStop.",
                id = agent.id
            );
            let background = Arc::clone(&launcher.services.background);
            tokio::spawn(async move {
                let output = run.await.unwrap_or_else(|e| ToolOutput::error(format!("The agent stopped: {e}")));
                background.finish(&agent, &output);
            });
            return ToolOutput::text(text);
        }
    };
    joined.unwrap_or_else(|e| ToolOutput::error(format!("The agent stopped: {e}")))
}

/// A worker slot, waited for (`None`: the agent was stopped first).
async fn slot(services: &Services, agent: &Agent) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let cancel = agent.cancel();
    tokio::select! {
        permit = Arc::clone(&services.background.slots).acquire_owned() => permit.ok(),
        () = cancel.cancelled() => None,
    }
}

/// Runs the agent with `prompt`, and again with each message that arrived as it was
/// finishing (none is left unread); then its report becomes a notification, and its session
/// is parked for a message to start it again — unless it worked in a worktree it left
/// unchanged (removed).
async fn work(
    launcher: &Launcher,
    agent: &Agent,
    mut parked: Parked,
    description: &str,
    mut prompt: String,
    ctx: &ToolContext,
) {
    loop {
        let mut output = launcher.run_in(&mut parked, description, &prompt, ctx).await;
        // Messages are put in the inbox only while the agent works: held, nothing new comes.
        let mut inbox = state::lock(&agent.inbox);
        if !inbox.is_empty() && !ctx.cancel.is_cancelled() {
            prompt = std::mem::take(&mut *inbox).join("\n\n");
            continue;
        }
        let kept = match &parked.worktree {
            Some(worktree) => {
                let (kept, note) = worktree.finish();
                output = with_note(output, note);
                kept
            }
            None => true,
        };
        if kept {
            *state::lock(&agent.parked) = Some(parked);
        }
        launcher.services.background.finish(agent, &output);
        drop(inbox);
        return;
    }
}

/// Starts a parked agent again with `message`.
fn resume(launcher: &Arc<Launcher>, agent: Arc<Agent>, parked: Parked, message: String) {
    let cancel = agent.reopen();
    let session = Arc::clone(&parked.session.tools);
    let ctx = ToolContext { call_id: agent.id.clone(), cancel, session };
    let launcher = Arc::clone(launcher);
    tokio::spawn(async move {
        let Some(_slot) = slot(&launcher.services, &agent).await else {
            return launcher.services.background.finish(&agent, &ToolOutput::error("Stopped before it started."));
        };
        if let Some(Err(e)) = parked.worktree.as_ref().map(super::worktree::Worktree::lock) {
            return launcher.services.background.finish(&agent, &ToolOutput::error(e));
        }
        work(&launcher, &agent, parked, &agent.description, message, &ctx).await;
    });
}

/// A worker's part of the team's tools: the task list, its changes told to the coordinator.
pub(super) fn add_worker_tools(tools: &mut ToolRegistry, services: &Services, name: &str) {
    let board = &services.board;
    tools.register(TaskList { board: Arc::clone(board) });
    tools.register(TaskGet { board: Arc::clone(board) });
    tools.register(TaskUpdate { board: Arc::clone(board), by: Some(name.to_owned()) });
}

/// Messages for background agents, beside Task.
pub(super) fn add_messages(tools: &mut ToolRegistry, launcher: &Arc<Launcher>) {
    tools.register(SendMessage { launcher: Arc::clone(launcher) });
}

/// The coordinator's tools: only [`ORCHESTRATION`] ones (Task and SendMessage are
/// registered already).
pub(super) fn make_coordinator(tools: &mut ToolRegistry, launcher: &Arc<Launcher>) {
    let board = &launcher.services.board;
    tools.register(TaskCreate { board: Arc::clone(board), by: None });
    tools.register(TaskUpdate { board: Arc::clone(board), by: None });
    tools.register(TaskList { board: Arc::clone(board) });
    tools.register(TaskGet { board: Arc::clone(board) });
    tools.retain(|name| ORCHESTRATION.contains(&name));
    let background = Arc::downgrade(&launcher.services.background);
    board.listen(Box::new(move |text| {
        if let Some(background) = background.upgrade() {
            background.notify(text);
        }
    }));
}

/// `SendMessage`.
pub struct SendMessage {
    launcher: Arc<Launcher>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageInput {
    /// The agent's id (`agent_1`) or name.
    pub to: String,
    /// What to tell it.
    pub message: String,
}

impl Tool for SendMessage {
    type Input = SendMessageInput;
    const NAME: &'static str = "SendMessage";
    const DESCRIPTION: &'static str = include_str!("../../tools/SendMessage.md");
    const KIND: ToolKind = ToolKind::ReadOnly;
    const APPROVAL: Approval = Approval::NotNeeded;

    async fn call(&self, input: SendMessageInput, _ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let background = &self.launcher.services.background;
        let Some(agent) = background.find(input.to.trim()) else {
            return Err(ToolError::Failed(format!("No agent is called '{}'. {}", input.to, background.list())));
        };
        if input.message.trim().is_empty() {
            return Err(ToolError::Failed("The message is empty.".into()));
        }
        let mut inbox = state::lock(&agent.inbox);
        if agent.working() {
            inbox.push(input.message);
            return Ok(ToolOutput::text(format!("Message sent to {}: it reads it before its next step.", agent.who())));
        }
        drop(inbox);
        let Some(parked) = state::lock(&agent.parked).take() else {
            return Err(ToolError::Failed(format!(
                "{} has ended and has no session to go on with (it never started, or its worktree was \
                 removed as unchanged); start a new agent instead.",
                agent.who()
            )));
        };
        let text = format!(
            "{} had finished; it starts again with your message, and its report will arrive as a \
             <task-notification>.",
            agent.who()
        );
        resume(&self.launcher, agent, parked, input.message);
        Ok(ToolOutput::text(text))
    }
}
