//! Worktree isolation: an agent with `isolation: worktree` works in a fresh `git worktree`
//! of the project's repository, on a branch of its own, in `.claude/worktrees/agent-<id>`
//! (where Claude Code keeps its own, ignored by git through a `.gitignore` of `*` there).
//! Its file tools and its sandbox are confined to the worktree (and the repository's git
//! folder, which a worktree's commits write to). When it ends, a worktree it left unchanged
//! is removed with its branch; one with changes is kept, and the agent's report says where
//! and what changed. A worktree is locked with the owning process's id while it is in use,
//! so one left by a cairn that was killed is found, and pruned, at the next start.

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

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("could not run git: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim_end().to_owned())
    } else {
        Err(format!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Worktree {
    /// A fresh worktree for agent `id` of the repository `project` is in.
    pub fn create(project: &Path, id: &str) -> Result<Worktree, String> {
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
        let reason = format!("cairn pid {} base {base}", std::process::id());
        git(&top, &["worktree", "lock", "--reason", &reason, &path_text])?;
        let subdir = canonical(project).strip_prefix(&top).map(Path::to_path_buf).unwrap_or_default();
        Ok(Worktree { path, branch, base, top, git_dir, subdir })
    }

    /// Where the agent starts: the project's folder, in the worktree.
    pub fn cwd(&self) -> PathBuf {
        self.path.join(&self.subdir)
    }

    /// The agent is done: an unchanged worktree is removed with its branch, a changed one
    /// kept (and unlocked). Whether it was kept, and what became of it in words, for the
    /// agent's report.
    pub fn finish(self) -> (bool, String) {
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

/// Whether the cairn that locked a worktree still runs.
fn owner_alive(reason: &str) -> bool {
    let Some(pid) = reason.strip_prefix("cairn pid ").and_then(|r| r.split_whitespace().next()) else {
        return true;
    };
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    pid.parse::<u32>().ok() == Some(std::process::id()) || comm.trim() == "cairn"
}

/// Worktrees left by a cairn that is no longer running (killed): unchanged ones removed
/// with their branches, changed ones kept and unlocked. What the user should know.
/// Costs a stat or two unless `.claude/worktrees` exists.
pub fn prune(project: &Path) -> Vec<String> {
    let Some(top) = project.ancestors().find(|a| a.join(FOLDER).is_dir()) else { return Vec::new() };
    let Ok(list) = git(top, &["worktree", "list", "--porcelain"]) else { return Vec::new() };
    let folder = canonical(&top.join(FOLDER));
    let mut notes = Vec::new();
    for entry in list.split("\n\n") {
        let field = |name: &str| entry.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
        let (Some(path), Some(reason)) = (field("worktree "), field("locked ")) else { continue };
        let path = PathBuf::from(path);
        if !path.starts_with(&folder) || owner_alive(&reason) {
            continue;
        }
        let base = reason.split(" base ").nth(1).unwrap_or_default().trim().to_owned();
        let branch = field("branch refs/heads/").unwrap_or_default();
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
