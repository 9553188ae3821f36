//! JSON-RPC errors as ACP sends them, and the turn's end as an ACP stop reason.

use crate::protocol::{TurnOutcome, TurnStatus};
use crate::provider::StopReason;

/// A JSON-RPC error: its code and a message a person can act on.
#[derive(Debug)]
pub struct Failure {
    pub code: i64,
    pub message: String,
}

impl Failure {
    pub fn new(code: i64, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

/// Invalid params.
pub fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(-32602, message)
}

pub fn no_session(name: &str) -> Failure {
    invalid(format!("no session {name:?}: create one with session/new, or continue a saved one with session/load"))
}

/// How a turn that did not simply end is told: a line for the user, and for a failure the
/// prompt's error.
pub fn ended(outcome: &TurnOutcome) -> (Option<String>, Option<Failure>) {
    match &outcome.status {
        TurnStatus::Failed(error) => (None, Some(Failure::new(-32603, error.message.clone()))),
        TurnStatus::HookStopped { reason } => (Some(format!("\n\n> Stopped by a hook: {reason}")), None),
        TurnStatus::MaxBudget { limit } => {
            (Some(format!("\n\n> Stopped: the session reached its budget of ${limit:.2}.")), None)
        }
        TurnStatus::StructuredOutputMissing => {
            (Some("\n\n> The model did not give the structured answer asked for.".into()), None)
        }
        _ => (None, None),
    }
}

pub fn stop_reason(outcome: &TurnOutcome) -> &'static str {
    match &outcome.status {
        TurnStatus::Interrupted => "cancelled",
        TurnStatus::MaxTurns { .. } => "max_turn_requests",
        _ if outcome.stop_reason == Some(StopReason::MaxTokens) => "max_tokens",
        _ if outcome.stop_reason == Some(StopReason::Refusal) => "refusal",
        _ => "end_turn",
    }
}
