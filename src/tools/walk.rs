//! Walking a project the way ripgrep does, for Glob, Grep and LS: `.gitignore`, `.ignore`
//! and git's exclude files honoured (inside a git repository or not), hidden files
//! included, `.git` itself skipped; in parallel on every core, stopping early when asked.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use ignore::{DirEntry, WalkBuilder, WalkState};

/// The walker every search tool starts from.
pub fn builder(root: &Path) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder.hidden(false).require_git(false).filter_entry(|entry| entry.file_name() != ".git");
    builder
}

/// Walks in parallel, calling `visit` on every file (not folders) from every thread; stops
/// when `stop` becomes true. `make` builds one visitor per thread.
pub fn files<F, M>(builder: &WalkBuilder, stop: &AtomicBool, mut make: M)
where
    M: FnMut() -> F,
    F: FnMut(&DirEntry) + Send,
{
    builder.build_parallel().run(|| {
        let mut visit = make();
        Box::new(move |entry| {
            if stop.load(Ordering::Relaxed) {
                return WalkState::Quit;
            }
            if let Ok(entry) = entry
                && entry.file_type().is_some_and(|t| t.is_file())
            {
                visit(&entry);
            }
            WalkState::Continue
        })
    });
}
