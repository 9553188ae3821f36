//! The `cairn` binary: parse the flags, resolve them into a configuration, start the core,
//! and hand it to a front end — the TUI, or the headless printer with `-p`. Every error a
//! user can cause here ends as one line on stderr and a non-zero exit code, never a
//! backtrace.

use std::io::IsTerminal;
use std::process::exit;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;

use cairn::agent::{self, AgentConfig, ApprovalMode, prompt};
use cairn::cli::{Cli, Command, ConfigAction};
use cairn::config::{self, settings::Locations, settings::Settings, trust};
use cairn::hooks::Hooks;
use cairn::memory::MemoryPaths;
use cairn::permissions::paths::Anchors;
use cairn::permissions::{Origin, PermissionMode, PermissionPolicy, PermissionRule, Rules};
use cairn::provider::models;
use cairn::secrets::Secrets;
use cairn::session::{self, OpenRequest, Store};
use cairn::tools::ToolRegistry;
use cairn::tools::bash::shells::ShellRegistry;
use cairn::ui::print::{self, InputFormat, OutputFormat, PrintOptions};
use cairn::ui::tui::{self, TuiOptions};

fn main() {
    // The user's other processes — a tool's command among them — cannot read cairn's
    // memory or environment (the API key) through /proc or a debugger.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => exit(code),
        Err(error) => {
            cairn::stderr_line!("cairn: {error:#}");
            exit(1);
        }
    }
}

/// What the session starts with: the prompt and how it is shown.
enum FrontEnd {
    Print { first_prompt: Option<String>, options: PrintOptions },
    Tui(TuiOptions),
}

fn run(cli: Cli) -> Result<i32> {
    let process_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let cwd = std::env::current_dir().context("the current directory is not readable")?;
    let home = config::cairn_home(&process_env);
    match &cli.command {
        Some(Command::Sessions { all, json }) => {
            let store = Store { home, cwd, git_branch: None, secrets: Secrets::default() };
            return list_sessions(&store, *all, *json);
        }
        Some(Command::Config { action: ConfigAction::Check }) => {
            let locations = Locations::from_env(&cwd, &home, cli.settings.clone(), &process_env);
            return Ok(check_settings(&locations));
        }
        Some(Command::Mcp { action }) => {
            let sources = cairn::mcp::config::Sources {
                project: cwd.clone(),
                cairn_home: home.clone(),
                claude_json: process_env("HOME").map(|h| std::path::PathBuf::from(h).join(".claude.json")),
                flags: cli.mcp_config.clone(),
                only_flags: false,
            };
            return mcp_command(action, &sources, &process_env);
        }
        None => {}
    }
    let locations = Locations::from_env(&cwd, &home, cli.settings.clone(), &process_env);
    let mut settings = Settings::load(&locations)?;
    for diagnostic in &settings.diagnostics {
        cairn::stderr_line!("cairn: {diagnostic}");
    }
    let mut trusted = true;
    let mcp_sources = cairn::mcp::config::Sources {
        project: cwd.clone(),
        cairn_home: home.clone(),
        claude_json: settings
            .claude_compat
            .then(|| process_env("HOME").map(|h| std::path::PathBuf::from(h).join(".claude.json")))
            .flatten(),
        flags: cli.mcp_config.clone(),
        only_flags: cli.strict_mcp_config,
    };
    let mut mcp = mcp_sources.load(&process_env);
    for warning in &mcp.warnings {
        cairn::stderr_line!("cairn: warning: {warning}");
    }
    // A project's `.mcp.json` servers run only with the user's say-so: named in settings,
    // all allowed there, or the folder trusted (asked below, once); `-p` runs them.
    mcp.servers.retain(|s| {
        s.scope != cairn::mcp::config::Scope::Project || !settings.disabled_mcpjson_servers.contains(&s.name)
    });
    let project_servers: Vec<String> = mcp
        .servers
        .iter()
        .filter(|s| s.scope == cairn::mcp::config::Scope::Project)
        .filter(|s| {
            settings.enable_all_project_mcp_servers != Some(true) && !settings.enabled_mcpjson_servers.contains(&s.name)
        })
        .map(|s| s.name.clone())
        .collect();
    // The interactive UI asks before a project's own settings may run anything.
    if !cli.print && std::io::stdin().is_terminal() && !trust::is_trusted(&home, &cwd) {
        let mut wanted = settings.needs_trust();
        if !project_servers.is_empty() {
            wanted.push(format!(".mcp.json: MCP servers ({})", project_servers.join(", ")));
        }
        if !wanted.is_empty() {
            if ask_trust(&cwd, &wanted)? {
                if let Err(e) = trust::remember(&home, &cwd) {
                    cairn::stderr_line!("cairn: could not remember the answer: {e}");
                }
            } else {
                settings = settings.untrusted();
                trusted = false;
                mcp.servers.retain(|s| !project_servers.contains(&s.name));
            }
        }
    }
    // The settings' `env` counts as the environment, over the shell's.
    let mut env_map: std::collections::BTreeMap<String, String> = settings.env.clone();
    let env = |name: &str| env_map.get(name).cloned().filter(|v| !v.trim().is_empty()).or_else(|| process_env(name));
    let helper_key = match &settings.api_key_helper {
        Some(helper) if config::needs_key(cli.provider, &env) => Some(config::run_api_key_helper(helper)?),
        _ => None,
    };
    if let Some(key) = helper_key {
        env_map.insert(config::key_variable(cli.provider).to_owned(), key);
    }
    let env = |name: &str| env_map.get(name).cloned().filter(|v| !v.trim().is_empty()).or_else(|| process_env(name));
    let model_choice =
        cli.model.clone().or_else(|| env(config::model_variable(cli.provider))).or_else(|| settings.model.clone());
    let mut provider_settings =
        config::resolve_provider(cli.provider, model_choice.as_deref(), cli.base_url.as_deref(), &env)?;
    let knobs = config::knobs(&env)?;
    let compaction = config::compaction(&settings, &env)?;
    let memory = MemoryPaths {
        project: cwd.clone(),
        cairn_home: home.clone(),
        claude_dir: settings.claude_compat.then(|| locations.claude_dir.clone()).flatten(),
    };
    let custom = cairn::custom::Locations {
        project: cwd.clone(),
        cairn_home: home.clone(),
        claude_dir: memory.claude_dir.clone(),
        watch: !cli.print || cli.input_format == InputFormat::StreamJson,
    };
    let secrets = config::secrets(&provider_settings, &env);
    let store = Store { home: home.clone(), cwd: cwd.clone(), git_branch: config::git_branch(&cwd), secrets };
    let mut opened = session::open(
        &store,
        OpenRequest {
            continue_latest: cli.continue_session,
            resume: cli.resume.clone(),
            fork: cli.fork_session,
            session_id: cli.session_id.map(|id| id.to_string()),
            persist: !cli.no_session_persistence,
            interactive: !cli.print,
        },
    )?;
    // A resumed session keeps its model and permission mode unless a flag says otherwise.
    if let Some(loaded) = &mut opened.loaded {
        match (&cli.model, &loaded.model) {
            (Some(_), _) => loaded.model = None,
            (None, Some(model)) => provider_settings.model.clone_from(model),
            (None, None) => {}
        }
        if cli.permission_mode.is_some() || cli.dangerously_skip_permissions {
            loaded.permission_mode = None;
        }
    }
    let mut model = models::lookup(&provider_settings.model);
    if let Some(window) = compaction.window {
        model.context_window = window;
    }
    let front_end = if cli.print {
        if cli.input_format == InputFormat::StreamJson && cli.output_format != OutputFormat::StreamJson {
            bail!("--input-format stream-json requires --output-format stream-json");
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
            api_key_source: provider_settings.api_key_source,
        };
        FrontEnd::Print { first_prompt, options }
    } else {
        if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
            bail!("the interactive UI needs a terminal; for scripts and pipes use `cairn -p \"your task\"`");
        }
        FrontEnd::Tui(TuiOptions {
            fullscreen: cli.fullscreen || settings.fullscreen == Some(true),
            initial_prompt: cli.prompt.clone(),
            cwd: cwd.clone(),
            cairn_home: home.clone(),
            model: model.clone(),
            store: (!cli.no_session_persistence).then(|| store.clone()),
            pick_session: opened.pick,
            status_line: settings.status_line.as_ref().map(|s| s.command.clone()),
        })
    };

    // Plan and bypass modes are never carried over from a resumed session.
    let resumed_mode = opened
        .loaded
        .as_ref()
        .and_then(|l| l.permission_mode)
        .filter(|m| matches!(m, PermissionMode::Default | PermissionMode::AcceptEdits));
    let mut warn = |message: String| cairn::stderr_line!("cairn: warning: {message}");
    let permissions = permission_policy(&cli, &settings, &cwd, &process_env, resumed_mode, &mut warn)?;
    let mut tools = ToolRegistry::builtin();
    tools.retain(|name| !permissions.removes_tool(name));
    let hooks = hooks_of(&settings, &cwd, &mut warn);
    let mut system_prompt = cli.system_prompt.clone().unwrap_or_else(|| prompt::system_prompt(&cwd));
    if let Some(extra) = &cli.append_system_prompt {
        system_prompt.push_str("\n\n");
        system_prompt.push_str(extra);
    }
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
            cairn::stderr_line!(
                "cairn: warning: permissions.additionalDirectories: {} is not a folder; it is skipped",
                dir.display()
            );
        }
    }
    // Every process the tools start dies with cairn, whichever way it goes: normal end,
    // signal, error, or panic.
    let shells = ShellRegistry::new();
    let on_panic = Arc::clone(&shells);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        on_panic.kill_all();
        default_hook(info);
    }));

    let approvals = match front_end {
        FrontEnd::Print { .. } => ApprovalMode::Refuse,
        FrontEnd::Tui(_) => ApprovalMode::Ask,
    };
    let max_budget_usd = cli.max_budget_usd;
    let max_turns = cli.max_turns;
    let no_persistence = cli.no_session_persistence;
    let reloader = settings_reloader(Arc::new(cli), locations.clone(), cwd.clone(), trusted);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let agent_shells = Arc::clone(&shells);
    let code = runtime.block_on(async move {
        let provider = provider_settings.connect(knobs.idle_timeout).context("setting up the HTTP client")?;
        let agent = agent::spawn(AgentConfig {
            provider,
            model,
            system_prompt,
            tools,
            permissions,
            approvals,
            retry: knobs.retry,
            max_turns,
            cwd,
            add_dirs,
            session_id: opened.session_id,
            session_dir: opened.sidecar,
            shells: agent_shells,
            secrets: store.secrets.clone(),
            store: (!no_persistence).then_some(store),
            transcript: opened.transcript,
            resumed: opened.loaded,
            hooks: Arc::new(hooks),
            env: settings.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            compaction,
            memory,
            max_budget_usd,
            custom,
            reload_settings: Some(reloader),
            mcp_servers: mcp.servers,
        });
        match front_end {
            FrontEnd::Print { first_prompt, options } => anyhow::Ok(print::run(agent, first_prompt, options).await),
            FrontEnd::Tui(options) => tui::run(agent, options).await.context("the terminal"),
        }
    });
    shells.kill_all();
    // A blocking read still in flight (a tool stuck on a slow file) must not hold up the exit.
    runtime.shutdown_background();
    code
}

/// `cairn mcp …`.
fn mcp_command(
    action: &cairn::cli::McpAction,
    sources: &cairn::mcp::config::Sources,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<i32> {
    use cairn::cli::McpAction;
    use cairn::mcp::cli;
    let done = match action {
        McpAction::List => Ok(cli::list(sources, env)),
        McpAction::Get { name } => cli::get(sources, env, name),
        McpAction::Add { transport, scope, env: vars, headers, name, target, args } => {
            cli::add(sources, &cli::AddRequest { name, transport, scope, target, args, env: vars, headers })
                .map(|line| line + "\n")
        }
        McpAction::Remove { name, scope } => cli::remove(sources, name, scope.as_deref()).map(|line| line + "\n"),
    };
    match done {
        Ok(text) => {
            print!("{text}");
            Ok(0)
        }
        Err(problem) => {
            cairn::stderr_line!("cairn: {problem}");
            Ok(1)
        }
    }
}

/// `cairn sessions`: the table, or JSON with `--json`.
fn list_sessions(store: &Store, all: bool, json: bool) -> Result<i32> {
    let sessions = session::list::sessions(store, all);
    let out = if json {
        serde_json::to_string_pretty(&sessions)? + "\n"
    } else {
        session::list::table(&sessions, all, std::time::SystemTime::now())
    };
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())?;
    Ok(0)
}

/// The hooks the settings configure (none with `disableAllHooks`).
fn hooks_of(settings: &Settings, cwd: &std::path::Path, warn: &mut dyn FnMut(String)) -> Hooks {
    if settings.disable_all_hooks {
        return Hooks::default();
    }
    let env: Vec<(String, String)> = settings.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let (hooks, problems) = Hooks::new(&settings.hooks, cwd, env);
    for problem in problems {
        warn(format!("{}: hooks.{}: {}", problem.source, problem.event, problem.problem));
    }
    hooks
}

/// Reads the settings files again while the session runs (the watcher saw one change):
/// the permission rules (the flags' included) and the hooks, with what is wrong in them.
fn settings_reloader(
    cli: Arc<Cli>,
    locations: Locations,
    cwd: std::path::PathBuf,
    trusted: bool,
) -> agent::SettingsReloader {
    Arc::new(move || {
        let process_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut settings = Settings::load(&locations).map_err(|e| e.to_string())?;
        if !trusted {
            settings = settings.untrusted();
        }
        let mut warnings: Vec<String> = settings.diagnostics.iter().map(ToString::to_string).collect();
        let mut warn = |message: String| warnings.push(message);
        let policy =
            permission_policy(&cli, &settings, &cwd, &process_env, None, &mut warn).map_err(|e| format!("{e:#}"))?;
        let hooks = hooks_of(&settings, &cwd, &mut warn);
        Ok(agent::ReloadedSettings { permissions: policy, hooks, warnings })
    })
}

/// The permission rules of the run: the settings files' and the flags', in the mode the
/// flags, a resumed session or the settings ask for.
fn permission_policy(
    cli: &Cli,
    settings: &Settings,
    cwd: &std::path::Path,
    env: &impl Fn(&str) -> Option<String>,
    resumed: Option<PermissionMode>,
    warn: &mut dyn FnMut(String),
) -> Result<PermissionPolicy> {
    let flag = |name: &str| Origin { label: name.to_owned(), dir: cwd.to_path_buf() };
    let mut rules = Rules { allow: settings.allow.clone(), ask: settings.ask.clone(), deny: settings.deny.clone() };
    rules
        .allow
        .extend(PermissionRule::parse_list(&cli.allowed_tools)?.into_iter().map(|r| (r, flag("--allowedTools"))));
    rules
        .deny
        .extend(PermissionRule::parse_list(&cli.disallowed_tools)?.into_iter().map(|r| (r, flag("--disallowedTools"))));
    let asked =
        if cli.dangerously_skip_permissions { Some(PermissionMode::BypassPermissions) } else { cli.permission_mode };
    if asked == Some(PermissionMode::BypassPermissions) && settings.disable_bypass {
        bail!("bypassPermissions mode is turned off by a setting (permissions.disableBypassPermissionsMode)");
    }
    let mut mode = asked.or(resumed).or(settings.default_mode).unwrap_or_default();
    if mode == PermissionMode::BypassPermissions && settings.disable_bypass {
        warn("permissions.defaultMode bypassPermissions is turned off by a setting; using default".into());
        mode = PermissionMode::Default;
    }
    let anchors =
        Anchors { settings_dir: cwd.to_path_buf(), project_dir: cwd.to_path_buf(), home: env("HOME").map(Into::into) };
    let (mut policy, problems) = PermissionPolicy::new(mode, rules, anchors);
    for problem in problems {
        warn(format!("{}: permission rule {}: {}", problem.origin, problem.rule, problem.problem));
    }
    // Deny rules that cannot be read fail closed: no run without them headless, and every
    // call asked in the UI.
    if !settings.unknown_rules.is_empty() {
        let unknown = settings.unknown_rules.join("; ");
        if cli.print {
            bail!(
                "permission rules cannot be read ({unknown}); what they deny is unknown, so cairn does not run headless. Fix the file (`cairn config check` shows every problem)."
            );
        }
        warn(format!("permission rules cannot be read ({unknown}); every tool call will be asked until it is fixed"));
        policy.fail_closed(format!("permission rules cannot be read ({unknown})"));
    }
    Ok(policy)
}

/// `cairn config check`: every settings file, its problems, and an exit code of 1 if any is
/// an error.
fn check_settings(locations: &Locations) -> i32 {
    let settings = match Settings::load(locations) {
        Ok(settings) => settings,
        Err(unreadable) => {
            cairn::stdout_line!("error: {unreadable}");
            return 1;
        }
    };
    if settings.sources.is_empty() {
        cairn::stdout_line!("No settings files found (looked in ~/.claude, $CAIRN_HOME, .claude/ and .cairn/).");
    }
    for source in &settings.sources {
        let problems: Vec<_> = settings.diagnostics.iter().filter(|d| d.file == source.label).collect();
        let mark = if problems.is_empty() { "ok" } else { "problems" };
        cairn::stdout_line!("{}: {mark}", source.label);
        for problem in problems {
            cairn::stdout_line!("  {problem}");
        }
    }
    let anchors = Anchors {
        settings_dir: locations.cwd.clone(),
        project_dir: locations.cwd.clone(),
        home: locations.home.clone(),
    };
    let rules = Rules { allow: settings.allow.clone(), ask: settings.ask.clone(), deny: settings.deny.clone() };
    let (_, problems) = PermissionPolicy::new(PermissionMode::Default, rules, anchors);
    for problem in &problems {
        cairn::stdout_line!("{}: permission rule {}: {}", problem.origin, problem.rule, problem.problem);
    }
    i32::from(settings.errors().next().is_some() || !problems.is_empty())
}

/// Asks on the terminal whether the folder's settings may be used; `y` means yes.
fn ask_trust(cwd: &std::path::Path, wanted: &[String]) -> Result<bool> {
    cairn::stderr_line!("This folder's settings would run commands or allow tools without asking:");
    for line in wanted {
        cairn::stderr_line!("  {line}");
    }
    eprint!("Do you trust {}? [y/N] (remembered; anything else ignores them this time) ", cwd.display());
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}
