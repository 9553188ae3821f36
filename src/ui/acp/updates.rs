//! How cairn's conversation looks to an ACP client: the `session/update` payloads for
//! tool calls (kind, title, locations, raw input, and content — a `diff` for an edit, the
//! output in a code block for a command), the plan from TodoWrite, and the replay of a
//! saved conversation (`session/load`): user and agent message chunks, thoughts, and each
//! tool call with its final state.
//!
//! Pure functions of the data: the same call looks the same live and replayed.

use std::path::Path;

use serde_json::{Value, json};

use crate::conversation::Todo;
use crate::conversation::history::{
    CONTINUE_PROMPT, ContentBlock, INTERRUPTED_REQUEST, INTERRUPTED_TOOLS, Message, Role, ToolResultContent,
};
use crate::conversation::tool_names::family;

/// A text content block.
pub fn text(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

pub fn message_chunk(kind: &str, content: Value) -> Value {
    json!({"sessionUpdate": kind, "content": content})
}

/// The `tool_call` that announces a call the model made (before it is gated or runs).
pub fn tool_call(call_id: &str, tool: &str, input: &Value, cwd: &Path) -> Value {
    let mut call = json!({
        "sessionUpdate": "tool_call", "toolCallId": call_id, "title": title(tool, input),
        "kind": kind(tool), "status": "pending", "rawInput": input,
        "locations": locations(tool, input, cwd),
    });
    let diffs = diffs(tool, input, cwd);
    if !diffs.is_empty() {
        call["content"] = Value::Array(diffs);
    }
    // A plan to approve is shown, not just named.
    if let Some(plan) = input.get("plan").and_then(Value::as_str).filter(|_| tool == "ExitPlanMode") {
        call["content"] = json!([{"type": "content", "content": text(plan)}]);
    }
    call
}

/// The call started running.
pub fn tool_running(call_id: &str) -> Value {
    json!({"sessionUpdate": "tool_call_update", "toolCallId": call_id, "status": "in_progress"})
}

/// A sub-agent's progress, under the Task call that started it: a line of text, and the
/// figures in `_meta.cairn` (a background agent's call is done already; its card still
/// shows how the agent fares).
pub fn agent_progress(task: &crate::protocol::TaskUpdate) -> Value {
    use crate::protocol::TaskState;
    let who = task.name.clone().unwrap_or_else(|| task.agent_type.clone());
    let state = match task.state {
        TaskState::Started => "started",
        TaskState::Running => "running",
        TaskState::Completed => "completed",
        TaskState::Failed => "failed",
        TaskState::Stopped => "stopped",
    };
    let line = match (task.state, &task.current_tool) {
        (TaskState::Started, _) => format!("{who} started"),
        (TaskState::Running, Some(tool)) => format!("{who}: running {tool} ({} tool uses)", task.tool_uses),
        (TaskState::Running, None) => format!("{who}: thinking ({} tool uses)", task.tool_uses),
        _ => format!("{who} {state}: {}", task.summary.as_deref().unwrap_or_default()),
    };
    json!({
        "sessionUpdate": "tool_call_update",
        "toolCallId": task.call_id,
        "content": [{"type": "content", "content": text(&line)}],
        "_meta": {"cairn": {
            "agentId": task.agent_id, "agentType": task.agent_type, "name": task.name,
            "state": state, "currentTool": task.current_tool,
            "toolUses": task.tool_uses, "tokens": task.tokens, "costUsd": task.cost_usd,
        }},
    })
}

/// The call ended: its final status and what it produced. An edit that succeeded shows as
/// its diff; a command as its output in a code block; anything else as its text.
pub fn tool_finished(call_id: &str, tool: &str, input: &Value, result: &str, is_error: bool, cwd: &Path) -> Value {
    let diffs = if is_error { Vec::new() } else { diffs(tool, input, cwd) };
    let content = if !diffs.is_empty() {
        diffs
    } else if result.is_empty() {
        Vec::new()
    } else if family(tool) == "Bash" && !is_error {
        vec![json!({"type": "content", "content": text(&fenced(result))})]
    } else {
        vec![json!({"type": "content", "content": text(result)})]
    };
    json!({
        "sessionUpdate": "tool_call_update", "toolCallId": call_id,
        "status": if is_error { "failed" } else { "completed" },
        "content": content, "rawOutput": result,
    })
}

/// The todo list as a plan.
pub fn plan(todos: &[Todo]) -> Value {
    let entries: Vec<Value> = todos
        .iter()
        .map(|t| {
            let priority = t.priority.as_deref().filter(|p| ["high", "medium", "low"].contains(p)).unwrap_or("medium");
            json!({"content": t.content, "priority": priority, "status": t.status})
        })
        .collect();
    json!({"sessionUpdate": "plan", "entries": entries})
}

/// A saved conversation as the updates that show it, in order.
pub fn replay(history: &[Message], cwd: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let mut calls: Vec<(&str, &str, &Value)> = Vec::new();
    for message in history {
        for block in &message.content {
            match (message.role, block) {
                (Role::User, ContentBlock::Text { text: said }) => {
                    if let Some(said) = typed(said) {
                        out.push(message_chunk("user_message_chunk", text(said)));
                    }
                }
                (Role::User, ContentBlock::Image { source }) => out.push(message_chunk(
                    "user_message_chunk",
                    json!({"type": "image", "mimeType": source.media_type, "data": source.data}),
                )),
                (Role::User, ContentBlock::ToolResult { tool_use_id, content, is_error }) => {
                    let Some(&(id, tool, input)) = calls.iter().find(|(id, ..)| id == tool_use_id) else { continue };
                    out.push(tool_finished(id, tool, input, &result_text(content), *is_error, cwd));
                }
                (Role::Assistant, ContentBlock::Text { text: said }) if !said.trim().is_empty() => {
                    out.push(message_chunk("agent_message_chunk", text(said)));
                }
                (Role::Assistant, ContentBlock::Thinking { thinking, .. }) if !thinking.trim().is_empty() => {
                    out.push(message_chunk("agent_thought_chunk", text(thinking)));
                }
                (Role::Assistant, ContentBlock::ToolUse { id, name, input }) => {
                    out.push(tool_call(id, name, input, cwd));
                    if let Some(todos) = todos_of(name, input) {
                        out.push(plan(&todos));
                    }
                    calls.push((id, name, input));
                }
                _ => {}
            }
        }
    }
    out
}

/// What the user typed, of a user text block (not hook context, not cairn's own notes).
fn typed(said: &str) -> Option<&str> {
    let own = [CONTINUE_PROMPT, INTERRUPTED_REQUEST, INTERRUPTED_TOOLS];
    (!said.starts_with("<system-reminder>") && !said.trim().is_empty() && !own.contains(&said)).then_some(said)
}

fn result_text(content: &[ToolResultContent]) -> String {
    let mut out = String::new();
    for part in content {
        if let ToolResultContent::Text { text } = part {
            out.push_str(text);
        }
    }
    out
}

/// The todo list a TodoWrite call set.
pub fn todos_of(tool: &str, input: &Value) -> Option<Vec<Todo>> {
    (tool == "TodoWrite").then(|| serde_json::from_value(input["todos"].clone()).ok()).flatten()
}

fn fenced(output: &str) -> String {
    let fence = if output.contains("```") { "````" } else { "```" };
    format!("{fence}\n{}\n{fence}", output.trim_end_matches('\n'))
}

pub fn title(tool: &str, input: &Value) -> String {
    let field = |k: &str| input.get(k).and_then(Value::as_str);
    match family(tool) {
        "Bash" => field("command").map(str::to_owned),
        "Read" | "Edit" => field("file_path").or_else(|| field("notebook_path")).map(|p| format!("{tool} {p}")),
        "Grep" | "Glob" => field("pattern").map(|p| format!("{tool} {p}")),
        "WebFetch" => field("url").map(|u| format!("Fetch {u}")),
        _ => field("description").or_else(|| field("command")).map(str::to_owned),
    }
    .unwrap_or_else(|| tool.to_owned())
}

pub fn kind(tool: &str) -> &'static str {
    match (tool, family(tool)) {
        ("Grep" | "Glob" | "WebSearch", _) => "search",
        ("TodoWrite" | "ExitPlanMode", _) => "think",
        (_, "Read") => "read",
        (_, "Edit") => "edit",
        (_, "Bash") => "execute",
        (_, "WebFetch") => "fetch",
        _ => "other",
    }
}

/// The files a call reads or changes, as absolute paths.
fn locations(tool: &str, input: &Value, cwd: &Path) -> Vec<Value> {
    let path = ["file_path", "notebook_path", "path"].iter().find_map(|k| input.get(*k).and_then(Value::as_str));
    match (family(tool), path) {
        ("Read" | "Edit", Some(path)) => {
            let line = input.get("offset").and_then(Value::as_u64);
            vec![json!({"path": absolute(path, cwd), "line": line})]
        }
        _ => Vec::new(),
    }
}

/// An edit's change as `diff` content: each replacement of Edit and MultiEdit, the new file
/// of Write.
fn diffs(tool: &str, input: &Value, cwd: &Path) -> Vec<Value> {
    let Some(path) = input.get("file_path").and_then(Value::as_str) else { return Vec::new() };
    let path = absolute(path, cwd);
    let diff = |old: &Value, new: &Value| {
        let old = old.as_str().filter(|s| !s.is_empty());
        json!({"type": "diff", "path": path, "oldText": old, "newText": new.as_str().unwrap_or_default()})
    };
    match tool {
        "Write" => vec![diff(&Value::Null, &input["content"])],
        "Edit" => vec![diff(&input["old_string"], &input["new_string"])],
        "MultiEdit" => {
            input["edits"].as_array().into_iter().flatten().map(|e| diff(&e["old_string"], &e["new_string"])).collect()
        }
        _ => Vec::new(),
    }
}

fn absolute(path: &str, cwd: &Path) -> String {
    let path = Path::new(path);
    if path.is_absolute() { path.display().to_string() } else { cwd.join(path).display().to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_is_a_diff_and_a_command_a_code_block() {
        let cwd = Path::new("/p");
        let edit = json!({"file_path": "src/a.rs", "old_string": "x", "new_string": "y"});
        let call = tool_call("1", "Edit", &edit, cwd);
        assert_eq!(call["kind"], "edit");
        assert_eq!(call["locations"][0]["path"], "/p/src/a.rs");
        assert_eq!(call["content"][0], json!({"type": "diff", "path": "/p/src/a.rs", "oldText": "x", "newText": "y"}));
        let done = tool_finished("2", "Bash", &json!({"command": "ls"}), "a\nb\n", false, cwd);
        assert_eq!(done["content"][0]["content"]["text"], "```\na\nb\n```");
        assert_eq!(done["status"], "completed");
        let failed = tool_finished("3", "Edit", &edit, "no match", true, cwd);
        assert_eq!(failed["content"][0]["content"]["text"], "no match");
        assert_eq!(failed["status"], "failed");
    }

    #[test]
    fn a_replay_shows_what_was_said_and_done_and_not_the_context() {
        let history = vec![
            Message {
                role: Role::User,
                content: vec![ContentBlock::text("<system-reminder>memory</system-reminder>")],
            },
            Message { role: Role::User, content: vec![ContentBlock::text("list files")] },
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::text("Sure."),
                    ContentBlock::ToolUse { id: "c1".into(), name: "Bash".into(), input: json!({"command": "ls"}) },
                ],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "c1".into(),
                    content: vec![ToolResultContent::Text { text: "a.txt".into() }],
                    is_error: false,
                }],
            },
        ];
        let updates = replay(&history, Path::new("/p"));
        let kinds: Vec<&str> = updates.iter().map(|u| u["sessionUpdate"].as_str().unwrap_or("")).collect();
        assert_eq!(kinds, ["user_message_chunk", "agent_message_chunk", "tool_call", "tool_call_update"]);
    }
}
