//! WebFetch against pages the mock serves, TodoWrite, and the scheduler's cap on parallel
//! read-only calls.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{MockLlm, Page, Project, Scenario, Step, finish, run_calls, spawn, stream_json, tool_results};

#[test]
fn web_fetch_turns_pages_into_markdown_and_reports_other_hosts() {
    let project = Project::new();
    let big = "x".repeat(11 << 20);
    let long: String = (0..5000).map(|i| format!("<p>paragraph {i}</p>")).collect();
    let mock_steps = |url: &str| {
        let fetch = |path: &str| ("WebFetch", json!({"url": format!("{url}{path}"), "prompt": "what does it say?"}));
        let other_host = url.replace("127.0.0.1", "localhost");
        Scenario::new(vec![
            Step::tools(&[
                fetch("/docs"),
                fetch("/moved"),
                ("WebFetch", json!({"url": format!("{url}/away"), "prompt": "p"})),
                fetch("/missing"),
                fetch("/image"),
                fetch("/big"),
                fetch("/long"),
                ("WebFetch", json!({"url": "ftp://example.com/x", "prompt": "p"})),
            ]),
            Step::text("done"),
        ])
        .with_page("/docs", Page::html("<html><head><script>bad()</script></head><body><h1>Docs</h1><p>Use <code>cairn -p</code>.</p></body></html>"))
        .with_page("/moved", Page::redirect("/docs"))
        .with_page("/away", Page::redirect(&format!("{other_host}/docs")))
        .with_page("/missing", Page { status: 404, content_type: Some("text/plain".into()), body: "no such page".into(), location: None })
        .with_page("/image", Page { status: 200, content_type: Some("image/png".into()), body: "\u{89}PNG".into(), location: None })
        .with_page("/big", Page { status: 200, content_type: Some("text/plain".into()), body: big.clone(), location: None })
        .with_page("/long", Page::html(&long))
    };
    let mock = MockLlm::start_with(mock_steps);
    let out = stream_json(&project, &mock, "read the docs", &["--allowedTools", "WebFetch"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let r = tool_results(&mock.requests()[1].body);
    assert!(r[0].1.contains("# Docs") && r[0].1.contains("`cairn -p`") && !r[0].1.contains("bad()"), "{}", r[0].1);
    assert!(r[1].1.contains("# Docs"), "same-host redirects are followed: {}", r[1].1);
    assert!(r[2].1.starts_with("REDIRECT") && r[2].1.contains("localhost"), "{}", r[2].1);
    assert!(r[3].2 && r[3].1.contains("HTTP 404"), "{}", r[3].1);
    assert!(r[4].2 && r[4].1.contains("not text"), "{}", r[4].1);
    assert!(r[5].2 && r[5].1.contains("larger than 10 MB"), "{}", r[5].1);
    assert!(
        r[6].1.len() < 35_000 && r[6].1.contains("paragraph 4999") && r[6].1.contains("The whole page is in"),
        "{}",
        r[6].1.len()
    );
    assert!(r[7].2 && r[7].1.contains("Only http and https"), "{}", r[7].1);
}

#[test]
fn web_fetch_needs_permission_in_headless_mode() {
    let project = Project::new();
    let (out, results) =
        run_calls(&project, &[("WebFetch", json!({"url": "http://127.0.0.1:9/", "prompt": "p"}))], &[]);
    assert!(results[0].2 && results[0].1.contains("Permission to use WebFetch was denied"), "{}", results[0].1);
    assert_eq!(out.result()["permission_denials"][0]["tool_name"], "WebFetch");
}

#[test]
fn todo_write_keeps_the_list() {
    let project = Project::new();
    let todos = json!([
        {"content": "Run the tests", "status": "completed", "activeForm": "Running the tests"},
        {"content": "Fix the bug", "status": "in_progress", "activeForm": "Fixing the bug"},
        {"content": "Write the docs", "status": "pending", "activeForm": "Writing the docs", "priority": "low"},
    ]);
    let (out, results) = run_calls(
        &project,
        &[
            ("TodoWrite", json!({"todos": todos})),
            ("TodoWrite", json!({"todos": [{"content": "", "status": "pending"}]})),
        ],
        &[],
    );
    assert!(results[0].1.starts_with("Todos have been modified successfully (2 open of 3)"), "{}", results[0].1);
    assert!(results[1].2 && results[1].1.contains("has no content"));
    assert_eq!(out.of_type("user")[0]["tool_use_result"]["newTodos"], todos);
}

/// Twelve Reads of named pipes in one response: a pipe's reader shows up as the pipe being
/// openable for writing without blocking. At most ten may be open at once; when they are
/// answered, the last two start.
#[test]
fn at_most_ten_read_only_calls_run_at_once() {
    let project = Project::new();
    let fifos: Vec<_> = (0..12).map(|i| project.file(&format!("p{i}.fifo"))).collect();
    for fifo in &fifos {
        assert!(std::process::Command::new("mkfifo").arg(fifo).status().unwrap().success());
    }
    let calls: Vec<(&str, serde_json::Value)> =
        (0..12).map(|i| ("Read", json!({"file_path": format!("p{i}.fifo")}))).collect();
    let mock = MockLlm::start(Scenario::new(vec![Step::tools(&calls), Step::text("done")]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "go", "--output-format", "json"]);
    let child = spawn(cmd);
    let nonblocking = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let open_writer = |path: &std::path::Path| OpenOptions::new().write(true).custom_flags(nonblocking).open(path).ok();
    let mut writers: Vec<Option<std::fs::File>> = (0..12).map(|_| None).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Collect readers until ten are waiting, then watch a while longer for an eleventh.
    let mut settle = None;
    loop {
        for (i, fifo) in fifos.iter().enumerate() {
            if writers[i].is_none() {
                writers[i] = open_writer(fifo);
            }
        }
        let open = writers.iter().filter(|w| w.is_some()).count();
        assert!(open <= 10, "{open} Reads ran at once");
        if open == 10 && settle.is_none() {
            settle = Some(Instant::now());
        }
        if settle.is_some_and(|s| s.elapsed() > Duration::from_millis(300)) {
            break;
        }
        assert!(Instant::now() < deadline, "the Reads never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    for (i, writer) in writers.iter_mut().enumerate() {
        if let Some(mut w) = writer.take() {
            writeln!(w, "pipe {i}").unwrap();
        }
    }
    for (i, fifo) in fifos.iter().enumerate().skip(10) {
        let mut writer = loop {
            if let Some(w) = open_writer(fifo) {
                break w;
            }
            assert!(Instant::now() < deadline, "Read {i} never started");
            std::thread::sleep(Duration::from_millis(5));
        };
        writeln!(writer, "pipe {i}").unwrap();
    }
    let out = finish(child);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let results = tool_results(&mock.requests()[1].body);
    let texts: Vec<String> = results.iter().map(|r| r.1.clone()).collect();
    let expected: Vec<String> = (0..12).map(|i| format!("     1\tpipe {i}\n")).collect();
    assert_eq!(texts, expected);
}
