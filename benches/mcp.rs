//! What cairn adds to one MCP call over stdio: `server-everything`'s echo tool called
//! straight through rmcp and through cairn's `McpManager::call` (lookup, argument checks,
//! timeout and cancellation, result mapping), each against its own server process, the two
//! interleaved after a warm-up so both servers are equally warm. Needs
//! `npm ci --prefix tests/mcp-servers`.
//!
//! cargo bench --bench mcp

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn::mcp::McpManager;
use cairn::mcp::config::{CALL_TIMEOUT, Scope, ServerConfig, Transport};
use cairn::protocol::EventSink;
use cairn::tools::bash::shells::ShellRegistry;
use cairn::tools::{SessionState, ToolContext};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::json;

mod common;
use common::median;

const CALLS: usize = 300;

fn main() {
    let server = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp-servers/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(server.is_file(), "run `npm ci --prefix tests/mcp-servers` first");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        // Straight through rmcp.
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(&server).arg("stdio").stderr(std::process::Stdio::null());
        let raw =
            ().serve(rmcp::transport::TokioChildProcess::new(cmd).expect("node starts")).await.expect("handshake");
        let args = json!({"message": "hi"}).as_object().cloned().expect("an object");

        let (sink, _events) = EventSink::new();
        let shells = ShellRegistry::new();
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = ServerConfig {
            name: "everything".into(),
            transport: Transport::Stdio {
                command: "node".into(),
                args: vec![server.display().to_string(), "stdio".into()],
                env: Default::default(),
            },
            scope: Scope::User,
            timeout: CALL_TIMEOUT,
        };
        let manager = McpManager::start(
            vec![config],
            dir.path().to_path_buf(),
            sink.clone(),
            Arc::clone(&shells),
            Arc::default(),
        );
        manager.settled(Duration::from_secs(30)).await;
        let state = Arc::new(SessionState::new(
            dir.path(),
            &[],
            dir.path().join("spill"),
            Arc::clone(&shells),
            sink,
            Default::default(),
        ));
        let (mut direct, mut through) = (Vec::new(), Vec::new());
        for i in 0..CALLS + 50 {
            let started = Instant::now();
            raw.call_tool(CallToolRequestParams::new("echo").with_arguments(args.clone())).await.expect("echo");
            let raw_time = started.elapsed();
            let ctx = ToolContext {
                call_id: format!("c{i}"),
                cancel: tokio_util::sync::CancellationToken::new(),
                session: Arc::clone(&state),
            };
            let started = Instant::now();
            let out = manager.call("everything", "echo", json!({"message": "hi"}), ctx).await;
            let cairn_time = started.elapsed();
            assert!(!out.is_error, "{}", out.text_content());
            if i >= 50 {
                direct.push(raw_time);
                through.push(cairn_time);
            }
        }
        manager.shutdown();
        shells.kill_all();
        let (direct, through) = (median(direct), median(through));
        println!("echo over stdio, median of {CALLS}: rmcp alone {direct:?}, through cairn {through:?}");
        println!("cairn's overhead per call: {:?}", through.saturating_sub(direct));
    });
}
