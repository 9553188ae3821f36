//! The composer: where the user writes.
//!
//! Multi-line (Enter sends; Shift+Enter, Alt+Enter, Ctrl-J or a trailing `\` then Enter
//! insert a newline), readline keys (Ctrl-A/E/K/U/W, Alt-B/F, Alt-Backspace), prompt history
//! on Up/Down at the first/last line, and bracketed paste: a paste of more than a few lines
//! becomes a placeholder `[Pasted text #1 +120 lines]`, deleted as one piece and expanded on
//! send — so a megabyte paste costs nothing while editing. Rendering wraps by display width
//! and reports where the cursor is.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation;

use super::theme::Theme;
use super::wrap::width;

/// A paste with more lines than this, or more characters, becomes a placeholder.
const PASTE_FOLD_LINES: usize = 3;
const PASTE_FOLD_CHARS: usize = 800;
/// The composer grows up to this many lines, then scrolls.
pub const MAX_VISIBLE_LINES: usize = 10;

#[derive(Debug, Default)]
pub struct Composer {
    text: String,
    /// Byte offset, always on a grapheme boundary.
    cursor: usize,
    pastes: Vec<(String, String)>,
    history: Vec<String>,
    /// Position while walking the history; `None` when editing a new message.
    browsing: Option<usize>,
    draft: String,
}

/// What a key did.
#[derive(Debug, PartialEq, Eq)]
pub enum Edit {
    Changed,
    /// Enter: the message, placeholders expanded.
    Submit(String),
    /// The composer does not use this key.
    Ignored,
}

impl Composer {
    pub fn new(history: Vec<String>) -> Composer {
        Composer { history, ..Composer::default() }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.pastes.clear();
        self.browsing = None;
    }

    pub fn set_text(&mut self, text: &str) {
        self.text = text.to_owned();
        self.cursor = self.text.len();
    }

    pub fn remember(&mut self, entry: &str) {
        if !entry.trim().is_empty() && self.history.last().map(String::as_str) != Some(entry) {
            self.history.push(entry.to_owned());
        }
    }

    /// The text with placeholders expanded; the composer is emptied.
    pub fn take(&mut self) -> String {
        let mut text = std::mem::take(&mut self.text);
        for (placeholder, content) in self.pastes.drain(..) {
            text = text.replacen(&placeholder, &content, 1);
        }
        self.cursor = 0;
        self.browsing = None;
        text
    }

    /// The text as typed (placeholders not expanded), e.g. for the prompt history.
    pub fn display_text(&self) -> &str {
        &self.text
    }

    pub fn insert(&mut self, text: &str) {
        self.text.insert_str(self.cursor, text);
        self.cursor += text.len();
    }

    pub fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let lines = text.lines().count();
        if lines > PASTE_FOLD_LINES || text.chars().count() > PASTE_FOLD_CHARS {
            let placeholder = format!("[Pasted text #{} +{lines} lines]", self.pastes.len() + 1);
            self.insert(&placeholder);
            self.pastes.push((placeholder, text));
        } else {
            self.insert(&text);
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Edit {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        match key.code {
            KeyCode::Enter if shift || alt => self.insert("\n"),
            KeyCode::Char('j') if ctrl => self.insert("\n"),
            KeyCode::Enter => {
                if self.text[..self.cursor].ends_with('\\') {
                    self.text.remove(self.cursor - 1);
                    self.cursor -= 1;
                    self.insert("\n");
                } else {
                    return Edit::Submit(self.take());
                }
            }
            KeyCode::Char('a') if ctrl => self.cursor = self.line_start(),
            KeyCode::Char('e') if ctrl => self.cursor = self.line_end(),
            KeyCode::Char('k') if ctrl => {
                let end = self.line_end();
                let end = if end == self.cursor && end < self.text.len() { end + 1 } else { end };
                self.text.replace_range(self.cursor..end, "");
            }
            KeyCode::Char('u') if ctrl => {
                let start = self.line_start();
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            KeyCode::Char('w') if ctrl => self.delete_word_back(),
            KeyCode::Backspace if alt || ctrl => self.delete_word_back(),
            KeyCode::Char('b') if alt => self.cursor = self.word_back(),
            KeyCode::Char('f') if alt => self.cursor = self.word_forward(),
            KeyCode::Left if alt || ctrl => self.cursor = self.word_back(),
            KeyCode::Right if alt || ctrl => self.cursor = self.word_forward(),
            KeyCode::Char(c) if !ctrl => {
                let mut buf = [0u8; 4];
                self.insert(c.encode_utf8(&mut buf));
            }
            KeyCode::Backspace => self.backspace(),
            KeyCode::Delete => {
                if let Some(next) = self.next_boundary() {
                    self.text.replace_range(self.cursor..next, "");
                }
            }
            KeyCode::Left => self.cursor = self.prev_boundary().unwrap_or(self.cursor),
            KeyCode::Right => self.cursor = self.next_boundary().unwrap_or(self.cursor),
            KeyCode::Home => self.cursor = self.line_start(),
            KeyCode::End => self.cursor = self.line_end(),
            KeyCode::Up => {
                if self.line_start() == 0 {
                    return self.history_back();
                }
                self.move_vertically(-1);
            }
            KeyCode::Down => {
                if self.line_end() == self.text.len() {
                    return self.history_forward();
                }
                self.move_vertically(1);
            }
            _ => return Edit::Ignored,
        }
        Edit::Changed
    }

    fn backspace(&mut self) {
        // A paste placeholder goes as one piece.
        if let Some((placeholder, _)) = self.pastes.iter().find(|(p, _)| self.text[..self.cursor].ends_with(p.as_str()))
        {
            let start = self.cursor - placeholder.len();
            self.text.replace_range(start..self.cursor, "");
            self.cursor = start;
            return;
        }
        if let Some(prev) = self.prev_boundary() {
            self.text.replace_range(prev..self.cursor, "");
            self.cursor = prev;
        }
    }

    fn prev_boundary(&self) -> Option<usize> {
        self.text[..self.cursor].grapheme_indices(true).next_back().map(|(i, _)| i)
    }

    fn next_boundary(&self) -> Option<usize> {
        self.text[self.cursor..].graphemes(true).next().map(|g| self.cursor + g.len())
    }

    fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self) -> usize {
        self.text[self.cursor..].find('\n').map_or(self.text.len(), |i| self.cursor + i)
    }

    fn word_back(&self) -> usize {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end_matches(|c: char| !c.is_alphanumeric());
        trimmed
            .rfind(|c: char| !c.is_alphanumeric())
            .map_or(0, |i| i + trimmed[i..].chars().next().map_or(1, char::len_utf8))
    }

    fn word_forward(&self) -> usize {
        let after = &self.text[self.cursor..];
        let skip = after.len() - after.trim_start_matches(|c: char| !c.is_alphanumeric()).len();
        let rest = &after[skip..];
        let word = rest.find(|c: char| !c.is_alphanumeric()).unwrap_or(rest.len());
        self.cursor + skip + word
    }

    fn delete_word_back(&mut self) {
        let start = self.word_back();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    fn move_vertically(&mut self, direction: isize) {
        let start = self.line_start();
        let column = width(&self.text[start..self.cursor]);
        let target_start = if direction < 0 {
            self.text[..start.saturating_sub(1)].rfind('\n').map_or(0, |i| i + 1)
        } else {
            self.line_end() + 1
        };
        let target_end = self.text[target_start..].find('\n').map_or(self.text.len(), |i| target_start + i);
        let mut cursor = target_start;
        for (i, g) in self.text[target_start..target_end].grapheme_indices(true) {
            if width(&self.text[target_start..target_start + i]) + width(g) > column {
                break;
            }
            cursor = target_start + i + g.len();
        }
        self.cursor = cursor;
    }

    fn history_back(&mut self) -> Edit {
        let next = match self.browsing {
            None if self.history.is_empty() => return Edit::Ignored,
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(0) => return Edit::Changed,
            Some(i) => i - 1,
        };
        self.browsing = Some(next);
        self.set_text(&self.history[next].clone());
        Edit::Changed
    }

    fn history_forward(&mut self) -> Edit {
        match self.browsing {
            None => Edit::Ignored,
            Some(i) if i + 1 < self.history.len() => {
                self.browsing = Some(i + 1);
                self.set_text(&self.history[i + 1].clone());
                Edit::Changed
            }
            Some(_) => {
                self.browsing = None;
                let draft = std::mem::take(&mut self.draft);
                self.set_text(&draft);
                Edit::Changed
            }
        }
    }

    /// The composer's lines at `width` (prompt included), the cursor's (column, row) in
    /// them, and the first row to show when there are more than [`MAX_VISIBLE_LINES`].
    pub fn layout(&self, total_width: usize, theme: Theme) -> (Vec<Line<'static>>, (u16, u16)) {
        let prompt_width = 2;
        let max = total_width.saturating_sub(prompt_width).max(1);
        let mut lines: Vec<Line<'static>> = Vec::new();
        let mut cursor = (prompt_width as u16, 0u16);
        let mut offset = 0;
        for (n, source) in self.text.split('\n').enumerate() {
            let mut row = String::new();
            let mut used = 0;
            let mut row_start = offset;
            let mut rows: Vec<(String, usize)> = Vec::new();
            for (i, g) in source.grapheme_indices(true) {
                let w = width(g);
                if used + w > max {
                    rows.push((std::mem::take(&mut row), row_start));
                    used = 0;
                    row_start = offset + i;
                }
                row.push_str(g);
                used += w;
            }
            rows.push((row, row_start));
            for (k, (text, start)) in rows.iter().enumerate() {
                let prefix = if n == 0 && k == 0 { Span::styled("> ", theme.user()) } else { Span::raw("  ") };
                let end = start + text.len();
                let last_row = k + 1 == rows.len();
                if self.cursor >= *start && (self.cursor < end || (self.cursor == end && last_row)) {
                    let col = width(&self.text[*start..self.cursor]);
                    cursor = ((prompt_width + col) as u16, lines.len() as u16);
                }
                lines.push(Line::from(vec![prefix, Span::raw(text.clone())]));
            }
            offset += source.len() + 1;
        }
        // A cursor at the very end of a full row sits at the start of the next one.
        if cursor.0 as usize >= total_width {
            cursor = (prompt_width as u16, cursor.1 + 1);
            if lines.len() <= cursor.1 as usize {
                lines.push(Line::raw("  "));
            }
        }
        (lines, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::tui::wrap::plain;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn alt(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT)
    }

    fn typed(text: &str) -> Composer {
        let mut c = Composer::default();
        for ch in text.chars() {
            c.handle_key(key(KeyCode::Char(ch)));
        }
        c
    }

    #[test]
    fn readline_keys_edit_the_line() {
        let mut c = typed("hello brave world");
        c.handle_key(ctrl('w'));
        assert_eq!(c.text(), "hello brave ");
        c.handle_key(alt('b'));
        c.handle_key(ctrl('k'));
        assert_eq!(c.text(), "hello ");
        c.handle_key(ctrl('a'));
        c.handle_key(key(KeyCode::Char('>')));
        c.handle_key(ctrl('e'));
        c.handle_key(key(KeyCode::Char('!')));
        assert_eq!(c.text(), ">hello !");
        c.handle_key(ctrl('u'));
        assert_eq!(c.text(), "");
        let mut c = typed("one two");
        c.handle_key(ctrl('a'));
        c.handle_key(alt('f'));
        c.handle_key(key(KeyCode::Char('X')));
        assert_eq!(c.text(), "oneX two");
    }

    #[test]
    fn enter_sends_and_newlines_are_easy() {
        let mut c = typed("line one");
        c.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT));
        c.handle_key(key(KeyCode::Char('b')));
        c.handle_key(key(KeyCode::Char('\\')));
        c.handle_key(key(KeyCode::Enter));
        c.handle_key(key(KeyCode::Char('c')));
        assert_eq!(c.handle_key(key(KeyCode::Enter)), Edit::Submit("line one\nb\nc".into()));
        assert!(c.is_empty());
    }

    #[test]
    fn big_pastes_become_placeholders_expanded_on_send() {
        let mut c = typed("look: ");
        let big: String = (0..2000).map(|i| format!("row {i}\n")).collect();
        c.paste(&big);
        assert_eq!(c.text(), "look: [Pasted text #1 +2000 lines]");
        c.handle_key(key(KeyCode::Backspace));
        assert_eq!(c.text(), "look: ", "the placeholder is deleted as one piece");
        c.paste(&big);
        c.paste("short");
        let sent = c.take();
        assert_eq!(sent, format!("look: {big}short"));
    }

    #[test]
    fn history_walks_back_and_restores_the_draft() {
        let mut c = Composer::new(vec!["first".into(), "second".into()]);
        c.insert("draft");
        c.handle_key(key(KeyCode::Up));
        assert_eq!(c.text(), "second");
        c.handle_key(key(KeyCode::Up));
        assert_eq!(c.text(), "first");
        c.handle_key(key(KeyCode::Down));
        c.handle_key(key(KeyCode::Down));
        assert_eq!(c.text(), "draft");
    }

    #[test]
    fn layout_wraps_by_width_and_places_the_cursor() {
        let c = typed("abcdefghij");
        let (lines, cursor) = c.layout(8, Theme::new(false));
        let text: Vec<String> = lines.iter().map(plain).collect();
        assert_eq!(text, ["> abcdef", "  ghij"]);
        assert_eq!(cursor, (6, 1));
        let wide = typed("日本語");
        let (_, cursor) = wide.layout(20, Theme::new(false));
        assert_eq!(cursor, (8, 0));
        let mut multi = typed("a\nbc");
        multi.handle_key(key(KeyCode::Up));
        let (lines, cursor) = multi.layout(20, Theme::new(false));
        assert_eq!(lines.len(), 2);
        assert_eq!(cursor, (3, 0));
    }
}
