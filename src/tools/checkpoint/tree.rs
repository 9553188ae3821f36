//! What a command changed: the project's files (as git would list them — ignored files and
//! `.git` left out) with their size, modification time and mode, before and after; and,
//! for a file cairn never kept a copy of, whether git's index holds the version it had.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// A file as the directory says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    /// Modification time, in nanoseconds.
    pub mtime: i128,
    pub mode: u32,
}

impl Stat {
    pub fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            size: meta.len(),
            mtime: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            mode: meta.mode() & 0o7777,
        }
    }
}

/// The project's files at one moment.
pub type Tree = HashMap<PathBuf, Stat>;

/// Files above this many are not compared (a scan would cost more than the command).
pub const MAX_FILES: usize = 200_000;

/// The files under `root`, ignore-aware, on all cores; `None` for a tree too large to watch.
pub fn scan(root: &Path) -> Option<Tree> {
    let found = Mutex::new(Tree::new());
    let too_many = std::sync::atomic::AtomicBool::new(false);
    ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_global(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .threads(2)
        .build_parallel()
        .run(|| {
            Box::new(|entry| {
                let Ok(entry) = entry else { return ignore::WalkState::Continue };
                if entry.file_type().is_some_and(|t| t.is_file())
                    && let Ok(meta) = entry.metadata()
                {
                    let mut found = found.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    found.insert(entry.into_path(), Stat::of(&meta));
                    if found.len() > MAX_FILES {
                        too_many.store(true, std::sync::atomic::Ordering::Relaxed);
                        return ignore::WalkState::Quit;
                    }
                }
                ignore::WalkState::Continue
            })
        });
    if too_many.into_inner() {
        return None;
    }
    Some(found.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// What changed between two scans.
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    /// Files whose content may have changed (size, time or mode differ).
    pub changed: Vec<PathBuf>,
    pub created: Vec<PathBuf>,
    pub deleted: Vec<PathBuf>,
}

pub fn diff(before: &Tree, after: &Tree) -> Diff {
    let mut out = Diff::default();
    for (path, was) in before {
        match after.get(path) {
            None => out.deleted.push(path.clone()),
            Some(now) if now != was => out.changed.push(path.clone()),
            Some(_) => {}
        }
    }
    out.created = after.keys().filter(|p| !before.contains_key(*p)).cloned().collect();
    out.changed.sort();
    out.created.sort();
    out.deleted.sort();
    out
}

/// For each of `paths` (with its size and time before the command), the bytes git's index
/// holds, when the index entry was made from exactly that file (same size and time).
pub fn from_git_index(root: &Path, paths: &[(PathBuf, Stat)]) -> HashMap<PathBuf, Vec<u8>> {
    let mut out = HashMap::new();
    // No repository around the project: nothing to ask git.
    if paths.is_empty() || !root.ancestors().any(|dir| dir.join(".git").exists()) {
        return out;
    }
    let Some(listing) = ls_files(root, paths.iter().map(|(p, _)| p.as_path())) else { return out };
    for (path, stat) in paths {
        let Some((blob, size, mtime)) = listing.get(path) else { continue };
        if *size != stat.size || *mtime != stat.mtime {
            continue;
        }
        let shown =
            Command::new("git").arg("-C").arg(root).args(["cat-file", "blob", blob]).stderr(Stdio::null()).output();
        if let Ok(shown) = shown
            && shown.status.success()
        {
            out.insert(path.clone(), shown.stdout);
        }
    }
    out
}

/// `git ls-files --stage --debug` for `paths`: path → (blob, size, mtime in ns).
fn ls_files<'a>(root: &Path, paths: impl Iterator<Item = &'a Path>) -> Option<HashMap<PathBuf, (String, u64, i128)>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "--stage", "--debug", "-z", "--"])
        .args(paths)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    // Paths come relative to `root` (the folder git runs in).
    let top = root.to_path_buf();
    let text = String::from_utf8_lossy(&output.stdout);
    let mut out = HashMap::new();
    // Each entry: "<mode> <blob> <stage>\t<path>\0", then its "  name: value" lines.
    let mut entry: Option<(String, PathBuf)> = None;
    let (mut size, mut mtime) = (None, None);
    for line in text.split(['\0', '\n']).filter(|l| !l.is_empty()) {
        if !line.starts_with(' ') {
            let Some((fields, path)) = line.split_once('\t') else { continue };
            entry = Some((fields.split(' ').nth(1).unwrap_or_default().to_owned(), top.join(path)));
            (size, mtime) = (None, None);
        } else if let Some(value) = line.trim().strip_prefix("mtime: ") {
            let (secs, nanos) = value.split_once(':').unwrap_or((value, "0"));
            mtime = secs
                .parse::<i64>()
                .ok()
                .zip(nanos.parse::<i64>().ok())
                .map(|(s, n)| i128::from(s) * 1_000_000_000 + i128::from(n));
        } else if let Some(value) = line.trim().strip_prefix("size: ") {
            size = value.split_whitespace().next().and_then(|v| v.parse().ok());
        }
        if let (Some((blob, path)), Some(size), Some(mtime)) = (&entry, size, mtime) {
            out.insert(path.clone(), (blob.clone(), size, mtime));
        }
    }
    Some(out)
}
