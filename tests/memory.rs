//! Memory files and live reload through the binary: the hierarchy and its order, `@`
//! imports and a cycle, a sub-folder's memory read when a tool first touches it, and files
//! edited mid-session (a command, a memory file) taking effect at the next message.

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{MockLlm, Project, Scenario, Step, stream_json};

fn first_text(body: &Value) -> String {
    body["messages"][0]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn the_hierarchy_loads_in_order_with_imports_and_a_reported_cycle() {
    let project = Project::new();
    std::fs::create_dir_all(project.home.path().join(".claude")).unwrap();
    std::fs::write(project.home.path().join(".claude/CLAUDE.md"), "USER-MEMORY").unwrap();
    project.write("CLAUDE.md", "PROJECT-CLAUDE. Style guide: @docs/style.md");
    project.write("AGENTS.md", "PROJECT-AGENTS");
    project.write("CLAUDE.local.md", "LOCAL-NOTES");
    project.write("docs/style.md", "IMPORTED-STYLE, see also @../CLAUDE.md");
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let out = stream_json(&project, &mock, "hello", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let text = first_text(&mock.requests()[0].body);
    let order: Vec<usize> = ["USER-MEMORY", "PROJECT-AGENTS", "PROJECT-CLAUDE", "IMPORTED-STYLE", "LOCAL-NOTES"]
        .iter()
        .map(|m| text.find(m).unwrap_or_else(|| panic!("{m} missing from {text}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{text}");
    assert!(text.contains(&format!("(imported by {})", project.file("CLAUDE.md").display())), "{text}");
    assert!(out.stderr.contains("which imports it back"), "{}", out.stderr);
}

#[test]
fn a_sub_folders_memory_arrives_when_a_tool_first_touches_it() {
    let project = Project::new();
    project.write("crates/parser/AGENTS.md", "PARSER-RULES: never panic on input.");
    project.write("crates/parser/src/lib.rs", "pub fn parse() {}\n");
    project.write("crates/parser/src/more.rs", "pub fn more() {}\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "crates/parser/src/lib.rs"})),
        Step::tool("Read", json!({"file_path": "crates/parser/src/more.rs"})),
        Step::text("Read both."),
    ]));
    let out = stream_json(&project, &mock, "read the parser", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    assert!(!requests[0].body.to_string().contains("PARSER-RULES"), "not before it is touched");
    let second = requests[1].body.to_string();
    assert!(second.contains("PARSER-RULES") && second.contains("crates/parser/AGENTS.md"), "{second}");
    assert_eq!(requests[2].body.to_string().matches("PARSER-RULES").count(), 1, "read once");
    assert!(mock.history_problems().is_empty());
}

#[test]
fn rules_load_with_the_memory_files_or_when_their_paths_are_first_touched() {
    let project = Project::claude_user();
    project.write(".claude/rules/style.md", "STYLE-RULE: tabs, not spaces.");
    project.write(
        ".claude/rules/api.md",
        "---\npaths:\n  - \"src/api/**\"\n---\nAPI-RULE: every handler validates its input.",
    );
    project.write("src/lib.rs", "pub mod api;\n");
    project.write("src/api/users.rs", "pub fn list() {}\n");
    std::fs::create_dir_all(project.home.path().join(".claude/rules")).unwrap();
    std::fs::write(project.home.path().join(".claude/rules/me.md"), "USER-RULE: answer briefly.").unwrap();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "src/lib.rs"})),
        Step::tool("Read", json!({"file_path": "src/api/users.rs"})),
        Step::text("Read both."),
    ]));
    let out = stream_json(&project, &mock, "read the api", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    let first = first_text(&requests[0].body);
    assert!(first.contains("STYLE-RULE") && first.contains("USER-RULE"), "{first}");
    assert!(!requests[1].body.to_string().contains("API-RULE"), "not before a matching file is touched");
    let third = requests[2].body.to_string();
    assert!(third.contains("API-RULE") && third.contains(".claude/rules/api.md"), "{third}");
    assert_eq!(third.matches("API-RULE").count(), 1);
}

/// A stream-json session whose prompts are written one at a time, each after the previous
/// answer, with `between` run before the second — which is sent once cairn has said, on
/// stderr, each of `reloaded` (the watcher saw the change). Returns stdout and stderr.
pub fn two_prompts(
    project: &Project,
    mock: &MockLlm,
    (first, second): (&str, &str),
    between: impl FnOnce(),
    reloaded: &[&str],
) -> (String, String) {
    let mut cmd = project.cairn(mock);
    cmd.args(["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (said, heard) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = said.send(line);
        }
    });
    let user = |text: &str| json!({"type": "user", "message": {"role": "user", "content": text}}).to_string();
    writeln!(stdin, "{}", user(first)).unwrap();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("\"type\":\"result\"") {
            break;
        }
    }
    between();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stderr_text = String::new();
    while !reloaded.iter().all(|r| stderr_text.contains(r)) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "cairn never said {reloaded:?}; stderr: {stderr_text}");
        if let Ok(line) = heard.recv_timeout(left) {
            stderr_text.push_str(&line);
            stderr_text.push('\n');
        }
    }
    writeln!(stdin, "{}", user(second)).unwrap();
    drop(stdin);
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    assert!(child.wait().unwrap().success(), "{seen}");
    stderr_text.extend(heard.iter().map(|line| line + "\n"));
    (seen, stderr_text)
}

#[test]
fn editing_a_command_and_a_memory_file_mid_session_applies_at_the_next_message() {
    let project = Project::new();
    project.write(".claude/commands/greet.md", "Say hello in FRENCH to $ARGUMENTS.");
    project.write("AGENTS.md", "OLD-RULE");
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Bonjour"), Step::text("Hola")]));
    let change = || {
        project.write(".claude/commands/greet.md", "Say hello in SPANISH to $ARGUMENTS.");
        project.write("AGENTS.md", "NEW-RULE");
    };
    let (out, _) = two_prompts(
        &project,
        &mock,
        ("/greet Ana", "/greet Ana"),
        change,
        &["Reloaded commands", "Memory files changed"],
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "{out}");
    let first = requests[0].body.to_string();
    assert!(first.contains("Say hello in FRENCH to Ana") && first.contains("OLD-RULE"), "{first}");
    let last_message = requests[1].body["messages"].as_array().unwrap().last().unwrap().to_string();
    assert!(last_message.contains("Say hello in SPANISH to Ana"), "{last_message}");
    assert!(last_message.contains("memory files changed") && last_message.contains("NEW-RULE"), "{last_message}");
}

#[test]
fn a_settings_file_edited_mid_session_changes_the_rules_for_the_next_message() {
    let project = Project::new();
    crate::support::ask_about_commands(&project);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "touch first"})),
        Step::text("refused"),
        Step::tool("Bash", json!({"command": "touch second"})),
        Step::text("allowed"),
    ]));
    let change = || {
        let settings = json!({"permissions": {"allow": ["Bash(touch:*)"]}});
        project.write(".claude/settings.json", &settings.to_string());
    };
    let (out, _) = two_prompts(&project, &mock, ("make a file", "and another"), change, &["Reloaded the settings"]);
    assert!(!project.file("first").exists(), "no rule allowed it yet: {out}");
    assert!(project.file("second").exists(), "the new rule applies: {out}");
}

#[test]
fn a_claude_folder_reloads_only_when_a_files_content_changes() {
    // In any folder with `.claude/`, the reload's own reads of the watched folders came back
    // as events, and cairn reloaded three times a second, forever.
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("one"), Step::text("two")]));
    let command = project.file(".claude/commands/review.md");
    let change = || {
        // Read, touched and written with the same bytes: none of it is a change…
        let same = std::fs::read(&command).unwrap();
        let _ = std::fs::read_dir(project.file(".claude")).unwrap().count();
        std::fs::File::options()
            .write(true)
            .open(&command)
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
        std::fs::write(&command, &same).unwrap();
        std::fs::write(
            project.file(".claude/settings.json"),
            std::fs::read(project.file(".claude/settings.json")).unwrap(),
        )
        .unwrap();
        // …this is.
        project.write(".claude/agents/tester.md", "---\nname: tester\ndescription: Runs every test\n---\nRun them.\n");
    };
    let (out, stderr) = two_prompts(&project, &mock, ("first", "second"), change, &["Reloaded commands"]);
    assert_eq!(mock.requests().len(), 2, "{out}");
    assert_eq!(stderr.matches("Reloaded commands").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("Reloaded the settings").count(), 0, "{stderr}");
}

#[test]
fn the_model_keeps_its_own_memory_across_sessions_without_credentials() {
    let project = Project::claude_user();
    let dir =
        project.home.path().join("projects").join(cairn::session::project_folder_name(project.path())).join("memory");
    let token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
    let memory = format!(
        "---\nname: build\ndescription: how to build\ntype: project\n---\nRun `make check`; the CI token is {token}.\n"
    );
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Write", json!({"file_path": dir.join("build.md").display().to_string(), "content": memory})),
            (
                "Write",
                json!({"file_path": dir.join("MEMORY.md").display().to_string(),
                             "content": "- [Build](build.md): run `make check` before committing\n"}),
            ),
        ]),
        Step::text("Noted."),
        Step::text("You build with make check."),
        Step::text("I don't know."),
    ]));
    // Session one: the model saves a memory, in the default mode, without being asked about it.
    let out = stream_json(&project, &mock, "remember: we build with make check", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let results = crate::support::tool_results(&mock.requests()[1].body);
    assert!(results.iter().all(|r| !r.2), "{results:?}");
    assert!(results[0].1.contains("saved as [REDACTED]") && !results[1].1.contains("REDACTED"), "{results:?}");
    let saved = std::fs::read_to_string(dir.join("build.md")).unwrap();
    assert!(saved.contains("Run `make check`") && !saved.contains(token) && saved.contains("[REDACTED]"), "{saved}");
    // Session two starts knowing it: the index is in its first message.
    let out = stream_json(&project, &mock, "how do we build?", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let first = first_text(&mock.requests()[2].body);
    assert!(first.contains("run `make check` before committing") && first.contains("your auto memory"), "{first}");
    assert!(mock.requests()[2].body["system"].to_string().contains("# Auto memory"));
    // Turned off, as in Claude Code: neither the section nor the index.
    project.write(".claude/settings.json", r#"{"autoMemoryEnabled": false}"#);
    let out = stream_json(&project, &mock, "how do we build?", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let off = &mock.requests()[3].body;
    assert!(!off["system"].to_string().contains("# Auto memory") && !first_text(off).contains("make check"));
}
