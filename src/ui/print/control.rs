//! `--input-format stream-json`: the Agent SDKs' protocol on stdin and stdout, as Claude
//! Code speaks it, so a program written for the Python or TypeScript SDK (or an editor
//! bridge built on one) drives cairn unchanged.
//!
//! stdin carries user messages and the program's `control_request`s (`initialize`,
//! `interrupt`, `set_permission_mode`, `set_model`, `set_max_thinking_tokens`,
//! `mcp_status`; anything else gets an error response, never silence) and its
//! `control_response`s to cairn's own requests: `can_use_tool` (with
//! `--permission-prompt-tool stdio`, every question the permission rules leave open),
//! `hook_callback` (the hooks the program registered in `initialize`) and `mcp_message`
//! (JSON-RPC to the program's own MCP servers, `"type": "sdk"` in `--mcp-config`). stdin is read the
//! whole time, so answers reach a turn while it runs; user messages queue behind it. A
//! request the program does not answer in time (`CAIRN_CONTROL_TIMEOUT_MS`, default ten
//! minutes) is withdrawn (`control_cancel_request`) and counts as refused; one made after the
//! program closed stdin is refused at once.
//!
//! Exit codes: 0, or 1 when a turn failed; 2 when a stdin line was not JSON (the running
//! turn is interrupted, the session kept); 3 when cairn needed an answer after the program
//! had closed stdin; 130/143/129 on signals.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::{Output, PrintOptions, Printer, handle, parse_user_message};
use crate::agent::AgentHandle;
use crate::conversation::history::ContentBlock;
use crate::hooks::Callbacks;
use crate::permissions::PermissionMode;
use crate::protocol::{ApprovalDecision, Event, HostRequest, Op, SessionInfo, UserInput};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// A request cairn made to the program, waiting for its `control_response`: a permission
/// question, or a host request of the core's (a hook callback, an MCP message).
enum Outgoing {
    Approval { call_id: String, deadline: Instant },
    Hook { id: String, deadline: Instant },
}

impl Outgoing {
    fn deadline(&self) -> Instant {
        match self {
            Outgoing::Approval { deadline, .. } | Outgoing::Hook { deadline, .. } => *deadline,
        }
    }
}

/// The program on the other side of stdin and stdout, as cairn sees it.
struct Host {
    ops: UnboundedSender<Op>,
    out: Output,
    options: PrintOptions,
    session: Option<SessionInfo>,
    /// An `initialize` that came before the session was ready.
    initialize: Option<String>,
    /// `rewind_files` requests waiting for the rewind.
    rewinds: Vec<String>,
    outgoing: HashMap<String, Outgoing>,
    /// User turns sent to the core and not yet ended.
    turns: usize,
    stdin_open: bool,
    timeout: Duration,
    exit_code: i32,
}

/// Drives the session for a program speaking the SDK protocol; returns the exit code.
pub(super) async fn run(
    agent: AgentHandle,
    first_prompt: Option<String>,
    options: PrintOptions,
    mut printer: Box<dyn Printer>,
) -> i32 {
    let AgentHandle { ops, mut events, task } = agent;
    let signals = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()));
    let (Ok(mut sigint), Ok(mut sigterm), Ok(mut sighup)) = signals else {
        crate::stderr_line!("cairn: could not install signal handlers");
        return 1;
    };
    let timeout = std::env::var("CAIRN_CONTROL_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    let mut host = Host {
        ops: ops.clone(),
        out: Output::default(),
        options,
        session: None,
        initialize: None,
        rewinds: Vec::new(),
        outgoing: HashMap::new(),
        turns: 0,
        stdin_open: true,
        timeout,
        exit_code: 0,
    };
    if let Some(name) = host.options.name.clone() {
        let _ = ops.send(Op::Rename(name));
    }
    if let Some(prompt) = first_prompt.filter(|p| !p.trim().is_empty()) {
        host.user_turn(vec![ContentBlock::text(prompt)], super::uuid());
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut signalled: Option<i32> = None;
    while host.stdin_open || host.turns > 0 {
        let deadline = host.outgoing.values().map(Outgoing::deadline).min();
        let code = tokio::select! {
            line = lines.next_line(), if host.stdin_open => {
                match line {
                    Ok(Some(line)) => host.line(&line),
                    Ok(None) => host.stdin_closed(),
                    Err(e) => {
                        crate::stderr_line!("cairn: could not read stdin: {e}");
                        host.stdin_closed();
                    }
                }
                continue;
            }
            event = events.recv() => {
                let Some(event) = event else { return 1 };
                host.event(event, printer.as_mut());
                continue;
            }
            () = sleep_until(deadline) => {
                host.expire();
                continue;
            }
            _ = sigint.recv() => 130,
            _ = sigterm.recv() => 143,
            _ = sighup.recv() => 129,
        };
        // The first signal interrupts the turn and waits for its end; a second one leaves.
        if signalled.is_some() || host.turns == 0 {
            return code;
        }
        signalled = Some(code);
        host.stdin_open = false;
        let _ = ops.send(Op::Interrupt);
    }
    let _ = ops.send(Op::Shutdown);
    let _ = task.await;
    signalled.unwrap_or(host.exit_code)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Host {
    /// One stdin line: a user message, a request of the program's, or an answer to ours.
    fn line(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        let value: Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(e) => return self.bad_input(&format!("a stdin line is not JSON ({e}): {}", shorten(line))),
        };
        match value.get("type").and_then(Value::as_str) {
            Some("user") => match parse_user_message(&value) {
                Ok(content) => {
                    // The program knows the prompt by this uuid (its own, or the one the
                    // replay tells it): the transcript entry and the checkpoints use it too.
                    let id = value["uuid"].as_str().map_or_else(super::uuid, str::to_owned);
                    if self.options.replay_user_messages {
                        self.replay(&value, &id);
                    }
                    self.user_turn(content, id);
                }
                Err(message) => crate::stderr_line!("cairn: ignoring a user message: {message}"),
            },
            Some("control_request") => self.request(&value),
            Some("control_response") => self.response(&value),
            // The program withdrew a request of its own; cairn makes none that run long.
            Some("control_cancel_request" | "keep_alive") => {}
            other => crate::stderr_line!("cairn: ignoring a stdin line of type {other:?}"),
        }
    }

    fn bad_input(&mut self, problem: &str) {
        crate::stderr_line!("cairn: {problem}; stopping (the session is saved)");
        self.exit_code = 2;
        self.stdin_closed();
        if self.turns > 0 {
            let _ = self.ops.send(Op::Interrupt);
        }
    }

    fn user_turn(&mut self, content: Vec<ContentBlock>, id: String) {
        if self.turns == 0 {
            self.state("running");
        }
        self.turns += 1;
        let _ = self.ops.send(Op::UserTurn(UserInput { content, attachments: Vec::new(), id: Some(id) }));
    }

    /// `system/session_state_changed`: `running` while turns are queued or running, `idle`
    /// once the last has ended (hosts such as Zed's adapter end a prompt on `idle`). Marked
    /// for the host only when the SDK asked for them (`CLAUDE_CODE_SDK_READS_SESSION_STATE`),
    /// so it does not hand them to the program.
    fn state(&mut self, state: &str) {
        let host_only = std::env::var("CLAUDE_CODE_SDK_READS_SESSION_STATE").is_ok_and(|v| v == "1");
        let session_id = self.session.as_ref().map(|s| s.session_id.clone()).unwrap_or_default();
        let mut line = json!({"type": "system", "subtype": "session_state_changed", "state": state,
                              "session_id": session_id, "uuid": super::uuid()});
        if host_only {
            line["sdk_host_only"] = json!(true);
        }
        self.out.line(&line);
    }

    /// `--replay-user-messages`: the message back, as taken.
    fn replay(&mut self, message: &Value, id: &str) {
        let mut line = message.clone();
        line["session_id"] = json!(self.session.as_ref().map(|s| s.session_id.clone()).unwrap_or_default());
        line["uuid"] = json!(id);
        line["isReplay"] = json!(true);
        self.out.line(&line);
    }

    /// The program stopped writing: nothing more will be answered.
    fn stdin_closed(&mut self) {
        self.stdin_open = false;
        let waiting: Vec<String> = self.outgoing.keys().cloned().collect();
        for id in waiting {
            self.give_up(&id, "the program closed its input before answering");
            self.exit_code = self.exit_code.max(3);
        }
    }

    /// A request of the program's.
    fn request(&mut self, message: &Value) {
        let id = message["request_id"].as_str().unwrap_or_default().to_owned();
        let request = &message["request"];
        let subtype = request["subtype"].as_str().unwrap_or_default();
        if self.options.debug {
            crate::stderr_line!("cairn: debug: control request {subtype:?} ({id})");
        }
        let answer = match subtype {
            "initialize" => {
                self.register_hooks(&request["hooks"]);
                if request["agents"].as_object().is_some_and(|a| !a.is_empty()) {
                    match crate::custom::program_agents(&request["agents"]) {
                        Ok(agents) => {
                            let _ = self.ops.send(Op::AddAgents(agents));
                        }
                        Err(problem) => return self.respond(&id, Err(problem)),
                    }
                }
                if self.session.is_none() {
                    self.initialize = Some(id);
                    return;
                }
                Ok(self.initialize_response())
            }
            "interrupt" => {
                let _ = self.ops.send(Op::Interrupt);
                Ok(json!({"still_queued": []}))
            }
            "set_permission_mode" => match request["mode"].as_str().and_then(PermissionMode::parse) {
                Some(mode) => {
                    let _ = self.ops.send(Op::SetPermissionMode(mode));
                    Ok(json!({}))
                }
                None => Err(format!("unknown permission mode {}", request["mode"])),
            },
            "set_model" => {
                let model = request["model"].as_str().unwrap_or(crate::provider::models::DEFAULT_ANTHROPIC_MODEL);
                let _ = self.ops.send(Op::SetModel(model.to_owned()));
                Ok(json!({}))
            }
            "set_max_thinking_tokens" => {
                let tokens = request["max_thinking_tokens"].as_u64().map(|t| u32::try_from(t).unwrap_or(u32::MAX));
                let _ = self.ops.send(Op::SetThinkingBudget(tokens));
                Ok(json!({}))
            }
            "mcp_status" => Ok(self.mcp_status()),
            // The files back to how they were when the message was sent (the SDKs'
            // `rewindFiles`); answered when the rewind is done.
            "rewind_files" => match request["user_message_id"].as_str().or(request["userMessageId"].as_str()) {
                Some(to) => {
                    let scope = crate::protocol::RewindScope::Code;
                    let _ = self.ops.send(Op::Rewind { to: to.to_owned(), scope, overwrite: false });
                    self.rewinds.push(id);
                    return;
                }
                None => Err("rewind_files needs a user_message_id".into()),
            },
            "mcp_reconnect" => match request["serverName"].as_str().or(request["server_name"].as_str()) {
                Some(name) => {
                    let reconnect = Some(name.to_owned());
                    let _ = self.ops.send(Op::Query(crate::protocol::Query::Mcp { reconnect }));
                    Ok(json!({}))
                }
                None => Err("mcp_reconnect needs a serverName".into()),
            },
            "mcp_toggle" => match (request["serverName"].as_str(), request["enabled"].as_bool()) {
                (Some(name), Some(enabled)) => {
                    let toggle = crate::protocol::Query::McpToggle { name: name.to_owned(), enabled };
                    let _ = self.ops.send(Op::Query(toggle));
                    Ok(json!({}))
                }
                _ => Err("mcp_toggle needs a serverName and enabled".into()),
            },
            other => Err(format!("unsupported control request subtype: {other:?}")),
        };
        self.respond(&id, answer);
    }

    fn respond(&mut self, id: &str, answer: Result<Value, String>) {
        let response = match answer {
            Ok(response) => json!({"subtype": "success", "request_id": id, "response": response}),
            Err(error) => json!({"subtype": "error", "request_id": id, "error": error}),
        };
        self.out.line(&json!({"type": "control_response", "response": response}));
    }

    /// `initialize`'s hooks: `{"PreToolUse": [{"matcher": "Bash", "hookCallbackIds": [..],
    /// "timeout": s}]}`.
    fn register_hooks(&mut self, hooks: &Value) {
        let Some(events) = hooks.as_object() else { return };
        let mut registered = Vec::new();
        for (event, matchers) in events {
            for matcher in matchers.as_array().into_iter().flatten() {
                let ids = matcher["hookCallbackIds"].as_array().into_iter().flatten();
                registered.push(Callbacks {
                    event: event.clone(),
                    matcher: matcher["matcher"].as_str().map(str::to_owned),
                    ids: ids.filter_map(Value::as_str).map(str::to_owned).collect(),
                    timeout: matcher["timeout"].as_f64(),
                });
            }
        }
        if !registered.is_empty() {
            let _ = self.ops.send(Op::RegisterHooks(registered));
        }
    }

    /// What `initialize` answers: the commands, agents, models and output styles there are,
    /// the mode, the account and the process.
    fn initialize_response(&self) -> Value {
        let Some(info) = &self.session else { return json!({}) };
        let commands: Vec<Value> = info
            .commands
            .iter()
            .map(|c| json!({"name": c.name, "description": c.description, "argumentHint": c.argument_hint.clone().unwrap_or_default()}))
            .collect();
        let agents: Vec<Value> = info.agents.iter().map(|a| json!({"name": a, "description": ""})).collect();
        let models: Vec<Value> = ["opus", "sonnet", "haiku", "fable"]
            .iter()
            .map(|alias| {
                let model = crate::provider::models::lookup(alias);
                let efforts: Vec<&str> = model.capability.efforts.iter().map(|e| e.as_str()).collect();
                json!({"value": alias, "resolvedModel": model.id, "displayName": model.id, "description": "",
                       "supportsEffort": !efforts.is_empty(), "supportedEffortLevels": efforts,
                       "supportsAdaptiveThinking": model.capability.thinking == crate::provider::reasoning::ThinkingKind::Adaptive})
            })
            .collect();
        json!({
            "commands": commands,
            "agents": agents,
            "models": models,
            "output_style": info.output_style.clone().unwrap_or_else(|| "default".into()),
            "available_output_styles": ["default", "Explanatory", "Learning"],
            "current_permission_mode": info.permission_mode.as_str(),
            "account": {"apiKeySource": self.options.api_key_source},
            "pid": std::process::id(),
        })
    }

    fn mcp_status(&self) -> Value {
        let servers = self.session.as_ref().map(|s| s.mcp_servers.clone()).unwrap_or_default();
        let servers: Vec<Value> =
            servers.iter().map(|(name, status)| json!({"name": name, "status": status})).collect();
        json!({"mcpServers": servers})
    }

    /// The program's answer to a request of cairn's.
    fn response(&mut self, message: &Value) {
        let response = &message["response"];
        let id = response["request_id"].as_str().unwrap_or_default();
        let Some(outgoing) = self.outgoing.remove(id) else {
            crate::stderr_line!("cairn: a control_response for a request cairn did not make (or gave up on): {id:?}");
            return;
        };
        let answer = if response["subtype"] == "error" {
            Err(response["error"].as_str().unwrap_or("the program answered with an error").to_owned())
        } else {
            Ok(response["response"].clone())
        };
        match outgoing {
            Outgoing::Approval { call_id, .. } => {
                let decision = self.decision(answer);
                let _ = self.ops.send(Op::ApprovalAnswer { call_id, decision });
            }
            Outgoing::Hook { id, .. } => {
                let _ = self.ops.send(Op::HostAnswer { id, answer });
            }
        }
    }

    /// `can_use_tool`'s answer: `{"behavior": "allow", "updatedInput": {…}}` or
    /// `{"behavior": "deny", "message": "…", "interrupt": true}`.
    fn decision(&self, answer: Result<Value, String>) -> ApprovalDecision {
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                return ApprovalDecision::Deny { reason: Some(format!("The permission check failed: {error}")) };
            }
        };
        match answer["behavior"].as_str() {
            Some("allow") => match answer.get("updatedInput").filter(|i| i.is_object()) {
                Some(input) => ApprovalDecision::AllowWith { input: input.clone() },
                None => ApprovalDecision::Allow,
            },
            _ => {
                if answer["interrupt"] == true {
                    let _ = self.ops.send(Op::Interrupt);
                }
                let reason = answer["message"].as_str().map(str::to_owned).filter(|m| !m.is_empty());
                ApprovalDecision::Deny { reason }
            }
        }
    }

    /// What the core says: printed, or turned into a request of cairn's.
    fn event(&mut self, event: Event, printer: &mut dyn Printer) {
        match event {
            Event::ApprovalRequest { call_id, tool, input, .. } => self.ask_permission(call_id, &tool, input),
            Event::HostRequest { id, request } => {
                let request = match request {
                    HostRequest::HookCallback { callback_id, input } => {
                        let tool_use_id = input.get("tool_use_id").cloned().unwrap_or(Value::Null);
                        json!({"subtype": "hook_callback", "callback_id": callback_id, "input": input,
                               "tool_use_id": tool_use_id})
                    }
                    HostRequest::McpMessage { server, message } => {
                        json!({"subtype": "mcp_message", "server_name": server, "message": message})
                    }
                    // Files and commands go through the host only for ACP front ends.
                    HostRequest::ReadTextFile { .. }
                    | HostRequest::WriteTextFile { .. }
                    | HostRequest::RunCommand { .. }
                    | HostRequest::KillCommand { .. } => {
                        let _ = self.ops.send(Op::HostAnswer { id, answer: Err("no file host".into()) });
                        return;
                    }
                };
                let deadline = Instant::now() + self.timeout;
                self.send_request(request, Outgoing::Hook { id, deadline });
            }
            Event::Rewound { ref files, ref conflicts, .. } if !self.rewinds.is_empty() => {
                let id = self.rewinds.remove(0);
                let kept: Vec<String> = conflicts.iter().map(|p| p.display().to_string()).collect();
                self.respond(&id, Ok(json!({"canRewind": true, "filesChanged": files, "conflicts": kept})));
            }
            Event::Error { ref message } if !self.rewinds.is_empty() && message.contains("rewind") => {
                let id = self.rewinds.remove(0);
                self.respond(&id, Err(message.clone()));
            }
            Event::SessionStarted(ref info) | Event::SessionChanged(ref info) => {
                self.session = Some(info.clone());
                handle(printer, &event);
                if let Some(id) = self.initialize.take() {
                    let response = self.initialize_response();
                    self.respond(&id, Ok(response));
                }
            }
            other => {
                if let Some(is_error) = handle(printer, &other) {
                    self.turns = self.turns.saturating_sub(1);
                    if is_error {
                        self.exit_code = self.exit_code.max(1);
                    }
                    if self.turns == 0 {
                        self.state("idle");
                    }
                }
            }
        }
    }

    /// A question the rules leave to the user: to the program with `--permission-prompt-tool
    /// stdio` (else the core never asks).
    fn ask_permission(&mut self, call_id: String, tool: &str, input: Value) {
        let suggestions = match crate::conversation::tool_names::family(tool) {
            "Edit" => json!([{"type": "setMode", "mode": "acceptEdits", "destination": "session"}]),
            family => json!([{"type": "addRules", "rules": [{"toolName": family}], "behavior": "allow",
                              "destination": "session"}]),
        };
        let description = ["file_path", "command", "url", "pattern"]
            .iter()
            .find_map(|k| input.get(*k).and_then(Value::as_str))
            .unwrap_or(tool)
            .to_owned();
        let request = json!({"subtype": "can_use_tool", "tool_name": tool, "display_name": tool, "input": input,
                             "description": description, "tool_use_id": call_id,
                             "permission_suggestions": suggestions});
        let deadline = Instant::now() + self.timeout;
        self.send_request(request, Outgoing::Approval { call_id, deadline });
    }

    fn send_request(&mut self, request: Value, outgoing: Outgoing) {
        let id = super::uuid();
        if self.options.debug {
            crate::stderr_line!("cairn: debug: asking the program: {} ({id})", request["subtype"]);
        }
        self.outgoing.insert(id.clone(), outgoing);
        if !self.stdin_open {
            self.give_up(&id, "the program closed its input");
            self.exit_code = self.exit_code.max(3);
            return;
        }
        self.out.line(&json!({"type": "control_request", "request_id": id, "request": request}));
    }

    /// Requests past their deadline are withdrawn and count as refused.
    fn expire(&mut self) {
        let now = Instant::now();
        let late: Vec<String> =
            self.outgoing.iter().filter(|(_, o)| o.deadline() <= now).map(|(id, _)| id.clone()).collect();
        for id in late {
            self.out.line(&json!({"type": "control_cancel_request", "request_id": id}));
            self.give_up(&id, &format!("the program did not answer within {} s", self.timeout.as_secs_f64()));
        }
    }

    /// Answers one of cairn's requests for the program, which cannot or did not.
    fn give_up(&mut self, id: &str, why: &str) {
        let Some(outgoing) = self.outgoing.remove(id) else { return };
        crate::stderr_line!("cairn: {why}; going on without its answer");
        match outgoing {
            Outgoing::Approval { call_id, .. } => {
                let reason = Some(format!("Nobody answered the permission question ({why})."));
                let _ = self.ops.send(Op::ApprovalAnswer { call_id, decision: ApprovalDecision::Deny { reason } });
            }
            Outgoing::Hook { id, .. } => {
                let _ = self.ops.send(Op::HostAnswer { id, answer: Err(why.to_owned()) });
            }
        }
    }
}

fn shorten(line: &str) -> String {
    let short: String = line.chars().take(120).collect();
    if short.len() < line.len() { format!("{short}…") } else { short }
}
