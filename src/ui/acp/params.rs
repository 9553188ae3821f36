//! What a client sends, as cairn's (a prompt's content blocks, its MCP servers), and the
//! session's modes and options as ACP shows them.

use serde_json::{Value, json};

use super::rpc::{Failure, invalid};
use crate::mcp::config::ServerConfig;
use crate::protocol::UserInput;

/// The permission modes, as ACP session modes.
pub fn modes(current: &str) -> Value {
    let mode = |id: &str, name: &str| json!({"id": id, "name": name});
    json!({"currentModeId": current, "availableModes": [
        mode("default", "Ask before changes"),
        mode("acceptEdits", "Accept edits"),
        mode("plan", "Plan mode"),
        mode("bypassPermissions", "Bypass permissions"),
    ]})
}

/// The model, as a session configuration option.
pub fn config_options(current: &str) -> Value {
    let mut choices: Vec<String> =
        ["opus", "sonnet", "haiku"].iter().map(|a| crate::provider::models::lookup(a).id).collect();
    if !choices.iter().any(|c| c == current) {
        choices.insert(0, current.to_owned());
    }
    let options: Vec<Value> = choices.iter().map(|id| json!({"value": id, "name": id})).collect();
    json!([{"id": "model", "name": "Model", "category": "model", "type": "select",
            "currentValue": current, "options": options}])
}

/// The client's MCP servers (`session/new`'s `mcpServers`), as cairn's.
pub fn client_servers(list: &Value) -> Result<Vec<ServerConfig>, Failure> {
    use crate::mcp::config::{Scope, Transport};
    let pairs = |v: &Value| -> std::collections::BTreeMap<String, String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["name"].as_str()?.to_owned(), p["value"].as_str()?.to_owned())))
            .collect()
    };
    let mut out = Vec::new();
    for server in list.as_array().into_iter().flatten() {
        let name = server["name"].as_str().ok_or_else(|| invalid("an MCP server without a name"))?.to_owned();
        let transport = match (server["type"].as_str(), server["command"].as_str(), server["url"].as_str()) {
            (Some("http"), _, Some(url)) => Transport::Http { url: url.to_owned(), headers: pairs(&server["headers"]) },
            (None | Some("stdio"), Some(command), _) => Transport::Stdio {
                command: command.to_owned(),
                args: server["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect(),
                env: pairs(&server["env"]),
            },
            (Some(other), ..) => {
                return Err(invalid(format!(
                    "MCP server {name}: transport {other:?} is not offered (stdio and http are)"
                )));
            }
            _ => return Err(invalid(format!("MCP server {name}: needs a command or a url"))),
        };
        out.push(ServerConfig { name, transport, scope: Scope::Flag, timeout: crate::mcp::config::CALL_TIMEOUT });
    }
    Ok(out)
}

/// A prompt's content blocks as the core's: text, images, resources as their text, and
/// links to local files as attachments (read with the Read tool, so they count as read).
pub fn prompt_input(prompt: &Value) -> UserInput {
    use crate::conversation::history::{ContentBlock, ImageSource};
    let mut input = UserInput::default();
    for block in prompt.as_array().into_iter().flatten() {
        let field = |k: &str| block[k].as_str().unwrap_or_default();
        match block["type"].as_str() {
            Some("text") => input.content.push(ContentBlock::text(field("text"))),
            Some("image") => input.content.push(ContentBlock::Image {
                source: ImageSource {
                    kind: "base64".into(),
                    media_type: field("mimeType").into(),
                    data: field("data").into(),
                },
            }),
            Some("resource_link") => match url::Url::parse(field("uri")).ok().and_then(|u| u.to_file_path().ok()) {
                Some(path) => input.attachments.push(path),
                None => input.content.push(ContentBlock::text(format!("@{}", field("uri")))),
            },
            Some("resource") => {
                let resource = &block["resource"];
                let text = resource["text"].as_str().unwrap_or_default();
                input.content.push(ContentBlock::text(format!(
                    "<file uri=\"{}\">\n{text}\n</file>",
                    resource["uri"].as_str().unwrap_or("")
                )));
            }
            _ => {}
        }
    }
    input
}

/// The built-in command an editor can offer: `/compact [what to keep]`.
pub static COMPACT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({"name": "compact", "description": "Summarize the conversation so far, to free the context window",
           "input": {"hint": "[what the summary should keep]"}})
});

/// `/compact [instructions]`: the instructions (`Some(None)`: none).
pub fn compact_command(input: &UserInput) -> Option<Option<String>> {
    use crate::conversation::history::ContentBlock;
    let [ContentBlock::Text { text }] = input.content.as_slice() else { return None };
    let rest = text.trim().strip_prefix("/compact")?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some(Some(rest.trim().to_owned()).filter(|r| !r.is_empty()))
}
