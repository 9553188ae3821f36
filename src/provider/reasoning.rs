//! How hard the model thinks: what each model can do, what the user asked for, and the two
//! resolved into what one request carries.
//!
//! A model's [`Capability`] comes from the model table: adaptive thinking (the model decides
//! how long to think, guided by an effort level), a thinking budget in tokens (older models),
//! or none; and the effort levels it offers. The user's [`Preferences`] come from `--effort`,
//! `/effort`, the `effortLevel` and `alwaysThinkingEnabled` settings and `MAX_THINKING_TOKENS`;
//! the word `ultrathink` in a prompt raises the effort of that prompt's turn. [`resolve`]
//! turns both into the [`Reasoning`] a provider renders in its own dialect (Anthropic's
//! `thinking` and `output_config.effort`, OpenAI's `reasoning.effort`, Gemini's
//! `thinkingConfig`).

use std::fmt;
use std::str::FromStr;

/// How hard to think, in the words Claude Code and the APIs use.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    Low,
    Medium,
    High,
    Xhigh,
    Max,
}

impl Effort {
    pub const ALL: [Effort; 5] = [Effort::Low, Effort::Medium, Effort::High, Effort::Xhigh, Effort::Max];

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
            Effort::Max => "max",
        }
    }
}

impl fmt::Display for Effort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Effort {
    type Err = String;

    fn from_str(s: &str) -> Result<Effort, String> {
        let wanted = s.trim().to_ascii_lowercase();
        Effort::ALL.into_iter().find(|e| e.as_str() == wanted).ok_or_else(|| {
            let names: Vec<&str> = Effort::ALL.iter().map(|e| e.as_str()).collect();
            format!("unknown effort level {s:?}: use one of {}", names.join(", "))
        })
    }
}

/// How a model thinks, if it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThinkingKind {
    None,
    /// `thinking: {"type": "enabled", "budget_tokens": N}`.
    Budget,
    /// `thinking: {"type": "adaptive"}`: the model decides, guided by the effort level.
    Adaptive,
}

/// What a model offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    pub thinking: ThinkingKind,
    /// The effort levels it accepts, lowest first; empty: none.
    pub efforts: &'static [Effort],
    /// The level used when the user chose none (Claude Code's default for the model).
    pub default_effort: Option<Effort>,
}

impl Capability {
    pub const NONE: Capability = Capability { thinking: ThinkingKind::None, efforts: &[], default_effort: None };

    /// The offered level nearest to `wanted`: the same, or the highest below it, or the
    /// lowest offered.
    pub fn nearest(&self, wanted: Effort) -> Option<Effort> {
        let below = self.efforts.iter().copied().filter(|e| *e <= wanted).max();
        below.or_else(|| self.efforts.first().copied())
    }
}

/// What the user asked for; the same for every turn until they change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preferences {
    /// `--effort`, `/effort`, `effortLevel`; `None`: the model's default.
    pub effort: Option<Effort>,
    /// `alwaysThinkingEnabled` (default on); `MAX_THINKING_TOKENS=0` turns it off too.
    pub thinking: bool,
    /// `MAX_THINKING_TOKENS`: the budget of a model that thinks to a budget.
    pub budget_tokens: Option<u32>,
    /// Whether anyone sees the thinking (the TUI, stream-json). Unseen, the API is asked to
    /// leave its text out (the signature still comes, so it round-trips).
    pub show_thinking: bool,
}

impl Default for Preferences {
    fn default() -> Preferences {
        Preferences { effort: None, thinking: true, budget_tokens: None, show_thinking: true }
    }
}

/// Claude Code's budget when thinking is on and `MAX_THINKING_TOKENS` is not set.
pub const DEFAULT_BUDGET_TOKENS: u32 = 31_999;
/// The smallest budget the API accepts.
const MIN_BUDGET_TOKENS: u32 = 1_024;

/// The thinking one request asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Thinking {
    #[default]
    Off,
    Adaptive,
    Budget(u32),
}

/// What one request carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reasoning {
    pub thinking: Thinking,
    pub effort: Option<Effort>,
    pub show_thinking: bool,
}

impl Reasoning {
    /// Nothing: no thinking, no effort (local models, a model cairn does not know).
    pub const NONE: Reasoning = Reasoning { thinking: Thinking::Off, effort: None, show_thinking: true };
}

/// The reasoning of one request to a model with `capability`, answering in at most
/// `max_tokens`. `ultrathink`: the prompt asked for deeper thought (effort at least high).
pub fn resolve(capability: &Capability, prefs: &Preferences, ultrathink: bool, max_tokens: u32) -> Reasoning {
    let mut effort = prefs.effort.or(capability.default_effort);
    if ultrathink {
        effort = Some(effort.map_or(Effort::High, |e| e.max(Effort::High)));
    }
    let effort = effort.and_then(|e| capability.nearest(e));
    let thinking_on = prefs.thinking && prefs.budget_tokens != Some(0);
    let thinking = match capability.thinking {
        _ if !thinking_on => Thinking::Off,
        ThinkingKind::None => Thinking::Off,
        ThinkingKind::Adaptive => Thinking::Adaptive,
        ThinkingKind::Budget => {
            let budget = prefs.budget_tokens.unwrap_or(DEFAULT_BUDGET_TOKENS).min(max_tokens.saturating_sub(1));
            if budget >= MIN_BUDGET_TOKENS { Thinking::Budget(budget) } else { Thinking::Off }
        }
    };
    Reasoning { thinking, effort, show_thinking: prefs.show_thinking }
}

/// Whether a prompt says `ultrathink` (as a word, any case), as Claude Code reads it.
pub fn mentions_ultrathink(prompt: &str) -> bool {
    prompt.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| word.eq_ignore_ascii_case("ultrathink"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADAPTIVE: Capability = Capability {
        thinking: ThinkingKind::Adaptive,
        efforts: &[Effort::Low, Effort::Medium, Effort::High],
        default_effort: Some(Effort::Medium),
    };

    #[test]
    fn the_effort_is_the_users_else_the_models_default_and_one_the_model_offers() {
        let prefs = Preferences::default();
        let r = resolve(&ADAPTIVE, &prefs, false, 64_000);
        assert_eq!((r.thinking, r.effort), (Thinking::Adaptive, Some(Effort::Medium)));
        let max = Preferences { effort: Some(Effort::Max), ..prefs };
        assert_eq!(resolve(&ADAPTIVE, &max, false, 64_000).effort, Some(Effort::High));
        assert_eq!(resolve(&ADAPTIVE, &prefs, true, 64_000).effort, Some(Effort::High));
        let low = Preferences { effort: Some(Effort::Low), ..prefs };
        assert_eq!(resolve(&ADAPTIVE, &low, true, 64_000).effort, Some(Effort::High));
        assert_eq!(resolve(&Capability::NONE, &max, true, 64_000), Reasoning::NONE);
    }

    #[test]
    fn a_budget_stays_below_max_tokens_and_zero_turns_thinking_off() {
        let budget = Capability { thinking: ThinkingKind::Budget, efforts: &[], default_effort: None };
        let prefs = Preferences::default();
        assert_eq!(resolve(&budget, &prefs, false, 64_000).thinking, Thinking::Budget(DEFAULT_BUDGET_TOKENS));
        assert_eq!(resolve(&budget, &prefs, false, 8_192).thinking, Thinking::Budget(8_191));
        assert_eq!(resolve(&budget, &prefs, false, 1_000).thinking, Thinking::Off);
        let zero = Preferences { budget_tokens: Some(0), ..prefs };
        assert_eq!(resolve(&budget, &zero, false, 64_000).thinking, Thinking::Off);
        let off = Preferences { thinking: false, ..prefs };
        assert_eq!(resolve(&ADAPTIVE, &off, false, 64_000).thinking, Thinking::Off);
    }

    #[test]
    fn ultrathink_is_a_word_in_any_case() {
        assert!(mentions_ultrathink("please ULTRATHINK about this"));
        assert!(mentions_ultrathink("ultrathink: why?"));
        assert!(!mentions_ultrathink("ultrathinking is not the word"));
        assert!("XHIGH".parse::<Effort>() == Ok(Effort::Xhigh));
        assert!("huge".parse::<Effort>().unwrap_err().contains("low, medium, high, xhigh, max"));
    }
}
