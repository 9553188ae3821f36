//! Checkpoints and rewind through the binary: a session against the mock changes files
//! with Write, Edit, MultiEdit and Bash in a real git project; `--rewind-files` brings them
//! back (bytes and modes), removes what was created, reports what it cannot restore,
//! leaves files someone else changed, and can itself be undone; `--resume-session-at`
//! forks from an earlier message; a session killed mid-turn still rewinds.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::support::{MockLlm, Project, Run, Scenario, Step, find_file, run, tool_results};

/// The turns of the session's checkpoint journal: (id, label), oldest first.
fn turns(project: &Project, session: &str) -> Vec<(String, String)> {
    let dir = find_file(project.home.path(), &format!("{session}.jsonl")).expect("the transcript").with_extension("");
    let journal = std::fs::read_to_string(dir.join("file-history.jsonl")).expect("the checkpoint journal");
    journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "turn")
        .map(|e| (e["turn"].as_str().unwrap().to_owned(), e["label"].as_str().unwrap().to_owned()))
        .collect()
}

fn session_of(out: &Run) -> String {
    out.result()["session_id"].as_str().expect("a session id").to_owned()
}

fn rewind(project: &Project, mock: &MockLlm, session: &str, to: &str) -> Run {
    let mut cmd = project.cairn(mock);
    cmd.args(["--resume", session, "--rewind-files", to]);
    run(cmd)
}

fn read(project: &Project, name: &str) -> String {
    std::fs::read_to_string(project.file(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn mode(project: &Project, name: &str) -> u32 {
    std::fs::metadata(project.file(name)).unwrap().permissions().mode() & 0o777
}

#[test]
fn rewind_files_brings_back_what_write_edit_multiedit_and_bash_changed() {
    let project = Project::claude_user();
    project.write("notes.txt", "one\n");
    project.write("script.sh", "echo hi\n");
    std::fs::set_permissions(project.file("script.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    project.write("doomed.txt", "keep me\n");
    project.write("moved.txt", "where am I\n");
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    std::fs::write(project.file("data.bin"), &binary).unwrap();
    project.git(&["add", "-A"]);
    project.git(&["commit", "-qm", "files"]);
    // Never committed, never read: a change to it cannot be undone, and that is said.
    project.write("untracked.txt", "mine\n");
    let script = "sed -i s/hi/bye/ script.sh && chmod 600 script.sh && rm doomed.txt && mv moved.txt renamed.txt \
                  && printf made > made.txt && printf 'xx' >> data.bin && echo changed > untracked.txt";
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "notes.txt"})),
        Step::tool("Edit", json!({"file_path": "notes.txt", "old_string": "one", "new_string": "two"})),
        Step::tool(
            "MultiEdit",
            json!({"file_path": "notes.txt", "edits": [{"old_string": "two", "new_string": "three"}]}),
        ),
        Step::tool("Write", json!({"file_path": "new.txt", "content": "fresh\n"})),
        Step::tool("Bash", json!({"command": script})),
        Step::text("Done."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "change things", "--output-format", "json", "--permission-mode", "bypassPermissions"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(read(&project, "notes.txt"), "three\n");
    let bash = tool_results(&mock.requests()[5].body);
    let said = &bash.last().unwrap().1;
    assert!(said.contains("untracked.txt") && said.contains("cannot bring it back"), "{said}");
    assert!(!said.contains("script.sh"), "git's index holds script.sh: {said}");

    let session = session_of(&out);
    let turns = turns(&project, &session);
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].1, "change things");
    // The transcript says which files the turn changed, in Claude Code's shape too.
    let transcript =
        std::fs::read_to_string(find_file(project.home.path(), &format!("{session}.jsonl")).unwrap()).unwrap();
    let entries: Vec<Value> = transcript.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let snapshot = entries.iter().find(|e| e["type"] == "file-history-snapshot").expect("a file-history-snapshot");
    assert_eq!(snapshot["messageId"], turns[0].0.as_str());
    let notes = project.path().canonicalize().unwrap().join("notes.txt").display().to_string();
    assert!(snapshot["snapshot"]["trackedFileBackups"][&notes]["backupFileName"].is_string(), "{snapshot}");
    let summary = entries.iter().rev().find(|e| e["type"] == "cairn-turn").unwrap();
    assert!(summary["changedFiles"].as_array().unwrap().len() >= 8, "{summary}");
    let back = rewind(&project, &mock, &session, &turns[0].0);
    assert_eq!(back.code(), 1, "one file could not be restored:\n{}\n{}", back.stdout, back.stderr);
    assert!(back.stdout.contains("untracked.txt not restored"), "{}", back.stdout);
    assert_eq!(read(&project, "notes.txt"), "one\n");
    assert!(!project.file("new.txt").exists(), "a file the session created is removed");
    assert_eq!(read(&project, "script.sh"), "echo hi\n");
    assert_eq!(mode(&project, "script.sh"), 0o755, "the mode comes back too");
    assert_eq!(read(&project, "doomed.txt"), "keep me\n");
    assert_eq!(read(&project, "moved.txt"), "where am I\n");
    assert!(!project.file("renamed.txt").exists() && !project.file("made.txt").exists());
    assert_eq!(std::fs::read(project.file("data.bin")).unwrap(), binary, "binary bytes exact");
    assert_eq!(read(&project, "untracked.txt"), "changed\n", "what cannot be restored is left, and said");
}

#[test]
fn a_file_changed_since_is_left_and_a_rewind_can_be_undone() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Write", json!({"file_path": "a.txt", "content": "from the model\n"})),
            ("Write", json!({"file_path": "b.txt", "content": "also the model\n"})),
        ]),
        Step::text("Written."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "write two files", "--output-format", "json", "--permission-mode", "acceptEdits"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let session = session_of(&out);
    // The user changes one of them afterwards.
    project.write("a.txt", "my own words\n");
    let first = turns(&project, &session)[0].0.clone();
    let back = rewind(&project, &mock, &session, &first);
    assert_eq!(back.code(), 1, "{}", back.stdout);
    assert!(back.stdout.contains("left as it is") && back.stdout.contains("a.txt"), "{}", back.stdout);
    assert_eq!(read(&project, "a.txt"), "my own words\n", "someone else's change is not overwritten");
    assert!(!project.file("b.txt").exists());
    // The rewind is a turn of its own: going back to it undoes it.
    let undo = turns(&project, &session).last().unwrap().0.clone();
    assert!(undo.starts_with("rewind-"), "{undo}");
    let again = rewind(&project, &mock, &session, &undo);
    assert_eq!(again.code(), 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(read(&project, "b.txt"), "also the model\n");
}

#[test]
fn a_session_killed_mid_turn_still_rewinds() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Write", json!({"file_path": "half.txt", "content": "written before the crash\n"})),
        Step::tool("Bash", json!({"command": "echo $$ > running.pid; sleep 60"})),
        Step::text("never"),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "work", "--output-format", "json", "--permission-mode", "bypassPermissions"]);
    let mut child = crate::support::spawn(cmd);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(project.file("running.pid")).is_ok_and(|p| !p.trim().is_empty()) {
        assert!(std::time::Instant::now() < deadline, "the command never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    // cairn died with SIGKILL: the command it started is reaped here.
    let pid: i32 = read(&project, "running.pid").trim().parse().unwrap();
    let _ = rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), rustix::process::Signal::KILL);
    let session = std::fs::read_dir(project.home.path().join("projects"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .find(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| e.path().file_stem().unwrap().to_string_lossy().into_owned())
        .expect("the killed session's transcript");
    let first = turns(&project, &session)[0].0.clone();
    let back = rewind(&project, &mock, &session, &first);
    assert!(back.stdout.contains("removed"), "{}\n{}", back.stdout, back.stderr);
    assert!(!project.file("half.txt").exists(), "the write before the crash is undone");
}

#[test]
fn resume_session_at_forks_from_an_earlier_message() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("One."), Step::text("Two."), Step::text("Three.")]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "first", "--output-format", "json"]);
    let session = session_of(&run(cmd));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "second", "--resume", &session, "--output-format", "json"]);
    assert_eq!(run(cmd).code(), 0);
    let path = find_file(project.home.path(), &format!("{session}.jsonl")).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();
    // The first answer's entry: the conversation holds "first" and "One." there.
    let entries: Vec<Value> = before.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let one = entries.iter().find(|e| e["message"]["content"][0]["text"] == "One.").unwrap()["uuid"].clone();
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "third", "--resume", &session, "--fork-session", "--resume-session-at", one.as_str().unwrap()]);
    cmd.args(["--output-format", "json"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_ne!(session_of(&out), session, "a new session");
    let sent = mock.requests().last().unwrap().body["messages"].to_string();
    assert!(sent.contains("first") && sent.contains("One.") && sent.contains("third"), "{sent}");
    assert!(!sent.contains("second") && !sent.contains("Two."), "{sent}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "the original is untouched");
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "x", "--resume", &session, "--fork-session", "--resume-session-at", "no-such-message"]);
    let bad = run(cmd);
    assert_ne!(bad.code(), 0);
    assert!(bad.stderr.contains("no message no-such-message"), "{}", bad.stderr);
}

#[test]
fn a_checkpoint_that_cannot_be_written_stops_the_change_and_a_damaged_copy_is_reported() {
    let project = Project::claude_user();
    project.write("kept.txt", "original\n");
    let session = "6f1c1f4e-93a4-4a47-9d3e-2b7a3a9d4c11";
    // The session's store cannot be made: a file stands where its folder would be.
    let folder: String =
        project.path().to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let sidecar = project.home.path().join("projects").join(folder).join(session);
    std::fs::create_dir_all(&sidecar).unwrap();
    std::fs::write(sidecar.join("file-history"), "in the way").unwrap();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "kept.txt"})),
        Step::tool("Write", json!({"file_path": "kept.txt", "content": "overwritten\n"})),
        Step::text("Could not."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "overwrite it", "--session-id", session, "--permission-mode", "acceptEdits"]);
    assert_eq!(run(cmd).code(), 0);
    let refused = tool_results(&mock.requests()[2].body);
    let refused = refused.last().unwrap();
    assert!(refused.2 && refused.1.contains("the file was not changed"), "{refused:?}");
    assert_eq!(read(&project, "kept.txt"), "original\n", "no change without a way back");

    // A copy damaged on disk is reported at rewind time; the rest is still restored.
    std::fs::remove_file(sidecar.join("file-history")).unwrap();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "kept.txt"})),
        Step::tools(&[
            ("Edit", json!({"file_path": "kept.txt", "old_string": "original", "new_string": "edited"})),
            ("Write", json!({"file_path": "other.txt", "content": "new\n"})),
        ]),
        Step::text("Done."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "edit it", "--resume", session, "--permission-mode", "acceptEdits"]);
    assert_eq!(run(cmd).code(), 0);
    let original = crate::support::sha256_hex(b"original\n");
    std::fs::write(sidecar.join("file-history").join(&original), "F\nsomething else\n").unwrap();
    let last = turns(&project, session).last().unwrap().0.clone();
    let back = rewind(&project, &mock, session, &last);
    assert_eq!(back.code(), 1, "{}", back.stdout);
    assert!(back.stdout.contains("damaged") && back.stdout.contains("kept.txt"), "{}", back.stdout);
    assert!(!project.file("other.txt").exists(), "the rest is restored");
    assert_eq!(read(&project, "kept.txt"), "edited\n", "a damaged copy is never written back");
}

#[test]
fn a_rewind_never_removes_a_file_that_was_there_before_under_another_name() {
    // (The usual project denies reading .env.)
    let project = Project::new();
    project.git(&["init", "-q"]);
    project.write(".gitignore", ".env\n");
    project.git(&["add", ".gitignore"]);
    project.git(&["commit", "-qm", "ignore"]);
    project.write(".env", "SECRET=1\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "mv .env .env.bak && echo new > made.txt"})),
        Step::text("Moved."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "move it", "--output-format", "json", "--permission-mode", "bypassPermissions"]);
    let out = run(cmd);
    let session = session_of(&out);
    let first = turns(&project, &session)[0].0.clone();
    let back = rewind(&project, &mock, &session, &first);
    let journal = find_file(project.home.path(), "file-history.jsonl").map(std::fs::read_to_string);
    assert_eq!(back.code(), 1, "{}\n{journal:?}\n{:?}", back.stdout, tool_results(&mock.requests()[1].body));
    assert!(back.stdout.contains(".env.bak not restored"), "{}", back.stdout);
    assert_eq!(read(&project, ".env.bak"), "SECRET=1\n", "a file that existed before is never deleted");
    assert!(!project.file("made.txt").exists(), "what the command made is removed");
}

#[test]
fn commands_changes_in_an_added_folder_are_checkpointed_too() {
    let project = Project::claude_user();
    let other = tempfile::tempdir().unwrap();
    let lib = other.path().join("lib.txt");
    std::fs::write(&lib, "shared\n").unwrap();
    let dir = other.path().display().to_string();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": lib.display().to_string()})),
        Step::tool("Bash", json!({"command": format!("echo changed > {dir}/lib.txt && echo new > {dir}/new.txt")})),
        Step::text("Changed the shared folder."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "change the other folder", "--output-format", "json", "--permission-mode", "bypassPermissions"]);
    cmd.args(["--add-dir", &dir]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&lib).unwrap(), "changed\n");
    let session = session_of(&out);
    let first = turns(&project, &session)[0].0.clone();
    let back = rewind(&project, &mock, &session, &first);
    assert_eq!(back.code(), 0, "{}\n{}", back.stdout, back.stderr);
    assert_eq!(std::fs::read_to_string(&lib).unwrap(), "shared\n", "the file in the added folder is back");
    assert!(!other.path().join("new.txt").exists(), "and what the command made there is gone");
}
