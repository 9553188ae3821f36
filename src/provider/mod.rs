//! LLM API clients behind one trait.
//!
//! A [`Provider`] turns a [`Request`] into a stream of provider-neutral [`StreamEvent`]s. Each
//! vendor module is a thin transport plus a pure conversion (request body out, SSE events in)
//! tested on recorded lines: `anthropic` (Messages API), `openai` (Chat Completions, which
//! Ollama, vLLM, llama.cpp, LM Studio and OpenRouter speak) and `openai_responses` (the
//! Responses API, for OpenAI's own endpoint and its reasoning models) and `gemini`. `sse` holds the shared stream
//! plumbing (idle timeout, end-of-stream checks), `retry` the backoff loop that turns streams
//! into complete [`Response`]s, `models` the model table, `reasoning` thinking and effort.

pub mod anthropic;
pub mod gemini;
pub mod models;
pub mod openai;
pub mod openai_responses;
pub mod reasoning;
pub mod retry;
pub mod sse;
pub mod tls;

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use crate::conversation::history::{ContentBlock, Message};
pub use crate::conversation::{PartialUsage, StopReason, ToolSpec, Usage};

/// Everything one model request needs; borrowed so a request costs no copy of the history.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub model: &'a str,
    pub system: &'a str,
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
    pub max_tokens: u32,
    pub session_id: &'a str,
    /// Thinking and effort, resolved for this model (`Reasoning::NONE` for none).
    pub reasoning: reasoning::Reasoning,
}

/// The HTTP client every provider shares: rustls with the ring provider and the platform's
/// roots (see `tls`), the system's proxy settings (`HTTPS_PROXY`, `NO_PROXY`), and no overall
/// timeout (streams run long; the idle timeout in `sse` catches stalls).
pub fn http_client() -> Result<reqwest::Client, ProviderError> {
    client_builder()?.build().map_err(|e| ProviderError::Setup(e.to_string()))
}

/// The client for a model server at `base_url`. A plain-`http` server (a local or LAN model
/// server: Ollama, vLLM, llama.cpp, Python's http.server) gets a new connection per request.
/// Such servers often leave Nagle's algorithm on (no TCP_NODELAY): the body waits for the
/// ACK of the headers, which a reused connection delays by 40 ms, every turn. A new
/// connection acknowledges at once, and costs a loopback handshake (tens of microseconds).
/// TLS endpoints keep their pooled connections (a handshake costs far more, and the APIs
/// behind them set TCP_NODELAY).
pub fn http_client_for(base_url: &str) -> Result<reqwest::Client, ProviderError> {
    let mut builder = client_builder()?;
    if base_url.trim_start().to_ascii_lowercase().starts_with("http://") {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder.build().map_err(|e| ProviderError::Setup(e.to_string()))
}

fn client_builder() -> Result<reqwest::ClientBuilder, ProviderError> {
    let tls = tls::client_config().map_err(|e| ProviderError::Setup(format!("TLS: {e}")))?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION"))))
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

pub trait Provider: Send + Sync {
    /// Sends the request and streams the answer. The body is serialised before this returns,
    /// so the future borrows nothing.
    fn stream(&self, request: &Request<'_>) -> BoxFuture<'static, Result<EventStream, ProviderError>>;
}

/// One step of a streamed answer, in Anthropic's vocabulary (the richest of the formats).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        id: String,
        model: String,
        usage: Usage,
    },
    BlockStart {
        index: usize,
        block: BlockStart,
    },
    TextDelta {
        index: usize,
        text: String,
    },
    ThinkingDelta {
        index: usize,
        thinking: String,
    },
    SignatureDelta {
        index: usize,
        signature: String,
    },
    ToolInputDelta {
        index: usize,
        partial_json: String,
    },
    BlockStop {
        index: usize,
    },
    /// `usage` fields the API reports here are cumulative for the message.
    MessageDelta {
        stop_reason: Option<StopReason>,
        usage: Option<PartialUsage>,
    },
    MessageStop,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockStart {
    Text,
    Thinking,
    RedactedThinking { data: String },
    ToolUse { id: String, name: String },
}

/// A complete answer, assembled from the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub id: String,
    pub model: String,
    pub content: Vec<ContentBlock>,
    pub stop_reason: Option<StopReason>,
    pub usage: Usage,
    /// A tool call whose input JSON was cut off (the response hit `max_tokens` inside it).
    pub truncated_tool_call: bool,
}

impl Response {
    pub fn has_tool_calls(&self) -> bool {
        self.content.iter().any(|b| matches!(b, ContentBlock::ToolUse { .. }))
    }
}

#[derive(Debug)]
enum PartialBlock {
    Text(String),
    Thinking { thinking: String, signature: String },
    RedactedThinking(String),
    ToolUse { id: String, name: String, json: String },
}

/// Folds [`StreamEvent`]s into a [`Response`]. Pure; the unit of every provider test.
#[derive(Debug, Default)]
pub struct ResponseBuilder {
    id: String,
    model: String,
    blocks: BTreeMap<usize, PartialBlock>,
    stop_reason: Option<StopReason>,
    usage: Usage,
    stopped: bool,
}

impl ResponseBuilder {
    pub fn apply(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::MessageStart { id, model, usage } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.usage = *usage;
            }
            StreamEvent::BlockStart { index, block } => {
                let partial = match block {
                    BlockStart::Text => PartialBlock::Text(String::new()),
                    BlockStart::Thinking => {
                        PartialBlock::Thinking { thinking: String::new(), signature: String::new() }
                    }
                    BlockStart::RedactedThinking { data } => PartialBlock::RedactedThinking(data.clone()),
                    BlockStart::ToolUse { id, name } => {
                        PartialBlock::ToolUse { id: id.clone(), name: name.clone(), json: String::new() }
                    }
                };
                self.blocks.insert(*index, partial);
            }
            StreamEvent::TextDelta { index, text } => {
                if let Some(PartialBlock::Text(buf)) = self.blocks.get_mut(index) {
                    buf.push_str(text);
                }
            }
            StreamEvent::ThinkingDelta { index, thinking: delta } => {
                if let Some(PartialBlock::Thinking { thinking, .. }) = self.blocks.get_mut(index) {
                    thinking.push_str(delta);
                }
            }
            StreamEvent::SignatureDelta { index, signature: delta } => {
                if let Some(PartialBlock::Thinking { signature, .. }) = self.blocks.get_mut(index) {
                    signature.push_str(delta);
                }
            }
            StreamEvent::ToolInputDelta { index, partial_json } => {
                if let Some(PartialBlock::ToolUse { json, .. }) = self.blocks.get_mut(index) {
                    json.push_str(partial_json);
                }
            }
            StreamEvent::BlockStop { .. } => {}
            StreamEvent::MessageDelta { stop_reason, usage } => {
                if stop_reason.is_some() {
                    self.stop_reason.clone_from(stop_reason);
                }
                if let Some(update) = usage {
                    let u = &mut self.usage;
                    u.input_tokens = update.input_tokens.unwrap_or(u.input_tokens);
                    u.cache_creation_input_tokens =
                        update.cache_creation_input_tokens.unwrap_or(u.cache_creation_input_tokens);
                    u.cache_read_input_tokens = update.cache_read_input_tokens.unwrap_or(u.cache_read_input_tokens);
                    u.output_tokens = update.output_tokens.unwrap_or(u.output_tokens);
                }
            }
            StreamEvent::MessageStop => self.stopped = true,
        }
    }

    /// Whether `message_stop` arrived: a stream that ends before it was cut.
    pub fn is_complete(&self) -> bool {
        self.stopped
    }

    pub fn finish(self) -> Response {
        let mut truncated_tool_call = false;
        let content = self
            .blocks
            .into_values()
            .filter_map(|block| match block {
                PartialBlock::Text(text) => Some(ContentBlock::Text { text }),
                PartialBlock::Thinking { thinking, signature } => Some(ContentBlock::Thinking { thinking, signature }),
                PartialBlock::RedactedThinking(data) => Some(ContentBlock::RedactedThinking { data }),
                PartialBlock::ToolUse { id, name, json } => match parse_tool_input(&json) {
                    Some(input) => Some(ContentBlock::ToolUse { id, name, input }),
                    None => {
                        truncated_tool_call = true;
                        None
                    }
                },
            })
            .collect();
        Response {
            id: self.id,
            model: self.model,
            content,
            stop_reason: self.stop_reason,
            usage: self.usage,
            truncated_tool_call,
        }
    }
}

/// A tool call's input as streamed, `None` when it does not parse. The first
/// `input_json_delta` may be empty; a call with no input at all means `{}`.
pub fn parse_tool_input(json: &str) -> Option<Value> {
    if json.trim().is_empty() {
        return Some(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(json).ok()
}

/// Why a request failed. Each case says whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("API Error: {status} {message}")]
    Http { status: u16, error_type: String, message: String, retry_after: Option<Duration>, should_retry: Option<bool> },
    #[error("Prompt is too long: {message}")]
    ContextTooLong { message: String },
    #[error("connection error: {0}")]
    Connection(String),
    /// Nothing listens at the address (a local model server that is not running).
    #[error(
        "nothing is listening at {0} (connection refused): is the server running there? (check --base-url, ANTHROPIC_BASE_URL or OPENAI_BASE_URL)"
    )]
    Refused(String),
    #[error("the response stream ended before the message was complete")]
    StreamCut,
    #[error("the response stream sent nothing for {} s", .0.as_secs())]
    StreamIdle(Duration),
    #[error("malformed event in the response stream: {0}")]
    Malformed(String),
    #[error("API Error: {error_type}: {message}")]
    StreamError { error_type: String, message: String },
    #[error("could not set up the HTTP client: {0}")]
    Setup(String),
}

impl ProviderError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Http { status, should_retry, .. } => {
                should_retry.unwrap_or(matches!(status, 408 | 409 | 429 | 500..=504 | 529))
            }
            ProviderError::ContextTooLong { .. } | ProviderError::Setup(_) => false,
            ProviderError::Connection(_)
            | ProviderError::Refused(_)
            | ProviderError::StreamCut
            | ProviderError::StreamIdle(_)
            | ProviderError::Malformed(_) => true,
            ProviderError::StreamError { error_type, .. } => !matches!(
                error_type.as_str(),
                "invalid_request_error" | "authentication_error" | "permission_error" | "billing_error"
            ),
        }
    }

    /// The error with `secret` (the credential it was sent with) taken out of its message:
    /// a server that echoes the key it refused does not put it on the screen or to the model.
    #[must_use]
    pub fn without(mut self, secret: &str) -> ProviderError {
        if secret.len() < 8 {
            return self;
        }
        match &mut self {
            ProviderError::Http { message, .. } | ProviderError::ContextTooLong { message } => {
                *message = message.replace(secret, crate::secrets::REDACTED);
            }
            _ => {}
        }
        self
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::Http { status, .. } => Some(*status),
            ProviderError::ContextTooLong { .. } => Some(400),
            ProviderError::StreamError { error_type, .. } => match error_type.as_str() {
                "overloaded_error" => Some(529),
                "rate_limit_error" => Some(429),
                "api_error" => Some(500),
                _ => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_assembles_blocks_in_index_order_and_flags_cut_tool_json() {
        let mut b = ResponseBuilder::default();
        let events = [
            StreamEvent::MessageStart { id: "m".into(), model: "x".into(), usage: Usage::default() },
            StreamEvent::BlockStart { index: 1, block: BlockStart::ToolUse { id: "t".into(), name: "Read".into() } },
            StreamEvent::BlockStart { index: 0, block: BlockStart::Text },
            StreamEvent::TextDelta { index: 0, text: "hi".into() },
            StreamEvent::ToolInputDelta { index: 1, partial_json: "{\"file_pa".into() },
            StreamEvent::MessageDelta {
                stop_reason: Some(StopReason::MaxTokens),
                usage: Some(PartialUsage { output_tokens: Some(7), ..Default::default() }),
            },
            StreamEvent::MessageStop,
        ];
        for e in &events {
            b.apply(e);
        }
        assert!(b.is_complete());
        let r = b.finish();
        assert_eq!(r.content, vec![ContentBlock::text("hi")]);
        assert!(r.truncated_tool_call);
        assert_eq!(r.usage.output_tokens, 7);
        assert_eq!(r.stop_reason, Some(StopReason::MaxTokens));
    }

    #[test]
    fn stop_reason_keeps_unknown_values() {
        let r: StopReason = serde_json::from_str("\"brand_new\"").unwrap();
        assert_eq!(r, StopReason::Other("brand_new".into()));
        let r: StopReason = serde_json::from_str("\"tool_use\"").unwrap();
        assert_eq!(r, StopReason::ToolUse);
    }
}
