//! What cairn knows about models: context window, output limit, price, and how they think.
//!
//! A data table matched by the longest id prefix, so dated snapshots
//! (`claude-sonnet-4-5-20250929`) find their family. Aliases (`opus`, `sonnet`, `haiku`,
//! `fable`) name the current model of each family, as `claude --model` accepts them. Unknown
//! models (local or OpenAI-compatible ones) get conservative defaults, no price and no
//! thinking.

use super::reasoning::{Capability, Effort, ThinkingKind};

pub const DEFAULT_ANTHROPIC_MODEL: &str = "claude-sonnet-5";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-5";
pub const DEFAULT_GEMINI_MODEL: &str = "gemini-2.5-pro";

/// Dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The id sent to the API.
    pub id: String,
    pub context_window: u64,
    pub max_output_tokens: u32,
    pub price: Option<Price>,
    /// Whether the id matched the table; unknown models use defaults.
    pub known: bool,
    /// Thinking and effort levels it offers.
    pub capability: Capability,
}

impl ModelInfo {
    /// The `max_tokens` of an ordinary request: the model's whole output limit, as Claude
    /// Code asks for it, or less when the user capped it (`CLAUDE_CODE_MAX_OUTPUT_TOKENS`).
    /// A response cut at a cap in the middle of a tool call is asked again with the limit.
    pub fn default_output_budget(&self, cap: Option<u32>) -> u32 {
        cap.map_or(self.max_output_tokens, |cap| cap.clamp(1, self.max_output_tokens))
    }
}

struct Row {
    prefix: &'static str,
    context_window: u64,
    max_output_tokens: u32,
    input: f64,
    output: f64,
    capability: Capability,
}

const fn row(prefix: &'static str, window: u64, out: u32, input: f64, output: f64, capability: Capability) -> Row {
    Row { prefix, context_window: window, max_output_tokens: out, input, output, capability }
}

use Effort::{High, Low, Max, Medium, Xhigh};

/// Adaptive thinking with every effort level (Claude Code sends `medium` by default).
const ADAPTIVE_X: Capability = Capability {
    thinking: ThinkingKind::Adaptive,
    efforts: &[Low, Medium, High, Xhigh, Max],
    default_effort: Some(Medium),
};
/// Adaptive thinking, before `xhigh` existed.
const ADAPTIVE: Capability =
    Capability { thinking: ThinkingKind::Adaptive, efforts: &[Low, Medium, High, Max], default_effort: Some(Medium) };
/// A thinking budget, with the first effort levels.
const BUDGET_EFFORT: Capability =
    Capability { thinking: ThinkingKind::Budget, efforts: &[Low, Medium, High], default_effort: Some(High) };
/// A thinking budget, no effort.
const BUDGET: Capability = Capability { thinking: ThinkingKind::Budget, efforts: &[], default_effort: None };
const NONE: Capability = Capability::NONE;
/// OpenAI's reasoning models.
const REASONING: Capability =
    Capability { thinking: ThinkingKind::Adaptive, efforts: &[Low, Medium, High], default_effort: Some(Medium) };
/// Gemini 3: `thinkingLevel` low or high.
const THINKING_LEVEL: Capability =
    Capability { thinking: ThinkingKind::Adaptive, efforts: &[Low, High], default_effort: Some(High) };
/// Gemini 2.5: thinking the model sizes itself (`thinkingBudget: -1`).
const DYNAMIC: Capability = Capability { thinking: ThinkingKind::Adaptive, efforts: &[], default_effort: None };

const M: u64 = 1_000_000;
const K200: u64 = 200_000;

/// Prices are $ per million tokens (platform.claude.com, November 2026; OpenAI's and
/// Google's price pages for theirs).
const TABLE: &[Row] = &[
    row("claude-fable-5", M, 128_000, 10.0, 50.0, ADAPTIVE_X),
    row("claude-mythos-5", M, 128_000, 10.0, 50.0, ADAPTIVE_X),
    row("claude-opus-5-5", M, 128_000, 4.0, 20.0, ADAPTIVE_X),
    row("claude-opus-5", M, 128_000, 5.0, 25.0, ADAPTIVE_X),
    row("claude-sonnet-5", M, 128_000, 2.0, 10.0, ADAPTIVE_X),
    row("claude-opus-4-8", M, 128_000, 5.0, 25.0, ADAPTIVE_X),
    row("claude-opus-4-7", M, 128_000, 5.0, 25.0, ADAPTIVE_X),
    row("claude-opus-4-6", M, 128_000, 5.0, 25.0, ADAPTIVE),
    row("claude-opus-4-5", K200, 64_000, 5.0, 25.0, BUDGET_EFFORT),
    row("claude-opus-4-1", K200, 32_000, 15.0, 75.0, BUDGET),
    row("claude-opus-4", K200, 32_000, 15.0, 75.0, BUDGET),
    row("claude-sonnet-4-6", M, 64_000, 3.0, 15.0, ADAPTIVE),
    row("claude-sonnet-4-5", K200, 64_000, 3.0, 15.0, BUDGET),
    row("claude-sonnet-4", K200, 64_000, 3.0, 15.0, BUDGET),
    row("claude-3-7-sonnet", K200, 64_000, 3.0, 15.0, BUDGET),
    row("claude-haiku-4-5", K200, 64_000, 1.0, 5.0, BUDGET),
    row("claude-3-5-haiku", K200, 8_192, 0.8, 4.0, NONE),
    // OpenAI (platform.openai.com): reasoning models take an effort, sent as `reasoning.effort`.
    row("gpt-5", 400_000, 128_000, 1.25, 10.0, REASONING),
    row("gpt-5-mini", 400_000, 128_000, 0.25, 2.0, REASONING),
    row("gpt-5-nano", 400_000, 128_000, 0.05, 0.4, REASONING),
    row("o3", K200, 100_000, 2.0, 8.0, REASONING),
    row("o4-mini", K200, 100_000, 1.1, 4.4, REASONING),
    row("gpt-4.1", 1_047_576, 32_768, 2.0, 8.0, NONE),
    row("gpt-4o", 128_000, 16_384, 2.5, 10.0, NONE),
    // Gemini (ai.google.dev): 2.5 thinks to a dynamic budget, 3 to a thinking level.
    row("gemini-3", M, 65_536, 2.0, 12.0, THINKING_LEVEL),
    row("gemini-2.5-pro", M, 65_536, 1.25, 10.0, DYNAMIC),
    row("gemini-2.5-flash", M, 65_536, 0.3, 2.5, DYNAMIC),
];

const ALIASES: &[(&str, &str)] = &[
    ("fable", "claude-fable-5-1"),
    ("opus", "claude-opus-5-5"),
    ("sonnet", "claude-sonnet-5"),
    ("haiku", "claude-haiku-4-5"),
];

const UNKNOWN_CONTEXT_WINDOW: u64 = 128_000;
const UNKNOWN_MAX_OUTPUT: u32 = 8_192;

pub fn lookup(model: &str) -> ModelInfo {
    let id = ALIASES.iter().find(|(alias, _)| *alias == model).map_or(model, |(_, id)| *id).to_owned();
    let best = TABLE.iter().filter(|r| id.starts_with(r.prefix)).max_by_key(|r| r.prefix.len());
    match best {
        Some(r) => ModelInfo {
            id,
            context_window: r.context_window,
            max_output_tokens: r.max_output_tokens,
            price: Some(Price { input: r.input, output: r.output }),
            known: true,
            capability: r.capability,
        },
        None => ModelInfo {
            id,
            context_window: UNKNOWN_CONTEXT_WINDOW,
            max_output_tokens: UNKNOWN_MAX_OUTPUT,
            price: None,
            known: false,
            capability: Capability::NONE,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_aliases_resolve() {
        assert_eq!(lookup("claude-opus-5-5").price, Some(Price { input: 4.0, output: 20.0 }));
        assert_eq!(lookup("claude-opus-5").price, Some(Price { input: 5.0, output: 25.0 }));
        assert_eq!(lookup("claude-sonnet-4-5-20250929").context_window, 200_000);
        assert_eq!(lookup("opus").id, "claude-opus-5-5");
        let local = lookup("qwen2.5-coder:7b");
        assert!(!local.known);
        assert_eq!(local.price, None);
        assert_eq!(local.default_output_budget(None), UNKNOWN_MAX_OUTPUT);
        assert_eq!(local.capability, Capability::NONE);
        let opus = lookup("opus");
        assert_eq!(opus.default_output_budget(None), 128_000);
        assert_eq!(opus.default_output_budget(Some(32_000)), 32_000);
        assert_eq!(opus.capability.thinking, ThinkingKind::Adaptive);
        assert_eq!(lookup("claude-sonnet-4-5-20250929").capability.thinking, ThinkingKind::Budget);
        assert_eq!(lookup("claude-3-5-haiku-latest").capability, Capability::NONE);
    }
}
