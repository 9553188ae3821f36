//! `Edit` and `MultiEdit`: exact string replacement that fails helpfully.
//!
//! `old_string` must match exactly once (or `replace_all`). When it matches several times,
//! the error says how many and on which lines; when it matches nowhere, a
//! whitespace-tolerant match (line by line, ignoring indentation and trailing spaces) is
//! used if — and only if — it is unique, the new text is re-indented to fit, and the result
//! says so; otherwise the error shows the closest line. A CRLF file stays CRLF (the model's
//! `\n`s are translated), and a trailing newline stays as it was. `MultiEdit` applies its
//! edits in order to the text in memory and writes only if all of them apply. The pure
//! [`apply_edit`] is the unit of the tests, including a property test that an edit followed
//! by its inverse restores the file byte for byte.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::write::{load_fresh, save, writable_target};
use super::{Tool, ToolContext, ToolError, ToolKind, ToolOutput, diff, paths};

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditSpec {
    /// The exact text to replace, whitespace included.
    pub old_string: String,
    /// The text to put in its place.
    pub new_string: String,
    /// Replace every occurrence instead of exactly one.
    #[serde(default)]
    pub replace_all: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKind {
    Exact,
    /// Matched line by line ignoring leading and trailing whitespace.
    WhitespaceTolerant,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Applied {
    pub content: String,
    pub replacements: usize,
    pub kind: MatchKind,
    /// 1-based lines of the first replacement in the new content.
    pub first_line: usize,
    pub last_line: usize,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("old_string and new_string are the same; there is nothing to change")]
    Unchanged,
    #[error("old_string is empty; give the exact text to replace (an empty old_string only creates a new file)")]
    EmptyOldString,
    #[error(
        "old_string was not found in the file.{closest} Read the file again and copy the text exactly, whitespace included"
    )]
    NotFound { closest: String },
    #[error(
        "old_string matches {count} places (lines {lines}). Add surrounding lines to old_string so it matches \
         exactly one, or set replace_all to change every one"
    )]
    Ambiguous { count: usize, lines: String },
}

/// Applies one edit to `content`.
pub fn apply_edit(content: &str, edit: &EditSpec) -> Result<Applied, EditError> {
    if edit.old_string.is_empty() {
        return Err(EditError::EmptyOldString);
    }
    if edit.old_string == edit.new_string {
        return Err(EditError::Unchanged);
    }
    let crlf = uses_crlf(content);
    let old = with_line_endings(&edit.old_string, crlf);
    let new = with_line_endings(&edit.new_string, crlf);
    // Overlapping occurrences count too: "aba" in "ababa" is two places, not one.
    let overlapping = occurrences(content, &old);
    if !overlapping.is_empty() {
        let starts = if edit.replace_all {
            content.match_indices(old.as_str()).map(|(at, _)| at).collect()
        } else {
            overlapping
        };
        let ranges: Vec<(usize, usize)> = starts.iter().map(|s| (*s, s + old.len())).collect();
        return replace(content, &ranges, |_| new.clone(), edit.replace_all, MatchKind::Exact);
    }
    let windows = tolerant_matches(content, &edit.old_string);
    if windows.is_empty() {
        return Err(EditError::NotFound { closest: closest_line(content, &edit.old_string) });
    }
    let eol = if crlf { "\r\n" } else { "\n" };
    let new_text = edit.new_string.replace("\r\n", "\n");
    let new_text =
        if edit.old_string.ends_with('\n') { new_text.strip_suffix('\n').unwrap_or(&new_text) } else { &new_text };
    let ranges: Vec<(usize, usize)> = windows.iter().map(|w| (w.start, w.end)).collect();
    replace(
        content,
        &ranges,
        |i| reindent(new_text, &windows[i].old_indent, &windows[i].file_indent).join(eol),
        edit.replace_all,
        MatchKind::WhitespaceTolerant,
    )
}

fn replace(
    content: &str,
    ranges: &[(usize, usize)],
    replacement: impl Fn(usize) -> String,
    replace_all: bool,
    kind: MatchKind,
) -> Result<Applied, EditError> {
    if ranges.len() > 1 && !replace_all {
        let lines: Vec<String> = ranges.iter().take(10).map(|(s, _)| line_of(content, *s).to_string()).collect();
        let more = if ranges.len() > 10 { ", …" } else { "" };
        return Err(EditError::Ambiguous { count: ranges.len(), lines: format!("{}{more}", lines.join(", ")) });
    }
    let mut out = String::with_capacity(content.len());
    let mut at = 0;
    let mut first = None;
    for (i, (start, end)) in ranges.iter().enumerate() {
        out.push_str(&content[at..*start]);
        let text = replacement(i);
        if first.is_none() {
            let first_line = line_of(&out, out.len());
            first = Some((first_line, first_line + text.matches('\n').count()));
        }
        out.push_str(&text);
        at = *end;
    }
    out.push_str(&content[at..]);
    let (first_line, last_line) = first.unwrap_or((1, 1));
    Ok(Applied { content: out, replacements: ranges.len(), kind, first_line, last_line })
}

/// Every start of `needle` in `haystack`, overlapping ones included.
fn occurrences(haystack: &str, needle: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = haystack[from..].find(needle) {
        let start = from + at;
        found.push(start);
        from = start + haystack[start..].chars().next().map_or(1, char::len_utf8);
    }
    found
}

/// 1-based line of byte offset `at`.
fn line_of(content: &str, at: usize) -> usize {
    content[..at].matches('\n').count() + 1
}

/// Whether most of the file's line breaks are CRLF.
fn uses_crlf(content: &str) -> bool {
    let crlf = content.matches("\r\n").count();
    crlf > 0 && crlf * 2 >= content.matches('\n').count()
}

fn with_line_endings(text: &str, crlf: bool) -> String {
    let lf = text.replace("\r\n", "\n");
    if crlf { lf.replace('\n', "\r\n") } else { lf }
}

struct Window {
    start: usize,
    end: usize,
    old_indent: String,
    file_indent: String,
}

fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Places where `old`'s lines appear as whole lines of `content`, ignoring leading and
/// trailing whitespace on each line. Each range covers whole lines, without the final break.
fn tolerant_matches(content: &str, old: &str) -> Vec<Window> {
    let old = old.replace("\r\n", "\n");
    let old_lines: Vec<&str> = old.strip_suffix('\n').unwrap_or(&old).split('\n').collect();
    let Some(anchor) = old_lines.iter().position(|l| !l.trim().is_empty()) else { return Vec::new() };
    let mut lines: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for piece in content.split_inclusive('\n') {
        let body = piece.strip_suffix('\n').unwrap_or(piece);
        let body = body.strip_suffix('\r').unwrap_or(body);
        lines.push((start, start + body.len()));
        start += piece.len();
    }
    let text = |(s, e): (usize, usize)| &content[s..e];
    let mut found = Vec::new();
    let mut i = 0;
    while i + old_lines.len() <= lines.len() {
        let fits = old_lines.iter().enumerate().all(|(j, o)| text(lines[i + j]).trim() == o.trim());
        if fits {
            found.push(Window {
                start: lines[i].0,
                end: lines[i + old_lines.len() - 1].1,
                old_indent: indent(old_lines[anchor]).to_owned(),
                file_indent: indent(text(lines[i + anchor])).to_owned(),
            });
            i += old_lines.len();
        } else {
            i += 1;
        }
    }
    found
}

/// `new`'s lines with `old_indent` swapped for the file's own indentation. Where the model
/// indented with spaces a file indented with tabs, deeper levels become tabs too.
fn reindent(new: &str, old_indent: &str, file_indent: &str) -> Vec<String> {
    let all = |text: &str, c: char| !text.is_empty() && text.chars().all(|x| x == c);
    let spaces_per_tab =
        (all(file_indent, '\t') && all(old_indent, ' ') && old_indent.len().is_multiple_of(file_indent.len()))
            .then(|| old_indent.len() / file_indent.len());
    new.split('\n')
        .map(|line| match line.strip_prefix(old_indent) {
            Some(rest) if !line.trim().is_empty() => {
                let extra = indent(rest);
                let extra = match spaces_per_tab {
                    Some(unit) if all(extra, ' ') => "\t".repeat(extra.len() / unit) + &" ".repeat(extra.len() % unit),
                    _ => extra.to_owned(),
                };
                format!("{file_indent}{extra}{}", rest.trim_start())
            }
            _ => line.to_owned(),
        })
        .collect()
}

/// " The closest line is N: …" for the first non-blank line of `old`, if any is close.
fn closest_line(content: &str, old: &str) -> String {
    let Some(wanted) = old.lines().map(str::trim).find(|l| !l.is_empty()) else { return String::new() };
    let wanted_grams = bigrams(wanted);
    let best = content
        .lines()
        .enumerate()
        .map(|(i, line)| (dice(&wanted_grams, &bigrams(line.trim())), i))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((score, i)) if score >= 0.5 => {
            format!(" The closest line is {}:\n{}", i + 1, diff::snippet(content, i + 1, i + 1))
        }
        _ => String::new(),
    }
}

fn bigrams(text: &str) -> HashSet<(char, char)> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

fn dice(a: &HashSet<(char, char)>, b: &HashSet<(char, char)>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    2.0 * a.intersection(b).count() as f64 / (a.len() + b.len()) as f64
}

pub struct Edit;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditInput {
    /// Path of the file to change, absolute or relative to the working directory.
    pub file_path: String,
    /// The exact text to replace, whitespace included.
    pub old_string: String,
    /// The text to put in its place.
    pub new_string: String,
    /// Replace every occurrence instead of exactly one.
    #[serde(default)]
    pub replace_all: bool,
}

impl Tool for Edit {
    type Input = EditInput;
    const NAME: &'static str = "Edit";
    const DESCRIPTION: &'static str = include_str!("../../tools/Edit.md");
    const KIND: ToolKind = ToolKind::Mutating;

    /// The diff the edit would make; if it would not apply, the text replaced and its
    /// replacement, so the question never comes with nothing to look at.
    fn preview(input: &EditInput, ctx: &ToolContext) -> Option<String> {
        let spec = EditSpec {
            old_string: input.old_string.clone(),
            new_string: input.new_string.clone(),
            replace_all: input.replace_all,
        };
        preview_edits(ctx, &input.file_path, &[spec]).or_else(|| {
            let shown = ctx.show(&ctx.resolve(&input.file_path));
            Some(diff::unified(&shown, &input.old_string, &input.new_string))
        })
    }

    async fn call(&self, input: EditInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let spec =
            EditSpec { old_string: input.old_string, new_string: input.new_string, replace_all: input.replace_all };
        edit_file(&ctx, &input.file_path, &[spec]).await
    }
}

pub struct MultiEdit;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiEditInput {
    /// Path of the file to change, absolute or relative to the working directory.
    pub file_path: String,
    /// Edits applied in order, each to the result of the one before; all or none are made.
    pub edits: Vec<EditSpec>,
}

impl Tool for MultiEdit {
    type Input = MultiEditInput;
    const NAME: &'static str = "MultiEdit";
    const DESCRIPTION: &'static str = include_str!("../../tools/MultiEdit.md");
    const KIND: ToolKind = ToolKind::Mutating;

    fn preview(input: &MultiEditInput, ctx: &ToolContext) -> Option<String> {
        preview_edits(ctx, &input.file_path, &input.edits)
    }

    async fn call(&self, input: MultiEditInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        if input.edits.is_empty() {
            return Err(ToolError::Failed("edits is empty; give at least one edit.".into()));
        }
        edit_file(&ctx, &input.file_path, &input.edits).await
    }
}

/// The diff `edits` would make, if they apply to the file as it is now.
fn preview_edits(ctx: &ToolContext, file_path: &str, edits: &[EditSpec]) -> Option<String> {
    let path = ctx.resolve(file_path);
    let original = std::fs::read_to_string(&path).unwrap_or_default();
    let mut content = original.clone();
    for edit in edits {
        content = match apply_edit(&content, edit) {
            Ok(applied) => applied.content,
            Err(_) if edit.old_string.is_empty() && content.is_empty() => edit.new_string.clone(),
            Err(_) => return None,
        };
    }
    Some(diff::unified(&ctx.show(&path), &original, &content))
}

/// Applies `edits` in order and writes the file once, or changes nothing.
async fn edit_file(ctx: &ToolContext, file_path: &str, edits: &[EditSpec]) -> Result<ToolOutput, ToolError> {
    let target = writable_target(ctx, file_path)?;
    let shown = ctx.show(&target);
    let Some(bytes) = load_fresh(ctx, &target).await? else {
        if let [only] = edits
            && only.old_string.is_empty()
        {
            let note = save(ctx, &target, None, only.new_string.as_bytes(), "Edit").await?.unwrap_or("");
            return Ok(ToolOutput::text(format!("Created {shown}.{note}")));
        }
        let near = paths::near_names(&target);
        let hint = match near.first() {
            Some(p) => format!(" Did you mean {}?", ctx.show(p)),
            None => " To create a file, use Write.".to_owned(),
        };
        return Err(ToolError::Failed(format!("File does not exist: {shown}.{hint}")));
    };
    let original = String::from_utf8(bytes)
        .map_err(|_| ToolError::Failed(format!("{shown} is not UTF-8 text; Edit changes text files only.")))?;
    let mut content = original.clone();
    let mut notes = Vec::new();
    let mut region: Option<(usize, usize)> = None;
    for (i, edit) in edits.iter().enumerate() {
        let applied = apply_edit(&content, edit).map_err(|e| {
            let which = if edits.len() > 1 { format!("Edit {} of {}: ", i + 1, edits.len()) } else { String::new() };
            let nothing = if edits.len() > 1 { " No edit was applied." } else { "" };
            ToolError::Failed(format!("{which}{e} ({shown}).{nothing}"))
        })?;
        if applied.kind == MatchKind::WhitespaceTolerant {
            notes.push(format!(
                "old_string{} did not match exactly; it matched one place when whitespace was ignored, \
                 and new_string was re-indented to fit",
                if edits.len() > 1 { format!(" of edit {}", i + 1) } else { String::new() }
            ));
        }
        if applied.replacements > 1 {
            notes.push(format!("{} occurrences replaced", applied.replacements));
        }
        region = Some(match region {
            None => (applied.first_line, applied.last_line),
            Some((first, last)) => (first.min(applied.first_line), last.max(applied.last_line)),
        });
        content = applied.content;
    }
    let note = save(ctx, &target, Some(original.as_bytes()), content.as_bytes(), "Edit").await?.unwrap_or("");
    let (first, last) = region.unwrap_or((1, 1));
    let mut message = format!("Edited {shown}.{note}");
    for note in &notes {
        message.push_str(&format!(" Note: {note}."));
    }
    message.push_str(&format!(" Lines {first}-{last} now read:\n{}", diff::snippet(&content, first, last)));
    let structured = json!({
        "filePath": target,
        "edits": edits.iter().map(|e| json!({"old_string": e.old_string, "new_string": e.new_string, "replace_all": e.replace_all})).collect::<Vec<_>>(),
        "diff": diff::unified(&shown, &original, &content),
        "whitespaceTolerant": !notes.is_empty() && notes.iter().any(|n| n.contains("whitespace")),
    });
    Ok(ToolOutput::text(message).with_structured(structured))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(old: &str, new: &str) -> EditSpec {
        EditSpec { old_string: old.into(), new_string: new.into(), replace_all: false }
    }

    #[test]
    fn exact_unique_match_is_replaced() {
        let applied = apply_edit("a\nb\nc\n", &spec("b", "B")).unwrap();
        assert_eq!(applied.content, "a\nB\nc\n");
        assert_eq!((applied.first_line, applied.kind), (2, MatchKind::Exact));
    }

    #[test]
    fn several_matches_are_refused_with_their_lines_unless_replace_all() {
        let err = apply_edit("x\ny\nx\nx\n", &spec("x", "z")).unwrap_err();
        assert_eq!(err, EditError::Ambiguous { count: 3, lines: "1, 3, 4".into() });
        let all = apply_edit("x\ny\nx\n", &EditSpec { replace_all: true, ..spec("x", "z") }).unwrap();
        assert_eq!((all.content.as_str(), all.replacements), ("z\ny\nz\n", 2));
    }

    #[test]
    fn overlapping_matches_are_ambiguous() {
        assert!(matches!(apply_edit("ababa", &spec("aba", "x")), Err(EditError::Ambiguous { count: 2, .. })));
        let all = apply_edit("ababa", &EditSpec { replace_all: true, ..spec("aba", "x") }).unwrap();
        assert_eq!(all.content, "xba");
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let content = "fn a() {\r\n    one();\r\n    two();\r\n}\r\n";
        let applied = apply_edit(content, &spec("    one();\n    two();", "    three();\n    four();")).unwrap();
        assert_eq!(applied.content, "fn a() {\r\n    three();\r\n    four();\r\n}\r\n");
    }

    #[test]
    fn trailing_newline_presence_is_kept() {
        assert_eq!(apply_edit("a\nb", &spec("b", "c")).unwrap().content, "a\nc");
        assert_eq!(apply_edit("a\nb\n", &spec("b", "c")).unwrap().content, "a\nc\n");
    }

    #[test]
    fn whitespace_tolerant_match_is_used_only_when_unique_and_reindents() {
        let content = "fn main() {\n\tif x {\n\t\tgo();   \n\t}\n}\n";
        // The model wrote spaces where the file has tabs, and no trailing spaces.
        let applied =
            apply_edit(content, &spec("    if x {\n        go();\n    }", "    if x {\n        stop();\n    }"))
                .unwrap();
        assert_eq!(applied.kind, MatchKind::WhitespaceTolerant);
        assert_eq!(applied.content, "fn main() {\n\tif x {\n\t\tstop();\n\t}\n}\n");
        let twice = "  a\n  b\n\n    a\n    b\n";
        assert!(matches!(apply_edit(twice, &spec("a\nb", "c")), Err(EditError::Ambiguous { count: 2, .. })));
    }

    #[test]
    fn not_found_shows_the_closest_line() {
        let err = apply_edit("let total = price * qty;\nprint(total)\n", &spec("let total = price * quantity;", "x"))
            .unwrap_err();
        let EditError::NotFound { closest } = err else { panic!() };
        assert!(closest.contains("closest line is 1"), "{closest}");
        assert!(
            matches!(apply_edit("abc", &spec("zzz", "y")), Err(EditError::NotFound { closest }) if closest.is_empty())
        );
    }

    #[test]
    fn empty_and_unchanged_edits_are_refused() {
        assert_eq!(apply_edit("a", &spec("", "b")), Err(EditError::EmptyOldString));
        assert_eq!(apply_edit("a", &spec("a", "a")), Err(EditError::Unchanged));
    }

    fn content_strategy() -> impl Strategy<Value = (String, bool)> {
        (proptest::collection::vec("[abc \t]{0,6}", 1..12), any::<bool>()).prop_map(|(lines, crlf)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            (lines.join(eol) + eol, crlf)
        })
    }

    proptest! {
        /// An edit followed by its inverse restores the file byte for byte.
        #[test]
        fn an_edit_and_its_inverse_restore_the_file(
            (content, _crlf) in content_strategy(),
            start in 0usize..200,
            len in 1usize..12,
            new in "[abcxyz\n]{1,8}",
        ) {
            let chars: Vec<char> = content.chars().collect();
            let start = start % chars.len();
            let end = (start + len).min(chars.len());
            let old: String = chars[start..end].iter().collect();
            prop_assume!(!old.contains('\r') && !old.is_empty() && old != new);
            prop_assume!(occurrences(&content, &old).len() == 1);
            let forward = apply_edit(&content, &spec(&old, &new));
            prop_assume!(forward.is_ok());
            let forward = forward.unwrap();
            prop_assume!(forward.kind == MatchKind::Exact);
            let crlf = uses_crlf(&content);
            let written = with_line_endings(&new, crlf);
            prop_assume!(occurrences(&forward.content, &written).len() == 1);
            prop_assume!(uses_crlf(&forward.content) == crlf);
            let back = apply_edit(&forward.content, &spec(&new, &old)).unwrap();
            prop_assert_eq!(back.content, content);
        }
    }
}
