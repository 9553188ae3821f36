//! The conversation as the core keeps it: provider-neutral messages made of content blocks,
//! and the repair passes that make any history valid to send.
//!
//! The block shapes follow Anthropic's Messages API (the richest of the wire formats), so they
//! serialise unchanged into requests, transcripts and stream-json lines; `provider::openai`
//! maps them to Chat Completions. The invariant every request relies on: each `tool_use` in an
//! assistant message has exactly one `tool_result` in the user message right after it.
//! [`repair`] restores that invariant (and role alternation) after an interrupt, a crash or a
//! hand-edited transcript, and runs before every request.

use std::collections::HashSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// What cairn asks when an answer was cut off by the output limit.
pub const CONTINUE_PROMPT: &str = "Your previous response was cut off by the output token limit. \
Continue exactly where it stopped: no apology, no recap.";
/// The notes an interrupted turn leaves in the history, as Claude Code words them.
pub const INTERRUPTED_REQUEST: &str = "[Request interrupted by user]";
pub const INTERRUPTED_TOOLS: &str = "[Request interrupted by user for tool use]";

/// The text a tool call gets when it was never answered (interrupt, crash, lost result).
pub const INTERRUPTED_TOOL_RESULT: &str = "The user interrupted this tool call before it finished; it has no result.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

impl Message {
    pub fn user_text(text: impl Into<String>) -> Message {
        Message { role: Role::User, content: vec![ContentBlock::text(text)] }
    }

    /// The ids of the tool calls this message makes, in order.
    pub fn tool_use_ids(&self) -> impl Iterator<Item = &str> {
        self.content.iter().filter_map(|block| match block {
            ContentBlock::ToolUse { id, .. } => Some(id.as_str()),
            _ => None,
        })
    }

    /// All text blocks joined, the way a front end shows an answer.
    pub fn text(&self) -> String {
        text_of(&self.content)
    }

    /// What the user typed: the text blocks without the context cairn or hooks added
    /// (`<system-reminder>` blocks).
    pub fn typed_text(&self) -> String {
        let parts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } if !text.starts_with("<system-reminder>") => Some(text.as_str()),
                _ => None,
            })
            .collect();
        parts.join("\n")
    }
}

/// The text blocks of some content, joined.
pub fn text_of(blocks: &[ContentBlock]) -> String {
    let mut out = String::new();
    for block in blocks {
        if let ContentBlock::Text { text } = block {
            out.push_str(text);
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    Thinking {
        thinking: String,
        /// Sent back unmodified: the API rejects a thinking block whose signature changed.
        #[serde(default)]
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(serialize_with = "result_content_out", deserialize_with = "result_content_in")]
        content: Vec<ToolResultContent>,
        #[serde(default)]
        is_error: bool,
    },
}

impl ContentBlock {
    pub fn text(text: impl Into<String>) -> ContentBlock {
        ContentBlock::Text { text: text.into() }
    }
}

/// What a tool result carries back to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolResultContent {
    Text { text: String },
    Image { source: ImageSource },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageSource {
    #[serde(rename = "type")]
    pub kind: String,
    pub media_type: String,
    pub data: String,
}

/// A text-only result is written as a plain string, as Claude Code writes it; anything else
/// as the array of blocks.
fn result_content_out<S: Serializer>(content: &[ToolResultContent], serializer: S) -> Result<S::Ok, S::Error> {
    match content {
        [ToolResultContent::Text { text }] => serializer.serialize_str(text),
        _ => content.serialize(serializer),
    }
}

fn result_content_in<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ToolResultContent>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Text(String),
        Blocks(Vec<ToolResultContent>),
    }
    Ok(match Wire::deserialize(deserializer)? {
        Wire::Text(text) => vec![ToolResultContent::Text { text }],
        Wire::Blocks(blocks) => blocks,
    })
}

/// Runs every repair pass, in order. Cheap enough to run before each request.
pub fn repair(history: &mut Vec<Message>) {
    // First, so results split over several user messages (one per entry in a transcript)
    // are seen together.
    merge_same_role(history);
    unique_tool_use_ids(history);
    drop_orphan_tool_results(history);
    answer_dangling_tool_uses(history);
    drop_empty_blocks(history);
    merge_same_role(history);
    if history.first().is_some_and(|m| m.role == Role::Assistant) {
        history.insert(0, Message::user_text("(conversation resumed)"));
    }
}

/// A `tool_use` whose result is missing from the next user message gets an "interrupted"
/// result there, so the API never sees an unanswered call.
pub fn answer_dangling_tool_uses(history: &mut Vec<Message>) {
    let mut i = 0;
    while i < history.len() {
        if history[i].role != Role::Assistant {
            i += 1;
            continue;
        }
        let asked: Vec<String> = history[i].tool_use_ids().map(str::to_owned).collect();
        if asked.is_empty() {
            i += 1;
            continue;
        }
        let next_is_user = history.get(i + 1).is_some_and(|m| m.role == Role::User);
        if !next_is_user {
            history.insert(i + 1, Message { role: Role::User, content: Vec::new() });
        }
        let answers = &mut history[i + 1].content;
        let answered: HashSet<String> = answers
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolResult { tool_use_id, .. } => Some(tool_use_id.clone()),
                _ => None,
            })
            .collect();
        let missing: Vec<ContentBlock> = asked
            .into_iter()
            .filter(|id| !answered.contains(id))
            .map(|id| ContentBlock::ToolResult {
                tool_use_id: id,
                content: vec![ToolResultContent::Text { text: INTERRUPTED_TOOL_RESULT.into() }],
                is_error: true,
            })
            .collect();
        // Results go before any other content of that user message, as the API requires.
        let at = answers.iter().take_while(|b| matches!(b, ContentBlock::ToolResult { .. })).count();
        answers.splice(at..at, missing);
        i += 2;
    }
}

/// A `tool_use` id used before (in the same message or an earlier one) gets a new one, and
/// the results in the next message that answer it follow, in order. A model (or a server
/// that numbers every response's calls from `call_0`) can repeat ids; the API refuses a
/// history with duplicates, and would refuse every later request of the session too.
pub fn unique_tool_use_ids(history: &mut [Message]) {
    let mut seen: HashSet<String> = HashSet::new();
    for i in 0..history.len() {
        if history[i].role != Role::Assistant {
            continue;
        }
        // For each id: the ids its uses end up with, in order.
        let mut uses: Vec<(String, Vec<String>)> = Vec::new();
        let mut renamed = false;
        for block in &mut history[i].content {
            let ContentBlock::ToolUse { id, .. } = block else { continue };
            let original = id.clone();
            if !seen.insert(id.clone()) {
                let fresh = (1..).map(|n| format!("{original}-{n}")).find(|c| !seen.contains(c)).unwrap_or_default();
                seen.insert(fresh.clone());
                *id = fresh;
                renamed = true;
            }
            match uses.iter_mut().find(|(o, _)| *o == original) {
                Some((_, ids)) => ids.push(id.clone()),
                None => uses.push((original, vec![id.clone()])),
            }
        }
        if !renamed {
            continue;
        }
        let Some(next) = history.get_mut(i + 1).filter(|m| m.role == Role::User) else { continue };
        let mut taken: Vec<(String, usize)> = Vec::new();
        for block in &mut next.content {
            let ContentBlock::ToolResult { tool_use_id, .. } = block else { continue };
            let Some((_, ids)) = uses.iter().find(|(o, _)| o == tool_use_id) else { continue };
            let n = match taken.iter_mut().find(|(o, _)| o == tool_use_id) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    taken.push((tool_use_id.clone(), 0));
                    0
                }
            };
            if let Some(id) = ids.get(n) {
                tool_use_id.clone_from(id);
            }
        }
    }
}

/// A `tool_result` that answers no call in the assistant message just before it is removed.
pub fn drop_orphan_tool_results(history: &mut [Message]) {
    let mut asked: HashSet<String> = HashSet::new();
    for message in history.iter_mut() {
        match message.role {
            Role::Assistant => {
                asked = message.tool_use_ids().map(str::to_owned).collect();
            }
            Role::User => {
                message.content.retain(|block| match block {
                    ContentBlock::ToolResult { tool_use_id, .. } => asked.remove(tool_use_id),
                    _ => true,
                });
                asked.clear();
            }
        }
    }
}

/// Text blocks of only whitespace and messages left with no content are rejected by the API.
pub fn drop_empty_blocks(history: &mut Vec<Message>) {
    for message in history.iter_mut() {
        message.content.retain(|b| !matches!(b, ContentBlock::Text { text } if text.trim().is_empty()));
    }
    history.retain(|m| !m.content.is_empty());
}

/// Adjacent messages of the same role become one.
pub fn merge_same_role(history: &mut Vec<Message>) {
    let mut merged: Vec<Message> = Vec::with_capacity(history.len());
    for message in history.drain(..) {
        match merged.last_mut() {
            Some(last) if last.role == message.role => last.content.extend(message.content),
            _ => merged.push(message),
        }
    }
    *history = merged;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_tool_use_ids_are_made_unique_with_their_results() {
        let result = |id: &str, text: &str| ContentBlock::ToolResult {
            tool_use_id: id.into(),
            content: vec![ToolResultContent::Text { text: text.into() }],
            is_error: false,
        };
        let mut history = vec![
            Message::user_text("go"),
            Message { role: Role::Assistant, content: vec![tool_use("call_0"), tool_use("call_0")] },
            Message { role: Role::User, content: vec![result("call_0", "a"), result("call_0", "b")] },
            Message { role: Role::Assistant, content: vec![tool_use("call_0")] },
            Message { role: Role::User, content: vec![result("call_0", "c")] },
        ];
        repair(&mut history);
        let uses: Vec<String> = history.iter().flat_map(|m| m.tool_use_ids().map(str::to_owned)).collect();
        assert_eq!(uses, ["call_0", "call_0-1", "call_0-2"]);
        let answered: Vec<(String, String)> = history
            .iter()
            .flat_map(|m| m.content.iter())
            .filter_map(|b| match b {
                ContentBlock::ToolResult { tool_use_id, content, .. } => {
                    Some((tool_use_id.clone(), text_of_results(content)))
                }
                _ => None,
            })
            .collect();
        let expected = [("call_0", "a"), ("call_0-1", "b"), ("call_0-2", "c")];
        assert_eq!(answered, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    }

    fn text_of_results(content: &[ToolResultContent]) -> String {
        content
            .iter()
            .filter_map(|c| match c {
                ToolResultContent::Text { text } => Some(text.as_str()),
                ToolResultContent::Image { .. } => None,
            })
            .collect()
    }

    fn tool_use(id: &str) -> ContentBlock {
        ContentBlock::ToolUse { id: id.into(), name: "Bash".into(), input: json!({}) }
    }

    fn result(id: &str) -> ContentBlock {
        ContentBlock::ToolResult {
            tool_use_id: id.into(),
            content: vec![ToolResultContent::Text { text: "ok".into() }],
            is_error: false,
        }
    }

    fn assistant(content: Vec<ContentBlock>) -> Message {
        Message { role: Role::Assistant, content }
    }

    fn user(content: Vec<ContentBlock>) -> Message {
        Message { role: Role::User, content }
    }

    #[test]
    fn dangling_tool_use_gets_interrupted_result_before_other_content() {
        let mut history = vec![
            Message::user_text("go"),
            assistant(vec![tool_use("a"), tool_use("b")]),
            user(vec![result("a"), ContentBlock::text("[Request interrupted by user]")]),
        ];
        repair(&mut history);
        let blocks = &history[2].content;
        assert_eq!(blocks.len(), 3);
        assert!(
            matches!(&blocks[1], ContentBlock::ToolResult { tool_use_id, is_error: true, .. } if tool_use_id == "b")
        );
        assert!(matches!(&blocks[2], ContentBlock::Text { .. }));
    }

    #[test]
    fn tool_use_at_the_end_gets_a_user_message() {
        let mut history = vec![Message::user_text("go"), assistant(vec![tool_use("a")])];
        repair(&mut history);
        assert_eq!(history.len(), 3);
        assert_eq!(history[2].role, Role::User);
    }

    #[test]
    fn orphan_results_and_empty_messages_are_dropped_and_roles_merged() {
        let mut history = vec![
            Message::user_text("go"),
            user(vec![result("zzz")]),
            assistant(vec![ContentBlock::text("")]),
            Message::user_text("again"),
        ];
        repair(&mut history);
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].content.len(), 2);
    }

    #[test]
    fn results_split_over_several_messages_are_kept() {
        let mut history = vec![
            Message::user_text("go"),
            assistant(vec![tool_use("a"), tool_use("b")]),
            user(vec![result("a")]),
            user(vec![result("b")]),
        ];
        repair(&mut history);
        assert_eq!(history.len(), 3);
        assert_eq!(history[2].content, vec![result("a"), result("b")]);
    }

    #[test]
    fn tool_result_content_round_trips_as_string_or_blocks() {
        let block = result("a");
        let wire = serde_json::to_value(&block).unwrap();
        assert_eq!(wire["content"], json!("ok"));
        let back: ContentBlock = serde_json::from_value(wire).unwrap();
        assert_eq!(back, block);
        let blocks: ContentBlock = serde_json::from_value(json!({
            "type": "tool_result", "tool_use_id": "a",
            "content": [{"type": "text", "text": "ok"}]
        }))
        .unwrap();
        assert_eq!(blocks, block);
    }
}
