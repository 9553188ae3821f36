//! The host program's own MCP servers (`"type": "sdk"` in `--mcp-config`, an Agent SDK's
//! in-process server): cairn is the MCP client as for any server, and each JSON-RPC message
//! travels as a host request (`mcp_message` on the SDK's control channel). The answer to a
//! request comes back as its response; a notification's acknowledgement is dropped.

use std::sync::Arc;

use futures::StreamExt;
use futures::channel::mpsc;
use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use serde_json::Value;

use crate::protocol::{EventSink, HostCalls, HostRequest};

/// A transport whose other end is the host: messages out become host requests, their
/// answers the messages in.
pub(super) fn tunnel(
    server: String,
    events: EventSink,
    host: Arc<HostCalls>,
) -> (mpsc::UnboundedSender<TxJsonRpcMessage<RoleClient>>, mpsc::UnboundedReceiver<RxJsonRpcMessage<RoleClient>>) {
    let (to_server, mut outgoing) = mpsc::unbounded::<TxJsonRpcMessage<RoleClient>>();
    let (incoming, from_server) = mpsc::unbounded::<RxJsonRpcMessage<RoleClient>>();
    tokio::spawn(async move {
        while let Some(message) = outgoing.next().await {
            let Ok(message) = serde_json::to_value(&message) else { continue };
            let expects_answer = message.get("id").is_some() && message.get("method").is_some();
            let request = HostRequest::McpMessage { server: server.clone(), message: message.clone() };
            let answer = host.ask(&events, request);
            let incoming = incoming.clone();
            // Requests may overlap (a tool call while a list is pending): each waits alone.
            tokio::spawn(async move {
                let reply = match answer.await {
                    Ok(answer) => answer.get("mcp_response").cloned().unwrap_or(answer),
                    Err(problem) => error_for(&message, &problem),
                };
                if !expects_answer {
                    return;
                }
                if let Ok(reply) = serde_json::from_value::<RxJsonRpcMessage<RoleClient>>(reply) {
                    let _ = incoming.unbounded_send(reply);
                }
            });
        }
    });
    (to_server, from_server)
}

/// A JSON-RPC error answering `message`, for a host that could not deliver it.
fn error_for(message: &Value, problem: &str) -> Value {
    serde_json::json!({"jsonrpc": "2.0", "id": message.get("id").cloned().unwrap_or(Value::Null),
                       "error": {"code": -32603, "message": problem}})
}
