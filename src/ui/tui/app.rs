//! The TUI's state and what changes it: keys, pastes and the core's events go in; `Op`s for
//! the core and lines for the scrollback come out. No terminal I/O here, so every behaviour
//! is tested by feeding events and reading the state (and `view` draws it).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::text::Line;
use serde_json::Value;

use super::cells::{Cell, Detail, ToolCell};
use super::commands::{Action, Commands};
use super::composer::{Composer, Edit};
use super::files::FileIndex;
use super::history::PromptHistory;
use super::markdown::MarkdownStream;
use super::picker::{Picked, SessionPicker};
use super::replay;
use super::theme::Theme;
use crate::agent::context::thousands;
use crate::conversation::history::{ContentBlock, Message, Role};
use crate::permissions::{PermissionMode, Purpose};
use crate::protocol::{
    ApprovalDecision, CompactTrigger, Event, Op, Query, SessionInfo, TurnOutcome, TurnStatus, UserInput,
};
use crate::provider::models::{self, ModelInfo};
use crate::provider::{BlockStart, StreamEvent};
use crate::session::Store;

/// Cells of a resumed session written to the scrollback; the rest are in the pager.
const RESTORED_SHOWN: usize = 40;
/// Two Ctrl-C within this quit.
const DOUBLE_PRESS: Duration = Duration::from_secs(2);

pub struct App {
    pub theme: Theme,
    pub cwd: PathBuf,
    pub branch: Option<String>,
    pub session: Option<SessionInfo>,
    pub model: ModelInfo,
    pub mode: PermissionMode,
    pub composer: Composer,
    pub commands: Commands,
    pub files: FileIndex,
    history: Option<PromptHistory>,
    /// Everything said so far, for the pager.
    pub cells: Vec<Cell>,
    /// Every committed line, for fullscreen mode's own scrolling.
    pub transcript: Vec<Line<'static>>,
    /// Lines waiting to be written into the scrollback.
    commit: Vec<Line<'static>>,
    pub turn: Option<Turn>,
    pub queued: VecDeque<String>,
    pub approval: Option<ApprovalDialog>,
    pub popup: Option<Popup>,
    pub retry: Option<Retry>,
    pub context_tokens: u64,
    pub cost_usd: f64,
    pub api_time: Duration,
    pub started: Instant,
    ctrl_c_at: Option<Instant>,
    pub hint: Option<(String, Instant)>,
    pub quit: bool,
    pub pager_requested: bool,
    /// A file to open in the user's editor (`/memory`), taken by the event loop.
    pub edit_requested: Option<std::path::PathBuf>,
    /// Lines the user scrolled up in fullscreen mode.
    pub scroll: usize,
    ops: Vec<Op>,
    pub width: u16,
    /// Where this folder's sessions are, for `/resume`.
    pub store: Option<Store>,
    /// The session picker, while open.
    pub picker: Option<SessionPicker>,
    /// The user's status line command, its last output, and whether it runs or is due.
    pub status_command: Option<String>,
    pub status_text: Option<String>,
    status_running: bool,
    status_due: bool,
    /// Usage and cost by model, as of the last turn.
    model_usage: Vec<(String, crate::cost::ModelUsage)>,
}

/// A turn in progress, as the TUI follows it.
#[derive(Default)]
pub struct Turn {
    pub started: Option<Instant>,
    pub text: Option<(usize, MarkdownStream)>,
    pub thinking: Option<(usize, String)>,
    /// The tool whose call the model is writing.
    pub preparing: Option<String>,
    /// Tool calls started and not yet in the scrollback, in call order.
    pub tools: Vec<ToolCell>,
    /// The answer's text so far, for the pager.
    markdown: String,
    wrote_text: bool,
}

pub struct ApprovalDialog {
    pub call_id: String,
    pub tool: String,
    pub input: Value,
    pub preview: Option<String>,
    /// 0 Yes, 1 Yes and don't ask again, 2 No (the default: Enter never approves by accident).
    pub selected: usize,
    pub feedback: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Popup {
    /// Completing a slash command.
    Commands { selected: usize },
    /// Picking a file for `@`; `start` is the byte offset of the `@`.
    Files { start: usize, selected: usize },
}

pub struct Retry {
    pub until: Instant,
    pub attempt: u32,
    pub max_attempts: u32,
    pub error: String,
}

impl App {
    pub fn new(theme: Theme, cwd: &Path, model: ModelInfo, history: Option<PromptHistory>) -> App {
        let recalled = history.as_ref().map(PromptHistory::load).unwrap_or_default();
        App {
            theme,
            cwd: cwd.to_path_buf(),
            branch: crate::config::git_branch(cwd),
            session: None,
            model,
            mode: PermissionMode::Default,
            composer: Composer::new(recalled),
            commands: Commands::builtin(),
            files: FileIndex::default(),
            history,
            cells: Vec::new(),
            transcript: Vec::new(),
            commit: Vec::new(),
            turn: None,
            queued: VecDeque::new(),
            approval: None,
            popup: None,
            retry: None,
            context_tokens: 0,
            cost_usd: 0.0,
            api_time: Duration::ZERO,
            started: Instant::now(),
            ctrl_c_at: None,
            hint: None,
            quit: false,
            pager_requested: false,
            edit_requested: None,
            scroll: 0,
            ops: Vec::new(),
            width: 80,
            store: None,
            picker: None,
            status_command: None,
            status_text: None,
            status_running: false,
            status_due: true,
            model_usage: Vec::new(),
        }
    }

    /// The ops to send to the core since the last call.
    pub fn take_ops(&mut self) -> Vec<Op> {
        std::mem::take(&mut self.ops)
    }

    /// Lines to write into the scrollback since the last call.
    pub fn take_commit(&mut self) -> Vec<Line<'static>> {
        std::mem::take(&mut self.commit)
    }

    pub fn is_running(&self) -> bool {
        self.turn.is_some()
    }

    /// Whether something on screen moves by itself (a spinner, a countdown).
    pub fn animating(&self) -> bool {
        self.turn.is_some() || self.retry.is_some() || self.hint.is_some()
    }

    fn commit_lines(&mut self, lines: Vec<Line<'static>>) {
        self.transcript.extend(lines.iter().cloned());
        self.commit.extend(lines);
    }

    /// A blank line between cells.
    fn separate(&mut self) {
        if !self.transcript.is_empty() {
            self.commit_lines(vec![Line::default()]);
        }
    }

    /// Adds a cell to the transcript and the scrollback.
    pub fn push_cell(&mut self, cell: Cell) {
        self.separate();
        let lines = cell.render(usize::from(self.width), self.theme, Detail::Folded, &self.cwd);
        self.commit_lines(lines);
        self.cells.push(cell);
    }

    pub fn notice(&mut self, text: impl Into<String>) {
        self.push_cell(Cell::Notice { text: text.into() });
    }

    fn say(&mut self, text: impl Into<String>) {
        self.hint = Some((text.into(), Instant::now()));
    }

    pub fn on_resize(&mut self, width: u16) {
        self.width = width.max(20);
    }

    pub fn on_paste(&mut self, text: &str) {
        if let Some(dialog) = &mut self.approval {
            dialog.feedback.push_str(&text.replace('\n', " "));
            return;
        }
        self.composer.paste(text);
        self.update_popup();
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if self.approval.is_some() {
            self.approval_key(key);
            return;
        }
        if let Some(picker) = &mut self.picker {
            match picker.on_key(key, self.store.as_ref()) {
                Picked::Nothing => {}
                Picked::Cancel => self.picker = None,
                Picked::Session(path) => {
                    self.picker = None;
                    self.ops.push(Op::Resume(path.to_string_lossy().into_owned()));
                }
            }
            return;
        }
        if self.popup.is_some() && self.popup_key(key) {
            return;
        }
        match key.code {
            KeyCode::Esc => {
                if self.is_running() {
                    self.ops.push(Op::Interrupt);
                } else if !self.queued.is_empty() {
                    self.queued.clear();
                }
            }
            KeyCode::Char('c') if ctrl => self.ctrl_c(),
            KeyCode::Char('d') if ctrl => {
                if self.composer.is_empty() {
                    self.quit = true;
                }
            }
            KeyCode::Char('t') if ctrl => self.pager_requested = true,
            KeyCode::BackTab => self.cycle_mode(),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_add(10),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
            _ => match self.composer.handle_key(key) {
                Edit::Submit(text) => self.submit(&text),
                Edit::Changed => self.update_popup(),
                Edit::Ignored => {}
            },
        }
    }

    fn ctrl_c(&mut self) {
        let again = self.ctrl_c_at.is_some_and(|at| at.elapsed() < DOUBLE_PRESS);
        if again {
            self.quit = true;
            return;
        }
        if !self.composer.is_empty() {
            self.composer.clear();
            self.popup = None;
            return;
        }
        if self.is_running() {
            self.ops.push(Op::Interrupt);
        }
        self.ctrl_c_at = Some(Instant::now());
        self.say("Press Ctrl-C again to quit");
    }

    fn cycle_mode(&mut self) {
        self.mode = match self.mode {
            PermissionMode::Default => PermissionMode::AcceptEdits,
            PermissionMode::AcceptEdits => PermissionMode::Plan,
            PermissionMode::Plan | PermissionMode::BypassPermissions | PermissionMode::DontAsk => {
                PermissionMode::Default
            }
        };
        self.ops.push(Op::SetPermissionMode(self.mode));
    }

    /// A message from the composer: a command, a prompt to send, or one to queue.
    pub fn submit(&mut self, text: &str) {
        self.popup = None;
        if text.trim().is_empty() {
            return;
        }
        if let Some(history) = &self.history {
            history.append(text);
        }
        self.composer.remember(text);
        if let Some(command) = text.strip_prefix('/')
            && !command.starts_with('/')
            && !command.contains('\n')
        {
            self.run_command(command.trim());
            return;
        }
        // `# note`: remembered in the project's memory file, not sent (`#123 is broken`
        // is a prompt).
        if text.starts_with("# ") && !text.contains('\n') {
            self.ops.push(Op::Remember(text.to_owned()));
            return;
        }
        if self.is_running() {
            self.queued.push_back(text.to_owned());
            return;
        }
        self.send(text);
    }

    fn send(&mut self, text: &str) {
        self.push_cell(Cell::User { text: text.to_owned() });
        let attachments = mentioned_files(text, &self.cwd);
        self.ops.push(Op::UserTurn(UserInput { content: vec![ContentBlock::text(text)], attachments }));
        self.turn = Some(Turn { started: Some(Instant::now()), ..Turn::default() });
        self.scroll = 0;
    }

    fn run_command(&mut self, line: &str) {
        let (name, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let args = args.trim();
        let Some(command) = self.commands.find(name) else {
            self.push_cell(Cell::Error { message: format!("Unknown command /{name}. Type /help for the list.") });
            return;
        };
        match command.action {
            Action::Custom if self.is_running() => self.queued.push_back(format!("/{line}")),
            Action::Custom => self.send(&format!("/{line}")),
            Action::Help => {
                let lines = self.help_lines();
                self.push_cell(Cell::Info { lines });
            }
            Action::Clear => {
                self.ops.push(Op::Clear);
                self.cells.clear();
                self.context_tokens = 0;
                self.notice("New conversation");
            }
            Action::Exit => self.quit = true,
            Action::Model if args.is_empty() => {
                let lines = vec![
                    format!("Model: {}", self.model.id),
                    "Set it with /model <name>: an id, or opus, sonnet, haiku, fable.".to_owned(),
                ];
                self.push_cell(Cell::Info { lines });
            }
            Action::Model => {
                self.ops.push(Op::SetModel(args.to_owned()));
                self.notice(format!("Model set to {}", models::lookup(args).id));
            }
            Action::Cost => {
                let mut lines = vec![
                    format!("Total cost:            ${:.4}", self.cost_usd),
                    format!("Total duration (API):  {}", duration(self.api_time)),
                    format!("Total duration (wall): {}", duration(self.started.elapsed())),
                ];
                if !self.model_usage.is_empty() {
                    lines.push("Usage by model:".into());
                }
                for (model, usage) in &self.model_usage {
                    lines.push(format!(
                        "  {model}: {} input, {} output, {} cache read, {} cache write · ${:.4}",
                        thousands(usage.input_tokens),
                        thousands(usage.output_tokens),
                        thousands(usage.cache_read_input_tokens),
                        thousands(usage.cache_creation_input_tokens),
                        usage.cost_usd
                    ));
                }
                self.push_cell(Cell::Info { lines });
            }
            Action::Compact => {
                let instructions = Some(args.to_owned()).filter(|a| !a.is_empty());
                self.ops.push(Op::Compact(instructions));
                self.notice("Compacting the conversation…");
            }
            Action::Context => self.ops.push(Op::Query(Query::Context)),
            Action::Mcp => {
                let reconnect = args.strip_prefix("reconnect").map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
                self.ops.push(Op::Query(Query::Mcp { reconnect }));
            }
            Action::Memory => {
                let open = Some(args.to_owned()).filter(|a| !a.is_empty());
                self.ops.push(Op::Query(Query::Memory { open }));
            }
            Action::Resume if args.is_empty() => self.open_picker(),
            Action::Resume => self.ops.push(Op::Resume(args.to_owned())),
            Action::Rename if args.is_empty() => {
                self.push_cell(Cell::Error { message: "Give the session a title: /rename <title>".into() })
            }
            Action::Rename => {
                self.ops.push(Op::Rename(args.to_owned()));
                self.notice(format!("Session renamed to {args}"));
            }
            Action::Permissions => {
                let mut words = args.splitn(2, char::is_whitespace);
                let first = words.next().unwrap_or("");
                let query = match (first, words.next().map(str::trim), Purpose::parse(first)) {
                    ("", ..) => Query::Permissions,
                    ("remove", Some(rule), _) if !rule.is_empty() => Query::RemoveRule { rule: rule.to_owned() },
                    (_, Some(rule), Some(list)) if !rule.is_empty() => Query::AddRule { list, rule: rule.to_owned() },
                    _ => {
                        self.push_cell(Cell::Error {
                            message:
                                "Use /permissions, /permissions allow|ask|deny <rule> or /permissions remove <rule>"
                                    .into(),
                        });
                        return;
                    }
                };
                self.ops.push(Op::Query(query));
            }
            Action::Hooks => self.ops.push(Op::Query(Query::Hooks)),
            Action::Status => {
                let session = self.session.as_ref().map_or("(starting)".to_owned(), |s| s.session_id.clone());
                let lines = vec![
                    format!("Session:  {session}"),
                    format!(
                        "Title:    {}",
                        self.session.as_ref().and_then(|s| s.title.as_deref()).unwrap_or("(none: /rename sets one)")
                    ),
                    format!("Model:    {} (context window {} tokens)", self.model.id, self.model.context_window),
                    format!("Mode:     {}", self.mode.as_str()),
                    format!("Folder:   {}", self.cwd.display()),
                    format!("Branch:   {}", self.branch.as_deref().unwrap_or("(not a git repository)")),
                ];
                self.push_cell(Cell::Info { lines });
            }
        }
    }

    /// The status line command to run now and its input, when one is due and none runs.
    pub fn take_status_request(&mut self) -> Option<(String, Value)> {
        let command = self.status_command.clone()?;
        if !self.status_due || self.status_running {
            return None;
        }
        self.status_due = false;
        self.status_running = true;
        let session = self.session.as_ref();
        let session_id = session.map(|s| s.session_id.clone()).unwrap_or_default();
        let transcript = match (&self.store, session) {
            (Some(store), Some(s)) => store.path_for(&s.session_id).display().to_string(),
            _ => String::new(),
        };
        let input = serde_json::json!({
            "hook_event_name": "Status",
            "session_id": session_id,
            "transcript_path": transcript,
            "cwd": self.cwd,
            "model": { "id": self.model.id, "display_name": self.model.id },
            "workspace": { "current_dir": self.cwd, "project_dir": self.cwd },
            "version": env!("CARGO_PKG_VERSION"),
            "output_style": { "name": "default" },
            "permission_mode": self.mode.as_str(),
            "cost": {
                "total_cost_usd": self.cost_usd,
                "total_duration_ms": self.started.elapsed().as_millis() as u64,
                "total_api_duration_ms": self.api_time.as_millis() as u64,
            },
            "context_window": { "used_tokens": self.context_tokens, "size": self.model.context_window },
        });
        Some((command, input))
    }

    /// The status line command finished; run it again if the state changed meanwhile.
    pub fn status_line_done(&mut self, line: Option<String>) {
        self.status_running = false;
        if line.is_some() {
            self.status_text = line;
        }
    }

    /// Opens the session picker (`/resume`, `--resume` without an id).
    pub fn open_picker(&mut self) {
        match &self.store {
            Some(store) => self.picker = Some(SessionPicker::open(store)),
            None => self.push_cell(Cell::Error {
                message: "Sessions are not saved in this run (--no-session-persistence).".into(),
            }),
        }
    }

    /// A session read back from disk: its last cells go to the scrollback, all of them to
    /// the pager.
    fn restore(&mut self, messages: &[Message], total_cost_usd: f64) {
        let mut cells = replay::cells(messages);
        let hidden = cells.len().saturating_sub(RESTORED_SHOWN);
        self.cells.extend(cells.drain(..hidden));
        self.cost_usd = total_cost_usd;
        let title = self.session.as_ref().and_then(|s| s.title.clone()).or_else(|| {
            messages.iter().find(|m| m.role == Role::User && !m.typed_text().trim().is_empty()).map(Message::typed_text)
        });
        let id = self.session.as_ref().map(|s| s.session_id.chars().take(8).collect::<String>()).unwrap_or_default();
        let mut note = match title {
            Some(title) => format!("Resumed “{}” · session {id}", crate::session::list::one_line(&title)),
            None => format!("Resumed session {id}"),
        };
        if hidden > 0 {
            note.push_str(&format!(" · {hidden} earlier items in the transcript (Ctrl-T)"));
        }
        self.notice(note);
        for cell in cells {
            self.push_cell(cell);
        }
    }

    fn help_lines(&self) -> Vec<String> {
        let mut lines = vec!["Commands:".to_owned()];
        for command in self.commands.all() {
            let hint = command.argument_hint.as_deref().map(|h| format!(" {h}")).unwrap_or_default();
            lines.push(format!("  /{}{hint:<10}  {}", command.name, command.description));
        }
        lines.extend(
            [
                "Keys:",
                "  Enter send · Shift+Enter, Alt+Enter or \\ Enter new line · Up/Down history",
                "  Esc interrupt · Ctrl-C clear, twice quit · Ctrl-D quit · Shift+Tab permission mode",
                "  Ctrl-T transcript · @ attach a file · / commands",
            ]
            .map(str::to_owned),
        );
        lines
    }

    /// Opens, updates or closes the completion popup after the composer changed.
    fn update_popup(&mut self) {
        let text = self.composer.text();
        if text.starts_with('/') && !text.contains(char::is_whitespace) {
            let keep = match self.popup {
                Some(Popup::Commands { selected }) => selected,
                _ => 0,
            };
            let count = self.commands.matching(&text[1..]).len();
            self.popup = (count > 0).then(|| Popup::Commands { selected: keep.min(count.saturating_sub(1)) });
            return;
        }
        // `@` starts a file mention when it begins a word.
        let word_start = text.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        if text[word_start..].starts_with('@') {
            self.files.start(&self.cwd);
            let selected = match self.popup {
                Some(Popup::Files { selected, .. }) => selected,
                _ => 0,
            };
            self.popup = Some(Popup::Files { start: word_start, selected });
            return;
        }
        self.popup = None;
    }

    /// The popup's choices, for the view and for accepting one.
    pub fn popup_items(&self) -> Vec<(String, String)> {
        match &self.popup {
            Some(Popup::Commands { .. }) => self
                .commands
                .matching(self.composer.text().trim_start_matches('/'))
                .into_iter()
                .map(|c| (format!("/{}", c.name), c.description.clone()))
                .collect(),
            Some(Popup::Files { start, .. }) => {
                let query = &self.composer.text()[start + 1..];
                self.files.matches(query).into_iter().map(|f| (f, String::new())).collect()
            }
            None => Vec::new(),
        }
    }

    /// Keys the popup takes; `false` passes the key on to the composer.
    fn popup_key(&mut self, key: KeyEvent) -> bool {
        let items = self.popup_items();
        let count = items.len();
        let Some(popup) = self.popup.clone() else { return false };
        let selected = match popup {
            Popup::Commands { selected } | Popup::Files { selected, .. } => selected,
        };
        let moved = match key.code {
            KeyCode::Up => selected.checked_sub(1).unwrap_or(count.saturating_sub(1)),
            KeyCode::Down if selected + 1 >= count => 0,
            KeyCode::Down => selected + 1,
            KeyCode::Esc => {
                self.popup = None;
                return true;
            }
            KeyCode::Tab | KeyCode::Enter => {
                let Some((choice, _)) = items.get(selected).cloned() else {
                    self.popup = None;
                    return false;
                };
                self.popup = None;
                match popup {
                    Popup::Commands { .. } => {
                        self.composer.set_text(&choice);
                        if key.code == KeyCode::Enter {
                            let text = self.composer.take();
                            self.submit(&text);
                        }
                    }
                    Popup::Files { start, .. } => {
                        let text = format!("{}@{choice} ", &self.composer.text()[..start]);
                        self.composer.set_text(&text);
                    }
                }
                return true;
            }
            _ => return false,
        };
        self.popup = Some(match popup {
            Popup::Commands { .. } => Popup::Commands { selected: moved },
            Popup::Files { start, .. } => Popup::Files { start, selected: moved },
        });
        true
    }

    fn approval_key(&mut self, key: KeyEvent) {
        let Some(dialog) = &mut self.approval else { return };
        let typing = dialog.selected == 2;
        let decision = match key.code {
            KeyCode::Up | KeyCode::BackTab => {
                dialog.selected = dialog.selected.checked_sub(1).unwrap_or(2);
                None
            }
            KeyCode::Down | KeyCode::Tab => {
                dialog.selected = (dialog.selected + 1) % 3;
                None
            }
            KeyCode::Char('1') if !typing || dialog.feedback.is_empty() => Some(ApprovalDecision::Allow),
            KeyCode::Char('2') if !typing || dialog.feedback.is_empty() => Some(ApprovalDecision::AllowForSession),
            KeyCode::Esc => Some(ApprovalDecision::Deny { reason: None }),
            KeyCode::Enter => Some(match dialog.selected {
                0 => ApprovalDecision::Allow,
                1 => ApprovalDecision::AllowForSession,
                _ => {
                    ApprovalDecision::Deny { reason: Some(dialog.feedback.trim().to_owned()).filter(|f| !f.is_empty()) }
                }
            }),
            KeyCode::Backspace if typing => {
                dialog.feedback.pop();
                None
            }
            KeyCode::Char(c)
                if typing
                    && !key.modifiers.contains(KeyModifiers::CONTROL)
                    && !key.modifiers.contains(KeyModifiers::ALT) =>
            {
                dialog.feedback.push(c);
                None
            }
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.ops.push(Op::Interrupt);
                Some(ApprovalDecision::Deny { reason: None })
            }
            _ => None,
        };
        if let Some(decision) = decision
            && let Some(dialog) = self.approval.take()
        {
            let choice = match &decision {
                ApprovalDecision::Allow => "allowed".to_owned(),
                ApprovalDecision::AllowForSession => "allowed for this session".to_owned(),
                ApprovalDecision::Deny { reason: Some(r) } => format!("refused: {r}"),
                ApprovalDecision::Deny { reason: None } => "refused".to_owned(),
            };
            let header = super::cells::tool_header(&dialog.tool, &dialog.input, &self.cwd);
            self.notice(format!("{header} {choice}"));
            self.ops.push(Op::ApprovalAnswer { call_id: dialog.call_id, decision });
        }
    }

    pub fn on_event(&mut self, event: Event) {
        if matches!(
            event,
            Event::SessionStarted(_)
                | Event::SessionChanged(_)
                | Event::Usage { .. }
                | Event::TurnComplete(_)
                | Event::TurnAborted(_)
        ) {
            self.status_due = true;
        }
        match event {
            Event::SessionStarted(info) | Event::SessionChanged(info) => {
                self.commands.set_custom(&info.commands);
                self.mode = info.permission_mode;
                if info.model != self.model.id {
                    self.model = models::lookup(&info.model);
                }
                self.session = Some(info);
            }
            Event::Stream(stream) => self.on_stream(stream),
            Event::AssistantMessage(_) => {
                self.retry = None;
                if let Some(turn) = &mut self.turn {
                    turn.preparing = None;
                }
            }
            Event::ToolCallStarted { call_id, name, input } => {
                if let Some(turn) = &mut self.turn {
                    turn.preparing = None;
                    turn.tools.push(ToolCell {
                        call_id,
                        name,
                        input,
                        started: Instant::now(),
                        output: None,
                        progress: None,
                    });
                }
            }
            Event::ToolCallFinished { call_id, output, .. } => {
                if let Some(turn) = &mut self.turn
                    && let Some(tool) = turn.tools.iter_mut().find(|t| t.call_id == call_id)
                {
                    tool.output = Some(output);
                }
                self.commit_finished_tools();
            }
            Event::EditFile { path } => self.edit_requested = Some(path),
            Event::Task(task) => {
                if let Some(turn) = &mut self.turn
                    && let Some(tool) = turn.tools.iter_mut().find(|t| t.call_id == task.call_id)
                {
                    tool.progress = Some(Box::new(task));
                }
            }
            Event::ApprovalRequest { call_id, tool, input, preview } => {
                self.approval =
                    Some(ApprovalDialog { call_id, tool, input, preview, selected: 2, feedback: String::new() });
            }
            Event::Retrying { attempt, max_attempts, delay, error, .. } => {
                self.abandon_partial_answer();
                self.retry = Some(Retry { until: Instant::now() + delay, attempt, max_attempts, error });
            }
            Event::Usage { usage, total_cost_usd, .. } => {
                self.context_tokens = usage.context_tokens() + usage.output_tokens;
                self.cost_usd = total_cost_usd;
            }
            Event::TodosChanged { todos } => self.push_cell(Cell::Todos(todos)),
            Event::HistoryRestored { messages, total_cost_usd } => self.restore(&messages, total_cost_usd),
            Event::TurnComplete(outcome) => self.end_turn(&outcome, false),
            Event::TurnAborted(outcome) => self.end_turn(&outcome, true),
            Event::Error { message } => self.push_cell(Cell::Error { message }),
            Event::Notice { message } => self.notice(message),
            Event::Compacted { trigger, pre_tokens, post_tokens } => {
                self.context_tokens = post_tokens;
                let how = if trigger == CompactTrigger::Auto {
                    "The context was nearly full: compacted"
                } else {
                    "Compacted"
                };
                self.notice(format!(
                    "{how} the conversation ({} → {} tokens)",
                    thousands(pre_tokens),
                    thousands(post_tokens)
                ));
            }
            Event::Answer(answer) => self.push_cell(Cell::Info { lines: crate::ui::answer::lines(&answer) }),
        }
    }

    fn on_stream(&mut self, event: StreamEvent) {
        let width = usize::from(self.width);
        let theme = self.theme;
        let Some(turn) = &mut self.turn else { return };
        self.retry = None;
        let mut committed = Vec::new();
        let mut thinking_done = None;
        let mut answer = None;
        match event {
            StreamEvent::MessageStart { .. } => {}
            StreamEvent::BlockStart { index, block } => match block {
                BlockStart::Text => {
                    turn.markdown.clear();
                    turn.text = Some((index, MarkdownStream::new()));
                }
                BlockStart::Thinking | BlockStart::RedactedThinking { .. } => {
                    turn.thinking = Some((index, String::new()))
                }
                BlockStart::ToolUse { name, .. } => turn.preparing = Some(name),
            },
            StreamEvent::TextDelta { index, text } => {
                if let Some((i, stream)) = &mut turn.text
                    && *i == index
                {
                    turn.markdown.push_str(&text);
                    committed = stream.push(&text, width, theme);
                }
            }
            StreamEvent::ThinkingDelta { index, thinking } => {
                if let Some((i, text)) = &mut turn.thinking
                    && *i == index
                {
                    text.push_str(&thinking);
                }
            }
            StreamEvent::BlockStop { index } => {
                if let Some((i, _)) = &turn.text
                    && *i == index
                    && let Some((_, mut stream)) = turn.text.take()
                {
                    committed = stream.finish(width, theme);
                    answer = Some(std::mem::take(&mut turn.markdown));
                }
                if turn.thinking.as_ref().is_some_and(|(i, _)| *i == index) {
                    thinking_done = turn.thinking.take().map(|(_, text)| text);
                }
            }
            StreamEvent::SignatureDelta { .. }
            | StreamEvent::ToolInputDelta { .. }
            | StreamEvent::MessageDelta { .. }
            | StreamEvent::MessageStop => {}
        }
        if let Some(text) = thinking_done
            && !text.trim().is_empty()
        {
            self.push_cell(Cell::Thinking { text });
        }
        if !committed.is_empty() {
            let first = self.turn.as_ref().is_some_and(|t| !t.wrote_text);
            if first {
                self.separate();
                if let Some(turn) = &mut self.turn {
                    turn.wrote_text = true;
                }
            }
            self.commit_lines(committed);
        }
        if let Some(markdown) = answer.filter(|m| !m.trim().is_empty()) {
            // Its lines are already in the scrollback; the pager renders it again, whole.
            self.cells.push(Cell::Assistant { markdown });
        }
    }

    /// Tool cells finished in call order go to the scrollback.
    fn commit_finished_tools(&mut self) {
        loop {
            let done = match &mut self.turn {
                Some(turn) if turn.tools.first().is_some_and(|t| t.output.is_some()) => turn.tools.remove(0),
                _ => break,
            };
            self.push_cell(Cell::Tool(done));
            if let Some(turn) = &mut self.turn {
                turn.wrote_text = false;
            }
        }
    }

    /// A retry discards what streamed; lines already in the scrollback stay, with a note.
    fn abandon_partial_answer(&mut self) {
        let Some(turn) = &mut self.turn else { return };
        let had_text = turn.wrote_text || turn.text.is_some();
        turn.text = None;
        turn.thinking = None;
        turn.preparing = None;
        turn.markdown.clear();
        turn.wrote_text = false;
        if had_text {
            self.notice("The answer above was cut off; asking again");
        }
    }

    fn end_turn(&mut self, outcome: &TurnOutcome, aborted: bool) {
        self.retry = None;
        self.approval = None;
        if let Some(mut turn) = self.turn.take() {
            if let Some((_, mut stream)) = turn.text.take() {
                let rest = stream.finish(usize::from(self.width), self.theme);
                self.commit_lines(rest);
            }
            if !turn.markdown.is_empty() {
                self.cells.push(Cell::Assistant { markdown: std::mem::take(&mut turn.markdown) });
            }
            for tool in turn.tools.drain(..) {
                self.push_cell(Cell::Tool(tool));
            }
        }
        self.api_time += outcome.api_duration;
        self.cost_usd = outcome.total_cost_usd;
        self.model_usage.clone_from(&outcome.model_usage);
        match &outcome.status {
            TurnStatus::Success => {}
            TurnStatus::Interrupted if aborted => self.notice("Interrupted by the user"),
            TurnStatus::Interrupted => {}
            TurnStatus::MaxBudget { limit } => {
                self.push_cell(Cell::Error { message: format!("Stopped: the session reached its budget of ${limit}") })
            }
            TurnStatus::MaxTurns { limit } => {
                self.push_cell(Cell::Error { message: format!("Stopped after {limit} model requests (--max-turns)") })
            }
            TurnStatus::Failed(error) => self.push_cell(Cell::Error { message: error.message.clone() }),
            TurnStatus::HookStopped { reason } if reason.is_empty() => self.notice("Stopped by a hook"),
            TurnStatus::HookStopped { reason } => self.notice(format!("Stopped by a hook: {reason}")),
        }
        if let Some(next) = self.queued.pop_front() {
            self.send(&next);
        }
    }

    /// Drops transient hints whose time is up.
    pub fn tick(&mut self) {
        if self.hint.as_ref().is_some_and(|(_, at)| at.elapsed() > DOUBLE_PRESS) {
            self.hint = None;
        }
        if self.retry.as_ref().is_some_and(|r| Instant::now() > r.until + Duration::from_secs(30)) {
            self.retry = None;
        }
    }
}

/// `@path` words naming existing files, relative to `cwd`.
fn mentioned_files(text: &str, cwd: &Path) -> Vec<PathBuf> {
    text.split_whitespace()
        .filter_map(|word| word.strip_prefix('@'))
        .map(|path| path.trim_end_matches([',', '.', ';', ':', ')']))
        .filter(|path| !path.is_empty())
        .map(|path| cwd.join(path))
        .filter(|path| path.is_file())
        .collect()
}

/// `1h 2m 3.4s`, as `/cost` shows durations.
fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let (h, m, s) = ((secs / 3600.0) as u64, ((secs % 3600.0) / 60.0) as u64, secs % 60.0);
    match (h, m) {
        (0, 0) => format!("{s:.1}s"),
        (0, _) => format!("{m}m {s:.1}s"),
        _ => format!("{h}h {m}m {s:.1}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{TurnError, TurnErrorKind};
    use crate::tools::ToolOutput;
    use crate::ui::tui::wrap::plain;
    use serde_json::json;

    fn app_in(dir: &Path) -> App {
        let mut app = App::new(Theme::new(false), dir, models::lookup("claude-sonnet-5"), None);
        app.on_resize(80);
        app
    }

    fn app() -> App {
        app_in(Path::new("/work/project"))
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
    }

    fn outcome(status: TurnStatus) -> TurnOutcome {
        TurnOutcome {
            status,
            result: String::new(),
            stop_reason: None,
            num_turns: 1,
            duration: Duration::ZERO,
            api_duration: Duration::from_millis(5),
            usage: crate::cost::Usage::default(),
            total_cost_usd: 0.5,
            model_usage: Vec::new(),
            permission_denials: Vec::new(),
        }
    }

    fn committed(app: &mut App) -> Vec<String> {
        app.take_commit().iter().map(plain).collect()
    }

    #[test]
    fn enter_sends_and_typing_while_running_queues() {
        let mut app = app();
        type_text(&mut app, "fix it");
        app.on_key(key(KeyCode::Enter));
        let ops = app.take_ops();
        assert!(matches!(&ops[..], [Op::UserTurn(input)] if input.content == vec![ContentBlock::text("fix it")]));
        assert_eq!(committed(&mut app), ["> fix it"]);
        type_text(&mut app, "and test it");
        app.on_key(key(KeyCode::Enter));
        assert!(app.take_ops().is_empty(), "a message typed during a turn waits");
        assert_eq!(app.queued.len(), 1);
        app.on_event(Event::TurnComplete(outcome(TurnStatus::Success)));
        assert!(matches!(&app.take_ops()[..], [Op::UserTurn(_)]), "sent when the turn ends");
        assert!(app.queued.is_empty() && app.is_running());
    }

    #[test]
    fn esc_and_ctrl_c_interrupt_and_quit() {
        let mut app = app();
        app.on_key(key(KeyCode::Esc));
        assert!(app.take_ops().is_empty(), "nothing to interrupt");
        app.submit("work");
        app.take_ops();
        app.on_key(key(KeyCode::Esc));
        assert!(matches!(&app.take_ops()[..], [Op::Interrupt]));
        type_text(&mut app, "draft");
        app.on_key(ctrl('c'));
        assert!(app.composer.is_empty() && !app.quit, "the first Ctrl-C clears the input");
        app.on_key(ctrl('c'));
        assert!(matches!(&app.take_ops()[..], [Op::Interrupt]));
        assert!(app.hint.is_some() && !app.quit);
        app.on_key(ctrl('c'));
        assert!(app.quit, "a second Ctrl-C within 2 s quits");
        let mut app = self::app();
        type_text(&mut app, "x");
        app.on_key(ctrl('d'));
        assert!(!app.quit, "Ctrl-D quits only from an empty composer");
        app.on_key(ctrl('u'));
        app.on_key(ctrl('d'));
        assert!(app.quit);
    }

    #[test]
    fn shift_tab_cycles_the_permission_mode() {
        let mut app = app();
        let modes: Vec<PermissionMode> = (0..3)
            .map(|_| {
                app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
                app.mode
            })
            .collect();
        assert_eq!(modes, [PermissionMode::AcceptEdits, PermissionMode::Plan, PermissionMode::Default]);
        assert_eq!(app.take_ops().len(), 3);
    }

    #[test]
    fn slash_commands_complete_and_run() {
        let mut app = app();
        type_text(&mut app, "/he");
        assert_eq!(app.popup, Some(Popup::Commands { selected: 0 }));
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.composer.text(), "/help");
        app.on_key(key(KeyCode::Enter));
        let lines = committed(&mut app);
        assert!(lines.iter().any(|l| l.contains("/clear")), "{lines:?}");
        app.submit("/model opus");
        assert!(matches!(&app.take_ops()[..], [Op::SetModel(m)] if m == "opus"));
        app.submit("/clear");
        assert!(matches!(&app.take_ops()[..], [Op::Clear]));
        app.submit("/frobnicate");
        assert!(committed(&mut app).iter().any(|l| l.contains("Unknown command /frobnicate")));
        app.submit("/exit");
        assert!(app.quit);
    }

    #[test]
    fn a_hash_and_a_space_make_a_note_but_an_issue_number_is_a_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let mut app = app_in(dir.path());
        app.submit("# always run the linter");
        assert!(matches!(app.take_ops().as_slice(), [Op::Remember(note)] if note == "# always run the linter"));
        app.submit("#123 is broken, fix it");
        assert!(matches!(app.take_ops().as_slice(), [Op::UserTurn(_)]));
    }

    #[test]
    fn at_mentions_pick_files_and_attach_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
        let mut app = app_in(dir.path());
        type_text(&mut app, "look at @mai");
        assert!(matches!(app.popup, Some(Popup::Files { .. })));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !app.files.is_ready() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.composer.text(), "look at @src/main.rs ");
        app.on_key(key(KeyCode::Enter));
        let ops = app.take_ops();
        let Some(Op::UserTurn(input)) = ops.first() else { panic!("{ops:?}") };
        assert_eq!(input.attachments, [dir.path().join("src/main.rs")]);
    }

    #[test]
    fn the_approval_dialog_defaults_to_no_and_takes_feedback() {
        let request = |id: &str| Event::ApprovalRequest {
            call_id: id.into(),
            tool: "Bash".into(),
            input: json!({"command": "rm -rf build"}),
            preview: None,
        };
        let mut app = app();
        app.submit("go");
        app.take_ops();
        app.on_event(request("a"));
        app.on_key(key(KeyCode::Enter));
        assert!(matches!(
            &app.take_ops()[..],
            [Op::ApprovalAnswer { decision: ApprovalDecision::Deny { reason: None }, .. }]
        ));
        app.on_event(request("b"));
        app.on_key(key(KeyCode::Char('1')));
        assert!(matches!(&app.take_ops()[..], [Op::ApprovalAnswer { decision: ApprovalDecision::Allow, .. }]));
        app.on_event(request("c"));
        app.on_key(key(KeyCode::Up));
        app.on_key(key(KeyCode::Enter));
        assert!(matches!(
            &app.take_ops()[..],
            [Op::ApprovalAnswer { decision: ApprovalDecision::AllowForSession, .. }]
        ));
        app.on_event(request("d"));
        type_text(&mut app, "use git clean");
        app.on_key(key(KeyCode::Enter));
        let ops = app.take_ops();
        assert!(
            matches!(&ops[..], [Op::ApprovalAnswer { call_id, decision: ApprovalDecision::Deny { reason: Some(r) } }] if call_id == "d" && r == "use git clean"),
            "{ops:?}"
        );
    }

    #[test]
    fn tools_reach_the_scrollback_in_call_order_and_errors_in_red() {
        let mut app = app();
        app.submit("go");
        committed(&mut app);
        for id in ["a", "b"] {
            app.on_event(Event::ToolCallStarted {
                call_id: id.into(),
                name: "Bash".into(),
                input: json!({"command": id}),
            });
        }
        app.on_event(Event::ToolCallFinished {
            call_id: "b".into(),
            name: "Bash".into(),
            output: ToolOutput::text("B"),
        });
        assert!(committed(&mut app).is_empty(), "b waits for a");
        app.on_event(Event::ToolCallFinished {
            call_id: "a".into(),
            name: "Bash".into(),
            output: ToolOutput::text("A"),
        });
        let lines = committed(&mut app);
        let a = lines.iter().position(|l| l.contains("Bash(a)")).unwrap();
        let b = lines.iter().position(|l| l.contains("Bash(b)")).unwrap();
        assert!(a < b, "{lines:?}");
        let error = TurnError {
            kind: TurnErrorKind::Authentication,
            status: Some(401),
            message: "API Error: 401 bad key".into(),
        };
        app.on_event(Event::TurnComplete(outcome(TurnStatus::Failed(error))));
        assert!(committed(&mut app).iter().any(|l| l == "✗ API Error: 401 bad key"));
        assert!(!app.is_running());
        assert!((app.cost_usd - 0.5).abs() < f64::EPSILON);
    }

    #[test]
    fn a_retry_shows_a_countdown_until_the_stream_resumes() {
        let mut app = app();
        app.submit("go");
        app.on_event(Event::Retrying {
            attempt: 2,
            max_attempts: 8,
            delay: Duration::from_secs(4),
            error: "API Error: 529 Overloaded".into(),
            status: Some(529),
        });
        assert!(app.retry.is_some());
        app.on_event(Event::Stream(StreamEvent::MessageStart {
            id: "m".into(),
            model: "x".into(),
            usage: Default::default(),
        }));
        assert!(app.retry.is_none());
    }
}
