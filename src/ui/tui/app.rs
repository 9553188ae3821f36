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
use super::commands::Commands;
use super::composer::{Composer, Edit};
use super::files::FileIndex;
use super::history::PromptHistory;
use super::markdown::MarkdownStream;
use super::picker::{Picked, SessionPicker};
use super::theme::Theme;
use crate::conversation::history::ContentBlock;
use crate::permissions::PermissionMode;
use crate::protocol::{Event, Op, SessionInfo, UserInput};
use crate::provider::models::ModelInfo;
use crate::session::Store;
pub use question::{Question, QuestionDialog};

mod events;
mod popups;
mod question;
mod rewind;
mod slash;

/// Cells of a resumed session written to the scrollback; the rest are in the pager.
const RESTORED_SHOWN: usize = 40;
/// Two Ctrl-C within this quit.
const DOUBLE_PRESS: Duration = Duration::from_secs(2);
/// A draft unchanged this long is one the user paused on (`speculateDrafts`).
const DRAFT_PAUSE: Duration = Duration::from_millis(1500);

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
    /// Background agents at work, as their last progress said (the panel of workers).
    pub workers: Vec<crate::protocol::TaskUpdate>,
    /// Questions waiting behind the one shown (workers ask while others wait).
    pub approvals_waiting: VecDeque<ApprovalDialog>,
    /// The model's questions waiting for answers (AskUserQuestion).
    pub question: Option<QuestionDialog>,
    pub popup: Option<Popup>,
    pub retry: Option<Retry>,
    pub context_tokens: u64,
    pub cost_usd: f64,
    pub api_time: Duration,
    pub started: Instant,
    ctrl_c_at: Option<Instant>,
    /// When Esc was last pressed on an empty input (Esc Esc opens `/rewind`).
    esc_at: Option<Instant>,
    /// The points `/rewind` listed last, by number.
    rewind_points: Vec<crate::protocol::RewindPoint>,
    /// The points asked for are for the picker.
    rewind_picker: bool,
    /// `/compact` is running: Esc interrupts it.
    compacting: bool,
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
    /// The suggested next prompt: ghost text in an empty composer, taken with Tab.
    pub suggestion: Option<String>,
    /// When the draft last changed (for a pause the core may work ahead on), and the draft
    /// it was told of.
    draft_changed: Option<Instant>,
    draft_sent: Option<String>,
    /// What suggestions and work done ahead cost, for `/cost`.
    ahead_costs: AheadCosts,
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

/// What suggestions and speculation cost, for `/cost`.
#[derive(Debug, Default)]
struct AheadCosts {
    suggestions: u32,
    suggestions_usd: f64,
    adopted: u32,
    adopted_usd: f64,
    wasted: u32,
    wasted_usd: f64,
    wasted_tokens: u64,
}

pub struct ApprovalDialog {
    pub call_id: String,
    pub tool: String,
    pub input: Value,
    pub preview: Option<String>,
    /// The worker that asks (`None`: the main agent).
    pub from: Option<String>,
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
            approvals_waiting: VecDeque::new(),
            workers: Vec::new(),
            question: None,
            popup: None,
            retry: None,
            context_tokens: 0,
            cost_usd: 0.0,
            api_time: Duration::ZERO,
            started: Instant::now(),
            ctrl_c_at: None,
            esc_at: None,
            rewind_points: Vec::new(),
            rewind_picker: false,
            compacting: false,
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
            suggestion: None,
            draft_changed: None,
            draft_sent: None,
            ahead_costs: AheadCosts::default(),
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
        if let Some(dialog) = &mut self.question {
            dialog.own_words.push_str(&text.replace('\n', " "));
            dialog.selected = dialog.own_line();
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
        if self.question.is_some() {
            self.question_key(key);
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
                if self.is_running() || std::mem::take(&mut self.compacting) {
                    self.ops.push(Op::Interrupt);
                } else if !self.queued.is_empty() {
                    self.queued.clear();
                } else if self.composer.is_empty() {
                    // Two Escs close together can arrive as one with Alt.
                    let double = key.modifiers.contains(crossterm::event::KeyModifiers::ALT);
                    if double || self.esc_at.take().is_some_and(|at| at.elapsed() < DOUBLE_PRESS) {
                        self.rewind("");
                    } else {
                        self.esc_at = Some(Instant::now());
                    }
                }
            }
            KeyCode::Char('c') if ctrl => self.ctrl_c(),
            KeyCode::Char('d') if ctrl => {
                if self.composer.is_empty() {
                    self.quit = true;
                }
            }
            KeyCode::Char('t') if ctrl => self.pager_requested = true,
            KeyCode::Char('b') if ctrl && self.running_agent() => {
                self.ops.push(Op::Background);
                self.notice("Moved what was running to the background (/tasks lists it).");
            }
            KeyCode::BackTab => self.cycle_mode(),
            KeyCode::Tab if self.composer.is_empty() && self.suggestion.is_some() => {
                if let Some(text) = &self.suggestion {
                    self.composer.set_text(text);
                }
            }
            KeyCode::PageUp => self.scroll = self.scroll.saturating_add(10),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
            _ => match self.composer.handle_key(key) {
                Edit::Submit(text) => {
                    self.suggestion = None;
                    self.draft_changed = None;
                    self.draft_sent = None;
                    self.submit(&text);
                }
                Edit::Changed => {
                    self.typed_over_suggestion();
                    self.update_popup();
                }
                Edit::Ignored => {}
            },
        }
    }

    /// The user typed something other than the suggestion: it goes, and the work ahead
    /// on it stops.
    fn typed_over_suggestion(&mut self) {
        if self.suggestion.as_ref().is_some_and(|s| !s.starts_with(self.composer.text())) {
            self.suggestion = None;
            self.ops.push(Op::DropSuggestion);
        }
        // A cursor move is not a change of the draft.
        if self.draft_sent.as_deref().is_some_and(|sent| sent == self.composer.text().trim()) {
            return;
        }
        self.drop_draft();
        self.draft_changed = Some(Instant::now());
    }

    /// The draft the core was told of changed or went: the work ahead on it stops (an
    /// empty draft says so, and means nothing when drafts are not worked on).
    fn drop_draft(&mut self) {
        if self.draft_sent.take().is_some() {
            self.ops.push(Op::SpeculateDraft(String::new()));
        }
    }

    /// When a paused draft is due to be told to the core (`None`: none is waiting).
    pub fn draft_due(&self) -> Option<Instant> {
        self.draft_changed.map(|at| at + DRAFT_PAUSE)
    }

    /// A draft the user paused on goes to the core, which may work ahead on it.
    fn paused_on_draft(&mut self) {
        if self.draft_changed.is_none_or(|at| at.elapsed() < DRAFT_PAUSE) {
            return;
        }
        self.draft_changed = None;
        let text = self.composer.text().trim().to_owned();
        let plain = !text.is_empty() && !text.starts_with(['/', '#', '!']) && !text.contains('@');
        if plain && !self.is_running() && self.suggestion.is_none() {
            self.ops.push(Op::SpeculateDraft(text.clone()));
            self.draft_sent = Some(text);
        }
    }

    /// A suggested next prompt came (shown while the composer is empty), or the work done
    /// ahead on one ended: adopted or wasted, for `/cost`.
    fn ahead(&mut self, event: Event) {
        let costs = &mut self.ahead_costs;
        match event {
            Event::PromptSuggestion { text, cost_usd } => {
                costs.suggestions += 1;
                costs.suggestions_usd += cost_usd;
                if self.composer.is_empty() && !self.is_running() {
                    self.suggestion = Some(text);
                }
            }
            Event::SpeculationEnded { adopted: true, cost_usd, .. } => {
                costs.adopted += 1;
                costs.adopted_usd += cost_usd;
            }
            Event::SpeculationEnded { cost_usd, tokens, .. } if cost_usd > 0.0 || tokens > 0 => {
                costs.wasted += 1;
                costs.wasted_usd += cost_usd;
                costs.wasted_tokens += tokens;
            }
            _ => {}
        }
    }

    /// Whether a sub-agent or a command runs in the foreground (a Task or Bash call not
    /// finished), which Ctrl-B can move to the background.
    fn running_agent(&self) -> bool {
        let movable = |tool: &crate::ui::tui::cells::ToolCell| {
            matches!(tool.name.as_str(), "Task" | "Agent" | "Bash") && tool.output.is_none()
        };
        self.turn.as_ref().is_some_and(|t| t.tools.iter().any(movable))
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
            self.drop_draft();
            self.draft_changed = None;
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
        self.ops.push(Op::UserTurn(UserInput { content: vec![ContentBlock::text(text)], attachments, id: None }));
        self.turn = Some(Turn { started: Some(Instant::now()), ..Turn::default() });
        self.scroll = 0;
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

    /// Drops transient hints whose time is up.
    pub fn tick(&mut self) {
        self.paused_on_draft();
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
mod tests;
