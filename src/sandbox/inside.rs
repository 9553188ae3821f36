//! What the deny rules protect inside the folders commands may write in. Landlock's rules
//! only add rights, so these paths are taken out in a mount namespace of the command's own
//! (read-only, or covered); here they are found: the paths rules name, and — for rules with
//! wildcards (`Read(./.env)` is `.env` in any folder) — the files and folders a walk of the
//! project finds matching them, once, the first time a sandboxed command runs.

use std::path::{Path, PathBuf};

use crate::permissions::PathDenial;

/// The most entries walked; beyond it, what a wildcard rule matches is not all known.
const MAX_ENTRIES: usize = 200_000;

#[derive(Clone, Debug, Default)]
pub struct Inside {
    /// Paths commands may not read (nor change), each with its rule in words.
    pub read: Vec<(PathBuf, String)>,
    /// Paths commands may not change.
    pub write: Vec<(PathBuf, String)>,
    /// Whether every match of the wildcard rules was found (the walk did not stop early).
    pub complete: bool,
}

/// The protected paths under `roots` (the project and `--add-dir`s), of all that `within`
/// holds (those and the other writable folders); `extra` are more paths (settings, the
/// built-in credentials), already known to be inside.
pub fn find(roots: &[PathBuf], within: &[PathBuf], denials: &[PathDenial], extra: Inside) -> Inside {
    let inside = |p: &Path| within.iter().any(|w| p.starts_with(w));
    let mut found = extra;
    for denial in denials {
        for path in denial.literal.iter().flatten().filter(|p| inside(p)) {
            add(&mut found, denial, path.clone());
        }
    }
    // A hook, or a `core.hooksPath` set in the config, would run outside the sandbox the
    // next time git runs.
    for root in roots {
        for name in [".git/hooks", ".git/config"] {
            let path = root.join(name);
            if path.exists() {
                found.write.push((path, format!("{name}: git runs what it names outside the sandbox")));
            }
        }
    }
    let wild: Vec<&PathDenial> = denials.iter().filter(|d| d.literal.is_none()).collect();
    found.complete = true;
    let mut seen = 0;
    for root in roots.iter().filter(|r| wild.iter().any(|d| d.may_match_under(r))) {
        let walk =
            ignore::WalkBuilder::new(root).standard_filters(false).filter_entry(|e| e.file_name() != ".git").build();
        let mut skip: Vec<PathBuf> = Vec::new();
        for entry in walk.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                found.complete = false;
                break;
            }
            let path = entry.path();
            if skip.iter().any(|s| path.starts_with(s)) {
                continue;
            }
            // A folder everything in which a rule matches (`protected/**`) is protected
            // whole, so nothing new can be made in it either.
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            let whole = |d: &&&PathDenial| d.matches(path) || (is_dir && d.matches(&path.join(".cairn-any-name")));
            for denial in wild.iter().filter(whole) {
                add(&mut found, denial, path.to_path_buf());
                skip.push(path.to_path_buf());
            }
        }
    }
    found
}

fn add(found: &mut Inside, denial: &PathDenial, path: PathBuf) {
    let list = if denial.write { &mut found.write } else { &mut found.read };
    if !list.iter().any(|(p, _)| *p == path) {
        list.push((path, denial.words.clone()));
    }
}
