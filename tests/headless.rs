//! `cairn -p`: prompts in, the three output formats out, in Claude Code's shapes.

use std::io::Write;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::mock_llm::wire::signature;
use crate::support::{BUILTIN_TOOLS, MockLlm, Project, Scenario, Step, run, spawn, stream_json};

#[test]
fn text_output_prints_the_answer_and_sends_a_proper_request() {
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Hello from the mock.")]));
    let project = Project::new();
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "say hi"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.stdout, "Hello from the mock.\n");

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    assert_eq!(request.headers["x-api-key"], "[redacted]");
    let body = &request.body;
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["model"], "claude-sonnet-5");
    let content = body["messages"][0]["content"].as_array().unwrap();
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    assert!(content[0]["text"].as_str().unwrap().starts_with("<system-reminder>\nToday's date is "), "{content:?}");
    assert_eq!(content[1], json!({"type": "text", "text": "say hi", "cache_control": {"type": "ephemeral"}}));
    let tools: Vec<&str> = body["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tools, BUILTIN_TOOLS);
    let system = body["system"][0]["text"].as_str().unwrap();
    assert!(system.contains(&format!("Working directory: {}", project.path().display())), "{system}");
}

#[test]
fn json_output_is_one_result_object() {
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Done.")]));
    let project = Project::new();
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "say hi", "--output-format", "json"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(result["type"], "result");
    assert_eq!(result["subtype"], "success");
    assert_eq!(result["is_error"], false);
    assert_eq!(result["result"], "Done.");
    assert_eq!(result["num_turns"], 1);
    assert_eq!(result["stop_reason"], "end_turn");
    assert_eq!(result["terminal_reason"], "completed");
    assert!(uuid::Uuid::parse_str(result["session_id"].as_str().unwrap()).is_ok());
    assert!(result["total_cost_usd"].as_f64().unwrap() > 0.0, "{result}");
    assert!(result["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(result["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert!(result["duration_ms"].as_u64().is_some() && result["duration_api_ms"].as_u64().is_some());
    assert_eq!(result["modelUsage"]["claude-sonnet-5"]["contextWindow"], 1_000_000);
    assert_eq!(result["permission_denials"], json!([]));
}

#[test]
fn stream_json_lines_have_claude_code_shapes() {
    let project = Project::new();
    project.write("notes.md", "remember the milk\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "notes.md"})).with_thinking("I should read it.").with_text("Reading."),
        Step::text("It says: remember the milk."),
    ]));
    let out = stream_json(&project, &mock, "what is in notes.md?", &["--include-partial-messages"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let lines = out.lines();
    let kinds: Vec<String> = lines
        .iter()
        .filter(|l| l["type"] != "stream_event")
        .map(|l| match l["type"].as_str().unwrap() {
            "system" => format!("system/{}", l["subtype"].as_str().unwrap()),
            "assistant" => format!("assistant/{}", l["message"]["content"][0]["type"].as_str().unwrap()),
            other => other.to_owned(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "system/init",
            "assistant/thinking",
            "assistant/text",
            "assistant/tool_use",
            "user",
            "assistant/text",
            "result"
        ]
    );

    let init = &lines[0];
    let session_id = init["session_id"].as_str().unwrap();
    assert_eq!(init["cwd"], json!(project.path()));
    assert_eq!(init["model"], "claude-sonnet-5");
    assert_eq!(init["permissionMode"], "default");
    assert_eq!(init["apiKeySource"], "ANTHROPIC_API_KEY");
    assert_eq!(init["tools"], json!(BUILTIN_TOOLS));
    assert!(lines.iter().all(|l| l["session_id"] == session_id));

    let assistant: Vec<&Value> = lines.iter().filter(|l| l["type"] == "assistant").collect();
    assert_eq!(assistant[0]["message"]["id"], assistant[2]["message"]["id"]);
    assert_eq!(assistant[0]["message"]["content"][0]["signature"], signature(0, "I should read it."));
    let tool_use = &assistant[2]["message"]["content"][0];
    assert_eq!(tool_use["name"], "Read");
    assert_eq!(tool_use["input"], json!({"file_path": "notes.md"}));

    let user = lines.iter().find(|l| l["type"] == "user").unwrap();
    let result_block = &user["message"]["content"][0];
    assert_eq!(result_block["tool_use_id"], tool_use["id"]);
    assert_eq!(result_block["is_error"], false);
    assert_eq!(result_block["content"], "     1\tremember the milk\n");
    assert_eq!(user["tool_use_result"]["file"]["numLines"], 1);
    assert!(user["timestamp"].as_str().unwrap().ends_with('Z'));

    let events: Vec<&str> =
        lines.iter().filter(|l| l["type"] == "stream_event").map(|l| l["event"]["type"].as_str().unwrap()).collect();
    assert_eq!(events.first(), Some(&"message_start"));
    assert_eq!(events.iter().filter(|e| **e == "message_stop").count(), 2);
    assert!(lines.iter().any(|l| l["event"]["delta"]["type"] == "thinking_delta"));
    assert!(lines.iter().any(|l| l["event"]["delta"]["type"] == "input_json_delta"));
    let text: String = lines
        .iter()
        .filter(|l| l["event"]["delta"]["type"] == "text_delta")
        .map(|l| l["event"]["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Reading.It says: remember the milk.");

    let result = out.result();
    assert_eq!(result["num_turns"], 2);
    assert_eq!(result["result"], "It says: remember the milk.");

    // The thinking block went back to the API unmodified, signature included.
    let second = &mock.requests()[1].body;
    assert_eq!(
        second["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "I should read it.", "signature": signature(0, "I should read it.")})
    );
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
}

#[test]
fn prompt_comes_from_stdin_alone_or_with_the_argument() {
    let mock = MockLlm::start(Scenario::new(vec![Step::text("one"), Step::text("two")]));
    let project = Project::new();
    for args in [vec!["-p"], vec!["-p", "summarise this"]] {
        let mut cmd = project.cairn(&mock);
        cmd.args(&args).stdin(Stdio::piped());
        let mut child = spawn(cmd);
        child.stdin.take().unwrap().write_all(b"line from a pipe\n").unwrap();
        let out = crate::support::finish(child);
        assert_eq!(out.code(), 0, "{}", out.stderr);
    }
    // (Block 0 is the session's context: the date, the folder, memory files.)
    let first = &mock.requests()[0].body["messages"][0]["content"][1]["text"];
    assert_eq!(first, "line from a pipe\n");
    let second = &mock.requests()[1].body["messages"][0]["content"][1]["text"];
    assert_eq!(second, "summarise this\n\n<stdin>\nline from a pipe\n</stdin>");
}

#[test]
fn stream_json_input_runs_several_turns_in_one_session() {
    let mock = MockLlm::start(Scenario::new(vec![Step::text("First answer."), Step::text("Second answer.")]));
    let project = Project::new();
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"])
        .stdin(Stdio::piped());
    let mut child = spawn(cmd);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, r#"{{"type":"user","message":{{"role":"user","content":"first question"}}}}"#).unwrap();
    writeln!(
        stdin,
        r#"{{"type":"user","message":{{"role":"user","content":[{{"type":"text","text":"second question"}}]}}}}"#
    )
    .unwrap();
    drop(stdin);
    let out = crate::support::finish(child);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let results = out.of_type("result");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["result"], "First answer.");
    assert_eq!(results[1]["result"], "Second answer.");
    let inits = out.of_type("system").into_iter().filter(|l| l["subtype"] == "init").count();
    assert_eq!(inits, 1, "one init per session");
    // Both lines were queued at once: one run of turns, then idle.
    let states: Vec<String> = out
        .of_type("system")
        .iter()
        .filter(|l| l["subtype"] == "session_state_changed")
        .map(|l| l["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states.last().map(String::as_str), Some("idle"), "{states:?}");
    let history = &mock.requests()[1].body["messages"];
    assert_eq!(history.as_array().unwrap().len(), 3);
    assert_eq!(history[1]["content"][0]["text"], "First answer.");
}

#[test]
fn a_missing_key_is_one_line_naming_the_variable() {
    let project = Project::new();
    let mut cmd = project.bare_cairn();
    cmd.args(["-p", "say hi"]);
    let out = run(cmd);
    assert_eq!(out.code(), 1);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("cairn: ANTHROPIC_API_KEY is not set"), "{}", out.stderr);
}

#[test]
fn bad_input_gets_a_clear_error_before_any_request() {
    let mock = MockLlm::start(Scenario::new(vec![]));
    let project = Project::new();
    let cases: [(&[&str], &str); 4] = [
        (&["-p"], "Input must be provided"),
        (&["-p", "x", "--input-format", "stream-json"], "requires --output-format stream-json"),
        (&["-p", "x", "--permission-mode", "yolo"], "not a permission mode"),
        (&["-p", "x", "--allowedTools", "Bash(oops"], "invalid permission rule"),
    ];
    for (args, expected) in cases {
        let mut cmd = project.cairn(&mock);
        cmd.args(args);
        let out = run(cmd);
        assert_ne!(out.code(), 0, "{args:?}");
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    assert!(mock.requests().is_empty());
}

#[test]
fn version_and_flags_for_the_system_prompt_and_session_id() {
    let project = Project::new();
    let mut cmd = project.bare_cairn();
    cmd.arg("-v");
    let out = run(cmd);
    assert_eq!(out.code(), 0);
    assert_eq!(out.stdout.trim(), format!("cairn {}", env!("CARGO_PKG_VERSION")));

    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let id = "5d0f1b7e-8f5a-4d35-9d4c-1a1b2c3d4e5f";
    let mut cmd = project.cairn(&mock);
    cmd.args([
        "-p",
        "x",
        "--output-format",
        "json",
        "--system-prompt",
        "You are terse.",
        "--append-system-prompt",
        "Reply in French.",
    ]);
    cmd.args(["--session-id", id, "--model", "haiku"]);
    let out = run(cmd);
    assert_eq!(out.result()["session_id"], id);
    let body = &mock.requests()[0].body;
    assert_eq!(body["system"][0]["text"], "You are terse.\n\nReply in French.");
    assert_eq!(body["model"], "claude-haiku-4-5");
}

/// The exact request the model sees on a first turn: system prompt, tool schemas, message,
/// cache breakpoints. A change here is a change to every conversation; review it.
#[test]
fn the_first_request_is_what_the_model_sees() {
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let project = Project::new();
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "say hi"]);
    assert_eq!(run(cmd).code(), 0);
    let mut body = mock.requests()[0].body.clone();
    let cwd = project.path().display().to_string();
    let folder = cairn::session::project_folder_name(project.path());
    let system = body["system"][0]["text"].as_str().unwrap().replace(&cwd, "[cwd]").replace(&folder, "[project]");
    let system = system.replace(&project.home.path().display().to_string(), "[home]");
    body["system"][0]["text"] = json!(system);
    // The first message's context: the date changes daily, and whether the temp dir sits
    // inside a git checkout depends on TMPDIR.
    let context = body["messages"][0]["content"][0]["text"].as_str().unwrap().replace(&cwd, "[cwd]");
    let context = regex::Regex::new(r"date is \d{4}-\d{2}-\d{2}. The working directory \[cwd\] is [^.]*\.")
        .unwrap()
        .replace(&context, "date is [date]. The working directory [cwd] is [git].")
        .into_owned();
    body["messages"][0]["content"][0]["text"] = json!(context);
    insta::assert_json_snapshot!("first_request", body);
}

#[test]
fn text_mode_reports_tool_calls_with_verbose_and_errors_on_stdout() {
    let project = Project::new();
    project.write("a.txt", "a\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "a.txt"})),
        Step::tool("Read", json!({"file_path": "a.txt"})),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "go", "--verbose", "--max-turns", "1"]);
    let out = run(cmd);
    assert_eq!(out.code(), 1);
    assert_eq!(out.stdout, "Error: Reached max turns (1)\n");
    assert!(out.stderr.contains("→ Read a.txt"), "{}", out.stderr);
}
