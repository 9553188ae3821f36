//! The lock that keeps a session to one cairn process: a second process that opens the
//! same session is refused (and told to fork), so two writers never interleave entries.
//!
//! The lock is a POSIX record lock (`fcntl(F_SETLK)`) on a file of its own,
//! `$CAIRN_HOME/locks/<session id>.lock`. Such a lock belongs to the process that took it
//! and dies with it, however it ends; it is not inherited by children. (A `flock` on the
//! transcript belonged to the open file instead, and lived on in a tool's child caught
//! between fork and exec when cairn was killed: the resume was refused.) A POSIX lock is
//! also dropped when its process closes *any* descriptor of the file, which is why the lock
//! is not on the transcript, which cairn itself reads (listings, the Read tool). Only a tool
//! can open a lock file by accident (a Grep over the home folder): the core takes the lock
//! again after every batch of tool calls ([`SessionLock::hold`]).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::SessionError;

/// Held while a session is open; dropping it (or the process ending) lets go.
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
}

impl SessionLock {
    /// Takes the lock again (a no-op while it is held); `Err` when another process took it
    /// in the moment it was lost.
    pub fn hold(&self, session_id: &str) -> Result<(), SessionError> {
        use rustix::fs::{FlockOperation, fcntl_lock};
        use rustix::io::Errno;
        match fcntl_lock(&self._file, FlockOperation::NonBlockingLockExclusive) {
            Err(e) if e == Errno::AGAIN || e == Errno::ACCESS => Err(SessionError::InUse(session_id.to_owned())),
            _ => Ok(()),
        }
    }
}

/// The lock file for `session_id` under `home`.
pub fn lock_path(home: &Path, session_id: &str) -> PathBuf {
    let name: String = session_id
        .chars()
        .take(100)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    home.join("locks").join(format!("{name}.lock"))
}

/// Takes the session's lock. `Ok(None)`: locks cannot be had here (an unwritable home, a file
/// system without locks) and the session goes on unlocked rather than not at all.
pub fn acquire(home: &Path, session_id: &str) -> Result<Option<SessionLock>, SessionError> {
    use rustix::fs::{FlockOperation, fcntl_lock};
    use rustix::io::Errno;
    let path = lock_path(home, session_id);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(file) = OpenOptions::new().create(true).truncate(false).write(true).open(&path) else {
        return Ok(None);
    };
    match fcntl_lock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(SessionLock { _file: file })),
        Err(e) if e == Errno::AGAIN || e == Errno::ACCESS => Err(SessionError::InUse(session_id.to_owned())),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Whether another process can take the lock at `path` (Python's `lockf` is the same
    /// POSIX record lock).
    pub(crate) fn other_process_can_lock(path: &Path) -> bool {
        let script = "import fcntl,sys\nf=open(sys.argv[1],'a')\ntry:\n fcntl.lockf(f,fcntl.LOCK_EX|fcntl.LOCK_NB)\nexcept OSError:\n sys.exit(3)";
        let status = std::process::Command::new("python3").args(["-c", script]).arg(path).status().unwrap();
        assert!(matches!(status.code(), Some(0 | 3)), "{status}");
        status.success()
    }

    #[test]
    fn a_child_that_inherited_the_descriptor_does_not_hold_the_lock() {
        // What refused a resume after `kill -9`: a tool's child kept an inherited
        // descriptor, and with a `flock` that meant the lock.
        let home = tempfile::tempdir().unwrap();
        let held = acquire(home.path(), "s").unwrap().unwrap();
        let path = lock_path(home.path(), "s");
        assert!(!other_process_can_lock(&path));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::process::Stdio::from(held._file.try_clone().unwrap()))
            .spawn()
            .unwrap();
        drop(held);
        let free = other_process_can_lock(&path);
        let _ = child.kill();
        let _ = child.wait();
        assert!(free, "the child's inherited descriptor kept the session locked");
    }

    #[test]
    fn reading_the_transcript_does_not_drop_the_lock() {
        let home = tempfile::tempdir().unwrap();
        let _held = acquire(home.path(), "s").unwrap().unwrap();
        let transcript = home.path().join("s.jsonl");
        std::fs::write(&transcript, "{}\n").unwrap();
        drop(std::fs::read_to_string(&transcript));
        assert!(!other_process_can_lock(&lock_path(home.path(), "s")));
    }

    #[test]
    fn a_lock_dropped_by_reading_its_file_is_taken_again() {
        let home = tempfile::tempdir().unwrap();
        let held = acquire(home.path(), "s").unwrap().unwrap();
        let path = lock_path(home.path(), "s");
        drop(std::fs::read(&path));
        assert!(other_process_can_lock(&path), "closing any descriptor drops a POSIX lock");
        held.hold("s").unwrap();
        assert!(!other_process_can_lock(&path));
    }

    #[test]
    fn odd_session_ids_make_plain_file_names() {
        let path = lock_path(Path::new("/h"), "../../etc/passwd");
        assert_eq!(path, Path::new("/h/locks/------etc-passwd.lock"));
    }
}
