//! The agent core: one task that owns a session and runs its turns.
//!
//! [`spawn`] starts it and hands back the two ends a front end needs: a sender of [`Op`]s
//! and a receiver of [`Event`]s. A session is its [`Services`] (built once, shared by `Arc`
//! with every sub-agent), the [`TurnContext`] its turns run in, and its own state (the
//! `Session` here: history, costs, transcript, title, memory sent). `driver` takes the ops
//! one at a time and keeps listening while a turn runs; `turn` runs the loop (request →
//! stream → `gate` → tools → repeat); `context` measures the window and `compact` keeps
//! the conversation within it; `prompt` writes the system prompt; `services` and
//! `turn_context` are the two halves a sub-agent shares or derives; `invoke` expands users'
//! commands and skills; `live` applies changed files; `queries`
//! answers questions about the setup; `subagent` is the Task tool. Nothing here prints.
//!
//! Everything the history gains is also recorded into the session's [`Transcript`] as it
//! happens, and a turn is reported done only once its entries are in the file, so a crash
//! at any point loses at most the step that was running. A session read back from disk
//! (`--resume`, `/resume`) replaces the history, todo list and cost.

pub mod background;
mod compact;
pub mod context;
mod driver;
mod early;
mod gate;
mod host;
mod invoke;
mod live;
pub mod prompt;
mod queries;
mod rewind;
mod services;
pub mod speculate;
mod structured;
mod subagent;
mod suggest;
mod team;
mod turn;
mod turn_context;
pub mod worktree;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::conversation::history::Message;
use crate::cost::CostTracker;
use crate::custom::SharedCatalog;
use crate::hooks::{HookEvent, Hooks, Invocation, Summary};
use crate::memory::MemoryPaths;
use crate::permissions::PermissionMode;
use crate::permissions::PermissionPolicy;
use crate::protocol::{Event, EventSink, Op, SessionInfo, TurnStatus};
use crate::provider::Provider;
use crate::provider::models::{self, ModelInfo};
use crate::provider::retry::RetryPolicy;
use crate::secrets::Secrets;
use crate::session;
use crate::session::{Loaded, Record, Store, Transcript, TurnSummary};
use crate::tools::bash::shells::ShellRegistry;
use crate::tools::todo::Todo;
use crate::tools::{SessionState, ToolRegistry, state};
use compact::CompactionConfig;
use context::Meter;
pub use services::{ApprovalMode, Approvals, ReloadedSettings, ServiceParts, Services, SettingsReloader};
pub use structured::INSTRUCTION as STRUCTURED_OUTPUT_INSTRUCTION;
pub use turn_context::TurnContext;

/// What a front end starts the core with. [`AgentConfig::new`] fills in the defaults; a
/// front end sets what its flags and settings decide.
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
    /// Where this project's sessions are kept; `None` with `--no-session-persistence`.
    pub store: Option<Store>,
    /// What this session is recorded into (`None`: not recorded).
    pub transcript: Option<Transcript>,
    /// A session read back from disk to continue from.
    pub resumed: Option<Loaded>,
    /// Credentials kept out of spilled output and out of the tools' commands.
    pub secrets: Secrets,
    /// The user's hooks.
    pub hooks: Arc<Hooks>,
    /// Variables for every command the tools run (the settings' `env`).
    pub env: Vec<(String, String)>,
    /// When to compact the conversation.
    pub compaction: CompactionConfig,
    /// Where the memory files are (read at the first prompt and again at compaction).
    pub memory: MemoryPaths,
    /// `--max-budget-usd`: the turn stops once the session has cost this much.
    pub max_budget_usd: Option<f64>,
    /// Where users' commands, skills and agents are.
    pub custom: crate::custom::Locations,
    /// Reads the settings files again when one changes (`None`: they are not reloaded).
    pub reload_settings: Option<SettingsReloader>,
    /// MCP servers to start.
    pub mcp_servers: Vec<crate::mcp::config::ServerConfig>,
    /// Thinking and effort (`--effort`, `effortLevel`, `alwaysThinkingEnabled`,
    /// `MAX_THINKING_TOKENS`).
    pub reasoning: crate::provider::reasoning::Preferences,
    /// `CLAUDE_CODE_MAX_OUTPUT_TOKENS`.
    pub max_output: Option<u32>,
    /// How `system_prompt` was made, so an output style can make it again (`None`: it was
    /// given whole).
    pub prompt_spec: Option<prompt::PromptSpec>,
    /// `--fallback-model`, `fallbackModel`: the model to continue on when the main one stays
    /// overloaded.
    pub fallback_model: Option<String>,
    /// `--json-schema`: the final answer is structured data matching this schema.
    pub output_schema: Option<serde_json::Value>,
    /// `--permission-prompt-tool mcp__server__tool`: (server, tool).
    pub permission_prompt_tool: Option<(String, String)>,
    /// Read, Write and Edit go through the front end's host (an editor's buffers, over
    /// ACP) instead of the disk.
    pub client_files: bool,
    /// Bash runs its commands in the front end's host (an editor's terminal, over ACP).
    pub client_terminal: bool,
    /// Nobody waits at a prompt (`-p`, an SDK, an editor): the first request waits a few
    /// seconds for the MCP servers still starting.
    pub headless: bool,
    /// The sandbox around the commands (`None`: commands run as the gate allows them).
    pub sandbox: Option<Arc<crate::sandbox::Sandbox>>,
    /// Coordinator mode: the main agent only starts, messages and stops workers.
    pub coordinator: bool,
    /// How many background agents (workers) work at once.
    pub max_workers: usize,
    /// Prompt suggestions and speculation (the interactive UI; off by default).
    pub ahead: speculate::Ahead,
}

impl AgentConfig {
    /// A session in `cwd` with the built-in tools, the default system prompt, no rules,
    /// no hooks, questions asked, nothing saved, and a folder of its own under the
    /// system's temporary folder.
    pub fn new(provider: Arc<dyn Provider>, model: ModelInfo, cwd: PathBuf) -> AgentConfig {
        let session_id = uuid::Uuid::new_v4().to_string();
        AgentConfig {
            provider,
            model,
            system_prompt: prompt::system_prompt(&cwd),
            tools: ToolRegistry::builtin(),
            permissions: PermissionPolicy::default(),
            approvals: ApprovalMode::Ask,
            retry: RetryPolicy::default(),
            max_turns: None,
            add_dirs: Vec::new(),
            session_dir: std::env::temp_dir().join(format!("cairn-{session_id}")),
            session_id,
            cwd,
            shells: ShellRegistry::new(),
            store: None,
            transcript: None,
            resumed: None,
            secrets: Secrets::default(),
            hooks: Arc::default(),
            env: Vec::new(),
            compaction: CompactionConfig::default(),
            memory: MemoryPaths::default(),
            max_budget_usd: None,
            custom: crate::custom::Locations::default(),
            reload_settings: None,
            mcp_servers: Vec::new(),
            reasoning: crate::provider::reasoning::Preferences::default(),
            max_output: None,
            prompt_spec: Some(prompt::PromptSpec::default()),
            fallback_model: None,
            output_schema: None,
            permission_prompt_tool: None,
            client_files: false,
            client_terminal: false,
            headless: false,
            sandbox: None,
            coordinator: false,
            max_workers: background::DEFAULT_LIMIT,
            ahead: speculate::Ahead::default(),
        }
    }
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
    let AgentConfig { mut tools, permissions, mcp_servers, resumed, transcript, session_id, .. } = config;
    let catalog: SharedCatalog = Arc::new(std::sync::RwLock::new(config.custom.load()));
    if !permissions.removes_tool("Skill") {
        tools.register(crate::tools::skill::Skill { catalog: Arc::clone(&catalog) });
    }
    if let Some(schema) = &config.output_schema {
        structured::register(&mut tools, schema);
    }
    let host_calls = Arc::new(crate::protocol::HostCalls::default());
    // A session that reloads its settings keeps a manager for the servers of plugins
    // enabled later.
    let mcp = (!mcp_servers.is_empty() || config.custom.watch).then(|| {
        let (log_dir, shells) = (config.session_dir.clone(), Arc::clone(&config.shells));
        crate::mcp::McpManager::start(mcp_servers, log_dir, sink.clone(), shells, Arc::clone(&host_calls))
    });
    let with_task = !permissions.removes_tool("Task");
    let parts = ServiceParts {
        provider: config.provider,
        retry: config.retry,
        approval_mode: config.approvals,
        permissions,
        hooks: config.hooks,
        shells: config.shells,
        store: config.store,
        secrets: config.secrets,
        env: config.env,
        compaction: config.compaction,
        custom: config.custom,
        reload_settings: config.reload_settings,
        permission_prompt_tool: config.permission_prompt_tool,
        client_files: config.client_files,
        client_terminal: config.client_terminal,
        headless: config.headless,
        sandbox: config.sandbox,
        max_workers: config.max_workers,
    };
    let services = Arc::new(Services::new(parts, catalog, mcp, sink.clone(), host_calls));
    if let (Some(sandbox), ApprovalMode::Ask) = (&services.sandbox, services.approval_mode) {
        let (weak, runtime) = (Arc::downgrade(&services), tokio::runtime::Handle::current());
        sandbox.set_asker(Box::new(move |host| gate::network_question(&weak, &runtime, host)));
    }
    let context = TurnContext {
        model: config.model,
        system_prompt: config.system_prompt,
        tools,
        max_turns: config.max_turns,
        max_budget_usd: config.max_budget_usd,
        cwd: config.cwd,
        add_dirs: config.add_dirs,
        session_dir: config.session_dir,
        memory: config.memory,
        mcp_tools: true,
        reasoning: config.reasoning,
        max_output: config.max_output,
        prompt_spec: config.prompt_spec,
        fallback_model: config.fallback_model,
        output_schema: config.output_schema,
    };
    let mut session = Session::new(services, context, session_id, transcript);
    session.ahead = config.ahead;
    session.keep_checkpoints_in(&session.context.session_dir.clone());
    if with_task || config.coordinator {
        let launcher = Arc::new(subagent::Launcher::new(&session, config.coordinator));
        session.context.tools.register(subagent::Task { launcher: Arc::clone(&launcher) });
        team::add_messages(&mut session.context.tools, &launcher);
        if config.coordinator {
            team::make_coordinator(&mut session.context.tools, &launcher);
            session.context.mcp_tools = false;
        }
        session.tools.set_agents(Arc::clone(&session.services.background) as Arc<dyn crate::tools::state::AgentTasks>);
        session.launcher = Some(launcher);
    }
    session.context.tools.prepare_validators();
    session._watcher = live::watch(&session, &ops_tx, &sink);
    session.ops = Some(ops_tx.downgrade());
    let task = tokio::spawn(driver::run(session, resumed, ops_rx, sink));
    AgentHandle { ops: ops_tx, events, task }
}

/// One conversation: its history, costs, transcript, title and what it has told the
/// model, with the [`Services`] it shares and the [`TurnContext`] its turns run in.
struct Session {
    services: Arc<Services>,
    context: TurnContext,
    session_id: String,
    /// What the tools share: working directory, files seen, todos, shells.
    tools: Arc<SessionState>,
    history: Vec<Message>,
    costs: CostTracker,
    transcript: Option<Transcript>,
    /// User turns so far, in this session (resumed ones included).
    turns: u32,
    title: Option<String>,
    last_prompt: String,
    /// Context for the model from SessionStart hooks, sent with the next prompt.
    pending_context: Vec<String>,
    /// How full the context window is.
    meter: Meter,
    /// The last compaction freed too little: the next request does not compact again.
    freed_too_little: bool,
    /// The session's first request, kept through every compaction.
    first_prompt: Option<String>,
    /// What the running turn's command or skills granted, undone when it ends.
    grants: invoke::Grants,
    /// The skill listing the model was last told.
    listing_sent: Option<String>,
    /// What the Task tool starts sub-agents with (`None` in a sub-agent).
    launcher: Option<Arc<subagent::Launcher>>,
    /// Memory files sent, changed, and read from sub-folders.
    memory: live::MemoryState,
    /// Watches users' files for changes (kept for as long as the session runs).
    _watcher: Option<crate::custom::watch::Watcher>,
    /// The core's own channel, for a watcher started again.
    ops: Option<mpsc::WeakUnboundedSender<Op>>,
    /// The MCP tools on offer are those of this generation of the servers' state.
    mcp_generation: Option<u64>,
    /// The prompts sent in this process, for `/rewind`.
    prompt_marks: Vec<rewind::PromptMark>,
    /// A sub-agent's prompts are part of its parent's turn, not turns of their own.
    subagent: bool,
    /// A worker's name, for its questions.
    label: Option<String>,
    /// Messages for a worker, read before each request.
    inbox: Option<background::Inbox>,
    /// What the interactive UI works ahead with (suggestions, speculation).
    ahead: speculate::Ahead,
    /// A speculation's records, held until it is adopted (`Some`: this is one).
    held: Option<std::sync::Mutex<Vec<Record>>>,
}

impl Session {
    /// A session with an empty history; what its tools announce goes to the services'
    /// event sink.
    fn new(
        services: Arc<Services>,
        context: TurnContext,
        session_id: String,
        transcript: Option<Transcript>,
    ) -> Session {
        let (events, env) = (services.events.clone(), services.env.clone());
        Session::with_events(services, context, session_id, transcript, events, env)
    }

    /// A session whose tools announce what they do to `events` (a speculation's, held) and
    /// give their commands `env`.
    fn with_events(
        services: Arc<Services>,
        context: TurnContext,
        session_id: String,
        transcript: Option<Transcript>,
        events: EventSink,
        env: Vec<(String, String)>,
    ) -> Session {
        let tools = Arc::new(
            SessionState::new(
                &context.cwd,
                &context.add_dirs,
                context.session_dir.join("tool-results"),
                Arc::clone(&services.shells),
                events,
                services.secrets.clone(),
            )
            .with_env(env),
        );
        tools.set_policy(Arc::clone(&services.permissions));
        if let Some(dir) = &context.memory.auto {
            tools.set_memory_dir(dir.clone());
        }
        if let Some(sandbox) = &services.sandbox {
            tools.set_sandbox(Arc::clone(sandbox));
        }
        if services.client_files {
            tools.route_files(Arc::clone(&services.host_calls));
        }
        if services.client_terminal {
            tools.route_commands(Arc::clone(&services.host_calls));
        }
        Session {
            services,
            context,
            session_id,
            tools,
            history: Vec::new(),
            costs: CostTracker::default(),
            transcript,
            turns: 0,
            title: None,
            last_prompt: String::new(),
            pending_context: Vec::new(),
            meter: Meter::default(),
            freed_too_little: false,
            first_prompt: None,
            grants: invoke::Grants::default(),
            listing_sent: None,
            launcher: None,
            memory: live::MemoryState::default(),
            _watcher: None,
            ops: None,
            mcp_generation: None,
            prompt_marks: Vec::new(),
            subagent: false,
            label: None,
            inbox: None,
            ahead: speculate::Ahead::default(),
            held: None,
        }
    }

    /// The MCP servers whose tools this session offers.
    fn mcp(&self) -> Option<&crate::mcp::McpManager> {
        self.services.mcp.as_ref().filter(|_| self.context.mcp_tools)
    }

    /// Offers the MCP tools of the servers that are ready now (before each request). When
    /// their schemas would take more than a tenth of the context window, each is offered
    /// by name and one line, with ToolSearch to load a schema when the model needs it.
    fn sync_mcp_tools(&mut self) {
        use crate::tools::{Approval, DynamicHandler, DynamicSpec, ToolKind};
        let Some(manager) = self.mcp().cloned() else { return };
        let generation = manager.generation();
        if self.mcp_generation == Some(generation) {
            return;
        }
        self.mcp_generation = Some(generation);
        self.context.tools.retain(|name| !name.starts_with("mcp__") && name != crate::mcp::SEARCH_TOOL);
        let permissions = state::lock(&self.services.permissions).clone();
        let tools: Vec<crate::mcp::McpTool> =
            manager.tools().into_iter().filter(|t| !permissions.removes_tool(&t.full_name)).collect();
        let bytes: usize =
            tools.iter().map(|t| t.full_name.len() + t.description.len() + t.schema.to_string().len()).sum();
        let deferred = context::estimate_bytes(bytes) * 10 > self.window();
        for tool in &tools {
            let (manager, server, name) = (manager.clone(), tool.server.clone(), tool.name.clone());
            let handler: DynamicHandler = Arc::new(move |input, ctx| {
                let (manager, server, name) = (manager.clone(), server.clone(), name.clone());
                Box::pin(async move { manager.call(&server, &name, input, ctx).await })
            });
            let (description, offered_schema) = if deferred {
                (crate::mcp::deferred_description(tool), Some(serde_json::json!({"type": "object"})))
            } else {
                (tool.description.chars().take(2048).collect(), None)
            };
            let spec = DynamicSpec {
                name: tool.full_name.clone(),
                description,
                schema: tool.schema.clone(),
                offered_schema,
                kind: if tool.read_only { ToolKind::ReadOnly } else { ToolKind::Mutating },
                approval: Approval::Needed,
            };
            self.context.tools.register_dynamic(spec, handler);
        }
        if deferred {
            let handler: DynamicHandler = Arc::new(move |input, _ctx| {
                let manager = manager.clone();
                Box::pin(async move { manager.search(&input) })
            });
            let spec = DynamicSpec {
                name: crate::mcp::SEARCH_TOOL.into(),
                description: crate::mcp::SEARCH_DESCRIPTION.into(),
                schema: crate::mcp::search_schema(),
                offered_schema: None,
                kind: ToolKind::ReadOnly,
                approval: Approval::NotNeeded,
            };
            self.context.tools.register_dynamic(spec, handler);
        }
    }

    /// Counts a request's cost, in the session's costs and the team's.
    fn record_cost(&mut self, usage: &crate::cost::Usage) {
        let usd = self.costs.record(&self.context.model, usage);
        self.services.spend(usd);
    }

    /// Whether the session, or the team it belongs to, has spent `limit` dollars.
    fn over_budget(&self, limit: f64) -> bool {
        self.services.spent() >= limit || (!self.subagent && self.costs.total_cost_usd >= limit)
    }

    /// Adds what sub-agents spent to the session's costs.
    fn collect_subagent_costs(&mut self) {
        let Some(launcher) = &self.launcher else { return };
        let spent = std::mem::take(&mut *state::lock(&launcher.spent));
        for (model, usage) in spent {
            self.costs.record(&model, &usage);
        }
    }
}

/// How long SessionEnd hooks may take in all: the session is closing.
const SESSION_END_BUDGET: Duration = Duration::from_millis(1500);

impl Session {
    /// The fields every hook's input starts with, then the event's own.
    fn hook_input(&self, event: HookEvent, fields: Value) -> Value {
        let mut input = json!({
            "session_id": self.session_id,
            "transcript_path": self.transcript.as_ref().map(|t| t.path().display().to_string()).unwrap_or_default(),
            "cwd": self.tools.cwd(),
            "permission_mode": state::lock(&self.services.permissions).mode.as_str(),
            "hook_event_name": event.as_str(),
        });
        if let (Value::Object(base), Value::Object(extra)) = (&mut input, fields) {
            base.extend(extra);
        }
        input
    }

    /// Runs an event's hooks; what they say to the user goes out as notices.
    async fn run_hooks(
        &self,
        event: HookEvent,
        target: &str,
        fields: Value,
        call: Option<(&str, &Value)>,
        events: &EventSink,
    ) -> Summary {
        let hooks = self.services.hooks();
        if !hooks.has(event) {
            return Summary::default();
        }
        let cwd = self.tools.cwd();
        let budget = (event == HookEvent::SessionEnd).then_some(SESSION_END_BUDGET);
        let input = self.hook_input(event, fields);
        let summary = hooks.run(Invocation { event, target, input, cwd: &cwd, call, budget }).await;
        let summary = summary.redacted(&self.services.secrets);
        if !summary.outcomes.is_empty() {
            let (target, outcomes) = (target.to_owned(), summary.outcomes.clone());
            events.emit(Event::HookRan { event, target, outcomes });
        }
        for message in summary.messages.iter().chain(&summary.errors) {
            events.emit(Event::Notice { message: message.clone() });
        }
        summary
    }

    /// SessionStart hooks; their context goes with the next prompt.
    async fn session_start(&mut self, source: &str, events: &EventSink) {
        let fields = json!({ "source": source, "model": self.context.model.id });
        let summary = self.run_hooks(HookEvent::SessionStart, source, fields, None, events).await;
        self.pending_context.extend(summary.context);
    }

    async fn session_end(&self, reason: &str, events: &EventSink) {
        self.run_hooks(HookEvent::SessionEnd, reason, json!({ "reason": reason }), None, events).await;
    }

    /// The session is over: SessionEnd hooks, the transcript on disk, MCP servers stopped.
    async fn close(&self, events: &EventSink) {
        self.session_end("other", events).await;
        self.sync(events).await;
        if let Some(mcp) = self.mcp() {
            mcp.shutdown();
        }
    }

    fn info(&self) -> SessionInfo {
        SessionInfo {
            session_id: self.session_id.clone(),
            model: self.context.model.id.clone(),
            effort: self.context.reasoning(false, self.context.output_budget()).effort,
            output_style: self.output_style(),
            cwd: self.context.cwd.clone(),
            tools: self.context.tools.names(),
            permission_mode: state::lock(&self.services.permissions).mode,
            title: self.title.clone(),
            commands: crate::protocol::CommandInfo::list(&state::read(&self.services.catalog)),
            mcp_servers: self
                .mcp()
                .map(|m| m.listing().into_iter().map(|s| (s.name, s.status.short())).collect())
                .unwrap_or_default(),
            agents: state::read(&self.services.catalog).agents.iter().map(|a| a.name.clone()).collect(),
            plugins: self.services.custom.plugin_parts().into_iter().map(|p| (p.name, p.root)).collect(),
        }
    }

    /// The checkpoints of the session whose folder is `dir`.
    fn keep_checkpoints_in(&self, dir: &std::path::Path) {
        let cwd = &self.context.cwd;
        let more: Vec<PathBuf> = self
            .context
            .add_dirs
            .iter()
            .map(|d| std::fs::canonicalize(cwd.join(d)).unwrap_or_else(|_| cwd.join(d)))
            .collect();
        let checkpoints = crate::tools::checkpoint::Checkpoints::open(cwd, dir).with_more_roots(&more);
        self.tools.keep_checkpoints(Arc::new(checkpoints));
    }

    /// The user's prompt just recorded starts a turn of checkpoints, under its uuid in the
    /// transcript.
    fn begin_checkpoint_turn(&mut self, text: &str, id: Option<&str>) {
        if self.subagent {
            return;
        }
        let turn = self
            .transcript
            .as_ref()
            .and_then(Transcript::leaf)
            .or_else(|| id.map(str::to_owned))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if let Some(checkpoints) = self.tools.checkpoints() {
            checkpoints.begin_turn(&turn, &crate::session::list::one_line(text));
        }
        let mark = rewind::PromptMark { id: turn, history_len: self.history.len(), text: text.to_owned() };
        self.prompt_marks.push(mark);
    }

    /// Writes to the transcript, if this session has one (a speculation holds it).
    fn record(&self, record: Record) {
        if let Some(transcript) = &self.transcript {
            transcript.record(record);
        } else if let Some(held) = &self.held {
            state::lock(held).push(record);
        }
    }

    /// Waits until the transcript holds everything recorded; a write that failed is told
    /// to the user (once per failure) rather than stopping the session.
    async fn sync(&self, events: &EventSink) {
        if let Some(transcript) = &self.transcript
            && let Err(problem) = transcript.sync().await
        {
            events.emit(Event::Error { message: format!("The session is not being saved: {problem}") });
        }
    }

    /// Records how the turn ended and the state after it, and waits until it is on disk.
    async fn finish_turn(&mut self, ended: &Event, events: &EventSink) {
        if let Event::TurnComplete(outcome) | Event::TurnAborted(outcome) = ended
            && let TurnStatus::Failed(error) = &outcome.status
        {
            self.record(Record::System { subtype: "api_error", content: error.message.clone(), level: "error" });
        }
        let changed = self.record_turn_changes(events);
        self.record(Record::TurnSummary(TurnSummary {
            turns: self.turns,
            cost_usd: self.costs.total_cost_usd,
            model: self.context.model.id.clone(),
            permission_mode: Some(state::lock(&self.services.permissions).mode),
            last_prompt: self.last_prompt.clone(),
            title: self.title.clone(),
            changed_files: changed,
        }));
        self.sync(events).await;
    }

    /// Continues a session read from disk: its history, cost, model and mode. The caller
    /// announces it, then hands back the todo list ([`Session::restore_todos`]).
    fn adopt(&mut self, loaded: Loaded, transcript: Option<Transcript>) -> Vec<Todo> {
        self.session_id.clone_from(&loaded.session_id);
        if let Some(model) = &loaded.model {
            self.context.model = models::lookup(model);
        }
        // Plan and bypass modes are not carried over: each must be chosen again.
        if let Some(mode) =
            loaded.permission_mode.filter(|m| matches!(m, PermissionMode::Default | PermissionMode::AcceptEdits))
        {
            state::lock(&self.services.permissions).mode = mode;
        }
        self.tools.set_spill_dir(session::sidecar_dir(&loaded.path).join("tool-results"));
        self.keep_checkpoints_in(&session::sidecar_dir(&loaded.path));
        self.history = loaded.history;
        // The session was told the skills when it began.
        self.listing_sent = self.listing();
        self.meter.reset();
        self.first_prompt = loaded.first_prompt;
        self.costs = loaded.costs;
        self.turns = loaded.turns;
        self.title = loaded.title;
        self.transcript = transcript;
        loaded.todos
    }

    /// The history a front end shows after a resume, then the todo list it ended with.
    fn announce_restored(&self, todos: Vec<Todo>, events: &EventSink) {
        events
            .emit(Event::HistoryRestored { messages: self.history.clone(), total_cost_usd: self.costs.total_cost_usd });
        if !todos.is_empty() {
            self.tools.set_todos(todos);
        }
    }

    /// `/clear`: a new, empty session with a new id and transcript.
    fn start_over(&mut self, events: &EventSink) {
        let id = uuid::Uuid::new_v4().to_string();
        self.transcript = None;
        if let Some(store) = &self.services.store {
            match store.create(&id) {
                Ok(transcript) => {
                    self.tools.set_spill_dir(session::sidecar_dir(transcript.path()).join("tool-results"));
                    self.keep_checkpoints_in(&session::sidecar_dir(transcript.path()));
                    self.transcript = Some(transcript);
                }
                Err(e) => events.emit(Event::Error { message: format!("The new session will not be saved: {e}") }),
            }
        }
        self.session_id = id;
        self.history.clear();
        self.meter.reset();
        self.forget_nested_memory();
        self.first_prompt = None;
        self.costs = CostTracker::default();
        self.turns = 0;
        self.title = None;
        events.emit(Event::SessionChanged(self.info()));
    }

    /// `/resume`: finds, reads and takes over another session of this project; whether it
    /// did.
    async fn resume(&mut self, key: String, events: &EventSink) -> bool {
        let Some(store) = self.services.store.clone() else {
            events.emit(Event::Error {
                message: "Sessions are not saved in this run (--no-session-persistence), so none can be resumed."
                    .into(),
            });
            return false;
        };
        let current = self.transcript.as_ref().map(|t| t.path().to_path_buf());
        let opened = tokio::task::spawn_blocking(move || {
            let path = store.find(&key)?;
            if current.as_deref() == Some(path.as_path()) {
                return Ok(None);
            }
            let loaded = session::reader::load(&path)?;
            let transcript = store.reopen(&loaded)?;
            Ok::<_, session::SessionError>(Some((loaded, transcript)))
        })
        .await;
        match opened {
            Ok(Ok(Some((loaded, transcript)))) => {
                self.session_end("resume", events).await;
                self.sync(events).await;
                let todos = self.adopt(loaded, Some(transcript));
                events.emit(Event::SessionChanged(self.info()));
                self.announce_restored(todos, events);
                return true;
            }
            Ok(Ok(None)) => events.emit(Event::Error { message: "That is the session you are in.".into() }),
            Ok(Err(e)) => events.emit(Event::Error { message: e.to_string() }),
            Err(e) => events.emit(Event::Error { message: format!("Reading the session failed: {e}") }),
        }
        false
    }

    /// `/rename`: the session's title, shown in the session list.
    async fn rename(&mut self, title: String, events: &EventSink) {
        let title = title.trim().to_owned();
        if title.is_empty() {
            return;
        }
        self.record(Record::Title(title.clone()));
        self.title = Some(title);
        self.sync(events).await;
        events.emit(Event::SessionChanged(self.info()));
    }
}
