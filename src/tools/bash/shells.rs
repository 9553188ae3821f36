//! Every process group cairn starts, and the background shells among them.
//!
//! `Bash` with `run_in_background` starts a managed shell: its own process group, its
//! output written to a log file (credentials redacted on the way, at most
//! [`MAX_LOG_BYTES`]), its exit recorded. `BashOutput` (alias
//! `TaskOutput`) reads what is new in the log, optionally filtered; `KillShell` (aliases
//! `TaskStop`, `KillBash`) ends it. Foreground commands register their group here too, so
//! [`ShellRegistry::kill_all`] — called on every way out of cairn, and when the registry is
//! dropped — leaves nothing running.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use regex::Regex;
use rustix::process::{Pid, Signal, kill_process_group};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::capture::{MAX_OUTPUT_CHARS, strip_ansi};
use super::{KILL_GRACE, shell_command, truncate_middle};
use crate::tools::SessionState;
use crate::tools::state::lock;
use crate::tools::{Approval, Tool, ToolContext, ToolError, ToolKind, ToolOutput};

/// A background shell's log, at most: a server left running for days cannot fill the disk.
pub const MAX_LOG_BYTES: u64 = 64 << 20;

/// Copies a shell's output into its log, redacted, until the pipe closes or the log is full.
fn pump_to_log(reader: std::io::PipeReader, mut log: std::fs::File, mut redactor: crate::secrets::StreamRedactor) {
    use std::io::Write as _;
    use tokio::io::AsyncReadExt as _;
    let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(std::os::fd::OwnedFd::from(reader)) else {
        return;
    };
    tokio::spawn(async move {
        let mut written: u64 = 0;
        let mut chunk = vec![0u8; 64 * 1024];
        while let Ok(n) = pipe.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            if written < MAX_LOG_BYTES {
                let part = redactor.push(&chunk[..n]);
                written += part.len() as u64;
                if log.write_all(&part).is_err() {
                    break;
                }
                if written >= MAX_LOG_BYTES {
                    let _ = writeln!(
                        log,
                        "\n[cairn: the log reached {} MiB; later output is not kept]",
                        MAX_LOG_BYTES >> 20
                    );
                }
            }
        }
        let _ = log.write_all(&redactor.finish());
    });
}

#[derive(Default)]
pub struct ShellRegistry {
    next_id: AtomicU32,
    background: Mutex<BTreeMap<String, Arc<BackgroundShell>>>,
    /// Groups of foreground commands still running.
    foreground: Mutex<HashSet<i32>>,
    /// Ctrl-B: the commands running in the foreground move to the background.
    pub detach: tokio::sync::Notify,
}

/// How a background shell ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellStatus {
    Running,
    Exited(i32),
    Signalled(i32),
    Killed,
}

pub struct BackgroundShell {
    pub id: String,
    pub command: String,
    pgid: Option<Pid>,
    pub log: PathBuf,
    started: Instant,
    read_offset: Mutex<u64>,
    status: watch::Sender<ShellStatus>,
}

impl BackgroundShell {
    pub fn status(&self) -> ShellStatus {
        self.status.borrow().clone()
    }

    /// Waits until it has ended.
    pub async fn ended(&self) {
        let mut status = self.status.subscribe();
        let _ = status.wait_for(|s| *s != ShellStatus::Running).await;
    }

    fn describe(&self) -> String {
        let status = match self.status() {
            ShellStatus::Running => format!("running for {} s", self.started.elapsed().as_secs()),
            ShellStatus::Exited(code) => format!("exited with code {code}"),
            ShellStatus::Signalled(signal) => format!("killed by signal {signal}"),
            ShellStatus::Killed => "stopped by KillShell".to_owned(),
        };
        format!("{} ({status}): {}", self.id, self.command)
    }
}

impl ShellRegistry {
    pub fn new() -> Arc<ShellRegistry> {
        Arc::new(ShellRegistry::default())
    }

    /// Sends SIGKILL to every process group still running. Safe to call more than once.
    pub fn kill_all(&self) {
        for shell in lock(&self.background).values() {
            if let (Some(pgid), ShellStatus::Running) = (shell.pgid, shell.status()) {
                let _ = kill_process_group(pgid, Signal::KILL);
            }
        }
        for pgid in lock(&self.foreground).drain() {
            if let Some(pid) = Pid::from_raw(pgid) {
                let _ = kill_process_group(pid, Signal::KILL);
            }
        }
    }

    pub(crate) fn track(&self, pgid: Pid) {
        lock(&self.foreground).insert(pgid.as_raw_nonzero().get());
    }

    pub(super) fn untrack(&self, pgid: Pid) {
        lock(&self.foreground).remove(&pgid.as_raw_nonzero().get());
    }

    pub fn get(&self, id: &str) -> Option<Arc<BackgroundShell>> {
        lock(&self.background).get(id).cloned()
    }

    /// The background shells and their state, in words (`/tasks`).
    pub fn list(&self) -> String {
        let shells = lock(&self.background);
        if shells.is_empty() {
            return "There are no background shells.".into();
        }
        let lines: Vec<String> = shells.values().map(|s| format!("- {}", s.describe())).collect();
        format!("Background shells:\n{}", lines.join("\n"))
    }

    /// Starts `command` in the background, its output going to a log in `log_dir`.
    pub(super) fn start(
        self: &Arc<Self>,
        command: &str,
        cwd: &Path,
        log_dir: &Path,
        session: &SessionState,
        mode: &crate::sandbox::Mode,
    ) -> Result<Arc<BackgroundShell>, String> {
        let id = self.next_id();
        let log = log_dir.join(format!("{id}.log"));
        let file = std::fs::create_dir_all(log_dir)
            .and_then(|()| std::fs::File::create(&log))
            .map_err(|e| format!("Could not create the shell's log {}: {e}", log.display()))?;
        // The output passes through cairn on its way to the log, so credentials are redacted.
        let (reader, writer) = std::io::pipe().map_err(|e| format!("Could not create a pipe: {e}"))?;
        let writer_err = writer.try_clone().map_err(|e| format!("Could not create a pipe: {e}"))?;
        let mut spawning = shell_command(command, cwd, session, mode);
        spawning.stdout(Stdio::from(writer)).stderr(Stdio::from(writer_err));
        let spawned = spawning.spawn();
        drop(spawning);
        let child = spawned.map_err(|e| format!("Could not start bash: {e}"))?;
        pump_to_log(reader, file, session.secrets.stream());
        Ok(self.adopt(id, command, child, log, Instant::now()))
    }

    /// A background shell for `child`, already running, whose output goes to `log`: its
    /// exit is watched and recorded (a foreground command moved here by Ctrl-B, or one
    /// started here).
    pub(super) fn adopt(
        &self,
        id: String,
        command: &str,
        mut child: tokio::process::Child,
        log: PathBuf,
        started: Instant,
    ) -> Arc<BackgroundShell> {
        let pgid = child.id().and_then(|p| i32::try_from(p).ok()).and_then(Pid::from_raw);
        let (status, _) = watch::channel(ShellStatus::Running);
        let shell = Arc::new(BackgroundShell {
            id: id.clone(),
            command: command.to_owned(),
            pgid,
            log,
            started,
            read_offset: Mutex::new(0),
            status,
        });
        lock(&self.background).insert(id, Arc::clone(&shell));
        let watched = Arc::clone(&shell);
        tokio::spawn(async move {
            let ended = match child.wait().await {
                Ok(status) => match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
                    (Some(code), _) => ShellStatus::Exited(code),
                    (None, Some(signal)) => ShellStatus::Signalled(signal),
                    (None, None) => ShellStatus::Exited(-1),
                },
                Err(_) => ShellStatus::Exited(-1),
            };
            watched.status.send_if_modified(|s| {
                // KillShell has already said how it ended.
                if *s == ShellStatus::Running {
                    *s = ended;
                    true
                } else {
                    false
                }
            });
        });
        shell
    }

    /// A fresh shell id (`bash_3`).
    pub(super) fn next_id(&self) -> String {
        format!("bash_{}", self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

impl Drop for ShellRegistry {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Reads what a background shell wrote since the last read.
pub struct BashOutput;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BashOutputInput {
    /// The id Bash returned for the background shell, like "bash_1".
    pub bash_id: String,
    /// Only return lines matching this regular expression (the others are still consumed).
    #[serde(default)]
    pub filter: Option<String>,
    /// Wait for the shell to finish (up to `timeout`) before reading.
    #[serde(default)]
    pub block: Option<bool>,
    /// With `block`: the longest wait, in milliseconds (default 30000, at most 600000).
    #[serde(default)]
    pub timeout: Option<u64>,
}

impl Tool for BashOutput {
    type Input = BashOutputInput;
    const NAME: &'static str = "BashOutput";
    const DESCRIPTION: &'static str = include_str!("../../../tools/BashOutput.md");
    const KIND: ToolKind = ToolKind::ReadOnly;

    /// `TaskOutput` names the shell `task_id`; older clients said `shell_id`.
    fn adapt_input(input: &mut Value) {
        rename_field(input, &["task_id", "shell_id"], "bash_id");
    }

    async fn call(&self, input: BashOutputInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        // Not a shell's id: an agent's id or name.
        if let Some(agents) = ctx.session.agents().filter(|_| ctx.session.shells.get(&input.bash_id).is_none()) {
            let wait = (input.block != Some(false))
                .then(|| Duration::from_millis(input.timeout.unwrap_or(30_000).min(600_000)));
            return match agents.output(&input.bash_id, wait, &ctx.cancel).await {
                Some(text) => Ok(ToolOutput::text(text)),
                None => Err(unknown_task(&input.bash_id, &ctx)),
            };
        }
        let shells = &ctx.session.shells;
        let shell = shells
            .get(&input.bash_id)
            .ok_or_else(|| ToolError::Failed(format!("No background shell {}. {}", input.bash_id, shells.list())))?;
        let filter = match &input.filter {
            Some(pattern) => Some(
                Regex::new(pattern).map_err(|e| ToolError::Failed(format!("The filter is not a valid regex: {e}")))?,
            ),
            None => None,
        };
        if input.block == Some(true) {
            let wait = Duration::from_millis(input.timeout.unwrap_or(30_000).min(600_000));
            let mut status = shell.status.subscribe();
            tokio::select! {
                _ = status.wait_for(|s| *s != ShellStatus::Running) => {}
                () = tokio::time::sleep(wait) => {}
                () = ctx.cancel.cancelled() => return Err(ToolError::Interrupted),
            }
        }
        let new = read_from(&shell.log, &shell.read_offset)
            .map_err(|e| ToolError::Failed(format!("Could not read {}: {e}", shell.log.display())))?;
        let text = strip_ansi(&String::from_utf8_lossy(&new));
        let text = match &filter {
            Some(re) => text.lines().filter(|l| re.is_match(l)).map(|l| format!("{l}\n")).collect(),
            None => text,
        };
        let body =
            if text.is_empty() { "(no new output)".to_owned() } else { truncate_middle(&text, MAX_OUTPUT_CHARS) };
        let status = shell.status();
        let message = format!("{}\nLog: {}\n{body}", shell.describe(), shell.log.display());
        Ok(ToolOutput::text(message).with_structured(json!({
            "shellId": shell.id, "command": shell.command, "status": status_name(&status),
            "exitCode": match status { ShellStatus::Exited(code) => Some(code), _ => None },
            "stdout": text, "stderr": "",
        })))
    }
}

fn status_name(status: &ShellStatus) -> &'static str {
    match status {
        ShellStatus::Running => "running",
        ShellStatus::Exited(0) => "completed",
        ShellStatus::Exited(_) | ShellStatus::Signalled(_) => "failed",
        ShellStatus::Killed => "killed",
    }
}

/// The bytes of `path` from `offset` on; moves the offset to the end.
fn read_from(path: &Path, offset: &Mutex<u64>) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut offset = lock(offset);
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(*offset))?;
    let mut new = Vec::new();
    file.read_to_end(&mut new)?;
    *offset += new.len() as u64;
    Ok(new)
}

fn rename_field(input: &mut Value, from: &[&str], to: &str) {
    let Some(map) = input.as_object_mut() else { return };
    if map.contains_key(to) {
        return;
    }
    if let Some(value) = from.iter().find_map(|name| map.remove(*name)) {
        map.insert(to.to_owned(), value);
    }
}

/// Ends a background shell.
pub struct KillShell;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KillShellInput {
    /// The id of the background shell to stop, like "bash_1".
    pub shell_id: String,
}

impl Tool for KillShell {
    type Input = KillShellInput;
    const NAME: &'static str = "KillShell";
    const DESCRIPTION: &'static str = include_str!("../../../tools/KillShell.md");
    const KIND: ToolKind = ToolKind::Mutating;
    const APPROVAL: Approval = Approval::NotNeeded;

    fn adapt_input(input: &mut Value) {
        rename_field(input, &["task_id", "bash_id"], "shell_id");
    }

    async fn call(&self, input: KillShellInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        if let Some(agents) = ctx.session.agents().filter(|_| ctx.session.shells.get(&input.shell_id).is_none()) {
            return agents
                .stop(&input.shell_id)
                .map(ToolOutput::text)
                .ok_or_else(|| unknown_task(&input.shell_id, &ctx));
        }
        let shells = &ctx.session.shells;
        let shell = shells
            .get(&input.shell_id)
            .ok_or_else(|| ToolError::Failed(format!("No background shell {}. {}", input.shell_id, shells.list())))?;
        if shell.status() != ShellStatus::Running {
            return Ok(ToolOutput::text(format!("Nothing to stop: {}", shell.describe())));
        }
        if let Some(pgid) = shell.pgid {
            let _ = kill_process_group(pgid, Signal::TERM);
            let mut status = shell.status.subscribe();
            let _ = tokio::time::timeout(KILL_GRACE, status.wait_for(|s| *s != ShellStatus::Running)).await;
            let _ = kill_process_group(pgid, Signal::KILL);
        }
        shell.status.send_replace(ShellStatus::Killed);
        Ok(ToolOutput::text(format!("Stopped background shell {} ({}).", shell.id, shell.command))
            .with_structured(json!({"shellId": shell.id, "command": shell.command, "status": "killed"})))
    }
}

/// Neither a background shell nor an agent has this id.
fn unknown_task(id: &str, ctx: &ToolContext) -> ToolError {
    ToolError::Failed(format!("No background shell or agent {id}. {}", ctx.session.shells.list()))
}
