//! Server-sent events from an HTTP response to provider-neutral [`StreamEvent`]s.
//!
//! Shared by both vendors: the byte stream is guarded by an idle timeout (no bytes for that
//! long counts as a cut stream), framed by `eventsource-stream`, and handed to a vendor
//! [`SseDecoder`]. At end of stream the decoder says whether the message was complete; if not,
//! the stream yields [`ProviderError::StreamCut`] so the retry loop asks again.

use std::collections::VecDeque;
use std::time::Duration;

use eventsource_stream::{Event as SseEvent, Eventsource};
use futures::StreamExt;

use super::{EventStream, ProviderError, StreamEvent};

pub trait SseDecoder: Send + 'static {
    /// Decodes one SSE event into zero or more stream events.
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError>;

    /// Called at end of stream: completes the message (OpenAI servers may omit `[DONE]`), or
    /// reports [`ProviderError::StreamCut`].
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError>;
}

/// Turns a successful streaming response into an [`EventStream`].
pub fn event_stream<D: SseDecoder>(response: reqwest::Response, idle: Duration, decoder: D) -> EventStream {
    let bytes = response.bytes_stream();
    let guarded = futures::stream::unfold(bytes, move |mut bytes| async move {
        match tokio::time::timeout(idle, bytes.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), bytes)),
            Ok(Some(Err(e))) => Some((Err(StreamFailure::Io(e.to_string())), bytes)),
            Ok(None) => None,
            Err(_) => Some((Err(StreamFailure::Idle), bytes)),
        }
    });
    let events = guarded.eventsource();

    struct State<S, D> {
        events: S,
        decoder: D,
        pending: VecDeque<StreamEvent>,
        done: bool,
    }
    let state = State { events: Box::pin(events), decoder, pending: VecDeque::new(), done: false };
    let stream = futures::stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(event) = st.pending.pop_front() {
                return Some((Ok(event), st));
            }
            if st.done {
                return None;
            }
            let mut out = Vec::new();
            let step = match st.events.next().await {
                Some(Ok(sse)) => st.decoder.decode(&sse, &mut out),
                Some(Err(e)) => {
                    st.done = true;
                    Err(match e {
                        eventsource_stream::EventStreamError::Transport(StreamFailure::Idle) => {
                            ProviderError::StreamIdle(idle)
                        }
                        eventsource_stream::EventStreamError::Transport(StreamFailure::Io(msg)) => {
                            ProviderError::Connection(msg)
                        }
                        other => ProviderError::Malformed(other.to_string()),
                    })
                }
                None => {
                    st.done = true;
                    st.decoder.finish(&mut out)
                }
            };
            match step {
                Ok(()) => st.pending.extend(out),
                Err(e) => {
                    st.done = true;
                    st.pending.clear();
                    return Some((Err(e), st));
                }
            }
        }
    });
    Box::pin(stream)
}

#[derive(Debug)]
enum StreamFailure {
    Idle,
    Io(String),
}

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamFailure::Idle => f.write_str("stream idle"),
            StreamFailure::Io(msg) => f.write_str(msg),
        }
    }
}

/// Reads `retry-after-ms` or `retry-after` (seconds; an HTTP date is ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let secs = header("retry-after").and_then(|v| v.parse::<f64>().ok())?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
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
    }
}
