//! Frame rendering with a long transcript: `cargo bench --bench tui`.
//!
//! Builds a session of 10,000 transcript lines (answers, tool calls, diffs) and times one
//! frame — the view and the terminal output, written to memory — in inline mode (where the
//! transcript is already in the scrollback) and in fullscreen mode (where the frame shows
//! its tail), with the composer holding text. Medians of many frames; reports, never fails.

// A harness: when its own setup fails, stopping with the reason is all it can do.
#![allow(clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use cairn::provider::models;
use cairn::tools::ToolOutput;
use cairn::ui::tui::app::App;
use cairn::ui::tui::cells::{Cell, ToolCell};
use cairn::ui::tui::screen::{Mode, Screen};
use cairn::ui::tui::theme::Theme;
use cairn::ui::tui::view;
use serde_json::json;

mod common;
use common::median;

fn session(lines: usize) -> App {
    let mut app = App::new(Theme::new(true), Path::new("/work/project"), models::lookup("claude-sonnet-5"), None);
    app.on_resize(120);
    let answer: String =
        (0..20).map(|i| format!("- point {i} with `code` and **bold** text that wraps around the screen\n")).collect();
    let mut n = 0;
    while app.transcript.len() < lines {
        app.push_cell(Cell::User { text: format!("question {n}") });
        app.push_cell(Cell::Assistant { markdown: answer.clone() });
        let output = ToolOutput::text((0..30).map(|i| format!("output line {i}")).collect::<Vec<_>>().join("\n"));
        app.push_cell(Cell::Tool(Box::new(ToolCell {
            call_id: format!("c{n}"),
            name: "Bash".into(),
            input: json!({"command": "cargo test"}),
            started: Instant::now(),
            output: Some(output),
            progress: None,
        })));
        n += 1;
    }
    app.take_commit();
    app.composer.insert("a prompt being typed, with some words in it");
    app
}

fn main() {
    let app = session(10_000);
    let (cols, rows) = (120u16, 40u16);
    let frames = 500;

    let mut inline = Screen::new(Vec::with_capacity(1 << 20), Mode::Inline, (cols, rows), rows - 10);
    let inline_times: Vec<Duration> = (0..frames)
        .map(|_| {
            let started = Instant::now();
            let (buffer, cursor) = view::live(&app, cols, inline.max_height());
            inline.draw(&buffer, cursor).expect("drawing to memory");
            started.elapsed()
        })
        .collect();

    let mut full = Screen::new(Vec::with_capacity(1 << 20), Mode::Fullscreen, (cols, rows), 0);
    let full_times: Vec<Duration> = (0..frames)
        .map(|_| {
            let started = Instant::now();
            let (buffer, cursor) = view::full(&app, cols, rows);
            full.draw(&buffer, cursor).expect("drawing to memory");
            started.elapsed()
        })
        .collect();

    // The @-mention picker over a 100,000-file tree: one keystroke's matching.
    let files: Vec<String> =
        (0..100_000).map(|i| format!("src/module_{}/sub_{}/file_{i}.rs", i % 97, i % 13)).collect();
    let index = cairn::ui::tui::files::FileIndex::with_files(files);
    let queries = ["f", "fi", "fil", "file_9", "mod12sub3", "file_99999"];
    let picker: Vec<Duration> = (0..20)
        .flat_map(|_| {
            queries.iter().map(|q| {
                let started = Instant::now();
                let found = index.matches(q);
                assert!(!found.is_empty());
                started.elapsed()
            })
        })
        .collect();

    println!("transcript: {} lines, terminal {cols}x{rows}", app.transcript.len());
    println!("@-mention picker, 100,000 files: median {:.1} ms per keystroke", median(picker).as_secs_f64() * 1000.0);
    println!("inline frame (live area):        median {:.3} ms", median(inline_times).as_secs_f64() * 1000.0);
    println!(
        "fullscreen frame (tail + live):  median {:.3} ms (budget ≤ 2 ms)",
        median(full_times).as_secs_f64() * 1000.0
    );
}
