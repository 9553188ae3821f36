//! cairn: a terminal coding agent.
//!
//! The architecture in one paragraph: a front end (`ui::print` for `-p`, `ui::tui`)
//! sends [`protocol::Op`]s to the core started by [`agent::spawn`] and renders the
//! [`protocol::Event`]s it sends back. The core runs one loop per user turn
//! (`agent::turn`): build the request from the history (`conversation::history`, repaired
//! before every request) and the system prompt (`agent::prompt`); stream it through a
//! [`provider::Provider`] (`provider::anthropic` or `provider::openai`, with backoff in
//! `provider::retry`); pass each tool call through the gate (schema validation, then
//! `permissions`); run the calls in `tools::scheduler` (read-only ones concurrently, the rest
//! alone, results in call order); append the results and repeat until the model is done.
//! Everything the history gains is recorded into the session's transcript (`session`: a
//! JSONL writer, a reader that rebuilds and repairs any transcript, Claude Code's included,
//! and the session list). `config` resolves flags and environment into what the core is
//! built from; `cost` prices the tokens. The core never prints.
//!
//! Layers, bottom first: a module uses only modules before it in this list, never one
//! after it (`tests/architecture.rs` reads every `crate::` path in `src/` and holds to it).
//!
//! `limits` → `location` → `secrets` → `memory` → `conversation` → `provider` → `cost` →
//! `permissions` → `hooks` → `custom` → `protocol` → `tools` → `session` → `mcp` → `config` →
//! `agent` → `ui` → `cli`
//!
//! The first four know nothing of the rest; `conversation` (messages, tool calls, usage) is
//! what everything above shares; `protocol` (the `Op`/`Event` interface) sits below the tools
//! and the session so they can report to the front ends; `agent` ties them into the loop;
//! `ui` and `cli` are the front ends and their flags.

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
pub mod hooks;
pub mod limits;
pub mod location;
pub mod mcp;
pub mod memory;
pub mod permissions;
pub mod protocol;
pub mod provider;
pub mod secrets;
pub mod session;
pub mod tools;
pub mod ui;
