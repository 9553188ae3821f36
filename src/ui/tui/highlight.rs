//! Syntax highlighting for fenced code, with bat's grammars (two-face, pure-Rust regexes)
//! and the "ansi" theme, so code takes the colours of the user's own terminal palette.
//!
//! Loading the grammars takes tens of milliseconds, so [`warm_up`] starts it on a background
//! thread when the TUI opens; code that streams in before it is ready is shown plain.

use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use two_face::re_exports::syntect;

use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Theme};
use syntect::parsing::SyntaxSet;

static SYNTAX: OnceLock<(SyntaxSet, Theme)> = OnceLock::new();

fn load() -> (SyntaxSet, Theme) {
    let theme = two_face::theme::extra().get(two_face::theme::EmbeddedThemeName::Ansi).clone();
    (two_face::syntax::extra_newlines(), theme)
}

/// Starts loading the grammars in the background.
pub fn warm_up() {
    let _ = std::thread::Builder::new().name("cairn-syntax".into()).spawn(|| {
        SYNTAX.get_or_init(load);
    });
}

/// `code` highlighted as `language`, one line per source line; `None` while the grammars
/// are still loading or when the language is unknown.
pub fn highlight(code: &str, language: &str) -> Option<Vec<Line<'static>>> {
    let (syntaxes, theme) = SYNTAX.get()?;
    let token = language.split(|c: char| c.is_whitespace() || c == ',' || c == '{').next().unwrap_or("");
    let syntax = syntaxes.find_syntax_by_token(token)?;
    let mut highlighter = HighlightLines::new(syntax, theme);
    let mut lines = Vec::new();
    for source_line in syntect::util::LinesWithEndings::from(code) {
        let ranges = highlighter.highlight_line(source_line, syntaxes).ok()?;
        let spans: Vec<Span<'static>> = ranges
            .into_iter()
            .map(|(style, text)| Span::styled(text.trim_end_matches(['\n', '\r']).to_owned(), convert(style)))
            .filter(|span| !span.content.is_empty())
            .collect();
        lines.push(Line::from(spans));
    }
    Some(lines)
}

/// The "ansi" theme stores palette indexes in the red channel with alpha 0 (bat's
/// convention); alpha 1 means the terminal's default colour.
fn convert(style: syntect::highlighting::Style) -> Style {
    let fg = style.foreground;
    let mut out = Style::new();
    out = match fg.a {
        0 => out.fg(match fg.r {
            0 => Color::Black,
            1 => Color::Red,
            2 => Color::Green,
            3 => Color::Yellow,
            4 => Color::Blue,
            5 => Color::Magenta,
            6 => Color::Cyan,
            7 => Color::Gray,
            n => Color::Indexed(n),
        }),
        1 => out,
        _ => out.fg(Color::Rgb(fg.r, fg.g, fg.b)),
    };
    if style.font_style.contains(FontStyle::BOLD) {
        out = out.add_modifier(Modifier::BOLD);
    }
    if style.font_style.contains(FontStyle::ITALIC) {
        out = out.add_modifier(Modifier::ITALIC);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_known_languages_once_loaded() {
        SYNTAX.get_or_init(load);
        let lines = highlight("fn main() {\n    let x = 1;\n}\n", "rust").unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(crate::ui::tui::wrap::plain(&lines[1]), "    let x = 1;");
        assert!(lines[0].spans.len() > 1, "tokens get their own spans");
        assert!(highlight("x", "no-such-language").is_none());
    }
}
