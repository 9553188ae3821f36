//! From a request to a complete [`Response`], retrying what can be retried.
//!
//! [`sample`] streams one request, handing every [`StreamEvent`] to its [`Observer`] (the
//! core forwards them to the front ends), and
//! assembles the response. A retryable failure (429, 529, 5xx, connection errors, a stream
//! that was cut, stalled or malformed) is tried again after an exponential backoff with
//! jitter, or after the server's `retry-after`; each wait is announced as
//! told to the observer as a [`Retry`]. Cancellation is checked while connecting, streaming and
//! waiting.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{Provider, ProviderError, Request, Response, ResponseBuilder, StreamEvent};

/// Attempts at an address where nothing listens, at most.
const REFUSED_ATTEMPTS: u32 = 3;

/// No server hint is followed for longer than this: a longer wait is a quota, not a blip.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(32) }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): the server's hint if it gave one,
    /// else `base × 2^(retry-1)` capped at `max_delay`, with ±25 % jitter.
    pub fn delay(&self, retry: u32, hint: Option<Duration>) -> Duration {
        if let Some(hint) = hint {
            return hint.min(MAX_RETRY_AFTER);
        }
        let exp = self.base_delay.saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        capped.mul_f64(0.75 + 0.5 * unit_random())
    }
}

/// A number in [0, 1) from std's randomly seeded hasher: enough for jitter.
fn unit_random() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A retry about to wait, as the user is told of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    /// The attempt about to be made (2 for the first retry).
    pub attempt: u32,
    pub max_attempts: u32,
    pub delay: Duration,
    pub error: String,
    pub status: Option<u16>,
}

/// Who hears what a request does while it runs.
pub trait Observer: Sync {
    /// A piece of the answer, as it arrives (a retry discards what came before it).
    fn streamed(&self, event: StreamEvent);
    fn retrying(&self, retry: Retry);
}

/// Hears nothing (a summary request the front ends need not see).
pub struct Unobserved;

impl Observer for Unobserved {
    fn streamed(&self, _: StreamEvent) {}
    fn retrying(&self, _: Retry) {}
}

#[derive(Debug)]
pub enum SampleError {
    Cancelled,
    /// Not retryable, or retries ran out; `attempts` says how many were made.
    Failed {
        error: ProviderError,
        attempts: u32,
    },
}

pub async fn sample(
    provider: &dyn Provider,
    request: &Request<'_>,
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    observer: &dyn Observer,
) -> Result<Response, SampleError> {
    let mut attempt = 1;
    loop {
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(SampleError::Cancelled),
            result = stream_once(provider, request, observer) => result,
        };
        let error = match result {
            Ok(response) => return Ok(response),
            Err(error) => error,
        };
        // Nothing listening is worth a quick second look (a server starting), not a minute.
        let max_attempts = match error {
            ProviderError::Refused(_) => policy.max_attempts.min(REFUSED_ATTEMPTS),
            _ => policy.max_attempts,
        };
        if !error.is_retryable() || attempt >= max_attempts {
            return Err(SampleError::Failed { error, attempts: attempt });
        }
        let delay = policy.delay(attempt, error.retry_after());
        attempt += 1;
        let mut told = error.to_string();
        if let Some(hint) = error.retry_after().filter(|hint| *hint > delay) {
            told.push_str(&format!(
                " (the server asked to wait {} s; cairn waits {} s at most)",
                hint.as_secs(),
                delay.as_secs()
            ));
        }
        observer.retrying(Retry { attempt, max_attempts, delay, error: told, status: error.status() });
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(SampleError::Cancelled),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn stream_once(
    provider: &dyn Provider,
    request: &Request<'_>,
    observer: &dyn Observer,
) -> Result<Response, ProviderError> {
    let mut stream = provider.stream(request).await?;
    let mut builder = ResponseBuilder::default();
    while let Some(event) = stream.next().await {
        let event = event?;
        builder.apply(&event);
        observer.streamed(event);
    }
    if !builder.is_complete() {
        return Err(ProviderError::StreamCut);
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_honours_hints() {
        let p = RetryPolicy::default();
        for retry in 1..=8 {
            let d = p.delay(retry, None);
            let nominal = Duration::from_millis(500 * (1 << (retry - 1))).min(p.max_delay);
            assert!(d >= nominal.mul_f64(0.75) && d <= nominal.mul_f64(1.25), "retry {retry}: {d:?}");
        }
        assert_eq!(p.delay(3, Some(Duration::from_millis(10))), Duration::from_millis(10));
        assert_eq!(p.delay(1, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
    }
}
