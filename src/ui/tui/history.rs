//! The prompt history: `$CAIRN_HOME/history.jsonl`, one JSON line per prompt with the
//! project it was typed in (Claude Code's `history.jsonl` fields), read back per project for
//! Up/Down in the composer. Appends are single writes, so two sessions cannot interleave a
//! line; unreadable lines are skipped.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Prompts kept for Up/Down.
const RECALLED: usize = 500;

#[derive(Serialize, Deserialize)]
struct Entry {
    display: String,
    project: PathBuf,
    timestamp: i64,
}

pub struct PromptHistory {
    file: PathBuf,
    project: PathBuf,
}

impl PromptHistory {
    pub fn new(cairn_home: &Path, project: &Path) -> PromptHistory {
        PromptHistory { file: cairn_home.join("history.jsonl"), project: project.to_path_buf() }
    }

    /// This project's prompts, oldest first.
    pub fn load(&self) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(&self.file) else { return Vec::new() };
        let mine: Vec<String> = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Entry>(line).ok())
            .filter(|entry| entry.project == self.project)
            .map(|entry| entry.display)
            .collect();
        mine[mine.len().saturating_sub(RECALLED)..].to_vec()
    }

    pub fn append(&self, prompt: &str) {
        let entry = Entry {
            display: prompt.to_owned(),
            project: self.project.clone(),
            timestamp: chrono::Utc::now().timestamp_millis(),
        };
        let Ok(mut line) = serde_json::to_string(&entry) else { return };
        line.push('\n');
        if let Some(dir) = self.file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(&self.file) {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_kept_per_project() {
        let home = tempfile::tempdir().unwrap();
        let a = PromptHistory::new(home.path(), Path::new("/p/a"));
        let b = PromptHistory::new(home.path(), Path::new("/p/b"));
        a.append("first in a");
        b.append("only in b");
        a.append("second\nin a");
        assert_eq!(a.load(), ["first in a", "second\nin a"]);
        assert_eq!(b.load(), ["only in b"]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(home.path().join("history.jsonl"))
            .unwrap()
            .write_all(b"{broken\n")
            .unwrap();
        assert_eq!(a.load().len(), 2);
    }
}
