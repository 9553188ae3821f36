//! Checkpoints: a way back from every change the tools make to files.
//!
//! Before Write, Edit or MultiEdit changes a file, its bytes and mode (or its absence) are
//! kept in the session's content store ([`store`]) and the change is written to the
//! session's journal, both synced, before the file is touched; a checkpoint that cannot be
//! written stops the change. Around each Bash command the project tree is compared
//! ([`tree`]): each file the command changed, deleted or created is journaled with its
//! previous version — from the store when cairn kept the version the file had, else from
//! git's index when the index was made from exactly that file — and a version neither has
//! is journaled as lost, never silently. Each user prompt starts a turn in the journal;
//! [`rewind`] brings the files back to how they were when a turn began.
//!
//! The journal (`file-history.jsonl` beside the transcript) is the source of truth: it is
//! read back when the session is resumed.

pub mod rewind;
pub mod store;
pub mod tree;
pub mod watch;

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use store::Store;
use tree::{Stat, Tree};

/// A version of a file: its bytes (by name in the store) and mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub hash: String,
    pub mode: u32,
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Entry {
    /// A user prompt (or a rewind) begins; what follows belongs to it.
    Turn {
        turn: String,
        at: String,
        label: String,
    },
    Change(Change),
    /// The change `id` did not happen after all (the write failed).
    Void {
        id: String,
    },
}

/// A file changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub id: String,
    pub turn: String,
    pub path: PathBuf,
    /// The version before (`None`: the file did not exist, or — with `lost` — its content
    /// is not known).
    pub before: Option<Version>,
    /// The version after (`None`: the file is gone).
    pub after: Option<Version>,
    /// The tool that made it (Write, Edit, Bash, rewind).
    pub tool: String,
    /// Why the version before cannot be brought back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
}

/// What cairn knows a file is now: the version and the directory's view of it.
#[derive(Clone, Debug)]
struct Known {
    version: Version,
    stat: Stat,
}

pub struct Checkpoints {
    root: PathBuf,
    /// More folders commands may change (`--add-dir`), scanned beside the project.
    more_roots: Vec<PathBuf>,
    store: Store,
    journal_path: PathBuf,
    state: Mutex<State>,
    /// For each folder scanned (the project first): the last scan of its tree, which the
    /// next one starts from, and the kernel's watch on its folders since.
    last_scan: Mutex<Vec<Option<Scanned>>>,
}

type Scanned = (tree::Snapshot, Option<watch::Watch>);

struct State {
    entries: Vec<Entry>,
    journal: Option<std::fs::File>,
    turn: String,
    known: HashMap<PathBuf, Known>,
    /// When the last scan began.
    scanned_at: std::time::SystemTime,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The largest file a Read keeps a copy of (a larger one is kept when it is changed).
const KEEP_ON_READ: u64 = 4 << 20;
/// The largest file a command's change is kept of (a larger one is read whole otherwise).
const KEEP_AFTER_COMMAND: u64 = 64 << 20;

fn ino_of(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).map_or(0, |m| m.ino())
}

/// Whether the file at `path` came into being at or after `instant` (`false` when the file
/// system does not say: then it is not taken for new).
fn born_after(path: &Path, instant: std::time::SystemTime) -> bool {
    std::fs::symlink_metadata(path).and_then(|m| m.created()).is_ok_and(|born| born >= instant)
}

/// One folder's files now: its last scan (`scanned`) brought up to date through its watch,
/// or a walk of it the first time.
fn scan_one(root: &Path, scanned: &mut Option<Scanned>) -> Option<std::sync::Arc<Tree>> {
    let Some((previous, mut watch)) = scanned.take() else {
        let now = tree::scan(root)?;
        let watch = watch::Watch::new(now.dirs.keys());
        let files = std::sync::Arc::clone(&now.files);
        *scanned = Some((now, watch));
        return Some(files);
    };
    let touched = watch.as_mut().and_then(watch::Watch::take);
    let now = tree::rescan(root, &previous, touched.as_ref())?;
    if let Some(w) = watch.as_mut() {
        if touched.is_none() {
            w.primed();
        }
        if !w.extend(now.dirs.keys()) {
            watch = None;
        }
    }
    let files = std::sync::Arc::clone(&now.files);
    *scanned = Some((now, watch));
    Some(files)
}

impl Checkpoints {
    /// The checkpoints of the session whose folder is `session_dir`, for the project at
    /// `root`; a journal already there (a resumed session) is read back.
    pub fn open(root: &Path, session_dir: &Path) -> Checkpoints {
        let journal_path = session_dir.join("file-history.jsonl");
        let entries: Vec<Entry> = std::fs::read_to_string(&journal_path)
            .map(|text| text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
            .unwrap_or_default();
        // What cairn knew of the files is not carried over: they may have changed while no
        // cairn was running (a version taken for one that changed since would overwrite the
        // user's work at rewind).
        let known = HashMap::new();
        let turn = entries
            .iter()
            .rev()
            .find_map(|e| match e {
                Entry::Turn { turn, .. } => Some(turn.clone()),
                _ => None,
            })
            .unwrap_or_default();
        Checkpoints {
            root: root.to_path_buf(),
            store: Store::new(session_dir.join("file-history")),
            journal_path,
            state: Mutex::new(State { entries, journal: None, turn, known, scanned_at: std::time::UNIX_EPOCH }),
            last_scan: Mutex::new(vec![None]),
            more_roots: Vec::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The time now as file systems stamp it (the kernel's coarse clock, which lags the
    /// one `SystemTime::now` reads by up to a tick): a mark file's time, written now.
    fn file_system_now(&self) -> std::time::SystemTime {
        let mark = self.journal_path.with_file_name(".scan-mark");
        let stamped = mark
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::File::create(&mark))
            .and_then(|file| file.metadata())
            .and_then(|meta| meta.modified());
        stamped.unwrap_or_else(|_| std::time::SystemTime::now() - std::time::Duration::from_millis(50))
    }

    /// The project folder, as the file system names it.
    pub fn root_dir(&self) -> PathBuf {
        self.root.canonicalize().unwrap_or_else(|_| self.root.clone())
    }

    /// A turn begins: the user's prompt `turn` (its id in the transcript), shown as `label`.
    pub fn begin_turn(&self, turn: &str, label: &str) {
        let entry = Entry::Turn { turn: turn.to_owned(), at: now(), label: label.to_owned() };
        let mut state = lock(&self.state);
        state.turn = turn.to_owned();
        let _ = self.append(&mut state, &entry, false);
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Vec<Entry> {
        lock(&self.state).entries.clone()
    }

    /// Before `tool` writes `new` over the file at `path` (whose bytes are `old`, `None`:
    /// absent): the old version is kept and the change journaled, both on disk. The id of
    /// the change, to void it if the write then fails.
    pub fn before_write(&self, path: &Path, old: Option<&[u8]>, new: &[u8], tool: &str) -> Result<String, String> {
        self.before_change(path, old, Some(new), tool)
    }

    /// Before a file (whose bytes are `old`) is removed.
    pub fn before_removal(&self, path: &Path, old: &[u8]) -> Result<String, String> {
        self.before_change(path, Some(old), None, "rewind")
    }

    fn before_change(&self, path: &Path, old: Option<&[u8]>, new: Option<&[u8]>, tool: &str) -> Result<String, String> {
        let meta = std::fs::metadata(path).ok();
        let mode = meta.as_ref().map_or(0o644, |m| m.permissions().mode() & 0o7777);
        let keep = |bytes: &[u8], base: Option<&str>| {
            self.store.put(bytes, base).map_err(|e| {
                format!(
                    "could not keep a copy of {} to undo the change ({e}); the file was not changed",
                    path.display()
                )
            })
        };
        let before = match old {
            Some(bytes) => Some(Version { hash: keep(bytes, None)?, mode }),
            None => None,
        };
        let after = match new {
            Some(bytes) => Some(Version { hash: keep(bytes, before.as_ref().map(|v| v.hash.as_str()))?, mode }),
            None => None,
        };
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut state = lock(&self.state);
        let change = Change {
            id: id.clone(),
            turn: state.turn.clone(),
            path: path.to_path_buf(),
            before,
            after,
            tool: tool.to_owned(),
            lost: None,
        };
        self.append(&mut state, &Entry::Change(change), true)
            .map_err(|e| format!("could not write the checkpoint journal ({e}); {} was not changed", path.display()))?;
        Ok(id)
    }

    /// After the write of change `id`: what cairn knows the file is now; or, when the write
    /// failed, the change is voided.
    pub fn after_write(&self, id: &str, path: &Path, written: bool) {
        let mut state = lock(&self.state);
        if !written {
            let _ = self.append(&mut state, &Entry::Void { id: id.to_owned() }, false);
            return;
        }
        let version =
            state.entries.iter().rev().filter_map(as_change).find(|c| c.id == id).and_then(|c| c.after.clone());
        match (version, std::fs::metadata(path)) {
            (Some(mut version), Ok(meta)) => {
                // The mode the file really got (a new file's comes from the umask).
                version.mode = meta.permissions().mode() & 0o7777;
                state.known.insert(path.to_path_buf(), Known { version, stat: Stat::of(&meta) });
            }
            _ => {
                state.known.remove(path);
            }
        }
    }

    /// A Read saw `bytes` in the file at `path`: kept, so a command that changes the file
    /// later can be undone.
    pub fn saw(&self, path: &Path, bytes: &[u8]) {
        let Ok(meta) = std::fs::metadata(path) else { return };
        if meta.len() > KEEP_ON_READ || meta.len() != bytes.len() as u64 {
            return;
        }
        let mut state = lock(&self.state);
        let base = state.known.get(path).map(|k| k.version.hash.clone());
        if let Ok(hash) = self.store.put_unsynced(bytes, base.as_deref()) {
            let version = Version { hash, mode: meta.permissions().mode() & 0o7777 };
            state.known.insert(path.to_path_buf(), Known { version, stat: Stat::of(&meta) });
        }
    }

    /// Commands' changes in `dirs` (the `--add-dir` folders) are checkpointed too.
    pub fn with_more_roots(mut self, dirs: &[PathBuf]) -> Checkpoints {
        self.more_roots = dirs.iter().filter(|d| !d.starts_with(&self.root)).cloned().collect();
        self.last_scan = Mutex::new((0..=self.more_roots.len()).map(|_| None).collect());
        self
    }

    /// The files now of the project and the other folders scanned (`None`: too many to
    /// watch): each folder's last scan brought up to date, or a walk of it the first time.
    pub fn scan(&self) -> Option<std::sync::Arc<Tree>> {
        lock(&self.state).scanned_at = self.file_system_now();
        let mut last = self.last_scan.lock().unwrap_or_else(PoisonError::into_inner);
        let roots = std::iter::once(&self.root).chain(&self.more_roots);
        let mut trees: Vec<std::sync::Arc<Tree>> = Vec::new();
        for (root, scanned) in roots.zip(last.iter_mut()) {
            trees.push(scan_one(root, scanned)?);
        }
        match trees.len() {
            1 => trees.pop(),
            _ => Some(std::sync::Arc::new(trees.iter().flat_map(|t| t.iter().map(|(p, s)| (p.clone(), *s))).collect())),
        }
    }

    /// After a command: what it changed, compared with `before`, journaled. The paths it
    /// changed whose earlier version is lost, for the model's result.
    pub fn after_command(&self, before: &Tree, tool: &str) -> Vec<PathBuf> {
        let scanned_at = lock(&self.state).scanned_at;
        let Some(after) = self.scan() else { return Vec::new() };
        let diff = tree::diff(before, &after);
        if diff.changed.is_empty() && diff.created.is_empty() && diff.deleted.is_empty() {
            return Vec::new();
        }
        let state = lock(&self.state);
        // Versions cairn kept of files exactly as they were before the command.
        let kept = |path: &PathBuf| {
            let stat = before.get(path)?;
            state.known.get(path).filter(|k| k.stat == *stat).map(|k| k.version.clone())
        };
        let unknown: Vec<(PathBuf, Stat)> = diff
            .changed
            .iter()
            .chain(&diff.deleted)
            .filter(|p| kept(p).is_none())
            .filter_map(|p| Some((p.clone(), *before.get(p)?)))
            .collect();
        drop(state);
        let mut from_git = HashMap::new();
        for root in std::iter::once(&self.root).chain(&self.more_roots) {
            let under: Vec<(PathBuf, Stat)> = unknown.iter().filter(|(p, _)| p.starts_with(root)).cloned().collect();
            if !under.is_empty() {
                from_git.extend(tree::from_git_index(root, &under));
            }
        }
        // Files the command moved: a new name holding an inode a gone name had.
        let renamed: std::collections::HashSet<u64> =
            diff.deleted.iter().filter_map(|p| before.get(p)).map(|s| s.ino).collect();
        let mut lost = Vec::new();
        let mut state = lock(&self.state);
        let mut changes = Vec::new();
        for path in diff.changed.iter().chain(&diff.deleted).chain(&diff.created) {
            let was = before.get(path);
            let (before_version, why) = match was {
                // New to the scan, but older than the command: it was there under another
                // name, or ignored, before. Removing it would lose it.
                None if !renamed.contains(&ino_of(path)) && !born_after(path, scanned_at) => {
                    (None, Some("it was there before the command (renamed, or not watched before)".to_owned()))
                }
                None => (None, None),
                Some(stat) => match state.known.get(path).filter(|k| k.stat == *stat) {
                    Some(known) => (Some(known.version.clone()), None),
                    None => match from_git.get(path).map(|bytes| self.store.put(bytes, None)) {
                        Some(Ok(hash)) => (Some(Version { hash, mode: stat.mode }), None),
                        _ => (
                            None,
                            Some(
                                "cairn never saw this version of the file, and git's index does not hold it".to_owned(),
                            ),
                        ),
                    },
                },
            };
            if why.is_some() {
                lost.push(path.clone());
            }
            let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= KEEP_AFTER_COMMAND);
            let after_version = small.then(|| std::fs::read(path).ok()).flatten().and_then(|bytes| {
                let meta = std::fs::metadata(path).ok()?;
                let hash = self.store.put(&bytes, before_version.as_ref().map(|v| v.hash.as_str())).ok()?;
                let version = Version { hash, mode: meta.permissions().mode() & 0o7777 };
                state.known.insert(path.clone(), Known { version: version.clone(), stat: Stat::of(&meta) });
                Some(version)
            });
            if after_version.is_none() {
                state.known.remove(path);
            }
            changes.push(Change {
                id: uuid::Uuid::new_v4().simple().to_string(),
                turn: state.turn.clone(),
                path: path.clone(),
                before: before_version,
                after: after_version,
                tool: tool.to_owned(),
                lost: why,
            });
        }
        for change in changes {
            let _ = self.append(&mut state, &Entry::Change(change), false);
        }
        if let Some(file) = &state.journal {
            let _ = file.sync_data();
        }
        lost
    }

    /// The files changed since turn `turn` began (`None`: no such turn), oldest first.
    pub fn changes_since(&self, turn: &str) -> Option<Vec<Change>> {
        let state = lock(&self.state);
        let start = state.entries.iter().rposition(|e| matches!(e, Entry::Turn { turn: t, .. } if t == turn))?;
        Some(live_changes(&state.entries[start..]))
    }

    fn append(&self, state: &mut State, entry: &Entry, sync: bool) -> std::io::Result<()> {
        if state.journal.is_none() {
            if let Some(dir) = self.journal_path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = std::fs::OpenOptions::new().create(true).append(true).read(true).open(&self.journal_path)?;
            // A line cut short (a crash, a full disk) must not swallow the next one.
            if ends_unfinished(&mut file) {
                file.write_all(b"\n")?;
            }
            state.journal = Some(file);
        }
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let file = state.journal.as_mut().ok_or_else(|| std::io::Error::other("no journal"))?;
        file.write_all(&line)?;
        if sync {
            file.sync_data()?;
        }
        state.entries.push(entry.clone());
        Ok(())
    }
}

/// Gives a fork the checkpoints of the session it came from: the journal copied, the
/// store's entries linked (or copied).
pub fn copy(from_session_dir: &Path, to_session_dir: &Path) -> std::io::Result<()> {
    let journal = from_session_dir.join("file-history.jsonl");
    if !journal.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(to_session_dir)?;
    std::fs::copy(&journal, to_session_dir.join("file-history.jsonl"))?;
    let names: Vec<String> = std::fs::read_dir(from_session_dir.join("file-history"))
        .map(|dir| dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    Store::new(from_session_dir.join("file-history")).share_with(&to_session_dir.join("file-history"), &names)
}

fn ends_unfinished(file: &mut std::fs::File) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1)).is_ok() && file.read_exact(&mut last).is_ok() && last[0] != b'\n'
}

fn as_change(entry: &Entry) -> Option<&Change> {
    match entry {
        Entry::Change(change) => Some(change),
        _ => None,
    }
}

/// The changes among `entries` that were not voided.
fn live_changes(entries: &[Entry]) -> Vec<Change> {
    let voided: Vec<&str> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Void { id } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    entries.iter().filter_map(as_change).filter(|c| !voided.contains(&c.id.as_str())).cloned().collect()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
