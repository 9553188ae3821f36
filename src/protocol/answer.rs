//! The answers to [`super::Op::Query`]: data, not prose, so each front end shows them its
//! own way (the TUI's wording is in `ui::answer`; an IDE or SDK client gets the fields).

use std::path::PathBuf;

use crate::hooks::HookEvent;
use crate::permissions::{PermissionMode, Purpose};

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The mode and every rule in force, with where each came from.
    Permissions { mode: PermissionMode, rules: Vec<RuleEntry> },
    /// A rule was added for the session; `saved` says whether it reached
    /// `.cairn/settings.local.json` (or why not).
    RuleAdded { list: Purpose, rule: String, saved: Result<(), String> },
    /// A rule was taken out of these lists (none: no such rule was in force).
    RuleRemoved { rule: String, lists: Vec<Purpose> },
    /// The hooks configured.
    Hooks(Vec<HookEntry>),
    /// What fills the context window.
    Context(ContextUsage),
    /// The MCP servers, `None` when none is configured.
    McpServers(Option<Vec<McpServer>>),
    /// A server is being started again.
    McpReconnecting { name: String },
    /// No server has that name.
    McpUnknown { name: String },
    /// The memory files loaded, and the file `# note` writes to.
    Memory { files: Vec<PathBuf>, notes_file: PathBuf },
    /// The output styles (name, description), and the one in use.
    OutputStyles { current: Option<String>, styles: Vec<(String, String)> },
    /// The points the session can be rewound to, oldest first.
    RewindPoints(Vec<RewindPoint>),
    /// The sandbox, in words (or what `/sandbox …` did).
    Sandbox(String),
    /// The background shells and agents, in words.
    Tasks(String),
    /// The plugins, or what `/plugin …` did, in words.
    Plugins(String),
    /// A background agent's transcript so far (`/tasks agent_1`).
    AgentTranscript { title: String, messages: Vec<crate::conversation::history::Message> },
    /// The answer needs the session, which the running turn holds: ask when it has ended.
    Busy,
}

/// A prompt (or an earlier rewind) the session can go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewindPoint {
    pub id: String,
    /// The prompt's first line, or what the rewind went back to.
    pub label: String,
    /// When it was sent.
    pub at: String,
    /// An earlier rewind: going back to it undoes it (files only).
    pub undoes_rewind: bool,
    /// The files changed since: (path, changed by someone else since cairn last left it,
    /// its version then unknown).
    pub files: Vec<(PathBuf, bool, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEntry {
    pub list: Purpose,
    pub rule: String,
    /// The settings file (or flag, or "this session") it came from.
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEntry {
    pub event: HookEvent,
    /// What it matches ("" for everything).
    pub matcher: String,
    pub command: String,
    /// The settings file it came from.
    pub source: String,
}

/// Estimated tokens by what they are, against the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContextUsage {
    pub system: u64,
    pub tools: u64,
    pub memory: u64,
    pub messages: u64,
    pub window: u64,
    /// Where automatic compaction starts, `None` when it is off.
    pub compacts_at: Option<u64>,
}

impl ContextUsage {
    pub fn total(&self) -> u64 {
        self.system + self.tools + self.memory + self.messages
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServer {
    pub name: String,
    /// `project`, `user`, `local`, `flag`…
    pub scope: &'static str,
    pub status: McpStatus,
    /// Tools it offers (once ready).
    pub tools: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum McpStatus {
    Starting,
    Ready,
    Failed(String),
    /// Turned off by the user or the host program (`mcp_toggle`).
    Disabled,
}

impl McpStatus {
    /// Claude Code's word for it in `system/init`.
    pub fn short(&self) -> &'static str {
        match self {
            McpStatus::Starting => "pending",
            McpStatus::Ready => "connected",
            McpStatus::Failed(_) => "failed",
            McpStatus::Disabled => "disabled",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            McpStatus::Starting => "starting".into(),
            McpStatus::Ready => "ready".into(),
            McpStatus::Failed(why) => format!("failed: {why}"),
            McpStatus::Disabled => "disabled".into(),
        }
    }
}
