//! A bad stream never loses the turn: every fault the mock can inject is retried to success,
//! or ends with a clear error and exit 1 once retries run out; errors that retrying cannot
//! fix are not retried; output-limit cut-offs are handled without troubling the user.

use serde_json::json;

use crate::support::{Fault, MockLlm, Project, Scenario, Step, stream_json};

fn http(status: u16, retry_after: Option<&str>, retry_after_ms: Option<u64>) -> Fault {
    Fault::Http {
        status,
        retry_after: retry_after.map(str::to_owned),
        retry_after_ms,
        should_retry: None,
        error_type: None,
        message: None,
    }
}

#[test]
fn every_fault_kind_is_retried_to_success() {
    let faults = [
        ("429 with retry-after", Step::fault(http(429, Some("0"), None))),
        ("529 with retry-after-ms", Step::fault(http(529, None, Some(20)))),
        ("500 without a hint", Step::fault(http(500, None, None))),
        ("503", Step::fault(http(503, Some("0"), None))),
        ("stream cut", Step::text("a long answer that will be cut").with_fault(Fault::Cut { after_events: 4 })),
        ("malformed event", Step::text("garbled").with_fault(Fault::Malformed { after_events: 3 })),
        ("stall", Step::text("silence").with_fault(Fault::Stall { after_events: 3, ms: Some(60_000) })),
        (
            "overloaded mid-stream",
            Step::text("busy").with_fault(Fault::StreamError { after_events: 2, error_type: None }),
        ),
        // Bytes keep coming, progress does not: a stall all the same.
        ("keep-alive pings forever", Step::text("never").with_fault(Fault::Pings { after_events: 1 })),
        (
            "a line that never ends",
            Step::text("never").with_fault(Fault::LongLine { after_events: 1, bytes: 100, unterminated: true }),
        ),
        (
            "a 100 MB line",
            Step::text("huge").with_fault(Fault::LongLine { after_events: 1, bytes: 100 << 20, unterminated: false }),
        ),
    ];
    let project = Project::new();
    for (name, fault) in faults {
        let mock = MockLlm::start(Scenario::new(vec![fault, Step::text("Recovered.")]));
        let mut cmd = project.cairn(&mock);
        // Short enough to keep the test quick, long enough for a loaded machine's scheduling.
        cmd.env("CAIRN_STREAM_IDLE_TIMEOUT_MS", "2000");
        cmd.args(["-p", "go", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]);
        let out = crate::support::run(cmd);
        assert_eq!(out.code(), 0, "{name}: {}", out.stderr);
        assert_eq!(out.result()["result"], "Recovered.", "{name}");
        assert_eq!(mock.requests().len(), 2, "{name}");
        let retries = out.lines().into_iter().filter(|l| l["subtype"] == "api_retry").collect::<Vec<_>>();
        assert_eq!(retries.len(), 1, "{name}");
        assert_eq!(retries[0]["attempt"], 1);
        assert_eq!(retries[0]["max_retries"], 7);
        // The failed attempt's partial answer never became an assistant message.
        let answers: Vec<_> =
            out.of_type("assistant").iter().map(|l| l["message"]["content"][0]["text"].clone()).collect();
        assert_eq!(answers, [json!("Recovered.")], "{name}");
    }
}

#[test]
fn retry_notices_go_to_stderr_in_text_mode() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::fault(http(529, Some("0"), None)), Step::text("fine")]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "go"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.stdout, "fine\n");
    assert!(out.stderr.contains("API Error: 529") && out.stderr.contains("(attempt 2/8)"), "{}", out.stderr);
}

#[test]
fn when_retries_run_out_the_result_says_so_and_the_exit_code_is_1() {
    let project = Project::new();
    let overloaded = || Step::fault(http(529, Some("0"), None));
    let mock = MockLlm::start(Scenario::new(vec![overloaded(), overloaded(), overloaded(), Step::text("too late")]));
    let mut cmd = project.cairn(&mock);
    cmd.env("CAIRN_MAX_RETRIES", "2").args(["-p", "go", "--output-format", "json"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 1);
    let result = out.result();
    assert_eq!(result["is_error"], true);
    assert_eq!(result["api_error_status"], 529);
    assert_eq!(result["terminal_reason"], "api_error");
    let text = result["result"].as_str().unwrap();
    assert!(text.starts_with("API Error: 529") && text.contains("gave up after 3 attempts"), "{text}");
    assert_eq!(mock.requests().len(), 3);
}

#[test]
fn a_model_that_stays_overloaded_gives_way_to_the_fallback_model() {
    let project = Project::claude_user();
    let overloaded = || Step::fault(http(529, Some("0"), None));
    let mock = MockLlm::start(Scenario::new(vec![
        overloaded(),
        overloaded(),
        Step::tool("Read", json!({"file_path": "CLAUDE.md"})),
        Step::text("Answered by the fallback."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.env("CAIRN_MAX_RETRIES", "1").args(["-p", "go", "--model", "opus", "--fallback-model", "claude-sonnet-4-5"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "Answered by the fallback.");
    assert!(
        out.stderr.contains("claude-opus-5-5 is overloaded: continuing on the fallback model claude-sonnet-4-5"),
        "{}",
        out.stderr
    );
    let models: Vec<String> = mock.requests().iter().map(|r| r.body["model"].as_str().unwrap().to_owned()).collect();
    assert_eq!(models, ["claude-opus-5-5", "claude-opus-5-5", "claude-sonnet-4-5", "claude-sonnet-4-5"]);
    // The fallback is asked for within its own limits, and thinks its own way.
    let third = &mock.requests()[2].body;
    assert_eq!(third["max_tokens"], 64_000);
    assert_eq!(third["thinking"]["type"], "enabled");
    // The setting does the same, and an overloaded fallback fails the turn as before.
    project.write(".claude/settings.local.json", r#"{"fallbackModel": "haiku"}"#);
    let mock = MockLlm::start(Scenario::new(vec![overloaded(), overloaded(), overloaded(), overloaded()]));
    let mut cmd = project.cairn(&mock);
    cmd.env("CAIRN_MAX_RETRIES", "1").args(["-p", "go", "--output-format", "json"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 1);
    assert_eq!(out.result()["api_error_status"], 529);
    assert_eq!(mock.requests()[2].body["model"], "claude-haiku-4-5");
    assert_eq!(mock.requests().len(), 4);
}

#[test]
fn errors_retrying_cannot_fix_are_not_retried() {
    let project = Project::new();
    // (Prompt-too-long is not retried either: it compacts; see `compaction.rs`.)
    let cases = [
        (Step::fault(http(401, None, None)), 401, "API Error: 401", "api_error"),
        (Step::fault(http(403, None, None)), 403, "API Error: 403", "api_error"),
        (Step::fault(http(400, None, None)), 400, "API Error: 400", "api_error"),
        (
            Step::fault(Fault::Http {
                status: 500,
                retry_after: None,
                retry_after_ms: None,
                should_retry: Some(false),
                error_type: None,
                message: Some("do not retry me".into()),
            }),
            500,
            "do not retry me",
            "api_error",
        ),
    ];
    for (step, status, text, reason) in cases {
        let mock = MockLlm::start(Scenario::new(vec![step, Step::text("unreachable")]));
        let out = stream_json(&project, &mock, "go", &[]);
        assert_eq!(out.code(), 1, "{status}");
        let result = out.result();
        assert_eq!(result["api_error_status"], status);
        assert_eq!(result["terminal_reason"], reason);
        assert!(result["result"].as_str().unwrap().contains(text), "{result}");
        assert_eq!(mock.requests().len(), 1, "{status} was retried");
    }
}

#[test]
fn a_tool_call_cut_at_max_tokens_is_asked_again_with_a_larger_budget() {
    let project = Project::new();
    project.write("big.txt", "contents\n");
    // The user capped the output; a cut tool call is asked again with the model's limit.
    project.write(".claude/settings.json", r#"{"env": {"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "32000"}}"#);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "big.txt"})).with_stop_reason("max_tokens"),
        Step::tool("Read", json!({"file_path": "big.txt"})),
        Step::text("Read it."),
    ]));
    let out = stream_json(&project, &mock, "read big.txt", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.result()["result"], "Read it.");
    let requests = mock.requests();
    assert_eq!(requests[0].body["max_tokens"], 32_000);
    assert_eq!(requests[1].body["max_tokens"], 128_000);
    assert_eq!(requests[0].body["messages"], requests[1].body["messages"], "the cut answer is not kept");
    assert_eq!(out.of_type("assistant").len(), 2, "the cut answer is not shown");
    assert_eq!(out.result()["is_error"], false);
}

#[test]
fn a_text_answer_cut_at_max_tokens_is_continued() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::text("The first half").with_stop_reason("max_tokens"),
        Step::text(" and the rest."),
    ]));
    let out = stream_json(&project, &mock, "write a lot", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let result = out.result();
    assert_eq!(result["result"], "The first half and the rest.");
    assert_eq!(result["is_error"], false);
    let second = &mock.requests()[1].body["messages"];
    let last = second.as_array().unwrap().last().unwrap();
    assert!(last["content"][0]["text"].as_str().unwrap().contains("cut off"), "{last}");
    assert!(mock.history_problems().is_empty());
}

#[test]
fn slow_tokens_are_not_mistaken_for_a_stall() {
    let project = Project::new();
    let text = "one token at a time, slowly, for longer than the stall timeout; ".repeat(3);
    let text = text.trim_end();
    let mock = MockLlm::start(Scenario::new(vec![Step::text(text).with_delay_ms(120)]));
    let mut cmd = project.cairn(&mock);
    // The idle timeout bounds the silence between events, not the length of the answer.
    cmd.env("CAIRN_STREAM_IDLE_TIMEOUT_MS", "1500").args(["-p", "go", "--output-format", "json"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.result()["result"], text);
    assert!(out.result()["duration_api_ms"].as_u64().unwrap() >= 1500, "the answer took longer than the timeout");
    assert_eq!(mock.requests().len(), 1);
}

#[test]
fn the_example_scenario_files_load_and_play() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let faults = Scenario::load(&root.join("faults.yaml")).unwrap();
    assert_eq!(faults.steps.len(), 7);
    assert!(faults.steps[..6].iter().all(|s| s.fault.is_some()));

    let project = Project::new();
    project.write("Cargo.toml", "[package]\nname = \"x\"\n");
    let mock = MockLlm::start(Scenario::load(&root.join("hello.yaml")).unwrap());
    let out = stream_json(&project, &mock, "what is in Cargo.toml?", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(out.result()["result"].as_str().unwrap().contains("**cairn**"));
    let bad = project.write("bad.yaml", "steps:\n  - txt: typo\n");
    let error = Scenario::load(&bad).unwrap_err();
    assert!(error.contains("bad.yaml"), "{error}");
}

#[test]
fn a_reply_is_over_at_its_end_marker_even_when_the_server_holds_the_body_open() {
    // A server without TCP_NODELAY holds a body's last bytes; here the body stays open for
    // 20 s after the end marker: the next request must not wait for it.
    for provider in ["anthropic", "openai"] {
        let project = Project::new();
        project.write("a.txt", "alpha\n");
        let mock = MockLlm::start(
            Scenario::new(vec![
                Step::tool("Read", json!({"file_path": "a.txt"})).with_linger_ms(20_000),
                Step::text("Read it.").with_linger_ms(20_000),
            ])
            .without_nodelay(),
        );
        let mut cmd = project.cairn(&mock);
        if provider == "openai" {
            cmd.env("OPENAI_API_KEY", "k").args([
                "--provider",
                "openai",
                "--model",
                "m",
                "--base-url",
                &format!("{}/v1", mock.url()),
            ]);
        }
        cmd.args(["-p", "read a.txt", "--output-format", "json"]);
        let out = crate::support::run(cmd);
        assert_eq!(out.code(), 0, "{provider}: {}", out.stderr);
        assert_eq!(out.result()["result"], "Read it.", "{provider}");
        let requests = mock.requests();
        assert_eq!(requests.len(), 2, "{provider}");
        let held_until = requests[0].closed_at.unwrap_or(std::time::Duration::MAX);
        assert!(
            requests[1].received_at < held_until,
            "{provider}: the next request waited for the body to close ({:?} ≥ {held_until:?})",
            requests[1].received_at
        );
    }
}

#[test]
fn an_absurd_retry_after_is_capped_and_said() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::fault(http(529, Some("1e300"), None)), Step::text("later")]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "go"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut told = String::new();
    for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
        told.push_str(&line);
        if told.contains("cairn waits 300 s at most") {
            break;
        }
    }
    assert!(told.contains("cairn waits 300 s at most"), "{told}");
    rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "a clean interrupted exit, no panic: {told}");
}
