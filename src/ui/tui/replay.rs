//! A resumed session's history, turned back into the cells it was shown as: prompts,
//! answers, thinking, tool calls with their results. Notes cairn added itself (a request
//! to continue a cut-off answer) stay hidden; interrupts show as a notice.

use std::time::Instant;

use super::cells::{Cell, ToolCell};
use crate::conversation::history::{
    CONTINUE_PROMPT, ContentBlock, INTERRUPTED_REQUEST, INTERRUPTED_TOOLS, Message, Role,
};
use crate::tools::ToolOutput;

pub fn cells(messages: &[Message]) -> Vec<Cell> {
    let mut out: Vec<Cell> = Vec::new();
    for message in messages {
        for block in &message.content {
            match (message.role, block) {
                // Context from hooks was never typed or shown.
                (Role::User, ContentBlock::Text { text }) if text.starts_with("<system-reminder>") => {}
                (Role::User, ContentBlock::Text { text }) => out.push(user_text(text)),
                (Role::User, ContentBlock::ToolResult { tool_use_id, content, is_error }) => {
                    let call = out.iter_mut().rev().find_map(|cell| match cell {
                        Cell::Tool(tool) if tool.call_id == *tool_use_id => Some(tool),
                        _ => None,
                    });
                    if let Some(tool) = call {
                        tool.output = Some(ToolOutput {
                            content: content.clone(),
                            is_error: *is_error,
                            structured: serde_json::Value::Null,
                        });
                    }
                }
                (Role::Assistant, ContentBlock::Text { text }) if !text.trim().is_empty() => {
                    out.push(Cell::Assistant { markdown: text.clone() })
                }
                (Role::Assistant, ContentBlock::Thinking { thinking, .. }) if !thinking.trim().is_empty() => {
                    out.push(Cell::Thinking { text: thinking.clone() })
                }
                (Role::Assistant, ContentBlock::ToolUse { id, name, input }) => {
                    out.push(Cell::Tool(Box::new(ToolCell {
                        call_id: id.clone(),
                        name: name.clone(),
                        input: input.clone(),
                        started: Instant::now(),
                        output: None,
                        progress: None,
                    })))
                }
                _ => {}
            }
        }
    }
    out.retain(|cell| !matches!(cell, Cell::User { text } if text.is_empty()));
    out
}

fn user_text(text: &str) -> Cell {
    match text {
        INTERRUPTED_REQUEST | INTERRUPTED_TOOLS => Cell::Notice { text: "Interrupted by the user".into() },
        CONTINUE_PROMPT => Cell::User { text: String::new() },
        _ => Cell::User { text: text.to_owned() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::history::ToolResultContent;
    use serde_json::json;

    #[test]
    fn a_history_becomes_the_cells_it_was_shown_as() {
        let messages = vec![
            Message::user_text("fix it"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::text("Looking."),
                    ContentBlock::ToolUse { id: "t1".into(), name: "Bash".into(), input: json!({"command": "ls"}) },
                ],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "t1".into(),
                    content: vec![ToolResultContent::Text { text: "a.rs".into() }],
                    is_error: false,
                }],
            },
            Message::user_text(CONTINUE_PROMPT),
            Message::user_text(INTERRUPTED_REQUEST),
        ];
        let cells = cells(&messages);
        assert_eq!(cells.len(), 4, "{cells:?}");
        assert!(matches!(&cells[0], Cell::User { text } if text == "fix it"));
        assert!(matches!(&cells[2], Cell::Tool(t) if t.output.as_ref().is_some_and(|o| o.text_content() == "a.rs")));
        assert!(matches!(&cells[3], Cell::Notice { .. }));
    }
}
