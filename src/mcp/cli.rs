//! `cairn mcp list | get | add | remove`: the MCP servers in `.mcp.json` (project, shared)
//! and `$CAIRN_HOME/mcp.json` (user), edited in place — other keys of the files are kept.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::config::{ServerConfig, Sources, Transport};

/// The file a scope writes to.
fn file_for(scope: &str, sources: &Sources) -> Result<PathBuf, String> {
    match scope {
        "user" => Ok(sources.cairn_home.join("mcp.json")),
        "project" => Ok(sources.project.join(".mcp.json")),
        other => Err(format!("unknown scope {other:?}: use user or project")),
    }
}

fn read(path: &Path) -> Result<Map<String, Value>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(format!("{} is not a JSON object; fix it first", path.display())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn write(path: &Path, map: &Map<String, Value>) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(map).unwrap_or_default() + "\n";
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn describe(server: &ServerConfig) -> String {
    match &server.transport {
        Transport::Stdio { command, args, .. } => format!("{command} {}", args.join(" ")).trim_end().to_owned(),
        Transport::Http { url, .. } => format!("{url} (http)"),
        Transport::Sdk => "(inside the program driving cairn)".into(),
    }
}

/// `cairn mcp list`.
pub fn list(sources: &Sources, env: &impl Fn(&str) -> Option<String>) -> String {
    let loaded = sources.load(env);
    let mut out = String::new();
    for warning in &loaded.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    if loaded.servers.is_empty() {
        out.push_str("No MCP servers configured. Add one with `cairn mcp add <name> -- <command> [args…]`.\n");
    }
    for server in &loaded.servers {
        out.push_str(&format!("{}: {} [{}]\n", server.name, describe(server), server.scope.label()));
    }
    out
}

/// `cairn mcp get <name>`.
pub fn get(sources: &Sources, env: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, String> {
    let loaded = sources.load(env);
    let server =
        loaded.servers.iter().find(|s| s.name == name).ok_or_else(|| format!("No MCP server named {name}."))?;
    let mut out = format!("{name}:\n  scope: {}\n", server.scope.label());
    match &server.transport {
        Transport::Stdio { command, args, env } => {
            out.push_str(&format!("  type: stdio\n  command: {command}\n  args: {}\n", args.join(" ")));
            for key in env.keys() {
                out.push_str(&format!("  env: {key}=…\n"));
            }
        }
        Transport::Http { url, headers } => {
            out.push_str(&format!("  type: http\n  url: {url}\n"));
            for key in headers.keys() {
                out.push_str(&format!("  header: {key}: …\n"));
            }
        }
        Transport::Sdk => out.push_str("  type: sdk (inside the program driving cairn)\n"),
    }
    Ok(out)
}

/// What `cairn mcp add` was given.
pub struct AddRequest<'a> {
    pub name: &'a str,
    pub transport: &'a str,
    pub scope: &'a str,
    pub target: &'a str,
    pub args: &'a [String],
    pub env: &'a [String],
    pub headers: &'a [String],
}

/// `cairn mcp add`.
pub fn add(sources: &Sources, request: &AddRequest<'_>) -> Result<String, String> {
    let name = request.name;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("{name:?} is not a server name: use letters, digits, - and _"));
    }
    let entry = match request.transport {
        "stdio" => {
            let mut env = Map::new();
            for pair in request.env {
                let (key, value) = pair.split_once('=').ok_or_else(|| format!("--env {pair}: write KEY=value"))?;
                env.insert(key.to_owned(), json!(value));
            }
            let mut entry = json!({"command": request.target, "args": request.args});
            if !env.is_empty() {
                entry["env"] = Value::Object(env);
            }
            entry
        }
        "http" | "streamable-http" => {
            let mut headers = Map::new();
            for header in request.headers {
                let (key, value) =
                    header.split_once(':').ok_or_else(|| format!("--header {header}: write \"Name: value\""))?;
                headers.insert(key.trim().to_owned(), json!(value.trim()));
            }
            let mut entry = json!({"type": "http", "url": request.target});
            if !headers.is_empty() {
                entry["headers"] = Value::Object(headers);
            }
            entry
        }
        other => return Err(format!("unknown transport {other:?}: use stdio or http (sse is not supported)")),
    };
    let path = file_for(request.scope, sources)?;
    let mut file = read(&path)?;
    let servers = file.entry("mcpServers").or_insert_with(|| json!({}));
    let Some(servers) = servers.as_object_mut() else {
        return Err(format!("{}: \"mcpServers\" is not an object", path.display()));
    };
    let replaced = servers.insert(name.to_owned(), entry).is_some();
    write(&path, &file)?;
    let verb = if replaced { "Replaced" } else { "Added" };
    Ok(format!("{verb} MCP server {name} in {}", path.display()))
}

/// `cairn mcp remove`.
pub fn remove(sources: &Sources, name: &str, scope: Option<&str>) -> Result<String, String> {
    let scopes: Vec<&str> = scope.map_or_else(|| vec!["project", "user"], |s| vec![s]);
    for scope in scopes {
        let path = file_for(scope, sources)?;
        let mut file = read(&path)?;
        let removed =
            file.get_mut("mcpServers").and_then(Value::as_object_mut).and_then(|s| s.shift_remove(name)).is_some();
        if removed {
            write(&path, &file)?;
            return Ok(format!("Removed MCP server {name} from {}", path.display()));
        }
    }
    Err(format!("No MCP server named {name} in .mcp.json or $CAIRN_HOME/mcp.json."))
}
