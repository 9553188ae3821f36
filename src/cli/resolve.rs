//! Configuration in one step: the parsed command line, the settings files and the
//! environment go in; what the core is started with and the front end that shows it come
//! out — or an error a person can act on. Lowest to highest: the settings files, their
//! `env` over the process environment, then the flags.
//!
//! The steps, in order: read the settings and the MCP servers, settle whether this
//! folder's own settings are trusted (asked once, on a terminal), resolve the provider,
//! its key and the model, open the session (new, continued, resumed or forked), choose
//! the front end, then the rules, tools, hooks and prompt.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::Cli;
use super::policy;
use crate::agent::prompt::PromptSpec;
use crate::agent::{AgentConfig, ApprovalMode};
use crate::config::settings::{Level, Locations, Settings};
use crate::config::{self, ProviderSettings, trust};
use crate::custom::output_styles;
use crate::mcp::config::{Scope, ServerConfig, Sources};
use crate::memory::MemoryPaths;
use crate::permissions::PermissionMode;
use crate::provider::models::{self, ModelInfo};
use crate::session::{self, OpenRequest, Opened, Store};
use crate::ui::print::{self, InputFormat, OutputFormat, PrintOptions};
use crate::ui::tui::TuiOptions;

/// A variable of the process environment (empty counts as unset).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What a run starts: the core's configuration and the front end that shows it.
pub struct Launch {
    pub agent: AgentConfig,
    pub front_end: FrontEnd,
}

/// The front end, with the prompt it starts with.
pub enum FrontEnd {
    Print { first_prompt: Option<String>, options: PrintOptions },
    Tui(Box<TuiOptions>),
}

/// Resolves a run of `cairn` (no subcommand) in `cwd`.
pub fn resolve(cli: Cli, cwd: PathBuf, process_env: Env) -> Result<Launch> {
    let mut cli = sdk_flags(cli)?;
    let home = config::cairn_home(&process_env);
    let mut locations = Locations::from_env(&cwd, &home, cli.settings.clone(), &process_env);
    locations.levels = setting_sources(cli.sdk.setting_sources.as_deref())?;
    let mut settings = Settings::load(&locations)?;
    for diagnostic in &settings.diagnostics {
        crate::stderr_line!("cairn: {diagnostic}");
    }
    let mut servers = mcp_servers(&cli, &settings, &cwd, &home, process_env);
    let trusted = settle_trust(&cli, &cwd, &home, &mut settings, &mut servers)?;
    let plugins = with_plugins(&mut settings, &mut servers, &locations, &process_env, !cli.print);
    let env_map = environment(&cli, &settings, process_env)?;
    let env = |name: &str| env_map.get(name).cloned().filter(|v| !v.trim().is_empty()).or_else(|| process_env(name));
    let model_choice =
        cli.model.clone().or_else(|| env(config::model_variable(cli.provider))).or_else(|| settings.model.clone());
    let mut provider = config::resolve_provider(cli.provider, model_choice.as_deref(), cli.base_url.as_deref(), &env)?;
    let knobs = config::knobs(&env)?;
    let compaction = config::compaction(&settings, &env)?;
    let show_thinking = !cli.print || cli.output_format == OutputFormat::StreamJson;
    let (mut reasoning, max_output) = config::reasoning(cli.effort, &settings, &env, show_thinking)?;
    reasoning.budget_tokens = cli.sdk.max_thinking_tokens.or(reasoning.budget_tokens);
    let secrets = config::secrets(&provider, &env);
    let store = Store { home: home.clone(), cwd: cwd.clone(), git_branch: config::git_branch(&cwd), secrets };
    let opened = open_session(&cli, &store, &mut provider)?;
    clean_up(&cli, &settings, &home, &opened.session_id);
    let mut model = models::lookup(&provider.model);
    if let Some(window) = compaction.window {
        model.context_window = window;
    }
    let memory = memory_paths(&cwd, &home, &settings, locations.claude_dir.as_deref(), &env);
    let custom = crate::custom::Locations {
        project: cwd.clone(),
        cairn_home: home.clone(),
        claude_dir: memory.claude_dir.clone(),
        watch: !cli.print || cli.input_format == InputFormat::StreamJson,
        program_agents: Arc::default(),
        plugins: Arc::new(std::sync::RwLock::new(plugins.parts())),
    };
    let agent_type = agents(&mut cli, &custom)?;
    if let Some(chosen) = agent_type.as_ref().and_then(|a| a.model.as_deref()) {
        model = models::lookup(chosen);
    }
    let front_end = front_end(&cli, &settings, &provider, &model, &store, &opened, &home)?;
    // Plan and bypass modes are never carried over from a resumed session.
    let resumed_mode = opened.loaded.as_ref().and_then(|l| l.permission_mode).filter(PermissionMode::carried_over);
    let mut warn = |message: String| crate::stderr_line!("cairn: warning: {message}");
    // Agents' worktrees left by a cairn that was killed (a stat unless there are some).
    crate::agent::worktree::prune(&cwd).into_iter().for_each(&mut warn);
    let mut permissions = policy::permission_policy(&cli, &settings, &cwd, &process_env, resumed_mode, &mut warn)?;
    permissions.memory_dir = memory.auto.as_deref().map(crate::location::real_location);
    let hooks = policy::hooks_of(&settings, &cwd, &mut warn);
    let add_dirs = add_dirs(&cli, &settings, &cwd)?;
    let connected = provider.connect(knobs.idle_timeout).context("setting up the HTTP client")?;
    // The defaults (the built-in tools and system prompt), then what the flags change.
    let mut defaults = AgentConfig::new(connected, model, cwd.clone());
    defaults.tools.retain(|name| !permissions.removes_tool(name));
    if let Some(only) = &cli.sdk.only_tools {
        defaults.tools.retain(|name| only.iter().any(|o| o == name));
    }
    let max_workers = team(&mut cli, &settings, &env)?;
    let output_schema = output_schema(cli.sdk.json_schema.as_deref())?;
    let mut spec = prompt_spec(&cli, &settings, &custom, output_schema.is_some(), &mut warn);
    spec.auto_memory = memory.auto.clone();
    defaults.system_prompt = spec.build(&cwd);
    defaults.prompt_spec = Some(spec);
    let agent = AgentConfig {
        sandbox: Some(sandbox_of(&settings, &permissions, &cwd, &add_dirs, &opened.sidecar)),
        permissions,
        approvals: approval_mode(&cli, &front_end),
        retry: knobs.retry,
        max_turns: cli.max_turns,
        add_dirs,
        session_id: opened.session_id,
        session_dir: opened.sidecar,
        secrets: store.secrets.clone(),
        store: (!cli.no_session_persistence).then_some(store),
        transcript: opened.transcript,
        resumed: opened.loaded,
        hooks: Arc::new(hooks),
        env: settings.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        compaction,
        memory,
        max_budget_usd: cli.max_budget_usd,
        reasoning,
        max_output,
        fallback_model: cli.fallback_model.clone().or_else(|| settings.fallback_model.clone()),
        output_schema,
        permission_prompt_tool: cli.sdk.permission_prompt_tool.as_deref().and_then(prompt_tool),
        headless: matches!(front_end, FrontEnd::Print { .. }),
        coordinator: cli.coordinator,
        max_workers,
        ahead: ahead(&settings, &front_end, &env),
        mcp_servers: servers,
        reload_settings: Some(policy::settings_reloader(Arc::new(cli), locations, cwd, trusted, &custom.plugins)),
        custom,
        ..defaults
    };
    Ok(Launch { agent, front_end })
}

/// Coordinator mode (`--coordinator`, `CAIRN_COORDINATOR_MODE`, `coordinatorMode`) into
/// `cli`; how many workers work at once (`CAIRN_MAX_WORKERS`, `maxWorkers`).
fn team(cli: &mut Cli, settings: &Settings, env: &impl Fn(&str) -> Option<String>) -> Result<usize> {
    cli.coordinator |= env("CAIRN_COORDINATOR_MODE").is_some_and(|v| v != "0" && v != "false")
        || settings.coordinator_mode == Some(true);
    Ok(match env("CAIRN_MAX_WORKERS") {
        Some(n) => {
            n.trim().parse::<usize>().ok().filter(|n| (1..=64).contains(n)).ok_or_else(|| {
                anyhow::anyhow!("CAIRN_MAX_WORKERS must be a number of workers from 1 to 64, not {n:?}")
            })?
        }
        None => settings.max_workers.map_or(crate::agent::background::DEFAULT_LIMIT, |n| n as usize),
    })
}

/// The sandbox the settings ask for around the session's commands: writable where the
/// tools may write, with what the deny rules name taken out.
fn sandbox_of(
    settings: &Settings,
    permissions: &crate::permissions::PermissionPolicy,
    cwd: &Path,
    add_dirs: &[PathBuf],
    session_dir: &Path,
) -> Arc<crate::sandbox::Sandbox> {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut writable = vec![canonical(cwd)];
    writable.extend(add_dirs.iter().map(|d| canonical(&cwd.join(d))));
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let denied = permissions.denied_domains().into_iter().map(|(domain, _)| domain).collect();
    let sandbox = crate::sandbox::Sandbox::new(
        settings.sandbox.clone(),
        &writable,
        &session_dir.join("tool-results"),
        permissions.path_denials(),
        home.as_deref(),
    );
    Arc::new(sandbox.with_web_rules(permissions.allowed_domains(), denied))
}

/// `cleanupPeriodDays`: old sessions removed, on a thread of their own (never the one
/// being opened).
fn clean_up(cli: &Cli, settings: &Settings, home: &Path, keep: &str) {
    if cli.no_session_persistence {
        return;
    }
    let (home, keep) = (home.to_path_buf(), keep.to_owned());
    let days = settings.cleanup_period_days.unwrap_or(session::cleanup::DEFAULT_DAYS);
    std::thread::spawn(move || session::cleanup::clean_up(&home, days, &keep));
}

/// Who answers the permission questions: the user in the TUI, the program on stdin with
/// `--permission-prompt-tool stdio`; in `-p` otherwise, nobody (they are refused).
fn approval_mode(cli: &Cli, front_end: &FrontEnd) -> ApprovalMode {
    match front_end {
        FrontEnd::Print { .. } if cli.sdk.permission_prompt_tool.is_some() => ApprovalMode::Ask,
        FrontEnd::Print { .. } => ApprovalMode::Refuse,
        FrontEnd::Tui(_) => ApprovalMode::Ask,
    }
}

/// For `cairn acp`: each session's configuration, from the command line `cairn acp` was
/// started with, resolved in the session's folder, headless, with questions going to the
/// client.
pub struct AcpSessions;

impl AcpSessions {
    fn cli() -> Cli {
        use clap::Parser;
        let mut cli = Cli::parse_from(std::env::args_os());
        cli.command = None;
        cli
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl crate::ui::acp::Sessions for AcpSessions {
    fn open(&self, cwd: PathBuf, resume: Option<&str>) -> Result<AgentConfig, crate::ui::acp::OpenError> {
        use crate::ui::acp::OpenError;
        let mut cli = Self::cli();
        cli.print = true;
        cli.input_format = InputFormat::StreamJson;
        cli.output_format = OutputFormat::StreamJson;
        cli.sdk.permission_prompt_tool = Some("stdio".into());
        cli.resume = resume.map(|id| Some(id.to_owned()));
        cli.continue_session = false;
        // An editor asks its questions its own way (as Zed's adapter does for Claude Code).
        cli.disallowed_tools.push("AskUserQuestion".into());
        if let Some(id) = resume {
            let home = config::cairn_home(&process_env);
            let store = Store { home, cwd: cwd.clone(), git_branch: None, secrets: Default::default() };
            if store.find(id).is_ok_and(|path| path.parent() != Some(store.project_dir().as_path())) {
                return Err(OpenError::Other(format!(
                    "session {id} belongs to another folder: load it with the cwd it was started in (session/list shows it)"
                )));
            }
        }
        let launch = resolve(cli, cwd, &process_env).map_err(|e| match e.downcast_ref::<config::ConfigError>() {
            Some(config::ConfigError::MissingKey { .. }) => OpenError::NoKey(format!("{e:#}")),
            _ => OpenError::Other(format!("{e:#}")),
        })?;
        Ok(launch.agent)
    }

    fn list(&self, cwd: Option<&Path>) -> Vec<session::list::SessionSummary> {
        let home = config::cairn_home(&process_env);
        let folder = cwd.map_or_else(|| home.clone(), Path::to_path_buf);
        let store = Store { home, cwd: folder, git_branch: None, secrets: Default::default() };
        session::list::sessions(&store, cwd.is_none())
    }

    fn editor_terminal(&self) -> bool {
        use clap::Parser;
        matches!(Cli::parse_from(std::env::args_os()).command, Some(super::Command::Acp { editor_terminal: true, .. }))
    }

    fn missing_key(&self) -> Option<&'static str> {
        let cli = Self::cli();
        match config::resolve_provider(cli.provider, None, cli.base_url.as_deref(), &process_env) {
            Err(config::ConfigError::MissingKey { var, .. }) => Some(var),
            _ => None,
        }
    }
}

/// What the Agent SDKs' flags mean in terms of the others: `--input-format stream-json` is
/// headless; `--system-prompt ""` is the default prompt; the prompt files are read; `--tools`
/// removes the built-in tools it does not list.
fn sdk_flags(mut cli: Cli) -> Result<Cli> {
    if cli.input_format == InputFormat::StreamJson {
        cli.print = true;
    }
    if cli.system_prompt.as_deref().is_some_and(|p| p.trim().is_empty()) {
        cli.system_prompt = None;
    }
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("reading the prompt file {}", path.display()))
    };
    if let Some(path) = &cli.sdk.system_prompt_file {
        cli.system_prompt = Some(read(path)?);
    }
    if let Some(path) = &cli.sdk.append_system_prompt_file {
        let text = read(path)?;
        cli.append_system_prompt = Some(match cli.append_system_prompt.take() {
            Some(before) => format!("{before}\n\n{text}"),
            None => text,
        });
    }
    if let Some(list) = cli.sdk.tools.clone().filter(|l| l.trim() != "default") {
        let wanted: Vec<String> = list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
        keep_only(&mut cli, &wanted);
    }
    Ok(cli)
}

/// Keeps only the built-in tools `wanted` names (any of their names). Skill and Task, which
/// the core adds, go by a rule; the others are taken out of the offer by name (a bare rule
/// for Grep would remove its whole family, Read included).
fn keep_only(cli: &mut Cli, wanted: &[String]) {
    use crate::conversation::tool_names::{builtin_names, canonical};
    let kept: Vec<String> =
        builtin_names().filter(|b| wanted.iter().any(|w| canonical(w.trim()) == *b)).map(str::to_owned).collect();
    for core_added in ["Skill", "Task"] {
        if !kept.iter().any(|k| k == core_added) {
            cli.disallowed_tools.push(core_added.to_owned());
        }
    }
    cli.sdk.only_tools = Some(kept);
}

/// `--agents JSON` (agent types of the program's) and `--agent NAME` (run as one: its prompt,
/// its tools); the agent the session runs as.
fn agents(cli: &mut Cli, custom: &crate::custom::Locations) -> Result<Option<crate::custom::AgentDef>> {
    if let Some(text) = &cli.sdk.agents {
        let value: serde_json::Value = serde_json::from_str(text).context("--agents is not valid JSON")?;
        let defined = crate::custom::program_agents(&value).map_err(|e| anyhow::anyhow!("--agents: {e}"))?;
        custom.program_agents.lock().map_err(|_| anyhow::anyhow!("agents"))?.extend(defined);
    }
    let Some(name) = cli.sdk.agent.clone() else { return Ok(None) };
    let catalog = custom.load();
    let Some(agent) = catalog.agent(&name).cloned() else {
        let known: Vec<&str> = catalog.agents.iter().map(|a| a.name.as_str()).collect();
        bail!("--agent {name}: there is no such agent type (there are {})", known.join(", "));
    };
    if cli.system_prompt.is_none() {
        cli.system_prompt = Some(agent.prompt.clone());
    }
    if let Some(tools) = &agent.tools {
        keep_only(cli, tools);
    }
    Ok(Some(agent))
}

/// How the system prompt is made: the flags, the output style, structured output's rule.
fn prompt_spec(
    cli: &Cli,
    settings: &Settings,
    custom: &crate::custom::Locations,
    structured: bool,
    warn: &mut impl FnMut(String),
) -> PromptSpec {
    let style = settings.output_style.as_deref().and_then(|name| {
        output_styles::find(custom, name).unwrap_or_else(|problem| {
            warn(format!("outputStyle: {problem}"));
            None
        })
    });
    let mut append = cli.append_system_prompt.clone();
    if structured {
        let instruction = crate::agent::STRUCTURED_OUTPUT_INSTRUCTION;
        append = Some(append.map_or_else(|| instruction.to_owned(), |a| format!("{a}\n\n{instruction}")));
    }
    PromptSpec {
        replace: cli.system_prompt.clone(),
        append,
        style,
        attribution: settings.commit_attribution(),
        coordinator: cli.coordinator,
        auto_memory: None,
    }
}

/// The enabled plugins: their hooks join the settings', their MCP servers the others'
/// (what is wrong with them is told on stderr).
/// Interactive, the marketplaces and plugins the (trusted) settings declare are provided
/// first: the trust question was the one asked.
fn with_plugins(
    settings: &mut Settings,
    servers: &mut Vec<ServerConfig>,
    locations: &Locations,
    env: Env,
    interactive: bool,
) -> crate::plugins::Loaded {
    let homes = policy::plugin_homes(settings, locations);
    if interactive {
        for line in homes.provide(&settings.extra_known_marketplaces, &settings.enabled_plugins) {
            crate::stderr_line!("cairn: {line}");
        }
    }
    let loaded = crate::plugins::load(&settings.enabled_plugins, &homes);
    settings.hooks.extend(loaded.hooks());
    let (theirs, warnings) = loaded.mcp_servers(&env);
    servers.extend(theirs);
    for warning in loaded.warnings.iter().chain(&warnings) {
        crate::stderr_line!("cairn: warning: {warning}");
    }
    loaded
}

/// Where the memory files are, and the auto memory folder unless `autoMemoryEnabled: false`
/// or `CLAUDE_CODE_DISABLE_AUTO_MEMORY=1` turns it off.
fn memory_paths(cwd: &Path, home: &Path, settings: &Settings, claude: Option<&Path>, env: Env) -> MemoryPaths {
    let claude_dir = settings.claude_compat.then(|| claude.map(Path::to_path_buf)).flatten();
    let off = env("CLAUDE_CODE_DISABLE_AUTO_MEMORY").is_some_and(|v| v == "1" || v == "true");
    let folder = crate::session::project_folder_name(cwd);
    let auto = (!off && settings.auto_memory_enabled != Some(false))
        .then(|| MemoryPaths::auto_dir(home, claude_dir.as_deref(), &folder));
    MemoryPaths { project: cwd.to_path_buf(), cairn_home: home.to_path_buf(), claude_dir, auto }
}

/// Prompt suggestions and speculation: the interactive UI's, on unless a setting
/// (`promptSuggestionEnabled`, `speculationEnabled`) or `CAIRN_PROMPT_SUGGESTIONS=0` turns
/// them off; speculation works on suggestions, so it needs them.
fn ahead(settings: &Settings, front_end: &FrontEnd, env: Env) -> crate::agent::speculate::Ahead {
    let off = env("CAIRN_PROMPT_SUGGESTIONS").is_some_and(|v| v == "0" || v == "false");
    let suggest = matches!(front_end, FrontEnd::Tui(_)) && !off && settings.prompt_suggestion_enabled != Some(false);
    let speculate = suggest && settings.speculation_enabled != Some(false);
    crate::agent::speculate::Ahead { suggest, speculate, drafts: speculate && settings.speculate_drafts == Some(true) }
}

/// `--json-schema`: a JSON Schema (text, or a file holding it) the final answer must match.
fn output_schema(flag: Option<&str>) -> Result<Option<serde_json::Value>> {
    let Some(flag) = flag else { return Ok(None) };
    let text = if flag.trim_start().starts_with('{') {
        flag.to_owned()
    } else {
        std::fs::read_to_string(flag).with_context(|| format!("--json-schema {flag}: not JSON, and not a file"))?
    };
    let schema: serde_json::Value = serde_json::from_str(&text).context("--json-schema is not valid JSON")?;
    if let Err(e) = jsonschema::validator_for(&schema) {
        bail!("--json-schema is not a usable JSON Schema: {e}");
    }
    Ok(Some(schema))
}

/// `mcp__server__tool` as (server, tool).
fn prompt_tool(name: &str) -> Option<(String, String)> {
    let (server, tool) = name.strip_prefix("mcp__")?.split_once("__")?;
    (!server.is_empty() && !tool.is_empty()).then(|| (server.to_owned(), tool.to_owned()))
}

/// `--setting-sources user,project,local`: the settings levels read.
fn setting_sources(list: Option<&str>) -> Result<Option<Vec<Level>>> {
    let Some(list) = list else { return Ok(None) };
    let mut levels = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        levels.push(match name {
            "user" => Level::User,
            "project" => Level::Project,
            "local" => Level::Local,
            other => bail!("--setting-sources: unknown source {other:?} (use user, project, local)"),
        });
    }
    Ok(Some(levels))
}

/// The MCP servers the configuration names, less the project's that settings disable.
fn mcp_servers(cli: &Cli, settings: &Settings, cwd: &Path, home: &Path, process_env: Env) -> Vec<ServerConfig> {
    let sources = Sources {
        project: cwd.to_path_buf(),
        cairn_home: home.to_path_buf(),
        claude_json: settings
            .claude_compat
            .then(|| process_env("HOME").map(|h| PathBuf::from(h).join(".claude.json")))
            .flatten(),
        flags: cli.mcp_config.clone(),
        only_flags: cli.strict_mcp_config,
    };
    let mut mcp = sources.load(&process_env);
    for warning in &mcp.warnings {
        crate::stderr_line!("cairn: warning: {warning}");
    }
    mcp.servers.retain(|s| s.scope != Scope::Project || !settings.disabled_mcpjson_servers.contains(&s.name));
    mcp.servers
}

/// The interactive UI asks before a project's own settings may run anything (hooks, an
/// API key helper, allow rules, its `.mcp.json` servers not already allowed); the answer
/// "yes" is remembered. Without it, those settings and servers are dropped for this run.
/// `-p`, or a standard input that is not a terminal (nobody to ask), trusts the folder.
/// Whether it is trusted.
fn settle_trust(
    cli: &Cli,
    cwd: &Path,
    home: &Path,
    settings: &mut Settings,
    servers: &mut Vec<ServerConfig>,
) -> Result<bool> {
    if cli.print || !std::io::stdin().is_terminal() || trust::is_trusted(home, cwd) {
        return Ok(true);
    }
    let project_servers: Vec<String> = servers
        .iter()
        .filter(|s| s.scope == Scope::Project)
        .filter(|s| {
            settings.enable_all_project_mcp_servers != Some(true) && !settings.enabled_mcpjson_servers.contains(&s.name)
        })
        .map(|s| s.name.clone())
        .collect();
    let mut wanted = settings.needs_trust();
    if !project_servers.is_empty() {
        wanted.push(format!(".mcp.json: MCP servers ({})", project_servers.join(", ")));
    }
    if wanted.is_empty() {
        return Ok(true);
    }
    if ask_trust(cwd, &wanted)? {
        if let Err(e) = trust::remember(home, cwd) {
            crate::stderr_line!("cairn: could not remember the answer: {e}");
        }
        return Ok(true);
    }
    *settings = std::mem::take(settings).untrusted();
    servers.retain(|s| !project_servers.contains(&s.name));
    Ok(false)
}

/// Asks on the terminal whether the folder's settings may be used; `y` means yes.
fn ask_trust(cwd: &Path, wanted: &[String]) -> Result<bool> {
    crate::stderr_line!("This folder's settings would run commands or allow tools without asking:");
    for line in wanted {
        crate::stderr_line!("  {line}");
    }
    eprint!("Do you trust {}? [y/N] (remembered; anything else ignores them this time) ", cwd.display());
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// The settings' `env`, which counts as the environment over the shell's, with the key
/// the settings' `apiKeyHelper` prints when no key is set.
fn environment(cli: &Cli, settings: &Settings, process_env: Env) -> Result<BTreeMap<String, String>> {
    let mut env_map = settings.env.clone();
    let env = |name: &str| env_map.get(name).cloned().filter(|v| !v.trim().is_empty()).or_else(|| process_env(name));
    let helper_key = match &settings.api_key_helper {
        Some(helper) if config::needs_key(cli.provider, &env) => Some(config::run_api_key_helper(helper)?),
        _ => None,
    };
    if let Some(key) = helper_key {
        env_map.insert(config::key_variable(cli.provider).to_owned(), key);
    }
    Ok(env_map)
}

/// Opens the session the flags ask for. A resumed session keeps its model and permission
/// mode unless a flag says otherwise.
fn open_session(cli: &Cli, store: &Store, provider: &mut ProviderSettings) -> Result<Opened> {
    let mut opened = session::open(
        store,
        OpenRequest {
            continue_latest: cli.continue_session,
            resume: cli.resume.clone(),
            fork: cli.fork_session,
            session_id: cli.session_id.map(|id| id.to_string()),
            persist: !cli.no_session_persistence,
            interactive: !cli.print,
            at: cli.resume_session_at.clone(),
        },
    )?;
    if let Some(loaded) = &mut opened.loaded {
        match (&cli.model, &loaded.model) {
            (Some(_), _) => loaded.model = None,
            (None, Some(model)) => provider.model.clone_from(model),
            (None, None) => {}
        }
        if cli.permission_mode.is_some() || cli.dangerously_skip_permissions {
            loaded.permission_mode = None;
        }
    }
    Ok(opened)
}

/// `-p` prints (reading the prompt from the arguments and stdin); otherwise the
/// interactive UI, which needs a terminal.
fn front_end(
    cli: &Cli,
    settings: &Settings,
    provider: &ProviderSettings,
    model: &ModelInfo,
    store: &Store,
    opened: &Opened,
    home: &Path,
) -> Result<FrontEnd> {
    if cli.print {
        if cli.input_format == InputFormat::StreamJson && cli.output_format != OutputFormat::StreamJson {
            bail!("--input-format stream-json requires --output-format stream-json");
        }
        match cli.sdk.permission_prompt_tool.as_deref() {
            None => {}
            Some("stdio") if cli.input_format == InputFormat::StreamJson => {}
            Some("stdio") => bail!("--permission-prompt-tool stdio needs --input-format stream-json"),
            Some(other) if prompt_tool(other).is_some() => {}
            Some(other) => bail!("--permission-prompt-tool {other}: use `stdio` or an MCP tool, mcp__<server>__<tool>"),
        }
        let first_prompt = match cli.input_format {
            InputFormat::Text => Some(print::read_prompt(cli.prompt.clone()).map_err(anyhow::Error::msg)?),
            InputFormat::StreamJson => cli.prompt.clone(),
        };
        let options = PrintOptions {
            output: cli.output_format,
            input: cli.input_format,
            verbose: cli.verbose,
            include_partial_messages: cli.include_partial_messages,
            api_key_source: provider.api_key_source,
            replay_user_messages: cli.sdk.replay_user_messages,
            name: cli.sdk.name.clone(),
            debug: cli.sdk.debug.is_some(),
            include_hook_events: cli.sdk.include_hook_events,
        };
        return Ok(FrontEnd::Print { first_prompt, options });
    }
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!("the interactive UI needs a terminal; for scripts and pipes use `cairn -p \"your task\"`");
    }
    Ok(FrontEnd::Tui(Box::new(TuiOptions {
        fullscreen: cli.fullscreen || settings.fullscreen == Some(true),
        initial_prompt: cli.prompt.clone(),
        cwd: store.cwd.clone(),
        cairn_home: home.to_path_buf(),
        model: model.clone(),
        store: (!cli.no_session_persistence).then(|| store.clone()),
        pick_session: opened.pick,
        status_line: settings.status_line.as_ref().map(|s| s.command.clone()),
    })))
}

/// `--add-dir` folders (each must exist) and the settings' `additionalDirectories` (one
/// that does not is skipped with a warning).
fn add_dirs(cli: &Cli, settings: &Settings, cwd: &Path) -> Result<Vec<PathBuf>> {
    for dir in &cli.add_dir {
        if !cwd.join(dir).is_dir() {
            bail!("--add-dir {}: no such folder", dir.display());
        }
    }
    let mut add_dirs = cli.add_dir.clone();
    for dir in &settings.additional_directories {
        if dir.is_dir() {
            add_dirs.push(dir.clone());
        } else {
            crate::stderr_line!(
                "cairn: warning: permissions.additionalDirectories: {} is not a folder; it is skipped",
                dir.display()
            );
        }
    }
    Ok(add_dirs)
}
