//! Server-sent events framing: bytes in, complete events out, in one pass.
//!
//! Each byte is looked at once (a line split over many chunks is not scanned again), so a
//! 16 MB event costs what 16 MB of small ones do; and no line or event may grow past
//! [`MAX_EVENT_BYTES`], so a server that never ends a line cannot take all the memory.
//! The rules are the WHATWG event-stream format's: lines end in CRLF, LF or CR; `:` starts a
//! comment; `data:` lines are joined with newlines; a blank line ends the event; one space
//! after the colon is dropped; a byte-order mark at the start is skipped.

/// The largest line, or event, accepted: far beyond any real event (a whole tool input sent
/// at once), far below what would hurt.
pub const MAX_EVENT_BYTES: usize = 64 << 20;

/// One event: its `event:` name (empty when none) and its data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

impl SseEvent {
    /// An event of data only (tests, decoders fed by hand).
    pub fn data(data: &str) -> SseEvent {
        SseEvent { event: String::new(), data: data.to_owned() }
    }
}

/// A line or an event over [`MAX_EVENT_BYTES`].
#[derive(Debug, PartialEq, Eq)]
pub struct TooLong;

#[derive(Default)]
pub struct Framer {
    /// Bytes of the line being read (and any lines after it not yet split off).
    buffer: Vec<u8>,
    /// How far `buffer` has been searched for a line end.
    scanned: usize,
    /// The event being built.
    event: String,
    data: String,
    has_data: bool,
    started: bool,
    /// The last line ended in CR: an LF that starts the next chunk belongs to it.
    after_cr: bool,
}

impl Framer {
    /// Takes a chunk of bytes; complete events go to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), TooLong> {
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        self.buffer.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(offset) = self.buffer[self.scanned..].iter().position(|&b| b == b'\n' || b == b'\r') {
            let end = self.scanned + offset;
            let terminator = self.buffer[end];
            let mut next = end + 1;
            if terminator == b'\r' {
                match self.buffer.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.buffer);
            self.line(&line[start..end], out)?;
            self.buffer = line;
            start = next;
            self.scanned = next;
        }
        if start > 0 {
            self.buffer.drain(..start);
            self.scanned -= start;
        }
        self.scanned = self.buffer.len();
        if self.buffer.len() > MAX_EVENT_BYTES {
            return Err(TooLong);
        }
        Ok(())
    }

    /// The end of the stream: an event left without its blank line is still handed on (a
    /// server that closes right after its last `data:` line meant it).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), TooLong> {
        if !self.buffer.is_empty() {
            let line = std::mem::take(&mut self.buffer);
            self.line(&line, out)?;
        }
        self.scanned = 0;
        self.dispatch(out);
        Ok(())
    }

    fn line(&mut self, mut line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), TooLong> {
        if !self.started {
            self.started = true;
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.data.len() + value.len() > MAX_EVENT_BYTES {
                    return Err(TooLong);
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = value.into_owned(),
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if std::mem::take(&mut self.has_data) {
            out.push(SseEvent { event, data: std::mem::take(&mut self.data) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut framer = Framer::default();
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk, &mut out).unwrap();
        }
        framer.finish(&mut out).unwrap();
        out
    }

    fn named(event: &str, data: &str) -> SseEvent {
        SseEvent { event: event.into(), data: data.into() }
    }

    #[test]
    fn events_lines_and_comments() {
        let text =
            b"\xef\xbb\xbfevent: message_start\ndata: {\"a\":1}\n\n: keep-alive\n\nevent:ping\ndata:x\ndata:  y\n\n";
        assert_eq!(frame(&[text]), [named("message_start", "{\"a\":1}"), named("ping", "x\n y")]);
    }

    #[test]
    fn every_line_ending_and_any_split() {
        let text = b"data: one\r\n\r\ndata: two\r\rdata: three\n\ndata: four";
        let whole = frame(&[text]);
        assert_eq!(
            whole,
            [SseEvent::data("one"), SseEvent::data("two"), SseEvent::data("three"), SseEvent::data("four")]
        );
        for split in 0..text.len() {
            assert_eq!(frame(&[&text[..split], &text[split..]]), whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(frame(&bytes), whole);
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        assert_eq!(frame(&[b"event: nothing\n\nid: 4\nretry: 10\n\n"]), []);
    }

    #[test]
    fn a_line_past_the_limit_is_refused_and_a_big_event_is_linear() {
        let mut framer = Framer::default();
        let mut out = Vec::new();
        let chunk = vec![b'x'; 1 << 20];
        let mut result = Ok(());
        for _ in 0..=MAX_EVENT_BYTES >> 20 {
            result = framer.push(&chunk, &mut out);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(TooLong));

        // 16 MB of data in 16 KB chunks (each byte scanned once: `benches/fuzz_sse` times it).
        let mut framer = Framer::default();
        let mut body = b"data: ".to_vec();
        body.extend(std::iter::repeat_n(b'y', 16 << 20));
        body.extend_from_slice(b"\n\n");
        for chunk in body.chunks(16 << 10) {
            framer.push(chunk, &mut out).unwrap();
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 16 << 20);
    }
}
