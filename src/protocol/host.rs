//! Requests from the core to the program that drives it (an Agent SDK, through the front
//! end that speaks its protocol): its hook callbacks and its in-process MCP servers. Each
//! request goes out as [`Event::HostRequest`] with an id of its own and waits for the
//! [`Op::HostAnswer`](super::Op::HostAnswer) with that id; a front end that has no host
//! answers with an error at once.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::oneshot;

use super::{Event, EventSink};

/// The answer of a host that does not do this request now (an editor connected without
/// the capability, or none connected): the core does it itself.
pub const NOT_HANDLED: &str = "not handled by the host";

/// What the core asks of the program driving it.
#[derive(Debug, Clone, PartialEq)]
pub enum HostRequest {
    /// Run hook `callback_id` with this input; answer with its JSON output.
    HookCallback { callback_id: String, input: Value },
    /// Deliver a JSON-RPC message to the program's MCP server `server`; answer with
    /// `{"mcp_response": …}`.
    McpMessage { server: String, message: Value },
    /// The text of a file as the host has it (an editor's buffer, unsaved changes
    /// included); answer with `{"content": …}`.
    ReadTextFile { path: std::path::PathBuf },
    /// Write a file through the host; answer with anything but an error.
    WriteTextFile { path: std::path::PathBuf, content: String },
    /// Run a command in the host's terminal (an editor's, over ACP) for call `call_id`;
    /// answer with `{"output", "exitCode", "signal", "truncated"}` once it has exited.
    /// `launcher`: the program and arguments that start `bash -c command` (the sandbox's
    /// launcher); empty: bash itself.
    RunCommand {
        call_id: String,
        command: String,
        cwd: std::path::PathBuf,
        env: Vec<(String, String)>,
        launcher: Vec<String>,
    },
    /// Stop the command call `call_id` runs in the host's terminal (interrupted, timed out).
    KillCommand { call_id: String },
}

/// The requests waiting for the host's answer.
#[derive(Default)]
pub struct HostCalls {
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>,
}

impl HostCalls {
    /// Sends `request` through `events`; the answer, when it comes.
    pub fn ask(
        &self,
        events: &EventSink,
        request: HostRequest,
    ) -> impl std::future::Future<Output = Result<Value, String>> + Send + 'static {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id.clone(), tx);
        }
        events.emit(Event::HostRequest { id, request });
        async move { rx.await.unwrap_or_else(|_| Err("the host program went away".into())) }
    }

    /// The host's answer to request `id` (one nobody waits for any more is dropped).
    pub fn answer(&self, id: &str, answer: Result<Value, String>) {
        let waiting = self.pending.lock().ok().and_then(|mut p| p.remove(id));
        if let Some(tx) = waiting {
            let _ = tx.send(answer);
        }
    }
}
