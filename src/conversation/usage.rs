//! What a response cost in tokens ([`Usage`], and the [`PartialUsage`] a stream reports as
//! it goes) and why it ended ([`StopReason`]).

use serde::{Deserialize, Serialize};

/// Token counts as the Anthropic API reports them. `input_tokens` excludes cached tokens; the
/// context a request used is the sum of the three input fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.cache_creation_input_tokens += other.cache_creation_input_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
        self.output_tokens += other.output_tokens;
    }

    /// Everything the request put into the context window.
    pub fn context_tokens(&self) -> u64 {
        self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
    }
}

/// Usage as `message_delta` reports it: only the fields present are updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartialUsage {
    pub input_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

impl From<Usage> for PartialUsage {
    /// A whole count, as the formats that report usage once at the end give it.
    fn from(u: Usage) -> PartialUsage {
        PartialUsage {
            input_tokens: Some(u.input_tokens),
            cache_creation_input_tokens: Some(u.cache_creation_input_tokens),
            cache_read_input_tokens: Some(u.cache_read_input_tokens),
            output_tokens: Some(u.output_tokens),
        }
    }
}

impl Usage {
    /// From a count that includes the cached input (OpenAI's and Google's): the cached part
    /// moves to `cache_read_input_tokens`, as Anthropic reports it.
    pub fn with_cached(total_input: u64, cached: u64, output: u64) -> Usage {
        Usage {
            input_tokens: total_input.saturating_sub(cached),
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: cached,
            output_tokens: output,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    StopSequence,
    PauseTurn,
    Refusal,
    ModelContextWindowExceeded,
    #[serde(untagged)]
    Other(String),
}
