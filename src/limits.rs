//! Bounds on what cairn takes from outside: durations a server or a settings file names,
//! and files read whole. Anything a user, a server or a model can write can be absurd —
//! `retry-after: 1e300`, `"timeout": 1e300`, a 37 MB settings file, a FIFO where a file
//! should be — and none of it may panic, hang or exhaust memory. Each function here says
//! what it did with an out-of-range value, so the caller can tell the user.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// A number of seconds read from outside, as a duration no longer than `max`.
/// `None` for what is not a duration at all (negative, NaN); `capped` when it was longer.
pub fn seconds(secs: f64, max: Duration) -> Option<Capped<Duration>> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= max => Some(Capped { value: d, capped: false }),
        _ => Some(Capped { value: max, capped: true }),
    }
}

/// A value, and whether it was cut down to its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capped<T> {
    pub value: T,
    pub capped: bool,
}

/// Why a file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is not a regular file")]
    NotAFile,
    #[error("it is larger than {} MiB", .0 >> 20)]
    TooLarge(u64),
}

/// Reads a regular file of at most `max` bytes as UTF-8 (lossy). Never opens a FIFO,
/// socket or device (which could block forever or never end), and never reads past `max`
/// even if the file grows while it is read.
pub fn read_text(path: &Path, max: u64) -> Result<String, ReadError> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile);
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge(max));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // O_NONBLOCK: should the file be swapped for a FIFO between the check and the open,
    // the open does not wait for a writer.
    let file = open_nonblocking(path)?;
    if !file.metadata()?.is_file() {
        return Err(ReadError::NotAFile);
    }
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge(max));
    }
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Opens a file for reading without blocking on a FIFO with no writer.
pub fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_seconds_are_capped_or_refused() {
        let max = Duration::from_secs(300);
        assert_eq!(seconds(2.5, max), Some(Capped { value: Duration::from_millis(2500), capped: false }));
        assert_eq!(seconds(1e300, max), Some(Capped { value: max, capped: true }));
        assert_eq!(seconds(f64::INFINITY, max), Some(Capped { value: max, capped: true }));
        assert_eq!(seconds(-1.0, max), None);
        assert_eq!(seconds(f64::NAN, max), None);
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(matches!(read_text(&fifo, 100), Err(ReadError::NotAFile)));
        assert!(matches!(read_text(dir.path(), 100), Err(ReadError::NotAFile)));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 101]).unwrap();
        assert!(matches!(read_text(&big, 100), Err(ReadError::TooLarge(100))));
        assert_eq!(read_text(&big, 101).unwrap().len(), 101);
    }
}
