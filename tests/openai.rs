//! The OpenAI Chat Completions path end to end (what Ollama, vLLM, llama.cpp and
//! OpenRouter speak), and proxies honoured from the environment.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use serde_json::json;

use crate::support::{Fault, MockLlm, Project, Scenario, Step, run};

#[test]
fn openai_provider_runs_a_tool_loop_against_a_local_server() {
    let project = Project::new();
    project.write("todo.txt", "ship it\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::fault(Fault::Http {
            status: 429,
            retry_after: Some("0".into()),
            retry_after_ms: None,
            should_retry: None,
            error_type: None,
            message: None,
        }),
        Step::tool("Read", json!({"file_path": "todo.txt"})).with_thinking("Look first.").with_text("Reading."),
        Step::text("It says ship it."),
    ]));
    let mut cmd = project.bare_cairn();
    let base = format!("{}/v1", mock.url());
    cmd.args(["-p", "what is todo?", "--provider", "openai", "--base-url", &base, "--model", "qwen-test"]);
    cmd.args(["--output-format", "stream-json", "--verbose"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.result()["result"], "It says ship it.");
    assert_eq!(out.result()["num_turns"], 2);
    assert_eq!(out.lines()[0]["apiKeySource"], "none");
    assert_eq!(out.lines()[0]["model"], "qwen-test");

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    let first = &requests[1];
    assert_eq!(first.path, "/v1/chat/completions");
    assert!(!first.headers.contains_key("authorization"), "a local server gets no key");
    assert_eq!(first.body["stream"], true);
    assert_eq!(first.body["stream_options"], json!({"include_usage": true}));
    assert_eq!(first.body["max_tokens"], 8192);
    assert_eq!(first.body["messages"][0]["role"], "system");
    let read = first.body["tools"].as_array().unwrap().iter().find(|t| t["function"]["name"] == "Read").unwrap();
    assert_eq!(read["type"], "function");
    assert_eq!(read["function"]["parameters"]["required"], json!(["file_path"]));

    let second = &requests[2].body["messages"];
    let roles: Vec<&str> = second.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(second[2]["content"], "Reading.");
    assert_eq!(second[2]["tool_calls"][0]["function"]["arguments"], r#"{"file_path":"todo.txt"}"#);
    assert_eq!(second[3]["tool_call_id"], "call_mock_1_0");
    assert_eq!(second[3]["content"], "     1\tship it\n");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());

    let thinking = out.of_type("assistant");
    assert_eq!(thinking[0]["message"]["content"][0]["thinking"], "Look first.");
}

#[test]
fn openai_key_is_sent_and_required_for_the_openai_api() {
    let project = Project::new();
    let mut cmd = project.bare_cairn();
    cmd.args(["-p", "hi", "--provider", "openai"]);
    let out = run(cmd);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.starts_with("cairn: OPENAI_API_KEY is not set"), "{}", out.stderr);

    let mock = MockLlm::start(Scenario::new(vec![Step::text("hello")]));
    let mut cmd = project.bare_cairn();
    cmd.env("OPENAI_API_KEY", "sk-test").env("OPENAI_BASE_URL", format!("{}/v1", mock.url()));
    cmd.args(["-p", "hi", "--provider", "openai", "--model", "m"]);
    let out = run(cmd);
    assert_eq!(out.stdout, "hello\n", "{}", out.stderr);
    assert_eq!(mock.requests()[0].headers["authorization"], "[redacted]");
}

/// A proxy that records the first line it is sent and refuses the tunnel.
fn refusing_proxy() -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            let _ = tx.send(head.lines().next().unwrap_or_default().to_owned());
            let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        }
    });
    (port, rx)
}

#[test]
fn https_proxy_is_used_and_no_proxy_bypasses_it() {
    let project = Project::new();
    let (port, seen) = refusing_proxy();
    let proxy = format!("http://127.0.0.1:{port}");
    let mut cmd = project.bare_cairn();
    cmd.env("ANTHROPIC_API_KEY", "k").env("ANTHROPIC_BASE_URL", "https://localhost:1");
    cmd.env("HTTPS_PROXY", &proxy).env("CAIRN_MAX_RETRIES", "0").args(["-p", "hi"]);
    let out = run(cmd);
    assert_eq!(out.code(), 1);
    assert!(out.stdout.contains("connection error"), "{}", out.stdout);
    let line = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(line, "CONNECT localhost:1 HTTP/1.1");

    let mut cmd = project.bare_cairn();
    cmd.env("ANTHROPIC_API_KEY", "k").env("ANTHROPIC_BASE_URL", "https://localhost:1");
    cmd.env("HTTPS_PROXY", &proxy).env("NO_PROXY", "localhost").env("CAIRN_MAX_RETRIES", "0");
    cmd.args(["-p", "hi"]);
    let out = run(cmd);
    assert_eq!(out.code(), 1);
    assert!(out.stdout.contains("connection refused"), "went straight to the (closed) port: {}", out.stdout);
    assert!(seen.recv_timeout(Duration::from_millis(500)).is_err(), "NO_PROXY was ignored");
}

#[test]
fn a_local_server_that_is_not_running_is_named_at_once() {
    let project = Project::new();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = project.bare_cairn();
    let base = format!("http://127.0.0.1:{port}/v1");
    cmd.args(["-p", "hi", "--provider", "openai", "--model", "qwen", "--base-url", &base, "--output-format", "json"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 1, "{}", out.stderr);
    let result = out.result();
    let message = result["result"].as_str().unwrap();
    assert!(message.contains(&format!("nothing is listening at http://127.0.0.1:{port}")), "{message}");
    assert!(message.contains("is the server running there?") && message.contains("after 3 attempts"), "{message}");
}
