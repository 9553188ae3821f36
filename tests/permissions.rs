//! The permission engine through the binary: paths resolved at the moment of the call
//! (a symlink made earlier in the session), reads and writes outside the project, protected
//! paths, and the key a settings `apiKeyHelper` prints.

use serde_json::json;

use crate::support::{MockLlm, Project, Scenario, Step, stream_json, tool_results};

#[test]
fn a_symlink_made_earlier_in_the_session_does_not_open_a_denied_file() {
    let project = Project::new();
    let secret = project.home.path().join(".ssh/id_rsa");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, "PRIVATE").unwrap();
    let mock = MockLlm::start(Scenario::new(vec![
        // (`ln -s` naming the secret is itself refused by the rule; a script is not looked into.)
        Step::tool(
            "Bash",
            json!({"command": format!("python3 -c \"import os; os.symlink('{}', 'key')\"", secret.display())}),
        ),
        Step::tools(&[("Read", json!({"file_path": "key"})), ("Bash", json!({"command": "cat key"}))]),
        Step::text("ok"),
    ]));
    let out = stream_json(
        &project,
        &mock,
        "go",
        &["--allowedTools", "Bash(python3:*)", "--disallowedTools", "Read(~/.ssh/**)"],
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(project.file("key").is_symlink());
    let results = tool_results(&mock.requests()[2].body);
    assert_eq!(results.len(), 3);
    for (_, text, is_error) in &results[1..] {
        assert!(*is_error && text.contains("denied by the permission rule Read(~/.ssh/**)"), "{results:?}");
        assert!(!text.contains("PRIVATE"));
    }
}

#[test]
fn outside_the_project_reads_and_writes_are_asked_so_refused_in_print_mode() {
    let project = Project::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("notes.txt"), "far away").unwrap();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Read", json!({"file_path": outside.path().join("notes.txt")})),
            ("Write", json!({"file_path": outside.path().join("new.txt"), "content": "x"})),
            ("Write", json!({"file_path": ".git/config", "content": "x"})),
            ("Write", json!({"file_path": "inside.txt", "content": "x"})),
        ]),
        Step::text("ok"),
    ]));
    let out = stream_json(&project, &mock, "go", &["--permission-mode", "acceptEdits"]);
    let results = tool_results(&mock.requests()[1].body);
    assert!(results[0].2 && results[0].1.contains("outside the working folders"), "{results:?}");
    assert!(results[1].2 && !outside.path().join("new.txt").exists());
    assert!(results[2].2 && results[2].1.contains("protected path"), "{results:?}");
    assert!(!results[3].2 && project.file("inside.txt").exists());
    assert_eq!(out.result()["permission_denials"].as_array().unwrap().len(), 3);

    // --add-dir makes a folder a working folder.
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": outside.path().join("notes.txt")})),
        Step::text("ok"),
    ]));
    stream_json(&project, &mock, "go", &["--add-dir", outside.path().to_str().unwrap()]);
    assert!(!tool_results(&mock.requests()[1].body)[0].2, "an added folder is a working folder");
}

#[test]
fn an_api_key_helper_provides_the_key_and_its_failure_is_explained() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("hello")]));
    project.write(".cairn/settings.json", &json!({"apiKeyHelper": "echo sk-from-helper-0123456789"}).to_string());
    let mut cmd = project.bare_cairn();
    cmd.env("ANTHROPIC_BASE_URL", mock.url()).args(["-p", "hi"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(mock.requests()[0].headers["x-api-key"], "[redacted]", "the helper's key was sent");
    for transcript in crate::sessions::transcripts(&project) {
        assert!(!std::fs::read_to_string(transcript).unwrap().contains("sk-from-helper"));
    }

    project.write(".cairn/settings.json", &json!({"apiKeyHelper": "echo nope >&2; exit 3"}).to_string());
    let mut cmd = project.bare_cairn();
    cmd.env("ANTHROPIC_BASE_URL", mock.url()).args(["-p", "hi"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("apiKeyHelper failed: it exited with exit status: 3: nope"), "{}", out.stderr);
}
