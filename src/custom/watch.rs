//! Live reload: the folders users keep commands, skills, agents, memory files and settings
//! in are watched (inotify through `notify`; a burst of changes is gathered for 300 ms), and
//! what changed is handed on as a list of paths; the core reloads what they belong to before
//! the next turn. A thread of cairn's own waits for the events — blocked, not polling — so
//! an idle session wakes nothing.
//!
//! Watched: the project folder itself (not its subfolders: memory files), its `.claude/` and
//! `.cairn/` with everything under them, and the user folders' `commands/`, `skills/` and
//! `agents/` with everything under them plus the user folders themselves (not recursively:
//! cairn writes transcripts under them).
//!
//! Invariant: a reload is asked for only when a file's content changed (or a file or folder
//! came or went). inotify also reports opening and reading files and folders — which the
//! reload itself does — and `touch` or an editor's save of the same bytes reports a change:
//! each watched path's content fingerprint is kept, and an event whose path reads the same as
//! before is dropped. Without that, a reload's own reads would trigger the next reload.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher as _};

use super::Locations;

/// Keeps the watch alive; dropping it stops watching (and ends the thread that waits).
pub struct Watcher {
    _watcher: notify::RecommendedWatcher,
}

/// How long a burst of changes is gathered before it is looked at.
const GATHER: Duration = Duration::from_millis(300);

/// What a changed path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Changed {
    /// A command, skill or agent file.
    Catalog,
    /// A memory file (`AGENTS.md`, `CLAUDE.md`, `CLAUDE.local.md`).
    Memory,
    /// A settings file.
    Settings,
    /// A folder cairn watches was created (`.claude/`, `skills/`…): watch again, reload all.
    Folders,
}

/// What a path that changed belongs to (`None`: nothing cairn reloads).
pub fn classify(path: &Path) -> Option<Changed> {
    let name = path.file_name()?.to_string_lossy();
    let under = |folder: &str| path.components().any(|c| c.as_os_str() == folder);
    if under("projects") {
        return None;
    }
    if matches!(name.as_ref(), ".claude" | ".cairn" | "commands" | "skills" | "agents") && path.is_dir() {
        return Some(Changed::Folders);
    }
    if under("commands") || under("skills") || under("agents") {
        return Some(Changed::Catalog);
    }
    if matches!(name.as_ref(), "AGENTS.md" | "CLAUDE.md" | "CLAUDE.local.md")
        || (under("rules") && name.ends_with(".md"))
    {
        return Some(Changed::Memory);
    }
    if name.starts_with("settings") && name.ends_with(".json") {
        return Some(Changed::Settings);
    }
    None
}

/// Starts watching; `changed` gets each debounced batch's kinds (sorted, once each).
/// `Err` says why nothing (or not everything) will reload live.
pub fn start(locations: &Locations, changed: impl Fn(Vec<Changed>) + Send + 'static) -> Result<Watcher, String> {
    let roots = roots(locations);
    // Taken before the watch starts: a change after this is both seen and different.
    let mut fingerprints = Fingerprints::default();
    fingerprints.seed(&roots);
    let (events, arrived) = std::sync::mpsc::channel::<notify::Event>();
    // Opening and reading files is not a change: those events do not even wake the thread.
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        if let Ok(event) = result
            && !event.kind.is_access()
        {
            let _ = events.send(event);
        }
    })
    .map_err(|e| e.to_string())?;
    for (path, mode) in roots {
        if path.is_dir() {
            watcher.watch(&path, mode).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    std::thread::Builder::new()
        .name("cairn-watch".into())
        .spawn(move || {
            while let Ok(first) = arrived.recv() {
                let mut batch = vec![first];
                let until = Instant::now() + GATHER;
                while let Some(left) = until.checked_duration_since(Instant::now()) {
                    match arrived.recv_timeout(left) {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                let mut kinds: Vec<Changed> = batch
                    .iter()
                    .flat_map(|e| e.paths.iter())
                    .filter_map(|p| Some((p, classify(p)?)))
                    .filter(|(p, _)| fingerprints.update(p))
                    .map(|(_, kind)| kind)
                    .collect();
                kinds.sort();
                kinds.dedup();
                if !kinds.is_empty() {
                    changed(kinds);
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(Watcher { _watcher: watcher })
}

/// The folders watched, and how deep.
fn roots(locations: &Locations) -> Vec<(PathBuf, RecursiveMode)> {
    let mut roots: Vec<(PathBuf, RecursiveMode)> = vec![(locations.project.clone(), RecursiveMode::NonRecursive)];
    for base in locations.project_dirs() {
        roots.push((base, RecursiveMode::Recursive));
    }
    for base in locations.user_dirs() {
        roots.push((base.clone(), RecursiveMode::NonRecursive));
        for sub in ["commands", "skills", "agents", "rules"] {
            roots.push((base.join(sub), RecursiveMode::Recursive));
        }
    }
    for plugin in locations.plugin_parts() {
        for dir in plugin.commands.into_iter().chain(plugin.skills).chain(plugin.agents) {
            roots.push((dir, RecursiveMode::Recursive));
        }
    }
    roots
}

/// Files read for a fingerprint at most (bigger files are compared by their first bytes
/// and their length; a settings file or a command is far smaller).
const FINGERPRINT_READ_LIMIT: u64 = 4 << 20;

/// Entries looked at when seeding, at most: a huge tree under `.claude/` must not stall the
/// start (paths not seeded count as changed when an event names them).
const SEED_LIMIT: usize = 5_000;

/// What each watched path held when last looked at: a content hash for a file, a marker for
/// a folder, `None` for nothing there.
#[derive(Default)]
struct Fingerprints {
    known: HashMap<PathBuf, Option<u64>>,
}

impl Fingerprints {
    /// Records every path cairn reloads from under the roots, as it is now.
    fn seed(&mut self, roots: &[(PathBuf, RecursiveMode)]) -> usize {
        let mut budget = SEED_LIMIT;
        for (root, mode) in roots {
            let depth = if *mode == RecursiveMode::Recursive { usize::MAX } else { 1 };
            let walk = ignore::WalkBuilder::new(root).standard_filters(false).max_depth(Some(depth)).build();
            for entry in walk.flatten() {
                if budget == 0 {
                    return SEED_LIMIT;
                }
                budget -= 1;
                let path = entry.into_path();
                if classify(&path).is_some() {
                    let print = fingerprint(&path);
                    self.known.insert(path, print);
                }
            }
        }
        SEED_LIMIT - budget
    }

    /// Whether `path` reads differently from the last time (and remembers how it reads now).
    fn update(&mut self, path: &Path) -> bool {
        let now = fingerprint(path);
        match self.known.insert(path.to_path_buf(), now) {
            Some(before) => before != now,
            // Never seen: a change if there is something there now.
            None => now.is_some(),
        }
    }
}

/// A path's content hash (folders: a constant; nothing there or unreadable: `None`).
/// Only regular files are opened: a FIFO under `.claude/` must not block the watcher.
fn fingerprint(path: &Path) -> Option<u64> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_dir() {
        return Some(0);
    }
    if !meta.is_file() {
        return Some(1);
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    meta.len().hash(&mut hasher);
    let mut bytes = Vec::new();
    crate::limits::open_nonblocking(path).ok()?.take(FINGERPRINT_READ_LIMIT).read_to_end(&mut bytes).ok()?;
    bytes.hash(&mut hasher);
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        assert_eq!(classify(Path::new("/p/.claude/commands/a/b.md")), Some(Changed::Catalog));
        assert_eq!(classify(Path::new("/p/.claude/skills/x/SKILL.md")), Some(Changed::Catalog));
        assert_eq!(classify(Path::new("/p/AGENTS.md")), Some(Changed::Memory));
        assert_eq!(classify(Path::new("/p/.claude/rules/api/style.md")), Some(Changed::Memory));
        assert_eq!(classify(Path::new("/p/.claude/settings.local.json")), Some(Changed::Settings));
        assert_eq!(classify(Path::new("/h/.cairn/projects/x/s.jsonl")), None);
        assert_eq!(classify(Path::new("/p/src/main.rs")), None);
    }

    #[test]
    fn only_a_content_change_counts() {
        let dir = tempfile::tempdir().unwrap();
        let commands = dir.path().join(".claude/commands");
        std::fs::create_dir_all(&commands).unwrap();
        let file = commands.join("a.md");
        std::fs::write(&file, "one").unwrap();
        let mut seen = Fingerprints::default();
        assert!(seen.seed(&[(dir.path().join(".claude"), RecursiveMode::Recursive)]) >= 3);
        assert!(!seen.update(&file), "unchanged content");
        assert!(!seen.update(&commands), "a folder that was there");
        std::fs::write(&file, "one").unwrap();
        assert!(!seen.update(&file), "the same bytes written again");
        std::fs::write(&file, "two").unwrap();
        assert!(seen.update(&file));
        assert!(!seen.update(&file));
        std::fs::remove_file(&file).unwrap();
        assert!(seen.update(&file), "removed");
        assert!(!seen.update(&commands.join("never.md")), "never there");
        std::fs::write(commands.join("new.md"), "x").unwrap();
        assert!(seen.update(&commands.join("new.md")), "created");
    }
}
