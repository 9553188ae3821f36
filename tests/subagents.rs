//! Sub-agents through the binary: Task calls run at the same time (proven by a rendezvous
//! that a one-at-a-time run could not pass), an agent file's tool list holds, a failing
//! sub-agent is an error result the parent gets past, an interrupt stops them all, their
//! transcripts are sidechains, and SubagentStop hooks run.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Fault, MockLlm, Project, Scenario, Step, stream_json, tool_results};

fn task(description: &str, kind: &str) -> (&'static str, Value) {
    ("Task", json!({"description": description, "prompt": format!("Do this: {description}"), "subagent_type": kind}))
}

#[test]
fn parallel_task_calls_run_at_the_same_time_and_report_back() {
    let project = Project::new();
    project.write("rendezvous.py", &crate::support::rendezvous(2));
    let bash = || Step::tool("Bash", json!({"command": "python3 rendezvous.py", "timeout": 20000}));
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[task("first half", "general-purpose"), task("second half", "general-purpose")]),
        bash(),
        bash(),
        Step::text("Report: finished my half."),
        Step::text("Report: finished my half."),
        Step::text("Both halves are done."),
    ]));
    let out = stream_json(&project, &mock, "split the work", &["--allowedTools", "Bash(python3 rendezvous.py)"]);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    assert_eq!(out.result()["result"], "Both halves are done.");

    let requests = mock.requests();
    // Each sub-agent's Bash result: both met the other.
    let bash_results: Vec<String> =
        requests[1..5].iter().flat_map(|r| tool_results(&r.body)).map(|(_, text, _)| text).collect();
    assert_eq!(bash_results.iter().filter(|t| t.contains("met")).count(), 2, "{bash_results:?}");
    // A sub-agent starts fresh: its first message is the prompt, and it has no Task tool.
    let child = &requests[1].body;
    let child_text = child["messages"][0].to_string();
    assert!(child_text.contains("Do this: first half") || child_text.contains("Do this: second half"));
    assert!(!child_text.contains("split the work"), "the parent's conversation stays out");
    let tools: Vec<&str> = child["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(tools.contains(&"Bash") && !tools.contains(&"Task"), "{tools:?}");
    // The parent gets each report as its Task result.
    let results = tool_results(&requests[5].body);
    assert_eq!(results.len(), 2);
    for (_, text, is_error) in &results {
        assert!(!is_error && text.starts_with("Report: finished my half."), "{text}");
        assert!(text.contains("tool_uses: 1"), "{text}");
    }
    // Progress in stream-json: started, a tool, and how each ended.
    let system: Vec<Value> = out.of_type("system");
    let subtypes = |name: &str| system.iter().filter(|l| l["subtype"] == name).count();
    assert_eq!(subtypes("task_started"), 2);
    assert!(subtypes("task_progress") >= 2);
    assert_eq!(subtypes("task_notification"), 2);
    assert!(system.iter().filter(|l| l["subtype"] == "task_notification").all(|l| l["status"] == "completed"));

    // Each has a sidechain transcript beside the session's.
    let sidechains = sidechain_files(&project);
    assert_eq!(sidechains.len(), 2, "{sidechains:?}");
    for path in sidechains {
        let text = std::fs::read_to_string(&path).unwrap();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["isSidechain"], true);
        assert!(first["agentId"].as_str().is_some_and(|id| path.to_string_lossy().contains(id)));
    }
}

fn sidechain_files(project: &Project) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![project.home.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.parent().is_some_and(|p| p.ends_with("subagents")) {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn an_agent_files_tool_list_and_model_hold() {
    let project = Project::new();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-files/.claude/agents/code-reviewer.md");
    project.write(".claude/agents/code-reviewer.md", &std::fs::read_to_string(fixture).unwrap());
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "review", "prompt": "Review src/", "subagent_type": "code-reviewer"})),
        Step::tool("Bash", json!({"command": "touch should-not-exist"})),
        Step::text("No issues found."),
        Step::text("The reviewer found nothing."),
    ]));
    let out = stream_json(&project, &mock, "review my code", &["--model", "claude-opus-5"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    let child = &requests[1].body;
    let tools: Vec<&str> = child["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    // Glob, Grep, LS, Read, NotebookRead (none), WebFetch, TodoWrite, WebSearch (none),
    // KillShell, BashOutput — in the registry's order.
    assert_eq!(tools, ["BashOutput", "KillShell", "Glob", "Grep", "LS", "Read", "WebFetch", "TodoWrite"]);
    assert_eq!(child["model"], "claude-sonnet-5", "the agent file's `model: sonnet`");
    assert!(child["system"].to_string().contains("CODE-REVIEWER-PROMPT"));
    // The Bash call is answered as an unknown tool; nothing ran.
    let (_, text, is_error) = tool_results(&requests[2].body).pop().unwrap();
    assert!(is_error && text.contains("No such tool available: Bash"), "{text}");
    assert!(!project.file("should-not-exist").exists());
    assert_eq!(requests[3].body["model"], "claude-opus-5");
    let (_, report, _) = tool_results(&requests[3].body).pop().unwrap();
    assert!(report.starts_with("No issues found."), "{report}");
}

#[test]
fn a_failing_sub_agent_is_an_error_result_and_the_parent_carries_on() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "doomed", "prompt": "try", "subagent_type": "Explore"})),
        Step::fault(Fault::Http {
            status: 400,
            retry_after: None,
            retry_after_ms: None,
            should_retry: None,
            error_type: Some("invalid_request_error".into()),
            message: Some("the sub-agent's request was refused".into()),
        }),
        Step::text("The explorer failed, so I looked myself."),
    ]));
    let out = stream_json(&project, &mock, "explore", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let requests = mock.requests();
    let (_, text, is_error) = tool_results(&requests[2].body).pop().unwrap();
    assert!(is_error && text.contains("The Explore agent failed") && text.contains("refused"), "{text}");
    assert_eq!(out.result()["result"], "The explorer failed, so I looked myself.");
    let note = out.of_type("system").into_iter().find(|l| l["subtype"] == "task_notification").unwrap();
    assert_eq!(note["status"], "failed");
    // An unknown agent type is an error result too.
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "x", "prompt": "y", "subagent_type": "nonexistent"})),
        Step::text("ok"),
    ]));
    let out = stream_json(&project, &mock, "go", &[]);
    assert_eq!(out.code(), 0);
    let (_, text, is_error) = tool_results(&mock.requests()[1].body).pop().unwrap();
    assert!(is_error && text.contains("Agent type 'nonexistent' not found") && text.contains("Explore"), "{text}");
}

#[test]
fn sigint_stops_every_sub_agent_and_their_commands() {
    let project = Project::new();
    let sleeper = |n: u32| Step::tool("Bash", json!({"command": format!("sleep 4{n}"), "timeout": 60000}));
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[task("wait one", "general-purpose"), task("wait two", "general-purpose")]),
        sleeper(1),
        sleeper(1),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "wait", "--output-format", "stream-json", "--verbose", "--allowedTools", "Bash(sleep:*)"]);
    let child = crate::support::spawn(cmd);
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sleeping() < 2 {
        assert!(Instant::now() < deadline, "the two sub-agents never started their commands");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), rustix::process::Signal::INT)
        .unwrap();
    let out = crate::support::finish(child);
    assert_eq!(out.code(), 130, "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(35), "the 41 s commands were waited for");
    assert_eq!(sleeping(), 0, "every sub-agent's command was stopped");
    let notes: Vec<Value> = out.of_type("system").into_iter().filter(|l| l["subtype"] == "task_notification").collect();
    assert_eq!(notes.len(), 2, "{}", out.stdout);
    assert!(notes.iter().all(|n| n["status"] == "stopped"));
}

/// `sleep 41` processes running now.
fn sleeping() -> usize {
    let out = std::process::Command::new("pgrep").args(["-fx", "sleep 41"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn subagent_stop_hooks_run_with_the_agent_type() {
    let project = Project::new();
    let log = project.file("subagent-stop.json");
    let settings = json!({"hooks": {"SubagentStop": [{"hooks": [{"type": "command", "command": format!("cat > {}", log.display())}]}]}});
    project.write(".claude/settings.json", &settings.to_string());
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "look", "prompt": "look around", "subagent_type": "Explore"})),
        Step::text("Nothing here."),
        Step::text("done"),
    ]));
    let out = stream_json(&project, &mock, "go", &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let input: Value = serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
    assert_eq!(input["hook_event_name"], "SubagentStop");
    assert_eq!(input["agent_type"], "Explore");
    assert!(input["agent_transcript_path"].as_str().unwrap().contains("subagents/agent-"));
}

#[test]
fn a_background_agent_reports_to_the_main_conversation_when_it_ends() {
    let project = Project::new();
    let report = "Report: the survey is done.";
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool(
            "Task",
            json!({"description": "survey", "prompt": "Survey the code", "subagent_type": "general-purpose",
                   "run_in_background": true}),
        ),
        // The main agent's next answer and the background agent's report, in either order.
        Step::text(report),
        Step::text(report),
        Step::text("The background survey reported back."),
    ]));
    let out = stream_json(&project, &mock, "start a survey", &[]);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.result()["result"], "The background survey reported back.", "{}", out.stdout);
    let requests = mock.requests();
    assert_eq!(requests.len(), 4, "{}", out.stdout);
    // The call returned at once, before the agent's report existed.
    let main = requests[1..3].iter().find(|r| r.body.to_string().contains("start a survey")).expect("the main agent");
    let started = tool_results(&main.body);
    assert!(started[0].1.contains("Started background agent agent_1"), "{started:?}");
    // Its report woke the headless session as a notification of its own.
    let woken = requests[3].body["messages"].as_array().unwrap().last().unwrap().to_string();
    assert!(woken.contains("<task-notification>") && woken.contains("agent_1"), "{woken}");
    assert!(woken.contains("<status>completed</status>") && woken.contains(report), "{woken}");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
}

#[test]
fn task_output_reads_a_background_agent_and_task_stop_stops_it_and_its_command() {
    let project = Project::new();
    let (main, agent) = ("start the watcher", "AGENT: watch forever");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "watcher", "prompt": agent, "run_in_background": true})).when(main),
        // Longer than the harness lets cairn run: only a stop ends it in time.
        Step::tool("Bash", json!({"command": "echo $$ > watcher.pid; exec sleep 300", "timeout": 600000})).when(agent),
        // The main agent waits for the watcher's command to be running.
        Step::tool("Bash", json!({"command": "until [ -s watcher.pid ]; do sleep 0.05; done", "timeout": 30000}))
            .when(main),
        Step::tool("TaskOutput", json!({"task_id": "agent_1", "block": false})).when(main),
        Step::tool("TaskStop", json!({"task_id": "agent_1"})).when(main),
        Step::tool("TaskOutput", json!({"task_id": "agent_1", "timeout": 20000})).when(main),
        Step::text("Stopped the watcher.").when(main),
        Step::text("Noted that it was stopped.").when(main),
    ]));
    let out = stream_json(&project, &mock, main, &["--permission-mode", "bypassPermissions"]);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.result()["result"], "Noted that it was stopped.", "{}", out.stdout);
    let results: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.body["messages"][0].to_string().contains(main))
        .filter_map(|r| tool_results(&r.body).pop().map(|(_, text, _)| text))
        .collect();
    assert!(results.iter().any(|t| t.contains("Agent agent_1 (watcher) is still working")), "{results:?}");
    assert!(results.iter().any(|t| t.contains("Stopped agent agent_1 (watcher)")), "{results:?}");
    assert!(results.iter().any(|t| t.contains("Agent agent_1 (watcher) stopped")), "{results:?}");
    // A stop the model asked for is not told as the user's interrupt.
    assert!(results.iter().any(|t| t.contains("It was stopped before it finished (TaskStop")), "{results:?}");
    let pid: i32 = std::fs::read_to_string(project.file("watcher.pid")).unwrap().trim().parse().unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the watcher's command still runs");
}
