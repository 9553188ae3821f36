//! Bad input from a user, a server, a settings file or the model: each gets a clear error,
//! nothing panics or hangs, nothing is widened, and nothing is lost. In a project set up as
//! a Claude Code user's.

use serde_json::json;

use crate::sessions::{conversation, transcripts};
use crate::support::{MockLlm, Project, Scenario, Step, stream_json, tool_results};

#[test]
fn resuming_a_file_that_is_not_a_transcript_is_refused_and_leaves_it_untouched() {
    let project = Project::claude_user();
    let outside = tempfile::tempdir().unwrap();
    let cases = [
        ("hosts", "127.0.0.1 localhost\n::1 localhost\n"),
        ("data.jsonl", "{\"a\": 1}\n{\"b\": 2}\n"),
        ("empty.jsonl", ""),
    ];
    let mock = MockLlm::start(Scenario::new(vec![Step::text("never")]));
    for (name, content) in cases {
        let path = outside.path().join(name);
        std::fs::write(&path, content).unwrap();
        let out = stream_json(&project, &mock, "hi", &["--resume", path.to_str().unwrap()]);
        assert_eq!(out.code(), 1, "{name}: {}", out.stdout);
        assert!(out.stderr.contains("is not a session transcript"), "{name}: {}", out.stderr);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), content, "{name} was changed");
    }
    assert!(mock.requests().is_empty());
}

#[test]
fn a_transcript_whose_last_line_repeats_an_older_entry_resumes_every_turn() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("one"), Step::text("two"), Step::text("three")]));
    for (prompt, resume) in [("first", false), ("second", true), ("third", true)] {
        let out = stream_json(&project, &mock, prompt, if resume { &["-c"] } else { &[] });
        assert_eq!(out.code(), 0, "{}", out.stderr);
    }
    // A line copied to the end again (an editor, a sync tool, a concatenation).
    let transcript = &transcripts(&project)[0];
    let text = std::fs::read_to_string(transcript).unwrap();
    let first_entry = text.lines().find(|l| l.contains("\"type\":\"user\"")).unwrap().to_owned();
    std::fs::write(transcript, format!("{text}{first_entry}\n")).unwrap();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("all there")]));
    let out = stream_json(&project, &mock, "fourth", &["-c"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let sent = conversation(&mock.requests()[0].body);
    for answer in ["one", "two", "three"] {
        assert!(sent.contains(&format!("assistant: {answer}")), "{answer} lost: {sent:#?}");
    }
}

#[test]
fn repeated_tool_call_ids_from_the_model_never_reach_the_api() {
    let project = Project::claude_user();
    let mut twice =
        Step::tools(&[("Read", json!({"file_path": "CLAUDE.md"})), ("Read", json!({"file_path": "src/main.rs"}))]);
    for call in &mut twice.tool_calls {
        call.id = Some("toolu_same".into());
    }
    let mut again = Step::tool("Read", json!({"file_path": "CLAUDE.md"}));
    again.tool_calls[0].id = Some("toolu_same".into());
    let mock = MockLlm::start(Scenario::new(vec![twice, again, Step::text("read"), Step::text("resumed")]));
    let out = stream_json(&project, &mock, "read both", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    // Both results arrived, each with its own file.
    let results = tool_results(&mock.requests()[1].body);
    assert_eq!(results.len(), 2);
    assert!(results[0].1.contains("make test") && results[1].1.contains("println"), "{results:?}");
    // And the session resumes without the API refusing its history.
    let out = stream_json(&project, &mock, "and now?", &["-c"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
}

#[test]
fn an_absurd_hook_timeout_is_held_to_a_day_and_said() {
    let project = Project::claude_user();
    let hook =
        json!({"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "true", "timeout": 1e300}]}]}});
    project.write(".claude/settings.local.json", &hook.to_string());
    let mock = MockLlm::start(Scenario::new(vec![Step::text("fine")]));
    let out = stream_json(&project, &mock, "hi", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(out.stderr.contains("held to 86400 s"), "{}", out.stderr);
}

#[test]
fn a_hook_is_done_when_its_own_process_exits() {
    // Its background child keeps stdout open for two minutes; the run must not wait for it.
    let project = Project::claude_user();
    let pid_file = project.file("child.pid");
    let command = format!("sleep 120 & echo $! > {}; echo started", pid_file.display());
    let hook = json!({"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": command}]}]}});
    project.write(".claude/settings.local.json", &hook.to_string());
    let mock = MockLlm::start(Scenario::new(vec![Step::text("not held")]));
    let out = stream_json(&project, &mock, "hi", &[]);
    if let Ok(pid) = std::fs::read_to_string(&pid_file) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.result()["result"], "not held");
    assert!(mock.requests()[0].body.to_string().contains("started"), "its output still counts");
}

#[test]
fn settings_whose_deny_rules_cannot_be_read_fail_closed() {
    let mock = MockLlm::start(Scenario::new(vec![Step::text("never")]));
    for (name, settings) in [
        ("deny is a string", json!({"permissions": {"deny": "Bash(rm:*)"}})),
        ("permissions is a list", json!({"permissions": ["Bash(rm:*)"]})),
        ("an entry is not a rule", json!({"permissions": {"deny": [{"Bash": "rm"}]}})),
    ] {
        let project = Project::claude_user();
        project.write(".claude/settings.local.json", &settings.to_string());
        let out = stream_json(&project, &mock, "rm everything", &["--permission-mode", "bypassPermissions"]);
        assert_eq!(out.code(), 1, "{name}: {}", out.stdout);
        assert!(
            out.stderr.contains(".claude/settings.local.json") && out.stderr.contains("permissions"),
            "{name}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("does not run headless"), "{name}: {}", out.stderr);
    }
    assert!(mock.requests().is_empty());
}

#[test]
fn a_settings_file_that_is_a_fifo_or_huge_or_empty_does_not_hang_the_start() {
    let mock = MockLlm::start(Scenario::new(vec![Step::text("started"), Step::text("started")]));
    // A FIFO nobody writes: refused at once (its rules are unknown), not waited on.
    let project = Project::claude_user();
    let fifo = project.file(".claude/settings.local.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = stream_json(&project, &mock, "hi", &[]);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
    // 37 MB of settings: refused by size, not parsed for minutes.
    let project = Project::claude_user();
    let rules: Vec<String> = (0..1_200_000).map(|i| format!("Bash(tool{i}:*)")).collect();
    project.write(".claude/settings.local.json", &json!({"permissions": {"deny": rules}}).to_string());
    let out = stream_json(&project, &mock, "hi", &[]);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("larger than 16 MiB"), "{}", out.stderr);
    // An empty file is an empty object.
    let project = Project::claude_user();
    project.write(".claude/settings.local.json", "");
    let out = stream_json(&project, &mock, "hi", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    // Tens of thousands of rules load (in linear time: `benches/` has the figure).
    let project = Project::claude_user();
    let rules: Vec<String> = (0..40_000).map(|i| format!("Bash(tool{i} --flag:*)")).collect();
    project.write(".claude/settings.local.json", &json!({"permissions": {"allow": rules}}).to_string());
    let out = stream_json(&project, &mock, "hi", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
}

#[test]
fn reading_a_named_pipe_with_no_writer_gives_up_instead_of_hanging() {
    let project = Project::claude_user();
    assert!(std::process::Command::new("mkfifo").arg(project.file("pipe")).status().unwrap().success());
    let mock = MockLlm::start(Scenario::new(vec![Step::tool("Read", json!({"file_path": "pipe"})), Step::text("ok")]));
    let out = stream_json(&project, &mock, "read the pipe", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let results = tool_results(&mock.requests()[1].body);
    assert!(results[0].2 && results[0].1.contains("nothing wrote to it"), "{results:?}");
}
