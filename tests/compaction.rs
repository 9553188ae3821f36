//! Context management through the binary: compaction at the threshold (and not before),
//! what the summary request and the request after it hold, the thrash guard, reactive
//! compaction, micro-compaction, the prompt-cache prefix across requests and a resume, the
//! budget, and a 500-turn session that keeps its task through many compactions.

use serde_json::{Value, json};

use crate::sessions::{conversation, entries, transcripts};
use crate::support::{MockLlm, Project, Scenario, Step, stream_json, tool_results};

/// The mock's token count for a request: its body's bytes ÷ 4.
fn tokens(body: &Value) -> u64 {
    body.to_string().len() as u64 / 4
}

fn is_summary_request(body: &Value) -> bool {
    let last = body["messages"].as_array().unwrap().last().unwrap();
    last["content"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["text"].as_str().is_some_and(|t| t.contains("Summarize this conversation so far")))
}

/// `.cairn/settings.json` with a small context window, so a test reaches it quickly.
fn small_window(project: &Project, tokens: u64) {
    project.write(".cairn/settings.json", &json!({ "contextWindow": tokens }).to_string());
}

fn texts_of_first_message(body: &Value) -> String {
    body["messages"][0]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn compaction_happens_at_the_threshold_and_keeps_what_matters() {
    let project = Project::new();
    small_window(&project, 20_000);
    project.write("AGENTS.md", "Always run the linter before committing.");
    let big: String = (0..300).map(|i| format!("line {i} of the big file, with some padding text\n")).collect();
    project.write("big.txt", &big);
    let todos = json!([{"content": "Write the parser", "status": "in_progress", "activeForm": "Writing the parser"}]);
    let mut steps = vec![Step::tool("TodoWrite", json!({"todos": todos}))];
    for _ in 0..4 {
        steps.push(Step::tool("Read", json!({"file_path": "big.txt"})));
    }
    steps.push(Step::text("Done reading."));
    let mock = MockLlm::start(Scenario::new(steps));
    let out = stream_json(&project, &mock, "ORIGINAL TASK: index the big file", &[]);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let requests = mock.requests();
    let sizes: Vec<u64> = requests.iter().map(|r| tokens(&r.body)).collect();
    let at =
        requests.iter().position(|r| is_summary_request(&r.body)).unwrap_or_else(|| panic!("no compaction: {sizes:?}"));
    // Not before the threshold (80 % of 20,000 tokens)…
    for request in &requests[..at] {
        assert!(tokens(&request.body) < 16_000, "request #{} went past the threshold uncompacted", request.index);
    }
    // …and at it: the conversation the summary is asked for had grown up to it.
    assert!(tokens(&requests[at].body) >= 14_000, "compacted too early: {}", tokens(&requests[at].body));
    assert_eq!(requests.iter().filter(|r| is_summary_request(&r.body)).count(), 1);
    // The summary request: the same system prompt and tools as the requests before it.
    assert_eq!(requests[at].body["system"], requests[0].body["system"]);
    assert_eq!(requests[at].body["tools"], requests[0].body["tools"]);
    insta::assert_snapshot!("compaction_instruction", instruction(&requests[at].body));

    // The request after it starts from one message holding what matters.
    let after = &requests[at + 1].body;
    let first = texts_of_first_message(after);
    for expected in [
        "This session continues an earlier conversation that was compacted",
        "The session began with this request from the user:\nORIGINAL TASK: index the big file",
        "Summary of the conversation so far:\n1. Task and intent: ORIGINAL TASK: index the big file",
        "Always run the linter before committing.",
        "The user's latest messages, oldest first:\n- ORIGINAL TASK: index the big file",
        "The todo list:\n- [in_progress] Write the parser",
        "big.txt",
    ] {
        assert!(first.contains(expected), "{expected:?} missing from:\n{first}");
    }
    assert!(tokens(after) < 10_000, "{}", tokens(after));
    let boundary =
        out.lines().into_iter().find(|l| l["subtype"] == "compact_boundary").expect("a compact_boundary line");
    assert_eq!(boundary["compact_metadata"]["trigger"], "auto");
    assert!(
        boundary["compact_metadata"]["pre_tokens"].as_u64().unwrap()
            > boundary["compact_metadata"]["post_tokens"].as_u64().unwrap()
    );

    // The transcript has the boundary; a resume starts from the summary.
    let transcript = &transcripts(&project)[0];
    let all = entries(transcript);
    let boundary = all.iter().find(|e| e["subtype"] == "compact_boundary").unwrap();
    assert_eq!(boundary["parentUuid"], Value::Null);
    assert!(all.iter().any(|e| e["isCompactSummary"] == true));
    let mock = MockLlm::start(Scenario::new(vec![Step::text("resumed")]));
    let out = stream_json(&project, &mock, "and now?", &["-c"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let sent = conversation(&mock.requests()[0].body);
    assert!(sent[0].starts_with("user: This session continues an earlier conversation"), "{sent:?}");
    assert!(mock.history_problems().is_empty());
}

/// The last text block of a request: the compaction instruction.
fn instruction(body: &Value) -> String {
    let last = body["messages"].as_array().unwrap().last().unwrap();
    last["content"].as_array().unwrap().iter().rev().find_map(|b| b["text"].as_str()).unwrap().to_owned()
}

#[test]
fn a_model_that_always_says_too_long_ends_with_a_clear_error_after_three_attempts() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("never")]).with_context_limit(10));
    let out = stream_json(&project, &mock, "hello", &[]);
    assert_eq!(out.code(), 1);
    let result = out.result();
    assert_eq!(result["is_error"], true);
    let message = result["result"].as_str().unwrap();
    assert!(message.contains("could not be compacted") && message.contains("/clear"), "{message}");
    assert!(message.contains("The API said: ") && message.contains("prompt is too long"), "both words: {message}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 4, "the request, then three summary attempts");
    assert_eq!(requests.iter().filter(|r| is_summary_request(&r.body)).count(), 3);
}

#[test]
fn a_prompt_too_long_error_compacts_once_and_the_retry_succeeds() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::fault(crate::support::Fault::PromptTooLong),
        Step::text("Answered after compacting."),
    ]));
    let out = stream_json(&project, &mock, "the task", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.result()["result"], "Answered after compacting.");
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert!(is_summary_request(&requests[1].body));
    assert!(
        texts_of_first_message(&requests[2].body)
            .contains("The session began with this request from the user:\nthe task")
    );
}

#[test]
fn micro_compaction_clears_old_results_and_never_the_newest() {
    let project = Project::new();
    small_window(&project, 40_000);
    let mut steps: Vec<Step> = (0..8)
        .map(|i| Step::tool("Bash", json!({"command": format!("python3 -c \"print('{i}' * 20000)\"")})))
        .collect();
    steps.push(Step::text("done"));
    let mock = MockLlm::start(Scenario::new(steps));
    let out = stream_json(&project, &mock, "print things", &["--allowedTools", "Bash"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    assert!(!requests.iter().any(|r| is_summary_request(&r.body)), "micro-compaction was enough");
    let last = tool_results(&requests.last().unwrap().body);
    assert_eq!(last.len(), 8);
    let cleared: Vec<bool> = last.iter().map(|(_, text, _)| text.starts_with("[The output of Bash(")).collect();
    assert!(cleared[..3].iter().any(|c| *c), "old results were cleared: {cleared:?}");
    assert!(cleared[3..].iter().all(|c| !c), "the newest five are untouched: {cleared:?}");
    for (_, text, _) in &last[3..] {
        assert_eq!(text.len(), 20_000);
    }
    assert!(last[0].1.contains("Run the call again if you need it."), "{}", last[0].1);
    for request in &requests {
        assert!(tokens(&request.body) < 40_000);
    }
}

/// Messages without cache breakpoints, for comparing prefixes.
fn plain(body: &Value) -> Vec<Value> {
    let mut messages = body["messages"].as_array().unwrap().clone();
    for message in &mut messages {
        for block in message["content"].as_array_mut().unwrap() {
            if let Some(map) = block.as_object_mut() {
                map.remove("cache_control");
            }
        }
    }
    messages
}

fn assert_prefix(earlier: &Value, later: &Value) {
    assert_eq!(earlier["system"], later["system"], "the system prompt changed");
    assert_eq!(earlier["tools"], later["tools"], "the tools changed");
    let (a, b) = (plain(earlier), plain(later));
    assert!(b.len() >= a.len());
    // Every message of the earlier request is in the later one, byte for byte; the last may
    // have grown (results merged into it), but only at its end.
    for (i, message) in a.iter().enumerate() {
        if i + 1 < a.len() {
            assert_eq!(message.to_string(), b[i].to_string(), "message {i} changed");
        } else {
            let (x, y) = (message["content"].as_array().unwrap(), b[i]["content"].as_array().unwrap());
            assert_eq!(x[..], y[..x.len()], "the last message's blocks changed");
        }
    }
}

#[test]
fn consecutive_requests_share_a_byte_identical_prefix_before_and_after_a_resume() {
    let project = Project::new();
    project.write("a.txt", "alpha\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "a.txt"})).with_thinking("Let me look."),
        Step::tools(&[("Bash", json!({"command": "echo one"})), ("Read", json!({"file_path": "a.txt"}))]),
        Step::text("Done."),
    ]));
    let out = stream_json(&project, &mock, "look", &["--allowedTools", "Bash"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let before = mock.requests();
    for pair in before.windows(2) {
        assert_prefix(&pair[0].body, &pair[1].body);
    }
    let mut steps = vec![Step::text("Again.")];
    steps[0].tool_calls.clear();
    let resumed = MockLlm::start(Scenario::new(steps));
    let out = stream_json(&project, &resumed, "and again", &["-c", "--allowedTools", "Bash"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let after = &resumed.requests()[0].body;
    assert_prefix(&before.last().unwrap().body, after);
    // Each request holds four cache breakpoints at most.
    for request in before.iter().chain(resumed.requests().iter()) {
        assert!(request.body.to_string().matches("cache_control").count() <= 4);
    }
}

#[test]
fn the_budget_stops_the_run() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "touch never.txt"})),
        Step::text("no"),
    ]));
    let out = stream_json(&project, &mock, "go", &["--max-budget-usd", "0.001", "--allowedTools", "Bash"]);
    assert_eq!(out.code(), 1);
    let result = out.result();
    assert_eq!(result["subtype"], "error_max_budget_usd");
    assert_eq!(result["is_error"], true);
    assert!(result["total_cost_usd"].as_f64().unwrap() >= 0.001);
    assert!(!project.file("never.txt").exists(), "the tool call after the budget never ran");
    assert_eq!(mock.requests().len(), 1);
}

#[test]
fn costs_follow_the_reported_usage_and_the_price_table() {
    let project = Project::new();
    let mut step = Step::text("priced");
    step.usage = Some(crate::support::mock_llm::scenario::UsageSpec {
        input_tokens: Some(1_000),
        output_tokens: Some(500),
        cache_creation_input_tokens: 300,
        cache_read_input_tokens: 2_000,
    });
    let mock = MockLlm::start(Scenario::new(vec![step]));
    let out = stream_json(&project, &mock, "go", &["--model", "claude-sonnet-5"]);
    let result = out.result();
    // Sonnet 5: $2 in, $10 out per million; cache writes 1.25×, reads 0.1× the input price.
    let expected = (1_000.0 * 2.0 + 500.0 * 10.0 + 300.0 * 2.0 * 1.25 + 2_000.0 * 2.0 * 0.1) / 1e6;
    assert!((result["total_cost_usd"].as_f64().unwrap() - expected).abs() < 1e-12, "{result}");
    let usage = &result["modelUsage"]["claude-sonnet-5"];
    assert_eq!(
        (
            usage["inputTokens"].as_u64(),
            usage["outputTokens"].as_u64(),
            usage["cacheReadInputTokens"].as_u64(),
            usage["cacheCreationInputTokens"].as_u64()
        ),
        (Some(1_000), Some(500), Some(2_000), Some(300))
    );
    assert_eq!(result["usage"]["cache_read_input_tokens"], 2_000);
}

#[test]
fn a_500_turn_session_keeps_its_task_through_many_compactions() {
    let project = Project::new();
    small_window(&project, 12_000);
    let filler = "All right, noted. ".repeat(60);
    let steps: Vec<Step> = (0..500).map(|i| Step::text(&format!("Answer {i}. {filler}"))).collect();
    let mock = MockLlm::start(Scenario::new(steps));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"])
        .stdin(std::process::Stdio::piped());
    let mut child = crate::support::spawn(cmd);
    // Written from a thread: the output fills its pipe while the prompts are still going in.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let user = |text: String| json!({"type": "user", "message": {"role": "user", "content": text}});
        writeln!(stdin, "{}", user("ORIGINAL TASK: keep the frobnicator stable".into())).unwrap();
        for i in 1..500 {
            writeln!(stdin, "{}", user(format!("Step {i}: carry on. {}", "More detail. ".repeat(20)))).unwrap();
        }
    });
    let out = crate::support::finish(child);
    writer.join().unwrap();
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let results = out.of_type("result");
    assert_eq!(results.len(), 500);
    assert!(results.iter().all(|r| r["is_error"] == false));
    let compactions = out.lines().into_iter().filter(|l| l["subtype"] == "compact_boundary").count();
    assert!(compactions >= 10, "{compactions} compactions");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let requests = mock.requests();
    let last = &requests.last().unwrap().body;
    assert!(!is_summary_request(last));
    let text = last.to_string();
    assert!(text.contains("ORIGINAL TASK: keep the frobnicator stable"), "the task was lost");
    assert!(requests.iter().all(|r| tokens(&r.body) < 12_000), "every request fit the window");
}
