//! The terminal as cairn draws on it: finished lines written once into the terminal's own
//! scrollback, and a small live area redrawn at the bottom.
//!
//! Inline mode keeps the user's terminal: what is committed scrolls up like any program's
//! output, so native scrolling, search and selection work, and only the live area (the
//! streaming text, the composer, the status line) is ever redrawn. Its height changes with
//! its content; when it grows past the bottom, the screen scrolls up to make room. In
//! fullscreen mode the live area is the whole alternate screen. Every frame is drawn inside
//! a synchronized update (terminals that know DEC mode 2026 show it all at once, others
//! ignore it), and only rows that changed are rewritten.

use std::io::{self, Write};

use crossterm::cursor::{Hide, MoveTo, Show};
use crossterm::style::{Attribute, Color as CtColor, Print, SetAttribute, SetBackgroundColor, SetForegroundColor};
use crossterm::terminal::{BeginSynchronizedUpdate, Clear, ClearType, EndSynchronizedUpdate};
use crossterm::{QueueableCommand, queue};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;

use super::wrap::width;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Inline,
    Fullscreen,
}

pub struct Screen<W: Write> {
    out: W,
    mode: Mode,
    cols: u16,
    rows: u16,
    /// The first row of the live area.
    top: u16,
    /// What the live area shows now; `None` forces a full redraw.
    shown: Option<Buffer>,
}

impl<W: Write> Screen<W> {
    /// `cursor_row` is where the terminal's cursor is when cairn starts (inline mode).
    pub fn new(out: W, mode: Mode, (cols, rows): (u16, u16), cursor_row: u16) -> Screen<W> {
        let top = match mode {
            Mode::Inline => cursor_row.min(rows.saturating_sub(1)),
            Mode::Fullscreen => 0,
        };
        Screen { out, mode, cols: cols.max(1), rows: rows.max(1), top, shown: None }
    }

    pub fn size(&self) -> (u16, u16) {
        (self.cols, self.rows)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn writer(&mut self) -> &mut W {
        &mut self.out
    }

    /// The terminal changed size: the next draw repaints everything.
    pub fn resize(&mut self, cols: u16, rows: u16) -> io::Result<()> {
        self.cols = cols.max(1);
        self.rows = rows.max(1);
        self.top = self.top.min(self.rows.saturating_sub(1));
        self.shown = None;
        self.clear_from(self.top)
    }

    /// Clears from row `row` to the bottom. From the top row, line by line: terminals like
    /// tmux save a whole screen cleared at once into the scrollback, which would leave a
    /// stale copy of the live area there.
    fn clear_from(&mut self, row: u16) -> io::Result<()> {
        if row > 0 {
            return queue!(self.out, MoveTo(0, row), Clear(ClearType::FromCursorDown));
        }
        for y in 0..self.rows {
            queue!(self.out, MoveTo(0, y), Clear(ClearType::CurrentLine))?;
        }
        queue!(self.out, MoveTo(0, 0))
    }

    /// Writes finished lines into the scrollback above the live area (inline mode; in
    /// fullscreen mode the app keeps them and draws them itself).
    pub fn commit(&mut self, lines: &[Line<'static>]) -> io::Result<()> {
        if self.mode == Mode::Fullscreen || lines.is_empty() {
            return Ok(());
        }
        self.out.queue(BeginSynchronizedUpdate)?;
        self.clear_from(self.top)?;
        for line in lines {
            write_line(&mut self.out, line, self.cols)?;
            queue!(self.out, SetAttribute(Attribute::Reset), Print("\r\n"))?;
        }
        let below = u32::from(self.top) + lines.len() as u32;
        self.top = below.min(u32::from(self.rows.saturating_sub(1))) as u16;
        self.shown = None;
        self.out.queue(EndSynchronizedUpdate)?;
        Ok(())
    }

    /// The live area's height at most: all of the screen but a line in inline mode.
    pub fn max_height(&self) -> u16 {
        match self.mode {
            Mode::Inline => self.rows.saturating_sub(1).max(1),
            Mode::Fullscreen => self.rows,
        }
    }

    /// Draws the live area (its height is the buffer's) and puts the cursor at `cursor`
    /// (relative to the area), or hides it.
    pub fn draw(&mut self, frame: &Buffer, cursor: Option<(u16, u16)>) -> io::Result<()> {
        let height = frame.area.height.min(self.max_height());
        self.out.queue(BeginSynchronizedUpdate)?;
        self.out.queue(Hide)?;
        // Make room below: scroll the screen up if the area would run past the bottom.
        if self.top + height > self.rows {
            let scroll = self.top + height - self.rows;
            queue!(self.out, MoveTo(0, self.rows - 1))?;
            for _ in 0..scroll {
                self.out.queue(Print("\n"))?;
            }
            self.top -= scroll;
            self.shown = None;
        }
        let previous = self.shown.take().filter(|b| b.area.width == frame.area.width);
        for y in 0..height {
            let same = previous.as_ref().filter(|p| y < p.area.height).is_some_and(|p| row(p, y) == row(frame, y));
            if !same {
                queue!(self.out, MoveTo(0, self.top + y))?;
                write_row(&mut self.out, frame, y)?;
                queue!(self.out, SetAttribute(Attribute::Reset), Clear(ClearType::UntilNewLine))?;
            }
        }
        if previous.as_ref().is_none_or(|p| p.area.height > height) && self.top + height < self.rows {
            self.clear_from(self.top + height)?;
        }
        match cursor {
            Some((x, y)) if y < height => queue!(self.out, MoveTo(x.min(self.cols - 1), self.top + y), Show)?,
            _ => {}
        }
        self.out.queue(EndSynchronizedUpdate)?;
        self.out.flush()?;
        let mut kept = frame.clone();
        kept.resize(Rect { height, ..frame.area });
        self.shown = Some(kept);
        Ok(())
    }

    /// Clears the live area (inline mode) and leaves the cursor where it began, so the
    /// shell's prompt comes back right under the transcript.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.mode == Mode::Inline {
            self.clear_from(self.top)?;
        }
        queue!(self.out, SetAttribute(Attribute::Reset), Show)?;
        self.out.flush()
    }
}

/// The symbols and styles of one row, for comparing frames.
fn row(buffer: &Buffer, y: u16) -> Vec<(&str, Color, Color, Modifier)> {
    (0..buffer.area.width)
        .map(|x| {
            let cell = &buffer[(buffer.area.x + x, buffer.area.y + y)];
            (cell.symbol(), cell.fg, cell.bg, cell.modifier)
        })
        .collect()
}

fn write_row<W: Write>(out: &mut W, buffer: &Buffer, y: u16) -> io::Result<()> {
    let mut style = Style::reset();
    let mut skip = 0;
    for x in 0..buffer.area.width {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        let cell = &buffer[(buffer.area.x + x, buffer.area.y + y)];
        let cell_style = Style::new().fg(cell.fg).bg(cell.bg).add_modifier(cell.modifier);
        if cell_style != style {
            apply_style(out, cell_style)?;
            style = cell_style;
        }
        let symbol = cell.symbol();
        out.queue(Print(if symbol.is_empty() { " " } else { symbol }))?;
        skip = width(symbol).saturating_sub(1);
    }
    Ok(())
}

/// Writes a styled line, cut at `cols` columns so the terminal never wraps it.
fn write_line<W: Write>(out: &mut W, line: &Line<'_>, cols: u16) -> io::Result<()> {
    let mut used = 0;
    for span in &line.spans {
        apply_style(out, line.style.patch(span.style))?;
        let mut text = String::new();
        for c in span.content.chars() {
            let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if used + w > usize::from(cols) {
                break;
            }
            used += w;
            text.push(c);
        }
        out.queue(Print(text))?;
    }
    Ok(())
}

fn apply_style<W: Write>(out: &mut W, style: Style) -> io::Result<()> {
    queue!(out, SetAttribute(Attribute::Reset))?;
    if let Some(fg) = style.fg.filter(|c| *c != Color::Reset) {
        out.queue(SetForegroundColor(color(fg)))?;
    }
    if let Some(bg) = style.bg.filter(|c| *c != Color::Reset) {
        out.queue(SetBackgroundColor(color(bg)))?;
    }
    let m = style.add_modifier;
    for (modifier, attribute) in [
        (Modifier::BOLD, Attribute::Bold),
        (Modifier::DIM, Attribute::Dim),
        (Modifier::ITALIC, Attribute::Italic),
        (Modifier::UNDERLINED, Attribute::Underlined),
        (Modifier::REVERSED, Attribute::Reverse),
        (Modifier::CROSSED_OUT, Attribute::CrossedOut),
    ] {
        if m.contains(modifier) {
            out.queue(SetAttribute(attribute))?;
        }
    }
    Ok(())
}

fn color(color: Color) -> CtColor {
    match color {
        Color::Reset => CtColor::Reset,
        Color::Black => CtColor::Black,
        Color::Red => CtColor::DarkRed,
        Color::Green => CtColor::DarkGreen,
        Color::Yellow => CtColor::DarkYellow,
        Color::Blue => CtColor::DarkBlue,
        Color::Magenta => CtColor::DarkMagenta,
        Color::Cyan => CtColor::DarkCyan,
        Color::Gray => CtColor::Grey,
        Color::DarkGray => CtColor::DarkGrey,
        Color::LightRed => CtColor::Red,
        Color::LightGreen => CtColor::Green,
        Color::LightYellow => CtColor::Yellow,
        Color::LightBlue => CtColor::Blue,
        Color::LightMagenta => CtColor::Magenta,
        Color::LightCyan => CtColor::Cyan,
        Color::White => CtColor::White,
        Color::Rgb(r, g, b) => CtColor::Rgb { r, g, b },
        Color::Indexed(i) => CtColor::AnsiValue(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::text::Text;
    use ratatui::widgets::{Paragraph, Widget};

    fn frame(lines: &[&str], cols: u16) -> Buffer {
        let mut buffer = Buffer::empty(Rect::new(0, 0, cols, lines.len() as u16));
        Paragraph::new(Text::from(lines.iter().map(|l| Line::raw(*l)).collect::<Vec<_>>()))
            .render(buffer.area, &mut buffer);
        buffer
    }

    /// Feeds what the screen wrote to a terminal emulator with scrollback.
    fn emulate(bytes: &[u8], cols: u16, rows: u16) -> vt100::Parser {
        let nonzero = |n: u16| std::num::NonZeroU16::new(n).unwrap();
        let mut parser = vt100::Parser::new(nonzero(rows), nonzero(cols), 1000);
        parser.process(bytes);
        parser
    }

    fn screen_text(parser: &vt100::Parser) -> Vec<String> {
        parser.screen().rows(0, 80).map(|r| r.trim_end().to_owned()).collect()
    }

    #[test]
    fn committed_lines_go_above_the_live_area_and_into_scrollback() {
        let mut screen = Screen::new(Vec::new(), Mode::Inline, (20, 5), 0);
        screen.draw(&frame(&["> typing"], 20), Some((8, 0))).unwrap();
        for i in 0..6 {
            screen.commit(&[Line::raw(format!("line {i}"))]).unwrap();
            screen.draw(&frame(&["> typing", "status"], 20), Some((8, 0))).unwrap();
        }
        let mut parser = emulate(screen.writer(), 20, 5);
        assert_eq!(screen_text(&parser), ["line 3", "line 4", "line 5", "> typing", "status"]);
        assert_eq!(parser.screen().cursor_position(), (3, 8));
        parser.screen_mut().set_scrollback(3);
        assert_eq!(screen_text(&parser)[..3], ["line 0", "line 1", "line 2"]);
    }

    #[test]
    fn the_live_area_grows_shrinks_and_rewrites_only_changed_rows() {
        let mut screen = Screen::new(Vec::new(), Mode::Inline, (20, 6), 1);
        screen.draw(&frame(&["a", "b", "c"], 20), None).unwrap();
        screen.draw(&frame(&["a"], 20), None).unwrap();
        let before = screen.writer().len();
        screen.draw(&frame(&["a"], 20), None).unwrap();
        let unchanged = screen.writer().len() - before;
        let parser = emulate(screen.writer(), 20, 6);
        assert_eq!(screen_text(&parser)[..3], ["", "a", ""]);
        assert!(unchanged < 40, "an unchanged frame rewrote {unchanged} bytes");
        screen.draw(&frame(&["1", "2", "3", "4", "5", "6", "7"], 20), None).unwrap();
        let parser = emulate(screen.writer(), 20, 6);
        assert_eq!(screen_text(&parser), ["", "1", "2", "3", "4", "5"], "capped at the screen height less one");
    }

    #[test]
    fn wide_characters_and_long_lines_never_wrap_the_terminal() {
        let mut screen = Screen::new(Vec::new(), Mode::Inline, (10, 4), 0);
        screen.commit(&[Line::raw("日本語のテキスト"), Line::raw("0123456789abc")]).unwrap();
        screen.draw(&frame(&["> 日本"], 10), Some((6, 0))).unwrap();
        let parser = emulate(screen.writer(), 10, 4);
        assert_eq!(screen_text(&parser)[..3], ["日本語のテ", "0123456789", "> 日本"]);
    }
}
