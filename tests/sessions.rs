//! Sessions on disk, through the binary: the transcript a run leaves, `--continue`,
//! `--resume`, `--fork-session`, `--session-id`, `--no-session-persistence`, the lock that
//! keeps a second cairn out, `cairn sessions`, Claude Code's own transcripts, and that no
//! key ever reaches a file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Fault, MockLlm, Project, Run, Scenario, Step, finish, run, spawn, stream_json, tool_results};

/// Every transcript under the project's `CAIRN_HOME`.
pub fn transcripts(project: &Project) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(projects) = std::fs::read_dir(project.home.path().join("projects")) else { return found };
    for folder in projects.flatten() {
        for file in std::fs::read_dir(folder.path()).unwrap().flatten() {
            if file.path().extension().is_some_and(|e| e == "jsonl") {
                found.push(file.path());
            }
        }
    }
    found
}

/// A transcript's entries (a torn last line, if any, left out).
pub fn entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// The text of every message of a request, in order: `role: text` for text blocks,
/// `role: tool_use ID` and `role: tool_result ID (error)` for the rest.
pub fn conversation(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for message in body["messages"].as_array().unwrap() {
        let role = message["role"].as_str().unwrap();
        for block in message["content"].as_array().unwrap() {
            let text = block["text"].as_str().unwrap_or("");
            if is_session_context(text) {
                continue;
            }
            out.push(match block["type"].as_str().unwrap() {
                "text" => format!("{role}: {text}"),
                "tool_use" => format!("{role}: tool_use {}", block["id"].as_str().unwrap()),
                "tool_result" => {
                    let error = if block["is_error"] == true { " (error)" } else { "" };
                    format!("{role}: tool_result {}{error}", block["tool_use_id"].as_str().unwrap())
                }
                other => format!("{role}: {other}"),
            });
        }
    }
    out
}

/// Starts `cmd` as `cairn -p` with stream-json in and out, each prompt a stdin line.
fn spawn_turns(mut cmd: Command, prompts: &[String]) -> Child {
    cmd.args(["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"])
        .stdin(Stdio::piped());
    let mut child = spawn(cmd);
    let mut stdin = child.stdin.take().unwrap();
    for prompt in prompts {
        writeln!(stdin, "{}", json!({"type": "user", "message": {"role": "user", "content": prompt}})).unwrap();
    }
    child
}

fn run_turns(cmd: Command, prompts: &[&str]) -> Run {
    let prompts: Vec<String> = prompts.iter().map(|p| (*p).to_owned()).collect();
    finish(spawn_turns(cmd, &prompts))
}

/// The context block cairn puts at the start of a session's first message (date, folder,
/// memory files): not part of the conversation.
pub fn is_session_context(text: &str) -> bool {
    text.starts_with("<system-reminder>\nToday's date is ")
        || text.starts_with("<system-reminder>\nThe following skills are available")
}

fn result_of(out: &Run) -> Value {
    assert_eq!(out.code(), 0, "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    out.result()
}

/// A first session: a Bash call and a Read in parallel, then an answer.
fn first_session(project: &Project) -> (Value, MockLlm) {
    project.write("notes.md", "remember the milk\n");
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[("Bash", json!({"command": "echo from-bash"})), ("Read", json!({"file_path": "notes.md"}))])
            .with_text("Looking."),
        Step::text("The notes say: remember the milk."),
    ]));
    let out = stream_json(project, &mock, "what do my notes say?", &["--allowedTools", "Bash"]);
    (result_of(&out), mock)
}

#[test]
fn a_session_is_written_entry_by_entry_in_claude_codes_envelope() {
    let project = Project::new();
    let (result, _mock) = first_session(&project);
    let session_id = result["session_id"].as_str().unwrap();
    let files = transcripts(&project);
    assert_eq!(files.len(), 1);
    let folder: String =
        project.path().to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    assert_eq!(files[0], project.home.path().join("projects").join(folder).join(format!("{session_id}.jsonl")));

    let entries = entries(&files[0]);
    let kinds: Vec<&str> = entries.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["user", "assistant", "assistant", "assistant", "user", "user", "assistant", "cairn-turn"]);
    let conversation_entries = &entries[..7];
    for entry in conversation_entries {
        assert_eq!(entry["sessionId"], session_id);
        assert_eq!(entry["isSidechain"], false);
        assert_eq!(entry["userType"], "external");
        assert_eq!(entry["cwd"], project.path().to_str().unwrap());
        assert!(entry["version"].is_string() && entry["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(uuid::Uuid::parse_str(entry["uuid"].as_str().unwrap()).is_ok());
    }
    assert_eq!(entries[0]["parentUuid"], Value::Null);
    for pair in conversation_entries.windows(2) {
        assert_eq!(pair[1]["parentUuid"], pair[0]["uuid"], "entries chain in order");
    }
    // The first message also carries the session's context (date, folder, memory files).
    assert_eq!(entries[0]["message"]["content"][1]["text"], "what do my notes say?");
    assert!(is_session_context(entries[0]["message"]["content"][0]["text"].as_str().unwrap()));
    assert_eq!(entries[0]["permissionMode"], "default");
    // One response, three blocks: three entries sharing the message id.
    let ids: Vec<&Value> = entries[1..4].iter().map(|e| &e["message"]["id"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(entries[1]["message"]["content"][0]["type"], "text");
    assert_eq!(entries[2]["message"]["content"][0]["name"], "Bash");
    assert_eq!(entries[3]["message"]["content"][0]["name"], "Read");
    // Each result its own user entry, with the tool's structured output.
    assert_eq!(entries[4]["message"]["content"][0]["type"], "tool_result");
    assert_eq!(entries[4]["toolUseResult"]["stdout"], "from-bash\n");
    assert_eq!(entries[4]["sourceToolAssistantUUID"], entries[2]["uuid"]);
    assert_eq!(entries[5]["toolUseResult"]["file"]["numLines"], 1);
    assert_eq!(entries[7]["turns"], 1);
    assert_eq!(entries[7]["lastPrompt"], "what do my notes say?");
    assert!(entries[7]["costUsd"].as_f64().unwrap() > 0.0);
}

#[test]
fn continue_resumes_the_latest_session_with_its_history_in_order() {
    let project = Project::new();
    let (first, first_mock) = first_session(&project);
    let before = entries(&transcripts(&project)[0]).len();

    let mock = MockLlm::start(Scenario::new(vec![Step::text("Still the milk.")]));
    let out = stream_json(&project, &mock, "and again?", &["-c"]);
    let result = result_of(&out);
    assert_eq!(result["session_id"], first["session_id"], "a resume keeps the session id");
    assert_eq!(out.of_type("system")[0]["session_id"], first["session_id"]);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());

    let sent = conversation(&mock.requests()[0].body);
    let earlier = conversation(&first_mock.requests()[1].body);
    assert_eq!(sent[..earlier.len()], earlier[..], "the earlier history, in order");
    assert_eq!(
        sent[earlier.len()..],
        ["assistant: The notes say: remember the milk.", "user: and again?"].map(String::from)
    );
    // The same file grew; no second file.
    let files = transcripts(&project);
    assert_eq!(files.len(), 1);
    assert!(entries(&files[0]).len() > before);
    assert!(result["total_cost_usd"].as_f64().unwrap() > first["total_cost_usd"].as_f64().unwrap(), "cost carries on");
}

#[test]
fn resume_by_id_and_the_errors_a_user_can_make() {
    let project = Project::new();
    let (first, _) = first_session(&project);
    let id = first["session_id"].as_str().unwrap();

    let mock = MockLlm::start(Scenario::new(vec![Step::text("Resumed by id.")]));
    let out = stream_json(&project, &mock, "go on", &["--resume", id]);
    assert_eq!(result_of(&out)["session_id"], id);
    assert!(conversation(&mock.requests()[0].body).contains(&"user: what do my notes say?".to_owned()));

    let missing = stream_json(&project, &mock, "go on", &["-r", "0f0e0d0c-no-such-session"]);
    assert_eq!(missing.code(), 1);
    assert!(
        missing.stderr.contains("No conversation found with session ID: 0f0e0d0c-no-such-session"),
        "{}",
        missing.stderr
    );
    assert!(!missing.stderr.contains("panicked"));

    let mut no_id = project.cairn(&mock);
    no_id.args(["-p", "go on", "--resume"]);
    let out = run(no_id);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("--resume needs a session id with --print"), "{}", out.stderr);

    let elsewhere = Project::new();
    let mut cmd = elsewhere.cairn(&mock);
    cmd.args(["-p", "hi", "-c"]);
    let out = run(cmd);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("No conversation found to continue"), "{}", out.stderr);

    let mut fork_alone = project.cairn(&mock);
    fork_alone.args(["-p", "hi", "--fork-session"]);
    let out = run(fork_alone);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("--fork-session continues a session"), "{}", out.stderr);
}

#[test]
fn fork_session_continues_the_history_under_a_new_id_and_leaves_the_original_alone() {
    let project = Project::new();
    let (first, _) = first_session(&project);
    let id = first["session_id"].as_str().unwrap();
    let original = transcripts(&project)[0].clone();
    let original_bytes = std::fs::read(&original).unwrap();

    let fork_id = "5f0b6c3e-9d1a-4e7b-8c2d-1a2b3c4d5e6f";
    let mock = MockLlm::start(Scenario::new(vec![Step::text("A fork.")]));
    let out = stream_json(&project, &mock, "try another way", &["-r", id, "--fork-session", "--session-id", fork_id]);
    assert_eq!(result_of(&out)["session_id"], fork_id);
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    assert!(conversation(&mock.requests()[0].body).contains(&"user: what do my notes say?".to_owned()));
    assert_eq!(std::fs::read(&original).unwrap(), original_bytes, "the original is untouched");

    let forked = original.with_file_name(format!("{fork_id}.jsonl"));
    let entries = entries(&forked);
    assert!(entries.iter().filter(|e| e.get("sessionId").is_some()).all(|e| e["sessionId"] == fork_id));
    assert!(entries.iter().any(|e| e["message"]["content"] == "try another way"));

    // The fork resumes on its own, with both parts of its history.
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let out = stream_json(&project, &mock, "and now?", &["-r", fork_id]);
    assert_eq!(result_of(&out)["session_id"], fork_id);
    let sent = conversation(&mock.requests()[0].body);
    assert!(
        sent.contains(&"user: what do my notes say?".to_owned()) && sent.contains(&"assistant: A fork.".to_owned())
    );
}

#[test]
fn session_id_names_a_new_session_and_refuses_a_taken_one() {
    let project = Project::new();
    let id = "00000000-1111-4222-8333-444444444444";
    let mock = MockLlm::start(Scenario::new(vec![Step::text("one"), Step::text("two")]));
    let out = stream_json(&project, &mock, "hi", &["--session-id", id]);
    assert_eq!(result_of(&out)["session_id"], id);
    assert!(transcripts(&project)[0].ends_with(format!("{id}.jsonl")));

    let again = stream_json(&project, &mock, "hi", &["--session-id", id]);
    assert_eq!(again.code(), 1);
    assert!(again.stderr.contains(&format!("Session ID {id} is already in use")), "{}", again.stderr);

    let bad = stream_json(&project, &mock, "hi", &["--session-id", "not-a-uuid"]);
    assert_eq!(bad.code(), 2, "{}", bad.stderr);
}

#[test]
fn no_session_persistence_leaves_nothing_on_disk() {
    let project = Project::new();
    let mock =
        MockLlm::start(Scenario::new(vec![Step::tool("Bash", json!({"command": "echo hi"})), Step::text("done")]));
    let out = stream_json(&project, &mock, "hi", &["--no-session-persistence", "--allowedTools", "Bash"]);
    result_of(&out);
    assert!(transcripts(&project).is_empty());
    let mut list = project.bare_cairn();
    list.args(["sessions", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&run(list).stdout).unwrap(), json!([]));
}

#[test]
fn resume_restores_the_model_and_the_mode_but_not_plan_mode() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("one"), Step::text("two"), Step::text("three")]));
    let first = stream_json(&project, &mock, "hi", &["--model", "haiku", "--permission-mode", "acceptEdits"]);
    result_of(&first);
    let model = mock.requests()[0].body["model"].clone();
    assert_ne!(model, json!("claude-sonnet-5"));

    let out = stream_json(&project, &mock, "again", &["-c"]);
    result_of(&out);
    assert_eq!(mock.requests()[1].body["model"], model, "the session's model");
    let init = &out.of_type("system")[0];
    assert_eq!(init["permissionMode"], "acceptEdits");

    let out = stream_json(&project, &mock, "plan it", &["-c", "--permission-mode", "plan", "--model", "sonnet"]);
    result_of(&out);
    assert_eq!(mock.requests()[2].body["model"], "claude-sonnet-5", "--model wins over the session's");
    let mock = MockLlm::start(Scenario::new(vec![Step::text("four")]));
    let out = stream_json(&project, &mock, "and now", &["-c"]);
    result_of(&out);
    let modes: Vec<Value> = out.of_type("system").iter().map(|l| l["permissionMode"].clone()).collect();
    assert!(!modes.contains(&json!("plan")), "plan mode is chosen again, never restored: {modes:?}");
}

#[test]
fn a_second_cairn_on_an_open_session_is_refused_and_offered_a_fork() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("first"), Step::text("forked")]));
    let mut holder = project.cairn(&mock);
    holder
        .args(["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"])
        .stdin(Stdio::piped());
    let mut child = spawn(holder);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, r#"{{"type":"user","message":{{"role":"user","content":"hold it"}}}}"#).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while transcripts(&project).is_empty()
        || !entries(&transcripts(&project)[0]).iter().any(|e| e["type"] == "cairn-turn")
    {
        assert!(std::time::Instant::now() < deadline, "the first session never finished its turn");
        std::thread::sleep(Duration::from_millis(20));
    }
    let path = transcripts(&project)[0].clone();
    let id = path.file_stem().unwrap().to_str().unwrap().to_owned();

    let refused = stream_json(&project, &mock, "me too", &["-r", &id]);
    assert_eq!(refused.code(), 1);
    assert!(refused.stderr.contains("open in another cairn process"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--fork-session"), "{}", refused.stderr);

    let forked = stream_json(&project, &mock, "me too", &["-r", &id, "--fork-session"]);
    assert_ne!(result_of(&forked)["session_id"], json!(id));

    drop(stdin);
    let out = finish(child);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    // Once the first is gone, the session opens again.
    let mock = MockLlm::start(Scenario::new(vec![Step::text("mine now")]));
    assert_eq!(result_of(&stream_json(&project, &mock, "now?", &["-r", &id]))["session_id"], json!(id));
}

#[test]
fn the_session_list_shows_titles_turns_and_cost_newest_first() {
    let project = Project::new();
    let mock = MockLlm::start(Scenario::new(vec![Step::text("a"), Step::text("b"), Step::text("c")]));
    let first = result_of(&stream_json(&project, &mock, "fix the flaky test", &[]));
    std::thread::sleep(Duration::from_millis(20));
    let second = result_of(&stream_json(&project, &mock, "write the changelog", &[]));
    result_of(&stream_json(&project, &mock, "and the date", &["-c"]));

    let mut cmd = project.bare_cairn();
    cmd.args(["sessions", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let list: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let ids: Vec<&Value> = list.iter().map(|s| &s["sessionId"]).collect();
    assert_eq!(ids, [&second["session_id"], &first["session_id"]], "newest first");
    assert_eq!(list[0]["firstPrompt"], "write the changelog");
    assert_eq!(list[0]["lastPrompt"], "and the date");
    assert_eq!(list[0]["turns"], 2);
    assert!(list[0]["costUsd"].as_f64().unwrap() > 0.0);

    let mut cmd = project.bare_cairn();
    cmd.arg("sessions");
    let table = run(cmd).stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SESSION") && lines[1].contains("write the changelog"), "{table}");
    assert!(lines[2].contains("fix the flaky test") && lines[2].contains("just now"), "{table}");

    // Other folders' sessions only with --all.
    let other = Project { dir: tempfile::tempdir().unwrap(), home: tempfile::tempdir().unwrap() };
    let mut cmd = other.bare_cairn();
    cmd.env("CAIRN_HOME", project.home.path()).args(["sessions", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&run(cmd).stdout).unwrap(), json!([]));
    let mut cmd = other.bare_cairn();
    cmd.env("CAIRN_HOME", project.home.path()).args(["sessions", "--all"]);
    let all = run(cmd).stdout;
    assert!(all.contains("fix the flaky test") && all.contains(&project.path().display().to_string()), "{all}");
}

const SENTINEL: &str = "sk-ant-sentinel-7f3a9c1e5b2d";

#[test]
fn a_sentinel_key_reaches_no_file_after_tools_errors_and_retries() {
    let project = Project::new();
    let big = "x".repeat(40_000);
    let mock = MockLlm::start(Scenario::new(vec![
        Step::fault(Fault::Http {
            status: 529,
            retry_after: Some("0".into()),
            retry_after_ms: None,
            should_retry: None,
            error_type: None,
            message: Some(format!("overloaded (key {SENTINEL})")),
        }),
        Step::tools(&[
            ("Bash", json!({"command": "env; echo key=$ANTHROPIC_API_KEY; printenv > env.txt"})),
            ("Bash", json!({"command": format!("echo {big}; env")})),
            ("Bash", json!({"command": "env > bg.txt; sleep 0.2", "run_in_background": true})),
        ]),
        Step::text(&format!("I will not repeat your key {SENTINEL}.")),
        Step::fault(Fault::Http {
            status: 401,
            retry_after: None,
            retry_after_ms: None,
            should_retry: None,
            error_type: None,
            message: Some(format!("invalid x-api-key {SENTINEL}")),
        }),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.env("ANTHROPIC_API_KEY", SENTINEL).env("CAIRN_MAX_RETRIES", "2").args(["--allowedTools", "Bash"]);
    let out = run_turns(cmd, &["look around", "and again"]);
    let results = out.of_type("result");
    assert_eq!(results.len(), 2, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(results[1]["is_error"], true, "the 401 ended the second turn");

    let transcript = &transcripts(&project)[0];
    let text = std::fs::read_to_string(transcript).unwrap();
    assert!(text.contains("[REDACTED]"), "the key the model repeated was redacted");
    assert!(text.contains("api_error"), "the error was recorded");
    let spills = transcript.with_extension("").join("tool-results");
    assert!(std::fs::read_dir(&spills).map(|d| d.count()).unwrap_or(0) > 0, "the long output was spilled");
    for root in [project.home.path(), project.path()] {
        for file in walk(root) {
            let bytes = std::fs::read(&file).unwrap();
            let found = bytes.windows(SENTINEL.len()).any(|w| w == SENTINEL.as_bytes());
            assert!(!found, "the key is in {}", file.display());
        }
    }
}

#[test]
fn the_key_in_use_never_reaches_the_model_the_screen_or_the_disk() {
    // Every way a command, a tool or a hook can print cairn's own environment.
    let project = Project::new();
    // The sandbox refuses a command another process's environment outright (sandbox.rs
    // tries it); without it, the redaction is what stands, and that is tested here.
    let hook = json!({"sandbox": {"enabled": false}, "hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command",
        "command": "tr '\\0' '\\n' < /proc/$PPID/environ | grep SENTINEL_HOLDER"}]}]}});
    project.write(".claude/settings.local.json", &hook.to_string());
    let environ = "tr '\\0' '\\n' < /proc/$PPID/environ";
    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[
            ("Bash", json!({"command": environ})),
            ("Bash", json!({"command": "ps eww -p $PPID"})),
            ("Read", json!({"file_path": "/proc/self/environ"})),
            ("Bash", json!({"command": format!("{environ}; sleep 0.3"), "run_in_background": true})),
        ]),
        Step::tool("BashOutput", json!({"bash_id": "bash_1", "block": true})),
        Step::text("done"),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.env("ANTHROPIC_API_KEY", SENTINEL).env("SENTINEL_HOLDER", SENTINEL).args([
        "-p",
        "show me everything",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        "bypassPermissions",
    ]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    let results = tool_results(&mock.requests()[1].body);
    assert!(results[0].1.contains("ANTHROPIC_API_KEY=[REDACTED]"), "the command did print it: {results:?}");
    let logged = tool_results(&mock.requests()[2].body);
    assert!(logged.last().unwrap().1.contains("ANTHROPIC_API_KEY=[REDACTED]"), "the background log: {logged:?}");
    for request in mock.requests() {
        let body = request.body.to_string();
        assert!(!body.contains(SENTINEL), "the model saw the key in request {}", request.index);
    }
    assert!(mock.requests()[0].body.to_string().contains("SENTINEL_HOLDER=[REDACTED]"), "the hook's output, redacted");
    assert!(!out.stdout.contains(SENTINEL) && !out.stderr.contains(SENTINEL), "the screen saw the key");
    for root in [project.home.path(), project.path()] {
        for file in walk(root) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !bytes.windows(SENTINEL.len()).any(|w| w == SENTINEL.as_bytes()),
                "the key is in {}",
                file.display()
            );
        }
    }
}

#[test]
fn an_api_error_that_echoes_the_key_shows_it_redacted() {
    let project = Project::claude_user();
    let mock = MockLlm::start(Scenario::new(vec![Step::fault(Fault::Http {
        status: 401,
        retry_after: None,
        retry_after_ms: None,
        should_retry: None,
        error_type: Some("authentication_error".into()),
        message: Some(format!("invalid x-api-key: {SENTINEL}")),
    })]));
    let mut cmd = project.cairn(&mock);
    cmd.env("ANTHROPIC_API_KEY", SENTINEL).args(["-p", "hi", "--output-format", "json"]);
    let out = run(cmd);
    assert_eq!(out.code(), 1);
    assert!(out.stdout.contains("invalid x-api-key: [REDACTED]"), "{}", out.stdout);
    assert!(!out.stdout.contains(SENTINEL) && !out.stderr.contains(SENTINEL));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

const CC_FIXTURE: &str = "tests/fixtures/transcripts/claude-code-2.1.39-parallel-tools.jsonl";

#[test]
fn a_claude_code_transcript_resumes_by_path_with_its_parallel_results() {
    let project = Project::new();
    let copy = project.path().join("cc-session.jsonl");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(CC_FIXTURE), &copy).unwrap();

    let mock = MockLlm::start(Scenario::new(vec![Step::text("Picking up where Claude Code left off.")]));
    let out = stream_json(&project, &mock, "carry on", &["--resume", copy.to_str().unwrap()]);
    let result = result_of(&out);
    assert_eq!(result["session_id"], "4d5611e5-241a-462a-8d15-5122611a9569", "its own id is kept");
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let body = &mock.requests()[0].body;
    assert_eq!(body["model"], "claude-opus-4-6", "the session's model");
    assert_eq!(
        conversation(body),
        [
            "user: Work on bead spotter-dov. Run bd show spotter-dov to see the issue details and bd ready to find \
             available subtasks. Start with the first ready task.",
            "assistant: thinking",
            "assistant: tool_use toolu_01UwLnYYWGBvukzh1QE6JpfM",
            "assistant: tool_use toolu_01EqSqHoE2fyTCuK5BJ3azkA",
            // The first result hangs off its own call, not the main chain: found and put back.
            "user: tool_result toolu_01UwLnYYWGBvukzh1QE6JpfM",
            "user: tool_result toolu_01EqSqHoE2fyTCuK5BJ3azkA",
            "assistant: tool_use toolu_019EkNmfE4exE11xktmWLjkX",
            // Its result is the torn last line: answered as interrupted.
            "user: tool_result toolu_019EkNmfE4exE11xktmWLjkX (error)",
            "user: carry on",
        ]
        .map(String::from)
    );
    let init = &out.of_type("system")[0];
    assert_eq!(init["permissionMode"], "default", "bypassPermissions is never restored");
    // cairn appended to the same file, on a line of its own after the torn one.
    let lines: Vec<String> = std::fs::read_to_string(&copy).unwrap().lines().map(String::from).collect();
    assert_eq!(lines.len(), 29 + 3, "prompt, answer and turn summary appended");
    assert!(serde_json::from_str::<Value>(&lines[29]).unwrap()["message"]["content"] == "carry on");
    assert_eq!(
        serde_json::from_str::<Value>(&lines[29]).unwrap()["parentUuid"],
        "93cd9884-145f-42c7-bcdb-df479a982660"
    );

    // And again: the file with cairn's entries in it resumes too.
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Again.")]));
    result_of(&stream_json(&project, &mock, "once more", &["-r", copy.to_str().unwrap()]));
    let sent = conversation(&mock.requests()[0].body);
    assert_eq!(
        sent[sent.len() - 3..],
        ["user: carry on", "assistant: Picking up where Claude Code left off.", "user: once more"].map(String::from)
    );
}

/// A tiny seeded generator (xorshift64*), so every run of the test kills at the same points.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A session of `turns` prompts, each a tool call (a file written) then an answer, paced so
/// that a kill lands anywhere: mid-stream, mid-tool, between turns.
fn paced_session(prefix: &str, turns: usize) -> Scenario {
    let mut steps = Vec::new();
    for t in 0..turns {
        let mut tool =
            Step::tools(&[("Bash", json!({"command": format!("echo {prefix}{t} >> log.txt; sleep 0.0{}", t % 3)}))])
                .with_text(&format!("Working on {prefix}{t}."))
                .with_delay_ms(2);
        tool.tool_calls[0].id = Some(format!("toolu_{prefix}{t}"));
        steps.push(tool);
        steps.push(Step::text(&format!("answer {prefix}{t}")).with_delay_ms(2));
    }
    Scenario::new(steps)
}

/// Runs a `paced_session` as stream-json input and SIGKILLs it `kill_after` its first
/// request; returns
/// the final answers of the turns it reported complete.
fn run_and_kill(project: &Project, prefix: &str, turns: usize, resume: bool, kill_after: Duration) -> Vec<String> {
    let mock = MockLlm::start(paced_session(prefix, turns));
    let mut cmd = project.cairn(&mock);
    cmd.args(["--allowedTools", "Bash"]);
    if resume {
        cmd.arg("-c");
    }
    let prompts: Vec<String> = (0..turns).map(|t| format!("prompt {prefix}{t}")).collect();
    let mut child = spawn_turns(cmd, &prompts);
    // Timed from the first request, not from the spawn: on a loaded machine the start alone
    // can take longer than the whole window, and every kill would land before the session.
    mock.wait_for_requests(1, Duration::from_secs(20));
    std::thread::sleep(kill_after);
    let _ = child.kill();
    let out = finish(child);
    let lines: Vec<Value> = out.stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect();
    // Every tool result a front end was shown is in the transcript already.
    let on_disk: String = transcripts(project).iter().map(|t| std::fs::read_to_string(t).unwrap()).collect();
    for line in lines.iter().filter(|l| l["type"] == "user") {
        for block in line["message"]["content"].as_array().into_iter().flatten() {
            if let Some(id) = block["tool_use_id"].as_str() {
                assert!(on_disk.contains(&format!("\"tool_use_id\":\"{id}\"")), "{id} was shown but not written");
            }
        }
    }
    lines
        .iter()
        .filter(|l| l["type"] == "result" && l["is_error"] == false)
        .map(|l| l["result"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn sigkill_at_random_points_never_loses_a_completed_turn_or_a_resumable_session() {
    let mut rng = Rng(0x00c0_ffee_d00d_f00d);
    let runs = 50;
    let mut killed_mid_turn = 0;
    for run_index in 0..runs {
        let project = Project::new();
        // A session killed anywhere, then a resume of it killed anywhere too…
        let mut completed = run_and_kill(&project, "a", 3, false, Duration::from_millis(rng.below(260)));
        if transcripts(&project).is_empty() {
            assert!(completed.is_empty(), "run {run_index}: turns completed but nothing on disk");
            continue;
        }
        if completed.len() < 3 {
            killed_mid_turn += 1;
        }
        completed.extend(run_and_kill(&project, "b", 2, true, Duration::from_millis(rng.below(200))));

        // …then a last resume must work, with every completed turn in what it sends.
        let mock = MockLlm::start(Scenario::new(vec![Step::text("all there")]));
        let out = stream_json(&project, &mock, "final check", &["-c"]);
        assert_eq!(out.code(), 0, "run {run_index}: the resume failed\n{}\n{}", out.stdout, out.stderr);
        assert!(mock.history_problems().is_empty(), "run {run_index}: {:?}", mock.history_problems());
        let sent = conversation(&mock.requests()[0].body);
        for answer in &completed {
            assert!(sent.contains(&format!("assistant: {answer}")), "run {run_index}: lost {answer:?} in {sent:#?}");
        }
        assert_eq!(sent.last().map(String::as_str), Some("user: final check"));
        assert_eq!(transcripts(&project).len(), 1, "run {run_index}: one session, one file");
    }
    assert!(killed_mid_turn >= runs / 4, "the kills should land mid-session often ({killed_mid_turn} of {runs})");
}

#[test]
fn an_unwritable_home_is_reported_once_and_the_work_goes_on() {
    let project = Project::new();
    let home_file = project.write("not-a-folder", "");
    let mock = MockLlm::start(Scenario::new(vec![Step::text("one"), Step::text("two")]));
    let mut cmd = project.cairn(&mock);
    cmd.env("CAIRN_HOME", &home_file);
    let out = run_turns(cmd, &["first", "second"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let answers: Vec<Value> = out.of_type("result").iter().map(|r| r["result"].clone()).collect();
    assert_eq!(answers, [json!("one"), json!("two")]);
    assert_eq!(out.stderr.matches("The session is not being saved").count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("could not create the transcript"), "{}", out.stderr);
}
