//! `--output-format stream-json`: one JSON line per message, as Claude Code writes them —
//! `system/init`, an `assistant` line per content block, a `user` line per tool result,
//! `system/api_retry`, `system/compact_boundary`, the `system/task_*` lines of sub-agents,
//! `stream_event`s with `--include-partial-messages`, and each turn's `result`. Errors and
//! notices go to stderr.

use serde_json::{Value, json};

use super::{Output, PrintOptions, Printer};
use crate::conversation::history::ContentBlock;
use crate::protocol::{AssistantMessage, Event, SessionInfo, TaskState, TaskUpdate, TurnOutcome};
use crate::provider::{BlockStart, StreamEvent};
use crate::tools::ToolOutput;

/// The Claude Code release whose stream-json and control protocol cairn speaks, reported
/// in `system/init` as `claude_code_version`: the Agent SDKs check it before using the
/// newer parts of the protocol.
const CLAUDE_CODE_PROTOCOL: &str = "2.1.332";

pub(super) struct StreamJson {
    include_partial_messages: bool,
    include_hook_events: bool,
    /// Reported in `system/init`.
    api_key_source: &'static str,
    session_id: String,
    out: Output,
}

impl StreamJson {
    pub(super) fn new(options: &PrintOptions) -> StreamJson {
        StreamJson {
            include_partial_messages: options.include_partial_messages,
            include_hook_events: options.include_hook_events,
            api_key_source: options.api_key_source,
            session_id: String::new(),
            out: Output::default(),
        }
    }
}

impl Printer for StreamJson {
    fn event(&mut self, event: &Event) {
        super::track_session(&mut self.session_id, event);
        let line = match event {
            Event::SessionStarted(info) => self.init_line(info),
            Event::Stream(stream) if self.include_partial_messages => json!({
                "type": "stream_event", "event": raw_event(stream), "session_id": self.session_id,
                "parent_tool_use_id": null, "uuid": super::uuid(),
            }),
            Event::AssistantMessage(message) => {
                for block in &message.content {
                    let line = self.assistant_line(message, block);
                    self.out.line(&line);
                }
                return;
            }
            Event::Subagent { parent_call_id, event } => {
                let mut lines = Vec::new();
                match event.as_ref() {
                    Event::AssistantMessage(message) => {
                        lines.extend(message.content.iter().map(|block| self.assistant_line(message, block)));
                    }
                    Event::ToolCallFinished { call_id, output, .. } => {
                        lines.push(self.tool_result_line(call_id, output))
                    }
                    _ => {}
                }
                for mut line in lines {
                    line["parent_tool_use_id"] = json!(parent_call_id);
                    self.out.line(&line);
                }
                return;
            }
            Event::ToolCallFinished { call_id, output, .. } => self.tool_result_line(call_id, output),
            Event::Retrying { attempt, max_attempts, delay, error, status } => json!({
                "type": "system", "subtype": "api_retry", "attempt": attempt - 1,
                "max_retries": max_attempts - 1, "retry_delay_ms": delay.as_secs_f64() * 1000.0,
                "error_status": status, "error": error, "session_id": self.session_id, "uuid": super::uuid(),
            }),
            Event::Compacted { trigger, pre_tokens, post_tokens } => json!({
                "type": "system", "subtype": "compact_boundary", "session_id": self.session_id, "uuid": super::uuid(),
                "compact_metadata": {"trigger": trigger, "pre_tokens": pre_tokens, "post_tokens": post_tokens},
            }),
            Event::HookRan { event, target, outcomes } if self.include_hook_events => {
                for outcome in outcomes {
                    let name = if target.is_empty() { event.to_string() } else { format!("{event}:{target}") };
                    self.out.line(&json!({
                        "type": "system", "subtype": "hook_response", "hook_name": name, "hook_event": event.to_string(),
                        "command": outcome.command, "exit_code": outcome.exit, "stdout": outcome.stdout,
                        "stderr": outcome.stderr, "session_id": self.session_id, "uuid": super::uuid(),
                    }));
                }
                return;
            }
            Event::Task(task) => match self.task_line(task) {
                Some(line) => line,
                None => return,
            },
            Event::Error { message } | Event::Notice { message } => {
                crate::stderr_line!("cairn: {message}");
                return;
            }
            _ => return,
        };
        self.out.line(&line);
    }

    fn turn_ended(&mut self, outcome: &TurnOutcome) -> bool {
        self.out.line(&super::result_object(outcome, &self.session_id));
        super::json::is_error(outcome)
    }
}

impl StreamJson {
    fn init_line(&self, info: &SessionInfo) -> Value {
        json!({
            "type": "system", "subtype": "init", "cwd": info.cwd, "session_id": info.session_id,
            "tools": info.tools, "model": info.model,
            "mcp_servers": info.mcp_servers.iter().map(|(name, status)| json!({"name": name, "status": status})).collect::<Vec<_>>(),
            "permissionMode": info.permission_mode.as_str(),
            "slash_commands": info.commands.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            "apiKeySource": self.api_key_source, "cairn_version": env!("CARGO_PKG_VERSION"),
            "claude_code_version": CLAUDE_CODE_PROTOCOL,
            "output_style": info.output_style.clone().unwrap_or_else(|| "default".into()), "agents": info.agents,
            "skills": info.commands.iter().filter(|c| c.skill).map(|c| c.name.as_str()).collect::<Vec<_>>(),
            "plugins": info.plugins.iter().map(|(name, path)| json!({"name": name, "path": path})).collect::<Vec<_>>(), "uuid": super::uuid(),
        })
    }

    /// `system/task_started` when a sub-agent starts, `task_progress` as it runs a tool,
    /// `task_notification` when it ends (Claude Code's lines).
    fn task_line(&self, task: &TaskUpdate) -> Option<Value> {
        let common = json!({
            "type": "system", "task_id": task.agent_id, "tool_use_id": task.call_id,
            "session_id": self.session_id, "uuid": super::uuid(),
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
                "subtype": "task_notification", "status": task.state.as_str(), "output_file": "",
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
                "content": [block], "stop_reason": null, "stop_sequence": null, "usage": super::json::usage_json(&message.usage),
            },
            "parent_tool_use_id": null, "session_id": self.session_id, "uuid": super::uuid(),
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
            "parent_tool_use_id": null, "session_id": self.session_id, "uuid": super::uuid(),
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "tool_use_result": output.structured,
        })
    }
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
