//! Sub-agents: the Task tool (alias Agent) runs the same loop with a fresh history.
//!
//! A sub-agent gets the agent type's system prompt, the tools the type (and the call's
//! `tools`) allow (the parent's, less Task: sub-agents do not start sub-agents), the
//! parent's permission rules, mode, hooks, approvals and budget (a question it asks reaches
//! the user like the parent's, labelled with its name), a child of the parent turn's
//! cancellation token, and a transcript of its own beside the parent's
//! (`<session>/subagents/agent-<id>.jsonl`, a sidechain). Its final answer is the tool
//! result; its cost joins the session's. Several Task calls in one response run at once (the
//! tool is scheduled like a read-only one). With `isolation: worktree` it works in a git
//! worktree of its own ([`super::worktree`]). Front ends see [`Event::Task`] updates:
//! started, each tool it runs, tokens, and how it ended. `SubagentStop` hooks run when it
//! ends. Background agents and a coordinator's workers are started by [`super::team`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::worktree::Worktree;
use super::{Services, Session, TurnContext};
use crate::conversation::tool_names;
use crate::custom::AgentDef;
use crate::hooks::HookEvent;
use crate::memory::MemoryPaths;
use crate::protocol::{Event, EventSink, TaskState, TaskUpdate, TurnStatus, UserInput};
use crate::provider::models::{self, ModelInfo};
use crate::provider::reasoning::Preferences;
use crate::tools::{Approval, Tool, ToolContext, ToolError, ToolKind, ToolOutput, ToolRegistry, state};

/// What the Task tool starts sub-agents with: the session's services, its tools (less
/// Task), and the parent as it is now (its model, limits and transcript follow `/model`,
/// `/clear` and `/resume`).
pub(super) struct Launcher {
    pub(super) services: Arc<Services>,
    tools: ToolRegistry,
    parent: Mutex<Parent>,
    /// What sub-agents spent, for the session's total (taken after each batch of tools).
    pub spent: Mutex<Vec<(ModelInfo, crate::cost::Usage)>>,
    /// The coordinator's launcher: every agent is a worker in the background, with the
    /// team's task list.
    pub(super) coordinator: bool,
}

/// The parent session's part in a sub-agent's [`TurnContext`] and transcript.
struct Parent {
    model: ModelInfo,
    max_turns: Option<u32>,
    max_budget_usd: Option<f64>,
    add_dirs: Vec<PathBuf>,
    session_id: String,
    session_dir: PathBuf,
    transcript: Option<PathBuf>,
    memory: MemoryPaths,
    reasoning: Preferences,
    max_output: Option<u32>,
    checkpoints: Option<Arc<crate::tools::checkpoint::Checkpoints>>,
}

impl Parent {
    fn of(session: &Session) -> Parent {
        let context = &session.context;
        Parent {
            model: context.model.clone(),
            max_turns: context.max_turns,
            max_budget_usd: context.max_budget_usd,
            add_dirs: context.add_dirs.clone(),
            session_id: session.session_id.clone(),
            session_dir: context.session_dir.clone(),
            transcript: session.transcript.as_ref().map(|t| t.path().to_path_buf()),
            memory: context.memory.clone(),
            reasoning: context.reasoning,
            max_output: context.max_output,
            checkpoints: session.tools.checkpoints(),
        }
    }
}

impl Launcher {
    /// Before the Task tool is registered: sub-agents do not start sub-agents.
    pub(super) fn new(session: &Session, coordinator: bool) -> Launcher {
        Launcher {
            services: Arc::clone(&session.services),
            tools: session.context.tools.subset(|name| name != "Task"),
            parent: Mutex::new(Parent::of(session)),
            spent: Mutex::new(Vec::new()),
            coordinator,
        }
    }

    /// The parent as it is at the start of a turn.
    pub(super) fn follow(&self, session: &Session) {
        *state::lock(&self.parent) = Parent::of(session);
    }
}

/// A sub-agent's session, with who it is and where it works.
pub(super) struct Parked {
    pub session: Session,
    pub definition: AgentDef,
    pub agent_id: String,
    pub worktree: Option<Worktree>,
}

/// The Task tool.
pub struct Task {
    pub(super) launcher: Arc<Launcher>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskInput {
    /// A short (3–5 word) description of the task.
    pub description: String,
    /// The task for the agent: everything it needs to know, and what to report back.
    pub prompt: String,
    /// The agent type to use (see the list of agent types); `general-purpose` by default.
    #[serde(default)]
    pub subagent_type: Option<String>,
    /// A model for this agent (`sonnet`, `opus`, `haiku` or an id).
    #[serde(default)]
    pub model: Option<String>,
    /// Start the agent in the background and return its id at once; its report comes later.
    #[serde(default)]
    pub run_in_background: Option<bool>,
    /// A name for the agent, to send it messages by (background agents).
    #[serde(default)]
    pub name: Option<String>,
    /// `worktree`: the agent works in a git worktree of its own, on its own branch.
    #[serde(default)]
    pub isolation: Option<String>,
    /// Only these tools (by name), of those its type has.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
}

impl Tool for Task {
    type Input = TaskInput;
    const NAME: &'static str = "Task";
    const DESCRIPTION: &'static str = include_str!("../../tools/Task.md");
    // Scheduled like a read-only tool, so several run at once; what it does inside goes
    // through the gate call by call.
    const KIND: ToolKind = ToolKind::ReadOnly;
    const APPROVAL: Approval = Approval::NotNeeded;

    async fn call(&self, input: TaskInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let kind = input.subagent_type.clone().filter(|t| !t.trim().is_empty()).unwrap_or("general-purpose".into());
        let catalog = &self.launcher.services.catalog;
        let definition = state::read(catalog).agent(&kind).cloned();
        let Some(definition) = definition else {
            let known: Vec<String> = state::read(catalog).agents.iter().map(|a| a.name.clone()).collect();
            return Err(ToolError::Failed(format!(
                "Agent type '{kind}' not found. Available agents: {}",
                known.join(", ")
            )));
        };
        if let Some(unknown) = input.tools.iter().flatten().find(|t| tool_names::builtin(t.trim()).is_none()) {
            let known: Vec<&str> = tool_names::builtin_names().collect();
            return Err(ToolError::Failed(format!(
                "Unknown tool '{unknown}' in tools; the tools are {}.",
                known.join(", ")
            )));
        }
        if let Some(isolation) = input.isolation.as_deref().filter(|i| *i != "worktree") {
            return Err(ToolError::Failed(format!("Unknown isolation '{isolation}': the one there is is 'worktree'.")));
        }
        if input.run_in_background == Some(true) || self.launcher.coordinator {
            return super::team::start(&self.launcher, definition, input, &ctx).map_err(ToolError::Failed);
        }
        Ok(super::team::foreground(&self.launcher, definition, input, ctx).await)
    }
}

/// Whether the agent works in a worktree of its own (the call or its type says so).
fn isolated(definition: &AgentDef, input: &TaskInput) -> bool {
    input.isolation.as_deref() == Some("worktree") || definition.isolation.as_deref() == Some("worktree")
}

impl Launcher {
    /// Runs an agent in the foreground: the Task call's result is its report.
    pub(super) async fn run(&self, definition: &AgentDef, input: TaskInput, ctx: ToolContext) -> ToolOutput {
        match self.prepare(definition, &input, &ctx, None) {
            Ok(mut parked) => {
                let output = self.run_in(&mut parked, &input.description, &input.prompt, &ctx).await;
                match &parked.worktree {
                    Some(worktree) => with_note(output, worktree.finish().1),
                    None => output,
                }
            }
            Err(message) => ToolOutput::error(message),
        }
    }

    /// A new agent's session, in a worktree of its own when it is isolated.
    pub(super) fn prepare(
        &self,
        definition: &AgentDef,
        input: &TaskInput,
        ctx: &ToolContext,
        worker: Option<&super::background::Agent>,
    ) -> Result<Parked, String> {
        let agent_id = uuid::Uuid::new_v4().simple().to_string()[..17].to_owned();
        let worktree =
            if isolated(definition, input) { Some(Worktree::create(&ctx.session.cwd(), &agent_id)?) } else { None };
        let spec = Spec { model: input.model.as_deref(), tools: input.tools.as_deref(), worktree: worktree.as_ref() };
        let session = self.session_for(definition, &spec, &agent_id, ctx, worker);
        if let (Some(worker), Some(transcript)) = (worker, &session.transcript) {
            *state::lock(&worker.transcript) = Some(transcript.path().to_path_buf());
        }
        Ok(Parked { session, definition: definition.clone(), agent_id, worktree })
    }

    /// Runs one turn of an agent's session with `prompt`; its report.
    pub(super) async fn run_in(
        &self,
        parked: &mut Parked,
        description: &str,
        prompt: &str,
        ctx: &ToolContext,
    ) -> ToolOutput {
        let definition = &parked.definition;
        let mut progress = Progress {
            started: Instant::now(),
            call_id: ctx.call_id.clone(),
            agent_id: parked.agent_id.clone(),
            agent_type: definition.name.clone(),
            description: description.to_owned(),
            label: parked.session.label.clone(),
            uses: 0,
            tokens: 0,
            cost_usd: 0.0,
            current: None,
        };
        self.services.events.emit(progress.update(TaskState::Started, None));
        let session = &mut parked.session;
        let ended = self.drive(session, prompt, ctx, &mut progress).await;
        self.wrap_up(session, definition, &progress.agent_id).await;
        let (state, output) = result(ended, definition, prompt, &progress);
        let summary = Some(match state {
            TaskState::Completed => format!("Done ({} tool uses · {} tokens)", progress.uses, progress.tokens),
            _ => output.text_content(),
        });
        self.services.events.emit(progress.update(state, summary));
        output
    }

    /// Runs the agent's turn, passing its questions to the user and its progress to the
    /// front ends; how the turn ended.
    async fn drive(&self, session: &mut Session, prompt: &str, ctx: &ToolContext, progress: &mut Progress) -> Event {
        let (sink, mut child_events) = EventSink::new();
        let prompt = UserInput {
            content: vec![crate::conversation::history::ContentBlock::text(prompt)],
            ..UserInput::default()
        };
        let ended = {
            let turn = super::turn::run_turn(session, prompt, None, ctx.cancel.child_token(), &sink);
            tokio::pin!(turn);
            loop {
                tokio::select! {
                    ended = &mut turn => break ended,
                    Some(event) = child_events.recv() => self.on_child_event(event, progress),
                }
            }
        };
        // What the agent said last, sent as its turn ended.
        while let Ok(event) = child_events.try_recv() {
            self.on_child_event(event, progress);
        }
        session.sync(&sink).await;
        ended
    }

    /// What the agent's turn tells: questions go to the user as the parent's would (the
    /// answer comes back through the shared approvals), progress and its own messages to the
    /// front ends.
    fn on_child_event(&self, event: Event, progress: &mut Progress) {
        match event {
            Event::ApprovalRequest { call_id, tool, input, preview, .. } => {
                let from = progress.label.clone().or_else(|| Some(progress.agent_type.clone()));
                self.services.events.emit(Event::ApprovalRequest { call_id, tool, input, preview, from });
            }
            Event::ToolCallStarted { name, .. } => {
                progress.uses += 1;
                progress.current = Some(name);
                self.services.events.emit(progress.update(TaskState::Running, None));
            }
            Event::ToolCallFinished { .. } => {
                progress.current = None;
                self.forward(progress, event);
            }
            Event::AssistantMessage(_) => self.forward(progress, event),
            Event::Usage { usage, total_cost_usd, .. } => {
                progress.tokens += usage.context_tokens() + usage.output_tokens;
                progress.cost_usd = total_cost_usd;
                self.services.events.emit(progress.update(TaskState::Running, None));
            }
            _ => {}
        }
    }

    /// A message of the agent's own, for front ends that show it under its Task call.
    fn forward(&self, progress: &Progress, event: Event) {
        let parent_call_id = progress.call_id.clone();
        self.services.events.emit(Event::Subagent { parent_call_id, event: Box::new(event) });
    }

    /// The agent's cost joins the session's; SubagentStop hooks run.
    async fn wrap_up(&self, session: &Session, definition: &AgentDef, agent_id: &str) {
        for (model, usage) in session.costs.by_model.iter() {
            state::lock(&self.spent).push((models::lookup(model), usage.as_usage()));
        }
        let fields = json!({
            "agent_id": agent_id,
            "agent_type": definition.name,
            "stop_hook_active": false,
            "agent_transcript_path": session.transcript.as_ref().map(|t| t.path().display().to_string()),
        });
        session.run_hooks(HookEvent::SubagentStop, &definition.name, fields, None, &self.services.events).await;
    }

    /// A fresh session for one agent of this type; a worker's is labelled with its name
    /// and reads its inbox.
    fn session_for(
        &self,
        definition: &AgentDef,
        spec: &Spec,
        agent_id: &str,
        ctx: &ToolContext,
        worker: Option<&super::background::Agent>,
    ) -> Session {
        let tools = self.tools_for(definition, spec.tools, worker);
        let parent = state::lock(&self.parent);
        let model = spec.model.or(definition.model.as_deref()).map_or_else(|| parent.model.clone(), models::lookup);
        let cwd = spec.worktree.map_or_else(|| ctx.session.cwd(), Worktree::cwd);
        let system_prompt = format!(
            "{}\n\n<env>\nWorking directory: {}\nPlatform: {}\n</env>",
            definition.prompt,
            cwd.display(),
            std::env::consts::OS
        );
        let transcript = match (&self.services.store, &parent.transcript) {
            (Some(store), Some(path)) => Some(store.sidechain(path, &parent.session_id, agent_id)),
            _ => None,
        };
        let context = TurnContext {
            model,
            system_prompt,
            tools,
            max_turns: parent.max_turns,
            max_budget_usd: parent.max_budget_usd,
            cwd: cwd.clone(),
            add_dirs: parent.add_dirs.clone(),
            session_dir: parent.session_dir.join("subagents").join(format!("agent-{agent_id}")),
            memory: if definition.skip_memory { MemoryPaths::default() } else { parent.memory.clone() },
            mcp_tools: definition.tools.is_none() && spec.tools.is_none(),
            // Nobody watches a sub-agent think: its thinking text is left out.
            reasoning: Preferences { show_thinking: false, ..parent.reasoning },
            max_output: parent.max_output,
            prompt_spec: None,
            fallback_model: None,
            output_schema: None,
        };
        let session_id = parent.session_id.clone();
        let checkpoints = parent.checkpoints.clone();
        drop(parent);
        let mut session = Session::new(Arc::clone(&self.services), context, session_id, transcript);
        session.subagent = true;
        session.tools.mark_subagent();
        session.label = worker.map(|w| w.label().to_owned());
        session.inbox = worker.map(|w| Arc::clone(&w.inbox));
        match spec.worktree {
            // Its writes stay in its worktree (and the git folder its commits write to).
            Some(worktree) => session.tools.confine_sandbox(worktree.writable()),
            // A sub-agent's changes are the parent's turn's: one way back for both.
            None => {
                if let Some(checkpoints) = checkpoints {
                    session.tools.keep_checkpoints(checkpoints);
                }
            }
        }
        session
    }

    /// The tools an agent of this type gets: its type's, narrowed to the call's list; a
    /// worker also gets the team's task list.
    fn tools_for(
        &self,
        definition: &AgentDef,
        only: Option<&[String]>,
        worker: Option<&super::background::Agent>,
    ) -> ToolRegistry {
        let names = |list: &[String]| -> Vec<&'static str> {
            list.iter().filter_map(|n| tool_names::builtin(n.trim())).collect()
        };
        let by_type = definition.tools.as_deref().map(names);
        let by_call = only.map(names);
        // Sub-agents work unattended: they neither ask the user nor present plans.
        let mut tools = self.tools.subset(|name| {
            !matches!(name, "AskUserQuestion" | "ExitPlanMode" | "StructuredOutput")
                && by_type.as_ref().is_none_or(|list| list.contains(&name))
                && by_call.as_ref().is_none_or(|list| list.contains(&name))
        });
        if let (true, Some(worker)) = (self.coordinator, worker) {
            super::team::add_worker_tools(&mut tools, &self.services, worker.label());
        }
        tools
    }
}

/// What a call asks of its agent beyond the type.
struct Spec<'a> {
    model: Option<&'a str>,
    tools: Option<&'a [String]>,
    worktree: Option<&'a Worktree>,
}

/// A report with a note after it (what became of the agent's worktree).
pub(super) fn with_note(mut output: ToolOutput, note: String) -> ToolOutput {
    use crate::conversation::history::ToolResultContent;
    output.content.insert(1.min(output.content.len()), ToolResultContent::Text { text: note });
    output
}

/// A running agent as the front ends see it.
struct Progress {
    started: Instant,
    call_id: String,
    agent_id: String,
    agent_type: String,
    description: String,
    /// A worker's name (its questions are labelled with it).
    label: Option<String>,
    uses: u32,
    tokens: u64,
    cost_usd: f64,
    /// The tool it is running now.
    current: Option<String>,
}

impl Progress {
    fn update(&self, state: TaskState, summary: Option<String>) -> Event {
        Event::Task(TaskUpdate {
            call_id: self.call_id.clone(),
            agent_id: self.agent_id.clone(),
            agent_type: self.agent_type.clone(),
            description: self.description.clone(),
            name: self.label.clone(),
            state,
            current_tool: if state == TaskState::Running { self.current.clone() } else { None },
            tool_uses: self.uses,
            tokens: self.tokens,
            cost_usd: self.cost_usd,
            elapsed: self.started.elapsed(),
            summary,
        })
    }
}

/// The Task call's result: the agent's answer with Claude Code's usage note, or why it
/// failed or stopped.
fn result(ended: Event, definition: &AgentDef, prompt: &str, progress: &Progress) -> (TaskState, ToolOutput) {
    use crate::conversation::history::ToolResultContent;
    let (agent_id, tokens, uses) = (&progress.agent_id, progress.tokens, progress.uses);
    match ended {
        Event::TurnComplete(outcome) if outcome.status == TurnStatus::Success => {
            let elapsed = progress.started.elapsed().as_millis();
            let usage = format!(
                "agentId: {agent_id}\n<usage>subagent_tokens: {tokens}\ntool_uses: {uses}\nduration_ms: {elapsed}</usage>"
            );
            let text = if outcome.result.trim().is_empty() {
                "(The agent gave no answer.)".to_owned()
            } else {
                outcome.result.clone()
            };
            let output = ToolOutput {
                content: vec![ToolResultContent::Text { text }, ToolResultContent::Text { text: usage }],
                is_error: false,
                structured: json!({
                    "status": "completed", "prompt": prompt, "agentId": agent_id, "agentType": definition.name,
                    "content": [{"type": "text", "text": outcome.result}],
                    "totalDurationMs": elapsed as u64, "totalTokens": tokens, "totalToolUseCount": uses,
                }),
            };
            (TaskState::Completed, output)
        }
        Event::TurnComplete(outcome) => {
            let why = match &outcome.status {
                TurnStatus::Failed(error) => error.message.clone(),
                TurnStatus::MaxTurns { limit } => format!("it reached the limit of {limit} turns"),
                other => format!("{other:?}"),
            };
            (TaskState::Failed, ToolOutput::error(format!("The {} agent failed: {why}", definition.name)))
        }
        _ => (TaskState::Stopped, ToolOutput::error(crate::conversation::history::INTERRUPTED_TOOL_RESULT)),
    }
}
