//! The user's own status line (`statusLine` in settings): a command that gets the session's
//! state as JSON on stdin and prints the line to show, as in Claude Code. It runs when the
//! state changes (never more than one at a time), gets two seconds, and its first line,
//! escapes removed, replaces the built-in status line.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::tools::bash::capture::strip_ansi;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the command with `input`; `None` if it failed, timed out or printed nothing.
pub async fn run(command: String, input: Value, cwd: PathBuf) -> Option<String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let mut stdout = child.stdout.take()?;
    let work = async move {
        let _ = stdin.write_all(input.to_string().as_bytes()).await;
        drop(stdin);
        let mut out = Vec::new();
        let _ = (&mut stdout).take(64 * 1024).read_to_end(&mut out).await;
        let _ = child.wait().await;
        out
    };
    let out = tokio::time::timeout(TIMEOUT, work).await.ok()?;
    let text = String::from_utf8_lossy(&out);
    let line = strip_ansi(text.lines().next()?).trim_end().to_owned();
    (!line.trim().is_empty()).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn the_first_line_without_escapes() {
        let dir = std::env::temp_dir();
        let line =
            run("read x; printf '\\033[32m%s\\033[0m\\nsecond\\n' \"$x\"".into(), json!({"a": 1}), dir.clone()).await;
        assert_eq!(line.as_deref(), Some("{\"a\":1}"));
        assert_eq!(run("exit 1".into(), json!({}), dir.clone()).await, None);
        assert_eq!(run("sleep 5".into(), json!({}), dir).await, None);
    }
}
