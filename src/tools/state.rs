//! What the tools of one session share.
//!
//! The working directory a `cd` in Bash moves (and that relative paths resolve against),
//! the folders files may be written under, what each file looked like when it was last read
//! or written (so Write and Edit refuse a file that changed behind the model's back), the
//! todo list, the background shells, the folder where long output is spilled, and a small
//! web cache. One `SessionState` per session, shared by every call through `ToolContext`.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::bash::shells::ShellRegistry;
use super::paths;
use super::todo::Todo;
use crate::protocol::{Event, EventSink};
use crate::secrets::Secrets;

/// How long a fetched page is reused, as Claude Code's WebFetch does.
const WEB_CACHE_TTL: Duration = Duration::from_secs(15 * 60);

pub struct SessionState {
    project_dir: PathBuf,
    /// Canonical folders files may be written under: the project and each `--add-dir`.
    writable_roots: Vec<PathBuf>,
    /// Files outside them the user approved writing to, in this session.
    approved_writes: Mutex<Vec<PathBuf>>,
    cwd: Mutex<PathBuf>,
    /// Canonical path → hash of the content last read or written.
    seen: Mutex<HashMap<PathBuf, u64>>,
    /// The files read or written, most recent last (each once).
    touched: Mutex<Vec<PathBuf>>,
    todos: Mutex<Vec<Todo>>,
    pub shells: Arc<ShellRegistry>,
    /// Where output too long for the model is written in full (beside the transcript).
    spill_dir: Mutex<PathBuf>,
    /// Credentials to keep out of spilled output and out of the commands' environment.
    pub secrets: Secrets,
    /// Variables every command gets (the settings' `env`).
    pub env: Vec<(String, String)>,
    events: EventSink,
    web_cache: Mutex<HashMap<String, (Instant, String)>>,
    /// The session's permission rules, for tools that read without naming each file to the
    /// gate (Grep, Glob, LS, attachments): they leave out what Read deny rules protect.
    policy: std::sync::OnceLock<Arc<Mutex<crate::permissions::PermissionPolicy>>>,
    /// The host files are read and written through, when they are (an editor over ACP).
    files: std::sync::OnceLock<Arc<crate::protocol::HostCalls>>,
    /// The host commands run in, when they do (an editor's terminal over ACP).
    terminal: std::sync::OnceLock<Arc<crate::protocol::HostCalls>>,
    /// The way back from the tools' changes to files.
    checkpoints: Mutex<Option<Arc<super::checkpoint::Checkpoints>>>,
    /// The sandbox around the commands, when the session has one.
    sandbox: std::sync::OnceLock<Arc<crate::sandbox::Sandbox>>,
    /// The agents working in the background, for TaskOutput and TaskStop.
    agents: std::sync::OnceLock<Arc<dyn AgentTasks>>,
    /// The folders sandboxed commands may write in instead of the project (an agent's
    /// worktree and the repository's git folder).
    sandbox_roots: std::sync::OnceLock<Vec<PathBuf>>,
    /// A sub-agent's: Ctrl-B moves the agent, not its commands one by one.
    in_subagent: std::sync::atomic::AtomicBool,
    /// A speculation's: file writes land here, and reads see it first.
    overlay: std::sync::OnceLock<Arc<super::overlay::Overlay>>,
    /// The auto memory folder: writable, and what is written there has no credentials.
    memory_dir: std::sync::OnceLock<PathBuf>,
}

/// Agents working in the background, as TaskOutput (BashOutput) and TaskStop (KillShell)
/// reach them by id (`agent_1`) beside the shells.
pub trait AgentTasks: Send + Sync {
    /// The agent's state and, once it ended, its report, waiting up to `wait` for the end;
    /// `None`: no agent has that id.
    fn output<'a>(
        &'a self,
        id: &'a str,
        wait: Option<std::time::Duration>,
        cancel: &'a tokio_util::sync::CancellationToken,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>>;

    /// Stops the agent; what was done, in words (`None`: no agent has that id).
    fn stop(&self, id: &str) -> Option<String>;
}

/// Why a file may not be overwritten.
#[derive(Debug, PartialEq, Eq)]
pub enum Staleness {
    NeverRead,
    ChangedSinceRead,
}

impl Staleness {
    pub fn message(&self, path: &str) -> String {
        match self {
            Staleness::NeverRead => {
                format!("{path} has not been read yet. Read it first, then write or edit it.")
            }
            Staleness::ChangedSinceRead => format!(
                "{path} has changed since it was last read (the user or a command modified it). \
                 Read it again, then make the change."
            ),
        }
    }
}

/// Locks a mutex of the tools' shared state. A panic while one was held cannot leave the
/// data half-updated in a way that matters more than losing the session; carry on.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads a shared value behind a lock, as [`lock`] does.
pub(crate) fn read<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn content_hash(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

impl SessionState {
    pub fn new(
        project_dir: &Path,
        add_dirs: &[PathBuf],
        spill_dir: PathBuf,
        shells: Arc<ShellRegistry>,
        events: EventSink,
        secrets: Secrets,
    ) -> SessionState {
        let project_dir = paths::canonical_dir(project_dir);
        let mut writable_roots = vec![project_dir.clone()];
        writable_roots.extend(add_dirs.iter().map(|d| paths::canonical_dir(&project_dir.join(d))));
        SessionState {
            cwd: Mutex::new(project_dir.clone()),
            project_dir,
            writable_roots,
            approved_writes: Mutex::new(Vec::new()),
            seen: Mutex::new(HashMap::new()),
            touched: Mutex::new(Vec::new()),
            todos: Mutex::new(Vec::new()),
            shells,
            spill_dir: Mutex::new(spill_dir),
            secrets,
            env: Vec::new(),
            events,
            web_cache: Mutex::new(HashMap::new()),
            policy: std::sync::OnceLock::new(),
            files: std::sync::OnceLock::new(),
            terminal: std::sync::OnceLock::new(),
            checkpoints: Mutex::new(None),
            sandbox: std::sync::OnceLock::new(),
            sandbox_roots: std::sync::OnceLock::new(),
            in_subagent: std::sync::atomic::AtomicBool::new(false),
            agents: std::sync::OnceLock::new(),
            overlay: std::sync::OnceLock::new(),
            memory_dir: std::sync::OnceLock::new(),
        }
    }

    /// The auto memory folder (once): files may be written there.
    pub fn set_memory_dir(&self, dir: PathBuf) {
        let _ = self.memory_dir.set(paths::real_location(&dir));
    }

    /// Whether `real_path` is in the auto memory folder.
    pub fn in_memory_dir(&self, real_path: &Path) -> bool {
        self.memory_dir.get().is_some_and(|dir| real_path.starts_with(dir))
    }

    /// File writes land in `overlay` from now on, and reads see it first (once).
    pub fn set_overlay(&self, overlay: Arc<super::overlay::Overlay>) {
        let _ = self.overlay.set(overlay);
    }

    pub fn overlay(&self) -> Option<&Arc<super::overlay::Overlay>> {
        self.overlay.get()
    }

    /// The file's text in the overlay, when there is one and it holds the file.
    pub fn overlaid(&self, real_path: &Path) -> Option<String> {
        self.overlay.get()?.read(real_path)
    }

    /// A copy of what `other` has seen of the files (a speculation starts knowing what
    /// its session read), or the other way round when a speculation is adopted.
    pub fn take_seen_from(&self, other: &SessionState) {
        let seen = lock(&other.seen).clone();
        lock(&self.seen).extend(seen);
        let touched = lock(&other.touched).clone();
        let mut mine = lock(&self.touched);
        mine.retain(|p| !touched.contains(p));
        mine.extend(touched);
    }

    /// Reads and writes of text files go through the host from now on (once).
    pub fn route_files(&self, host: Arc<crate::protocol::HostCalls>) {
        let _ = self.files.set(host);
    }

    /// Reads and writes go through the host.
    pub fn routes_files(&self) -> bool {
        self.files.get().is_some()
    }

    /// The text of `path` as the host has it; `None` when files are not routed.
    pub async fn read_through_host(&self, path: &Path) -> Option<Result<String, String>> {
        if let Some(text) = self.overlaid(path) {
            return Some(Ok(text));
        }
        let host = self.files.get()?;
        let request = crate::protocol::HostRequest::ReadTextFile { path: path.to_path_buf() };
        let answer = host.ask(&self.events, request).await;
        if answer.as_ref().is_err_and(|e| e == crate::protocol::NOT_HANDLED) {
            return None;
        }
        Some(answer.and_then(|v| {
            v["content"].as_str().map(str::to_owned).ok_or_else(|| "the editor's answer had no content".to_owned())
        }))
    }

    /// Writes `path` through the host; `None` when files are not routed.
    pub async fn write_through_host(&self, path: &Path, content: &str) -> Option<Result<(), String>> {
        if let Some(overlay) = self.overlay.get() {
            return Some(overlay.write(path, content));
        }
        let host = self.files.get()?;
        let request = crate::protocol::HostRequest::WriteTextFile { path: path.to_path_buf(), content: content.into() };
        match host.ask(&self.events, request).await {
            Err(e) if e == crate::protocol::NOT_HANDLED => None,
            answer => Some(answer.map(|_| ())),
        }
    }

    /// Checkpoints are kept in `checkpoints` from now on (a session continued or started
    /// over keeps its own).
    pub fn keep_checkpoints(&self, checkpoints: Arc<super::checkpoint::Checkpoints>) {
        *lock(&self.checkpoints) = Some(checkpoints);
    }

    pub fn checkpoints(&self) -> Option<Arc<super::checkpoint::Checkpoints>> {
        lock(&self.checkpoints).clone()
    }

    /// Commands run in the host's terminal from now on (once).
    pub fn route_commands(&self, host: Arc<crate::protocol::HostCalls>) {
        let _ = self.terminal.set(host);
    }

    /// Asks the host's terminal (`None`: commands are not routed); the request is sent at
    /// once, the answer comes when the future is awaited.
    pub fn ask_terminal(
        &self,
        request: crate::protocol::HostRequest,
    ) -> Option<impl std::future::Future<Output = Result<serde_json::Value, String>> + Send + 'static> {
        Some(self.terminal.get()?.ask(&self.events, request))
    }

    /// Shares the session's permission rules with the tools (once).
    pub fn set_agents(&self, agents: Arc<dyn AgentTasks>) {
        let _ = self.agents.set(agents);
    }

    pub fn agents(&self) -> Option<&Arc<dyn AgentTasks>> {
        self.agents.get()
    }

    pub fn set_sandbox(&self, sandbox: Arc<crate::sandbox::Sandbox>) {
        let _ = self.sandbox.set(sandbox);
    }

    pub fn sandbox(&self) -> Option<&Arc<crate::sandbox::Sandbox>> {
        self.sandbox.get()
    }

    /// These are a sub-agent's tools.
    pub fn mark_subagent(&self) {
        self.in_subagent.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether Ctrl-B moves this session's foreground commands (the main agent's).
    pub fn commands_detach(&self) -> bool {
        !self.in_subagent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sandboxed commands write in `roots` instead of the project (once).
    pub fn confine_sandbox(&self, roots: Vec<PathBuf>) {
        let _ = self.sandbox_roots.set(roots);
    }

    /// Where sandboxed commands write instead of the project, when that is narrowed.
    pub fn sandbox_roots(&self) -> Option<&[PathBuf]> {
        self.sandbox_roots.get().map(Vec::as_slice)
    }

    /// Tells the front end something the user should know.
    pub fn notice(&self, message: String) {
        self.events.emit(crate::protocol::Event::Notice { message });
    }

    pub fn set_policy(&self, policy: Arc<Mutex<crate::permissions::PermissionPolicy>>) {
        let _ = self.policy.set(policy);
    }

    /// The WebFetch deny rules' domains and their words.
    pub fn denied_domains(&self) -> Vec<(String, String)> {
        self.policy.get().map(|p| lock(p).denied_domains()).unwrap_or_default()
    }

    /// The Read deny rules as they are now; `None` when there are none.
    pub fn read_denials(&self) -> Option<Arc<crate::permissions::ReadDenials>> {
        let denials = lock(self.policy.get()?).read_denials();
        (!denials.is_empty()).then(|| Arc::new(denials))
    }

    /// Sets the variables every command gets.
    #[must_use]
    pub fn with_env(mut self, env: Vec<(String, String)>) -> SessionState {
        self.env = env;
        self
    }

    pub fn project_dir(&self) -> &Path {
        &self.project_dir
    }

    pub fn cwd(&self) -> PathBuf {
        lock(&self.cwd).clone()
    }

    /// Moves the working directory after a `cd`. Outside the project and added folders it is
    /// put back to the project folder; the returned note says so.
    pub fn set_cwd(&self, dir: PathBuf) -> Option<String> {
        let dir = paths::canonical_dir(&dir);
        let mut cwd = lock(&self.cwd);
        if self.writable_roots.iter().any(|root| dir.starts_with(root)) {
            *cwd = dir;
            None
        } else {
            *cwd = self.project_dir.clone();
            Some(format!(
                "The shell's working directory was reset to {} (the command left the project folder for {}).",
                self.project_dir.display(),
                dir.display()
            ))
        }
    }

    /// A path from the model: relative to the working directory, `~/` for home.
    pub fn resolve(&self, path: &str) -> PathBuf {
        paths::resolve(&self.cwd(), path)
    }

    /// The folders files may be read and changed in.
    pub fn working_dirs(&self) -> &[PathBuf] {
        &self.writable_roots
    }

    /// The session's own folder for spilled output, which may always be read.
    pub fn spill_dir(&self) -> PathBuf {
        lock(&self.spill_dir).clone()
    }

    /// The user approved a write outside the working folders: this file may be written.
    pub fn approve_write(&self, path: &Path) {
        lock(&self.approved_writes).push(paths::real_location(path));
    }

    /// Where a write to `path` would really land, if that is inside a writable folder.
    pub fn writable(&self, path: &Path) -> Result<PathBuf, String> {
        let real = paths::real_location(path);
        if self.writable_roots.iter().any(|root| real.starts_with(root))
            || lock(&self.approved_writes).contains(&real)
            || self.in_memory_dir(&real)
        {
            return Ok(real);
        }
        let roots: Vec<String> = self.writable_roots.iter().map(|r| r.display().to_string()).collect();
        Err(format!(
            "Refusing to write {}: it is outside the folders cairn may change ({}). \
             Work inside the project, or ask the user to add the folder with --add-dir.",
            real.display(),
            roots.join(", ")
        ))
    }

    /// Remembers what a file looked like when it was read or written.
    pub fn remember(&self, real_path: &Path, hash: u64) {
        lock(&self.seen).insert(real_path.to_path_buf(), hash);
        let mut touched = lock(&self.touched);
        touched.retain(|p| p != real_path);
        touched.push(real_path.to_path_buf());
    }

    /// The `n` files read or written most recently, newest first.
    pub fn recently_touched(&self, n: usize) -> Vec<PathBuf> {
        lock(&self.touched).iter().rev().take(n).cloned().collect()
    }

    /// Whether the file's current content is what was last read or written.
    pub fn check_fresh(&self, real_path: &Path, current: &[u8]) -> Result<(), Staleness> {
        match lock(&self.seen).get(real_path) {
            None => Err(Staleness::NeverRead),
            Some(hash) if *hash == content_hash(current) => Ok(()),
            Some(_) => Err(Staleness::ChangedSinceRead),
        }
    }

    pub fn todos(&self) -> Vec<Todo> {
        lock(&self.todos).clone()
    }

    pub fn set_todos(&self, todos: Vec<Todo>) {
        *lock(&self.todos) = todos.clone();
        self.events.emit(Event::TodosChanged { todos });
    }

    /// The file a tool call's full output goes to when it is too long for the model (the
    /// folder is created by whoever writes there first).
    pub fn spill_path(&self, call_id: &str, suffix: &str) -> PathBuf {
        let safe: String =
            call_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
        lock(&self.spill_dir).join(format!("{safe}{suffix}"))
    }

    /// Spills go here from now on (the session changed: `/clear`, `/resume`).
    pub fn set_spill_dir(&self, dir: PathBuf) {
        *lock(&self.spill_dir) = dir;
    }

    pub fn cached_page(&self, url: &str) -> Option<String> {
        let cache = lock(&self.web_cache);
        cache.get(url).filter(|(at, _)| at.elapsed() < WEB_CACHE_TTL).map(|(_, page)| page.clone())
    }

    pub fn cache_page(&self, url: &str, page: &str) {
        let mut cache = lock(&self.web_cache);
        cache.retain(|_, (at, _)| at.elapsed() < WEB_CACHE_TTL);
        cache.insert(url.to_owned(), (Instant::now(), page.to_owned()));
    }
}
