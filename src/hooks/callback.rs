//! Hooks a host program registered instead of a settings file: an Agent SDK's callbacks
//! (`initialize` names them by id, per event and matcher). Such a hook runs by asking the
//! host — the JSON input goes out, and what comes back is read exactly as a command hook's
//! JSON output. [`CallbackHost`] is how the hooks reach the host; the front end that speaks
//! to it implements it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::Value;

use super::outcome::Outcome;

/// Asks the host to run one of its hooks.
pub trait CallbackHost: Send + Sync {
    /// The hook's output (its JSON, as a command hook would print it), or why there is none.
    fn call(&self, callback_id: &str, input: &Value, timeout: Duration) -> BoxFuture<'static, Result<Value, String>>;
}

/// A registration: the hooks of one matcher of one event.
#[derive(Clone, Debug, PartialEq)]
pub struct Callbacks {
    pub event: String,
    pub matcher: Option<String>,
    pub ids: Vec<String>,
    /// Seconds (the host's own timeout for these hooks).
    pub timeout: Option<f64>,
}

/// The host, shared by every callback hook.
#[derive(Clone)]
pub struct HostRef(pub Arc<dyn CallbackHost>);

impl fmt::Debug for HostRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackHost")
    }
}

/// Runs callback `id` through the host, as an [`Outcome`] like a command's.
pub(super) async fn run(host: HostRef, id: String, input: Value, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let display = format!("callback {id}");
    match tokio::time::timeout(timeout, host.0.call(&id, &input, timeout)).await {
        Ok(Ok(output)) => {
            let stdout = if output.is_null() { String::new() } else { output.to_string() };
            Outcome::finished(display, Some(0), stdout, String::new(), started.elapsed())
        }
        Ok(Err(problem)) => Outcome::failed(display, problem),
        Err(_) => Outcome::failed(display, format!("timed out after {} s", timeout.as_secs_f64())),
    }
}
