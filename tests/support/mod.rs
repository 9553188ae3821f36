//! Test support: a temp project with its own `CAIRN_HOME`, the built `cairn` binary pointed
//! at a [`MockLlm`], and helpers to run it with a deadline and read its output.

#[allow(dead_code)] // shared with the examples and benches, which use other parts
pub mod mock_llm;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

pub use mock_llm::{Fault, MockLlm, Page, Scenario, Step};

/// The tools cairn offers the model, in order.
pub const BUILTIN_TOOLS: [&str; 17] = [
    "Bash",
    "BashOutput",
    "KillShell",
    "Glob",
    "Grep",
    "LS",
    "Read",
    "Edit",
    "MultiEdit",
    "Write",
    "WebFetch",
    "TodoWrite",
    "AskUserQuestion",
    "ExitPlanMode",
    "Skill",
    "Task",
    "SendMessage",
];

/// No test run may take longer than this; a hang is a failure, not a stuck CI job.
const DEADLINE: Duration = Duration::from_secs(60);

pub struct Project {
    pub dir: TempDir,
    pub home: TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project { dir: tempfile::tempdir().unwrap(), home: tempfile::tempdir().unwrap() }
    }

    /// A project set up as a Claude Code user's: a git repository with `CLAUDE.md` and a
    /// `.claude/` folder (settings, a command, an agent), and a user folder `~/.claude/` with
    /// its own settings, command and memory. Where a bug that only shows in a real project
    /// is met first.
    pub fn claude_user() -> Project {
        let project = Project::new();
        project.write("CLAUDE.md", "# Project\nRun `make test` before committing.\n");
        project.write("src/main.rs", "fn main() {\n    println!(\"hello\");\n}\n");
        project.write(
            ".claude/settings.json",
            &serde_json::json!({"permissions": {"allow": ["Bash(git status:*)", "Bash(make test)"], "deny": ["Read(./.env)"]}})
                .to_string(),
        );
        project.write(".claude/commands/review.md", "---\ndescription: Review the diff\n---\nReview $ARGUMENTS.\n");
        project.write(".claude/agents/tester.md", "---\nname: tester\ndescription: Runs tests\n---\nRun the tests.\n");
        let user = project.home.path().join(".claude");
        std::fs::create_dir_all(user.join("commands")).unwrap();
        std::fs::write(user.join("settings.json"), r#"{"permissions": {"allow": ["Bash(ls:*)"]}}"#).unwrap();
        std::fs::write(user.join("commands/hello.md"), "Say hello to $ARGUMENTS.\n").unwrap();
        std::fs::write(user.join("CLAUDE.md"), "Prefer short answers.\n").unwrap();
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .current_dir(project.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q"]);
        git(&["add", "-A"]);
        git(&["commit", "-qm", "init"]);
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the project (as a test user); fails the test if git does.
    pub fn git(&self, args: &[&str]) {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn file(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.file(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, content).unwrap();
        path
    }

    /// `cairn` in this project, talking to the mock through `ANTHROPIC_BASE_URL`, with no
    /// key or setting of the developer's machine leaking in.
    pub fn cairn(&self, mock: &MockLlm) -> Command {
        let mut cmd = self.bare_cairn();
        cmd.env("ANTHROPIC_API_KEY", "test-key").env("ANTHROPIC_BASE_URL", mock.url());
        cmd
    }

    /// `cairn` with a clean environment and no provider configured.
    pub fn bare_cairn(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
        for var in [
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "ANTHROPIC_BASE_URL",
            "ANTHROPIC_MODEL",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "OPENAI_MODEL",
            "CAIRN_PROVIDER",
            "CAIRN_MAX_RETRIES",
            "CAIRN_STREAM_IDLE_TIMEOUT_MS",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
            "NO_PROXY",
            "no_proxy",
            "CLAUDE_CONFIG_DIR",
            "MAX_THINKING_TOKENS",
            "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
        ] {
            cmd.env_remove(var);
        }
        // The developer's own settings (~/.claude, /etc) must not leak in.
        cmd.env("CAIRN_HOME", self.home.path())
            .env("HOME", self.home.path())
            .env("CAIRN_MANAGED_SETTINGS", self.home.path().join("managed-settings.json"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }
}

/// A user who wants to be asked about commands even in the sandbox: cairn runs sandboxed
/// commands without asking by default (`autoAllowBashIfSandboxed`), so a test of the
/// questions themselves sets this in the user's own cairn settings (read even where
/// `claudeCompat: false` leaves `~/.claude` out).
pub fn ask_about_commands(project: &Project) {
    let path = project.home.path().join("settings.json");
    let mut settings: Value =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| json!({}));
    settings["sandbox"] = json!({"autoAllowBashIfSandboxed": false});
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, settings.to_string()).unwrap();
}

pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// stdout as JSON lines (stream-json).
    pub fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", self.stderr)))
            .collect()
    }

    /// The last `result` object (json or stream-json output).
    pub fn result(&self) -> Value {
        self.lines()
            .into_iter()
            .rev()
            .find(|l| l["type"] == "result")
            .unwrap_or_else(|| panic!("no result line in:\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    /// Lines of one `type` (and `subtype`, if given).
    pub fn of_type(&self, kind: &str) -> Vec<Value> {
        self.lines().into_iter().filter(|l| l["type"] == kind).collect()
    }
}

/// Spawns the command with piped output; the returned child is read by [`finish`].
pub fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Waits (at most [`DEADLINE`]) and collects the output; a run past the deadline is killed
/// and fails the test with what it printed.
/// (A stream the caller took already reads as empty.)
pub fn finish(mut child: Child) -> Run {
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut stdout) = stdout {
            stdout.read_to_string(&mut s).unwrap();
        }
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut stderr) = stderr {
            stderr.read_to_string(&mut s).unwrap();
        }
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cairn ran past {DEADLINE:?}\nstdout:\n{}\nstderr:\n{}", out.join().unwrap(), err.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

pub fn run(cmd: Command) -> Run {
    finish(spawn(cmd))
}

/// Runs the command with `input` on its standard input (written from a thread, so a full
/// output pipe cannot deadlock it).
pub fn run_with_stdin(mut cmd: Command, input: &str) -> Run {
    cmd.stdin(Stdio::piped());
    let mut child = spawn(cmd);
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = finish(child);
    writer.join().unwrap();
    out
}

/// Runs `cairn -p PROMPT --output-format stream-json --verbose ARGS…`.
pub fn stream_json(project: &Project, mock: &MockLlm, prompt: &str, args: &[&str]) -> Run {
    let mut cmd = project.cairn(mock);
    cmd.args(["-p", prompt, "--output-format", "stream-json", "--verbose"]).args(args);
    run(cmd)
}

/// The text of every tool result in a request body, in order (Anthropic shape).
pub fn tool_results(body: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for message in body["messages"].as_array().into_iter().flatten() {
        for block in message["content"].as_array().into_iter().flatten() {
            if block["type"] == "tool_result" {
                let text = match &block["content"] {
                    Value::String(s) => s.clone(),
                    Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
                    _ => String::new(),
                };
                out.push((
                    block["tool_use_id"].as_str().unwrap_or_default().to_owned(),
                    text,
                    block["is_error"].as_bool().unwrap_or(false),
                ));
            }
        }
    }
    out
}

/// Runs `cairn -p` on a model that makes `calls` in one response, then says "done";
/// returns the run and each call's (id, text, is_error), in call order.
pub fn run_calls(project: &Project, calls: &[(&str, Value)], args: &[&str]) -> (Run, Vec<(String, String, bool)>) {
    let mock = MockLlm::start(Scenario::new(vec![Step::tools(calls), Step::text("done")]));
    let out = stream_json(project, &mock, "go", args);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    let requests = mock.requests();
    assert!(mock.history_problems().is_empty(), "{:?}", mock.history_problems());
    let results = tool_results(&requests[1].body);
    assert_eq!(results.len(), calls.len());
    (out, results)
}

/// Each step's tool results, for a scenario of several tool-calling responses.
pub fn results_per_request(mock: &MockLlm) -> Vec<Vec<(String, String, bool)>> {
    let requests = mock.requests();
    let mut seen = 0;
    requests
        .iter()
        .skip(1)
        .map(|r| {
            let all = tool_results(&r.body);
            let new = all[seen..].to_vec();
            seen = all.len();
            new
        })
        .collect()
}

/// The file called `name` somewhere under `dir`.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

/// The SHA-256 of `bytes`, in hex (how the checkpoint store names a version).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A script each of `n` concurrent agents runs: it leaves its mark in `marks/`, then waits
/// (up to 20 s) for the others' and prints `met` — or `alone`, as one run after the other
/// would.
pub fn rendezvous(n: usize) -> String {
    format!(
        r#"
import os, sys, time
os.makedirs("marks", exist_ok=True)
open(f"marks/{{os.getpid()}}", "w").close()
deadline = time.time() + 20
while time.time() < deadline:
    if len(os.listdir("marks")) >= {n}:
        print("met"); sys.exit(0)
    time.sleep(0.02)
print("alone")
"#
    )
}
