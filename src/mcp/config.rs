//! Where MCP servers are configured, in Claude Code's shapes: `.mcp.json` in the project,
//! `$CAIRN_HOME/mcp.json` for the user, the user's and this project's servers in
//! `~/.claude.json`, and `--mcp-config FILE|JSON`. Each holds `{"mcpServers": {name: server}}`;
//! a server is stdio (`command`, `args`, `env`; the default when there is no `type`) or
//! Streamable HTTP (`type: "http"` or `"streamable-http"`, `url`, `headers`). `${VAR}` and
//! `${VAR:-default}` are expanded in commands, args, env, urls and headers. The whole entry
//! from the most specific place wins: `--mcp-config`, then the project's `.mcp.json`, then
//! `~/.claude.json`'s entry for this project, then the user's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// How long a server may take to start (`MCP_TIMEOUT` overrides, in ms).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one call may take (`MCP_TOOL_TIMEOUT` or a server's `timeout`, in ms).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, PartialEq)]
pub enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
    Http {
        url: String,
        headers: BTreeMap<String, String>,
    },
    /// A server inside the program driving cairn (an Agent SDK's `create_sdk_mcp_server`),
    /// reached through the control protocol.
    Sdk,
}

/// Where a server was configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `--mcp-config`.
    Flag,
    /// The project's `.mcp.json`: needs the user's approval once, interactively.
    Project,
    /// `~/.claude.json`, for this project.
    Local,
    /// `$CAIRN_HOME/mcp.json` or `~/.claude.json`.
    User,
    /// An enabled plugin's `.mcp.json`.
    Plugin,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Flag => "--mcp-config",
            Scope::Project => "project (.mcp.json)",
            Scope::Local => "local (~/.claude.json)",
            Scope::User => "user",
            Scope::Plugin => "plugin",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    pub name: String,
    pub transport: Transport,
    pub scope: Scope,
    /// Per-call timeout.
    pub timeout: Duration,
}

/// What was found, and what was wrong.
#[derive(Debug, Default)]
pub struct Loaded {
    pub servers: Vec<ServerConfig>,
    pub warnings: Vec<String>,
}

/// Where to look.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub project: PathBuf,
    pub cairn_home: PathBuf,
    /// `~/.claude.json` (absent when `claudeCompat` is off).
    pub claude_json: Option<PathBuf>,
    /// `--mcp-config` values: paths or JSON text.
    pub flags: Vec<String>,
    /// `--strict-mcp-config`: the flags' servers only.
    pub only_flags: bool,
}

#[derive(Deserialize)]
struct File {
    #[serde(default, rename = "mcpServers")]
    servers: BTreeMap<String, Value>,
    #[serde(default)]
    projects: BTreeMap<String, ProjectEntry>,
}

#[derive(Deserialize)]
struct ProjectEntry {
    #[serde(default, rename = "mcpServers")]
    servers: BTreeMap<String, Value>,
}

impl Sources {
    /// Every server, the most specific entry of each name.
    pub fn load(&self, env: &impl Fn(&str) -> Option<String>) -> Loaded {
        let mut loaded = Loaded::default();
        let mut entries: Vec<(String, Value, Scope, String)> = Vec::new();
        for flag in &self.flags {
            let (text, label) = if flag.trim_start().starts_with('{') {
                (Some(flag.clone()), "--mcp-config".to_owned())
            } else {
                (std::fs::read_to_string(flag).ok(), flag.clone())
            };
            let Some(text) = text else {
                loaded.warnings.push(format!("--mcp-config {flag}: no such file"));
                continue;
            };
            match serde_json::from_str::<File>(&text) {
                Ok(file) => entries.extend(file.servers.into_iter().map(|(n, v)| (n, v, Scope::Flag, label.clone()))),
                Err(e) => loaded.warnings.push(format!("{label}: not valid MCP configuration JSON: {e}")),
            }
        }
        let project_file = self.project.join(".mcp.json");
        if !self.only_flags
            && let Some(file) = read(&project_file, &mut loaded.warnings)
        {
            let label = project_file.display().to_string();
            entries.extend(file.servers.into_iter().map(|(n, v)| (n, v, Scope::Project, label.clone())));
        }
        if let Some(path) = self.claude_json.as_ref().filter(|_| !self.only_flags)
            && let Some(mut file) = read(path, &mut loaded.warnings)
        {
            let label = path.display().to_string();
            let key = self.project.display().to_string();
            if let Some(project) = file.projects.remove(&key) {
                entries.extend(project.servers.into_iter().map(|(n, v)| (n, v, Scope::Local, label.clone())));
            }
            entries.extend(file.servers.into_iter().map(|(n, v)| (n, v, Scope::User, label.clone())));
        }
        let user_file = self.cairn_home.join("mcp.json");
        if !self.only_flags
            && let Some(file) = read(&user_file, &mut loaded.warnings)
        {
            let label = user_file.display().to_string();
            entries.extend(file.servers.into_iter().map(|(n, v)| (n, v, Scope::User, label.clone())));
        }
        let call_timeout = env("MCP_TOOL_TIMEOUT").and_then(|v| v.parse::<u64>().ok()).map(Duration::from_millis);
        for (name, value, scope, label) in entries {
            if loaded.servers.iter().any(|s| s.name == name) {
                continue;
            }
            match server(&name, &value, scope, env, &mut loaded.warnings) {
                Ok(mut server) => {
                    if let Some(timeout) = call_timeout.filter(|_| value.get("timeout").is_none()) {
                        server.timeout = timeout;
                    }
                    loaded.servers.push(server);
                }
                Err(problem) => loaded.warnings.push(format!("{label}: MCP server \"{name}\": {problem}")),
            }
        }
        loaded
    }
}

/// A plugin's servers (`{"name": config}`), each named `plugin_<plugin>_<name>` as in
/// Claude Code; `env` also answers `${CLAUDE_PLUGIN_ROOT}`.
pub fn plugin_servers(
    plugin: &str,
    servers: &BTreeMap<String, Value>,
    env: &impl Fn(&str) -> Option<String>,
) -> Loaded {
    let mut loaded = Loaded::default();
    let prefix: String = plugin.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    for (name, value) in servers {
        let full = format!("plugin_{prefix}_{name}");
        match server(&full, value, Scope::Plugin, env, &mut loaded.warnings) {
            Ok(server) => loaded.servers.push(server),
            Err(problem) => loaded.warnings.push(format!("MCP server \"{name}\": {problem}")),
        }
    }
    loaded
}

fn read(path: &Path, warnings: &mut Vec<String>) -> Option<File> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<File>(&text) {
        Ok(file) => Some(file),
        Err(e) => {
            warnings.push(format!("{}: not valid MCP configuration JSON: {e}", path.display()));
            None
        }
    }
}

fn server(
    name: &str,
    value: &Value,
    scope: Scope,
    env: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<ServerConfig, String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err("a server name may hold only letters, digits, - and _".into());
    }
    let mut expand = |text: &str| {
        expand_vars(text, env, &mut |var| {
            warnings.push(format!("MCP server \"{name}\": ${{{var}}} is not set"));
        })
    };
    let strings = |key: &str| -> Vec<String> {
        value
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let map = |key: &str| -> BTreeMap<String, String> {
        value
            .get(key)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect()
    };
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("stdio");
    let transport = match kind {
        "stdio" => {
            if value.get("url").is_some() && value.get("type").is_none() {
                return Err("it has a \"url\" but no \"type\"; add \"type\": \"http\"".into());
            }
            let command = value.get("command").and_then(Value::as_str).ok_or("a stdio server needs a \"command\"")?;
            Transport::Stdio {
                command: expand(command),
                args: strings("args").iter().map(|a| expand(a)).collect(),
                env: map("env").into_iter().map(|(k, v)| (k, expand(&v))).collect(),
            }
        }
        "http" | "streamable-http" => {
            let url = value.get("url").and_then(Value::as_str).ok_or("an http server needs a \"url\"")?;
            Transport::Http {
                url: expand(url),
                headers: map("headers").into_iter().map(|(k, v)| (k, expand(&v))).collect(),
            }
        }
        "sdk" => Transport::Sdk,
        "sse" | "ws" => {
            return Err(format!("the \"{kind}\" transport is not supported; use \"http\" (Streamable HTTP)"));
        }
        other => return Err(format!("unknown \"type\": \"{other}\"")),
    };
    let timeout = value.get("timeout").and_then(Value::as_u64).map_or(CALL_TIMEOUT, Duration::from_millis);
    Ok(ServerConfig { name: name.to_owned(), transport, scope, timeout })
}

/// `${VAR}` and `${VAR:-default}`; an unset variable without a default stays as written
/// and is reported through `unset`.
pub fn expand_vars(text: &str, env: &impl Fn(&str) -> Option<String>, unset: &mut impl FnMut(&str)) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (var, default) = match inner.split_once(":-") {
            Some((var, default)) => (var, Some(default)),
            None => (inner, None),
        };
        match (env(var), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                unset(var);
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("t0k".into()),
            "HOME" => Some("/home/me".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_expand_with_defaults() {
        let mut missing = Vec::new();
        let out = expand_vars("Bearer ${TOKEN} ${PORT:-8080} ${NOPE}", &env, &mut |v| missing.push(v.to_owned()));
        assert_eq!(out, "Bearer t0k 8080 ${NOPE}");
        assert_eq!(missing, ["NOPE"]);
    }

    #[test]
    fn servers_load_from_every_place_the_most_specific_winning() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("p");
        let home = root.path().join("home");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            project.join(".mcp.json"),
            r#"{"mcpServers": {
                "fs": {"command": "npx", "args": ["-y", "server-fs", "${HOME}/data"]},
                "api": {"type": "http", "url": "http://127.0.0.1:${PORT:-3001}/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
                "bad": {"url": "http://x"},
                "old": {"type": "sse", "url": "http://x/sse"}
            }}"#,
        )
        .unwrap();
        std::fs::write(
            home.join("mcp.json"),
            r#"{"mcpServers": {"fs": {"command": "other"}, "mine": {"command": "mine"}}}"#,
        )
        .unwrap();
        let sources =
            Sources { project: project.clone(), cairn_home: home, claude_json: None, flags: vec![], only_flags: false };
        let loaded = sources.load(&env);
        let names: Vec<&str> = loaded.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["api", "fs", "mine"]);
        assert_eq!(
            loaded.servers[1].transport,
            Transport::Stdio {
                command: "npx".into(),
                args: vec!["-y".into(), "server-fs".into(), "/home/me/data".into()],
                env: BTreeMap::new()
            }
        );
        assert_eq!(loaded.servers[1].scope, Scope::Project);
        let Transport::Http { url, headers } = &loaded.servers[0].transport else { panic!() };
        assert_eq!(url, "http://127.0.0.1:3001/mcp");
        assert_eq!(headers["Authorization"], "Bearer t0k");
        let warnings = loaded.warnings.join("\n");
        assert!(warnings.contains("\"bad\": it has a \"url\" but no \"type\""), "{warnings}");
        assert!(warnings.contains("\"sse\" transport is not supported"), "{warnings}");
    }
}
