//! The files a git repository tracks, for the gate's question "could this `git diff` show a
//! file a Read deny rule protects?". git shows only what it tracks, and the files people
//! deny (`.env`, `secrets/`) are rarely tracked: knowing that keeps `git diff` and `git log
//! -p` running without a question in a project with such rules.
//!
//! `git ls-files` runs once per repository and again only when its index changes (its
//! mtime); the answer is shared by every decision until then.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

type Listing = (SystemTime, Arc<Vec<PathBuf>>);

/// How long `git ls-files` may take; past it the answer is unknown (and the caller asks).
const LIST_TIMEOUT: Duration = Duration::from_secs(2);

/// The files tracked by the repository `dir` is in, as absolute paths; `None` when that
/// cannot be told (not a repository, git missing, failing or too slow): the caller assumes
/// the worst.
pub fn files(dir: &Path) -> Option<Arc<Vec<PathBuf>>> {
    static CACHE: Mutex<Option<HashMap<PathBuf, Listing>>> = Mutex::new(None);
    let (root, index) = repository(dir)?;
    let stamp = std::fs::metadata(&index).and_then(|m| m.modified()).ok()?;
    {
        let cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, files)) = cache.as_ref().and_then(|c| c.get(&root))
            && *seen == stamp
        {
            return Some(Arc::clone(files));
        }
    }
    let listed = list(&root)?;
    let files: Vec<PathBuf> = listed
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| root.join(String::from_utf8_lossy(name).as_ref()))
        .collect();
    let files = Arc::new(files);
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    cache.get_or_insert_with(HashMap::new).insert(root, (stamp, Arc::clone(&files)));
    Some(files)
}

/// `git ls-files -z` in `root`, within [`LIST_TIMEOUT`].
fn list(root: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut child = std::process::Command::new("git")
        .args(["-c", "core.quotePath=false", "-c", "core.fsmonitor=false", "ls-files", "-z", "--cached"])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let deadline = Instant::now() + LIST_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let out = reader.join().ok()?.ok()?;
    status.success().then_some(out)
}

/// The repository's top folder and its index file. A `.git` file (a worktree, a
/// submodule) points at the folder that holds the index.
pub fn repository(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let root = dir.ancestors().find(|d| d.join(".git").exists())?;
    let git = root.join(".git");
    let index = if git.is_dir() {
        git.join("index")
    } else {
        let pointer = std::fs::read_to_string(&git).ok()?;
        let gitdir = pointer.trim().strip_prefix("gitdir:")?.trim();
        root.join(gitdir).join("index")
    };
    Some((root.to_path_buf(), index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracked_files_are_listed_and_refreshed_when_the_index_changes() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@e"])
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "{args:?}");
        };
        git(&["init", "-q"]);
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join(".env"), "KEY=1").unwrap();
        git(&["add", "a.txt"]);
        let first = files(dir.path()).unwrap();
        assert_eq!(first.as_slice(), [dir.path().join("a.txt")]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        git(&["add", ".env"]);
        let second = files(&dir.path().join("sub")).unwrap();
        assert!(second.contains(&dir.path().join(".env")), "{second:?}");
        assert!(files(Path::new("/")).is_none());
    }
}
