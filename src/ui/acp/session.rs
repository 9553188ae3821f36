//! One ACP session as the bridge keeps it: the core's inbox, which connection shows it,
//! the prompt and permission questions waiting for an answer, and the log of every update
//! it was shown — so a client that loads it again, after a restart of the editor or a
//! dropped socket, is shown all of it once, then what comes after.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::protocol::Op;

/// A connection to a client: its number, from the transport.
pub type ConnId = u64;

pub struct Live {
    pub ops: mpsc::UnboundedSender<Op>,
    /// The core's task: done once the session has ended and its transcript is written.
    pub task: tokio::task::JoinHandle<()>,
    pub cwd: PathBuf,
    /// The connection this session's updates go to (`None`: the client went away).
    pub conn: Option<ConnId>,
    /// The `session/prompt` request waiting for the turn's end: (connection, request id).
    pub prompt: Option<(ConnId, Value)>,
    /// The `session/load` request waiting for the replay: (connection, request id).
    pub loading: Option<(ConnId, Value)>,
    /// The prompt waiting is `/compact`: it ends when the compaction does.
    pub compacting: bool,
    pub mode: String,
    pub model: String,
    /// Calls announced and not finished yet: id → (tool, input).
    pub calls: HashMap<String, (String, Value)>,
    /// Permission questions the client has not answered: our request id → its params.
    pub asking: Vec<(u64, Value)>,
    /// Commands running in the editor's terminal: call id → terminal id.
    pub terminals: HashMap<String, String>,
    /// Commands stopped while their terminal was being created: killed once it is.
    pub doomed: std::collections::HashSet<String>,
    /// Every update shown, in order; consecutive message chunks are joined.
    log: Vec<Value>,
}

impl Live {
    pub fn new(
        ops: mpsc::UnboundedSender<Op>,
        task: tokio::task::JoinHandle<()>,
        cwd: PathBuf,
        conn: ConnId,
        model: String,
        mode: String,
    ) -> Live {
        Live {
            ops,
            task,
            cwd,
            conn: Some(conn),
            prompt: None,
            loading: None,
            compacting: false,
            mode,
            model,
            calls: HashMap::new(),
            asking: Vec::new(),
            terminals: HashMap::new(),
            doomed: std::collections::HashSet::new(),
            log: Vec::new(),
        }
    }

    pub fn send(&self, op: Op) {
        let _ = self.ops.send(op);
    }

    /// Keeps `update` for a later load. A chunk that continues the one before is joined
    /// to it; a usage report replaces the one before.
    pub fn record(&mut self, update: &Value) {
        let kind = update["sessionUpdate"].as_str().unwrap_or_default();
        if let Some(last) = self.log.last_mut()
            && last["sessionUpdate"] == kind
        {
            if kind == "usage_update" {
                *last = update.clone();
                return;
            }
            let chunk = matches!(kind, "agent_message_chunk" | "agent_thought_chunk" | "user_message_chunk");
            if chunk
                && let (Some(before), Some(more)) =
                    (last["content"]["text"].as_str(), update["content"]["text"].as_str())
            {
                last["content"]["text"] = Value::String(format!("{before}{more}"));
                return;
            }
        }
        self.log.push(update.clone());
    }

    /// Keeps `update` for a later load, never joined to the one before (the start of a
    /// prompt).
    pub fn record_apart(&mut self, update: &Value) {
        self.log.push(update.clone());
    }

    /// What a client that loads this session is shown.
    pub fn log(&self) -> &[Value] {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chunks_are_joined_and_calls_kept_apart() {
        let (ops, _rx) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let task = runtime.spawn(async {});
        let mut live = Live::new(ops, task, PathBuf::from("/p"), 0, "m".into(), "default".into());
        let chunk = |t: &str| json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": t}});
        live.record(&chunk("Hel"));
        live.record(&chunk("lo"));
        live.record(&json!({"sessionUpdate": "tool_call", "toolCallId": "1"}));
        live.record(&json!({"sessionUpdate": "tool_call", "toolCallId": "2"}));
        live.record(&chunk("!"));
        assert_eq!(live.log().len(), 4);
        assert_eq!(live.log()[0]["content"]["text"], "Hello");
    }
}
