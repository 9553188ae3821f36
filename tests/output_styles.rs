//! The system prompt a project gets, and output styles as Claude Code users keep them: a
//! style file in `.claude/output-styles/` or `~/.claude/output-styles/`, chosen with
//! `outputStyle` or switched with `/output-style` (through the protocol here).

use std::sync::Arc;
use std::time::Duration;

use cairn::agent::{self, AgentConfig};
use cairn::protocol::{Answer, Event, Op, Query};
use cairn::provider::anthropic::{Anthropic, Credential};
use cairn::provider::{http_client, models};

use crate::support::{MockLlm, Project, Scenario, Step, run};

fn system_of(project: &Project) -> (String, String) {
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "say hi"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let system = mock.requests()[0].body["system"][0]["text"].as_str().unwrap().to_owned();
    (system, out.stderr)
}

#[test]
fn the_system_prompt_teaches_the_harness_within_its_budget() {
    let project = Project::claude_user();
    let (system, _) = system_of(&project);
    assert!(system.len() <= 6 * 1024, "{} bytes", system.len());
    for taught in
        ["TodoWrite", "Task", "Edit", "force-push", "secrets", "`path:line`", "AskUserQuestion", "ExitPlanMode"]
    {
        assert!(system.contains(taught), "the prompt does not mention {taught}");
    }
}

#[test]
fn a_style_file_chosen_in_the_settings_shapes_the_prompt() {
    let project = Project::claude_user();
    let user_styles = project.home.path().join(".claude/output-styles");
    std::fs::create_dir_all(&user_styles).unwrap();
    std::fs::write(user_styles.join("pirate.md"), "---\ndescription: Arr\n---\nTalk like a pirate.\n").unwrap();
    project.write(".claude/settings.local.json", r#"{"outputStyle": "pirate"}"#);
    let (system, _) = system_of(&project);
    assert!(system.contains("Talk like a pirate."), "{system}");
    assert!(!system.contains("# Git"), "a style without keep-coding-instructions replaces them");
    // The project's file of the same name wins, and keeps the coding instructions.
    project.write(
        ".claude/output-styles/pirate.md",
        "---\nname: pirate\nkeep-coding-instructions: true\n---\nTalk like a project pirate.\n",
    );
    let (system, _) = system_of(&project);
    assert!(system.contains("Talk like a project pirate.") && system.contains("# Git"), "{system}");
    // A style that does not exist is a warning, and cairn's own prompt.
    project.write(".claude/settings.local.json", r#"{"outputStyle": "ninja"}"#);
    let (system, stderr) = system_of(&project);
    assert!(stderr.contains("no output style named \"ninja\""), "{stderr}");
    assert!(system.contains("# Git") && !system.contains("pirate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_style_reaches_the_next_request_and_is_saved() {
    let mock = MockLlm::start(Scenario::new(vec![Step::text("one"), Step::text("two")]));
    let project = Project::new();
    let provider =
        Anthropic::new(http_client().unwrap(), &mock.url(), Credential::ApiKey("k".into()), Duration::from_secs(30));
    let config = AgentConfig {
        session_dir: project.home.path().join("session"),
        ..AgentConfig::new(Arc::new(provider), models::lookup("claude-sonnet-5"), project.path().to_path_buf())
    };
    let mut agent = agent::spawn(config);
    agent.ops.send(Op::user_text("first")).unwrap();
    // Switched while the turn runs: it applies from the next one.
    agent.ops.send(Op::SetOutputStyle("explanatory".into())).unwrap();
    let mut turns = 0;
    let mut listing = None;
    while turns < 2 || listing.is_none() {
        let event = tokio::time::timeout(Duration::from_secs(30), agent.events.recv()).await.unwrap().unwrap();
        match event {
            Event::TurnComplete(_) => {
                turns += 1;
                if turns == 1 {
                    agent.ops.send(Op::Query(Query::OutputStyles)).unwrap();
                    agent.ops.send(Op::user_text("second")).unwrap();
                }
            }
            Event::Answer(Answer::OutputStyles { current, styles }) => listing = Some((current, styles)),
            _ => {}
        }
    }
    let requests = mock.requests();
    let system = |i: usize| requests[i].body["system"][0]["text"].as_str().unwrap().to_owned();
    assert!(!system(0).contains("★ Insight"));
    assert!(system(1).contains("★ Insight") && system(1).contains("# Git"));
    let (current, styles) = listing.expect("the styles were listed");
    assert_eq!(current.as_deref(), Some("Explanatory"));
    assert!(styles.iter().any(|(name, _)| name == "Learning"));
    let saved = std::fs::read_to_string(project.file(".cairn/settings.local.json")).unwrap();
    assert!(saved.contains(r#""outputStyle": "Explanatory""#), "{saved}");
}
