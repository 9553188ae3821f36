//! The session picker behind `/resume` and `cairn --resume`: this project's sessions,
//! newest first, narrowed as the user types (title, first prompt, last prompt or id), with
//! the selected one's last messages previewed below the list. Ctrl-A widens it to every
//! project. It takes the composer's place while open.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::text::{Line, Span};

use super::theme::Theme;
use super::wrap::{line_width, width as text_width};
use crate::session::Store;
use crate::session::list::{self, SessionSummary, Speaker};

/// Sessions shown at once.
const SHOWN: usize = 8;
/// Messages in the preview.
const PREVIEW: usize = 4;

pub struct SessionPicker {
    sessions: Vec<SessionSummary>,
    pub query: String,
    pub selected: usize,
    pub all_projects: bool,
    /// The last messages of sessions previewed so far, by file.
    previews: HashMap<PathBuf, Vec<(Speaker, String)>>,
}

/// What a key did to the picker.
#[derive(Debug, PartialEq, Eq)]
pub enum Picked {
    Nothing,
    Cancel,
    /// Resume the session in this file.
    Session(PathBuf),
}

impl SessionPicker {
    pub fn open(store: &Store) -> SessionPicker {
        SessionPicker::with_sessions(list::sessions(store, false))
    }

    pub fn with_sessions(sessions: Vec<SessionSummary>) -> SessionPicker {
        let mut picker = SessionPicker {
            sessions,
            query: String::new(),
            selected: 0,
            all_projects: false,
            previews: HashMap::new(),
        };
        picker.load_preview();
        picker
    }

    /// Reads the selected session's preview, once.
    fn load_preview(&mut self) {
        let Some(path) = self.matches().get(self.selected).map(|s| s.path.clone()) else { return };
        self.previews.entry(path).or_insert_with_key(|path| list::preview(path, PREVIEW));
    }

    /// The sessions matching the query (every word somewhere in the label, prompts or id).
    pub fn matches(&self) -> Vec<&SessionSummary> {
        let words: Vec<String> = self.query.to_lowercase().split_whitespace().map(str::to_owned).collect();
        self.sessions
            .iter()
            .filter(|s| {
                let haystack = format!(
                    "{} {} {} {}",
                    s.title.as_deref().unwrap_or(""),
                    s.first_prompt.as_deref().unwrap_or(""),
                    s.last_prompt.as_deref().unwrap_or(""),
                    s.session_id
                )
                .to_lowercase();
                words.iter().all(|w| haystack.contains(w.as_str()))
            })
            .collect()
    }

    pub fn on_key(&mut self, key: KeyEvent, store: Option<&Store>) -> Picked {
        let picked = self.key(key, store);
        self.load_preview();
        picked
    }

    fn key(&mut self, key: KeyEvent, store: Option<&Store>) -> Picked {
        let count = self.matches().len();
        match key.code {
            KeyCode::Esc => return Picked::Cancel,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return Picked::Cancel,
            KeyCode::Char('a') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                if let Some(store) = store {
                    self.all_projects = !self.all_projects;
                    self.sessions = list::sessions(store, self.all_projects);
                    self.selected = 0;
                }
            }
            KeyCode::Enter => {
                return match self.matches().get(self.selected) {
                    Some(session) => Picked::Session(session.path.clone()),
                    None => Picked::Nothing,
                };
            }
            KeyCode::Up => self.selected = self.selected.checked_sub(1).unwrap_or(count.saturating_sub(1)),
            KeyCode::Down => self.selected = if self.selected + 1 >= count { 0 } else { self.selected + 1 },
            KeyCode::Backspace => {
                self.query.pop();
                self.selected = 0;
            }
            KeyCode::Char(c) if !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {
                self.query.push(c);
                self.selected = 0;
            }
            _ => {}
        }
        Picked::Nothing
    }

    /// The picker's lines and where the cursor goes (at the end of the query).
    pub fn lines(&self, theme: Theme, width: usize, now: SystemTime) -> (Vec<Line<'static>>, (u16, u16)) {
        let scope = if self.all_projects { "all projects" } else { "this folder" };
        let mut lines = vec![
            Line::styled("─".repeat(width), theme.dim()),
            Line::from(vec![
                Span::styled("Resume a session ", theme.bold()),
                Span::styled(format!("({scope})"), theme.dim()),
            ]),
        ];
        let prompt = Line::from(vec![Span::styled("search: ", theme.dim()), Span::raw(self.query.clone())]);
        let cursor = ((line_width(&prompt).min(width.saturating_sub(1))) as u16, lines.len() as u16);
        lines.push(prompt);
        let selected_path = {
            let matches = self.matches();
            if matches.is_empty() {
                let text = if self.sessions.is_empty() { "  no saved sessions yet" } else { "  no match" };
                lines.push(Line::styled(text, theme.dim()));
            }
            let first = self.selected.saturating_sub(SHOWN - 1);
            for (i, session) in matches.iter().enumerate().skip(first).take(SHOWN) {
                let chosen = i == self.selected;
                let marker = if chosen { "❯ " } else { "  " };
                let style = if chosen { theme.bold().patch(theme.accent()) } else { theme.plain() };
                let facts = format!(
                    "{:<9} {:>3} turns  ${:.2}  ",
                    list::ago(session.last_activity, now),
                    session.turns,
                    session.cost_usd
                );
                let label = clip(&session.label(), width.saturating_sub(text_width(&facts) + 2));
                lines.push(Line::from(vec![
                    Span::styled(marker, style),
                    Span::styled(facts, theme.dim()),
                    Span::styled(label, style),
                ]));
            }
            matches.get(self.selected).map(|s| s.path.clone())
        };
        if let Some(preview) = selected_path.and_then(|path| self.previews.get(&path)) {
            for (speaker, text) in preview {
                let (mark, style) = match speaker {
                    Speaker::User => ("  > ", theme.user()),
                    Speaker::Assistant => ("  ● ", theme.dim()),
                };
                lines.push(Line::from(vec![
                    Span::styled(mark, style),
                    Span::styled(clip(&list::one_line(text), width.saturating_sub(5)), theme.dim()),
                ]));
            }
        }
        lines.push(Line::styled(
            "  type to search · ↑↓ choose · Enter resume · Ctrl-A all projects · Esc cancel",
            theme.dim(),
        ));
        (lines, cursor)
    }
}

fn clip(text: &str, max: usize) -> String {
    if text_width(text) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    for c in text.chars() {
        if text_width(&out) + 2 > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, title: &str) -> SessionSummary {
        SessionSummary {
            session_id: id.into(),
            path: PathBuf::from(format!("/s/{id}.jsonl")),
            cwd: None,
            title: None,
            first_prompt: Some(title.into()),
            last_prompt: None,
            last_activity: SystemTime::now(),
            turns: 1,
            cost_usd: 0.0,
        }
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn typing_narrows_and_enter_picks() {
        let mut picker = SessionPicker::with_sessions(vec![summary("a", "fix the parser"), summary("b", "write docs")]);
        assert_eq!(picker.matches().len(), 2);
        for c in "docs".chars() {
            picker.on_key(key(KeyCode::Char(c)), None);
        }
        assert_eq!(picker.matches().len(), 1);
        let (lines, _) = picker.lines(Theme::new(false), 80, SystemTime::now());
        let text: Vec<String> = lines.iter().map(super::super::wrap::plain).collect();
        assert!(text.iter().any(|l| l.contains("write docs")), "{text:?}");
        assert!(!text.iter().any(|l| l.contains("fix the parser")));
        assert_eq!(picker.on_key(key(KeyCode::Enter), None), Picked::Session(PathBuf::from("/s/b.jsonl")));
        assert_eq!(picker.on_key(key(KeyCode::Esc), None), Picked::Cancel);
    }
}
