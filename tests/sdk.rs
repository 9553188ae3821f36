//! cairn under Anthropic's Agent SDKs, as programs written for Claude Code run it: the
//! Python SDK (`claude-agent-sdk`, pinned in `tests/sdk/requirements.txt`, installed into
//! `target/sdk-venv`) and the TypeScript SDK (`@anthropic-ai/claude-agent-sdk`, pinned in
//! `tests/sdk/package.json`), both installed by the README's test command. `drive.py` and
//! `drive.mjs` run a scenario with the CLI path set to the built binary, against the mock,
//! and print what the program saw.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{MockLlm, Project, Scenario, Step, run, tool_results};

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/sdk-venv/bin/python");
    assert!(
        python.exists(),
        "the Agent SDK is not installed: run the README's test command (it makes target/sdk-venv)"
    );
    python
}

/// What a driver script needs: the binary, the project, the mock as the API, a home of its own.
pub(crate) fn sdk_env(cmd: &mut Command, project: &Project, mock: &MockLlm) {
    cmd.env("CAIRN", env!("CARGO_BIN_EXE_cairn"))
        .env("PROJECT", project.path())
        .env("ANTHROPIC_API_KEY", "test-key")
        .env("ANTHROPIC_BASE_URL", mock.url())
        .env("CAIRN_HOME", project.home.path())
        .env("HOME", project.home.path())
        .env("CAIRN_MANAGED_SETTINGS", project.home.path().join("managed.json"))
        .env_remove("ANTHROPIC_MODEL")
        .current_dir(project.path());
}

/// Runs `scenario` of drive.py; what the program saw, one value per observation.
fn drive(scenario: &str, project: &Project, mock: &MockLlm) -> Vec<Value> {
    let mut cmd = Command::new(python());
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/drive.py")).arg(scenario);
    sdk_env(&mut cmd, project, mock);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "drive.py {scenario} failed:\n{}\n{}", out.stdout, out.stderr);
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| json!({"unparsed": l}))).collect()
}

fn of_kind<'a>(seen: &'a [Value], kind: &str) -> Vec<&'a Value> {
    seen.iter().filter(|v| v["kind"] == kind).collect()
}

#[test]
fn a_one_shot_query_with_a_tool_call() {
    let project = Project::claude_user();
    project.write("notes.txt", "hello\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "notes.txt"})),
        Step::text("It says hello."),
    ]));
    let seen = drive("one_shot", &project, &mock);
    let kinds: Vec<&str> = seen.iter().map(|v| v["kind"].as_str().unwrap_or("?")).collect();
    assert_eq!(kinds, ["system", "assistant", "user", "assistant", "result"], "{seen:#?}");
    assert_eq!(seen[2]["results"][0]["content"], "     1\thello\n");
    let result = of_kind(&seen, "result")[0];
    assert_eq!((result["subtype"].as_str(), result["result"].as_str()), (Some("success"), Some("It says hello.")));
}

/// The `can_use_tool` scenario of either SDK (`driver`): an `rm` refused with a message, a
/// `touch` allowed with its input changed.
fn can_use_tool_case(driver: fn(&str, &Project, &MockLlm) -> Vec<Value>) {
    let project = Project::claude_user();
    crate::support::ask_about_commands(&project);
    project.write("important/keep.txt", "x");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "rm -rf important"})),
        Step::tool("Bash", json!({"command": "touch asked.txt"})),
        Step::text("Done."),
    ]));
    let seen = driver("can_use_tool", &project, &mock);
    let asked = of_kind(&seen, "asked");
    assert_eq!(asked.len(), 2, "{seen:#?}");
    assert_eq!(asked[0]["tool"], "Bash");
    assert!(project.file("important/keep.txt").exists());
    assert!(!project.file("asked.txt").exists(), "the changed command ran instead");
    assert_eq!(std::fs::read_to_string(project.file("changed.txt")).unwrap(), "changed\n");
    let denied = tool_results(&mock.requests()[1].body);
    assert!(denied[0].2 && denied[0].1.contains("not that one"), "{denied:?}");
    assert_eq!(of_kind(&seen, "result")[0]["result"], "Done.");
}

#[test]
fn can_use_tool_denies_and_allows_with_a_changed_input() {
    can_use_tool_case(drive);
}

#[test]
fn sdk_hooks_deny_add_context_and_see_the_prompt() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "rm -rf stuff"})),
        Step::tool("Bash", json!({"command": "echo hi"})),
        Step::text("Tidy."),
    ]));
    let seen = drive("hooks", &project, &mock);
    let events: Vec<&str> = of_kind(&seen, "hook").iter().map(|h| h["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["UserPromptSubmit", "PreToolUse", "PreToolUse", "PostToolUse"], "{seen:#?}");
    let requests = mock.requests();
    assert!(requests[0].body.to_string().contains("PROMPT-CONTEXT-MARK"));
    let denied = tool_results(&requests[1].body);
    assert!(denied[0].2 && denied[0].1.contains("the hook says no rm"), "{denied:?}");
    assert!(requests[2].body.to_string().contains("POST-CONTEXT-MARK"));
}

#[test]
fn a_two_turn_client_shares_its_history() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("One."), Step::text("Two.")]));
    let seen = drive("two_turns", &project, &mock);
    let results = of_kind(&seen, "result");
    assert_eq!(results.len(), 2, "{seen:#?}");
    assert_eq!(results[0]["session_id"], results[1]["session_id"]);
    let second = mock.requests()[1].body.to_string();
    assert!(second.contains("first question") && second.contains("One."), "{second}");
}

#[test]
fn rewind_files_from_the_python_sdk_undoes_the_turns_changes() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Write", json!({"file_path": "made.txt", "content": "by the model\n"})),
        Step::text("Written."),
    ]));
    let seen = drive("rewind", &project, &mock);
    assert_eq!(of_kind(&seen, "written")[0]["exists"], true, "{seen:#?}");
    let rewound = of_kind(&seen, "rewound")[0];
    assert!(rewound["checkpoint"].is_string(), "the replayed message has its uuid: {seen:#?}");
    assert_eq!(rewound["exists"], false, "rewind_files removed what the turn created: {seen:#?}");
}

#[test]
fn an_interrupt_stops_the_running_command() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "echo $$ > slow.pid; sleep 30"})),
        Step::text("never"),
    ]));
    let seen = drive("interrupt", &project, &mock);
    assert_eq!(of_kind(&seen, "interrupted").len(), 1, "{seen:#?}");
    let result = of_kind(&seen, "result")[0];
    assert_eq!(result["is_error"], true, "{result}");
    let pid: i32 = std::fs::read_to_string(project.file("slow.pid")).unwrap().trim().parse().unwrap();
    let alive = rustix::process::test_kill_process(rustix::process::Pid::from_raw(pid).unwrap()).is_ok();
    assert!(!alive, "the interrupted command {pid} is still running");
}

#[test]
fn permission_mode_and_model_change_mid_session() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::text("Ready."),
        Step::tool("Write", json!({"file_path": "new.txt", "content": "written\n"})),
        Step::text("Written."),
    ]));
    let seen = drive("mode_and_model", &project, &mock);
    assert_eq!(of_kind(&seen, "result").len(), 2, "{seen:#?}");
    assert_eq!(std::fs::read_to_string(project.file("new.txt")).unwrap(), "written\n", "acceptEdits let it write");
    let requests = mock.requests();
    assert_eq!(requests[0].body["model"], "claude-sonnet-5");
    assert_eq!(requests[1].body["model"], "claude-haiku-4-5");
}

#[test]
fn a_session_resumes_by_id() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Noted."), Step::text("PINEAPPLE")]));
    let seen = drive("resume", &project, &mock);
    let results = of_kind(&seen, "result");
    assert_eq!(results.len(), 2, "{seen:#?}");
    assert_eq!(results[0]["session_id"], results[1]["session_id"]);
    let second = mock.requests()[1].body.to_string();
    assert!(second.contains("remember the word PINEAPPLE"), "{second}");
}

#[test]
fn an_in_process_sdk_mcp_server_offers_its_tool() {
    let project = Project::claude_user();
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("mcp__calc__add", json!({"a": 2, "b": 3})), Step::text("Five.")]));
    let seen = drive("sdk_mcp", &project, &mock);
    assert_eq!(of_kind(&seen, "tool_ran").len(), 1, "{seen:#?}");
    let requests = mock.requests();
    let offered: Vec<&str> =
        requests[0].body["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(offered.contains(&"mcp__calc__add"), "{offered:?}");
    let results = tool_results(&requests[1].body);
    assert_eq!((results[0].1.as_str(), results[0].2), ("5", false), "{results:?}");
    assert_eq!(of_kind(&seen, "result")[0]["result"], "Five.");
}

#[test]
fn the_sdks_own_agent_types_run_as_sub_agents() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "Review", "prompt": "Review main.rs", "subagent_type": "reviewer"})),
        Step::text("Looks fine."),
        Step::text("Reviewed."),
    ]));
    let seen = drive("agents", &project, &mock);
    assert_eq!(of_kind(&seen, "result")[0]["result"], "Reviewed.", "{seen:#?}");
    let child = &mock.requests()[1].body;
    assert!(child["system"].to_string().contains("You review code, briefly."), "{}", child["system"]);
}

#[test]
fn an_sdk_mcp_server_turned_off_leaves_the_offer() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("On."), Step::text("Off.")]));
    let seen = drive("mcp_toggle", &project, &mock);
    assert_eq!(of_kind(&seen, "result").len(), 2, "{seen:#?}");
    let requests = mock.requests();
    let names = |i: usize| -> Vec<String> {
        requests[i].body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(names(0).contains(&"mcp__calc__add".to_owned()));
    assert!(!names(1).contains(&"mcp__calc__add".to_owned()), "{:?}", names(1));
}

#[test]
fn structured_output_reaches_the_sdk() {
    let project = Project::claude_user();
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("StructuredOutput", json!({"count": 7})), Step::text("ok")]));
    let seen = drive("structured", &project, &mock);
    assert_eq!(of_kind(&seen, "structured")[0]["value"], json!({"count": 7}), "{seen:#?}");
}

/// Runs `scenario` of drive.mjs (the TypeScript SDK from npm, `npm ci --prefix tests/sdk`).
fn drive_ts(scenario: &str, project: &Project, mock: &MockLlm) -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    assert!(
        dir.join("node_modules/@anthropic-ai/claude-agent-sdk").exists(),
        "the TypeScript Agent SDK is not installed: run the README's test command (npm ci --prefix tests/sdk)"
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("drive.mjs")).arg(scenario);
    sdk_env(&mut cmd, project, mock);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "drive.mjs {scenario} failed:\n{}\n{}", out.stdout, out.stderr);
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| json!({"unparsed": l}))).collect()
}

#[test]
fn the_typescript_sdk_asks_and_changes_input() {
    can_use_tool_case(drive_ts);
}

#[test]
fn the_typescript_sdk_hooks_refuse_and_structured_output_comes_back() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "ls"})),
        Step::tool("StructuredOutput", json!({"ok": true})),
        Step::text("ok"),
    ]));
    let seen = drive_ts("hooks_and_structure", &project, &mock);
    let hooks = of_kind(&seen, "hook");
    assert_eq!(hooks.len(), 1, "{seen:#?}");
    assert_eq!(hooks[0]["command"], "ls");
    let refused = tool_results(&mock.requests()[1].body);
    assert!(refused[0].2 && refused[0].1.contains("no shell today"), "{refused:?}");
    assert_eq!(of_kind(&seen, "result")[0]["structured"], json!({"ok": true}));
}

/// Runs drive_acp.mjs (the official ACP client) with `env` (NATIVE=1: `cairn acp` itself;
/// else Zed's adapter running cairn); what the editor saw, one value per observation.
fn drive_acp(project: &Project, mock: &MockLlm, env: &[(&str, &str)]) -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    assert!(
        dir.join("node_modules/@agentclientprotocol/sdk").exists(),
        "the ACP client is not installed: run the README's test command (npm ci --prefix tests/sdk)"
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("drive_acp.mjs")).envs(env.iter().copied());
    sdk_env(&mut cmd, project, mock);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    out.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// What an editor sees of one prompt with a tool call it is asked about and allows.
fn acp_checks(env: &[(&str, &str)]) {
    let project = Project::claude_user();
    crate::support::ask_about_commands(&project);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "touch made.txt", "description": "Make the file"})),
        Step::text("Made it."),
    ]));
    let seen = drive_acp(&project, &mock, env);
    assert!(of_kind(&seen, "initialized")[0]["agent"].is_string());
    let permission = of_kind(&seen, "permission");
    assert_eq!(permission.len(), 1, "{seen:#?}");
    assert_eq!(permission[0]["title"], "touch made.txt");
    assert!(project.file("made.txt").exists(), "the allowed command ran");
    let updates: Vec<&str> = of_kind(&seen, "update").iter().filter_map(|u| u["update"].as_str()).collect();
    assert!(updates.contains(&"tool_call") && updates.contains(&"agent_message_chunk"), "{updates:?}");
    assert!(of_kind(&seen, "update").iter().any(|u| u["text"] == "Made it."));
    assert_eq!(of_kind(&seen, "prompted")[0]["stopReason"], "end_turn");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
}

#[test]
fn zeds_acp_adapter_runs_cairn_with_a_tool_call_and_a_permission_request() {
    acp_checks(&[]);
}

#[test]
fn cairn_acp_is_an_acp_agent_itself() {
    acp_checks(&[("NATIVE", "1")]);
}

#[test]
fn cairn_acp_modes_and_cancel() {
    let project = Project::claude_user();
    // acceptEdits: the write needs no question.
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Write", json!({"file_path": "written.txt", "content": "ok\n"})),
        Step::text("Written."),
    ]));
    let seen = drive_acp(&project, &mock, &[("NATIVE", "1"), ("MODE", "acceptEdits")]);
    assert!(project.file("written.txt").exists());
    assert!(of_kind(&seen, "permission").is_empty(), "acceptEdits asks nothing for a write: {seen:#?}");
    assert!(of_kind(&seen, "update").iter().any(|u| u["update"] == "current_mode_update"), "{seen:#?}");
    // A slow command, cancelled from the editor as soon as it is shown.
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "echo $$ > slow.pid; sleep 30"})),
        Step::text("never"),
    ]));
    let seen = drive_acp(&project, &mock, &[("NATIVE", "1"), ("MODE", "bypassPermissions"), ("CANCEL", "slow.pid")]);
    assert_eq!(of_kind(&seen, "prompted")[0]["stopReason"], "cancelled", "{seen:#?}");
    let pid: i32 = std::fs::read_to_string(project.file("slow.pid")).unwrap().trim().parse().unwrap();
    let alive = rustix::process::test_kill_process(rustix::process::Pid::from_raw(pid).unwrap()).is_ok();
    assert!(!alive, "the cancelled command {pid} is still running");
}

#[test]
fn cairn_acp_rejected_calls_do_not_run_and_todos_are_a_plan() {
    let project = Project::claude_user();
    crate::support::ask_about_commands(&project);
    let todos = json!([{"content": "Make the file", "status": "in_progress", "activeForm": "Making the file"}]);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("TodoWrite", json!({"todos": todos})),
        Step::tool("Bash", json!({"command": "touch made.txt"})),
        Step::text("Not made."),
    ]));
    let seen = drive_acp(&project, &mock, &[("NATIVE", "1"), ("DECISION", "reject_once")]);
    assert_eq!(of_kind(&seen, "permission").len(), 1, "{seen:#?}");
    assert!(!project.file("made.txt").exists(), "the rejected command did not run");
    let plan = of_kind(&seen, "update").into_iter().find(|u| u["update"] == "plan").cloned().expect("a plan");
    assert_eq!(plan["entries"], json!(["Make the file"]));
    assert_eq!(of_kind(&seen, "prompted")[0]["stopReason"], "end_turn");
}

/// The protocol by hand, where the SDKs never go: bad lines, unknown requests, answers to
/// nothing, a program that closes stdin while cairn waits, one that never answers.
mod by_hand {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::time::Duration;

    use serde_json::{Value, json};

    use crate::support::{MockLlm, Project, Scenario, Step, run_with_stdin};

    fn cairn(project: &Project, mock: &MockLlm, extra: &[&str]) -> std::process::Command {
        let mut cmd = project.cairn(mock);
        cmd.args(["--output-format", "stream-json", "--verbose", "--input-format", "stream-json"]).args(extra);
        cmd
    }

    fn lines(text: &str) -> Vec<Value> {
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    #[test]
    fn unknown_requests_get_errors_stray_answers_a_warning_and_a_bad_line_stops_with_code_2() {
        let project = Project::claude_user();
        let mock = MockLlm::start(Scenario::new(vec![Step::text("Hello.")]));
        let input = [
            json!({"type": "control_request", "request_id": "r1", "request": {"subtype": "initialize", "hooks": null}}),
            json!({"type": "control_request", "request_id": "r2", "request": {"subtype": "frobnicate"}}),
            json!({"type": "control_request", "request_id": "r3", "request": {"subtype": "mcp_reconnect", "serverName": "x"}}),
            json!({"type": "control_response", "response": {"subtype": "success", "request_id": "nobody", "response": {}}}),
            json!({"type": "user", "message": {"role": "user", "content": "hi"}, "parent_tool_use_id": null}),
        ];
        let mut stdin: String = input.iter().map(|l| format!("{l}\n")).collect();
        stdin.push_str("{this is not json\n");
        let out = run_with_stdin(cairn(&project, &mock, &["-d"]), &stdin);
        assert_eq!(out.code(), 2, "{}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("debug: control request \"initialize\""), "{}", out.stderr);
        let seen = lines(&out.stdout);
        let response = |id: &str| seen.iter().find(|l| l["response"]["request_id"] == id).cloned().unwrap();
        let init = response("r1");
        assert_eq!(init["response"]["subtype"], "success");
        assert_eq!(init["response"]["response"]["current_permission_mode"], "default");
        assert!(init["response"]["response"]["commands"].as_array().unwrap().iter().any(|c| c["name"] == "review"));
        assert!(init["response"]["response"]["pid"].as_u64().is_some());
        assert_eq!(response("r3")["response"]["subtype"], "success");
        let unknown = response("r2");
        assert_eq!(unknown["response"]["subtype"], "error");
        assert!(unknown["response"]["error"].as_str().unwrap().contains("frobnicate"));
        assert!(out.stderr.contains("a control_response for a request cairn did not make"), "{}", out.stderr);
        assert!(out.stderr.contains("is not JSON"), "{}", out.stderr);
    }

    #[test]
    fn hook_runs_are_reported_with_include_hook_events() {
        let project = Project::claude_user();
        let settings =
            json!({"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "echo seen-by-hook"}]}]}});
        project.write(".claude/settings.local.json", &settings.to_string());
        let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
        let user = json!({"type": "user", "message": {"role": "user", "content": "hi"}});
        let out = run_with_stdin(cairn(&project, &mock, &["--include-hook-events"]), &format!("{user}\n"));
        assert_eq!(out.code(), 0, "{}", out.stderr);
        let seen = lines(&out.stdout);
        let hook = seen.iter().find(|l| l["subtype"] == "hook_response").expect("a hook_response line");
        assert_eq!(hook["hook_event"], "UserPromptSubmit");
        assert_eq!(hook["exit_code"], 0);
        assert_eq!(hook["stdout"], "seen-by-hook\n");
        let quiet = run_with_stdin(cairn(&project, &mock, &[]), &format!("{user}\n"));
        assert!(!quiet.stdout.contains("hook_response"));
    }

    const AGENTS: &str =
        r#"{"reviewer": {"description": "Reviews code", "prompt": "You review code, briefly.", "tools": ["Read"]}}"#;

    #[test]
    fn agent_types_from_the_command_line_are_offered_and_can_be_the_session() {
        let project = Project::claude_user();
        let mock = MockLlm::start(Scenario::new(vec![
            Step::tool(
                "Task",
                json!({"description": "Review", "prompt": "Review main.rs", "subagent_type": "reviewer"}),
            ),
            Step::text("Looks fine."),
            Step::text("Reviewed."),
        ]));
        let user = json!({"type": "user", "message": {"role": "user", "content": "review"}});
        let out = run_with_stdin(cairn(&project, &mock, &["--agents", AGENTS]), &format!("{user}\n"));
        assert_eq!(out.code(), 0, "{}", out.stderr);
        let requests = mock.requests();
        let child = &requests[1].body;
        assert!(child["system"].to_string().contains("You review code, briefly."), "{child}");
        let tools: Vec<&str> =
            child["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(tools, ["Read"]);
        // The sub-agent's own answer is in the stream, under its Task call.
        let seen = lines(&out.stdout);
        let task_id = seen.iter().find(|l| l["type"] == "assistant").unwrap()["message"]["content"][0]["id"].clone();
        let nested = seen.iter().find(|l| l["type"] == "assistant" && l["parent_tool_use_id"] == task_id);
        assert_eq!(nested.expect("the sub-agent's answer")["message"]["content"][0]["text"], "Looks fine.");
        // Run as the agent: its prompt and tools are the session's.
        let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
        let out =
            run_with_stdin(cairn(&project, &mock, &["--agents", AGENTS, "--agent", "reviewer"]), &format!("{user}\n"));
        assert_eq!(out.code(), 0, "{}", out.stderr);
        let body = &mock.requests()[0].body;
        assert_eq!(body["system"][0]["text"], "You review code, briefly.");
        let tools: Vec<&str> = body["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(tools, ["Read"]);
        let out = run_with_stdin(cairn(&project, &mock, &["--agent", "nobody"]), "");
        assert_eq!(out.code(), 1);
        assert!(out.stderr.contains("no such agent type") && out.stderr.contains("tester"), "{}", out.stderr);
    }

    #[test]
    fn an_mcp_tool_answers_the_permission_questions() {
        let project = Project::claude_user();
        crate::support::ask_about_commands(&project);
        project.write("keep/file.txt", "x");
        let python = super::python();
        let gate = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/permission_gate.py");
        let config = json!({"mcpServers": {"gate": {"command": python, "args": [gate]}}}).to_string();
        let mock = MockLlm::start(Scenario::new(vec![
            Step::tool("Bash", json!({"command": "rm -rf keep"})),
            Step::tool("Bash", json!({"command": "touch asked.txt"})),
            Step::text("Done."),
        ]));
        let mut cmd = project.cairn(&mock);
        cmd.args(["-p", "tidy", "--mcp-config", &config, "--permission-prompt-tool", "mcp__gate__approve"]);
        let out = crate::support::run(cmd);
        assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
        assert_eq!(out.stdout.trim(), "Done.");
        assert!(project.file("keep/file.txt").exists());
        assert!(!project.file("asked.txt").exists() && project.file("gated.txt").exists(), "the gate rewrote it");
        let refused = crate::support::tool_results(&mock.requests()[1].body);
        assert!(refused[0].2 && refused[0].1.contains("no rm"), "{refused:?}");
        let mut cmd = project.cairn(&mock);
        cmd.args(["-p", "x", "--permission-prompt-tool", "gate"]);
        let out = crate::support::run(cmd);
        assert_eq!(out.code(), 1);
        assert!(out.stderr.contains("mcp__<server>__<tool>"), "{}", out.stderr);
    }

    #[test]
    fn a_question_after_stdin_closed_is_refused_and_the_exit_code_says_so() {
        let project = Project::claude_user();
        crate::support::ask_about_commands(&project);
        let mock = MockLlm::start(Scenario::new(vec![
            Step::tool("Bash", json!({"command": "touch made.txt"})),
            Step::text("ok"),
        ]));
        let user = json!({"type": "user", "message": {"role": "user", "content": "make it"}});
        let out = run_with_stdin(cairn(&project, &mock, &["--permission-prompt-tool", "stdio"]), &format!("{user}\n"));
        assert_eq!(out.code(), 3, "{}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("closed its input"), "{}", out.stderr);
        assert!(!project.file("made.txt").exists());
        let seen = lines(&out.stdout);
        assert_eq!(seen[seen.len() - 2]["type"], "result");
        assert_eq!(seen.last().unwrap()["state"], "idle", "the program is told the session is idle");
    }

    #[test]
    fn a_question_nobody_answers_is_withdrawn_and_refused() {
        let project = Project::claude_user();
        crate::support::ask_about_commands(&project);
        let mock = MockLlm::start(Scenario::new(vec![
            Step::tool("Bash", json!({"command": "touch made.txt"})),
            Step::text("ok"),
        ]));
        let mut cmd = cairn(&project, &mock, &["--permission-prompt-tool", "stdio"]);
        cmd.env("CAIRN_CONTROL_TIMEOUT_MS", "300").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", json!({"type": "user", "message": {"role": "user", "content": "make it"}})).unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
            let value: Value = serde_json::from_str(&line).unwrap();
            let done = value["type"] == "result";
            seen.push(value);
            if done {
                break;
            }
        }
        drop(stdin);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0));
        let asked = seen.iter().find(|l| l["type"] == "control_request").expect("cairn asked");
        assert_eq!(asked["request"]["subtype"], "can_use_tool");
        let cancelled = seen.iter().find(|l| l["type"] == "control_cancel_request").expect("and withdrew it");
        assert_eq!(cancelled["request_id"], asked["request_id"]);
        assert!(!project.file("made.txt").exists());
        assert_eq!(seen.last().unwrap()["result"], "ok");
    }
}

mod structured {
    use serde_json::json;

    use crate::support::{MockLlm, Project, Scenario, Step, run, tool_results};

    const SCHEMA: &str = r#"{"type":"object","properties":{"count":{"type":"integer"},"name":{"type":"string"}},"required":["count","name"],"additionalProperties":false}"#;

    #[test]
    fn the_answer_is_validated_retried_and_returned_as_structured_output() {
        let project = Project::claude_user();
        let mock = MockLlm::start(Scenario::new(vec![
            Step::text("There are three."),
            Step::tool("StructuredOutput", json!({"count": "three", "name": "files"})),
            Step::tool("StructuredOutput", json!({"count": 3, "name": "files"})),
            Step::text("Done."),
        ]));
        let mut cmd = project.cairn(&mock);
        cmd.args(["-p", "count the files", "--output-format", "json", "--json-schema", SCHEMA]);
        let out = run(cmd);
        assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
        let result = out.result();
        assert_eq!(result["structured_output"], json!({"count": 3, "name": "files"}));
        let requests = mock.requests();
        let offered = requests[0].body["tools"].as_array().unwrap().iter().find(|t| t["name"] == "StructuredOutput");
        assert_eq!(offered.unwrap()["input_schema"]["required"], json!(["count", "name"]));
        assert!(requests[0].body["system"].to_string().contains("StructuredOutput tool"));
        assert!(
            requests[1].body.to_string().contains("You must give your final answer by calling the StructuredOutput")
        );
        let invalid = tool_results(&requests[2].body);
        assert!(invalid.last().unwrap().2, "the wrong type was refused: {invalid:?}");
    }

    #[test]
    fn a_model_that_never_gives_it_ends_with_an_error_subtype() {
        let project = Project::claude_user();
        let mock = MockLlm::start(Scenario::new(vec![Step::text("a"), Step::text("b"), Step::text("c")]));
        let mut cmd = project.cairn(&mock);
        cmd.args(["-p", "count", "--output-format", "json", "--json-schema", SCHEMA]);
        let out = run(cmd);
        assert_eq!(out.code(), 1);
        assert_eq!(out.result()["subtype"], "error_max_structured_output_retries");
        assert_eq!(mock.requests().len(), 3);
        let mut cmd = project.cairn(&mock);
        cmd.args(["-p", "count", "--json-schema", "{not json"]);
        let out = run(cmd);
        assert_eq!(out.code(), 1);
        assert!(out.stderr.contains("--json-schema"), "{}", out.stderr);
    }
}
