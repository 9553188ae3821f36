//! `cairn plugin …`: marketplaces added, updated and removed; plugins installed (copied
//! into the cache and enabled), enabled, disabled, uninstalled and listed — in the files
//! Claude Code keeps, so `claude plugin list` and `cairn plugin list` agree.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::{MarketplaceAction, PluginAction};
use crate::config::settings::{Locations, Settings};

/// Runs `action`; the exit code.
pub fn run(action: &PluginAction, settings: &Settings, locations: &Locations) -> Result<i32> {
    let homes = super::policy::plugin_homes(settings, locations);
    let user = settings_file("user", locations)?;
    let done = match action {
        PluginAction::Marketplace { action } => {
            let words: Vec<&str> = match action {
                MarketplaceAction::Add { source } => vec!["marketplace", "add", source],
                MarketplaceAction::List => vec!["marketplace", "list"],
                MarketplaceAction::Update { name: Some(name) } => vec!["marketplace", "update", name],
                MarketplaceAction::Update { name: None } => {
                    let names: Vec<String> = homes.marketplaces().into_iter().map(|m| m.name).collect();
                    let updated: Result<Vec<String>, String> =
                        names.iter().map(|n| homes.update_marketplace(n)).collect();
                    return finish(updated.map(|lines| lines.join("\n")));
                }
                MarketplaceAction::Remove { name } => vec!["marketplace", "remove", name],
            };
            crate::plugins::act(&homes, &words, &user)
        }
        PluginAction::Install { plugin, scope } => {
            crate::plugins::act(&homes, &["install", plugin], &settings_file(scope, locations)?)
        }
        PluginAction::Enable { plugin, scope } => {
            crate::plugins::act(&homes, &["enable", plugin], &settings_file(scope, locations)?)
        }
        PluginAction::Disable { plugin, scope } => {
            crate::plugins::act(&homes, &["disable", plugin], &settings_file(scope, locations)?)
        }
        PluginAction::Uninstall { plugin, scope } => {
            crate::plugins::act(&homes, &["uninstall", plugin], &settings_file(scope, locations)?)
        }
        PluginAction::List => Ok(crate::plugins::listing(&homes, |id| settings.enabled_plugins.get(id) == Some(&true))),
        PluginAction::Validate { path } => {
            let problems = crate::plugins::validate(path);
            for problem in &problems {
                crate::stdout_line!("problem: {problem}");
            }
            if problems.is_empty() {
                crate::stdout_line!("{} is valid.", path.display());
                return Ok(0);
            }
            bail!("{} problem(s) in {}", problems.len(), path.display());
        }
    };
    finish(done)
}

fn finish(done: Result<String, String>) -> Result<i32> {
    match done {
        Ok(text) => {
            crate::stdout_line!("{}", text.trim_end());
            Ok(0)
        }
        Err(problem) => bail!(problem),
    }
}

/// The settings file a scope names.
fn settings_file(scope: &str, locations: &Locations) -> Result<PathBuf> {
    Ok(match scope {
        "user" => locations.cairn_home.join("settings.json"),
        "project" => locations.cwd.join(".claude/settings.json"),
        "local" => locations.cwd.join(".claude/settings.local.json"),
        other => bail!("no scope {other:?}: use user, project or local"),
    })
}
