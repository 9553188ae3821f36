//! Anthropic Messages API: `POST {base}/v1/messages` with `stream: true`.
//!
//! The transport ([`Anthropic`]) sends the request and classifies HTTP failures; the
//! conversion is two pure pieces: [`request_body`] (history → JSON, with prompt-cache
//! breakpoints on the tools, the system prompt and the last message block, and the
//! thinking and effort the model offers, with the beta features they need) and
//! [`AnthropicDecoder`] (SSE events → [`StreamEvent`]s, every event type of the reference's
//! section 12.2; unknown types and blocks are ignored).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde::ser::{SerializeSeq, Serializer};

use serde_json::{Value, json};

use super::reasoning::{Reasoning, Thinking};
use super::sse::{self, SseDecoder, SseEvent};
use super::{BlockStart, EventStream, PartialUsage, Provider, ProviderError, Request, StopReason, StreamEvent};
use crate::conversation::Usage;
use crate::conversation::history::Message;

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const API_VERSION: &str = "2023-06-01";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `x-api-key`, from `ANTHROPIC_API_KEY`.
    ApiKey(String),
    /// `Authorization: Bearer`, from `ANTHROPIC_AUTH_TOKEN` (gateways, OAuth).
    Bearer(String),
}

/// The beta features cairn asks for, each only with the part of the request that needs it.
const INTERLEAVED_THINKING: &str = "interleaved-thinking-2025-05-14";
const CONTEXT_MANAGEMENT: &str = "context-management-2025-06-27";
const EFFORT: &str = "effort-2025-11-24";

pub struct Anthropic {
    client: reqwest::Client,
    url: String,
    credential: Credential,
    idle_timeout: Duration,
    /// The endpoint refused a beta feature (a proxy or gateway that knows none): from then
    /// on this session's requests go without them.
    plain: Arc<AtomicBool>,
}

impl Anthropic {
    pub fn new(client: reqwest::Client, base_url: &str, credential: Credential, idle_timeout: Duration) -> Anthropic {
        let url = format!("{}/v1/messages", base_url.trim_end_matches('/'));
        Anthropic { client, url, credential, idle_timeout, plain: Arc::new(AtomicBool::new(false)) }
    }
}

impl Provider for Anthropic {
    fn stream(&self, request: &Request<'_>) -> BoxFuture<'static, Result<EventStream, ProviderError>> {
        let features = Features::of(&request.reasoning, self.plain.load(Ordering::Relaxed));
        let body = request_body_with(request, &features);
        let mut builder = sse::post(&self.client, &self.url, body).header("anthropic-version", API_VERSION);
        let betas = features.betas();
        if !betas.is_empty() {
            builder = builder.header("anthropic-beta", betas.join(","));
        }
        builder = match &self.credential {
            Credential::ApiKey(key) => builder.header("x-api-key", key),
            Credential::Bearer(token) => builder.bearer_auth(token),
        };
        let idle = self.idle_timeout;
        let secret = match &self.credential {
            Credential::ApiKey(secret) | Credential::Bearer(secret) => secret.clone(),
        };
        let plain = Arc::clone(&self.plain);
        Box::pin(async move {
            let opened = sse::open(builder, idle, &secret, AnthropicDecoder::default()).await;
            opened.map_err(|error| if betas.is_empty() { error } else { without_betas(error, &plain) })
        })
    }
}

/// A 400 that names a beta feature (or a field only a beta accepts) is a gateway that does
/// not know it: the session goes on without betas, starting with an immediate retry.
fn without_betas(error: ProviderError, plain: &AtomicBool) -> ProviderError {
    let ProviderError::Http { status: 400, error_type, message, .. } = &error else { return error };
    let lower = message.to_ascii_lowercase();
    // The header or the fields only a beta accepts; not "effort" or "adaptive", which a
    // model refusing one level or mode says too.
    let names_a_beta = ["beta", "context_management", "output_config"].iter().any(|word| lower.contains(word));
    if !names_a_beta {
        return error;
    }
    plain.store(true, Ordering::Relaxed);
    ProviderError::Http {
        status: 400,
        error_type: error_type.clone(),
        message: format!("{message} (the endpoint refused a beta feature: trying again without them)"),
        retry_after: Some(Duration::ZERO),
        should_retry: Some(true),
    }
}

/// What of the request's reasoning goes out, and the betas that takes.
#[derive(Clone, Copy, Debug)]
struct Features {
    reasoning: Reasoning,
    /// No beta features: no `output_config`, no `context_management`, no header.
    plain: bool,
}

impl Features {
    fn of(reasoning: &Reasoning, plain: bool) -> Features {
        Features { reasoning: *reasoning, plain }
    }

    fn thinking(&self) -> Option<Value> {
        match self.reasoning.thinking {
            Thinking::Off => None,
            Thinking::Adaptive if self.reasoning.show_thinking => Some(json!({"type": "adaptive"})),
            Thinking::Adaptive => Some(json!({"type": "adaptive", "display": "omitted"})),
            Thinking::Budget(tokens) => Some(json!({"type": "enabled", "budget_tokens": tokens})),
        }
    }

    fn output_config(&self) -> Option<Value> {
        let effort = self.reasoning.effort.filter(|_| !self.plain)?;
        Some(json!({"effort": effort.as_str()}))
    }

    /// Thinking from earlier turns is kept (`keep: all`), as Claude Code asks: the cache of
    /// the conversation holds, and compaction, not the API, decides what goes.
    fn context_management(&self) -> Option<Value> {
        if self.plain || self.reasoning.thinking == Thinking::Off {
            return None;
        }
        Some(json!({"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}))
    }

    fn betas(&self) -> Vec<&'static str> {
        let mut betas = Vec::new();
        if self.plain {
            return betas;
        }
        if self.reasoning.thinking != Thinking::Off {
            betas.extend([INTERLEAVED_THINKING, CONTEXT_MANAGEMENT]);
        }
        if self.reasoning.effort.is_some() {
            betas.push(EFFORT);
        }
        betas
    }
}

#[derive(serde::Serialize)]
struct Body<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    messages: CachedMessages<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context_management: Option<Value>,
    stream: bool,
}

/// The JSON body of a streaming request. Prompt-cache breakpoints go on the last tool, the
/// system prompt and the last message block, so each turn reuses the prefix of the one before.
pub fn request_body(request: &Request<'_>) -> Vec<u8> {
    request_body_with(request, &Features::of(&request.reasoning, false))
}

fn request_body_with(request: &Request<'_>, features: &Features) -> Vec<u8> {
    let cached = json!({"type": "ephemeral"});
    let mut tools: Vec<Value> = request
        .tools
        .iter()
        .map(|tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}))
        .collect();
    if let Some(last) = tools.last_mut() {
        last["cache_control"] = cached.clone();
    }
    let system = if request.system.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "text", "text": request.system, "cache_control": cached})]
    };
    let body = Body {
        model: request.model,
        max_tokens: request.max_tokens,
        system,
        tools,
        messages: CachedMessages(request.messages),
        thinking: features.thinking(),
        output_config: features.output_config(),
        context_management: features.context_management(),
        stream: true,
    };
    // Serialising plain data into a Vec cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The history with cache breakpoints on the final content block and on the last block of
/// the user message before it (where the previous request's prefix ended), so a turn that
/// adds many blocks still reads the cache. With the tools and the system prompt, four in all.
struct CachedMessages<'a>(&'a [Message]);

impl serde::Serialize for CachedMessages<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        let last = self.0.len().saturating_sub(1);
        let previous = self.0[..last].iter().rposition(|m| m.role == crate::conversation::history::Role::User);
        for (i, message) in self.0.iter().enumerate() {
            if i == last || Some(i) == previous {
                let mut content: Vec<Value> =
                    message.content.iter().map(|b| serde_json::to_value(b).unwrap_or(Value::Null)).collect();
                if let Some(Value::Object(block)) = content.last_mut()
                    && block
                        .get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t != "thinking" && t != "redacted_thinking")
                {
                    block.insert("cache_control".into(), json!({"type": "ephemeral"}));
                }
                seq.serialize_element(&json!({"role": message.role, "content": content}))?;
            } else {
                seq.serialize_element(message)?;
            }
        }
        seq.end()
    }
}

pub(crate) fn classify(
    status: u16,
    error_type: String,
    message: String,
    retry_after: Option<Duration>,
    should_retry: Option<bool>,
) -> ProviderError {
    let lower = message.to_ascii_lowercase();
    let too_long = lower.contains("prompt is too long")
        || lower.contains("input is too long")
        || lower.contains("context length")
        || lower.contains("context_length_exceeded")
        || lower.contains("exceed context limit")
        || lower.contains("maximum context");
    if (status == 400 && too_long) || status == 413 {
        return ProviderError::ContextTooLong { message };
    }
    let message = if message.is_empty() { default_message(status).to_owned() } else { message };
    ProviderError::Http { status, error_type, message, retry_after, should_retry }
}

fn default_message(status: u16) -> &'static str {
    match status {
        401 => "authentication failed: check your API key",
        403 => "permission denied",
        404 => "not found: check the base URL and the model name",
        429 => "rate limited",
        529 => "Overloaded",
        500..=599 => "server error",
        _ => "request failed",
    }
}

fn short(text: &str) -> String {
    const MAX: usize = 500;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ApiEvent {
    MessageStart {
        message: MessageStartBody,
    },
    ContentBlockStart {
        index: usize,
        content_block: ApiBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: ApiDelta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<PartialUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorBody,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct MessageStartBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: Usage,
}

#[derive(Deserialize, Default)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<StopReason>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ApiBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    RedactedThinking {
        #[serde(default)]
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ApiDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    #[serde(other)]
    Other,
}

/// Anthropic SSE events → [`StreamEvent`]s.
#[derive(Debug, Default)]
pub struct AnthropicDecoder {
    stopped: bool,
}

impl SseDecoder for AnthropicDecoder {
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if event.data.trim().is_empty() {
            return Ok(());
        }
        let parsed: ApiEvent = serde_json::from_str(&event.data)
            .map_err(|e| ProviderError::Malformed(format!("{e} in {:?}", short(&event.data))))?;
        match parsed {
            ApiEvent::MessageStart { message } => {
                out.push(StreamEvent::MessageStart { id: message.id, model: message.model, usage: message.usage });
            }
            ApiEvent::ContentBlockStart { index, content_block } => match content_block {
                ApiBlock::Text { text } => {
                    out.push(StreamEvent::BlockStart { index, block: BlockStart::Text });
                    if !text.is_empty() {
                        out.push(StreamEvent::TextDelta { index, text });
                    }
                }
                ApiBlock::Thinking { thinking } => {
                    out.push(StreamEvent::BlockStart { index, block: BlockStart::Thinking });
                    if !thinking.is_empty() {
                        out.push(StreamEvent::ThinkingDelta { index, thinking });
                    }
                }
                ApiBlock::RedactedThinking { data } => {
                    out.push(StreamEvent::BlockStart { index, block: BlockStart::RedactedThinking { data } });
                }
                ApiBlock::ToolUse { id, name, input } => {
                    out.push(StreamEvent::BlockStart { index, block: BlockStart::ToolUse { id, name } });
                    // Some gateways send the whole input here instead of as deltas.
                    if input.as_object().is_some_and(|o| !o.is_empty()) {
                        out.push(StreamEvent::ToolInputDelta { index, partial_json: input.to_string() });
                    }
                }
                ApiBlock::Other => {}
            },
            ApiEvent::ContentBlockDelta { index, delta } => match delta {
                ApiDelta::TextDelta { text } => out.push(StreamEvent::TextDelta { index, text }),
                ApiDelta::InputJsonDelta { partial_json } => {
                    out.push(StreamEvent::ToolInputDelta { index, partial_json });
                }
                ApiDelta::ThinkingDelta { thinking } => out.push(StreamEvent::ThinkingDelta { index, thinking }),
                ApiDelta::SignatureDelta { signature } => {
                    out.push(StreamEvent::SignatureDelta { index, signature });
                }
                ApiDelta::Other => {}
            },
            ApiEvent::ContentBlockStop { index } => out.push(StreamEvent::BlockStop { index }),
            ApiEvent::MessageDelta { delta, usage } => {
                out.push(StreamEvent::MessageDelta { stop_reason: delta.stop_reason, usage });
            }
            ApiEvent::MessageStop => {
                self.stopped = true;
                out.push(StreamEvent::MessageStop);
            }
            ApiEvent::Ping | ApiEvent::Unknown => {}
            ApiEvent::Error { error } => {
                return Err(ProviderError::StreamError { error_type: error.kind, message: error.message });
            }
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if self.stopped { Ok(()) } else { Err(ProviderError::StreamCut) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::history::ContentBlock;
    use crate::provider::{ResponseBuilder, ToolSpec};

    fn sse(data: &str) -> SseEvent {
        SseEvent::data(data)
    }

    /// The reference's complete example (thinking + text + tool_use), line by line.
    const RECORDED: &[&str] = &[
        r#"{"type":"message_start","message":{"id":"msg_01ABC","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":12000,"output_tokens":2}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"User wants the tests run."}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3h..."}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        r#"{"type": "ping"}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Running the test suite."}}"#,
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"Bash","input":{}}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"command\": \"npm te"}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"st\", \"description\": \"Run tests\"}"}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"citations_delta","citation":{}}}"#,
        r#"{"type":"content_block_stop","index":2}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#,
        r#"{"type":"brand_new_event","x":1}"#,
        r#"{"type":"message_stop"}"#,
    ];

    #[test]
    fn decodes_the_reference_stream_into_a_response() {
        let mut decoder = AnthropicDecoder::default();
        let mut builder = ResponseBuilder::default();
        for line in RECORDED {
            let mut out = Vec::new();
            decoder.decode(&sse(line), &mut out).unwrap();
            out.iter().for_each(|e| builder.apply(e));
        }
        assert!(decoder.finish(&mut Vec::new()).is_ok());
        let r = builder.finish();
        assert_eq!(r.id, "msg_01ABC");
        assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(r.usage.cache_read_input_tokens, 12000);
        assert_eq!(r.usage.output_tokens, 89);
        assert_eq!(
            r.content,
            vec![
                ContentBlock::Thinking {
                    thinking: "User wants the tests run.".into(),
                    signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3h...".into()
                },
                ContentBlock::text("Running the test suite."),
                ContentBlock::ToolUse {
                    id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                    name: "Bash".into(),
                    input: json!({"command": "npm test", "description": "Run tests"}),
                },
            ]
        );
    }

    #[test]
    fn a_stream_without_message_stop_is_cut_and_an_error_event_is_typed() {
        let mut decoder = AnthropicDecoder::default();
        decoder.decode(&sse(RECORDED[0]), &mut Vec::new()).unwrap();
        assert!(matches!(decoder.finish(&mut Vec::new()), Err(ProviderError::StreamCut)));
        let err = decoder
            .decode(
                &sse(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
                &mut Vec::new(),
            )
            .unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(err.status(), Some(529));
        assert!(matches!(decoder.decode(&sse("{not json"), &mut Vec::new()), Err(ProviderError::Malformed(_))));
    }

    #[test]
    fn prompt_too_long_is_its_own_error() {
        let e = classify(
            400,
            "invalid_request_error".into(),
            "prompt is too long: 200251 tokens > 200000 maximum".into(),
            None,
            None,
        );
        assert!(matches!(e, ProviderError::ContextTooLong { .. }));
        assert!(!e.is_retryable());
        let e = classify(529, "overloaded_error".into(), "Overloaded".into(), Some(Duration::from_secs(1)), None);
        assert!(e.is_retryable());
        let e = classify(500, String::new(), String::new(), None, Some(false));
        assert!(!e.is_retryable());
    }

    #[test]
    fn thinking_and_effort_go_out_with_their_betas_or_plain_without_them() {
        use crate::provider::reasoning::Effort;
        let history = vec![Message::user_text("hi")];
        let mut request = Request {
            model: "m",
            system: "",
            messages: &history,
            tools: &[],
            max_tokens: 128_000,
            session_id: "s",
            reasoning: Reasoning::NONE,
        };
        let body = |request: &Request<'_>, plain: bool| -> Value {
            serde_json::from_slice(&request_body_with(request, &Features::of(&request.reasoning, plain))).unwrap()
        };
        let none = body(&request, false);
        assert!(none.get("thinking").is_none() && none.get("output_config").is_none());
        assert!(Features::of(&request.reasoning, false).betas().is_empty());

        request.reasoning =
            Reasoning { thinking: Thinking::Adaptive, effort: Some(Effort::Medium), show_thinking: false };
        let current = body(&request, false);
        assert_eq!(current["thinking"], json!({"type": "adaptive", "display": "omitted"}));
        assert_eq!(current["output_config"], json!({"effort": "medium"}));
        assert_eq!(
            current["context_management"],
            json!({"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]})
        );
        assert_eq!(Features::of(&request.reasoning, false).betas(), [INTERLEAVED_THINKING, CONTEXT_MANAGEMENT, EFFORT]);

        let plain = body(&request, true);
        assert_eq!(plain["thinking"], json!({"type": "adaptive", "display": "omitted"}));
        assert!(plain.get("output_config").is_none() && plain.get("context_management").is_none());
        assert!(Features::of(&request.reasoning, true).betas().is_empty());

        request.reasoning = Reasoning { thinking: Thinking::Budget(31_999), effort: None, show_thinking: true };
        assert_eq!(body(&request, false)["thinking"], json!({"type": "enabled", "budget_tokens": 31_999}));
    }

    #[test]
    fn a_400_naming_a_beta_is_retried_once_without_betas() {
        let plain = AtomicBool::new(false);
        let refused = classify(
            400,
            "invalid_request_error".into(),
            "Unexpected value(s) `effort-2025-11-24` for the `anthropic-beta` header".into(),
            None,
            None,
        );
        let retried = without_betas(refused, &plain);
        assert!(retried.is_retryable());
        assert_eq!(retried.retry_after(), Some(Duration::ZERO));
        assert!(plain.load(Ordering::Relaxed));
        let other = classify(400, "invalid_request_error".into(), "messages: field required".into(), None, None);
        assert!(!without_betas(other, &AtomicBool::new(false)).is_retryable());
    }

    #[test]
    fn body_marks_cache_breakpoints_and_round_trips_thinking() {
        let history = vec![
            Message::user_text("hi"),
            Message {
                role: crate::conversation::history::Role::Assistant,
                content: vec![
                    ContentBlock::Thinking { thinking: "t".into(), signature: "sig".into() },
                    ContentBlock::text("ok"),
                ],
            },
            Message::user_text("more"),
        ];
        let tools =
            vec![ToolSpec { name: "Read".into(), description: "d".into(), input_schema: json!({"type": "object"}) }];
        let request = Request {
            model: "m",
            system: "sys",
            messages: &history,
            tools: &tools,
            max_tokens: 100,
            session_id: "s",
            reasoning: Reasoning::NONE,
        };
        let body: Value = serde_json::from_slice(&request_body(&request)).unwrap();
        assert_eq!(body["stream"], json!(true));
        assert_eq!(body["tools"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(body["system"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(body["messages"][2]["content"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(body["messages"][1]["content"][0], json!({"type": "thinking", "thinking": "t", "signature": "sig"}));
        // The user message before the last holds the previous request's breakpoint: four in all.
        assert_eq!(body["messages"][0]["content"][0]["cache_control"]["type"], "ephemeral");
        assert!(body["messages"][1]["content"][1].get("cache_control").is_none());
        assert_eq!(body.to_string().matches("cache_control").count(), 4);
    }
}
