//! `--output-format text`: the final answer on stdout; retries, hook notices and errors on
//! stderr, and with `--verbose` each tool call, sub-agent and compaction too.

use serde_json::Value;

use super::{Output, Printer};
use crate::protocol::{Event, TaskState, TurnOutcome, TurnStatus};

pub(super) struct Text {
    verbose: bool,
    out: Output,
}

impl Text {
    pub(super) fn new(verbose: bool) -> Text {
        Text { verbose, out: Output::default() }
    }
}

impl Printer for Text {
    fn event(&mut self, event: &Event) {
        report(event, self.verbose);
    }

    fn turn_ended(&mut self, outcome: &TurnOutcome) -> bool {
        match &outcome.status {
            TurnStatus::Success => self.out.text(&outcome.result),
            TurnStatus::MaxTurns { limit } => self.out.text(&format!("Error: Reached max turns ({limit})")),
            TurnStatus::MaxBudget { limit } => self.out.text(&format!("Error: Exceeded USD budget ({limit})")),
            TurnStatus::Failed(error) => self.out.text(&error.message),
            TurnStatus::Interrupted => crate::stderr_line!("cairn: interrupted"),
            TurnStatus::StructuredOutputMissing => {
                self.out.text("Error: the model did not give its answer in the requested structure");
            }
            TurnStatus::HookStopped { reason } => crate::stderr_line!(
                "cairn: stopped by a hook{}",
                if reason.is_empty() { String::new() } else { format!(": {reason}") }
            ),
        }
        super::json::is_error(outcome)
    }
}

/// What the text and json formats tell on stderr while a turn runs.
pub(super) fn report(event: &Event, verbose: bool) {
    match event {
        Event::ToolCallStarted { name, input, .. } if verbose => crate::stderr_line!("→ {name} {}", summary(input)),
        Event::Retrying { attempt, max_attempts, delay, error, .. } => crate::stderr_line!(
            "cairn: {error}; retrying in {:.1} s (attempt {attempt}/{max_attempts})",
            delay.as_secs_f64()
        ),
        Event::Compacted { pre_tokens, post_tokens, .. } if verbose => {
            crate::stderr_line!("cairn: compacted the conversation ({pre_tokens} → {post_tokens} tokens)");
        }
        Event::Task(task) if verbose && task.state == TaskState::Started => {
            crate::stderr_line!("→ {} agent: {}", task.agent_type, task.description);
        }
        Event::Error { message } | Event::Notice { message } => crate::stderr_line!("cairn: {message}"),
        _ => {}
    }
}

/// A short view of a tool's input for `--verbose` text output.
fn summary(input: &Value) -> String {
    let text = ["command", "file_path", "pattern", "path", "url"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str))
        .map_or_else(|| input.to_string(), str::to_owned);
    let first_line = text.lines().next().unwrap_or_default();
    first_line.chars().take(120).collect()
}
