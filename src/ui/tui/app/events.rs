//! What the core says, applied to the TUI's state: the stream as it arrives (text, thinking,
//! tool input), finished tools committed to the scrollback in call order, a turn's end, a
//! resumed session's history, and everything else the core reports.

use std::time::Instant;

use serde_json::Value;

use super::{App, ApprovalDialog, QuestionDialog, RESTORED_SHOWN, Retry};
use crate::agent::context::thousands;
use crate::conversation::history::{Message, Role};
use crate::protocol::{ApprovalDecision, CompactTrigger, Event, Op, TurnOutcome, TurnStatus};
use crate::provider::models;
use crate::provider::{BlockStart, StreamEvent};
use crate::ui::tui::cells::{Cell, ToolCell};
use crate::ui::tui::markdown::MarkdownStream;
use crate::ui::tui::replay;

impl App {
    /// A session read back from disk: its last cells go to the scrollback, all of them to
    /// the pager.
    pub(super) fn restore(&mut self, messages: &[Message], total_cost_usd: f64) {
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
            Event::Task(task) => self.on_task(task),
            Event::BackgroundReported { count } => self.woken(count),
            event @ (Event::PromptSuggestion { .. } | Event::SpeculationEnded { .. }) => self.ahead(event),
            Event::ApprovalRequest { call_id, tool, input, preview, from } => {
                self.on_approval_request(call_id, tool, input, preview, from);
            }
            Event::HookRan { .. } | Event::Subagent { .. } => {}
            Event::HostRequest { id, .. } => {
                self.ops.push(Op::HostAnswer { id, answer: Err("the terminal UI has no host program to ask".into()) });
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
            Event::Error { message } => self.problem(message),
            Event::Notice { message } => self.told(message),
            Event::Compacted { trigger, pre_tokens, post_tokens } => {
                self.compacting = false;
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
            Event::Answer(crate::protocol::Answer::RewindPoints(points)) => self.show_rewind_points(points),
            Event::Answer(crate::protocol::Answer::AgentTranscript { title, messages }) => {
                self.notice(title);
                for cell in crate::ui::tui::replay::cells(&messages) {
                    self.push_cell(cell);
                }
            }
            Event::Answer(answer) => self.push_cell(Cell::Info { lines: crate::ui::answer::lines(&answer) }),
            Event::Rewound { prompt, files, conflicts, .. } => self.rewound(prompt, &files, &conflicts),
            Event::FilesChanged { files } => self.files_changed(files.len()),
        }
    }

    pub(super) fn on_stream(&mut self, event: StreamEvent) {
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
    pub(super) fn commit_finished_tools(&mut self) {
        loop {
            let done = match &mut self.turn {
                Some(turn) if turn.tools.first().is_some_and(|t| t.output.is_some()) => turn.tools.remove(0),
                _ => break,
            };
            self.push_cell(Cell::Tool(Box::new(done)));
            if let Some(turn) = &mut self.turn {
                turn.wrote_text = false;
            }
        }
    }

    /// A retry discards what streamed; lines already in the scrollback stay, with a note.
    pub(super) fn abandon_partial_answer(&mut self) {
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

    /// A question for the user: the model's questions, a plan to approve, or a call to allow.
    fn on_approval_request(
        &mut self,
        call_id: String,
        tool: String,
        input: Value,
        preview: Option<String>,
        from: Option<String>,
    ) {
        if tool == "AskUserQuestion" {
            self.question = QuestionDialog::new(call_id.clone(), input);
            if self.question.is_none() {
                let reason = Some("The questions could not be shown.".to_owned());
                self.ops.push(Op::ApprovalAnswer { call_id, decision: ApprovalDecision::Deny { reason } });
            }
            return;
        }
        if tool == "ExitPlanMode" {
            // The whole plan goes to the transcript, to read before answering.
            let plan = input["plan"].as_str().unwrap_or_default();
            self.push_cell(Cell::Assistant { markdown: format!("**The plan**\n\n{plan}") });
        }
        let dialog = ApprovalDialog { call_id, tool, input, preview, from, selected: 2, feedback: String::new() };
        if self.approval.is_some() {
            self.approvals_waiting.push_back(dialog);
        } else {
            self.approval = Some(dialog);
        }
    }

    /// A sub-agent's progress: under its Task call, or in the panel of background workers.
    fn on_task(&mut self, task: crate::protocol::TaskUpdate) {
        if task.name.is_some() {
            self.on_worker(task);
        } else if let Some(turn) = &mut self.turn
            && let Some(tool) = turn.tools.iter_mut().find(|t| t.call_id == task.call_id)
        {
            tool.progress = Some(Box::new(task));
        }
    }

    /// Workers reported to an idle coordinator: it takes a turn of its own.
    fn woken(&mut self, count: usize) {
        let reports = if count == 1 { "A background agent reported" } else { "Background agents reported" };
        self.notice(format!("⚑ {reports}; cairn goes on with the news."));
        if self.turn.is_none() {
            self.turn = Some(super::Turn { started: Some(Instant::now()), ..super::Turn::default() });
        }
    }

    /// A background agent's progress: the panel of workers shows it while it works; how it
    /// ended goes to the transcript.
    fn on_worker(&mut self, task: crate::protocol::TaskUpdate) {
        use crate::protocol::TaskState;
        self.workers.retain(|w| w.agent_id != task.agent_id);
        match task.state {
            TaskState::Started | TaskState::Running => self.workers.push(task),
            state => {
                let name = task.name.clone().unwrap_or_default();
                let how = match state {
                    TaskState::Completed => "finished",
                    TaskState::Failed => "failed",
                    _ => "was stopped",
                };
                let summary = task.summary.as_deref().and_then(|s| s.lines().next()).unwrap_or_default();
                self.notice(format!("⚙ {name} ({}) {how}: {summary}", task.description));
            }
        }
    }

    pub(super) fn end_turn(&mut self, outcome: &TurnOutcome, aborted: bool) {
        self.retry = None;
        // A worker in the background may still be asking; the turn's own questions are over.
        if aborted {
            self.approvals_waiting.clear();
        }
        self.approvals_waiting.retain(|d| d.from.is_some());
        self.approval = self.approval.take().filter(|d| d.from.is_some() && !aborted);
        if self.approval.is_none() {
            self.approval = self.approvals_waiting.pop_front();
        }
        self.question = None;
        if let Some(mut turn) = self.turn.take() {
            if let Some((_, mut stream)) = turn.text.take() {
                let rest = stream.finish(usize::from(self.width), self.theme);
                self.commit_lines(rest);
            }
            if !turn.markdown.is_empty() {
                self.cells.push(Cell::Assistant { markdown: std::mem::take(&mut turn.markdown) });
            }
            for tool in turn.tools.drain(..) {
                self.push_cell(Cell::Tool(Box::new(tool)));
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
            TurnStatus::StructuredOutputMissing => self.push_cell(Cell::Error {
                message: "The model did not give its answer in the requested structure".into(),
            }),
            TurnStatus::HookStopped { reason } if reason.is_empty() => self.notice("Stopped by a hook"),
            TurnStatus::HookStopped { reason } => self.notice(format!("Stopped by a hook: {reason}")),
        }
        if let Some(next) = self.queued.pop_front() {
            self.send(&next);
        }
    }
}
