//! How full the context window is.
//!
//! After every response the API says how many tokens the request used (input, cache writes,
//! cache reads) and how many the answer took; that is the context size. What the history
//! gained since (tool results, a new prompt) is estimated from its size: four bytes a token.
//! Before the first response of a session, everything is estimated that way. `/context`
//! splits the total into system prompt, tool schemas, memory files and messages.

use crate::conversation::history::{ContentBlock, Message};
use crate::cost::Usage;
use crate::provider::ToolSpec;

/// Bytes per token, for what the API has not counted yet.
pub const BYTES_PER_TOKEN: usize = 4;

/// What `/context` shows, in tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Breakdown {
    pub system: u64,
    pub tools: u64,
    pub memory: u64,
    pub messages: u64,
}

impl Breakdown {
    pub fn total(&self) -> u64 {
        self.system + self.tools + self.memory + self.messages
    }
}

#[derive(Clone, Debug, Default)]
pub struct Meter {
    /// The context size the API reported last, and how many messages the history had then.
    measured: Option<(u64, usize)>,
}

impl Meter {
    /// A response arrived: `usage` counts everything up to and including it; the history now
    /// has `messages` messages (the answer included).
    pub fn measured(&mut self, usage: &Usage, messages: usize) {
        self.measured = Some((usage.context_tokens() + usage.output_tokens, messages));
    }

    /// The history was replaced (compaction, resume, clear): nothing is measured.
    pub fn reset(&mut self) {
        self.measured = None;
    }

    /// The tokens the next request will use, as well as can be told.
    pub fn estimate(&self, system: &str, tools: &[ToolSpec], history: &[Message]) -> u64 {
        match self.measured {
            Some((tokens, at)) if at <= history.len() => tokens + estimate_messages(&history[at..]),
            _ => estimate_bytes(system.len()) + estimate_tools(tools) + estimate_messages(history),
        }
    }
}

pub fn estimate_bytes(bytes: usize) -> u64 {
    (bytes / BYTES_PER_TOKEN) as u64
}

pub fn estimate_messages(messages: &[Message]) -> u64 {
    estimate_bytes(messages.iter().map(message_bytes).sum())
}

pub fn estimate_tools(tools: &[ToolSpec]) -> u64 {
    estimate_bytes(tools.iter().map(|t| t.name.len() + t.description.len() + t.input_schema.to_string().len()).sum())
}

fn message_bytes(message: &Message) -> usize {
    message.content.iter().map(block_bytes).sum::<usize>() + 16
}

pub fn block_bytes(block: &ContentBlock) -> usize {
    match block {
        ContentBlock::Text { text } => text.len(),
        ContentBlock::Thinking { thinking, signature } => thinking.len() + signature.len(),
        ContentBlock::RedactedThinking { data } => data.len(),
        ContentBlock::ToolUse { name, input, .. } => name.len() + input.to_string().len() + 32,
        ContentBlock::ToolResult { content, .. } => {
            content
                .iter()
                .map(|c| match c {
                    crate::conversation::history::ToolResultContent::Text { text } => text.len(),
                    // Images are priced by size, not by their base64 bytes: about 1,600 tokens.
                    crate::conversation::history::ToolResultContent::Image { .. } => 1_600 * BYTES_PER_TOKEN,
                })
                .sum::<usize>()
                + 32
        }
        ContentBlock::Image { .. } => 1_600 * BYTES_PER_TOKEN,
    }
}

/// `/context`: the window split by what fills it.
pub fn breakdown(system: &str, tools: &[ToolSpec], history: &[Message], total: u64) -> Breakdown {
    let system = estimate_bytes(system.len());
    let tools = estimate_tools(tools);
    let memory = history
        .first()
        .map(|m| {
            m.content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::Text { text } if text.contains(crate::memory::PREAMBLE) => Some(text.len()),
                    _ => None,
                })
                .sum::<usize>()
        })
        .map_or(0, estimate_bytes);
    let messages = total.saturating_sub(system + tools + memory).max(estimate_messages(history).saturating_sub(memory));
    Breakdown { system, tools, memory, messages }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_plus_what_came_after() {
        let mut meter = Meter::default();
        let history = vec![Message::user_text("x".repeat(400))];
        assert_eq!(meter.estimate("", &[], &history), 104);
        meter.measured(&Usage { input_tokens: 1000, output_tokens: 50, ..Usage::default() }, 1);
        let mut later = history.clone();
        later.push(Message::user_text("y".repeat(4000)));
        assert_eq!(meter.estimate("", &[], &later), 1050 + 1004);
        meter.reset();
        assert_eq!(meter.estimate("", &[], &history), 104);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
