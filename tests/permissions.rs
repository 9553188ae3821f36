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

/// A Claude Code user's project with a secret the settings deny to Read.
fn project_with_a_secret() -> Project {
    let project = Project::claude_user();
    project.write(".env", "API_TOKEN=SENTINEL-SECRET-42\n");
    project.write("src/config.rs", "// reads API_TOKEN from the environment\n");
    project
}

#[test]
fn read_deny_rules_bind_grep_glob_ls_and_attachments() {
    let project = project_with_a_secret();
    project.write(".claude/commands/leak.md", "Summarise @.env and @src/config.rs\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Grep", json!({"pattern": "API_TOKEN", "output_mode": "content"})),
            ("Grep", json!({"pattern": "SENTINEL", "path": "."})),
            ("Glob", json!({"pattern": "**/.env*"})),
            ("LS", json!({"path": "."})),
        ]),
        Step::text("nothing to see"),
        Step::text("summary"),
    ]));
    let out = stream_json(&project, &mock, "look for the token", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let results = tool_results(&mock.requests()[1].body);
    assert!(results[0].1.contains("src/config.rs"), "the rest is still searched: {results:?}");
    for (_, text, _) in &results {
        assert!(!text.contains("SENTINEL-SECRET"), "{results:?}");
    }
    assert!(results[1].1.starts_with("No matches"), "{results:?}");
    assert!(results[2].1.starts_with("No files found"), "{results:?}");
    assert!(!results[3].1.contains("- .env"), "{results:?}");
    // A command file's mention is read for the model: not the denied one.
    let out = stream_json(&project, &mock, "/leak", &["-c"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let sent = mock.requests()[2].body.to_string();
    assert!(sent.contains("reads API_TOKEN from the environment"), "{sent}");
    assert!(!sent.contains("SENTINEL-SECRET"), "{sent}");
    assert!(sent.contains("was not attached: denied by the permission rule Read(./.env)"), "{sent}");
}

#[test]
fn hostile_commands_are_refused_headless_and_leave_nothing_behind() {
    let project = project_with_a_secret();
    crate::support::ask_about_commands(&project);
    let hostile = [
        // The allow rule `Bash(git status:*)` must not carry these.
        "git status > newfile",
        "GIT_CONFIG_PARAMETERS=\"'core.fsmonitor=touch pwned-fsmonitor'\" git status",
        "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0='touch pwned-count' git status",
        // Read-only in name only.
        "PATH=./bin:$PATH ls",
        "x=$(cat src/config.rs); [[ $x -eq 0 ]] && touch pwned-arith",
        "ps eww -p $PPID",
        "grep -r SENTINEL .",
        "git show HEAD:.env",
        "xxd CLAUDE.md pwned-xxd",
    ];
    project.write("bin/ls", "#!/bin/sh\ntouch pwned-path\n");
    let calls: Vec<(&str, serde_json::Value)> = hostile.iter().map(|c| ("Bash", json!({ "command": c }))).collect();
    let (out, results) = crate::support::run_calls(&project, &calls, &[]);
    for ((_, text, is_error), command) in results.iter().zip(hostile) {
        assert!(*is_error, "{command} ran: {text}");
        assert!(!text.contains("SENTINEL-SECRET"), "{command}: {text}");
    }
    // All refused by the gate but `grep -r`, which the sandbox lets run because it holds the
    // deny rule itself: `.env` is covered there, and the search finds nothing.
    assert_eq!(out.result()["permission_denials"].as_array().unwrap().len(), hostile.len() - 1);
    assert!(results[6].1.starts_with("Exit code 1"), "{:?}", results[6]);
    let left: Vec<String> = std::fs::read_dir(project.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pwned") || n == "newfile")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_webfetch_domain_deny_holds_for_every_spelling_of_its_address() {
    let project = Project::claude_user();
    let mock = MockLlm::start_with(|url| {
        let port = url.rsplit(':').next().unwrap().to_owned();
        Scenario::new(vec![
            Step::tools(&[
                ("WebFetch", json!({"url": format!("http://[::ffff:127.0.0.1]:{port}/docs"), "prompt": "p"})),
                ("WebFetch", json!({"url": format!("http://127.0.0.1:{port}/docs"), "prompt": "p"})),
                ("WebFetch", json!({"url": format!("http://2130706433:{port}/docs"), "prompt": "p"})),
            ]),
            Step::text("done"),
        ])
        .with_page("/docs", crate::support::Page::html("<h1>INTERNAL-DOCS</h1>"))
    });
    let out = stream_json(
        &project,
        &mock,
        "fetch",
        &["--allowedTools", "WebFetch", "--disallowedTools", "WebFetch(domain:localhost)"],
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let results = tool_results(&mock.requests()[1].body);
    assert_eq!(results.len(), 3);
    for (_, text, is_error) in &results {
        assert!(*is_error && text.contains("WebFetch(domain:localhost)"), "{results:?}");
        assert!(!text.contains("INTERNAL-DOCS"));
    }
}
