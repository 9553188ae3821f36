//! ACP over WebSocket (`cairn acp --listen ADDR`): each text frame one JSON-RPC message.
//! Loopback only unless told otherwise; a token, printed at start, is required on connect
//! (`Authorization: Bearer TOKEN`, or `?token=TOKEN` in the URL). Sessions belong to the
//! server, not to a connection: a client that reconnects and loads a session is shown all
//! of it, and what a running turn does while no one is connected reaches it then.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

use super::{Input, Sessions};

/// Where to listen, and the token clients must give.
pub struct Listen {
    pub addr: SocketAddr,
    pub token: String,
    /// Listening on an address other than loopback was asked for.
    pub remote: bool,
}

/// Serves ACP on `listen` until the process is stopped. Prints the address, with the
/// token, on stdout.
pub async fn run_listening(config: Box<dyn Sessions>, listen: Listen) -> Result<i32, String> {
    if !listen.addr.ip().is_loopback() && !listen.remote {
        return Err(format!(
            "refusing to listen on {}: it is not a loopback address, and the token would be all that guards \
             this machine. Add --allow-remote if that is what you want.",
            listen.addr
        ));
    }
    let listener =
        TcpListener::bind(listen.addr).await.map_err(|e| format!("cannot listen on {}: {e}", listen.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("cairn acp: listening on ws://{addr}/?token={}", listen.token);
    let (inputs, rx) = mpsc::unbounded_channel();
    let token = listen.token;
    tokio::spawn(async move {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let conn = NEXT.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(connection(stream, conn, token.clone(), inputs.clone()));
                }
                // Out of descriptors, a connection reset before it was taken: the server
                // goes on (after a breath, so a full table does not spin).
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    });
    super::serve(config, rx, None).await;
    Ok(0)
}

/// One client: checked, then its frames in and its messages out, until either side closes.
async fn connection(stream: TcpStream, conn: u64, token: String, inputs: mpsc::UnboundedSender<Input>) {
    let _ = stream.set_nodelay(true);
    // The handshake callback's signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if given_token(request).is_some_and(|given| same(given.as_bytes(), token.as_bytes())) {
            return Ok(response);
        }
        let mut refusal = ErrorResponse::new(Some("a valid token is needed: Authorization: Bearer TOKEN".into()));
        *refusal.status_mut() = StatusCode::UNAUTHORIZED;
        Err(refusal)
    };
    // A client that connects and says nothing is not kept waiting for.
    let handshake = tokio::time::timeout(HANDSHAKE_TIME, tokio_tungstenite::accept_hdr_async(stream, check));
    let Ok(Ok(socket)) = handshake.await else { return };
    let (mut sink, mut frames) = socket.split();
    let (out, mut outgoing) = mpsc::unbounded_channel::<String>();
    if inputs.send(Input::Opened { conn, out }).is_err() {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(text) = outgoing.recv().await {
            if sink.send(Message::text(text)).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    while let Some(Ok(frame)) = frames.next().await {
        let text = match frame {
            Message::Text(text) => text.to_string(),
            Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Message::Close(_) => break,
            _ => continue,
        };
        if inputs.send(Input::Message { conn, text }).is_err() {
            break;
        }
    }
    let _ = inputs.send(Input::Closed { conn });
    writer.abort();
}

/// How long a client has to complete the WebSocket handshake.
const HANDSHAKE_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The token a client gave: the bearer token, or the URL's `token` parameter.
fn given_token(request: &Request) -> Option<String> {
    let header = request.headers().get("authorization").and_then(|v| v.to_str().ok());
    if let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) {
        return Some(token.trim().to_owned());
    }
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
