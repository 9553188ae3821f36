//! cairn: a terminal coding agent.
//!
//! The architecture in one paragraph: `main` parses the flags (`cli`), resolves them with
//! the settings files and the environment into one configuration (`cli::resolve`), starts
//! the core with [`agent::spawn`] and hands it to a front end (`ui::print` for `-p`, with
//! a printer per output format; `ui::tui`). The front end sends [`protocol::Op`]s and
//! renders the [`protocol::Event`]s that come back — data, never prose: the TUI words
//! them (`ui::answer`). In the core a session is three things: the `Services` it shares
//! with its sub-agents (provider, rules, hooks, approvals, store, MCP servers), the
//! `TurnContext` its turns run in (model, prompt, tools, limits) and its own state
//! (history, costs, transcript). Each user turn is one loop (`agent::turn`): build the
//! request from the history (`conversation::history`, repaired before every request);
//! stream it through a [`provider::Provider`] (with backoff in `provider::retry`); pass each
//! tool call through the gate (schema, hooks, `permissions`, the user); run the calls in
//! `tools::scheduler` (read-only ones concurrently, results in call order); append the
//! results and repeat until the model is done. Everything the history gains is recorded
//! into the session's transcript (`session`), so a crash loses at most one step. The core
//! never prints.
//!
//! Layers, bottom first: a module uses only modules before it in this list, never one
//! after it (`tests/architecture.rs` reads every `crate::` path in `src/` and holds to it,
//! and holds every file under 800 lines and every function under 100).
//!
//! `limits` → `location` → `secrets` → `frontmatter` → `memory` → `conversation` → `provider` → `cost` →
//! `permissions` → `sandbox` → `hooks` → `custom` → `protocol` → `tools` → `session` → `mcp` →
//! `plugins` → `config` → `agent` → `ui` → `cli`
//!
//! The first five know nothing of the rest (`frontmatter` reads the YAML block atop users'
//! markdown files); `conversation` (messages, tool calls and their
//! names, usage) is what everything above shares; `protocol` (the `Op`/`Event` interface,
//! which names hook and command types in its answers) sits below `tools` and `mcp`, which
//! report through it to the front ends; `sandbox` is the kernel's limits around commands;
//! `config`
//! reads settings files; `agent` ties everything into the loop; `ui` holds the front ends
//! and `cli` the flags and their resolution.

/// `eprintln!` that never panics: a closed stderr (`2>&-`, a reader that went away) loses
/// the line, not the run.
#[macro_export]
macro_rules! stderr_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that never panics (`cairn config check | head -1`).
#[macro_export]
macro_rules! stdout_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod agent;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod cost;
pub mod custom;
pub mod frontmatter;
pub mod hooks;
pub mod limits;
pub mod location;
pub mod mcp;
pub mod memory;
pub mod permissions;
pub mod plugins;
pub mod protocol;
pub mod provider;
pub mod sandbox;
pub mod secrets;
pub mod session;
pub mod tools;
pub mod ui;
