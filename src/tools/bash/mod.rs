//! `Bash`: one command in a non-interactive shell that can never hang the agent.
//!
//! Each command runs as `bash -c` in the session's working directory (a `cd` sticks for the
//! next call; environment changes do not), in its own process group, with stdin from
//! `/dev/null` and pagers, editors and prompts disabled. A timeout or an interrupt stops the
//! whole group: SIGTERM, then SIGKILL for whatever is left. stdout and stderr share one pipe,
//! so the model reads them interleaved as a terminal shows them; long output is cut for the
//! model and spilled whole to a file (`capture`). `run_in_background` hands the command to a
//! managed background shell instead (`shells`).

pub mod capture;
pub mod shells;
mod terminal;

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::SessionState;
use super::state::lock;
use super::{Tool, ToolContext, ToolError, ToolKind, ToolOutput};
use crate::sandbox::Mode;
use crate::secrets::Secrets;
use capture::{Capture, Captured};
use shells::ShellRegistry;

pub use capture::MAX_OUTPUT_CHARS;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120); // what long builds need
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// How long to wait for the pipe after the shell exits: a job it left running may hold it.
const PIPE_GRACE: Duration = Duration::from_millis(200);
/// How long what a finished command left running has to stop after TERM, before KILL.
const LEFTOVER_GRACE: Duration = Duration::from_millis(500);
/// Between SIGTERM and SIGKILL when stopping a command.
pub(crate) const KILL_GRACE: Duration = Duration::from_millis(500);

/// Runs the command, then records where it left the shell, without touching `$1`… of the
/// command itself.
const WRAPPER: &str = r#"__cairn_cwd_file=$1; __cairn_command=$2; shift 2
eval "$__cairn_command"
__cairn_status=$?
pwd -P > "$__cairn_cwd_file" 2>/dev/null
exit $__cairn_status"#;

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
    /// Start the command as a background shell and return its id at once.
    #[serde(default)]
    pub run_in_background: Option<bool>,
    /// Run outside the sandbox (then the user is asked): only after the sandbox blocked something the command needs.
    #[serde(default, rename = "dangerouslyDisableSandbox")]
    pub dangerously_disable_sandbox: Option<bool>,
}

enum Ending {
    Exited(std::process::ExitStatus),
    TimedOut,
    Interrupted,
    /// The user moved it to the background (Ctrl-B).
    Detached,
}

/// `bash -c` with the environment every command gets: the settings' `env`, no stdin, no
/// pager, no editor, no prompt for credentials, none of cairn's own credentials, its own
/// process group.
/// Sandboxed, it is the sandbox's launcher that starts bash, and the proxy is the way out.
pub(crate) fn shell_command(script: &str, cwd: &Path, session: &SessionState, mode: &Mode) -> Command {
    let mut command = match (mode, session.sandbox()) {
        (Mode::Sandboxed(policy), Some(sandbox)) => {
            let (launcher, args) = sandbox.launcher_command(policy);
            let mut command = Command::new(launcher);
            command.args(args).arg("bash");
            command
        }
        _ => Command::new("bash"),
    };
    command.envs(session.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    // After the settings' `env`: a proxy named there could not be reached from inside.
    if let Mode::Sandboxed(policy) = mode {
        command.envs(proxy_env(policy));
    }
    for name in session.secrets.hidden_env() {
        command.env_remove(name);
    }
    command
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .env("PAGER", "cat")
        .env("GIT_PAGER", "cat")
        .env("GIT_EDITOR", "true")
        .env("EDITOR", "true")
        .env("VISUAL", "true")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("CAIRN", "1")
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// The variables that send a sandboxed command's HTTP(S) through cairn's proxy.
fn proxy_env(policy: &crate::sandbox::Policy) -> Vec<(String, String)> {
    let mut env = vec![("CAIRN_SANDBOXED".to_owned(), "1".to_owned())];
    if let Some(port) = policy.proxy_port {
        let proxy = format!("http://127.0.0.1:{port}");
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            env.push((name.to_owned(), proxy.clone()));
        }
        // Nothing goes around it (it is the only way out).
        env.extend(["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"].map(|n| (n.to_owned(), String::new())));
    }
    env
}

impl Tool for Bash {
    type Input = BashInput;
    const NAME: &'static str = "Bash";
    const DESCRIPTION: &'static str = include_str!("../../../tools/Bash.md");
    const KIND: ToolKind = ToolKind::Mutating;

    async fn call(&self, input: BashInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let session = &ctx.session;
        let cwd = session.cwd();
        let mode = sandbox_mode(session, &input);
        if let Mode::Refused(why) = mode {
            return Err(ToolError::Failed(why));
        }
        if input.run_in_background == Some(true) {
            let log_dir = session.spill_path("shells", "");
            let shell =
                session.shells.start(&input.command, &cwd, &log_dir, session, &mode).map_err(ToolError::Failed)?;
            return Ok(ToolOutput::text(format!(
                "Started background shell {id}: {cmd}\nRead its output with BashOutput (bash_id \"{id}\"); \
                 stop it with KillShell (shell_id \"{id}\"). It is stopped when cairn exits. Files it changes are \
                 not checkpointed: /rewind cannot undo them.",
                id = shell.id,
                cmd = input.command
            ))
            .with_structured(json!({"backgroundTaskId": shell.id, "stdout": "", "stderr": "", "interrupted": false})));
        }

        let timeout =
            input.timeout.map_or(DEFAULT_TIMEOUT, Duration::from_millis).clamp(Duration::from_millis(1), MAX_TIMEOUT);
        let before = match session.checkpoints().filter(|_| !only_reads(&input.command)) {
            Some(checkpoints) => tokio::task::spawn_blocking(move || checkpoints.scan()).await.ok().flatten(),
            None => None,
        };
        let redirects = match (&mode, session.sandbox()) {
            (Mode::Sandboxed(_), Some(sandbox)) => sandbox.git_redirects(),
            _ => Vec::new(),
        };
        let ran = match terminal::run(&ctx, &input.command, timeout, &mode).await {
            Some(ran) => ran,
            None => run_here(&input, &ctx, &cwd, timeout, &mode).await,
        };
        let ran = ran.map(|output| with_sandbox_notes(output, session, &mode, &redirects));
        let (Some(before), Some(checkpoints)) = (before, session.checkpoints()) else { return ran };
        let lost =
            tokio::task::spawn_blocking(move || checkpoints.after_command(&before, "Bash")).await.unwrap_or_default();
        ran.map(|output| with_lost_note(output, &lost, &cwd))
    }
}

/// How the call's command runs: in the sandbox unless it is off, cannot work here, the
/// settings exclude the command, or the call asked to run outside it (and may).
/// (Where it cannot work, the gate has already said so.)
fn sandbox_mode(session: &SessionState, input: &BashInput) -> Mode {
    let Some(sandbox) = session.sandbox() else { return Mode::Plain };
    let mut mode = sandbox.mode(&input.command, input.dangerously_disable_sandbox == Some(true));
    if let (Mode::Sandboxed(policy), Some(roots)) = (&mut mode, session.sandbox_roots()) {
        // An agent in a worktree: the main project is not among the folders to write in.
        let project = sandbox.project_root();
        policy.write.retain(|w| Some(w) != project.as_ref());
        policy.write.extend(roots.iter().cloned());
    }
    mode
}

/// What the sandbox blocked, for the model to change course instead of retrying.
/// `redirects`: the files that redirect git there were before the command.
fn with_sandbox_notes(
    mut output: ToolOutput,
    session: &SessionState,
    mode: &Mode,
    redirects: &[PathBuf],
) -> ToolOutput {
    let (Mode::Sandboxed(policy), Some(sandbox)) = (mode, session.sandbox()) else { return output };
    let blocked = sandbox.take_blocked();
    for host in &blocked {
        session.notice(format!("The sandbox blocked network access to {host}: allow it with /sandbox allow {host}"));
    }
    let undone = sandbox.undo_git_redirects(redirects);
    for note in &undone {
        session.notice(note.clone());
    }
    let Some(crate::conversation::history::ToolResultContent::Text { text }) = output.content.first_mut() else {
        return output;
    };
    for note in &undone {
        text.push_str(&format!("\n({note})"));
    }
    for host in &blocked {
        text.push_str(&format!(
            "\n(cairn's sandbox blocked network access to {host}: the user can allow it with /sandbox allow {host}, \
             or in sandbox.network.allowedDomains.)"
        ));
    }
    let refused = ["Permission denied", "Operation not permitted", "Read-only file system"];
    if output.is_error && blocked.is_empty() && refused.iter().any(|r| text.contains(r)) {
        let list = |paths: &mut dyn Iterator<Item = &PathBuf>| {
            paths.filter(|p| p.exists()).map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        };
        let unreadable = list(&mut policy.deny_read.iter().chain(&policy.hidden));
        let unreadable = if unreadable.is_empty() { String::new() } else { format!("; it may not read {unreadable}") };
        text.push_str(&format!(
            "\n(This command ran in cairn's sandbox: it may write only in {}{unreadable}; it may reach the network only \
             through the proxy, to allowed domains. A \"Permission denied\" above may be the sandbox: work inside \
             those folders, or ask the user.)",
            list(&mut policy.write.iter()),
        ));
    }
    output
}

/// Runs the command in cairn's own shell.
async fn run_here(
    input: &BashInput,
    ctx: &ToolContext,
    cwd: &Path,
    timeout: Duration,
    mode: &Mode,
) -> Result<ToolOutput, ToolError> {
    let session = &ctx.session;
    let cwd_file = tempfile::Builder::new()
        .prefix("cairn-cwd-")
        .tempfile()
        .map_err(|e| ToolError::Failed(format!("Could not create a temporary file: {e}")))?;
    let (reader, writer) = std::io::pipe().map_err(|e| ToolError::Failed(format!("Could not create a pipe: {e}")))?;
    let writer_err = writer.try_clone().map_err(|e| ToolError::Failed(format!("Could not create a pipe: {e}")))?;
    let mut command = shell_command(WRAPPER, cwd, session, mode);
    command.arg("cairn-bash").arg(cwd_file.path()).arg(&input.command).stdout(writer).stderr(writer_err);
    let started = std::time::Instant::now();
    let mut child = command.spawn().map_err(|e| ToolError::Failed(format!("Could not start bash: {e}")))?;
    // Our copies of the pipe's write end must close, or the reader never sees the end.
    drop(command);
    let group = ProcessGroup::new(child.id(), Arc::clone(&session.shells));
    let spill = session.spill_path(&ctx.call_id, ".txt");
    let capture = Arc::new(Mutex::new(Capture::new(spill, session.secrets.clone())));
    let reading = read_pipe(reader.into(), Arc::clone(&capture));

    let ending = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => Ending::Exited(status),
            Err(e) => return Err(ToolError::Failed(format!("Waiting for the command failed: {e}"))),
        },
        () = tokio::time::sleep(timeout) => Ending::TimedOut,
        () = ctx.cancel.cancelled() => Ending::Interrupted,
        () = session.shells.detach.notified(), if session.commands_detach() => Ending::Detached,
    };
    let mut leftovers = false;
    match ending {
        Ending::Detached => return to_background(input, session, (child, started), group, &capture, cwd_file),
        // Done: what it left running in the background (`sleep 60 &`, `nohup … &`) is
        // stopped too; background work belongs to run_in_background.
        Ending::Exited(_) => leftovers = group.stop_leftovers(),
        Ending::TimedOut | Ending::Interrupted => {
            // TERM first so the command can clean up; KILL whatever is left once it has
            // exited or the grace period is over.
            group.signal(Signal::TERM);
            let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
            group.signal(Signal::KILL);
            let _ = child.wait().await;
        }
    }
    if let Some(task) = reading {
        let abort = task.abort_handle();
        if tokio::time::timeout(PIPE_GRACE, task).await.is_err() {
            abort.abort();
        }
    }
    let captured = std::mem::replace(&mut *lock(&capture), Capture::new(PathBuf::new(), Secrets::default())).finish();
    let cwd_note = match (&ending, std::fs::read_to_string(cwd_file.path())) {
        (Ending::Exited(_), Ok(dir)) if !dir.trim().is_empty() && Path::new(dir.trim()) != cwd => {
            session.set_cwd(dir.trim().into())
        }
        _ => None,
    };
    let mut output = report(&ending, captured, timeout, cwd_note, &session.cwd());
    if leftovers
        && let Some(crate::conversation::history::ToolResultContent::Text { text }) = output.content.first_mut()
    {
        text.push_str(
                "\n(Processes the command left running were stopped when it ended. To keep a server or watcher running, use run_in_background.)",
            );
    }
    Ok(output)
}

/// The running command becomes a background shell (Ctrl-B): the output so far is the
/// call's result and starts the shell's log, where the rest goes; its cwd file is kept until
/// it ends.
fn to_background(
    input: &BashInput,
    session: &SessionState,
    (child, started): (tokio::process::Child, std::time::Instant),
    group: ProcessGroup,
    capture: &Arc<Mutex<Capture>>,
    cwd_file: tempfile::NamedTempFile,
) -> Result<ToolOutput, ToolError> {
    let id = session.shells.next_id();
    let log_dir = session.spill_path("shells", "");
    let log = log_dir.join(format!("{id}.log"));
    let mut file = std::fs::create_dir_all(&log_dir)
        .and_then(|()| std::fs::File::create(&log))
        .map_err(|e| ToolError::Failed(format!("Could not create the shell's log {}: {e}", log.display())))?;
    let so_far = {
        let mut capture = lock(capture);
        let before = std::mem::replace(&mut *capture, Capture::new(PathBuf::new(), Secrets::default())).finish();
        let _ = std::io::Write::write_all(&mut file, before.text.as_bytes());
        *capture = Capture::diverted(file, session.secrets.clone());
        before.text
    };
    // Its group is the shell's now: KillShell or cairn's exit stops it.
    group.release();
    let shell = session.shells.adopt(id.clone(), &input.command, child, log, started);
    tokio::spawn(async move {
        shell.ended().await;
        drop(cwd_file);
    });
    let shown = if so_far.trim().is_empty() { "(no output yet)".to_owned() } else { so_far };
    Ok(ToolOutput::text(format!(
        "The user moved this command to the background: it is background shell {id}, still running. Output so \
         far:\n{shown}\nRead what comes next with BashOutput (bash_id \"{id}\"); stop it with KillShell."
    )))
}

/// Whether `script` cannot change a file: every command one the permission rules treat as
/// read-only, no redirect that writes (but to /dev/null), nothing the analysis cannot judge.
/// Such a command needs no comparison of the tree around it.
fn only_reads(script: &str) -> bool {
    use crate::permissions::{commands, shell};
    let analysis = shell::analyze(script);
    // Variables can make a reader run code (`LESSOPEN`, `GIT_EXTERNAL_DIFF`): none at all.
    analysis.uncertain.is_empty()
        && analysis.runs_code.is_empty()
        && analysis.env_changes.is_empty()
        && analysis.redirects.iter().all(|r| !r.write || r.target.text == "/dev/null")
        && !analysis.commands.is_empty()
        && analysis.commands.iter().all(|c| c.env.is_empty() && commands::is_read_only(&c.words) && !writes_anyway(c))
}

/// Readers with options that write or run something (checked beyond the permission rules,
/// which ask about them anyway).
fn writes_anyway(command: &crate::permissions::shell::Command) -> bool {
    let args: Vec<&str> = command.args().iter().map(|w| w.text.as_str()).collect();
    match command.name() {
        "git" => args
            .iter()
            .any(|a| a.starts_with("-O") || a.starts_with("--open-files-in-pager") || a.starts_with("--output")),
        _ => false,
    }
}

/// Tells the model which of the files the command changed cairn cannot bring back.
fn with_lost_note(mut output: ToolOutput, lost: &[PathBuf], cwd: &Path) -> ToolOutput {
    if lost.is_empty() {
        return output;
    }
    let shown: Vec<String> = lost.iter().take(10).map(|p| super::paths::display(p, cwd)).collect();
    let more = if lost.len() > 10 { format!(" and {} more", lost.len() - 10) } else { String::new() };
    if let Some(crate::conversation::history::ToolResultContent::Text { text }) = output.content.first_mut() {
        text.push_str(&format!(
            "\n(The command changed {}{more}, whose earlier content cairn never saw and git's index does not hold: \
             /rewind cannot bring it back.)",
            shown.join(", ")
        ));
    }
    output
}

/// Reads the merged stdout/stderr pipe into the capture until it closes.
fn read_pipe(reader: OwnedFd, capture: Arc<Mutex<Capture>>) -> Option<tokio::task::JoinHandle<()>> {
    let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(reader).ok()?;
    Some(tokio::spawn(async move {
        let mut chunk = vec![0u8; 64 * 1024];
        while let Ok(n) = pipe.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            lock(&capture).push(&chunk[..n]);
        }
        lock(&capture).end();
    }))
}

fn report(ending: &Ending, captured: Captured, timeout: Duration, cwd_note: Option<String>, cwd: &Path) -> ToolOutput {
    let body = captured.text.trim_end_matches('\n');
    let (mut text, is_error, interrupted, code, signal) = match ending {
        Ending::Exited(status) => match (status.code(), status.signal()) {
            (Some(0), _) => {
                (if body.is_empty() { "(no output)".to_owned() } else { body.to_owned() }, false, false, Some(0), None)
            }
            (Some(code), _) => (format!("Exit code {code}\n{body}"), true, false, Some(code), None),
            (None, signal) => {
                let signal = signal.unwrap_or_default();
                (
                    format!("Killed by signal {signal} ({})\n{body}", signal_name(signal)),
                    true,
                    false,
                    None,
                    Some(signal),
                )
            }
        },
        Ending::TimedOut => (
            format!(
                "Command timed out after {} s and was stopped, with every process it started. Output so far:\n{body}\n\
                 If it needs longer, pass a larger timeout (at most 600000 ms); for a server or watcher, use run_in_background.",
                timeout.as_secs_f64()
            ),
            true,
            true,
            None,
            None,
        ),
        Ending::Interrupted | Ending::Detached => {
            (format!("Interrupted by the user. Output so far:\n{body}"), true, true, None, None)
        }
    };
    if let Some(note) = cwd_note {
        text.push_str("\n\n");
        text.push_str(&note);
    }
    let structured = json!({
        "stdout": captured.text,
        "stderr": "",
        "interrupted": interrupted,
        "isImage": false,
        "noOutputExpected": false,
        "exitCode": code,
        "signal": signal,
        "outputFile": captured.spill_path,
        "totalBytes": captured.total_bytes,
        "cwd": cwd,
    });
    ToolOutput { is_error, ..ToolOutput::text(text) }.with_structured(structured)
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
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
        "{}\n\n… [{} lines, {} characters cut from the middle] …\n\n{}",
        &text[..head_end],
        cut.lines().count(),
        total - 2 * half,
        &text[tail_start..]
    )
}

/// A running command's process group: registered so that cairn's exit kills it, and
/// killed if the call is dropped before it ends.
struct ProcessGroup {
    pgid: Option<Pid>,
    registry: Arc<ShellRegistry>,
}

impl ProcessGroup {
    fn new(pid: Option<u32>, registry: Arc<ShellRegistry>) -> ProcessGroup {
        let pgid = pid.and_then(|p| i32::try_from(p).ok()).and_then(Pid::from_raw);
        if let Some(pgid) = pgid {
            registry.track(pgid);
        }
        ProcessGroup { pgid, registry }
    }

    /// The command ended by itself: whatever of its group is still running is asked to stop
    /// now and killed a moment later. Whether there was anything.
    fn stop_leftovers(mut self) -> bool {
        let Some(pgid) = self.pgid.take() else { return false };
        if kill_process_group(pgid, Signal::TERM).is_err() {
            self.registry.untrack(pgid);
            return false;
        }
        let registry = Arc::clone(&self.registry);
        tokio::spawn(async move {
            tokio::time::sleep(LEFTOVER_GRACE).await;
            let _ = kill_process_group(pgid, Signal::KILL);
            registry.untrack(pgid);
        });
        true
    }

    /// The group is handed over (to a background shell): neither killed nor tracked here.
    fn release(mut self) {
        if let Some(pgid) = self.pgid.take() {
            self.registry.untrack(pgid);
        }
    }

    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            let _ = kill_process_group(pgid, signal);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = kill_process_group(pgid, Signal::KILL);
            self.registry.untrack(pgid);
        }
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
