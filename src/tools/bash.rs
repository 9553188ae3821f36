//! `Bash`: one command in a non-interactive shell that can never hang the agent.
//!
//! Each command runs as `bash -c` in its own process group with stdin closed and pagers and
//! editors disabled; a timeout or an interrupt stops the whole group (TERM, then KILL), and a
//! dropped call kills it too. Output is captured up to a cap; what the model reads keeps the
//! head and the tail and says what was cut. Background shells, output spilling and the
//! persistent working directory arrive in issue [2/8].

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::{Tool, ToolContext, ToolError, ToolKind, ToolOutput};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120); // what long builds need
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// What the model reads at most; the middle of longer output is cut.
pub const MAX_OUTPUT_CHARS: usize = 30_000;
/// What is kept in memory per stream; beyond this bytes are counted and dropped.
const CAPTURE_CAP: usize = 16 << 20;
/// How long to wait for pipes after the shell exits: a background job may hold them open.
const PIPE_GRACE: Duration = Duration::from_millis(200);
/// Between TERM and KILL when stopping a command.
const KILL_GRACE: Duration = Duration::from_millis(500);

pub struct Bash;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BashInput {
    /// The command to run.
    pub command: String,
    /// Timeout in milliseconds (default 120000, at most 600000).
    #[serde(default)]
    pub timeout: Option<u64>,
    /// What the command does, in 5-10 words.
    #[serde(default)]
    pub description: Option<String>,
}

enum Ending {
    Exited(std::process::ExitStatus),
    TimedOut,
    Interrupted,
}

impl Tool for Bash {
    type Input = BashInput;
    const NAME: &'static str = "Bash";
    const DESCRIPTION: &'static str = include_str!("../../tools/Bash.md");
    const KIND: ToolKind = ToolKind::Mutating;

    async fn call(&self, input: BashInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let timeout =
            input.timeout.map_or(DEFAULT_TIMEOUT, Duration::from_millis).clamp(Duration::from_millis(1), MAX_TIMEOUT);
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(&input.command)
            .current_dir(&ctx.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PAGER", "cat")
            .env("GIT_PAGER", "cat")
            .env("GIT_EDITOR", "true")
            .env("EDITOR", "true")
            .env("VISUAL", "true")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("CAIRN", "1")
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ToolError::Failed(format!("Could not start bash: {e}")))?;
        let group = ProcessGroup::new(child.id());
        let stdout = Capture::start(child.stdout.take());
        let stderr = Capture::start(child.stderr.take());

        let ending = tokio::select! {
            status = child.wait() => match status {
                Ok(status) => Ending::Exited(status),
                Err(e) => return Err(ToolError::Failed(format!("Waiting for the command failed: {e}"))),
            },
            () = tokio::time::sleep(timeout) => Ending::TimedOut,
            () = ctx.cancel.cancelled() => Ending::Interrupted,
        };
        match ending {
            Ending::Exited(_) => group.release(),
            Ending::TimedOut | Ending::Interrupted => {
                // TERM first so the command can clean up; KILL whatever is left once it has
                // exited or the grace period is over.
                group.signal(Signal::TERM);
                let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
                group.signal(Signal::KILL);
                let _ = child.wait().await;
            }
        }
        let (stdout, stderr) = tokio::join!(stdout.finish(), stderr.finish());
        Ok(report(&ending, &stdout, &stderr, timeout))
    }
}

fn report(ending: &Ending, stdout: &str, stderr: &str, timeout: Duration) -> ToolOutput {
    let mut body = String::new();
    body.push_str(stdout.trim_end_matches('\n'));
    if !stderr.trim().is_empty() {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(stderr.trim_end_matches('\n'));
    }
    let body = truncate_middle(&body, MAX_OUTPUT_CHARS);
    let (text, is_error, interrupted, code) = match ending {
        Ending::Exited(status) => match status.code() {
            Some(0) => (if body.is_empty() { "(no output)".to_owned() } else { body }, false, false, Some(0)),
            Some(code) => (format!("Exit code {code}\n{body}"), true, false, Some(code)),
            None => (format!("The command was killed by a signal\n{body}"), true, false, None),
        },
        Ending::TimedOut => (
            format!(
                "Command timed out after {} s and was stopped, with every process it started. \
                 Output so far:\n{body}\nIf it needs longer, pass a larger timeout (at most 600000 ms).",
                timeout.as_secs_f64()
            ),
            true,
            true,
            None,
        ),
        Ending::Interrupted => (format!("Interrupted by the user. Output so far:\n{body}"), true, true, None),
    };
    let structured = json!({
        "stdout": truncate_middle(stdout, MAX_OUTPUT_CHARS),
        "stderr": truncate_middle(stderr, MAX_OUTPUT_CHARS),
        "interrupted": interrupted,
        "isImage": false,
        "noOutputExpected": false,
        "exitCode": code,
    });
    ToolOutput { is_error, ..ToolOutput::text(text) }.with_structured(structured)
}

/// Keeps the head and the tail of long text and says what was cut between them.
pub fn truncate_middle(text: &str, max_chars: usize) -> String {
    let total = text.chars().count();
    if total <= max_chars {
        return text.to_owned();
    }
    let half = max_chars / 2;
    let head_end = text.char_indices().nth(half).map_or(text.len(), |(i, _)| i);
    let tail_start = text.char_indices().nth(total - half).map_or(text.len(), |(i, _)| i);
    let cut = &text[head_end..tail_start];
    format!(
        "{}\n\n… [{} lines, {} characters cut from the middle of the output] …\n\n{}",
        &text[..head_end],
        cut.lines().count(),
        total - 2 * half,
        &text[tail_start..]
    )
}

/// A command's process group, killed when it is stopped or the call is dropped.
struct ProcessGroup(Option<Pid>);

impl ProcessGroup {
    fn new(pid: Option<u32>) -> ProcessGroup {
        ProcessGroup(pid.and_then(|p| i32::try_from(p).ok()).and_then(Pid::from_raw))
    }

    /// The command ended by itself: leave anything it put in the background alone.
    fn release(mut self) {
        self.0 = None;
    }

    fn signal(&self, signal: Signal) {
        if let Some(pid) = self.0 {
            let _ = kill_process_group(pid, signal);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

/// Reads one output pipe in the background into a shared, capped buffer.
struct Capture {
    buffer: Arc<Mutex<Vec<u8>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Capture {
    fn start(pipe: Option<impl AsyncRead + Unpin + Send + 'static>) -> Capture {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let task = pipe.map(|mut pipe| {
            let buffer = Arc::clone(&buffer);
            tokio::spawn(async move {
                let mut chunk = vec![0u8; 64 * 1024];
                while let Ok(n) = pipe.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    let Ok(mut buf) = buffer.lock() else { break };
                    let room = CAPTURE_CAP.saturating_sub(buf.len());
                    buf.extend_from_slice(&chunk[..n.min(room)]);
                }
            })
        });
        Capture { buffer, task }
    }

    /// Waits briefly for the pipe to close, then takes what was read.
    async fn finish(mut self) -> String {
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(PIPE_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        let bytes = self.buffer.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_head_and_tail_and_counts_the_cut() {
        let text: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        let cut = truncate_middle(&text, 1000);
        assert!(cut.starts_with("line 0\n"));
        assert!(cut.trim_end().ends_with("line 9999"));
        assert!(cut.contains("characters cut from the middle"));
        assert!(cut.chars().count() < 1200);
        assert_eq!(truncate_middle("short", 10), "short");
    }
}
