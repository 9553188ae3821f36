//! The tools that need the person at the keyboard — ExitPlanMode and AskUserQuestion —
//! where nobody is (`-p`), outside plan mode, and answered by a hook the way an SDK host
//! answers them. (In a real terminal: `tui.rs`.)

use serde_json::json;

use crate::support::{MockLlm, Project, Scenario, Step, stream_json, tool_results};

fn question() -> serde_json::Value {
    json!({"questions": [{"question": "Which database?", "header": "Database", "multiSelect": false,
        "options": [{"label": "Postgres", "description": "A server"}, {"label": "SQLite", "description": "A file"}]}]})
}

#[test]
fn headless_a_plan_cannot_be_approved_and_stays_the_answer() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("ExitPlanMode", json!({"plan": "1. Change main.rs"})),
        Step::text("The plan: 1. Change main.rs"),
    ]));
    let out = stream_json(&project, &mock, "plan it", &["--permission-mode", "plan"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let result = tool_results(&mock.requests()[1].body);
    assert!(result[0].2 && result[0].1.contains("give the plan as your final answer"), "{result:?}");
    assert_eq!(out.result()["permission_denials"][0]["tool_name"], "ExitPlanMode");
    assert_eq!(out.result()["result"], "The plan: 1. Change main.rs");
}

#[test]
fn headless_questions_are_refused_with_what_to_do_instead() {
    let project = Project::claude_user();
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("AskUserQuestion", question()), Step::text("Assumed SQLite.")]));
    // Even with every permission granted: a question is for a person.
    let out = stream_json(&project, &mock, "set it up", &["--permission-mode", "bypassPermissions"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let result = tool_results(&mock.requests()[1].body);
    assert!(result[0].2 && result[0].1.contains("nobody can answer"), "{result:?}");
    assert!(result[0].1.contains("say in your final answer what you assumed"), "{result:?}");
}

#[test]
fn exit_plan_mode_outside_plan_mode_is_an_error_and_asks_nobody() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![Step::tool("ExitPlanMode", json!({"plan": "x"})), Step::text("ok")]));
    let out = stream_json(&project, &mock, "go", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let result = tool_results(&mock.requests()[1].body);
    assert!(result[0].2 && result[0].1.contains("You are not in plan mode"), "{result:?}");
    assert!(out.result()["permission_denials"].as_array().unwrap().is_empty());
}

#[test]
fn a_hook_answers_the_questions_for_the_user() {
    let project = Project::claude_user();
    let mut answered = question();
    answered["answers"] = json!({"Which database?": "Postgres"});
    let output = json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow",
        "updatedInput": answered}});
    project.write("answer.sh", &format!("#!/bin/sh\ncat > /dev/null\necho '{output}'\n"));
    let settings = json!({"hooks": {"PreToolUse": [{"matcher": "AskUserQuestion",
        "hooks": [{"type": "command", "command": "sh answer.sh"}]}]}});
    project.write(".claude/settings.local.json", &settings.to_string());
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("AskUserQuestion", question()), Step::text("Postgres it is.")]));
    let out = stream_json(&project, &mock, "set it up", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let result = tool_results(&mock.requests()[1].body);
    assert!(!result[0].2, "{result:?}");
    assert!(result[0].1.contains("\"Which database?\"=\"Postgres\""), "{result:?}");
}

#[test]
fn a_plan_a_hook_approves_leaves_plan_mode_and_the_model_cannot_answer_for_the_user() {
    let project = Project::claude_user();
    let allow = json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}});
    project.write("allow.sh", &format!("#!/bin/sh\ncat > /dev/null\necho '{allow}'\n"));
    let settings = json!({"hooks": {"PreToolUse": [{"matcher": "ExitPlanMode|AskUserQuestion",
        "hooks": [{"type": "command", "command": "sh allow.sh"}]}]}});
    project.write(".claude/settings.local.json", &settings.to_string());
    let mut self_answered = question();
    self_answered["answers"] = json!({"Which database?": "Postgres"});
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("ExitPlanMode", json!({"plan": "1. Write planned.txt"})),
        Step::tool("Write", json!({"file_path": "planned.txt", "content": "done\n"})),
        Step::tool("AskUserQuestion", self_answered),
        Step::text("ok"),
    ]));
    let out = stream_json(&project, &mock, "plan it", &["--permission-mode", "plan", "--allowedTools", "Write"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(project.file("planned.txt")).unwrap(), "done\n", "plan mode ended");
    let requests = mock.requests();
    let answered = tool_results(&requests[3].body);
    let last = answered.last().unwrap();
    assert!(last.2 && last.1.contains("gave no answers"), "the model's own answers were taken: {last:?}");
}
