//! ACP over stdio: one client, one JSON-RPC message per line each way; the agent ends when
//! the client closes stdin.

use std::io::Write;

use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::{Input, Sessions};

/// Runs the agent on stdin and stdout until the client closes stdin; the exit code.
pub async fn run_stdio(config: Box<dyn Sessions>) -> i32 {
    let (inputs, rx) = mpsc::unbounded_channel();
    let (out, mut lines_out) = mpsc::unbounded_channel::<String>();
    let _ = inputs.send(Input::Opened { conn: 0, out });
    let writer = tokio::task::spawn_blocking(move || {
        let mut stdout = std::io::stdout().lock();
        while let Some(line) = lines_out.blocking_recv() {
            let written = stdout.write_all(line.as_bytes()).and_then(|()| stdout.write_all(b"\n"));
            if written.and_then(|()| stdout.flush()).is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        // Lines as bytes: one that is not UTF-8 is answered as a parse error, not taken for
        // the end of input.
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).split(b'\n');
        while let Ok(Some(bytes)) = lines.next_segment().await {
            let text = String::from_utf8(bytes).unwrap_or_else(|_| "\u{0}not UTF-8".to_owned());
            if inputs.send(Input::Message { conn: 0, text }).is_err() {
                return;
            }
        }
        let _ = inputs.send(Input::Closed { conn: 0 });
    });
    super::serve(config, rx, Some(0)).await;
    let _ = writer.await;
    0
}
