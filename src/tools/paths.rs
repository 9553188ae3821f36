//! Paths as tools need them: resolved against the session's working directory, normalised
//! (`.` and `..` applied), located for real (symlinks followed, even for a file that does
//! not exist yet), checked against the folders files may be written under, and — for a path
//! that does not exist — the near names the model probably meant.

use std::path::{Path, PathBuf};

pub use crate::location::{canonical_dir, normalize, real_location};

/// `path` made absolute against `cwd`, with `~/` meaning the home folder.
pub fn resolve(cwd: &Path, path: &str) -> PathBuf {
    let expanded = match path.strip_prefix("~/") {
        Some(rest) => {
            std::env::var_os("HOME").map_or_else(|| PathBuf::from(path), |home| PathBuf::from(home).join(rest))
        }
        None => PathBuf::from(path),
    };
    normalize(&cwd.join(expanded))
}

/// Up to three existing names close to a missing path, in its folder (or the nearest
/// folder that exists): the same name in another case, another extension, or a name a
/// typo or two away.
pub fn near_names(missing: &Path) -> Vec<PathBuf> {
    let Some(name) = missing.file_name().and_then(|n| n.to_str()) else { return Vec::new() };
    let Some(dir) = missing.parent() else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let lower = name.to_lowercase();
    let stem = lower.split('.').next().unwrap_or(&lower).to_owned();
    let mut scored: Vec<(usize, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let candidate = entry.file_name().to_str()?.to_owned();
            let candidate_lower = candidate.to_lowercase();
            let score = if candidate_lower == lower {
                0
            } else if candidate_lower.split('.').next() == Some(stem.as_str()) {
                1
            } else {
                let distance = edit_distance(&lower, &candidate_lower);
                if distance > 2.max(lower.len() / 4) {
                    return None;
                }
                1 + distance
            };
            Some((score, dir.join(candidate)))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, p)| p).collect()
}

/// The nearest folder of `path` that exists.
pub fn nearest_existing_dir(path: &Path) -> Option<&Path> {
    path.ancestors().skip(1).find(|dir| dir.is_dir())
}

/// Levenshtein distance, by characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// A path for messages: relative to `base` when inside it, absolute otherwise.
pub fn display(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| path.display().to_string(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_dots_and_resolves_against_cwd() {
        assert_eq!(resolve(Path::new("/p/q"), "../r/./s.txt"), PathBuf::from("/p/r/s.txt"));
        assert_eq!(resolve(Path::new("/p"), "/abs/../x"), PathBuf::from("/x"));
        assert_eq!(normalize(Path::new("/a/../../b")), PathBuf::from("/b"));
    }

    #[test]
    fn suggests_near_names() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["main.rs", "Makefile", "lib.rs"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let near = near_names(&dir.path().join("mian.rs"));
        assert_eq!(near.first(), Some(&dir.path().join("main.rs")));
        let near = near_names(&dir.path().join("makefile"));
        assert_eq!(near.first(), Some(&dir.path().join("Makefile")));
        let near = near_names(&dir.path().join("main.py"));
        assert_eq!(near.first(), Some(&dir.path().join("main.rs")));
        assert!(near_names(&dir.path().join("zzzzzzzz.toml")).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
