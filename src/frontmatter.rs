//! YAML frontmatter: the `---` block at the top of a command, skill, agent or rule file.
//!
//! Parsed as YAML (block scalars, quoted strings, lists), read leniently: unknown keys are
//! ignored, booleans may be written `yes`/`on`/`1`, lists may be YAML lists or one string
//! split on commas. A block that is not YAML is an error naming the line in the file.

use yaml_serde::{Mapping, Value};

/// A file split into its frontmatter and its body.
#[derive(Debug, Default)]
pub struct Document {
    pub fields: Mapping,
    pub body: String,
}

/// Splits and parses; the error names the line of the file (1-based) where YAML failed.
pub fn parse(text: &str) -> Result<Document, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text.strip_prefix("---").filter(|r| r.starts_with('\n') || r.starts_with("\r\n")) else {
        return Ok(Document { fields: Mapping::new(), body: text.to_owned() });
    };
    let rest = rest.trim_start_matches('\r').trim_start_matches('\n');
    let (yaml, body) = match find_closing(rest) {
        Some((end, after)) => (&rest[..end], &rest[after..]),
        None => return Err((1, "the frontmatter starts with --- but never ends with a --- line".into())),
    };
    if yaml.trim().is_empty() {
        return Ok(Document { fields: Mapping::new(), body: body.to_owned() });
    }
    match yaml_serde::from_str::<Value>(yaml) {
        Ok(Value::Mapping(fields)) => Ok(Document { fields, body: body.to_owned() }),
        Ok(Value::Null) => Ok(Document { fields: Mapping::new(), body: body.to_owned() }),
        Ok(_) => Err((2, "the frontmatter is not a list of `key: value` lines".into())),
        Err(e) => {
            let line = e.location().map_or(2, |l| l.line() + 1);
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            Err((line, message))
        }
    }
}

/// Where the closing `---` line is: (its start, where the body starts).
fn find_closing(rest: &str) -> Option<(usize, usize)> {
    let mut at = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((at, at + line.len()));
        }
        at += line.len();
    }
    None
}

/// A string field (numbers and booleans read as their text).
pub fn string(fields: &Mapping, key: &str) -> Option<String> {
    match fields.get(key)? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A boolean field: `true/false/yes/no/on/off/1/0`, as Claude Code reads them.
pub fn boolean(fields: &Mapping, key: &str) -> Option<bool> {
    match fields.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A list field: a YAML list, or one string of comma-separated items. Commas inside
/// parentheses stay (`Bash(git add:*), Read` is two items).
pub fn list(fields: &Mapping, key: &str) -> Vec<String> {
    match fields.get(key) {
        Some(Value::Sequence(items)) => {
            items.iter().filter_map(|v| v.as_str().map(|s| s.trim().to_owned())).filter(|s| !s.is_empty()).collect()
        }
        Some(Value::String(s)) => split_list(s),
        _ => Vec::new(),
    }
}

fn split_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth -= 1,
            ',' if depth <= 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

/// A body's first paragraph, for a file without a `description`.
pub fn first_paragraph(body: &str) -> String {
    let text: Vec<&str> = body
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    let joined = text.join(" ");
    match joined.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &joined[..at]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_scalars_lists_and_booleans() {
        let doc = parse(
            "---\nname: demo\ndescription: |-\n  First line.\n  Second line.\nallowed-tools: Bash(git add:*), Bash(git status:*), Read\ndisable-model-invocation: yes\ntools:\n  - Read\n  - Grep\n---\nBody $ARGUMENTS\n",
        )
        .unwrap();
        assert_eq!(string(&doc.fields, "description").unwrap(), "First line.\nSecond line.");
        assert_eq!(list(&doc.fields, "allowed-tools"), ["Bash(git add:*)", "Bash(git status:*)", "Read"]);
        assert_eq!(list(&doc.fields, "tools"), ["Read", "Grep"]);
        assert_eq!(boolean(&doc.fields, "disable-model-invocation"), Some(true));
        assert_eq!(doc.body, "Body $ARGUMENTS\n");
    }

    #[test]
    fn no_frontmatter_and_broken_frontmatter() {
        let doc = parse("# Title\n\nDo the thing.\n").unwrap();
        assert!(doc.fields.is_empty());
        assert_eq!(first_paragraph(&doc.body), "Title");
        let (line, message) = parse("---\nname: x\ndescription: [unclosed\n---\nbody").unwrap_err();
        assert!(line >= 3, "{line}: {message}");
        assert!(parse("---\nname: x\n").is_err());
    }
}
