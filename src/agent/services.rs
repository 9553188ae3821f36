//! What a session is built on and shares, by `Arc`, with every sub-agent it starts: the
//! model provider and its retry policy, the permission rules (live: a mode change reaches a
//! running sub-agent), the hooks (replaced when the settings change), the approvals waiting
//! for the user, the process groups the tools start, the session store, the credentials,
//! the users' commands, skills and agents, and the MCP servers. Built once by `spawn`;
//! nothing here belongs to one conversation (that is `Session`) or one turn
//! (`TurnContext`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::oneshot;

use super::compact::CompactionConfig;
use crate::custom::SharedCatalog;
use crate::hooks::Hooks;
use crate::permissions::PermissionPolicy;
use crate::protocol::{ApprovalDecision, EventSink};
use crate::provider::Provider;
use crate::provider::retry::RetryPolicy;
use crate::secrets::Secrets;
use crate::session::Store;
use crate::tools::bash::shells::ShellRegistry;
use crate::tools::state;

pub struct Services {
    pub provider: Arc<dyn Provider>,
    pub retry: RetryPolicy,
    /// Whether a question can be asked at all (the UI) or is refused (`-p`).
    pub approval_mode: ApprovalMode,
    /// Questions waiting for the user's answer.
    pub approvals: Approvals,
    /// The rules and mode in force.
    pub permissions: Arc<Mutex<PermissionPolicy>>,
    hooks: RwLock<Arc<Hooks>>,
    /// Every process group the tools start; the front end kills them all on its way out.
    pub shells: Arc<ShellRegistry>,
    /// Where this project's sessions are kept; `None` with `--no-session-persistence`.
    pub store: Option<Store>,
    /// Credentials kept out of spilled output, tool results and the tools' commands.
    pub secrets: Secrets,
    /// Variables for every command the tools run (the settings' `env`).
    pub env: Vec<(String, String)>,
    pub compaction: CompactionConfig,
    /// Where users' commands, skills and agents are, and what they are now.
    pub custom: crate::custom::Locations,
    pub catalog: SharedCatalog,
    /// The MCP servers, starting or running.
    pub mcp: Option<crate::mcp::McpManager>,
    /// Reads the settings files again when one changes (`None`: they are not reloaded).
    pub reload_settings: Option<SettingsReloader>,
    /// Where the front end hears what the tools and sub-agents announce.
    pub events: EventSink,
    /// Requests to the program driving the session, waiting for its answer.
    pub host_calls: Arc<crate::protocol::HostCalls>,
    /// `--permission-prompt-tool mcp__server__tool`: the MCP tool that answers permission
    /// questions instead of a person (server, tool).
    pub permission_prompt_tool: Option<(String, String)>,
    /// Reads and writes of files go through the program driving the session (an editor's
    /// buffers, over ACP).
    pub client_files: bool,
    /// Commands run in the program driving the session (an editor's terminal, over ACP).
    pub client_terminal: bool,
    /// Nobody waits at a prompt (`-p`, an SDK, an editor): the first request waits a few
    /// seconds for the MCP servers still starting.
    pub headless: bool,
    pub sandbox: Option<Arc<crate::sandbox::Sandbox>>,
    /// Agents working in the background, and what those that ended reported.
    pub background: Arc<super::background::Background>,
    /// The team's shared task list (a coordinator's).
    pub board: Arc<crate::tools::tasks::Board>,
    /// What every agent of the session (sub-agents and workers too) spent in this process,
    /// in dollars: `--max-budget-usd` covers the whole team.
    spent_usd: Mutex<f64>,
}

/// The parts of [`Services`] a front end's configuration decides; the rest `spawn` builds.
pub struct ServiceParts {
    pub provider: Arc<dyn Provider>,
    pub retry: RetryPolicy,
    pub approval_mode: ApprovalMode,
    pub permissions: PermissionPolicy,
    pub hooks: Arc<Hooks>,
    pub shells: Arc<ShellRegistry>,
    pub store: Option<Store>,
    pub secrets: Secrets,
    pub env: Vec<(String, String)>,
    pub compaction: CompactionConfig,
    pub custom: crate::custom::Locations,
    pub reload_settings: Option<SettingsReloader>,
    pub permission_prompt_tool: Option<(String, String)>,
    pub client_files: bool,
    pub client_terminal: bool,
    pub headless: bool,
    pub sandbox: Option<Arc<crate::sandbox::Sandbox>>,
    /// How many background agents (workers) work at once.
    pub max_workers: usize,
}

impl Services {
    pub fn new(
        parts: ServiceParts,
        catalog: SharedCatalog,
        mcp: Option<crate::mcp::McpManager>,
        events: EventSink,
        host_calls: Arc<crate::protocol::HostCalls>,
    ) -> Services {
        Services {
            provider: parts.provider,
            retry: parts.retry,
            approval_mode: parts.approval_mode,
            approvals: Approvals::default(),
            permissions: Arc::new(Mutex::new(parts.permissions)),
            hooks: RwLock::new(parts.hooks),
            shells: parts.shells,
            store: parts.store,
            secrets: parts.secrets,
            env: parts.env,
            compaction: parts.compaction,
            custom: parts.custom,
            catalog,
            mcp,
            reload_settings: parts.reload_settings,
            permission_prompt_tool: parts.permission_prompt_tool,
            client_files: parts.client_files,
            client_terminal: parts.client_terminal,
            headless: parts.headless,
            sandbox: parts.sandbox,
            background: Arc::new(super::background::Background::new(parts.max_workers)),
            board: Arc::default(),
            spent_usd: Mutex::new(0.0),
            events,
            host_calls,
        }
    }

    /// Counts what a request of any agent of the session cost.
    pub fn spend(&self, usd: f64) {
        *state::lock(&self.spent_usd) += usd;
    }

    /// What the session's agents spent in this process, together.
    pub fn spent(&self) -> f64 {
        *state::lock(&self.spent_usd)
    }

    /// The hooks in force now.
    pub fn hooks(&self) -> Arc<Hooks> {
        Arc::clone(&state::read(&self.hooks))
    }

    /// Puts hooks read again from the settings in force.
    pub fn set_hooks(&self, hooks: Hooks) {
        let mut current = self.hooks.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::new(hooks.keeping_callbacks_of(&current));
    }

    /// Adds a host program's hooks (an Agent SDK's callbacks); the problems found.
    pub fn add_hook_callbacks(
        &self,
        registered: &[crate::hooks::Callbacks],
        host: crate::hooks::HostRef,
    ) -> Vec<String> {
        let mut current = self.hooks.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut hooks = Hooks::clone(&current);
        let problems = hooks.add_callbacks(registered, host);
        *current = Arc::new(hooks);
        problems
    }
}

/// What to do with a call the permission rules leave to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalMode {
    /// Ask through [`crate::protocol::Event::ApprovalRequest`] and wait for [`crate::protocol::Op::ApprovalAnswer`].
    Ask,
    /// Nobody can answer (`-p`): refuse the call and list it in `permission_denials`.
    Refuse,
}

/// What reading the settings again gives: the permission rules, the hooks, and what was
/// wrong in the files.
pub struct ReloadedSettings {
    pub permissions: PermissionPolicy,
    pub hooks: Hooks,
    pub warnings: Vec<String>,
    /// Plugins were turned on or off: the catalog, the watcher and the MCP servers follow.
    pub plugins_changed: bool,
    /// The enabled plugins' MCP servers.
    pub plugin_servers: Vec<crate::mcp::config::ServerConfig>,
}

pub type SettingsReloader = Arc<dyn Fn() -> Result<ReloadedSettings, String> + Send + Sync>;

/// Approval requests waiting for the user, by tool call id.
#[derive(Default)]
pub struct Approvals {
    pending: Mutex<HashMap<String, oneshot::Sender<ApprovalDecision>>>,
}

impl Approvals {
    pub fn request(&self, call_id: &str) -> oneshot::Receiver<ApprovalDecision> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(call_id.to_owned(), tx);
        }
        rx
    }

    /// Drops a request nobody answered (the turn was interrupted).
    pub fn forget(&self, call_id: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(call_id);
        }
    }

    pub fn answer(&self, call_id: &str, decision: ApprovalDecision) {
        let waiting = self.pending.lock().ok().and_then(|mut p| p.remove(call_id));
        if let Some(tx) = waiting {
            let _ = tx.send(decision);
        }
    }
}
