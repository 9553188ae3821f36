//! Speculation through the binary: read-only calls that start while the answer still
//! streams (timed against the mock's own clock), a mutating call that waits for the whole
//! response, and a retried stream that does not run a call twice.

use std::time::Duration;

use serde_json::json;

use crate::support::mock_llm::Page;
use crate::support::{MockLlm, Project, Scenario, Step, stream_json, tool_results};

/// A long text tail: 40 deltas of 25 ms, a second of streaming after the calls.
fn tail() -> String {
    "and the rest of the answer streams on. ".repeat(20)
}

#[test]
fn read_only_calls_start_while_the_answer_streams_and_edits_wait() {
    let project = Project::claude_user();
    project.write("notes.md", "original notes\n");
    let filler = "Reading the notes first, then the page. ".repeat(5);
    let mock = MockLlm::start_with(|url| {
        Scenario::new(vec![
            Step::tools(&[
                ("Read", json!({"file_path": "notes.md"})),
                ("Glob", json!({"pattern": "*.md"})),
                ("WebFetch", json!({"url": format!("{url}/docs"), "prompt": "summarise"})),
                ("Write", json!({"file_path": "out.md", "content": "written\n"})),
            ])
            .with_text("Let me look.")
            .with_text_after(&tail())
            .with_chunk_chars(20)
            .with_delay_ms(25),
            Step::text("Done."),
        ])
        .with_page("/docs", Page { status: 200, body: filler.clone(), ..Page::default() })
    });
    let notes = project.file("notes.md");
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            // Once the page is fetched (mid-stream), the notes change: the Read, two calls
            // earlier in the stream, must already have its answer.
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while mock.page_hits().is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            std::fs::write(&notes, "changed notes\n").unwrap();
        });
        stream_json(&project, &mock, "summarise notes and docs", &["--allowedTools", "WebFetch,Write"])
    });
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    let streamed_until = requests[0].finished_at.expect("the first answer was sent in full");
    let hits = mock.page_hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(
        hits[0].1 < streamed_until,
        "the page was fetched at {:?}, before message_stop went out at {streamed_until:?}",
        hits[0].1
    );
    let written = std::fs::metadata(project.file("out.md")).unwrap().modified().unwrap();
    // File times are coarse (a clock tick); an early Write would be a second ahead.
    let slack = Duration::from_millis(50);
    assert!(written + slack > mock.wall(streamed_until), "the Write waited for the whole response");
    let results = tool_results(&requests[1].body);
    assert_eq!(results.len(), 4, "{results:?}");
    assert_eq!(results[0].1, "     1\toriginal notes\n");
    assert!(results[2].1.contains("Reading the notes first"), "{:?}", results[2]);
    assert!(!results[3].2, "{:?}", results[3]);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
}

#[test]
fn a_retried_stream_does_not_run_a_call_twice() {
    let project = Project::claude_user();
    project.write("notes.md", "the notes\n");
    let log = project.file("pre-tool-use.log");
    let hook =
        json!({"matcher": "Read", "hooks": [{"type": "command", "command": format!("echo ran >> {}", log.display())}]});
    project.write(".claude/settings.local.json", &json!({"hooks": {"PreToolUse": [hook]}}).to_string());
    let read = ("Read", json!({"file_path": "notes.md"}));
    let mock = MockLlm::start(Scenario::new(vec![
        // Cut in the text after the call: the call has started; the retry asks for it again.
        Step::tools(std::slice::from_ref(&read))
            .with_text_after(&tail())
            .with_chunk_chars(20)
            .with_delay_ms(10)
            .with_fault(crate::support::Fault::Cut { after_events: 15 }),
        Step::tools(&[read]).with_text_after("Reading it."),
        Step::text("The notes say so."),
    ]));
    let out = stream_json(&project, &mock, "read the notes", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.result()["result"], "The notes say so.");
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    let results = tool_results(&requests[2].body);
    assert_eq!(results, [("toolu_mock_1_0".to_owned(), "     1\tthe notes\n".to_owned(), false)]);
    let ran = std::fs::read_to_string(&log).unwrap();
    assert_eq!(ran.lines().count(), 1, "the call went through the gate once: {ran:?}");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
}

#[test]
fn an_answer_cut_off_and_asked_again_does_not_run_its_early_calls_twice() {
    let project = Project::claude_user();
    project.write("notes.md", "the notes\n");
    project.write("other.md", "other notes\n");
    let log = project.file("pre-tool-use.log");
    let command = format!(
        "python3 -c 'import sys, json; print(json.load(sys.stdin)[\"tool_input\"][\"file_path\"])' >> {}",
        log.display()
    );
    let hook = json!({"matcher": "Read", "hooks": [{"type": "command", "command": command}]});
    project.write(".claude/settings.local.json", &json!({"hooks": {"PreToolUse": [hook]}}).to_string());
    let calls = [("Read", json!({"file_path": "notes.md"})), ("Read", json!({"file_path": "other.md"}))];
    let mock = MockLlm::start(Scenario::new(vec![
        // The second call is cut off at the output limit: cairn asks again with more room.
        Step::tools(&calls).with_stop_reason("max_tokens"),
        Step::tools(&calls),
        Step::text("Both read."),
    ]));
    // A small output budget, so a call cut off is asked again with the model's full one.
    let mut cmd = project.cairn(&mock);
    cmd.env("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "4096").args(["-p", "read both", "--output-format", "json"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let budgets: Vec<_> = mock.requests().iter().map(|r| r.body["max_tokens"].as_u64().unwrap_or(0)).collect();
    assert!(budgets[0] < budgets[1], "asked again with more room: {budgets:?}");
    let ran = std::fs::read_to_string(&log).unwrap();
    assert_eq!(ran.lines().collect::<Vec<_>>(), ["notes.md", "other.md"], "each call ran once");
    let results = tool_results(&mock.requests()[2].body);
    assert_eq!(
        results.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["     1\tthe notes\n", "     1\tother notes\n"]
    );
}
