//! What a command changed: the project's files (as git would list them — ignored files and
//! `.git` left out) with their size, modification time and mode, before and after; and,
//! for a file cairn never kept a copy of, whether git's index holds the version it had.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::watch::Touched;

/// A file as the directory says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    /// Modification time, in nanoseconds.
    pub mtime: i128,
    /// Status change time, in nanoseconds: a rename or a copy that keeps the modification
    /// time (`mv`, `cp -p`, `touch -r`) still moves it.
    pub ctime: i128,
    pub ino: u64,
    pub mode: u32,
}

impl Stat {
    pub fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            size: meta.len(),
            mtime: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            ino: meta.ino(),
            mode: meta.mode() & 0o7777,
        }
    }
}

/// The project's files at one moment.
pub type Tree = HashMap<PathBuf, Stat>;

/// Files above this many are not compared (a scan would cost more than the command).
pub const MAX_FILES: usize = 200_000;

/// A scan kept for the next one: the files, and each folder with its modification time
/// (a folder's time changes when an entry is added, removed or renamed in it, not when a
/// file's content changes).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub files: std::sync::Arc<Tree>,
    pub dirs: HashMap<PathBuf, i128>,
}

fn walker(root: &Path, depth: Option<usize>) -> ignore::WalkParallel {
    // Git's own rules only: `.gitignore` inside a repository and its exclude file — not
    // ripgrep's `.ignore` files, nor a `.gitignore` above the repository.
    ignore::WalkBuilder::new(root)
        .hidden(false)
        .ignore(false)
        .git_global(false)
        .require_git(true)
        .max_depth(depth)
        .filter_entry(|e| e.file_name() != ".git")
        .threads(2)
        .build_parallel()
}

/// Walks `root` (to `depth`), adding what it finds to `into`; `false` when the tree is too
/// large to watch.
fn walk(root: &Path, depth: Option<usize>, into: &mut Snapshot) -> bool {
    let found = Mutex::new(std::mem::take(into));
    let too_many = std::sync::atomic::AtomicBool::new(false);
    walker(root, depth).run(|| {
        Box::new(|entry| {
            let Ok(entry) = entry else { return ignore::WalkState::Continue };
            let Some(kind) = entry.file_type() else { return ignore::WalkState::Continue };
            if !(kind.is_file() || kind.is_dir()) {
                return ignore::WalkState::Continue;
            }
            let Ok(meta) = entry.metadata() else { return ignore::WalkState::Continue };
            let mut found = found.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if kind.is_dir() {
                found.dirs.insert(entry.into_path(), Stat::of(&meta).mtime);
            } else {
                std::sync::Arc::make_mut(&mut found.files).insert(entry.into_path(), Stat::of(&meta));
            }
            if found.files.len() > MAX_FILES {
                too_many.store(true, std::sync::atomic::Ordering::Relaxed);
                return ignore::WalkState::Quit;
            }
            ignore::WalkState::Continue
        })
    });
    *into = found.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    !too_many.into_inner()
}

/// The files under `root`, ignore-aware, on all cores; `None` for a tree too large to watch.
pub fn scan(root: &Path) -> Option<Snapshot> {
    let mut snapshot = Snapshot::default();
    walk(root, None, &mut snapshot).then_some(snapshot)
}

/// The files under `root` now, from the last scan: a folder whose time is unchanged holds
/// the same names, so only its files' stats are read again — only those `touched` names,
/// when a [`Watch`](super::watch::Watch) could say — and a changed folder is read again (a
/// new one walked whole).
pub fn rescan(root: &Path, last: &Snapshot, touched: Option<&Touched>) -> Option<Snapshot> {
    let (mut same, mut changed): (Vec<&PathBuf>, Vec<&PathBuf>) = (Vec::new(), Vec::new());
    for (dir, mtime) in &last.dirs {
        let now = std::fs::metadata(dir).ok().map(|m| Stat::of(&m).mtime);
        match now {
            Some(now) if now == *mtime && !touched.is_some_and(|t| t.dirs.contains(dir)) => same.push(dir),
            Some(_) => changed.push(dir),
            None => {}
        }
    }
    if let Some(touched) = touched
        && changed.is_empty()
        && same.len() == last.dirs.len()
    {
        return Some(refreshed(last, &touched.files));
    }
    let mut by_dir: HashMap<&Path, Vec<&PathBuf>> = HashMap::new();
    for path in last.files.keys() {
        by_dir.entry(path.parent().unwrap_or(root)).or_default().push(path);
    }
    // The files of unchanged folders: one stat each (of those touched, when known), on
    // both cores.
    let files: Vec<&PathBuf> =
        same.iter().flat_map(|d| by_dir.get(d.as_path()).into_iter().flatten().copied()).collect();
    let half = files.len() / 2;
    let stat_all = |part: &[&PathBuf]| -> Vec<(PathBuf, Stat)> {
        part.iter()
            .filter_map(|p| match touched {
                Some(t) if !t.files.contains(*p) => Some(((*p).clone(), last.files[*p])),
                _ => Some(((*p).clone(), Stat::of(&std::fs::symlink_metadata(p).ok()?))),
            })
            .collect()
    };
    let (left, right) = std::thread::scope(|s| {
        let right = s.spawn(|| stat_all(&files[half..]));
        (stat_all(&files[..half]), right.join().unwrap_or_default())
    });
    let mut files: Tree = left.into_iter().chain(right).collect();
    let mut dirs = HashMap::new();
    for dir in &same {
        dirs.insert((*dir).clone(), last.dirs[*dir]);
    }
    // Changed folders: their entries again; folders new to the scan, whole.
    for dir in changed {
        let mut shallow = Snapshot::default();
        if !walk(dir, Some(1), &mut shallow) {
            return None;
        }
        for (sub, mtime) in shallow.dirs {
            if sub != *dir && !last.dirs.contains_key(&sub) {
                let mut whole = Snapshot::default();
                if !walk(&sub, None, &mut whole) {
                    return None;
                }
                files.extend(whole.files.iter().map(|(p, s)| (p.clone(), *s)));
                dirs.extend(whole.dirs);
            }
            dirs.insert(sub, mtime);
        }
        files.extend(shallow.files.iter().map(|(p, s)| (p.clone(), *s)));
    }
    (files.len() <= MAX_FILES).then(|| Snapshot { files: std::sync::Arc::new(files), dirs })
}

/// The last scan with the stats of `touched` files read again: no folder changed.
fn refreshed(last: &Snapshot, touched: &HashSet<PathBuf>) -> Snapshot {
    let mut now = last.clone();
    for path in touched.iter().filter(|p| last.files.contains_key(*p)) {
        let files = std::sync::Arc::make_mut(&mut now.files);
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => files.insert(path.clone(), Stat::of(&meta)),
            _ => files.remove(path),
        };
    }
    now
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
    // Few paths per call (the command line has a limit), one `cat-file` for all blobs.
    let mut wanted: Vec<(PathBuf, String)> = Vec::new();
    for chunk in paths.chunks(500) {
        let Some(listing) = ls_files(root, chunk.iter().map(|(p, _)| p.as_path())) else { return out };
        for (path, stat) in chunk {
            if let Some((blob, size, mtime)) = listing.get(path)
                && *size == stat.size
                && *mtime == stat.mtime
            {
                wanted.push((path.clone(), blob.clone()));
            }
        }
    }
    for (path, bytes) in cat_blobs(root, &wanted) {
        out.insert(path, bytes);
    }
    out
}

/// The blobs `wanted` names, through one `git cat-file --batch`.
fn cat_blobs(root: &Path, wanted: &[(PathBuf, String)]) -> Vec<(PathBuf, Vec<u8>)> {
    use std::io::{BufRead, Read, Write};
    if wanted.is_empty() {
        return Vec::new();
    }
    let Ok(mut child) = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Vec::new();
    };
    let ids: String = wanted.iter().map(|(_, blob)| format!("{blob}\n")).collect();
    let mut stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            let _ = stdin.write_all(ids.as_bytes());
        }
    });
    let mut out = Vec::new();
    let Some(stdout) = child.stdout.take() else { return out };
    let mut reader = std::io::BufReader::new(stdout);
    for (path, _) in wanted {
        // "<sha> blob <size>\n<bytes>\n", or "<sha> missing\n".
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            break;
        }
        let Some(size) = header.split_whitespace().nth(2).and_then(|s| s.parse::<usize>().ok()) else { continue };
        let mut bytes = vec![0; size + 1];
        if reader.read_exact(&mut bytes).is_err() {
            break;
        }
        bytes.truncate(size);
        out.push((path.clone(), bytes));
    }
    let _ = writer.join();
    let _ = child.wait();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rescan_sees_what_a_full_scan_sees() {
        let root = tempfile::tempdir().unwrap();
        // Git's rules apply inside a repository.
        let init = Command::new("git").args(["init", "-q"]).current_dir(root.path()).status().unwrap();
        assert!(init.success());
        let write = |p: &str, text: &str| {
            let path = root.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("a.txt", "a");
        write("stable/s.txt", "s");
        write("keep/b.txt", "b");
        write("gone/c.txt", "c");
        write("moved/d.txt", "d");
        write(".gitignore", "ignored/\n");
        write("ignored/x.txt", "x");
        let first = scan(root.path()).unwrap();
        assert!(!first.files.keys().any(|p| p.ends_with("x.txt")), "ignored files are left out");
        // Content changed in place (the folder's time stays), a file added, a folder
        // removed, a file renamed, a new folder with files.
        std::fs::write(root.path().join("keep/b.txt"), "bb").unwrap();
        std::fs::write(root.path().join("stable/s.txt"), "ss").unwrap();
        write("keep/new.txt", "n");
        std::fs::remove_dir_all(root.path().join("gone")).unwrap();
        std::fs::rename(root.path().join("moved/d.txt"), root.path().join("moved/e.txt")).unwrap();
        write("fresh/deep/f.txt", "f");
        write("ignored/y.txt", "y");
        let again = rescan(root.path(), &first, None).unwrap();
        let full = scan(root.path()).unwrap();
        let mut seen: Vec<_> = again.files.iter().collect();
        let mut expected: Vec<_> = full.files.iter().collect();
        seen.sort_by_key(|(path, _)| (*path).clone());
        expected.sort_by_key(|(path, _)| (*path).clone());
        assert_eq!(seen, expected);
        let changes = diff(&first.files, &again.files);
        assert_eq!(changes.changed, vec![root.path().join("keep/b.txt"), root.path().join("stable/s.txt")]);
        assert_eq!(changes.deleted, vec![root.path().join("gone/c.txt"), root.path().join("moved/d.txt")]);
        assert_eq!(changes.created.len(), 3, "{:?}", changes.created);
    }
}
