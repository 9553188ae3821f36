//! The OpenAI Responses API and Gemini through the binary, against the mock speaking each:
//! a 20-turn tool loop that compacts on the way, a retried 429, the reasoning items and
//! thought signatures coming back unchanged (the mock refuses them otherwise) through the
//! loop, the compactions and a `--resume`, and the effort and thinking each is sent.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::mock_llm::other_wires::{encrypted_content, thought_signature};
use crate::support::{Fault, MockLlm, Project, Scenario, Step, run};

const TURNS: usize = 20;

fn overloaded_once() -> Step {
    Step::fault(Fault::Http {
        status: 429,
        retry_after: Some("0".into()),
        retry_after_ms: None,
        should_retry: None,
        error_type: None,
        message: None,
    })
}

/// A 429, then `TURNS` reads of a big file, each with thinking, then an answer.
fn loop_scenario() -> Scenario {
    let mut steps = vec![overloaded_once()];
    for turn in 0..TURNS {
        steps.push(Step::tool("Read", json!({"file_path": "big.txt"})).with_thinking(&format!("Read pass {turn}.")));
    }
    steps.push(Step::text("Read it twenty times.").with_thinking("Done now."));
    Scenario::new(steps)
}

/// A project whose window fills within the loop, so it compacts on the way.
fn project() -> Project {
    let project = Project::claude_user();
    project.write(".cairn/settings.json", &json!({ "contextWindow": 15_000 }).to_string());
    let big: String = (0..200).map(|i| format!("line {i} of the big file, with some padding text\n")).collect();
    project.write("big.txt", &big);
    project
}

fn cairn(project: &Project, provider: &[&str]) -> Command {
    let mut cmd = project.bare_cairn();
    cmd.env("OPENAI_API_KEY", "sk-test-key").env("GEMINI_API_KEY", "gemini-test-key").env("CAIRN_MAX_RETRIES", "2");
    cmd.args(provider).args(["--output-format", "stream-json", "--verbose"]);
    cmd
}

fn compactions(mock: &MockLlm) -> usize {
    mock.requests().iter().filter(|r| r.body.to_string().contains("Summarize this conversation so far")).count()
}

#[test]
fn a_twenty_turn_loop_on_the_responses_api() {
    let project = project();
    let mock = MockLlm::start(loop_scenario());
    let base = format!("{}/v1", mock.url());
    let provider = ["--provider", "openai-responses", "--base-url", base.as_str(), "--model", "gpt-5"];
    let mut cmd = cairn(&project, &provider);
    cmd.args(["-p", "read big.txt twenty times", "--effort", "high"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.result()["result"], "Read it twenty times.");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    assert!(compactions(&mock) >= 1, "the loop should compact on the way");
    assert!(out.result()["total_cost_usd"].as_f64().unwrap() > 0.0, "gpt-5 is priced");
    let requests = mock.requests();
    let first = &requests[1];
    assert_eq!(first.path, "/v1/responses");
    assert_eq!(first.headers["authorization"], "[redacted]");
    assert_eq!(first.body["reasoning"], json!({"summary": "auto", "effort": "high"}));
    assert_eq!(first.body["store"], false);
    assert_eq!(first.body["include"], json!(["reasoning.encrypted_content"]));
    // The reasoning of the answer before comes back with the call it led to.
    let second = &requests[2].body["input"];
    let reasoning: Vec<&Value> = second.as_array().unwrap().iter().filter(|i| i["type"] == "reasoning").collect();
    assert_eq!(reasoning.len(), 1, "{second}");
    assert_eq!(reasoning[0]["encrypted_content"], encrypted_content("rs_mock_1"));
    assert_eq!(reasoning[0]["summary"][0]["text"], "Read pass 0.");
    // Thinking shows in stream-json.
    assert!(out.of_type("assistant").iter().any(|l| l["message"]["content"][0]["thinking"] == "Read pass 0."));

    // Resumed in a new process against a new server: the items still verify.
    let resumed = MockLlm::start(Scenario::new(vec![Step::text("Still here.")]));
    let base = format!("{}/v1", resumed.url());
    let provider = ["--provider", "openai-responses", "--base-url", base.as_str(), "--model", "gpt-5"];
    let mut cmd = cairn(&project, &provider);
    cmd.args(["-p", "and again", "-c"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(resumed.history_problems().is_empty(), "{:?}", resumed.history_problems());
    let input = resumed.requests()[0].body["input"].to_string();
    assert!(input.contains("\"type\":\"reasoning\"") && input.contains("enc-mock-"), "{input}");
}

#[test]
fn a_twenty_turn_loop_on_gemini() {
    let project = project();
    let mock = MockLlm::start(loop_scenario());
    let base = mock.url();
    let provider = ["--provider", "gemini", "--base-url", base.as_str(), "--model", "gemini-2.5-pro"];
    let mut cmd = cairn(&project, &provider);
    cmd.args(["-p", "read big.txt twenty times"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.result()["result"], "Read it twenty times.");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    assert!(compactions(&mock) >= 1, "the loop should compact on the way");
    assert!(out.result()["total_cost_usd"].as_f64().unwrap() > 0.0, "gemini-2.5-pro is priced");
    let requests = mock.requests();
    let first = &requests[1];
    assert_eq!(first.path, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
    assert_eq!(first.headers["x-goog-api-key"], "gemini-test-key");
    assert_eq!(
        first.body["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": -1, "includeThoughts": true})
    );
    let read = &first.body["tools"][0]["functionDeclarations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Read")
        .cloned()
        .unwrap();
    assert!(read["parameters"].get("additionalProperties").is_none(), "{read}");
    // The signed call comes back signed, after the thought summary.
    let model_turn = &requests[2].body["contents"][1]["parts"];
    assert_eq!(model_turn[0], json!({"text": "Read pass 0.", "thought": true}));
    let args = json!({"file_path": "big.txt"});
    assert_eq!(model_turn[1]["thoughtSignature"], thought_signature("Read", &args));

    let resumed = MockLlm::start(Scenario::new(vec![Step::text("Still here.")]));
    let base = resumed.url();
    let provider = ["--provider", "gemini", "--base-url", base.as_str(), "--model", "gemini-2.5-pro"];
    let mut cmd = cairn(&project, &provider);
    cmd.args(["-p", "and again", "-c"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(resumed.history_problems().is_empty(), "{:?}", resumed.history_problems());
}

#[test]
fn gemini_three_gets_a_thinking_level_and_the_key_can_be_googles() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("hi"), Step::text("hi")]));
    let mut cmd = project.bare_cairn();
    cmd.env("GOOGLE_API_KEY", "google-key");
    cmd.args(["-p", "say hi", "--provider", "gemini", "--base-url", &mock.url(), "--model", "gemini-3-pro-preview"]);
    cmd.args(["--effort", "low"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "hi");
    let body = &mock.requests()[0].body;
    assert_eq!(body["generationConfig"]["thinkingConfig"], json!({"thinkingLevel": "low", "includeThoughts": false}));
    assert_eq!(mock.requests()[0].headers["x-goog-api-key"], "google-key");
    // No key at all is a clear error.
    let mut cmd = project.bare_cairn();
    cmd.args(["-p", "say hi", "--provider", "gemini", "--base-url", &mock.url()]);
    let out = run(cmd);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("GEMINI_API_KEY is not set"), "{}", out.stderr);
}

/// A request made readable for a snapshot: the system prompt, the context block (dates,
/// paths) and the session id become placeholders, the tools their names.
fn snapshot_of(mut body: Value, project: &Project) -> Value {
    fn scrub(value: &mut Value, cwd: &str) {
        match value {
            Value::String(text) if text.contains("You are cairn") => *text = "[system prompt]".into(),
            Value::String(text) if text.contains("<system-reminder>") => *text = "[context]".into(),
            Value::String(text) => *text = text.replace(cwd, "[cwd]"),
            Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, cwd)),
            Value::Object(map) => map.values_mut().for_each(|v| scrub(v, cwd)),
            _ => {}
        }
    }
    let names = |tools: &Value| -> Value {
        let list = tools.as_array().cloned().unwrap_or_default();
        let declarations = list.first().and_then(|t| t.get("functionDeclarations")).and_then(Value::as_array);
        let all = declarations.cloned().unwrap_or(list);
        all.iter().map(|t| t.get("name").or_else(|| t.pointer("/function/name")).cloned().unwrap_or_default()).collect()
    };
    if let Some(tools) = body.get("tools").cloned() {
        body["tools"] = names(&tools);
    }
    if body.get("prompt_cache_key").is_some() {
        body["prompt_cache_key"] = json!("[session]");
    }
    scrub(&mut body, &project.path().display().to_string());
    body
}

#[test]
fn the_first_request_of_each_provider_and_model_family() {
    let project = Project::claude_user();
    let cases: [(&str, &[&str]); 6] = [
        ("anthropic_adaptive", &["--model", "opus"]),
        ("anthropic_budget", &["--model", "claude-sonnet-4-5"]),
        ("anthropic_no_thinking", &["--model", "claude-3-5-haiku"]),
        ("responses_effort", &["--provider", "openai-responses", "--model", "gpt-5", "--effort", "high"]),
        ("gemini_dynamic", &["--provider", "gemini", "--model", "gemini-2.5-pro"]),
        ("gemini_level", &["--provider", "gemini", "--model", "gemini-3-pro-preview", "--effort", "low"]),
    ];
    for (name, args) in cases {
        let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
        let mut cmd = project.bare_cairn();
        let (url, openai) = (mock.url(), format!("{}/v1", mock.url()));
        cmd.env("ANTHROPIC_API_KEY", "k").env("ANTHROPIC_BASE_URL", &url).env("OPENAI_API_KEY", "k");
        cmd.env("OPENAI_BASE_URL", &openai).env("GEMINI_API_KEY", "k").env("GOOGLE_GEMINI_BASE_URL", &url);
        cmd.args(["-p", "say hi"]).args(args);
        let out = run(cmd);
        assert_eq!(out.code(), 0, "{name}: {}", out.stderr);
        let request = mock.requests().remove(0);
        let mut seen = json!({"path": request.path, "body": snapshot_of(request.body, &project)});
        if let Some(betas) = request.headers.get("anthropic-beta") {
            seen["anthropic-beta"] = json!(betas);
        }
        insta::assert_json_snapshot!(name, seen);
    }
}
