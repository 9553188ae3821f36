//! `cairn acp`: an Agent Client Protocol agent, for editors that speak ACP (Zed, JetBrains,
//! Neovim plugins) — no adapter, no node. Over stdio (JSON-RPC 2.0, one message per line),
//! or with `--listen` over WebSocket, where sessions outlive connections.
//!
//! A front end over the same core protocol as the TUI and `-p`: each `session/new` resolves
//! a session for its folder (the command line, the settings and the environment, as `cairn`
//! would there, with the client's MCP servers joined) and starts a core; `session/prompt`
//! sends a user turn and answers with the stop reason when it ends; the core's events
//! become `session/update` notifications ([`updates`]); a question for the user becomes a
//! `session/request_permission` request; `session/cancel` interrupts the turn.
//! `session/load` continues a saved session (replaying it) or shows a live one to a new
//! connection: everything it showed before, once, then what comes after, with a pending
//! permission question asked again. Reads and writes go through the client's buffers when
//! it offers `fs` ([`client_fs`]).
//!
//! The transports ([`stdio`], [`ws`]) only carry lines: each connection's messages come in
//! as [`Input`]s to the one task that holds every session, and go out through the
//! connection's sender.

mod client_fs;
mod params;
mod rpc;
mod session;
mod stdio;
mod terminal;
pub mod updates;
mod ws;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::agent::{self, AgentConfig, AgentHandle};
use crate::protocol::{ApprovalDecision, Event, Op};
use crate::session::list::SessionSummary;
use params::{client_servers, config_options, modes, prompt_input};
use rpc::{Failure, invalid, no_session};
use session::{ConnId, Live};
pub use stdio::run_stdio;
pub use ws::{Listen, run_listening};

/// What the bridge needs from the configuration: sessions, resolved in their folder.
pub trait Sessions: Send {
    /// The configuration of a session in `cwd` (with `resume`, the saved session with
    /// that id), with questions going to the client.
    fn open(&self, cwd: PathBuf, resume: Option<&str>) -> Result<AgentConfig, OpenError>;
    /// The saved sessions of `cwd` (of every folder with `None`), newest first.
    fn list(&self, cwd: Option<&Path>) -> Vec<SessionSummary>;
    /// The variable to set when no API key is configured.
    fn missing_key(&self) -> Option<&'static str>;
    /// Commands run in the editor's terminal when it offers one (`--editor-terminal`).
    fn editor_terminal(&self) -> bool;
}

/// Why a session could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// No API key: the client should authenticate (ACP's `auth_required`).
    NoKey(String),
    Other(String),
}

/// What a transport hands the bridge.
pub enum Input {
    /// A client connected; its messages go out through `out`, one JSON text each.
    Opened {
        conn: ConnId,
        out: mpsc::UnboundedSender<String>,
    },
    Message {
        conn: ConnId,
        text: String,
    },
    Closed {
        conn: ConnId,
    },
}

const PROTOCOL_VERSION: u64 = 1;

/// A question of ours the client has not answered yet.
enum Asked {
    Permission {
        session: String,
        call_id: String,
    },
    /// A read or write of the client's file system, for the core's host request `id`.
    Host {
        session: String,
        id: String,
    },
    /// A command in the editor's terminal, at some stage.
    Terminal(terminal::Run),
    /// An answer nothing waits for (a terminal released or killed).
    Nothing,
}

struct Conn {
    out: mpsc::UnboundedSender<String>,
    /// The client offers `fs/read_text_file` and `fs/write_text_file`.
    fs: bool,
    /// The client offers `terminal/*`.
    terminal: bool,
}

struct Bridge {
    sessions: HashMap<String, Live>,
    conns: HashMap<ConnId, Conn>,
    /// Every session's events, tagged with its id.
    events: mpsc::UnboundedSender<(String, Event)>,
    /// Our requests waiting for an answer: id → (the connection asked, what for).
    asked: HashMap<u64, (ConnId, Asked)>,
    next_id: u64,
    config: Box<dyn Sessions>,
}

/// Runs the bridge until `inputs` ends (with `until_closed`, until that connection closes);
/// every session is shut down on the way out.
async fn serve(config: Box<dyn Sessions>, mut inputs: mpsc::UnboundedReceiver<Input>, until_closed: Option<ConnId>) {
    let (tx, mut events) = mpsc::unbounded_channel();
    let mut bridge = Bridge {
        sessions: HashMap::new(),
        conns: HashMap::new(),
        events: tx,
        asked: HashMap::new(),
        next_id: 0,
        config,
    };
    loop {
        tokio::select! {
            input = inputs.recv() => match input {
                Some(Input::Opened { conn, out }) => { bridge.conns.insert(conn, Conn { out, fs: false, terminal: false }); }
                Some(Input::Message { conn, text }) => bridge.message(conn, &text),
                Some(Input::Closed { conn }) => {
                    bridge.closed(conn);
                    if until_closed == Some(conn) {
                        break;
                    }
                }
                None => break,
            },
            Some((session, event)) = events.recv() => bridge.event(&session, event),
        }
    }
    // Each core ends its turn and finishes writing its transcript before the process ends.
    let mut ending = Vec::new();
    for (_, live) in bridge.sessions.drain() {
        live.send(Op::Shutdown);
        ending.push(live.task);
    }
    let _ = tokio::time::timeout(SHUTDOWN_WAIT, futures::future::join_all(ending)).await;
}

/// How long the sessions get to end when the client has gone.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Bridge {
    fn send(&self, conn: ConnId, message: &Value) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.out.send(message.to_string());
        }
    }

    fn respond(&self, conn: ConnId, id: &Value, result: Result<Value, Failure>) {
        let message = match result {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(f) => json!({"jsonrpc": "2.0", "id": id, "error": {"code": f.code, "message": f.message}}),
        };
        self.send(conn, &message);
    }

    /// Shows `update` to whoever shows `session`, and keeps it for a later load.
    fn update(&mut self, session: &str, update: Value) {
        let Some(live) = self.sessions.get_mut(session) else { return };
        live.record(&update);
        if let Some(conn) = live.conn {
            let note = json!({"jsonrpc": "2.0", "method": "session/update",
                              "params": {"sessionId": session, "update": update}});
            self.send(conn, &note);
        }
    }

    /// A request of ours to the client; the answer comes back to [`Bridge::answer`].
    fn ask(&mut self, conn: ConnId, method: &str, params: Value, asked: Asked) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.asked.insert(id, (conn, asked));
        self.send(conn, &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    fn message(&mut self, conn: ConnId, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        let message: Value = match serde_json::from_str(text) {
            Ok(message @ Value::Object(_)) => message,
            Ok(_) => return self.respond(conn, &Value::Null, Err(Failure::new(-32600, "expected a JSON-RPC object"))),
            Err(e) => return self.respond(conn, &Value::Null, Err(Failure::new(-32700, format!("parse error: {e}")))),
        };
        let id = message.get("id").cloned();
        let method = message["method"].as_str().unwrap_or_default().to_owned();
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        match (id, method.as_str()) {
            (Some(id), "") if message.get("result").is_some() || message.get("error").is_some() => {
                self.answer(conn, &id, &message);
            }
            (Some(id), "") => self.respond(conn, &id, Err(Failure::new(-32600, "a request needs a method (a string)"))),
            (Some(id), "initialize") => {
                let reply = self.initialize(conn, &params);
                self.respond(conn, &id, Ok(reply));
            }
            (Some(id), "authenticate") => {
                let reply = match self.config.missing_key() {
                    None => Ok(json!({})),
                    Some(var) => Err(Failure::new(-32000, no_key_message(var))),
                };
                self.respond(conn, &id, reply);
            }
            (Some(id), "session/new") => {
                let reply = self.new_session(conn, &params);
                self.respond(conn, &id, reply);
            }
            (Some(id), "session/load") => self.load(conn, id, &params),
            (Some(id), "session/list") => {
                let reply = self.list(&params);
                self.respond(conn, &id, reply);
            }
            (Some(id), "session/prompt") => self.prompt(conn, id, &params),
            (Some(id), "session/set_mode") => {
                let reply = self.set_mode(&params);
                self.respond(conn, &id, reply);
            }
            (Some(id), "session/set_model" | "session/set_config_option") => {
                let reply = self.set_model(&params);
                self.respond(conn, &id, reply);
            }
            (Some(id), "session/close") => {
                let name = params["sessionId"].as_str().unwrap_or_default();
                let reply = match self.sessions.remove(name) {
                    Some(live) => {
                        live.send(Op::Shutdown);
                        Ok(json!({}))
                    }
                    None => Err(Failure::new(-32002, format!("no session {name:?}"))),
                };
                self.respond(conn, &id, reply);
            }
            (None, "session/cancel") => {
                if let Some(live) = params["sessionId"].as_str().and_then(|s| self.sessions.get(s)) {
                    live.send(Op::Interrupt);
                }
            }
            (Some(id), other) => {
                self.respond(conn, &id, Err(Failure::new(-32601, format!("method not found: {other}"))))
            }
            (None, _) => {}
        }
    }

    fn initialize(&mut self, conn: ConnId, params: &Value) -> Value {
        let fs = &params["clientCapabilities"]["fs"];
        if let Some(c) = self.conns.get_mut(&conn) {
            c.fs = fs["readTextFile"] == true && fs["writeTextFile"] == true;
            c.terminal = params["clientCapabilities"]["terminal"] == true;
        }
        let auth_methods: Vec<Value> = self
            .config
            .missing_key()
            .map(|var| json!({"id": format!("env:{var}"), "name": format!("Set {var}"), "description": no_key_message(var)}))
            .into_iter()
            .collect();
        json!({
            "protocolVersion": PROTOCOL_VERSION,
            "agentCapabilities": {
                "loadSession": true,
                "promptCapabilities": {"image": true, "audio": false, "embeddedContext": true},
                "mcpCapabilities": {"http": true, "sse": false},
                "sessionCapabilities": {"list": {}, "close": {}},
            },
            "agentInfo": {"name": "cairn", "title": "cairn", "version": env!("CARGO_PKG_VERSION")},
            "authMethods": auth_methods,
        })
    }

    /// Starts a core for `params.cwd` (continuing the saved session `resume`), its events
    /// tagged with its id; the session is shown on `conn`.
    fn start(&mut self, conn: ConnId, params: &Value, resume: Option<&str>) -> Result<String, Failure> {
        let cwd =
            params["cwd"].as_str().map(PathBuf::from).ok_or_else(|| invalid("a cwd (an absolute path) is needed"))?;
        if !cwd.is_absolute() || !cwd.is_dir() {
            return Err(invalid(format!("cwd {} is not an absolute path to a folder", cwd.display())));
        }
        let cwd = cwd.canonicalize().unwrap_or(cwd);
        let (fs, terminal) = self.conns.get(&conn).map_or((false, false), |c| (c.fs, c.terminal));
        let mut config = self.config.open(cwd.clone(), resume).map_err(|e| match e {
            OpenError::NoKey(message) => Failure::new(-32000, message),
            OpenError::Other(message) => Failure::new(-32603, message),
        })?;
        config.mcp_servers.extend(client_servers(&params["mcpServers"])?);
        config.client_files = fs;
        config.client_terminal = terminal && self.config.editor_terminal();
        let (session_id, model, mode) =
            (config.session_id.clone(), config.model.id.clone(), config.permissions.mode.as_str().to_owned());
        let AgentHandle { ops, mut events, task } = agent::spawn(config);
        let tx = self.events.clone();
        let id = session_id.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send((id.clone(), event)).is_err() {
                    return;
                }
            }
        });
        self.sessions.insert(session_id.clone(), Live::new(ops, task, cwd, conn, model, mode));
        Ok(session_id)
    }

    fn new_session(&mut self, conn: ConnId, params: &Value) -> Result<Value, Failure> {
        let session_id = self.start(conn, params, None)?;
        let live = &self.sessions[&session_id];
        Ok(json!({"sessionId": session_id, "modes": modes(&live.mode), "configOptions": config_options(&live.model)}))
    }

    /// `session/load`: a live session is shown on `conn` from its log; a saved one is
    /// started and replayed, and answered once the replay is out.
    fn load(&mut self, conn: ConnId, id: Value, params: &Value) {
        let Some(name) = params["sessionId"].as_str().map(str::to_owned) else {
            return self.respond(conn, &id, Err(invalid("session/load needs a sessionId")));
        };
        // A session id, not a path or a title: what `session/new` and `session/list` give.
        if uuid::Uuid::parse_str(&name).is_err() {
            return self.respond(conn, &id, Err(invalid(format!("{name:?} is not a session id (see session/list)"))));
        }
        if self.sessions.get(&name).is_some_and(|l| l.loading.is_some()) {
            return self.respond(conn, &id, Err(Failure::new(-32600, "this session is being loaded already")));
        }
        if self.sessions.contains_key(&name) {
            return self.show_again(conn, id, &name);
        }
        match self.start(conn, params, Some(&name)) {
            Ok(started) if started == name => {
                if let Some(live) = self.sessions.get_mut(&started) {
                    live.loading = Some((conn, id));
                }
            }
            Ok(other) => {
                if let Some(live) = self.sessions.remove(&other) {
                    live.send(Op::Shutdown);
                }
                self.respond(conn, &id, Err(Failure::new(-32603, format!("session {name} could not be continued"))));
            }
            Err(failure) => self.respond(conn, &id, Err(failure)),
        }
    }

    /// Shows a live session on `conn`: all it showed, a pending question asked again, then
    /// the answer to the load. Updates after this go to `conn` only.
    fn show_again(&mut self, conn: ConnId, id: Value, name: &str) {
        let Some(live) = self.sessions.get_mut(name) else { return };
        live.conn = Some(conn);
        let log: Vec<Value> = live.log().to_vec();
        let asking = std::mem::take(&mut live.asking);
        let (mode, model) = (live.mode.clone(), live.model.clone());
        for update in log {
            let note = json!({"jsonrpc": "2.0", "method": "session/update",
                              "params": {"sessionId": name, "update": update}});
            self.send(conn, &note);
        }
        self.respond(conn, &id, Ok(json!({"modes": modes(&mode), "configOptions": config_options(&model)})));
        for (old, params) in asking {
            if let Some((_, asked)) = self.asked.remove(&old) {
                let new = self.ask(conn, "session/request_permission", params.clone(), asked);
                if let Some(live) = self.sessions.get_mut(name) {
                    live.asking.push((new, params));
                }
            }
        }
    }

    fn list(&self, params: &Value) -> Result<Value, Failure> {
        let cwd = params["cwd"].as_str().map(Path::new);
        let sessions: Vec<Value> = self
            .config
            .list(cwd)
            .into_iter()
            .filter(|s| !self.sessions.contains_key(&s.session_id) || s.turns > 0)
            .map(|s| {
                let folder = s.cwd.clone().or_else(|| cwd.map(Path::to_path_buf)).unwrap_or_default();
                let updated = chrono::DateTime::<chrono::Utc>::from(s.last_activity)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                json!({"sessionId": s.session_id, "cwd": folder, "title": s.label(), "updatedAt": updated})
            })
            .collect();
        Ok(json!({"sessions": sessions}))
    }

    fn live(&self, params: &Value) -> Result<&Live, Failure> {
        let name = params["sessionId"].as_str().unwrap_or_default();
        self.sessions.get(name).ok_or_else(|| no_session(name))
    }

    /// `session/set_mode`: a permission mode; the client hears `current_mode_update`.
    fn set_mode(&self, params: &Value) -> Result<Value, Failure> {
        let live = self.live(params)?;
        let wanted = params["modeId"].as_str().unwrap_or_default();
        let mode = crate::permissions::PermissionMode::parse(wanted).ok_or_else(|| {
            invalid(format!("unknown mode {wanted:?}: default, acceptEdits, plan, bypassPermissions"))
        })?;
        live.send(Op::SetPermissionMode(mode));
        Ok(json!({}))
    }

    /// `session/set_model` {modelId}, or `session/set_config_option` {configId: "model",
    /// value}: the model from the next request on.
    fn set_model(&mut self, params: &Value) -> Result<Value, Failure> {
        if params.get("configId").is_some_and(|c| c != "model") {
            return Err(invalid(format!("unknown config option {}: the one option is \"model\"", params["configId"])));
        }
        let model = params["modelId"].as_str().or_else(|| params["value"].as_str()).unwrap_or_default();
        if model.trim().is_empty() {
            return Err(invalid("no model given"));
        }
        let name = params["sessionId"].as_str().unwrap_or_default().to_owned();
        let live = self.sessions.get_mut(&name).ok_or_else(|| no_session(&name))?;
        live.send(Op::SetModel(model.to_owned()));
        live.model = crate::provider::models::lookup(model).id;
        Ok(json!({"configOptions": config_options(&live.model)}))
    }

    fn prompt(&mut self, conn: ConnId, id: Value, params: &Value) {
        let name = params["sessionId"].as_str().unwrap_or_default().to_owned();
        let Some(live) = self.sessions.get_mut(&name) else {
            return self.respond(conn, &id, Err(no_session(&name)));
        };
        if live.prompt.is_some() || live.loading.is_some() {
            let busy = Failure::new(
                -32600,
                "a prompt is already running in this session (or it is being loaded): wait for its answer or cancel it",
            );
            return self.respond(conn, &id, Err(busy));
        }
        let input = prompt_input(&params["prompt"]);
        if let Some(instructions) = params::compact_command(&input) {
            live.prompt = Some((conn, id));
            live.compacting = true;
            live.send(Op::Compact(instructions));
            return;
        }
        if input.content.is_empty() && input.attachments.is_empty() {
            return self.respond(conn, &id, Err(invalid("the prompt is empty")));
        }
        // What the user sent, for a client that loads the session later (never joined to
        // what came before).
        for (i, block) in params["prompt"].as_array().into_iter().flatten().enumerate() {
            let chunk = updates::message_chunk("user_message_chunk", block.clone());
            if i == 0 { live.record_apart(&chunk) } else { live.record(&chunk) }
        }
        live.prompt = Some((conn, id));
        live.conn = Some(conn);
        live.send(Op::UserTurn(input));
    }

    /// The client's answer to a question of ours.
    fn answer(&mut self, conn: ConnId, id: &Value, message: &Value) {
        // Only the connection asked may answer.
        let Some(n) = id.as_u64().filter(|n| self.asked.get(n).is_some_and(|(asked, _)| *asked == conn)) else {
            return;
        };
        let Some((_, asked)) = self.asked.remove(&n) else { return };
        match asked {
            Asked::Permission { session, call_id } => {
                let Some(live) = self.sessions.get_mut(&session) else { return };
                live.asking.retain(|(n, _)| Some(*n) != id.as_u64());
                let option = message.pointer("/result/outcome/optionId").and_then(Value::as_str).unwrap_or("");
                let decision = match option {
                    "allow_once" => ApprovalDecision::Allow,
                    "allow_always" => ApprovalDecision::AllowForSession,
                    "reject_always" => ApprovalDecision::DenyForSession,
                    _ => ApprovalDecision::Deny { reason: None },
                };
                live.send(Op::ApprovalAnswer { call_id, decision });
            }
            Asked::Host { session, id: host_id } => {
                let answer = match (message.get("result"), message.get("error")) {
                    (Some(result), _) => Ok(result.clone()),
                    (None, error) => {
                        Err(error.and_then(|e| e["message"].as_str()).unwrap_or("the editor did not answer").to_owned())
                    }
                };
                self.answer_host(&session, host_id, answer);
            }
            Asked::Terminal(run) => self.terminal_step(run, message),
            Asked::Nothing => {}
        }
    }

    /// A connection closed: its sessions go on, shown nowhere until one is loaded again.
    fn closed(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        // Reads, writes and commands the editor was asked for will not be answered now.
        let orphans: Vec<u64> = self
            .asked
            .iter()
            .filter(|(_, (asked_conn, asked))| *asked_conn == conn && !matches!(asked, Asked::Permission { .. }))
            .map(|(id, _)| *id)
            .collect();
        for id in orphans {
            match self.asked.remove(&id) {
                Some((_, Asked::Host { session, id })) => {
                    self.answer_host(&session, id, Err("the editor went away".into()))
                }
                Some((_, Asked::Terminal(run))) => {
                    self.answer_host(&run.session, run.host_id, Err("the editor went away".into()));
                }
                _ => {}
            }
        }
        for live in self.sessions.values_mut() {
            if live.conn == Some(conn) {
                live.conn = None;
            }
        }
    }

    fn event(&mut self, session: &str, event: Event) {
        match event {
            Event::ApprovalRequest { call_id, tool, input, .. } => self.ask_permission(session, call_id, &tool, &input),
            Event::HostRequest { id, request } => self.host_request(session, id, request),
            Event::HistoryRestored { messages, .. } => {
                let Some(live) = self.sessions.get_mut(session) else { return };
                let replay = updates::replay(&messages, &live.cwd);
                let loading = live.loading.take();
                for update in replay {
                    self.update(session, update);
                }
                if let Some((conn, id)) = loading {
                    let live = &self.sessions[session];
                    let reply = json!({"modes": modes(&live.mode), "configOptions": config_options(&live.model)});
                    self.respond(conn, &id, Ok(reply));
                }
            }
            Event::Compacted { .. } | Event::Error { .. } | Event::Notice { .. }
                if self.sessions.get(session).is_some_and(|l| l.compacting) =>
            {
                let cancelled =
                    matches!(&event, Event::Notice { message } if message.starts_with("Compaction interrupted"));
                for update in self.updates_of(session, event) {
                    self.update(session, update);
                }
                let Some(live) = self.sessions.get_mut(session) else { return };
                live.compacting = false;
                if let Some((conn, id)) = live.prompt.take() {
                    let stop = if cancelled { "cancelled" } else { "end_turn" };
                    self.respond(conn, &id, Ok(json!({"stopReason": stop})));
                }
            }
            Event::TurnComplete(outcome) | Event::TurnAborted(outcome) => {
                let Some(live) = self.sessions.get_mut(session) else { return };
                for (id, _) in std::mem::take(&mut live.asking) {
                    self.asked.remove(&id);
                }
                let prompt = live.prompt.take();
                let (said, failure) = rpc::ended(&outcome);
                if let Some(said) = said {
                    self.update(session, updates::message_chunk("agent_message_chunk", updates::text(&said)));
                }
                if let Some((conn, id)) = prompt {
                    let reply = match failure {
                        Some(failure) => Err(failure),
                        None => Ok(json!({"stopReason": rpc::stop_reason(&outcome)})),
                    };
                    self.respond(conn, &id, reply);
                }
            }
            other => {
                for update in self.updates_of(session, other) {
                    self.update(session, update);
                }
            }
        }
    }

    /// The updates an event of the core shows as.
    fn updates_of(&mut self, session: &str, event: Event) -> Vec<Value> {
        let Some(live) = self.sessions.get_mut(session) else { return Vec::new() };
        let chunk = |kind: &str, text: String| vec![updates::message_chunk(kind, updates::text(&text))];
        match event {
            Event::Stream(crate::provider::StreamEvent::TextDelta { text, .. }) => chunk("agent_message_chunk", text),
            Event::Stream(crate::provider::StreamEvent::ThinkingDelta { thinking, .. }) => {
                chunk("agent_thought_chunk", thinking)
            }
            Event::AssistantMessage(message) => message
                .content
                .iter()
                .filter_map(|block| match block {
                    crate::conversation::history::ContentBlock::ToolUse { id, name, input } => {
                        live.calls.insert(id.clone(), (name.clone(), input.clone()));
                        Some(updates::tool_call(id, name, input, &live.cwd))
                    }
                    _ => None,
                })
                .collect(),
            Event::ToolCallStarted { call_id, .. } => vec![updates::tool_running(&call_id)],
            Event::ToolCallFinished { call_id, name, output } => {
                let input = live.calls.remove(&call_id).map(|(_, input)| input).unwrap_or(Value::Null);
                let text = output.text_content();
                let mut done = updates::tool_finished(&call_id, &name, &input, &text, output.is_error, &live.cwd);
                // A command the editor ran stays shown as its terminal.
                if let Some(terminal) = live.terminals.remove(&call_id) {
                    done["content"] = json!([{"type": "terminal", "terminalId": terminal}]);
                }
                vec![done]
            }
            Event::TodosChanged { todos } => vec![updates::plan(&todos)],
            Event::Task(task) => vec![updates::agent_progress(&task)],
            Event::SessionStarted(info) => {
                live.model.clone_from(&info.model);
                live.mode = info.permission_mode.as_str().to_owned();
                let mut commands: Vec<Value> = info
                    .commands
                    .iter()
                    .map(|c| {
                        let input = c.argument_hint.as_ref().map(|hint| json!({"hint": hint}));
                        json!({"name": c.name, "description": c.description, "input": input})
                    })
                    .collect();
                commands.push(params::COMPACT.clone());
                vec![json!({"sessionUpdate": "available_commands_update", "availableCommands": commands})]
            }
            Event::SessionChanged(info) => {
                live.model.clone_from(&info.model);
                let mode = info.permission_mode.as_str();
                if live.mode == mode {
                    return Vec::new();
                }
                live.mode = mode.to_owned();
                vec![json!({"sessionUpdate": "current_mode_update", "currentModeId": mode})]
            }
            Event::Usage { usage, total_cost_usd, .. } => {
                let size = crate::provider::models::lookup(&live.model).context_window;
                let used = usage.input_tokens
                    + usage.cache_read_input_tokens
                    + usage.cache_creation_input_tokens
                    + usage.output_tokens;
                vec![json!({"sessionUpdate": "usage_update", "used": used, "size": size,
                            "cost": {"amount": total_cost_usd, "currency": "USD"}})]
            }
            Event::Error { message } | Event::Notice { message } => {
                chunk("agent_message_chunk", format!("\n\n> {message}\n\n"))
            }
            Event::Compacted { pre_tokens, post_tokens, .. } => chunk(
                "agent_message_chunk",
                format!("Compacted the conversation: {pre_tokens} → {post_tokens} tokens."),
            ),
            _ => Vec::new(),
        }
    }

    fn ask_permission(&mut self, session: &str, call_id: String, tool: &str, input: &Value) {
        let Some(live) = self.sessions.get(session) else { return };
        let option = |kind: &str, name: &str| json!({"optionId": kind, "name": name, "kind": kind});
        let mut call = updates::tool_call(&call_id, tool, input, &live.cwd);
        if let Some(fields) = call.as_object_mut() {
            fields.remove("sessionUpdate");
            fields.remove("status");
        }
        let params = json!({"sessionId": session, "toolCall": call, "options": [
            option("allow_once", "Allow"), option("allow_always", "Always allow"),
            option("reject_once", "Reject"), option("reject_always", "Always reject"),
        ]});
        let asked = Asked::Permission { session: session.to_owned(), call_id };
        // Nobody to ask now: asked when a client loads the session again.
        let id = match live.conn {
            Some(conn) => self.ask(conn, "session/request_permission", params.clone(), asked),
            None => {
                self.next_id += 1;
                self.asked.insert(self.next_id, (ConnId::MAX, asked));
                self.next_id
            }
        };
        if let Some(live) = self.sessions.get_mut(session) {
            live.asking.push((id, params));
        }
    }

    /// A request of the core for its host: a file read or write goes to the client; the
    /// rest have no host behind ACP.
    fn host_request(&mut self, session: &str, id: String, request: crate::protocol::HostRequest) {
        use crate::protocol::HostRequest;
        match &request {
            HostRequest::RunCommand { call_id, command, cwd, env, launcher } => {
                let cwd = cwd.display().to_string();
                return self.run_command(session, id, call_id.clone(), (launcher, command), &cwd, env);
            }
            HostRequest::KillCommand { call_id } => return self.kill_command(session, id, call_id),
            _ => {}
        }
        let Some(live) = self.sessions.get(session) else { return };
        let with_fs = live.conn.filter(|c| self.conns.get(c).is_some_and(|c| c.fs));
        match (client_fs::call(session, &request), with_fs) {
            (Some((method, params)), Some(conn)) => {
                self.ask(conn, method, params, Asked::Host { session: session.to_owned(), id });
            }
            // The editor showing the session now has no file system to offer: the disk it is.
            (Some(_), None) => live.send(Op::HostAnswer { id, answer: Err(crate::protocol::NOT_HANDLED.into()) }),
            (None, _) => live.send(Op::HostAnswer { id, answer: Err("no host program behind ACP".into()) }),
        }
    }
}

fn no_key_message(var: &str) -> String {
    format!(
        "No API key: set {var} in the environment the editor starts `cairn acp` with (in Zed, the agent server's \
         \"env\"), then try again."
    )
}
