//! The tool loop through the binary: multi-turn loops, concurrency of read-only calls,
//! exclusivity of the rest, bad calls answered as errors, the headless permission rule,
//! `--max-turns`, and a Bash that cannot hang.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{BUILTIN_TOOLS, MockLlm, Project, Scenario, Step, run, spawn, stream_json, tool_results};

#[test]
fn a_multi_turn_loop_reads_runs_and_answers() {
    let project = Project::new();
    project.write("notes.md", "alpha\nbeta\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "notes.md"})).with_text("Let me look."),
        Step::tool("Bash", json!({"command": "echo from-bash && wc -l < notes.md", "description": "Count lines"})),
        Step::text("notes.md has 2 lines."),
    ]));
    let out = stream_json(&project, &mock, "how long is notes.md?", &["--allowedTools", "Bash(echo:*)", "Bash"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let result = out.result();
    assert_eq!(result["result"], "notes.md has 2 lines.");
    assert_eq!(result["num_turns"], 3);

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    let read = tool_results(&requests[1].body);
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].1, "     1\talpha\n     2\tbeta\n");
    let bash = tool_results(&requests[2].body);
    assert_eq!(bash[1], ("toolu_mock_1_0".into(), "from-bash\n2".into(), false));
    let user = out.of_type("user");
    assert_eq!(user[1]["tool_use_result"]["stdout"], "from-bash\n2\n");
    assert_eq!(user[1]["tool_use_result"]["exitCode"], 0);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// Read A blocks on a FIFO whose writer opens only after Read B has opened its own FIFO.
/// Run one after the other, A would wait forever (and the run would hit the deadline); the
/// run finishing proves the two calls were in flight at the same time.
#[test]
fn read_only_calls_in_one_response_overlap() {
    let project = Project::new();
    let (a, b) = (project.file("a.fifo"), project.file("b.fifo"));
    mkfifo(&a);
    mkfifo(&b);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[("Read", json!({"file_path": "a.fifo"})), ("Read", json!({"file_path": "b.fifo"}))]),
        Step::text("Both read."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "read both", "--output-format", "json"]);
    let child = spawn(cmd);
    let writer = std::thread::spawn(move || {
        // Opening a FIFO for writing waits until a reader has it open.
        std::fs::write(&b, "from b\n").unwrap();
        std::fs::write(&a, "from a\n").unwrap();
    });
    let out = crate::support::finish(child);
    writer.join().unwrap();
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let results = tool_results(&mock.requests()[1].body);
    let texts: Vec<&str> = results.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(texts, ["     1\tfrom a\n", "     1\tfrom b\n"], "results come back in call order");
}

#[test]
fn mutating_calls_run_one_at_a_time_in_call_order() {
    let project = Project::new();
    let script = |n: u32| format!("echo start-{n} >> log.txt; sleep 0.3; echo end-{n} >> log.txt");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[("Bash", json!({"command": script(1)})), ("Bash", json!({"command": script(2)}))]),
        Step::text("ok"),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "run both", "--dangerously-skip-permissions"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let log = std::fs::read_to_string(project.file("log.txt")).unwrap();
    assert_eq!(log, "start-1\nend-1\nstart-2\nend-2\n");
}

#[test]
fn invalid_input_and_unknown_tools_go_back_as_error_results() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Read", json!({"path": "x"})),
            ("Teleport", json!({"to": "mars"})),
            ("Read", json!({"file_path": "missing.txt"})),
        ]),
        Step::text("I will stop guessing."),
    ]));
    let out = stream_json(&project, &mock, "go", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.result()["result"], "I will stop guessing.");
    let results = tool_results(&mock.requests()[1].body);
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| r.2), "all three are errors: {results:?}");
    assert!(results[0].1.contains("InputValidationError") && results[0].1.contains("file_path"), "{}", results[0].1);
    assert!(results[1].1.contains("No such tool available: Teleport"), "{}", results[1].1);
    assert!(results[2].1.contains("File does not exist"), "{}", results[2].1);
}

#[test]
fn headless_runs_mutating_tools_only_when_a_rule_or_mode_allows() {
    let project = Project::new();
    crate::support::ask_about_commands(&project);
    let steps = || {
        Scenario::new(vec![
            Step::tools(&[
                ("Bash", json!({"command": "mkdir -p out && echo ok"})),
                ("Bash", json!({"command": "touch made.txt"})),
            ]),
            Step::text("done"),
        ])
    };
    // No rule: both refused, listed in permission_denials, nothing runs.
    let mock = MockLlm::start(steps());
    let out = stream_json(&project, &mock, "go", &[]);
    assert_eq!(out.code(), 0, "denied tools do not fail the run: {}", out.stderr);
    let denials = out.result()["permission_denials"].as_array().unwrap().clone();
    assert_eq!(denials.len(), 2);
    assert_eq!(denials[0]["tool_name"], "Bash");
    assert_eq!(denials[0]["tool_input"]["command"], "mkdir -p out && echo ok");
    let results = tool_results(&mock.requests()[1].body);
    assert!(results[0].2 && results[0].1.contains("Permission to use Bash was denied"), "{results:?}");
    assert!(!project.file("made.txt").exists());

    // A prefix rule lets `mkdir` run (`echo` needs none) and still refuses `touch`.
    let mock = MockLlm::start(steps());
    let out = stream_json(&project, &mock, "go", &["--allowedTools", "Bash(mkdir:*)"]);
    let results = tool_results(&mock.requests()[1].body);
    assert_eq!((results[0].1.as_str(), results[0].2), ("ok", false));
    assert!(results[1].2);
    assert_eq!(out.result()["permission_denials"].as_array().unwrap().len(), 1);
    assert!(!project.file("made.txt").exists());

    // bypassPermissions runs everything; a deny rule still wins over it.
    let mock = MockLlm::start(steps());
    let out = stream_json(
        &project,
        &mock,
        "go",
        &["--permission-mode", "bypassPermissions", "--disallowedTools", "Bash(mkdir:*)"],
    );
    let results = tool_results(&mock.requests()[1].body);
    assert!(results[0].2 && results[0].1.contains("denied by the permission rule Bash(mkdir:*)"), "{results:?}");
    assert!(!results[1].2);
    assert!(project.file("made.txt").exists());
    assert_eq!(out.of_type("system")[0]["permissionMode"], "bypassPermissions");
}

#[test]
fn disallowing_a_tool_by_name_removes_it() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let out = stream_json(&project, &mock, "go", &["--disallowedTools", "Bash"]);
    let tools: Vec<&str> = BUILTIN_TOOLS.iter().copied().filter(|t| *t != "Bash").collect();
    assert_eq!(out.lines()[0]["tools"], json!(tools));
    assert_eq!(mock.requests()[0].body["tools"].as_array().unwrap().len(), BUILTIN_TOOLS.len() - 1);
}

#[test]
fn max_turns_ends_the_loop_with_error_max_turns() {
    let project = Project::new();
    project.write("a.txt", "a\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "a.txt"})),
        Step::tool("Read", json!({"file_path": "a.txt"})),
        Step::text("never reached"),
    ]));
    let out = stream_json(&project, &mock, "loop", &["--max-turns", "1"]);
    assert_eq!(out.code(), 1);
    let result = out.result();
    assert_eq!(result["subtype"], "error_max_turns");
    assert_eq!(result["is_error"], true);
    assert_eq!(result["errors"], json!(["Reached maximum number of turns (1)"]));
    assert!(result.get("result").is_none());
    assert_eq!(mock.requests().len(), 1);
    // The call that was made still got its result line.
    assert_eq!(out.of_type("user").len(), 1);
}

#[test]
fn bash_timeout_stops_the_whole_process_group() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "sleep 30 & echo $! > bg.pid; sleep 30", "timeout": 400})),
        Step::text("it timed out"),
    ]));
    let started = Instant::now();
    let out = stream_json(&project, &mock, "go", &["--dangerously-skip-permissions"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(20));
    let results = tool_results(&mock.requests()[1].body);
    assert!(results[0].2 && results[0].1.contains("timed out after 0.4 s"), "{results:?}");
    let pid = std::fs::read_to_string(project.file("bg.pid")).unwrap();
    assert!(process_gone(pid.trim()), "the background sleep {pid} outlived the timeout");
}

/// Whether a process has exited (a zombie waiting for its reaper counts as gone).
pub fn process_gone(pid: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')) => return true,
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}
