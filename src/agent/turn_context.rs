//! What a turn runs in: the model, the system prompt, the tools on offer, the limits, and
//! where on disk it works. A session has one and changes it between turns (`/model`, a
//! command's `model:`, a resumed session's model) — and before each request, where the
//! MCP servers' tools come and go; a sub-agent gets one derived from its
//! parent's (its type's prompt and tools, its own folder). The permission rules are not
//! here: they are live in [`super::Services`], so a mode change reaches a running turn.

use std::path::PathBuf;

use crate::memory::MemoryPaths;
use crate::provider::models::ModelInfo;
use crate::provider::reasoning::{self, Preferences, Reasoning};
use crate::tools::ToolRegistry;

pub struct TurnContext {
    pub model: ModelInfo,
    pub system_prompt: String,
    pub tools: ToolRegistry,
    /// Model requests allowed per user turn.
    pub max_turns: Option<u32>,
    /// `--max-budget-usd`: the turn stops once the session has cost this much.
    pub max_budget_usd: Option<f64>,
    /// The project folder: where the session starts, and where files may be written.
    pub cwd: PathBuf,
    /// More folders files may be written under (`--add-dir`).
    pub add_dirs: Vec<PathBuf>,
    /// This session's own folder (spilled tool output, background shell logs).
    pub session_dir: PathBuf,
    /// Where the memory files are (read at the first prompt and again at compaction).
    pub memory: MemoryPaths,
    /// Whether the MCP servers' tools are offered (a sub-agent limited to named tools
    /// gets none).
    pub mcp_tools: bool,
    /// The thinking and effort the user asked for.
    pub reasoning: Preferences,
    /// `CLAUDE_CODE_MAX_OUTPUT_TOKENS`: a cap on the output asked for.
    pub max_output: Option<u32>,
    /// The model to continue on when this one stays overloaded (`--fallback-model`);
    /// taken when used.
    pub fallback_model: Option<String>,
    /// `--json-schema`: the turn ends with a `StructuredOutput` call matching it.
    pub output_schema: Option<serde_json::Value>,
    /// How the system prompt is made (`None`: a sub-agent's, or one given whole).
    pub prompt_spec: Option<super::prompt::PromptSpec>,
}

impl TurnContext {
    /// The `max_tokens` of an ordinary request.
    pub fn output_budget(&self) -> u32 {
        self.model.default_output_budget(self.max_output)
    }

    /// What a request answering in `max_tokens` carries; `ultrathink`: the prompt asked
    /// for deeper thought.
    pub fn reasoning(&self, ultrathink: bool, max_tokens: u32) -> Reasoning {
        reasoning::resolve(&self.model.capability, &self.reasoning, ultrathink, max_tokens)
    }
}
