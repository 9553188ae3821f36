//! Session benchmarks: what writing a transcript costs per entry, reading a 10,000-entry
//! transcript back (in process, and `cairn --resume … -p` end to end), and `cairn sessions`
//! over 1,000 sessions.
//!
//! ```text
//! cargo bench --bench sessions
//! ```
//! The TUI's "resume to the prompt on screen" is measured by `benches/tui_pty.py`. Medians of
//! several runs; reports, never fails on a slow machine.

// A harness: when its own setup fails, stopping with the reason is all it can do.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../tests/support/mock_llm/mod.rs"]
#[allow(dead_code, unused_imports)]
mod mock_llm;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn::conversation::history::{ContentBlock, ToolResultContent};
use cairn::cost::Usage;
use cairn::permissions::PermissionMode;
use cairn::protocol::AssistantMessage;
use cairn::secrets::Secrets;
use cairn::session::{Record, Store, TurnSummary, list, reader};
use mock_llm::{MockLlm, Scenario, Step};
use serde_json::json;

mod common;
use common::{median, ms};

const RUNS: usize = 5;

fn store(home: &Path, cwd: &Path) -> Store {
    Store {
        home: home.to_path_buf(),
        cwd: cwd.to_path_buf(),
        git_branch: Some("main".into()),
        secrets: Secrets::new(["sk-bench-secret-value".to_owned()], []),
    }
}

/// Records of one realistic step: a prompt now and then, an answer with a tool call, the
/// tool's ~1 KB result.
fn step_records(i: usize) -> Vec<Record> {
    let mut records = Vec::new();
    if i.is_multiple_of(10) {
        records.push(Record::User {
            content: vec![ContentBlock::text(format!("Prompt {i}: please look at module {i} and fix what is wrong."))],
            permission_mode: Some(PermissionMode::Default),
            meta: false,
        });
    }
    let id = format!("toolu_bench_{i}");
    records.push(Record::Assistant(AssistantMessage {
        id: format!("msg_bench_{i}"),
        model: "claude-sonnet-5".into(),
        content: vec![
            ContentBlock::text(format!("Step {i}: reading the file to see what it does before changing anything.")),
            ContentBlock::ToolUse {
                id: id.clone(),
                name: "Read".into(),
                input: json!({"file_path": format!("src/m{i}.rs")}),
            },
        ],
        stop_reason: None,
        usage: Usage { input_tokens: 1200, output_tokens: 80, cache_read_input_tokens: 30_000, ..Usage::default() },
    }));
    let text: String = (1..=20).map(|n| format!("{n:>6}\tlet value_{n} = compute({n}); // line {n}\n")).collect();
    records.push(Record::ToolResult {
        block: ContentBlock::ToolResult {
            tool_use_id: id,
            content: vec![ToolResultContent::Text { text: text.clone() }],
            is_error: false,
        },
        structured: json!({"type": "text", "file": {"filePath": format!("src/m{i}.rs"), "numLines": 20}}),
    });
    records
}

/// Writes a session of about `entries` entries; returns its file and how long recording and
/// writing took.
fn write_session(
    store: &Store,
    id: &str,
    entries: usize,
    runtime: &tokio::runtime::Runtime,
) -> (PathBuf, Duration, Duration, usize) {
    let transcript = store.create(id).unwrap();
    let mut records = Vec::new();
    let mut count = 0;
    let mut i = 0;
    while count < entries {
        for record in step_records(i) {
            count += match &record {
                Record::Assistant(m) => m.content.len(),
                _ => 1,
            };
            records.push(record);
        }
        if i % 10 == 9 {
            records.push(Record::TurnSummary(TurnSummary {
                turns: u32::try_from(i / 10 + 1).unwrap(),
                cost_usd: 0.01 * i as f64,
                model: "claude-sonnet-5".into(),
                permission_mode: Some(PermissionMode::Default),
                last_prompt: format!("Prompt {i}"),
                title: None,
                changed_files: Vec::new(),
            }));
            count += 1;
        }
        i += 1;
    }
    let started = Instant::now();
    for record in records {
        transcript.record(record);
    }
    let recorded = started.elapsed();
    runtime.block_on(transcript.sync()).unwrap();
    let written = started.elapsed();
    (transcript.path().to_path_buf(), recorded, written, count)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let home = tempfile::tempdir().expect("a temp dir");
    let project = tempfile::tempdir().expect("a temp dir");
    let store = store(home.path(), project.path());

    // The writer, and a 10,000-entry transcript to read back.
    let (big, recorded, written, count) = write_session(&store, "big-session", 10_000, &runtime);
    let size = std::fs::metadata(&big).unwrap().len();
    println!(
        "writer: {count} entries ({:.1} MB): {:.2} µs per entry on the core's side (record), {:.1} µs per entry \
         written (encode, redact, append)",
        size as f64 / 1e6,
        recorded.as_secs_f64() * 1e6 / count as f64,
        written.as_secs_f64() * 1e6 / count as f64,
    );

    let loads: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let loaded = reader::load(&big).unwrap();
            assert!(loaded.history.len() > 2_000);
            started.elapsed()
        })
        .collect();
    println!("read back 10,000 entries in process (parse, chain, repair, cost): {:.1} ms", ms(median(loads)));

    // End to end: the binary resumes it and sends the whole history to the mock.
    let mock = MockLlm::start(Scenario::new((0..RUNS).map(|_| Step::text("ok")).collect()));
    let resumes: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_cairn"))
                .args(["-p", "--resume", big.to_str().unwrap(), "--no-session-persistence", "next"])
                .env("CAIRN_HOME", home.path())
                .env("ANTHROPIC_API_KEY", "bench")
                .env("ANTHROPIC_BASE_URL", mock.url())
                .current_dir(project.path())
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            started.elapsed()
        })
        .collect();
    println!(
        "`cairn -p --resume <10,000-entry file> next` end to end (load, request of {:.1} MB, answer): {:.1} ms",
        mock.requests().last().map_or(0.0, |r| r.body.to_string().len() as f64 / 1e6),
        ms(median(resumes))
    );

    // 1,000 sessions of ~40 entries (~45 KB) each.
    for n in 0..1_000 {
        write_session(&store, &format!("session-{n:04}"), 40, &runtime);
    }
    let listings: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let found = list::sessions(&store, false);
            assert_eq!(found.len(), 1_001);
            started.elapsed()
        })
        .collect();
    println!("session list over 1,001 sessions in process: {:.1} ms", ms(median(listings)));
    let commands: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
                .arg("sessions")
                .env("CAIRN_HOME", home.path())
                .current_dir(project.path())
                .output()
                .unwrap();
            assert!(out.status.success() && out.stdout.len() > 10_000);
            started.elapsed()
        })
        .collect();
    println!("`cairn sessions` over 1,001 sessions: {:.1} ms (budget ≤ 200 ms)", ms(median(commands)));
}
