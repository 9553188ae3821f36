//! Running one hook command: `sh -c` (or the program itself, for the `args` form) in the
//! session's folder, in a process group of its own, with the event's JSON on stdin and the
//! environment hooks expect (`CLAUDE_PROJECT_DIR`, `CAIRN_PROJECT_DIR`, `CLAUDECODE=1`, the
//! settings' `env`). Its output is kept up to a limit; at the timeout the whole group is
//! killed, so a hook that starts children cannot outlive its budget.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::Program;
use super::outcome::Outcome;

/// Output kept per stream; more is cut.
const MAX_OUTPUT: usize = 1 << 20;

pub(super) struct Run {
    pub program: Program,
    pub cwd: PathBuf,
    pub project_dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub stdin: Arc<Vec<u8>>,
    pub timeout: Duration,
}

impl Run {
    pub async fn start(self) -> Outcome {
        let started = Instant::now();
        let display = self.program.display();
        let mut command = match &self.program {
            Program::Shell(script) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(script);
                c
            }
            Program::Exec(args) => {
                let mut c = Command::new(&args[0]);
                c.args(&args[1..]);
                c
            }
        };
        let project = self.project_dir.display().to_string();
        command
            .current_dir(&self.cwd)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("CLAUDE_PROJECT_DIR", &project)
            .env("CAIRN_PROJECT_DIR", &project)
            .env("CLAUDECODE", "1")
            .env("CAIRN", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return Outcome::failed(display, format!("could not start: {e}")),
        };
        let group = child.id().and_then(|id| i32::try_from(id).ok()).and_then(Pid::from_raw);
        let mut stdin = child.stdin.take();
        let input = Arc::clone(&self.stdin);
        let feed = async move {
            if let Some(stdin) = stdin.as_mut() {
                // A hook that never reads its input must not stop us.
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
            }
        };
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let read = |stream: Option<tokio::process::ChildStdout>| async move {
            let mut out = Vec::new();
            if let Some(stream) = stream {
                let _ = stream.take(MAX_OUTPUT as u64).read_to_end(&mut out).await;
            }
            String::from_utf8_lossy(&out).into_owned()
        };
        let read_err = |stream: Option<tokio::process::ChildStderr>| async move {
            let mut out = Vec::new();
            if let Some(stream) = stream {
                let _ = stream.take(MAX_OUTPUT as u64).read_to_end(&mut out).await;
            }
            String::from_utf8_lossy(&out).into_owned()
        };
        let work = async {
            let (_, out, err, status) = tokio::join!(feed, read(stdout.take()), read_err(stderr.take()), child.wait());
            (out, err, status)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok((stdout, stderr, Ok(status))) => {
                Outcome::finished(display, status.code(), stdout, stderr, started.elapsed())
            }
            Ok((_, _, Err(e))) => Outcome::failed(display, format!("waiting for it failed: {e}")),
            Err(_) => {
                if let Some(group) = group {
                    let _ = kill_process_group(group, Signal::KILL);
                }
                Outcome::failed(display, format!("timed out after {} s and was stopped", self.timeout.as_secs_f64()))
            }
        }
    }
}
