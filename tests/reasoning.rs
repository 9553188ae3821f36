//! Thinking and effort through the binary: what each model family is sent (the body and the
//! beta header), the flags, settings and words that change it, a gateway that refuses beta
//! features, and thinking blocks coming back unchanged through a tool loop, a compaction
//! and a resume (the mock refuses a thinking block whose signature does not match).

use serde_json::{Value, json};

use crate::support::mock_llm::wire::{is_summary_request, signature};
use crate::support::{MockLlm, Project, Scenario, Step, run, stream_json};

fn first_request(project: &Project, args: &[&str]) -> (Value, Option<String>) {
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "say hi"]).args(args);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let request = mock.requests().remove(0);
    (request.body, request.headers.get("anthropic-beta").cloned())
}

#[test]
fn each_claude_family_is_sent_the_thinking_and_effort_it_offers() {
    let project = Project::claude_user();
    // A current model: adaptive thinking (its text left out: `-p` text shows none), the
    // default effort, thinking kept across turns, its whole output limit.
    let (body, betas) = first_request(&project, &["--model", "opus"]);
    assert_eq!(body["model"], "claude-opus-5-5");
    assert_eq!(body["max_tokens"], 128_000);
    assert_eq!(body["thinking"], json!({"type": "adaptive", "display": "omitted"}));
    assert_eq!(body["output_config"], json!({"effort": "medium"}));
    assert_eq!(body["context_management"]["edits"][0]["type"], "clear_thinking_20251015");
    assert_eq!(
        betas.as_deref(),
        Some("interleaved-thinking-2025-05-14,context-management-2025-06-27,effort-2025-11-24")
    );
    // An older model thinks to a budget and has no effort levels.
    let (body, betas) = first_request(&project, &["--model", "claude-sonnet-4-5-20250929"]);
    assert_eq!(body["max_tokens"], 64_000);
    assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 31_999}));
    assert!(body.get("output_config").is_none());
    assert_eq!(betas.as_deref(), Some("interleaved-thinking-2025-05-14,context-management-2025-06-27"));
    // One that cannot think gets none of it.
    let (body, betas) = first_request(&project, &["--model", "claude-3-5-haiku-latest"]);
    assert_eq!(body["max_tokens"], 8_192);
    for field in ["thinking", "output_config", "context_management"] {
        assert!(body.get(field).is_none(), "{field} sent to a model without thinking");
    }
    assert_eq!(betas, None);
    // stream-json shows thinking: its text is asked for.
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let out = stream_json(&project, &mock, "say hi", &["--model", "opus"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(mock.requests()[0].body["thinking"], json!({"type": "adaptive"}));
}

#[test]
fn the_flag_the_settings_and_the_environment_set_effort_and_thinking() {
    let project = Project::claude_user();
    let (body, _) = first_request(&project, &["--model", "opus", "--effort", "high"]);
    assert_eq!(body["output_config"], json!({"effort": "high"}));
    // The nearest level the model offers: claude-opus-4-6 has no xhigh.
    let (body, _) = first_request(&project, &["--model", "claude-opus-4-6", "--effort", "xhigh"]);
    assert_eq!(body["output_config"], json!({"effort": "high"}));
    project.write(".claude/settings.local.json", r#"{"effortLevel": "max", "alwaysThinkingEnabled": false}"#);
    let (body, betas) = first_request(&project, &["--model", "opus"]);
    assert_eq!(body["output_config"], json!({"effort": "max"}));
    assert!(body.get("thinking").is_none() && body.get("context_management").is_none());
    assert_eq!(betas.as_deref(), Some("effort-2025-11-24"));
    // The flag wins over the setting.
    let (body, _) = first_request(&project, &["--model", "opus", "--effort", "low"]);
    assert_eq!(body["output_config"], json!({"effort": "low"}));
    project.write(".claude/settings.local.json", r#"{"env": {"MAX_THINKING_TOKENS": "4096"}}"#);
    let (body, _) = first_request(&project, &["--model", "claude-sonnet-4-5"]);
    assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
    project.write(".claude/settings.local.json", r#"{"env": {"MAX_THINKING_TOKENS": "0"}}"#);
    let (body, _) = first_request(&project, &["--model", "claude-sonnet-4-5"]);
    assert!(body.get("thinking").is_none());
    // A level that does not exist is a clear error before anything is sent.
    let mock = MockLlm::start(Scenario::new(vec![]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "hi", "--effort", "huge"]);
    let out = run(cmd);
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(out.stderr.contains("low, medium, high, xhigh, max"), "{}", out.stderr);
    assert!(mock.requests().is_empty());
}

#[test]
fn ultrathink_raises_the_effort_of_its_own_turn_only() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("deep"), Step::text("plain")]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"]);
    cmd.args(["--model", "opus"]);
    let lines = [
        json!({"type": "user", "message": {"role": "user", "content": "Ultrathink: why is the cache cold?"}}),
        json!({"type": "user", "message": {"role": "user", "content": "thanks"}}),
    ];
    let stdin: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let out = crate::support::run_with_stdin(cmd, &stdin);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    assert_eq!(requests[0].body["output_config"], json!({"effort": "high"}));
    assert_eq!(requests[1].body["output_config"], json!({"effort": "medium"}));
}

#[test]
fn a_gateway_that_refuses_betas_gets_one_retry_without_them_for_the_whole_session() {
    let project = Project::claude_user();
    project.write("a.txt", "alpha\n");
    let mock = MockLlm::start(
        Scenario::new(vec![
            Step::tool("Read", json!({"file_path": "a.txt"})).with_thinking("Look."),
            Step::text("Done."),
        ])
        .refusing_betas(),
    );
    let out = stream_json(&project, &mock, "read a.txt", &["--model", "opus"]);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.result()["result"], "Done.");
    let requests = mock.requests();
    assert_eq!(requests.len(), 3, "one refusal, then two requests without betas");
    assert!(requests[0].headers.contains_key("anthropic-beta"));
    for request in &requests[1..] {
        assert!(!request.headers.contains_key("anthropic-beta"));
        assert!(request.body.get("output_config").is_none() && request.body.get("context_management").is_none());
        assert_eq!(request.body["thinking"]["type"], "adaptive", "thinking itself needs no beta");
    }
    assert_eq!(out.of_type("system").iter().filter(|l| l["subtype"] == "api_retry").count(), 1);
}

/// The thinking blocks of an answer, as a later request sends them back.
fn thinking_blocks(body: &Value) -> Vec<Value> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    messages
        .iter()
        .filter(|m| m["role"] == "assistant")
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "thinking")
        .collect()
}

#[test]
fn thinking_comes_back_unchanged_through_a_tool_loop_a_compaction_and_a_resume() {
    let project = Project::claude_user();
    project.write(".cairn/settings.json", &json!({ "contextWindow": 20_000 }).to_string());
    let big: String = (0..300).map(|i| format!("line {i} of the big file, with some padding text\n")).collect();
    project.write("big.txt", &big);
    let mut steps: Vec<Step> = (0..4)
        .map(|i| Step::tool("Read", json!({"file_path": "big.txt"})).with_thinking(&format!("Pass {i}: read again.")))
        .collect();
    steps.push(Step::text("Read it all.").with_thinking("Enough."));
    let mock = MockLlm::start(Scenario::new(steps));
    // Text output: the thinking text is left out; the signature still comes and goes back.
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "read big.txt four times", "--model", "opus"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let requests = mock.requests();
    let summary = requests.iter().position(|r| is_summary_request(&r.body)).expect("a compaction");
    // The summary request carried the turn's thinking back, each block as it came.
    let sent_back = thinking_blocks(&requests[summary].body);
    assert!(!sent_back.is_empty());
    for block in &sent_back {
        assert_eq!(block["thinking"], "");
        assert!(block["signature"].as_str().unwrap().starts_with("sig-mock-"));
    }
    // Resumed in a new process against a new server, with thinking shown this time.
    let resumed = MockLlm::start(Scenario::new(vec![Step::text("Again.")]));
    let out = stream_json(&project, &resumed, "and again", &["-c", "--model", "opus"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(resumed.history_problems().is_empty(), "{:?}", resumed.history_problems());
    let last = thinking_blocks(&resumed.requests()[0].body);
    let final_index = requests.len() - 1;
    assert_eq!(
        last.last().unwrap(),
        &json!({"type": "thinking", "thinking": "", "signature": signature(final_index, "")})
    );
}

#[test]
fn shown_thinking_round_trips_with_its_text() {
    let project = Project::claude_user();
    project.write("a.txt", "alpha\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "a.txt"})).with_thinking("Read it first."),
        Step::text("Done."),
    ]));
    let out = stream_json(&project, &mock, "read a.txt", &["--model", "opus"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let thinking = &out.of_type("assistant")[0]["message"]["content"][0];
    assert_eq!(thinking["thinking"], "Read it first.");
    assert_eq!(
        thinking_blocks(&mock.requests()[1].body),
        [json!({"type": "thinking", "thinking": "Read it first.", "signature": signature(0, "Read it first.")})]
    );
}

#[test]
fn the_mock_refuses_a_thinking_block_that_came_back_changed() {
    use crate::support::mock_llm::wire::{Dialect, check_history};
    let body = |thinking: &str, sig: &str| {
        json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": thinking, "signature": sig}, {"type": "text", "text": "ok"}]},
            {"role": "user", "content": "more"},
        ]})
    };
    assert!(check_history(Dialect::Anthropic, &body("Look.", &signature(3, "Look."))).is_empty());
    let changed = check_history(Dialect::Anthropic, &body("Look!", &signature(3, "Look.")));
    assert_eq!(changed, ["messages.1.content.0: Invalid `signature` in `thinking` block"]);
    assert!(!check_history(Dialect::Anthropic, &body("", "sig-mock-3")).is_empty());
}
