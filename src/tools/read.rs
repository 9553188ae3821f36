//! `Read`: a text file as numbered lines, a window at a time.
//!
//! First form (issue [1/8]): text files with `offset`/`limit`, long lines cut, clear errors
//! for missing files, directories and binary files. Images, staleness tracking and near-name
//! suggestions arrive with the hardened tool set in [2/8].

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{Tool, ToolContext, ToolError, ToolKind, ToolOutput};

const DEFAULT_LIMIT: usize = 2000; // lines, as Claude Code reads
const MAX_LINE_CHARS: usize = 2000;
const BINARY_SNIFF_BYTES: usize = 8192;

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
        let meta = tokio::fs::metadata(&path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ToolError::Failed(format!(
                "File does not exist: {shown}. The working directory is {}; check the path, or list the folder with Bash `ls`.",
                ctx.cwd.display()
            )),
            _ => ToolError::Failed(format!("Cannot read {shown}: {e}")),
        })?;
        if meta.is_dir() {
            return Err(ToolError::Failed(format!(
                "{shown} is a directory, not a file. List it with Bash `ls {shown}`."
            )));
        }
        let bytes = tokio::select! {
            read = tokio::fs::read(&path) => read.map_err(|e| ToolError::Failed(format!("Cannot read {shown}: {e}")))?,
            () = ctx.cancel.cancelled() => return Err(ToolError::Interrupted),
        };
        if bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
            return Err(ToolError::Failed(format!(
                "{shown} looks like a binary file ({} bytes); Read shows text files only.",
                bytes.len()
            )));
        }
        let text = String::from_utf8_lossy(&bytes);
        Ok(render(&shown, &text, input.offset, input.limit))
    }
}

fn render(path: &str, text: &str, offset: Option<u64>, limit: Option<u64>) -> ToolOutput {
    let total = text.lines().count();
    let start = offset.map_or(1, |o| o.max(1) as usize);
    let limit = limit.map_or(DEFAULT_LIMIT, |l| l.max(1) as usize);
    if total == 0 {
        return ToolOutput::text(format!("{path} exists but is empty."));
    }
    if start > total {
        return ToolOutput::error(format!(
            "{path} has {total} lines; offset {start} is past the end. Read from an offset of at most {total}."
        ));
    }
    let mut out = String::new();
    let mut shown = 0;
    for (n, line) in text.lines().enumerate().skip(start - 1).take(limit) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        out.push_str(&format!("{:>6}\t", n + 1));
        match line.char_indices().nth(MAX_LINE_CHARS) {
            Some((cut, _)) => {
                out.push_str(&line[..cut]);
                out.push_str("… [line cut at 2000 characters]");
            }
            None => out.push_str(line),
        }
        out.push('\n');
        shown += 1;
    }
    let end = start - 1 + shown;
    if end < total {
        out.push_str(&format!(
            "… {} more lines. Read on with offset={} (the file has {total} lines).\n",
            total - end,
            end + 1
        ));
    }
    let structured = json!({
        "type": "text",
        "file": {"filePath": path, "numLines": shown, "startLine": start, "totalLines": total},
    });
    ToolOutput::text(out).with_structured(structured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lines_and_says_how_to_read_on() {
        let text = "a\nb\r\nc\nd\n";
        let out = render("f", text, Some(2), Some(2)).text_content();
        assert_eq!(out, "     2\tb\n     3\tc\n… 1 more lines. Read on with offset=4 (the file has 4 lines).\n");
        let past = render("f", text, Some(9), None);
        assert!(past.is_error);
        let long = "x".repeat(2500);
        let cut = render("f", &long, None, None).text_content();
        assert!(cut.contains("[line cut at 2000 characters]"));
        assert_eq!(cut.matches('x').count(), 2000);
    }
}
