//! Resolving what a run needs from flags and environment, with errors a person can act on.
//!
//! Raw inputs (flag values, environment variables, read through a closure so tests pass
//! their own) become validated settings: which provider, where, with which key and model, and
//! the retry and stream-timeout knobs. Settings files join in issue [5/8].

pub mod settings;
pub mod trust;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::provider::anthropic::{self, Anthropic, Credential};
use crate::provider::gemini::{self, Gemini};
use crate::provider::models::{DEFAULT_ANTHROPIC_MODEL, DEFAULT_GEMINI_MODEL, DEFAULT_OPENAI_MODEL};
use crate::provider::openai::{self, OpenAi};
use crate::provider::openai_responses::OpenAiResponses;
use crate::provider::reasoning::{Effort, Preferences};
use crate::provider::retry::RetryPolicy;
use crate::provider::{self, Provider, ProviderError};
use crate::secrets::Secrets;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderKind {
    /// Anthropic's Messages API (and gateways that speak it).
    Anthropic,
    /// OpenAI: the Responses API at OpenAI's own endpoint, Chat Completions elsewhere
    /// (Ollama, vLLM, llama.cpp, LM Studio, OpenRouter).
    Openai,
    /// The Responses API at any endpoint.
    OpenaiResponses,
    /// Google's Gemini API (`GEMINI_API_KEY` or `GOOGLE_API_KEY`).
    Gemini,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiCredential {
    Anthropic(Credential),
    /// Local OpenAI-compatible servers need no key.
    OpenAi(Option<String>),
    Gemini(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    pub base_url: String,
    pub credential: ApiCredential,
    pub model: String,
    /// Where the key came from, as `system/init` reports it.
    pub api_key_source: &'static str,
}

impl ProviderSettings {
    /// Builds the client these settings describe.
    pub fn connect(&self, idle_timeout: Duration) -> Result<Arc<dyn Provider>, ProviderError> {
        let client = provider::http_client_for(&self.base_url)?;
        Ok(match &self.credential {
            ApiCredential::Anthropic(credential) => {
                Arc::new(Anthropic::new(client, &self.base_url, credential.clone(), idle_timeout))
            }
            ApiCredential::OpenAi(key) if self.speaks_responses() => {
                Arc::new(OpenAiResponses::new(client, &self.base_url, key.clone(), idle_timeout))
            }
            ApiCredential::OpenAi(key) => Arc::new(OpenAi::new(client, &self.base_url, key.clone(), idle_timeout)),
            ApiCredential::Gemini(key) => Arc::new(Gemini::new(client, &self.base_url, key.clone(), idle_timeout)),
        })
    }

    /// `--provider openai-responses`, or `--provider openai` at OpenAI's own endpoint.
    pub fn speaks_responses(&self) -> bool {
        self.kind == ProviderKind::OpenaiResponses
            || (self.kind == ProviderKind::Openai && self.base_url.contains("api.openai.com"))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    MissingKey { var: &'static str, hint: &'static str },
    #[error(
        "--model is required with --provider openai and a custom --base-url (for example --model qwen2.5-coder:7b)"
    )]
    MissingModel,
    #[error("{var}={value:?} is not valid: {expected}")]
    InvalidEnv { var: &'static str, value: String, expected: &'static str },
    #[error("apiKeyHelper failed: {problem}")]
    KeyHelper { problem: String },
}

/// Picks the provider, its endpoint, key and model. `--base-url` beats the environment.
pub fn resolve_provider(
    kind: ProviderKind,
    model: Option<&str>,
    base_url: Option<&str>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ProviderSettings, ConfigError> {
    match kind {
        ProviderKind::Anthropic => {
            let base_url = base_url.map(str::to_owned).or_else(|| env("ANTHROPIC_BASE_URL"));
            let (credential, api_key_source) = match (env("ANTHROPIC_API_KEY"), env("ANTHROPIC_AUTH_TOKEN")) {
                (Some(key), _) => (Credential::ApiKey(key), "ANTHROPIC_API_KEY"),
                (None, Some(token)) => (Credential::Bearer(token), "ANTHROPIC_AUTH_TOKEN"),
                (None, None) => {
                    return Err(ConfigError::MissingKey {
                        var: "ANTHROPIC_API_KEY",
                        hint: "export it with your Anthropic API key, or run a local model with \
                               --provider openai --base-url http://localhost:11434/v1 --model <name>",
                    });
                }
            };
            let model = model.map(str::to_owned).or_else(|| env("ANTHROPIC_MODEL"));
            Ok(ProviderSettings {
                kind,
                base_url: base_url.unwrap_or_else(|| anthropic::DEFAULT_BASE_URL.to_owned()),
                credential: ApiCredential::Anthropic(credential),
                model: model.unwrap_or_else(|| DEFAULT_ANTHROPIC_MODEL.to_owned()),
                api_key_source,
            })
        }
        ProviderKind::Gemini => {
            let (key, api_key_source) = match (env("GEMINI_API_KEY"), env("GOOGLE_API_KEY")) {
                (Some(key), _) => (key, "GEMINI_API_KEY"),
                (None, Some(key)) => (key, "GOOGLE_API_KEY"),
                (None, None) => {
                    return Err(ConfigError::MissingKey {
                        var: "GEMINI_API_KEY",
                        hint: "export it (or GOOGLE_API_KEY) with a key from Google AI Studio",
                    });
                }
            };
            let base_url = base_url.map(str::to_owned).or_else(|| env("GOOGLE_GEMINI_BASE_URL"));
            Ok(ProviderSettings {
                kind,
                base_url: base_url.unwrap_or_else(|| gemini::DEFAULT_BASE_URL.to_owned()),
                credential: ApiCredential::Gemini(key),
                model: model
                    .map(str::to_owned)
                    .or_else(|| env("GEMINI_MODEL"))
                    .unwrap_or_else(|| DEFAULT_GEMINI_MODEL.to_owned()),
                api_key_source,
            })
        }
        ProviderKind::Openai | ProviderKind::OpenaiResponses => {
            let base_url = base_url.map(str::to_owned).or_else(|| env("OPENAI_BASE_URL"));
            let key = env("OPENAI_API_KEY");
            let is_openai = base_url.as_deref().is_none_or(|u| u.contains("api.openai.com"));
            if is_openai && key.is_none() {
                return Err(ConfigError::MissingKey {
                    var: "OPENAI_API_KEY",
                    hint: "export it with your OpenAI API key, or point --base-url at a local server \
                           (Ollama, vLLM, llama.cpp, LM Studio), which needs none",
                });
            }
            let model = match model.map(str::to_owned).or_else(|| env("OPENAI_MODEL")) {
                Some(model) => model,
                None if is_openai => DEFAULT_OPENAI_MODEL.to_owned(),
                None => return Err(ConfigError::MissingModel),
            };
            let api_key_source = if key.is_some() { "OPENAI_API_KEY" } else { "none" };
            Ok(ProviderSettings {
                kind,
                base_url: base_url.unwrap_or_else(|| openai::DEFAULT_BASE_URL.to_owned()),
                credential: ApiCredential::OpenAi(key),
                model,
                api_key_source,
            })
        }
    }
}

/// The credentials of this run, to keep out of everything cairn writes: every provider key
/// in the environment is redacted, and the variable holding the one in use is hidden from
/// the commands the tools run.
pub fn secrets(settings: &ProviderSettings, env: &impl Fn(&str) -> Option<String>) -> Secrets {
    const VARS: [&str; 5] =
        ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"];
    let in_use = match &settings.credential {
        ApiCredential::Anthropic(Credential::ApiKey(key) | Credential::Bearer(key)) | ApiCredential::Gemini(key) => {
            Some(key.clone())
        }
        ApiCredential::OpenAi(key) => key.clone(),
    };
    let hidden = VARS.iter().filter(|var| env(var).is_some() && env(var) == in_use).map(|v| (*v).to_owned());
    let values = VARS.iter().filter_map(|var| env(var)).chain(in_use.clone());
    Secrets::new(values.collect::<Vec<_>>(), hidden.collect::<Vec<_>>())
}

/// The variable that holds the key for a provider.
pub fn key_variable(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
        ProviderKind::Openai | ProviderKind::OpenaiResponses => "OPENAI_API_KEY",
        ProviderKind::Gemini => "GEMINI_API_KEY",
    }
}

/// The variable that names the model for a provider.
pub fn model_variable(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "ANTHROPIC_MODEL",
        ProviderKind::Openai | ProviderKind::OpenaiResponses => "OPENAI_MODEL",
        ProviderKind::Gemini => "GEMINI_MODEL",
    }
}

/// Whether no key is set in the environment (so `apiKeyHelper` is asked).
pub fn needs_key(kind: ProviderKind, env: &impl Fn(&str) -> Option<String>) -> bool {
    match kind {
        ProviderKind::Anthropic => env("ANTHROPIC_API_KEY").is_none() && env("ANTHROPIC_AUTH_TOKEN").is_none(),
        ProviderKind::Openai | ProviderKind::OpenaiResponses => env("OPENAI_API_KEY").is_none(),
        ProviderKind::Gemini => env("GEMINI_API_KEY").is_none() && env("GOOGLE_API_KEY").is_none(),
    }
}

/// Runs `apiKeyHelper` (with /bin/sh) and returns what it printed, trimmed.
pub fn run_api_key_helper(command: &str) -> Result<String, ConfigError> {
    let fail = |problem: String| ConfigError::KeyHelper { problem };
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| fail(format!("could not run it: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or("").trim();
        return Err(fail(format!(
            "it exited with {}{}",
            output.status,
            if first.is_empty() { String::new() } else { format!(": {first}") }
        )));
    }
    let key = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if key.is_empty() {
        return Err(fail("it printed nothing".into()));
    }
    Ok(key)
}

/// Compaction as the settings and the environment set it: `autoCompact` /
/// `autoCompactEnabled` and `DISABLE_AUTO_COMPACT` turn it off; the threshold comes from
/// `CAIRN_AUTOCOMPACT_PCT`, else `autoCompactThreshold`, else 80 %, and Claude Code's
/// `CLAUDE_AUTOCOMPACT_PCT_OVERRIDE` can only lower it; `autoCompactWindow` /
/// `CLAUDE_CODE_AUTO_COMPACT_WINDOW` cap it in tokens.
pub fn compaction(
    settings: &settings::Settings,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<CompactionConfig, ConfigError> {
    let percent = |var: &'static str| -> Result<Option<u64>, ConfigError> {
        env(var)
            .map(|value| match value.trim().parse::<u64>() {
                Ok(p) if (1..=100).contains(&p) => Ok(p),
                _ => Err(ConfigError::InvalidEnv { var, value, expected: "a percentage from 1 to 100" }),
            })
            .transpose()
    };
    let mut threshold =
        percent("CAIRN_AUTOCOMPACT_PCT")?.or(settings.auto_compact_threshold).unwrap_or(80).clamp(1, 100);
    if let Some(lower) = percent("CLAUDE_AUTOCOMPACT_PCT_OVERRIDE")? {
        threshold = threshold.min(lower);
    }
    let disabled = ["DISABLE_AUTO_COMPACT", "DISABLE_COMPACT"].iter().any(|var| env(var).is_some_and(|v| v != "0"))
        || settings.auto_compact == Some(false)
        || settings.auto_compact_enabled == Some(false);
    let at_tokens = match env("CLAUDE_CODE_AUTO_COMPACT_WINDOW") {
        Some(value) => Some(value.trim().parse::<u64>().map_err(|_| ConfigError::InvalidEnv {
            var: "CLAUDE_CODE_AUTO_COMPACT_WINDOW",
            value,
            expected: "a number of tokens",
        })?),
        None => settings.auto_compact_window,
    };
    Ok(CompactionConfig { auto: !disabled, threshold_pct: threshold, window: settings.context_window, at_tokens })
}

/// cairn's own folder: `CAIRN_HOME`, else `~/.cairn`.
pub fn cairn_home(env: &impl Fn(&str) -> Option<String>) -> PathBuf {
    match env("CAIRN_HOME") {
        Some(home) => PathBuf::from(home),
        None => env("HOME").map_or_else(|| PathBuf::from(".cairn"), |home| PathBuf::from(home).join(".cairn")),
    }
}

/// The current git branch, read from `.git/HEAD` (no git process at start-up).
pub fn git_branch(cwd: &Path) -> Option<String> {
    let git = cwd.ancestors().map(|d| d.join(".git")).find(|g| g.exists())?;
    let head_file = if git.is_dir() {
        git.join("HEAD")
    } else {
        // A worktree: `.git` is a file pointing at the real folder.
        let pointer = std::fs::read_to_string(&git).ok()?;
        PathBuf::from(pointer.trim().strip_prefix("gitdir:")?.trim()).join("HEAD")
    };
    let head = std::fs::read_to_string(head_file).ok()?;
    match head.trim().strip_prefix("ref: refs/heads/") {
        Some(branch) => Some(branch.to_owned()),
        None => Some(head.trim().chars().take(8).collect()),
    }
}

/// Tuning read from the environment: `CAIRN_MAX_RETRIES` (retries after the first attempt,
/// default 7, so 8 attempts in all) and `CAIRN_STREAM_IDLE_TIMEOUT_MS` (default 120000: a
/// stream silent that long counts as cut and is retried).
#[derive(Clone, Debug)]
pub struct Knobs {
    pub retry: RetryPolicy,
    pub idle_timeout: Duration,
}

const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

pub fn knobs(env: &impl Fn(&str) -> Option<String>) -> Result<Knobs, ConfigError> {
    let number = |var: &'static str, expected: &'static str| -> Result<Option<u64>, ConfigError> {
        env(var)
            .map(|value| value.trim().parse::<u64>().map_err(|_| ConfigError::InvalidEnv { var, value, expected }))
            .transpose()
    };
    let mut retry = RetryPolicy::default();
    if let Some(retries) = number("CAIRN_MAX_RETRIES", "a whole number of retries, like 7")? {
        retry.max_attempts = u32::try_from(retries).unwrap_or(u32::MAX).saturating_add(1);
    }
    let idle = number("CAIRN_STREAM_IDLE_TIMEOUT_MS", "milliseconds, like 120000")?;
    // A day at most: a deadline past the clock's range would be no deadline at all.
    let idle_timeout =
        idle.filter(|ms| *ms > 0).map_or(DEFAULT_IDLE_TIMEOUT, |ms| Duration::from_millis(ms.min(86_400_000)));
    Ok(Knobs { retry, idle_timeout })
}

/// Thinking and effort as the user set them: `--effort` over `effortLevel`;
/// `alwaysThinkingEnabled: false` or `MAX_THINKING_TOKENS=0` turn thinking off, and
/// `MAX_THINKING_TOKENS` sets the budget of models that think to one. `show_thinking`:
/// whether the front end shows it. Also `CLAUDE_CODE_MAX_OUTPUT_TOKENS`, a cap on `max_tokens`.
pub fn reasoning(
    effort: Option<Effort>,
    settings: &settings::Settings,
    env: &impl Fn(&str) -> Option<String>,
    show_thinking: bool,
) -> Result<(Preferences, Option<u32>), ConfigError> {
    let tokens = |var: &'static str| -> Result<Option<u32>, ConfigError> {
        env(var)
            .map(|value| {
                value.trim().parse::<u32>().map_err(|_| ConfigError::InvalidEnv {
                    var,
                    value,
                    expected: "a number of tokens",
                })
            })
            .transpose()
    };
    let budget_tokens = tokens("MAX_THINKING_TOKENS")?;
    let max_output = tokens("CLAUDE_CODE_MAX_OUTPUT_TOKENS")?.filter(|n| *n > 0);
    let prefs = Preferences {
        effort: effort.or(settings.effort_level),
        thinking: settings.always_thinking_enabled != Some(false),
        budget_tokens,
        show_thinking,
    };
    Ok((prefs, max_output))
}

/// How compaction is set up.
#[derive(Clone, Debug)]
pub struct CompactionConfig {
    /// Compact automatically (`autoCompact`, `DISABLE_AUTO_COMPACT`).
    pub auto: bool,
    /// Percent of the context window at which to compact.
    pub threshold_pct: u64,
    /// The window to assume instead of the model table's (`contextWindow`).
    pub window: Option<u64>,
    /// Compact at this many tokens at the latest (`autoCompactWindow`,
    /// `CLAUDE_CODE_AUTO_COMPACT_WINDOW`).
    pub at_tokens: Option<u64>,
}

impl Default for CompactionConfig {
    fn default() -> CompactionConfig {
        CompactionConfig { auto: true, threshold_pct: 80, window: None, at_tokens: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn anthropic_needs_a_key_and_names_the_variable() {
        let err = resolve_provider(ProviderKind::Anthropic, None, None, &env(&[])).unwrap_err();
        assert!(err.to_string().starts_with("ANTHROPIC_API_KEY is not set"));
        let s = resolve_provider(
            ProviderKind::Anthropic,
            None,
            None,
            &env(&[("ANTHROPIC_API_KEY", "k"), ("ANTHROPIC_BASE_URL", "http://x")]),
        )
        .unwrap();
        assert_eq!(s.base_url, "http://x");
        assert_eq!(s.model, DEFAULT_ANTHROPIC_MODEL);
        let s = resolve_provider(
            ProviderKind::Anthropic,
            Some("m"),
            Some("http://flag"),
            &env(&[("ANTHROPIC_AUTH_TOKEN", "t"), ("ANTHROPIC_BASE_URL", "http://x")]),
        )
        .unwrap();
        assert_eq!(
            (s.base_url.as_str(), s.model.as_str(), s.api_key_source),
            ("http://flag", "m", "ANTHROPIC_AUTH_TOKEN")
        );
    }

    #[test]
    fn openais_own_endpoint_speaks_responses_and_local_servers_chat() {
        let key = env(&[("OPENAI_API_KEY", "k")]);
        assert!(resolve_provider(ProviderKind::Openai, None, None, &key).unwrap().speaks_responses());
        let local = Some("http://localhost:11434/v1");
        assert!(!resolve_provider(ProviderKind::Openai, Some("qwen"), local, &key).unwrap().speaks_responses());
        assert!(resolve_provider(ProviderKind::OpenaiResponses, Some("m"), local, &key).unwrap().speaks_responses());
        let gemini = resolve_provider(ProviderKind::Gemini, None, None, &env(&[("GOOGLE_API_KEY", "g")])).unwrap();
        assert_eq!((gemini.model.as_str(), gemini.api_key_source), (DEFAULT_GEMINI_MODEL, "GOOGLE_API_KEY"));
        assert_eq!(gemini.base_url, gemini::DEFAULT_BASE_URL);
    }

    #[test]
    fn local_openai_servers_need_no_key_but_a_model() {
        let local = Some("http://localhost:11434/v1");
        assert_eq!(resolve_provider(ProviderKind::Openai, None, local, &env(&[])), Err(ConfigError::MissingModel));
        let s = resolve_provider(ProviderKind::Openai, Some("qwen"), local, &env(&[])).unwrap();
        assert_eq!(s.credential, ApiCredential::OpenAi(None));
        assert!(matches!(
            resolve_provider(ProviderKind::Openai, None, None, &env(&[])),
            Err(ConfigError::MissingKey { var: "OPENAI_API_KEY", .. })
        ));
    }

    #[test]
    fn session_folders_are_named_like_claude_codes() {
        assert_eq!(crate::session::project_folder_name(Path::new("/home/user/my_repo.v2")), "-home-user-my-repo-v2");
        assert_eq!(cairn_home(&env(&[("HOME", "/u")])), PathBuf::from("/u/.cairn"));
        assert_eq!(cairn_home(&env(&[("HOME", "/u"), ("CAIRN_HOME", "/c")])), PathBuf::from("/c"));
    }

    #[test]
    fn knobs_parse_or_explain() {
        let k = knobs(&env(&[("CAIRN_MAX_RETRIES", "2"), ("CAIRN_STREAM_IDLE_TIMEOUT_MS", "300")])).unwrap();
        assert_eq!(k.retry.max_attempts, 3);
        assert_eq!(k.idle_timeout, Duration::from_millis(300));
        let err = knobs(&env(&[("CAIRN_MAX_RETRIES", "lots")])).unwrap_err();
        assert!(err.to_string().contains("CAIRN_MAX_RETRIES"));
    }
}
