//! Hooks through the binary: the scripts in `hooks/` and inline commands, each event, the
//! exact text the model reads for each outcome, and how hooks meet permission rules.

use std::path::Path;

use serde_json::{Value, json};

use crate::sessions::conversation;
use crate::support::{MockLlm, Project, Run, Scenario, Step, run, stream_json, tool_results};

/// `python3 <repo>/hooks/<name>`.
fn script(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks").join(name);
    let runner = if name.ends_with(".py") { "python3" } else { "sh" };
    format!("{runner} {}", path.display())
}

/// Writes `.cairn/settings.json` with these hooks.
fn with_hooks(project: &Project, hooks: Value) {
    project.write(".cairn/settings.json", &json!({ "hooks": hooks }).to_string());
}

fn hook(matcher: Option<&str>, command: &str) -> Value {
    let mut group = json!({ "hooks": [{ "type": "command", "command": command }] });
    if let Some(matcher) = matcher {
        group["matcher"] = json!(matcher);
    }
    json!([group])
}

/// The text blocks of the last user message of a request.
fn last_user_texts(body: &Value) -> Vec<String> {
    let messages = body["messages"].as_array().unwrap();
    let last = messages.iter().rev().find(|m| m["role"] == "user").unwrap();
    last["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .filter(|t| !crate::sessions::is_session_context(t))
        .collect()
}

fn ok(out: &Run) -> Value {
    assert_eq!(out.code(), 0, "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    out.result()
}

#[test]
fn the_bash_validator_blocks_with_claude_codes_wording_and_lets_good_commands_run() {
    let project = Project::new();
    with_hooks(&project, json!({ "PreToolUse": hook(Some("Bash"), &script("bash-validator.py")) }));
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[("Bash", json!({"command": "grep -r TODO src"})), ("Bash", json!({"command": "echo fine"}))]),
        Step::text("ok"),
    ]));
    ok(&stream_json(&project, &mock, "look", &["--allowedTools", "Bash"]));
    let results = tool_results(&mock.requests()[1].body);
    let expected = format!(
        "PreToolUse:Bash hook error: [{}]: • Use rg (ripgrep) instead of grep: it is faster and honours .gitignore.\n",
        script("bash-validator.py")
    );
    assert_eq!((results[0].1.as_str(), results[0].2), (expected.as_str(), true));
    assert_eq!((results[1].1.as_str(), results[1].2), ("fine", false));
}

#[test]
fn protect_paths_denies_an_edit_with_its_reason_even_in_accept_edits_mode() {
    let project = Project::new();
    with_hooks(&project, json!({ "PreToolUse": hook(Some("Edit|MultiEdit|Write"), &script("protect-paths.py")) }));
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Write", json!({"file_path": ".env", "content": "KEY=x"})),
            ("Write", json!({"file_path": "notes.md", "content": "hi"})),
        ]),
        Step::text("ok"),
    ]));
    let out = stream_json(&project, &mock, "write", &["--permission-mode", "acceptEdits"]);
    let result = ok(&out);
    let results = tool_results(&mock.requests()[1].body);
    assert_eq!(results[0].1, ".env is protected (matches .env); leave it unchanged.");
    assert!(results[0].2 && !results[1].2, "{results:?}");
    assert!(!project.file(".env").exists() && project.file("notes.md").exists());
    let denials = result["permission_denials"].as_array().unwrap();
    assert_eq!((denials.len(), denials[0]["tool_name"].as_str()), (1, Some("Write")));
}

#[test]
fn a_hooks_allow_skips_the_question_but_never_a_deny_rule() {
    let project = Project::new();
    let allow = r#"echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow", "permissionDecisionReason": "fine by me"}}'"#;
    with_hooks(&project, json!({ "PreToolUse": hook(Some("Bash"), allow) }));
    let steps = || Scenario::new(vec![Step::tool("Bash", json!({"command": "touch made.txt"})), Step::text("ok")]);
    let mock = MockLlm::start(steps());
    ok(&stream_json(&project, &mock, "make it", &[]));
    assert!(project.file("made.txt").exists(), "allowed by the hook, with no rule");
    std::fs::remove_file(project.file("made.txt")).unwrap();
    let mock = MockLlm::start(steps());
    let result = ok(&stream_json(&project, &mock, "make it", &["--disallowedTools", "Bash(touch:*)"]));
    assert!(!project.file("made.txt").exists(), "a deny rule wins over the hook");
    assert_eq!(result["permission_denials"].as_array().unwrap().len(), 1);
}

#[test]
fn updated_input_replaces_the_call_and_ask_means_refused_in_print_mode() {
    let project = Project::new();
    let rewrite = r#"echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow", "updatedInput": {"command": "echo rewritten"}}}'"#;
    let ask = r#"echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask", "permissionDecisionReason": "check first"}}'"#;
    with_hooks(
        &project,
        json!({ "PreToolUse": [
            { "matcher": "Bash", "hooks": [{ "type": "command", "command": rewrite }] },
            { "matcher": "Read", "hooks": [{ "type": "command", "command": ask }] },
        ]}),
    );
    project.write("a.txt", "a\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[("Bash", json!({"command": "echo original"})), ("Read", json!({"file_path": "a.txt"}))]),
        Step::text("ok"),
    ]));
    ok(&stream_json(&project, &mock, "go", &[]));
    let results = tool_results(&mock.requests()[1].body);
    assert_eq!((results[0].1.as_str(), results[0].2), ("rewritten", false));
    assert!(
        results[1].2 && results[1].1.contains("check first"),
        "an ask from a hook is asked; -p refuses: {results:?}"
    );
}

#[test]
fn post_tool_use_blocks_and_context_reach_the_model_as_reminders() {
    let project = Project::new();
    let command = r#"echo '{"decision": "block", "reason": "tests are red", "hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": "3 failures"}}'"#;
    with_hooks(&project, json!({ "PostToolUse": hook(Some("Bash"), command) }));
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("Bash", json!({"command": "echo run"})), Step::text("ok")]));
    ok(&stream_json(&project, &mock, "test", &["--allowedTools", "Bash"]));
    let body = &mock.requests()[1].body;
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    assert_eq!(tool_results(body)[0].1, "run", "the result itself is unchanged");
    assert_eq!(
        last_user_texts(body),
        [
            format!(
                "<system-reminder>\nPostToolUse:Bash hook blocking error from command: \"{command}\": tests are red\n</system-reminder>"
            ),
            "<system-reminder>\nPostToolUse:Bash hook additional context: 3 failures\n</system-reminder>".to_owned(),
        ]
    );
}

#[test]
fn a_failed_tool_runs_post_tool_use_failure_hooks() {
    let project = Project::new();
    with_hooks(&project, json!({ "PostToolUseFailure": hook(None, "cat > failure.json") }));
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("Read", json!({"file_path": "missing.txt"})), Step::text("ok")]));
    ok(&stream_json(&project, &mock, "read", &[]));
    let input: Value = serde_json::from_str(&std::fs::read_to_string(project.file("failure.json")).unwrap()).unwrap();
    assert_eq!(input["hook_event_name"], "PostToolUseFailure");
    assert_eq!(input["tool_name"], "Read");
    assert!(input["error"].as_str().unwrap().contains("does not exist"), "{input}");
}

#[test]
fn stop_until_done_keeps_the_model_working_until_it_says_the_word() {
    let project = Project::new();
    with_hooks(&project, json!({ "Stop": hook(None, &script("stop-until-done.py")) }));
    project.write(".cairn/stop-until", "DONE");
    let mock = MockLlm::start(Scenario::new(vec![Step::text("first try"), Step::text("all DONE")]));
    let result = ok(&stream_json(&project, &mock, "finish it", &[]));
    assert_eq!(result["result"], "all DONE");
    assert_eq!(result["num_turns"], 2);
    assert_eq!(
        last_user_texts(&mock.requests()[1].body),
        ["Stop hook feedback:\nNot done yet (round 1): keep working, and say DONE when everything is finished."]
    );
    assert!(!project.file(".cairn/stop-until").exists());
}

#[test]
fn a_stop_hook_that_always_blocks_is_overruled_after_eight() {
    let project = Project::new();
    with_hooks(&project, json!({ "Stop": hook(None, "cat > last.json; echo again >&2; exit 2") }));
    let mock = MockLlm::start(Scenario::new((0..12).map(|i| Step::text(&format!("answer {i}"))).collect()));
    let out = stream_json(&project, &mock, "go", &[]);
    let result = ok(&out);
    assert_eq!(mock.requests().len(), 9, "the first answer and eight more");
    assert_eq!(result["result"], "answer 8");
    assert!(out.stderr.contains("Stop hooks blocked the end 8 times in a row"), "{}", out.stderr);
    let last: Value = serde_json::from_str(&std::fs::read_to_string(project.file("last.json")).unwrap()).unwrap();
    assert_eq!(last["stop_hook_active"], true);
    assert_eq!(last["last_assistant_message"], "answer 8");
}

#[test]
fn the_prompt_guard_refuses_secrets_and_adds_context() {
    let project = Project::new();
    with_hooks(&project, json!({ "UserPromptSubmit": hook(None, &script("prompt-guard.py")) }));
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let out = stream_json(&project, &mock, "use key sk-abcdefghijklmnopqrstuvwxyz123", &[]);
    let result = ok(&out);
    assert_eq!(result["terminal_reason"], "hook_stopped");
    assert!(mock.requests().is_empty(), "the prompt never reached the model");
    assert!(out.stderr.contains("The prompt looks like it contains a secret"), "{}", out.stderr);
    assert!(
        crate::sessions::transcripts(&project)
            .iter()
            .all(|t| !std::fs::read_to_string(t).unwrap().contains("sk-abcdef"))
    );

    ok(&stream_json(&project, &mock, "hello", &[]));
    let texts = last_user_texts(&mock.requests()[0].body);
    assert_eq!(texts[0], "hello");
    assert!(texts[1].starts_with("<system-reminder>\nUserPromptSubmit hook success: Today is "), "{texts:?}");
}

#[test]
fn session_start_context_comes_with_the_first_prompt_and_session_end_runs_at_exit() {
    let project = Project::new();
    with_hooks(
        &project,
        json!({
            "SessionStart": hook(None, &script("session-context.sh")),
            "SessionEnd": hook(None, "cat > end.json"),
        }),
    );
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let result = ok(&stream_json(&project, &mock, "hi", &[]));
    let texts = last_user_texts(&mock.requests()[0].body);
    assert_eq!(
        texts,
        [
            "<system-reminder>\nSessionStart hook additional context: This folder is not a git repository.\n</system-reminder>",
            "hi"
        ]
    );
    let end: Value = serde_json::from_str(&std::fs::read_to_string(project.file("end.json")).unwrap()).unwrap();
    assert_eq!(end["hook_event_name"], "SessionEnd");
    assert_eq!(end["session_id"], result["session_id"]);
    assert!(end["transcript_path"].as_str().unwrap().ends_with(".jsonl"));
}

#[test]
fn continue_false_ends_the_turn() {
    let project = Project::new();
    with_hooks(
        &project,
        json!({ "PreToolUse": hook(None, r#"echo '{"continue": false, "stopReason": "maintenance window"}'"#) }),
    );
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("Bash", json!({"command": "touch x"})), Step::text("never")]));
    let out = stream_json(&project, &mock, "go", &["--allowedTools", "Bash"]);
    let result = ok(&out);
    assert_eq!(result["terminal_reason"], "hook_stopped");
    assert_eq!(result["is_error"], false);
    assert_eq!(mock.requests().len(), 1, "no request after the stop");
    assert!(!project.file("x").exists());
}

#[test]
fn a_slow_hook_is_stopped_at_its_timeout_and_the_call_goes_on() {
    let project = Project::new();
    project.write(
        ".cairn/settings.json",
        &json!({"hooks": {"PreToolUse": [{"hooks": [{"type": "command", "command": "sleep 30", "timeout": 1}]}]}})
            .to_string(),
    );
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("Bash", json!({"command": "echo still"})), Step::text("ok")]));
    let out = stream_json(&project, &mock, "go", &["--allowedTools", "Bash"]);
    ok(&out);
    assert!(out.stderr.contains("PreToolUse:Bash hook error: sleep 30: timed out after 1 s"), "{}", out.stderr);
    assert_eq!(tool_results(&mock.requests()[1].body)[0].1, "still");
}

#[test]
fn hooks_get_the_documented_input_and_environment() {
    let project = Project::new();
    with_hooks(
        &project,
        json!({ "PreToolUse": hook(Some("Bash"), "cat > input.json; echo \"$CLAUDE_PROJECT_DIR|$CAIRN_PROJECT_DIR|$CLAUDECODE\" > env.txt") }),
    );
    let mock = MockLlm::start(Scenario::new(vec![Step::tool("Bash", json!({"command": "echo hi"})), Step::text("ok")]));
    let result = ok(&stream_json(&project, &mock, "go", &["--permission-mode", "acceptEdits"]));
    let input: Value = serde_json::from_str(&std::fs::read_to_string(project.file("input.json")).unwrap()).unwrap();
    assert_eq!(input["hook_event_name"], "PreToolUse");
    assert_eq!(input["session_id"], result["session_id"]);
    assert_eq!(input["permission_mode"], "acceptEdits");
    assert_eq!(input["tool_name"], "Bash");
    assert_eq!(input["tool_input"]["command"], "echo hi");
    assert!(input["tool_use_id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(input["cwd"], project.path().canonicalize().unwrap().to_str().unwrap());
    let dir = project.path().display().to_string();
    assert_eq!(std::fs::read_to_string(project.file("env.txt")).unwrap().trim(), format!("{dir}|{dir}|1"));
}

#[test]
fn a_permission_request_hook_answers_for_the_user_in_print_mode() {
    let project = Project::new();
    let allow =
        r#"echo '{"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "allow"}}}'"#;
    with_hooks(&project, json!({ "PermissionRequest": hook(Some("Bash"), allow) }));
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "touch granted.txt"})),
        Step::text("ok"),
    ]));
    ok(&stream_json(&project, &mock, "go", &[]));
    assert!(project.file("granted.txt").exists());
}

#[test]
fn settings_files_meet_the_flags_and_each_other() {
    let project = Project::new();
    crate::support::ask_about_commands(&project);
    project.write(".claude/settings.json", r#"{"permissions": {"allow": ["Bash(touch:*)"]}}"#);
    let steps = || Scenario::new(vec![Step::tool("Bash", json!({"command": "touch a.txt"})), Step::text("ok")]);
    let mock = MockLlm::start(steps());
    ok(&stream_json(&project, &mock, "go", &[]));
    assert!(project.file("a.txt").exists(), "Claude Code's project settings are read");
    std::fs::remove_file(project.file("a.txt")).unwrap();

    project.write(".cairn/settings.local.json", r#"{"permissions": {"deny": ["Bash(touch a.txt)"]}}"#);
    let mock = MockLlm::start(steps());
    let out = stream_json(&project, &mock, "go", &[]);
    ok(&out);
    assert!(!project.file("a.txt").exists(), "a deny anywhere wins");
    assert!(
        tool_results(&mock.requests()[1].body)[0].1.contains("Bash(touch a.txt) (from .cairn/settings.local.json)")
    );

    std::fs::remove_file(project.file(".cairn/settings.local.json")).unwrap();
    project.write(".cairn/settings.json", r#"{"claudeCompat": false}"#);
    let mock = MockLlm::start(steps());
    let result = ok(&stream_json(&project, &mock, "go", &[]));
    assert!(!project.file("a.txt").exists(), "claudeCompat: false ignores .claude/");
    assert_eq!(result["permission_denials"].as_array().unwrap().len(), 1);

    let mock = MockLlm::start(steps());
    ok(&stream_json(&project, &mock, "go", &["--settings", r#"{"permissions": {"allow": ["Bash(touch:*)"]}}"#]));
    assert!(project.file("a.txt").exists(), "--settings adds rules");
}

#[test]
fn bypass_mode_can_be_turned_off_by_a_setting() {
    let project = Project::new();
    project.write(".cairn/settings.json", r#"{"permissions": {"disableBypassPermissionsMode": "disable"}}"#);
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let out = stream_json(&project, &mock, "go", &["--dangerously-skip-permissions"]);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("bypassPermissions mode is turned off by a setting"), "{}", out.stderr);
}

#[test]
fn config_check_names_every_problem_and_fails_on_errors() {
    let project = Project::new();
    project.write(".claude/settings.json", r#"{"permissions": {"allow": ["Read"]}}"#);
    project.write(".cairn/settings.json", r#"{"model": 5, "permisions": {}, "permissions": {"deny": ["Bash(oops"]}}"#);
    let mut cmd = project.bare_cairn();
    cmd.args(["config", "check"]);
    let out = run(cmd);
    assert_eq!(out.code(), 1, "{}", out.stdout);
    for expected in [
        ".claude/settings.json: ok",
        ".cairn/settings.json: problems",
        "error: .cairn/settings.json: model: 5 is not of type \"string\"",
        "warning: .cairn/settings.json: permisions: unknown key `permisions` (did you mean `permissions`?)",
        "error: .cairn/settings.json: permissions.deny[0]: invalid permission rule \"Bash(oops\"",
    ] {
        assert!(out.stdout.contains(expected), "{expected:?} missing from:\n{}", out.stdout);
    }
    project.write(".cairn/settings.json", r#"{"model": "sonnet"}"#);
    let mut cmd = project.bare_cairn();
    cmd.args(["config", "check"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stdout);
    project.write(".cairn/settings.json", "{not json");
    let mut cmd = project.bare_cairn();
    cmd.args(["config", "check"]);
    let out = run(cmd);
    assert_eq!(out.code(), 1);
    assert!(out.stdout.contains(".cairn/settings.json: not valid JSON"), "{}", out.stdout);
    // A broken file also stops a session from starting, with the same message.
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let out = stream_json(&project, &mock, "go", &[]);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains(".cairn/settings.json: not valid JSON"), "{}", out.stderr);
    assert!(mock.requests().is_empty());
}

#[test]
fn settings_env_reaches_commands_and_the_provider() {
    let project = Project::new();
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("Bash", json!({"command": "echo $GREETING"})), Step::text("ok")]));
    project.write(
        ".cairn/settings.json",
        &json!({"env": {"GREETING": "from settings", "ANTHROPIC_MODEL": "claude-haiku-4-5"}}).to_string(),
    );
    ok(&stream_json(&project, &mock, "go", &["--allowedTools", "Bash"]));
    assert_eq!(tool_results(&mock.requests()[1].body)[0].1, "from settings");
    assert_eq!(mock.requests()[0].body["model"], "claude-haiku-4-5");
    let _ = conversation;
}
