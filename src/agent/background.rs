//! Background agents: a Task call with `run_in_background` returns at once with the agent's
//! id while the agent works on; when it ends, a `<task-notification>` with its result waits
//! for the main conversation — added to the next message, or, in a headless session that
//! would otherwise end, waited for and sent as a message of its own. `TaskOutput` and
//! `TaskStop` (BashOutput and KillShell by their newer names) reach agents by id as they
//! reach shells; cairn's exit stops them all. At most `limit` agents work at once (a
//! coordinator's workers); the others wait for a slot. `SendMessage` puts a message in a
//! working agent's inbox (read before its next request) or starts a finished one again
//! from where it stopped (its session is parked when it ends).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::tools::state::AgentTasks;
use crate::tools::{ToolOutput, state};

/// Messages for an agent, read before its next request.
pub type Inbox = Arc<Mutex<Vec<String>>>;

/// How many agents work at once unless the settings say otherwise.
pub const DEFAULT_LIMIT: usize = 4;

/// One agent working in the background.
pub struct Agent {
    pub id: String,
    /// The name the coordinator gave it (SendMessage finds it by this or by id).
    pub name: Option<String>,
    pub description: String,
    cancel: Mutex<CancellationToken>,
    ended: Mutex<Option<Ended>>,
    pub inbox: Inbox,
    /// Its session once a run ended, to start again with a message.
    pub(super) parked: Mutex<Option<super::subagent::Parked>>,
    /// Where its transcript (a sidechain) is written, once it started.
    pub(super) transcript: Mutex<Option<std::path::PathBuf>>,
}

impl Agent {
    /// Who it is, for labels: its name, or its id.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// Its id, with its name when it has one (`agent_1 (scout)`).
    pub fn who(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({name})", self.id),
            None => self.id.clone(),
        }
    }

    /// The cancellation of its current run.
    pub fn cancel(&self) -> CancellationToken {
        state::lock(&self.cancel).clone()
    }

    /// Whether it is still working (or waiting for a slot).
    pub fn working(&self) -> bool {
        state::lock(&self.ended).is_none()
    }

    /// It starts again (a message for a finished agent): a fresh cancellation, working.
    pub(super) fn reopen(&self) -> CancellationToken {
        let token = CancellationToken::new();
        *state::lock(&self.cancel) = token.clone();
        *state::lock(&self.ended) = None;
        token
    }
}

#[derive(Clone, Debug)]
struct Ended {
    status: &'static str,
    text: String,
}

/// The session's background agents and the notifications of those that ended.
pub struct Background {
    agents: Mutex<Vec<Arc<Agent>>>,
    notifications: Mutex<Vec<String>>,
    changed: tokio::sync::Notify,
    /// A slot for each agent that may work at once.
    pub slots: Arc<Semaphore>,
    /// Ctrl-B: the agents running in the foreground move here.
    pub detach: tokio::sync::Notify,
}

impl Default for Background {
    fn default() -> Background {
        Background::new(DEFAULT_LIMIT)
    }
}

impl Background {
    /// At most `limit` agents work at once.
    pub fn new(limit: usize) -> Background {
        Background {
            agents: Mutex::default(),
            notifications: Mutex::default(),
            changed: tokio::sync::Notify::new(),
            slots: Arc::new(Semaphore::new(limit.max(1))),
            detach: tokio::sync::Notify::new(),
        }
    }

    /// Registers an agent about to start; an error if `name` is taken or looks like an id.
    pub fn start(&self, description: &str, name: Option<&str>) -> Result<Arc<Agent>, String> {
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if let Some(name) = name.filter(|n| n.strip_prefix("agent_").is_some_and(|n| n.parse::<u32>().is_ok())) {
            return Err(format!("\"{name}\" is the form of agents' ids; choose another name."));
        }
        if let Some(name) = name.filter(|n| self.find(n).is_some()) {
            return Err(format!("There is already an agent named \"{name}\"; choose another name."));
        }
        Ok(self.register(description, name, CancellationToken::new()))
    }

    /// Registers an agent already running in the foreground, stopped by `cancel` (Ctrl-B).
    pub fn adopt(&self, description: &str, cancel: CancellationToken) -> Arc<Agent> {
        self.register(description, None, cancel)
    }

    fn register(&self, description: &str, name: Option<&str>, cancel: CancellationToken) -> Arc<Agent> {
        let mut agents = state::lock(&self.agents);
        let agent = Arc::new(Agent {
            id: format!("agent_{}", agents.len() + 1),
            name: name.map(str::to_owned),
            description: description.to_owned(),
            cancel: Mutex::new(cancel),
            ended: Mutex::new(None),
            inbox: Inbox::default(),
            parked: Mutex::new(None),
            transcript: Mutex::new(None),
        });
        agents.push(Arc::clone(&agent));
        agent
    }

    /// Adds a notification for the main conversation (a worker changed a task).
    pub fn notify(&self, text: String) {
        state::lock(&self.notifications).push(text);
        self.changed.notify_waiters();
    }

    /// The agent's run is over: its result becomes a notification.
    pub fn finish(&self, agent: &Agent, output: &ToolOutput) {
        let status = match (agent.cancel().is_cancelled(), output.is_error) {
            (true, _) => "stopped",
            (false, true) => "failed",
            (false, false) => "completed",
        };
        // Stopped: not by the user, as the interrupted call inside it would say.
        let stopped = [crate::conversation::history::ToolResultContent::Text {
            text: "It was stopped before it finished (TaskStop, or cairn was stopped).".into(),
        }];
        let content = if status == "stopped" { &stopped[..] } else { &output.content[..] };
        let text = content
            .iter()
            .filter_map(|c| match c {
                crate::conversation::history::ToolResultContent::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        *state::lock(&agent.ended) = Some(Ended { status, text: text.clone() });
        state::lock(&self.notifications).push(format!(
            "<task-notification>\n<task-id>{}</task-id>\n<status>{status}</status>\n<summary>Agent \"{}\" {status}</summary>\n\
             <result>{text}</result>\n</task-notification>",
            agent.id,
            agent.name.as_deref().unwrap_or(&agent.description)
        ));
        self.changed.notify_waiters();
    }

    /// The notifications not yet given to the main conversation.
    pub fn take_notifications(&self) -> Vec<String> {
        std::mem::take(&mut *state::lock(&self.notifications))
    }

    /// Waits until there are notifications for the main conversation.
    pub async fn reported(&self) {
        let never = CancellationToken::new();
        while state::lock(&self.notifications).is_empty() {
            self.changed(&never).await;
        }
    }

    /// How many notifications wait for the main conversation.
    pub fn waiting(&self) -> usize {
        state::lock(&self.notifications).len()
    }

    /// How many agents are still working.
    pub fn running(&self) -> usize {
        state::lock(&self.agents).iter().filter(|a| a.working()).count()
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
                let name = a.name.as_deref().map(|n| format!(" \"{n}\"")).unwrap_or_default();
                format!("- {}{name} ({status}): {}", a.id, a.description)
            })
            .collect();
        format!("Background agents:\n{}", lines.join("\n"))
    }

    /// The agent with this id or name.
    pub fn find(&self, id: &str) -> Option<Arc<Agent>> {
        let agents = state::lock(&self.agents);
        agents.iter().find(|a| a.id == id).or_else(|| agents.iter().find(|a| a.name.as_deref() == Some(id))).cloned()
    }

    /// An agent's transcript so far, read from its sidechain (`/tasks agent_1`).
    pub fn transcript(&self, id: &str) -> crate::protocol::Answer {
        use crate::protocol::Answer;
        let Some(agent) = self.find(id) else {
            return Answer::Tasks(format!("No background agent is called {id}. {}", self.list()));
        };
        let path = state::lock(&agent.transcript).clone();
        let loaded = path.as_deref().map(crate::session::reader::load);
        match loaded {
            Some(Ok(loaded)) => Answer::AgentTranscript {
                title: format!(
                    "── {} ({}): its transcript, {} ──",
                    agent.label(),
                    agent.description,
                    loaded.path.display()
                ),
                messages: loaded.history,
            },
            Some(Err(e)) => Answer::Tasks(format!("The transcript of {} could not be read: {e}", agent.label())),
            None => Answer::Tasks(format!("{} has no transcript yet (or the session is not saved).", agent.label())),
        }
    }

    /// Stops every agent still working (cairn is on its way out, or `/clear`).
    pub fn stop_all(&self) {
        for agent in state::lock(&self.agents).iter() {
            agent.cancel().cancel();
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
        agent.cancel().cancel();
        Some(format!("Stopped agent {} ({}).", agent.id, agent.description))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_never_look_like_an_id() {
        let background = Background::new(2);
        let first = background.start("one", Some("scout")).unwrap();
        assert_eq!(first.id, "agent_1");
        assert!(background.start("two", Some("scout")).is_err());
        assert!(background.start("two", Some("agent_1")).is_err());
        assert!(background.start("two", Some("agent_7")).is_err(), "a later agent's id");
        let second = background.start("two", Some("  ")).unwrap();
        assert_eq!(second.label(), "agent_2");
        assert_eq!(background.find("agent_2").unwrap().id, "agent_2");
        assert_eq!(background.find("scout").unwrap().id, "agent_1");
    }
}
