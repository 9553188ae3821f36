//! `cairn acp` as an editor uses it: `tests/sdk/acp_client.mjs`, the official ACP client
//! library from npm (installed by the README's test command), runs a script of steps
//! against the built binary and the mock, over stdio and over WebSocket. Every message
//! cairn sends in these tests is checked against the JSON schema that ships in the same npm
//! package.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::{MockLlm, Project, Scenario, Step, find_file, run, tool_results};

fn sdk_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    assert!(
        dir.join("node_modules/@agentclientprotocol/sdk").exists(),
        "the ACP client is not installed: run the README's test command (npm ci --prefix tests/sdk)"
    );
    dir
}

/// An editor session: runs `steps` with `env`; what it saw, one value per observation.
/// Every message cairn sent is checked against the protocol's schema.
fn editor(project: &Project, mock: &MockLlm, steps: Value, env: &[(&str, &str)]) -> Vec<Value> {
    let log = project.home.path().join(format!("acp-{}.log", uuid::Uuid::new_v4()));
    let mut cmd = Command::new("node");
    cmd.arg(sdk_dir().join("acp_client.mjs")).env("STEPS", steps.to_string()).env("LOG", &log);
    crate::sdk::sdk_env(&mut cmd, project, mock);
    cmd.envs(env.iter().copied());
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    check_against_schema(&log);
    // ACP_DEBUG=1: the messages both ways, for a failing test.
    if std::env::var("ACP_DEBUG").is_ok() {
        eprintln!("{}", std::fs::read_to_string(&log).unwrap());
    }
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| json!({"unparsed": l}))).collect()
}

fn of_kind<'a>(seen: &'a [Value], kind: &str) -> Vec<&'a Value> {
    seen.iter().filter(|v| v["kind"] == kind).collect()
}

fn updates(seen: &[Value]) -> Vec<&Value> {
    of_kind(seen, "update").into_iter().map(|v| &v["update"]).collect()
}

/// The agent's message text, all chunks joined.
fn said(updates: &[&Value]) -> String {
    updates
        .iter()
        .filter(|u| u["sessionUpdate"] == "agent_message_chunk")
        .filter_map(|u| u["content"]["text"].as_str())
        .collect()
}

/// Checks each message cairn sent against the schema of `@agentclientprotocol/sdk`: a
/// notification or request by its method, a response by the method of the request it
/// answers, an error as an error.
fn check_against_schema(log: &Path) {
    let schema_path = sdk_dir().join("node_modules/@agentclientprotocol/sdk/schema/v1/schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let mut validators: HashMap<&str, jsonschema::Validator> = HashMap::new();
    let mut check = |def: &'static str, value: &Value, message: &Value| {
        let validator = validators.entry(def).or_insert_with(|| {
            let one = json!({"$defs": schema["$defs"], "$ref": format!("#/$defs/{def}")});
            jsonschema::validator_for(&one).unwrap()
        });
        let errors: Vec<String> =
            validator.iter_errors(value).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "cairn sent a message that is not valid as {def}: {errors:?}\n{message:#}");
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut asked: HashMap<String, String> = HashMap::new();
    let mut checked = 0;
    for line in text.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let message = &entry["message"];
        if entry["from"] == "client" {
            if let Some(method) = message["method"].as_str() {
                asked.insert(message["id"].to_string(), method.to_owned());
            }
            continue;
        }
        checked += 1;
        match (message["method"].as_str(), message.get("error"), asked.get(&message["id"].to_string())) {
            (Some("session/update"), ..) => check("SessionNotification", &message["params"], message),
            (Some("session/request_permission"), ..) => check("RequestPermissionRequest", &message["params"], message),
            (Some("fs/read_text_file"), ..) => check("ReadTextFileRequest", &message["params"], message),
            (Some("fs/write_text_file"), ..) => check("WriteTextFileRequest", &message["params"], message),
            (Some("terminal/create"), ..) => check("CreateTerminalRequest", &message["params"], message),
            (Some("terminal/wait_for_exit"), ..) => check("WaitForTerminalExitRequest", &message["params"], message),
            (Some("terminal/output"), ..) => check("TerminalOutputRequest", &message["params"], message),
            (Some("terminal/release"), ..) => check("ReleaseTerminalRequest", &message["params"], message),
            (Some("terminal/kill"), ..) => check("KillTerminalRequest", &message["params"], message),
            (Some(other), ..) => panic!("cairn sent a method clients do not know: {other}"),
            (None, Some(error), _) => check("Error", error, message),
            (None, None, Some(method)) => {
                let def = match method.as_str() {
                    "initialize" => "InitializeResponse",
                    "authenticate" => "AuthenticateResponse",
                    "session/new" => "NewSessionResponse",
                    "session/load" => "LoadSessionResponse",
                    "session/list" => "ListSessionsResponse",
                    "session/prompt" => "PromptResponse",
                    "session/set_mode" => "SetSessionModeResponse",
                    "session/set_config_option" => "SetSessionConfigOptionResponse",
                    other => panic!("an answer to {other}, which the tests do not send"),
                };
                check(def, &message["result"], message);
            }
            (None, None, None) => panic!("cairn answered a request nobody sent: {message}"),
        }
    }
    assert!(checked > 0, "nothing was logged from cairn in {}", log.display());
}

#[test]
fn a_prompt_shows_each_call_pending_running_and_done_with_an_edit_as_a_diff() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Write", json!({"file_path": "notes.txt", "content": "one\n"})),
        Step::tool("Edit", json!({"file_path": "notes.txt", "old_string": "one", "new_string": "two"})),
        Step::tool("Bash", json!({"command": "cat notes.txt"})),
        Step::text("Done."),
    ]));
    let steps = json!([
        {"do": "initialize"}, {"do": "new"}, {"do": "set_mode", "mode": "acceptEdits"},
        {"do": "prompt", "text": "change the notes"},
    ]);
    let seen = editor(&project, &mock, steps, &[]);
    assert_eq!(std::fs::read_to_string(project.file("notes.txt")).unwrap(), "two\n");
    let updates = updates(&seen);
    let edit = updates.iter().find(|u| u["sessionUpdate"] == "tool_call" && u["rawInput"]["old_string"] == "one");
    let edit = edit.expect("the Edit call is announced");
    let id = &edit["toolCallId"];
    let path = project.path().join("notes.txt").display().to_string();
    assert_eq!(
        (&edit["kind"], &edit["status"], &edit["locations"][0]["path"]),
        (&json!("edit"), &json!("pending"), &json!(path))
    );
    let statuses: Vec<&str> =
        updates.iter().filter(|u| &u["toolCallId"] == id).filter_map(|u| u["status"].as_str()).collect();
    assert_eq!(statuses, ["pending", "in_progress", "completed"]);
    let done = updates.iter().find(|u| &u["toolCallId"] == id && u["status"] == "completed").unwrap();
    assert_eq!(done["content"][0], json!({"type": "diff", "path": path, "oldText": "one", "newText": "two"}));
    let command = updates.iter().find(|u| u["status"] == "completed" && u["rawOutput"] == "two");
    assert!(command.is_some_and(|c| c["content"][0]["content"]["text"] == "```\ntwo\n```"), "{updates:#?}");
    assert_eq!(said(&updates), "Done.");
    assert!(updates.iter().any(|u| u["sessionUpdate"] == "usage_update"), "{updates:#?}");
    assert_eq!(of_kind(&seen, "prompted")[0]["stopReason"], "end_turn");
}

#[test]
fn two_prompts_share_a_history_that_a_restarted_agent_lists_and_replays() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "echo hi"})),
        Step::text("One."),
        Step::text("Two.").with_thinking("the second answer"),
        Step::text("Three."),
    ]));
    let steps = json!([
        {"do": "initialize"}, {"do": "new"}, {"do": "set_mode", "mode": "bypassPermissions"},
        {"do": "prompt", "text": "first"}, {"do": "prompt", "text": "second"},
        {"do": "restart"},
        {"do": "initialize"}, {"do": "list"}, {"do": "load"}, {"do": "set_model", "model": "haiku"},
        {"do": "prompt", "text": "third"},
    ]);
    let seen = editor(&project, &mock, steps, &[]);
    let session = of_kind(&seen, "session")[0]["session"].clone();
    let listed = &of_kind(&seen, "listed")[0]["sessions"];
    assert!(listed.as_array().unwrap().iter().any(|s| s["sessionId"] == session), "{listed:#}");
    let initialized = of_kind(&seen, "initialized");
    assert_eq!(initialized[1]["capabilities"]["loadSession"], true);
    let replayed: Vec<&Value> = of_kind(&seen, "loaded")[0]["replayed"].as_array().unwrap().iter().collect();
    let kinds: Vec<&str> = replayed.iter().filter_map(|u| u["sessionUpdate"].as_str()).collect();
    let texts: Vec<&str> = replayed.iter().filter_map(|u| u["content"]["text"].as_str()).collect();
    let file = find_file(project.home.path(), &format!("{}.jsonl", session.as_str().unwrap())).unwrap();
    assert_eq!(
        texts,
        ["first", "One.", "second", "the second answer", "Two."],
        "{kinds:?}\n{}",
        std::fs::read_to_string(file).unwrap()
    );
    let call = replayed.iter().find(|u| u["sessionUpdate"] == "tool_call_update").expect("the call, replayed");
    assert_eq!((&call["status"], &call["rawOutput"]), (&json!("completed"), &json!("hi")));
    // The third prompt continues the same conversation, on the model chosen in the editor.
    let chosen = &of_kind(&seen, "model_set")[0]["configOptions"][0];
    assert_eq!((&chosen["id"], &chosen["currentValue"]), (&json!("model"), &json!("claude-haiku-4-5")));
    let last = mock.requests().last().unwrap().body.clone();
    assert_eq!(last["model"], "claude-haiku-4-5");
    let history = last["messages"].to_string();
    assert!(history.contains("first") && history.contains("Two.") && history.contains("third"), "{history}");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    assert_eq!(of_kind(&seen, "prompted").len(), 3);
}

#[test]
fn an_image_reaches_the_model_and_compact_is_a_command_of_the_editor() {
    let project = Project::claude_user();
    let mock =
        MockLlm::start(Scenario::new(vec![Step::text("One red pixel."), Step::text("The user showed a pixel.")]));
    // A 1×1 PNG.
    let pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let steps = json!([
        {"do": "initialize"}, {"do": "new"}, {"do": "prompt", "text": "what is this?", "image": pixel},
        {"do": "prompt", "text": "/compact keep the colour"},
    ]);
    let seen = editor(&project, &mock, steps, &[]);
    let first = &mock.requests()[0].body;
    let sent = first["messages"].as_array().unwrap().last().unwrap()["content"].to_string();
    assert!(sent.contains("\"image\"") && sent.contains(pixel), "{sent}");
    let summary_request = mock.requests()[1].body["messages"].to_string();
    assert!(summary_request.contains("keep the colour"), "{summary_request}");
    let commands = updates(&seen).into_iter().find(|u| u["sessionUpdate"] == "available_commands_update").unwrap();
    assert!(commands["availableCommands"].as_array().unwrap().iter().any(|c| c["name"] == "compact"));
    assert!(said(&updates(&seen)).contains("Compacted the conversation"), "{seen:#?}");
    assert_eq!(
        of_kind(&seen, "prompted").iter().map(|p| p["stopReason"].clone()).collect::<Vec<_>>(),
        ["end_turn", "end_turn"]
    );
}

#[test]
fn always_reject_refuses_the_same_command_without_asking_again() {
    let project = Project::claude_user();
    crate::support::ask_about_commands(&project);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "touch made.txt"})),
        Step::tool("Bash", json!({"command": "touch made.txt"})),
        Step::text("Not made."),
    ]));
    let steps = json!([{"do": "initialize"}, {"do": "new"}, {"do": "prompt", "text": "make it"}]);
    let seen = editor(&project, &mock, steps, &[("DECISION", "reject_always")]);
    let asked = of_kind(&seen, "permission");
    assert_eq!(asked.len(), 1, "asked once: {seen:#?}");
    assert_eq!(asked[0]["options"], json!(["allow_once", "allow_always", "reject_once", "reject_always"]));
    assert_eq!(asked[0]["toolCall"]["kind"], "execute");
    assert!(!project.file("made.txt").exists());
    let refused = tool_results(&mock.requests()[2].body);
    assert!(refused.iter().all(|r| r.2), "both calls refused: {refused:?}");
    let failed = updates(&seen).iter().filter(|u| u["status"] == "failed").count();
    assert_eq!(failed, 2);
}

#[test]
fn a_client_that_never_answers_a_permission_request_can_still_cancel() {
    let project = Project::claude_user();
    crate::support::ask_about_commands(&project);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "touch made.txt"})),
        Step::text("never"),
    ]));
    let steps = json!([{"do": "initialize"}, {"do": "new"}, {"do": "prompt", "text": "make it"}]);
    let seen = editor(&project, &mock, steps, &[("DECISION", "cancel")]);
    assert_eq!(of_kind(&seen, "prompted")[0]["stopReason"], "cancelled", "{seen:#?}");
    assert!(!project.file("made.txt").exists());
}

#[test]
fn the_editors_mcp_server_and_file_system_are_used() {
    let project = Project::claude_user();
    project.write("notes.txt", "on disk\n");
    project.write("data/facts.txt", "served by the editor's MCP server\n");
    let notes = project.path().join("notes.txt").display().to_string();
    let facts = project.path().join("data/facts.txt").display().to_string();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("mcp__files__read_text_file", json!({"path": facts})),
        Step::tool("Read", json!({"file_path": "notes.txt"})),
        Step::tool("Edit", json!({"file_path": "notes.txt", "old_string": "unsaved", "new_string": "edited"})),
        Step::text("Done."),
    ]));
    let node =
        String::from_utf8(Command::new("node").args(["-p", "process.execPath"]).output().unwrap().stdout).unwrap();
    let server = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp-servers/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    assert!(server.is_file(), "run `npm ci --prefix tests/mcp-servers`");
    let mcp = json!([{"name": "files", "command": node.trim(), "args": [server, project.path()], "env": []}]);
    let steps = json!([
        {"do": "initialize", "fs": true}, {"do": "new", "mcp": mcp}, {"do": "set_mode", "mode": "acceptEdits"},
        {"do": "prompt", "text": "read and edit"},
    ]);
    let buffers = json!({notes.clone(): "unsaved buffer\n"}).to_string();
    let seen = editor(&project, &mock, steps, &[("BUFFERS", &buffers)]);
    let results: Vec<String> = mock.requests().iter().skip(1).map(|r| format!("{:?}", tool_results(&r.body))).collect();
    assert!(results[0].contains("served by the editor's MCP server"), "{results:?}");
    assert!(results[1].contains("unsaved buffer"), "Read saw the editor's buffer: {results:?}");
    assert!(results[2].contains("Edited"), "{results:?}");
    assert!(of_kind(&seen, "fs_read").iter().any(|r| r["path"] == json!(notes)), "{seen:#?}");
    let written = of_kind(&seen, "fs_write");
    assert_eq!((&written[0]["path"], &written[0]["content"]), (&json!(notes), &json!("edited buffer\n")));
    assert_eq!(
        std::fs::read_to_string(project.file("notes.txt")).unwrap(),
        "on disk\n",
        "the editor saves its buffer; cairn wrote nothing to disk"
    );
}

#[test]
fn with_editor_terminal_commands_run_in_the_editors_terminal() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "echo from the editor; exit 3"})),
        Step::text("It failed."),
        Step::tool("Bash", json!({"command": "echo $$ > slow.pid; sleep 30"})),
        Step::text("never"),
    ]));
    let steps = json!([
        {"do": "initialize", "terminal": true}, {"do": "new"}, {"do": "set_mode", "mode": "bypassPermissions"},
        {"do": "prompt", "text": "run it"}, {"do": "prompt", "text": "run the slow one", "cancel_when_file": "slow.pid"},
    ]);
    let seen = editor(&project, &mock, steps, &[("AGENT_ARGS", r#"["--editor-terminal"]"#)]);
    let created = of_kind(&seen, "terminal_create");
    // The sandbox's launcher runs in the editor's terminal, and starts the shell there.
    assert_eq!(created[0]["command"], json!(env!("CARGO_BIN_EXE_cairn")), "{seen:#?}");
    let args = created[0]["args"].as_array().unwrap();
    assert_eq!(args[0], "__sandbox", "{seen:#?}");
    assert_eq!(args[args.len() - 3..], [json!("bash"), json!("-c"), json!("echo from the editor; exit 3")]);
    assert_eq!(created[0]["cwd"], json!(project.path().canonicalize().unwrap()));
    let result = tool_results(&mock.requests()[1].body);
    assert!(
        result[0].1.contains("Exit code 3") && result[0].1.contains("from the editor") && result[0].2,
        "{result:?}"
    );
    let shown = updates(&seen)
        .into_iter()
        .filter(|u| u["toolCallId"] == "toolu_mock_0_0" && u["content"][0]["type"] == "terminal")
        .count();
    assert!(shown >= 1, "the terminal is shown in the tool call: {seen:#?}");
    // Cancelled: the editor is told to kill it.
    assert_eq!(of_kind(&seen, "prompted")[1]["stopReason"], "cancelled");
    assert_eq!(of_kind(&seen, "terminal_kill").len(), 1, "{seen:#?}");
}

/// `cairn acp --listen 127.0.0.1:0` for `project`; the child and the URL it printed.
fn listen(project: &Project, mock: &MockLlm) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.args(["acp", "--listen", "127.0.0.1:0"]).env("CAIRN_ACP_TOKEN", "secret-token");
    crate::sdk::sdk_env(&mut cmd, project, mock);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit_once(' ').map(|(_, url)| url.to_owned()).unwrap_or_default();
    assert!(url.starts_with("ws://127.0.0.1:") && url.ends_with("?token=secret-token"), "{line}");
    (child, url.replace("?token=secret-token", ""))
}

/// The status line of a WebSocket handshake with `token`.
fn handshake(url: &str, token: &str) -> String {
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).unwrap();
    String::from_utf8_lossy(&head[..n]).lines().next().unwrap_or_default().to_owned()
}

#[test]
fn over_websocket_a_dropped_socket_loses_nothing_and_shows_nothing_twice() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "sleep 1; echo after the drop"})),
        Step::text("All done."),
    ]));
    let (mut agent, url) = listen(&project, &mock);
    assert!(handshake(&url, "wrong").contains("401"), "a wrong token is refused");
    assert!(handshake(&url, "secret-token").contains("101"), "the right one is taken");
    let steps = json!([
        {"do": "initialize"}, {"do": "new"}, {"do": "set_mode", "mode": "bypassPermissions"},
        {"do": "prompt", "text": "run it", "drop_on": "tool_call"},
        {"do": "initialize"}, {"do": "load"}, {"do": "updates_until", "text": "All done."},
    ]);
    let seen = editor(&project, &mock, steps, &[("URL", &url), ("TOKEN", "secret-token")]);
    let _ = agent.kill();
    let loaded = of_kind(&seen, "loaded")[0];
    assert_eq!(loaded["requests"], 2, "a reconnect takes initialize and session/load, nothing else");
    // What the second connection was shown: the replay, then what came live.
    let mut shown: Vec<&Value> = loaded["replayed"].as_array().unwrap().iter().collect();
    shown.extend(of_kind(&seen, "update").into_iter().filter(|u| u["conn"] == 2).map(|u| &u["update"]));
    let count = |f: &dyn Fn(&&Value) -> bool| shown.iter().filter(|u| f(u)).count();
    assert_eq!(count(&|u| u["sessionUpdate"] == "tool_call"), 1, "{shown:#?}");
    assert_eq!(count(&|u| u["status"] == "completed"), 1, "{shown:#?}");
    assert_eq!(count(&|u| u["sessionUpdate"] == "user_message_chunk"), 1, "{shown:#?}");
    assert_eq!(said(&shown), "All done.", "{shown:#?}");
    let output = shown.iter().find(|u| u["status"] == "completed").unwrap();
    assert_eq!(output["rawOutput"], "after the drop");
}

#[test]
fn over_websocket_a_question_pending_when_the_socket_drops_is_asked_again() {
    let project = Project::claude_user();
    crate::support::ask_about_commands(&project);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "touch made.txt"})),
        Step::text("Made."),
    ]));
    let (mut agent, url) = listen(&project, &mock);
    let steps = json!([
        {"do": "initialize"}, {"do": "new"}, {"do": "prompt", "text": "make it", "drop_on": "permission"},
        {"do": "initialize"}, {"do": "load"}, {"do": "updates_until", "text": "Made."},
    ]);
    let decisions = json!(["never", "allow_once"]).to_string();
    let seen = editor(&project, &mock, steps, &[("URL", &url), ("TOKEN", "secret-token"), ("DECISIONS", &decisions)]);
    let _ = agent.kill();
    let asked: Vec<&Value> = of_kind(&seen, "permission");
    assert_eq!(asked.iter().map(|p| p["conn"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2], "{seen:#?}");
    assert!(project.file("made.txt").exists(), "allowed after the reconnect");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
}

/// `cairn acp` on stdio, by hand: what a client that is not the library can send.
struct ByHand {
    child: Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<Value>,
}

impl ByHand {
    fn start(project: &Project, mock: &MockLlm, key: bool) -> ByHand {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
        cmd.arg("acp");
        crate::sdk::sdk_env(&mut cmd, project, mock);
        if !key {
            cmd.env_remove("ANTHROPIC_API_KEY");
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(serde_json::from_str(&line).unwrap_or_else(|_| json!({"unparsed": line})));
            }
        });
        ByHand { child, stdin, lines }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
    }

    /// The next message that `wanted` accepts (others are skipped).
    fn until(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self.lines.recv_timeout(std::time::Duration::from_secs(30)).expect("cairn acp went quiet");
            if wanted(&message) {
                return message;
            }
        }
    }

    /// Sends request `id`; its answer.
    fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string());
        self.until(|m| m["id"] == id && m.get("method").is_none())
    }
}

#[test]
fn bad_input_gets_protocol_errors_and_a_client_gone_mid_question_loses_nothing() {
    let project = Project::claude_user();
    crate::support::ask_about_commands(&project);
    let mock = MockLlm::start(Scenario::new(vec![Step::tool("Bash", json!({"command": "touch made.txt"}))]));
    let mut acp = ByHand::start(&project, &mock, true);
    acp.send("this is not json");
    assert_eq!(acp.until(|_| true)["error"]["code"], -32700);
    acp.send("[1, 2]");
    assert_eq!(acp.until(|_| true)["error"]["code"], -32600);
    assert_eq!(acp.call(1, "nope", json!({}))["error"]["code"], -32601);
    assert!(acp.call(2, "initialize", json!({"protocolVersion": 1}))["result"]["agentCapabilities"].is_object());
    let unknown = acp.call(3, "session/prompt", json!({"sessionId": "nope", "prompt": []}));
    assert!(unknown["error"]["message"].as_str().unwrap().contains("session/new"), "{unknown}");
    let relative = acp.call(4, "session/new", json!({"cwd": "relative/dir", "mcpServers": []}));
    assert_eq!(relative["error"]["code"], -32602);
    let missing =
        acp.call(5, "session/load", json!({"sessionId": "no-such-session", "cwd": project.path(), "mcpServers": []}));
    assert!(missing["error"]["message"].is_string(), "{missing}");
    let created = acp.call(6, "session/new", json!({"cwd": project.path(), "mcpServers": []}));
    let session = created["result"]["sessionId"].as_str().unwrap().to_owned();
    let prompt = json!({"sessionId": session, "prompt": [{"type": "text", "text": "please make the file"}]});
    acp.send(&json!({"jsonrpc": "2.0", "id": 7, "method": "session/prompt", "params": prompt}).to_string());
    acp.until(|m| m["method"] == "session/request_permission");
    let second = acp.call(8, "session/prompt", prompt.clone());
    assert!(second["error"]["message"].as_str().unwrap().contains("already running"), "{second}");
    // The client goes away while asked: cairn ends, the command never ran, and the
    // conversation so far is on disk.
    drop(acp.stdin);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while acp.child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "cairn acp did not end when its client left");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!project.file("made.txt").exists());
    let transcript = find_file(project.home.path(), &format!("{session}.jsonl")).expect("the session's transcript");
    let transcript = std::fs::read_to_string(transcript).unwrap();
    assert!(transcript.contains("please make the file") && transcript.contains("touch made.txt"), "{transcript}");
}

#[test]
fn a_failed_turn_is_an_error_and_odd_requests_are_refused_without_harm() {
    use crate::support::mock_llm::Fault;
    let project = Project::claude_user();
    let unauthorized = Fault::Http {
        status: 401,
        retry_after: None,
        retry_after_ms: None,
        should_retry: None,
        error_type: Some("authentication_error".into()),
        message: Some("invalid x-api-key".into()),
    };
    let mock = MockLlm::start(Scenario::new(vec![Step::fault(unauthorized)]));
    let mut acp = ByHand::start(&project, &mock, true);
    acp.call(1, "initialize", json!({"protocolVersion": 1}));
    // A line that is not UTF-8 is a parse error; the agent goes on.
    acp.stdin.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"x\xff\"}\n").unwrap();
    assert_eq!(acp.until(|_| true)["error"]["code"], -32700);
    let created = acp.call(3, "session/new", json!({"cwd": project.path(), "mcpServers": []}));
    let session = created["result"]["sessionId"].as_str().unwrap().to_owned();
    // Loading by a path (which would name the live session's file) is refused.
    let transcript = find_file(project.home.path(), &format!("{session}.jsonl")).unwrap_or_default();
    let by_path =
        acp.call(4, "session/load", json!({"sessionId": transcript, "cwd": project.path(), "mcpServers": []}));
    assert_eq!(by_path["error"]["code"], -32602, "{by_path}");
    let prompt = json!({"sessionId": session, "prompt": [{"type": "text", "text": "hi"}]});
    let failed = acp.call(5, "session/prompt", prompt.clone());
    assert!(failed["error"]["message"].as_str().unwrap().contains("invalid x-api-key"), "{failed}");
    // The session is still there, and closes.
    assert_eq!(acp.call(6, "session/close", json!({"sessionId": session}))["result"], json!({}));
    assert!(acp.call(7, "session/prompt", prompt)["error"].is_object());
    let _ = acp.child.kill();
}

#[test]
fn cancel_stops_a_compaction_and_the_conversation_stays() {
    let project = Project::claude_user();
    let stall = crate::support::Fault::Stall { after_events: 0, ms: None };
    let mock =
        MockLlm::start(Scenario::new(vec![Step::text("One."), Step::text("Still here.")]).with_summary_fault(stall));
    let mut acp = ByHand::start(&project, &mock, true);
    acp.call(1, "initialize", json!({"protocolVersion": 1}));
    let created = acp.call(2, "session/new", json!({"cwd": project.path(), "mcpServers": []}));
    let session = created["result"]["sessionId"].as_str().unwrap().to_owned();
    let say = |text: &str| json!({"sessionId": session, "prompt": [{"type": "text", "text": text}]});
    assert_eq!(acp.call(3, "session/prompt", say("first"))["result"]["stopReason"], "end_turn");
    acp.send(&json!({"jsonrpc": "2.0", "id": 4, "method": "session/prompt", "params": say("/compact")}).to_string());
    assert!(mock.wait_for_requests(2, std::time::Duration::from_secs(30)), "the summary was asked for");
    acp.send(&json!({"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": session}}).to_string());
    let stopped = acp.until(|m| m["id"] == 4);
    assert_eq!(stopped["result"]["stopReason"], "cancelled", "{stopped}");
    assert_eq!(acp.call(5, "session/prompt", say("again"))["result"]["stopReason"], "end_turn");
    let history = mock.requests().last().unwrap().body["messages"].to_string();
    assert!(history.contains("first") && history.contains("One."), "the conversation is as it was: {history}");
    let _ = acp.child.kill();
}

#[test]
fn without_a_key_the_client_is_told_how_to_authenticate() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![]));
    let mut acp = ByHand::start(&project, &mock, false);
    let init = acp.call(1, "initialize", json!({"protocolVersion": 1}));
    assert_eq!(init["result"]["authMethods"][0]["id"], "env:ANTHROPIC_API_KEY", "{init}");
    let refused = acp.call(2, "session/new", json!({"cwd": project.path(), "mcpServers": []}));
    assert_eq!(refused["error"]["code"], -32000, "auth_required: {refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("ANTHROPIC_API_KEY"), "{refused}");
    let still = acp.call(3, "authenticate", json!({"methodId": "env:ANTHROPIC_API_KEY"}));
    assert!(still["error"]["message"].as_str().unwrap().contains("ANTHROPIC_API_KEY"), "{still}");
    let _ = acp.child.kill();
}

#[test]
fn a_sub_agents_progress_shows_under_its_task_call() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "look around", "prompt": "AGENT: list the files"})).when("look"),
        Step::tool("Bash", json!({"command": "ls"})).when("AGENT:"),
        Step::text("Nothing much here.").when("AGENT:"),
        Step::text("The agent looked.").when("look"),
    ]));
    let steps = json!([
        {"do": "initialize"}, {"do": "new"}, {"do": "set_mode", "mode": "bypassPermissions"},
        {"do": "prompt", "text": "look around"},
    ]);
    let seen = editor(&project, &mock, steps, &[]);
    let updates = updates(&seen);
    let task = updates.iter().find(|u| u["sessionUpdate"] == "tool_call" && u["rawInput"]["prompt"].is_string());
    let id = &task.expect("the Task call is announced")["toolCallId"];
    let progress: Vec<&&Value> =
        updates.iter().filter(|u| &u["toolCallId"] == id && u["_meta"]["cairn"]["agentId"].is_string()).collect();
    let states: Vec<&str> = progress.iter().filter_map(|u| u["_meta"]["cairn"]["state"].as_str()).collect();
    assert_eq!(states.first(), Some(&"started"), "{progress:#?}");
    assert_eq!(states.last(), Some(&"completed"), "{progress:#?}");
    assert!(progress.iter().any(|u| u["_meta"]["cairn"]["currentTool"] == "Bash"), "{progress:#?}");
    assert_eq!(said(&updates), "The agent looked.");
}
