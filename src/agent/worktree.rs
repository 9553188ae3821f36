//! Worktree isolation: an agent with `isolation: worktree` works in a fresh `git worktree`
//! of the project's repository, on a branch of its own, in `.claude/worktrees/agent-<id>`
//! (where Claude Code keeps its own, ignored by git through a `.gitignore` of `*` there).
//! Its file tools and its sandbox are confined to the worktree (and the repository's git
//! folder's parts a commit on its own branch writes to: the objects, the worktree's own
//! folder, and the refs and logs of `cairn/` branches — not the main branches). When it
//! ends, a worktree it left unchanged is removed with its branch; one with changes is kept,
//! and the agent's report says where and what changed. A worktree is locked with the owning
//! process's id and start time while it is in use, so one left by a cairn that was killed is
//! found, and pruned, at the next start.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where worktrees are kept, below the repository's top folder.
const FOLDER: &str = ".claude/worktrees";

/// One agent's worktree.
#[derive(Debug)]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
    /// The commit it started from.
    base: String,
    /// The repository's top folder.
    top: PathBuf,
    /// The repository's git folder, shared by its worktrees.
    pub git_dir: PathBuf,
    /// Where the project is inside the repository (the agent starts there).
    pub subdir: PathBuf,
}

/// The repository changes of this process's agents, one at a time (two agents starting
/// at once would otherwise race for git's lock files).
static CHANGING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn changing() -> std::sync::MutexGuard<'static, ()> {
    CHANGING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs git in `dir`; its output, trimmed. A lock file held by another git (another cairn,
/// the user's own git) is waited for a little.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let mut attempt = 0;
    loop {
        let output = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .map_err(|e| format!("could not run git: {e}"))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).trim_end().to_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        attempt += 1;
        if attempt < 5 && stderr.contains(".lock") {
            std::thread::sleep(std::time::Duration::from_millis(50 * attempt));
            continue;
        }
        return Err(format!("git {} failed: {}", args.join(" "), stderr.trim()));
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Worktree {
    /// A fresh worktree for agent `id` of the repository `project` is in.
    pub fn create(project: &Path, id: &str) -> Result<Worktree, String> {
        let _one_at_a_time = changing();
        let top = git(project, &["rev-parse", "--show-toplevel"]).map_err(|_| {
            format!("isolation: worktree needs a git repository, and {} is not in one.", project.display())
        })?;
        let top = canonical(Path::new(&top));
        let base = git(&top, &["rev-parse", "HEAD"])
            .map_err(|_| "isolation: worktree needs a commit to start from; the repository has none yet.".to_owned())?;
        let git_dir = canonical(&top.join(git(&top, &["rev-parse", "--git-common-dir"])?));
        let folder = top.join(FOLDER);
        std::fs::create_dir_all(&folder).map_err(|e| format!("could not create {}: {e}", folder.display()))?;
        let ignore = folder.join(".gitignore");
        if !ignore.exists() {
            let _ = std::fs::write(&ignore, "*\n");
        }
        let name = format!("agent-{id}");
        let path = folder.join(&name);
        let branch = format!("cairn/{name}");
        let path_text = path.to_string_lossy();
        git(&top, &["worktree", "add", "--quiet", "-b", &branch, &path_text, &base])?;
        let subdir = canonical(project).strip_prefix(&top).map(Path::to_path_buf).unwrap_or_default();
        let worktree = Worktree { path, branch, base, top, git_dir, subdir };
        worktree.lock()?;
        // The project's folder may not be in the commit (new, or ignored): the agent starts there.
        std::fs::create_dir_all(worktree.cwd())
            .map_err(|e| format!("could not create {}: {e}", worktree.cwd().display()))?;
        Ok(worktree)
    }

    /// Marks the worktree in use by this process (again, when a kept one is resumed).
    pub fn lock(&self) -> Result<(), String> {
        let reason =
            format!("cairn pid {} start {} base {}", std::process::id(), start_time(std::process::id()), self.base);
        git(&self.top, &["worktree", "lock", "--reason", &reason, &self.path.to_string_lossy()]).map(drop)
    }

    /// Where a sandboxed command of the agent may write: the worktree, and what a commit on
    /// its branch changes in the repository's git folder (never another branch's ref).
    pub fn writable(&self) -> Vec<PathBuf> {
        let name = self.path.file_name().unwrap_or_default();
        let mut roots = vec![self.path.clone()];
        for part in [
            Path::new("objects"),
            &Path::new("worktrees").join(name),
            Path::new("refs/heads/cairn"),
            Path::new("logs/refs/heads/cairn"),
        ] {
            let path = self.git_dir.join(part);
            if path.exists() {
                roots.push(path);
            }
        }
        roots
    }

    /// Where the agent starts: the project's folder, in the worktree.
    pub fn cwd(&self) -> PathBuf {
        self.path.join(&self.subdir)
    }

    /// The agent is done: an unchanged worktree is removed with its branch, a changed one
    /// kept (and unlocked). Whether it was kept, and what became of it in words, for the
    /// agent's report.
    pub fn finish(&self) -> (bool, String) {
        let _one_at_a_time = changing();
        match changes(&self.path, &self.base) {
            Ok(None) => {
                remove(&self.top, &self.path, &self.branch);
                (false, "(It changed nothing; its worktree was removed.)".into())
            }
            Ok(Some(summary)) => {
                let _ = git(&self.top, &["worktree", "unlock", &self.path.to_string_lossy()]);
                let note = format!(
                    "Its changes are in the worktree {} on branch {} (merge or cherry-pick them from there):\n{summary}",
                    self.path.display(),
                    self.branch
                );
                (true, note)
            }
            Err(e) => (true, format!("(Its worktree {} could not be checked: {e}; it is kept.)", self.path.display())),
        }
    }
}

/// What changed in a worktree since `base`, in words (`None`: nothing).
fn changes(path: &Path, base: &str) -> Result<Option<String>, String> {
    let status = git(path, &["status", "--porcelain", "--untracked-files=all"])?;
    let head = git(path, &["rev-parse", "HEAD"])?;
    if status.is_empty() && head == base {
        return Ok(None);
    }
    let mut summary = git(path, &["diff", "--stat", base])?;
    let untracked: Vec<&str> = status.lines().filter_map(|l| l.strip_prefix("?? ")).collect();
    if !untracked.is_empty() {
        summary.push_str(&format!("\nnew files: {}", untracked.join(", ")));
    }
    let commits = git(path, &["rev-list", "--count", &format!("{base}..HEAD")])?;
    if commits != "0" {
        summary.push_str(&format!("\n{commits} commit(s) on the branch"));
    }
    Ok(Some(summary.trim().to_owned()))
}

fn remove(top: &Path, path: &Path, branch: &str) {
    let path = path.to_string_lossy();
    let _ = git(top, &["worktree", "unlock", &path]);
    let _ = git(top, &["worktree", "remove", "--force", &path]);
    let _ = git(top, &["branch", "-D", "--quiet", branch]);
}

/// When process `pid` started (clock ticks after boot; `0`: unknown), which tells a process
/// from a later one given the same id.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's name in parentheses: state is field 3, start time field 22.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    rest.split_whitespace().nth(19).and_then(|t| t.parse().ok()).unwrap_or(0)
}

/// A lock reason of cairn's: (pid, start time, base commit).
fn parse_reason(reason: &str) -> Option<(u32, u64, String)> {
    let words: Vec<&str> = reason.split_whitespace().collect();
    match words.as_slice() {
        ["cairn", "pid", pid, "start", start, "base", base] => {
            Some((pid.parse().ok()?, start.parse().ok()?, (*base).to_owned()))
        }
        _ => None,
    }
}

/// Worktrees left by a cairn that is no longer running (killed): unchanged ones removed
/// with their branches, changed ones kept and unlocked. What the user should know.
/// Costs a stat or two unless `.claude/worktrees` exists.
pub fn prune(project: &Path) -> Vec<String> {
    let Some(top) = project.ancestors().find(|a| a.join(FOLDER).is_dir()) else { return Vec::new() };
    let _one_at_a_time = changing();
    let Ok(list) = git(top, &["worktree", "list", "--porcelain"]) else { return Vec::new() };
    let folder = canonical(&top.join(FOLDER));
    let mut notes = Vec::new();
    for entry in list.split("\n\n") {
        let field = |name: &str| entry.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
        let (Some(path), Some(reason)) = (field("worktree "), field("locked ")) else { continue };
        let path = PathBuf::from(path);
        // Someone else's lock, or a cairn still running, is left alone.
        let Some((pid, start, base)) = parse_reason(&reason) else { continue };
        if !path.starts_with(&folder) || start_time(pid) == start {
            continue;
        }
        let branch = field("branch refs/heads/").unwrap_or_default();
        if !path.exists() {
            // The folder is gone: git forgets it below; an untouched branch goes too.
            let _ = git(top, &["worktree", "unlock", &path.to_string_lossy()]);
            if git(top, &["rev-parse", &branch]).is_ok_and(|head| head == base) {
                let _ = git(top, &["branch", "-D", "--quiet", &branch]);
            }
            continue;
        }
        match changes(&path, &base) {
            Ok(None) => remove(top, &path, &branch),
            _ => {
                let _ = git(top, &["worktree", "unlock", &path.to_string_lossy()]);
                notes.push(format!(
                    "An agent's worktree left by an earlier cairn has changes: {} (branch {branch}); it is kept.",
                    path.display()
                ));
            }
        }
    }
    let _ = git(top, &["worktree", "prune"]);
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_reason_names_its_process_and_base() {
        let reason = format!("cairn pid 42 start 9876 base {}", "a".repeat(40));
        assert_eq!(parse_reason(&reason), Some((42, 9876, "a".repeat(40))));
        assert_eq!(parse_reason("cairn pid 42 base abc"), None, "an older or foreign reason");
        assert_ne!(start_time(std::process::id()), 0);
    }
}
