//! Showing a change: a unified diff for front ends and transcripts, line counts for a
//! one-line summary, and a numbered snippet of the changed region for the model.

use similar::{ChangeTag, TextDiff};

/// A unified diff with three lines of context, headed with the file's path.
pub fn unified(path: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// Lines added and removed.
pub fn line_counts(old: &str, new: &str) -> (usize, usize) {
    let diff = TextDiff::from_lines(old, new);
    let mut counts = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => counts.0 += 1,
            ChangeTag::Delete => counts.1 += 1,
            ChangeTag::Equal => {}
        }
    }
    counts
}

/// Lines `first..=last` (1-based) of `content` with three lines around them, numbered like
/// `cat -n`, at most 30 lines.
pub fn snippet(content: &str, first: usize, last: usize) -> String {
    const AROUND: usize = 3;
    const MAX: usize = 30;
    let start = first.saturating_sub(AROUND).max(1);
    let end = (last + AROUND).min(start + MAX - 1);
    content
        .lines()
        .enumerate()
        .skip(start - 1)
        .take(end + 1 - start)
        .map(|(i, line)| format!("{:>6}\t{}\n", i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_counts_and_snippet() {
        let old = "a\nb\nc\n";
        let new = "a\nB\nc\nd\n";
        assert_eq!(line_counts(old, new), (2, 1));
        let diff = unified("f.txt", old, new);
        assert!(diff.starts_with("--- a/f.txt\n+++ b/f.txt\n@@"), "{diff}");
        assert!(diff.contains("-b\n+B\n"));
        let text: String = (1..=20).map(|i| format!("l{i}\n")).collect();
        assert_eq!(snippet(&text, 10, 10), (7..=13).map(|i| format!("{i:>6}\tl{i}\n")).collect::<String>());
        assert_eq!(snippet(&text, 1, 1).lines().count(), 4);
    }
}
