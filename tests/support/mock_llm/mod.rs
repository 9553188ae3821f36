//! The scripted mock LLM server every cairn test stands on; also runnable on its own
//! (`cargo run --example mock_llm -- --scenario FILE`).
//!
//! It serves the Anthropic Messages API (`POST /v1/messages`), OpenAI Chat Completions
//! (`POST [/v1]/chat/completions`), the OpenAI Responses API (`POST [/v1]/responses`) and
//! Gemini (`POST /v1beta/models/{model}:streamGenerateContent`) over real HTTP on loopback, answering request N with step
//! N of a [`Scenario`]: text, thinking, one or several tool calls, or a fault (HTTP errors
//! with `retry-after`, prompt-too-long, a cut, a stall, a malformed event, an SSE error,
//! slow tokens). It records every request (path, headers without secrets, body, arrival and
//! completion times) and checks each history the way the real API does, refusing a request
//! whose `tool_use` lacks its `tool_result` — and noting it, so tests can assert none did.
//! It runs on its own thread and runtime, so synchronous tests can use it.

pub mod other_wires;
pub mod scenario;
pub mod wire;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

pub use scenario::{Fault, Page, Scenario, Step};
use wire::Dialect;

/// One request as the mock saw it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// 0-based arrival order; the step it was answered with.
    pub index: usize,
    pub method: String,
    pub path: String,
    /// Lower-case names; `x-api-key` and `authorization` values replaced by `[redacted]`.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    /// Time since the mock started.
    pub received_at: Duration,
    /// When the last event of the answer was handed to the connection.
    pub finished_at: Option<Duration>,
    /// When the body was closed after that (later with `linger_ms`; `None` if the client
    /// went first).
    pub closed_at: Option<Duration>,
    /// What the real API would have rejected about the history.
    pub history_problems: Vec<String>,
}

struct Shared {
    scenario: Scenario,
    started: Instant,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Requests answered without a step (summaries, refusals over the context limit).
    off_script: std::sync::atomic::AtomicUsize,
    /// The steps already played: each request gets the first one left whose `when` (if
    /// any) its first message holds — in order, for a scenario without `when`.
    played: Mutex<Vec<bool>>,
    /// Prompt-suggestion requests answered (off the record).
    suggestions_asked: std::sync::atomic::AtomicUsize,
    /// Each page fetched: its path and when (since the mock started).
    page_hits: Mutex<Vec<(String, Duration)>>,
    /// The wall-clock time the mock started, to compare its times with files' times.
    started_wall: std::time::SystemTime,
}

pub struct MockLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockLlm {
    /// Starts on a free loopback port.
    #[allow(clippy::expect_used)]
    pub fn start(scenario: Scenario) -> MockLlm {
        MockLlm::start_on(scenario, "127.0.0.1:0").expect("binding a loopback port")
    }

    /// Starts on a free loopback port with a scenario that needs the mock's own URL (pages
    /// that redirect to it, say).
    #[allow(clippy::expect_used)]
    pub fn start_with(scenario: impl FnOnce(&str) -> Scenario) -> MockLlm {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("a bound address"));
        MockLlm::serve(scenario(&url), listener).expect("serving on loopback")
    }

    pub fn start_on(scenario: Scenario, addr: &str) -> std::io::Result<MockLlm> {
        MockLlm::serve(scenario, std::net::TcpListener::bind(addr)?)
    }

    fn serve(scenario: Scenario, listener: std::net::TcpListener) -> std::io::Result<MockLlm> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            scenario,
            started: Instant::now(),
            requests: Mutex::new(Vec::new()),
            off_script: std::sync::atomic::AtomicUsize::new(0),
            played: Mutex::new(Vec::new()),
            page_hits: Mutex::new(Vec::new()),
            suggestions_asked: std::sync::atomic::AtomicUsize::new(0),
            started_wall: std::time::SystemTime::now(),
        });
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let serving = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(serve(listener, serving, stop));
        });
        Ok(MockLlm { addr, shared, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`: the Anthropic base URL. OpenAI clients use `{url}/v1`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests_since(0)
    }

    /// The requests from number `first` on.
    pub fn requests_since(&self, first: usize) -> Vec<RecordedRequest> {
        self.shared.requests.lock().map(|r| r.get(first..).unwrap_or_default().to_vec()).unwrap_or_default()
    }

    /// How many prompt suggestions were asked for.
    pub fn suggestion_requests(&self) -> usize {
        self.shared.suggestions_asked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The pages fetched so far: path and when, since the mock started.
    pub fn page_hits(&self) -> Vec<(String, Duration)> {
        self.shared.page_hits.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// A time the mock recorded, on the wall clock (to compare with a file's mtime).
    pub fn wall(&self, at: Duration) -> std::time::SystemTime {
        self.shared.started_wall + at
    }

    /// Waits until at least `n` requests have arrived.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.requests().len() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// Every history problem any request had; tests assert this is empty.
    pub fn history_problems(&self) -> Vec<String> {
        self.requests().into_iter().flat_map(|r| r.history_problems).collect()
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: std::net::TcpListener, shared: Arc<Shared>, mut stop: tokio::sync::oneshot::Receiver<()>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = &mut stop => return,
        };
        let _ = stream.set_nodelay(shared.scenario.tcp_nodelay);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, Arc::clone(&shared)));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn full(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert("content-type", value);
    }
    response
}

/// A page of the scenario's `pages`, for `GET` requests.
fn page(shared: &Shared, path: &str) -> Response<Body> {
    if let Ok(mut hits) = shared.page_hits.lock() {
        hits.push((path.to_owned(), shared.started.elapsed()));
    }
    let Some(page) = shared.scenario.pages.get(path) else {
        return full(StatusCode::NOT_FOUND, "text/plain", format!("mock: no page at {path}"));
    };
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK);
    let mut response = full(status, page.content_type.as_deref().unwrap_or("text/plain"), page.body.clone());
    if let Some(location) = page.location.as_deref().and_then(|l| l.parse().ok()) {
        response.headers_mut().insert("location", location);
    }
    response
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Body>, Infallible> {
    if req.method() == hyper::Method::GET {
        return Ok(page(&shared, req.uri().path()));
    }
    let received_at = shared.started.elapsed();
    let method = req.method().to_string();
    let path = req.uri().path_and_query().map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| {
            let name = name.as_str().to_ascii_lowercase();
            let value = match name.as_str() {
                "x-api-key" | "authorization" => "[redacted]".to_owned(),
                _ => value.to_str().unwrap_or("").to_owned(),
            };
            (name, value)
        })
        .collect();
    let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let route = path.split('?').next().unwrap_or("").to_owned();
    let dialect = if route.ends_with("/chat/completions") {
        Dialect::OpenAi
    } else if route.ends_with("/responses") {
        Dialect::Responses
    } else if route.ends_with(":streamGenerateContent") {
        Dialect::Gemini
    } else if route == "/v1/messages" {
        Dialect::Anthropic
    } else {
        return Ok(full(StatusCode::NOT_FOUND, "text/plain", format!("mock: no route for {method} {path}")));
    };
    if dialect == Dialect::Anthropic && body["system"].to_string().contains("will type next") {
        let n = shared.suggestions_asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let text = shared.scenario.suggestions.get(n).map_or("NONE", String::as_str);
        let model = body["model"].as_str().unwrap_or("mock").to_owned();
        let frames = wire::anthropic_frames(&Step::text(text), &model, 10_000 + n, 200, false);
        return Ok(full(StatusCode::OK, "text/event-stream", frames.concat()));
    }
    let history_problems = wire::check_history(dialect, &body);
    let index = {
        let Ok(mut requests) = shared.requests.lock() else {
            return Ok(full(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "mock: poisoned".into()));
        };
        let index = requests.len();
        requests.push(RecordedRequest {
            index,
            method,
            path,
            headers,
            body: body.clone(),
            received_at,
            finished_at: None,
            closed_at: None,
            history_problems: history_problems.clone(),
        });
        index
    };
    let error = |status: StatusCode, kind: &str, message: &str| {
        full(status, "application/json", wire::error_body(dialect, kind, message))
    };
    if let Some(problem) = history_problems.first() {
        finished(&shared, index);
        return Ok(error(StatusCode::BAD_REQUEST, "invalid_request_error", problem));
    }
    if let Some(refusal) = refused_beta(&shared.scenario, &headers_of(&shared, index), &body) {
        shared.off_script.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        finished(&shared, index);
        return Ok(error(StatusCode::BAD_REQUEST, "invalid_request_error", &refusal));
    }
    let tokens = (bytes.len() as u64 / 4).max(1);
    if shared.scenario.context_limit.is_some_and(|limit| tokens > limit) {
        shared.off_script.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        finished(&shared, index);
        let limit = shared.scenario.context_limit.unwrap_or(0);
        let message = format!("prompt is too long: {tokens} tokens > {limit} maximum");
        return Ok(error(StatusCode::BAD_REQUEST, "invalid_request_error", &message));
    }
    let seen = match dialect {
        Dialect::Responses | Dialect::Gemini => other_wires::as_messages(&body),
        Dialect::Anthropic | Dialect::OpenAi => body.clone(),
    };
    let summary = wire::is_summary_request(&seen).then(|| {
        let mut step = Step::text(&wire::summary_of(&seen));
        step.fault = shared.scenario.summary_fault.clone();
        step
    });
    let step_index = index - shared.off_script.load(std::sync::atomic::Ordering::SeqCst);
    if summary.is_some() {
        shared.off_script.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let Some(step) = summary.or_else(|| next_step(&shared, &seen)) else {
        let message = format!(
            "mock: the scenario has no step for request #{index} (step {step_index}; it has {})",
            shared.scenario.steps.len()
        );
        finished(&shared, index);
        return Ok(error(StatusCode::BAD_REQUEST, "invalid_request_error", &message));
    };
    match &step.fault {
        Some(Fault::Http { status, retry_after, retry_after_ms, should_retry, error_type, message }) => {
            let status_code = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let kind = error_type.clone().unwrap_or_else(|| wire::default_error_type(*status).to_owned());
            let text = message.clone().unwrap_or_else(|| format!("mock error {status}"));
            let mut response = error(status_code, &kind, &text);
            let headers = response.headers_mut();
            if let Some(value) = retry_after.as_deref().and_then(|v| v.parse().ok()) {
                headers.insert("retry-after", value);
            }
            if let Some(value) = retry_after_ms.and_then(|v| v.to_string().parse().ok()) {
                headers.insert("retry-after-ms", value);
            }
            if let Some(value) = should_retry.and_then(|v| v.to_string().parse().ok()) {
                headers.insert("x-should-retry", value);
            }
            finished(&shared, index);
            return Ok(response);
        }
        Some(Fault::PromptTooLong) => {
            finished(&shared, index);
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "prompt is too long: 200251 tokens > 200000 maximum",
            ));
        }
        _ => {}
    }
    // Gemini names the model in the path: `/v1beta/models/{model}:streamGenerateContent`.
    let from_path =
        route.rsplit('/').next().and_then(|last| last.split(':').next()).filter(|_| dialect == Dialect::Gemini);
    let model = body.get("model").and_then(Value::as_str).or(from_path).unwrap_or("mock-model").to_owned();
    let input_tokens = (bytes.len() as u64 / 4).max(1);
    let frames = match dialect {
        Dialect::Anthropic => {
            let omit = body["thinking"]["display"] == "omitted";
            wire::anthropic_frames(&step, &model, index, input_tokens, omit)
        }
        Dialect::OpenAi => wire::openai_frames(&step, &model, index, input_tokens),
        Dialect::Responses => other_wires::responses_frames(&step, &model, index, input_tokens),
        Dialect::Gemini => other_wires::gemini_frames(&step, &model, index, input_tokens),
    };
    let (mut sender, channel) = http_body_util::channel::Channel::<Bytes, Infallible>::new(16);
    tokio::spawn(async move {
        let delay = step.token_delay_ms.map(Duration::from_millis);
        for (n, frame) in frames.into_iter().enumerate() {
            match &step.fault {
                Some(Fault::Cut { after_events }) if n == *after_events => break,
                Some(Fault::Malformed { after_events }) if n == *after_events => {
                    let _ = sender.send_data(Bytes::from(wire::malformed_frame(dialect))).await;
                    break;
                }
                Some(Fault::StreamError { after_events, error_type }) if n == *after_events => {
                    let kind = error_type.as_deref().unwrap_or("overloaded_error");
                    let _ = sender.send_data(Bytes::from(wire::stream_error_frame(dialect, kind))).await;
                    break;
                }
                Some(Fault::Stall { after_events, ms }) if n == *after_events => {
                    tokio::time::sleep(Duration::from_millis(ms.unwrap_or(3_600_000))).await;
                }
                Some(Fault::Pings { after_events }) if n == *after_events => loop {
                    let ping = Bytes::from("event: ping\ndata: {\"type\": \"ping\"}\n\n");
                    if sender.send_data(ping).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                },
                Some(Fault::LongLine { after_events, bytes, unterminated }) if n == *after_events => {
                    if sender.send_data(Bytes::from_static(b"event: content_block_delta\ndata: ")).await.is_err() {
                        return;
                    }
                    let chunk = Bytes::from(vec![b'x'; 1 << 20]);
                    for sent in (0..*bytes).step_by(1 << 20) {
                        if sender.send_data(chunk.slice(..(bytes - sent).min(1 << 20))).await.is_err() {
                            return;
                        }
                    }
                    if *unterminated {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    let _ = sender.send_data(Bytes::from_static(b"\n\n")).await;
                    break;
                }
                _ => {}
            }
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if sender.send_data(Bytes::from(frame)).await.is_err() {
                return;
            }
        }
        finished(&shared, index);
        if let Some(linger) = step.linger_ms {
            tokio::time::sleep(Duration::from_millis(linger)).await;
        }
        drop(sender);
        closed(&shared, index);
    });
    let mut response = Response::new(channel.boxed());
    let headers = response.headers_mut();
    headers.insert("content-type", hyper::header::HeaderValue::from_static("text/event-stream"));
    headers.insert("cache-control", hyper::header::HeaderValue::from_static("no-cache"));
    headers.insert("request-id", hyper::header::HeaderValue::from_static("req_mock"));
    Ok(response)
}

fn headers_of(shared: &Shared, index: usize) -> BTreeMap<String, String> {
    shared.requests.lock().map(|r| r[index].headers.clone()).unwrap_or_default()
}

/// With `refuse_betas`, a gateway that knows no beta features: the header, or a field only
/// a beta accepts, is a 400 (answered without using a step).
fn refused_beta(scenario: &Scenario, headers: &BTreeMap<String, String>, body: &Value) -> Option<String> {
    if !scenario.refuse_betas {
        return None;
    }
    if let Some(betas) = headers.get("anthropic-beta") {
        return Some(format!("Unexpected value(s) `{betas}` for the `anthropic-beta` header"));
    }
    ["output_config", "context_management"]
        .into_iter()
        .find(|field| body.get(field).is_some())
        .map(|field| format!("{field}: Extra inputs are not permitted"))
}

fn finished(shared: &Shared, index: usize) {
    let at = shared.started.elapsed();
    if let Ok(mut requests) = shared.requests.lock()
        && let Some(request) = requests.get_mut(index)
    {
        request.finished_at = Some(at);
    }
}

fn closed(shared: &Shared, index: usize) {
    let at = shared.started.elapsed();
    if let Ok(mut requests) = shared.requests.lock()
        && let Some(request) = requests.get_mut(index)
    {
        request.closed_at = Some(at);
    }
}

/// Serialises a recorded request for logs (`--record`).
pub fn to_json(request: &RecordedRequest) -> Value {
    json!({
        "index": request.index, "method": request.method, "path": request.path, "headers": request.headers,
        "body": request.body, "received_at_ms": request.received_at.as_secs_f64() * 1000.0,
        "finished_at_ms": request.finished_at.map(|d| d.as_secs_f64() * 1000.0),
        "closed_at_ms": request.closed_at.map(|d| d.as_secs_f64() * 1000.0),
        "history_problems": request.history_problems,
    })
}

/// The first step not yet played whose `when` the request's first message holds.
fn next_step(shared: &Shared, request: &serde_json::Value) -> Option<Step> {
    let first = request["messages"].get(0).map(ToString::to_string).unwrap_or_default();
    let mut played = shared.played.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let steps = &shared.scenario.steps;
    played.resize(steps.len(), false);
    let index = (0..steps.len())
        .find(|i| !played[*i] && steps[*i].when.as_deref().is_none_or(|marker| first.contains(marker)))?;
    played[index] = true;
    Some(steps[index].clone())
}
