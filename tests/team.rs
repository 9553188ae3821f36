//! A team through the binary: coordinator mode offers only orchestration tools and its
//! workers none of them; three workers provably run at once (a rendezvous one-at-a-time
//! workers could not pass); a worker's task update and reports reach the coordinator; a
//! restricted worker cannot use a tool outside its list; SendMessage reaches a working
//! worker's next request and starts a finished one again; `--max-budget-usd` binds the
//! whole team; worktree isolation keeps an agent's changes on a branch of its own and
//! cleans up after one that changed nothing; after a SIGKILL, the next start prunes.

use std::path::Path;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::{MockLlm, Project, Scenario, Step, spawn, stream_json, tool_results};

fn worker(name: &str, extra: Value) -> (&'static str, Value) {
    let mut input = json!({"description": format!("{name}'s part"), "prompt": format!("WORKER-{name}: do your part"),
                           "name": name});
    if let (Value::Object(base), Value::Object(more)) = (&mut input, extra) {
        base.extend(more);
    }
    ("Task", input)
}

fn tool_names(body: &Value) -> Vec<String> {
    body["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect()
}

/// The requests whose first message holds `marker`.
fn requests_of(mock: &MockLlm, marker: &str) -> Vec<Value> {
    mock.requests().into_iter().map(|r| r.body).filter(|b| b["messages"][0].to_string().contains(marker)).collect()
}

fn last_message(body: &Value) -> String {
    body["messages"].as_array().unwrap().last().unwrap().to_string()
}

#[test]
fn a_coordinator_runs_three_workers_at_once_with_only_orchestration_tools() {
    // Where users are: a repository with CLAUDE.md, `.claude/` settings, commands and agents.
    let project = Project::claude_user();
    project.write("rendezvous.py", &crate::support::rendezvous(3));
    let lead = "LEAD: count the files";
    let mut steps = vec![
        Step::tool("TaskCreate", json!({"subject": "Count the files", "description": "Each worker counts a part."}))
            .when(lead),
        Step::tools(&[worker("alpha", json!({})), worker("beta", json!({})), worker("gamma", json!({}))]).when(lead),
        Step::tools(&[
            ("TaskOutput", json!({"task_id": "alpha", "timeout": 60000})),
            ("TaskOutput", json!({"task_id": "beta", "timeout": 60000})),
            ("TaskOutput", json!({"task_id": "gamma", "timeout": 60000})),
        ])
        .when(lead),
        Step::text("The workers are done.").when(lead),
        Step::text("All three parts are counted.").when(lead),
    ];
    for name in ["alpha", "beta", "gamma"] {
        let marker = format!("WORKER-{name}");
        steps.push(Step::tool("Bash", json!({"command": "python3 rendezvous.py", "timeout": 30000})).when(&marker));
        if name == "alpha" {
            steps.push(Step::tool("TaskUpdate", json!({"taskId": "1", "status": "completed"})).when(&marker));
        }
        steps.push(Step::text(&format!("{name} counted its part.")).when(&marker));
    }
    let mock = MockLlm::start(Scenario::new(steps));
    let args = ["--coordinator", "--allowedTools", "Bash(python3 rendezvous.py)"];
    let out = stream_json(&project, &mock, lead, &args);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.result()["result"], "All three parts are counted.", "{}", out.stdout);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());

    // The coordinator is offered orchestration tools only, and told how to delegate.
    let lead_requests = requests_of(&mock, lead);
    assert_eq!(lead_requests.len(), 5);
    let mut offered = tool_names(&lead_requests[0]);
    offered.sort();
    let expected =
        ["BashOutput", "KillShell", "SendMessage", "Task", "TaskCreate", "TaskGet", "TaskList", "TaskUpdate"];
    assert_eq!(offered, expected);
    assert!(lead_requests[0]["system"].to_string().contains("coordinator mode"));
    // Each worker has the working tools and the task list, and no way to start or steer others.
    for name in ["alpha", "beta", "gamma"] {
        let first = &requests_of(&mock, &format!("WORKER-{name}"))[0];
        let tools = tool_names(first);
        for present in ["Bash", "Read", "Edit", "TaskUpdate", "TaskList", "TaskGet"] {
            assert!(tools.iter().any(|t| t == present), "{name} lacks {present}: {tools:?}");
        }
        for absent in ["Task", "SendMessage", "TaskCreate"] {
            assert!(!tools.iter().any(|t| t == absent), "{name} has {absent}: {tools:?}");
        }
        // Its command met the other two: the three ran at the same time.
        let second = &requests_of(&mock, &format!("WORKER-{name}"))[1];
        let met = tool_results(second);
        assert!(met.last().unwrap().1.contains("met"), "{name}: {met:?}");
    }
    // The worker's task update and the three reports reach the coordinator.
    let told = last_message(&lead_requests[4]);
    assert!(told.contains("<task-update>") && told.contains("<from>alpha</from>"), "{told}");
    assert!(told.contains("status completed"), "{told}");
    assert_eq!(told.matches("<task-notification>").count(), 3, "{told}");
    for name in ["alpha", "beta", "gamma"] {
        assert!(told.contains(&format!("{name} counted its part.")), "{told}");
    }
}

#[test]
fn a_worker_cannot_use_a_tool_outside_its_list() {
    let project = Project::new();
    let lead = "LEAD: read only";
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[worker("reader", json!({"tools": ["Read", "Grep"]}))]).when(lead),
        Step::tool("TaskOutput", json!({"task_id": "reader", "timeout": 60000})).when(lead),
        Step::text("Done.").when(lead),
        Step::text("The reader reported.").when(lead),
        Step::tool("Bash", json!({"command": "touch escaped.txt"})).when("WORKER-reader"),
        Step::text("I could not run commands.").when("WORKER-reader"),
    ]));
    let out = stream_json(&project, &mock, lead, &["--coordinator", "--permission-mode", "bypassPermissions"]);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    let reader = requests_of(&mock, "WORKER-reader");
    let mut tools = tool_names(&reader[0]);
    tools.sort();
    assert_eq!(tools, ["Grep", "Read", "TaskGet", "TaskList", "TaskUpdate"]);
    let refused = tool_results(&reader[1]);
    assert!(refused[0].2, "{refused:?}");
    assert!(!project.file("escaped.txt").exists(), "the refused command ran");
}

#[test]
fn send_message_reaches_a_working_worker_and_starts_a_finished_one_again() {
    let project = Project::new();
    let lead = "LEAD: scout and release";
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[worker("scout", json!({"run_in_background": true}))]).when(lead),
        // The message goes once the scout is at work (its command running).
        Step::tool("Bash", json!({"command": "until [ -f scouting ]; do sleep 0.05; done", "timeout": 30000}))
            .when(lead),
        Step::tool("SendMessage", json!({"to": "scout", "message": "PING-42: also look at the README"})).when(lead),
        // The releaser ends the scout's wait, after the message was sent.
        Step::tools(&[worker("releaser", json!({"run_in_background": true}))]).when(lead),
        Step::tools(&[
            ("TaskOutput", json!({"task_id": "scout", "timeout": 60000})),
            ("TaskOutput", json!({"task_id": "releaser", "timeout": 60000})),
        ])
        .when(lead),
        Step::tool("SendMessage", json!({"to": "agent_2", "message": "FOLLOWUP-7: and tidy up"})).when(lead),
        Step::tool("TaskOutput", json!({"task_id": "releaser", "timeout": 60000})).when(lead),
        Step::text("Both are done.").when(lead),
        Step::text("Reported.").when(lead),
        Step::tool(
            "Bash",
            json!({"command": "touch scouting; until [ -f go ]; do sleep 0.05; done", "timeout": 30000}),
        )
        .when("WORKER-scout"),
        Step::text("Scout: read the README too.").when("WORKER-scout"),
        Step::tool("Bash", json!({"command": "touch go"})).when("WORKER-releaser"),
        Step::text("Released.").when("WORKER-releaser"),
        Step::text("Tidied up.").when("WORKER-releaser"),
    ]));
    let out = stream_json(&project, &mock, lead, &["--permission-mode", "bypassPermissions"]);
    // Not in coordinator mode: background agents take messages too.
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.result()["result"], "Reported.", "{}", out.stdout);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let scout = requests_of(&mock, "WORKER-scout");
    assert_eq!(scout.len(), 2);
    assert!(!scout[0].to_string().contains("PING-42"));
    let told = last_message(&scout[1]);
    assert!(told.contains("PING-42") && told.contains("tool_result"), "{told}");
    // The finished releaser started again, knowing what it had done.
    let releaser = requests_of(&mock, "WORKER-releaser");
    assert_eq!(releaser.len(), 3);
    let resumed = releaser[2].to_string();
    assert!(resumed.contains("Released.") && resumed.contains("FOLLOWUP-7"), "{resumed}");
    let lead_requests = requests_of(&mock, lead);
    let last = last_message(lead_requests.last().unwrap());
    assert!(last.contains("Tidied up."), "{last}");
}

#[test]
fn the_budget_covers_the_workers() {
    let project = Project::new();
    let lead = "LEAD: spend";
    let mut costly = Step::tool("Bash", json!({"command": "touch never.txt"})).when("WORKER-spender");
    costly.usage = Some(crate::support::mock_llm::scenario::UsageSpec {
        input_tokens: Some(1_000_000),
        output_tokens: Some(10),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
    });
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[worker("spender", json!({}))]).when(lead),
        Step::text("Waiting for the spender.").when(lead),
        Step::text("Over budget.").when(lead),
        costly,
        Step::text("spent").when("WORKER-spender"),
    ]));
    let args = ["--coordinator", "--max-budget-usd", "1", "--permission-mode", "bypassPermissions"];
    let out = stream_json(&project, &mock, lead, &args);
    assert_eq!(out.code(), 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.result()["subtype"], "error_max_budget_usd", "{}", out.stdout);
    assert!(out.result()["total_cost_usd"].as_f64().unwrap() >= 1.0, "{}", out.stdout);
    assert!(!project.file("never.txt").exists(), "the worker went on past the team's budget");
    assert_eq!(requests_of(&mock, "WORKER-spender").len(), 1);
}

fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A git repository with one commit, outside the temporary folder (which sandboxed
/// commands may write in): in /var/tmp, or the build's own folder when that is not in /tmp.
fn repository() -> Project {
    let build = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let outside = if build.starts_with(std::env::temp_dir()) { Path::new("/var/tmp") } else { build };
    let project = Project { dir: tempfile::tempdir_in(outside).unwrap(), ..Project::new() };
    project.write("README.md", "hello\n");
    project.git(&["init", "-q"]);
    project.git(&["add", "-A"]);
    project.git(&["commit", "-qm", "init"]);
    project
}

#[test]
fn a_worktree_agent_changes_only_its_branch_and_one_that_changed_nothing_is_cleaned_up() {
    let project = repository();
    let main = project.path().canonicalize().unwrap();
    let escape = main.join("escape.txt");
    let main_branch = git_out(&main, &["symbolic-ref", "--short", "HEAD"]).trim().to_owned();
    let main_head = git_out(&main, &["rev-parse", "HEAD"]);
    let change = format!(
        "echo more >> README.md && echo new > feature.txt && (echo out > {} || true) && \
         git -c user.name=a -c user.email=a@example.com commit -qam wip && \
         (git update-ref refs/heads/{main_branch} HEAD || echo ref-refused)",
        escape.display()
    );
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Task", json!({"description": "builder", "prompt": "WORKER-builder", "isolation": "worktree"})),
            ("Task", json!({"description": "idler", "prompt": "WORKER-idler", "isolation": "worktree"})),
        ])
        .when("LEAD"),
        Step::text("Reported.").when("LEAD"),
        Step::tool("Bash", json!({"command": "pwd"})).when("WORKER-builder"),
        Step::tool("Bash", json!({"command": change})).when("WORKER-builder"),
        Step::text("Built the feature.").when("WORKER-builder"),
        Step::text("Nothing to do.").when("WORKER-idler"),
    ]));
    let out = stream_json(&project, &mock, "LEAD: build", &["--permission-mode", "bypassPermissions"]);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    // The builder worked in its worktree, on its own branch.
    let builder = requests_of(&mock, "WORKER-builder");
    assert_eq!(builder.len(), 3, "{}", out.stdout);
    let pwd = tool_results(&builder[1]).pop().unwrap().1;
    assert!(pwd.trim().starts_with(&main.join(".claude/worktrees/agent-").display().to_string()), "{pwd}");
    let results = tool_results(&requests_of(&mock, "LEAD")[1]);
    let built = results.iter().find(|r| r.1.contains("Built the feature.")).expect("the builder's report");
    assert!(built.1.contains("on branch cairn/agent-") && built.1.contains("feature.txt"), "{built:?}");
    assert!(built.1.contains("1 commit(s) on the branch"), "{built:?}");
    // It committed on its branch, but could not move the main one.
    let changed = tool_results(&builder[2]).pop().unwrap().1;
    assert!(changed.contains("ref-refused"), "{changed}");
    assert_eq!(git_out(&main, &["rev-parse", "HEAD"]), main_head);
    let idled = results.iter().find(|r| r.1.contains("Nothing to do.")).expect("the idler's report");
    assert!(idled.1.contains("its worktree was removed"), "{idled:?}");
    // The main tree is untouched: same README, no new file, nothing for git to see.
    assert_eq!(std::fs::read_to_string(project.file("README.md")).unwrap(), "hello\n");
    assert!(!project.file("feature.txt").exists());
    assert!(!escape.exists(), "the worktree agent's command wrote in the main tree");
    assert_eq!(git_out(&main, &["status", "--porcelain"]), "");
    // The changes are on the builder's branch's worktree; the idler's branch is gone.
    let worktree = pwd.trim();
    assert_eq!(std::fs::read_to_string(Path::new(worktree).join("README.md")).unwrap(), "hello\nmore\n");
    let branches = git_out(&main, &["branch", "--list", "cairn/*"]);
    assert_eq!(branches.lines().count(), 1, "{branches}");
    assert_eq!(git_out(&main, &["worktree", "list"]).lines().count(), 2);
}

#[test]
fn after_a_sigkill_the_next_start_prunes_the_team_worktrees() {
    let project = repository();
    let pids = tempfile::tempdir().unwrap();
    let sleeper = |name: &str, work: &str| {
        let pid = pids.path().join(name);
        json!({"command": format!("{work}echo $$ > {}; exec sleep 300", pid.display()), "timeout": 600000})
    };
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Task", json!({"description": "changer", "prompt": "WORKER-changer", "isolation": "worktree"})),
            ("Task", json!({"description": "waiter", "prompt": "WORKER-waiter", "isolation": "worktree"})),
        ])
        .when("LEAD"),
        Step::tool("Bash", sleeper("changer", "echo wip > wip.txt; ")).when("WORKER-changer"),
        Step::tool("Bash", sleeper("waiter", "")).when("WORKER-waiter"),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "LEAD: work", "--permission-mode", "bypassPermissions"]).stdout(Stdio::null());
    let mut child = spawn(cmd);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !(pids.path().join("changer").exists() && pids.path().join("waiter").exists()) {
        assert!(std::time::Instant::now() < deadline, "the workers' commands never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for name in ["changer", "waiter"] {
        let pid = std::fs::read_to_string(pids.path().join(name)).unwrap();
        let _ = std::process::Command::new("kill").args(["-9", pid.trim()]).status();
    }
    let main = project.path().canonicalize().unwrap();
    assert_eq!(git_out(&main, &["worktree", "list"]).lines().count(), 3);

    // The next start: the unchanged worktree is gone with its branch, the changed one kept.
    let next = MockLlm::start(Scenario::new(vec![Step::text("hello")]));
    let out = crate::support::run({
        let mut cmd = project.cairn(&next);
        cmd.args(["-p", "hi"]);
        cmd
    });
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(out.stderr.contains("has changes") && out.stderr.contains("it is kept"), "{}", out.stderr);
    let listed = git_out(&main, &["worktree", "list", "--porcelain"]);
    assert_eq!(listed.matches("worktree ").count(), 2, "{listed}");
    assert!(!listed.contains("locked"), "{listed}");
    assert_eq!(git_out(&main, &["branch", "--list", "cairn/*"]).lines().count(), 1);
    let kept = listed.lines().filter_map(|l| l.strip_prefix("worktree ")).find(|p| p.contains("agent-")).unwrap();
    assert_eq!(std::fs::read_to_string(Path::new(kept).join("wip.txt")).unwrap(), "wip\n");
}

#[test]
fn one_worker_slot_makes_workers_take_turns_and_reports_stay_with_the_coordinator() {
    let project = Project::new();
    let lead = "LEAD: two parts";
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[worker("one", json!({})), worker("two", json!({}))]).when(lead),
        Step::tools(&[
            ("TaskOutput", json!({"task_id": "one", "timeout": 60000})),
            ("TaskOutput", json!({"task_id": "two", "timeout": 60000})),
        ])
        .when(lead),
        Step::text("Both reported.").when(lead),
        Step::text("Summed up.").when(lead),
        Step::tool("Bash", json!({"command": "sleep 0.3"})).when("WORKER-one"),
        Step::text("REPORT-ONE").when("WORKER-one"),
        Step::tool("Bash", json!({"command": "sleep 0.3"})).when("WORKER-two"),
        Step::text("REPORT-TWO").when("WORKER-two"),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.env("CAIRN_MAX_WORKERS", "1");
    cmd.args(["-p", lead, "--output-format", "stream-json", "--verbose", "--coordinator"]);
    cmd.args(["--permission-mode", "bypassPermissions"]);
    let out = crate::support::run(cmd);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.result()["result"], "Summed up.", "{}", out.stdout);
    // One at a time: the second worker's first request comes after the first one's last.
    let requests = mock.requests();
    let of = |marker: &str| -> Vec<_> {
        requests.iter().filter(|r| r.body["messages"][0].to_string().contains(marker)).collect()
    };
    let (one, two) = (of("WORKER-one"), of("WORKER-two"));
    let (first, second) = if one[0].received_at < two[0].received_at { (&one, &two) } else { (&two, &one) };
    assert!(second[0].received_at >= first.last().unwrap().finished_at.unwrap(), "the workers overlapped");
    // A worker starting later is not handed the other's report: both reach the coordinator.
    assert!(!second[0].body.to_string().contains("<task-notification>"));
    let told = last_message(&requests_of(&mock, lead)[3]);
    assert!(told.contains("REPORT-ONE") && told.contains("REPORT-TWO"), "{told}");
}

#[test]
fn a_message_sent_as_a_worker_finishes_is_still_read() {
    let project = Project::new();
    let lead = "LEAD: late message";
    let mut slow_answer = Step::text("W final answer").when("WORKER-late");
    slow_answer.fault = Some(crate::support::Fault::Stall { after_events: 1, ms: Some(3000) });
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[worker("late", json!({"run_in_background": true}))]).when(lead),
        Step::tool("Bash", json!({"command": "until [ -f started ]; do sleep 0.05; done", "timeout": 30000}))
            .when(lead),
        Step::tool("SendMessage", json!({"to": "late", "message": "LATE-MSG: also check X"})).when(lead),
        Step::tool("TaskOutput", json!({"task_id": "late", "timeout": 60000})).when(lead),
        Step::text("Waited.").when(lead),
        Step::text("Done.").when(lead),
        Step::tool("Bash", json!({"command": "touch started"})).when("WORKER-late"),
        slow_answer,
        Step::text("W handled the message").when("WORKER-late"),
    ]));
    let out = stream_json(&project, &mock, lead, &["--permission-mode", "bypassPermissions"]);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    // Usually the message lands while the worker's last answer streams, and it runs once
    // more to read it; on a busy machine it may land just before that answer's request.
    let late = requests_of(&mock, "WORKER-late");
    let read_in =
        late.iter().position(|r| r.to_string().contains("LATE-MSG")).expect("the message never reached the worker");
    let answer = if read_in == 2 { "W handled the message" } else { "W final answer" };
    let lead_requests = requests_of(&mock, lead);
    let told = last_message(lead_requests.last().unwrap());
    assert!(told.contains("<task-notification>") && told.contains(answer), "{told}");
}

#[test]
fn sigterm_stops_every_worker_and_their_commands_and_is_not_an_answer() {
    let project = Project::new();
    let pids = tempfile::tempdir().unwrap();
    let lead = "LEAD: wait";
    let sleeper = |name: &str| {
        let pid = pids.path().join(name);
        Step::tool(
            "Bash",
            json!({"command": format!("echo $$ > {}; exec sleep 300", pid.display()), "timeout": 600000}),
        )
        .when(&format!("WORKER-{name}"))
    };
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[worker("one", json!({})), worker("two", json!({}))]).when(lead),
        Step::text("Waiting for the workers.").when(lead),
        sleeper("one"),
        sleeper("two"),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", lead, "--output-format", "stream-json", "--verbose", "--coordinator"]);
    cmd.args(["--permission-mode", "bypassPermissions"]);
    let child = spawn(cmd);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !(pids.path().join("one").exists() && pids.path().join("two").exists()) {
        assert!(std::time::Instant::now() < deadline, "the workers' commands never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let out = crate::support::finish(child);
    assert_eq!(out.code(), 143, "{}", out.stderr);
    assert_ne!(out.result()["subtype"], "success", "{}", out.stdout);
    for name in ["one", "two"] {
        let pid = std::fs::read_to_string(pids.path().join(name)).unwrap();
        // Killed at once; gone from /proc once reaped (a moment later on a busy machine).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while Path::new(&format!("/proc/{}", pid.trim())).exists() {
            assert!(std::time::Instant::now() < deadline, "worker {name}'s command still runs");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
