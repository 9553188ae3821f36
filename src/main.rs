//! The `cairn` binary: parse the flags, resolve them with the settings and the environment
//! into a configuration (`cli::resolve`), start the core, and hand it to a front end — the
//! TUI, or the headless printer with `-p`. Every error a user can cause here ends as one
//! line on stderr and a non-zero exit code, never a backtrace.

use std::process::exit;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;

use cairn::agent;
use cairn::cli::resolve::{self, FrontEnd};
use cairn::cli::{Cli, commands};
use cairn::ui::{print, tui};

fn main() {
    // `cairn __sandbox POLICY -- COMMAND…`: the sandbox's launcher, before anything else.
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|a| a == cairn::sandbox::LAUNCHER_ARG) {
        cairn::sandbox::launch(args.collect());
    }
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

fn run(cli: Cli) -> Result<i32> {
    let process_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let cwd = std::env::current_dir().context("the current directory is not readable")?;
    if let Some(cairn::cli::Command::Acp { listen, allow_remote, .. }) = cli.command {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
        let sessions = Box::new(resolve::AcpSessions);
        let code = match listen {
            None => runtime.block_on(cairn::ui::acp::run_stdio(sessions)),
            Some(addr) => {
                let token = process_env("CAIRN_ACP_TOKEN").unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
                let listen = cairn::ui::acp::Listen { addr, token, remote: allow_remote };
                runtime.block_on(cairn::ui::acp::run_listening(sessions, listen)).map_err(anyhow::Error::msg)?
            }
        };
        runtime.shutdown_background();
        return Ok(code);
    }
    if cli.rewind_files.is_some() {
        return commands::rewind_files(&cli, cwd, &process_env);
    }
    if let Some(command) = &cli.command {
        return commands::run(command, &cli, cwd, &process_env);
    }
    let launch = resolve::resolve(cli, cwd, &process_env)?;
    // Every process the tools start dies with cairn, whichever way it goes: normal end,
    // signal, error, or panic.
    let shells = Arc::clone(&launch.agent.shells);
    let on_panic = Arc::clone(&shells);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        on_panic.kill_all();
        default_hook(info);
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let code = runtime.block_on(async move {
        let agent = agent::spawn(launch.agent);
        match launch.front_end {
            FrontEnd::Print { first_prompt, options } => anyhow::Ok(print::run(agent, first_prompt, options).await),
            FrontEnd::Tui(options) => tui::run(agent, *options).await.context("the terminal"),
        }
    });
    shells.kill_all();
    // A blocking read still in flight (a tool stuck on a slow file) must not hold up the exit.
    runtime.shutdown_background();
    code
}
