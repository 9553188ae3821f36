//! What changed in the project since the last look, as the kernel tells it (inotify on
//! Linux): one watch per folder of the last scan, so a scan before and after a command
//! re-reads only the folders whose entries changed and the files that were written, not
//! every file of the tree.
//!
//! The watch is a hint the scan can do without: where it cannot say for sure — no inotify,
//! too many folders to watch, events lost to a full queue, a folder moved (its watch would
//! name the old path), folders added since the watches were set — [`Watch::take`] answers
//! `None` and the scan reads every file's stat again, as it does with no watch at all.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Folders whose entries changed, and files written or whose mode or times changed.
#[derive(Debug, Default)]
pub struct Touched {
    pub dirs: HashSet<PathBuf>,
    pub files: HashSet<PathBuf>,
}

/// The most folders watched; a larger tree is scanned whole each time.
const MAX_DIRS: usize = 20_000;

#[cfg(target_os = "linux")]
pub struct Watch {
    fd: rustix::fd::OwnedFd,
    dirs: HashMap<i32, PathBuf>,
    /// Whether every change since the watches were set reaches [`Watch::take`]; `false`
    /// until a scan has looked at everything after they were set.
    whole: bool,
}

#[cfg(target_os = "linux")]
impl Watch {
    /// Watches over `dirs`; `None` where the kernel will not (no inotify, its limit on
    /// watches reached) or there are too many.
    pub fn new<'a>(dirs: impl ExactSizeIterator<Item = &'a PathBuf>) -> Option<Watch> {
        use rustix::fs::inotify;
        if dirs.len() > MAX_DIRS {
            return None;
        }
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC).ok()?;
        let mut watch = Watch { fd, dirs: HashMap::new(), whole: false };
        for dir in dirs {
            watch.add(dir)?;
        }
        Some(watch)
    }

    fn add(&mut self, dir: &Path) -> Option<()> {
        use rustix::fs::inotify::{self, WatchFlags};
        let flags = WatchFlags::MODIFY
            | WatchFlags::ATTRIB
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::MOVE
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::ONLYDIR
            | WatchFlags::DONT_FOLLOW;
        match inotify::add_watch(&self.fd, dir, flags) {
            Ok(wd) => {
                self.dirs.insert(wd, dir.to_path_buf());
                Some(())
            }
            // A folder gone since the scan: its parent's change says so.
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => Some(()),
            Err(_) => None,
        }
    }

    /// Watches the folders a scan found that were not watched yet; `false` when the kernel
    /// refuses (the watch is then of no more use). Until the next full look, changes in
    /// them may have been missed.
    pub fn extend<'a>(&mut self, dirs: impl Iterator<Item = &'a PathBuf>) -> bool {
        let watched: HashSet<&PathBuf> = self.dirs.values().collect();
        let new: Vec<PathBuf> = dirs.filter(|d| !watched.contains(d)).cloned().collect();
        if new.is_empty() {
            return true;
        }
        self.whole = false;
        self.dirs.len() + new.len() <= MAX_DIRS && new.iter().all(|d| self.add(d).is_some())
    }

    /// A scan has just looked at every file: what changes from now on is all in the queue.
    pub fn primed(&mut self) {
        self.whole = true;
    }

    /// What changed since the last call; `None` when the watch cannot say for sure (then
    /// the caller looks at everything, and says so with [`Watch::primed`]).
    pub fn take(&mut self) -> Option<Touched> {
        use rustix::fs::inotify::{ReadFlags, Reader};
        let mut buf = [std::mem::MaybeUninit::uninit(); 16 * 1024];
        let mut reader = Reader::new(&self.fd, &mut buf);
        let mut touched = Touched::default();
        let mut sure = self.whole;
        let mut gone = Vec::new();
        loop {
            let event = match reader.next() {
                Ok(event) => event,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::WOULDBLOCK) => break,
                Err(_) => {
                    sure = false;
                    break;
                }
            };
            let flags = event.events();
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) || flags.contains(ReadFlags::MOVE_SELF) {
                sure = false;
            }
            if flags.contains(ReadFlags::IGNORED) {
                gone.push(event.wd());
                continue;
            }
            let Some(dir) = self.dirs.get(&event.wd()) else { continue };
            let Some(name) = event.file_name() else { continue };
            let path = dir.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.to_bytes()));
            if flags.intersects(ReadFlags::CREATE | ReadFlags::DELETE | ReadFlags::MOVED_FROM | ReadFlags::MOVED_TO) {
                touched.dirs.insert(dir.clone());
                if flags.contains(ReadFlags::ISDIR) && flags.intersects(ReadFlags::MOVED_FROM | ReadFlags::MOVED_TO) {
                    // Watches below a moved folder name its old path.
                    sure = false;
                }
            } else {
                touched.files.insert(path);
            }
        }
        for wd in gone {
            self.dirs.remove(&wd);
        }
        self.whole = sure;
        sure.then_some(touched)
    }
}

#[cfg(not(target_os = "linux"))]
pub struct Watch;

#[cfg(not(target_os = "linux"))]
impl Watch {
    pub fn new<'a>(_dirs: impl ExactSizeIterator<Item = &'a PathBuf>) -> Option<Watch> {
        None
    }
    pub fn extend<'a>(&mut self, _dirs: impl Iterator<Item = &'a PathBuf>) -> bool {
        false
    }
    pub fn primed(&mut self) {}
    pub fn take(&mut self) -> Option<Touched> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::super::{Checkpoints, tree};

    /// Each scan through the watch sees what a walk of the whole tree sees.
    #[test]
    fn scans_through_the_watch_see_every_change() {
        let root = tempfile::tempdir().unwrap();
        let session = tempfile::tempdir().unwrap();
        let init = std::process::Command::new("git").args(["init", "-q"]).current_dir(root.path()).status();
        assert!(init.unwrap().success());
        let at = |p: &str| root.path().join(p);
        let write = |p: &str, text: &str| {
            std::fs::create_dir_all(at(p).parent().unwrap()).unwrap();
            std::fs::write(at(p), text).unwrap();
        };
        write("a.txt", "a");
        write("src/b.rs", "b");
        write("src/deep/c.rs", "c");
        write("old/d.txt", "d");
        write(".gitignore", "ignored/\n");
        let checkpoints = Checkpoints::open(root.path(), session.path());
        let agrees = |step: &str| {
            let seen = checkpoints.scan().unwrap();
            let full = tree::scan(root.path()).unwrap();
            let mut seen: Vec<_> = seen.iter().collect();
            let mut expected: Vec<_> = full.files.iter().collect();
            seen.sort_by_key(|(p, _)| (*p).clone());
            expected.sort_by_key(|(p, _)| (*p).clone());
            assert_eq!(seen, expected, "after {step}");
        };
        // Whether the next scan can go by the kernel's word alone.
        let trusted = || {
            let last = checkpoints.last_scan.lock().unwrap();
            last[0].as_ref().and_then(|(_, watch)| watch.as_ref()).is_some_and(|w| w.whole)
        };
        agrees("the first walk");
        assert!(!trusted(), "changes between the walk and the watches may be missed");
        agrees("the look after the watches were set");
        agrees("nothing");
        // Content in place, with the time put back as it was (the change time still moves).
        let time = std::fs::metadata(at("src/deep/c.rs")).unwrap().modified().unwrap();
        std::fs::write(at("src/deep/c.rs"), "C").unwrap();
        std::fs::File::options().write(true).open(at("src/deep/c.rs")).unwrap().set_modified(time).unwrap();
        agrees("a write that kept the time");
        std::fs::set_permissions(at("a.txt"), std::fs::Permissions::from_mode(0o755)).unwrap();
        agrees("a mode change");
        assert!(trusted(), "the steps so far went by the watch");
        write("src/new.rs", "n");
        std::fs::remove_file(at("src/b.rs")).unwrap();
        write("ignored/x.txt", "x");
        agrees("a file added, one removed, an ignored one added");
        write("fresh/deep/f.txt", "f");
        agrees("a new folder");
        assert!(!trusted(), "the new folder was walked before it was watched");
        write("fresh/deep/f.txt", "ff");
        agrees("a write in the new folder");
        write("fresh/deep/f.txt", "fff");
        agrees("another write in the new folder");
        assert!(trusted());
        std::fs::rename(at("src"), at("moved")).unwrap();
        agrees("a folder moved");
        write("moved/deep/c.rs", "moved");
        agrees("a write in the moved folder");
        std::fs::remove_dir_all(at("old")).unwrap();
        agrees("a folder removed");
        write("old/d.txt", "back");
        agrees("the folder back");
        assert!(Path::new(&at("old/d.txt")).exists());
    }
}
