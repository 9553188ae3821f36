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

pub fn stop_reason(outcome: &TurnOutcome) -> &'static str {
    match &outcome.status {
        TurnStatus::Interrupted => "cancelled",
        TurnStatus::MaxTurns { .. } => "max_turn_requests",
        _ if outcome.stop_reason == Some(StopReason::MaxTokens) => "max_tokens",
        _ if outcome.stop_reason == Some(StopReason::Refusal) => "refusal",
        _ => "end_turn",
    }
}
