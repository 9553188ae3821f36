//! Keeping a long session inside the context window.
//!
//! Before each request (between tool rounds too) the context is estimated (`context`). Past
//! the threshold (80 % of the window by default) two things happen, cheapest first:
//! micro-compaction replaces the output of old tool calls (all but the newest few, the long
//! ones only) with a line saying what the call was; if that is not enough, the conversation
//! is compacted: PreCompact hooks run, the same model — same system prompt, same tools, so
//! the cache holds — writes a structured summary, and the history becomes one message: the
//! original request, the summary, the memory files read again, the user's latest messages,
//! the todo list and the files read lately. The transcript gets a compact boundary.
//!
//! It cannot loop: a summary request that is itself too long leaves out the oldest part of
//! the history and tries again, three times at most, then says what the user can do; a
//! compaction that freed too little is not repeated at the next request. A prompt-too-long
//! error from the API compacts once and retries the request once.

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::Session;
use super::context::{self, estimate_bytes};
pub use crate::config::CompactionConfig;
use crate::conversation::history::{self, ContentBlock, Message, Role, ToolResultContent};
use crate::hooks::{HookEvent, context_block};
use crate::memory;
use crate::protocol::{Event, EventSink};
use crate::provider::retry::{SampleError, Unobserved, sample};
use crate::provider::{ProviderError, Request};
use crate::session::Record;

/// Tool results micro-compaction never touches: the newest ones.
const KEEP_RECENT_RESULTS: usize = 5;
/// Results shorter than this are left alone.
const MIN_CLEARED_CHARS: usize = 2_000;
/// Attempts at a summary request that is itself too long.
const MAX_ATTEMPTS: usize = 3;
/// The user's recent messages kept verbatim after compaction, in tokens.
const RECENT_MESSAGES_BUDGET: u64 = 8_000;
/// Output allowed for the summary.
const SUMMARY_MAX_TOKENS: u32 = 16_000;
/// A compaction that leaves the context above this share of the threshold freed too little.
const FREED_TOO_LITTLE_PCT: u64 = 90;

pub use crate::protocol::CompactTrigger as Trigger;

/// What a compaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compacted {
    pub trigger: Trigger,
    pub pre_tokens: u64,
    pub post_tokens: u64,
}

#[derive(Debug)]
pub enum CompactError {
    /// The summary request did not fit, even shortened.
    TooLong(String),
    /// A PreCompact hook said no.
    Blocked(String),
    Cancelled,
    Failed(ProviderError),
    /// The model gave no summary.
    Empty,
}

impl CompactError {
    pub fn message(&self) -> String {
        match self {
            CompactError::TooLong(m) | CompactError::Blocked(m) => m.clone(),
            CompactError::Cancelled => "Compaction was interrupted.".into(),
            CompactError::Failed(e) => format!("Compaction failed: {e}"),
            CompactError::Empty => "Compaction failed: the model wrote no summary.".into(),
        }
    }
}

/// What the summary must hold, and how to write it.
const INSTRUCTION: &str = "\
Summarize this conversation so far, so that the work can go on from the summary alone: the \
earlier messages will be replaced by it. Do not call any tool; answer with text only.

Write these sections:
1. Task and intent: what the user asked for, in their words where they matter, and every \
change of mind since.
2. Key decisions and technical context: approaches chosen and rejected, and why.
3. Files: each file read, created or changed, what it is for, and the important details \
(function names, signatures, snippets that matter).
4. Errors and fixes: what went wrong and how it was fixed; what the user said about it.
5. Pending work: what is left to do.
6. Current step: exactly what was being done last, and the next step.

Put the summary between <summary> and </summary>.";

/// Replaces the output of old tool calls, long ones only, with a line saying what the call
/// was; the newest results are never touched. Returns the bytes freed.
pub fn micro_compact(history: &mut [Message]) -> usize {
    let calls: std::collections::HashMap<String, String> = history
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|b| match b {
            ContentBlock::ToolUse { id, name, input } => Some((id.clone(), describe_call(name, input))),
            _ => None,
        })
        .collect();
    let positions: Vec<(usize, usize)> = history
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            m.content
                .iter()
                .enumerate()
                .filter(|(_, b)| matches!(b, ContentBlock::ToolResult { .. }))
                .map(move |(j, _)| (i, j))
        })
        .collect();
    let old = positions.len().saturating_sub(KEEP_RECENT_RESULTS);
    let mut freed = 0;
    for &(i, j) in &positions[..old] {
        let ContentBlock::ToolResult { tool_use_id, content, .. } = &mut history[i].content[j] else { continue };
        let size: usize = content
            .iter()
            .map(|c| match c {
                ToolResultContent::Text { text } => text.len(),
                ToolResultContent::Image { source } => source.data.len(),
            })
            .sum();
        if size < MIN_CLEARED_CHARS {
            continue;
        }
        let call = calls.get(tool_use_id.as_str()).cloned().unwrap_or_else(|| "a tool call".into());
        let note = format!(
            "[The output of {call} ({} characters) was cleared to save context. Run the call again if you need it.]",
            context::thousands(size as u64)
        );
        freed += size.saturating_sub(note.len());
        *content = vec![ToolResultContent::Text { text: note }];
    }
    freed
}

/// `Read src/main.rs`, `Bash(cargo test)`: what a call was, in a few words.
fn describe_call(name: &str, input: &Value) -> String {
    let field = ["command", "file_path", "path", "pattern", "url"]
        .into_iter()
        .find_map(|f| input.get(f).and_then(Value::as_str));
    match field {
        Some(text) => {
            let short: String = text.chars().take(80).collect();
            format!("{name}({short})")
        }
        None => name.to_owned(),
    }
}

impl Session {
    /// The tokens the next request will use.
    pub(super) fn context_estimate(&self) -> u64 {
        self.meter.estimate(&self.context.system_prompt, self.context.tools.specs(), &self.history)
    }

    /// The context window in force.
    pub(super) fn window(&self) -> u64 {
        self.services.compaction.window.unwrap_or(self.context.model.context_window)
    }

    pub(super) fn compact_threshold(&self) -> u64 {
        let at = self.window() * self.services.compaction.threshold_pct / 100;
        self.services.compaction.at_tokens.map_or(at, |tokens| at.min(tokens))
    }

    /// Before a request: micro-compaction, then compaction, when the context has passed the
    /// threshold. `Err` ends the turn.
    pub(super) async fn keep_within_window(
        &mut self,
        cancel: &CancellationToken,
        events: &EventSink,
    ) -> Result<(), CompactError> {
        let threshold = self.compact_threshold();
        if self.context_estimate() < threshold {
            return Ok(());
        }
        if micro_compact(&mut self.history) > 0 {
            self.meter.reset();
            if self.context_estimate() < threshold {
                return Ok(());
            }
        }
        if !self.services.compaction.auto {
            return Ok(());
        }
        if std::mem::take(&mut self.freed_too_little) {
            return Ok(());
        }
        self.compact(Trigger::Auto, None, cancel, events).await.map(|_| ())
    }

    /// Summarizes the conversation and starts the history again from the summary.
    pub(super) async fn compact(
        &mut self,
        trigger: Trigger,
        instructions: Option<String>,
        cancel: &CancellationToken,
        events: &EventSink,
    ) -> Result<Compacted, CompactError> {
        let pre_tokens = self.context_estimate();
        let custom = instructions.clone().unwrap_or_default();
        let fields = json!({ "trigger": trigger.as_str(), "custom_instructions": custom });
        let hooked = self.run_hooks(HookEvent::PreCompact, trigger.as_str(), fields, None, events).await;
        if hooked.blocked() {
            return Err(CompactError::Blocked(format!(
                "A PreCompact hook refused to compact: {}",
                hooked.block_reason()
            )));
        }
        let memory = self.context.memory.load();
        let mut guidance: Vec<String> = memory::compact_instructions(&memory);
        guidance.extend(instructions.into_iter().filter(|i| !i.trim().is_empty()));
        let summary = self.summarize(&guidance, cancel, events).await?;

        let message = self.rebuilt(&summary, &memory, events).await;
        let post_tokens = context::estimate_messages(std::slice::from_ref(&message))
            + estimate_bytes(self.context.system_prompt.len())
            + context::estimate_tools(self.context.tools.specs());
        self.record(Record::CompactBoundary { trigger: trigger.as_str(), pre_tokens, post_tokens });
        self.record(Record::CompactSummary { content: message.content.clone() });
        self.history = vec![message];
        // The skills the model may invoke are told again with the next prompt, and
        // sub-folders' memory files when they are touched again.
        self.listing_sent = None;
        self.forget_nested_memory();
        self.meter.reset();
        self.freed_too_little = post_tokens * 100 >= self.compact_threshold() * FREED_TOO_LITTLE_PCT;
        let fields = json!({ "trigger": trigger.as_str(), "compact_summary": summary });
        self.run_hooks(HookEvent::PostCompact, trigger.as_str(), fields, None, events).await;
        let compacted = Compacted { trigger, pre_tokens, post_tokens };
        events.emit(Event::Compacted { trigger, pre_tokens, post_tokens });
        self.sync(events).await;
        Ok(compacted)
    }

    /// Asks the model for the summary; leaves out the oldest part of the history when even
    /// that request is too long.
    async fn summarize(
        &mut self,
        guidance: &[String],
        cancel: &CancellationToken,
        events: &EventSink,
    ) -> Result<String, CompactError> {
        let mut instruction = INSTRUCTION.to_owned();
        for extra in guidance {
            instruction.push_str(&format!("\n\nThe user's instructions for this summary:\n{extra}"));
        }
        let mut messages = self.history.clone();
        // The summary never needs the old tool output in full.
        micro_compact(&mut messages);
        let mut api_said = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let mut request_messages = messages.clone();
            request_messages.push(Message::user_text(instruction.clone()));
            history::repair(&mut request_messages);
            let (context, services) = (&self.context, &self.services);
            let max_tokens = SUMMARY_MAX_TOKENS.min(context.model.max_output_tokens);
            let request = Request {
                model: &context.model.id,
                system: &context.system_prompt,
                messages: &request_messages,
                tools: context.tools.specs(),
                max_tokens,
                session_id: &self.session_id,
                // As the turns think: thinking settings are part of the cached prefix.
                // (Half the output at most for a thinking budget: the summary needs the rest.)
                reasoning: context.reasoning(false, max_tokens / 2),
            };
            // The summary's own stream is not shown.
            match sample(services.provider.as_ref(), &request, &services.retry, cancel, &Unobserved).await {
                Ok(response) => {
                    self.record_cost(&response.usage);
                    events.emit(Event::Usage {
                        usage: response.usage,
                        total: self.costs.total,
                        total_cost_usd: self.costs.total_cost_usd,
                    });
                    let text = history::text_of(&response.content);
                    let summary = extract_summary(&text);
                    if summary.trim().is_empty() {
                        return Err(CompactError::Empty);
                    }
                    return Ok(summary);
                }
                Err(SampleError::Cancelled) => return Err(CompactError::Cancelled),
                Err(SampleError::Failed { error: error @ ProviderError::ContextTooLong { .. }, .. }) => {
                    api_said = error.to_string();
                    if attempt >= MAX_ATTEMPTS {
                        break;
                    }
                    drop_oldest(&mut messages);
                }
                Err(SampleError::Failed { error, .. }) => return Err(CompactError::Failed(error)),
            }
        }
        Err(CompactError::TooLong(format!(
            "The conversation could not be compacted: even without its oldest part it does not fit in {}'s \
             context window ({} tokens), after {MAX_ATTEMPTS} attempts. Use /clear to start a new conversation, \
             break the task into smaller steps, or switch to a model with a larger window (/model). The API said: {api_said}",
            self.context.model.id,
            context::thousands(self.window())
        )))
    }

    /// The one message the history starts again from.
    async fn rebuilt(&mut self, summary: &str, memory: &[memory::MemoryFile], events: &EventSink) -> Message {
        let transcript = self.transcript.as_ref().map(|t| t.path().display().to_string());
        let mut opening = String::from(
            "This session continues an earlier conversation that was compacted to fit the context window.",
        );
        if let Some(path) = &transcript {
            opening.push_str(&format!(" The full transcript is in {path}."));
        }
        if let Some(first) = &self.first_prompt {
            opening.push_str(&format!("\n\nThe session began with this request from the user:\n{first}"));
        }
        opening.push_str(&format!("\n\nSummary of the conversation so far:\n{summary}"));
        let mut content = vec![ContentBlock::text(opening)];
        if !memory.is_empty() {
            content.push(ContentBlock::text(context_block(&memory::render(memory))));
        }
        let recent = recent_prompts(&self.history);
        if !recent.is_empty() {
            let list: Vec<String> = recent.iter().map(|p| format!("- {p}")).collect();
            content.push(ContentBlock::text(format!("The user's latest messages, oldest first:\n{}", list.join("\n"))));
        }
        let todos = self.tools.todos();
        if !todos.is_empty() {
            let list: Vec<String> = todos
                .iter()
                .map(|t| {
                    format!(
                        "- [{}] {}",
                        serde_json::to_value(t.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        t.content
                    )
                })
                .collect();
            content.push(ContentBlock::text(format!("The todo list:\n{}", list.join("\n"))));
        }
        let files = self.tools.recently_touched(5);
        if !files.is_empty() {
            let list: Vec<String> = files.iter().map(|f| format!("- {}", f.display())).collect();
            content.push(ContentBlock::text(format!(
                "Files read or changed lately (read them again before changing them):\n{}",
                list.join("\n")
            )));
        }
        let fields = json!({ "source": "compact", "model": self.context.model.id });
        let hooked = self.run_hooks(HookEvent::SessionStart, "compact", fields, None, events).await;
        content.extend(hooked.context.iter().map(|c| ContentBlock::text(context_block(c))));
        content.push(ContentBlock::text("Continue the work from where the conversation left off."));
        Message { role: Role::User, content }
    }
}

/// The text between `<summary>` tags, or all of it.
fn extract_summary(text: &str) -> String {
    match (text.find("<summary>"), text.rfind("</summary>")) {
        (Some(start), Some(end)) if end > start => text[start + "<summary>".len()..end].trim().to_owned(),
        _ => text.trim().to_owned(),
    }
}

/// The user's typed messages, newest last, up to a budget.
fn recent_prompts(history: &[Message]) -> Vec<String> {
    let mut out = Vec::new();
    let mut used = 0;
    for message in history.iter().rev().filter(|m| m.role == Role::User) {
        let text = message.typed_text();
        let text = text.trim();
        if text.is_empty()
            || text.starts_with('[')
            || text.starts_with("Stop hook feedback")
            || text.starts_with("This session continues")
        {
            continue;
        }
        let tokens = estimate_bytes(text.len());
        if used + tokens > RECENT_MESSAGES_BUDGET {
            break;
        }
        used += tokens;
        out.push(text.to_owned());
    }
    out.reverse();
    out
}

/// Leaves out the oldest quarter of the messages (at least two).
fn drop_oldest(messages: &mut Vec<Message>) {
    let cut = (messages.len() / 4).max(2).min(messages.len().saturating_sub(1));
    messages.drain(..cut);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, size: usize) -> Message {
        Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                tool_use_id: id.into(),
                content: vec![ToolResultContent::Text { text: "x".repeat(size) }],
                is_error: false,
            }],
        }
    }

    fn call(id: &str) -> Message {
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse {
                id: id.into(),
                name: "Bash".into(),
                input: json!({"command": format!("cat {id}")}),
            }],
        }
    }

    #[test]
    fn micro_compaction_clears_old_long_results_only() {
        let mut history = vec![Message::user_text("go")];
        for i in 0..8 {
            history.push(call(&format!("t{i}")));
            history.push(result(&format!("t{i}"), if i == 1 { 100 } else { 10_000 }));
        }
        let freed = micro_compact(&mut history);
        assert!(freed > 15_000, "{freed}");
        let texts: Vec<String> = history
            .iter()
            .flat_map(|m| &m.content)
            .filter_map(|b| match b {
                ContentBlock::ToolResult { content, .. } => Some(match &content[0] {
                    ToolResultContent::Text { text } => text.clone(),
                    ToolResultContent::Image { .. } => String::new(),
                }),
                _ => None,
            })
            .collect();
        assert!(texts[0].starts_with("[The output of Bash(cat t0) (10,000 characters) was cleared"), "{}", texts[0]);
        assert_eq!(texts[1].len(), 100, "short results stay");
        assert!(texts[2].starts_with("[The output"));
        for newest in &texts[3..] {
            assert_eq!(newest.len(), 10_000, "the newest five are never touched");
        }
        assert_eq!(micro_compact(&mut history), 0, "nothing more to clear");
    }

    #[test]
    fn summaries_prompts_and_cuts() {
        assert_eq!(extract_summary("thinking…\n<summary>\nthe gist\n</summary>\n"), "the gist");
        assert_eq!(extract_summary("just text"), "just text");
        let history = vec![
            Message::user_text("first task"),
            call("a"),
            result("a", 10),
            Message::user_text("[Request interrupted by user]"),
            Message::user_text("second"),
        ];
        assert_eq!(recent_prompts(&history), ["first task", "second"]);
        let mut messages: Vec<Message> = (0..10).map(|i| Message::user_text(format!("{i}"))).collect();
        drop_oldest(&mut messages);
        assert_eq!(messages.len(), 8);
    }
}
