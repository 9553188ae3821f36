//! Google's Gemini API: `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`.
//!
//! [`request_body`] maps the neutral history to `contents` (`user` and `model` turns of
//! parts: text, `functionCall`, `functionResponse`, `inlineData`), the tools to
//! `functionDeclarations` whose schemas are cut down to the subset Gemini accepts
//! ([`gemini_schema`]), and the reasoning to `thinkingConfig`. Thought signatures are
//! round-tripped: the decoder turns each into a thinking block just before the part it
//! came on, and the body puts it back on that part. [`GeminiDecoder`] maps the streamed
//! `GenerateContentResponse` chunks to Anthropic-shaped [`StreamEvent`]s; the chunk with a
//! `finishReason` ends the message (the stream has no other end marker).

use std::collections::HashMap;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::reasoning::{Effort, Thinking};
use super::sse::{self, SseDecoder, SseEvent};
use super::{BlockStart, EventStream, PartialUsage, Provider, ProviderError, Request, StopReason, StreamEvent};
use crate::conversation::Usage;
use crate::conversation::history::{ContentBlock, Message, Role, ToolResultContent};

pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

pub struct Gemini {
    client: reqwest::Client,
    base: String,
    api_key: String,
    idle_timeout: Duration,
}

impl Gemini {
    pub fn new(client: reqwest::Client, base_url: &str, api_key: String, idle_timeout: Duration) -> Gemini {
        Gemini { client, base: base_url.trim_end_matches('/').to_owned(), api_key, idle_timeout }
    }
}

impl Provider for Gemini {
    fn stream(&self, request: &Request<'_>) -> BoxFuture<'static, Result<EventStream, ProviderError>> {
        let url = format!("{}/v1beta/models/{}:streamGenerateContent?alt=sse", self.base, request.model);
        let builder = sse::post(&self.client, &url, request_body(request)).header("x-goog-api-key", &self.api_key);
        let (idle, secret) = (self.idle_timeout, self.api_key.clone());
        Box::pin(async move { sse::open(builder, idle, &secret, GeminiDecoder::default()).await })
    }
}

/// The JSON body of a streaming request.
pub fn request_body(request: &Request<'_>) -> Vec<u8> {
    // A function response names its function; the history knows it by the call's id.
    let names: HashMap<&str, &str> = request
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|b| match b {
            ContentBlock::ToolUse { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    let contents: Vec<Value> = request
        .messages
        .iter()
        .map(|m| match m.role {
            Role::User => json!({"role": "user", "parts": user_parts(m, &names)}),
            Role::Assistant => json!({"role": "model", "parts": model_parts(m)}),
        })
        .filter(|c| c["parts"].as_array().is_some_and(|p| !p.is_empty()))
        .collect();
    let mut config = json!({"maxOutputTokens": request.max_tokens});
    let show = request.reasoning.show_thinking;
    match (request.reasoning.thinking, request.reasoning.effort) {
        (Thinking::Off, _) => {}
        (Thinking::Adaptive, Some(effort)) => {
            let level = if effort >= Effort::High { "high" } else { "low" };
            config["thinkingConfig"] = json!({"thinkingLevel": level, "includeThoughts": show});
        }
        (Thinking::Adaptive, None) => config["thinkingConfig"] = json!({"thinkingBudget": -1, "includeThoughts": show}),
        (Thinking::Budget(tokens), _) => {
            config["thinkingConfig"] = json!({"thinkingBudget": tokens, "includeThoughts": show});
        }
    }
    let mut body = json!({"contents": contents, "generationConfig": config});
    if !request.system.is_empty() {
        body["systemInstruction"] = json!({"parts": [{"text": request.system}]});
    }
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut declaration = json!({"name": t.name, "description": t.description});
                let parameters = gemini_schema(&t.input_schema);
                if parameters["properties"].as_object().is_some_and(|p| !p.is_empty()) {
                    declaration["parameters"] = parameters;
                }
                declaration
            })
            .collect();
        body["tools"] = json!([{"functionDeclarations": declarations}]);
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

fn user_parts(message: &Message, names: &HashMap<&str, &str>) -> Vec<Value> {
    let mut parts = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::Text { text } => parts.push(json!({"text": text})),
            ContentBlock::Image { source } => {
                parts.push(json!({"inlineData": {"mimeType": source.media_type, "data": source.data}}));
            }
            ContentBlock::ToolResult { tool_use_id, content, is_error } => {
                let mut text = String::new();
                let mut images = Vec::new();
                for item in content {
                    match item {
                        ToolResultContent::Text { text: t } => text.push_str(t),
                        ToolResultContent::Image { source } => {
                            images.push(json!({"inlineData": {"mimeType": source.media_type, "data": source.data}}))
                        }
                    }
                }
                let name = names.get(tool_use_id.as_str()).copied().unwrap_or("unknown");
                let response = if *is_error { json!({"error": text}) } else { json!({"output": text}) };
                parts.push(json!({"functionResponse": {"id": tool_use_id, "name": name, "response": response}}));
                parts.extend(images);
            }
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } | ContentBlock::ToolUse { .. } => {}
        }
    }
    parts
}

/// The model's turn as it came: thought summaries, and each thought signature put back on
/// the part it arrived with (the part after its thinking block).
fn model_parts(message: &Message) -> Vec<Value> {
    let mut parts = Vec::new();
    let mut signature: Option<&str> = None;
    for block in &message.content {
        let mut part = match block {
            ContentBlock::Thinking { thinking, signature: sig } => {
                if !thinking.is_empty() {
                    parts.push(json!({"text": thinking, "thought": true}));
                }
                signature = Some(sig.as_str()).filter(|s| !s.is_empty());
                continue;
            }
            ContentBlock::Text { text } if !text.is_empty() => json!({"text": text}),
            ContentBlock::ToolUse { id, name, input } => {
                json!({"functionCall": {"id": id, "name": name, "args": input}})
            }
            _ => continue,
        };
        if let Some(sig) = signature.take() {
            part["thoughtSignature"] = json!(sig);
        }
        parts.push(part);
    }
    // A signature with no part after it stays on the last thought.
    if let (Some(sig), Some(last)) = (signature, parts.last_mut()) {
        last["thoughtSignature"] = json!(sig);
    }
    parts
}

/// A JSON Schema cut down to the OpenAPI subset Gemini's function declarations accept:
/// references inlined, `const` as a one-value `enum`, `oneOf` as `anyOf`, a type list with
/// `null` as `nullable`, and every keyword it does not know (`additionalProperties`,
/// `default`, `$schema`, …) left out.
pub fn gemini_schema(schema: &Value) -> Value {
    let defs = schema.get("$defs").or_else(|| schema.get("definitions")).cloned().unwrap_or(Value::Null);
    convert(schema, &defs, 0)
}

const KEPT: &[&str] = &[
    "type",
    "format",
    "description",
    "nullable",
    "enum",
    "required",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "title",
];

fn convert(schema: &Value, defs: &Value, depth: usize) -> Value {
    let Some(object) = schema.as_object() else { return json!({}) };
    if depth > 32 {
        return json!({});
    }
    if let Some(target) = object.get("$ref").and_then(Value::as_str) {
        let name = target.rsplit('/').next().unwrap_or_default();
        return convert(&defs[name], defs, depth + 1);
    }
    let mut out = Map::new();
    for (key, value) in object {
        match key.as_str() {
            "type" => match value {
                Value::Array(types) => {
                    let real: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                    if real.len() < types.len() {
                        out.insert("nullable".into(), json!(true));
                    }
                    if let Some(first) = real.first() {
                        out.insert("type".into(), (*first).clone());
                    }
                }
                _ => {
                    out.insert("type".into(), value.clone());
                }
            },
            "const" => {
                out.insert("enum".into(), json!([value]));
            }
            "properties" => {
                // An object with no properties is refused ("should be non-empty for OBJECT
                // type"): such a field is left out.
                let properties: Map<String, Value> = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, s)| (name.clone(), convert(s, defs, depth + 1)))
                    .filter(|(_, s)| {
                        s["type"] != "object" || s["properties"].as_object().is_some_and(|p| !p.is_empty())
                    })
                    .collect();
                out.insert("properties".into(), Value::Object(properties));
            }
            "items" => {
                out.insert("items".into(), convert(value, defs, depth + 1));
            }
            "anyOf" | "oneOf" => {
                let options: Vec<Value> =
                    value.as_array().into_iter().flatten().map(|s| convert(s, defs, depth + 1)).collect();
                out.insert("anyOf".into(), Value::Array(options));
            }
            kept if KEPT.contains(&kept) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    // Nothing may be required that was left out.
    if let (Some(Value::Object(properties)), Some(Value::Array(required))) =
        (out.get("properties").cloned(), out.get_mut("required"))
    {
        required.retain(|name| name.as_str().is_some_and(|n| properties.contains_key(n)));
    }
    Value::Object(out)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Chunk {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    model_version: Option<String>,
    #[serde(default)]
    response_id: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    #[serde(default)]
    thought_signature: Option<String>,
    #[serde(default)]
    function_call: Option<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    args: Value,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Open {
    Text(usize),
    Thinking(usize),
}

/// Gemini chunks → [`StreamEvent`]s.
#[derive(Debug, Default)]
pub struct GeminiDecoder {
    started: bool,
    next_index: usize,
    open: Option<Open>,
    calls: usize,
    usage: Option<Usage>,
    done: bool,
}

impl GeminiDecoder {
    fn new_block(&mut self, block: BlockStart, out: &mut Vec<StreamEvent>) -> usize {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        out.push(StreamEvent::BlockStart { index, block });
        index
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(Open::Text(index) | Open::Thinking(index)) = self.open.take() {
            out.push(StreamEvent::BlockStop { index });
        }
    }

    /// A signature belongs to the part it came on: it goes into a thinking block just
    /// before that part (the open one, if thoughts are streaming).
    fn signature(&mut self, signature: String, out: &mut Vec<StreamEvent>) {
        let index = match self.open {
            Some(Open::Thinking(index)) => index,
            _ => self.new_block(BlockStart::Thinking, out),
        };
        out.push(StreamEvent::SignatureDelta { index, signature });
        out.push(StreamEvent::BlockStop { index });
        self.open = None;
    }

    fn part(&mut self, part: Part, out: &mut Vec<StreamEvent>) {
        if part.thought {
            if let Some(thinking) = part.text.filter(|t| !t.is_empty()) {
                let index = match self.open {
                    Some(Open::Thinking(index)) => index,
                    _ => self.new_block(BlockStart::Thinking, out),
                };
                self.open = Some(Open::Thinking(index));
                out.push(StreamEvent::ThinkingDelta { index, thinking });
            }
            if let Some(signature) = part.thought_signature {
                self.signature(signature, out);
            }
            return;
        }
        if let Some(signature) = part.thought_signature {
            self.signature(signature, out);
        }
        if let Some(call) = part.function_call {
            self.calls += 1;
            // Gemini rarely names its calls: an id unique across the session, as tool results need.
            let id = call.id.unwrap_or_else(|| format!("call_{}", &uuid::Uuid::new_v4().simple().to_string()[..24]));
            let index = self.new_block(BlockStart::ToolUse { id, name: call.name }, out);
            let args = if call.args.is_object() { call.args.to_string() } else { "{}".to_owned() };
            out.push(StreamEvent::ToolInputDelta { index, partial_json: args });
            out.push(StreamEvent::BlockStop { index });
            return;
        }
        if let Some(text) = part.text.filter(|t| !t.is_empty()) {
            let index = match self.open {
                Some(Open::Text(index)) => index,
                _ => self.new_block(BlockStart::Text, out),
            };
            self.open = Some(Open::Text(index));
            out.push(StreamEvent::TextDelta { index, text });
        }
    }

    fn end(&mut self, reason: &str, out: &mut Vec<StreamEvent>) {
        self.close(out);
        let stop_reason = match reason {
            "STOP" if self.calls > 0 => StopReason::ToolUse,
            "STOP" => StopReason::EndTurn,
            "MAX_TOKENS" => StopReason::MaxTokens,
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => StopReason::Refusal,
            other => StopReason::Other(other.to_owned()),
        };
        let usage = self.usage.map(PartialUsage::from);
        out.push(StreamEvent::MessageDelta { stop_reason: Some(stop_reason), usage });
        out.push(StreamEvent::MessageStop);
        self.done = true;
    }
}

impl SseDecoder for GeminiDecoder {
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if event.data.trim().is_empty() || self.done {
            return Ok(());
        }
        let chunk: Chunk = sse::parse(&event.data)?;
        if let Some(error) = chunk.error {
            let status = error["status"].as_str().unwrap_or_default();
            let error_type = match status {
                "RESOURCE_EXHAUSTED" => "rate_limit_error",
                "UNAVAILABLE" => "overloaded_error",
                "INTERNAL" => "api_error",
                _ => "invalid_request_error",
            };
            let message = error["message"].as_str().unwrap_or("stream error").to_owned();
            return Err(ProviderError::StreamError { error_type: error_type.to_owned(), message });
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                id: chunk.response_id.clone().unwrap_or_default(),
                model: chunk.model_version.clone().unwrap_or_default(),
                usage: Usage::default(),
            });
        }
        if let Some(u) = chunk.usage_metadata {
            // Thoughts are billed as output.
            let output = u.candidates_token_count + u.thoughts_token_count;
            self.usage = Some(Usage::with_cached(u.prompt_token_count, u.cached_content_token_count, output));
        }
        let Some(candidate) = chunk.candidates.into_iter().next() else { return Ok(()) };
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            self.part(part, out);
        }
        if let Some(reason) = candidate.finish_reason {
            self.end(&reason, out);
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if self.done { Ok(()) } else { Err(ProviderError::StreamCut) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::reasoning::Reasoning;
    use crate::provider::{ResponseBuilder, ToolSpec};

    const RECORDED: &[&str] = &[
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Look at the file first.","thought":true}]}}],"usageMetadata":{"promptTokenCount":900},"modelVersion":"gemini-2.5-pro","responseId":"r1"}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Reading."}]}}]}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"Read","args":{"file_path":"a.txt"}},"thoughtSignature":"CiQB"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":900,"cachedContentTokenCount":400,"candidatesTokenCount":30,"thoughtsTokenCount":50}}"#,
    ];

    #[test]
    fn decodes_thoughts_text_and_a_signed_call() {
        let mut decoder = GeminiDecoder::default();
        let mut builder = ResponseBuilder::default();
        for line in RECORDED {
            let mut out = Vec::new();
            decoder.decode(&SseEvent::data(line), &mut out).unwrap();
            out.iter().for_each(|e| builder.apply(e));
        }
        assert!(decoder.finish(&mut Vec::new()).is_ok());
        let r = builder.finish();
        assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
        assert_eq!((r.usage.input_tokens, r.usage.cache_read_input_tokens, r.usage.output_tokens), (500, 400, 80));
        let ContentBlock::ToolUse { id, .. } = &r.content[3] else { panic!("{:?}", r.content) };
        assert_eq!(
            r.content,
            vec![
                ContentBlock::Thinking { thinking: "Look at the file first.".into(), signature: String::new() },
                ContentBlock::text("Reading."),
                ContentBlock::Thinking { thinking: String::new(), signature: "CiQB".into() },
                ContentBlock::ToolUse { id: id.clone(), name: "Read".into(), input: json!({"file_path": "a.txt"}) },
            ]
        );
        // Sent back, the signature is on the call again, and the result names the function.
        let history = vec![
            Message::user_text("read a.txt"),
            Message { role: Role::Assistant, content: r.content.clone() },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: id.clone(),
                    content: vec![ToolResultContent::Text { text: "alpha".into() }],
                    is_error: false,
                }],
            },
        ];
        let tools = vec![ToolSpec {
            name: "Read".into(),
            description: "d".into(),
            input_schema: json!({"type": "object", "properties": {"file_path": {"type": "string"}}, "additionalProperties": false}),
        }];
        let request = Request {
            model: "gemini-2.5-pro",
            system: "sys",
            messages: &history,
            tools: &tools,
            max_tokens: 64_000,
            session_id: "s",
            reasoning: Reasoning { thinking: Thinking::Adaptive, effort: None, show_thinking: true },
        };
        let body: Value = serde_json::from_slice(&request_body(&request)).unwrap();
        let model = &body["contents"][1]["parts"];
        assert_eq!(model[0], json!({"text": "Look at the file first.", "thought": true}));
        assert_eq!(model[1], json!({"text": "Reading."}));
        assert_eq!(model[2]["thoughtSignature"], "CiQB");
        assert_eq!(model[2]["functionCall"]["name"], "Read");
        assert_eq!(body["contents"][2]["parts"][0]["functionResponse"]["name"], "Read");
        assert_eq!(body["generationConfig"]["thinkingConfig"], json!({"thinkingBudget": -1, "includeThoughts": true}));
        assert_eq!(body["systemInstruction"]["parts"][0]["text"], "sys");
        let parameters = &body["tools"][0]["functionDeclarations"][0]["parameters"];
        assert!(parameters.get("additionalProperties").is_none(), "{parameters}");
    }

    #[test]
    fn schemas_are_cut_to_what_gemini_accepts() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "mode": {"const": "fast"},
                "limit": {"type": ["integer", "null"], "minimum": 1, "default": 5},
                "todo": {"$ref": "#/$defs/Todo"},
                "either": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                "free": {"type": "object", "additionalProperties": {"type": "string"}}
            },
            "required": ["mode", "free"],
            "additionalProperties": false,
            "$defs": {"Todo": {"type": "object", "properties": {"content": {"type": "string"}}, "additionalProperties": false}}
        });
        assert_eq!(
            gemini_schema(&schema),
            json!({
                "type": "object",
                "properties": {
                    "mode": {"enum": ["fast"]},
                    "limit": {"type": "integer", "nullable": true, "minimum": 1},
                    "todo": {"type": "object", "properties": {"content": {"type": "string"}}},
                    "either": {"anyOf": [{"type": "string"}, {"type": "number"}]}
                },
                "required": ["mode"]
            })
        );
    }

    #[test]
    fn a_stream_without_a_finish_reason_was_cut_and_errors_are_typed() {
        let mut decoder = GeminiDecoder::default();
        decoder.decode(&SseEvent::data(RECORDED[1]), &mut Vec::new()).unwrap();
        assert!(matches!(decoder.finish(&mut Vec::new()), Err(ProviderError::StreamCut)));
        let error = r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#;
        let err = decoder.decode(&SseEvent::data(error), &mut Vec::new()).unwrap_err();
        assert_eq!(err.status(), Some(529));
    }
}
