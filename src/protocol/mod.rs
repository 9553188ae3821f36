//! The whole interface between the core and a front end: [`Op`]s in, [`Event`]s out.
//!
//! The TUI, the headless printers, the demo and the tests all drive the agent through these
//! two types and nothing else (DESIGN.md, principle 1). Events are sent on an unbounded
//! channel, so the core never waits for a slow front end; everything a front end needs to
//! render a turn, write its output format or count its cost arrives here.

mod answer;
pub mod host;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

pub use crate::conversation::AssistantMessage;
use crate::conversation::history::{ContentBlock, Message};
use crate::conversation::{Todo, ToolOutput};
use crate::cost::{ModelUsage, Usage};
use crate::permissions::{PermissionMode, Purpose};
use crate::provider::reasoning::Effort;
use crate::provider::{StopReason, StreamEvent};
pub use answer::{Answer, ContextUsage, HookEntry, McpServer, McpStatus, RewindPoint, RuleEntry};
pub use host::{HostCalls, HostRequest, NOT_HANDLED};

/// What a front end asks of the core.
#[derive(Debug)]
pub enum Op {
    /// A user message; starts a turn, or waits for the running one to end.
    UserTurn(UserInput),
    /// Stop the running turn: the stream, the running tools, the pending approvals.
    Interrupt,
    /// Move the sub-agents and commands running in the foreground to the background
    /// (Ctrl-B): their calls return at once; agents report as notifications, commands
    /// become background shells.
    Background,
    /// The user's answer to an [`Event::ApprovalRequest`].
    ApprovalAnswer { call_id: String, decision: ApprovalDecision },
    /// Takes effect at once, for the running turn's next tool call too.
    SetPermissionMode(PermissionMode),
    /// The model for the next turn (an id or an alias).
    SetModel(String),
    /// The effort level from the next turn on (`/effort`); `None`: the model's default.
    SetEffort(Option<Effort>),
    /// The output style from the next turn on (`/output-style <name>`, `default` for none);
    /// saved as `outputStyle` in `.cairn/settings.local.json`.
    SetOutputStyle(String),
    /// Start a new conversation (after the running turn, if any).
    Clear,
    /// Continue another saved session of this project, by id, path or title (after the
    /// running turn, if any).
    Resume(String),
    /// Give the session a title (`/rename`).
    Rename(String),
    /// Compact the conversation now (`/compact [instructions]`), after the running turn.
    Compact(Option<String>),
    /// Questions about, and changes to, the session's setup (`/permissions`, `/hooks`,
    /// `/context`, `/mcp`, `/memory`); the answer comes back as [`Event::Answer`].
    Query(Query),
    /// Files users keep commands, skills, agents, memory or settings in changed on disk
    /// (sent by the watcher); applied before the next turn.
    Reload(Vec<crate::custom::watch::Changed>),
    /// Append a note to the project's memory file (`# note` in the UI).
    Remember(String),
    /// The host program's hooks (an Agent SDK's callbacks, from its `initialize`); they run
    /// by [`Event::HostRequest`]. Takes effect at once.
    RegisterHooks(Vec<crate::hooks::Callbacks>),
    /// The host's answer to an [`Event::HostRequest`]: the hook's JSON output, or why none.
    HostAnswer { id: String, answer: Result<Value, String> },
    /// Agent types the host program defined (an SDK's `initialize.agents`); takes effect at
    /// once and outlives reloads.
    AddAgents(Vec<crate::custom::AgentDef>),
    /// The thinking budget of models that think to one, from the next turn on (`None`: the
    /// default; `Some(0)`: no thinking).
    SetThinkingBudget(Option<u32>),
    /// Bring files and/or the conversation back to how they were when the prompt `to`
    /// (its id, from [`Query::RewindPoints`]) was sent, after the running turn. Files
    /// changed by someone else since are overwritten only with `overwrite`.
    Rewind { to: String, scope: RewindScope, overwrite: bool },
    /// Continue as a new session (a new id and transcript) with the conversation so far —
    /// or the conversation from before the prompt `at` (an id from
    /// [`Query::RewindPoints`]) — after the running turn; the original stays as it was.
    Fork { at: Option<String> },
    /// The user typed over the suggested prompt (or the draft being worked on): the work
    /// ahead on it stops.
    DropSuggestion,
    /// The user paused on a draft: work ahead on it, when `speculateDrafts` allows; an
    /// empty draft stops the work on the last one.
    SpeculateDraft(String),
    /// End the session once the running turn (if any) has been interrupted.
    Shutdown,
}

/// What a rewind brings back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewindScope {
    CodeAndConversation,
    Conversation,
    Code,
}

impl Op {
    pub fn user_text(text: impl Into<String>) -> Op {
        Op::UserTurn(UserInput { content: vec![ContentBlock::text(text)], ..UserInput::default() })
    }
}

/// What the user sends: the message, and files they attached (`@path` in the TUI), which
/// the core reads with the Read tool — so they count as read for Edit and Write.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    pub content: Vec<ContentBlock>,
    pub attachments: Vec<PathBuf>,
    /// The id the prompt is recorded under (the transcript entry's `uuid`; a checkpoint
    /// turn): one the program driving the session knows it by. `None`: a new one.
    pub id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// The permission rules in force, with where each came from, and the mode.
    Permissions,
    /// Adds a rule to a list for this session and to `.cairn/settings.local.json`.
    AddRule { list: Purpose, rule: String },
    /// Removes a rule from the session and from `.cairn/settings.local.json`.
    RemoveRule { rule: String },
    /// The hooks configured, with where each came from.
    Hooks,
    /// What fills the context window.
    Context,
    /// The memory files loaded; with `open` (a number from the list, `project`, or a
    /// path), that file is opened in the user's editor ([`Event::EditFile`]).
    Memory { open: Option<String> },
    /// The MCP servers and their state; with `reconnect`, that server is started again.
    Mcp { reconnect: Option<String> },
    /// Turns a server off (its tools leave the offer) or on again.
    McpToggle { name: String, enabled: bool },
    /// The output styles there are, and the one in use.
    OutputStyles,
    /// The points the session can be rewound to.
    RewindPoints,
    /// The background shells and agents, with their state; with `open`, that agent's
    /// transcript (by id or name).
    Tasks { open: Option<String> },
    /// The sandbox's state and policy; `on`/`off` turn it on or off for the session,
    /// `allow DOMAIN` lets its proxy admit a domain.
    Sandbox { args: String },
    /// The installed plugins; `install|uninstall|enable|disable <id>` and `marketplace …`
    /// change them (in the user's settings, so they reload live).
    Plugins { args: String },
}

#[derive(Clone, Debug, PartialEq)]
pub enum ApprovalDecision {
    Allow,
    /// Allow the call with this input instead: a question's call with the user's
    /// `answers` added (AskUserQuestion), or an input the user edited.
    AllowWith {
        input: Value,
    },
    /// Allow, and do not ask again in this session for the same command (Bash) or tool.
    AllowForSession,
    Deny {
        reason: Option<String>,
    },
    /// Refuse, and refuse the same command (Bash) or tool for the rest of the session
    /// without asking.
    DenyForSession,
}

/// What the core tells its front ends.
#[derive(Debug, Clone)]
pub enum Event {
    /// A request to the program driving the session, answered with [`Op::HostAnswer`].
    HostRequest {
        id: String,
        request: HostRequest,
    },
    /// Hooks ran for an event (`--include-hook-events` prints them): one outcome per hook.
    HookRan {
        event: crate::hooks::HookEvent,
        target: String,
        outcomes: Vec<crate::hooks::Outcome>,
    },
    /// A sub-agent's own message (its answer, a tool result), from the Task call
    /// `parent_call_id` (stream-json tags it with `parent_tool_use_id`).
    Subagent {
        parent_call_id: String,
        event: Box<Event>,
    },
    SessionStarted(SessionInfo),
    /// Background agents reported while nobody was typing: the session starts a turn of its
    /// own to hand the model their notifications (`count` of them).
    BackgroundReported {
        count: usize,
    },
    /// The prompt the user is likely to send next, for the composer's ghost text
    /// (interactive UI, after a turn); `cost_usd`: what asking for it cost.
    PromptSuggestion {
        text: String,
        cost_usd: f64,
    },
    /// Work done ahead on a suggested prompt ended: `adopted` when the user sent it (its
    /// events came first), else discarded; what it cost and the tokens it used.
    SpeculationEnded {
        prompt: String,
        adopted: bool,
        cost_usd: f64,
        tokens: u64,
    },
    /// The model, the permission mode, the title or the conversation changed (`/model`,
    /// Shift+Tab, `/rename`, `/clear`, `/resume`).
    SessionChanged(SessionInfo),
    /// The session continues one read from disk: its whole history so far, for a front end
    /// to show.
    HistoryRestored {
        messages: Vec<Message>,
        /// What the session has cost so far.
        total_cost_usd: f64,
    },
    /// Partial output as it streams: text and thinking deltas, tool input as the model writes
    /// it, block and message boundaries. A [`Event::Retrying`] discards what streamed so far.
    Stream(StreamEvent),
    /// A complete model response, sent once it has fully arrived (never for a response that
    /// was cut and retried).
    AssistantMessage(AssistantMessage),
    /// The user asked to edit this file (`/memory`): a front end with a terminal opens it
    /// in `$VISUAL` / `$EDITOR`.
    EditFile {
        path: PathBuf,
    },
    /// A sub-agent (a Task call) started, made progress, or ended.
    Task(TaskUpdate),
    ToolCallStarted {
        call_id: String,
        name: String,
        input: Value,
    },
    /// Sent in call order, whatever order parallel tools finished in.
    ToolCallFinished {
        call_id: String,
        name: String,
        output: ToolOutput,
    },
    /// The gate needs the user: answer with [`Op::ApprovalAnswer`]. `preview` shows what
    /// the call would do (a diff, for edits).
    ApprovalRequest {
        call_id: String,
        tool: String,
        input: Value,
        preview: Option<String>,
        /// The worker (sub-agent) that asks; `None`: the main agent.
        from: Option<String>,
    },
    /// A request failed and will be tried again after `delay`.
    Retrying {
        attempt: u32,
        max_attempts: u32,
        delay: Duration,
        error: String,
        status: Option<u16>,
    },
    /// The todo list changed (TodoWrite); the whole new list.
    TodosChanged {
        todos: Vec<Todo>,
    },
    /// Token usage of one response, and the session's totals after it.
    Usage {
        usage: Usage,
        total: Usage,
        total_cost_usd: f64,
    },
    TurnComplete(TurnOutcome),
    TurnAborted(TurnOutcome),
    /// A problem the user should see, during a turn or outside one; the session goes on.
    Error {
        message: String,
    },
    /// The conversation was compacted.
    Compacted {
        trigger: CompactTrigger,
        pre_tokens: u64,
        post_tokens: u64,
    },
    /// The answer to an [`Op::Query`].
    Answer(Answer),
    /// The turn that just ended changed these files (`/rewind` undoes it).
    FilesChanged {
        files: Vec<PathBuf>,
    },
    /// A rewind was carried out: the prompt it went back to (for the input box, when the
    /// conversation was rewound), and what it did to the files.
    Rewound {
        to: String,
        prompt: Option<String>,
        files: String,
        /// Files left as they are because someone else changed them (no `overwrite`).
        conflicts: Vec<PathBuf>,
    },
    /// Something the user should know that is not a problem of the session: what a hook
    /// said (`systemMessage`, a hook that failed without blocking, why it stopped a turn).
    Notice {
        message: String,
    },
}

/// Why a compaction happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompactTrigger {
    Auto,
    Manual,
}

impl CompactTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            CompactTrigger::Auto => "auto",
            CompactTrigger::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    pub session_id: String,
    pub model: String,
    /// The effort level requests carry (`None`: the model has none).
    pub effort: Option<Effort>,
    /// The output style in use (`None`: cairn's own).
    pub output_style: Option<String>,
    pub cwd: PathBuf,
    pub tools: Vec<String>,
    pub permission_mode: PermissionMode,
    /// The name given with `/rename`.
    pub title: Option<String>,
    /// Users' commands and skills the user can invoke with `/name`.
    pub commands: Vec<CommandInfo>,
    /// The agent types the Task tool can start.
    pub agents: Vec<String>,
    /// MCP servers and their state (`pending`, `connected`, `failed`).
    pub mcp_servers: Vec<(String, &'static str)>,
    /// The enabled plugins: name and folder.
    pub plugins: Vec<(String, PathBuf)>,
}

/// Where a sub-agent is: a front end shows it beside the Task call that started it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUpdate {
    /// The Task call's id.
    pub call_id: String,
    pub agent_id: String,
    pub agent_type: String,
    pub description: String,
    /// A background agent's name (or id), for a panel of workers; `None` for a Task call
    /// that runs in the foreground.
    pub name: Option<String>,
    pub state: TaskState,
    /// The tool it is running now.
    pub current_tool: Option<String>,
    pub tool_uses: u32,
    /// Input and output tokens so far.
    pub tokens: u64,
    /// What the agent has cost so far, in dollars.
    pub cost_usd: f64,
    pub elapsed: Duration,
    /// How it ended, in a line (for `Completed`/`Failed`/`Stopped`).
    pub summary: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Started,
    Running,
    Completed,
    Failed,
    Stopped,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Started => "started",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Stopped => "stopped",
        }
    }
}

/// A user's command or skill, as a front end lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandInfo {
    pub name: String,
    pub description: String,
    pub argument_hint: Option<String>,
    /// `project`, `user` or `cairn`.
    pub source: &'static str,
    pub skill: bool,
}

impl CommandInfo {
    pub fn list(catalog: &crate::custom::Catalog) -> Vec<CommandInfo> {
        catalog
            .prompts
            .iter()
            .filter(|p| p.user_invocable)
            .map(|p| CommandInfo {
                name: p.name.clone(),
                description: p.description.clone(),
                argument_hint: p.argument_hint.clone(),
                source: p.source.label(),
                skill: p.kind == crate::custom::Kind::Skill,
            })
            .collect()
    }
}

/// How a turn ended, and the session's accounts at that point.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    pub status: TurnStatus,
    /// The final answer's text (a cut answer and its continuation joined).
    pub result: String,
    pub stop_reason: Option<StopReason>,
    /// Model requests made in this turn.
    pub num_turns: u32,
    pub duration: Duration,
    pub api_duration: Duration,
    pub usage: Usage,
    pub total_cost_usd: f64,
    pub model_usage: Vec<(String, ModelUsage)>,
    pub permission_denials: Vec<PermissionDenial>,
    /// `--json-schema`: the structured answer.
    pub structured_output: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TurnStatus {
    Success,
    MaxTurns {
        limit: u32,
    },
    Failed(TurnError),
    Interrupted,
    /// `--max-budget-usd` was reached.
    MaxBudget {
        limit: f64,
    },
    /// A hook ended the turn (`continue: false`) or refused the prompt; the reason is for
    /// the user.
    HookStopped {
        reason: String,
    },
    /// `--json-schema`: the model ended without giving its structured answer, reminders
    /// notwithstanding.
    StructuredOutputMissing,
}

/// A turn that could not finish, typed so a front end can say what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnError {
    pub kind: TurnErrorKind,
    pub status: Option<u16>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnErrorKind {
    /// The prompt no longer fits the model's context window.
    ContextTooLong,
    /// 401: the key is missing, wrong or expired.
    Authentication,
    /// 403.
    PermissionDenied,
    /// Any other request the API refused (400, 404, …).
    InvalidRequest,
    /// Retries ran out on 429/529/5xx, broken or stalled streams, or connection errors.
    RetriesExhausted,
    /// A user's command or skill could not run (a snippet not allowed, a file gone).
    Command,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PermissionDenial {
    pub tool_name: String,
    pub tool_use_id: String,
    pub tool_input: Value,
}

/// The core's side of the event channel.
#[derive(Clone, Debug)]
pub struct EventSink(mpsc::UnboundedSender<Event>);

impl EventSink {
    pub fn new() -> (EventSink, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (EventSink(tx), rx)
    }

    /// Sends an event; a front end that has gone away is not an error for the core.
    pub fn emit(&self, event: Event) {
        let _ = self.0.send(event);
    }
}

/// The core's event channel hears what a model request does: the stream as it arrives,
/// and each retry.
impl crate::provider::retry::Observer for EventSink {
    fn streamed(&self, event: StreamEvent) {
        self.emit(Event::Stream(event));
    }

    fn retrying(&self, retry: crate::provider::retry::Retry) {
        let crate::provider::retry::Retry { attempt, max_attempts, delay, error, status } = retry;
        self.emit(Event::Retrying { attempt, max_attempts, delay, error, status });
    }
}
