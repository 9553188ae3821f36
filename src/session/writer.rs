//! The transcript writer: appends each entry to the session file as it happens.
//!
//! The core hands [`Record`]s to a [`Transcript`], which turns each into one JSONL line in
//! Claude Code's envelope (`parentUuid`, `isSidechain`, `userType`, `cwd`, `sessionId`,
//! `version`, `gitBranch`, `type`, `message`, `uuid`, `timestamp`), passes it through
//! [`Secrets::redact`], and writes it with a single `write` call before `record` returns,
//! so a crash leaves at most one torn line at the end — and whatever a front end was shown
//! is already in the file (the core records before it emits the event). Entries chain
//! through `parentUuid`. An assistant response becomes one entry per content block
//! (sharing `message.id`), a tool result one `user` entry with `toolUseResult`.
//! [`Transcript::sync`] reports a write that failed, and asks the disk to keep the file.
//!
//! The file is created at the first entry (a session nobody spoke in leaves nothing
//! behind) and held under an exclusive lock for as long as the session is open, so a
//! second cairn cannot write into it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::SessionError;
use super::lock::SessionLock;
use crate::conversation::AssistantMessage;
use crate::conversation::history::ContentBlock;
use crate::permissions::PermissionMode;
use crate::secrets::Secrets;

/// Entry `type` of cairn's own per-turn summary line: what `cairn sessions` reads from a
/// file's tail instead of the whole file. Other readers ignore it as an unknown type.
pub const TURN_SUMMARY: &str = "cairn-turn";

/// Something that happened, to be written as one or more entries.
#[derive(Debug)]
pub enum Record {
    /// A user message: a prompt (with the permission mode it was sent in), or a message
    /// cairn sent on the user's behalf (`meta`: a continuation request, an interrupt note).
    User { content: Vec<ContentBlock>, permission_mode: Option<PermissionMode>, meta: bool },
    /// A complete model response: one entry per content block.
    Assistant(AssistantMessage),
    /// One tool result and the tool's structured output (`toolUseResult`).
    ToolResult { block: ContentBlock, structured: Value },
    /// A `system` entry: an API error, an interrupt, a note.
    System { subtype: &'static str, content: String, level: &'static str },
    /// A title the user gave the session (`/rename`).
    Title(String),
    /// The state after a turn, for the session list and for resuming settings.
    TurnSummary(TurnSummary),
    /// Compaction: the history before it ends here (a `system` entry with no parent).
    CompactBoundary { trigger: &'static str, pre_tokens: u64, post_tokens: u64 },
    /// The message the history starts again from after compaction.
    CompactSummary { content: Vec<ContentBlock> },
    /// The conversation continues from entry `parent` (`None`: from the start), leaving
    /// what came after it on a branch (`/rewind`).
    Branch { parent: Option<String> },
    /// The files the turn of prompt `message_id` changed, each with the version it had
    /// before (by name in the session's content store; `None`: it did not exist), as
    /// Claude Code's `file-history-snapshot` entry.
    FileHistory { message_id: String, backups: Vec<(PathBuf, Option<String>)> },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TurnSummary {
    pub turns: u32,
    pub cost_usd: f64,
    pub model: String,
    pub permission_mode: Option<PermissionMode>,
    pub last_prompt: String,
    /// The name given with `/rename`, repeated so the list finds it in the file's tail.
    pub title: Option<String>,
    /// The files the turn changed.
    pub changed_files: Vec<PathBuf>,
}

/// The fields every conversation entry of this session carries.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub session_id: String,
    pub cwd: PathBuf,
    pub git_branch: Option<String>,
    /// A sub-agent's id: its entries are a sidechain of the session.
    pub agent_id: Option<String>,
}

/// How the file is opened when the first entry arrives.
pub enum Start {
    /// A new session: the file must not exist yet.
    New,
    /// Continue an existing file (its session locked), after the entry `leaf`.
    Append { file: File, leaf: Option<String> },
    /// A new file that starts with another session's entries (a fork), relabelled with
    /// this session's id; new entries chain after `leaf`.
    Fork { entries: Vec<Value>, leaf: Option<String> },
}

/// The core's handle on a session's transcript; clones write into the same file.
#[derive(Clone)]
pub struct Transcript {
    writer: Arc<Mutex<Writer>>,
    path: PathBuf,
    session_id: String,
}

impl Transcript {
    /// The transcript at `path`, written from its first record.
    /// `held`: the session's lock, let go when the last handle is dropped.
    pub fn start(
        path: PathBuf,
        envelope: Envelope,
        start: Start,
        secrets: Secrets,
        held: Option<SessionLock>,
    ) -> Transcript {
        let session_id = envelope.session_id.clone();
        let (file, parent, prelude) = match start {
            Start::New => (None, None, Vec::new()),
            Start::Append { file, leaf } => (Some(file), leaf, Vec::new()),
            Start::Fork { entries, leaf } => (None, leaf, entries),
        };
        let writer = Writer {
            path: path.clone(),
            file,
            envelope,
            parent,
            prelude,
            secrets,
            tool_entries: HashMap::new(),
            next_uuid: None,
            error: None,
            reported: None,
            _held: held,
        };
        Transcript { writer: Arc::new(Mutex::new(writer)), path, session_id }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The next entry is written under `uuid` (a prompt the program driving the session
    /// already knows by that id).
    pub fn name_next(&self, uuid: &str) {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner).next_uuid = Some(uuid.to_owned());
    }

    /// The uuid of the last entry written (the next one's parent).
    pub fn leaf(&self) -> Option<String> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner).parent.clone()
    }

    /// Writes the record's entries now (a failure is kept for [`Transcript::sync`]).
    pub fn record(&self, record: Record) {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner).append(record);
    }

    /// Takes the session's lock again, in case this process dropped it by closing another
    /// descriptor of its file (a tool that read the lock folder); `Err` when another cairn
    /// took the session meanwhile.
    pub fn hold_lock(&self) -> Result<(), SessionError> {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        match &writer._held {
            Some(held) => held.hold(&self.session_id),
            None => Ok(()),
        }
    }

    /// The error, if a write failed since the last call (each problem told once); then asks
    /// the disk, in the background, to keep what was written.
    pub async fn sync(&self) -> Result<(), String> {
        let (error, file) = {
            let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            (writer.take_error(), writer.file.as_ref().and_then(|f| f.try_clone().ok()))
        };
        if let Some(file) = file
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn_blocking(move || file.sync_data());
        }
        error.map_or(Ok(()), Err)
    }
}

struct Writer {
    path: PathBuf,
    file: Option<File>,
    envelope: Envelope,
    /// The last entry written: the next one's `parentUuid`.
    parent: Option<String>,
    /// Entries to write first when the file is created (a fork's history).
    prelude: Vec<Value>,
    secrets: Secrets,
    /// The uuid the next entry takes, when one was given.
    next_uuid: Option<String>,
    /// Tool call id → the uuid of the assistant entry that made the call.
    tool_entries: HashMap<String, String>,
    /// The first write error since the last sync.
    error: Option<String>,
    /// The last error reported, so a lasting problem is told once, not after every turn.
    reported: Option<String>,
    /// The session's lock, held as long as the transcript is open.
    _held: Option<SessionLock>,
}

impl Writer {
    fn append(&mut self, record: Record) {
        let entries = self.entries(record);
        for entry in entries {
            self.write(&entry);
        }
    }

    /// The entries a record becomes, chained after the last one written.
    fn entries(&mut self, record: Record) -> Vec<Value> {
        match record {
            Record::User { content, permission_mode, meta } => {
                let mut entry = self.conversation("user", json!({ "role": "user", "content": user_content(content) }));
                if meta {
                    entry.insert("isMeta".into(), json!(true));
                }
                if let Some(mode) = permission_mode {
                    entry.insert("permissionMode".into(), json!(mode.as_str()));
                }
                vec![Value::Object(entry)]
            }
            Record::Assistant(message) => {
                let mut out = Vec::with_capacity(message.content.len());
                for block in &message.content {
                    let body = json!({
                        "id": message.id,
                        "type": "message",
                        "role": "assistant",
                        "model": message.model,
                        "content": [block],
                        "stop_reason": message.stop_reason,
                        "stop_sequence": null,
                        "usage": message.usage,
                    });
                    let entry = self.conversation("assistant", body);
                    if let (ContentBlock::ToolUse { id, .. }, Some(Value::String(uuid))) = (block, entry.get("uuid")) {
                        self.tool_entries.insert(id.clone(), uuid.clone());
                    }
                    out.push(Value::Object(entry));
                }
                out
            }
            Record::ToolResult { block, structured } => {
                let source = match &block {
                    ContentBlock::ToolResult { tool_use_id, .. } => self.tool_entries.remove(tool_use_id),
                    _ => None,
                };
                let mut entry = self.conversation("user", json!({ "role": "user", "content": [block] }));
                entry.insert("toolUseResult".into(), structured);
                if let Some(source) = source {
                    entry.insert("sourceToolAssistantUUID".into(), json!(source));
                }
                vec![Value::Object(entry)]
            }
            Record::System { subtype, content, level } => {
                let mut entry = self.envelope_fields("system");
                entry.insert("subtype".into(), json!(subtype));
                entry.insert("content".into(), json!(content));
                entry.insert("level".into(), json!(level));
                entry.insert("isMeta".into(), json!(false));
                vec![Value::Object(entry)]
            }
            Record::CompactBoundary { trigger, pre_tokens, post_tokens } => {
                let logical_parent = self.parent.take();
                let mut entry = self.envelope_fields("system");
                entry.insert("parentUuid".into(), Value::Null);
                entry.insert("logicalParentUuid".into(), json!(logical_parent));
                entry.insert("subtype".into(), json!("compact_boundary"));
                entry.insert("content".into(), json!("Conversation compacted"));
                entry.insert("level".into(), json!("info"));
                entry.insert("isMeta".into(), json!(false));
                entry.insert(
                    "compactMetadata".into(),
                    json!({ "trigger": trigger, "preTokens": pre_tokens, "postTokens": post_tokens }),
                );
                vec![Value::Object(entry)]
            }
            Record::CompactSummary { content } => {
                let mut entry = self.conversation("user", json!({ "role": "user", "content": content }));
                entry.insert("isCompactSummary".into(), json!(true));
                entry.insert("isVisibleInTranscriptOnly".into(), json!(true));
                vec![Value::Object(entry)]
            }
            Record::Branch { parent } => vec![self.branch(parent)],
            Record::Title(title) => vec![json!({
                "type": "custom-title", "customTitle": title, "sessionId": self.envelope.session_id,
            })],
            Record::TurnSummary(summary) => vec![json!({
                "type": TURN_SUMMARY,
                "sessionId": self.envelope.session_id,
                "timestamp": now(),
                "leafUuid": self.parent,
                "turns": summary.turns,
                "costUsd": summary.cost_usd,
                "model": summary.model,
                "permissionMode": summary.permission_mode.map(PermissionMode::as_str),
                "lastPrompt": summary.last_prompt,
                "customTitle": summary.title,
                "changedFiles": summary.changed_files,
            })],
            Record::FileHistory { message_id, backups } => vec![file_history(message_id, backups)],
        }
    }

    /// The conversation continues from `parent`: a `system` entry chained after it.
    fn branch(&mut self, parent: Option<String>) -> Value {
        self.parent = parent;
        let mut entry = self.envelope_fields("system");
        entry.insert("subtype".into(), json!("rewind"));
        entry.insert("content".into(), json!("Conversation rewound"));
        entry.insert("level".into(), json!("info"));
        entry.insert("isMeta".into(), json!(false));
        Value::Object(entry)
    }

    /// A conversation entry: the envelope plus `message`, chained after the last entry.
    fn conversation(&mut self, kind: &str, message: Value) -> Map<String, Value> {
        let mut entry = self.envelope_fields(kind);
        entry.insert("message".into(), message);
        entry
    }

    fn envelope_fields(&mut self, kind: &str) -> Map<String, Value> {
        let uuid = self.next_uuid.take().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let parent = self.parent.replace(uuid.clone());
        let mut entry = Map::new();
        entry.insert("parentUuid".into(), json!(parent));
        entry.insert("isSidechain".into(), json!(self.envelope.agent_id.is_some()));
        if let Some(agent_id) = &self.envelope.agent_id {
            entry.insert("agentId".into(), json!(agent_id));
        }
        entry.insert("userType".into(), json!("external"));
        entry.insert("cwd".into(), json!(self.envelope.cwd));
        entry.insert("sessionId".into(), json!(self.envelope.session_id));
        entry.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
        entry.insert("gitBranch".into(), json!(self.envelope.git_branch.as_deref().unwrap_or("")));
        entry.insert("type".into(), json!(kind));
        entry.insert("uuid".into(), json!(uuid));
        entry.insert("timestamp".into(), json!(now()));
        entry
    }

    fn write(&mut self, entry: &Value) {
        if self.file.is_none() {
            match self.create() {
                Ok(file) => self.file = Some(file),
                Err(e) => {
                    self.fail(format!("could not create the transcript {}: {e}", self.path.display()));
                    return;
                }
            }
        }
        let line = match serde_json::to_string(entry) {
            Ok(line) => line,
            Err(e) => return self.fail(format!("could not encode a transcript entry: {e}")),
        };
        let mut line = self.secrets.redact(&line).into_owned();
        line.push('\n');
        if let Some(file) = &mut self.file
            && let Err(e) = file.write_all(line.as_bytes())
        {
            self.fail(format!("could not write to the transcript {}: {e}", self.path.display()));
        }
    }

    /// Creates the file (and its folder), locks it, and writes a fork's prelude.
    fn create(&mut self) -> Result<File, String> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let mut file = OpenOptions::new().append(true).create_new(true).open(&self.path).map_err(|e| e.to_string())?;
        for mut entry in std::mem::take(&mut self.prelude) {
            if let Value::Object(fields) = &mut entry
                && fields.contains_key("sessionId")
            {
                fields.insert("sessionId".into(), json!(self.envelope.session_id));
            }
            let mut line = serde_json::to_string(&entry).map_err(|e| e.to_string())?;
            line = self.secrets.redact(&line).into_owned();
            line.push('\n');
            file.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
        }
        Ok(file)
    }

    /// A new problem since the last sync, if there is one.
    fn take_error(&mut self) -> Option<String> {
        let error = self.error.take()?;
        if self.reported.as_ref() == Some(&error) {
            return None;
        }
        self.reported = Some(error.clone());
        Some(error)
    }

    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }
}

/// A prompt that is one text block is written as a plain string, as Claude Code writes
/// typed prompts; anything else as the blocks.
fn user_content(content: Vec<ContentBlock>) -> Value {
    match content.as_slice() {
        [ContentBlock::Text { text }] => json!(text),
        _ => json!(content),
    }
}

/// Claude Code's `file-history-snapshot` entry for the files prompt `message_id`'s turn
/// changed.
fn file_history(message_id: String, backups: Vec<(PathBuf, Option<String>)>) -> Value {
    let at = now();
    let tracked: Map<String, Value> = backups
        .into_iter()
        .map(|(path, hash)| {
            (path.display().to_string(), json!({"backupFileName": hash, "version": 1, "backupTime": at}))
        })
        .collect();
    json!({
        "type": "file-history-snapshot", "messageId": message_id, "isSnapshotUpdate": false,
        "snapshot": {"messageId": message_id, "trackedFileBackups": tracked, "timestamp": at},
    })
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Opens an existing transcript to append to it, under the session's lock. A file that
/// ends in a torn line (a crash mid-write) gets a newline first, so the next entry starts
/// on a line of its own and the torn one stays a single bad line the reader skips.
pub fn open_for_append(path: &Path) -> Result<File, SessionError> {
    let io = |e: std::io::Error| SessionError::Io { path: path.to_path_buf(), message: e.to_string() };
    let mut file = OpenOptions::new().read(true).append(true).open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1)).map_err(io)?;
        file.read_exact(&mut last).map_err(io)?;
        if last[0] != b'\n' {
            file.write_all(b"\n").map_err(io)?;
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::AssistantMessage;
    use crate::cost::Usage;

    fn envelope() -> Envelope {
        Envelope { session_id: "s-1".into(), cwd: PathBuf::from("/p"), git_branch: Some("main".into()), agent_id: None }
    }

    fn lines(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[tokio::test]
    async fn entries_chain_and_split_assistant_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p").join("s-1.jsonl");
        let t = Transcript::start(path.clone(), envelope(), Start::New, Secrets::default(), None);
        assert!(!path.exists(), "nothing is written before the first entry");
        t.record(Record::User {
            content: vec![ContentBlock::text("hi")],
            permission_mode: Some(PermissionMode::Default),
            meta: false,
        });
        t.record(Record::Assistant(AssistantMessage {
            id: "msg_1".into(),
            model: "m".into(),
            content: vec![
                ContentBlock::text("Looking."),
                ContentBlock::ToolUse { id: "t1".into(), name: "Bash".into(), input: json!({"command": "ls"}) },
            ],
            stop_reason: None,
            usage: Usage::default(),
        }));
        t.record(Record::ToolResult {
            block: ContentBlock::ToolResult { tool_use_id: "t1".into(), content: Vec::new(), is_error: false },
            structured: json!({"stdout": ""}),
        });
        t.sync().await.unwrap();
        let entries = lines(&path);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0]["parentUuid"], Value::Null);
        assert_eq!(entries[0]["message"]["content"], "hi");
        assert_eq!(entries[0]["permissionMode"], "default");
        for pair in entries.windows(2) {
            assert_eq!(pair[1]["parentUuid"], pair[0]["uuid"]);
        }
        assert_eq!(entries[1]["message"]["id"], entries[2]["message"]["id"]);
        assert_eq!(entries[3]["sourceToolAssistantUUID"], entries[2]["uuid"]);
        assert_eq!(entries[3]["toolUseResult"]["stdout"], "");
        assert_eq!(entries[2]["gitBranch"], "main");
    }

    #[tokio::test]
    async fn secrets_never_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s-1.jsonl");
        let secrets = Secrets::new(["sk-sentinel-0000".to_owned()], []);
        let t = Transcript::start(path.clone(), envelope(), Start::New, secrets, None);
        t.record(Record::System { subtype: "api_error", content: "bad key sk-sentinel-0000".into(), level: "error" });
        t.sync().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("sk-sentinel-0000") && text.contains("[REDACTED]"));
    }

    #[test]
    fn appending_after_a_torn_line_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(&path, "{\"type\":\"user\"}\n{\"type\":\"assi").unwrap();
        let mut file = open_for_append(&path).unwrap();
        file.write_all(b"{}\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("{\"type\":\"assi\n{}\n"));
    }
}
