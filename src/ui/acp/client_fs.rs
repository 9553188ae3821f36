//! The editor's file system: when the client offers `fs/read_text_file` and
//! `fs/write_text_file`, Read, Write and Edit go through it, so the model sees and changes
//! the editor's buffers, unsaved changes included. The core asks with a host request; this
//! turns it into the client's method.

use serde_json::{Value, json};

use crate::protocol::HostRequest;

/// The client method and params for a host request, if it is a file request.
pub fn call(session: &str, request: &HostRequest) -> Option<(&'static str, Value)> {
    match request {
        HostRequest::ReadTextFile { path } => Some(("fs/read_text_file", json!({"sessionId": session, "path": path}))),
        HostRequest::WriteTextFile { path, content } => {
            Some(("fs/write_text_file", json!({"sessionId": session, "path": path, "content": content})))
        }
        _ => None,
    }
}
