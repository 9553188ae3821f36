//! OpenAI Chat Completions: `POST {base}/chat/completions` with `stream: true`.
//!
//! The dialect of Ollama, vLLM, llama.cpp's server, LM Studio, OpenRouter and OpenAI itself.
//! [`request_body`] maps the neutral history (tool results become `tool` messages, thinking is
//! dropped, images become data URLs); [`OpenAiDecoder`] maps chunks back into Anthropic-shaped
//! [`StreamEvent`]s: a text block, a thinking block (`reasoning_content`/`reasoning`), and one
//! block per tool-call index, then one `message_delta` with the stop reason and the usage
//! (`stream_options.include_usage`). `[DONE]`, or a chunk that brings the usage once the
//! finish reason is known, ends the message; a server that closes after a `finish_reason`
//! without `[DONE]` is accepted, one that closes before it was cut.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::sse::{self, SseDecoder, SseEvent};
use super::{BlockStart, EventStream, PartialUsage, Provider, ProviderError, Request, StopReason, StreamEvent};
use crate::conversation::Usage;
use crate::conversation::history::{ContentBlock, ImageSource, Message, Role, ToolResultContent};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

pub struct OpenAi {
    client: reqwest::Client,
    url: String,
    api_key: Option<String>,
    idle_timeout: Duration,
    /// OpenAI's own API wants `max_completion_tokens`; compatible servers know `max_tokens`.
    completion_tokens_field: &'static str,
}

impl OpenAi {
    pub fn new(client: reqwest::Client, base_url: &str, api_key: Option<String>, idle_timeout: Duration) -> OpenAi {
        let base = base_url.trim_end_matches('/');
        let completion_tokens_field =
            if base.contains("api.openai.com") { "max_completion_tokens" } else { "max_tokens" };
        OpenAi { client, url: format!("{base}/chat/completions"), api_key, idle_timeout, completion_tokens_field }
    }
}

impl Provider for OpenAi {
    fn stream(&self, request: &Request<'_>) -> BoxFuture<'static, Result<EventStream, ProviderError>> {
        let body = request_body(request, self.completion_tokens_field);
        let mut builder = sse::post(&self.client, &self.url, body);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        let (idle, secret) = (self.idle_timeout, self.api_key.clone().unwrap_or_default());
        Box::pin(async move { sse::open(builder, idle, &secret, OpenAiDecoder::default()).await })
    }
}

pub fn request_body(request: &Request<'_>, completion_tokens_field: &str) -> Vec<u8> {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in request.messages {
        match message.role {
            Role::Assistant => messages.push(assistant_message(message)),
            Role::User => user_messages(message, &mut messages),
        }
    }
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    body[completion_tokens_field] = json!(request.max_tokens);
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.input_schema}})
            })
            .collect();
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

fn assistant_message(message: &Message) -> Value {
    let text = message.text();
    let calls: Vec<Value> = message
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse { id, name, input } => Some(json!({
                "id": id, "type": "function",
                "function": {"name": name, "arguments": input.to_string()},
            })),
            _ => None,
        })
        .collect();
    let mut out = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        out["tool_calls"] = Value::Array(calls);
    }
    out
}

/// Tool results become `tool` messages (which must follow the assistant's calls directly);
/// the rest of the user's content follows as one user message.
fn user_messages(message: &Message, out: &mut Vec<Value>) {
    let mut parts: Vec<Value> = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::ToolResult { tool_use_id, content, is_error } => {
                let text = result_text(content, *is_error, |source| parts.push(image_part(source)));
                out.push(json!({"role": "tool", "tool_call_id": tool_use_id, "content": text}));
            }
            ContentBlock::Text { text } => parts.push(json!({"type": "text", "text": text})),
            ContentBlock::Image { source } => parts.push(image_part(source)),
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } | ContentBlock::ToolUse { .. } => {}
        }
    }
    match parts.as_slice() {
        [] => {}
        [single] if single["type"] == "text" => {
            out.push(json!({"role": "user", "content": single["text"]}));
        }
        _ => out.push(json!({"role": "user", "content": parts})),
    }
}

/// A tool result as the text OpenAI's formats carry ("Error: " first for a failure); its
/// images go to `image`, to travel in a user message of their own.
pub(crate) fn result_text(
    content: &[ToolResultContent],
    is_error: bool,
    mut image: impl FnMut(&ImageSource),
) -> String {
    let mut text = String::new();
    if is_error {
        text.push_str("Error: ");
    }
    for item in content {
        match item {
            ToolResultContent::Text { text: t } => text.push_str(t),
            ToolResultContent::Image { source } => image(source),
        }
    }
    text
}

fn image_part(source: &ImageSource) -> Value {
    json!({"type": "image_url", "image_url": {"url": format!("data:{};base64,{}", source.media_type, source.data)}})
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Text,
    Thinking,
    /// The server's tool-call index.
    Tool(usize),
}

/// Chat Completions chunks → [`StreamEvent`]s. A change of kind (reasoning → text → tool
/// call) closes the open block and starts the next, as Anthropic streams do.
#[derive(Debug, Default)]
pub struct OpenAiDecoder {
    started: bool,
    next_index: usize,
    open: Option<(Kind, usize)>,
    /// The server's tool-call index → our block index.
    tools: BTreeMap<usize, usize>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
}

impl OpenAiDecoder {
    /// The block index for `kind`: the open block if it is of that kind, else a new one.
    fn block(&mut self, kind: Kind, out: &mut Vec<StreamEvent>, start: impl FnOnce() -> BlockStart) -> usize {
        if let Some((open, index)) = self.open
            && open == kind
        {
            return index;
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        out.push(StreamEvent::BlockStart { index, block: start() });
        self.open = Some((kind, index));
        index
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((_, index)) = self.open.take() {
            out.push(StreamEvent::BlockStop { index });
        }
    }

    fn end_message(&mut self, out: &mut Vec<StreamEvent>) {
        self.close(out);
        let stop_reason = self.finish_reason.as_deref().map(|r| match r {
            "stop" => StopReason::EndTurn,
            "tool_calls" | "function_call" => StopReason::ToolUse,
            "length" => StopReason::MaxTokens,
            "content_filter" => StopReason::Refusal,
            other => StopReason::Other(other.to_owned()),
        });
        let usage = self.usage.map(PartialUsage::from);
        out.push(StreamEvent::MessageDelta { stop_reason, usage });
        out.push(StreamEvent::MessageStop);
        self.done = true;
    }

    fn on_chunk(&mut self, chunk: Chunk, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if let Some(error) = chunk.error {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("stream error").to_owned();
            let error_type = error.get("type").and_then(Value::as_str).unwrap_or("api_error").to_owned();
            return Err(ProviderError::StreamError { error_type, message });
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                id: chunk.id.clone().unwrap_or_default(),
                model: chunk.model.clone().unwrap_or_default(),
                usage: Usage::default(),
            });
        }
        if let Some(u) = chunk.usage {
            let cached = u.prompt_tokens_details.map_or(0, |d| d.cached_tokens);
            self.usage = Some(Usage::with_cached(u.prompt_tokens, cached, u.completion_tokens));
        }
        for choice in chunk.choices {
            let delta = choice.delta;
            if let Some(thinking) = delta.reasoning_content.or(delta.reasoning).filter(|t| !t.is_empty()) {
                let index = self.block(Kind::Thinking, out, || BlockStart::Thinking);
                out.push(StreamEvent::ThinkingDelta { index, thinking });
            }
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                let index = self.block(Kind::Text, out, || BlockStart::Text);
                out.push(StreamEvent::TextDelta { index, text });
            }
            for call in delta.tool_calls {
                let function = call.function.unwrap_or(FunctionDelta { name: None, arguments: None });
                // Arguments for a call that is no longer the open block go to its old index.
                let index = match self.tools.get(&call.index) {
                    Some(&index) => index,
                    None => {
                        let next = self.next_index;
                        let id = call.id.unwrap_or_else(|| format!("call_{next}"));
                        let name = function.name.clone().unwrap_or_default();
                        let index = self.block(Kind::Tool(call.index), out, || BlockStart::ToolUse { id, name });
                        self.tools.insert(call.index, index);
                        index
                    }
                };
                if let Some(partial_json) = function.arguments.filter(|a| !a.is_empty()) {
                    out.push(StreamEvent::ToolInputDelta { index, partial_json });
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
        }
        // A finish reason with the usage is the final chunk: only `[DONE]` can follow, and
        // a server may hold that (and the body's end) back.
        if self.finish_reason.is_some() && self.usage.is_some() {
            self.end_message(out);
        }
        Ok(())
    }
}

impl SseDecoder for OpenAiDecoder {
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        let data = event.data.trim();
        if data.is_empty() || self.done {
            return Ok(());
        }
        if data == "[DONE]" {
            if !self.started {
                return Err(ProviderError::StreamCut);
            }
            self.end_message(out);
            return Ok(());
        }
        let chunk: Chunk = sse::parse(data)?;
        self.on_chunk(chunk, out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if self.done {
            return Ok(());
        }
        if self.finish_reason.is_some() {
            self.end_message(out);
            return Ok(());
        }
        Err(ProviderError::StreamCut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{ResponseBuilder, ToolSpec};

    fn sse(data: &str) -> SseEvent {
        SseEvent::data(data)
    }

    fn decode_all(lines: &[&str]) -> (Vec<StreamEvent>, Result<(), ProviderError>) {
        let mut decoder = OpenAiDecoder::default();
        let mut out = Vec::new();
        for line in lines {
            if let Err(e) = decoder.decode(&sse(line), &mut out) {
                return (out, Err(e));
            }
        }
        let end = decoder.finish(&mut out);
        (out, end)
    }

    const RECORDED: &[&str] = &[
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"qwen3","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Let me look."},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-1","model":"qwen3","choices":[{"index":0,"delta":{"content":"Reading "},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-1","model":"qwen3","choices":[{"index":0,"delta":{"content":"both."},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-1","model":"qwen3","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"Read","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-1","model":"qwen3","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"file_path\":"}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-1","model":"qwen3","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"b\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-1","model":"qwen3","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-1","model":"qwen3","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"chatcmpl-1","model":"qwen3","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":60}}}"#,
        "[DONE]",
    ];

    #[test]
    fn decodes_text_reasoning_and_interleaved_tool_calls() {
        let (events, end) = decode_all(RECORDED);
        assert!(end.is_ok());
        let mut builder = ResponseBuilder::default();
        events.iter().for_each(|e| builder.apply(e));
        assert!(builder.is_complete());
        let r = builder.finish();
        assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(
            r.usage,
            Usage { input_tokens: 40, cache_read_input_tokens: 60, output_tokens: 20, cache_creation_input_tokens: 0 }
        );
        assert_eq!(r.content.len(), 4);
        assert!(matches!(&r.content[0], ContentBlock::Thinking { thinking, .. } if thinking == "Let me look."));
        assert_eq!(r.content[1], ContentBlock::text("Reading both."));
        assert_eq!(
            r.content[2],
            ContentBlock::ToolUse { id: "call_a".into(), name: "Read".into(), input: json!({"file_path": "a"}) }
        );
        assert_eq!(
            r.content[3],
            ContentBlock::ToolUse { id: "call_b".into(), name: "Read".into(), input: json!({"file_path": "b"}) }
        );
        let starts = events.iter().filter(|e| matches!(e, StreamEvent::BlockStart { .. })).count();
        let stops = events.iter().filter(|e| matches!(e, StreamEvent::BlockStop { .. })).count();
        assert_eq!(starts, 4);
        assert!(stops >= 3);
    }

    #[test]
    fn cut_before_finish_is_retryable_and_missing_done_after_finish_is_fine() {
        let (_, end) = decode_all(&RECORDED[..3]);
        assert!(matches!(end, Err(ProviderError::StreamCut)));
        let (events, end) = decode_all(&RECORDED[..9]);
        assert!(end.is_ok());
        assert_eq!(events.last(), Some(&StreamEvent::MessageStop));
    }

    #[test]
    fn history_maps_tool_results_to_tool_messages() {
        let history = vec![
            Message::user_text("go"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Thinking { thinking: "hidden".into(), signature: String::new() },
                    ContentBlock::ToolUse { id: "c1".into(), name: "Bash".into(), input: json!({"command": "ls"}) },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentBlock::ToolResult {
                        tool_use_id: "c1".into(),
                        content: vec![ToolResultContent::Text { text: "a.txt".into() }],
                        is_error: false,
                    },
                    ContentBlock::text("and then?"),
                ],
            },
        ];
        let tools =
            vec![ToolSpec { name: "Bash".into(), description: "run".into(), input_schema: json!({"type": "object"}) }];
        let req = Request {
            model: "m",
            system: "sys",
            messages: &history,
            tools: &tools,
            max_tokens: 64,
            session_id: "s",
            reasoning: crate::provider::reasoning::Reasoning::NONE,
        };
        let body: Value = serde_json::from_slice(&request_body(&req, "max_tokens")).unwrap();
        let roles: Vec<&str> =
            body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"command\":\"ls\"}");
        assert_eq!(body["messages"][3]["tool_call_id"], "c1");
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["tools"][0]["function"]["name"], "Bash");
    }
}
