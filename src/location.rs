//! Where a path is: `.` and `..` applied without touching the file system, and where it
//! really is once symlinks are followed (for a file that does not exist yet, where it would
//! land). The bottom of the crate: the permission gate and the tools both judge paths by it.

use std::path::{Component, Path, PathBuf};

/// Applies `.` and `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Where `path` really is: its longest existing ancestor with symlinks resolved, and the
/// rest of the path appended. A file about to be created lands where this says.
pub fn real_location(path: &Path) -> PathBuf {
    let path = normalize(path);
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            out.extend(rest.iter().rev());
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path,
        }
    }
}

/// The canonical form of a folder, or the folder as given if it does not exist.
pub fn canonical_dir(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| normalize(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_location_follows_symlinks_of_existing_ancestors() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("target")).unwrap();
        std::os::unix::fs::symlink(real.join("target"), real.join("link")).unwrap();
        assert_eq!(real_location(&real.join("link/new/file.txt")), real.join("target/new/file.txt"));
    }

    #[test]
    fn dots_are_applied_without_the_file_system() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
