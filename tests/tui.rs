//! The interactive UI end to end, in a real terminal: tmux runs cairn against the mock;
//! keys go in with `send-keys`, and what a person would see comes back with
//! `capture-pane` (the visible screen, or the whole scrollback).

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{MockLlm, Project, Scenario, Step, tool_results};

static SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// A tmux server of its own (its own socket), running one window.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` in a `cols`×`rows` terminal, in a shell that stays after it exits.
    fn start(project: &Project, mock: &MockLlm, args: &str, cols: u16, rows: u16) -> Tmux {
        Tmux::start_with_env(project, mock, "", args, cols, rows)
    }

    /// [`Tmux::start`] with more variables (`NAME=value …`).
    fn start_with_env(project: &Project, mock: &MockLlm, env: &str, args: &str, cols: u16, rows: u16) -> Tmux {
        let socket = format!("cairn-test-{}-{}", std::process::id(), SESSIONS.fetch_add(1, Ordering::Relaxed));
        let script = format!(
            "cd {dir} && env -u NO_COLOR TERM=xterm-256color ANTHROPIC_API_KEY=test-key ANTHROPIC_BASE_URL={url} \
             CAIRN_HOME={home} HOME={home} CAIRN_MANAGED_SETTINGS={home}/managed.json {env} {bin} {args}; echo CAIRN-EXITED-$?; stty -a | grep -o -- '-\\?icanon' ; sleep 60",
            dir = project.path().display(),
            url = mock.url(),
            home = project.home.path().display(),
            bin = env!("CARGO_BIN_EXE_cairn"),
        );
        let tmux = Tmux { socket };
        let started = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            "bash",
            "--norc",
            "-c",
            &script,
        ]);
        assert!(started.status.success(), "tmux: {}", String::from_utf8_lossy(&started.stderr));
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").args(["-L", &self.socket, "-f", "/dev/null"]).args(args).output().expect("tmux runs")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend(keys);
        self.run(&args);
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "0", "-l", text]);
    }

    /// The visible screen.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-t", "0", "-p"]).stdout).into_owned()
    }

    /// The scrollback and the screen.
    fn history(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-t", "0", "-p", "-S", "-"]).stdout).into_owned()
    }

    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        self.wait_in(what, done, Self::screen)
    }

    /// As [`Tmux::wait_for`], over the scrollback too (what scrolled off still counts).
    fn wait_in_history(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        self.wait_in(what, done, Self::history)
    }

    fn wait_in(&self, what: &str, done: impl Fn(&str) -> bool, read: fn(&Self) -> String) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = read(self);
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "waited for {what}; the screen shows:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// Quits with Ctrl-D and checks the terminal came back in cooked mode.
fn quit_and_check_the_terminal(tmux: &Tmux) {
    tmux.keys(&["C-d"]);
    let screen = tmux.wait_for("cairn to exit", |s| s.contains("CAIRN-EXITED-0") && s.contains("icanon"));
    let after: Vec<&str> = screen.lines().skip_while(|l| !l.contains("CAIRN-EXITED")).collect();
    assert!(after.iter().any(|l| l.trim() == "icanon"), "the terminal was left in raw mode:\n{screen}");
}

#[test]
fn a_streamed_markdown_answer_renders_and_lands_in_the_scrollback() {
    let project = Project::new();
    let body: String = (1..=40).map(|i| format!("- item number {i}\n")).collect();
    let answer = format!("# Inventory\n\nHere is **everything**:\n\n{body}\n```rust\nfn main() {{}}\n```\n\nThe end.");
    let mock = MockLlm::start(Scenario::new(vec![Step::text(&answer).with_delay_ms(2)]));
    let tmux = Tmux::start(&project, &mock, "", 70, 20);
    tmux.wait_for_text("Ask cairn to do something");
    tmux.type_text("list everything");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("The end.");
    assert!(screen.contains("> Ask cairn"), "the composer is back at the bottom:\n{screen}");
    let history = tmux.history();
    for expected in [
        "> list everything",
        "Inventory",
        "Here is everything:",
        "• item number 1",
        "• item number 40",
        "  fn main() {}",
    ] {
        assert!(history.contains(expected), "{expected:?} is not in the scrollback:\n{history}");
    }
    assert_eq!(history.matches("• item number 7\n").count(), 1, "each line is written once:\n{history}");
    // tmux saves a screen cleared at once into its history: no stale composer may end up there.
    assert_eq!(history.matches("Ask cairn to do something").count(), 1, "{history}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn a_permission_prompt_approved_and_one_refused_with_feedback() {
    let project = Project::new();
    crate::support::ask_about_commands(&project);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "echo first > first.txt"})),
        Step::tool("Bash", json!({"command": "rm -rf /tmp/nothing-here"})),
        Step::text("Understood."),
    ]));
    let tmux = Tmux::start(&project, &mock, "\"make the files\"", 90, 24);
    tmux.wait_for_text("Allow Bash(echo first > first.txt)?");
    tmux.keys(&["1"]);
    tmux.wait_for_text("Allow Bash(rm -rf /tmp/nothing-here)?");
    tmux.type_text("use trash-cli instead");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Understood.");
    assert!(project.file("first.txt").exists());
    let requests = mock.requests();
    let first = tool_results(&requests[1].body);
    assert!(!first[0].2, "{first:?}");
    let second = tool_results(&requests[2].body);
    assert!(second[1].2 && second[1].1.contains("use trash-cli instead"), "{second:?}");
    let history = tmux.history();
    assert!(
        history.contains("✓ Bash(echo first > first.txt)") && history.contains("refused: use trash-cli instead"),
        "{history}"
    );
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn esc_interrupts_a_slow_stream_and_the_next_prompt_works() {
    let project = Project::new();
    let slow: String = (0..200).map(|i| format!("word{i} ")).collect();
    let mock = MockLlm::start(Scenario::new(vec![Step::text(&slow).with_delay_ms(50), Step::text("Second answer.")]));
    let tmux = Tmux::start(&project, &mock, "", 80, 24);
    tmux.wait_for_text("Ask cairn to do something");
    tmux.type_text("talk slowly");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("word2");
    tmux.keys(&["Escape"]);
    tmux.wait_for_text("Interrupted by the user");
    tmux.type_text("again");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Second answer.");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let second = &mock.requests()[1].body["messages"];
    let last = second.as_array().unwrap().last().unwrap();
    let texts: Vec<&str> = last["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str())
        .filter(|t| !crate::sessions::is_session_context(t))
        .collect();
    assert_eq!(texts, ["talk slowly", "[Request interrupted by user]", "again"]);
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn a_two_thousand_line_paste_is_sent_as_one_message() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Got it.")]));
    let tmux = Tmux::start(&project, &mock, "", 80, 24);
    tmux.wait_for_text("Ask cairn to do something");
    let pasted: String = (1..=2000).map(|i| format!("log line {i}\n")).collect();
    let file = project.write("paste.txt", &pasted);
    tmux.type_text("summarise: ");
    tmux.run(&["load-buffer", "-b", "p", file.to_str().unwrap()]);
    tmux.run(&["paste-buffer", "-p", "-b", "p", "-t", "0"]);
    tmux.wait_for_text("[Pasted text #1 +2000 lines]");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Got it.");
    let sent = mock.requests()[0].body["messages"][0]["content"][1]["text"].as_str().unwrap().to_owned();
    assert!(sent.starts_with("summarise: log line 1\n"), "{}", &sent[..60]);
    assert_eq!(sent.matches("log line").count(), 2000);
    assert!(sent.trim_end().ends_with("log line 2000"));
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    for signal in ["TERM", "HUP"] {
        let project = Project::new();
        let mock = MockLlm::start(Scenario::new(vec![]));
        let tmux = Tmux::start(&project, &mock, "", 80, 24);
        tmux.wait_for_text("Ask cairn to do something");
        let shell = String::from_utf8_lossy(&tmux.run(&["list-panes", "-t", "0", "-F", "#{pane_pid}"]).stdout)
            .trim()
            .to_owned();
        let pid = child_of(&shell).expect("cairn runs under the pane's shell");
        let signal = match signal {
            "TERM" => rustix::process::Signal::TERM,
            _ => rustix::process::Signal::HUP,
        };
        rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), signal).unwrap();
        let screen = tmux.wait_for("cairn to exit", |s| s.contains("CAIRN-EXITED-") && s.contains("icanon"));
        let after: Vec<&str> = screen.lines().skip_while(|l| !l.contains("CAIRN-EXITED")).collect();
        assert!(after.iter().any(|l| l.trim() == "icanon"), "{signal:?} left the terminal raw:\n{screen}");
    }
}

/// A child process of `parent`, found in /proc (no procps needed).
fn child_of(parent: &str) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.filter_map(Result::ok).find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let ppid = stat.rsplit(')').next()?.split_whitespace().nth(1)?;
        (ppid == parent).then_some(pid)
    })
}

/// A saved session to resume: one prompt, one answer, through `cairn -p`.
fn saved_session(project: &Project, prompt: &str, answer: &str) -> String {
    let mock = MockLlm::start(Scenario::new(vec![Step::text(answer)]));
    let out = crate::support::stream_json(project, &mock, prompt, &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    out.result()["session_id"].as_str().unwrap().to_owned()
}

#[test]
fn continue_shows_the_earlier_conversation_and_carries_on() {
    let project = Project::new();
    let id = saved_session(&project, "name three rivers", "Nile, Amazon, Danube.");
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Also the Mekong.")]));
    let tmux = Tmux::start(&project, &mock, "--continue", 80, 24);
    let screen = tmux.wait_for_text("Nile, Amazon, Danube.");
    assert!(screen.contains("Resumed “name three rivers”") && screen.contains(&id[..8]), "{screen}");
    assert!(screen.contains("> name three rivers"), "{screen}");
    tmux.type_text("one more");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Also the Mekong.");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let sent = crate::sessions::conversation(&mock.requests()[0].body);
    assert_eq!(
        sent,
        ["user: name three rivers", "assistant: Nile, Amazon, Danube.", "user: one more"].map(String::from)
    );
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn the_resume_picker_searches_previews_and_resumes_and_rename_names_the_session() {
    let project = Project::new();
    saved_session(&project, "fix the login bug", "The login bug is fixed.");
    std::thread::sleep(Duration::from_millis(20));
    saved_session(&project, "write release notes", "Release notes written.");
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Back on the login bug.")]));
    let tmux = Tmux::start(&project, &mock, "--resume", 90, 24);
    // `--resume` without an id opens the picker, newest first, with a preview.
    // The preview is read in the background: wait for it.
    let screen = tmux.wait_for("the picker with the selected session's preview", |s| {
        s.contains("Resume a session") && s.contains("● Release notes written.")
    });
    let newest = screen.find("write release notes").expect("listed");
    let older = screen.find("fix the login bug").expect("listed");
    assert!(newest < older, "{screen}");
    tmux.type_text("login");
    let screen = tmux.wait_for("the search to narrow the list", |s| !s.contains("write release notes"));
    assert!(screen.contains("● The login bug is fixed."), "{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Resumed “fix the login bug”");
    tmux.type_text("/rename Login bug");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Session renamed to Login bug");
    tmux.type_text("and now?");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Back on the login bug.");
    let sent = crate::sessions::conversation(&mock.requests()[0].body);
    assert_eq!(sent[0], "user: fix the login bug");
    quit_and_check_the_terminal(&tmux);

    let mut list = project.bare_cairn();
    list.args(["sessions"]);
    let table = crate::support::run(list).stdout;
    let first = table.lines().nth(1).unwrap_or_default();
    assert!(first.contains("Login bug") && first.contains("2"), "renamed, most recent, two turns:\n{table}");

    // `/resume <title>` finds it by its new name.
    let mock = MockLlm::start(Scenario::new(vec![Step::text("By name.")]));
    let tmux = Tmux::start(&project, &mock, "", 90, 24);
    tmux.wait_for_text("Ask cairn to do something");
    tmux.type_text("/resume login bug");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Resumed “Login bug”");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn a_projects_hooks_wait_for_trust_and_the_answer_is_remembered() {
    let project = Project::new();
    project.write(
        ".cairn/settings.json",
        &json!({"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "touch started.txt"}]}]},
                "permissions": {"allow": ["Bash(make:*)"]}})
        .to_string(),
    );
    let mock = MockLlm::start(Scenario::new(vec![]));
    // Refused: the session starts without them.
    let tmux = Tmux::start(&project, &mock, "", 100, 24);
    let screen = tmux.wait_for_text("Do you trust");
    assert!(screen.contains("hooks (SessionStart)") && screen.contains("allow rules (Bash(make:*))"), "{screen}");
    tmux.type_text("n");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Ask cairn to do something");
    tmux.type_text("/hooks");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("No hooks configured.");
    assert!(!project.file("started.txt").exists());
    quit_and_check_the_terminal(&tmux);
    drop(tmux);

    // Trusted: the hook runs, and the next start does not ask again.
    let tmux = Tmux::start(&project, &mock, "", 100, 24);
    tmux.wait_for_text("Do you trust");
    tmux.type_text("y");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Ask cairn to do something");
    tmux.type_text("/hooks");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("SessionStart: touch started.txt   (.cairn/settings.json)");
    tmux.wait_for("the SessionStart hook", |_| project.file("started.txt").exists());
    quit_and_check_the_terminal(&tmux);
    drop(tmux);
    let tmux = Tmux::start(&project, &mock, "", 100, 24);
    let screen = tmux.wait_for_text("Ask cairn to do something");
    assert!(!screen.contains("Do you trust"), "{screen}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn dont_ask_again_saves_the_rule_and_permissions_lists_and_edits_rules() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": "touch a.txt"})),
        Step::text("Made it."),
    ]));
    // A user-level Notification hook (no trust needed) hears about the question.
    let notified = project.file("notified.json");
    let hooks = json!({"hooks": {"Notification": [{"hooks": [{"type": "command", "command": format!("cat > {}", notified.display())}]}]}});
    std::fs::write(project.home.path().join("settings.json"), hooks.to_string()).unwrap();
    crate::support::ask_about_commands(&project);
    let tmux = Tmux::start(&project, &mock, "\"make a file\"", 100, 30);
    tmux.wait_for_text("Allow Bash(touch a.txt)?");
    tmux.wait_for("the Notification hook", |_| std::fs::read_to_string(&notified).is_ok_and(|t| t.ends_with('}')));
    let note: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&notified).unwrap()).unwrap();
    assert_eq!(note["notification_type"], "permission_prompt");
    assert_eq!(note["message"], "cairn needs your permission to use Bash");
    tmux.keys(&["2"]);
    tmux.wait_for_text("Made it.");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.file(".cairn/settings.local.json")).unwrap()).unwrap();
    assert_eq!(saved["permissions"]["allow"], json!(["Bash(touch a.txt)"]));

    tmux.type_text("/permissions deny Bash(curl:*)");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Added deny rule Bash(curl:*)");
    tmux.type_text("/permissions");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("Permission mode: default");
    assert!(screen.contains("deny  Bash(curl:*)") && screen.contains("allow Bash(touch a.txt)"), "{screen}");
    tmux.type_text("/permissions remove Bash(touch a.txt)");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Removed Bash(touch a.txt) (allow)");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.file(".cairn/settings.local.json")).unwrap()).unwrap();
    assert_eq!(saved["permissions"]["allow"], json!([]));
    assert_eq!(saved["permissions"]["deny"], json!(["Bash(curl:*)"]));
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn a_status_line_command_replaces_the_status_line() {
    let project = Project::new();
    let input = project.file("status-input.json");
    let command = format!("cat > {}; echo CUSTOM-STATUS-LINE", input.display());
    std::fs::write(
        project.home.path().join("settings.json"),
        json!({"statusLine": {"type": "command", "command": command}}).to_string(),
    )
    .unwrap();
    let mock = MockLlm::start(Scenario::new(vec![]));
    let tmux = Tmux::start(&project, &mock, "", 80, 24);
    let screen = tmux.wait_for_text("CUSTOM-STATUS-LINE");
    assert!(!screen.contains("claude-sonnet-5 · ctx"), "the built-in line is replaced:\n{screen}");
    // The command may run again (each status change) while the file is read: read until whole.
    let deadline = Instant::now() + Duration::from_secs(30);
    let given: serde_json::Value = loop {
        if let Ok(value) = serde_json::from_str(&std::fs::read_to_string(&input).unwrap_or_default()) {
            break value;
        }
        assert!(Instant::now() < deadline, "the status line command never got its JSON");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(given["model"]["id"], "claude-sonnet-5");
    assert_eq!(given["workspace"]["current_dir"], project.path().to_str().unwrap());
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn cost_compact_and_context_show_what_the_session_used() {
    let project = Project::new();
    project.write(".cairn/settings.json", &json!({ "contextWindow": 100_000 }).to_string());
    project.write("AGENTS.md", "Prefer small functions.");
    let mut step = Step::text("Counted.");
    step.usage = Some(crate::support::mock_llm::scenario::UsageSpec {
        input_tokens: Some(10_000),
        output_tokens: Some(2_000),
        cache_creation_input_tokens: 4_000,
        cache_read_input_tokens: 20_000,
    });
    let mock = MockLlm::start(Scenario::new(vec![step]));
    let tmux = Tmux::start(&project, &mock, "", 100, 40);
    tmux.wait_for_text("ctx 0%");
    tmux.type_text("count things");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Counted.");
    // 10,000 + 4,000 + 20,000 in, 2,000 out, of the 100,000 the setting gives.
    tmux.wait_for_text("ctx 36% (36k) · $0.0540");

    tmux.type_text("/cost");
    tmux.keys(&["Enter"]);
    // Sonnet 5: $2 in, $10 out per million; cache writes 1.25×, reads 0.1× the input price.
    let screen = tmux.wait_for_text("Total cost:");
    assert!(screen.contains("Total cost:            $0.0540"), "{screen}");
    assert!(
        screen.contains("claude-sonnet-5: 10,000 input, 2,000 output, 20,000 cache read, 4,000 cache write · $0.0540"),
        "{screen}"
    );

    tmux.type_text("/compact keep the counts");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Compacted the conversation (");
    let summary = mock.requests().into_iter().last().unwrap();
    let instruction = summary.body["messages"].as_array().unwrap().last().unwrap().to_string();
    assert!(instruction.contains("keep the counts"), "{instruction}");

    tmux.type_text("/context");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("of 100,000 tokens");
    for part in [
        "[S",
        "Mm.",
        "system prompt",
        "tool schemas",
        "memory files",
        "messages",
        "free",
        "Compacts automatically at 80%",
    ] {
        assert!(screen.contains(part), "{part:?} missing:\n{screen}");
    }
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn notes_memory_listing_and_the_editor() {
    let project = Project::new();
    project.write("AGENTS.md", "# Rules\n- keep it short\n");
    let editor = project.write("fake-editor.sh", "#!/bin/sh\necho '- added in the editor' >> \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mock = MockLlm::start(Scenario::new(vec![]));
    let env = format!("EDITOR={}", editor.display());
    let tmux = Tmux::start_with_env(&project, &mock, &env, "", 100, 30);
    tmux.wait_for_text("ctx 0%");
    tmux.type_text("# always run the linter");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Noted in AGENTS.md");
    let text = std::fs::read_to_string(project.file("AGENTS.md")).unwrap();
    assert_eq!(text, "# Rules\n- keep it short\n- always run the linter\n");
    assert!(mock.requests().is_empty(), "a note is not sent to the model");

    tmux.type_text("/memory");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("Memory files loaded:");
    assert!(screen.contains(&format!("1. {}", project.file("AGENTS.md").display())), "{screen}");

    tmux.type_text("/memory 1");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Edited ");
    let text = std::fs::read_to_string(project.file("AGENTS.md")).unwrap();
    assert!(text.ends_with("- added in the editor\n"), "{text}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn a_running_sub_agent_shows_live_under_its_call() {
    let project = Project::new();
    let settings = json!({"permissions": {"allow": ["Bash(sleep:*)"]}});
    std::fs::write(project.home.path().join("settings.json"), settings.to_string()).unwrap();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "wait a bit", "prompt": "sleep", "subagent_type": "general-purpose"})),
        Step::tool("Bash", json!({"command": "sleep 3"})),
        Step::text("Slept."),
        Step::text("The agent is done."),
    ]));
    let tmux = Tmux::start(&project, &mock, "", 100, 30);
    tmux.wait_for_text("ctx 0%");
    tmux.type_text("delegate the waiting");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("running Bash · 1 tool use");
    assert!(screen.contains("general-purpose(wait a bit)"), "{screen}");
    let screen = tmux.wait_for_text("The agent is done.");
    assert!(screen.contains("Slept."), "the report shows under the finished call:\n{screen}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn mcp_servers_start_in_the_background_and_mcp_shows_them() {
    let project = Project::new();
    let everything = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp-servers/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(everything.is_file(), "run `npm ci --prefix tests/mcp-servers`");
    let config = json!({"mcpServers": {
        "silent": {"command": "sleep", "args": ["1000"]},
        "everything": {"command": "node", "args": [everything, "stdio"]},
    }});
    std::fs::write(project.home.path().join("mcp.json"), config.to_string()).unwrap();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Answered while a server still starts.")]));
    let tmux = Tmux::start(&project, &mock, "", 100, 30);
    tmux.wait_for_text("ctx 0%");
    tmux.type_text("hello");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Answered while a server still starts.");
    tmux.wait_for_text("MCP server everything is ready");
    tmux.type_text("/mcp");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("MCP servers:");
    assert!(screen.contains("silent (user): starting"), "{screen}");
    assert!(screen.contains("everything (user): ready,"), "{screen}");
    tmux.type_text("/mcp reconnect everything");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Reconnecting everything");
    tmux.wait_in_history("the server to be ready again", |s| s.matches("MCP server everything is ready").count() >= 2);
    quit_and_check_the_terminal(&tmux);
    // The server that never answered was stopped with cairn.
    let left = std::process::Command::new("pgrep").args(["-fx", "sleep 1000"]).output().unwrap();
    assert!(String::from_utf8_lossy(&left.stdout).trim().is_empty(), "the silent server outlived cairn");
}

#[test]
fn an_edit_asks_with_the_diff_it_would_make() {
    let project = Project::new();
    project.write("src/lib.rs", "pub fn answer() -> u32 {\n    41\n}\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "src/lib.rs"})),
        Step::tool("Edit", json!({"file_path": "src/lib.rs", "old_string": "    41", "new_string": "    42"})),
        Step::text("Fixed."),
    ]));
    let tmux = Tmux::start(&project, &mock, "\"fix the answer\"", 90, 30);
    let screen = tmux.wait_for_text("Allow Edit");
    assert!(screen.contains("-    41") && screen.contains("+    42"), "no diff to look at:\n{screen}");
    tmux.keys(&["1"]);
    tmux.wait_for_text("Fixed.");
    assert_eq!(std::fs::read_to_string(project.file("src/lib.rs")).unwrap(), "pub fn answer() -> u32 {\n    42\n}\n");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn deny_rules_that_cannot_be_read_make_the_ui_ask_for_every_call() {
    let project = Project::new();
    project.write(".claude/settings.local.json", r#"{"permissions": {"deny": "Bash(rm:*)"}}"#);
    let mock = MockLlm::start(Scenario::new(vec![Step::tool("Bash", json!({"command": "ls"})), Step::text("Listed.")]));
    let tmux = Tmux::start(&project, &mock, "\"list the files\"", 100, 30);
    let screen = tmux.wait_for_text("Allow Bash(ls)?");
    assert!(screen.contains("permission rules cannot be read"), "{screen}");
    tmux.keys(&["1"]);
    tmux.wait_for_text("Listed.");
    let history = tmux.history();
    assert!(history.contains("every tool call will be asked"), "the user was told why:\n{history}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn a_plan_is_refused_with_feedback_then_approved_with_edits_accepted() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("ExitPlanMode", json!({"plan": "1. Write notes.txt\n2. Read it back"})),
        Step::tool("ExitPlanMode", json!({"plan": "1. Write notes.txt with a test\n2. Read it back"})),
        Step::tool("Write", json!({"file_path": "notes.txt", "content": "planned\n"})),
        Step::text("Done as planned."),
    ]));
    let tmux = Tmux::start(&project, &mock, "--permission-mode plan \"plan the notes\"", 90, 30);
    tmux.wait_for_text("Ready to code?");
    assert!(tmux.history().contains("1. Write notes.txt"), "the plan is shown:\n{}", tmux.history());
    tmux.type_text("add a test");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the second plan", |s| s.contains("Ready to code?") && s.contains("with a test"));
    tmux.keys(&["2"]);
    let screen = tmux.wait_for_text("Done as planned.");
    assert!(screen.contains("accept edits") && !screen.contains("plan mode"), "{screen}");
    assert_eq!(std::fs::read_to_string(project.file("notes.txt")).unwrap(), "planned\n", "the edit ran unasked");
    let requests = mock.requests();
    let refused = tool_results(&requests[1].body);
    assert!(refused[0].2 && refused[0].1.contains("add a test"), "{refused:?}");
    let approved = tool_results(&requests[2].body);
    assert!(!approved[1].2 && approved[1].1.contains("approved your plan"), "{approved:?}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn the_models_questions_are_answered_one_by_one() {
    let project = Project::new();
    let questions = json!([
        {"question": "Which database?", "header": "Database", "multiSelect": false, "options": [
            {"label": "Postgres", "description": "A server"},
            {"label": "SQLite", "description": "A file"}]},
        {"question": "Which features?", "header": "Features", "multiSelect": true, "options": [
            {"label": "Auth", "description": "Log in"},
            {"label": "Search", "description": "Find things"},
            {"label": "Billing", "description": "Get paid"}]}
    ]);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("AskUserQuestion", json!({"questions": questions})),
        Step::text("Noted your choices."),
    ]));
    let tmux = Tmux::start(&project, &mock, "\"set up the app\"", 90, 30);
    let screen = tmux.wait_for_text("Which database?");
    assert!(screen.contains("Database") && screen.contains("(1 of 2)") && screen.contains("A file"), "{screen}");
    tmux.keys(&["2"]);
    tmux.wait_for_text("Which features?");
    tmux.keys(&["1"]);
    tmux.keys(&["3"]);
    tmux.wait_for("two ticks", |s| s.matches("[x]").count() == 2);
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Noted your choices.");
    let result = tool_results(&mock.requests()[1].body);
    assert!(!result[0].2, "{result:?}");
    assert_eq!(
        result[0].1,
        "User has answered your questions: \"Which database?\"=\"SQLite\", \"Which features?\"=\"Auth, Billing\". \
         You can now continue with the user's answers in mind."
    );
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn esc_esc_lists_the_prompts_and_rewind_brings_back_files_and_conversation() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![
        Step::text("One."),
        Step::tool("Write", json!({"file_path": "notes.txt", "content": "from the second turn\n"})),
        Step::text("Two."),
        Step::text("Again."),
    ]));
    let tmux = Tmux::start(&project, &mock, "--permission-mode acceptEdits", 100, 30);
    two_prompts(&tmux);
    tmux.wait_for_text("Changed 1 file");
    // The user changes the file afterwards: the rewind asks before overwriting it.
    project.write("notes.txt", "edited by me\n");
    tmux.keys(&["Escape"]);
    tmux.keys(&["Escape"]);
    let picker = tmux.wait_for_text("Rewind to the moment a prompt was sent");
    assert!(picker.contains("second") && picker.contains("1 file to restore, 1 changed by someone else"), "{picker}");
    tmux.keys(&["1"]);
    tmux.wait_for_text("What should come back");
    tmux.keys(&["1"]);
    tmux.wait_for_text("Someone else changed notes.txt since");
    tmux.keys(&["2"]);
    let rewound = tmux.wait_for_text("Conversation rewound");
    assert!(rewound.contains("1 removed"), "{rewound}");
    assert!(!project.file("notes.txt").exists(), "the file the second turn made is gone, as asked");
    // The prompt is back in the input box: sent again, it continues from before it.
    tmux.wait_for("the prompt back in the input", |s| s.lines().any(|l| l.trim_start().starts_with("> second")));
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Again.");
    let sent = mock.requests().last().unwrap().body["messages"].to_string();
    assert!(sent.contains("first") && sent.contains("One.") && sent.contains("second"), "{sent}");
    assert!(!sent.contains("Two."), "the rewound answer is gone from the conversation: {sent}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn fork_from_before_a_prompt_leaves_the_original_as_it_was() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("One."), Step::text("Two."), Step::text("Other.")]));
    let tmux = Tmux::start(&project, &mock, "", 100, 30);
    two_prompts(&tmux);
    tmux.type_text("/rewind list");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Rewind to the moment a prompt was sent (newest last)");
    tmux.type_text("/fork 2");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Forked session");
    tmux.type_text("instead");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Other.");
    let sent = mock.requests().last().unwrap().body["messages"].to_string();
    assert!(sent.contains("first") && sent.contains("One.") && sent.contains("instead"), "{sent}");
    assert!(!sent.contains("Two."), "{sent}");
    quit_and_check_the_terminal(&tmux);
    // Two sessions now: the original with both prompts, the fork with its own.
    let transcripts: Vec<String> = std::fs::read_dir(project.home.path().join("projects"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(transcripts.len(), 2);
    assert!(transcripts.iter().any(|t| t.contains("Two.") && !t.contains("instead")), "the original is untouched");
}

/// Sends "first" and "second", each answered ("One.", "Two.").
fn two_prompts(tmux: &Tmux) {
    tmux.wait_for_text("ctx 0%");
    for (prompt, answer) in [("first", "One."), ("second", "Two.")] {
        tmux.type_text(prompt);
        tmux.keys(&["Enter"]);
        tmux.wait_for_text(answer);
    }
}

#[test]
fn the_sandbox_command_shows_the_policy_allows_a_domain_and_turns_it_off() {
    let project = Project::new();
    project.write(".env", "KEY=1\n");
    let settings =
        json!({"permissions": {"deny": ["Read(./.env)"]}, "sandbox": {"network": {"allowedDomains": ["pypi.org"]}}});
    std::fs::write(project.home.path().join("settings.json"), settings.to_string()).unwrap();
    let mock = MockLlm::start(Scenario::new(vec![]));
    let tmux = Tmux::start(&project, &mock, "", 200, 50);
    tmux.wait_for_text("ctx 0%");
    tmux.type_text("/sandbox");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("Sandbox: on (Landlock");
    assert!(screen.contains("to pypi.org"), "{screen}");
    assert!(screen.contains("by the kernel: Read(./.env) (from ~/settings.json)"), "{screen}");
    tmux.type_text("/sandbox allow example.com");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("may now reach example.com");
    tmux.type_text("/sandbox off");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Sandbox turned off for this session");
    tmux.type_text("/sandbox");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Sandbox: off");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn a_sandboxed_command_reaching_an_unlisted_domain_is_asked_about() {
    let project = Project::new();
    // A loopback server the command wants: "localhost" is in no allow-list.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let body = "served-after-the-question";
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": format!("curl -s --max-time 60 http://localhost:{port}/")})),
        Step::text("Fetched."),
    ]));
    let tmux = Tmux::start(&project, &mock, "\"fetch it\"", 120, 30);
    let screen = tmux.wait_for_text("A command in the sandbox wants to reach localhost");
    assert!(screen.contains("WebFetch"), "{screen}");
    tmux.keys(&["1"]);
    tmux.wait_for_text("Fetched.");
    let result = tool_results(&mock.requests()[1].body);
    assert!(result[0].1.contains("served-after-the-question"), "{result:?}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn tasks_lists_background_shells_and_agents_and_a_report_joins_the_next_message() {
    let project = Project::new();
    let (main, agent) = ("start things", "AGENT: survey the code");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Bash", json!({"command": "sleep 30", "run_in_background": true})),
            ("Task", json!({"description": "survey", "prompt": agent, "run_in_background": true})),
        ])
        .when(main),
        Step::text("The survey found nothing odd.").when(agent),
        Step::text("Both started.").when(main),
        Step::text("Noted the survey's report.").when(main),
    ]));
    let tmux =
        Tmux::start_with_env(&project, &mock, "", &format!("\"{main}\" --permission-mode bypassPermissions"), 120, 30);
    tmux.wait_for_text("Both started.");
    tmux.type_text("/tasks");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("agent_1 (completed): survey");
    assert!(screen.contains("bash_1 (running"), "{screen}");
    // One agent's transcript, opened by its id.
    tmux.type_text("/tasks agent_1");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("agent_1 (survey): its transcript");
    assert!(screen.contains("The survey found nothing odd."), "{screen}");
    tmux.type_text("and the survey?");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Noted the survey's report.");
    let last = mock.requests().last().unwrap().body["messages"].as_array().unwrap().last().unwrap().to_string();
    assert!(last.contains("<task-notification>") && last.contains("The survey found nothing odd."), "{last}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn a_coordinators_worker_asks_through_the_ui_and_its_report_wakes_the_coordinator() {
    let project = Project::new();
    crate::support::ask_about_commands(&project);
    let (lead, worker) = ("LEAD: build it", "WORKER-builder: build it");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "the build", "prompt": worker, "name": "builder"})).when(lead),
        Step::text("Started the builder.").when(lead),
        Step::text("The builder built it.").when(lead),
        Step::tool("Bash", json!({"command": "echo built > built.txt"})).when(worker),
        Step::text("Built it.").when(worker),
    ]));
    let tmux = Tmux::start(&project, &mock, &format!("\"{lead}\" --coordinator"), 120, 30);
    // The worker's question is labelled with its name, under the panel of workers.
    let screen = tmux.wait_for_text("builder asks:");
    assert!(screen.contains("Allow Bash(echo built > built.txt)?"), "{screen}");
    assert!(screen.contains("⚙ builder starting"), "{screen}");
    assert!(screen.contains(" tokens · $0.0"), "the worker's cost so far: {screen}");
    tmux.keys(&["1"]);
    // Its report wakes the idle coordinator, which answers without being asked.
    tmux.wait_for_text("The builder built it.");
    assert!(project.file("built.txt").exists());
    let history = tmux.history();
    assert!(history.contains("⚙ builder (the build) finished"), "{history}");
    let last = mock.requests().last().unwrap().body["messages"].as_array().unwrap().last().unwrap().to_string();
    assert!(last.contains("<task-notification>") && last.contains("Built it."), "{last}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn ctrl_b_moves_a_running_agent_to_the_background_and_the_turn_goes_on() {
    let project = Project::new();
    let (main, agent) = ("MAIN: survey", "AGENT: wait for the release");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Task", json!({"description": "waiter", "prompt": agent})).when(main),
        Step::text("Went on while it works.").when(main),
        Step::text("Got its report.").when(main),
        Step::tool("Bash", json!({"command": "until [ -f release ]; do sleep 0.05; done", "timeout": 60000}))
            .when(agent),
        Step::text("Released at last.").when(agent),
    ]));
    let tmux = Tmux::start(&project, &mock, &format!("\"{main}\" --permission-mode bypassPermissions"), 120, 30);
    tmux.wait_for_text("running Bash");
    tmux.keys(&["C-b"]);
    // The Task call returned: the main agent answers while the agent still waits.
    tmux.wait_for_text("Went on while it works.");
    let moved = tool_results(&mock.requests().iter().rev().find(|r| r.body.to_string().contains(main)).unwrap().body);
    assert!(moved[0].1.contains("moved this agent to the background: it is agent agent_1"), "{moved:?}");
    std::fs::write(project.file("release"), "").unwrap();
    let listed = || {
        tmux.type_text("/tasks");
        tmux.keys(&["Enter"]);
        tmux.wait_for_text("agent_1 (")
    };
    let mut screen = listed();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !screen.contains("agent_1 (completed)") {
        assert!(std::time::Instant::now() < deadline, "{screen}");
        std::thread::sleep(std::time::Duration::from_millis(100));
        screen = listed();
    }
    tmux.type_text("and the waiter?");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Got its report.");
    let last = mock.requests().last().unwrap().body["messages"].as_array().unwrap().last().unwrap().to_string();
    assert!(last.contains("<task-notification>") && last.contains("Released at last."), "{last}");
    // The agent moved whole: its own command ran on to its end, in the agent.
    let requests = mock.requests();
    let agent_last = requests.iter().rfind(|r| r.body["messages"][0].to_string().contains(agent)).unwrap();
    let waited = tool_results(&agent_last.body);
    assert!(!waited[0].2 && !waited[0].1.contains("background shell"), "{waited:?}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn ctrl_b_moves_a_running_command_to_a_background_shell() {
    let project = Project::new();
    let waiting = "touch running; echo first; until [ -f release ]; do sleep 0.05; done; echo second";
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Bash", json!({"command": waiting, "timeout": 60000})),
        Step::text("Went on while it runs."),
        Step::tool("BashOutput", json!({"bash_id": "bash_1", "block": true, "timeout": 30000})),
        Step::text("It said second."),
    ]));
    let tmux = Tmux::start(&project, &mock, "\"run it\" --permission-mode bypassPermissions", 120, 30);
    tmux.wait_for_text("Bash(touch running;");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !project.file("running").exists() {
        assert!(std::time::Instant::now() < deadline, "the command never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    tmux.keys(&["C-b"]);
    tmux.wait_for_text("Went on while it runs.");
    let moved = tool_results(&mock.requests()[1].body);
    assert!(moved[0].1.contains("moved this command to the background: it is background shell bash_1"), "{moved:?}");
    std::fs::write(project.file("release"), "").unwrap();
    tmux.type_text("and now?");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("It said second.");
    let read = tool_results(&mock.requests()[3].body);
    let last = &read.last().unwrap().1;
    assert!(last.contains("second") && last.contains("exited with code 0"), "{last}");
    quit_and_check_the_terminal(&tmux);
}

/// A project whose notes were read in a first turn, and the mock that suggested the next
/// prompt; the speculation's steps follow `first`.
fn suggested(project: &Project, speculation: Vec<Step>) -> (MockLlm, Tmux) {
    project.write("notes.md", "v1\n");
    let mut steps = vec![Step::tool("Read", json!({"file_path": "notes.md"})), Step::text("Looked.")];
    steps.extend(speculation);
    let mock = MockLlm::start(Scenario::new(steps).with_suggestions(&["update the notes"]));
    let tmux = Tmux::start(project, &mock, "\"look at the notes\" --permission-mode acceptEdits", 100, 30);
    tmux.wait_for_text("update the notes  (Tab)");
    (mock, tmux)
}

/// The last tool result request `n` carried, which must be an error: its text.
fn last_error(mock: &MockLlm, n: usize) -> String {
    let results = tool_results(&mock.requests()[n].body);
    let last = results.last().unwrap();
    assert!(last.2, "{results:?}");
    last.1.clone()
}

fn wait_for_requests(mock: &MockLlm, n: usize) {
    assert!(mock.wait_for_requests(n, Duration::from_secs(30)), "{} requests", mock.requests().len());
}

#[test]
fn an_accepted_speculation_answers_at_once_and_applies_its_overlay() {
    let project = Project::new();
    let edit = json!({"file_path": "notes.md", "old_string": "v1", "new_string": "v2"});
    let (mock, tmux) = suggested(
        &project,
        vec![
            Step::tool("Read", json!({"file_path": "notes.md"})),
            Step::tool("Edit", edit),
            Step::text("Updated the notes.").with_delay_ms(5),
        ],
    );
    // The speculation has worked it all out, in its overlay: the project is untouched.
    wait_for_requests(&mock, 5);
    assert_eq!(std::fs::read_to_string(project.file("notes.md")).unwrap(), "v1\n");
    assert!(!tmux.history().contains("Updated the notes."), "nothing is shown before it is sent");
    tmux.keys(&["Tab", "Enter"]);
    tmux.wait_for_text("Updated the notes.");
    assert_eq!(mock.requests().len(), 5, "answered without a new request");
    assert_eq!(std::fs::read_to_string(project.file("notes.md")).unwrap(), "v2\n");
    // It is in the transcript like any turn, and the next request carries it.
    tmux.type_text("/cost");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("Speculation:");
    assert!(screen.contains("(1 adopted)") && screen.contains("Prompt suggestions:"), "{screen}");
    let transcript: String = std::fs::read_dir(project.home.path().join("projects"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(transcript.contains("Updated the notes.") && transcript.contains("update the notes"), "{transcript}");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn a_file_changed_behind_a_speculation_is_edited_live() {
    let project = Project::new();
    let edit = json!({"file_path": "notes.md", "old_string": "v1", "new_string": "v2"});
    let (mock, tmux) = suggested(
        &project,
        vec![
            Step::tool("Read", json!({"file_path": "notes.md"})),
            Step::tool("Edit", edit),
            Step::text("Updated the notes."),
            Step::text("The notes changed; I left them."),
        ],
    );
    wait_for_requests(&mock, 5);
    std::fs::write(project.file("notes.md"), "v1 by the user\n").unwrap();
    tmux.keys(&["Tab", "Enter"]);
    tmux.wait_for_text("The notes changed; I left them.");
    let history = tmux.history();
    assert!(history.contains("A file changed while cairn worked ahead"), "{history}");
    assert_eq!(std::fs::read_to_string(project.file("notes.md")).unwrap(), "v1 by the user\n");
    // The Edit ran live and found the file changed since it was read.
    let refused = last_error(&mock, 5);
    assert!(refused.contains("has changed since it was last read"), "{refused}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn typing_drops_a_speculation_and_one_that_needs_permission_stops_there() {
    let project = Project::new();
    let outside = project.home.path().join("outside.txt");
    let (mock, tmux) = suggested(
        &project,
        vec![
            Step::tool("Write", json!({"file_path": "notes.md", "content": "SPECULATED\n"})),
            Step::text("never sent").with_fault(crate::support::Fault::Stall { after_events: 1, ms: None }),
            Step::text("Did something else."),
        ],
    );
    // Working ahead: the Write went to the overlay, and the next request is on its way.
    wait_for_requests(&mock, 4);
    tmux.type_text("x");
    tmux.wait_for("the suggestion to go", |s| !s.contains("(Tab)"));
    tmux.keys(&["BSpace"]);
    tmux.type_text("something else");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Did something else.");
    assert_eq!(std::fs::read_to_string(project.file("notes.md")).unwrap(), "v1\n", "the disk is untouched");
    tmux.type_text("/cost");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("Speculation:");
    assert!(screen.contains("wasted (1 discarded"), "{screen}");
    quit_and_check_the_terminal(&tmux);
    drop(tmux);

    // A speculation meets `rm` and a write outside the project: it runs neither. Once
    // sent, the turn takes them through the gate live, which asks about the write outside
    // the project before either runs.
    let project = Project::new();
    let calls = [
        ("Bash", json!({"command": "rm -f notes.md"})),
        ("Write", json!({"file_path": outside.display().to_string(), "content": "x"})),
    ];
    let (mock, tmux) = suggested(&project, vec![Step::tools(&calls), Step::text("Removed.")]);
    wait_for_requests(&mock, 3);
    assert!(project.file("notes.md").exists() && !outside.exists());
    tmux.keys(&["Tab", "Enter"]);
    tmux.wait_for_text("outside.txt?");
    assert_eq!(mock.requests().len(), 3, "the turn went on from where the speculation stopped");
    assert!(project.file("notes.md").exists() && !outside.exists());
}

#[test]
fn a_permission_mode_change_drops_the_work_done_ahead() {
    let project = Project::new();
    let (mock, tmux) = suggested(
        &project,
        vec![
            Step::tool("Write", json!({"file_path": "notes.md", "content": "SPECULATED\n"})),
            Step::text("Wrote the notes."),
            Step::tool("Write", json!({"file_path": "notes.md", "content": "LIVE\n"})),
            Step::text("Planned instead."),
        ],
    );
    wait_for_requests(&mock, 4);
    // Plan mode now: what was written ahead under acceptEdits may not land.
    tmux.keys(&["BTab"]);
    tmux.wait_for_text("plan mode");
    tmux.keys(&["Tab", "Enter"]);
    tmux.wait_for_text("Planned instead.");
    assert_eq!(std::fs::read_to_string(project.file("notes.md")).unwrap(), "v1\n");
    let refused = last_error(&mock, 5);
    assert!(refused.contains("plan mode"), "{refused}");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn plugin_installs_and_disables_a_plugin_live() {
    let project = Project::new();
    let bare = crate::plugins::marketplace(project.home.path());
    crate::plugins::plugin(&project, &["marketplace", "add", &format!("file://{}", bare.display())]);
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Said hello.")]));
    let tmux = Tmux::start(&project, &mock, "", 120, 40);
    tmux.wait_for_text("Ask cairn to do something");
    tmux.type_text("/plugin install tools@team-tools");
    tmux.keys(&["Enter"]);
    tmux.wait_in_history("the install", |s| s.contains("Installed tools@team-tools"));
    // The settings changed: the plugin's command is there without a restart.
    tmux.wait_in_history("the reload", |s| s.contains("Reloaded commands, skills and agents"));
    // Its MCP server starts too.
    tmux.wait_in_history("the plugin's server", |s| s.contains("MCP server plugin_tools_fs is ready"));
    tmux.type_text("/tools:hello world");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Said hello.");
    assert!(mock.requests()[0].body.to_string().contains("Say hello to world from TOOLS-COMMAND."));
    assert!(mock.requests()[0].body["tools"].to_string().contains("mcp__plugin_tools_fs__list_directory"));
    tmux.type_text("/plugin disable tools@team-tools");
    tmux.keys(&["Enter"]);
    tmux.wait_in_history("the disable", |s| s.contains("Disabled tools@team-tools"));
    tmux.wait_in_history("the second reload", |s| s.matches("Reloaded commands, skills and agents").count() == 2);
    tmux.type_text("/plugin");
    tmux.keys(&["Enter"]);
    tmux.wait_in_history("the listing", |s| s.contains("tools@team-tools  disabled"));
    tmux.type_text("/mcp");
    tmux.keys(&["Enter"]);
    tmux.wait_in_history("the servers", |s| s.contains("No MCP servers are configured"));
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn a_projects_marketplace_and_plugin_are_installed_once_the_folder_is_trusted() {
    let project = Project::new();
    let bare = crate::plugins::marketplace(project.home.path());
    let settings = json!({
        "extraKnownMarketplaces": {"team-tools": {"source": {"source": "git", "url": format!("file://{}", bare.display())}}},
        "enabledPlugins": {"tools@team-tools": true},
    });
    project.write(".claude/settings.json", &settings.to_string());
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Said hello.")]));
    let tmux = Tmux::start(&project, &mock, "", 120, 30);
    let screen = tmux.wait_for_text("Do you trust");
    assert!(screen.contains("plugins (tools@team-tools)"), "{screen}");
    tmux.type_text("y");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Ask cairn to do something");
    tmux.type_text("/tools:hello world");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Said hello.");
    assert!(mock.requests()[0].body.to_string().contains("Say hello to world from TOOLS-COMMAND."));
    assert!(project.home.path().join("plugins/cache/team-tools/tools/1.0.0").is_dir());
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn with_speculate_drafts_a_paused_draft_is_worked_on_before_it_is_sent() {
    let project = Project::new();
    project.write("notes.md", "v1\n");
    project.write(".cairn/settings.json", r#"{"speculateDrafts": true}"#);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tool("Read", json!({"file_path": "notes.md"})),
        Step::tool("Write", json!({"file_path": "notes.md", "content": "DRAFTED\n"})),
        Step::text("Drafted the notes."),
    ]));
    let tmux = Tmux::start(&project, &mock, "--permission-mode acceptEdits", 100, 30);
    tmux.wait_for_text("Ask cairn to do something");
    tmux.type_text("rewrite the notes ");
    // Paused: the draft is worked on, into the overlay.
    wait_for_requests(&mock, 3);
    assert_eq!(std::fs::read_to_string(project.file("notes.md")).unwrap(), "v1\n");
    // Moving the cursor changes nothing; the trailing space does not matter.
    tmux.keys(&["Left", "Right", "Enter"]);
    tmux.wait_for_text("Drafted the notes.");
    assert_eq!(mock.requests().len(), 3, "answered from the work done ahead");
    assert_eq!(std::fs::read_to_string(project.file("notes.md")).unwrap(), "DRAFTED\n");
    quit_and_check_the_terminal(&tmux);
}

#[test]
fn esc_while_a_speculation_is_adopted_keeps_its_finished_steps() {
    let project = Project::new();
    let (mock, tmux) = suggested(
        &project,
        vec![
            Step::tool("Read", json!({"file_path": "notes.md"})),
            Step::text("never finished").with_fault(crate::support::Fault::Stall { after_events: 3, ms: None }),
            Step::text("Went on."),
        ],
    );
    // Its second request hangs: sending the prompt waits on it, and Esc stops it.
    wait_for_requests(&mock, 4);
    tmux.keys(&["Tab", "Enter"]);
    tmux.wait_in_history("the adopted step", |s| s.matches("Read notes.md").count() == 2);
    tmux.keys(&["Escape"]);
    tmux.wait_in_history("the interrupt", |s| s.contains("Interrupted"));
    tmux.type_text("go on");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Went on.");
    let sent = mock.requests()[4].body["messages"].to_string();
    assert!(sent.contains("update the notes") && sent.matches("     1\\tv1").count() == 2, "{sent}");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    quit_and_check_the_terminal(&tmux);
}
