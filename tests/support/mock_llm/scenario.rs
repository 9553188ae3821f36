//! Scenario files: what the mock answers to each request, in order.
//!
//! A scenario is a list of steps (`{"steps": [...]}` or a bare list, JSON or YAML); request
//! number N gets step N. A step is an answer — `thinking`, `text`, `tool_calls` (several make
//! parallel calls), an optional `stop_reason` and `usage` — optionally with a `fault`:
//!
//! ```yaml
//! steps:
//!   - fault: {kind: http, status: 529, retry_after: "0"}   # overloaded, retry at once
//!   - text: "Let me look."
//!     tool_calls: [{name: Read, input: {file_path: notes.md}}]
//!   - fault: {kind: cut, after_events: 4}                  # the stream ends early
//!     text: "partial"
//!   - fault: {kind: stall, after_events: 2, ms: 5000}     # silence mid-stream
//!     text: "slow"
//!   - fault: {kind: malformed, after_events: 3}
//!   - fault: {kind: stream_error, after_events: 2, error_type: overloaded_error}
//!   - fault: {kind: prompt_too_long}
//!   - text: "The answer."
//!     token_delay_ms: 20                                   # pacing between events
//!   - fault: {kind: pings, after_events: 1}                # keep-alive pings, forever
//!   - fault: {kind: long_line, after_events: 1, bytes: 100000000}  # one huge `data:` line
//!   - text: "Done."
//!     linger_ms: 20000                                     # the body stays open after the end
//! pages:                                                   # served at GET /docs (for WebFetch)
//!   /docs: {content_type: text/html, body: "<h1>Docs</h1>"}
//! context_limit: 50000                                     # larger requests: prompt-too-long
//! tcp_nodelay: false                                       # as Python's http.server: Nagle on
//! refuse_betas: true                                       # a gateway: 400 to any beta feature
//! ```
//!
//! A compaction request (one that asks to "Summarize this conversation so far") is answered
//! with a summary that restates the first user message, without using a step, so scenarios
//! need not know when compaction happens.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Debug, Default)]
pub struct Scenario {
    pub steps: Vec<Step>,
    /// Web pages served at `GET <path>`, for WebFetch.
    pub pages: BTreeMap<String, Page>,
    /// The model's context window, in tokens (a request's bytes ÷ 4): a larger request is
    /// refused with prompt-too-long, as the real API refuses it, and uses no step.
    pub context_limit: Option<u64>,
    /// Set TCP_NODELAY on connections (the default). Off, small writes wait for the peer's
    /// delayed ACK (Nagle), as with Python's http.server and several local model servers.
    pub tcp_nodelay: bool,
    /// Answer 400 to a request with an `anthropic-beta` header or a field only a beta
    /// accepts, as a gateway that knows none does.
    pub refuse_betas: bool,
    /// A fault for the compaction summaries the mock answers itself (a stall, to interrupt).
    pub summary_fault: Option<Fault>,
    /// The answers to prompt-suggestion requests, in order (then NONE); those requests
    /// use no step and are counted apart ([`super::MockLlm::suggestion_requests`]).
    pub suggestions: Vec<String>,
}

/// A static page the mock serves.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default = "ok")]
    pub status: u16,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub body: String,
    /// A `Location` header (for redirects).
    #[serde(default)]
    pub location: Option<String>,
}

fn ok() -> u16 {
    200
}

impl Page {
    pub fn html(body: &str) -> Page {
        Page { status: 200, content_type: Some("text/html; charset=utf-8".into()), body: body.into(), location: None }
    }

    pub fn redirect(location: &str) -> Page {
        Page { status: 302, content_type: None, body: String::new(), location: Some(location.into()) }
    }
}

impl Scenario {
    pub fn new(steps: Vec<Step>) -> Scenario {
        Scenario {
            steps,
            pages: BTreeMap::new(),
            context_limit: None,
            tcp_nodelay: true,
            refuse_betas: false,
            summary_fault: None,
            suggestions: Vec::new(),
        }
    }

    pub fn with_summary_fault(mut self, fault: Fault) -> Scenario {
        self.summary_fault = Some(fault);
        self
    }

    pub fn refusing_betas(mut self) -> Scenario {
        self.refuse_betas = true;
        self
    }

    pub fn with_context_limit(mut self, tokens: u64) -> Scenario {
        self.context_limit = Some(tokens);
        self
    }

    pub fn without_nodelay(mut self) -> Scenario {
        self.tcp_nodelay = false;
        self
    }

    pub fn with_suggestions(mut self, suggestions: &[&str]) -> Scenario {
        self.suggestions = suggestions.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn with_page(mut self, path: &str, page: Page) -> Scenario {
        self.pages.insert(path.into(), page);
        self
    }

    /// Reads a `.json`, `.yaml` or `.yml` scenario file.
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        let parsed: File = if yaml {
            yaml_serde::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        } else {
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        };
        Ok(match parsed {
            File::Steps(steps) => Scenario::new(steps),
            File::Scenario { steps, pages, context_limit, tcp_nodelay, refuse_betas, suggestions } => Scenario {
                steps,
                pages,
                context_limit,
                tcp_nodelay: tcp_nodelay.unwrap_or(true),
                refuse_betas,
                summary_fault: None,
                suggestions,
            },
        })
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum File {
    Steps(Vec<Step>),
    Scenario {
        steps: Vec<Step>,
        #[serde(default)]
        pages: BTreeMap<String, Page>,
        #[serde(default)]
        context_limit: Option<u64>,
        #[serde(default)]
        tcp_nodelay: Option<bool>,
        #[serde(default)]
        suggestions: Vec<String>,
        #[serde(default)]
        refuse_betas: bool,
    },
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Played only for a request whose first message holds this text (a sub-agent's
    /// prompt, say), so concurrent conversations each get their own steps.
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCallSpec>,
    /// Text after the tool calls (Anthropic only): a long tail that streams while the
    /// calls before it could already run.
    #[serde(default)]
    pub text_after: Option<String>,
    /// Default: `tool_use` when there are tool calls, else `end_turn`. With `max_tokens` and
    /// tool calls, the last call's input JSON is cut in half, as a real cut-off would be.
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<UsageSpec>,
    #[serde(default)]
    pub fault: Option<Fault>,
    /// Milliseconds between SSE events.
    #[serde(default)]
    pub token_delay_ms: Option<u64>,
    /// Characters per text delta (default 12).
    #[serde(default)]
    pub chunk_chars: Option<usize>,
    /// Milliseconds the body stays open after the last event (the end marker) was sent.
    #[serde(default)]
    pub linger_ms: Option<u64>,
}

impl Step {
    pub fn text(text: &str) -> Step {
        Step { text: Some(text.into()), ..Step::default() }
    }

    pub fn tool(name: &str, input: Value) -> Step {
        Step::tools(&[(name, input)])
    }

    pub fn tools(calls: &[(&str, Value)]) -> Step {
        let tool_calls = calls
            .iter()
            .map(|(name, input)| ToolCallSpec { id: None, name: (*name).into(), input: input.clone() })
            .collect();
        Step { tool_calls, ..Step::default() }
    }

    pub fn fault(fault: Fault) -> Step {
        Step { fault: Some(fault), ..Step::default() }
    }

    pub fn when(mut self, marker: &str) -> Step {
        self.when = Some(marker.into());
        self
    }

    pub fn with_text(mut self, text: &str) -> Step {
        self.text = Some(text.into());
        self
    }

    pub fn with_thinking(mut self, thinking: &str) -> Step {
        self.thinking = Some(thinking.into());
        self
    }

    pub fn with_fault(mut self, fault: Fault) -> Step {
        self.fault = Some(fault);
        self
    }

    pub fn with_stop_reason(mut self, reason: &str) -> Step {
        self.stop_reason = Some(reason.into());
        self
    }

    pub fn with_linger_ms(mut self, ms: u64) -> Step {
        self.linger_ms = Some(ms);
        self
    }

    pub fn with_text_after(mut self, text: &str) -> Step {
        self.text_after = Some(text.into());
        self
    }

    pub fn with_chunk_chars(mut self, chars: usize) -> Step {
        self.chunk_chars = Some(chars);
        self
    }

    pub fn with_delay_ms(mut self, ms: u64) -> Step {
        self.token_delay_ms = Some(ms);
        self
    }

    pub fn stop_reason(&self) -> &str {
        match &self.stop_reason {
            Some(reason) => reason,
            None if self.tool_calls.is_empty() => "end_turn",
            None => "tool_use",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallSpec {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub input: Value,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSpec {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// An HTTP error instead of a stream, with Anthropic's (or OpenAI's) error body.
    Http {
        status: u16,
        #[serde(default)]
        retry_after: Option<String>,
        #[serde(default)]
        retry_after_ms: Option<u64>,
        #[serde(default)]
        should_retry: Option<bool>,
        #[serde(default)]
        error_type: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
    /// HTTP 400 with Anthropic's prompt-too-long body.
    PromptTooLong,
    /// The stream ends cleanly after this many events, before the message is complete.
    Cut { after_events: usize },
    /// A broken event after this many.
    Malformed { after_events: usize },
    /// Silence after this many events, for `ms` (default: an hour), then the rest.
    Stall {
        after_events: usize,
        #[serde(default)]
        ms: Option<u64>,
    },
    /// Keep-alive pings after this many events, every 10 ms, until the client goes.
    Pings { after_events: usize },
    /// After this many events, a `data:` line of `bytes` bytes, sent in 1 MB chunks; then,
    /// if `unterminated`, the line never ends and the body stays open.
    LongLine {
        after_events: usize,
        bytes: usize,
        #[serde(default)]
        unterminated: bool,
    },
    /// An SSE `error` event after this many events.
    StreamError {
        after_events: usize,
        #[serde(default)]
        error_type: Option<String>,
    },
}
