//! Tool benchmarks: Grep against ripgrep over a large tree, Glob over the same tree, and
//! the scheduler's own overhead for ten parallel Reads.
//!
//! ```text
//! cargo bench --bench tools                  # the tree: ~/.cargo/registry/src (hundreds of MB)
//! BENCH_TREE=/some/dir cargo bench --bench tools
//! ```
//! Needs `rg` on the PATH (`apt-get install ripgrep`). Medians of several warm runs; ripgrep
//! is run with the same ignore rules cairn uses (hidden files searched, .gitignore honoured
//! outside git). Reports; never fails on a slow machine.

// A harness: when its own setup fails, stopping with the reason is all it can do.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn::protocol::EventSink;
use cairn::secrets::Secrets;
use cairn::tools::bash::shells::ShellRegistry;
use cairn::tools::scheduler::{self, Planned};
use cairn::tools::{SessionState, ToolContext, ToolRegistry};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

mod common;
use common::{median, ms};

const RUNS: usize = 7;

struct Bench {
    runtime: tokio::runtime::Runtime,
    registry: ToolRegistry,
    session: Arc<SessionState>,
}

impl Bench {
    fn new(root: &Path) -> Bench {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        let spill = std::env::temp_dir().join("cairn-bench-spill");
        let (events, _) = EventSink::new();
        let session = Arc::new(SessionState::new(root, &[], spill, ShellRegistry::new(), events, Secrets::default()));
        Bench { runtime, registry: ToolRegistry::builtin(), session }
    }

    /// One tool call in process; returns its time and output text.
    fn call(&self, tool: &str, input: Value) -> (Duration, String) {
        let tool = self.registry.get(tool).expect("a builtin tool");
        let ctx = ToolContext {
            call_id: "bench".into(),
            cancel: CancellationToken::new(),
            session: Arc::clone(&self.session),
        };
        let started = Instant::now();
        let output = self.runtime.block_on(tool.call(input, ctx));
        (started.elapsed(), output.text_content())
    }

    fn timed(&self, tool: &str, input: &Value) -> (Duration, String) {
        let (_, text) = self.call(tool, input.clone());
        (median((0..RUNS).map(|_| self.call(tool, input.clone()).0).collect()), text)
    }
}

fn ripgrep(args: &[&str], root: &Path) -> Option<(Duration, usize)> {
    let run = || {
        let started = Instant::now();
        let out = Command::new("rg")
            .args(["--hidden", "--no-require-git", "--glob", "!.git"])
            .args(args)
            .arg(root)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        Some((started.elapsed(), out.stdout.iter().filter(|b| **b == b'\n').count()))
    };
    let (_, lines) = run()?;
    let samples: Option<Vec<Duration>> = (0..RUNS).map(|_| run().map(|r| r.0)).collect();
    Some((median(samples?), lines))
}

fn main() {
    let tree = std::env::var_os("BENCH_TREE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo/registry/src"));
    let bench = Bench::new(&tree);
    let size =
        Command::new("du").args(["-sh"]).arg(&tree).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    println!("tree: {} ({})", tree.display(), size.unwrap_or_default().split_whitespace().next().unwrap_or("?"));
    println!("{:<46} {:>10} {:>10} {:>7}", "Grep query", "cairn", "rg", "ratio");
    let cases: [(&str, Value, &[&str]); 4] = [
        ("literal, files_with_matches", json!({"pattern": "serde_json"}), &["-l", "serde_json"]),
        (
            "regex, content with line numbers",
            json!({"pattern": "fn\\s+main\\(", "output_mode": "content"}),
            &["-n", "fn\\s+main\\("],
        ),
        (
            "case-insensitive, count",
            json!({"pattern": "unsafe", "-i": true, "output_mode": "count"}),
            &["-c", "-i", "unsafe"],
        ),
        (
            "rare literal, files_with_matches",
            json!({"pattern": "ZSTD_decompressStream"}),
            &["-l", "ZSTD_decompressStream"],
        ),
    ];
    let mut ratios = Vec::new();
    for (label, input, rg_args) in cases {
        let (ours, text) = bench.timed("Grep", &input);
        match ripgrep(rg_args, &tree) {
            Some((theirs, lines)) => {
                let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
                ratios.push(ratio);
                println!(
                    "{label:<46} {:>7.1} ms {:>7.1} ms {ratio:>6.2}×   ({} vs {lines} lines)",
                    ms(ours),
                    ms(theirs),
                    text.lines().count()
                );
            }
            None => println!("{label:<46} {:>7.1} ms   (rg not found)", ms(ours)),
        }
    }
    if !ratios.is_empty() {
        println!("worst Grep / rg ratio: {:.2}× (budget ≤ 1.3×)", ratios.iter().cloned().fold(0.0, f64::max));
    }

    let (glob, text) = bench.timed("Glob", &json!({"pattern": "**/*.rs"}));
    println!("Glob **/*.rs over the tree: {:.1} ms ({})", ms(glob), text.lines().last().unwrap_or_default());

    // Ten small files read by ten parallel Read calls through the scheduler.
    let dir = tempfile::tempdir().expect("a temp dir");
    for i in 0..10 {
        std::fs::write(dir.path().join(format!("f{i}.rs")), format!("fn f{i}() {{}}\n").repeat(50)).expect("a file");
    }
    let small = Bench::new(dir.path());
    let read = small.registry.get("Read").expect("Read");
    let plan = || -> Vec<Planned> {
        (0..10)
            .map(|i| Planned::Run {
                call_id: format!("c{i}"),
                name: "Read".into(),
                input: json!({"file_path": format!("f{i}.rs")}),
                tool: Arc::clone(&read),
            })
            .collect()
    };
    let (events, _) = EventSink::new();
    let cancel = CancellationToken::new();
    let batch = |plan: Vec<Planned>| {
        let started = Instant::now();
        small.runtime.block_on(scheduler::run(plan, &small.session, &cancel, &events, &|_, _, _| {}));
        started.elapsed()
    };
    batch(plan());
    let ten = median((0..50).map(|_| batch(plan())).collect());
    let one = median((0..50).map(|_| small.call("Read", json!({"file_path": "f0.rs"})).0).collect());
    println!(
        "scheduler: 10 parallel Reads of small files {:.3} ms; one Read alone {:.3} ms; overhead above one Read {:.3} ms",
        ms(ten),
        ms(one),
        ms(ten.saturating_sub(one))
    );
}
