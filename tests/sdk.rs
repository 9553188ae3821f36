//! cairn under Anthropic's Python Agent SDK (`claude-agent-sdk`, pinned in
//! `tests/sdk/requirements.txt`, installed into `target/sdk-venv` by the README's test
//! command): `tests/sdk/drive.py` runs a scenario with `cli_path` set to the built binary,
//! against the mock, and prints what the program saw.

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

/// Runs `scenario` of drive.py; what the program saw, one value per observation.
fn drive(scenario: &str, project: &Project, mock: &MockLlm) -> Vec<Value> {
    let mut cmd = Command::new(python());
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/drive.py")).arg(scenario);
    cmd.env("CAIRN", env!("CARGO_BIN_EXE_cairn"))
        .env("PROJECT", project.path())
        .env("ANTHROPIC_API_KEY", "test-key")
        .env("ANTHROPIC_BASE_URL", mock.url())
        .env("CAIRN_HOME", project.home.path())
        .env("HOME", project.home.path())
        .env("CAIRN_MANAGED_SETTINGS", project.home.path().join("managed.json"))
        .env_remove("ANTHROPIC_MODEL")
        .current_dir(project.path());
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

#[test]
fn can_use_tool_denies_and_allows_with_a_changed_input() {
    let project = Project::claude_user();
    project.write("important/keep.txt", "x");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "rm -rf important"})),
        Step::tool("Bash", json!({"command": "touch asked.txt"})),
        Step::text("Done."),
    ]));
    let seen = drive("can_use_tool", &project, &mock);
    let asked = of_kind(&seen, "asked");
    assert_eq!(asked.len(), 2, "{seen:#?}");
    assert_eq!(asked[0]["tool"], "Bash");
    assert!(project.file("important/keep.txt").exists());
    assert!(!project.file("asked.txt").exists(), "the changed command ran instead");
    assert_eq!(std::fs::read_to_string(project.file("changed.txt")).unwrap(), "changed\n");
    let requests = mock.requests();
    let denied = tool_results(&requests[1].body);
    assert!(denied[0].2 && denied[0].1.contains("not that one"), "{denied:?}");
    assert_eq!(of_kind(&seen, "result")[0]["result"], "Done.");
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
