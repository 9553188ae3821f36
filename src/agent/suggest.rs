//! Prompt suggestions: after a turn in the interactive UI, a small, cheap model is asked
//! for the prompt the user is likely to send next; the composer shows it as ghost text
//! (Tab takes it), and [`super::speculate`] may start working on it.
//!
//! The request is one short message — the last prompt and the end of the answer — with no
//! tools, so it costs a fraction of a cent; `promptSuggestionEnabled: false` turns it off.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::{Services, Session};
use crate::conversation::history::{self, Message, Role};
use crate::cost::Usage;
use crate::provider::models::{self, ModelInfo};
use crate::provider::reasoning::Reasoning;
use crate::provider::retry::{RetryPolicy, Unobserved, sample};

/// Marks the request; the mock LLM answers it from its scenario's suggestions.
pub const SYSTEM: &str = "You predict what the user of a coding agent will type next. Given the end of the \
conversation, reply with the user's most likely next prompt, in their voice, at most one short line. If \
there is no clear next step, reply with NONE.";

/// What the model sees of the conversation, at most.
const EXCERPT_CHARS: usize = 4000;

/// A suggestion on its way, and what it cost once it came.
pub(super) struct Suggesting(pub AbortOnDropHandle<Option<Suggested>>);

pub(super) struct Suggested {
    pub text: String,
    pub model: ModelInfo,
    pub usage: Usage,
}

/// The model suggestions are asked of: `ANTHROPIC_SMALL_FAST_MODEL` (Claude Code's
/// variable), else Haiku for a Claude model, else the session's own model.
fn small_model(main: &ModelInfo) -> ModelInfo {
    match std::env::var("ANTHROPIC_SMALL_FAST_MODEL") {
        Ok(id) if !id.trim().is_empty() => models::lookup(id.trim()),
        _ if main.id.starts_with("claude") => models::lookup("haiku"),
        _ => main.clone(),
    }
}

/// Asks for a suggestion in the background, from the end of the conversation.
pub(super) fn start(session: &Session) -> Option<Suggesting> {
    let last_user = session.history.iter().rev().find(|m| m.role == Role::User && !m.typed_text().is_empty())?;
    let last_answer = session.history.iter().rev().find(|m| m.role == Role::Assistant)?;
    let answer = history::text_of(&last_answer.content);
    let tail: String = answer.chars().rev().take(EXCERPT_CHARS).collect::<Vec<_>>().into_iter().rev().collect();
    let excerpt = format!(
        "The user asked:\n{}\n\nThe agent answered (the end of it):\n{tail}\n\nThe user's next prompt:",
        last_user.typed_text().chars().take(EXCERPT_CHARS).collect::<String>()
    );
    let services: Arc<Services> = Arc::clone(&session.services);
    let model = small_model(&session.context.model);
    let session_id = session.session_id.clone();
    let task = tokio::spawn(async move { ask(&services, model, &session_id, excerpt).await });
    Some(Suggesting(AbortOnDropHandle::new(task)))
}

async fn ask(services: &Services, model: ModelInfo, session_id: &str, excerpt: String) -> Option<Suggested> {
    let messages = [Message::user_text(excerpt)];
    let request = crate::provider::Request {
        model: &model.id,
        system: SYSTEM,
        messages: &messages,
        tools: &[],
        max_tokens: 64,
        session_id,
        reasoning: Reasoning::NONE,
    };
    // One quick try: a suggestion is not worth waiting on retries for.
    let retry = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
    let cancel = CancellationToken::new();
    let response = sample(services.provider.as_ref(), &request, &retry, &cancel, &Unobserved).await.ok()?;
    let text = cleaned(&history::text_of(&response.content))?;
    Some(Suggested { text, model, usage: response.usage })
}

/// The suggestion as shown: one line, no quotes, not NONE.
fn cleaned(answer: &str) -> Option<String> {
    let line = answer.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line.trim_matches(|c| c == '"' || c == '\'' || c == '`').trim();
    if line.is_empty() || line.eq_ignore_ascii_case("none") || line.chars().count() > 200 {
        return None;
    }
    Some(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::cleaned;

    #[test]
    fn a_suggestion_is_one_plain_line() {
        assert_eq!(cleaned("\n  \"run the tests\"\nmore").as_deref(), Some("run the tests"));
        assert_eq!(cleaned("NONE"), None);
        assert_eq!(cleaned("  "), None);
        assert_eq!(cleaned(&"x".repeat(300)), None);
    }
}
