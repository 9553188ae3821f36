//! The conversation: the bottom layer every other module builds on, importing nothing from
//! the crate. Messages made of content blocks and the passes that keep a history valid to
//! send (`history`), tools as offered and called (`tool`) and the names they go by
//! (`tool_names`), token usage and stop reasons (`usage`), and a complete response.
//!
//! The shapes follow Anthropic's Messages API (the richest of the wire formats), so they
//! serialise unchanged into requests, transcripts and stream-json lines; each provider maps
//! them to its own format.

pub mod history;
mod tool;
pub mod tool_names;
mod usage;

pub use history::{ContentBlock, ImageSource, Message, Role, ToolResultContent, text_of};
pub use tool::{Approval, Todo, TodoStatus, ToolCall, ToolKind, ToolOutput, ToolSpec};
pub use usage::{PartialUsage, StopReason, Usage};

/// A complete model response, as the front ends and the transcript see it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssistantMessage {
    pub id: String,
    pub model: String,
    pub content: Vec<ContentBlock>,
    pub stop_reason: Option<StopReason>,
    pub usage: Usage,
}
