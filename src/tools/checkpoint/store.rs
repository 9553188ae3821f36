//! The content store: every version of a file cairn might need to bring back, named by the
//! SHA-256 of its bytes, so a version is kept once however often it recurs. A version close
//! to one already kept (an edit of a large file) is kept as the difference — the bytes
//! between a common prefix and a common suffix — so a hundred edits of a 1 MB file cost
//! about 1 MB plus the edits. Every read checks the bytes against their name: a damaged
//! entry is reported, never restored.
//!
//! Format of an entry: `F\n` then the bytes; or `D <base> <prefix> <suffix> <depth>\n` then
//! the middle bytes (the version is the base's first `prefix` bytes, the middle, and the
//! base's last `suffix` bytes; `depth` links lead to a whole version). Every [`MAX_CHAIN`]th version of a chain is kept whole, so a read
//! follows at most that many links.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The longest chain of differences before a version is kept whole.
const MAX_CHAIN: usize = 64;
/// A difference is kept only when it saves at least this share of the bytes.
const WORTH_IT: usize = 4;

pub struct Store {
    dir: PathBuf,
    /// Entries written in passing, not yet synced: synced when a change comes to rely on one.
    unsynced: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The name of some bytes in the store.
pub fn hash_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    pub fn new(dir: PathBuf) -> Store {
        Store { dir, unsynced: std::sync::Mutex::default() }
    }

    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(hash)
    }

    pub fn has(&self, hash: &str) -> bool {
        self.path(hash).is_file()
    }

    /// Keeps `bytes` (as a difference from `base`, a version already kept, when that is
    /// much smaller), synced to disk; their name.
    pub fn put(&self, bytes: &[u8], base: Option<&str>) -> std::io::Result<String> {
        self.keep(bytes, base, true)
    }

    /// As [`Store::put`], without waiting for the disk (a copy made in passing, not before
    /// a change).
    pub fn put_unsynced(&self, bytes: &[u8], base: Option<&str>) -> std::io::Result<String> {
        self.keep(bytes, base, false)
    }

    fn keep(&self, bytes: &[u8], base: Option<&str>, sync: bool) -> std::io::Result<String> {
        let hash = hash_of(bytes);
        if self.has(&hash) {
            // Kept in passing before: on disk now, before a change relies on it.
            let pending = sync && self.unsynced.lock().is_ok_and(|mut u| u.remove(&hash));
            if pending {
                std::fs::File::open(self.path(&hash))?.sync_data()?;
            }
            return Ok(hash);
        }
        std::fs::create_dir_all(&self.dir)?;
        let mut entry = Vec::with_capacity(bytes.len().min(1 << 20) + 96);
        match base.and_then(|b| self.delta(b, bytes)) {
            Some((base, prefix, suffix, depth)) => {
                entry.extend_from_slice(format!("D {base} {prefix} {suffix} {depth}\n").as_bytes());
                entry.extend_from_slice(&bytes[prefix..bytes.len() - suffix]);
            }
            None => {
                entry.extend_from_slice(b"F\n");
                entry.extend_from_slice(bytes);
            }
        }
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(&entry)?;
        if sync {
            temp.as_file().sync_data()?;
        } else if let Ok(mut unsynced) = self.unsynced.lock() {
            unsynced.insert(hash.clone());
        }
        temp.persist(self.path(&hash)).map_err(|e| e.error)?;
        Ok(hash)
    }

    /// (base, common prefix, common suffix, depth) when a difference from `base` is worth
    /// keeping.
    fn delta(&self, base: &str, bytes: &[u8]) -> Option<(String, usize, usize, usize)> {
        let depth = self.depth(base)? + 1;
        if depth >= MAX_CHAIN {
            return None;
        }
        let old = self.get(base).ok()?;
        let prefix = old.iter().zip(bytes).take_while(|(a, b)| a == b).count();
        let room = old.len().min(bytes.len()) - prefix;
        let suffix = old.iter().rev().zip(bytes.iter().rev()).take(room).take_while(|(a, b)| a == b).count();
        let middle = bytes.len() - prefix - suffix;
        (middle * WORTH_IT < bytes.len()).then(|| (base.to_owned(), prefix, suffix, depth))
    }

    /// How many links lead from `hash` to a whole version.
    fn depth(&self, hash: &str) -> Option<usize> {
        let head = read_head(&self.path(hash)).ok()?;
        match head.split(' ').collect::<Vec<_>>().as_slice() {
            ["F"] => Some(0),
            ["D", _, _, _, depth] => depth.parse().ok(),
            _ => None,
        }
    }

    /// The bytes named `hash`, checked against their name.
    pub fn get(&self, hash: &str) -> Result<Vec<u8>, String> {
        let bytes = self.resolve(hash, 0)?;
        if hash_of(&bytes) != hash {
            return Err(format!("the saved copy {hash} is damaged (its bytes do not match its name)"));
        }
        Ok(bytes)
    }

    fn resolve(&self, hash: &str, depth: usize) -> Result<Vec<u8>, String> {
        if depth > MAX_CHAIN + 1 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("the saved copy {hash} is damaged (a broken chain)"));
        }
        let path = self.path(hash);
        let entry = std::fs::read(&path).map_err(|e| format!("the saved copy {} is missing: {e}", path.display()))?;
        let newline = entry.iter().position(|b| *b == b'\n').ok_or_else(|| damaged(hash))?;
        let head = std::str::from_utf8(&entry[..newline]).map_err(|_| damaged(hash))?;
        let body = &entry[newline + 1..];
        match head.split(' ').collect::<Vec<_>>().as_slice() {
            ["F"] => Ok(body.to_vec()),
            ["D", base, prefix, suffix, _] => {
                let (prefix, suffix): (usize, usize) =
                    (prefix.parse().map_err(|_| damaged(hash))?, suffix.parse().map_err(|_| damaged(hash))?);
                let old = self.resolve(base, depth + 1)?;
                if prefix + suffix > old.len() {
                    return Err(damaged(hash));
                }
                let mut out = Vec::with_capacity(prefix + body.len() + suffix);
                out.extend_from_slice(&old[..prefix]);
                out.extend_from_slice(body);
                out.extend_from_slice(&old[old.len() - suffix..]);
                Ok(out)
            }
            _ => Err(damaged(hash)),
        }
    }

    /// Makes the entries `hashes` need (their bases too) present in `other`, by hard link
    /// or copy: a fork keeps what its history refers to.
    pub fn share_with(&self, other: &Path, hashes: &[String]) -> std::io::Result<()> {
        std::fs::create_dir_all(other)?;
        let mut todo: Vec<String> = hashes.to_vec();
        while let Some(hash) = todo.pop() {
            let target = other.join(&hash);
            if target.exists() || !self.has(&hash) {
                continue;
            }
            if std::fs::hard_link(self.path(&hash), &target).is_err() {
                std::fs::copy(self.path(&hash), &target)?;
            }
            if let Ok(head) = read_head(&self.path(&hash))
                && let ["D", base, ..] = head.split(' ').collect::<Vec<_>>().as_slice()
            {
                todo.push((*base).to_owned());
            }
        }
        Ok(())
    }
}

fn damaged(hash: &str) -> String {
    format!("the saved copy {hash} is damaged")
}

/// The first line of an entry.
fn read_head(path: &Path) -> std::io::Result<String> {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(std::fs::File::open(path)?).read_line(&mut line)?;
    Ok(line.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_a_large_file_cost_their_differences_and_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        let mut content: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut last = store.put(&content, None).unwrap();
        let mut names = vec![(last.clone(), content.clone())];
        for i in 0..100 {
            content[i * 9_000 + 17] = b'x';
            last = store.put(&content, Some(&last)).unwrap();
            names.push((last.clone(), content.clone()));
        }
        let total: u64 = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        assert!(total < 2_200_000, "101 versions of 1 MB took {total} bytes");
        for (name, bytes) in &names {
            assert_eq!(&store.get(name).unwrap(), bytes);
        }
        // The same bytes again are the same entry.
        assert_eq!(store.put(&content, None).unwrap(), last);
    }

    #[test]
    fn a_damaged_entry_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        let name = store.put(b"hello\n", None).unwrap();
        std::fs::write(dir.path().join(&name), b"F\nhellO\n").unwrap();
        assert!(store.get(&name).unwrap_err().contains("damaged"));
    }
}
