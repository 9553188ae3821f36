//! OpenAI Responses API: `POST {base}/responses` with `stream: true`, the way OpenAI's
//! reasoning models are best used (and the default for OpenAI's own endpoint).
//!
//! [`request_body`] maps the neutral history to input items: messages, `function_call` and
//! `function_call_output` items, and `reasoning` items sent back as they came — with
//! `store: false`, their `encrypted_content` is how the model keeps its reasoning across
//! turns (a thinking block's signature holds the item's id and that content). Tools are
//! `function` tools from the same schemas; the effort goes out as `reasoning.effort`, with
//! summaries asked for. [`ResponsesDecoder`] maps the typed SSE events
//! (`response.output_item.added`, `…output_text.delta`, `…function_call_arguments.delta`,
//! `…reasoning_summary_text.delta`, `response.completed`, …) to Anthropic-shaped
//! [`StreamEvent`]s, one block per output item, with usage including cached and reasoning
//! tokens.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::reasoning::Thinking;
use super::sse::{self, SseDecoder, SseEvent};
use super::{BlockStart, EventStream, PartialUsage, Provider, ProviderError, Request, StopReason, StreamEvent};
use crate::conversation::Usage;
use crate::conversation::history::{ContentBlock, ImageSource, Message, Role};

pub struct OpenAiResponses {
    client: reqwest::Client,
    url: String,
    api_key: Option<String>,
    idle_timeout: Duration,
}

impl OpenAiResponses {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        api_key: Option<String>,
        idle_timeout: Duration,
    ) -> OpenAiResponses {
        let url = format!("{}/responses", base_url.trim_end_matches('/'));
        OpenAiResponses { client, url, api_key, idle_timeout }
    }
}

impl Provider for OpenAiResponses {
    fn stream(&self, request: &Request<'_>) -> BoxFuture<'static, Result<EventStream, ProviderError>> {
        let body = request_body(request);
        let mut builder = sse::post(&self.client, &self.url, body);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        let (idle, secret) = (self.idle_timeout, self.api_key.clone().unwrap_or_default());
        Box::pin(async move { sse::open(builder, idle, &secret, ResponsesDecoder::default()).await })
    }
}

/// The JSON body of a streaming request.
pub fn request_body(request: &Request<'_>) -> Vec<u8> {
    let mut input = Vec::with_capacity(request.messages.len() * 2);
    for message in request.messages {
        match message.role {
            Role::User => user_items(message, &mut input),
            Role::Assistant => assistant_items(message, &mut input),
        }
    }
    let mut body = json!({
        "model": request.model,
        "input": input,
        "stream": true,
        "store": false,
        "max_output_tokens": request.max_tokens,
        "prompt_cache_key": request.session_id,
    });
    if !request.system.is_empty() {
        body["instructions"] = json!(request.system);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "name": t.name, "description": t.description,
                       "parameters": t.input_schema, "strict": false})
            })
            .collect();
        body["parallel_tool_calls"] = json!(true);
    }
    if request.reasoning.thinking != Thinking::Off {
        let mut reasoning = json!({"summary": "auto"});
        if let Some(effort) = request.reasoning.effort {
            reasoning["effort"] = json!(effort.as_str());
        }
        body["reasoning"] = reasoning;
        body["include"] = json!(["reasoning.encrypted_content"]);
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

fn user_items(message: &Message, out: &mut Vec<Value>) {
    let mut parts = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::ToolResult { tool_use_id, content, is_error } => {
                let text = super::openai::result_text(content, *is_error, |source| parts.push(image(source)));
                out.push(json!({"type": "function_call_output", "call_id": tool_use_id, "output": text}));
            }
            ContentBlock::Text { text } => parts.push(json!({"type": "input_text", "text": text})),
            ContentBlock::Image { source } => parts.push(image(source)),
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } | ContentBlock::ToolUse { .. } => {}
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": parts}));
    }
}

fn assistant_items(message: &Message, out: &mut Vec<Value>) {
    for block in &message.content {
        match block {
            ContentBlock::Text { text } if !text.is_empty() => {
                out.push(json!({"type": "message", "role": "assistant",
                                "content": [{"type": "output_text", "text": text}]}));
            }
            ContentBlock::ToolUse { id, name, input } => {
                out.push(json!({"type": "function_call", "call_id": id, "name": name, "arguments": input.to_string()}));
            }
            ContentBlock::Thinking { thinking, signature } => {
                // Only this API's own items go back (a block from another provider has no id).
                // Without its encrypted content (not asked for) an item cannot go back under `store: false`.
                let Some((id, encrypted)) =
                    signature.split_once(' ').filter(|(id, encrypted)| id.starts_with("rs_") && !encrypted.is_empty())
                else {
                    continue;
                };
                let summary: Vec<Value> = if thinking.is_empty() {
                    Vec::new()
                } else {
                    vec![json!({"type": "summary_text", "text": thinking})]
                };
                out.push(json!({"type": "reasoning", "id": id, "summary": summary, "encrypted_content": encrypted}));
            }
            _ => {}
        }
    }
}

fn image(source: &ImageSource) -> Value {
    json!({"type": "input_image", "image_url": format!("data:{};base64,{}", source.media_type, source.data)})
}

/// One SSE event of the Responses stream (the fields cairn reads).
#[derive(Deserialize)]
struct ApiEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    output_index: usize,
    #[serde(default)]
    summary_index: usize,
    #[serde(default)]
    delta: String,
    #[serde(default)]
    item: Option<Item>,
    #[serde(default)]
    response: Option<ResponseBody>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    call_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: String,
    #[serde(default)]
    encrypted_content: Option<String>,
}

#[derive(Deserialize, Default)]
struct ResponseBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: Option<ApiUsage>,
    #[serde(default)]
    incomplete_details: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ApiUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<Value>,
}

/// Responses SSE events → [`StreamEvent`]s: each output item is a block at its
/// `output_index`.
#[derive(Debug, Default)]
pub struct ResponsesDecoder {
    started: bool,
    /// Output items that got argument deltas (their `done` item repeats them).
    streamed_arguments: BTreeSet<usize>,
    called_tools: bool,
    done: bool,
}

impl ResponsesDecoder {
    fn start(&mut self, response: Option<&ResponseBody>, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let (id, model) = response.map_or_else(Default::default, |r| (r.id.clone(), r.model.clone()));
        out.push(StreamEvent::MessageStart { id, model, usage: Usage::default() });
    }

    fn item_added(&mut self, index: usize, item: Item, out: &mut Vec<StreamEvent>) {
        let block = match item.kind.as_str() {
            "message" => BlockStart::Text,
            "reasoning" => BlockStart::Thinking,
            "function_call" => {
                self.called_tools = true;
                BlockStart::ToolUse { id: item.call_id, name: item.name }
            }
            _ => return,
        };
        out.push(StreamEvent::BlockStart { index, block });
    }

    fn item_done(&mut self, index: usize, item: Item, out: &mut Vec<StreamEvent>) {
        match item.kind.as_str() {
            "reasoning" => {
                let encrypted = item.encrypted_content.unwrap_or_default();
                out.push(StreamEvent::SignatureDelta { index, signature: format!("{} {encrypted}", item.id) });
            }
            "function_call" if !self.streamed_arguments.contains(&index) && !item.arguments.is_empty() => {
                out.push(StreamEvent::ToolInputDelta { index, partial_json: item.arguments });
            }
            "message" | "function_call" => {}
            _ => return,
        }
        out.push(StreamEvent::BlockStop { index });
    }

    fn end(&mut self, response: ResponseBody, stop_reason: StopReason, out: &mut Vec<StreamEvent>) {
        let usage = response.usage.map(|u| {
            let cached = u.input_tokens_details.as_ref().and_then(|d| d["cached_tokens"].as_u64()).unwrap_or(0);
            // Reasoning tokens are part of the output tokens, and billed as output.
            PartialUsage::from(Usage::with_cached(u.input_tokens, cached, u.output_tokens))
        });
        out.push(StreamEvent::MessageDelta { stop_reason: Some(stop_reason), usage });
        out.push(StreamEvent::MessageStop);
        self.done = true;
    }
}

impl SseDecoder for ResponsesDecoder {
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if event.data.trim().is_empty() || self.done {
            return Ok(());
        }
        let parsed: ApiEvent = sse::parse(&event.data)?;
        let index = parsed.output_index;
        match parsed.kind.as_str() {
            "response.created" | "response.in_progress" => self.start(parsed.response.as_ref(), out),
            "response.output_item.added" => {
                self.start(None, out);
                if let Some(item) = parsed.item {
                    self.item_added(index, item, out);
                }
            }
            "response.output_text.delta" => out.push(StreamEvent::TextDelta { index, text: parsed.delta }),
            "response.reasoning_summary_text.delta" => {
                out.push(StreamEvent::ThinkingDelta { index, thinking: parsed.delta });
            }
            "response.reasoning_summary_part.added" if parsed.summary_index > 0 => {
                out.push(StreamEvent::ThinkingDelta { index, thinking: "\n\n".into() });
            }
            "response.function_call_arguments.delta" => {
                self.streamed_arguments.insert(index);
                out.push(StreamEvent::ToolInputDelta { index, partial_json: parsed.delta });
            }
            "response.output_item.done" => {
                if let Some(item) = parsed.item {
                    self.item_done(index, item, out);
                }
            }
            "response.completed" => {
                let stop = if self.called_tools { StopReason::ToolUse } else { StopReason::EndTurn };
                self.end(parsed.response.unwrap_or_default(), stop, out);
            }
            "response.incomplete" => {
                let response = parsed.response.unwrap_or_default();
                let reason = response.incomplete_details.as_ref().and_then(|d| d["reason"].as_str()).unwrap_or("");
                let stop = match reason {
                    "max_output_tokens" => StopReason::MaxTokens,
                    "content_filter" => StopReason::Refusal,
                    other => StopReason::Other(other.to_owned()),
                };
                self.end(response, stop, out);
            }
            "response.failed" => {
                let error = parsed.response.and_then(|r| r.error).unwrap_or_default();
                let field = |k: &str| error[k].as_str().unwrap_or_default().to_owned();
                return Err(stream_error(field("code"), field("message")));
            }
            "error" => {
                return Err(stream_error(parsed.code.unwrap_or_default(), parsed.message.unwrap_or_default()));
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if self.done { Ok(()) } else { Err(ProviderError::StreamCut) }
    }
}

/// A failure inside the stream, typed as Anthropic types them so retries treat it alike.
fn stream_error(code: String, message: String) -> ProviderError {
    let error_type = match code.as_str() {
        "rate_limit_exceeded" => "rate_limit_error",
        "server_error" | "" => "api_error",
        "server_is_overloaded" | "slow_down" => "overloaded_error",
        "context_length_exceeded" => "invalid_request_error",
        _ => "invalid_request_error",
    };
    let message = if message.is_empty() { code } else { message };
    ProviderError::StreamError { error_type: error_type.to_owned(), message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::history::ToolResultContent;
    use crate::provider::reasoning::{Effort, Reasoning};
    use crate::provider::{ResponseBuilder, ToolSpec};

    const RECORDED: &[&str] = &[
        r#"{"type":"response.created","response":{"id":"resp_1","model":"gpt-5","status":"in_progress"}}"#,
        r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[]}}"#,
        r#"{"type":"response.reasoning_summary_part.added","output_index":0,"summary_index":0}"#,
        r#"{"type":"response.reasoning_summary_text.delta","output_index":0,"summary_index":0,"delta":"Check the file."}"#,
        r#"{"type":"response.output_item.done","output_index":0,"item":{"type":"reasoning","id":"rs_1","encrypted_content":"gAAA=="}}"#,
        r#"{"type":"response.output_item.added","output_index":1,"item":{"type":"message","id":"msg_1","role":"assistant","content":[]}}"#,
        r#"{"type":"response.output_text.delta","output_index":1,"content_index":0,"delta":"Reading."}"#,
        r#"{"type":"response.output_item.done","output_index":1,"item":{"type":"message","id":"msg_1"}}"#,
        r#"{"type":"response.output_item.added","output_index":2,"item":{"type":"function_call","id":"fc_1","call_id":"call_9","name":"Read","arguments":""}}"#,
        r#"{"type":"response.function_call_arguments.delta","output_index":2,"delta":"{\"file_path\":"}"#,
        r#"{"type":"response.function_call_arguments.delta","output_index":2,"delta":"\"a.txt\"}"}"#,
        r#"{"type":"response.output_item.done","output_index":2,"item":{"type":"function_call","id":"fc_1","call_id":"call_9","name":"Read","arguments":"{\"file_path\":\"a.txt\"}"}}"#,
        r#"{"type":"response.completed","response":{"id":"resp_1","model":"gpt-5","usage":{"input_tokens":1000,"input_tokens_details":{"cached_tokens":600},"output_tokens":90,"output_tokens_details":{"reasoning_tokens":64}}}}"#,
    ];

    #[test]
    fn decodes_reasoning_text_and_a_call_into_one_response() {
        let mut decoder = ResponsesDecoder::default();
        let mut builder = ResponseBuilder::default();
        for line in RECORDED {
            let mut out = Vec::new();
            decoder.decode(&SseEvent::data(line), &mut out).unwrap();
            out.iter().for_each(|e| builder.apply(e));
        }
        assert!(decoder.finish(&mut Vec::new()).is_ok());
        let r = builder.finish();
        assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
        assert_eq!((r.usage.input_tokens, r.usage.cache_read_input_tokens, r.usage.output_tokens), (400, 600, 90));
        assert_eq!(
            r.content,
            vec![
                ContentBlock::Thinking { thinking: "Check the file.".into(), signature: "rs_1 gAAA==".into() },
                ContentBlock::text("Reading."),
                ContentBlock::ToolUse {
                    id: "call_9".into(),
                    name: "Read".into(),
                    input: json!({"file_path": "a.txt"})
                },
            ]
        );
    }

    #[test]
    fn the_body_sends_reasoning_items_back_and_asks_for_the_effort() {
        let history = vec![
            Message::user_text("hi"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Thinking { thinking: "t".into(), signature: "rs_1 gAAA==".into() },
                    ContentBlock::Thinking { thinking: "foreign".into(), signature: "EqQB".into() },
                    ContentBlock::ToolUse {
                        id: "call_9".into(),
                        name: "Read".into(),
                        input: json!({"file_path": "a"}),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "call_9".into(),
                    content: vec![ToolResultContent::Text { text: "x".into() }],
                    is_error: false,
                }],
            },
        ];
        let tools =
            vec![ToolSpec { name: "Read".into(), description: "d".into(), input_schema: json!({"type": "object"}) }];
        let request = Request {
            model: "gpt-5",
            system: "sys",
            messages: &history,
            tools: &tools,
            max_tokens: 128_000,
            session_id: "s",
            reasoning: Reasoning { thinking: Thinking::Adaptive, effort: Some(Effort::High), show_thinking: true },
        };
        let body: Value = serde_json::from_slice(&request_body(&request)).unwrap();
        assert_eq!(body["instructions"], "sys");
        assert_eq!(body["store"], false);
        assert_eq!(body["reasoning"], json!({"summary": "auto", "effort": "high"}));
        assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(body["tools"][0]["parameters"], json!({"type": "object"}));
        let input = body["input"].as_array().unwrap();
        assert_eq!(input[0], json!({"role": "user", "content": [{"type": "input_text", "text": "hi"}]}));
        assert_eq!(
            input[1],
            json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "t"}], "encrypted_content": "gAAA=="})
        );
        assert_eq!(input[2]["type"], "function_call");
        assert_eq!(input[3], json!({"type": "function_call_output", "call_id": "call_9", "output": "x"}));
        assert_eq!(input.len(), 4, "the foreign thinking block is not sent");
    }

    #[test]
    fn failures_and_cut_streams_are_typed() {
        let mut decoder = ResponsesDecoder::default();
        decoder.decode(&SseEvent::data(RECORDED[0]), &mut Vec::new()).unwrap();
        assert!(matches!(decoder.finish(&mut Vec::new()), Err(ProviderError::StreamCut)));
        let failed =
            r#"{"type":"response.failed","response":{"error":{"code":"server_is_overloaded","message":"busy"}}}"#;
        let err = decoder.decode(&SseEvent::data(failed), &mut Vec::new()).unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(err.status(), Some(529));
        let mut decoder = ResponsesDecoder::default();
        let incomplete =
            r#"{"type":"response.incomplete","response":{"incomplete_details":{"reason":"max_output_tokens"}}}"#;
        let mut out = Vec::new();
        decoder.decode(&SseEvent::data(incomplete), &mut out).unwrap();
        assert!(out.contains(&StreamEvent::MessageDelta { stop_reason: Some(StopReason::MaxTokens), usage: None }));
    }
}
