//! The subcommands that do not start a session: `cairn sessions`, `cairn config check`,
//! `cairn mcp …` and `cairn plugin …`.

use anyhow::Result;

use super::{Cli, Command, ConfigAction, McpAction};
use crate::config::settings::{Locations, Settings};
use crate::mcp::config::Sources;
use crate::permissions::paths::Anchors;
use crate::permissions::{PermissionMode, PermissionPolicy, Rules};
use crate::secrets::Secrets;
use crate::session::{self, Store};

/// Runs `command`; the process's exit code.
pub fn run(command: &Command, cli: &Cli, cwd: std::path::PathBuf, process_env: super::resolve::Env) -> Result<i32> {
    let home = crate::config::cairn_home(&process_env);
    match command {
        // Run by `main` on the runtime.
        Command::Acp { .. } => Ok(0),
        Command::Sessions { all, json } => {
            let store = Store { home, cwd, git_branch: None, secrets: Secrets::default() };
            list_sessions(&store, *all, *json)
        }
        Command::Config { action: ConfigAction::Check } => {
            let locations = Locations::from_env(&cwd, &home, cli.settings.clone(), &process_env);
            Ok(check_settings(&locations))
        }
        Command::Mcp { action } => {
            let sources = Sources {
                project: cwd,
                cairn_home: home,
                claude_json: process_env("HOME").map(|h| std::path::PathBuf::from(h).join(".claude.json")),
                flags: cli.mcp_config.clone(),
                only_flags: false,
            };
            mcp_command(action, &sources, &process_env)
        }
        Command::Plugin { action } => {
            let locations = Locations::from_env(&cwd, &home, cli.settings.clone(), &process_env);
            let settings = Settings::load(&locations)?;
            super::plugin::run(action, &settings, &locations)
        }
    }
}

/// `--resume ID --rewind-files UUID`: the files back to how they were when that prompt was
/// sent; what was done on stdout. Exit code 1 when some file could not be brought back or
/// was left because someone else changed it.
pub fn rewind_files(cli: &Cli, cwd: std::path::PathBuf, process_env: super::resolve::Env) -> Result<i32> {
    let Some(Some(key)) = &cli.resume else {
        anyhow::bail!("--rewind-files needs the session: --resume <id> --rewind-files <message uuid>");
    };
    let to = cli.rewind_files.as_deref().unwrap_or_default();
    let home = crate::config::cairn_home(&process_env);
    let store = Store { home, cwd: cwd.clone(), git_branch: None, secrets: Secrets::default() };
    let path = store.find(key)?;
    // Not while another cairn has the session open (it would not see the files change).
    let id = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let _held = session::lock::acquire(&store.home, &id)?;
    let checkpoints = crate::tools::checkpoint::Checkpoints::open(&cwd, &session::sidecar_dir(&path));
    let Some(plan) = checkpoints.plan_rewind(to) else {
        anyhow::bail!("no prompt {to} with checkpoints in session {key} (prompts are listed by /rewind in the TUI)");
    };
    let report = checkpoints.apply(&plan, false, &format!("--rewind-files {to}"));
    println!("{}", report.summary());
    for path in &report.kept {
        println!("left as it is (changed by someone else since): {}", path.display());
    }
    Ok(i32::from(!(report.failed.is_empty() && report.lost.is_empty() && report.kept.is_empty())))
}

/// `cairn mcp …`.
fn mcp_command(action: &McpAction, sources: &Sources, env: &impl Fn(&str) -> Option<String>) -> Result<i32> {
    use crate::mcp::cli;
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
            crate::stderr_line!("cairn: {problem}");
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

/// `cairn config check`: every settings file, its problems, and an exit code of 1 if any is
/// an error.
fn check_settings(locations: &Locations) -> i32 {
    let settings = match Settings::load(locations) {
        Ok(settings) => settings,
        Err(unreadable) => {
            crate::stdout_line!("error: {unreadable}");
            return 1;
        }
    };
    if settings.sources.is_empty() {
        crate::stdout_line!("No settings files found (looked in ~/.claude, $CAIRN_HOME, .claude/ and .cairn/).");
    }
    for source in &settings.sources {
        let problems: Vec<_> = settings.diagnostics.iter().filter(|d| d.file == source.label).collect();
        let mark = if problems.is_empty() { "ok" } else { "problems" };
        crate::stdout_line!("{}: {mark}", source.label);
        for problem in problems {
            crate::stdout_line!("  {problem}");
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
        crate::stdout_line!("{}: permission rule {}: {}", problem.origin, problem.rule, problem.problem);
    }
    i32::from(settings.errors().next().is_some() || !problems.is_empty())
}
