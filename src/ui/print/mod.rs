//! Headless front end (`-p`): text, json or stream-json on stdout, in Claude Code's shapes.
//!
//! [`run`] feeds the prompt to the core (with `--input-format stream-json`, `control` speaks
//! the Agent SDKs' protocol on stdin instead) and hands what comes back to the [`Printer`] of
//! the output format: `text` prints the final answer; `json` one `result` object per turn;
//! `stream-json` one line per message (its lines are listed in `stream_json`). SIGINT,
//! SIGTERM and SIGHUP interrupt the turn (the core answers every
//! open tool call), print its result and exit 130, 143 or 129; a second signal exits at
//! once.

mod control;
mod json;
mod stream_json;
mod text;

use std::io::{IsTerminal, Write};

use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};

use crate::agent::AgentHandle;
use crate::conversation::history::ContentBlock;
use crate::protocol::{Event, Op, TurnOutcome, UserInput};
pub use json::result_object;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    StreamJson,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    Text,
    StreamJson,
}

#[derive(Clone, Debug)]
pub struct PrintOptions {
    pub output: OutputFormat,
    pub input: InputFormat,
    pub verbose: bool,
    pub include_partial_messages: bool,
    /// Reported in `system/init`.
    pub api_key_source: &'static str,
    /// `--replay-user-messages`.
    pub replay_user_messages: bool,
    /// `-n/--name`: the session's title.
    pub name: Option<String>,
    /// `-d/--debug`: the control protocol's traffic on stderr.
    pub debug: bool,
    /// `--include-hook-events`: a `system/hook_response` line per hook run.
    pub include_hook_events: bool,
}

/// Claude Code's limit on a piped prompt.
const MAX_STDIN_PROMPT: usize = 10 << 20;

/// The prompt of a `-p` run: the argument, piped stdin, or both (stdin then follows the
/// argument as `<stdin>` context).
pub fn read_prompt(argument: Option<String>) -> Result<String, String> {
    let stdin = std::io::stdin();
    let piped = if stdin.is_terminal() {
        None
    } else {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(stdin.lock(), MAX_STDIN_PROMPT as u64 + 1), &mut bytes)
            .map_err(|e| format!("could not read stdin: {e}"))?;
        if bytes.len() > MAX_STDIN_PROMPT {
            return Err("the piped input is larger than 10 MB".into());
        }
        Some(String::from_utf8_lossy(&bytes).into_owned()).filter(|s| !s.trim().is_empty())
    };
    match (argument.filter(|a| !a.trim().is_empty()), piped) {
        (Some(arg), Some(input)) => Ok(format!("{arg}\n\n<stdin>\n{}\n</stdin>", input.trim_end())),
        (Some(arg), None) => Ok(arg),
        (None, Some(input)) => Ok(input),
        (None, None) => {
            Err("Input must be provided either through stdin or as a prompt argument when using --print".into())
        }
    }
}

/// Drives the session; returns the process exit code.
pub async fn run(agent: AgentHandle, first_prompt: Option<String>, options: PrintOptions) -> i32 {
    if options.input == InputFormat::StreamJson {
        let printer = printer(&options);
        return control::run(agent, first_prompt, options, printer).await;
    }
    let AgentHandle { ops, mut events, task } = agent;
    let signals = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()));
    let (Ok(mut sigint), Ok(mut sigterm), Ok(mut sighup)) = signals else {
        crate::stderr_line!("cairn: could not install signal handlers");
        return 1;
    };
    if let Some(name) = options.name.clone() {
        let _ = ops.send(Op::Rename(name));
    }
    let mut printer = printer(&options);
    let Some(prompt) = first_prompt else { return 1 };
    let content = vec![ContentBlock::text(prompt)];
    if ops.send(Op::UserTurn(UserInput { content, ..UserInput::default() })).is_err() {
        return 1;
    }
    let mut exit_code = 0;
    let mut signalled: Option<i32> = None;
    loop {
        let code = tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return 1 };
                if let Event::HostRequest { id, .. } = &event {
                    let answer = Err("no host program drives this run (use --input-format stream-json)".to_owned());
                    let _ = ops.send(Op::HostAnswer { id: id.clone(), answer });
                }
                if let Some(is_error) = handle(printer.as_mut(), &event) {
                    if is_error {
                        exit_code = 1;
                    }
                    break;
                }
                continue;
            }
            _ = sigint.recv() => 130,
            _ = sigterm.recv() => 143,
            _ = sighup.recv() => 129,
        };
        // The first signal interrupts the turn and waits for its result; a second one
        // leaves at once (the caller still stops every process the tools started).
        if signalled.is_some() {
            return code;
        }
        signalled = Some(code);
        let _ = ops.send(Op::Interrupt);
    }
    if let Some(code) = signalled {
        return code;
    }
    let _ = ops.send(Op::Shutdown);
    let _ = task.await;
    exit_code
}

/// The content of a `{"type": "user", "message": {"role": "user", "content": …}}` line.
fn parse_user_message(value: &Value) -> Result<Vec<ContentBlock>, String> {
    let content = value.pointer("/message/content").ok_or("the user message has no message.content")?;
    match content {
        Value::String(text) => Ok(vec![ContentBlock::text(text.clone())]),
        blocks => serde_json::from_value(blocks.clone()).map_err(|e| format!("bad message.content: {e}")),
    }
}

/// What an output format does with the core's events.
pub trait Printer {
    /// Shows one event that is not the end of a turn.
    fn event(&mut self, event: &Event);
    /// Shows how a turn ended; whether it counts as an error (exit code 1).
    fn turn_ended(&mut self, outcome: &TurnOutcome) -> bool;
}

/// The printer of an output format.
fn printer(options: &PrintOptions) -> Box<dyn Printer> {
    match options.output {
        OutputFormat::Text => Box::new(text::Text::new(options.verbose)),
        OutputFormat::Json => Box::new(json::Json::new(options.verbose)),
        OutputFormat::StreamJson => Box::new(stream_json::StreamJson::new(options)),
    }
}

/// Hands one event to the printer; at the end of a turn, whether it was an error.
fn handle(printer: &mut dyn Printer, event: &Event) -> Option<bool> {
    match event {
        Event::TurnComplete(outcome) | Event::TurnAborted(outcome) => Some(printer.turn_ended(outcome)),
        other => {
            printer.event(other);
            None
        }
    }
}

/// Standard output; once a write fails (the reader went away), nothing more is written.
#[derive(Default)]
struct Output {
    broken: bool,
}

impl Output {
    /// One JSON value on a line of its own.
    fn line(&mut self, value: &Value) {
        if self.broken {
            return;
        }
        let mut out = std::io::stdout().lock();
        let written = serde_json::to_writer(&mut out, value)
            .map_err(std::io::Error::other)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        self.broken = written.is_err();
    }

    fn text(&mut self, text: &str) {
        if self.broken {
            return;
        }
        let mut out = std::io::stdout().lock();
        let written = writeln!(out, "{text}").and_then(|()| out.flush());
        self.broken = written.is_err();
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The session id the `json` and `stream-json` lines carry: the latest the core told.
fn track_session(session_id: &mut String, event: &Event) {
    if let Event::SessionStarted(info) | Event::SessionChanged(info) = event {
        session_id.clone_from(&info.session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_messages_accept_string_and_block_content() {
        let parse = |line: &str| parse_user_message(&serde_json::from_str::<Value>(line).unwrap());
        assert_eq!(
            parse(r#"{"type":"user","message":{"role":"user","content":"hi"}}"#).unwrap(),
            vec![ContentBlock::text("hi")]
        );
        let blocks = r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"a"}]}}"#;
        assert_eq!(parse(blocks).unwrap(), vec![ContentBlock::text("a")]);
        assert!(parse(r#"{"type":"user"}"#).is_err());
    }
}
