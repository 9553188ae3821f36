//! Settings files, read as Claude Code reads them (and cairn's own beside them).
//!
//! Layers, lowest first: user (`~/.claude/settings.json`, `$CAIRN_HOME/settings.json`),
//! project (`.claude/settings.json`, `.cairn/settings.json`), local
//! (`.claude/settings.local.json`, `.cairn/settings.local.json`), the command line
//! (`--settings FILE|JSON`), managed (`/etc/claude-code/managed-settings.json`,
//! `/etc/cairn/managed-settings.json`). At each level cairn's file wins over Claude Code's;
//! `"claudeCompat": false` stops the reading of `.claude/` altogether. A scalar key takes
//! the most specific value; lists (`permissions.allow/ask/deny`, `additionalDirectories`)
//! and hooks gather from every file; `env` merges key by key.
//!
//! Every file is checked against the schema generated from [`SettingsFile`]: a problem is
//! reported with the file, the JSON path and what is wrong (with a suggestion for a
//! misspelt key); unknown keys are warnings. Only a file that is not JSON at all stops the
//! start, because what it would deny cannot be known.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::hooks::{HookHandler, HookMatcher};
use crate::permissions::{Origin, PermissionMode, PermissionRule};
use crate::provider::reasoning::Effort;

/// One settings file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsFile {
    /// The JSON schema the file follows (editors use it).
    #[serde(rename = "$schema")]
    pub schema: Option<String>,
    /// Permission rules, the default mode and more working folders.
    pub permissions: Option<PermissionSettings>,
    /// Commands run at points of the session, by event name.
    pub hooks: Option<BTreeMap<String, Vec<HookMatcher>>>,
    /// Environment variables for the session and every command it runs.
    pub env: Option<BTreeMap<String, String>>,
    /// The model: an id or an alias (sonnet, opus, haiku).
    pub model: Option<String>,
    /// A command whose output is the interactive UI's status line.
    pub status_line: Option<StatusLineSetting>,
    /// A command (run with /bin/sh) that prints the API key to use.
    pub api_key_helper: Option<String>,
    /// Compact the conversation automatically before the context window fills (default true).
    pub auto_compact_enabled: Option<bool>,
    /// The context size, in tokens, at which to compact automatically.
    pub auto_compact_window: Option<u64>,
    /// cairn: the same as `autoCompactEnabled`.
    pub auto_compact: Option<bool>,
    /// cairn: the percentage of the context window at which to compact (default 80).
    #[schemars(range(min = 1, max = 100))]
    pub auto_compact_threshold: Option<u64>,
    /// cairn: the context window, in tokens, of a model cairn does not know (or to use
    /// less of one it does).
    pub context_window: Option<u64>,
    /// Turn every hook off.
    pub disable_all_hooks: Option<bool>,
    /// Days to keep transcripts.
    pub cleanup_period_days: Option<u32>,
    /// cairn: `false` stops all reading of `.claude/` and `~/.claude/`.
    pub claude_compat: Option<bool>,
    /// cairn: the interactive UI on the alternate screen, with its own scrolling.
    pub fullscreen: Option<bool>,
    /// Approve every `.mcp.json` server of the project.
    pub enable_all_project_mcp_servers: Option<bool>,
    /// `.mcp.json` servers approved by name.
    pub enabled_mcpjson_servers: Option<Vec<String>>,
    /// Plugins on or off, by `name@marketplace`.
    pub enabled_plugins: Option<BTreeMap<String, bool>>,
    /// Marketplaces this file makes known: `{"name": {"source": {"source": "git", "url": …}}}`.
    pub extra_known_marketplaces: Option<BTreeMap<String, serde_json::Value>>,
    /// `.mcp.json` servers refused by name.
    pub disabled_mcpjson_servers: Option<Vec<String>>,
    /// How hard the model thinks: low, medium, high, xhigh or max (as the model offers).
    pub effort_level: Option<Effort>,
    /// Thinking on for models that can think (default true).
    pub always_thinking_enabled: Option<bool>,
    /// The output style: "default", "Explanatory", "Learning", or one of
    /// `.claude/output-styles/*.md`.
    pub output_style: Option<String>,
    /// The model to continue on when the main one stays overloaded.
    pub fallback_model: Option<String>,
    /// Legacy: `false` leaves the Co-Authored-By byline out of commits (use `attribution`).
    pub include_co_authored_by: Option<bool>,
    /// What commits (and pull requests) made by the agent say of it; "" for nothing.
    pub attribution: Option<AttributionSetting>,
    /// The sandbox around the model's commands (Claude Code's keys).
    pub sandbox: Option<crate::sandbox::SandboxSettings>,
    /// cairn: the main agent leads a team of workers and does no work itself.
    pub coordinator_mode: Option<bool>,
    /// cairn: how many background agents (workers) work at once (default 4).
    #[schemars(range(min = 1, max = 64))]
    pub max_workers: Option<u32>,
    /// Suggest the next prompt as ghost text after a turn (interactive UI; default on).
    pub prompt_suggestion_enabled: Option<bool>,
    /// cairn: work ahead on a suggested prompt (read-only, edits in an overlay; default on).
    pub speculation_enabled: Option<bool>,
    /// cairn: work ahead on a draft the user paused on, too (default off).
    pub speculate_drafts: Option<bool>,
    /// The model keeps its own memory of the project (`memory/` beside the transcripts;
    /// default on).
    pub auto_memory_enabled: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttributionSetting {
    /// The lines a commit message ends with (git trailers such as Co-Authored-By).
    pub commit: Option<String>,
    /// The line a pull request's description ends with.
    pub pr: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionSettings {
    /// Rules for calls that run without asking, like "Bash(npm run test:*)" or "Edit(src/**)".
    pub allow: Option<Vec<String>>,
    /// Rules for calls that always ask.
    pub ask: Option<Vec<String>>,
    /// Rules for calls that are always refused.
    pub deny: Option<Vec<String>>,
    /// More folders the session may work in.
    pub additional_directories: Option<Vec<String>>,
    /// The mode a session starts in.
    pub default_mode: Option<ModeSetting>,
    /// "disable" refuses bypassPermissions mode and --dangerously-skip-permissions.
    pub disable_bypass_permissions_mode: Option<String>,
}

/// A permission mode's name.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ModeSetting {
    Default,
    AcceptEdits,
    Plan,
    BypassPermissions,
    DontAsk,
}

impl From<ModeSetting> for PermissionMode {
    fn from(mode: ModeSetting) -> PermissionMode {
        match mode {
            ModeSetting::Default => PermissionMode::Default,
            ModeSetting::AcceptEdits => PermissionMode::AcceptEdits,
            ModeSetting::Plan => PermissionMode::Plan,
            ModeSetting::BypassPermissions => PermissionMode::BypassPermissions,
            ModeSetting::DontAsk => PermissionMode::DontAsk,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct StatusLineSetting {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub command: String,
    pub padding: Option<u16>,
}

/// How sure a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem in a settings file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// `permissions.allow[2]`; empty for the file as a whole.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.path.as_str() {
            "" => write!(f, "{level}: {}: {}", self.file, self.message),
            path => write!(f, "{level}: {}: {path}: {}", self.file, self.message),
        }
    }
}

/// The level a file sits at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    User,
    Project,
    Local,
    CommandLine,
    Managed,
}

/// A file that was read.
#[derive(Clone, Debug)]
pub struct Source {
    pub level: Level,
    /// How messages name it (`.cairn/settings.json`, `--settings`, a full path).
    pub label: String,
    pub path: Option<PathBuf>,
    /// The folder a `/path` permission rule in it starts from.
    pub anchor: PathBuf,
    /// A Claude Code file (`.claude/`, `~/.claude/`).
    pub claude: bool,
    settings: SettingsFile,
    /// The file's `permissions` as written, so a problem names the entry's real index.
    raw_permissions: Value,
}

/// Where the files are.
#[derive(Clone, Debug, Default)]
pub struct Locations {
    pub cwd: PathBuf,
    pub home: Option<PathBuf>,
    pub cairn_home: PathBuf,
    /// `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
    pub claude_dir: Option<PathBuf>,
    /// `--settings`: a file or inline JSON.
    pub cli: Option<String>,
    /// The managed settings files (overridable for tests with `CAIRN_MANAGED_SETTINGS`).
    pub managed: Vec<PathBuf>,
    /// `--setting-sources`: the levels read (user, project, local); `None`: all. Managed
    /// settings and `--settings` are always read.
    pub levels: Option<Vec<Level>>,
}

impl Locations {
    pub fn from_env(
        cwd: &Path,
        cairn_home: &Path,
        cli: Option<String>,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Locations {
        let home = env("HOME").map(PathBuf::from);
        let claude_dir =
            env("CLAUDE_CONFIG_DIR").map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".claude")));
        let managed = match env("CAIRN_MANAGED_SETTINGS") {
            Some(path) => vec![PathBuf::from(path)],
            None => vec![
                PathBuf::from("/etc/claude-code/managed-settings.json"),
                PathBuf::from("/etc/cairn/managed-settings.json"),
            ],
        };
        Locations {
            cwd: cwd.to_path_buf(),
            home,
            cairn_home: cairn_home.to_path_buf(),
            claude_dir,
            cli,
            managed,
            levels: None,
        }
    }
}

/// Everything the settings files say, merged.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub sources: Vec<Source>,
    pub diagnostics: Vec<Diagnostic>,
    /// Deny or ask rules that exist but cannot be read (a `deny` that is not a list, a file
    /// that cannot be opened): what they forbid is unknown, so the run fails closed.
    pub unknown_rules: Vec<String>,
    pub allow: Vec<(PermissionRule, Origin)>,
    pub ask: Vec<(PermissionRule, Origin)>,
    pub deny: Vec<(PermissionRule, Origin)>,
    pub additional_directories: Vec<PathBuf>,
    pub default_mode: Option<PermissionMode>,
    pub disable_bypass: bool,
    /// Hook groups by event, each with the file it came from.
    pub hooks: Vec<(String, HookMatcher, String)>,
    pub disable_all_hooks: bool,
    pub env: BTreeMap<String, String>,
    pub model: Option<String>,
    pub status_line: Option<StatusLineSetting>,
    pub api_key_helper: Option<String>,
    pub auto_compact_enabled: Option<bool>,
    pub auto_compact_window: Option<u64>,
    pub auto_compact: Option<bool>,
    pub auto_compact_threshold: Option<u64>,
    pub context_window: Option<u64>,
    pub fullscreen: Option<bool>,
    pub claude_compat: bool,
    pub enable_all_project_mcp_servers: Option<bool>,
    pub enabled_mcpjson_servers: Vec<String>,
    /// Plugins on or off, by `name@marketplace` (a later file's word wins).
    pub enabled_plugins: BTreeMap<String, bool>,
    /// Marketplaces the settings files make known, by name.
    pub extra_known_marketplaces: BTreeMap<String, serde_json::Value>,
    pub disabled_mcpjson_servers: Vec<String>,
    pub effort_level: Option<Effort>,
    pub always_thinking_enabled: Option<bool>,
    pub output_style: Option<String>,
    pub fallback_model: Option<String>,
    pub include_co_authored_by: Option<bool>,
    pub attribution: Option<AttributionSetting>,
    pub cleanup_period_days: Option<u32>,
    pub sandbox: crate::sandbox::SandboxSettings,
    pub coordinator_mode: Option<bool>,
    pub max_workers: Option<u32>,
    pub prompt_suggestion_enabled: Option<bool>,
    pub speculation_enabled: Option<bool>,
    pub speculate_drafts: Option<bool>,
    pub auto_memory_enabled: Option<bool>,
}

impl Settings {
    /// The lines a commit made by the agent ends with (`None`: nothing), as Claude Code
    /// reads `attribution.commit` and the older `includeCoAuthoredBy`.
    pub fn commit_attribution(&self) -> Option<String> {
        match (self.attribution.as_ref().and_then(|a| a.commit.as_deref()), self.include_co_authored_by) {
            (Some(text), _) => Some(text.to_owned()).filter(|t| !t.trim().is_empty()),
            (None, Some(false)) => None,
            (None, _) => Some(DEFAULT_ATTRIBUTION.to_owned()),
        }
    }
}

/// The byline commits get unless the settings say otherwise.
pub const DEFAULT_ATTRIBUTION: &str = "Co-Authored-By: cairn <noreply@cairn.dev>";

/// The largest settings file read: far beyond any real one (160,000 rules fit in 4 MiB).
const MAX_SETTINGS_BYTES: u64 = 16 << 20;

/// A settings file's text; `Ok(None)` when there is none.
fn read_settings_file(path: &Path) -> Result<Option<String>, String> {
    match crate::limits::read_text(path, MAX_SETTINGS_BYTES) {
        Ok(text) => Ok(Some(text)),
        // Absent, or under something that is not a folder: there is no such file.
        Err(crate::limits::ReadError::Io(e))
            if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) =>
        {
            Ok(None)
        }
        Err(e) => Err(format!("cannot be read: {e}")),
    }
}

/// A settings file that may be there.
struct Candidate {
    level: Level,
    label: String,
    path: PathBuf,
    /// The folder `/` means in its rules.
    anchor: PathBuf,
    /// Claude Code's file (under `.claude/`), not cairn's.
    claude: bool,
}

/// The files read, lowest level first: user (`~/.claude`, `$CAIRN_HOME`), project and local
/// (`.claude/`, `.cairn/`), then managed.
fn candidates(at: &Locations) -> Vec<Candidate> {
    let mut out = Vec::new();
    if let Some(claude) = &at.claude_dir {
        let path = claude.join("settings.json");
        out.push(Candidate {
            level: Level::User,
            label: display(&path, at),
            path,
            anchor: claude.clone(),
            claude: true,
        });
    }
    let user = at.cairn_home.join("settings.json");
    out.push(Candidate {
        level: Level::User,
        label: display(&user, at),
        path: user,
        anchor: at.cairn_home.clone(),
        claude: false,
    });
    for (level, file) in [(Level::Project, "settings.json"), (Level::Local, "settings.local.json")] {
        for (dir, claude) in [(".claude", true), (".cairn", false)] {
            let path = at.cwd.join(dir).join(file);
            out.push(Candidate { level, label: format!("{dir}/{file}"), path, anchor: at.cwd.clone(), claude });
        }
    }
    for path in &at.managed {
        let anchor = path.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        out.push(Candidate {
            level: Level::Managed,
            label: path.display().to_string(),
            path: path.clone(),
            anchor,
            claude: false,
        });
    }
    out
}

/// `--settings FILE|JSON`: a file that cannot be read stops the start (it was asked for).
fn command_line_source(cli: &str, at: &Locations, diagnostics: &mut Vec<Diagnostic>) -> Result<Source, Unreadable> {
    let trimmed = cli.trim();
    if trimmed.starts_with('{') {
        return read_source(Level::CommandLine, "--settings".into(), None, at.cwd.clone(), false, trimmed, diagnostics);
    }
    let label = format!("--settings {trimmed}");
    let path = at.cwd.join(trimmed);
    let text = read_settings_file(&path)
        .and_then(|text| text.ok_or_else(|| "cannot be read: it does not exist".to_owned()))
        .map_err(|problem| Unreadable { file: label.clone(), problem })?;
    let anchor = path.parent().map_or_else(|| at.cwd.clone(), Path::to_path_buf);
    read_source(Level::CommandLine, label, Some(path), anchor, false, &text, diagnostics)
}

/// A settings file that is not JSON: the session does not start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}: {problem}")]
pub struct Unreadable {
    pub file: String,
    pub problem: String,
}

impl Settings {
    /// Reads every file; only a file that is not JSON is an error.
    pub fn load(at: &Locations) -> Result<Settings, Unreadable> {
        let mut settings = Settings { claude_compat: true, ..Settings::default() };
        let mut sources = Vec::new();
        let wanted = |level: Level| {
            matches!(level, Level::Managed | Level::CommandLine)
                || at.levels.as_ref().is_none_or(|l| l.contains(&level))
        };
        for candidate in candidates(at).into_iter().filter(|c| wanted(c.level)) {
            let text = match read_settings_file(&candidate.path) {
                Ok(Some(text)) => text,
                Ok(None) => continue,
                Err(problem) => {
                    settings.unreadable(&candidate.label, problem);
                    continue;
                }
            };
            let Candidate { level, label, path, anchor, claude } = candidate;
            sources.push(read_source(level, label, Some(path), anchor, claude, &text, &mut settings.diagnostics)?);
        }
        if let Some(cli) = &at.cli {
            sources.push(command_line_source(cli, at, &mut settings.diagnostics)?);
        }
        settings.finish(sources);
        Ok(settings)
    }

    /// `claudeCompat`, the rules that cannot be read, and the merge, lowest level first.
    fn finish(&mut self, mut sources: Vec<Source>) {
        // `claudeCompat` is read from cairn's own files only, the most specific winning.
        let compat = sources.iter().filter(|s| !s.claude).filter_map(|s| s.settings.claude_compat).next_back();
        self.claude_compat = compat.unwrap_or(true);
        if !self.claude_compat {
            let claudes = |file: &str| file.starts_with(".claude/") || file.contains("/.claude/");
            sources.retain(|s| !s.claude);
            self.diagnostics.retain(|d| !claudes(&d.file));
            self.unknown_rules.retain(|d| !claudes(d));
        }
        // A deny or ask list that is not a list of rules hides rules: they are unknown.
        let lists = |path: &str| {
            path == "permissions" || ["permissions.deny", "permissions.ask"].iter().any(|l| path.starts_with(l))
        };
        for d in self.diagnostics.iter().filter(|d| d.severity == Severity::Error && lists(&d.path)) {
            self.unknown_rules.push(format!("{}: {}: {}", d.file, d.path, d.message));
        }
        // Lowest first; cairn's file after Claude Code's at the same level.
        sources.sort_by_key(|s| (s.level, !s.claude));
        for source in &sources {
            self.merge(source);
        }
        self.sources = sources;
    }

    fn merge(&mut self, source: &Source) {
        let file = &source.settings;
        let origin = Origin { label: source.label.clone(), dir: source.anchor.clone() };
        if let Some(p) = &file.permissions {
            let mut fallback_asks = Vec::new();
            for (list, rules, name) in [
                (&mut self.allow, &p.allow, "allow"),
                (&mut self.ask, &p.ask, "ask"),
                (&mut self.deny, &p.deny, "deny"),
            ] {
                // Numbered as in the file (the typed list is the raw one's strings, in order).
                let raw = source.raw_permissions[name].as_array();
                let numbered = raw.into_iter().flatten().enumerate().filter_map(|(i, v)| Some((i, v.as_str()?)));
                let typed = rules.iter().flatten().map(String::as_str).enumerate();
                let items: Vec<(usize, &str)> = if raw.is_some() { numbered.collect() } else { typed.collect() };
                for (i, text) in items {
                    match PermissionRule::parse(text) {
                        Ok(rule) => list.push((rule, origin.clone())),
                        Err(e) => {
                            self.diagnostics.push(Diagnostic {
                                severity: Severity::Error,
                                file: source.label.clone(),
                                path: format!("permissions.{name}[{i}]"),
                                message: match name {
                                    "allow" => format!("{e}; the rule is skipped"),
                                    _ => format!("{e}; calls of the tool it names will ask instead"),
                                },
                            });
                            // A broken deny or ask rule still makes its tool ask.
                            if name != "allow"
                                && let Some(tool) = text.split('(').next().map(str::trim).filter(|t| !t.is_empty())
                                && let Ok(rule) = PermissionRule::parse(tool)
                            {
                                fallback_asks.push((rule, origin.clone()));
                            }
                        }
                    }
                }
            }
            self.ask.extend(fallback_asks);
            for dir in p.additional_directories.iter().flatten() {
                self.additional_directories.push(expand_home(dir, &source.anchor));
            }
            if let Some(mode) = p.default_mode {
                self.default_mode = Some(mode.into());
            }
            if p.disable_bypass_permissions_mode.as_deref() == Some("disable") {
                self.disable_bypass = true;
            }
        }
        for (event, groups) in file.hooks.iter().flatten() {
            for group in groups {
                self.hooks.push((event.clone(), group.clone(), source.label.clone()));
            }
        }
        if let Some(env) = &file.env {
            self.env.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        macro_rules! take {
            ($($field:ident),*) => { $( if file.$field.is_some() { self.$field = file.$field.clone(); } )* };
        }
        take!(
            model,
            status_line,
            api_key_helper,
            auto_compact_enabled,
            auto_compact_window,
            auto_compact,
            auto_compact_threshold,
            context_window,
            fullscreen,
            enable_all_project_mcp_servers,
            effort_level,
            always_thinking_enabled,
            output_style,
            fallback_model,
            include_co_authored_by,
            attribution,
            cleanup_period_days,
            coordinator_mode,
            max_workers,
            prompt_suggestion_enabled,
            speculation_enabled,
            speculate_drafts,
            auto_memory_enabled
        );
        if let Some(sandbox) = &file.sandbox {
            self.sandbox.merge(sandbox);
        }
        if let Some(off) = file.disable_all_hooks {
            self.disable_all_hooks = off;
        }
        self.enabled_mcpjson_servers.extend(file.enabled_mcpjson_servers.iter().flatten().cloned());
        self.enabled_plugins.extend(file.enabled_plugins.iter().flatten().map(|(k, v)| (k.clone(), *v)));
        self.extra_known_marketplaces
            .extend(file.extra_known_marketplaces.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
        self.disabled_mcpjson_servers.extend(file.disabled_mcpjson_servers.iter().flatten().cloned());
    }

    /// What the project's own files (project and local level) would turn on that needs
    /// the folder to be trusted: commands they run, tools they allow, more.
    pub fn needs_trust(&self) -> Vec<String> {
        let mut out = Vec::new();
        for source in self.sources.iter().filter(|s| matches!(s.level, Level::Project | Level::Local)) {
            let file = &source.settings;
            let mut parts = Vec::new();
            if let Some(hooks) = file.hooks.as_ref().filter(|h| !h.is_empty()) {
                let events: Vec<&str> = hooks.keys().map(String::as_str).collect();
                parts.push(format!("hooks ({})", events.join(", ")));
            }
            let allow = file.permissions.as_ref().and_then(|p| p.allow.as_ref()).filter(|a| !a.is_empty());
            if let Some(allow) = allow {
                parts.push(format!("allow rules ({})", allow.join(", ")));
            }
            if file.permissions.as_ref().and_then(|p| p.additional_directories.as_ref()).is_some_and(|d| !d.is_empty())
            {
                parts.push("more working folders".into());
            }
            if file.env.as_ref().is_some_and(|e| !e.is_empty()) {
                parts.push("environment variables".into());
            }
            if file.api_key_helper.is_some() {
                parts.push("an apiKeyHelper command".into());
            }
            if file.status_line.is_some() {
                parts.push("a statusLine command".into());
            }
            let plugins: Vec<&str> =
                file.enabled_plugins.iter().flatten().filter(|(_, on)| **on).map(|(id, _)| id.as_str()).collect();
            if !plugins.is_empty() {
                parts.push(format!("plugins ({}), installed from their marketplaces", plugins.join(", ")));
            }
            if !parts.is_empty() {
                out.push(format!("{}: {}", source.label, parts.join("; ")));
            }
        }
        out
    }

    /// The same settings without what [`Settings::needs_trust`] lists.
    pub fn untrusted(&self) -> Settings {
        let mut sources = self.sources.clone();
        for source in sources.iter_mut().filter(|s| matches!(s.level, Level::Project | Level::Local)) {
            let file = &mut source.settings;
            file.hooks = None;
            file.env = None;
            file.enabled_plugins = None;
            file.extra_known_marketplaces = None;
            file.api_key_helper = None;
            file.status_line = None;
            if let Some(p) = &mut file.permissions {
                p.allow = None;
                p.additional_directories = None;
            }
        }
        let mut settings = Settings { claude_compat: self.claude_compat, ..Settings::default() };
        for source in &sources {
            settings.merge(source);
        }
        settings.sources = sources;
        settings.diagnostics = self.diagnostics.clone();
        settings.unknown_rules = self.unknown_rules.clone();
        settings
    }

    /// A settings file that exists but cannot be read: its rules are unknown.
    fn unreadable(&mut self, file: &str, problem: String) {
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            file: file.to_owned(),
            path: String::new(),
            message: problem.clone(),
        });
        self.unknown_rules.push(format!("{file} {problem}"));
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }
}

fn display(path: &Path, at: &Locations) -> String {
    match at.home.as_ref().and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

fn expand_home(dir: &str, anchor: &Path) -> PathBuf {
    match (dir.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => anchor.join(dir),
    }
}

/// Parses and checks one file. Each key that does not fit the schema is reported and left
/// out; the rest of the file still counts.
fn read_source(
    level: Level,
    label: String,
    path: Option<PathBuf>,
    anchor: PathBuf,
    claude: bool,
    text: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Source, Unreadable> {
    // An empty file says nothing: it is an empty object.
    let text = if text.trim().is_empty() { "{}" } else { text };
    let value: Value = serde_json::from_str(text).map_err(|e| Unreadable {
        file: label.clone(),
        problem: format!("not valid JSON ({e}); fix it, or move it aside, before starting cairn"),
    })?;
    let Value::Object(mut object) = value else {
        return Err(Unreadable { file: label, problem: "the file must hold a JSON object".into() });
    };
    let found = check(&Value::Object(object.clone()), &label);
    let raw_permissions = object.get("permissions").cloned().unwrap_or(Value::Null);
    // What does not fit the schema is left out, so the rest can be read.
    for problem in found.iter().filter(|p| p.severity == Severity::Error) {
        mark_bad(&mut object, &problem.path);
    }
    sweep(&mut object);
    diagnostics.extend(found);
    let settings: SettingsFile = serde_json::from_value(Value::Object(object)).unwrap_or_default();
    Ok(Source { level, label, path, anchor, claude, settings, raw_permissions })
}

mod local;
mod schema;

pub use local::{add_local_allow_rules, add_local_rule, remove_local_rule, set_local_value};
pub use schema::{check, schema};
use schema::{mark_bad, sweep};

#[cfg(test)]
mod tests;
