//! Token usage and what it cost.
//!
//! Every response reports a [`Usage`]; the [`CostTracker`] adds them up per session and per
//! model and prices them from `provider::models` (client-side, as Claude Code does: input,
//! output, cache writes at 1.25× input and cache reads at 0.1× input). Models without a known
//! price cost nothing rather than a guess.

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::conversation::Usage;
use crate::provider::models::{ModelInfo, Price};

const CACHE_WRITE_FACTOR: f64 = 1.25; // 5-minute ephemeral cache writes
const CACHE_READ_FACTOR: f64 = 0.1;

pub fn cost_usd(price: Option<Price>, usage: &Usage) -> f64 {
    let Some(price) = price else { return 0.0 };
    let per_token = |dollars_per_mtok: f64| dollars_per_mtok / 1_000_000.0;
    usage.input_tokens as f64 * per_token(price.input)
        + usage.output_tokens as f64 * per_token(price.output)
        + usage.cache_creation_input_tokens as f64 * per_token(price.input) * CACHE_WRITE_FACTOR
        + usage.cache_read_input_tokens as f64 * per_token(price.input) * CACHE_READ_FACTOR
}

/// One model's share of a session, in the shape of the result's `modelUsage`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub web_search_requests: u64,
    #[serde(rename = "costUSD")]
    pub cost_usd: f64,
    pub context_window: u64,
    pub max_output_tokens: u64,
}

impl ModelUsage {
    /// The tokens as one usage report (to add to another session's costs).
    pub fn as_usage(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            cache_creation_input_tokens: self.cache_creation_input_tokens,
            cache_read_input_tokens: self.cache_read_input_tokens,
            output_tokens: self.output_tokens,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct CostTracker {
    pub total: Usage,
    pub total_cost_usd: f64,
    pub by_model: BTreeMap<String, ModelUsage>,
}

impl CostTracker {
    /// Records one response; returns what it cost.
    pub fn record(&mut self, model: &ModelInfo, usage: &Usage) -> f64 {
        let cost = cost_usd(model.price, usage);
        self.total.add(usage);
        self.total_cost_usd += cost;
        let entry = self.by_model.entry(model.id.clone()).or_default();
        entry.input_tokens += usage.input_tokens;
        entry.output_tokens += usage.output_tokens;
        entry.cache_read_input_tokens += usage.cache_read_input_tokens;
        entry.cache_creation_input_tokens += usage.cache_creation_input_tokens;
        entry.cost_usd += cost;
        entry.context_window = model.context_window;
        entry.max_output_tokens = u64::from(model.max_output_tokens);
        cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_cache_writes_and_reads_like_claude_code() {
        // The reference's worked example: 200 in, 24 out, 100 cache-write, 50 cache-read on an
        // Opus 4.x price ($5 / $25) costs $0.00225.
        let usage = Usage {
            input_tokens: 200,
            output_tokens: 24,
            cache_creation_input_tokens: 100,
            cache_read_input_tokens: 50,
        };
        let cost = cost_usd(Some(Price { input: 5.0, output: 25.0 }), &usage);
        assert!((cost - 0.00225).abs() < 1e-12, "{cost}");
        assert_eq!(cost_usd(None, &usage), 0.0);
    }
}
