//! The file index behind `@`-mentions: every file of the project (ignore-aware), listed on
//! a background thread the first time it is needed, and matched fuzzily as the user types
//! (helix's `nucleo` matcher, tuned for paths).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};

/// Matches shown at most.
pub const SHOWN: usize = 8;

#[derive(Clone, Default)]
pub struct FileIndex {
    files: Arc<Mutex<Option<Vec<String>>>>,
    started: Arc<Mutex<bool>>,
    /// The last query and its matches: a frame redrawn while the query stands costs nothing.
    last: Arc<Mutex<LastQuery>>,
}

type LastQuery = Option<(String, Vec<String>)>;

impl FileIndex {
    /// Starts listing `root` in the background (once).
    pub fn start(&self, root: &Path) {
        let Ok(mut started) = self.started.lock() else { return };
        if *started {
            return;
        }
        *started = true;
        let files = Arc::clone(&self.files);
        let root = root.to_path_buf();
        let _ = std::thread::Builder::new().name("cairn-file-index".into()).spawn(move || {
            let list = list_files(&root);
            if let Ok(mut slot) = files.lock() {
                *slot = Some(list);
            }
        });
    }

    /// An index of these paths, ready at once (benchmarks, tests).
    pub fn with_files(files: Vec<String>) -> FileIndex {
        FileIndex {
            files: Arc::new(Mutex::new(Some(files))),
            started: Arc::new(Mutex::new(true)),
            ..FileIndex::default()
        }
    }

    pub fn is_ready(&self) -> bool {
        self.files.lock().map(|f| f.is_some()).unwrap_or(false)
    }

    /// The best matches for `query`, best first (the shortest paths when it is empty).
    pub fn matches(&self, query: &str) -> Vec<String> {
        if let Ok(last) = self.last.lock()
            && let Some((previous, found)) = last.as_ref()
            && previous == query
        {
            return found.clone();
        }
        let found = self.search(query);
        if let Ok(mut last) = self.last.lock()
            && !found.is_empty()
        {
            *last = Some((query.to_owned(), found.clone()));
        }
        found
    }

    fn search(&self, query: &str) -> Vec<String> {
        let Ok(files) = self.files.lock() else { return Vec::new() };
        let Some(files) = files.as_ref() else { return Vec::new() };
        if query.is_empty() {
            let mut shortest: Vec<&String> = files.iter().collect();
            shortest.sort_by_key(|f| (f.matches('/').count(), f.len()));
            return shortest.into_iter().take(SHOWN).cloned().collect();
        }
        let mut matcher = Matcher::new(Config::DEFAULT.match_paths());
        let pattern = Pattern::parse(query, CaseMatching::Smart, Normalization::Smart);
        pattern.match_list(files.iter(), &mut matcher).into_iter().take(SHOWN).map(|(f, _)| f.clone()).collect()
    }
}

fn list_files(root: &Path) -> Vec<String> {
    let mut builder = ignore::WalkBuilder::new(root);
    builder.hidden(false).require_git(false).filter_entry(|e| e.file_name() != ".git");
    builder
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| e.path().strip_prefix(root).ok().map(PathBuf::from))
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_paths_fuzzily_once_indexed() {
        let dir = tempfile::tempdir().unwrap();
        for path in ["src/main.rs", "src/tools/grep.rs", "README.md", "target/x.rs"] {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, "").unwrap();
        }
        std::fs::write(dir.path().join(".gitignore"), "target/\n").unwrap();
        let index = FileIndex::default();
        index.start(dir.path());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !index.is_ready() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(index.matches("tgrep").first().map(String::as_str), Some("src/tools/grep.rs"));
        assert_eq!(index.matches("main").first().map(String::as_str), Some("src/main.rs"));
        assert!(index.matches("x.rs").iter().all(|m| !m.starts_with("target")));
        assert_eq!(index.matches("").first().map(String::as_str), Some("README.md"));
    }
}
