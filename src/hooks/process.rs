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

/// How long the output pipes may stay open once the hook's process has exited.
const PIPE_GRACE: Duration = Duration::from_millis(200);

/// Reads a stream into `buffer` (at most [`MAX_OUTPUT`] bytes kept) until it closes.
async fn collect(stream: Option<impl tokio::io::AsyncRead + Unpin>, buffer: Arc<std::sync::Mutex<Vec<u8>>>) {
    let Some(mut stream) = stream else { return };
    let mut chunk = [0u8; 8192];
    while let Ok(n) = stream.read(&mut chunk).await {
        if n == 0 {
            return;
        }
        let mut kept = buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let room = MAX_OUTPUT.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
}

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
            Program::Callback(_) => return Outcome::failed(display, "no host program to run it".into()),
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
        // A hook that never reads its input (or leaves a child holding it) must not stop us.
        let feed = tokio::spawn(async move {
            if let Some(stdin) = stdin.as_mut() {
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
            }
        });
        // Read into buffers of our own, so what arrived is kept when the reading stops.
        let out = Arc::new(std::sync::Mutex::new(Vec::new()));
        let err = Arc::new(std::sync::Mutex::new(Vec::new()));
        let out_task = tokio::spawn(collect(child.stdout.take(), Arc::clone(&out)));
        let err_task = tokio::spawn(collect(child.stderr.take(), Arc::clone(&err)));
        let tasks = [out_task.abort_handle(), err_task.abort_handle(), feed.abort_handle()];
        let work = async {
            let status = child.wait().await;
            feed.abort();
            // The hook is done when its own process exits. A child it left in the background
            // may hold the pipes open for as long as it runs: give them a moment to drain.
            let drained = async {
                let _ = out_task.await;
                let _ = err_task.await;
            };
            let _ = tokio::time::timeout(PIPE_GRACE, drained).await;
            tasks.iter().for_each(tokio::task::AbortHandle::abort);
            let text = |buffer: &std::sync::Mutex<Vec<u8>>| {
                String::from_utf8_lossy(&buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
            };
            (text(&out), text(&err), status)
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
                tasks.iter().for_each(tokio::task::AbortHandle::abort);
                Outcome::failed(display, format!("timed out after {} s and was stopped", self.timeout.as_secs_f64()))
            }
        }
    }
}
