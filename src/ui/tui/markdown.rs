//! Markdown for the terminal: [`render`] turns a document into wrapped, styled lines, and
//! [`MarkdownStream`] does it while the answer streams, handing out each line once it is
//! final so it can be written to the scrollback and never redrawn.
//!
//! Headings, emphasis, inline code, links (with their address), block quotes, ordered,
//! bulleted and task lists, tables (columns sized to fit, cells wrapped), rules, and fenced
//! code highlighted by `highlight`. A soft line break is kept as a line break — that is how
//! models write, and it lets each source line be committed as soon as it ends. Rendering
//! restarts at the last top-level block, so a long answer costs no more per line than its
//! current block; a table is held back until it ends, as a new row can widen its columns.

use std::ops::Range;

use pulldown_cmark::{Alignment, CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::highlight;
use super::theme::Theme;
use super::wrap::{self, width};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    Table,
    Other,
}

/// A rendered document, and where each top-level block starts: its source offset and its
/// first line.
#[derive(Debug, Default)]
pub struct Rendered {
    pub lines: Vec<Line<'static>>,
    pub blocks: Vec<(usize, usize, BlockKind)>,
}

pub fn render(source: &str, max_width: usize, theme: Theme) -> Rendered {
    let mut renderer = Renderer::new(max_width.max(10), theme);
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for (event, range) in Parser::new_ext(source, options).into_offset_iter() {
        renderer.event(event, range);
    }
    renderer.flush();
    Rendered { lines: renderer.lines, blocks: renderer.blocks }
}

enum Container {
    Quote,
    List { next: Option<u64>, depth: usize },
    Item { marker: String, started: bool },
}

struct Table {
    alignments: Vec<Alignment>,
    rows: Vec<Vec<Vec<Span<'static>>>>,
    row: Vec<Vec<Span<'static>>>,
    header_rows: usize,
}

struct Renderer {
    theme: Theme,
    width: usize,
    lines: Vec<Line<'static>>,
    spans: Vec<Span<'static>>,
    styles: Vec<Style>,
    containers: Vec<Container>,
    code: Option<(String, String)>,
    table: Option<Table>,
    links: Vec<String>,
    depth: usize,
    blocks: Vec<(usize, usize, BlockKind)>,
    /// Lines produced inside the current list item: a second paragraph needs a gap.
    item_lines: usize,
}

impl Renderer {
    fn new(width: usize, theme: Theme) -> Renderer {
        Renderer {
            theme,
            width,
            lines: Vec::new(),
            spans: Vec::new(),
            styles: Vec::new(),
            containers: Vec::new(),
            code: None,
            table: None,
            links: Vec::new(),
            depth: 0,
            blocks: Vec::new(),
            item_lines: 0,
        }
    }

    fn style(&self) -> Style {
        self.styles.iter().fold(Style::new(), |acc, s| acc.patch(*s))
    }

    /// The prefix of the next line, and of its continuation lines.
    fn prefixes(&mut self, consume_marker: bool) -> (Vec<Span<'static>>, String) {
        let mut first = Vec::new();
        let mut rest = String::new();
        let quote = self.theme.quote();
        for container in &mut self.containers {
            match container {
                Container::Quote => {
                    first.push(Span::styled("│ ", quote));
                    rest.push_str("│ ");
                }
                Container::List { .. } => {}
                Container::Item { marker, started } => {
                    let pad = " ".repeat(width(marker));
                    if *started {
                        first.push(Span::raw(pad.clone()));
                    } else {
                        first.push(Span::styled(marker.clone(), self.theme.accent()));
                        if consume_marker {
                            *started = true;
                        }
                    }
                    rest.push_str(&pad);
                }
            }
        }
        (first, rest)
    }

    fn push_line(&mut self, line: Line<'static>) {
        self.lines.push(line);
        self.item_lines += 1;
    }

    /// Ends the current line of inline content, wrapped under its prefixes.
    fn flush(&mut self) {
        if self.spans.is_empty() {
            return;
        }
        let spans = std::mem::take(&mut self.spans);
        let (mut first, rest) = self.prefixes(true);
        let available = self.width.saturating_sub(width(&rest)).max(10);
        for (i, line) in wrap::wrap(&Line::from(spans), available, "").into_iter().enumerate() {
            let mut out = if i == 0 { std::mem::take(&mut first) } else { vec![Span::raw(rest.clone())] };
            out.extend(line.spans);
            self.push_line(Line::from(out));
        }
    }

    fn blank(&mut self) {
        if self.lines.last().is_some_and(|l| !l.spans.is_empty()) {
            let (first, _) = self.prefixes(false);
            let quotes: Vec<Span<'static>> = first.into_iter().filter(|s| s.content.contains('│')).collect();
            self.lines.push(Line::from(quotes));
        }
    }

    fn start_block(&mut self, range: &Range<usize>, kind: BlockKind) {
        if self.depth == 0 {
            self.blank();
            self.blocks.push((range.start, self.lines.len(), kind));
        }
        self.depth += 1;
    }

    fn event(&mut self, event: Event<'_>, range: Range<usize>) {
        match event {
            Event::Start(tag) => self.start(tag, &range),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.text(&text),
            Event::Code(code) => {
                let shown = if self.theme.has_color() { code.to_string() } else { format!("`{code}`") };
                self.inline(Span::styled(shown, self.style().patch(self.theme.code())));
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                for (i, part) in html.split('\n').enumerate() {
                    if i > 0 {
                        self.flush();
                    }
                    if !part.is_empty() {
                        self.inline(Span::styled(part.to_owned(), self.theme.dim()));
                    }
                }
            }
            Event::SoftBreak | Event::HardBreak => self.flush(),
            Event::Rule => {
                self.start_block(&range, BlockKind::Other);
                let rule = "─".repeat(self.width.min(80));
                self.push_line(Line::styled(rule, self.theme.dim()));
                self.depth -= 1;
            }
            Event::TaskListMarker(done) => {
                let mark = if done { "[x] " } else { "[ ] " };
                self.inline(Span::styled(mark, self.theme.accent()));
            }
            Event::FootnoteReference(name) => self.inline(Span::raw(format!("[^{name}]"))),
            Event::InlineMath(math) | Event::DisplayMath(math) => {
                self.inline(Span::styled(math.to_string(), self.theme.code()))
            }
        }
    }

    fn inline(&mut self, span: Span<'static>) {
        match &mut self.table {
            Some(table) => {
                if let Some(cell) = table.row.last_mut() {
                    cell.push(span);
                }
            }
            None => self.spans.push(span),
        }
    }

    fn text(&mut self, text: &str) {
        if let Some((_, code)) = &mut self.code {
            code.push_str(text);
            return;
        }
        let style = self.style();
        self.inline(Span::styled(text.to_owned(), style));
    }

    fn start(&mut self, tag: Tag<'_>, range: &Range<usize>) {
        match tag {
            Tag::Paragraph => {
                if self.containers.iter().any(|c| matches!(c, Container::Item { .. })) && self.item_lines > 0 {
                    self.blank();
                }
                self.start_block(range, BlockKind::Other);
            }
            Tag::Heading { level, .. } => {
                self.start_block(range, BlockKind::Other);
                self.styles.push(self.theme.heading(level as u8));
            }
            Tag::BlockQuote(_) => {
                self.start_block(range, BlockKind::Other);
                self.containers.push(Container::Quote);
                self.styles.push(self.theme.italic());
            }
            Tag::CodeBlock(kind) => {
                self.flush();
                self.start_block(range, BlockKind::Other);
                let language = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((language, String::new()));
            }
            Tag::HtmlBlock | Tag::FootnoteDefinition(_) | Tag::DefinitionList => {
                self.start_block(range, BlockKind::Other)
            }
            Tag::List(start) => {
                self.flush();
                let depth = self.containers.iter().filter(|c| matches!(c, Container::List { .. })).count();
                self.start_block(range, BlockKind::Other);
                self.containers.push(Container::List { next: start, depth });
            }
            Tag::Item => {
                self.flush();
                self.depth += 1;
                let marker = match self.containers.last_mut() {
                    Some(Container::List { next: Some(n), .. }) => {
                        let marker = format!("{n}. ");
                        *n += 1;
                        marker
                    }
                    Some(Container::List { depth, .. }) => ["• ", "◦ ", "▪ "][*depth % 3].to_owned(),
                    _ => "• ".to_owned(),
                };
                self.containers.push(Container::Item { marker, started: false });
                self.item_lines = 0;
            }
            Tag::Table(alignments) => {
                self.start_block(range, BlockKind::Table);
                self.table = Some(Table { alignments, rows: Vec::new(), row: Vec::new(), header_rows: 0 });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(table) = &mut self.table {
                    table.row = Vec::new();
                }
            }
            Tag::TableCell => {
                if let Some(table) = &mut self.table {
                    table.row.push(Vec::new());
                }
            }
            Tag::Emphasis => self.styles.push(self.theme.italic()),
            Tag::Strong => self.styles.push(self.theme.bold()),
            Tag::Strikethrough => self.styles.push(Style::new().crossed_out()),
            Tag::Link { dest_url, .. } => {
                self.links.push(dest_url.to_string());
                self.styles.push(self.theme.link());
            }
            Tag::Image { dest_url, .. } => {
                self.links.push(dest_url.to_string());
                self.inline(Span::styled("[image: ", self.theme.dim()));
                self.styles.push(self.theme.dim());
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::HtmlBlock | TagEnd::FootnoteDefinition | TagEnd::DefinitionList => {
                self.flush();
                self.depth -= 1;
            }
            TagEnd::Heading(_) => {
                self.flush();
                self.styles.pop();
                self.depth -= 1;
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.containers.pop();
                self.styles.pop();
                self.depth -= 1;
            }
            TagEnd::CodeBlock => {
                if let Some((language, code)) = self.code.take() {
                    self.code_lines(&language, &code);
                }
                self.depth -= 1;
            }
            TagEnd::List(_) => {
                self.flush();
                self.containers.pop();
                self.depth -= 1;
            }
            TagEnd::Item => {
                self.flush();
                self.containers.pop();
                self.depth -= 1;
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.table_lines(table);
                }
                self.depth -= 1;
            }
            TagEnd::TableHead => {
                if let Some(table) = &mut self.table {
                    let row = std::mem::take(&mut table.row);
                    table.rows.push(row);
                    table.header_rows = table.rows.len();
                }
            }
            TagEnd::TableRow => {
                if let Some(table) = &mut self.table {
                    let row = std::mem::take(&mut table.row);
                    table.rows.push(row);
                }
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::Link => {
                self.styles.pop();
                if let Some(url) = self.links.pop() {
                    let text: String = self.spans.iter().rev().take(3).map(|s| s.content.as_ref()).collect();
                    if !url.is_empty() && !text.contains(url.as_str()) && !url.starts_with('#') {
                        self.inline(Span::styled(format!(" ({url})"), self.theme.dim()));
                    }
                }
            }
            TagEnd::Image => {
                self.styles.pop();
                let url = self.links.pop().unwrap_or_default();
                self.inline(Span::styled(format!("]({url})"), self.theme.dim()));
            }
            _ => {}
        }
    }

    fn code_lines(&mut self, language: &str, code: &str) {
        if code.is_empty() {
            return;
        }
        let code = code.strip_suffix('\n').unwrap_or(code);
        let highlighted = if self.theme.has_color() { highlight::highlight(code, language) } else { None };
        let lines = highlighted
            .unwrap_or_else(|| code.split('\n').map(|l| Line::styled(l.to_owned(), self.theme.code())).collect());
        let (first, rest) = self.prefixes(true);
        let gutter = format!("{rest}  ");
        let available = self.width.saturating_sub(width(&gutter)).max(10);
        let mut lead = Some(first);
        for line in lines {
            for (i, part) in wrap::wrap(&line, available, "").into_iter().enumerate() {
                let mut spans = match (i, lead.take()) {
                    (0, Some(first)) if !first.is_empty() => {
                        let mut spans = first;
                        spans.push(Span::raw("  "));
                        spans
                    }
                    _ => vec![Span::raw(gutter.clone())],
                };
                spans.extend(part.spans);
                self.push_line(Line::from(spans));
            }
        }
    }

    fn table_lines(&mut self, table: Table) {
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return;
        }
        let cell_width = |cell: &Vec<Span<'static>>| cell.iter().map(|s| width(&s.content)).sum::<usize>();
        let mut widths: Vec<usize> = (0..columns)
            .map(|c| table.rows.iter().filter_map(|r| r.get(c)).map(cell_width).max().unwrap_or(0).max(1))
            .collect();
        let (_, rest) = self.prefixes(false);
        let available = self.width.saturating_sub(width(&rest) + 3 * (columns - 1));
        while widths.iter().sum::<usize>() > available {
            let Some((widest, w)) = widths.iter().enumerate().max_by_key(|(_, w)| **w).map(|(i, w)| (i, *w)) else {
                break;
            };
            if w <= 3 {
                break;
            }
            widths[widest] = w - 1;
        }
        let separator = Span::styled(" │ ", self.theme.dim());
        for (r, row) in table.rows.iter().enumerate() {
            let cells: Vec<Vec<Line<'static>>> = (0..columns)
                .map(|c| {
                    let spans = row.get(c).cloned().unwrap_or_default();
                    let style = if r < table.header_rows { self.theme.bold() } else { Style::new() };
                    let styled: Vec<Span<'static>> =
                        spans.into_iter().map(|s| Span::styled(s.content, style.patch(s.style))).collect();
                    wrap::wrap(&Line::from(styled), widths[c], "")
                })
                .collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(1);
            for k in 0..height {
                let (first, _) = self.prefixes(false);
                let mut spans = first;
                for (c, cell) in cells.iter().enumerate() {
                    if c > 0 {
                        spans.push(separator.clone());
                    }
                    let part = cell.get(k).cloned().unwrap_or_default();
                    let pad = widths[c].saturating_sub(wrap::line_width(&part));
                    let right = matches!(table.alignments.get(c), Some(Alignment::Right));
                    if right {
                        spans.push(Span::raw(" ".repeat(pad)));
                    }
                    spans.extend(part.spans);
                    if !right && c + 1 < columns {
                        spans.push(Span::raw(" ".repeat(pad)));
                    }
                }
                self.push_line(Line::from(spans));
            }
            if r + 1 == table.header_rows {
                let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                let (first, _) = self.prefixes(false);
                let mut spans = first;
                spans.push(Span::styled(rule.join("─┼─"), self.theme.dim()));
                self.push_line(Line::from(spans));
            }
        }
    }
}

/// A markdown answer arriving in pieces. Lines come out of [`MarkdownStream::push`] once
/// final; [`MarkdownStream::pending`] shows the rest; [`MarkdownStream::finish`] ends it.
#[derive(Debug, Default)]
pub struct MarkdownStream {
    source: String,
    /// Everything before this source offset is committed; rendering restarts here.
    stable: usize,
    /// Lines of the render from `stable` already handed out.
    committed: usize,
}

impl MarkdownStream {
    pub fn new() -> MarkdownStream {
        MarkdownStream::default()
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Adds streamed text; returns the lines that became final.
    pub fn push(&mut self, delta: &str, width: usize, theme: Theme) -> Vec<Line<'static>> {
        self.source.push_str(delta);
        if !delta.contains('\n') {
            return Vec::new();
        }
        let end = self.source.rfind('\n').map_or(0, |i| i + 1);
        let chunk = &self.source[self.stable..end];
        let rendered = render(chunk, width, theme);
        let mut limit = rendered.lines.len();
        // A table, or a line that may yet turn out to be a table's header, can still change.
        if let Some((offset, start, kind)) = rendered.blocks.last()
            && (*kind == BlockKind::Table || chunk[*offset..].starts_with('|'))
        {
            limit = *start;
        }
        let new = rendered.lines.get(self.committed..limit).map(<[_]>::to_vec).unwrap_or_default();
        self.committed = self.committed.max(limit);
        // Blocks before the last one are finished: restart future renders at the last one.
        if let Some((offset, start, _)) = rendered.blocks.last()
            && *start <= self.committed
            && rendered.blocks.len() > 1
        {
            self.stable += offset;
            self.committed -= start;
        }
        new
    }

    /// What is not final yet: a table still growing, and the line being written.
    pub fn pending(&self, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let rendered = render(&self.source[self.stable..], width, theme);
        rendered.lines.get(self.committed..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// Ends the answer: every remaining line.
    pub fn finish(&mut self, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let rest = self.pending(width, theme);
        self.stable = self.source.len();
        self.committed = 0;
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::tui::wrap::plain;

    fn text(source: &str, width: usize) -> Vec<String> {
        render(source, width, Theme::new(false)).lines.iter().map(plain).collect()
    }

    #[test]
    fn renders_the_common_blocks() {
        let out = text(
            "# Title\n\nSome *emphasis* and `code`.\nNext line.\n\n- one\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted\n\n---\n\n- [x] done\n",
            40,
        );
        assert_eq!(
            out,
            [
                "Title",
                "",
                "Some emphasis and `code`.",
                "Next line.",
                "",
                "• one",
                "• two",
                "  ◦ nested",
                "",
                "1. first",
                "2. second",
                "",
                "│ quoted",
                "",
                "────────────────────────────────────────",
                "",
                "• [x] done",
            ]
        );
    }

    #[test]
    fn links_show_their_address_and_long_items_hang() {
        let link = text("See [the docs](https://example.com/docs) now.", 60);
        assert_eq!(link, ["See the docs (https://example.com/docs) now."]);
        let out = text("- a long list item that must wrap around\n", 24);
        let item: Vec<&String> = out.iter().skip_while(|l| !l.starts_with("• ")).collect();
        assert_eq!(item[0], "• a long list item that");
        assert_eq!(item[1], "  must wrap around");
    }

    #[test]
    fn tables_fit_their_columns() {
        let out = text("| Name | Count |\n|---|--:|\n| apples | 3 |\n| kiwis | 12 |\n", 40);
        assert_eq!(out, ["Name   │ Count", "───────┼──────", "apples │     3", "kiwis  │    12"]);
        let narrow = text("| a | b |\n|---|---|\n| a rather long cell | x |\n", 16);
        assert!(narrow.iter().all(|l| width(l) <= 16), "{narrow:?}");
        assert!(narrow.len() > 3, "cells wrap: {narrow:?}");
    }

    #[test]
    fn code_blocks_are_indented_and_kept() {
        let out = text("Run:\n\n```sh\ncargo test\n  --all\n```\n", 40);
        assert_eq!(out, ["Run:", "", "  cargo test", "    --all"]);
    }

    #[test]
    fn streaming_hands_out_each_line_once_and_matches_a_full_render() {
        let source = "# Plan\n\nFirst **bold** line.\nSecond line.\n\n- one\n- two\n\n```rust\nfn main() {}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nDone.";
        let theme = Theme::new(false);
        let mut stream = MarkdownStream::new();
        let mut out: Vec<String> = Vec::new();
        for chunk in source.as_bytes().chunks(3) {
            let chunk = std::str::from_utf8(chunk).unwrap();
            out.extend(stream.push(chunk, 40, theme).iter().map(plain));
        }
        out.extend(stream.finish(40, theme).iter().map(plain));
        assert_eq!(out, text(source, 40));
    }

    #[test]
    fn a_table_is_held_back_until_it_ends() {
        let theme = Theme::new(false);
        let mut stream = MarkdownStream::new();
        let first = stream.push("| a | b |\n|---|---|\n| 1 | 2 |\n", 40, theme);
        assert!(first.is_empty());
        assert_eq!(stream.pending(40, theme).len(), 3);
        let after = stream.push("| longer cell | 3 |\n\nnext\n", 40, theme);
        assert_eq!(plain(&after[0]), "a           │ b");
    }
}
