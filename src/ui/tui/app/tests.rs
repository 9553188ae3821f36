//! The TUI's state driven by keys and events, without a terminal.

use std::path::Path;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::*;
use crate::conversation::history::ContentBlock;
use crate::permissions::PermissionMode;
use crate::protocol::{ApprovalDecision, Event, Op, TurnError, TurnErrorKind, TurnOutcome, TurnStatus};
use crate::provider::StreamEvent;
use crate::provider::models;
use crate::tools::ToolOutput;
use crate::ui::tui::theme::Theme;
use crate::ui::tui::wrap::plain;

fn app_in(dir: &Path) -> App {
    let mut app = App::new(Theme::new(false), dir, models::lookup("claude-sonnet-5"), None);
    app.on_resize(80);
    app
}

fn app() -> App {
    app_in(Path::new("/work/project"))
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
}

fn outcome(status: TurnStatus) -> TurnOutcome {
    TurnOutcome {
        status,
        result: String::new(),
        stop_reason: None,
        num_turns: 1,
        duration: Duration::ZERO,
        api_duration: Duration::from_millis(5),
        usage: crate::cost::Usage::default(),
        total_cost_usd: 0.5,
        model_usage: Vec::new(),
        permission_denials: Vec::new(),
        structured_output: None,
    }
}

fn committed(app: &mut App) -> Vec<String> {
    app.take_commit().iter().map(plain).collect()
}

#[test]
fn enter_sends_and_typing_while_running_queues() {
    let mut app = app();
    type_text(&mut app, "fix it");
    app.on_key(key(KeyCode::Enter));
    let ops = app.take_ops();
    assert!(matches!(&ops[..], [Op::UserTurn(input)] if input.content == vec![ContentBlock::text("fix it")]));
    assert_eq!(committed(&mut app), ["> fix it"]);
    type_text(&mut app, "and test it");
    app.on_key(key(KeyCode::Enter));
    assert!(app.take_ops().is_empty(), "a message typed during a turn waits");
    assert_eq!(app.queued.len(), 1);
    app.on_event(Event::TurnComplete(outcome(TurnStatus::Success)));
    assert!(matches!(&app.take_ops()[..], [Op::UserTurn(_)]), "sent when the turn ends");
    assert!(app.queued.is_empty() && app.is_running());
}

#[test]
fn esc_and_ctrl_c_interrupt_and_quit() {
    let mut app = app();
    app.on_key(key(KeyCode::Esc));
    assert!(app.take_ops().is_empty(), "nothing to interrupt");
    app.submit("work");
    app.take_ops();
    app.on_key(key(KeyCode::Esc));
    assert!(matches!(&app.take_ops()[..], [Op::Interrupt]));
    type_text(&mut app, "draft");
    app.on_key(ctrl('c'));
    assert!(app.composer.is_empty() && !app.quit, "the first Ctrl-C clears the input");
    app.on_key(ctrl('c'));
    assert!(matches!(&app.take_ops()[..], [Op::Interrupt]));
    assert!(app.hint.is_some() && !app.quit);
    app.on_key(ctrl('c'));
    assert!(app.quit, "a second Ctrl-C within 2 s quits");
    let mut app = self::app();
    type_text(&mut app, "x");
    app.on_key(ctrl('d'));
    assert!(!app.quit, "Ctrl-D quits only from an empty composer");
    app.on_key(ctrl('u'));
    app.on_key(ctrl('d'));
    assert!(app.quit);
}

#[test]
fn shift_tab_cycles_the_permission_mode() {
    let mut app = app();
    let modes: Vec<PermissionMode> = (0..3)
        .map(|_| {
            app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
            app.mode
        })
        .collect();
    assert_eq!(modes, [PermissionMode::AcceptEdits, PermissionMode::Plan, PermissionMode::Default]);
    assert_eq!(app.take_ops().len(), 3);
}

#[test]
fn slash_commands_complete_and_run() {
    let mut app = app();
    type_text(&mut app, "/he");
    assert_eq!(app.popup, Some(Popup::Commands { selected: 0 }));
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.composer.text(), "/help");
    app.on_key(key(KeyCode::Enter));
    let lines = committed(&mut app);
    assert!(lines.iter().any(|l| l.contains("/clear")), "{lines:?}");
    app.submit("/model opus");
    assert!(matches!(&app.take_ops()[..], [Op::SetModel(m)] if m == "opus"));
    app.submit("/clear");
    assert!(matches!(&app.take_ops()[..], [Op::Clear]));
    app.submit("/effort XHIGH");
    assert!(matches!(&app.take_ops()[..], [Op::SetEffort(Some(crate::provider::reasoning::Effort::Xhigh))]));
    app.submit("/output-style");
    assert!(matches!(&app.take_ops()[..], [Op::Query(crate::protocol::Query::OutputStyles)]));
    app.submit("/output-style Learning");
    assert!(matches!(&app.take_ops()[..], [Op::SetOutputStyle(s)] if s == "Learning"));
    app.submit("/effort auto");
    assert!(matches!(&app.take_ops()[..], [Op::SetEffort(None)]));
    app.submit("/effort huge");
    assert!(app.take_ops().is_empty());
    assert!(committed(&mut app).iter().any(|l| l.contains("unknown effort level")));
    app.submit("/frobnicate");
    assert!(committed(&mut app).iter().any(|l| l.contains("Unknown command /frobnicate")));
    app.submit("/exit");
    assert!(app.quit);
}

#[test]
fn a_hash_and_a_space_make_a_note_but_an_issue_number_is_a_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path());
    app.submit("# always run the linter");
    assert!(matches!(app.take_ops().as_slice(), [Op::Remember(note)] if note == "# always run the linter"));
    app.submit("#123 is broken, fix it");
    assert!(matches!(app.take_ops().as_slice(), [Op::UserTurn(_)]));
}

#[test]
fn at_mentions_pick_files_and_attach_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    let mut app = app_in(dir.path());
    type_text(&mut app, "look at @mai");
    assert!(matches!(app.popup, Some(Popup::Files { .. })));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !app.files.is_ready() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.composer.text(), "look at @src/main.rs ");
    app.on_key(key(KeyCode::Enter));
    let ops = app.take_ops();
    let Some(Op::UserTurn(input)) = ops.first() else { panic!("{ops:?}") };
    assert_eq!(input.attachments, [dir.path().join("src/main.rs")]);
}

#[test]
fn the_approval_dialog_defaults_to_no_and_takes_feedback() {
    let request = |id: &str| Event::ApprovalRequest {
        call_id: id.into(),
        tool: "Bash".into(),
        input: json!({"command": "rm -rf build"}),
        preview: None,
        from: None,
    };
    let mut app = app();
    app.submit("go");
    app.take_ops();
    app.on_event(request("a"));
    app.on_key(key(KeyCode::Enter));
    assert!(matches!(
        &app.take_ops()[..],
        [Op::ApprovalAnswer { decision: ApprovalDecision::Deny { reason: None }, .. }]
    ));
    app.on_event(request("b"));
    app.on_key(key(KeyCode::Char('1')));
    assert!(matches!(&app.take_ops()[..], [Op::ApprovalAnswer { decision: ApprovalDecision::Allow, .. }]));
    app.on_event(request("c"));
    app.on_key(key(KeyCode::Up));
    app.on_key(key(KeyCode::Enter));
    assert!(matches!(&app.take_ops()[..], [Op::ApprovalAnswer { decision: ApprovalDecision::AllowForSession, .. }]));
    app.on_event(request("d"));
    type_text(&mut app, "use git clean");
    app.on_key(key(KeyCode::Enter));
    let ops = app.take_ops();
    assert!(
        matches!(&ops[..], [Op::ApprovalAnswer { call_id, decision: ApprovalDecision::Deny { reason: Some(r) } }] if call_id == "d" && r == "use git clean"),
        "{ops:?}"
    );
}

#[test]
fn tools_reach_the_scrollback_in_call_order_and_errors_in_red() {
    let mut app = app();
    app.submit("go");
    committed(&mut app);
    for id in ["a", "b"] {
        app.on_event(Event::ToolCallStarted { call_id: id.into(), name: "Bash".into(), input: json!({"command": id}) });
    }
    app.on_event(Event::ToolCallFinished { call_id: "b".into(), name: "Bash".into(), output: ToolOutput::text("B") });
    assert!(committed(&mut app).is_empty(), "b waits for a");
    app.on_event(Event::ToolCallFinished { call_id: "a".into(), name: "Bash".into(), output: ToolOutput::text("A") });
    let lines = committed(&mut app);
    let a = lines.iter().position(|l| l.contains("Bash(a)")).unwrap();
    let b = lines.iter().position(|l| l.contains("Bash(b)")).unwrap();
    assert!(a < b, "{lines:?}");
    let error =
        TurnError { kind: TurnErrorKind::Authentication, status: Some(401), message: "API Error: 401 bad key".into() };
    app.on_event(Event::TurnComplete(outcome(TurnStatus::Failed(error))));
    assert!(committed(&mut app).iter().any(|l| l == "✗ API Error: 401 bad key"));
    assert!(!app.is_running());
    assert!((app.cost_usd - 0.5).abs() < f64::EPSILON);
}

#[test]
fn a_retry_shows_a_countdown_until_the_stream_resumes() {
    let mut app = app();
    app.submit("go");
    app.on_event(Event::Retrying {
        attempt: 2,
        max_attempts: 8,
        delay: Duration::from_secs(4),
        error: "API Error: 529 Overloaded".into(),
        status: Some(529),
    });
    assert!(app.retry.is_some());
    app.on_event(Event::Stream(StreamEvent::MessageStart {
        id: "m".into(),
        model: "x".into(),
        usage: Default::default(),
    }));
    assert!(app.retry.is_none());
}

#[test]
fn esc_stops_a_compaction_and_esc_esc_opens_the_rewind_picker() {
    let mut app = app();
    app.run_command("compact");
    assert!(matches!(&app.take_ops()[..], [Op::Compact(None)]));
    app.on_key(key(KeyCode::Esc));
    assert!(matches!(&app.take_ops()[..], [Op::Interrupt]), "Esc interrupts the compaction");
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Esc));
    assert!(
        matches!(&app.take_ops()[..], [Op::Query(crate::protocol::Query::RewindPoints)]),
        "then Esc Esc asks for the rewind points"
    );
}
