//! Hooks as processes: matchers, the exit-code and JSON protocol, parallel runs,
//! deduplication, timeouts.

use serde_json::json;

use super::*;
use super::{HookHandler, HookMatcher};

fn group(matcher: Option<&str>, commands: &[&str]) -> HookMatcher {
    HookMatcher {
        matcher: matcher.map(str::to_owned),
        hooks: commands
            .iter()
            .map(|c| HookHandler { kind: "command".into(), command: Some((*c).into()), ..HookHandler::default() })
            .collect(),
    }
}

fn hooks(configured: Vec<(&str, HookMatcher)>, dir: &Path) -> Hooks {
    let configured: Vec<(String, HookMatcher, String)> =
        configured.into_iter().map(|(e, g)| (e.to_owned(), g, "test".to_owned())).collect();
    let (hooks, problems) = Hooks::new(&configured, dir, vec![("FROM_SETTINGS".into(), "yes".into())]);
    assert!(problems.is_empty(), "{problems:?}");
    hooks
}

async fn run(hooks: &Hooks, event: &str, target: &str, dir: &Path) -> Summary {
    let input = json!({"hook_event_name": event, "tool_name": target, "tool_input": {"command": "ls"}});
    hooks
        .run(Invocation {
            event: HookEvent::parse(event).unwrap(),
            target,
            input,
            cwd: dir,
            call: Some((target, &json!({"command": "ls"}))),
            budget: None,
        })
        .await
}

#[test]
fn matchers_follow_claude_codes_rules() {
    let fits = |m: Option<&str>, t: &str| Matcher::parse(m).unwrap().fits(t);
    assert!(fits(None, "Bash") && fits(Some(""), "Bash") && fits(Some("*"), "Read"));
    assert!(fits(Some("Edit|Write"), "Write") && !fits(Some("Edit|Write"), "Read"));
    assert!(fits(Some("Edit, MultiEdit"), "MultiEdit"));
    assert!(fits(Some("Task"), "Agent"), "old and new names are one tool");
    assert!(fits(Some("Edit.*"), "NotebookEdit") || fits(Some("Edit.*"), "EditX"), "regexes are unanchored");
    assert!(fits(Some("^Edit$"), "Edit") && !fits(Some("^Edit$"), "MultiEdit"));
    assert!(fits(Some("mcp__memory__.*"), "mcp__memory__save"));
    assert!(Matcher::parse(Some("(unclosed")).is_err());
}

#[tokio::test]
async fn exit_codes_json_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let h = hooks(
        vec![
            (
                "PreToolUse",
                group(Some("Bash"), &["cat > input.json; echo $CLAUDE_PROJECT_DIR $FROM_SETTINGS > env.txt"]),
            ),
            ("PreToolUse", group(Some("Read"), &["echo 'no way' >&2; exit 2"])),
            (
                "PreToolUse",
                group(
                    Some("Grep"),
                    &[
                        r#"echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "not here"}}'"#,
                    ],
                ),
            ),
            ("PreToolUse", group(Some("Glob"), &["echo broken >&2; exit 1"])),
            (
                "PreToolUse",
                group(
                    Some("LS"),
                    &[r#"echo '{"continue": false, "stopReason": "enough", "systemMessage": "hello user"}'"#],
                ),
            ),
        ],
        dir.path(),
    );
    let summary = run(&h, "PreToolUse", "Bash", dir.path()).await;
    assert!(!summary.blocked() && summary.permission.is_none());
    let input: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("input.json")).unwrap()).unwrap();
    assert_eq!(input["tool_name"], "Bash");
    let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
    assert_eq!(env.trim(), format!("{} yes", dir.path().display()));

    let summary = run(&h, "PreToolUse", "Read", dir.path()).await;
    assert_eq!(summary.block_reason(), "no way");

    let summary = run(&h, "PreToolUse", "Grep", dir.path()).await;
    assert_eq!(summary.permission, Some((PermissionVerdict::Deny, "not here".into())));

    let summary = run(&h, "PreToolUse", "Glob", dir.path()).await;
    assert!(!summary.blocked());
    assert_eq!(
        summary.errors,
        ["PreToolUse:Glob hook error: echo broken >&2; exit 1: Failed with non-blocking status code 1: broken"]
    );

    let summary = run(&h, "PreToolUse", "LS", dir.path()).await;
    assert_eq!(summary.stop.as_deref(), Some("enough"));
    assert_eq!(summary.messages, ["hello user"]);
}

#[tokio::test]
async fn all_matching_hooks_run_at_once_and_identical_ones_once() {
    let dir = tempfile::tempdir().unwrap();
    // The first waits for a file only the second makes: run one after the other, it would fail.
    let waiter = "for i in $(seq 100); do [ -f b.done ] && exit 0; sleep 0.05; done; echo waited >&2; exit 1";
    let h = hooks(
        vec![
            ("Stop", group(None, &[waiter])),
            ("Stop", group(None, &["touch b.done; echo x >> count.txt"])),
            ("Stop", group(Some("*"), &["touch b.done; echo x >> count.txt"])),
        ],
        dir.path(),
    );
    let summary = run(&h, "Stop", "", dir.path()).await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(summary.outcomes.len(), 2, "the identical command ran once");
    assert_eq!(std::fs::read_to_string(dir.path().join("count.txt")).unwrap(), "x\n");
}

#[tokio::test]
async fn a_hook_past_its_timeout_is_stopped_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let configured = vec![(
        "PreToolUse".to_owned(),
        HookMatcher {
            matcher: None,
            hooks: vec![HookHandler {
                kind: "command".into(),
                command: Some("sleep 30 & echo $! > child.pid; wait".into()),
                timeout: Some(0.5),
                ..HookHandler::default()
            }],
        },
        "test".to_owned(),
    )];
    let (h, _) = Hooks::new(&configured, dir.path(), Vec::new());
    let summary = run(&h, "PreToolUse", "Bash", dir.path()).await;
    assert!(summary.errors[0].contains("timed out after 0.5 s"), "{:?}", summary.errors);
    let pid: i32 = std::fs::read_to_string(dir.path().join("child.pid")).unwrap().trim().parse().unwrap();
    let mut gone = false;
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z')) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone, "the hook's child {pid} outlived the timeout");
}

#[test]
fn what_cannot_be_used_is_reported() {
    let configured = vec![
        ("PreToolUse".to_owned(), group(Some("(bad"), &["x"]), "a.json".to_owned()),
        ("NoSuchEvent".to_owned(), group(None, &["x"]), "a.json".to_owned()),
        (
            "Stop".to_owned(),
            HookMatcher { matcher: None, hooks: vec![HookHandler { kind: "prompt".into(), ..HookHandler::default() }] },
            "b.json".to_owned(),
        ),
        ("Stop".to_owned(), group(None, &["fine.sh"]), "b.json".to_owned()),
    ];
    let (h, problems) = Hooks::new(&configured, Path::new("/"), Vec::new());
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(h.listing(), [(HookEvent::Stop, String::new(), "fine.sh".to_owned(), "b.json".to_owned())]);
}

#[test]
fn permission_decisions_keep_the_strongest() {
    let outcome = |json: &str| Outcome::finished("h".into(), Some(0), json.into(), String::new(), Duration::ZERO);
    let decision = |d: &str| {
        outcome(&format!(
            r#"{{"hookSpecificOutput": {{"hookEventName": "PreToolUse", "permissionDecision": "{d}", "permissionDecisionReason": "{d}"}}}}"#
        ))
    };
    let summary = Summary::gather(
        HookEvent::PreToolUse,
        "Bash",
        vec![decision("allow"), decision("ask"), decision("deny"), decision("allow")],
    );
    assert_eq!(summary.permission, Some((PermissionVerdict::Deny, "deny".into())));
    let summary = Summary::gather(HookEvent::PreToolUse, "Bash", vec![decision("allow"), decision("ask")]);
    assert_eq!(summary.permission.map(|p| p.0), Some(PermissionVerdict::Ask));
    let legacy = Summary::gather(HookEvent::PreToolUse, "Bash", vec![outcome(r#"{"decision": "approve"}"#)]);
    assert_eq!(legacy.permission.map(|p| p.0), Some(PermissionVerdict::Allow));
    let context = Summary::gather(
        HookEvent::PostToolUse,
        "Edit",
        vec![outcome(r#"{"hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": "lint ok"}}"#)],
    );
    assert_eq!(context.context, ["PostToolUse:Edit hook additional context: lint ok"]);
    let plain = Summary::gather(HookEvent::UserPromptSubmit, "", vec![outcome("today is Monday\n")]);
    assert_eq!(plain.context, ["UserPromptSubmit hook success: today is Monday"]);
}
