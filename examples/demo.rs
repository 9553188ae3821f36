//! A keyless demo: cairn's real agent loop against the built-in mock LLM server.
//!
//! `cargo run --example demo` makes a small project in a temp folder, starts the mock with a
//! scripted "model", and drives cairn as a library through its protocol — the same `Op`s and
//! `Event`s the headless printer and the TUI use. The model streams its answer, reads two
//! files in parallel, asks to run a command (the demo approves it, as you would), and
//! sums up. Everything crosses real HTTP/SSE; nothing needs an API key.

#[path = "../tests/support/mock_llm/mod.rs"]
#[allow(dead_code, unused_imports)]
mod mock_llm;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cairn::agent::{self, AgentConfig};
use cairn::protocol::{ApprovalDecision, Event, Op, TurnStatus};
use cairn::provider::anthropic::{Anthropic, Credential};
use cairn::provider::{BlockStart, StreamEvent, http_client, models};
use mock_llm::{MockLlm, Scenario, Step};
use serde_json::json;

const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

fn scenario() -> Scenario {
    Scenario::new(vec![
        Step::tools(&[("Read", json!({"file_path": "src/lib.rs"})), ("Read", json!({"file_path": "NOTES.md"}))])
            .with_thinking("Start by reading the code and the notes.")
            .with_text("I'll read the code and the notes first.")
            .with_delay_ms(12),
        Step::tool("Bash", json!({"command": "grep -c 'fn ' src/lib.rs && wc -l NOTES.md", "description": "Count functions and note lines"}))
            .with_text("Two functions. Let me count with a command to be sure.")
            .with_delay_ms(12),
        Step::text(
            "This is a tiny Rust library with **2 functions**:\n\n\
             - `add(a, b)` returns the sum;\n\
             - `shout(s)` upper-cases a string.\n\n\
             `NOTES.md` has one open item: *add tests for `shout`*.",
        )
        .with_delay_ms(12),
    ])
}

fn write_project(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("src/lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\npub fn shout(s: &str) -> String {\n    s.to_uppercase()\n}\n",
    )?;
    std::fs::write(dir.join("NOTES.md"), "# Notes\n\n- add tests for `shout`\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let project = tempfile::tempdir()?;
    write_project(project.path())?;
    let mock = MockLlm::start(scenario());

    let provider =
        Anthropic::new(http_client()?, &mock.url(), Credential::ApiKey("demo".into()), Duration::from_secs(30));
    // The defaults: built-in tools, no rules or hooks, questions asked, nothing saved (set
    // `store` and `transcript` to keep the session).
    let mut agent = agent::spawn(AgentConfig {
        max_turns: Some(10),
        session_dir: project.path().join(".demo-session"),
        ..AgentConfig::new(Arc::new(provider), models::lookup("claude-sonnet-5"), project.path().to_path_buf())
    });

    let task = "What is in this project?";
    println!("{DIM}cairn demo · mock model at {} · project in {}{RESET}\n", mock.url(), project.path().display());
    println!("{BOLD}> {task}{RESET}\n");
    agent.ops.send(Op::user_text(task))?;

    let mut out = std::io::stdout();
    let mut in_text = false;
    while let Some(event) = agent.events.recv().await {
        match event {
            Event::Stream(StreamEvent::BlockStart { block: BlockStart::Text | BlockStart::Thinking, .. }) => {
                in_text = true
            }
            Event::Stream(StreamEvent::TextDelta { text, .. }) => {
                print!("{text}");
                out.flush()?;
            }
            Event::Stream(StreamEvent::ThinkingDelta { thinking, .. }) => {
                print!("{DIM}{thinking}{RESET}");
                out.flush()?;
            }
            Event::Stream(StreamEvent::BlockStop { .. }) if in_text => {
                in_text = false;
                println!();
            }
            Event::ToolCallStarted { name, input, .. } => {
                let arg =
                    input.get("file_path").or_else(|| input.get("command")).and_then(|v| v.as_str()).unwrap_or("");
                println!("{BOLD}● {name}{RESET}({arg})");
            }
            Event::ToolCallFinished { name, output, .. } => {
                let text = output.text_content();
                let lines = text.lines().count();
                let first = text.lines().next().unwrap_or("").trim();
                let mark = if output.is_error { format!("{RED}✗") } else { format!("{GREEN}✓") };
                println!("  {mark}{RESET} {DIM}{name}: {first} ({lines} lines){RESET}");
            }
            Event::ApprovalRequest { call_id, tool, input, .. } => {
                println!(
                    "{BOLD}? Allow {tool}: {}{RESET} — yes {DIM}(the demo answers for you){RESET}",
                    input["command"]
                );
                agent.ops.send(Op::ApprovalAnswer { call_id, decision: ApprovalDecision::Allow })?;
            }
            Event::Retrying { attempt, max_attempts, delay, error, .. } => {
                println!(
                    "{DIM}{error}: retrying in {:.1} s (attempt {attempt}/{max_attempts}){RESET}",
                    delay.as_secs_f64()
                );
            }
            Event::TurnComplete(outcome) | Event::TurnAborted(outcome) => {
                let status = match &outcome.status {
                    TurnStatus::Success => "done".to_owned(),
                    other => format!("{other:?}"),
                };
                println!(
                    "\n{DIM}{status} · {} model requests · {} tokens in, {} out · ${:.4} · {} ms{RESET}",
                    outcome.num_turns,
                    outcome.usage.context_tokens(),
                    outcome.usage.output_tokens,
                    outcome.total_cost_usd,
                    outcome.duration.as_millis()
                );
                break;
            }
            _ => {}
        }
    }
    agent.ops.send(Op::Shutdown)?;
    println!("{DIM}Run it for real: ANTHROPIC_API_KEY=… cargo run --release -- -p \"{task}\"{RESET}");
    Ok(())
}
