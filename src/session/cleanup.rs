//! Housekeeping (`cleanupPeriodDays`, 30 by default as in Claude Code): at start, sessions
//! not written to for longer than that are removed — the transcript and its folder (spilled
//! output, sub-agents, checkpoints). Never the session being opened, never one another
//! process holds open (its lock is tried first).

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::lock;

/// Days a session is kept when no setting says otherwise.
pub const DEFAULT_DAYS: u32 = 30;

/// Removes the sessions under `home` older than `days` (but `keep`); how many.
pub fn clean_up(home: &Path, days: u32, keep: &str) -> usize {
    let Some(cutoff) = SystemTime::now().checked_sub(Duration::from_secs(u64::from(days.max(1)) * 86_400)) else {
        return 0;
    };
    let Ok(projects) = std::fs::read_dir(home.join("projects")) else { return 0 };
    let mut removed = 0;
    for project in projects.flatten() {
        let Ok(entries) = std::fs::read_dir(project.path()) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(id) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else { continue };
            let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|m| m < cutoff);
            if path.extension().is_none_or(|e| e != "jsonl") || !old || id == keep {
                continue;
            }
            // Open elsewhere: left alone. (Taken and let go here: no other lock of this
            // process is on that file, the session being opened excepted above.)
            let Ok(Some(held)) = lock::acquire(home, &id) else { continue };
            let folder = path.with_extension("");
            if std::fs::remove_file(&path).is_ok() {
                let _ = std::fs::remove_dir_all(folder);
                removed += 1;
            }
            drop(held);
            let _ = std::fs::remove_file(lock::lock_path(home, &id));
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_sessions_go_and_the_open_one_stays() {
        let home = tempfile::tempdir().unwrap();
        let project = home.path().join("projects/-p");
        std::fs::create_dir_all(project.join("old/file-history")).unwrap();
        for id in ["old", "kept", "recent"] {
            std::fs::write(project.join(format!("{id}.jsonl")), "{}\n").unwrap();
        }
        let long_ago = SystemTime::now() - Duration::from_secs(40 * 86_400);
        for id in ["old", "kept"] {
            let file = std::fs::File::options().write(true).open(project.join(format!("{id}.jsonl"))).unwrap();
            file.set_modified(long_ago).unwrap();
        }
        assert_eq!(clean_up(home.path(), 30, "kept"), 1);
        assert!(!project.join("old.jsonl").exists() && !project.join("old").exists());
        assert!(project.join("kept.jsonl").exists() && project.join("recent.jsonl").exists());
    }
}
