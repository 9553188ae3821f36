//! Ctrl-T: the whole transcript in a pager on the alternate screen — tool output, diffs and
//! thinking unfolded — with scrolling and search. The terminal's own scrollback is left as
//! it was.

use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::cells::{Cell, Detail};
use super::theme::Theme;
use super::wrap::plain;

pub struct Pager {
    lines: Vec<Line<'static>>,
    texts: Vec<String>,
    /// The first line shown.
    top: usize,
    /// `Some` while the user types a search.
    typing: Option<String>,
    query: String,
    note: String,
}

impl Pager {
    pub fn new(cells: &[Cell], width: u16, theme: Theme, cwd: &Path) -> Pager {
        let mut lines = Vec::new();
        for cell in cells {
            if !lines.is_empty() {
                lines.push(Line::default());
            }
            lines.extend(cell.render(usize::from(width), theme, Detail::Full, cwd));
        }
        let texts = lines.iter().map(|l| plain(l).to_lowercase()).collect();
        let mut pager = Pager { lines, texts, top: 0, typing: None, query: String::new(), note: String::new() };
        pager.top = pager.lines.len();
        pager
    }

    /// Handles a key; `false` means close the pager.
    pub fn on_key(&mut self, key: KeyEvent, rows: u16) -> bool {
        let page = usize::from(rows.saturating_sub(1)).max(1);
        if let Some(query) = &mut self.typing {
            match key.code {
                KeyCode::Enter => {
                    self.query = query.to_lowercase();
                    self.typing = None;
                    self.find(true, page);
                }
                KeyCode::Esc => self.typing = None,
                KeyCode::Backspace => {
                    query.pop();
                }
                KeyCode::Char(c) => query.push(c),
                _ => {}
            }
            return true;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return false,
            KeyCode::Char('t' | 'c') if ctrl => return false,
            KeyCode::Up | KeyCode::Char('k') => self.top = self.top.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.top += 1,
            KeyCode::PageUp | KeyCode::Char('b') => self.top = self.top.saturating_sub(page),
            KeyCode::PageDown | KeyCode::Char(' ') => self.top += page,
            KeyCode::Home | KeyCode::Char('g') => self.top = 0,
            KeyCode::End | KeyCode::Char('G') => self.top = self.lines.len(),
            KeyCode::Char('/') => self.typing = Some(String::new()),
            KeyCode::Char('n') => self.find(true, page),
            KeyCode::Char('N') => self.find(false, page),
            _ => {}
        }
        self.top = self.top.min(self.lines.len().saturating_sub(page));
        true
    }

    /// Moves to the next (or previous) line containing the query.
    fn find(&mut self, forward: bool, page: usize) {
        if self.query.is_empty() {
            return;
        }
        let hit = if forward {
            (self.top + 1..self.texts.len())
                .chain(0..=self.top.min(self.texts.len()))
                .find(|i| self.texts.get(*i).is_some_and(|t| t.contains(&self.query)))
        } else {
            (0..self.top).rev().chain((self.top..self.texts.len()).rev()).find(|i| self.texts[*i].contains(&self.query))
        };
        match hit {
            Some(line) => {
                self.top = line.min(self.lines.len().saturating_sub(page));
                self.note.clear();
            }
            None => self.note = format!("not found: {}", self.query),
        }
    }

    pub fn render(&self, cols: u16, rows: u16, theme: Theme) -> Buffer {
        let mut buffer = Buffer::empty(Rect::new(0, 0, cols, rows));
        let page = usize::from(rows.saturating_sub(1));
        let top = self.top.min(self.lines.len().saturating_sub(page));
        for (y, line) in self.lines.iter().skip(top).take(page).enumerate() {
            buffer.set_line(0, y as u16, line, cols);
        }
        let status = match &self.typing {
            Some(query) => format!("/{query}"),
            None => {
                let end = (top + page).min(self.lines.len());
                let note = if self.note.is_empty() { String::new() } else { format!(" · {}", self.note) };
                format!(
                    "transcript · lines {}-{end} of {} · ↑↓ PgUp PgDn g G · / search, n N · q to close{note}",
                    top + 1,
                    self.lines.len()
                )
            }
        };
        buffer.set_line(0, rows.saturating_sub(1), &Line::from(Span::styled(status, theme.selected())), cols);
        buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn scrolls_searches_and_closes() {
        let cells: Vec<Cell> = (0..50).map(|i| Cell::Notice { text: format!("note {i}") }).collect();
        let mut pager = Pager::new(&cells, 40, Theme::new(false), Path::new("/"));
        let row = |p: &Pager, y: u16| {
            let buffer = p.render(40, 10, Theme::new(false));
            (0..40).map(|x| buffer[(x, y)].symbol()).collect::<String>().trim_end().to_owned()
        };
        assert_eq!(row(&pager, 8), "· note 49", "opens at the end");
        pager.on_key(key(KeyCode::Char('g')), 10);
        assert_eq!(row(&pager, 0), "· note 0");
        for c in "/note 17".chars() {
            pager.on_key(key(KeyCode::Char(c)), 10);
        }
        pager.on_key(key(KeyCode::Enter), 10);
        assert_eq!(row(&pager, 0), "· note 17");
        assert!(!pager.on_key(key(KeyCode::Char('q')), 10));
    }
}
