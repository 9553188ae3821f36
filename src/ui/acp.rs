//! `cairn acp`: an Agent Client Protocol agent on stdio (JSON-RPC 2.0, one message per
//! line), for editors that speak ACP (Zed, JetBrains, Neovim plugins) — no adapter, no node.
//!
//! A front end over the same core protocol as the TUI and `-p`: each `session/new` resolves
//! a session for its folder (the command line, the settings and the environment, as `cairn`
//! would there) and starts a core; `session/prompt` sends a user turn and answers with the
//! stop reason when it ends; the core's events become `session/update` notifications
//! (message and thought chunks, tool calls and their updates, the plan from TodoWrite); a
//! question for the user becomes a `session/request_permission` request, and
//! `session/cancel` interrupts the turn. Unknown methods get a JSON-RPC error.
//!
//! Sessions offer the permission modes as ACP modes (`session/set_mode`,
//! `current_mode_update`) and list the commands and skills (`available_commands_update`).
//! This is the first step of [5/10]: stdio only; `session/load`, `session/list`, the
//! client's file system and terminal, and the WebSocket bridge are not here yet.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use crate::agent::{self, AgentConfig, AgentHandle};
use crate::conversation::history::ContentBlock;
use crate::permissions::PermissionMode;
use crate::protocol::{ApprovalDecision, Event, Op, TurnOutcome, TurnStatus, UserInput};
use crate::provider::StreamEvent;

/// Makes the configuration of a session in a folder (the command line, the settings and
/// the environment resolved there, with questions going to the client).
pub type NewSession = Box<dyn Fn(PathBuf) -> Result<AgentConfig, String> + Send>;

const PROTOCOL_VERSION: u64 = 1;

/// One session: the core's inbox, and the prompt request waiting for the turn's end.
struct Session {
    ops: mpsc::UnboundedSender<Op>,
    prompt: Option<Value>,
}

struct Agent {
    sessions: HashMap<String, Session>,
    /// Every session's events, tagged with its id.
    events: mpsc::UnboundedSender<(String, Event)>,
    /// Our requests to the client (permission questions): id → (session, call id).
    asked: HashMap<u64, (String, String)>,
    next_id: u64,
    new_session: NewSession,
}

/// Runs the agent until the client closes stdin; the exit code.
pub async fn run(new_session: NewSession) -> i32 {
    let (tx, mut events) = mpsc::unbounded_channel();
    let mut agent = Agent { sessions: HashMap::new(), events: tx, asked: HashMap::new(), next_id: 0, new_session };
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => agent.line(&line).await,
                Ok(None) | Err(_) => break,
            },
            Some((session, event)) = events.recv() => agent.event(&session, event),
        }
    }
    for session in agent.sessions.values() {
        let _ = session.ops.send(Op::Shutdown);
    }
    0
}

fn send(message: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, message);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

fn respond(id: &Value, result: Result<Value, (i64, String)>) {
    match result {
        Ok(result) => send(&json!({"jsonrpc": "2.0", "id": id, "result": result})),
        Err((code, message)) => send(&json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})),
    }
}

fn notify(session: &str, update: Value) {
    send(&json!({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": session, "update": update}}));
}

impl Agent {
    async fn line(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        let message: Value = match serde_json::from_str(line) {
            Ok(message) => message,
            Err(e) => return respond(&Value::Null, Err((-32700, format!("parse error: {e}")))),
        };
        let id = message.get("id").cloned();
        let method = message["method"].as_str().unwrap_or_default().to_owned();
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        match (id, method.as_str()) {
            // An answer to a question of ours.
            (Some(id), "") => self.answer(&id, &message),
            (Some(id), "initialize") => respond(&id, Ok(initialize())),
            (Some(id), "session/new") => respond(&id, self.new_session(&params)),
            (Some(id), "session/prompt") => self.prompt(id, &params),
            (Some(id), "session/set_mode") => respond(&id, self.set_mode(&params)),
            (Some(id), "authenticate") => respond(&id, Ok(json!({}))),
            (None, "session/cancel") => {
                if let Some(session) = params["sessionId"].as_str().and_then(|s| self.sessions.get(s)) {
                    let _ = session.ops.send(Op::Interrupt);
                }
            }
            (Some(id), other) => respond(&id, Err((-32601, format!("method not found: {other}")))),
            (None, _) => {}
        }
    }

    fn new_session(&mut self, params: &Value) -> Result<Value, (i64, String)> {
        let cwd = params["cwd"].as_str().map(PathBuf::from).ok_or((-32602, "session/new needs a cwd".to_owned()))?;
        let config = (self.new_session)(cwd).map_err(|e| (-32603, e))?;
        let session_id = config.session_id.clone();
        let AgentHandle { ops, mut events, task: _ } = agent::spawn(config);
        let tx = self.events.clone();
        let id = session_id.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send((id.clone(), event)).is_err() {
                    return;
                }
            }
        });
        self.sessions.insert(session_id.clone(), Session { ops, prompt: None });
        Ok(json!({"sessionId": session_id, "modes": modes("default")}))
    }

    /// `session/set_mode`: a permission mode; the client hears `current_mode_update`.
    fn set_mode(&mut self, params: &Value) -> Result<Value, (i64, String)> {
        let name = params["sessionId"].as_str().unwrap_or_default();
        let session = self.sessions.get(name).ok_or_else(|| (-32602, format!("no session {name:?}")))?;
        let wanted = params["modeId"].as_str().unwrap_or_default();
        let mode = PermissionMode::parse(wanted).ok_or_else(|| (-32602, format!("unknown mode {wanted:?}")))?;
        let _ = session.ops.send(Op::SetPermissionMode(mode));
        Ok(json!({}))
    }

    fn prompt(&mut self, id: Value, params: &Value) {
        let name = params["sessionId"].as_str().unwrap_or_default();
        let Some(session) = self.sessions.get_mut(name) else {
            return respond(&id, Err((-32602, format!("no session {name:?}: create one with session/new"))));
        };
        if session.prompt.is_some() {
            return respond(&id, Err((-32600, "a prompt is already running in this session".into())));
        }
        let content = prompt_content(&params["prompt"]);
        session.prompt = Some(id);
        let _ = session.ops.send(Op::UserTurn(UserInput { content, attachments: Vec::new() }));
    }

    /// The client's answer to `session/request_permission`.
    fn answer(&mut self, id: &Value, message: &Value) {
        let Some((session, call_id)) = id.as_u64().and_then(|n| self.asked.remove(&n)) else { return };
        let Some(session) = self.sessions.get(&session) else { return };
        let option = message.pointer("/result/outcome/optionId").and_then(Value::as_str).unwrap_or("");
        let decision = match option {
            "allow_once" => ApprovalDecision::Allow,
            "allow_always" => ApprovalDecision::AllowForSession,
            _ => ApprovalDecision::Deny { reason: None },
        };
        let _ = session.ops.send(Op::ApprovalAnswer { call_id, decision });
    }

    fn event(&mut self, session: &str, event: Event) {
        match event {
            Event::Stream(StreamEvent::TextDelta { text, .. }) => {
                notify(
                    session,
                    json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}),
                );
            }
            Event::Stream(StreamEvent::ThinkingDelta { thinking, .. }) => {
                notify(
                    session,
                    json!({"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": thinking}}),
                );
            }
            Event::ToolCallStarted { call_id, name, input } => notify(
                session,
                json!({
                    "sessionUpdate": "tool_call", "toolCallId": call_id, "title": title(&name, &input),
                    "kind": kind(&name), "status": "in_progress", "rawInput": input,
                }),
            ),
            Event::ToolCallFinished { call_id, output, .. } => notify(
                session,
                json!({
                    "sessionUpdate": "tool_call_update", "toolCallId": call_id,
                    "status": if output.is_error { "failed" } else { "completed" },
                    "content": [{"type": "content", "content": {"type": "text", "text": output.text_content()}}],
                }),
            ),
            Event::TodosChanged { todos } => {
                let entries: Vec<Value> = todos
                    .iter()
                    .map(|t| json!({"content": t.content, "priority": "medium", "status": t.status}))
                    .collect();
                notify(session, json!({"sessionUpdate": "plan", "entries": entries}));
            }
            Event::ApprovalRequest { call_id, tool, input, .. } => self.ask(session, call_id, &tool, &input),
            Event::HostRequest { id, .. } => {
                if let Some(s) = self.sessions.get(session) {
                    let _ = s.ops.send(Op::HostAnswer { id, answer: Err("no host program behind ACP".into()) });
                }
            }
            Event::SessionStarted(info) => {
                let commands: Vec<Value> = info
                    .commands
                    .iter()
                    .map(|c| {
                        let input = c.argument_hint.as_ref().map(|hint| json!({"hint": hint}));
                        json!({"name": c.name, "description": c.description, "input": input})
                    })
                    .collect();
                notify(session, json!({"sessionUpdate": "available_commands_update", "availableCommands": commands}));
            }
            Event::SessionChanged(info) => notify(
                session,
                json!({"sessionUpdate": "current_mode_update", "currentModeId": info.permission_mode.as_str()}),
            ),
            Event::TurnComplete(outcome) | Event::TurnAborted(outcome) => {
                if let Some(prompt) = self.sessions.get_mut(session).and_then(|s| s.prompt.take()) {
                    respond(&prompt, Ok(json!({"stopReason": stop_reason(&outcome)})));
                }
            }
            _ => {}
        }
    }

    fn ask(&mut self, session: &str, call_id: String, tool: &str, input: &Value) {
        self.next_id += 1;
        let id = self.next_id;
        let options = json!([
            {"optionId": "allow_once", "name": "Allow", "kind": "allow_once"},
            {"optionId": "allow_always", "name": "Always allow", "kind": "allow_always"},
            {"optionId": "reject_once", "name": "Reject", "kind": "reject_once"},
        ]);
        let tool_call =
            json!({"toolCallId": call_id, "title": title(tool, input), "kind": kind(tool), "rawInput": input});
        self.asked.insert(id, (session.to_owned(), call_id));
        send(&json!({"jsonrpc": "2.0", "id": id, "method": "session/request_permission",
                     "params": {"sessionId": session, "toolCall": tool_call, "options": options}}));
    }
}

/// The permission modes, as ACP session modes.
fn modes(current: &str) -> Value {
    let mode = |id: &str, name: &str| json!({"id": id, "name": name});
    json!({"currentModeId": current, "availableModes": [
        mode("default", "Ask before changes"),
        mode("acceptEdits", "Accept edits"),
        mode("plan", "Plan mode"),
        mode("bypassPermissions", "Bypass permissions"),
    ]})
}

fn initialize() -> Value {
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "agentCapabilities": {
            "loadSession": false,
            "promptCapabilities": {"image": false, "embeddedContext": true},
            "mcpCapabilities": {"http": false, "sse": false},
        },
        "agentInfo": {"name": "cairn", "title": "cairn", "version": env!("CARGO_PKG_VERSION")},
        "authMethods": [],
    })
}

/// A prompt's content blocks as the core's: text, and resources as their text or a mention.
fn prompt_content(prompt: &Value) -> Vec<ContentBlock> {
    let mut out = Vec::new();
    for block in prompt.as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => out.push(ContentBlock::text(block["text"].as_str().unwrap_or_default())),
            Some("resource_link") => {
                out.push(ContentBlock::text(format!("@{}", block["uri"].as_str().unwrap_or_default())))
            }
            Some("resource") => {
                let resource = &block["resource"];
                let text = resource["text"].as_str().unwrap_or_default();
                out.push(ContentBlock::text(format!(
                    "<file uri=\"{}\">\n{text}\n</file>",
                    resource["uri"].as_str().unwrap_or("")
                )));
            }
            _ => {}
        }
    }
    out
}

fn title(tool: &str, input: &Value) -> String {
    let detail = ["command", "file_path", "pattern", "url", "description"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str));
    detail.map_or_else(|| tool.to_owned(), str::to_owned)
}

fn kind(tool: &str) -> &'static str {
    match crate::conversation::tool_names::family(tool) {
        "Read" => "read",
        "Edit" => "edit",
        "Bash" => "execute",
        "WebFetch" => "fetch",
        _ => "other",
    }
}

fn stop_reason(outcome: &TurnOutcome) -> &'static str {
    match &outcome.status {
        TurnStatus::Interrupted => "cancelled",
        TurnStatus::MaxTurns { .. } => "max_turn_requests",
        _ if outcome.stop_reason == Some(crate::provider::StopReason::MaxTokens) => "max_tokens",
        _ if outcome.stop_reason == Some(crate::provider::StopReason::Refusal) => "refusal",
        _ => "end_turn",
    }
}
