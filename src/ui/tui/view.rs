//! Drawing the live area: what is happening now (the answer's unfinished lines, running
//! tools, a retry countdown), queued messages, the approval dialog or a completion popup,
//! the composer and the status line — into a buffer exactly as tall as its content. In
//! fullscreen mode the transcript fills the space above it. Pure: state in, buffer out.

use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::app::{App, ApprovalDialog, Popup};
use super::cells::{Detail, diff_lines, tool_header};
use super::composer::MAX_VISIBLE_LINES;
use super::wrap::{self, line_width, width};
use crate::permissions::PermissionMode;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/// Preview lines of an edit shown in the approval dialog.
const DIALOG_PREVIEW: usize = 16;

fn spinner(since: Instant) -> &'static str {
    SPINNER[(since.elapsed().as_millis() / 80) as usize % SPINNER.len()]
}

/// The live area, and where the cursor goes in it.
pub fn live(app: &App, cols: u16, max_height: u16) -> (Buffer, Option<(u16, u16)>) {
    let width = usize::from(cols.max(20));
    let mut above = activity(app, width);
    let mut middle = worker_lines(app, width);
    for queued in &app.queued {
        let first = queued.lines().next().unwrap_or("");
        middle.push(Line::from(vec![
            Span::styled(format!("⏎ {first}"), app.theme.dim()),
            Span::styled(" (queued)", app.theme.dim()),
        ]));
    }
    if let Some((hint, _)) = &app.hint {
        middle.push(Line::styled(hint.clone(), app.theme.warning()));
    }
    let (input, mut cursor) = match (&app.approval, &app.picker) {
        (Some(dialog), _) => dialog_lines(app, dialog, width),
        (None, _) if app.question.is_some() => question_lines(app, width),
        (None, Some(picker)) => {
            let (lines, cursor) = picker.lines(app.theme, width, std::time::SystemTime::now());
            (lines, Some(cursor))
        }
        (None, None) => {
            if app.popup.is_some() {
                middle.extend(popup_lines(app, width));
            }
            composer_lines(app, width)
        }
    };
    let status = status_line(app, width);
    let fixed = middle.len() + input.len() + 2;
    let room = usize::from(max_height).saturating_sub(fixed);
    if above.len() > room {
        above.drain(..above.len() - room);
    }
    // A blank line keeps the live area off the transcript above it.
    let mut lines = vec![Line::default()];
    lines.extend(above);
    lines.extend(middle);
    let input_top = lines.len();
    lines.extend(input);
    lines.push(status);
    lines.truncate(usize::from(max_height));
    if let Some((_, y)) = &mut cursor {
        *y += input_top as u16;
    }
    let cursor = cursor.filter(|(_, y)| usize::from(*y) < lines.len());
    (to_buffer(&lines, cols), cursor)
}

/// Fullscreen: the transcript (scrolled back by `app.scroll` lines) above the live area.
pub fn full(app: &App, cols: u16, rows: u16) -> (Buffer, Option<(u16, u16)>) {
    let (live, cursor) = live(app, cols, rows);
    let room = usize::from(rows.saturating_sub(live.area.height));
    let end = app.transcript.len().saturating_sub(app.scroll);
    let start = end.saturating_sub(room);
    let mut lines: Vec<Line<'static>> = app.transcript[start..end].to_vec();
    while lines.len() < room {
        lines.insert(0, Line::default());
    }
    let mut buffer = to_buffer(&lines, cols);
    buffer.resize(Rect::new(0, 0, cols, rows));
    let offset = room as u16;
    for y in 0..live.area.height {
        for x in 0..cols {
            buffer[(x, offset + y)] = live[(x, y)].clone();
        }
    }
    (buffer, cursor.map(|(x, y)| (x, y + offset)))
}

fn to_buffer(lines: &[Line<'static>], cols: u16) -> Buffer {
    let mut buffer = Buffer::empty(Rect::new(0, 0, cols, lines.len() as u16));
    for (y, line) in lines.iter().enumerate() {
        buffer.set_line(0, y as u16, line, cols);
    }
    buffer
}

/// The panel of background agents at work: name, what it does now, tools, tokens, time.
fn worker_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let theme = app.theme;
    app.workers
        .iter()
        .map(|w| {
            let name = w.name.clone().unwrap_or_default();
            let doing = match &w.current_tool {
                Some(tool) => format!("running {tool}"),
                None if w.tool_uses == 0 => "starting".to_owned(),
                None => "thinking".to_owned(),
            };
            let tokens = crate::agent::context::thousands(w.tokens);
            let line = Line::from(vec![
                Span::styled(format!("⚙ {name} "), theme.accent()),
                Span::styled(
                    format!(
                        "{doing} · {} tools · {tokens} tokens · ${:.4} · {}s",
                        w.tool_uses,
                        w.cost_usd,
                        w.elapsed.as_secs()
                    ),
                    theme.dim(),
                ),
                Span::styled(format!(" · {}", w.description), theme.dim()),
            ]);
            truncate(line, width)
        })
        .collect()
}

/// What the running turn is doing.
fn activity(app: &App, width: usize) -> Vec<Line<'static>> {
    let theme = app.theme;
    let mut lines = Vec::new();
    let Some(turn) = &app.turn else { return lines };
    if let Some((_, thinking)) = &turn.thinking {
        let last = thinking.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        let line = Line::from(vec![
            Span::styled("∴ Thinking… ", theme.dim()),
            Span::styled(last.to_owned(), theme.dim().patch(theme.italic())),
        ]);
        lines.push(truncate(line, width));
    }
    if let Some((_, stream)) = &turn.text {
        lines.extend(stream.pending(width, theme));
    }
    for tool in &turn.tools {
        lines.extend(tool.render(width, theme, Detail::Folded, &app.cwd));
    }
    if let Some(name) = &turn.preparing {
        let started = turn.started.unwrap_or_else(Instant::now);
        lines.push(Line::styled(format!("{} Writing the {name} call…", spinner(started)), theme.dim()));
    }
    if let Some(retry) = &app.retry {
        let left = retry.until.saturating_duration_since(Instant::now()).as_secs_f64().ceil() as u64;
        let short: String = retry.error.chars().take(width.saturating_sub(40)).collect();
        lines.push(Line::styled(
            format!("⟳ {short} — retrying in {left}s (attempt {}/{})", retry.attempt, retry.max_attempts),
            theme.warning(),
        ));
    }
    let busy = turn.tools.iter().any(|t| t.output.is_none())
        || turn.preparing.is_some()
        || app.approval.is_some()
        || app.question.is_some();
    if !busy {
        let started = turn.started.unwrap_or_else(Instant::now);
        let secs = started.elapsed().as_secs();
        lines.push(Line::from(vec![
            Span::styled(format!("{} Working… ", spinner(started)), theme.accent()),
            Span::styled(format!("({secs}s · esc to interrupt)"), theme.dim()),
        ]));
    }
    lines
}

fn truncate(line: Line<'static>, width: usize) -> Line<'static> {
    wrap::wrap(&line, width, "").into_iter().next().unwrap_or_default()
}

fn composer_lines(app: &App, width: usize) -> (Vec<Line<'static>>, Option<(u16, u16)>) {
    let theme = app.theme;
    let (mut lines, (x, y)) = app.composer.layout(width, theme);
    let mut y = usize::from(y);
    if lines.len() > MAX_VISIBLE_LINES {
        let first = (y + 1).saturating_sub(MAX_VISIBLE_LINES);
        lines = lines[first..first + MAX_VISIBLE_LINES].to_vec();
        y -= first;
    }
    if let Some(suggestion) = app.suggestion.as_ref().filter(|_| app.composer.is_empty() && !app.is_running()) {
        let ghost = format!("{suggestion}  (Tab)");
        lines = vec![Line::from(vec![Span::styled("> ", theme.user()), Span::styled(ghost, theme.dim())])];
    } else if app.composer.is_empty() && app.approval.is_none() && app.question.is_none() {
        let placeholder = if app.is_running() {
            "Type to queue a message"
        } else {
            "Ask cairn to do something · / for commands · @ to attach a file"
        };
        lines = vec![Line::from(vec![Span::styled("> ", theme.user()), Span::styled(placeholder, theme.dim())])];
    }
    let mut out = vec![Line::styled("─".repeat(width), theme.dim())];
    out.extend(lines);
    (out, Some((x, y as u16 + 1)))
}

fn popup_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let theme = app.theme;
    let items = app.popup_items();
    let selected = match app.popup {
        Some(Popup::Commands { selected } | Popup::Files { selected, .. }) => selected,
        None => 0,
    };
    if items.is_empty() {
        let text = match app.popup {
            Some(Popup::Files { .. }) if !app.files.is_ready() => "  indexing files…",
            _ => "  no match",
        };
        return vec![Line::styled(text, theme.dim())];
    }
    let name_width = items.iter().map(|(n, _)| width_of(n)).max().unwrap_or(0).min(width / 2);
    items
        .iter()
        .enumerate()
        .map(|(i, (name, description))| {
            let style = if i == selected { theme.selected() } else { theme.plain() };
            let pad = name_width.saturating_sub(width_of(name));
            let line = Line::from(vec![
                Span::styled(format!("  {name}{}", " ".repeat(pad)), style),
                Span::styled(format!("  {description}"), theme.dim()),
            ]);
            truncate(line, width)
        })
        .collect()
}

fn width_of(text: &str) -> usize {
    width(text)
}

fn dialog_lines(app: &App, dialog: &ApprovalDialog, width: usize) -> (Vec<Line<'static>>, Option<(u16, u16)>) {
    let theme = app.theme;
    let mut lines = vec![Line::styled("─".repeat(width), theme.warning())];
    let plan = dialog.tool == "ExitPlanMode";
    if let Some(from) = &dialog.from {
        let waiting = app.approvals_waiting.len();
        let more = if waiting > 0 { format!(" ({waiting} more waiting)") } else { String::new() };
        lines.push(Line::styled(format!("{from} asks{more}:"), theme.dim()));
    }
    if plan {
        lines.push(Line::styled("Ready to code? The plan is above.", theme.bold()));
    } else {
        let header = tool_header(&dialog.tool, &dialog.input, &app.cwd);
        lines.push(Line::from(vec![
            Span::styled("Allow ", theme.bold()),
            Span::styled(header, theme.bold().patch(theme.accent())),
            Span::styled("?", theme.bold()),
        ]));
    }
    if let Some(command) = dialog.input.get("command").and_then(|c| c.as_str()) {
        for line in command.lines().take(8) {
            lines.extend(wrap::wrap(&Line::styled(format!("  {line}"), theme.code()), width, "    "));
        }
    }
    if let Some(description) = dialog.input.get("description").and_then(|d| d.as_str()) {
        lines.push(Line::styled(format!("  {description}"), theme.dim()));
    }
    if let Some(url) = dialog.input.get("url").and_then(|u| u.as_str()) {
        lines.push(Line::styled(format!("  {url}"), theme.code()));
    }
    if let Some(preview) = dialog.preview.as_ref().filter(|_| !plan) {
        let mut diff = diff_lines(preview, width, theme, Detail::Full);
        if diff.len() > DIALOG_PREVIEW {
            let more = diff.len() - DIALOG_PREVIEW;
            diff.truncate(DIALOG_PREVIEW);
            diff.push(Line::styled(format!("    … {more} more lines"), theme.dim()));
        }
        lines.extend(diff);
    }
    let again = match dialog.tool.as_str() {
        "Bash" => "Yes, and don't ask again for this command this session".to_owned(),
        "Edit" | "MultiEdit" | "Write" => "Yes, and allow all edits this session".to_owned(),
        tool => format!("Yes, and don't ask again for {tool} this session"),
    };
    let options = if plan {
        [
            "Yes, and approve each edit".to_owned(),
            "Yes, and accept edits without asking".to_owned(),
            "No, keep planning — what should change: ".to_owned(),
        ]
    } else {
        ["Yes".to_owned(), again, "No, and tell cairn what to do instead: ".to_owned()]
    };
    let mut cursor = None;
    for (i, option) in options.iter().enumerate() {
        let chosen = i == dialog.selected;
        let marker = if chosen { "❯ " } else { "  " };
        let style = if chosen { theme.bold().patch(theme.accent()) } else { theme.plain() };
        let mut spans = vec![Span::styled(format!("{marker}{}. {option}", i + 1), style)];
        if i == 2 {
            spans.push(Span::raw(dialog.feedback.clone()));
            if chosen {
                let line = Line::from(spans.clone());
                cursor = Some((line_width(&line).min(width.saturating_sub(1)) as u16, lines.len() as u16));
            }
        }
        lines.push(truncate(Line::from(spans), width));
    }
    lines.push(Line::styled("  ↑↓ to choose · Enter to confirm · Esc to refuse", theme.dim()));
    (lines, cursor)
}

/// The question shown (AskUserQuestion): its chip and text, the options, and a last line
/// for the user's own words.
fn question_lines(app: &App, width: usize) -> (Vec<Line<'static>>, Option<(u16, u16)>) {
    let theme = app.theme;
    let Some(dialog) = &app.question else { return (Vec::new(), None) };
    let question = dialog.question();
    let mut lines = vec![Line::styled("─".repeat(width), theme.accent())];
    let count = if dialog.questions.len() > 1 {
        format!(" ({} of {})", dialog.current + 1, dialog.questions.len())
    } else {
        String::new()
    };
    lines.push(Line::from(vec![
        Span::styled(format!(" {} ", question.header), theme.bold().patch(theme.accent())),
        Span::styled(count, theme.dim()),
    ]));
    lines.extend(wrap::wrap(&Line::styled(question.question.clone(), theme.bold()), width, ""));
    let mut cursor = None;
    for (i, (label, description)) in question.options.iter().enumerate() {
        let chosen = i == dialog.selected;
        let marker = if chosen { "❯ " } else { "  " };
        let tick = match (question.multi_select, dialog.ticked.get(i)) {
            (true, Some(true)) => "[x] ",
            (true, _) => "[ ] ",
            (false, _) => "",
        };
        let style = if chosen { theme.bold().patch(theme.accent()) } else { theme.plain() };
        lines.push(truncate(Line::styled(format!("{marker}{}. {tick}{label}", i + 1), style), width));
        if !description.is_empty() {
            lines.push(truncate(Line::styled(format!("     {description}"), theme.dim()), width));
        }
    }
    let own = dialog.selected == dialog.own_line();
    let marker = if own { "❯ " } else { "  " };
    let style = if own { theme.bold().patch(theme.accent()) } else { theme.plain() };
    let line = Line::from(vec![
        Span::styled(format!("{marker}{}. Something else: ", dialog.own_line() + 1), style),
        Span::raw(dialog.own_words.clone()),
    ]);
    if own {
        cursor = Some((line_width(&line).min(width.saturating_sub(1)) as u16, lines.len() as u16));
    }
    lines.push(truncate(line, width));
    let keys = if question.multi_select {
        "  ↑↓ to move · Space to tick · Enter to confirm · Esc to decline"
    } else {
        "  ↑↓ to choose · Enter to confirm · Esc to decline"
    };
    lines.push(Line::styled(keys, theme.dim()));
    (lines, cursor)
}

fn status_line(app: &App, width: usize) -> Line<'static> {
    let theme = app.theme;
    if let Some(text) = &app.status_text {
        return truncate(Line::styled(text.clone(), theme.dim()), width);
    }
    let percent = (app.context_tokens as f64 * 100.0 / app.model.context_window.max(1) as f64).round() as u64;
    let mut left = vec![Span::styled(app.model.id.clone(), theme.accent())];
    let mode = match app.mode {
        PermissionMode::Default => None,
        PermissionMode::AcceptEdits => Some(("accept edits", theme.warning())),
        PermissionMode::Plan => Some(("plan mode", theme.success())),
        PermissionMode::BypassPermissions => Some(("bypass permissions", theme.error())),
        PermissionMode::DontAsk => Some(("don't ask", theme.warning())),
    };
    if let Some((label, style)) = mode {
        left.push(Span::styled(" · ", theme.dim()));
        left.push(Span::styled(format!("⏵⏵ {label}"), style));
    }
    left.push(Span::styled(
        format!(" · ctx {percent}% ({}k) · ${:.4}", app.context_tokens.div_ceil(1000), app.cost_usd),
        theme.dim(),
    ));
    let home = std::env::var("HOME").unwrap_or_default();
    let folder = app.cwd.display().to_string();
    let folder = match folder.strip_prefix(&home) {
        Some(rest) if !home.is_empty() => format!("~{rest}"),
        _ => folder,
    };
    let branch = app.branch.as_ref().map(|b| format!(" ({b})")).unwrap_or_default();
    let right = format!("{folder}{branch}");
    let used: usize = left.iter().map(|s| width_of(&s.content)).sum();
    let right_width = width_of(&right);
    if used + right_width < width {
        left.push(Span::raw(" ".repeat(width - used - right_width)));
        left.push(Span::styled(right, theme.dim()));
    }
    truncate(Line::from(left), width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Event, SessionInfo};
    use crate::provider::StreamEvent;
    use crate::provider::models;
    use crate::tools::ToolOutput;
    use crate::ui::tui::theme::Theme;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use serde_json::json;
    use std::path::Path;

    fn app() -> App {
        let mut app = App::new(Theme::new(false), Path::new("/work/project"), models::lookup("claude-sonnet-5"), None);
        app.branch = Some("main".into());
        app.on_resize(60);
        app
    }

    fn screen(app: &App) -> String {
        let (buffer, _) = live(app, 60, 20);
        (0..buffer.area.height)
            .map(|y| (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect::<String>().trim_end().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
    }

    #[test]
    fn idle_composer_and_status_line() {
        let app = app();
        insta::assert_snapshot!(screen(&app), @r"

        ────────────────────────────────────────────────────────────
        > Ask cairn to do something · / for commands · @ to attach a
        claude-sonnet-5 · ctx 0% (0k) · $0.0000 /work/project (main)
        ");
    }

    #[test]
    fn a_running_turn_shows_the_unfinished_answer_and_its_tools() {
        let mut app = app();
        app.submit("explain");
        app.on_event(Event::Stream(StreamEvent::BlockStart { index: 0, block: crate::provider::BlockStart::Text }));
        app.on_event(Event::Stream(StreamEvent::TextDelta { index: 0, text: "Done line.\nStill wri".into() }));
        app.on_event(Event::ToolCallStarted {
            call_id: "a".into(),
            name: "Bash".into(),
            input: json!({"command": "cargo test"}),
        });
        app.on_event(Event::ToolCallStarted {
            call_id: "b".into(),
            name: "Read".into(),
            input: json!({"file_path": "/work/project/src/lib.rs"}),
        });
        app.on_event(Event::ToolCallFinished {
            call_id: "b".into(),
            name: "Read".into(),
            output: ToolOutput::text("x"),
        });
        let shown = screen(&app);
        let lines: Vec<&str> = shown.lines().skip(1).collect();
        assert_eq!(lines[0], "Still wri");
        assert!(lines[1].ends_with("Bash(cargo test)"), "{shown}");
        assert!(lines[2].starts_with("✓ Read src/lib.rs"), "{shown}");
        let committed: Vec<String> = app.take_commit().iter().map(wrap::plain).collect();
        assert_eq!(committed, ["> explain", "", "Done line."]);
    }

    #[test]
    fn the_approval_dialog_replaces_the_composer() {
        let mut app = app();
        app.submit("go");
        app.on_event(Event::ApprovalRequest {
            call_id: "c1".into(),
            tool: "Bash".into(),
            input: json!({"command": "rm -rf build", "description": "Remove the build folder"}),
            preview: None,
            from: None,
        });
        insta::assert_snapshot!(screen(&app), @r"

        ────────────────────────────────────────────────────────────
        Allow Bash(rm -rf build)?
          rm -rf build
          Remove the build folder
          1. Yes
          2. Yes, and don't ask again for this command this session
        ❯ 3. No, and tell cairn what to do instead:
          ↑↓ to choose · Enter to confirm · Esc to refuse
        claude-sonnet-5 · ctx 0% (0k) · $0.0000 /work/project (main)
        ");
    }

    #[test]
    fn a_narrow_terminal_still_gets_every_part_cut_to_fit() {
        let mut app = app();
        app.on_resize(24);
        app.submit("go");
        app.on_event(Event::ApprovalRequest {
            call_id: "c".into(),
            tool: "Edit".into(),
            input: json!({"file_path": "/work/project/src/a_very_long_file_name.rs"}),
            preview: Some(crate::tools::diff::unified("a.rs", "old line\n", "new line that is long\n")),
            from: None,
        });
        let (buffer, cursor) = live(&app, 24, 12);
        assert!(buffer.area.height <= 12);
        let text: Vec<String> =
            (0..buffer.area.height).map(|y| (0..24).map(|x| buffer[(x, y)].symbol()).collect::<String>()).collect();
        assert!(text.iter().any(|l| l.contains("3. No")), "{text:#?}");
        assert!(text.last().unwrap().starts_with("claude-sonnet-5"), "the status line stays: {text:#?}");
        assert!(cursor.is_some_and(|(x, y)| x < 24 && y < buffer.area.height));
    }

    #[test]
    fn the_slash_popup_lists_matching_commands() {
        let mut app = app();
        type_text(&mut app, "/c");
        let shown = screen(&app);
        assert!(shown.contains("/clear") && shown.contains("/cost") && !shown.contains("/help"), "{shown}");
        app.on_event(Event::SessionStarted(SessionInfo {
            session_id: "s".into(),
            model: "claude-sonnet-5".into(),
            effort: None,
            output_style: None,
            cwd: "/work/project".into(),
            tools: vec![],
            permission_mode: crate::permissions::PermissionMode::Plan,
            title: None,
            commands: vec![crate::protocol::CommandInfo {
                name: "frontend:build".into(),
                description: "Build the front end\nfor production".into(),
                argument_hint: Some("[target]".into()),
                source: "project",
                skill: false,
            }],
            agents: vec![],
            mcp_servers: vec![],
            plugins: vec![],
        }));
        assert!(screen(&app).contains("⏵⏵ plan mode"));
        app.on_key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
        app.on_key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
        type_text(&mut app, "/f");
        let shown = screen(&app);
        assert!(shown.contains("/frontend:build") && shown.contains("Build the front end (project)"), "{shown}");
    }
}
