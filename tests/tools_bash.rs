//! Bash through the binary: a command can never hang the agent or outlive it, long output
//! is cut for the model but kept whole, the working directory persists, and background
//! shells can be started, read, stopped — and are gone when cairn exits.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{
    Fault, MockLlm, Project, Scenario, Step, finish, results_per_request, run_calls, spawn, stream_json,
};
use crate::tool_loop::process_gone;

const BYPASS: &[&str] = &["--dangerously-skip-permissions"];

fn bash(command: &str) -> (&'static str, serde_json::Value) {
    ("Bash", json!({ "command": command }))
}

fn read_pid(project: &Project, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(pid) = std::fs::read_to_string(project.file(name))
            && pid.ends_with('\n')
        {
            return pid.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "{name} never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_timeout_stops_the_command_and_everything_it_started() {
    let project = Project::new();
    let (_, results) = run_calls(
        &project,
        &[
            ("Bash", json!({"command": "sleep 1000 & echo $! > child.pid; sleep 1000", "timeout": 1000})),
            ("Bash", json!({"command": "trap '' TERM; echo $$ > stubborn.pid; sleep 1000", "timeout": 300})),
        ],
        BYPASS,
    );
    // (Had the timeout not stopped them, `sleep 1000` would outlast the run's deadline.)
    assert!(results[0].2 && results[0].1.contains("timed out after 1 s"), "{}", results[0].1);
    assert!(results[1].2 && results[1].1.contains("timed out"), "{}", results[1].1);
    assert!(process_gone(&read_pid(&project, "child.pid")), "the backgrounded child survived the timeout");
    assert!(process_gone(&read_pid(&project, "stubborn.pid")), "a process ignoring SIGTERM survived");
}

#[test]
fn huge_output_is_cut_for_the_model_and_kept_whole_in_a_file() {
    let project = Project::new();
    let (out, results) = run_calls(&project, &[bash("yes | head -c 50M")], BYPASS);
    let text = &results[0].1;
    assert!(text.len() < 40_000, "{} bytes reached the model", text.len());
    assert!(text.contains("52428800 bytes"), "{}", &text[..200.min(text.len())]);
    let user = out.of_type("user");
    let path = user[0]["tool_use_result"]["outputFile"].as_str().unwrap().to_owned();
    assert!(text.contains(&path));
    assert!(path.starts_with(project.home.path().to_str().unwrap()), "{path}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 52_428_800);
}

#[test]
fn commands_that_wait_for_input_return_at_once() {
    let project = Project::new();
    // (A `read` waiting on a terminal would outlast the run's deadline.)
    let (_, results) = run_calls(&project, &[bash("read x; echo \"got:[$x] status:$?\"")], BYPASS);
    assert_eq!(results[0].1, "got:[] status:1");
}

#[test]
fn the_working_directory_persists_but_the_environment_does_not() {
    let project = Project::new();
    std::fs::create_dir(project.file("sub")).unwrap();
    let (_, results) = run_calls(
        &project,
        &[
            bash("cd sub && export FOO=bar"),
            bash("pwd; echo ${FOO:-unset}"),
            ("Read", json!({"file_path": "here.txt"})),
            bash("echo here > here.txt && cd /"),
            bash("pwd"),
        ],
        BYPASS,
    );
    let real = project.path().canonicalize().unwrap();
    assert_eq!(results[1].1, format!("{}\nunset", real.join("sub").display()));
    assert!(results[2].1.contains("sub/here.txt"), "relative paths follow the shell: {}", results[2].1);
    assert!(results[3].1.contains("reset to"), "{}", results[3].1);
    assert_eq!(results[4].1, real.display().to_string());
    assert!(project.file("sub/here.txt").exists());
}

#[test]
fn exit_codes_and_signals_are_reported() {
    let project = Project::new();
    let (out, results) =
        run_calls(&project, &[bash("echo out; echo err >&2; exit 3"), bash("kill -9 $$"), bash("true")], BYPASS);
    assert!(results[0].2);
    assert_eq!(results[0].1, "Exit code 3\nout\nerr");
    assert!(results[1].2 && results[1].1.starts_with("Killed by signal 9 (SIGKILL)"), "{}", results[1].1);
    assert_eq!((results[2].1.as_str(), results[2].2), ("(no output)", false));
    let user = out.of_type("user");
    assert_eq!(user[0]["tool_use_result"]["exitCode"], 3);
    assert_eq!(user[1]["tool_use_result"]["signal"], 9);
}

#[test]
fn background_shells_start_read_filter_and_stop() {
    let project = Project::new();
    let server = "echo $$ > server.pid; i=0; while true; do i=$((i+1)); echo \"request $i\"; sleep 0.02; done";
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": server, "run_in_background": true})),
        Step::tool("BashOutput", json!({"bash_id": "bash_1", "block": true, "timeout": 300})),
        Step::tool(
            "TaskOutput",
            json!({"task_id": "bash_1", "filter": "request 1\\d$", "block": true, "timeout": 300}),
        ),
        Step::tool("KillShell", json!({"shell_id": "bash_1"})),
        Step::tools(&[("BashOutput", json!({"bash_id": "bash_1"})), ("TaskStop", json!({"task_id": "bash_9"}))]),
        Step::text("done"),
    ]));
    let out = stream_json(&project, &mock, "serve", BYPASS);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let results = results_per_request(&mock);
    assert!(results[0][0].1.starts_with("Started background shell bash_1"), "{:?}", results[0]);
    let first = &results[1][0].1;
    assert!(first.contains("bash_1 (running") && first.contains("request 1\n"), "{first}");
    let filtered = &results[2][0].1;
    assert!(filtered.lines().skip(2).all(|l| l.starts_with("request 1")), "{filtered}");
    assert!(!filtered.contains("request 1\n"), "lines already read are not read again: {filtered}");
    assert!(results[3][0].1.starts_with("Stopped background shell bash_1"), "{:?}", results[3]);
    assert!(results[4][0].1.contains("stopped by KillShell"), "{:?}", results[4]);
    assert!(results[4][1].2 && results[4][1].1.contains("No background shell or agent bash_9"), "{:?}", results[4]);
    assert!(process_gone(&read_pid(&project, "server.pid")));
}

#[test]
fn background_shells_die_with_cairn() {
    let project = Project::new();
    // A normal exit, once the shell is surely running (the model waits for its pid file).
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool(
            "Bash",
            json!({"command": "echo $$ > a.tmp && mv a.tmp a.pid; exec sleep 1000", "run_in_background": true}),
        ),
        Step::tool("Bash", json!({"command": "until [ -s a.pid ]; do sleep 0.05; done"})),
        Step::text("done"),
    ]));
    let out = stream_json(&project, &mock, "go", BYPASS);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(process_gone(&read_pid(&project, "a.pid")), "a background shell outlived cairn");

    // A signal while the model is still answering.
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "echo $$ > b.pid; exec sleep 1000", "run_in_background": true})),
        Step::text("thinking forever").with_fault(Fault::Stall { after_events: 3, ms: None }),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "go", "--dangerously-skip-permissions"]);
    let child = spawn(cmd);
    let pid = read_pid(&project, "b.pid");
    assert!(mock.wait_for_requests(2, Duration::from_secs(30)));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let out = finish(child);
    assert_eq!(out.code(), 143, "{}", out.stderr);
    assert!(process_gone(&pid), "a background shell outlived cairn's SIGTERM");
}

#[test]
fn what_a_finished_command_left_running_is_stopped() {
    let project = Project::new();
    let (_, results) = run_calls(
        &project,
        &[
            bash("sleep 600 & echo $! > plain.pid"),
            bash("nohup sleep 600 > /dev/null 2>&1 & echo $! > nohup.pid; disown"),
        ],
        BYPASS,
    );
    for ((_, text, is_error), name) in results.iter().zip(["plain.pid", "nohup.pid"]) {
        assert!(!is_error && text.contains("were stopped when it ended"), "{text}");
        let pid = read_pid(&project, name);
        assert!(process_gone(&pid), "{name}: {pid} still runs");
    }
}

#[test]
fn a_spill_file_cannot_grow_without_bound() {
    // 100 MB of output: the model gets head and tail, the file at most 64 MiB and the tail.
    let project = Project::new();
    let (_, results) =
        run_calls(&project, &[bash("head -c 100000000 /dev/zero | tr '\\0' x; echo; echo THE-END")], BYPASS);
    let text = &results[0].1;
    assert!(text.contains("THE-END") && text.contains("output cut"), "{}", &text[..200]);
    let spill = text.split("the full output is in ").nth(1).unwrap().split(';').next().unwrap();
    let size = std::fs::metadata(spill).unwrap().len();
    assert!(size <= (64 << 20) + (1 << 20), "{size} bytes on disk");
    let file = std::fs::read(spill).unwrap();
    let end = String::from_utf8_lossy(&file[file.len() - 70_000..]).into_owned();
    assert!(end.contains("bytes dropped") && end.trim_end().ends_with("THE-END"), "{}", &end[end.len() - 100..]);
}
