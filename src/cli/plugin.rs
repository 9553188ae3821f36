//! `cairn plugin …`: marketplaces added, updated and removed; plugins installed (copied
//! into the cache and enabled), enabled, disabled, uninstalled and listed — in the files
//! Claude Code keeps, so `claude plugin list` and `cairn plugin list` agree.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::{MarketplaceAction, PluginAction};
use crate::config::settings::{Locations, Settings};
use crate::plugins::store::{self, Homes};

/// Runs `action`; the exit code.
pub fn run(action: &PluginAction, settings: &Settings, locations: &Locations) -> Result<i32> {
    let homes = super::policy::plugin_homes(settings, locations);
    let out = match action {
        PluginAction::Marketplace { action } => marketplace(action, &homes),
        PluginAction::Install { plugin, scope } => {
            let file = settings_file(scope, locations)?;
            homes.install(plugin).and_then(|(id, path)| {
                store::set_enabled(&file, &id, Some(true))?;
                Ok(format!("Installed {id} in {} and enabled it in {}.", path.display(), file.display()))
            })
        }
        PluginAction::Uninstall { plugin } => homes.uninstall(plugin).and_then(|()| {
            for scope in ["user", "project", "local"] {
                let file = settings_file(scope, locations).map_err(|e| e.to_string())?;
                if file.is_file() {
                    store::set_enabled(&file, plugin, None)?;
                }
            }
            Ok(format!("Uninstalled {plugin}."))
        }),
        PluginAction::Enable { plugin, scope } | PluginAction::Disable { plugin, scope } => {
            let on = matches!(action, PluginAction::Enable { .. });
            let file = settings_file(scope, locations)?;
            if on && !homes.installed().contains_key(plugin) {
                bail!("{plugin} is not installed: install it with `cairn plugin install {plugin}`");
            }
            store::set_enabled(&file, plugin, Some(on))
                .map(|()| format!("{} {plugin} in {}.", if on { "Enabled" } else { "Disabled" }, file.display()))
        }
        PluginAction::List => Ok(list(settings, &homes)),
    };
    match out {
        Ok(text) => {
            crate::stdout_line!("{}", text.trim_end());
            Ok(0)
        }
        Err(problem) => bail!(problem),
    }
}

fn marketplace(action: &MarketplaceAction, homes: &Homes) -> Result<String, String> {
    match action {
        MarketplaceAction::Add { source } => homes.add_marketplace(source).map(|name| {
            let offered = homes.offered(&name).unwrap_or_default();
            format!("Added the marketplace {name} ({} plugins): `cairn plugin install <plugin>@{name}`", offered.len())
        }),
        MarketplaceAction::List => {
            let mut out = String::new();
            for market in homes.marketplaces() {
                out.push_str(&format!("{}  {}\n", market.name, market.location.display()));
                for (name, description) in homes.offered(&market.name).unwrap_or_default() {
                    out.push_str(&format!("  {name}@{}  {description}\n", market.name));
                }
            }
            Ok(if out.is_empty() {
                "No marketplaces: add one with `cairn plugin marketplace add`.".into()
            } else {
                out
            })
        }
        MarketplaceAction::Update { name } => {
            let names: Vec<String> = match name {
                Some(name) => vec![name.clone()],
                None => homes.marketplaces().into_iter().map(|m| m.name).collect(),
            };
            names.iter().map(|n| homes.update_marketplace(n)).collect::<Result<Vec<_>, _>>().map(|l| l.join("\n"))
        }
        MarketplaceAction::Remove { name } => homes.remove_marketplace(name),
    }
}

/// Installed plugins: on or off, their parts, what is wrong.
fn list(settings: &Settings, homes: &Homes) -> String {
    let installed = homes.installed();
    if installed.is_empty() {
        return "No plugins installed: `cairn plugin marketplace add <source>`, then `cairn plugin install <name>`."
            .into();
    }
    let mut out = String::new();
    for (id, root) in &installed {
        let on = settings.enabled_plugins.get(id).copied().unwrap_or(false);
        let mut warnings = Vec::new();
        let plugin = crate::plugins::read(id, root, &mut warnings);
        let count = |dirs: &[PathBuf]| {
            dirs.iter().filter_map(|d| std::fs::read_dir(d).ok()).map(Iterator::count).sum::<usize>()
        };
        out.push_str(&format!(
            "{id}  {}  {}\n  {} commands, {} skills, {} agents, {} hook groups, {} MCP servers · {}\n",
            if on { "enabled" } else { "disabled" },
            plugin.version.as_deref().unwrap_or(""),
            count(&plugin.parts.commands),
            count(&plugin.parts.skills),
            count(&plugin.parts.agents),
            plugin.hooks.len(),
            plugin.mcp_servers.len(),
            root.display()
        ));
        for warning in warnings {
            out.push_str(&format!("  problem: {warning}\n"));
        }
    }
    out
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
