//! Live reload: the folders users keep commands, skills, agents, memory files and settings
//! in are watched (inotify through `notify`, debounced by 300 ms), and what changed is
//! handed on as a list of paths; the core reloads what they belong to before the next turn.
//!
//! Watched: the project folder itself (not its subfolders: memory files), its `.claude/` and
//! `.cairn/` with everything under them, and the user folders' `commands/`, `skills/` and
//! `agents/` with everything under them plus the user folders themselves (not recursively:
//! cairn writes transcripts under them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::Locations;

/// Keeps the watch alive; dropping it stops watching.
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

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
    if matches!(name.as_ref(), "AGENTS.md" | "CLAUDE.md" | "CLAUDE.local.md") {
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
    let handler = move |result: DebounceEventResult| {
        let Ok(events) = result else { return };
        let mut kinds: Vec<Changed> =
            events.iter().flat_map(|e| e.event.paths.iter()).filter_map(|p| classify(p)).collect();
        kinds.sort();
        kinds.dedup();
        if !kinds.is_empty() {
            changed(kinds);
        }
    };
    let mut debouncer = new_debouncer(Duration::from_millis(300), None, handler).map_err(|e| e.to_string())?;
    let mut roots: Vec<(PathBuf, RecursiveMode)> = vec![(locations.project.clone(), RecursiveMode::NonRecursive)];
    for base in locations.project_dirs() {
        roots.push((base, RecursiveMode::Recursive));
    }
    for base in locations.user_dirs() {
        roots.push((base.clone(), RecursiveMode::NonRecursive));
        for sub in ["commands", "skills", "agents"] {
            roots.push((base.join(sub), RecursiveMode::Recursive));
        }
    }
    for (path, mode) in roots {
        if path.is_dir() {
            debouncer.watch(&path, mode).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(Watcher { _debouncer: debouncer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        assert_eq!(classify(Path::new("/p/.claude/commands/a/b.md")), Some(Changed::Catalog));
        assert_eq!(classify(Path::new("/p/.claude/skills/x/SKILL.md")), Some(Changed::Catalog));
        assert_eq!(classify(Path::new("/p/AGENTS.md")), Some(Changed::Memory));
        assert_eq!(classify(Path::new("/p/.claude/settings.local.json")), Some(Changed::Settings));
        assert_eq!(classify(Path::new("/h/.cairn/projects/x/s.jsonl")), None);
        assert_eq!(classify(Path::new("/p/src/main.rs")), None);
    }
}
