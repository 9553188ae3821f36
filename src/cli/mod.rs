//! The command line, spelled as Claude Code spells it (plus cairn's `--provider` and
//! `--base-url`), so `claude -p` scripts run unchanged. This file parses; [`resolve`] turns
//! the flags, the settings and the environment into a run's configuration, [`policy`]
//! its permission rules and hooks, and [`commands`] runs the subcommands.

pub mod commands;
mod plugin;
pub mod policy;
pub mod resolve;

use clap::{ArgAction, Parser, Subcommand};

use crate::config::ProviderKind;
use crate::permissions::PermissionMode;
use crate::ui::print::{InputFormat, OutputFormat};

#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    disable_version_flag = true,
    about = "A terminal coding agent: light, fast, and at home with your Claude Code setup.",
    after_help = "Examples:\n  cairn -p \"explain src/main.rs\"\n  git diff | cairn -p \"write a commit message\"\n  \
                  cairn -p --output-format stream-json --verbose \"run the tests\"\n  \
                  cairn -p --provider openai --base-url http://localhost:11434/v1 --model qwen3 \"hi\"\n  \
                  cairn --continue            # pick up the last session in this folder\n  \
                  cairn sessions              # list this folder's sessions",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The prompt: sent at once in the interactive UI; with -p, piped stdin is added to it
    /// (or is the prompt when none is given).
    pub prompt: Option<String>,

    /// Print the answer and exit: the headless mode for scripts and CI.
    #[arg(short = 'p', long = "print")]
    pub print: bool,

    /// Output format with -p.
    #[arg(long, value_enum, default_value = "text")]
    pub output_format: OutputFormat,

    /// Input format with -p: `stream-json` reads one user message per stdin line.
    #[arg(long, value_enum, default_value = "text")]
    pub input_format: InputFormat,

    /// Report more: tool calls on stderr in text mode.
    #[arg(long)]
    pub verbose: bool,

    /// With stream-json output, also print each streaming event (`stream_event` lines).
    #[arg(long)]
    pub include_partial_messages: bool,

    /// Stop once the session has cost this many US dollars.
    #[arg(long, value_name = "USD", value_parser = parse_budget)]
    pub max_budget_usd: Option<f64>,

    /// How hard the model thinks: low, medium, high, xhigh or max (the nearest the model
    /// offers). Default: the `effortLevel` setting, then the model's own default.
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(crate::provider::reasoning::Effort))]
    pub effort: Option<crate::provider::reasoning::Effort>,

    /// The model to continue on when the main one stays overloaded after the retries.
    #[arg(long, value_name = "MODEL")]
    pub fallback_model: Option<String>,

    /// Stop after this many model requests in one turn.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_turns: Option<u32>,

    /// Model id or alias (opus, sonnet, haiku, fable). Default: ANTHROPIC_MODEL (OPENAI_MODEL with --provider openai), then the settings' `model`, then claude-sonnet-5.
    #[arg(long)]
    pub model: Option<String>,

    /// Replace the system prompt.
    #[arg(long)]
    pub system_prompt: Option<String>,

    /// Add to the end of the system prompt.
    #[arg(long)]
    pub append_system_prompt: Option<String>,

    /// Permission mode: default, acceptEdits, plan, bypassPermissions or dontAsk.
    #[arg(long, value_parser = parse_mode)]
    pub permission_mode: Option<PermissionMode>,

    /// Run every tool call without asking (same as --permission-mode bypassPermissions).
    #[arg(long)]
    pub dangerously_skip_permissions: bool,

    /// Rules for tool calls that may run without asking, e.g. "Bash(git diff:*)" Read.
    #[arg(long = "allowedTools", visible_alias = "allowed-tools", num_args = 1.., value_name = "RULES")]
    pub allowed_tools: Vec<String>,

    /// Rules for tool calls that are always refused; a bare tool name removes the tool.
    #[arg(long = "disallowedTools", visible_alias = "disallowed-tools", num_args = 1.., value_name = "RULES")]
    pub disallowed_tools: Vec<String>,

    /// Which API to speak: anthropic (Messages) or openai (Chat Completions: Ollama, vLLM, OpenRouter…).
    #[arg(long, value_enum, env = "CAIRN_PROVIDER", default_value = "anthropic")]
    pub provider: ProviderKind,

    /// API base URL (default: ANTHROPIC_BASE_URL / OPENAI_BASE_URL, then the vendor's).
    #[arg(long)]
    pub base_url: Option<String>,

    /// Use the whole screen (alternate screen with its own scrolling) instead of inline mode.
    #[arg(long)]
    pub fullscreen: bool,

    /// Another folder tools may write in, besides the working directory (repeatable).
    #[arg(long = "add-dir", value_name = "DIR", num_args = 1..)]
    pub add_dir: Vec<std::path::PathBuf>,

    /// Continue the most recent session in this folder.
    #[arg(short = 'c', long = "continue", conflicts_with = "resume")]
    pub continue_session: bool,

    /// Continue a session: by id, by title, or a transcript's path (also Claude Code's).
    /// Without one, the interactive UI opens a picker.
    #[arg(short = 'r', long, num_args = 0..=1, value_name = "ID|PATH")]
    pub resume: Option<Option<String>>,

    /// With --continue or --resume: continue as a new session (a new id and file) instead
    /// of appending to the old one.
    #[arg(long)]
    pub fork_session: bool,

    /// With --resume: continue from this message (its uuid in the transcript) instead of
    /// the last one; with --fork-session the original is left as it was.
    #[arg(long, value_name = "UUID")]
    pub resume_session_at: Option<String>,

    /// With --resume: bring the files back to how they were when this prompt (its uuid) was
    /// sent, print what was done, and exit. Files changed by someone else since are left.
    #[arg(long, value_name = "UUID")]
    pub rewind_files: Option<String>,

    /// Use this session id (a UUID) for a new session (or a fork).
    #[arg(long)]
    pub session_id: Option<uuid::Uuid>,

    /// Coordinator mode: the main agent splits the task across parallel workers and does no
    /// work itself (also `CAIRN_COORDINATOR_MODE=1` or the `coordinatorMode` setting).
    #[arg(long)]
    pub coordinator: bool,

    /// Do not save this session to disk (it cannot be resumed).
    #[arg(long)]
    pub no_session_persistence: bool,

    /// More settings: a JSON file, or JSON text, above the project's and user's settings.
    #[arg(long, value_name = "FILE|JSON")]
    pub settings: Option<String>,

    /// MCP servers: a JSON file or JSON text with `mcpServers` (repeatable).
    #[arg(long = "mcp-config", value_name = "FILE|JSON", num_args = 1..)]
    pub mcp_config: Vec<String>,

    /// Use only the MCP servers of --mcp-config.
    #[arg(long)]
    pub strict_mcp_config: bool,

    /// Print the version.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    #[command(flatten)]
    pub sdk: SdkFlags,
}

/// The flags the Agent SDKs (and editor bridges built on them) pass, as Claude Code reads
/// them. `--input-format stream-json` alone already means headless.
#[derive(Debug, Default, clap::Args)]
pub struct SdkFlags {
    /// Where permission questions go: `stdio` (a `can_use_tool` control request to the
    /// program on stdin/stdout).
    #[arg(long, value_name = "TOOL")]
    pub permission_prompt_tool: Option<String>,

    /// The built-in tools on offer: `default` (all), a comma-separated list, or "" (none).
    #[arg(long, value_name = "LIST")]
    pub tools: Option<String>,

    /// Which settings files to read: a comma-separated list of user, project, local.
    #[arg(long, value_name = "LIST")]
    pub setting_sources: Option<String>,

    /// Allow switching to bypassPermissions later (set_permission_mode), without starting in it.
    #[arg(long)]
    pub allow_dangerously_skip_permissions: bool,

    /// With stream-json input: print each user message back once it is taken.
    #[arg(long)]
    pub replay_user_messages: bool,

    /// With stream-json output: print hook runs as `system/hook_response` lines.
    #[arg(long)]
    pub include_hook_events: bool,

    /// Read the system prompt from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "system_prompt")]
    pub system_prompt_file: Option<std::path::PathBuf>,

    /// Add a file's text to the end of the system prompt.
    #[arg(long, value_name = "FILE")]
    pub append_system_prompt_file: Option<std::path::PathBuf>,

    /// Structured output: the final answer must be JSON valid against this JSON Schema; it is
    /// returned as `structured_output` in the result.
    #[arg(long, value_name = "SCHEMA")]
    pub json_schema: Option<String>,

    /// The thinking budget of models that think to a budget (as MAX_THINKING_TOKENS; 0 turns
    /// thinking off).
    #[arg(long, value_name = "TOKENS")]
    pub max_thinking_tokens: Option<u32>,

    /// Agent types for this run, as JSON: `{"name": {"description", "prompt", "tools", "model"}}`.
    #[arg(long, value_name = "JSON")]
    pub agents: Option<String>,

    /// Run as this agent type: its prompt, tools and model.
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// The built-in tools kept (from `--tools` or `--agent`), by cairn's names.
    #[arg(skip)]
    pub only_tools: Option<Vec<String>>,

    /// A name for the session (shown in `/resume` and `cairn sessions`).
    #[arg(short = 'n', long, value_name = "NAME")]
    pub name: Option<String>,

    /// Debug output on stderr: the control protocol's traffic (a filter, as Claude Code
    /// takes one, is accepted; everything is shown).
    #[arg(short = 'd', long, num_args = 0..=1, value_name = "FILTER")]
    pub debug: Option<Option<String>>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List saved sessions, newest first: id, last activity, turns, cost, title.
    Sessions {
        /// Every project's sessions, not only this folder's.
        #[arg(long)]
        all: bool,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Settings files.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// An Agent Client Protocol agent on stdio, for editors (Zed, JetBrains, Neovim).
    Acp {
        /// Serve ACP over WebSocket on this address (e.g. 127.0.0.1:8765; port 0 picks one)
        /// instead of stdio. Sessions outlive connections; a token, printed at start
        /// (or taken from CAIRN_ACP_TOKEN), is required on connect.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Allow --listen on an address other than loopback.
        #[arg(long, requires = "listen")]
        allow_remote: bool,
        /// Run commands in the editor's terminal when it offers one, where the user watches
        /// them live (each command starts in the session's folder).
        #[arg(long)]
        editor_terminal: bool,
    },
    /// MCP servers: list, show, add and remove them.
    Mcp {
        #[command(subcommand)]
        action: McpAction,
    },
    /// Plugins and their marketplaces, in Claude Code's formats.
    Plugin {
        #[command(subcommand)]
        action: PluginAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginAction {
    /// Marketplaces (folders or git repositories with .claude-plugin/marketplace.json).
    Marketplace {
        #[command(subcommand)]
        action: MarketplaceAction,
    },
    /// Installs `name@marketplace` (or a name one marketplace alone offers) and enables it.
    Install {
        plugin: String,
        /// Where it is enabled: `user` ($CAIRN_HOME/settings.json), `project`
        /// (.claude/settings.json) or `local` (.claude/settings.local.json).
        #[arg(long, short = 's', default_value = "user")]
        scope: String,
    },
    /// Removes an installed plugin (and its entry in the scope's settings file).
    Uninstall {
        plugin: String,
        #[arg(long, short = 's', default_value = "user")]
        scope: String,
    },
    /// Turns an installed plugin on.
    Enable {
        plugin: String,
        #[arg(long, short = 's', default_value = "user")]
        scope: String,
    },
    /// Turns a plugin off (it stays installed).
    Disable {
        plugin: String,
        #[arg(long, short = 's', default_value = "user")]
        scope: String,
    },
    /// Installed plugins, whether each is on, its parts and what is wrong with it.
    List,
    /// Checks a plugin or marketplace folder before it is shared: manifests, hooks, MCP
    /// configuration, and the frontmatter of its commands, skills and agents.
    Validate { path: std::path::PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum MarketplaceAction {
    /// Adds a marketplace: a folder, a git URL, or a GitHub owner/repo.
    Add { source: String },
    /// Known marketplaces and the plugins each offers.
    List,
    /// Pulls a git marketplace (or every one) again.
    Update { name: Option<String> },
    /// Forgets a marketplace.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum McpAction {
    /// Every configured server and where it comes from.
    List,
    /// One server's configuration.
    Get { name: String },
    /// Adds a server: `cairn mcp add fs -- npx -y @modelcontextprotocol/server-filesystem .`,
    /// or `cairn mcp add --transport http notion https://mcp.notion.com/mcp`.
    Add {
        /// `stdio` (a command) or `http` (a URL).
        #[arg(long, short = 't', default_value = "stdio")]
        transport: String,
        /// `user` ($CAIRN_HOME/mcp.json, yours alone) or `project` (.mcp.json, shared).
        #[arg(long, short = 's', default_value = "user")]
        scope: String,
        /// An environment variable for a stdio server: KEY=value (repeatable).
        #[arg(long, short = 'e', value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// A header for an http server: "Name: value" (repeatable).
        #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
        headers: Vec<String>,
        name: String,
        /// The command (stdio) or URL (http).
        target: String,
        /// The command's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Removes a server from the file that configures it.
    Remove {
        name: String,
        /// Only from this scope (`user` or `project`).
        #[arg(long, short = 's')]
        scope: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Check every settings file cairn reads: JSON, schema, permission rules, hooks.
    Check,
}

fn parse_budget(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{text:?} is not a budget: give a positive number of dollars, like 0.50")),
    }
}

fn parse_mode(text: &str) -> Result<PermissionMode, String> {
    PermissionMode::parse(text).ok_or_else(|| {
        format!("{text:?} is not a permission mode: use default, acceptEdits, plan, bypassPermissions or dontAsk")
    })
}
