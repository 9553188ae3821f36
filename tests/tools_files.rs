//! Read, Write, Edit and MultiEdit through the binary: what they show, what they refuse,
//! and what they leave on disk.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::support::{MockLlm, Project, Scenario, Step, run_calls, stream_json, tool_results};

const BYPASS: &[&str] = &["--dangerously-skip-permissions"];

#[test]
fn read_shows_images_and_explains_bad_paths() {
    let project = Project::new();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";
    std::fs::write(project.file("dot.png"), png).unwrap();
    std::fs::write(project.file("blob.bin"), b"\x7fELF\x02\x01\x01\0\0\0binary").unwrap();
    project.write("src/main.rs", "fn main() {}\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Read", json!({"file_path": "dot.png"})),
            ("Read", json!({"file_path": "blob.bin"})),
            ("Read", json!({"file_path": "src"})),
            ("Read", json!({"file_path": "src/mian.rs"})),
            ("Read", json!({"file_path": "nowhere/at/all.rs"})),
        ]),
        Step::text("done"),
    ]));
    let out = stream_json(&project, &mock, "look", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let body = &mock.requests()[1].body;
    let blocks: Vec<&Value> = body["messages"][2]["content"].as_array().unwrap().iter().collect();
    assert_eq!(blocks[0]["content"][0]["type"], "image");
    assert_eq!(blocks[0]["content"][0]["source"]["media_type"], "image/png");
    assert!(!blocks[0]["content"][0]["source"]["data"].as_str().unwrap().is_empty());
    let results = tool_results(body);
    assert!(results[1].2 && results[1].1.contains("binary file"), "{results:?}");
    assert!(results[2].2 && results[2].1.contains("is a directory") && results[2].1.contains("LS"), "{results:?}");
    assert!(results[3].2 && results[3].1.contains("Did you mean src/main.rs?"), "{}", results[3].1);
    assert!(results[4].2 && results[4].1.contains("nearest folder that exists"), "{}", results[4].1);
}

#[test]
fn read_pages_through_long_files() {
    let project = Project::new();
    let text: String = (1..=5000).map(|i| format!("line {i}\n")).collect();
    project.write("long.txt", &text);
    let (_, results) = run_calls(
        &project,
        &[
            ("Read", json!({"file_path": "long.txt"})),
            ("Read", json!({"file_path": "long.txt", "offset": 4999, "limit": 5})),
        ],
        &[],
    );
    assert!(results[0].1.starts_with("     1\tline 1\n"));
    assert!(
        results[0].1.ends_with("… 3000 more lines. Read on with offset=2001 (the file has 5000 lines).\n"),
        "{}",
        &results[0].1[results[0].1.len() - 100..]
    );
    assert_eq!(results[1].1, "  4999\tline 4999\n  5000\tline 5000\n");
}

#[test]
fn write_refuses_unread_and_changed_files_and_keeps_the_mode() {
    let project = Project::new();
    let existing = project.write("script.sh", "echo old\n");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o755)).unwrap();
    let write = |content: &str| ("Write", json!({"file_path": "script.sh", "content": content}));
    let (_, results) = run_calls(
        &project,
        &[
            write("echo never\n"),
            ("Read", json!({"file_path": "script.sh"})),
            ("Bash", json!({"command": "echo 'echo user' > script.sh"})),
            write("echo stale\n"),
            ("Read", json!({"file_path": "script.sh"})),
            write("echo new\n"),
            ("Write", json!({"file_path": "deep/new/dir/file.txt", "content": "hello\n"})),
        ],
        BYPASS,
    );
    assert!(results[0].2 && results[0].1.contains("has not been read yet"), "{}", results[0].1);
    assert!(results[3].2 && results[3].1.contains("has changed since it was last read"), "{}", results[3].1);
    assert!(!results[5].2, "{}", results[5].1);
    assert!(results[5].1.starts_with("Updated script.sh"), "{}", results[5].1);
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "echo new\n");
    assert_eq!(std::fs::metadata(&existing).unwrap().permissions().mode() & 0o777, 0o755);
    assert!(results[6].1.starts_with("Created deep/new/dir/file.txt"), "{}", results[6].1);
    assert_eq!(std::fs::read_to_string(project.file("deep/new/dir/file.txt")).unwrap(), "hello\n");
    let leftovers: Vec<_> = std::fs::read_dir(project.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".cairn-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn writes_stay_inside_the_project_and_added_folders() {
    let project = Project::new();
    let outside = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), project.file("escape")).unwrap();
    let inside_target = project.write("real.txt", "real\n");
    std::os::unix::fs::symlink(&inside_target, project.file("alias.txt")).unwrap();
    let other_file = other.path().join("ok.txt");
    let (_, results) = run_calls(
        &project,
        &[
            ("Write", json!({"file_path": "../sneaky.txt", "content": "x"})),
            ("Write", json!({"file_path": "escape/through-link.txt", "content": "x"})),
            ("Write", json!({"file_path": outside.path().join("abs.txt"), "content": "x"})),
            ("Write", json!({"file_path": other_file, "content": "allowed\n"})),
            ("Read", json!({"file_path": "alias.txt"})),
            ("Write", json!({"file_path": "alias.txt", "content": "through the link\n"})),
        ],
        &["--dangerously-skip-permissions", "--add-dir", other.path().to_str().unwrap()],
    );
    for result in &results[..3] {
        assert!(result.2 && result.1.contains("outside the folders cairn may change"), "{}", result.1);
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(!project.path().parent().unwrap().join("sneaky.txt").exists());
    assert!(!results[3].2, "{}", results[3].1);
    assert_eq!(std::fs::read_to_string(&other_file).unwrap(), "allowed\n");
    assert!(!results[5].2, "{}", results[5].1);
    assert!(std::fs::symlink_metadata(project.file("alias.txt")).unwrap().file_type().is_symlink(), "the link is kept");
    assert_eq!(std::fs::read_to_string(&inside_target).unwrap(), "through the link\n");
}

#[test]
fn edit_keeps_crlf_refuses_ambiguity_and_stale_files() {
    let project = Project::new();
    let crlf = project.write("win.txt", "alpha\r\nbeta\r\ngamma\r\n");
    let dup = project.write("dup.txt", "x = 1\ny = 2\nx = 1\n");
    let stale = project.write("stale.txt", "one\n");
    let edit =
        |path: &str, old: &str, new: &str| ("Edit", json!({"file_path": path, "old_string": old, "new_string": new}));
    let (_, results) = run_calls(
        &project,
        &[
            ("Read", json!({"file_path": "win.txt"})),
            ("Read", json!({"file_path": "dup.txt"})),
            ("Read", json!({"file_path": "stale.txt"})),
            edit("win.txt", "beta\ngamma", "BETA\nGAMMA"),
            edit("dup.txt", "x = 1", "x = 3"),
            (
                "Edit",
                json!({"file_path": "dup.txt", "old_string": "x = 1", "new_string": "x = 3", "replace_all": true}),
            ),
            ("Bash", json!({"command": "echo two >> stale.txt"})),
            edit("stale.txt", "one", "uno"),
            edit("missing.txt", "a", "b"),
            edit("win.txt", "no such text", "b"),
        ],
        BYPASS,
    );
    assert!(!results[3].2, "{}", results[3].1);
    assert_eq!(std::fs::read(&crlf).unwrap(), b"alpha\r\nBETA\r\nGAMMA\r\n");
    assert!(results[3].1.contains("     2\tBETA"), "the result shows the changed lines: {}", results[3].1);
    assert!(results[4].2 && results[4].1.contains("matches 2 places (lines 1, 3)"), "{}", results[4].1);
    assert!(!results[5].2 && results[5].1.contains("2 occurrences replaced"), "{}", results[5].1);
    assert_eq!(std::fs::read_to_string(&dup).unwrap(), "x = 3\ny = 2\nx = 3\n");
    assert!(results[7].2 && results[7].1.contains("changed since it was last read"), "{}", results[7].1);
    assert_eq!(std::fs::read_to_string(&stale).unwrap(), "one\ntwo\n");
    assert!(results[8].2 && results[8].1.contains("File does not exist"), "{}", results[8].1);
    assert!(results[9].2 && results[9].1.contains("was not found"), "{}", results[9].1);
}

#[test]
fn edit_falls_back_to_a_unique_whitespace_tolerant_match_and_says_so() {
    let project = Project::new();
    let file = project.write("lib.py", "def f():\n\tif ready:   \n\t\tgo()\n");
    let (out, results) = run_calls(
        &project,
        &[
            ("Read", json!({"file_path": "lib.py"})),
            (
                "Edit",
                json!({"file_path": "lib.py", "old_string": "    if ready:\n        go()", "new_string": "    if ready:\n        stop()"}),
            ),
        ],
        BYPASS,
    );
    assert!(!results[1].2, "{}", results[1].1);
    assert!(results[1].1.contains("did not match exactly"), "{}", results[1].1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "def f():\n\tif ready:\n\t\tstop()\n");
    let user = out.of_type("user");
    let diff = user[1]["tool_use_result"]["diff"].as_str().unwrap();
    assert!(diff.contains("-\t\tgo()") && diff.contains("+\t\tstop()"), "{diff}");
}

#[test]
fn multi_edit_is_all_or_nothing() {
    let project = Project::new();
    let file = project.write("config.toml", "name = \"a\"\nversion = 1\n");
    let edits = |second: &str| {
        json!({"file_path": "config.toml", "edits": [
            {"old_string": "name = \"a\"", "new_string": "name = \"b\""},
            {"old_string": second, "new_string": "version = 2"},
        ]})
    };
    let (_, results) = run_calls(
        &project,
        &[
            ("Read", json!({"file_path": "config.toml"})),
            ("MultiEdit", edits("version = 9")),
            ("MultiEdit", edits("version = 1")),
        ],
        BYPASS,
    );
    assert!(
        results[1].2 && results[1].1.starts_with("Edit 2 of 2:") && results[1].1.contains("No edit was applied"),
        "{}",
        results[1].1
    );
    assert!(!results[2].2, "{}", results[2].1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "name = \"b\"\nversion = 2\n");
}
