//! Background agents: a Task call with `run_in_background` returns at once with the agent's
//! id while the agent works on; when it ends, a `<task-notification>` with its result waits
//! for the main conversation — added to the next message, or, in a headless session that
//! would otherwise end, waited for and sent as a message of its own. `TaskOutput` and
//! `TaskStop` (BashOutput and KillShell by their newer names) reach agents by id as they
//! reach shells; cairn's exit stops them all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::tools::state::AgentTasks;
use crate::tools::{ToolOutput, state};

/// One agent working in the background.
pub struct Agent {
    pub id: String,
    pub description: String,
    pub cancel: CancellationToken,
    ended: Mutex<Option<Ended>>,
}

#[derive(Clone, Debug)]
struct Ended {
    status: &'static str,
    text: String,
}

/// The session's background agents and the notifications of those that ended.
#[derive(Default)]
pub struct Background {
    agents: Mutex<Vec<Arc<Agent>>>,
    notifications: Mutex<Vec<String>>,
    changed: tokio::sync::Notify,
}

impl Background {
    /// Registers an agent about to start.
    pub fn start(&self, description: &str) -> Arc<Agent> {
        let mut agents = state::lock(&self.agents);
        let agent = Arc::new(Agent {
            id: format!("agent_{}", agents.len() + 1),
            description: description.to_owned(),
            cancel: CancellationToken::new(),
            ended: Mutex::new(None),
        });
        agents.push(Arc::clone(&agent));
        agent
    }

    /// The agent's run is over: its result becomes a notification.
    pub fn finish(&self, agent: &Agent, output: &ToolOutput) {
        let status = match (agent.cancel.is_cancelled(), output.is_error) {
            (true, _) => "stopped",
            (false, true) => "failed",
            (false, false) => "completed",
        };
        let text = output.text_content();
        *state::lock(&agent.ended) = Some(Ended { status, text: text.clone() });
        state::lock(&self.notifications).push(format!(
            "<task-notification>\n<task-id>{}</task-id>\n<status>{status}</status>\n<summary>Agent \"{}\" {status}</summary>\n\
             <result>{text}</result>\n</task-notification>",
            agent.id, agent.description
        ));
        self.changed.notify_waiters();
    }

    /// The notifications not yet given to the main conversation.
    pub fn take_notifications(&self) -> Vec<String> {
        std::mem::take(&mut *state::lock(&self.notifications))
    }

    /// How many agents are still working.
    pub fn running(&self) -> usize {
        state::lock(&self.agents).iter().filter(|a| state::lock(&a.ended).is_none()).count()
    }

    /// Waits until an agent ends (or `cancel`).
    pub async fn changed(&self, cancel: &CancellationToken) {
        let notified = self.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !state::lock(&self.notifications).is_empty() {
            return;
        }
        tokio::select! {
            () = notified => {}
            () = cancel.cancelled() => {}
        }
    }

    /// The background agents and their state, in words (`/tasks`).
    pub fn list(&self) -> String {
        let agents = state::lock(&self.agents);
        if agents.is_empty() {
            return "There are no background agents.".into();
        }
        let lines: Vec<String> = agents
            .iter()
            .map(|a| {
                let status = state::lock(&a.ended).as_ref().map_or("working", |e| e.status);
                format!("- {} ({status}): {}", a.id, a.description)
            })
            .collect();
        format!("Background agents:\n{}", lines.join("\n"))
    }

    fn find(&self, id: &str) -> Option<Arc<Agent>> {
        state::lock(&self.agents).iter().find(|a| a.id == id).cloned()
    }

    /// Stops every agent still working (cairn is on its way out, or `/clear`).
    pub fn stop_all(&self) {
        for agent in state::lock(&self.agents).iter() {
            agent.cancel.cancel();
        }
    }
}

impl AgentTasks for Background {
    fn output<'a>(
        &'a self,
        id: &'a str,
        wait: Option<Duration>,
        cancel: &'a CancellationToken,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            let agent = self.find(id)?;
            if let Some(wait) = wait {
                let deadline = tokio::time::Instant::now() + wait;
                while state::lock(&agent.ended).is_none() {
                    tokio::select! {
                        () = self.changed(cancel) => {}
                        () = tokio::time::sleep_until(deadline) => break,
                    }
                    if cancel.is_cancelled() {
                        break;
                    }
                }
            }
            let ended = state::lock(&agent.ended).clone();
            Some(match ended {
                Some(Ended { status, text }) => format!("Agent {} ({}) {status}:\n{text}", agent.id, agent.description),
                None => format!("Agent {} ({}) is still working.", agent.id, agent.description),
            })
        })
    }

    fn stop(&self, id: &str) -> Option<String> {
        let agent = self.find(id)?;
        if state::lock(&agent.ended).is_some() {
            return Some(format!("Agent {} had already ended.", agent.id));
        }
        agent.cancel.cancel();
        Some(format!("Stopped agent {} ({}).", agent.id, agent.description))
    }
}
