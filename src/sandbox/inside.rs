//! What the deny rules protect inside the folders commands may write in. Landlock's rules
//! only add rights, so these paths are taken out in a mount namespace of the command's own
//! (read-only, or covered); here they are found: the paths rules name, and — for rules with
//! wildcards (`Read(./.env)` is `.env` in any folder) — the files and folders a walk of the
//! project finds matching them, once, the first time a sandboxed command runs.

use std::path::{Path, PathBuf};

use crate::permissions::PathDenial;

/// The most entries walked; beyond it, what a wildcard rule matches is not all known.
const MAX_ENTRIES: usize = 200_000;

#[derive(Clone, Debug, Default)]
pub struct Inside {
    /// Paths commands may not read (nor change), each with its rule in words.
    pub read: Vec<(PathBuf, String)>,
    /// Paths commands may not change.
    pub write: Vec<(PathBuf, String)>,
    /// Whether every match of the wildcard rules was found (the walk did not stop early).
    pub complete: bool,
}

/// The protected paths under `roots` (the project and `--add-dir`s), of all that `within`
/// holds (those and the other writable folders); `extra` are more paths (settings, the
/// built-in credentials), already known to be inside.
pub fn find(roots: &[PathBuf], within: &[PathBuf], denials: &[PathDenial], extra: Inside) -> Inside {
    let inside = |p: &Path| within.iter().any(|w| p.starts_with(w));
    let mut found = extra;
    for denial in denials {
        for path in denial.literal.iter().flatten().filter(|p| inside(p)) {
            add(&mut found, denial, path.clone());
        }
    }
    let wild: Vec<&PathDenial> = denials.iter().filter(|d| d.literal.is_none()).collect();
    found.complete = true;
    let mut seen = 0;
    for root in roots.iter().filter(|r| wild.iter().any(|d| d.may_match_under(r))) {
        let walk =
            ignore::WalkBuilder::new(root).standard_filters(false).filter_entry(|e| e.file_name() != ".git").build();
        let mut skip: Vec<PathBuf> = Vec::new();
        for entry in walk.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                found.complete = false;
                break;
            }
            let path = entry.path();
            if skip.iter().any(|s| path.starts_with(s)) {
                continue;
            }
            // A folder everything in which a rule matches (`protected/**`) is protected
            // whole, so nothing new can be made in it either.
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            let whole = |d: &&&PathDenial| d.matches(path) || (is_dir && d.matches(&path.join(".cairn-any-name")));
            for denial in wild.iter().filter(whole) {
                add(&mut found, denial, path.to_path_buf());
                skip.push(path.to_path_buf());
            }
        }
    }
    found
}

fn add(found: &mut Inside, denial: &PathDenial, path: PathBuf) {
    let list = if denial.write { &mut found.write } else { &mut found.read };
    if !list.iter().any(|(p, _)| *p == path) {
        list.push((path, denial.words.clone()));
    }
}

/// Files in a repository's git folder that make git run or read code of their choosing
/// when they appear; git only looks at them when they are there, so they are watched, not
/// mounted over (nothing can be mounted where nothing is).
const GIT_REDIRECTS: &[&str] = &["commondir", "config.worktree"];

/// What keeps git from running the command's code outside the sandbox later: each
/// repository's (and submodule's) hooks and config read-only, and the git folder itself
/// pinned (a mount point cannot be renamed away and replaced).
pub fn git_protections(roots: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut read_only, mut pinned) = (Vec::new(), Vec::new());
    for root in roots {
        let git = root.join(".git");
        if git.is_file() {
            // A worktree's pointer to its git folder.
            read_only.push(git);
            continue;
        }
        if !git.is_dir() {
            continue;
        }
        pinned.push(git.clone());
        let mut repos = vec![git];
        while let Some(repo) = repos.pop() {
            read_only.extend(["hooks", "config"].iter().map(|n| repo.join(n)).filter(|p| p.exists()));
            if let Ok(modules) = std::fs::read_dir(repo.join("modules")) {
                repos.extend(modules.flatten().map(|m| m.path()).filter(|p| p.is_dir()).take(100));
            }
        }
    }
    (read_only, pinned)
}

/// The redirecting files present now in the roots' git folders.
pub fn git_redirects(roots: &[PathBuf]) -> Vec<PathBuf> {
    let files = roots.iter().flat_map(|r| GIT_REDIRECTS.iter().map(move |n| r.join(".git").join(n)));
    files.filter(|p| p.is_file()).collect()
}

/// After a sandboxed command: a redirecting file it made is removed (git would have run what
/// it points at outside the sandbox); what was done, in words.
pub fn undo_git_redirects(roots: &[PathBuf], before: &[PathBuf]) -> Vec<String> {
    let mut notes = Vec::new();
    for path in git_redirects(roots).into_iter().filter(|p| !before.contains(p)) {
        let done = match std::fs::remove_file(&path) {
            Ok(()) => "removed it".to_owned(),
            Err(e) => format!("could not remove it ({e}): do not run git here until it is gone"),
        };
        notes.push(format!(
            "The command made {}, which would make git run code outside the sandbox; cairn {done}.",
            path.display()
        ));
    }
    notes
}
