//! The permission rules and hooks a run starts with, and the same read again while it runs
//! (a settings file changed): the settings files' rules and the flags', in the mode the
//! flags, a resumed session or the settings ask for.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};

use super::Cli;
use crate::agent::{ReloadedSettings, SettingsReloader};
use crate::config::settings::{Locations, Settings};
use crate::hooks::Hooks;
use crate::permissions::paths::Anchors;
use crate::permissions::{Origin, PermissionMode, PermissionPolicy, PermissionRule, Rules};

/// The hooks the settings configure (none with `disableAllHooks`).
pub fn hooks_of(settings: &Settings, cwd: &Path, warn: &mut dyn FnMut(String)) -> Hooks {
    if settings.disable_all_hooks {
        return Hooks::default();
    }
    let env: Vec<(String, String)> = settings.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let (hooks, problems) = Hooks::new(&settings.hooks, cwd, env);
    for problem in problems {
        warn(format!("{}: hooks.{}: {}", problem.source, problem.event, problem.problem));
    }
    hooks
}

/// Where plugins are installed: cairn's `plugins/`, and Claude Code's when `claudeCompat`.
pub fn plugin_homes(settings: &Settings, locations: &Locations) -> crate::plugins::store::Homes {
    let claude = locations.claude_dir.as_deref().filter(|_| settings.claude_compat);
    crate::plugins::store::Homes::of(&locations.cairn_home, claude, &locations.cwd)
}

/// Reads the settings files again while the session runs (the watcher saw one change):
/// the permission rules (the flags' included), the hooks and the plugins enabled, with
/// what is wrong in them. The plugins' parts are put in `plugins` for the catalog.
pub fn settings_reloader(
    cli: Arc<Cli>,
    locations: Locations,
    cwd: PathBuf,
    trusted: bool,
    plugins: &Arc<std::sync::RwLock<Vec<crate::custom::PluginParts>>>,
) -> SettingsReloader {
    let plugins = Arc::clone(plugins);
    Arc::new(move || {
        let process_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut settings = Settings::load(&locations).map_err(|e| e.to_string())?;
        if !trusted {
            settings = settings.untrusted();
        }
        let mut warnings: Vec<String> = settings.diagnostics.iter().map(ToString::to_string).collect();
        let mut warn = |message: String| warnings.push(message);
        let policy =
            permission_policy(&cli, &settings, &cwd, &process_env, None, &mut warn).map_err(|e| format!("{e:#}"))?;
        let loaded = crate::plugins::load(&settings.enabled_plugins, &plugin_homes(&settings, &locations));
        settings.hooks.extend(loaded.hooks());
        warnings.extend(loaded.warnings.iter().cloned());
        let parts = loaded.parts();
        let mut current = plugins.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let plugins_changed = current.iter().map(|p| (&p.name, &p.root)).ne(parts.iter().map(|p| (&p.name, &p.root)));
        *current = parts;
        drop(current);
        let (plugin_servers, problems) = loaded.mcp_servers(&process_env);
        warnings.extend(problems);
        let mut warn = |message: String| warnings.push(message);
        let hooks = hooks_of(&settings, &cwd, &mut warn);
        Ok(ReloadedSettings { permissions: policy, hooks, warnings, plugins_changed, plugin_servers })
    })
}

/// The permission rules of the run: the settings files' and the flags', in the mode the
/// flags, a resumed session or the settings ask for.
pub fn permission_policy(
    cli: &Cli,
    settings: &Settings,
    cwd: &Path,
    env: &impl Fn(&str) -> Option<String>,
    resumed: Option<PermissionMode>,
    warn: &mut dyn FnMut(String),
) -> Result<PermissionPolicy> {
    let flag = |name: &str| Origin { label: name.to_owned(), dir: cwd.to_path_buf() };
    let mut rules = Rules { allow: settings.allow.clone(), ask: settings.ask.clone(), deny: settings.deny.clone() };
    rules
        .allow
        .extend(PermissionRule::parse_list(&cli.allowed_tools)?.into_iter().map(|r| (r, flag("--allowedTools"))));
    rules
        .deny
        .extend(PermissionRule::parse_list(&cli.disallowed_tools)?.into_iter().map(|r| (r, flag("--disallowedTools"))));
    let asked =
        if cli.dangerously_skip_permissions { Some(PermissionMode::BypassPermissions) } else { cli.permission_mode };
    if asked == Some(PermissionMode::BypassPermissions) && settings.disable_bypass {
        bail!("bypassPermissions mode is turned off by a setting (permissions.disableBypassPermissionsMode)");
    }
    let mut mode = asked.or(resumed).or(settings.default_mode).unwrap_or_default();
    if mode == PermissionMode::BypassPermissions && settings.disable_bypass {
        warn("permissions.defaultMode bypassPermissions is turned off by a setting; using default".into());
        mode = PermissionMode::Default;
    }
    let anchors =
        Anchors { settings_dir: cwd.to_path_buf(), project_dir: cwd.to_path_buf(), home: env("HOME").map(Into::into) };
    let (mut policy, problems) = PermissionPolicy::new(mode, rules, anchors);
    policy.bypass_disabled = settings.disable_bypass;
    for problem in problems {
        warn(format!("{}: permission rule {}: {}", problem.origin, problem.rule, problem.problem));
    }
    // Deny rules that cannot be read fail closed: no run without them headless, and every
    // call asked in the UI.
    if !settings.unknown_rules.is_empty() {
        let unknown = settings.unknown_rules.join("; ");
        if cli.print {
            bail!(
                "permission rules cannot be read ({unknown}); what they deny is unknown, so cairn does not run headless. Fix the file (`cairn config check` shows every problem)."
            );
        }
        warn(format!("permission rules cannot be read ({unknown}); every tool call will be asked until it is fixed"));
        policy.fail_closed(format!("permission rules cannot be read ({unknown})"));
    }
    Ok(policy)
}
