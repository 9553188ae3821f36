//! Headless front end (`-p`): text, json or stream-json on stdout, in Claude Code's shapes.
//!
//! [`run`] feeds user turns to the core (the prompt, then with `--input-format stream-json`
//! one per stdin line) and writes what comes back: `text` prints the final answer; `json`
//! one `result` object per turn; `stream-json` one line per message — `system/init`, one
//! `assistant` line per content block, a `user` line per tool result, `system/api_retry`,
//! `stream_event`s with `--include-partial-messages`, and the `result`. SIGINT, SIGTERM and
//! SIGHUP interrupt the turn (the core answers every open tool call), print its result and
//! exit 130, 143 or 129; a second signal exits at once.

use std::io::{IsTerminal, Write};

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{SignalKind, signal};

use crate::agent::AgentHandle;
use crate::conversation::history::ContentBlock;
use crate::cost::Usage;
use crate::protocol::{
    AssistantMessage, Event, Op, SessionInfo, TaskState, TaskUpdate, TurnErrorKind, TurnOutcome, TurnStatus, UserInput,
};
use crate::provider::{BlockStart, StreamEvent};
use crate::tools::ToolOutput;

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
    let AgentHandle { ops, mut events, task } = agent;
    let signals = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()));
    let (Ok(mut sigint), Ok(mut sigterm), Ok(mut sighup)) = signals else {
        crate::stderr_line!("cairn: could not install signal handlers");
        return 1;
    };
    let mut printer = Printer::new(options.clone());
    let mut stdin_turns =
        (options.input == InputFormat::StreamJson).then(|| tokio::io::BufReader::new(tokio::io::stdin()).lines());
    let mut next_turn = first_prompt.map(|p| vec![ContentBlock::text(p)]);
    let mut exit_code = 0;
    let mut signalled: Option<i32> = None;
    loop {
        let content = match next_turn.take() {
            Some(content) => content,
            None => {
                let Some(lines) = stdin_turns.as_mut() else { break };
                // Between turns, what the core says (a server ready, files reloaded) is
                // printed as it happens.
                let line = loop {
                    tokio::select! {
                        line = lines.next_line() => break line,
                        event = events.recv() => match event {
                            Some(event) => {
                                printer.handle(&event);
                            }
                            None => return 1,
                        },
                        _ = sigint.recv() => return 130,
                        _ = sigterm.recv() => return 143,
                        _ = sighup.recv() => return 129,
                    }
                };
                match line {
                    Ok(Some(line)) => match parse_input_line(&line) {
                        Ok(Some(content)) => content,
                        Ok(None) => continue,
                        Err(message) => {
                            crate::stderr_line!("cairn: ignoring a stdin line: {message}");
                            continue;
                        }
                    },
                    Ok(None) => break,
                    Err(e) => {
                        crate::stderr_line!("cairn: could not read stdin: {e}");
                        exit_code = 1;
                        break;
                    }
                }
            }
        };
        if ops.send(Op::UserTurn(UserInput { content, attachments: Vec::new() })).is_err() {
            return 1;
        }
        loop {
            let code = tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { return 1 };
                    if let Some(is_error) = printer.handle(&event) {
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
    }
    let _ = ops.send(Op::Shutdown);
    let _ = task.await;
    exit_code
}

/// One `--input-format stream-json` line: a user message, or a line to skip.
fn parse_input_line(line: &str) -> Result<Option<Vec<ContentBlock>>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    match value.get("type").and_then(Value::as_str) {
        Some("user") => {}
        Some(kind) if kind.starts_with("control") => return Ok(None),
        _ => return Err("expected {\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":…}}".into()),
    }
    let content = value.pointer("/message/content").ok_or("the user message has no message.content")?;
    match content {
        Value::String(text) => Ok(Some(vec![ContentBlock::text(text.clone())])),
        blocks => serde_json::from_value(blocks.clone()).map(Some).map_err(|e| format!("bad message.content: {e}")),
    }
}

/// Turns events into output lines.
struct Printer {
    options: PrintOptions,
    out: std::io::Stdout,
    session_id: String,
    broken: bool,
}

impl Printer {
    fn new(options: PrintOptions) -> Printer {
        Printer { options, out: std::io::stdout(), session_id: String::new(), broken: false }
    }

    fn streaming(&self) -> bool {
        self.options.output == OutputFormat::StreamJson
    }

    /// Handles one event; at the end of a turn returns whether it was an error.
    fn handle(&mut self, event: &Event) -> Option<bool> {
        match event {
            Event::SessionChanged(info) => self.session_id.clone_from(&info.session_id),
            Event::SessionStarted(info) => {
                self.session_id.clone_from(&info.session_id);
                if self.streaming() {
                    self.line(&self.init_line(info));
                }
            }
            Event::Stream(stream) => {
                if self.streaming() && self.options.include_partial_messages {
                    let line = json!({
                        "type": "stream_event", "event": raw_event(stream), "session_id": self.session_id,
                        "parent_tool_use_id": null, "uuid": uuid(),
                    });
                    self.line(&line);
                }
            }
            Event::AssistantMessage(message) => {
                if self.streaming() {
                    for block in &message.content {
                        let line = self.assistant_line(message, block);
                        self.line(&line);
                    }
                }
            }
            Event::ToolCallStarted { name, input, .. } => {
                if self.options.verbose && !self.streaming() {
                    crate::stderr_line!("→ {name} {}", summary(input));
                }
            }
            Event::ToolCallFinished { call_id, output, .. } => {
                if self.streaming() {
                    let line = self.tool_result_line(call_id, output);
                    self.line(&line);
                }
            }
            Event::Retrying { attempt, max_attempts, delay, error, status } => {
                if self.streaming() {
                    let line = json!({
                        "type": "system", "subtype": "api_retry", "attempt": attempt - 1,
                        "max_retries": max_attempts - 1, "retry_delay_ms": delay.as_secs_f64() * 1000.0,
                        "error_status": status, "error": error, "session_id": self.session_id, "uuid": uuid(),
                    });
                    self.line(&line);
                } else {
                    crate::stderr_line!(
                        "cairn: {error}; retrying in {:.1} s (attempt {attempt}/{max_attempts})",
                        delay.as_secs_f64()
                    );
                }
            }
            Event::ApprovalRequest { .. }
            | Event::Usage { .. }
            | Event::TodosChanged { .. }
            | Event::HistoryRestored { .. }
            | Event::EditFile { .. }
            | Event::Answer(_) => {}
            Event::Compacted { trigger, pre_tokens, post_tokens } => {
                if self.streaming() {
                    let line = json!({
                        "type": "system", "subtype": "compact_boundary", "session_id": self.session_id, "uuid": uuid(),
                        "compact_metadata": {"trigger": trigger, "pre_tokens": pre_tokens, "post_tokens": post_tokens},
                    });
                    self.line(&line);
                } else if self.options.verbose {
                    crate::stderr_line!("cairn: compacted the conversation ({pre_tokens} → {post_tokens} tokens)");
                }
            }
            Event::Task(task) => {
                if self.streaming() {
                    if let Some(line) = self.task_line(task) {
                        self.line(&line);
                    }
                } else if self.options.verbose && task.state == TaskState::Started {
                    crate::stderr_line!("→ {} agent: {}", task.agent_type, task.description);
                }
            }
            Event::Error { message } | Event::Notice { message } => crate::stderr_line!("cairn: {message}"),
            Event::TurnComplete(outcome) | Event::TurnAborted(outcome) => return Some(self.finish_turn(outcome)),
        }
        None
    }

    fn finish_turn(&mut self, outcome: &TurnOutcome) -> bool {
        let result = result_object(outcome, &self.session_id);
        let is_error = result["is_error"] == json!(true);
        match self.options.output {
            OutputFormat::Json | OutputFormat::StreamJson => self.line(&result),
            OutputFormat::Text => match &outcome.status {
                TurnStatus::Success => self.text(&outcome.result),
                TurnStatus::MaxTurns { limit } => self.text(&format!("Error: Reached max turns ({limit})")),
                TurnStatus::MaxBudget { limit } => self.text(&format!("Error: Exceeded USD budget ({limit})")),
                TurnStatus::Failed(error) => self.text(&error.message),
                TurnStatus::Interrupted => crate::stderr_line!("cairn: interrupted"),
                TurnStatus::HookStopped { reason } => crate::stderr_line!(
                    "cairn: stopped by a hook{}",
                    if reason.is_empty() { String::new() } else { format!(": {reason}") }
                ),
            },
        }
        is_error
    }

    fn init_line(&self, info: &SessionInfo) -> Value {
        json!({
            "type": "system", "subtype": "init", "cwd": info.cwd, "session_id": info.session_id,
            "tools": info.tools, "model": info.model,
            "mcp_servers": info.mcp_servers.iter().map(|(name, status)| json!({"name": name, "status": status})).collect::<Vec<_>>(),
            "permissionMode": info.permission_mode.as_str(),
            "slash_commands": info.commands.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            "apiKeySource": self.options.api_key_source, "cairn_version": env!("CARGO_PKG_VERSION"),
            "output_style": "default", "agents": info.agents,
            "skills": info.commands.iter().filter(|c| c.skill).map(|c| c.name.as_str()).collect::<Vec<_>>(),
            "plugins": [], "uuid": uuid(),
        })
    }

    /// `system/task_started` when a sub-agent starts, `task_progress` as it runs a tool,
    /// `task_notification` when it ends (Claude Code's lines).
    fn task_line(&self, task: &TaskUpdate) -> Option<Value> {
        let common = json!({
            "type": "system", "task_id": task.agent_id, "tool_use_id": task.call_id,
            "session_id": self.session_id, "uuid": uuid(),
        });
        let mut line = common;
        let extra = match task.state {
            TaskState::Started => json!({
                "subtype": "task_started", "description": task.description, "task_type": "local_agent",
                "subagent_type": task.agent_type,
            }),
            TaskState::Running if task.current_tool.is_some() => json!({
                "subtype": "task_progress", "description": task.description, "last_tool_name": task.current_tool,
                "usage": {"total_tokens": task.tokens, "tool_uses": task.tool_uses,
                          "duration_ms": task.elapsed.as_millis() as u64},
            }),
            TaskState::Running => return None,
            TaskState::Completed | TaskState::Failed | TaskState::Stopped => json!({
                "subtype": "task_notification", "status": task.state.as_str(),
                "summary": task.summary.clone().unwrap_or_default(),
                "usage": {"total_tokens": task.tokens, "tool_uses": task.tool_uses,
                          "duration_ms": task.elapsed.as_millis() as u64},
            }),
        };
        if let (Value::Object(line), Value::Object(extra)) = (&mut line, extra) {
            line.extend(extra);
        }
        Some(line)
    }

    fn assistant_line(&self, message: &AssistantMessage, block: &ContentBlock) -> Value {
        json!({
            "type": "assistant",
            "message": {
                "id": message.id, "type": "message", "role": "assistant", "model": message.model,
                "content": [block], "stop_reason": null, "stop_sequence": null, "usage": usage_json(&message.usage),
            },
            "parent_tool_use_id": null, "session_id": self.session_id, "uuid": uuid(),
        })
    }

    fn tool_result_line(&self, call_id: &str, output: &ToolOutput) -> Value {
        let block = ContentBlock::ToolResult {
            tool_use_id: call_id.to_owned(),
            content: output.content.clone(),
            is_error: output.is_error,
        };
        json!({
            "type": "user", "message": {"role": "user", "content": [block]},
            "parent_tool_use_id": null, "session_id": self.session_id, "uuid": uuid(),
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "tool_use_result": output.structured,
        })
    }

    fn line(&mut self, value: &Value) {
        if self.broken {
            return;
        }
        let mut out = self.out.lock();
        let written = serde_json::to_writer(&mut out, value)
            .map_err(std::io::Error::other)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        self.broken = written.is_err();
    }

    fn text(&mut self, text: &str) {
        let mut out = self.out.lock();
        let written = writeln!(out, "{text}").and_then(|()| out.flush());
        self.broken = written.is_err();
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "output_tokens": usage.output_tokens,
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
    })
}

/// The final `result` object of a turn (reference section 8.3).
pub fn result_object(outcome: &TurnOutcome, session_id: &str) -> Value {
    let (subtype, is_error, terminal_reason) = match &outcome.status {
        TurnStatus::Success => ("success", false, "completed"),
        TurnStatus::MaxTurns { .. } => ("error_max_turns", true, "max_turns"),
        TurnStatus::MaxBudget { .. } => ("error_max_budget_usd", true, "max_budget"),
        // Claude Code reports API errors as a "success" subtype with is_error set.
        TurnStatus::Failed(e) if e.kind == TurnErrorKind::ContextTooLong => ("success", true, "prompt_too_long"),
        TurnStatus::Failed(_) => ("success", true, "api_error"),
        TurnStatus::Interrupted => ("error_during_execution", true, "aborted"),
        TurnStatus::HookStopped { .. } => ("success", false, "hook_stopped"),
    };
    let model_usage: serde_json::Map<String, Value> =
        outcome.model_usage.iter().map(|(model, usage)| (model.clone(), json!(usage))).collect();
    let mut result = json!({
        "type": "result", "subtype": subtype, "is_error": is_error, "api_error_status": null,
        "duration_ms": outcome.duration.as_millis() as u64,
        "duration_api_ms": outcome.api_duration.as_millis() as u64,
        "num_turns": outcome.num_turns, "stop_reason": outcome.stop_reason,
        "session_id": session_id, "total_cost_usd": outcome.total_cost_usd,
        "usage": usage_json(&outcome.usage), "modelUsage": model_usage,
        "permission_denials": outcome.permission_denials, "terminal_reason": terminal_reason, "uuid": uuid(),
    });
    match &outcome.status {
        TurnStatus::Success => result["result"] = json!(outcome.result),
        TurnStatus::MaxTurns { limit } => {
            result["errors"] = json!([format!("Reached maximum number of turns ({limit})")]);
        }
        TurnStatus::MaxBudget { limit } => {
            result["errors"] = json!([format!("Reached maximum budget (${limit})")]);
        }
        TurnStatus::Failed(error) => {
            result["result"] = json!(error.message);
            result["api_error_status"] = json!(error.status);
        }
        TurnStatus::Interrupted => result["errors"] = json!(["Interrupted by the user"]),
        TurnStatus::HookStopped { .. } => result["result"] = json!(""),
    }
    result
}

/// A stream event as the raw Anthropic SSE object Claude Code puts in `stream_event` lines.
fn raw_event(event: &StreamEvent) -> Value {
    match event {
        StreamEvent::MessageStart { id, model, usage } => json!({
            "type": "message_start",
            "message": {"id": id, "type": "message", "role": "assistant", "model": model, "content": [],
                        "stop_reason": null, "stop_sequence": null, "usage": usage},
        }),
        StreamEvent::BlockStart { index, block } => {
            let content_block = match block {
                BlockStart::Text => json!({"type": "text", "text": ""}),
                BlockStart::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
                BlockStart::RedactedThinking { data } => json!({"type": "redacted_thinking", "data": data}),
                BlockStart::ToolUse { id, name } => json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
            };
            json!({"type": "content_block_start", "index": index, "content_block": content_block})
        }
        StreamEvent::TextDelta { index, text } => delta(*index, json!({"type": "text_delta", "text": text})),
        StreamEvent::ThinkingDelta { index, thinking } => {
            delta(*index, json!({"type": "thinking_delta", "thinking": thinking}))
        }
        StreamEvent::SignatureDelta { index, signature } => {
            delta(*index, json!({"type": "signature_delta", "signature": signature}))
        }
        StreamEvent::ToolInputDelta { index, partial_json } => {
            delta(*index, json!({"type": "input_json_delta", "partial_json": partial_json}))
        }
        StreamEvent::BlockStop { index } => json!({"type": "content_block_stop", "index": index}),
        StreamEvent::MessageDelta { stop_reason, usage } => json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": usage,
        }),
        StreamEvent::MessageStop => json!({"type": "message_stop"}),
    }
}

fn delta(index: usize, delta: Value) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": delta})
}

/// A short view of a tool's input for `--verbose` text output.
fn summary(input: &Value) -> String {
    let text = ["command", "file_path", "pattern", "path", "url"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str))
        .map_or_else(|| input.to_string(), str::to_owned);
    let first_line = text.lines().next().unwrap_or_default();
    first_line.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lines_accept_string_and_block_content() {
        let line = r#"{"type":"user","message":{"role":"user","content":"hi"}}"#;
        assert_eq!(parse_input_line(line).unwrap(), Some(vec![ContentBlock::text("hi")]));
        let line = r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"a"}]}}"#;
        assert_eq!(parse_input_line(line).unwrap(), Some(vec![ContentBlock::text("a")]));
        assert_eq!(parse_input_line(r#"{"type":"control_request"}"#).unwrap(), None);
        assert!(parse_input_line("nope").is_err());
        assert!(parse_input_line(r#"{"type":"user"}"#).is_err());
    }
}
