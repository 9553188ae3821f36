//! Users' own commands and skills through the binary: a project's `.claude/` folder (from
//! `tests/fixtures/claude-files`) loads, lists, and runs against the mock — what reaches the
//! model, what is refused, what a skill grants and for how long.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{MockLlm, Project, Scenario, Step, stream_json, tool_results};

/// A project holding the fixture `.claude/` folder.
fn project_with_claude_files() -> Project {
    let project = Project::new();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-files/.claude"),
        &project.file(".claude"),
    );
    project
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every text block of the first message of a request.
fn first_message_texts(body: &Value) -> Vec<String> {
    body["messages"][0]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_command_expands_with_its_snippets_and_arguments_and_everything_is_listed() {
    let project = project_with_claude_files();
    project.write("a.txt", "one\n");
    project.git(&["init", "-q"]);
    project.git(&["add", "a.txt"]);
    project.git(&["commit", "-qm", "first"]);
    project.write("a.txt", "one\ntwo\n");
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Committed.")]));
    let out = stream_json(&project, &mock, "/commit-all fix the typo", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);

    let texts = first_message_texts(&mock.requests()[0].body);
    let header = texts.iter().find(|t| t.starts_with("<command-message>")).expect("the command header");
    assert_eq!(
        header,
        "<command-message>commit-all</command-message>\n<command-name>/commit-all</command-name>\n<command-args>fix the typo</command-args>"
    );
    let body = texts.iter().find(|t| t.contains("## Your task")).expect("the command's text");
    assert!(body.contains("- Current git status:  M a.txt"), "{body}");
    assert!(body.contains("+two"), "the diff ran: {body}");
    assert!(body.contains("Note from the user: fix the typo"), "{body}");
    assert!(!body.contains("!`"), "{body}");

    // Listed in system/init; the broken file is reported with its line, the rest load.
    let init = out.lines().into_iter().find(|l| l["subtype"] == "init").unwrap();
    let commands: Vec<&str> = init["slash_commands"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for name in ["commit-all", "frontend:build", "pdf-forms", "release-notes", "init", "review", "commit"] {
        assert!(commands.contains(&name), "{name} missing from {commands:?}");
    }
    assert!(!commands.contains(&"broken"));
    assert!(init["agents"].as_array().unwrap().contains(&json!("code-reviewer")), "{init}");
    assert!(out.stderr.contains("broken.md:") && out.stderr.contains("not valid YAML"), "{}", out.stderr);
    // The session list shows what the user typed.
    assert_eq!(out.result()["result"], "Committed.");
}

#[test]
fn a_namespaced_command_takes_positional_arguments_and_attaches_mentioned_files() {
    let project = project_with_claude_files();
    project.write("build-notes.md", "BUILD-NOTES: use the release profile.\n");
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Built.")]));
    let out = stream_json(&project, &mock, "/frontend:build web release", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let texts = first_message_texts(&mock.requests()[0].body).join("\n");
    assert!(texts.contains("Build the front end for target web in release mode"), "{texts}");
    assert!(texts.contains("BUILD-NOTES: use the release profile."), "the mentioned file is attached: {texts}");
}

#[test]
fn a_snippet_nobody_allowed_stops_the_command_before_any_request() {
    let project = Project::new();
    crate::support::ask_about_commands(&project);
    project.write(".claude/commands/wipe.md", "Clean up: !`rm -rf build`\n");
    let mock = MockLlm::start(Scenario::new(vec![Step::text("never")]));
    let out = stream_json(&project, &mock, "/wipe", &[]);
    assert_eq!(out.code(), 1, "{}", out.stdout);
    assert!(out.stderr.contains("!`rm -rf build` is not allowed"), "{}", out.stderr);
    assert!(out.stderr.contains("allowed-tools"), "{}", out.stderr);
    assert!(mock.requests().is_empty(), "nothing was sent");
}

#[test]
fn a_skill_is_listed_loaded_on_call_and_grants_its_tools_for_that_turn_only() {
    let project = project_with_claude_files();
    crate::support::ask_about_commands(&project);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Skill", json!({"skill": "pdf-forms", "args": "the tax form"})),
        Step::tool("Bash", json!({"command": "touch made-by-skill"})),
        Step::text("Filled."),
        // The next prompt: the grant has ended with the turn.
        Step::tool("Bash", json!({"command": "touch made-later"})),
        Step::text("Refused, as expected."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"]);
    let user = |text: &str| json!({"type": "user", "message": {"role": "user", "content": text}}).to_string();
    let input = format!("{}\n{}\n", user("fill in the form"), user("and another file"));
    let out = crate::support::run_with_stdin(cmd, &input);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let requests = mock.requests();

    // Only the name and description until the call.
    let first = requests[0].body.to_string();
    assert!(first.contains("- pdf-forms: Fill in and read PDF forms. Use this skill whenever"), "{first}");
    assert!(!first.contains("PDF-FORMS-BODY-MARKER"));
    assert!(!first.contains("- release-notes:"), "a skill the model may not invoke is not listed");
    assert!(first.contains("- init:") && first.contains("- review:"));

    let (_, result, is_error) = tool_results(&requests[1].body).pop().unwrap();
    assert!(!is_error, "{result}");
    let folder = project.path().join(".claude/skills/pdf-forms");
    assert!(result.starts_with("Launching skill: pdf-forms"), "{result}");
    assert!(result.contains(&format!("Base directory for this skill: {}", folder.display())), "{result}");
    assert!(result.contains("PDF-FORMS-BODY-MARKER") && result.contains("The task: the tax form"), "{result}");
    assert!(project.file("made-by-skill").exists(), "the skill's allowed-tools let Bash(touch …) run");
    assert!(!project.file("made-later").exists(), "the grant ended with the turn");
    let (_, refused, _) = tool_results(&requests[4].body).pop().unwrap();
    assert!(refused.to_lowercase().contains("permission"), "{refused}");
}

#[test]
fn the_model_cannot_invoke_a_skill_that_forbids_it_but_the_user_can() {
    let project = project_with_claude_files();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Skill", json!({"skill": "release-notes"})),
        Step::text("I cannot."),
    ]));
    let out = stream_json(&project, &mock, "write release notes", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let (_, result, is_error) = tool_results(&mock.requests()[1].body).pop().unwrap();
    assert!(is_error && result.contains("Unknown skill: release-notes"), "{result}");

    let mock = MockLlm::start(Scenario::new(vec![Step::text("Notes written.")]));
    let out = stream_json(&project, &mock, "/release-notes", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let texts = first_message_texts(&mock.requests()[0].body).join("\n");
    assert!(texts.contains("RELEASE-NOTES-BODY"), "{texts}");
}

#[test]
fn the_bundled_init_skill_runs_from_a_slash_command() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Written.")]));
    let out = stream_json(&project, &mock, "/init focus on the tests", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let texts = first_message_texts(&mock.requests()[0].body).join("\n");
    assert!(texts.contains("<command-name>/init</command-name>"), "{texts}");
    assert!(texts.contains("Write an `AGENTS.md` file at the root of the project"), "{texts}");
    assert!(texts.contains("focus on the tests"), "{texts}");
}
