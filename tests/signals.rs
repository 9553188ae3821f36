//! Interrupting `cairn -p` with real signals: the stream and the tools stop, every tool
//! call in the output has its result, the exit code is 130 (SIGINT) or 143 (SIGTERM), and
//! nothing panics.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use serde_json::json;

use crate::support::{Fault, MockLlm, Project, Scenario, Step, finish, spawn};
use crate::tool_loop::process_gone;

fn signal(child: &std::process::Child, signal: Signal) {
    let pid = Pid::from_raw(child.id() as i32).unwrap();
    kill_process(pid, signal).unwrap();
}

/// The stream stalls inside a tool call's input: the interrupt must leave no trace of the
/// half-made call (no assistant line, no result line), only the aborted result.
#[test]
fn sigint_mid_stream_exits_130_without_a_panic() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "echo never"}))
            .with_text("Running it")
            .with_fault(Fault::Stall { after_events: 9, ms: None }),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "go", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]);
    let mut child = spawn(cmd);
    // Mid-stream: the text and the tool call's input have begun (the stream then stalls
    // for an hour). Waiting for the input too: signalled at the first text, cairn could be
    // interrupted before it had read the rest of what was sent (it failed so once).
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("input_json_delta") {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "cairn ended before streaming: {seen}");
        seen.push_str(&line);
    }
    signal(&child, Signal::INT);
    // (Without the interrupt the stall lasts an hour: `finish` would fail at its deadline.)
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
        rest
    });
    let mut out = finish(child);
    out.stdout = format!("{seen}{}", rest.join().unwrap());
    assert_eq!(out.code(), 130, "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(out.lines().iter().any(|l| l["event"]["delta"]["type"] == "text_delta"), "it was mid-stream");
    let result = out.result();
    assert_eq!(result["subtype"], "error_during_execution");
    assert_eq!(result["is_error"], true);
    assert!(
        out.lines().iter().any(|l| l["event"]["delta"]["type"] == "input_json_delta"),
        "it stalled inside the tool call"
    );
    assert!(out.of_type("assistant").is_empty(), "a cut answer is never reported as a message");
    assert!(out.of_type("user").is_empty(), "and no call was run");
}

#[test]
fn sigterm_during_a_tool_answers_the_call_and_stops_its_processes() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Bash", json!({"command": "sleep 30 & echo $! > sleep.pid; wait"})),
            ("Bash", json!({"command": "touch never.txt"})),
        ]),
        Step::text("unreachable"),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "go", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"]);
    let child = spawn(cmd);
    let pid_file = project.file("sleep.pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&pid_file).map_or(true, |s| !s.ends_with('\n')) {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, Signal::TERM);
    let out = finish(child);
    assert_eq!(out.code(), 143, "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);

    let calls: Vec<String> = out
        .of_type("assistant")
        .iter()
        .map(|l| l["message"]["content"][0]["id"].as_str().unwrap().to_owned())
        .collect();
    let answered: Vec<String> = out
        .of_type("user")
        .iter()
        .map(|l| l["message"]["content"][0]["tool_use_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(answered, calls, "every tool call has its result, in order");
    for line in out.of_type("user") {
        assert_eq!(line["message"]["content"][0]["is_error"], true);
    }
    assert!(!project.file("never.txt").exists(), "the second call never ran");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(process_gone(pid.trim()), "the command's child {pid} survived");
    assert_eq!(mock.requests().len(), 1);
}
