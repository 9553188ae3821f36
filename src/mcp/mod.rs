//! MCP servers, through the official `rmcp` SDK, behind this module.
//!
//! [`McpManager::start`] starts every configured server at once in the background (stdio:
//! a child process in its own process group, its stderr kept in a log beside the session;
//! Streamable HTTP: a connection with the configured headers) and returns at once: the
//! prompt never waits for a server. A server that is ready lists its tools, which the core
//! offers from the next request as `mcp__<server>__<tool>`; one that does not start within
//! the timeout, fails, or exits later is marked so, told to the user, and its calls answer
//! with a clear error. Calls are cancelled with the turn (rmcp sends MCP's cancellation
//! notification when the request is dropped) and limited by a per-call timeout; results
//! are mapped to text and images, and long output is cut for the model and kept whole in a
//! spill file.

pub mod cli;
pub mod config;
mod sdk;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{Peer, RoleClient};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::conversation::history::{ImageSource, ToolResultContent};
use crate::protocol::{Event, EventSink};
use crate::tools::{ToolContext, ToolOutput, state};
use config::{ServerConfig, Transport};

/// The tool that loads deferred MCP tools' schemas.
pub const SEARCH_TOOL: &str = "ToolSearch";

pub const SEARCH_DESCRIPTION: &str = "Loads the full definitions of MCP tools (the tools named mcp__<server>__<tool>) \
whose parameters are not shown yet: to save context, they are offered by name and one line only. Before calling \
such a tool, call this with its name (or words to search the tools' names and descriptions) to get its parameters; \
then call the tool with input that matches them.";

/// The search tool's input schema.
pub fn search_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "A tool's full name, or words to search for."},
            "max_results": {"type": "integer", "description": "At most this many tools (default 5)."}
        },
        "required": ["query"],
        "additionalProperties": false
    })
}

/// A deferred tool's description: its first line, and how to get its parameters.
pub fn deferred_description(tool: &McpTool) -> String {
    let first: String = tool.description.lines().next().unwrap_or_default().chars().take(160).collect();
    format!("{first} (Parameters not shown: call {SEARCH_TOOL} with \"{}\" first.)", tool.full_name)
}

/// Output longer than this (characters) is cut for the model and spilled whole.
const MAX_OUTPUT: usize = 100_000;

pub use crate::protocol::{McpServer, McpStatus as Status};

/// A tool a server offers.
#[derive(Clone, Debug)]
pub struct McpTool {
    pub server: String,
    pub name: String,
    /// `mcp__<server>__<tool>`.
    pub full_name: String,
    pub description: String,
    pub schema: Value,
    /// The server says it only reads (`readOnlyHint`): it may run beside other reads.
    pub read_only: bool,
}

struct Server {
    config: ServerConfig,
    status: Status,
    tools: Vec<McpTool>,
    peer: Option<Peer<RoleClient>>,
    /// Stops this connection (a reconnect, or cairn's end).
    stop: CancellationToken,
}

/// Every configured server and its state, shared by the core and the background tasks.
#[derive(Clone)]
pub struct McpManager {
    servers: Arc<Mutex<Vec<Server>>>,
    /// Bumped whenever the set of ready tools changes.
    generation: Arc<AtomicU64>,
    events: EventSink,
    stop: CancellationToken,
    /// Stdio servers' process groups join it, so they end with cairn however it ends.
    shells: Arc<crate::tools::bash::shells::ShellRegistry>,
    log_dir: std::path::PathBuf,
    /// The way to the host program's own servers (`"type": "sdk"`).
    host: Arc<crate::protocol::HostCalls>,
}

impl McpManager {
    /// Starts every server in the background; returns at once.
    pub fn start(
        configs: Vec<ServerConfig>,
        log_dir: std::path::PathBuf,
        events: EventSink,
        shells: Arc<crate::tools::bash::shells::ShellRegistry>,
        host: Arc<crate::protocol::HostCalls>,
    ) -> McpManager {
        let servers = configs
            .into_iter()
            .map(|config| Server {
                config,
                status: Status::Starting,
                tools: Vec::new(),
                peer: None,
                stop: CancellationToken::new(),
            })
            .collect::<Vec<_>>();
        let names: Vec<String> = servers.iter().map(|s| s.config.name.clone()).collect();
        let manager = McpManager {
            servers: Arc::new(Mutex::new(servers)),
            generation: Arc::new(AtomicU64::new(0)),
            events,
            stop: CancellationToken::new(),
            shells,
            log_dir,
            host,
        };
        for name in names {
            manager.connect(&name);
        }
        manager
    }

    /// The enabled plugins' servers are now `configs`: those of plugins turned off stop and
    /// leave, new ones start (the others keep their connections).
    pub fn sync_plugin_servers(&self, configs: Vec<ServerConfig>) {
        let fresh: Vec<String> = {
            let mut servers = state::lock(&self.servers);
            servers.retain(|s| {
                let gone = s.config.scope == config::Scope::Plugin && !configs.iter().any(|c| c.name == s.config.name);
                if gone {
                    s.stop.cancel();
                }
                !gone
            });
            let fresh: Vec<ServerConfig> =
                configs.into_iter().filter(|c| !servers.iter().any(|s| s.config.name == c.name)).collect();
            let names = fresh.iter().map(|c| c.name.clone()).collect();
            servers.extend(fresh.into_iter().map(|config| Server {
                config,
                status: Status::Starting,
                tools: Vec::new(),
                peer: None,
                stop: CancellationToken::new(),
            }));
            names
        };
        self.generation.fetch_add(1, Ordering::SeqCst);
        for name in fresh {
            self.connect(&name);
        }
    }

    /// Turns one server off: its connection is closed and its tools leave the offer.
    pub fn disable(&self, name: &str) {
        let found = self.with_server(name, |s| {
            s.stop.cancel();
            s.status = Status::Disabled;
            s.tools.clear();
            s.peer = None;
        });
        if found.is_some() {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// (Re)connects one server in the background; a connection it had is closed first.
    pub fn connect(&self, name: &str) {
        let stop = self.stop.child_token();
        let Some(config) = self.with_server(name, |s| {
            s.stop.cancel();
            s.stop = stop.clone();
            s.status = Status::Starting;
            s.tools.clear();
            s.peer = None;
            s.config.clone()
        }) else {
            return;
        };
        self.generation.fetch_add(1, Ordering::SeqCst);
        let manager = self.clone();
        tokio::spawn(async move {
            let timeout = std::env::var("MCP_TIMEOUT")
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(config::START_TIMEOUT, Duration::from_millis);
            let started = tokio::select! {
                started = tokio::time::timeout(timeout, start_server(&config, &manager)) => started,
                () = stop.cancelled() => return,
            };
            match started {
                Ok(Ok((service, tools))) => {
                    let count = tools.len();
                    manager.with_server(&config.name, |s| {
                        s.status = Status::Ready;
                        s.tools = tools;
                        s.peer = Some(service.peer().clone());
                    });
                    manager.generation.fetch_add(1, Ordering::SeqCst);
                    manager.events.emit(Event::Notice {
                        message: format!("MCP server {} is ready ({count} tools)", config.name),
                    });
                    // Wait for the server to go away, or for cairn (or a reconnect) to stop it.
                    let quit = tokio::select! {
                        quit = service.waiting() => Some(quit),
                        () = stop.cancelled() => None,
                    };
                    if quit.is_some() {
                        manager.fail(&config.name, "the server exited".into());
                    }
                }
                Ok(Err(problem)) => manager.fail(&config.name, problem),
                Err(_) => manager.fail(&config.name, format!("it did not start within {} s", timeout.as_secs())),
            }
        });
    }

    fn fail(&self, name: &str, why: String) {
        self.with_server(name, |s| {
            s.status = Status::Failed(why.clone());
            s.tools.clear();
            s.peer = None;
        });
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.events.emit(Event::Error { message: format!("MCP server {name}: {why}") });
    }

    fn with_server<T>(&self, name: &str, f: impl FnOnce(&mut Server) -> T) -> Option<T> {
        state::lock(&self.servers).iter_mut().find(|s| s.config.name == name).map(f)
    }

    /// Waits until no server is still starting, at most `limit`.
    pub async fn settled(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while state::lock(&self.servers).iter().any(|s| s.status == Status::Starting)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A number that changes whenever the tools on offer change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The tools of every ready server.
    pub fn tools(&self) -> Vec<McpTool> {
        state::lock(&self.servers).iter().flat_map(|s| s.tools.clone()).collect()
    }

    /// Each server: name, where it was configured, status, tool count.
    pub fn listing(&self) -> Vec<McpServer> {
        state::lock(&self.servers)
            .iter()
            .map(|s| McpServer {
                name: s.config.name.clone(),
                scope: s.config.scope.label(),
                status: s.status.clone(),
                tools: s.tools.len(),
            })
            .collect()
    }

    /// ToolSearch: the full definitions of the tools whose name matches the query exactly,
    /// else of those whose name or description has every word of it.
    pub fn search(&self, input: &Value) -> ToolOutput {
        let query = input.get("query").and_then(Value::as_str).unwrap_or_default().trim().to_lowercase();
        let limit = input.get("max_results").and_then(Value::as_u64).unwrap_or(5).clamp(1, 50) as usize;
        let tools = self.tools();
        let exact: Vec<&McpTool> = tools.iter().filter(|t| t.full_name.to_lowercase() == query).collect();
        let found: Vec<&McpTool> = if exact.is_empty() {
            let words: Vec<&str> = query.split_whitespace().collect();
            tools
                .iter()
                .filter(|t| {
                    let text = format!("{} {}", t.full_name, t.description).to_lowercase();
                    !words.is_empty() && words.iter().all(|w| text.contains(w))
                })
                .take(limit)
                .collect()
        } else {
            exact
        };
        if found.is_empty() {
            let names: Vec<&str> = tools.iter().map(|t| t.full_name.as_str()).collect();
            return ToolOutput::text(format!("No MCP tool matches \"{query}\". The tools: {}", names.join(", ")));
        }
        let definitions: Vec<Value> = found
            .iter()
            .map(|t| json!({"name": t.full_name, "description": t.description, "input_schema": t.schema}))
            .collect();
        ToolOutput::text(serde_json::to_string_pretty(&definitions).unwrap_or_default())
    }

    /// Stops every server (their processes end with their transports).
    pub fn shutdown(&self) {
        self.stop.cancel();
        for server in state::lock(&self.servers).iter_mut() {
            server.peer = None;
        }
    }

    /// Calls a tool; the answer is always a result for the model.
    pub async fn call(&self, server: &str, tool: &str, input: Value, ctx: ToolContext) -> ToolOutput {
        let found = self.with_server(server, |s| (s.peer.clone(), s.status.clone(), s.config.timeout));
        let Some((peer, status, timeout)) = found else {
            return ToolOutput::error(format!("No MCP server {server} is configured."));
        };
        let Some(peer) = peer else {
            return ToolOutput::error(format!(
                "MCP server {server} is not available ({}); its tools cannot be called now.",
                status.describe()
            ));
        };
        let arguments = match input {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => return ToolOutput::error(format!("The input must be a JSON object, not {other}")),
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let result = tokio::select! {
            result = tokio::time::timeout(timeout, peer.call_tool(params)) => result,
            () = ctx.cancel.cancelled() => return ToolOutput::error(crate::conversation::history::INTERRUPTED_TOOL_RESULT),
        };
        match result {
            Ok(Ok(result)) => map_result(&serde_json::to_value(&result).unwrap_or_default(), &ctx),
            Ok(Err(e)) => ToolOutput::error(format!("MCP server {server} could not run {tool}: {e}")),
            Err(_) => ToolOutput::error(format!(
                "MCP tool {tool} of server {server} did not answer within {} s.",
                timeout.as_secs()
            )),
        }
    }
}

/// Connects and lists the tools.
async fn start_server(
    config: &ServerConfig,
    manager: &McpManager,
) -> Result<(rmcp::service::RunningService<RoleClient, ()>, Vec<McpTool>), String> {
    let (log_dir, shells) = (&manager.log_dir, &manager.shells);
    let service = match &config.transport {
        Transport::Sdk => {
            let transport = sdk::tunnel(config.name.clone(), manager.events.clone(), Arc::clone(&manager.host));
            ().serve(transport).await.map_err(|e| format!("the MCP handshake through the host program failed: {e}"))?
        }
        Transport::Stdio { command, args, env } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).envs(env).kill_on_drop(true);
            #[cfg(unix)]
            cmd.process_group(0);
            let _ = std::fs::create_dir_all(log_dir);
            let log = std::fs::File::create(log_dir.join(format!("mcp-{}.log", config.name)))
                .map(std::process::Stdio::from)
                .unwrap_or_else(|_| std::process::Stdio::null());
            let (transport, _) = rmcp::transport::TokioChildProcess::builder(cmd)
                .stderr(log)
                .spawn()
                .map_err(|e| format!("could not start {command}: {e}"))?;
            if let Some(pgid) = transport.id().and_then(|id| rustix::process::Pid::from_raw(id as i32)) {
                shells.track(pgid);
            }
            ().serve(transport).await.map_err(|e| format!("the MCP handshake failed: {e}"))?
        }
        Transport::Http { url, headers } => {
            use rmcp::transport::StreamableHttpClientTransport;
            use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
            let mut custom = std::collections::HashMap::new();
            for (name, value) in headers {
                let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("the header name {name:?} is not valid"))?;
                let value = reqwest::header::HeaderValue::from_str(value)
                    .map_err(|_| format!("the value of header {name} is not valid"))?;
                custom.insert(name, value);
            }
            let mut transport_config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
            transport_config.custom_headers = custom;
            let client = crate::provider::http_client().map_err(|e| e.to_string())?;
            let transport = StreamableHttpClientTransport::with_client(client, transport_config);
            ().serve(transport).await.map_err(|e| format!("could not connect to {url}: {e}"))?
        }
    };
    let listed = service.list_all_tools().await.map_err(|e| format!("listing its tools failed: {e}"))?;
    let tools = listed
        .into_iter()
        .map(|tool| {
            let value = serde_json::to_value(&tool).unwrap_or_default();
            McpTool {
                server: config.name.clone(),
                full_name: format!("mcp__{}__{}", config.name, tool.name),
                name: tool.name.to_string(),
                description: tool.description.map(|d| d.to_string()).unwrap_or_default(),
                schema: value.get("inputSchema").cloned().unwrap_or_else(|| json!({"type": "object"})),
                read_only: value.pointer("/annotations/readOnlyHint") == Some(&Value::Bool(true)),
            }
        })
        .collect();
    Ok((service, tools))
}

/// A `tools/call` result as the model reads it: text and images; resources as their text
/// (or a line saying what they are); long text cut and spilled.
fn map_result(result: &Value, ctx: &ToolContext) -> ToolOutput {
    let is_error = result.get("isError").and_then(Value::as_bool).unwrap_or(false);
    let mut content = Vec::new();
    let mut text = String::new();
    for item in result.get("content").and_then(Value::as_array).into_iter().flatten() {
        let part = match item.get("type").and_then(Value::as_str) {
            Some("text") => item.get("text").and_then(Value::as_str).unwrap_or_default().to_owned(),
            Some("image") => {
                content.push(ToolResultContent::Image {
                    source: ImageSource {
                        kind: "base64".into(),
                        media_type: item.get("mimeType").and_then(Value::as_str).unwrap_or("image/png").into(),
                        data: item.get("data").and_then(Value::as_str).unwrap_or_default().into(),
                    },
                });
                continue;
            }
            Some("resource") => {
                let resource = item.get("resource").cloned().unwrap_or_default();
                let uri = resource.get("uri").and_then(Value::as_str).unwrap_or_default();
                match resource.get("text").and_then(Value::as_str) {
                    Some(body) => format!("[resource {uri}]\n{body}"),
                    None => format!("[binary resource {uri}]"),
                }
            }
            Some("resource_link") => format!(
                "[resource link {} {}]",
                item.get("uri").and_then(Value::as_str).unwrap_or_default(),
                item.get("name").and_then(Value::as_str).unwrap_or_default()
            ),
            Some(other) => format!("[{other} content]"),
            None => continue,
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&part);
    }
    if text.is_empty()
        && content.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        text = structured.to_string();
    }
    if text.chars().count() > MAX_OUTPUT {
        let path = ctx.session.spill_path(&ctx.call_id, ".txt");
        let saved =
            path.parent().is_some_and(|p| std::fs::create_dir_all(p).is_ok()) && std::fs::write(&path, &text).is_ok();
        let cut: String = text.chars().take(MAX_OUTPUT).collect();
        let total = text.chars().count();
        text = if saved {
            format!("{cut}\n[Output cut at {MAX_OUTPUT} of {total} characters; all of it is in {}]", path.display())
        } else {
            format!("{cut}\n[Output cut at {MAX_OUTPUT} of {total} characters]")
        };
    }
    if !text.is_empty() || content.is_empty() {
        content.insert(0, ToolResultContent::Text { text });
    }
    ToolOutput { content, is_error, structured: result.clone() }
}
