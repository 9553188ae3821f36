//! Tools as the conversation knows them: what the model is offered ([`ToolSpec`]), a call
//! it made ([`ToolCall`]), what a call returned ([`ToolOutput`]), the two facts about a tool
//! everything above needs — whether it may run beside others ([`ToolKind`]) and whether it
//! needs permission by default ([`Approval`]) — and the todo list the model keeps
//! ([`Todo`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ToolResultContent;

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
    /// The call is for the person at the keyboard (a question, a plan to approve): it is
    /// always put to them, whatever the rules and the mode; only a deny rule or a hook
    /// (answering for them) decides instead.
    User,
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

/// A tool call's result: what the model reads, and the structured form front ends and
/// transcripts keep (Claude Code's `toolUseResult`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolOutput {
    pub content: Vec<ToolResultContent>,
    pub is_error: bool,
    pub structured: Value,
}

impl ToolOutput {
    pub fn text(text: impl Into<String>) -> ToolOutput {
        let text = text.into();
        ToolOutput {
            structured: Value::String(text.clone()),
            content: vec![ToolResultContent::Text { text }],
            is_error: false,
        }
    }

    pub fn error(text: impl Into<String>) -> ToolOutput {
        ToolOutput { is_error: true, ..ToolOutput::text(text) }
    }

    pub fn with_structured(mut self, structured: Value) -> ToolOutput {
        self.structured = structured;
        self
    }

    /// The text parts joined: what a log line or a text front end shows.
    pub fn text_content(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let ToolResultContent::Text { text } = part {
                out.push_str(text);
            }
        }
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TodoStatus {
    Pending,
    InProgress,
    Completed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Todo {
    /// What to do, in the imperative ("Run the tests").
    pub content: String,
    pub status: TodoStatus,
    /// The same in the present continuous, shown while it is in progress ("Running the tests").
    #[serde(rename = "activeForm", default)]
    pub active_form: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
}
