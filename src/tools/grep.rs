//! `Grep`: ripgrep's engine (its own `grep-regex`, `grep-searcher` and `ignore` crates)
//! behind Claude Code's parameters.
//!
//! The walk is parallel and honours `.gitignore`; binary files are skipped; `glob` and
//! `type` filter files the way `rg -g` and `rg -t` do. Three output modes:
//! `files_with_matches` (the default; newest first, as Claude Code sorts them), `content`
//! (`path:line:text`, context lines as `path-line-text`, `--` between groups) and `count`.
//! `head_limit` and `offset` page through the entries; output past 30,000 characters is cut
//! with a note on how to narrow the search.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkContextKind, SinkMatch};
use ignore::overrides::OverrideBuilder;
use ignore::types::TypesBuilder;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::bash::{MAX_OUTPUT_CHARS, truncate_middle};
use super::{Tool, ToolContext, ToolError, ToolKind, ToolOutput, paths, walk};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    Content,
    #[default]
    FilesWithMatches,
    Count,
}

pub struct Grep;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrepInput {
    /// A regular expression (ripgrep syntax), like "fn\\s+main" or "TODO|FIXME".
    pub pattern: String,
    /// File or folder to search (default: the working directory).
    #[serde(default)]
    pub path: Option<String>,
    /// Only files matching this glob, like "*.js" or "*.{ts,tsx}" (as `rg -g`).
    #[serde(default)]
    pub glob: Option<String>,
    /// Only files of this type, like "rust", "py", "js" (as `rg -t`).
    #[serde(default, rename = "type")]
    pub file_type: Option<String>,
    /// "files_with_matches" (default: paths), "content" (matching lines) or "count".
    #[serde(default)]
    pub output_mode: Option<OutputMode>,
    /// Case-insensitive.
    #[serde(default, rename = "-i")]
    pub case_insensitive: Option<bool>,
    /// Line numbers in content mode (default true).
    #[serde(default, rename = "-n")]
    pub line_numbers: Option<bool>,
    /// Lines after each match (content mode).
    #[serde(default, rename = "-A")]
    pub after: Option<u64>,
    /// Lines before each match (content mode).
    #[serde(default, rename = "-B")]
    pub before: Option<u64>,
    /// Lines before and after each match (content mode).
    #[serde(default, rename = "-C")]
    pub context: Option<u64>,
    /// Let `.` match newlines and patterns span lines.
    #[serde(default)]
    pub multiline: Option<bool>,
    /// Return only the first N entries (lines, files or counts).
    #[serde(default)]
    pub head_limit: Option<u64>,
    /// Skip the first N entries (with head_limit, to page).
    #[serde(default)]
    pub offset: Option<u64>,
}

impl Tool for Grep {
    type Input = GrepInput;
    const NAME: &'static str = "Grep";
    const DESCRIPTION: &'static str = include_str!("../../tools/Grep.md");
    const KIND: ToolKind = ToolKind::ReadOnly;

    async fn call(&self, input: GrepInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let root = input.path.as_deref().map_or_else(|| ctx.session.cwd(), |p| ctx.resolve(p));
        if !root.exists() {
            let near = paths::near_names(&root);
            let hint = near.first().map(|p| format!(" Did you mean {}?", ctx.show(p))).unwrap_or_default();
            return Err(ToolError::Failed(format!("{} does not exist.{hint}", root.display())));
        }
        let mode = input.output_mode.unwrap_or_default();
        let cwd = ctx.session.cwd();
        let cancel = ctx.cancel.clone();
        let options = Options::from(&input);
        let denials = ctx.session.read_denials();
        if root.is_file()
            && let Some(denial) = denials.as_ref().and_then(|d| d.denial_of(&root))
        {
            return Err(ToolError::Failed(format!("{} is not searched: {denial}.", ctx.show(&root))));
        }
        let search = move || search(&root, &options, mode, denials, &cancel);
        let found = tokio::task::spawn_blocking(search)
            .await
            .map_err(|e| ToolError::Failed(format!("Grep failed: {e}")))?
            .map_err(ToolError::Failed)?;
        Ok(render(found, mode, &input, &cwd))
    }
}

#[derive(Clone, Debug)]
struct Options {
    pattern: String,
    glob: Option<String>,
    file_type: Option<String>,
    case_insensitive: bool,
    before: usize,
    after: usize,
    multiline: bool,
}

impl From<&GrepInput> for Options {
    fn from(input: &GrepInput) -> Options {
        let context = input.context.unwrap_or(0) as usize;
        Options {
            pattern: input.pattern.clone(),
            glob: input.glob.clone(),
            file_type: input.file_type.clone(),
            case_insensitive: input.case_insensitive.unwrap_or(false),
            before: input.before.map_or(context, |b| b as usize),
            after: input.after.map_or(context, |a| a as usize),
            multiline: input.multiline.unwrap_or(false),
        }
    }
}

/// One file's findings.
struct FileHit {
    path: PathBuf,
    modified: SystemTime,
    /// Content mode: the formatted lines, without the path.
    lines: Vec<(u64, char, String)>,
    count: u64,
}

fn matcher(options: &Options) -> Result<RegexMatcher, String> {
    let mut builder = RegexMatcherBuilder::new();
    builder.case_insensitive(options.case_insensitive);
    if options.multiline {
        builder.multi_line(true).dot_matches_new_line(true);
    } else {
        builder.line_terminator(Some(b'\n'));
    }
    builder.build(&options.pattern).map_err(|e| format!("Invalid regex {:?}: {e}", options.pattern))
}

fn search(
    root: &Path,
    options: &Options,
    mode: OutputMode,
    denials: Option<Arc<crate::permissions::ReadDenials>>,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Found, String> {
    let matcher = matcher(options)?;
    let mut walker = walk::builder(root, denials);
    if let Some(name) = &options.file_type {
        let mut types = TypesBuilder::new();
        types.add_defaults();
        if !types.definitions().iter().any(|d| d.name() == name) {
            return Err(format!(
                "Unknown file type {name:?}; use a ripgrep type like rust, py, js, ts, go, java, c, cpp, md, or use glob."
            ));
        }
        types.select(name);
        walker.types(types.build().map_err(|e| e.to_string())?);
    }
    if let Some(glob) = &options.glob {
        let mut overrides = OverrideBuilder::new(root);
        overrides.add(glob).map_err(|e| format!("Invalid glob {glob:?}: {e}"))?;
        walker.overrides(overrides.build().map_err(|e| e.to_string())?);
    }
    let mut searcher = SearcherBuilder::new();
    searcher
        .line_number(true)
        .binary_detection(BinaryDetection::quit(b'\x00'))
        .multi_line(options.multiline)
        .before_context(if mode == OutputMode::Content { options.before } else { 0 })
        .after_context(if mode == OutputMode::Content { options.after } else { 0 });
    let hits = Arc::new(Mutex::new(Vec::new()));
    let stop = AtomicBool::new(false);
    let kept = AtomicUsize::new(0);
    let search_one = |searcher: &mut Searcher, path: &Path, hits: &Mutex<Vec<FileHit>>| {
        let mut collect = Collect { mode, lines: Vec::new(), count: 0, kept: &kept };
        if searcher.search_path(&matcher, path, &mut collect).is_ok() && collect.count > 0 {
            let modified = if mode == OutputMode::FilesWithMatches {
                std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH)
            } else {
                SystemTime::UNIX_EPOCH
            };
            let hit = FileHit { path: path.to_path_buf(), modified, lines: collect.lines, count: collect.count };
            if let Ok(mut hits) = hits.lock() {
                hits.push(hit);
            }
        }
    };
    if root.is_file() {
        search_one(&mut searcher.build(), root, &hits);
    } else {
        walk::files(&walker, &stop, || {
            let mut searcher = searcher.build();
            let hits = Arc::clone(&hits);
            let (stop, search_one) = (&stop, &search_one);
            move |entry: &ignore::DirEntry| {
                if cancel.is_cancelled() {
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
                search_one(&mut searcher, entry.path(), &hits);
            }
        });
    }
    let hits = std::mem::take(&mut *hits.lock().map_err(|_| "Grep failed".to_owned())?);
    let dropped = kept.load(Ordering::Relaxed) > KEEP_BYTES;
    Ok(Found { hits, dropped })
}

/// What a search found; `dropped`: more matching lines than were kept.
struct Found {
    hits: Vec<FileHit>,
    dropped: bool,
}

/// Matching text kept in memory, at most: far more than the model is ever shown (30,000
/// characters), far less than six million matching lines would take.
const KEEP_BYTES: usize = 8 << 20;

/// Collects one file's matches for the output mode; stops at the first match when only the
/// file's name is wanted. Lines past the shared budget are counted, not kept.
struct Collect<'k> {
    mode: OutputMode,
    lines: Vec<(u64, char, String)>,
    count: u64,
    kept: &'k AtomicUsize,
}

impl Collect<'_> {
    fn push_lines(&mut self, first: Option<u64>, bytes: &[u8], marker: char) {
        if self.kept.fetch_add(bytes.len() + 16, Ordering::Relaxed) > KEEP_BYTES {
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        for (i, line) in text.lines().enumerate() {
            let number = first.map_or(0, |n| n + i as u64);
            self.lines.push((number, marker, line.strip_suffix('\r').unwrap_or(line).to_owned()));
        }
    }
}

impl Sink for Collect<'_> {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, std::io::Error> {
        self.count += mat.lines().count().max(1) as u64;
        match self.mode {
            OutputMode::FilesWithMatches => Ok(false),
            OutputMode::Count => Ok(true),
            OutputMode::Content => {
                self.push_lines(mat.line_number(), mat.bytes(), ':');
                Ok(true)
            }
        }
    }

    fn context(&mut self, _: &Searcher, context: &SinkContext<'_>) -> Result<bool, std::io::Error> {
        if matches!(context.kind(), SinkContextKind::Before | SinkContextKind::After) {
            self.push_lines(context.line_number(), context.bytes(), '-');
        }
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, std::io::Error> {
        self.lines.push((0, '|', String::new()));
        Ok(true)
    }
}

fn render(found: Found, mode: OutputMode, input: &GrepInput, cwd: &Path) -> ToolOutput {
    let Found { mut hits, dropped } = found;
    let skip = input.offset.unwrap_or(0) as usize;
    let limit = input.head_limit.map_or(usize::MAX, |l| l as usize);
    let show = |p: &Path| paths::display(p, cwd);
    let (entries, header, total): (Vec<String>, String, usize) = match mode {
        OutputMode::FilesWithMatches => {
            hits.sort_by(|a, b| b.modified.cmp(&a.modified).then_with(|| a.path.cmp(&b.path)));
            let files: Vec<String> = hits.iter().map(|h| show(&h.path)).collect();
            let n = files.len();
            (files, format!("Found {n} file{}", if n == 1 { "" } else { "s" }), n)
        }
        OutputMode::Count => {
            hits.sort_by(|a, b| a.path.cmp(&b.path));
            let matches: u64 = hits.iter().map(|h| h.count).sum();
            let lines: Vec<String> = hits.iter().map(|h| format!("{}:{}", show(&h.path), h.count)).collect();
            let n = lines.len();
            (lines, format!("Found {matches} matching lines in {n} files"), n)
        }
        OutputMode::Content => {
            hits.sort_by(|a, b| a.path.cmp(&b.path));
            let numbers = input.line_numbers.unwrap_or(true);
            let mut lines = Vec::new();
            for hit in &hits {
                let path = show(&hit.path);
                for (number, marker, text) in &hit.lines {
                    lines.push(match (marker, numbers) {
                        ('|', _) => "--".to_owned(),
                        (_, true) => format!("{path}{marker}{number}{marker}{text}"),
                        (_, false) => format!("{path}{marker}{text}"),
                    });
                }
            }
            let n = lines.len();
            (lines, String::new(), n)
        }
    };
    if total == 0 {
        return ToolOutput::text(format!("No matches for {:?}.", input.pattern))
            .with_structured(json!({"mode": mode_name(mode), "numFiles": 0, "numLines": 0}));
    }
    let page: Vec<&String> = entries.iter().skip(skip).take(limit).collect();
    let mut text = header;
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&page.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"));
    if skip + page.len() < total {
        text.push_str(&format!(
            "\n(Showing entries {}-{} of {total}; use offset to see more.)",
            skip + 1,
            skip + page.len()
        ));
    }
    if text.chars().count() > MAX_OUTPUT_CHARS {
        text = truncate_middle(&text, MAX_OUTPUT_CHARS);
        text.push_str("\n(Output cut. Narrow the search with path, glob, type or head_limit.)");
    }
    if dropped {
        let matches: u64 = hits.iter().map(|h| h.count).sum();
        text.push_str(&format!(
            "\n(Only part of the {matches} matching lines in {} files could be listed. Narrow the search with path, glob, type or a more specific pattern.)",
            hits.len()
        ));
    }
    let structured = json!({"mode": mode_name(mode), "numFiles": hits.len(), "numEntries": total});
    ToolOutput::text(text).with_structured(structured)
}

fn mode_name(mode: OutputMode) -> &'static str {
    match mode {
        OutputMode::Content => "content",
        OutputMode::FilesWithMatches => "files_with_matches",
        OutputMode::Count => "count",
    }
}
