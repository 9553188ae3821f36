//! The core driven through its protocol, as a front end (the TUI, an IDE bridge) drives it:
//! approvals asked with `Event::ApprovalRequest` and answered with `Op::ApprovalAnswer`,
//! and an interrupt that leaves every tool call answered.

use std::sync::Arc;
use std::time::Duration;

use cairn::agent::{self, AgentConfig, AgentHandle};
use cairn::permissions::Purpose;
use cairn::protocol::{Answer, ApprovalDecision, Event, Op, Query, TurnOutcome, TurnStatus};
use cairn::provider::anthropic::{Anthropic, Credential};
use cairn::provider::{http_client, models};
use cairn::secrets::Secrets;
use cairn::session::{self, OpenRequest, Opened, Store};
use serde_json::json;

use crate::support::{MockLlm, Project, Scenario, Step, tool_results};

fn start(mock: &MockLlm, project: &Project) -> AgentHandle {
    start_with(mock, project, None)
}

/// The core with its sessions kept in the project's `CAIRN_HOME`.
fn start_saved(mock: &MockLlm, project: &Project) -> AgentHandle {
    let store = Store {
        home: project.home.path().to_path_buf(),
        cwd: project.path().to_path_buf(),
        git_branch: None,
        secrets: Secrets::default(),
    };
    let opened = session::open(&store, OpenRequest { persist: true, ..OpenRequest::default() }).unwrap();
    start_with(mock, project, Some((store, opened)))
}

fn start_with(mock: &MockLlm, project: &Project, saved: Option<(Store, Opened)>) -> AgentHandle {
    let (store, opened) = match saved {
        Some((store, opened)) => (Some(store), Some(opened)),
        None => (None, None),
    };
    let provider =
        Anthropic::new(http_client().unwrap(), &mock.url(), Credential::ApiKey("k".into()), Duration::from_secs(30));
    agent::spawn(AgentConfig {
        system_prompt: "test".into(),
        session_id: opened.as_ref().map_or_else(|| "library-test".into(), |o| o.session_id.clone()),
        session_dir: project.home.path().join("session"),
        store,
        transcript: opened.and_then(|o| o.transcript),
        ..AgentConfig::new(Arc::new(provider), models::lookup("claude-sonnet-5"), project.path().to_path_buf())
    })
}

/// Collects events until the turn ends, answering approvals with `answer`.
async fn drive(
    agent: &mut AgentHandle,
    mut answer: impl FnMut(&str) -> Option<ApprovalDecision>,
) -> (Event, Vec<Event>) {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), agent.events.recv()).await.unwrap().unwrap();
        if let Event::ApprovalRequest { call_id, input, .. } = &event {
            let command = input["command"].as_str().unwrap_or_default().to_owned();
            if let Some(decision) = answer(&command) {
                agent.ops.send(Op::ApprovalAnswer { call_id: call_id.clone(), decision }).unwrap();
            }
        }
        match event {
            Event::TurnComplete(_) | Event::TurnAborted(_) => return (event, seen),
            other => seen.push(other),
        }
    }
}

fn outcome(event: &Event) -> &TurnOutcome {
    match event {
        Event::TurnComplete(o) | Event::TurnAborted(o) => o,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_asked_and_answered_through_the_protocol() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Bash", json!({"command": "echo yes > allowed.txt"})),
            ("Bash", json!({"command": "echo no > refused.txt"})),
        ]),
        Step::text("One of two."),
    ]));
    let mut agent = start(&mock, &project);
    agent.ops.send(Op::user_text("write two files")).unwrap();
    let (end, seen) = drive(&mut agent, |command| {
        Some(if command.contains("allowed") {
            ApprovalDecision::Allow
        } else {
            ApprovalDecision::Deny { reason: Some("not that one".into()) }
        })
    })
    .await;
    let outcome = outcome(&end);
    assert_eq!(outcome.status, TurnStatus::Success);
    assert_eq!(outcome.result, "One of two.");
    assert_eq!(outcome.permission_denials.len(), 1);
    assert!(matches!(&seen[0], Event::SessionStarted(info) if info.session_id == "library-test"));
    assert_eq!(seen.iter().filter(|e| matches!(e, Event::ApprovalRequest { .. })).count(), 2);
    assert!(project.file("allowed.txt").exists());
    assert!(!project.file("refused.txt").exists());
    let results = tool_results(&mock.requests()[1].body);
    assert!(results[1].2 && results[1].1.contains("not that one"), "{results:?}");
    agent.ops.send(Op::Shutdown).unwrap();
    agent.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_while_waiting_for_approval_leaves_history_valid() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "touch hi"})),
        Step::text("Second turn answered."),
    ]));
    let mut agent = start(&mock, &project);
    agent.ops.send(Op::user_text("first")).unwrap();
    let ops = agent.ops.clone();
    let (end, _) = drive(&mut agent, move |_| {
        ops.send(Op::Interrupt).unwrap();
        None
    })
    .await;
    assert!(matches!(end, Event::TurnAborted(ref o) if o.status == TurnStatus::Interrupted));

    // The next turn sends a history in which the interrupted call has its result.
    agent.ops.send(Op::user_text("second")).unwrap();
    let (end, _) = drive(&mut agent, |_| None).await;
    assert_eq!(outcome(&end).result, "Second turn answered.");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let messages = mock.requests()[1].body["messages"].clone();
    let last = messages.as_array().unwrap().last().unwrap().clone();
    let texts: Vec<&str> = last["content"].as_array().unwrap().iter().filter_map(|b| b["text"].as_str()).collect();
    assert_eq!(texts, ["[Request interrupted by user for tool use]", "second"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todo_changes_reach_the_front_end_as_events() {
    let project = Project::new();
    let todos = json!([{"content": "Ship it", "status": "in_progress", "activeForm": "Shipping it"}]);
    let mock = MockLlm::start(Scenario::new(vec![Step::tool("TodoWrite", json!({"todos": todos})), Step::text("ok")]));
    let mut agent = start(&mock, &project);
    agent.ops.send(Op::user_text("plan")).unwrap();
    let (_, seen) = drive(&mut agent, |_| None).await;
    let lists: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::TodosChanged { todos } => Some(todos.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0][0].content, "Ship it");
    assert_eq!(lists[0][0].status, cairn::tools::todo::TodoStatus::InProgress);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_starts_a_new_file_and_resume_brings_back_history_todos_and_title() {
    let project = Project::new();
    let todos = json!([{"content": "Ship it", "status": "in_progress", "activeForm": "Shipping it"}]);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("TodoWrite", json!({"todos": todos})),
        Step::text("Planned."),
        Step::text("A fresh start."),
        Step::text("Back to shipping."),
    ]));
    let mut agent = start_saved(&mock, &project);
    agent.ops.send(Op::user_text("plan the release")).unwrap();
    let (_, seen) = drive(&mut agent, |_| None).await;
    let Some(Event::SessionStarted(info)) = seen.first() else { panic!("{seen:?}") };
    let first_id = info.session_id.clone();
    agent.ops.send(Op::Rename("Release plan".into())).unwrap();
    agent.ops.send(Op::Clear).unwrap();
    agent.ops.send(Op::user_text("something else")).unwrap();
    let (_, seen) = drive(&mut agent, |_| None).await;
    let new_ids: Vec<String> = seen
        .iter()
        .filter_map(|e| match e {
            Event::SessionChanged(info) => Some(info.session_id.clone()),
            _ => None,
        })
        .collect();
    assert!(new_ids.last().is_some_and(|id| *id != first_id), "{new_ids:?}");
    assert_eq!(mock.requests()[2].body["messages"].as_array().unwrap().len(), 1, "/clear empties the history");

    agent.ops.send(Op::Resume(first_id.clone())).unwrap();
    agent.ops.send(Op::user_text("where were we?")).unwrap();
    let (end, seen) = drive(&mut agent, |_| None).await;
    assert_eq!(outcome(&end).result, "Back to shipping.");
    let changed = seen.iter().find_map(|e| match e {
        Event::SessionChanged(info) if info.session_id == first_id => Some(info.clone()),
        _ => None,
    });
    assert_eq!(changed.and_then(|i| i.title).as_deref(), Some("Release plan"));
    assert!(seen.iter().any(|e| matches!(e, Event::HistoryRestored { messages, .. } if messages.len() == 4)));
    assert!(seen.iter().any(|e| matches!(e, Event::TodosChanged { todos } if todos[0].content == "Ship it")));
    let messages = mock.requests()[3].body["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 5, "the first session's four messages and the new prompt");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    agent.ops.send(Op::Shutdown).unwrap();
    agent.task.await.unwrap();

    let files = crate::sessions::transcripts(&project);
    assert_eq!(files.len(), 2, "one file per session");
}

/// The next answer to a query, skipping what else the core says.
async fn next_answer(agent: &mut AgentHandle) -> Answer {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), agent.events.recv()).await.unwrap().unwrap();
        if let Event::Answer(answer) = event {
            return answer;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_questions_are_answered_as_data() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![]));
    let mut agent = start(&mock, &project);
    let rule = "Bash(curl:*)".to_owned();
    agent.ops.send(Op::Query(Query::AddRule { list: Purpose::Deny, rule: rule.clone() })).unwrap();
    let added = next_answer(&mut agent).await;
    assert_eq!(added, Answer::RuleAdded { list: Purpose::Deny, rule: rule.clone(), saved: Ok(()) });
    assert!(std::fs::read_to_string(project.file(".cairn/settings.local.json")).unwrap().contains(&rule));

    agent.ops.send(Op::Query(Query::Permissions)).unwrap();
    let Answer::Permissions { rules, .. } = next_answer(&mut agent).await else { panic!("not a listing") };
    assert!(rules.iter().any(|r| r.list == Purpose::Deny && r.rule == rule), "{rules:?}");

    agent.ops.send(Op::Query(Query::Context)).unwrap();
    let Answer::Context(usage) = next_answer(&mut agent).await else { panic!("not a breakdown") };
    assert!(usage.system > 0 && usage.tools > 0 && usage.window >= usage.total(), "{usage:?}");

    agent.ops.send(Op::Query(Query::Mcp { reconnect: None })).unwrap();
    assert_eq!(next_answer(&mut agent).await, Answer::McpServers(None));

    agent.ops.send(Op::Query(Query::RemoveRule { rule: rule.clone() })).unwrap();
    assert_eq!(next_answer(&mut agent).await, Answer::RuleRemoved { rule, lists: vec![Purpose::Deny] });
    agent.ops.send(Op::Shutdown).unwrap();
    agent.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_agent_starts_from_the_session_as_it_is_now() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::text("First session."),
        Step::tool("Task", json!({"description": "Look", "prompt": "Look around", "subagent_type": "general-purpose"})),
        Step::text("Looked."),
        Step::text("Done."),
    ]));
    let mut agent = start_saved(&mock, &project);
    agent.ops.send(Op::user_text("hello")).unwrap();
    let (_, seen) = drive(&mut agent, |_| None).await;
    let Some(Event::SessionStarted(first)) = seen.first() else { panic!("{seen:?}") };
    let first_id = first.session_id.clone();
    // After /model and /clear, a sub-agent uses the new model and writes its transcript
    // beside the new session's, not the first one's.
    agent.ops.send(Op::SetModel("opus".into())).unwrap();
    agent.ops.send(Op::Clear).unwrap();
    agent.ops.send(Op::user_text("send an agent")).unwrap();
    let (end, seen) = drive(&mut agent, |_| None).await;
    assert_eq!(outcome(&end).result, "Done.");
    let new_id = seen
        .iter()
        .filter_map(|e| match e {
            Event::SessionChanged(info) => Some(info.session_id.clone()),
            _ => None,
        })
        .next_back()
        .unwrap();
    assert_ne!(new_id, first_id);
    let requests = mock.requests();
    let child = &requests[2].body;
    assert!(child["messages"][0].to_string().contains("Look around"), "{child}");
    assert_eq!(child["model"], requests[1].body["model"]);
    assert_eq!(child["model"], models::lookup("opus").id);
    let sidechains: Vec<String> = walk(project.home.path())
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("subagents")))
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(sidechains.len(), 1, "{sidechains:?}");
    assert!(sidechains[0].contains(&new_id), "{sidechains:?}");
    agent.ops.send(Op::Shutdown).unwrap();
    agent.task.await.unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_effort_change_reaches_the_next_request_and_the_session_info() {
    use cairn::provider::reasoning::Effort;
    let mock = MockLlm::start(Scenario::new(vec![Step::text("one"), Step::text("two")]));
    let project = Project::new();
    let mut agent = start(&mock, &project);
    agent.ops.send(Op::user_text("first")).unwrap();
    drive(&mut agent, |_| None).await;
    agent.ops.send(Op::SetEffort(Some(Effort::Max))).unwrap();
    agent.ops.send(Op::user_text("second")).unwrap();
    let (_, seen) = drive(&mut agent, |_| None).await;
    let changed = seen.iter().find_map(|e| match e {
        Event::SessionChanged(info) => Some(info.effort),
        _ => None,
    });
    assert_eq!(changed, Some(Some(Effort::Max)));
    let requests = mock.requests();
    assert_eq!(requests[0].body["output_config"], json!({"effort": "medium"}));
    assert_eq!(requests[1].body["output_config"], json!({"effort": "max"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_changes_the_input_is_held_to_the_deny_rules() {
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("Bash", json!({"command": "touch new.txt"})), Step::text("ok")]));
    let project = Project::new();
    project.write("keep/file.txt", "x");
    let mut agent = start(&mock, &project);
    agent.ops.send(Op::Query(Query::AddRule { list: Purpose::Deny, rule: "Bash(rm:*)".into() })).unwrap();
    agent.ops.send(Op::user_text("list")).unwrap();
    let changed = json!({"command": "rm -rf keep"});
    let (end, _) = drive(&mut agent, |_| Some(ApprovalDecision::AllowWith { input: changed.clone() })).await;
    assert_eq!(outcome(&end).result, "ok");
    assert!(project.file("keep/file.txt").exists(), "the changed command never ran");
    let results = tool_results(&mock.requests()[1].body);
    assert!(results[0].2 && results[0].1.contains("denied"), "{results:?}");
}
