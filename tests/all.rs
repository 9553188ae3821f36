//! cairn's integration tests: the built binary (or, for the protocol, the library) against
//! the scripted mock LLM server over real HTTP/SSE, in temp projects, with real processes
//! and real signals. One test binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod acp;
mod architecture;
mod asking;
mod bad_input;
mod checkpoints;
mod compaction;
mod custom;
mod faults;
mod headless;
mod hooks;
mod library;
mod mcp;
mod memory;
mod openai;
mod output_styles;
mod permissions;
mod plugins;
mod providers;
mod reasoning;
mod sandbox;
mod sdk;
mod sessions;
mod signals;
mod speculation;
mod subagents;
mod team;
mod tool_loop;
mod tools_bash;
mod tools_files;
mod tools_search;
mod tools_web_todo;
mod tui;
