//! Tools as the conversation knows them: what the model is offered ([`ToolSpec`]), a call
//! it made ([`ToolCall`]), and the two facts about a tool everything above needs — whether
//! it may run beside others ([`ToolKind`]) and whether it needs permission by default
//! ([`Approval`]).

use serde::Serialize;
use serde_json::Value;

/// A tool as the model sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

/// A call the model made.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: Value,
}

/// Whether a tool may run beside others: read-only tools run concurrently, the rest alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolKind {
    ReadOnly,
    Mutating,
}

/// Whether a call needs the user's (or a rule's) permission when no rule says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    NotNeeded,
    Needed,
}

impl Approval {
    /// The usual answer: reading needs no permission, changing things does.
    pub const fn for_kind(kind: ToolKind) -> Approval {
        match kind {
            ToolKind::ReadOnly => Approval::NotNeeded,
            ToolKind::Mutating => Approval::Needed,
        }
    }
}
