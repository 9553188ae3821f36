//! Requests from the core to the program that drives it (an Agent SDK, through the front
//! end that speaks its protocol): its hook callbacks, for now. Each request goes out as
//! [`Event::HostRequest`] with an id of its own and waits for the [`Op::HostAnswer`] with
//! that id; the hooks' own timeout bounds the wait, and a request the front end cannot
//! deliver is answered with an error at once.
//!
//! [`Op::HostAnswer`]: crate::protocol::Op::HostAnswer

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::hooks::{CallbackHost, Callbacks, HostRef};
use crate::protocol::{Event, EventSink, HostRequest};

/// The requests waiting for the host's answer.
#[derive(Default)]
pub struct HostCalls {
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>,
}

impl HostCalls {
    fn request(&self, id: &str) -> oneshot::Receiver<Result<Value, String>> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id.to_owned(), tx);
        }
        rx
    }

    /// The host's answer to request `id` (one nobody waits for any more is dropped).
    pub fn answer(&self, id: &str, answer: Result<Value, String>) {
        let waiting = self.pending.lock().ok().and_then(|mut p| p.remove(id));
        if let Some(tx) = waiting {
            let _ = tx.send(answer);
        }
    }
}

/// The hooks' way to the host: through the event stream.
struct EventHost {
    events: EventSink,
    calls: Arc<HostCalls>,
}

impl CallbackHost for EventHost {
    fn call(&self, callback_id: &str, input: &Value, _timeout: Duration) -> BoxFuture<'static, Result<Value, String>> {
        let id = uuid::Uuid::new_v4().to_string();
        let answer = self.calls.request(&id);
        let request = HostRequest::HookCallback { callback_id: callback_id.to_owned(), input: input.clone() };
        self.events.emit(Event::HostRequest { id: id.clone(), request });
        let calls = Arc::clone(&self.calls);
        Box::pin(async move {
            let answer = answer.await.unwrap_or_else(|_| Err("the host program went away".into()));
            calls.answer(&id, Err(String::new()));
            answer
        })
    }
}

/// Registers the host's hooks with the session's; problems are told as notices.
pub(super) fn register(services: &super::Services, registered: &[Callbacks], events: &EventSink) {
    let host = HostRef(Arc::new(EventHost { events: events.clone(), calls: Arc::clone(&services.host_calls) }));
    for message in services.add_hook_callbacks(registered, host) {
        events.emit(Event::Notice { message: format!("A hook callback was not registered: {message}") });
    }
}
