//! Transcript cells: one per thing that happened, each rendered to wrapped, styled lines.
//!
//! A tool call is a one-line header (`Read src/main.rs`, `Bash(cargo test)`,
//! `Grep "todo" in src/`) with a spinner while it runs and ✓ or ✗ when done, then its
//! output folded to a few lines ("… N more lines"); edits show a coloured diff; thinking is
//! dim and folded; errors are red. The same cells render unfolded for the transcript pager.

use std::path::Path;
use std::time::Instant;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use serde_json::Value;

use super::markdown;
use super::theme::Theme;
use super::wrap;
use crate::tools::ToolOutput;
use crate::tools::todo::{Todo, TodoStatus};

/// Lines of a tool's output shown before it is folded.
const FOLDED_OUTPUT: usize = 4;
/// Lines of a diff shown before it is folded.
const FOLDED_DIFF: usize = 24;
const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

#[derive(Clone, Debug)]
pub enum Cell {
    User {
        text: String,
    },
    /// An answer's markdown source (its lines were streamed into the scrollback).
    Assistant {
        markdown: String,
    },
    Thinking {
        text: String,
    },
    Tool(Box<ToolCell>),
    Todos(Vec<Todo>),
    Error {
        message: String,
    },
    /// A dim one-line note: interrupted, model changed, queued, …
    Notice {
        text: String,
    },
    /// Command output (`/help`, `/cost`, `/status`): plain lines.
    Info {
        lines: Vec<String>,
    },
}

#[derive(Clone, Debug)]
pub struct ToolCell {
    pub call_id: String,
    pub name: String,
    pub input: Value,
    pub started: Instant,
    pub output: Option<ToolOutput>,
    /// A sub-agent's progress (a Task call).
    pub progress: Option<Box<crate::protocol::TaskUpdate>>,
}

/// How much to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// The transcript: tool output and thinking folded.
    Folded,
    /// The pager: everything.
    Full,
}

impl Cell {
    pub fn render(&self, width: usize, theme: Theme, detail: Detail, cwd: &Path) -> Vec<Line<'static>> {
        let width = width.max(20);
        match self {
            Cell::User { text } => {
                let mut lines = Vec::new();
                for (i, line) in text.lines().enumerate() {
                    let prefix = if i == 0 { Span::styled("> ", theme.user()) } else { Span::raw("  ") };
                    let line = Line::from(vec![prefix, Span::styled(line.to_owned(), theme.bold())]);
                    lines.extend(wrap::wrap(&line, width, "  "));
                }
                lines
            }
            Cell::Assistant { markdown } => markdown::render(markdown, width, theme).lines,
            Cell::Thinking { text } => thinking(text, width, theme, detail),
            Cell::Tool(tool) => tool.render(width, theme, detail, cwd),
            Cell::Todos(todos) => todo_lines(todos, width, theme),
            Cell::Error { message } => {
                let lines: Vec<Line<'static>> = message
                    .lines()
                    .enumerate()
                    .map(|(i, l)| Line::styled(if i == 0 { format!("✗ {l}") } else { format!("  {l}") }, theme.error()))
                    .collect();
                wrap::wrap_all(&lines, width, "  ")
            }
            Cell::Notice { text } => wrap::wrap(&Line::styled(format!("· {text}"), theme.dim()), width, "  "),
            Cell::Info { lines } => {
                let lines: Vec<Line<'static>> = lines.iter().map(|l| Line::raw(l.clone())).collect();
                wrap::wrap_all(&lines, width, "  ")
            }
        }
    }
}

fn thinking(text: &str, width: usize, theme: Theme, detail: Detail) -> Vec<Line<'static>> {
    let style = theme.dim().patch(theme.italic());
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let shown = match detail {
        Detail::Full => all.len(),
        Detail::Folded => 1,
    };
    let mut lines = vec![Line::styled("∴ Thinking", theme.dim())];
    for line in all.iter().take(shown) {
        lines.extend(wrap::wrap(&Line::styled(format!("  {line}"), style), width, "  "));
    }
    if all.len() > shown {
        lines.push(Line::styled(format!("  … {} more lines (Ctrl-T to see all)", all.len() - shown), theme.dim()));
    }
    lines
}

fn todo_lines(todos: &[Todo], width: usize, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled("☰ Todos", theme.bold())];
    for todo in todos {
        let (mark, style) = match todo.status {
            TodoStatus::Completed => ("☒", theme.dim().crossed_out()),
            TodoStatus::InProgress => ("◐", theme.bold().patch(theme.accent())),
            TodoStatus::Pending => ("☐", theme.plain()),
        };
        let text = if todo.status == TodoStatus::InProgress && !todo.active_form.is_empty() {
            &todo.active_form
        } else {
            &todo.content
        };
        lines.extend(wrap::wrap(
            &Line::from(vec![Span::raw(format!("  {mark} ")), Span::styled(text.clone(), style)]),
            width,
            "    ",
        ));
    }
    lines
}

/// A short, relative form of a path for headers.
fn short_path(path: &str, cwd: &Path) -> String {
    let p = Path::new(path);
    p.strip_prefix(cwd).map_or_else(|_| path.to_owned(), |rel| rel.display().to_string())
}

fn field<'a>(input: &'a Value, name: &str) -> &'a str {
    input.get(name).and_then(Value::as_str).unwrap_or("")
}

/// The one-line description of a tool call: `Read src/main.rs`, `Bash(cargo test)`.
pub fn tool_header(name: &str, input: &Value, cwd: &Path) -> String {
    let path = |key: &str| short_path(field(input, key), cwd);
    match crate::conversation::tool_names::canonical(name) {
        "Read" | "Write" | "Edit" | "MultiEdit" => format!("{name} {}", path("file_path")),
        "Bash" => {
            let command = field(input, "command");
            let first = command.lines().next().unwrap_or("");
            let more = if command.lines().count() > 1 { " …" } else { "" };
            let background =
                if input.get("run_in_background").and_then(Value::as_bool) == Some(true) { " &" } else { "" };
            format!("Bash({first}{more}){background}")
        }
        "Grep" => {
            let within = input
                .get("path")
                .and_then(Value::as_str)
                .map(|p| format!(" in {}", short_path(p, cwd)))
                .unwrap_or_default();
            format!("Grep \"{}\"{within}", field(input, "pattern"))
        }
        "Glob" => {
            let within = input
                .get("path")
                .and_then(Value::as_str)
                .map(|p| format!(" in {}", short_path(p, cwd)))
                .unwrap_or_default();
            format!("Glob {}{within}", field(input, "pattern"))
        }
        "LS" => format!("LS {}", path("path")),
        "WebFetch" => format!("WebFetch {}", field(input, "url")),
        "TodoWrite" => "Update todos".to_owned(),
        "Task" => {
            let kind = input.get("subagent_type").and_then(Value::as_str).unwrap_or("general-purpose");
            format!("{kind}({})", field(input, "description"))
        }
        "Skill" => format!("Skill({})", field(input, "skill")),
        "BashOutput" => format!("{name} {}", field(input, "bash_id")),
        "KillShell" => format!("{name} {}", field(input, "shell_id")),
        _ => {
            let text = input.to_string();
            let short: String = text.chars().take(60).collect();
            format!("{name}({short}{})", if text.chars().count() > 60 { "…" } else { "" })
        }
    }
}

impl ToolCell {
    pub fn render(&self, width: usize, theme: Theme, detail: Detail, cwd: &Path) -> Vec<Line<'static>> {
        let header = tool_header(&self.name, &self.input, cwd);
        let (mark, style) = match &self.output {
            None => {
                let frame = (self.started.elapsed().as_millis() / 80) as usize % SPINNER.len();
                (SPINNER[frame], theme.accent())
            }
            Some(out) if out.is_error => ("✗", theme.error()),
            Some(_) => ("✓", theme.success()),
        };
        let mut head = vec![Span::styled(format!("{mark} "), style), Span::styled(header, theme.bold())];
        if self.output.is_none() {
            let secs = self.started.elapsed().as_secs();
            if secs >= 2 {
                head.push(Span::styled(format!(" ({secs}s)"), theme.dim()));
            }
        }
        let mut lines = wrap::wrap(&Line::from(head), width, "  ");
        if let (None, Some(task)) = (&self.output, &self.progress) {
            let doing = task.current_tool.as_deref().map_or_else(|| "thinking".to_owned(), |t| format!("running {t}"));
            let text = format!(
                "  ⎿ {doing} · {} tool use{} · {} tokens",
                task.tool_uses,
                if task.tool_uses == 1 { "" } else { "s" },
                crate::agent::context::thousands(task.tokens)
            );
            lines.extend(wrap::wrap(&Line::styled(text, theme.dim()), width, "    "));
        }
        let Some(output) = &self.output else { return lines };
        lines.extend(self.body(output, width, theme, detail));
        lines
    }

    fn body(&self, output: &ToolOutput, width: usize, theme: Theme, detail: Detail) -> Vec<Line<'static>> {
        if let Some(diff) = output.structured.get("diff").and_then(Value::as_str)
            && !output.is_error
        {
            return diff_lines(diff, width, theme, detail);
        }
        let text = output.text_content();
        if output.content.iter().any(|c| matches!(c, crate::conversation::history::ToolResultContent::Image { .. })) {
            return vec![Line::styled("  ⎿ (image)", theme.dim())];
        }
        let summary = match (self.name.as_str(), output.is_error) {
            ("Read", false) => {
                output.structured.pointer("/file/numLines").and_then(Value::as_u64).map(|n| format!("Read {n} lines"))
            }
            ("TodoWrite", false) => Some("Updated".to_owned()),
            _ => None,
        };
        if let (Some(summary), Detail::Folded) = (summary, detail) {
            return vec![Line::styled(format!("  ⎿ {summary}"), theme.dim())];
        }
        let body_style = if output.is_error { theme.error() } else { theme.dim() };
        let all: Vec<&str> = text.lines().collect();
        let shown = match detail {
            Detail::Full => all.len(),
            Detail::Folded => FOLDED_OUTPUT,
        };
        let mut lines = Vec::new();
        for (i, line) in all.iter().take(shown).enumerate() {
            let lead = if i == 0 { "  ⎿ " } else { "    " };
            lines.extend(wrap::wrap(&Line::styled(format!("{lead}{line}"), body_style), width, "    "));
        }
        if all.len() > shown {
            lines.push(Line::styled(format!("    … {} more lines", all.len() - shown), theme.dim()));
        }
        lines
    }
}

/// A unified diff in colour: additions green, removals red, hunk headers cyan.
pub fn diff_lines(diff: &str, width: usize, theme: Theme, detail: Detail) -> Vec<Line<'static>> {
    let body: Vec<&str> = diff.lines().filter(|l| !l.starts_with("---") && !l.starts_with("+++")).collect();
    let shown = match detail {
        Detail::Full => body.len(),
        Detail::Folded => FOLDED_DIFF,
    };
    let mut lines = Vec::new();
    for line in body.iter().take(shown) {
        let style: Style = match line.chars().next() {
            Some('+') => theme.added(),
            Some('-') => theme.removed(),
            Some('@') => theme.hunk(),
            _ => theme.dim(),
        };
        lines.extend(wrap::wrap(&Line::styled(format!("    {line}"), style), width, "     "));
    }
    if body.len() > shown {
        lines.push(Line::styled(format!("    … {} more lines (Ctrl-T to see all)", body.len() - shown), theme.dim()));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::tui::wrap::plain;
    use serde_json::json;

    fn text(lines: &[Line<'static>]) -> String {
        lines.iter().map(plain).collect::<Vec<_>>().join("\n")
    }

    fn done(name: &str, input: Value, output: ToolOutput) -> Cell {
        Cell::Tool(Box::new(ToolCell {
            call_id: "c".into(),
            name: name.into(),
            input,
            started: Instant::now(),
            output: Some(output),
            progress: None,
        }))
    }

    const CWD: &str = "/work/p";

    fn render(cell: &Cell, width: usize, detail: Detail) -> String {
        text(&cell.render(width, Theme::new(false), detail, Path::new(CWD)))
    }

    #[test]
    fn tool_headers_read_like_claude_codes() {
        let cwd = Path::new(CWD);
        assert_eq!(tool_header("Read", &json!({"file_path": "/work/p/src/main.rs"}), cwd), "Read src/main.rs");
        assert_eq!(tool_header("Bash", &json!({"command": "cargo test\n--all"}), cwd), "Bash(cargo test …)");
        assert_eq!(tool_header("Grep", &json!({"pattern": "todo", "path": "src/"}), cwd), "Grep \"todo\" in src/");
        assert_eq!(tool_header("mcp__x__y", &json!({"a": 1}), cwd), "mcp__x__y({\"a\":1})");
    }

    #[test]
    fn a_running_sub_agent_shows_its_progress() {
        let mut cell = ToolCell {
            call_id: "t".into(),
            name: "Task".into(),
            input: json!({"description": "find the parser", "subagent_type": "Explore"}),
            started: Instant::now(),
            output: None,
            progress: None,
        };
        cell.progress = Some(Box::new(crate::protocol::TaskUpdate {
            call_id: "t".into(),
            agent_id: "a".into(),
            agent_type: "Explore".into(),
            description: "find the parser".into(),
            name: None,
            state: crate::protocol::TaskState::Running,
            current_tool: Some("Grep".into()),
            tool_uses: 3,
            tokens: 12_345,
            cost_usd: 0.0,
            elapsed: std::time::Duration::from_secs(1),
            summary: None,
        }));
        let shown = render(&Cell::Tool(Box::new(cell)), 80, Detail::Folded);
        assert!(shown.contains("Explore(find the parser)"), "{shown}");
        assert!(shown.contains("⎿ running Grep · 3 tool uses · 12,345 tokens"), "{shown}");
    }

    #[test]
    fn tool_cells_fold_their_output() {
        let output = ToolOutput::text((1..=10).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n"));
        let cell = done("Bash", json!({"command": "seq 10"}), output);
        insta::assert_snapshot!(render(&cell, 40, Detail::Folded), @r"
        ✓ Bash(seq 10)
          ⎿ line 1
            line 2
            line 3
            line 4
            … 6 more lines
        ");
        assert_eq!(render(&cell, 40, Detail::Full).lines().count(), 11);
        let error = done("Bash", json!({"command": "false"}), ToolOutput::error("Exit code 1"));
        assert_eq!(render(&error, 40, Detail::Folded), "✗ Bash(false)\n  ⎿ Exit code 1");
        let read = done(
            "Read",
            json!({"file_path": "/work/p/a.rs"}),
            ToolOutput::text("     1\tx").with_structured(json!({"file": {"numLines": 1}})),
        );
        assert_eq!(render(&read, 40, Detail::Folded), "✓ Read a.rs\n  ⎿ Read 1 lines");
    }

    #[test]
    fn edits_show_a_diff() {
        let diff = crate::tools::diff::unified("a.rs", "one\ntwo\n", "one\nTWO\n");
        let output = ToolOutput::text("Edited a.rs.").with_structured(json!({"diff": diff}));
        let cell = done("Edit", json!({"file_path": "/work/p/a.rs"}), output);
        insta::assert_snapshot!(render(&cell, 40, Detail::Folded), @r"
        ✓ Edit a.rs
            @@ -1,2 +1,2 @@
             one
            -two
            +TWO
        ");
    }

    #[test]
    fn other_cells() {
        let user = Cell::User { text: "fix the failing test\nplease".into() };
        assert_eq!(render(&user, 40, Detail::Folded), "> fix the failing test\n  please");
        let thinking = Cell::Thinking { text: "first\nsecond\nthird".into() };
        assert_eq!(render(&thinking, 40, Detail::Folded), "∴ Thinking\n  first\n  … 2 more lines (Ctrl-T to see all)");
        let error = Cell::Error { message: "API Error: 401 bad key".into() };
        assert_eq!(render(&error, 40, Detail::Folded), "✗ API Error: 401 bad key");
        let todos = Cell::Todos(vec![
            Todo {
                content: "Run tests".into(),
                status: TodoStatus::Completed,
                active_form: "Running tests".into(),
                id: None,
                priority: None,
            },
            Todo {
                content: "Fix bug".into(),
                status: TodoStatus::InProgress,
                active_form: "Fixing the bug".into(),
                id: None,
                priority: None,
            },
            Todo {
                content: "Docs".into(),
                status: TodoStatus::Pending,
                active_form: String::new(),
                id: None,
                priority: None,
            },
        ]);
        assert_eq!(render(&todos, 40, Detail::Folded), "☰ Todos\n  ☒ Run tests\n  ◐ Fixing the bug\n  ☐ Docs");
    }

    #[test]
    fn wide_text_wraps_by_display_width() {
        let user = Cell::User { text: "日本語のテキストを折り返して表示します".into() };
        let out = render(&user, 20, Detail::Folded);
        assert!(out.lines().all(|l| wrap::width(l) <= 20), "{out}");
        assert!(out.lines().count() >= 2);
    }
}
