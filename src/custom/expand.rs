//! Turning a command or skill body into the message the model reads.
//!
//! Arguments: `$ARGUMENTS` is the whole argument string, `$ARGUMENTS[N]` the N-th word
//! (0-based, as current Claude Code has it), and `$1`…`$9` the first to ninth words —
//! 1-based, the classic rule that nearly every public command file is written for (`Review
//! PR #$1 with priority $2`); `\$1` is a literal `$1` and a missing word is empty. Words are
//! split like a shell's (`"Alice Smith" Bob` is two). A body that names no argument gets
//! `ARGUMENTS: <args>` appended when arguments were given. `${CLAUDE_SESSION_ID}`,
//! `${CLAUDE_PROJECT_DIR}` and `${CLAUDE_SKILL_DIR}` are filled in.
//!
//! `` !`cmd` `` (and ```` ```! ```` blocks) are found here and run by the core, through the
//! permission gate; `@path` mentions of existing files are attached (read with the Read tool).

use std::ops::Range;
use std::path::{Path, PathBuf};

/// Values for `${…}` variables.
pub struct Vars<'a> {
    pub session_id: &'a str,
    pub project_dir: &'a Path,
    pub skill_dir: Option<&'a Path>,
}

/// Splits arguments like a shell: whitespace separates, quotes group.
pub fn words(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in args.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            (None, c) => current.push(c),
        }
    }
    if started || !current.is_empty() {
        out.push(current);
    }
    out
}

/// Fills in the arguments and variables.
pub fn substitute(body: &str, args: &str, vars: &Vars<'_>) -> String {
    let words = words(args);
    let mut out = String::with_capacity(body.len() + args.len());
    let mut used_arguments = false;
    let mut rest = body;
    while let Some(at) = rest.find(['$', '\\']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // `\$1`: a literal dollar.
        if let Some(after) = rest.strip_prefix("\\$") {
            out.push('$');
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix('\\') {
            out.push('\\');
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix("$ARGUMENTS") {
            used_arguments = true;
            if let Some((index, after_index)) = bracketed_index(after) {
                out.push_str(words.get(index).map_or("", String::as_str));
                rest = after_index;
            } else {
                out.push_str(args);
                rest = after;
            }
            continue;
        }
        if let Some(after) = rest.strip_prefix("${") {
            if let Some(end) = after.find('}') {
                let value = match &after[..end] {
                    "CLAUDE_SESSION_ID" | "CAIRN_SESSION_ID" => Some(vars.session_id.to_owned()),
                    "CLAUDE_PROJECT_DIR" | "CAIRN_PROJECT_DIR" => Some(vars.project_dir.display().to_string()),
                    "CLAUDE_SKILL_DIR" | "CAIRN_SKILL_DIR" => vars.skill_dir.map(|d| d.display().to_string()),
                    _ => None,
                };
                if let Some(value) = value {
                    out.push_str(&value);
                    rest = &after[end + 1..];
                    continue;
                }
            }
            out.push('$');
            rest = &rest[1..];
            continue;
        }
        let digit = rest[1..].chars().next().filter(|c| c.is_ascii_digit() && *c != '0');
        if let Some(digit) = digit {
            used_arguments = true;
            let index = digit as usize - '1' as usize;
            out.push_str(words.get(index).map_or("", String::as_str));
            rest = &rest[2..];
            continue;
        }
        out.push('$');
        rest = &rest[1..];
    }
    out.push_str(rest);
    if !used_arguments && !args.trim().is_empty() {
        out = format!("{}\n\nARGUMENTS: {}", out.trim_end(), args.trim());
    }
    out
}

/// `[3]` at the start of `text`: the index and what follows it.
fn bracketed_index(text: &str) -> Option<(usize, &str)> {
    let inner = text.strip_prefix('[')?;
    let end = inner.find(']')?;
    let index = inner[..end].trim().parse().ok()?;
    Some((index, &inner[end + 1..]))
}

/// A shell command in a body, and the text it replaces.
#[derive(Debug, PartialEq, Eq)]
pub struct Snippet {
    pub range: Range<usize>,
    pub command: String,
}

/// The `` !`cmd` `` snippets (at a line's start or after whitespace) and ```` ```! ````
/// blocks, in order.
pub fn shell_snippets(text: &str) -> Vec<Snippet> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("```!") {
        let start = at + found;
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let body_start = text[start..].find('\n').map_or(text.len(), |i| start + i + 1);
        let Some(close) = text[body_start..].find("```") else { break };
        let end = body_start + close + 3;
        if text[line_start..start].trim().is_empty() {
            out.push(Snippet { range: start..end, command: text[body_start..body_start + close].trim().to_owned() });
        }
        at = end;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(found) = text[i..].find("!`") {
        let start = i + found;
        let after_space = start == 0 || bytes[start - 1].is_ascii_whitespace();
        let inside_block = out.iter().any(|s| s.range.contains(&start));
        let Some(close) = text[start + 2..].find('`') else { break };
        let end = start + 2 + close + 1;
        if after_space && !inside_block && close > 0 {
            out.push(Snippet { range: start..end, command: text[start + 2..start + 2 + close].to_owned() });
        }
        i = end;
    }
    out.sort_by_key(|s| s.range.start);
    out
}

/// Replaces each snippet with its output (`outputs` in the same order).
pub fn replace_snippets(text: &str, snippets: &[Snippet], outputs: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (snippet, output) in snippets.iter().zip(outputs) {
        out.push_str(&text[at..snippet.range.start]);
        out.push_str(output.trim_end());
        at = snippet.range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The files `@path` names (outside code) that exist, relative to `cwd`.
pub fn file_mentions(text: &str, cwd: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for target in crate::memory::at_mentions(text) {
        let full = crate::memory::resolve_mention(target, cwd);
        if full.is_file() && !out.contains(&full) {
            out.push(full);
        }
    }
    out
}

/// The lines Claude Code puts before a command's text, so the transcript (and the model)
/// can tell what the user invoked.
pub fn invocation_header(name: &str, args: &str) -> String {
    format!(
        "<command-message>{name}</command-message>\n<command-name>/{name}</command-name>\n<command-args>{args}</command-args>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars<'static> {
        Vars { session_id: "s-1", project_dir: Path::new("/p"), skill_dir: Some(Path::new("/p/.claude/skills/x")) }
    }

    #[test]
    fn arguments_are_filled_in() {
        let v = vars();
        assert_eq!(substitute("Fix issue $ARGUMENTS now", "123 high", &v), "Fix issue 123 high now");
        assert_eq!(
            substitute("Review PR #$1 with priority $2 ($3)", "456 high", &v),
            "Review PR #456 with priority high ()"
        );
        assert_eq!(
            substitute("First: $ARGUMENTS[0], second: $ARGUMENTS[1]", "\"Alice Smith\" Bob", &v),
            "First: Alice Smith, second: Bob"
        );
        assert_eq!(
            substitute("Costs \\$1 in ${CLAUDE_SKILL_DIR} for ${CLAUDE_SESSION_ID}", "", &v),
            "Costs $1 in /p/.claude/skills/x for s-1"
        );
        assert_eq!(substitute("Just do it.", "quickly please", &v), "Just do it.\n\nARGUMENTS: quickly please");
        assert_eq!(substitute("Price: $5 and ${UNKNOWN}", "", &v), "Price:  and ${UNKNOWN}");
    }

    #[test]
    fn shell_snippets_and_their_outputs() {
        let text = "Status: !`git status --short`\nNot this: a!`x` or `!`\n```!\ngit log -1\n```\nEnd";
        let snippets = shell_snippets(text);
        let commands: Vec<&str> = snippets.iter().map(|s| s.command.as_str()).collect();
        assert_eq!(commands, ["git status --short", "git log -1"]);
        let out = replace_snippets(text, &snippets, &["M a.rs\n".into(), "abc first".into()]);
        assert_eq!(out, "Status: M a.rs\nNot this: a!`x` or `!`\nabc first\nEnd");
    }

    #[test]
    fn file_mentions_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.md"), "x").unwrap();
        let found = file_mentions("See @notes.md, and @missing.md\n```\n@notes.md\n```", dir.path());
        assert_eq!(found, [dir.path().join("notes.md")]);
    }
}
