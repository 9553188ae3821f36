//! `--output-format json`: one `result` object per turn on stdout (Claude Code's shape,
//! reference section 8.3), with what text mode tells on stderr. The `result` object is
//! stream-json's last line too.

use serde_json::{Value, json};

use super::{Output, Printer};
use crate::cost::Usage;
use crate::protocol::{Event, TurnErrorKind, TurnOutcome, TurnStatus};

pub(super) struct Json {
    verbose: bool,
    session_id: String,
    out: Output,
}

impl Json {
    pub(super) fn new(verbose: bool) -> Json {
        Json { verbose, session_id: String::new(), out: Output::default() }
    }
}

impl Printer for Json {
    fn event(&mut self, event: &Event) {
        super::track_session(&mut self.session_id, event);
        super::text::report(event, self.verbose);
    }

    fn turn_ended(&mut self, outcome: &TurnOutcome) -> bool {
        self.out.line(&result_object(outcome, &self.session_id));
        is_error(outcome)
    }
}

/// Whether the turn's `result` says `is_error`.
pub(super) fn is_error(outcome: &TurnOutcome) -> bool {
    result_kind(&outcome.status).1
}

/// `subtype`, `is_error` and `terminal_reason` of a turn's `result`.
fn result_kind(status: &TurnStatus) -> (&'static str, bool, &'static str) {
    match status {
        TurnStatus::Success => ("success", false, "completed"),
        TurnStatus::MaxTurns { .. } => ("error_max_turns", true, "max_turns"),
        TurnStatus::MaxBudget { .. } => ("error_max_budget_usd", true, "max_budget"),
        // Claude Code reports API errors as a "success" subtype with is_error set.
        TurnStatus::Failed(e) if e.kind == TurnErrorKind::ContextTooLong => ("success", true, "prompt_too_long"),
        TurnStatus::Failed(_) => ("success", true, "api_error"),
        TurnStatus::Interrupted => ("error_during_execution", true, "aborted"),
        TurnStatus::HookStopped { .. } => ("success", false, "hook_stopped"),
        TurnStatus::StructuredOutputMissing => ("error_max_structured_output_retries", true, "structured_output"),
    }
}

/// The final `result` object of a turn (reference section 8.3).
pub fn result_object(outcome: &TurnOutcome, session_id: &str) -> Value {
    let (subtype, is_error, terminal_reason) = result_kind(&outcome.status);
    let model_usage: serde_json::Map<String, Value> =
        outcome.model_usage.iter().map(|(model, usage)| (model.clone(), json!(usage))).collect();
    let mut result = json!({
        "type": "result", "subtype": subtype, "is_error": is_error, "api_error_status": null,
        "duration_ms": outcome.duration.as_millis() as u64,
        "duration_api_ms": outcome.api_duration.as_millis() as u64,
        "num_turns": outcome.num_turns, "stop_reason": outcome.stop_reason,
        "session_id": session_id, "total_cost_usd": outcome.total_cost_usd,
        "usage": usage_json(&outcome.usage), "modelUsage": model_usage,
        "permission_denials": outcome.permission_denials, "terminal_reason": terminal_reason, "uuid": super::uuid(),
    });
    match &outcome.status {
        TurnStatus::Success => result["result"] = json!(outcome.result),
        TurnStatus::MaxTurns { limit } => {
            result["errors"] = json!([format!("Reached maximum number of turns ({limit})")]);
        }
        TurnStatus::MaxBudget { limit } => {
            result["errors"] = json!([format!("Reached maximum budget (${limit})")]);
        }
        TurnStatus::Failed(error) => {
            result["result"] = json!(error.message);
            result["api_error_status"] = json!(error.status);
        }
        TurnStatus::Interrupted => result["errors"] = json!(["Interrupted by the user"]),
        TurnStatus::HookStopped { .. } => result["result"] = json!(""),
        TurnStatus::StructuredOutputMissing => {
            result["errors"] = json!(["The model did not give its answer in the requested structure"]);
        }
    }
    if let Some(structured) = &outcome.structured_output {
        result["structured_output"] = structured.clone();
    }
    result
}

pub(super) fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "output_tokens": usage.output_tokens,
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
    })
}
