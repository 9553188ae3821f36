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

fn stdio_servers(project: &Project) {
    let config = json!({"mcpServers": {
        "fs": {"command": "node", "args": [server("server-filesystem"), "${PROJECT_ROOT}"]},
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
    let mut cmd = project.cairn(&mock);
    cmd.env("PROJECT_ROOT", project.path());
    cmd.args(["-p", "echo", "--output-format", "stream-json", "--verbose", "--allowedTools", "mcp__everything"]);
    let out = crate::support::run(cmd);
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
