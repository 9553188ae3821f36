//! Server-sent events from an HTTP response to provider-neutral [`StreamEvent`]s.
//!
//! Shared by every vendor ([`open`] sends the request and classifies a failure): the body is framed into events by [`framer`] (one pass, bounded
//! lines) and handed to a vendor [`SseDecoder`]. Three rules keep a bad server from holding
//! a turn:
//! - **The end marker ends the response.** Once the decoder has seen it (`message_stop`;
//!   `[DONE]`), the answer is complete and the loop goes on at once; the rest of the body is
//!   read off in the background so the connection can be reused. A server that does not set
//!   TCP_NODELAY holds a body's last bytes for up to 40 ms — not the turn's business.
//! - **A stall is a lack of progress, not of bytes.** No decoded event for the idle time
//!   counts as a stalled stream, whatever keep-alive pings or a never-ending line may bring.
//! - **Nothing unbounded**: a line or event past [`framer::MAX_EVENT_BYTES`] is malformed.
//!
//! At end of body the decoder says whether the message was complete; if not, the stream
//! yields [`ProviderError::StreamCut`] so the retry loop asks again.

pub mod framer;

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::time::Instant;

pub use framer::SseEvent;

use super::{EventStream, ProviderError, StreamEvent};

pub trait SseDecoder: Send + 'static {
    /// Decodes one SSE event into zero or more stream events; the end marker becomes
    /// [`StreamEvent::MessageStop`].
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError>;

    /// Called at end of body: completes the message (OpenAI servers may omit `[DONE]`), or
    /// reports [`ProviderError::StreamCut`].
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError>;
}

/// How long the rest of a body is read after its end marker, at most.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

type Bytes = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Turns a successful streaming response into an [`EventStream`].
/// A streaming POST of a JSON body to `url`.
pub fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    client.post(url).header("content-type", "application/json").header("accept", "text/event-stream").body(body)
}

/// One event's JSON; a body that is not the JSON expected is malformed (the start of it is
/// kept for the message).
pub fn parse<T: serde::de::DeserializeOwned>(data: &str) -> Result<T, ProviderError> {
    serde_json::from_str(data)
        .map_err(|e| ProviderError::Malformed(format!("{e} in {:?}", data.chars().take(200).collect::<String>())))
}

/// Sends a streaming request and hands its body to `decoder`. A failure status becomes a
/// classified [`ProviderError`] (from the `{"error": {"type", "message"}}` body every vendor
/// sends, more or less), with `secret`, the credential it was sent with, taken out of it.
pub async fn open<D: SseDecoder>(
    builder: reqwest::RequestBuilder,
    idle: Duration,
    secret: &str,
    decoder: D,
) -> Result<EventStream, ProviderError> {
    let response = tokio::time::timeout(idle, builder.send())
        .await
        .map_err(|_| ProviderError::StreamIdle(idle))?
        .map_err(transport_error)?;
    if !response.status().is_success() {
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let should_retry = should_retry(response.headers());
        let text = response.text().await.unwrap_or_default();
        let (kind, message) = error_fields(&text);
        return Err(super::anthropic::classify(status, kind, message, retry_after, should_retry).without(secret));
    }
    Ok(event_stream(response, idle, decoder))
}

/// The type and message of an error body — `{"error": {"type" or "code" or "status",
/// "message"}}` — or the start of whatever text the server sent.
pub(crate) fn error_fields(text: &str) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let field = |name: &str| error.and_then(|e| e.get(name)).and_then(Value::as_str).map(str::to_owned);
    match error {
        Some(Value::String(message)) => (String::new(), message.clone()),
        Some(_) => {
            let code = field("code").or_else(|| field("status")).unwrap_or_default();
            let mut message = field("message").unwrap_or_default();
            if code == "context_length_exceeded" && !message.contains("context length") {
                message = format!("context length exceeded: {message}");
            }
            (field("type").unwrap_or(code), message)
        }
        None => (String::new(), text.trim().chars().take(500).collect()),
    }
}

pub fn event_stream<D: SseDecoder>(response: reqwest::Response, idle: Duration, decoder: D) -> EventStream {
    events_from(Box::pin(response.bytes_stream()), idle, decoder)
}

fn events_from<D: SseDecoder>(bytes: Bytes, idle: Duration, decoder: D) -> EventStream {
    let state = State {
        bytes: Some(bytes),
        framer: framer::Framer::default(),
        decoder,
        framed: VecDeque::new(),
        pending: VecDeque::new(),
        body_ended: false,
        done: false,
        idle,
        deadline: Instant::now() + idle,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(event) = st.pending.pop_front() {
                return Some((Ok(event), st));
            }
            if st.done {
                return None;
            }
            if let Err(e) = st.step().await {
                st.done = true;
                st.pending.clear();
                st.drain();
                return Some((Err(e), st));
            }
        }
    });
    Box::pin(stream)
}

struct State<D> {
    /// The body, until it ends or is handed to the drain.
    bytes: Option<Bytes>,
    framer: framer::Framer,
    decoder: D,
    /// Events framed, not yet decoded.
    framed: VecDeque<SseEvent>,
    /// Decoded, not yet handed on.
    pending: VecDeque<StreamEvent>,
    body_ended: bool,
    done: bool,
    idle: Duration,
    /// When the stream counts as stalled, unless something is decoded before.
    deadline: Instant,
}

impl<D: SseDecoder> State<D> {
    /// Decodes one framed event, or reads one chunk of the body.
    async fn step(&mut self) -> Result<(), ProviderError> {
        let mut out = Vec::new();
        if let Some(sse) = self.framed.pop_front() {
            self.decoder.decode(&sse, &mut out)?;
            if !out.is_empty() {
                self.deadline = Instant::now() + self.idle;
            }
            if out.contains(&StreamEvent::MessageStop) {
                self.done = true;
                self.framed.clear();
                self.drain();
            }
            self.pending.extend(out);
            return Ok(());
        }
        if self.body_ended {
            self.done = true;
            self.decoder.finish(&mut out)?;
            self.pending.extend(out);
            return Ok(());
        }
        let Some(bytes) = self.bytes.as_mut() else {
            self.body_ended = true;
            return Ok(());
        };
        let mut framed = Vec::new();
        let too_long = |_| {
            ProviderError::Malformed(format!("a server-sent event line over {} MiB", framer::MAX_EVENT_BYTES >> 20))
        };
        match tokio::time::timeout_at(self.deadline, bytes.next()).await {
            Ok(Some(Ok(chunk))) => self.framer.push(&chunk, &mut framed).map_err(too_long)?,
            Ok(Some(Err(e))) => return Err(ProviderError::Connection(e.to_string())),
            Ok(None) => {
                self.bytes = None;
                self.body_ended = true;
                self.framer.finish(&mut framed).map_err(too_long)?;
            }
            Err(_) => return Err(ProviderError::StreamIdle(self.idle)),
        }
        self.framed.extend(framed);
        Ok(())
    }

    /// Reads what is left of the body in the background (bounded), so the connection goes
    /// back to the pool instead of being torn down.
    fn drain(&mut self) {
        let Some(mut bytes) = self.bytes.take() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let rest = async { while let Some(Ok(_)) = bytes.next().await {} };
                let _ = tokio::time::timeout(DRAIN_LIMIT, rest).await;
            });
        }
    }
}

/// Reads `retry-after-ms` or `retry-after` (seconds; an HTTP date is ignored). An absurd
/// value (`1e300`) is held to a day here; the retry loop caps what it actually waits.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    const LONGEST: Duration = Duration::from_secs(86_400);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let secs = match header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Some(ms) => ms / 1000.0,
        None => header("retry-after").and_then(|v| v.parse::<f64>().ok())?,
    };
    crate::limits::seconds(secs, LONGEST).map(|d| d.value)
}

/// `x-should-retry: true|false`, the API's explicit word on retrying.
pub fn should_retry(headers: &reqwest::header::HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Maps a reqwest error (connect, send, timeout) to a provider error.
pub fn transport_error(error: reqwest::Error) -> ProviderError {
    let refused = error.is_connect()
        && std::iter::successors(std::error::Error::source(&error), |e| e.source()).any(|e| {
            e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        });
    if refused && let Some(url) = error.url() {
        let origin = url.origin().ascii_serialization();
        return ProviderError::Refused(origin);
    }
    let mut msg = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        msg.push_str(": ");
        msg.push_str(&inner.to_string());
        source = inner.source();
    }
    ProviderError::Connection(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn retry_after_prefers_milliseconds_and_ignores_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut d = HeaderMap::new();
        d.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&d), None);
        // Absurd hints do not panic.
        for absurd in ["1e300", "inf", "-5", "NaN", "18446744073709551616"] {
            let mut h = HeaderMap::new();
            h.insert("retry-after", HeaderValue::from_static(absurd));
            h.insert("retry-after-ms", HeaderValue::from_static(absurd));
            assert!(retry_after(&h).is_none_or(|d| d <= Duration::from_secs(86_400)), "{absurd}");
        }
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;
    use crate::provider::anthropic::AnthropicDecoder;

    fn chunks(parts: Vec<String>) -> impl Stream<Item = reqwest::Result<bytes::Bytes>> + Send {
        futures::stream::iter(parts.into_iter().map(|p| Ok(bytes::Bytes::from(p))))
    }

    fn ping() -> String {
        "event: ping\ndata: {\"type\":\"ping\"}\n\n".into()
    }

    fn start() -> String {
        let message =
            r#"{"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":1,"output_tokens":1}}}"#;
        format!("event: message_start\ndata: {message}\n\n")
    }

    async fn collect(stream: EventStream) -> (Vec<StreamEvent>, Option<ProviderError>) {
        let mut events = Vec::new();
        let mut stream = stream;
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => events.push(event),
                Err(e) => return (events, Some(e)),
            }
        }
        (events, None)
    }

    #[tokio::test(start_paused = true)]
    async fn the_end_marker_ends_the_response_while_the_body_is_held_open() {
        let body = chunks(vec![start(), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".into()])
            .chain(futures::stream::pending());
        let began = Instant::now();
        let (events, error) =
            collect(events_from(Box::pin(body), Duration::from_secs(60), AnthropicDecoder::default())).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(events.last(), Some(&StreamEvent::MessageStop));
        assert_eq!(began.elapsed(), Duration::ZERO, "no wait for the body's end");
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alive_pings_are_not_progress() {
        let pings = futures::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Ok(bytes::Bytes::from(ping())), ()))
        });
        let body = chunks(vec![start()]).chain(pings);
        let began = Instant::now();
        let (events, error) =
            collect(events_from(Box::pin(body), Duration::from_secs(30), AnthropicDecoder::default())).await;
        assert!(matches!(events.as_slice(), [StreamEvent::MessageStart { .. }]), "{events:?}");
        assert!(matches!(error, Some(ProviderError::StreamIdle(_))), "{error:?}");
        assert!(began.elapsed() >= Duration::from_secs(30) && began.elapsed() < Duration::from_secs(32));
    }

    #[tokio::test(start_paused = true)]
    async fn a_line_that_never_ends_is_a_stall_or_too_long() {
        let drip = futures::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok(bytes::Bytes::from("x".repeat(1000))), ()))
        });
        let body = chunks(vec![start(), "data: ".into()]).chain(drip);
        let (_, error) =
            collect(events_from(Box::pin(body), Duration::from_secs(5), AnthropicDecoder::default())).await;
        assert!(matches!(error, Some(ProviderError::StreamIdle(_))), "{error:?}");

        let flood = futures::stream::repeat_with(|| Ok(bytes::Bytes::from(vec![b'x'; 1 << 20])));
        let body = chunks(vec![start(), "data: ".into()]).chain(flood);
        let (_, error) =
            collect(events_from(Box::pin(body), Duration::from_secs(5), AnthropicDecoder::default())).await;
        assert!(matches!(&error, Some(ProviderError::Malformed(m)) if m.contains("MiB")), "{error:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_ends_without_the_marker_is_cut() {
        let (_, error) =
            collect(events_from(Box::pin(chunks(vec![start()])), Duration::from_secs(5), AnthropicDecoder::default()))
                .await;
        assert!(matches!(error, Some(ProviderError::StreamCut)), "{error:?}");
    }
}
