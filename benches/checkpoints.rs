//! Checkpoint benchmarks, in process on real files:
//! - the cost a checkpoint adds to an Edit of a 100 KB file (keeping the old and new
//!   versions and journaling the change, synced, as Write/Edit do before touching a file);
//! - finding what a command changed in a 50,000-file tree (the scan before and after);
//! - rewinding 100 changed files.
//!
//! ```text
//! cargo bench --bench checkpoints
//! ```
//! Medians; reports, never fails on a slow machine.

// A harness: when its own setup fails, stopping with the reason is all it can do.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Instant;

use cairn::tools::checkpoint::Checkpoints;

mod common;
use common::{median, ms};

fn edit_overhead() {
    let project = tempfile::tempdir().unwrap();
    let session = tempfile::tempdir().unwrap();
    let checkpoints = Checkpoints::open(project.path(), session.path());
    checkpoints.begin_turn("t1", "bench");
    let path = project.path().join("big.rs");
    let mut content: Vec<u8> = (0..100_000u32).map(|i| b"abcdefghij\n"[(i % 11) as usize]).collect();
    std::fs::write(&path, &content).unwrap();
    let mut samples = Vec::new();
    for i in 0..50 {
        let old = content.clone();
        content[i * 1000 + 5] = b'X';
        let started = Instant::now();
        let id = checkpoints.before_write(&path, Some(&old), &content, "Edit").unwrap();
        samples.push(started.elapsed());
        std::fs::write(&path, &content).unwrap();
        checkpoints.after_write(&id, &path, true);
    }
    let stored: u64 = std::fs::read_dir(session.path().join("file-history"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "checkpoint per Edit of a 100 KB file: {:.2} ms median (goal ≤ 1 ms); 50 edits kept in {} KB",
        ms(median(samples)),
        stored / 1024
    );
}

fn change_detection() {
    let project = tempfile::tempdir().unwrap();
    let session = tempfile::tempdir().unwrap();
    for d in 0..500 {
        let dir = project.path().join(format!("pkg{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(dir.join(format!("f{f}.txt")), format!("{d} {f}\n")).unwrap();
        }
    }
    let checkpoints = Checkpoints::open(project.path(), session.path());
    checkpoints.begin_turn("t1", "bench");
    let mut scans = Vec::new();
    let mut both = Vec::new();
    for i in 0..8 {
        let started = Instant::now();
        let before = checkpoints.scan().unwrap();
        scans.push(started.elapsed());
        std::fs::write(project.path().join(format!("pkg{i}/f1.txt")), "changed\n").unwrap();
        let started_after = Instant::now();
        let _ = checkpoints.after_command(&before, "Bash");
        both.push(scans.last().copied().unwrap() + started_after.elapsed());
    }
    // The first command walks the tree and sets the watches; the second looks at every
    // file once more after them; from then on the kernel says what changed.
    let first = both.remove(0);
    let second = both.remove(0);
    println!(
        "Bash change detection, 50,000 files: first command {:.1} ms, second {:.1} ms; then scan {:.1} ms, \
         scan before + compare after {:.1} ms (medians; goal ≤ 50 ms)",
        ms(first),
        ms(second),
        ms(median(scans.split_off(2))),
        ms(median(both))
    );
}

fn rewind_100() {
    let mut samples = Vec::new();
    for _ in 0..5 {
        let project = tempfile::tempdir().unwrap();
        let session = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::open(project.path(), session.path());
        checkpoints.begin_turn("t1", "bench");
        for i in 0..100 {
            let path = project.path().join(format!("f{i}.rs"));
            let old = format!("fn f{i}() {{}}\n").repeat(100);
            std::fs::write(&path, &old).unwrap();
            let new = old.replace("{}", "{ 1 }");
            let id = checkpoints.before_write(&path, Some(old.as_bytes()), new.as_bytes(), "Edit").unwrap();
            std::fs::write(&path, &new).unwrap();
            checkpoints.after_write(&id, &path, true);
        }
        let started = Instant::now();
        let plan = checkpoints.plan_rewind("t1").unwrap();
        let report = checkpoints.apply(&plan, false, "bench");
        samples.push(started.elapsed());
        assert_eq!(report.restored.len(), 100, "{}", report.summary());
    }
    println!("rewind of 100 files: {:.1} ms median (goal ≤ 100 ms)", ms(median(samples)));
}

fn main() {
    edit_overhead();
    change_detection();
    rewind_100();
}
