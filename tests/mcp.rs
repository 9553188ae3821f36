//! MCP through the binary against real servers nobody on this team wrote: the reference
//! `server-filesystem` and `server-everything` from npm (`tests/mcp-servers`, installed by
//! the README's test command), over stdio and Streamable HTTP.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::{MockLlm, Project, Scenario, Step, stream_json, tool_results};

/// A server's entry point; the test fails with what to run if they are not installed.
fn server(package: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp-servers/node_modules/@modelcontextprotocol")
        .join(package)
        .join("dist/index.js");
    assert!(path.is_file(), "{} is missing: run `npm ci --prefix tests/mcp-servers`", path.display());
    path
}

fn tool_names(body: &Value) -> Vec<String> {
    body["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect()
}

/// `.mcp.json` with `server-filesystem` (on `$PROJECT_ROOT`, by default the project) and
/// `server-everything`, both over stdio.
fn stdio_servers(project: &Project) {
    let root = format!("${{PROJECT_ROOT:-{}}}", project.path().display());
    let config = json!({"mcpServers": {
        "fs": {"command": "node", "args": [server("server-filesystem"), root]},
        "everything": {"command": "node", "args": [server("server-everything"), "stdio"]},
    }});
    project.write(".mcp.json", &config.to_string());
}

#[test]
fn stdio_servers_tools_are_offered_and_return_their_real_output() {
    let project = Project::new();
    stdio_servers(&project);
    project.write("notes.txt", "some notes\n");
    std::fs::create_dir(project.file("src")).unwrap();
    let root = project.path().canonicalize().unwrap();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("mcp__fs__list_directory", json!({"path": root})),
            ("mcp__everything__echo", json!({"message": "hello from cairn"})),
        ]),
        Step::tool("mcp__everything__echo", json!({"wrong": 1})),
        Step::text("Listed and echoed."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.env("PROJECT_ROOT", &root);
    cmd.args(["-p", "use the servers", "--output-format", "stream-json", "--verbose"]);
    cmd.args(["--allowedTools", "mcp__fs", "mcp__everything__echo"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let init = out.lines().into_iter().find(|l| l["subtype"] == "init").unwrap();
    let servers: Vec<&str> =
        init["mcp_servers"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(servers, ["everything", "fs"]);
    let requests = mock.requests();
    let names = tool_names(&requests[0].body);
    for expected in ["mcp__fs__list_directory", "mcp__fs__read_text_file", "mcp__everything__echo"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    let results = tool_results(&requests[1].body);
    assert!(results[0].1.contains("[FILE] notes.txt") && results[0].1.contains("[DIR] src"), "{}", results[0].1);
    assert_eq!(results[1].1, "Echo: hello from cairn");
    // A call that does not match the tool's schema never reaches the server.
    let (_, text, is_error) = tool_results(&requests[2].body).pop().unwrap();
    assert!(is_error && text.contains("InputValidationError"), "{text}");
}

#[test]
fn a_deny_rule_blocks_an_mcp_call() {
    let project = Project::new();
    stdio_servers(&project);
    project.write(".claude/settings.json", &json!({"permissions": {"deny": ["mcp__everything"]}}).to_string());
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("mcp__everything__echo", json!({"message": "should not pass"})),
        Step::text("Blocked."),
    ]));
    let out = stream_json(&project, &mock, "echo", &["--allowedTools", "mcp__everything"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    let names = tool_names(&requests[0].body);
    assert!(!names.iter().any(|n| n.starts_with("mcp__everything")), "a denied server's tools are not offered");
    assert!(names.iter().any(|n| n.starts_with("mcp__fs__")), "{names:?}");
    let (_, text, is_error) = tool_results(&requests[1].body).pop().unwrap();
    assert!(is_error && !text.contains("Echo:"), "{text}");
}

/// `server-everything` over Streamable HTTP on a free port; killed when dropped.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    fn start() -> HttpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("node")
            .arg(server("server-everything"))
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("the server said it listens").unwrap();
            if line.contains("listening on port") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        HttpServer { child, port }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_streamable_http_server_works_with_headers_and_variables() {
    let server = HttpServer::start();
    let project = Project::new();
    let config = json!({"mcpServers": {"remote": {
        "type": "http",
        "url": "http://127.0.0.1:${MCP_PORT}/mcp",
        "headers": {"X-Cairn-Test": "${TEST_HEADER:-present}"},
    }}});
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("mcp__remote__echo", json!({"message": "over http"})),
        Step::tool("mcp__remote__get-sum", json!({"a": 2, "b": 40})),
        Step::text("done"),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.env("MCP_PORT", server.port.to_string());
    cmd.args(["-p", "go", "--output-format", "stream-json", "--verbose", "--allowedTools", "mcp__remote"]);
    cmd.args(["--mcp-config", &config.to_string()]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    assert!(tool_names(&requests[0].body).contains(&"mcp__remote__echo".to_owned()));
    assert_eq!(tool_results(&requests[1].body).pop().unwrap().1, "Echo: over http");
    let (_, sum, _) = tool_results(&requests[2].body).pop().unwrap();
    assert!(sum.contains("42"), "{sum}");
}

#[test]
fn a_server_that_exits_mid_session_is_reported_and_the_session_goes_on() {
    let project = Project::new();
    crate::support::ask_about_commands(&project);
    // The server's process writes its pid, so the model's Bash call can stop it.
    let config = json!({"mcpServers": {"everything": {
        "command": "sh",
        "args": ["-c", format!("echo $$ > server.pid; exec node {} stdio", server("server-everything").display())],
    }}});
    project.write(".mcp.json", &config.to_string());
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("mcp__everything__echo", json!({"message": "first"})),
        Step::tool("Bash", json!({"command": "kill $(cat server.pid) && sleep 1"})),
        Step::tool("mcp__everything__echo", json!({"message": "second"})),
        Step::text("The server is gone; carrying on."),
    ]));
    let out = stream_json(&project, &mock, "go", &["--allowedTools", "mcp__everything", "Bash(kill:*)"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    assert_eq!(tool_results(&requests[1].body).pop().unwrap().1, "Echo: first");
    let (_, text, is_error) = tool_results(&requests[3].body).pop().unwrap();
    assert!(is_error, "{text}");
    assert!(text.contains("everything"), "{text}");
    assert!(out.stderr.contains("MCP server everything: the server exited"), "{}", out.stderr);
    assert_eq!(out.result()["result"], "The server is gone; carrying on.");
}

#[test]
fn with_many_tools_schemas_are_loaded_on_demand_and_the_request_stays_in_budget() {
    let project = Project::new();
    // A 30,000-token window: the everything server's schemas pass a tenth of it.
    project.write(".cairn/settings.json", &json!({"contextWindow": 30_000}).to_string());
    stdio_servers(&project);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("ToolSearch", json!({"query": "mcp__everything__echo"})),
        Step::tool("mcp__everything__echo", json!({"message": "loaded lazily"})),
        Step::text("done"),
    ]));
    let out = stream_json(&project, &mock, "go", &["--allowedTools", "mcp__everything"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    let tools = requests[0].body["tools"].as_array().unwrap();
    let mcp: Vec<&Value> = tools.iter().filter(|t| t["name"].as_str().unwrap().starts_with("mcp__")).collect();
    assert!(mcp.len() > 10, "{}", mcp.len());
    let bytes: usize = mcp.iter().map(|t| t.to_string().len()).sum();
    assert!(bytes / 4 < 3_000, "the MCP tools take {bytes} bytes, past a tenth of the window");
    let echo = mcp.iter().find(|t| t["name"] == "mcp__everything__echo").unwrap();
    assert_eq!(echo["input_schema"], json!({"type": "object"}));
    assert!(echo["description"].as_str().unwrap().contains("call ToolSearch"), "{echo}");
    assert!(tools.iter().any(|t| t["name"] == "ToolSearch"));
    let (_, loaded, _) = tool_results(&requests[1].body).pop().unwrap();
    let loaded: Value = serde_json::from_str(&loaded).unwrap();
    assert_eq!(loaded[0]["name"], "mcp__everything__echo");
    assert!(loaded[0]["input_schema"]["properties"]["message"].is_object(), "{loaded}");
    assert_eq!(tool_results(&requests[2].body).pop().unwrap().1, "Echo: loaded lazily");
}

#[test]
fn cairn_mcp_adds_lists_gets_and_removes_servers() {
    let project = Project::new();
    let mcp = |args: &[&str]| {
        let mut cmd = project.bare_cairn();
        cmd.arg("mcp").args(args);
        crate::support::run(cmd)
    };
    let out = mcp(&["add", "fs", "--", "npx", "-y", "@modelcontextprotocol/server-filesystem", "."]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let out = mcp(&[
        "add",
        "--transport",
        "http",
        "--scope",
        "project",
        "-H",
        "Authorization: Bearer ${TOKEN}",
        "api",
        "http://127.0.0.1:9/mcp",
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let shared: Value = serde_json::from_str(&std::fs::read_to_string(project.file(".mcp.json")).unwrap()).unwrap();
    assert_eq!(
        shared["mcpServers"]["api"],
        json!({"type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}})
    );
    let user: Value =
        serde_json::from_str(&std::fs::read_to_string(project.home.path().join("mcp.json")).unwrap()).unwrap();
    assert_eq!(user["mcpServers"]["fs"]["args"], json!(["-y", "@modelcontextprotocol/server-filesystem", "."]));

    let listed = mcp(&["list"]).stdout;
    assert!(listed.contains("api: http://127.0.0.1:9/mcp (http) [project (.mcp.json)]"), "{listed}");
    assert!(listed.contains("fs: npx -y @modelcontextprotocol/server-filesystem . [user]"), "{listed}");
    let got = mcp(&["get", "api"]).stdout;
    assert!(got.contains("type: http") && got.contains("header: Authorization: …"), "{got}");
    assert!(!got.contains("Bearer"), "secrets are not printed: {got}");

    assert_eq!(mcp(&["remove", "api"]).code(), 0);
    assert!(!mcp(&["list"]).stdout.contains("api:"));
    let missing = mcp(&["remove", "nope"]);
    assert_eq!(missing.code(), 1);
    assert!(missing.stderr.contains("No MCP server named nope"), "{}", missing.stderr);
}

#[test]
fn an_interrupt_cancels_a_running_mcp_call() {
    let project = Project::new();
    stdio_servers(&project);
    let mock = MockLlm::start(Scenario::new(vec![Step::tool(
        "mcp__everything__trigger-long-running-operation",
        json!({"duration": 40, "steps": 4}),
    )]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "wait", "--output-format", "stream-json", "--verbose", "--allowedTools", "mcp__everything"]);
    cmd.stdout(Stdio::piped());
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Once the call is under way (its tool_use was printed), interrupt.
    for line in lines.by_ref() {
        if line.unwrap().contains("trigger-long-running-operation") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(35), "the 40 s call was waited for");
    let result = rest.iter().find(|l| l.contains("\"tool_result\"")).expect("the call was answered");
    assert!(result.contains("interrupted"), "{result}");
}

#[test]
fn a_sub_agent_uses_the_sessions_mcp_servers() {
    let project = Project::new();
    stdio_servers(&project);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "echo", "prompt": "echo hi", "subagent_type": "general-purpose"})),
        Step::tool("mcp__everything__echo", json!({"message": "from the agent"})),
        Step::text("The server said: Echo: from the agent"),
        Step::text("done"),
    ]));
    let out = stream_json(&project, &mock, "delegate", &["--allowedTools", "mcp__everything"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    assert!(tool_names(&requests[1].body).contains(&"mcp__everything__echo".to_owned()));
    assert_eq!(tool_results(&requests[2].body).pop().unwrap().1, "Echo: from the agent");
}

#[test]
fn a_call_past_its_timeout_fails_clearly_and_hooks_see_mcp_calls() {
    let project = Project::new();
    let log = project.file("pre-tool-use.json");
    let config = json!({"mcpServers": {
        "everything": {"command": "node", "args": [server("server-everything"), "stdio"], "timeout": 1000},
    }});
    project.write(".mcp.json", &config.to_string());
    let hooks = json!({"hooks": {"PreToolUse": [{"matcher": "mcp__everything__.*",
        "hooks": [{"type": "command", "command": format!("cat >> {}", log.display())}]}]}});
    project.write(".claude/settings.json", &hooks.to_string());
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("mcp__everything__trigger-long-running-operation", json!({"duration": 10, "steps": 2})),
        Step::text("It took too long."),
    ]));
    let out = stream_json(&project, &mock, "go", &["--allowedTools", "mcp__everything"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let (_, text, is_error) = tool_results(&mock.requests()[1].body).pop().unwrap();
    assert!(is_error && text.contains("did not answer within 1 s"), "{text}");
    let hook_input: Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(hook_input["tool_name"], "mcp__everything__trigger-long-running-operation");
    assert_eq!(hook_input["tool_input"]["duration"], 10);
}

#[test]
fn images_and_embedded_resources_reach_the_model() {
    let project = Project::new();
    stdio_servers(&project);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("mcp__everything__get-tiny-image", json!({})),
            ("mcp__everything__get-resource-reference", json!({"resourceId": 2})),
        ]),
        Step::text("Seen."),
    ]));
    let out = stream_json(&project, &mock, "look", &["--allowedTools", "mcp__everything"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let last = mock.requests()[1].body["messages"].as_array().unwrap().last().unwrap().clone();
    let results: Vec<&Value> =
        last["content"].as_array().unwrap().iter().filter(|b| b["type"] == "tool_result").collect();
    let image = results[0]["content"].as_array().unwrap();
    assert!(image.iter().any(|b| b["type"] == "image" && b["source"]["media_type"] == "image/png"), "{}", results[0]);
    let resource = results[1].to_string();
    assert!(resource.contains("[resource ") && resource.contains("Resource 2"), "{resource}");
}
