//! `Read`: a text file as numbered lines, a window at a time, or an image for the model.
//!
//! Text is streamed (bounded memory whatever the file's size or line length): lines are
//! numbered like `cat -n`, long lines cut with a marker, and the result says how to read on.
//! While reading, the content is hashed and remembered, so Write and Edit can refuse a file
//! that changed since. PNG, JPEG, GIF and WebP files go to the model as images. Binary
//! files, directories, devices and missing files get an error that says what to do instead
//! (for a missing file, the names it was probably meant to be).

use std::hash::{DefaultHasher, Hasher};
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{Tool, ToolContext, ToolError, ToolKind, ToolOutput, paths};
use crate::conversation::history::{ImageSource, ToolResultContent};

const DEFAULT_LIMIT: usize = 2000; // lines, as Claude Code reads
const MAX_LINE_CHARS: usize = 2000;
const BINARY_SNIFF_BYTES: usize = 8192;
/// The API takes images up to 5 MB once base64-encoded.
const MAX_IMAGE_BYTES: u64 = 3_750_000;
const CHUNK: usize = 64 * 1024;

pub struct Read;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadInput {
    /// Path of the file to read, absolute or relative to the working directory.
    pub file_path: String,
    /// The 1-based line number to start reading from. Only for files too long to read at once.
    #[serde(default)]
    pub offset: Option<u64>,
    /// How many lines to read. Only for files too long to read at once.
    #[serde(default)]
    pub limit: Option<u64>,
}

impl Tool for Read {
    type Input = ReadInput;
    const NAME: &'static str = "Read";
    const DESCRIPTION: &'static str = include_str!("../../tools/Read.md");
    const KIND: ToolKind = ToolKind::ReadOnly;

    async fn call(&self, input: ReadInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let path = ctx.resolve(&input.file_path);
        let shown = path.display().to_string();
        let window = Window {
            start: input.offset.map_or(1, |o| o.max(1) as usize),
            limit: input.limit.map_or(DEFAULT_LIMIT, |l| l.max(1) as usize),
        };
        // A speculation's own version of the file, before the disk's.
        let real = super::paths::real_location(&path);
        if let Some(text) = ctx.session.overlaid(&real) {
            let scan = scan_text(text.as_bytes(), window, &ctx.cancel);
            let scan = scan.map_err(|e| ToolError::Failed(format!("Cannot read {shown}: {e}")))?;
            if let Scan::Text(text) = scan {
                ctx.session.remember(&real, text.hash);
                return Ok(render(&shown, &text, window));
            }
        }
        let meta = tokio::fs::metadata(&path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ToolError::Failed(missing(&path, &ctx)),
            _ => ToolError::Failed(format!("Cannot read {shown}: {e}")),
        })?;
        let kind = meta.file_type();
        if kind.is_dir() {
            return Err(ToolError::Failed(format!(
                "{shown} is a directory, not a file. List it with LS, or find files in it with Glob."
            )));
        }
        let is_fifo = std::os::unix::fs::FileTypeExt::is_fifo(&kind);
        if !kind.is_file() && !is_fifo {
            return Err(ToolError::Failed(format!(
                "{shown} is not a regular file (a device or socket); Read shows files."
            )));
        }
        let scan = match read_from_host(&ctx, &path, is_fifo).await {
            Some(Ok(text)) => scan_text(text.as_bytes(), window, &ctx.cancel),
            Some(Err(e)) => return Err(ToolError::Failed(format!("Cannot read {shown} through the editor: {e}"))),
            None => scan_disk(&ctx, &path, window, meta.len(), is_fifo).await?,
        };
        let scan = scan.map_err(|e| ToolError::Failed(format!("Cannot read {shown}: {e}")))?;
        match scan {
            Scan::Image { media_type, bytes } => Ok(image(&shown, media_type, &bytes)),
            Scan::TooBigImage { size } => Err(ToolError::Failed(format!(
                "{shown} is an image of {:.1} MB; the model accepts at most {:.1} MB. Make a smaller copy first \
                 (for example `convert {shown} -resize 50% /tmp/smaller.png`) and read that.",
                size as f64 / 1e6,
                MAX_IMAGE_BYTES as f64 / 1e6
            ))),
            Scan::Binary { size } => Err(ToolError::Failed(format!(
                "{shown} looks like a binary file ({size} bytes); Read shows text files and images. \
                 Inspect it with Bash (`file`, `xxd | head`) if you need to."
            ))),
            Scan::Text(text) => {
                if !is_fifo && let Ok(real) = path.canonicalize() {
                    ctx.session.remember(&real, text.hash);
                    // What the model saw is kept: a command that changes it can be undone.
                    if let Some(checkpoints) = ctx.session.checkpoints()
                        && !ctx.session.routes_files()
                        && meta.len() <= 4 << 20
                        && let Ok(bytes) = std::fs::read(&real)
                    {
                        checkpoints.saw(&real, &bytes);
                    }
                }
                Ok(render(&shown, &text, window))
            }
        }
    }
}

/// The file's text as the editor has it, when files go through the editor (not for pipes
/// or images, which it does not hold as text).
async fn read_from_host(ctx: &ToolContext, path: &Path, is_fifo: bool) -> Option<Result<String, String>> {
    if is_fifo || image_type(&head_of(path)).is_some() {
        return None;
    }
    ctx.session.read_through_host(path).await
}

fn head_of(path: &Path) -> Vec<u8> {
    let mut head = vec![0u8; 16];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    head.truncate(n);
    head
}

/// Reads the file from disk, on a blocking thread, giving up on a named pipe nobody writes.
async fn scan_disk(
    ctx: &ToolContext,
    path: &Path,
    window: Window,
    size: u64,
    is_fifo: bool,
) -> Result<std::io::Result<Scan>, ToolError> {
    let shown = path.display().to_string();
    let cancel = ctx.cancel.clone();
    let reading = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || scan_file(&path, window, size, &cancel))
    };
    // A named pipe with no writer would hold the read (and the turn) forever.
    let pipe_wait = async {
        if is_fifo {
            tokio::time::sleep(FIFO_WAIT).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    Ok(tokio::select! {
        scan = reading => scan.map_err(|e| ToolError::Failed(format!("Reading {shown} failed: {e}")))?,
        () = ctx.cancel.cancelled() => {
            if is_fifo {
                release_pipe(path);
            }
            return Err(ToolError::Interrupted);
        }
        () = pipe_wait => {
            release_pipe(path);
            return Err(ToolError::Failed(format!(
                "{shown} is a named pipe and nothing wrote to it within {} s; Read gives up on it.",
                FIFO_WAIT.as_secs()
            )));
        }
    })
}

/// The error for a path that does not exist, with the names it was probably meant to be.
fn missing(path: &Path, ctx: &ToolContext) -> String {
    let mut message = format!("File does not exist: {}.", path.display());
    let near = paths::near_names(path);
    if !near.is_empty() {
        let names: Vec<String> = near.iter().map(|p| ctx.show(p)).collect();
        message.push_str(&format!(" Did you mean {}?", names.join(" or ")));
    } else if let Some(dir) = paths::nearest_existing_dir(path)
        && path.parent() != Some(dir)
    {
        message.push_str(&format!(" The nearest folder that exists is {}.", dir.display()));
    }
    message.push_str(&format!(" (The working directory is {}.)", ctx.session.cwd().display()));
    message
}

#[derive(Clone, Copy, Debug)]
struct Window {
    start: usize,
    limit: usize,
}

#[derive(Debug, Default)]
struct Text {
    lines: Vec<String>,
    total: usize,
    hash: u64,
}

#[derive(Debug)]
enum Scan {
    Text(Text),
    Image { media_type: &'static str, bytes: Vec<u8> },
    TooBigImage { size: u64 },
    Binary { size: u64 },
}

fn image_type(head: &[u8]) -> Option<&'static str> {
    match head {
        [0x89, b'P', b'N', b'G', ..] => Some("image/png"),
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [b'G', b'I', b'F', b'8', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        _ => None,
    }
}

/// How long Read waits for a named pipe's writer.
const FIFO_WAIT: Duration = Duration::from_secs(15);

/// Opens a named pipe for writing, without blocking, and closes it: a read stuck waiting
/// for a writer gets one, then the end of the stream, and its thread is free again.
fn release_pipe(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let nonblocking = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let _ = std::fs::OpenOptions::new().write(true).custom_flags(nonblocking).open(path);
}

fn scan_file(
    path: &Path,
    window: Window,
    size: u64,
    cancel: &tokio_util::sync::CancellationToken,
) -> std::io::Result<Scan> {
    let mut file = std::fs::File::open(path)?;
    let mut head = vec![0u8; CHUNK];
    let mut filled = 0;
    while filled < 16 {
        let n = file.read(&mut head[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    if let Some(media_type) = image_type(&head) {
        if size > MAX_IMAGE_BYTES {
            return Ok(Scan::TooBigImage { size });
        }
        let mut bytes = head;
        file.read_to_end(&mut bytes)?;
        return Ok(Scan::Image { media_type, bytes });
    }
    scan_text(std::io::Cursor::new(head).chain(file), window, cancel)
}

/// Streams text: hashes all of it, counts its lines, keeps the window's lines (each cut at
/// [`MAX_LINE_CHARS`]). A NUL byte near the start means binary.
fn scan_text(
    mut reader: impl std::io::Read,
    window: Window,
    cancel: &tokio_util::sync::CancellationToken,
) -> std::io::Result<Scan> {
    let mut hasher = DefaultHasher::new();
    let mut text = Text::default();
    let mut line: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    let mut chunk = vec![0u8; CHUNK];
    // Enough bytes for MAX_LINE_CHARS characters of any width.
    let keep = MAX_LINE_CHARS * 4;
    let mut cut = false;
    let in_window = |n: usize| n >= window.start && n < window.start + window.limit;
    loop {
        if cancel.is_cancelled() {
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted"));
        }
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        let bytes = &chunk[..n];
        hasher.write(bytes);
        if seen < BINARY_SNIFF_BYTES && bytes[..n.min(BINARY_SNIFF_BYTES - seen)].contains(&0) {
            return Ok(Scan::Binary { size: (seen + n) as u64 });
        }
        seen += n;
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            let (content, ends) = match piece.strip_suffix(b"\n") {
                Some(content) => (content, true),
                None => (piece, false),
            };
            if in_window(text.total + 1) {
                let room = keep.saturating_sub(line.len());
                line.extend_from_slice(&content[..content.len().min(room)]);
                cut |= content.len() > room;
            }
            if ends {
                text.total += 1;
                if in_window(text.total) {
                    text.lines.push(finish_line(&line, cut));
                }
                line.clear();
                cut = false;
            }
        }
    }
    if !line.is_empty() || cut {
        text.total += 1;
        if in_window(text.total) {
            text.lines.push(finish_line(&line, cut));
        }
    }
    text.hash = hasher.finish();
    Ok(Scan::Text(text))
}

fn finish_line(bytes: &[u8], cut: bool) -> String {
    let decoded = String::from_utf8_lossy(bytes);
    let decoded = decoded.strip_suffix('\r').unwrap_or(&decoded);
    match decoded.char_indices().nth(MAX_LINE_CHARS) {
        Some((at, _)) => format!("{}… [line cut at {MAX_LINE_CHARS} characters]", &decoded[..at]),
        None if cut => format!("{decoded}… [line cut at {MAX_LINE_CHARS} characters]"),
        None => decoded.to_owned(),
    }
}

fn render(path: &str, text: &Text, window: Window) -> ToolOutput {
    let total = text.total;
    if total == 0 {
        return ToolOutput::text(format!("{path} exists but is empty.")).with_structured(
            json!({"type": "text", "file": {"filePath": path, "numLines": 0, "startLine": 1, "totalLines": 0}}),
        );
    }
    if window.start > total {
        return ToolOutput::error(format!(
            "{path} has {total} lines; offset {} is past the end. Read from an offset of at most {total}.",
            window.start
        ));
    }
    let mut out = String::new();
    for (i, line) in text.lines.iter().enumerate() {
        out.push_str(&format!("{:>6}\t{line}\n", window.start + i));
    }
    let end = window.start - 1 + text.lines.len();
    if end < total {
        out.push_str(&format!(
            "… {} more lines. Read on with offset={} (the file has {total} lines).\n",
            total - end,
            end + 1
        ));
    }
    let structured = json!({
        "type": "text",
        "file": {"filePath": path, "numLines": text.lines.len(), "startLine": window.start, "totalLines": total},
    });
    ToolOutput::text(out).with_structured(structured)
}

fn image(path: &str, media_type: &str, bytes: &[u8]) -> ToolOutput {
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    ToolOutput {
        content: vec![ToolResultContent::Image {
            source: ImageSource { kind: "base64".into(), media_type: media_type.into(), data },
        }],
        is_error: false,
        structured: json!({"type": "image", "file": {"filePath": path, "type": media_type, "originalSize": bytes.len()}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(content: &[u8], start: usize, limit: usize) -> Text {
        let window = Window { start, limit };
        match scan_text(content, window, &tokio_util::sync::CancellationToken::new()).unwrap() {
            Scan::Text(text) => text,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_lines_and_says_how_to_read_on() {
        let t = text(b"a\nb\r\nc\nd\n", 2, 2);
        assert_eq!(t.total, 4);
        let out = render("f", &t, Window { start: 2, limit: 2 }).text_content();
        assert_eq!(out, "     2\tb\n     3\tc\n… 1 more lines. Read on with offset=4 (the file has 4 lines).\n");
        assert!(render("f", &t, Window { start: 9, limit: 1 }).is_error);
    }

    #[test]
    fn long_lines_are_cut_and_the_hash_covers_everything() {
        let mut content = "x".repeat(100_000).into_bytes();
        content.extend_from_slice(b"\nlast line without newline");
        let t = text(&content, 1, 10);
        assert_eq!(t.total, 2);
        assert!(t.lines[0].ends_with("[line cut at 2000 characters]"));
        assert_eq!(t.lines[0].matches('x').count(), 2000);
        assert_eq!(t.lines[1], "last line without newline");
        assert_eq!(t.hash, crate::tools::state::content_hash(&content));
    }

    #[test]
    fn recognises_images_and_binaries() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"plain text"), None);
        let binary = scan_text(&b"ELF\0\0\x01"[..], Window { start: 1, limit: 5 }, &Default::default()).unwrap();
        assert!(matches!(binary, Scan::Binary { .. }));
    }
}
