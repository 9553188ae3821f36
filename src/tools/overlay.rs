//! A speculation's overlay: a copy-on-write layer of files inside the tools. While a
//! speculative run works ahead of the user, Write and Edit land here instead of on disk,
//! and Read, Write and Edit see a file here before the disk's. Nothing here touches the
//! project. Each file remembers the hash of the disk's content when the overlay first took
//! it (its base), so the writes are applied, once the speculation is adopted, only to files
//! nobody changed meanwhile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::state::{content_hash, lock};

/// One file as the speculation left it.
#[derive(Clone, Debug)]
pub struct Layered {
    pub path: PathBuf,
    /// Hash of the disk's content when the overlay first wrote the file (`None`: it did
    /// not exist).
    pub base: Option<u64>,
    pub text: String,
    /// The speculative steps that first and last wrote it (0-based).
    pub first_step: usize,
    pub step: usize,
}

#[derive(Debug)]
pub struct Overlay {
    /// The only folders the overlay takes files in (the project and `--add-dir`s).
    roots: Vec<PathBuf>,
    files: Mutex<BTreeMap<PathBuf, Layered>>,
    /// The step writes belong to now.
    step: std::sync::atomic::AtomicUsize,
}

impl Overlay {
    pub fn new(roots: Vec<PathBuf>) -> Overlay {
        Overlay { roots, files: Mutex::default(), step: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// Writes from now on belong to step `n`.
    pub fn begin_step(&self, n: usize) {
        self.step.store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// The file's text in the overlay, if the speculation wrote it.
    pub fn read(&self, path: &Path) -> Option<String> {
        lock(&self.files).get(path).map(|f| f.text.clone())
    }

    /// Whether a write to `path` would be taken (inside the project's folders).
    pub fn takes(&self, path: &Path) -> bool {
        let real = super::paths::real_location(path);
        self.roots.iter().any(|root| real.starts_with(root))
    }

    /// Takes a write; refused outside the project (a speculation writes nowhere else).
    pub fn write(&self, path: &Path, text: &str) -> Result<(), String> {
        if !self.takes(path) {
            return Err(format!(
                "Refusing to write {} while working ahead of the user: a speculation writes only inside the \
                 project.",
                path.display()
            ));
        }
        let step = self.step.load(std::sync::atomic::Ordering::Relaxed);
        let mut files = lock(&self.files);
        let (base, first_step) = match files.get(path) {
            Some(layered) => (layered.base, layered.first_step),
            None => (std::fs::read(path).ok().map(|bytes| content_hash(&bytes)), step),
        };
        let layered = Layered { path: path.to_path_buf(), base, text: text.to_owned(), first_step, step };
        files.insert(path.to_path_buf(), layered);
        Ok(())
    }

    /// Whether anything was written.
    pub fn is_empty(&self) -> bool {
        lock(&self.files).is_empty()
    }

    /// Every file written, by path.
    pub fn files(&self) -> Vec<Layered> {
        lock(&self.files).values().cloned().collect()
    }
}

/// Whether the file at `path` is still as it was when the overlay took it.
pub fn unchanged(layered: &Layered) -> bool {
    let now = std::fs::read(&layered.path).ok().map(|bytes| content_hash(&bytes));
    now == layered.base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_stay_in_the_overlay_with_their_base() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let file = root.join("a.txt");
        std::fs::write(&file, "old").unwrap();
        let overlay = Overlay::new(vec![root.clone()]);
        overlay.write(&file, "new").unwrap();
        overlay.write(&root.join("b.txt"), "fresh").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "old", "the disk is untouched");
        assert_eq!(overlay.read(&file).as_deref(), Some("new"));
        let files = overlay.files();
        assert!(unchanged(&files[0]) && unchanged(&files[1]));
        std::fs::write(&file, "changed by the user").unwrap();
        assert!(!unchanged(&overlay.files()[0]));
        assert!(overlay.write(Path::new("/etc/passwd"), "x").unwrap_err().contains("only inside the project"));
    }
}
