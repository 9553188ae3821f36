//! A command's output as it arrives: kept whole while it is short; once it is long, written
//! to a spill file while only its head and tail stay in memory. What the model reads is at
//! most [`MAX_OUTPUT_CHARS`], head and tail, with ANSI escapes stripped and a note of how
//! much was cut and where the whole of it is. A spill file holds at most
//! [`MAX_SPILL_BYTES`] (then the tail, and how much was dropped between): `cat /dev/zero`
//! cannot fill the disk. Credentials are redacted on the way to it, even split over reads.
//! A command moved to the background (Ctrl-B) has the rest of its output diverted to its
//! shell's log, redacted the same way, up to the log's own limit.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use crate::secrets::Secrets;

/// What the model reads at most (Claude Code's `BASH_MAX_OUTPUT_LENGTH`).
pub const MAX_OUTPUT_CHARS: usize = 30_000;
/// Output is held in memory up to this; beyond it, it streams to the spill file.
const IN_MEMORY: usize = 256 * 1024;
/// Head and tail kept in memory once spilling.
const KEEP: usize = 64 * 1024;
/// A spill file's size, at most (before its tail).
pub const MAX_SPILL_BYTES: u64 = 64 << 20;

static ANSI: LazyLock<Option<Regex>> = LazyLock::new(|| {
    // CSI sequences (colours, cursor moves), OSC sequences (titles, links), lone escapes.
    Regex::new(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]").ok()
});

pub fn strip_ansi(text: &str) -> String {
    match ANSI.as_ref() {
        Some(re) if text.contains('\x1b') => re.replace_all(text, "").into_owned(),
        _ => text.to_owned(),
    }
}

pub struct Capture {
    spill_path: PathBuf,
    /// Redacted from what reaches the spill file.
    secrets: Secrets,
    redactor: crate::secrets::StreamRedactor,
    /// Bytes of output taken for the spill file (before redaction).
    taken: u64,
    /// All output while short; the head once spilling.
    head: Vec<u8>,
    tail: VecDeque<u8>,
    spill: Option<std::fs::File>,
    spill_error: Option<String>,
    total_bytes: u64,
    total_lines: u64,
    /// The command went to the background: its output goes to this log instead.
    diverted: Option<std::fs::File>,
}

/// What a command printed, ready for the model.
pub struct Captured {
    /// At most [`MAX_OUTPUT_CHARS`], with a note where the middle was cut.
    pub text: String,
    /// The file holding all of it, when the text is not all of it.
    pub spill_path: Option<PathBuf>,
    pub total_bytes: u64,
}

impl Capture {
    pub fn new(spill_path: PathBuf, secrets: Secrets) -> Capture {
        Capture {
            spill_path,
            redactor: secrets.stream(),
            taken: 0,
            secrets,
            head: Vec::new(),
            tail: VecDeque::new(),
            spill: None,
            spill_error: None,
            total_bytes: 0,
            total_lines: 0,
            diverted: None,
        }
    }

    /// A capture that writes what comes to `log` (a background shell's), redacted.
    pub fn diverted(log: std::fs::File, secrets: Secrets) -> Capture {
        Capture { diverted: Some(log), ..Capture::new(PathBuf::new(), secrets) }
    }

    /// The output has ended: what the redactor still holds reaches a diverted log.
    pub fn end(&mut self) {
        if let Some(log) = self.diverted.as_mut() {
            let _ = log.write_all(&self.redactor.finish());
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if let Some(log) = self.diverted.as_mut() {
            if self.total_bytes < super::shells::MAX_LOG_BYTES {
                self.total_bytes += chunk.len() as u64;
                let _ = log.write_all(&self.redactor.push(chunk));
            }
            return;
        }
        self.total_bytes += chunk.len() as u64;
        self.total_lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        if self.spill.is_none() && self.spill_error.is_none() {
            if self.head.len() + chunk.len() <= IN_MEMORY {
                self.head.extend_from_slice(chunk);
                return;
            }
            self.start_spilling();
        }
        if self.taken < MAX_SPILL_BYTES {
            let room = usize::try_from(MAX_SPILL_BYTES - self.taken).unwrap_or(usize::MAX);
            let taken = &chunk[..chunk.len().min(room)];
            self.taken += taken.len() as u64;
            let part = self.redactor.push(taken);
            self.write_spill(&part);
        }
        self.keep_tail(chunk);
    }

    fn write_spill(&mut self, bytes: &[u8]) {
        if let Some(file) = self.spill.as_mut()
            && let Err(e) = file.write_all(bytes)
        {
            self.spill_error = Some(e.to_string());
            self.spill = None;
        }
    }

    fn start_spilling(&mut self) {
        let opened = self
            .spill_path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::File::create(&self.spill_path));
        match opened {
            Ok(file) => self.spill = Some(file),
            Err(e) => self.spill_error = Some(e.to_string()),
        }
        self.taken = self.head.len() as u64;
        let head = self.redactor.push(&self.head);
        self.write_spill(&head);
        let head = std::mem::take(&mut self.head);
        self.head = head[..head.len().min(KEEP)].to_vec();
        self.keep_tail(&head[head.len().saturating_sub(KEEP)..]);
    }

    fn keep_tail(&mut self, chunk: &[u8]) {
        let chunk = &chunk[chunk.len().saturating_sub(KEEP)..];
        let overflow = (self.tail.len() + chunk.len()).saturating_sub(KEEP);
        self.tail.drain(..overflow.min(self.tail.len()));
        self.tail.extend(chunk);
    }

    pub fn finish(mut self) -> Captured {
        let spilling = self.spill.is_some() || self.spill_error.is_some();
        if !spilling {
            let text = strip_ansi(&String::from_utf8_lossy(&self.head));
            if text.chars().count() <= MAX_OUTPUT_CHARS {
                return Captured { text, spill_path: None, total_bytes: self.total_bytes };
            }
            self.start_spilling();
        }
        let rest = self.redactor.finish();
        self.write_spill(&rest);
        if self.total_bytes > self.taken {
            // Past the cap: how much was dropped, then the tail.
            // Only the part of the tail the file does not hold yet.
            let untaken = usize::try_from(self.total_bytes - self.taken).unwrap_or(usize::MAX);
            let raw_tail: Vec<u8> = self.tail.iter().skip(self.tail.len().saturating_sub(untaken)).copied().collect();
            let dropped = self.total_bytes - self.taken - raw_tail.len() as u64;
            let tail = self.secrets.redact_bytes(&raw_tail).into_owned();
            let note = format!(
                "\n\n… [{dropped} bytes dropped: the file holds the first {} MiB and the last {} KiB] …\n\n",
                MAX_SPILL_BYTES >> 20,
                KEEP >> 10
            );
            if let Some(file) = self.spill.as_mut() {
                let _ = file.write_all(note.as_bytes()).and_then(|()| file.write_all(&tail));
            }
        }
        if let Some(file) = self.spill.as_mut() {
            let _ = file.flush();
        }
        let head = strip_ansi(&String::from_utf8_lossy(&self.head));
        let tail = strip_ansi(&String::from_utf8_lossy(self.tail.make_contiguous()));
        let half = MAX_OUTPUT_CHARS / 2;
        let head: String = head.chars().take(half).collect();
        let tail_chars = tail.chars().count();
        let tail: String = tail.chars().skip(tail_chars.saturating_sub(half)).collect();
        let shown_lines = (head.matches('\n').count() + tail.matches('\n').count()) as u64;
        let where_ = match (&self.spill, &self.spill_error) {
            (Some(_), _) => {
                format!("the full output is in {}; Read or Grep it for the rest", self.spill_path.display())
            }
            (None, Some(e)) => format!("the full output could not be saved: {e}"),
            (None, None) => String::new(),
        };
        let text = format!(
            "{head}\n\n… [output cut: {} bytes and {} lines in all, about {} lines not shown; {where_}] …\n\n{tail}",
            self.total_bytes,
            self.total_lines,
            self.total_lines.saturating_sub(shown_lines),
        );
        let spill_path = self.spill.is_some().then_some(self.spill_path);
        Captured { text, spill_path, total_bytes: self.total_bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_stays_whole_and_loses_its_colours() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Capture::new(dir.path().join("out.txt"), Secrets::default());
        c.push(b"\x1b[31mred\x1b[0m plain\n\x1b]0;title\x07done\n");
        let out = c.finish();
        assert_eq!(out.text, "red plain\ndone\n");
        assert!(out.spill_path.is_none());
        assert!(!dir.path().join("out.txt").exists());
    }

    #[test]
    fn long_output_is_cut_for_the_model_and_spilled_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spill/out.txt");
        let mut c = Capture::new(path.clone(), Secrets::default());
        let mut all = Vec::new();
        for i in 0..200_000 {
            let line = format!("line {i}\n");
            all.extend_from_slice(line.as_bytes());
            c.push(line.as_bytes());
        }
        let out = c.finish();
        assert_eq!(out.spill_path.as_deref(), Some(path.as_path()));
        assert_eq!(std::fs::read(&path).unwrap(), all);
        assert!(out.text.starts_with("line 0\n"));
        assert!(out.text.trim_end().ends_with("line 199999"));
        assert!(out.text.contains("200000 lines in all"), "{}", &out.text[14_000..16_500]);
        assert!(out.text.chars().count() < MAX_OUTPUT_CHARS + 400);
    }

    #[test]
    fn a_spill_file_is_capped_with_its_tail_and_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let mut c = Capture::new(path.clone(), Secrets::default());
        let zeros = vec![b'0'; 1 << 20];
        for _ in 0..(MAX_SPILL_BYTES >> 20) + 8 {
            c.push(&zeros);
        }
        c.push(b"THE END\n");
        let out = c.finish();
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size > MAX_SPILL_BYTES && size < MAX_SPILL_BYTES + 2 * KEEP as u64, "{size}");
        let file = std::fs::read(&path).unwrap();
        let end = String::from_utf8_lossy(&file[file.len() - KEEP - 200..]).into_owned();
        assert!(end.contains("bytes dropped") && end.ends_with("THE END\n"), "{}", &end[..200]);
        assert!(out.text.contains("THE END"));
    }

    #[test]
    fn medium_output_over_the_model_cap_is_spilled_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let mut c = Capture::new(path.clone(), Secrets::default());
        c.push("x".repeat(40_000).as_bytes());
        let out = c.finish();
        assert_eq!(std::fs::read(&path).unwrap().len(), 40_000);
        assert!(out.text.contains("output cut"));
    }
}
