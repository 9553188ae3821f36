//! What the mock sends and checks on the wire: a step rendered as Anthropic Messages SSE or
//! OpenAI Chat Completions SSE (the Responses API and Gemini are in `other_wires`), error
//! bodies in each dialect, and the history check the real API makes (every `tool_use`
//! answered by a `tool_result` in the next message).

use serde_json::{Value, json};

use super::scenario::Step;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Anthropic,
    OpenAi,
    Responses,
    Gemini,
}

const DEFAULT_CHUNK_CHARS: usize = 12;

fn chunks(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size.max(1)).map(|c| c.iter().collect()).collect()
}

fn tool_id(index: usize, i: usize, given: &Option<String>, dialect: Dialect) -> String {
    given.clone().unwrap_or_else(|| match dialect {
        Dialect::Anthropic => format!("toolu_mock_{index}_{i}"),
        _ => format!("call_mock_{index}_{i}"),
    })
}

/// The input JSON of each call in pieces; the last call's is cut in half when the step
/// stops at `max_tokens`.
fn tool_json_pieces(step: &Step) -> Vec<Vec<String>> {
    let last = step.tool_calls.len().saturating_sub(1);
    step.tool_calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            let mut json = call.input.to_string();
            if i == last && step.stop_reason() == "max_tokens" {
                json.truncate(json.len() / 2);
            }
            chunks(&json, json.len().div_ceil(3).max(1))
        })
        .collect()
}

fn sse(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// The signature of a thinking block the mock sent: its request number and a hash of the
/// text as streamed, so [`check_history`] can tell a block that came back changed.
pub fn signature(index: usize, thinking: &str) -> String {
    format!("sig-mock-{index}-{:016x}", fnv(thinking))
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// A `sig-mock-` signature that does not match its block's text (other signatures, as in
/// hand-written transcripts, are not checked).
fn bad_signature(block: &Value) -> bool {
    let (Some(sig), Some(text)) = (block["signature"].as_str(), block["thinking"].as_str()) else { return true };
    let Some(rest) = sig.strip_prefix("sig-mock-") else { return false };
    rest.split_once('-').is_none_or(|(_, hash)| hash != format!("{:016x}", fnv(text)))
}

/// `omit_thinking`: the request asked for `display: omitted` (the signature, no text).
pub fn anthropic_frames(step: &Step, model: &str, index: usize, input_tokens: u64, omit_thinking: bool) -> Vec<String> {
    let usage = step.usage.unwrap_or_default();
    let size = step.chunk_chars.unwrap_or(DEFAULT_CHUNK_CHARS);
    let mut frames = vec![sse(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": format!("msg_mock_{index}"), "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": usage.input_tokens.unwrap_or(input_tokens),
                      "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                      "cache_read_input_tokens": usage.cache_read_input_tokens, "output_tokens": 1}}}),
    )];
    frames.push(sse("ping", &json!({"type": "ping"})));
    let mut block = 0;
    let mut output_chars = 0;
    let mut open = |frames: &mut Vec<String>, content_block: Value| {
        frames.push(sse(
            "content_block_start",
            &json!({"type": "content_block_start", "index": block, "content_block": content_block}),
        ));
        block += 1;
        block - 1
    };
    let delta = |index: usize, delta: Value| {
        sse("content_block_delta", &json!({"type": "content_block_delta", "index": index, "delta": delta}))
    };
    let stop = |index: usize| sse("content_block_stop", &json!({"type": "content_block_stop", "index": index}));
    if let Some(thinking) = &step.thinking {
        let shown = if omit_thinking { "" } else { thinking.as_str() };
        let i = open(&mut frames, json!({"type": "thinking", "thinking": "", "signature": ""}));
        for piece in chunks(shown, size) {
            frames.push(delta(i, json!({"type": "thinking_delta", "thinking": piece})));
        }
        frames.push(delta(i, json!({"type": "signature_delta", "signature": signature(index, shown)})));
        frames.push(stop(i));
        output_chars += thinking.len();
    }
    if let Some(text) = &step.text {
        let i = open(&mut frames, json!({"type": "text", "text": ""}));
        for piece in chunks(text, size) {
            frames.push(delta(i, json!({"type": "text_delta", "text": piece})));
        }
        frames.push(stop(i));
        output_chars += text.len();
    }
    for (n, (call, pieces)) in step.tool_calls.iter().zip(tool_json_pieces(step)).enumerate() {
        let id = tool_id(index, n, &call.id, Dialect::Anthropic);
        let i = open(&mut frames, json!({"type": "tool_use", "id": id, "name": call.name, "input": {}}));
        frames.push(delta(i, json!({"type": "input_json_delta", "partial_json": ""})));
        for piece in pieces {
            output_chars += piece.len();
            frames.push(delta(i, json!({"type": "input_json_delta", "partial_json": piece})));
        }
        frames.push(stop(i));
    }
    if let Some(text) = &step.text_after {
        let i = open(&mut frames, json!({"type": "text", "text": ""}));
        for piece in chunks(text, size) {
            frames.push(delta(i, json!({"type": "text_delta", "text": piece})));
        }
        frames.push(stop(i));
        output_chars += text.len();
    }
    let output_tokens = usage.output_tokens.unwrap_or((output_chars as u64 / 4).max(1));
    frames.push(sse(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": step.stop_reason(), "stop_sequence": null},
                "usage": {"output_tokens": output_tokens}}),
    ));
    frames.push(sse("message_stop", &json!({"type": "message_stop"})));
    frames
}

pub fn openai_frames(step: &Step, model: &str, index: usize, input_tokens: u64) -> Vec<String> {
    let usage = step.usage.unwrap_or_default();
    let size = step.chunk_chars.unwrap_or(DEFAULT_CHUNK_CHARS);
    let id = format!("chatcmpl-mock-{index}");
    let chunk = |delta: Value, finish: Value| {
        let data = json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {data}\n\n")
    };
    let mut frames = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    let mut output_chars = 0;
    if let Some(thinking) = &step.thinking {
        for piece in chunks(thinking, size) {
            frames.push(chunk(json!({"reasoning_content": piece}), Value::Null));
        }
        output_chars += thinking.len();
    }
    if let Some(text) = &step.text {
        for piece in chunks(text, size) {
            frames.push(chunk(json!({"content": piece}), Value::Null));
        }
        output_chars += text.len();
    }
    for (n, (call, pieces)) in step.tool_calls.iter().zip(tool_json_pieces(step)).enumerate() {
        let call_id = tool_id(index, n, &call.id, Dialect::OpenAi);
        frames.push(chunk(
            json!({"tool_calls": [{"index": n, "id": call_id, "type": "function",
                                   "function": {"name": call.name, "arguments": ""}}]}),
            Value::Null,
        ));
        for piece in pieces {
            output_chars += piece.len();
            frames.push(chunk(json!({"tool_calls": [{"index": n, "function": {"arguments": piece}}]}), Value::Null));
        }
    }
    let finish = match step.stop_reason() {
        "tool_use" => "tool_calls",
        "max_tokens" => "length",
        _ => "stop",
    };
    frames.push(chunk(json!({}), json!(finish)));
    let prompt_tokens = usage.input_tokens.unwrap_or(input_tokens) + usage.cache_read_input_tokens;
    let usage_chunk = json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
        "choices": [], "usage": {"prompt_tokens": prompt_tokens,
        "completion_tokens": usage.output_tokens.unwrap_or((output_chars as u64 / 4).max(1)),
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens}}});
    frames.push(format!("data: {usage_chunk}\n\n"));
    frames.push("data: [DONE]\n\n".into());
    frames
}

/// A broken event in the dialect's framing.
pub fn malformed_frame(dialect: Dialect) -> String {
    match dialect {
        Dialect::Anthropic => "event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\"\n\n".into(),
        Dialect::OpenAi => "data: {\"id\": \"chatcmpl-broken\", \"choices\": [{\"delta\": \n\n".into(),
        Dialect::Responses => "event: response.output_text.delta\ndata: {\"type\": \"response.output\n\n".into(),
        Dialect::Gemini => "data: {\"candidates\": [{\"content\": \n\n".into(),
    }
}

pub fn stream_error_frame(dialect: Dialect, error_type: &str) -> String {
    match dialect {
        Dialect::Anthropic => {
            sse("error", &json!({"type": "error", "error": {"type": error_type, "message": "Overloaded"}}))
        }
        Dialect::OpenAi => format!("data: {}\n\n", json!({"error": {"type": error_type, "message": "Overloaded"}})),
        Dialect::Responses => {
            let code = if error_type == "overloaded_error" { "server_is_overloaded" } else { "server_error" };
            sse("error", &json!({"type": "error", "code": code, "message": "Overloaded"}))
        }
        Dialect::Gemini => {
            let status = if error_type == "overloaded_error" { "UNAVAILABLE" } else { "INTERNAL" };
            format!("data: {}\n\n", json!({"error": {"code": 503, "message": "Overloaded", "status": status}}))
        }
    }
}

pub fn error_body(dialect: Dialect, error_type: &str, message: &str) -> String {
    match dialect {
        Dialect::Anthropic => {
            json!({"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_mock"})
                .to_string()
        }
        Dialect::OpenAi | Dialect::Responses => {
            json!({"error": {"message": message, "type": error_type, "code": null}}).to_string()
        }
        Dialect::Gemini => json!({"error": {"code": 400, "message": message, "status": error_type}}).to_string(),
    }
}

pub fn default_error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// What the real APIs reject about a request's history (tool calls and their results,
/// roles, empty content). Empty means the history is valid.
pub fn check_history(dialect: Dialect, body: &Value) -> Vec<String> {
    match dialect {
        Dialect::Responses => return super::other_wires::check_responses(body),
        Dialect::Gemini => return super::other_wires::check_gemini(body),
        Dialect::Anthropic | Dialect::OpenAi => {}
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return vec!["the request has no messages array".into()];
    };
    match dialect {
        Dialect::Anthropic => check_anthropic(messages),
        _ => check_openai(messages),
    }
}

fn blocks(message: &Value) -> Vec<Value> {
    match message.get("content") {
        Some(Value::Array(blocks)) => blocks.clone(),
        Some(Value::String(text)) => vec![json!({"type": "text", "text": text})],
        _ => Vec::new(),
    }
}

fn ids_of(blocks: &[Value], kind: &str, field: &str) -> Vec<String> {
    blocks.iter().filter(|b| b["type"] == kind).filter_map(|b| b[field].as_str().map(str::to_owned)).collect()
}

fn check_anthropic(messages: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in messages.iter().flat_map(|m| ids_of(&blocks(m), "tool_use", "id")) {
        if !seen.insert(id.clone()) {
            problems.push(format!("messages: `tool_use` ids must be unique: {id}"));
        }
    }
    if messages.first().is_some_and(|m| m["role"] != "user") {
        problems.push("messages: the first message must use the \"user\" role".into());
    }
    for (i, message) in messages.iter().enumerate() {
        let content = blocks(message);
        if content.is_empty() {
            problems.push(format!("messages.{i}: all messages must have non-empty content"));
        }
        if content.iter().any(|b| b["type"] == "text" && b["text"].as_str().is_some_and(|t| t.trim().is_empty())) {
            problems.push(format!("messages.{i}: text content blocks must contain non-whitespace text"));
        }
        if message["role"] == "assistant" {
            for (j, block) in content.iter().enumerate().filter(|(_, b)| b["type"] == "thinking") {
                if bad_signature(block) {
                    problems.push(format!("messages.{i}.content.{j}: Invalid `signature` in `thinking` block"));
                }
            }
            let asked = ids_of(&content, "tool_use", "id");
            let answered =
                messages.get(i + 1).map(|next| ids_of(&blocks(next), "tool_result", "tool_use_id")).unwrap_or_default();
            let missing: Vec<&String> = asked.iter().filter(|id| !answered.contains(id)).collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. \
                     Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if message["role"] == "user" {
            let answered = ids_of(&content, "tool_result", "tool_use_id");
            let asked = i.checked_sub(1).map(|p| ids_of(&blocks(&messages[p]), "tool_use", "id")).unwrap_or_default();
            for id in answered.iter().filter(|id| !asked.contains(id)) {
                problems.push(format!(
                    "messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. \
                     Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                ));
            }
        }
    }
    problems
}

fn check_openai(messages: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let Some(calls) = message.get("tool_calls").and_then(Value::as_array) else { continue };
        let asked: Vec<&str> = calls.iter().filter_map(|c| c["id"].as_str()).collect();
        let answered: Vec<&str> = messages[i + 1..]
            .iter()
            .take_while(|m| m["role"] == "tool")
            .filter_map(|m| m["tool_call_id"].as_str())
            .collect();
        for id in asked.iter().filter(|id| !answered.contains(id)) {
            problems.push(format!(
                "messages.[{i}]: an assistant message with 'tool_calls' must be followed by tool messages \
                 responding to each 'tool_call_id'. Missing: {id}"
            ));
        }
    }
    problems
}

/// Whether a request asks for a compaction summary.
pub fn is_summary_request(body: &Value) -> bool {
    let Some(last) = body["messages"].as_array().and_then(|m| m.last()) else { return false };
    blocks(last).iter().any(|b| b["text"].as_str().is_some_and(|t| t.contains("Summarize this conversation so far")))
}

/// A summary a model might write: it restates the first thing the user asked (what cairn
/// sent first, context blocks left out) and counts the messages.
pub fn summary_of(body: &Value) -> String {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let first = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .flat_map(blocks)
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .find(|t| !t.starts_with("<system-reminder>"))
        .unwrap_or_default();
    let first: String = first.chars().take(400).collect();
    format!(
        "<summary>\n1. Task and intent: {first}\n6. Current step: the conversation had {} messages.\n</summary>",
        messages.len()
    )
}
