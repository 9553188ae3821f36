//! Glob, Grep and LS through the binary: ignore files honoured, ordering, caps and notes,
//! every output mode and filter of Grep.

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::support::{Project, run_calls};

fn touch(project: &Project, path: &str, content: &str, age_secs: u64) {
    let file = project.write(path, content);
    let when = SystemTime::now() - Duration::from_secs(age_secs);
    std::fs::File::options().write(true).open(file).unwrap().set_modified(when).unwrap();
}

#[test]
fn glob_sorts_newest_first_honours_gitignore_and_explains_itself() {
    let project = Project::new();
    touch(&project, "old.rs", "", 300);
    touch(&project, "src/new.rs", "", 10);
    touch(&project, "src/mid.rs", "", 100);
    touch(&project, "target/build.rs", "", 1);
    touch(&project, ".github/ci.yml", "", 5);
    project.write(".gitignore", "target/\n");
    for i in 0..120 {
        project.write(&format!("many/f{i:03}.txt"), "");
    }
    let (_, results) = run_calls(
        &project,
        &[
            ("Glob", json!({"pattern": "**/*.rs"})),
            ("Glob", json!({"pattern": "*.yml"})),
            ("Glob", json!({"pattern": "*.txt", "path": "many"})),
            ("Glob", json!({"pattern": "**/*.nothing"})),
            ("Glob", json!({"pattern": "[", "path": "."})),
        ],
        &[],
    );
    assert_eq!(results[0].1, "src/new.rs\nsrc/mid.rs\nold.rs");
    assert!(
        results[1].1.contains("these match **/*.yml") && results[1].1.ends_with(".github/ci.yml"),
        "{}",
        results[1].1
    );
    assert_eq!(results[2].1.lines().filter(|l| l.starts_with("many/")).count(), 100);
    assert!(results[2].1.contains("Showing the 100 newest of 120 matches"), "{}", results[2].1);
    assert!(results[3].1.starts_with("No files found"), "{}", results[3].1);
    assert!(results[4].2 && results[4].1.contains("Invalid glob"), "{}", results[4].1);
}

#[test]
fn grep_modes_filters_and_ignore_files() {
    let project = Project::new();
    touch(&project, "src/a.rs", "fn alpha() {}\n// TODO: one\nfn beta() {}\n", 50);
    touch(&project, "src/b.py", "def todo():\n    pass  # todo later\n", 10);
    touch(&project, "vendor/c.rs", "// TODO: vendored\n", 1);
    std::fs::write(project.file("blob.bin"), b"TODO\0binary\0").unwrap();
    project.write(".gitignore", "vendor/\n");
    let grep = |extra: serde_json::Value| {
        let mut input = json!({"pattern": "TODO"});
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        ("Grep", input)
    };
    let (_, r) = run_calls(
        &project,
        &[
            grep(json!({})),
            grep(json!({"-i": true})),
            grep(json!({"-i": true, "output_mode": "content"})),
            grep(json!({"output_mode": "content", "-C": 1, "path": "src/a.rs"})),
            grep(json!({"-i": true, "output_mode": "count"})),
            grep(json!({"-i": true, "glob": "*.py"})),
            grep(json!({"-i": true, "type": "rust"})),
            grep(json!({"-i": true, "output_mode": "content", "head_limit": 1, "offset": 1})),
            ("Grep", json!({"pattern": "alpha.*\\n.*one", "multiline": true})),
            ("Grep", json!({"pattern": "(unclosed"})),
            ("Grep", json!({"pattern": "x", "type": "klingon"})),
            ("Grep", json!({"pattern": "nothing-matches-this"})),
        ],
        &[],
    );
    assert_eq!(r[0].1, "Found 1 file\nsrc/a.rs");
    assert_eq!(r[1].1, "Found 2 files\nsrc/b.py\nsrc/a.rs", "newest first; vendor/ and the binary skipped");
    assert_eq!(r[2].1, "src/a.rs:2:// TODO: one\nsrc/b.py:1:def todo():\nsrc/b.py:2:    pass  # todo later");
    assert_eq!(r[3].1, "src/a.rs-1-fn alpha() {}\nsrc/a.rs:2:// TODO: one\nsrc/a.rs-3-fn beta() {}");
    assert_eq!(r[4].1, "Found 3 matching lines in 2 files\nsrc/a.rs:1\nsrc/b.py:2");
    assert_eq!(r[5].1, "Found 1 file\nsrc/b.py");
    assert_eq!(r[6].1, "Found 1 file\nsrc/a.rs");
    assert!(r[7].1.starts_with("src/b.py:1:def todo():\n(Showing entries 2-2 of 3"), "{}", r[7].1);
    assert_eq!(r[8].1, "Found 1 file\nsrc/a.rs");
    assert!(r[9].2 && r[9].1.contains("Invalid regex"), "{}", r[9].1);
    assert!(r[10].2 && r[10].1.contains("Unknown file type"), "{}", r[10].1);
    assert!(!r[11].2 && r[11].1.starts_with("No matches"), "{}", r[11].1);
}

#[test]
fn ls_draws_a_tree_without_ignored_entries() {
    let project = Project::new();
    project.write("src/main.rs", "");
    project.write("src/util/mod.rs", "");
    project.write("build.log", "");
    project.write("target/debug/x", "");
    project.write(".gitignore", "target/\n");
    let (_, r) = run_calls(
        &project,
        &[
            ("LS", json!({"path": "."})),
            ("LS", json!({"path": ".", "ignore": ["*.log", "src"]})),
            ("LS", json!({"path": "nope"})),
        ],
        &[],
    );
    let root = project.path().display();
    assert_eq!(
        r[0].1,
        format!("- {root}/\n  - .gitignore\n  - build.log\n  - src/\n    - main.rs\n    - util/\n      - mod.rs")
    );
    assert_eq!(r[1].1, format!("- {root}/\n  - .gitignore"));
    assert!(r[2].2 && r[2].1.contains("does not exist"));
}

#[test]
fn grep_over_millions_of_matching_lines_keeps_a_bounded_part() {
    let project = Project::new();
    let line = "needle in a haystack\n";
    project.write("huge.txt", &line.repeat(1_500_000));
    let (_, results) = run_calls(&project, &[("Grep", json!({"pattern": "needle", "output_mode": "content"}))], &[]);
    assert!(results[0].1.len() < 40_000, "{}", results[0].1.len());
    assert!(results[0].1.contains("needle in a haystack"));
    assert!(results[0].1.contains("Only part of the"), "{}", &results[0].1[..300]);
}
