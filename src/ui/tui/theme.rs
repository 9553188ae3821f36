//! The TUI's styles in one place, so `NO_COLOR` (and a plain terminal) turns colour off
//! everywhere at once while bold, dim, italic and reverse still mark structure.

use ratatui::style::{Color, Modifier, Style};

#[derive(Clone, Copy, Debug)]
pub struct Theme {
    color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    /// Colour unless `NO_COLOR` is set (to anything non-empty) or the terminal is dumb.
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Theme::new(!no_color && !dumb)
    }

    pub fn has_color(self) -> bool {
        self.color
    }

    fn fg(self, color: Color) -> Style {
        if self.color { Style::new().fg(color) } else { Style::new() }
    }

    pub fn plain(self) -> Style {
        Style::new()
    }
    pub fn dim(self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }
    pub fn bold(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn italic(self) -> Style {
        Style::new().add_modifier(Modifier::ITALIC)
    }
    pub fn accent(self) -> Style {
        self.fg(Color::Cyan)
    }
    pub fn user(self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }
    pub fn success(self) -> Style {
        self.fg(Color::Green)
    }
    pub fn error(self) -> Style {
        if self.color { self.fg(Color::Red) } else { self.bold() }
    }
    pub fn warning(self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn code(self) -> Style {
        if self.color { self.fg(Color::Cyan) } else { Style::new() }
    }
    pub fn link(self) -> Style {
        self.fg(Color::Blue).add_modifier(Modifier::UNDERLINED)
    }
    pub fn quote(self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::ITALIC)
    }
    pub fn added(self) -> Style {
        if self.color { self.fg(Color::Green) } else { Style::new() }
    }
    pub fn removed(self) -> Style {
        if self.color { self.fg(Color::Red) } else { Style::new() }
    }
    pub fn hunk(self) -> Style {
        if self.color { self.fg(Color::Cyan) } else { self.dim() }
    }
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn heading(self, level: u8) -> Style {
        match level {
            1 => self.bold().add_modifier(Modifier::UNDERLINED),
            2 => self.bold(),
            _ => self.bold().add_modifier(Modifier::ITALIC),
        }
    }
}
