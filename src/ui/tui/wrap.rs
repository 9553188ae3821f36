//! Wrapping styled lines by display width: CJK and emoji count as two columns, combining
//! marks as none, and lines break at spaces where they can (mid-word only when a word is
//! wider than the line; between any two wide characters, as CJK text breaks). Continuation
//! lines can carry a hanging indent.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// The display width of a string.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// The display width of a line.
pub fn line_width(line: &Line<'_>) -> usize {
    line.spans.iter().map(|s| width(&s.content)).sum()
}

struct Piece {
    text: String,
    style: Style,
    width: usize,
    space: bool,
}

/// Wraps `line` to `max` columns; continuation lines start with `indent` (plain).
pub fn wrap(line: &Line<'static>, max: usize, indent: &str) -> Vec<Line<'static>> {
    let max = max.max(1);
    if line_width(line) <= max {
        return vec![line.clone()];
    }
    let indent_width = width(indent).min(max.saturating_sub(1));
    let pieces: Vec<Piece> = line
        .spans
        .iter()
        .flat_map(|span| {
            let style = line.style.patch(span.style);
            span.content.graphemes(true).map(move |g| Piece {
                text: g.to_owned(),
                style,
                width: width(g),
                space: g.chars().all(char::is_whitespace),
            })
        })
        .collect();
    let mut lines: Vec<Vec<&Piece>> = vec![Vec::new()];
    let mut used = 0;
    for piece in &pieces {
        let current = lines.last_mut().map(|l| l.len()).unwrap_or(0);
        if used + piece.width > max && current > 0 {
            // Break at the last space of this line if there is one.
            let Some(line) = lines.last_mut() else { break };
            let cut = line.iter().rposition(|p| p.space).map(|i| i + 1).filter(|i| *i < line.len());
            // Wide characters (CJK) may break anywhere, so a wide piece starts the next line.
            let carried: Vec<&Piece> = match cut {
                Some(at) if !piece.space && piece.width < 2 => line.split_off(at),
                _ => Vec::new(),
            };
            while line.last().is_some_and(|p| p.space) {
                line.pop();
            }
            used = indent_width + carried.iter().map(|p| p.width).sum::<usize>();
            lines.push(carried);
            if piece.space {
                continue;
            }
        }
        if let Some(line) = lines.last_mut() {
            line.push(piece);
        }
        used += piece.width;
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, pieces)| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            for piece in pieces {
                match spans.last_mut() {
                    Some(last) if last.style == piece.style => last.content.to_mut().push_str(&piece.text),
                    _ => spans.push(Span::styled(piece.text.clone(), piece.style)),
                }
            }
            if i > 0 && indent_width > 0 {
                spans.insert(0, Span::raw(indent.to_owned()));
            }
            Line::from(spans)
        })
        .collect()
}

/// Wraps every line.
pub fn wrap_all(lines: &[Line<'static>], max: usize, indent: &str) -> Vec<Line<'static>> {
    lines.iter().flat_map(|l| wrap(l, max, indent)).collect()
}

/// The plain text of a line (for tests and search).
pub fn plain(line: &Line<'_>) -> String {
    line.spans.iter().map(|s| s.content.as_ref()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line<'static>]) -> Vec<String> {
        lines.iter().map(plain).collect()
    }

    #[test]
    fn breaks_at_spaces_and_keeps_styles() {
        let line = Line::from(vec![
            Span::raw("the quick "),
            Span::styled("brown fox", Style::new().bold()),
            Span::raw(" jumps"),
        ]);
        let wrapped = wrap(&line, 10, "");
        assert_eq!(texts(&wrapped), ["the quick", "brown fox", "jumps"]);
        assert_eq!(wrapped[1].spans[0].style, Style::new().bold());
    }

    #[test]
    fn wide_characters_count_double_and_long_words_break() {
        let wrapped = wrap(&Line::raw("日本語のテキストです"), 8, "");
        assert_eq!(texts(&wrapped), ["日本語の", "テキスト", "です"]);
        assert!(wrapped.iter().all(|l| line_width(l) <= 8));
        let emoji = wrap(&Line::raw("👍👍👍 ok"), 4, "");
        assert_eq!(texts(&emoji), ["👍👍", "👍", "ok"]);
        assert_eq!(texts(&wrap(&Line::raw("abcdefghij"), 4, "")), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn continuation_lines_get_the_hanging_indent() {
        let wrapped = wrap(&Line::raw("• one two three four"), 10, "  ");
        assert_eq!(texts(&wrapped), ["• one two", "  three", "  four"]);
    }
}
