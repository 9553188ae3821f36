//! The host program's hooks (an Agent SDK's callbacks): registered with the session's
//! hooks, each runs by asking the host through [`HostCalls`] (the protocol's request and
//! answer); the hooks' own timeout bounds the wait.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::hooks::{CallbackHost, Callbacks, HostRef};
use crate::protocol::{Event, EventSink, HostCalls, HostRequest};

/// The hooks' way to the host: through the event stream.
struct EventHost {
    events: EventSink,
    calls: Arc<HostCalls>,
}

impl CallbackHost for EventHost {
    fn call(&self, callback_id: &str, input: &Value, _timeout: Duration) -> BoxFuture<'static, Result<Value, String>> {
        let request = HostRequest::HookCallback { callback_id: callback_id.to_owned(), input: input.clone() };
        Box::pin(self.calls.ask(&self.events, request))
    }
}

/// Adds the host's agent types (they win over the files' and outlive reloads).
pub(super) fn add_agents(services: &super::Services, agents: Vec<crate::custom::AgentDef>) {
    if let Ok(mut defined) = services.custom.program_agents.lock() {
        defined.extend(agents);
    }
    *services.catalog.write().unwrap_or_else(std::sync::PoisonError::into_inner) = services.custom.load();
}

/// Registers the host's hooks with the session's; problems are told as notices.
pub(super) fn register(services: &super::Services, registered: &[Callbacks], events: &EventSink) {
    let host = HostRef(Arc::new(EventHost { events: events.clone(), calls: Arc::clone(&services.host_calls) }));
    for message in services.add_hook_callbacks(registered, host) {
        events.emit(Event::Notice { message: format!("A hook callback was not registered: {message}") });
    }
}
