//! What the permission gate and hooks cost a tool call: deciding on Bash scripts of growing
//! size (tree-sitter parse, rules, paths), on a file path, reading the settings files, and
//! running one hook process.
//!
//! ```text
//! cargo bench --bench gate
//! ```
//! Medians; reports, never fails on a slow machine.

// A harness: when its own setup fails, stopping with the reason is all it can do.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn::config::settings::{HookHandler, HookMatcher, Locations, Settings};
use cairn::hooks::{Hooks, Invocation};
use cairn::permissions::paths::Anchors;
use cairn::permissions::{Call, Context, Origin, PermissionMode, PermissionPolicy, PermissionRule, Rules};
use cairn::tools::{Approval, ToolKind};
use serde_json::json;

mod common;
use common::median;

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let project = tempfile::tempdir().expect("a temp dir");
    let root = project.path().to_path_buf();
    std::fs::create_dir_all(root.join("src")).unwrap();
    let origin = Origin { label: "bench".into(), dir: root.clone() };
    let rules = |list: &[&str]| list.iter().map(|r| (PermissionRule::parse(r).unwrap(), origin.clone())).collect();
    let (policy, _) = PermissionPolicy::new(
        PermissionMode::Default,
        Rules {
            allow: rules(&["Bash(cargo test:*)", "Bash(npm run *)", "Edit(src/**)", "WebFetch(domain:docs.rs)"]),
            ask: rules(&["Bash(git push:*)"]),
            deny: rules(&["Bash(rm -rf:*)", "Bash(curl:*)", "Read(./.env)", "Read(~/.ssh/**)", "Edit(secrets/**)"]),
        },
        Anchors { settings_dir: root.clone(), project_dir: root.clone(), home: Some(PathBuf::from("/root")) },
    );
    let working = [root.clone()];
    let readable: [PathBuf; 0] = [];
    let ctx = Context { cwd: &root, working_dirs: &working, readable_dirs: &readable, paths_held: false };
    let decide = |tool: &str, input: serde_json::Value| {
        let call = Call { tool, kind: ToolKind::Mutating, approval: Approval::Needed, input: &input };
        let _ = policy.decide(&call, &ctx);
    };
    let short = "git status && cargo test 2>&1 | tail -20";
    let long = "cd src && for f in *.rs; do grep -n TODO \"$f\" | head -5; done; \
                echo $(git log --oneline | wc -l) commits > /dev/null; \
                find . -name '*.tmp' -exec rm {} \\; ; bash -c 'npm run build && npm run test' ; \
                timeout 60 cargo test --all -- --nocapture 2>&1 | tee test.log";
    println!("gate, per call (median of 2,000):");
    for (label, script) in
        [("short Bash script (3 commands)", short), ("long Bash script (13 commands, 300 chars)", long)]
    {
        let t = time(2000, || decide("Bash", json!({ "command": script })));
        println!("  {label}: {:.1} µs", micros(t));
    }
    let t = time(2000, || decide("Edit", json!({ "file_path": "src/main.rs" })));
    println!("  Edit on a path: {:.1} µs", micros(t));

    let home = tempfile::tempdir().unwrap();
    for (dir, file) in [(".claude", "settings.json"), (".cairn", "settings.json"), (".cairn", "settings.local.json")] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(
            root.join(dir).join(file),
            json!({"permissions": {"allow": ["Bash(npm run test:*)", "Read"], "deny": ["Read(./.env)"]},
                   "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}]},
                   "env": {"A": "1"}, "model": "sonnet"})
            .to_string(),
        )
        .unwrap();
    }
    let locations = Locations {
        cwd: root.clone(),
        home: Some(home.path().to_path_buf()),
        cairn_home: home.path().join(".cairn"),
        claude_dir: Some(home.path().join(".claude")),
        cli: None,
        managed: Vec::new(),
        levels: None,
    };
    let _ = Settings::load(&locations).unwrap();
    let t = time(200, || {
        let _ = Settings::load(&locations).unwrap();
    });
    println!("settings: three files read, checked and merged: {:.2} ms", micros(t) / 1000.0);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let configured = vec![(
        "PreToolUse".to_owned(),
        HookMatcher {
            matcher: Some("Bash".into()),
            hooks: vec![HookHandler { kind: "command".into(), command: Some("true".into()), ..HookHandler::default() }],
        },
        "bench".to_owned(),
    )];
    let (hooks, _) = Hooks::new(&configured, &root, Vec::new());
    let input = json!({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}});
    let t = time(200, || {
        runtime.block_on(hooks.run(Invocation {
            event: cairn::hooks::HookEvent::PreToolUse,
            target: "Bash",
            input: input.clone(),
            cwd: &root,
            call: None,
            budget: None,
        }));
    });
    println!("hooks: one `true` hook (sh -c, stdin JSON, outcome read): {:.2} ms", micros(t) / 1000.0);
    let t = time(2000, || {
        runtime.block_on(hooks.run(Invocation {
            event: cairn::hooks::HookEvent::PostToolUse,
            target: "Bash",
            input: input.clone(),
            cwd: &root,
            call: None,
            budget: None,
        }));
    });
    println!("hooks: an event with none configured: {:.2} µs", micros(t));
}
