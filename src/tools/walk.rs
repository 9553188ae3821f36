//! Walking a project the way ripgrep does, for Glob, Grep and LS: `.gitignore`, `.ignore`
//! and git's exclude files honoured (inside a git repository or not), hidden files
//! included, `.git` itself skipped, and whatever a Read deny rule protects left out (a
//! denied folder is not entered); in parallel on every core, stopping early when asked.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ignore::{DirEntry, WalkBuilder, WalkState};

use crate::permissions::ReadDenials;

/// The walker every search tool starts from; `denials` are the Read deny rules in force.
pub fn builder(root: &Path, denials: Option<Arc<ReadDenials>>) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder.hidden(false).require_git(false);
    match denials.filter(|d| d.may_deny_under(root)) {
        Some(denials) => {
            let hidden = Hidden::new(root, denials);
            builder.filter_entry(move |entry| entry.file_name() != ".git" && !hidden.hides(entry.path()));
        }
        None => {
            builder.filter_entry(|entry| entry.file_name() != ".git");
        }
    }
    builder
}

/// What a walk from one root leaves out.
pub struct Hidden {
    root: PathBuf,
    real_root: PathBuf,
    denials: Arc<ReadDenials>,
}

impl Hidden {
    pub fn new(root: &Path, denials: Arc<ReadDenials>) -> Hidden {
        Hidden { root: root.to_path_buf(), real_root: super::paths::real_location(root), denials }
    }

    /// Whether a path found under the root is denied. A walk follows no symlinks, so where
    /// an entry really is comes from where the root really is.
    pub fn hides(&self, path: &Path) -> bool {
        let real = match path.strip_prefix(&self.root) {
            Ok(rest) if rest.as_os_str().is_empty() => self.real_root.clone(),
            Ok(rest) => self.real_root.join(rest),
            Err(_) => path.to_path_buf(),
        };
        self.denials.denial(path, &real).is_some()
    }
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
