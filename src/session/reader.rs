//! Reading a transcript back into a history that is valid to send, whoever wrote it.
//!
//! [`load`] is forgiving by design: a line that does not parse (a crash mid-write leaves a
//! torn last line) is skipped, unknown entry types, unknown fields and unknown content
//! blocks are ignored. The conversation is rebuilt from the leaf — the last conversation
//! entry in the file — back through `parentUuid`, so abandoned branches stay out. Claude
//! Code writes each block of a response as its own entry (merged back here) and points
//! parallel tool results at their own calls, off the main chain; such results are found by
//! their `tool_use_id` and put back. Finally `history::repair` answers any call left
//! without a result and restores role alternation, so the first request after a resume
//! never fails on the history. Model, permission mode, todo list, cost and title are
//! recovered too.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::SessionError;
use super::writer::TURN_SUMMARY;
use crate::conversation::Todo;
use crate::conversation::history::{self, ContentBlock, Message, Role, ToolResultContent};
use crate::cost::{CostTracker, Usage};
use crate::permissions::PermissionMode;
use crate::provider::models;

/// A transcript, read back.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub session_id: String,
    /// Repaired: valid to send as it is.
    pub history: Vec<Message>,
    /// The entry new entries chain after.
    pub leaf: Option<String>,
    pub model: Option<String>,
    pub permission_mode: Option<PermissionMode>,
    pub todos: Vec<Todo>,
    pub costs: CostTracker,
    /// The name the user gave it, or a title stored with it.
    pub title: Option<String>,
    /// The first prompt's text.
    pub first_prompt: Option<String>,
    /// User turns so far.
    pub turns: u32,
    /// Lines that could not be read and were skipped (a torn last line, corruption).
    pub skipped_lines: usize,
    /// Some line is an entry in the session envelope (`type` and `sessionId`).
    pub is_transcript: bool,
}

/// The fields cairn reads from any entry; everything else is ignored.
#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    uuid: Option<Cow<'a, str>>,
    #[serde(rename = "parentUuid", borrow, default)]
    parent: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: Option<Cow<'a, str>>,
    #[serde(rename = "isSidechain", default)]
    sidechain: bool,
    #[serde(rename = "isMeta", default)]
    meta: bool,
    #[serde(rename = "isVisibleInTranscriptOnly", default)]
    transcript_only: bool,
    /// A compaction summary: sent to the model although marked for the transcript only.
    #[serde(rename = "isCompactSummary", default)]
    compact_summary: bool,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
    #[serde(rename = "permissionMode", borrow, default)]
    permission_mode: Option<Cow<'a, str>>,
    #[serde(rename = "customTitle", default)]
    custom_title: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    turns: Option<u32>,
}

/// What cairn needs of a `message`: its content is read only for the entries on the chain.
#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(default)]
    usage: Option<Usage>,
}

/// Reads the transcript at `path`. A file that is not one — no line of it is an entry in
/// the session envelope, a FIFO, a device — is refused, and left as it was: resuming it
/// would append to it.
pub fn load(path: &Path) -> Result<Loaded, SessionError> {
    load_at(path, None)
}

/// As [`load`], with the conversation ending at the entry `leaf` (`None`: the last one).
pub fn load_at(path: &Path, leaf: Option<&str>) -> Result<Loaded, SessionError> {
    let meta = std::fs::metadata(path).map_err(|e| SessionError::io(path, &e))?;
    if !meta.is_file() {
        return Err(SessionError::NotATranscript(path.to_path_buf()));
    }
    let bytes = std::fs::read(path).map_err(|e| SessionError::io(path, &e))?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let loaded = parse(&bytes, path.to_path_buf(), &stem, leaf);
    if leaf.is_some_and(|leaf| loaded.leaf.as_deref() != Some(leaf)) {
        return Err(SessionError::NoSuchMessage(leaf.unwrap_or_default().to_owned()));
    }
    if !loaded.is_transcript {
        return Err(SessionError::NotATranscript(path.to_path_buf()));
    }
    Ok(loaded)
}

/// Every readable entry of the transcript at `path`, for a fork to start from (titles are
/// left behind: the fork is a new session).
pub fn fork_entries(path: &Path) -> Result<Vec<Value>, SessionError> {
    let bytes = std::fs::read(path).map_err(|e| SessionError::io(path, &e))?;
    Ok(bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
        .filter(|entry| entry.is_object() && entry["type"] != "custom-title")
        .collect())
}

/// The `parentUuid` of entry `uuid` in the transcript at `path` (`None`: no such entry).
pub fn parent_of(path: &Path, uuid: &str) -> Option<Option<String>> {
    let bytes = std::fs::read(path).ok()?;
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<RawEntry>(line).ok())
        .find_map(|entry| (entry.uuid.as_deref() == Some(uuid)).then(|| entry.parent.map(|p| p.into_owned())))
}

fn parse(bytes: &[u8], path: PathBuf, fallback_id: &str, leaf: Option<&str>) -> Loaded {
    let mut entries: Vec<RawEntry> = Vec::new();
    let mut skipped_lines = 0;
    let mut uuids: HashSet<Cow<'_, str>> = HashSet::new();
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<RawEntry>(line) {
            // An entry written twice (a copy, a tool that appended a line again) is the
            // same entry: taken as the leaf, it would cut off everything after it.
            Ok(entry) if entry.uuid.as_ref().is_some_and(|u| !uuids.insert(u.clone())) => {}
            Ok(entry) => entries.push(entry),
            Err(_) => skipped_lines += 1,
        }
    }
    let session_id =
        entries.iter().find_map(|e| e.session_id.as_deref()).map_or_else(|| fallback_id.to_owned(), str::to_owned);
    let is_transcript = entries.iter().any(|e| e.session_id.is_some() && !e.kind.is_empty());

    let conversational = |e: &RawEntry| matches!(e.kind.as_ref(), "user" | "assistant" | "system") && e.uuid.is_some();
    let main_line = entries.iter().any(|e| conversational(e) && !e.sidechain);
    let leaf_at = match leaf {
        Some(leaf) => entries.iter().position(|e| e.uuid.as_deref() == Some(leaf)),
        None => entries.iter().rposition(|e| conversational(e) && (!e.sidechain || !main_line)),
    };
    let threaded = entries.iter().any(|e| e.parent.is_some());
    let chain = match leaf_at {
        Some(at) if threaded => chain_from(&entries, at),
        // No entry names a parent (a hand-made or foreign transcript): file order it is.
        Some(_) => (0..entries.len()).filter(|&i| conversational(&entries[i]) && !entries[i].sidechain).collect(),
        None => Vec::new(),
    };
    let leaf = leaf_at.and_then(|at| entries[at].uuid.as_deref().map(str::to_owned));

    let mut history = messages(&entries, &chain);
    recover_parallel_results(&entries, &mut history);
    history::repair(&mut history);

    let mut loaded = Loaded {
        path,
        session_id,
        todos: last_todos(&history),
        history,
        leaf,
        model: None,
        permission_mode: None,
        costs: CostTracker::default(),
        title: None,
        first_prompt: None,
        turns: 0,
        skipped_lines,
        is_transcript,
    };
    read_state(&entries, &chain, &mut loaded);
    loaded
}

/// Indexes of the entries from the root to `leaf`, following `parentUuid`.
fn chain_from(entries: &[RawEntry], leaf: usize) -> Vec<usize> {
    let by_uuid: HashMap<&str, usize> =
        entries.iter().enumerate().filter_map(|(i, e)| e.uuid.as_deref().map(|u| (u, i))).collect();
    let mut chain = vec![leaf];
    let mut seen = HashSet::from([leaf]);
    let mut at = leaf;
    while let Some(parent) = entries[at].parent.as_deref() {
        match by_uuid.get(parent) {
            Some(&next) if seen.insert(next) => {
                chain.push(next);
                at = next;
            }
            _ => break,
        }
    }
    chain.reverse();
    chain
}

/// The messages of the chain: one per user entry, the blocks of consecutive entries of one
/// response merged into one assistant message.
fn messages(entries: &[RawEntry], chain: &[usize]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    let mut last_id: Option<String> = None;
    for &i in chain {
        let entry = &entries[i];
        let role = match entry.kind.as_ref() {
            "user" if !entry.transcript_only || entry.compact_summary => Role::User,
            "assistant" => Role::Assistant,
            _ => continue,
        };
        let Some(message) = entry.message.and_then(|m| serde_json::from_str::<RawMessage>(m.get()).ok()) else {
            continue;
        };
        let content = message.content.map(blocks).unwrap_or_default();
        if role == Role::Assistant
            && let Some(last) = out.last_mut()
            && last.role == Role::Assistant
            && message.id.is_some()
            && message.id == last_id
        {
            last.content.extend(content);
            continue;
        }
        last_id = if role == Role::Assistant { message.id } else { None };
        out.push(Message { role, content });
    }
    out
}

/// Content as a string or blocks; blocks cairn does not know are left out.
fn blocks(content: &RawValue) -> Vec<ContentBlock> {
    let text = content.get();
    if text.starts_with('"') {
        return serde_json::from_str::<String>(text).map(|t| vec![ContentBlock::text(t)]).unwrap_or_default();
    }
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(text) else { return Vec::new() };
    items.into_iter().filter_map(block).collect()
}

fn block(raw: &RawValue) -> Option<ContentBlock> {
    // The common case, straight into the typed block; anything odd goes the lenient way.
    if let Ok(block) = serde_json::from_str::<ContentBlock>(raw.get()) {
        return Some(block);
    }
    let value: Value = serde_json::from_str(raw.get()).ok()?;
    if value["type"] == "tool_result" {
        // A result whose content holds blocks cairn does not know keeps its text parts.
        let text: String = match &value["content"] {
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        return Some(ContentBlock::ToolResult {
            tool_use_id: value["tool_use_id"].as_str()?.to_owned(),
            content: vec![ToolResultContent::Text { text }],
            is_error: value["is_error"].as_bool().unwrap_or(false),
        });
    }
    None
}

/// Tool results written off the main chain (Claude Code chains each parallel result to its
/// own call) are put back after the call they answer.
fn recover_parallel_results(entries: &[RawEntry], history: &mut Vec<Message>) {
    let answered: HashSet<String> = history
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|b| match b {
            ContentBlock::ToolResult { tool_use_id, .. } => Some(tool_use_id.clone()),
            _ => None,
        })
        .collect();
    let missing: HashSet<String> =
        history.iter().flat_map(|m| m.tool_use_ids()).filter(|id| !answered.contains(*id)).map(str::to_owned).collect();
    if missing.is_empty() {
        return;
    }
    let mut found: HashMap<String, ContentBlock> = HashMap::new();
    for entry in entries.iter().filter(|e| e.kind == "user") {
        let Some(message) = entry.message.and_then(|m| serde_json::from_str::<RawMessage>(m.get()).ok()) else {
            continue;
        };
        for block in message.content.map(blocks).unwrap_or_default() {
            if let ContentBlock::ToolResult { tool_use_id, .. } = &block
                && missing.contains(tool_use_id)
            {
                found.insert(tool_use_id.clone(), block);
            }
        }
    }
    let mut i = 0;
    while i < history.len() {
        let recovered: Vec<ContentBlock> = history[i].tool_use_ids().filter_map(|id| found.remove(id)).collect();
        if history[i].role == Role::Assistant && !recovered.is_empty() {
            if history.get(i + 1).is_none_or(|m| m.role != Role::User) {
                history.insert(i + 1, Message { role: Role::User, content: Vec::new() });
            }
            // Results first, in call order, then whatever else the message says.
            let order: Vec<String> = history[i].tool_use_ids().map(str::to_owned).collect();
            let next = std::mem::take(&mut history[i + 1].content);
            let (mut results, rest): (Vec<_>, Vec<_>) =
                next.into_iter().partition(|b| matches!(b, ContentBlock::ToolResult { .. }));
            results.extend(recovered);
            results.sort_by_key(|b| match b {
                ContentBlock::ToolResult { tool_use_id, .. } => order.iter().position(|id| id == tool_use_id),
                _ => None,
            });
            history[i + 1].content = results.into_iter().chain(rest).collect();
        }
        i += 1;
    }
}

/// The list the last `TodoWrite` call wrote.
fn last_todos(history: &[Message]) -> Vec<Todo> {
    history
        .iter()
        .rev()
        .flat_map(|m| m.content.iter().rev())
        .find_map(|b| match b {
            ContentBlock::ToolUse { name, input, .. } if name == "TodoWrite" => {
                Some(serde_json::from_value::<Vec<Todo>>(input["todos"].clone()).unwrap_or_default())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// Model, permission mode, cost, title and turn count, from the whole file: the last word
/// on each wins.
fn read_state(entries: &[RawEntry], chain: &[usize], loaded: &mut Loaded) {
    let mut usage_by_message: HashMap<String, (String, Usage)> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut custom_title = None;
    let mut summary_title = None;
    let mut summary_turns = None;
    for entry in entries {
        match entry.kind.as_ref() {
            "assistant" => {
                let Some(message) = entry.message.and_then(|m| serde_json::from_str::<RawMessage>(m.get()).ok()) else {
                    continue;
                };
                let model = message.model.unwrap_or_default();
                if !model.is_empty() && !model.starts_with('<') {
                    loaded.model = Some(model.clone());
                }
                if let (Some(id), Some(usage)) = (message.id, message.usage) {
                    if !usage_by_message.contains_key(&id) {
                        order.push(id.clone());
                    }
                    usage_by_message.insert(id, (model, usage));
                }
            }
            "user" => {
                if let Some(mode) = entry.permission_mode.as_deref().and_then(PermissionMode::parse) {
                    loaded.permission_mode = Some(mode);
                }
                if loaded.first_prompt.is_none() && !entry.meta && !entry.sidechain {
                    loaded.first_prompt = entry.message.and_then(prompt_text);
                }
            }
            "custom-title" => custom_title = entry.custom_title.clone().or(custom_title),
            "summary" => summary_title = entry.summary.clone().or(summary_title),
            kind if kind == TURN_SUMMARY => {
                if let Some(model) = entry.model.as_deref().filter(|m| !m.is_empty()) {
                    loaded.model = Some(model.to_owned());
                }
                if let Some(mode) = entry.permission_mode.as_deref().and_then(PermissionMode::parse) {
                    loaded.permission_mode = Some(mode);
                }
                summary_turns = entry.turns.or(summary_turns);
            }
            _ => {}
        }
    }
    for id in order {
        if let Some((model, usage)) = usage_by_message.remove(&id) {
            loaded.costs.record(&models::lookup(&model), &usage);
        }
    }
    loaded.title = custom_title.or(summary_title);
    loaded.turns = summary_turns.unwrap_or_else(|| {
        let prompts = chain.iter().filter(|&&i| {
            let e = &entries[i];
            e.kind == "user" && !e.meta && e.message.and_then(prompt_text).is_some()
        });
        u32::try_from(prompts.count()).unwrap_or(u32::MAX)
    });
}

/// The text of a user message that is a prompt (not tool results, not an interrupt note).
pub(super) fn prompt_text(message: &RawValue) -> Option<String> {
    let message: RawMessage = serde_json::from_str(message.get()).ok()?;
    let text = match serde_json::from_str::<Value>(message.content?.get()).ok()? {
        Value::String(text) => text,
        Value::Array(items) => {
            if items.iter().any(|b| b["type"] == "tool_result") {
                return None;
            }
            // Context hooks added (`<system-reminder>` blocks) is not what the user typed.
            items
                .iter()
                .filter_map(|b| b["text"].as_str())
                .filter(|t| !t.starts_with("<system-reminder>"))
                .collect::<Vec<_>>()
                .join(" ")
        }
        _ => return None,
    };
    let text = text.trim();
    let synthetic = text.starts_with("[Request interrupted") || text.starts_with('<') || text.is_empty();
    (!synthetic).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load_str(text: &str) -> Loaded {
        parse(text.as_bytes(), PathBuf::from("/x/s.jsonl"), "s", None)
    }

    fn line(value: Value) -> String {
        format!("{value}\n")
    }

    fn user(uuid: &str, parent: Option<&str>, content: Value) -> String {
        line(json!({"type": "user", "uuid": uuid, "parentUuid": parent, "sessionId": "abc",
            "message": {"role": "user", "content": content}}))
    }

    fn assistant(uuid: &str, parent: &str, id: &str, block: Value) -> String {
        line(json!({"type": "assistant", "uuid": uuid, "parentUuid": parent, "sessionId": "abc",
            "message": {"id": id, "role": "assistant", "model": "claude-sonnet-4-5", "content": [block],
                "usage": {"input_tokens": 10, "output_tokens": 5}}}))
    }

    fn tool_use(id: &str) -> Value {
        json!({"type": "tool_use", "id": id, "name": "Bash", "input": {"command": "ls"}})
    }

    fn result(id: &str) -> Value {
        json!([{"type": "tool_result", "tool_use_id": id, "content": "ok"}])
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_dangling_call_answered() {
        let text = user("u1", None, json!("list files"))
            + &assistant("a1", "u1", "m1", json!({"type": "text", "text": "Listing."}))
            + &assistant("a2", "a1", "m1", tool_use("t1"))
            + "{\"type\":\"user\",\"uuid\":\"u2\",\"parentUuid\":\"a2\",\"mess";
        let loaded = load_str(&text);
        assert_eq!(loaded.skipped_lines, 1);
        assert_eq!(loaded.session_id, "abc");
        assert_eq!(loaded.leaf.as_deref(), Some("a2"));
        assert_eq!(loaded.history.len(), 3, "{:?}", loaded.history);
        assert_eq!(loaded.history[1].content.len(), 2, "blocks of one response are merged");
        assert!(matches!(&loaded.history[2].content[0], ContentBlock::ToolResult { is_error: true, .. }));
        assert_eq!(loaded.model.as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(loaded.costs.total.input_tokens, 10, "one response, counted once");
        assert_eq!(loaded.first_prompt.as_deref(), Some("list files"));
        assert_eq!(loaded.turns, 1);
    }

    #[test]
    fn parallel_results_off_the_chain_are_recovered() {
        // Claude Code's shape: both calls chained, each result parented on its own call.
        let text = user("u1", None, json!("go"))
            + &assistant("a1", "u1", "m1", tool_use("t1"))
            + &assistant("a2", "a1", "m1", tool_use("t2"))
            + &user("r1", Some("a1"), result("t1"))
            + &user("r2", Some("a2"), result("t2"))
            + &assistant("a3", "r2", "m2", json!({"type": "text", "text": "done"}));
        let loaded = load_str(&text);
        let results: Vec<_> = loaded.history[2]
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolResult { tool_use_id, is_error, .. } => Some((tool_use_id.as_str(), *is_error)),
                _ => None,
            })
            .collect();
        assert_eq!(results, [("t1", false), ("t2", false)]);
    }

    #[test]
    fn abandoned_branches_and_unknown_entries_are_ignored() {
        let text = line(json!({"type": "summary", "summary": "Old title", "leafUuid": "x"}))
            + &user("u1", None, json!("first"))
            + &assistant("a1", "u1", "m1", json!({"type": "text", "text": "one"}))
            + &user("u2", Some("a1"), json!("abandoned"))
            + &line(json!({"type": "file-history-snapshot", "messageId": "q", "snapshot": {}}))
            + &user("u3", Some("a1"), json!([{"type": "text", "text": "second"}, {"type": "mystery_block"}]))
            + &line(json!({"type": "custom-title", "customTitle": "Named", "sessionId": "abc"}))
            + "not json at all\n";
        let loaded = load_str(&text);
        let texts: Vec<String> = loaded.history.iter().map(Message::text).collect();
        assert_eq!(texts, ["first", "one", "second"]);
        assert_eq!(loaded.title.as_deref(), Some("Named"));
        assert_eq!(loaded.skipped_lines, 1);
    }

    #[test]
    fn todos_and_mode_come_back() {
        let todo = json!({"type": "tool_use", "id": "t1", "name": "TodoWrite",
            "input": {"todos": [{"content": "Test", "status": "in_progress", "activeForm": "Testing"}]}});
        let text = line(json!({"type": "user", "uuid": "u1", "parentUuid": null, "permissionMode": "acceptEdits",
                "message": {"role": "user", "content": "plan it"}}))
            + &assistant("a1", "u1", "m1", todo)
            + &user("r1", Some("a1"), result("t1"));
        let loaded = load_str(&text);
        assert_eq!(loaded.todos.len(), 1);
        assert_eq!(loaded.permission_mode, Some(PermissionMode::AcceptEdits));
    }

    #[test]
    fn entries_without_parents_are_read_in_file_order() {
        let entry = |uuid: &str, kind: &str, content: Value| {
            line(json!({"uuid": uuid, "type": kind, "message": {"role": kind, "content": content}}))
        };
        let text = entry("1", "user", json!("first"))
            + &entry("2", "assistant", json!("answer"))
            + &entry("3", "user", json!("second"));
        let texts: Vec<String> = load_str(&text).history.iter().map(Message::text).collect();
        assert_eq!(texts, ["first", "answer", "second"]);
    }

    #[test]
    fn an_empty_file_loads_as_an_empty_session() {
        let loaded = load_str("");
        assert!(loaded.history.is_empty() && loaded.leaf.is_none());
        assert_eq!(loaded.session_id, "s");
    }
}
