//! The mock's OpenAI Responses and Gemini dialects: a step rendered as each API streams it,
//! and the checks each API makes of the history it is sent — every call answered, and the
//! reasoning items (Responses) and thought signatures (Gemini) the mock issued coming back
//! unchanged, each with its own item or call. Requests are also seen Anthropic-shaped
//! ([`as_messages`]), so summary requests are recognised in every dialect.

use serde_json::{Value, json};

use super::scenario::Step;

const CHUNK_CHARS: usize = 12;

fn chunks(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(CHUNK_CHARS).map(|c| c.iter().collect()).collect()
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The encrypted content of the reasoning item `id`: what must come back with it.
pub fn encrypted_content(id: &str) -> String {
    format!("enc-mock-{:016x}", fnv(id))
}

/// The thought signature of a function call: a hash of its name and arguments.
pub fn thought_signature(name: &str, args: &Value) -> String {
    format!("sig-gem-{:016x}", fnv(&format!("{name}{args}")))
}

fn output_tokens(step: &Step) -> u64 {
    let chars = step.thinking.as_deref().map_or(0, str::len)
        + step.text.as_deref().map_or(0, str::len)
        + step.tool_calls.iter().map(|c| c.input.to_string().len()).sum::<usize>();
    step.usage.and_then(|u| u.output_tokens).unwrap_or((chars as u64 / 4).max(1))
}

fn event(data: &Value) -> String {
    format!("event: {}\ndata: {data}\n\n", data["type"].as_str().unwrap_or("message"))
}

/// A step as the Responses API streams it: one output item per reasoning, message and
/// function call, then `response.completed` (or `response.incomplete` at the output limit).
pub fn responses_frames(step: &Step, model: &str, index: usize, input_tokens: u64) -> Vec<String> {
    let usage = step.usage.unwrap_or_default();
    let id = format!("resp_mock_{index}");
    let mut frames = vec![event(&json!({"type": "response.created", "response": {"id": id, "model": model}}))];
    let mut output = 0;
    if let Some(thinking) = &step.thinking {
        let item = format!("rs_mock_{index}");
        frames.push(event(&json!({"type": "response.output_item.added", "output_index": output,
            "item": {"type": "reasoning", "id": item, "summary": []}})));
        frames.push(event(&json!({"type": "response.reasoning_summary_part.added", "output_index": output,
            "summary_index": 0})));
        for piece in chunks(thinking) {
            frames.push(event(&json!({"type": "response.reasoning_summary_text.delta", "output_index": output,
                "summary_index": 0, "delta": piece})));
        }
        frames.push(event(&json!({"type": "response.output_item.done", "output_index": output,
            "item": {"type": "reasoning", "id": item, "encrypted_content": encrypted_content(&item)}})));
        output += 1;
    }
    if let Some(text) = &step.text {
        frames.push(event(&json!({"type": "response.output_item.added", "output_index": output,
            "item": {"type": "message", "id": format!("msg_mock_{index}"), "role": "assistant", "content": []}})));
        for piece in chunks(text) {
            frames.push(event(&json!({"type": "response.output_text.delta", "output_index": output,
                "content_index": 0, "delta": piece})));
        }
        frames.push(event(&json!({"type": "response.output_item.done", "output_index": output,
            "item": {"type": "message", "id": format!("msg_mock_{index}")}})));
        output += 1;
    }
    for (n, call) in step.tool_calls.iter().enumerate() {
        let call_id = call.id.clone().unwrap_or_else(|| format!("call_mock_{index}_{n}"));
        let arguments = call.input.to_string();
        frames.push(event(&json!({"type": "response.output_item.added", "output_index": output,
            "item": {"type": "function_call", "id": format!("fc_{call_id}"), "call_id": call_id, "name": call.name,
                     "arguments": ""}})));
        for piece in chunks(&arguments) {
            frames.push(event(&json!({"type": "response.function_call_arguments.delta", "output_index": output,
                "delta": piece})));
        }
        frames.push(event(&json!({"type": "response.output_item.done", "output_index": output,
            "item": {"type": "function_call", "call_id": call_id, "name": call.name, "arguments": arguments}})));
        output += 1;
    }
    let cached = usage.cache_read_input_tokens;
    let usage = json!({"input_tokens": usage.input_tokens.unwrap_or(input_tokens) + cached,
        "input_tokens_details": {"cached_tokens": cached}, "output_tokens": output_tokens(step),
        "output_tokens_details": {"reasoning_tokens": step.thinking.as_deref().map_or(0, |t| t.len() / 4)}});
    let end = if step.stop_reason() == "max_tokens" {
        json!({"type": "response.incomplete", "response": {"id": id, "model": model, "usage": usage,
            "incomplete_details": {"reason": "max_output_tokens"}}})
    } else {
        json!({"type": "response.completed", "response": {"id": id, "model": model, "usage": usage}})
    };
    frames.push(event(&end));
    frames
}

/// A step as Gemini streams it: thoughts, text, then the function calls (the first carrying
/// a thought signature, as Gemini 3 signs them), the last chunk with the finish reason.
pub fn gemini_frames(step: &Step, model: &str, index: usize, input_tokens: u64) -> Vec<String> {
    let usage = step.usage.unwrap_or_default();
    let chunk = |parts: Value| {
        let data = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
            "modelVersion": model, "responseId": format!("gem_mock_{index}")});
        format!("data: {data}\n\n")
    };
    let mut frames = Vec::new();
    if let Some(thinking) = &step.thinking {
        for piece in chunks(thinking) {
            frames.push(chunk(json!([{"text": piece, "thought": true}])));
        }
    }
    if let Some(text) = &step.text {
        for piece in chunks(text) {
            frames.push(chunk(json!([{"text": piece}])));
        }
    }
    let calls: Vec<Value> = step
        .tool_calls
        .iter()
        .enumerate()
        .map(|(n, call)| {
            let mut part = json!({"functionCall": {"name": call.name, "args": call.input}});
            if n == 0 {
                part["thoughtSignature"] = json!(thought_signature(&call.name, &call.input));
            }
            part
        })
        .collect();
    let finish = if step.stop_reason() == "max_tokens" { "MAX_TOKENS" } else { "STOP" };
    let cached = usage.cache_read_input_tokens;
    let last = json!({"candidates": [{"content": {"role": "model", "parts": calls}, "finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": usage.input_tokens.unwrap_or(input_tokens) + cached,
            "cachedContentTokenCount": cached, "candidatesTokenCount": output_tokens(step),
            "thoughtsTokenCount": step.thinking.as_deref().map_or(0, |t| t.len() / 4)},
        "modelVersion": model});
    frames.push(format!("data: {last}\n\n"));
    frames
}

/// What the Responses API rejects: a call without its output, an output without its call,
/// a reasoning item that came back changed.
pub fn check_responses(body: &Value) -> Vec<String> {
    let Some(input) = body["input"].as_array() else { return vec!["input: required".into()] };
    let mut problems = Vec::new();
    let calls: Vec<&str> =
        input.iter().filter(|i| i["type"] == "function_call").filter_map(|i| i["call_id"].as_str()).collect();
    let outputs: Vec<&str> =
        input.iter().filter(|i| i["type"] == "function_call_output").filter_map(|i| i["call_id"].as_str()).collect();
    for call in calls.iter().filter(|c| !outputs.contains(c)) {
        problems.push(format!("No tool output found for function call {call}."));
    }
    for output in outputs.iter().filter(|o| !calls.contains(o)) {
        problems.push(format!("No tool call found for function call output with call_id {output}."));
    }
    for item in input.iter().filter(|i| i["type"] == "reasoning") {
        let id = item["id"].as_str().unwrap_or_default();
        if item["encrypted_content"].as_str() != Some(&encrypted_content(id)) {
            problems.push(format!("The encrypted content for item {id} could not be verified."));
        }
    }
    problems
}

/// What Gemini rejects: a function response without a call before it, a signed call whose
/// signature is missing or changed.
pub fn check_gemini(body: &Value) -> Vec<String> {
    let Some(contents) = body["contents"].as_array() else { return vec!["contents: required".into()] };
    let mut problems = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let parts = content["parts"].as_array().cloned().unwrap_or_default();
        let calls: Vec<&Value> = parts.iter().filter(|p| p.get("functionCall").is_some()).collect();
        if let Some(first) = calls.first() {
            let call = &first["functionCall"];
            let expected = thought_signature(call["name"].as_str().unwrap_or_default(), &call["args"]);
            if first["thoughtSignature"].as_str() != Some(&expected) {
                problems.push(format!(
                    "contents[{i}]: Function call is missing a thought_signature in functionCall parts."
                ));
            }
        }
        let responses = parts.iter().filter(|p| p.get("functionResponse").is_some()).count();
        let asked = i.checked_sub(1).map_or(0, |p| {
            contents[p]["parts"]
                .as_array()
                .map_or(0, |ps| ps.iter().filter(|p| p.get("functionCall").is_some()).count())
        });
        if responses != asked && (responses > 0 || asked > 0) {
            problems.push(format!(
                "contents[{i}]: the number of function response parts ({responses}) must equal the number of \
                 function call parts of the function call turn ({asked})."
            ));
        }
    }
    problems
}

/// The request as Anthropic-shaped messages of text blocks, for the summary checks.
pub fn as_messages(body: &Value) -> Value {
    let mut messages = Vec::new();
    if let Some(input) = body["input"].as_array() {
        for item in input {
            let role = item["role"].as_str().unwrap_or("assistant");
            let texts: Vec<Value> = item["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str())
                .map(|t| json!({"type": "text", "text": t}))
                .collect();
            messages.push(json!({"role": role, "content": texts}));
        }
    }
    if let Some(contents) = body["contents"].as_array() {
        for content in contents {
            let role = if content["role"] == "model" { "assistant" } else { "user" };
            let texts: Vec<Value> = content["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str())
                .map(|t| json!({"type": "text", "text": t}))
                .collect();
            messages.push(json!({"role": role, "content": texts}));
        }
    }
    json!({"messages": messages})
}
