//! Plugins, in Claude Code's layout: a folder with `.claude-plugin/plugin.json` (optional:
//! the folder's name serves) and any of `commands/`, `agents/`, `skills/`,
//! `output-styles/`, `hooks/hooks.json` and `.mcp.json` — or other paths the manifest
//! names. Its parts are namespaced by its name (`/tools:hello`, the agent `tools:reviewer`,
//! the MCP server `plugin_tools_fs`), and `${CLAUDE_PLUGIN_ROOT}` in its hook commands and
//! MCP configurations is its folder.
//!
//! Plugins come from marketplaces ([`store`]): a folder or git repository with
//! `.claude-plugin/marketplace.json`. Installing one copies it into the plugin cache;
//! the settings' `enabledPlugins` (`{"name@marketplace": true}`) say which installed ones
//! a session loads. cairn keeps its own `plugins/` under `$CAIRN_HOME`, and also finds the
//! plugins Claude Code installed under `~/.claude/plugins`. A broken manifest or part is
//! reported with its file and what to fix, and the rest still loads.

pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::custom::PluginParts;
use crate::hooks::HookMatcher;
use crate::mcp::config::ServerConfig;

/// An enabled plugin, read from its folder.
#[derive(Clone, Debug, Default)]
pub struct Plugin {
    /// `name@marketplace`, as `enabledPlugins` names it.
    pub id: String,
    pub parts: PluginParts,
    pub description: String,
    pub version: Option<String>,
    /// Its hooks, `${CLAUDE_PLUGIN_ROOT}` filled in: (event, group).
    pub hooks: Vec<(String, HookMatcher)>,
    /// Its MCP servers, as `{"name": config}` (the names not yet prefixed).
    pub mcp_servers: BTreeMap<String, Value>,
}

/// The enabled plugins, and what was wrong.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub plugins: Vec<Plugin>,
    pub warnings: Vec<String>,
}

impl Loaded {
    /// The plugins' hooks as the settings hold hooks: (event, group, source).
    pub fn hooks(&self) -> Vec<(String, HookMatcher, String)> {
        let mut out = Vec::new();
        for plugin in &self.plugins {
            let source = format!("plugin {}", plugin.id);
            out.extend(plugin.hooks.iter().map(|(event, group)| (event.clone(), group.clone(), source.clone())));
        }
        out
    }

    /// The plugins' MCP servers, named `plugin_<plugin>_<server>`.
    pub fn mcp_servers(&self, env: &impl Fn(&str) -> Option<String>) -> (Vec<ServerConfig>, Vec<String>) {
        let mut servers = Vec::new();
        let mut warnings = Vec::new();
        for plugin in &self.plugins {
            let root = plugin.parts.root.display().to_string();
            let env = |name: &str| if name == "CLAUDE_PLUGIN_ROOT" { Some(root.clone()) } else { env(name) };
            let loaded = crate::mcp::config::plugin_servers(&plugin.parts.name, &plugin.mcp_servers, &env);
            servers.extend(loaded.servers.into_iter().map(|mut server| {
                // Its process knows where the plugin is, as Claude Code's do.
                if let crate::mcp::config::Transport::Stdio { env, .. } = &mut server.transport {
                    env.entry("CLAUDE_PLUGIN_ROOT".into()).or_insert_with(|| root.clone());
                }
                server
            }));
            warnings.extend(loaded.warnings.into_iter().map(|w| format!("plugin {}: {w}", plugin.id)));
        }
        (servers, warnings)
    }

    pub fn parts(&self) -> Vec<PluginParts> {
        self.plugins.iter().map(|p| p.parts.clone()).collect()
    }
}

/// The installed plugins in words: on or off (`on` says), their parts, what is wrong.
pub fn listing(homes: &store::Homes, on: impl Fn(&str) -> bool) -> String {
    let installed = homes.installed();
    if installed.is_empty() {
        return "No plugins installed: add a marketplace (`cairn plugin marketplace add <folder or git URL>`), \
                then install one (`cairn plugin install <name>@<marketplace>`)."
            .into();
    }
    let count =
        |dirs: &[PathBuf]| dirs.iter().filter_map(|d| std::fs::read_dir(d).ok()).map(Iterator::count).sum::<usize>();
    let mut out = String::new();
    for (id, root) in &installed {
        let mut warnings = Vec::new();
        let plugin = read(id, root, &mut warnings);
        let parts = &plugin.parts;
        out.push_str(&format!(
            "{id}  {}  {}\n  {} commands, {} skills, {} agents, {} hook groups, {} MCP servers · {}\n",
            if on(id) { "enabled" } else { "disabled" },
            plugin.version.as_deref().unwrap_or(""),
            count(&parts.commands),
            count(&parts.skills),
            count(&parts.agents),
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

/// What `/plugin …` and `cairn plugin …` do to the store: install, uninstall, enable,
/// disable, and the marketplaces; what was done, in words. `settings_file` is where
/// `enabledPlugins` is written.
pub fn act(homes: &store::Homes, words: &[&str], settings_file: &Path) -> Result<String, String> {
    match words {
        ["install", id] => homes.install(id).and_then(|(id, path)| {
            store::set_enabled(settings_file, &id, Some(true))?;
            Ok(format!("Installed {id} in {} and enabled it in {}.", path.display(), settings_file.display()))
        }),
        ["uninstall", id] => homes.uninstall(id).and_then(|()| {
            store::set_enabled(settings_file, id, None)?;
            Ok(format!("Uninstalled {id}."))
        }),
        [verb @ ("enable" | "disable"), id] => {
            let on = *verb == "enable";
            if on && !homes.installed().contains_key(*id) {
                return Err(format!("{id} is not installed: install it with `cairn plugin install {id}`"));
            }
            store::set_enabled(settings_file, id, Some(on))
                .map(|()| format!("{} {id} in {}.", if on { "Enabled" } else { "Disabled" }, settings_file.display()))
        }
        ["marketplace", "add", source] => homes.add_marketplace(source).map(|name| {
            let offered = homes.offered(&name).unwrap_or_default();
            format!("Added the marketplace {name} ({} plugins): install one with <plugin>@{name}", offered.len())
        }),
        ["marketplace", "update", name] => homes.update_marketplace(name),
        ["marketplace", "remove", name] => homes.remove_marketplace(name),
        ["marketplace"] | ["marketplace", "list"] => {
            let mut out = String::new();
            for market in homes.marketplaces() {
                out.push_str(&format!("{}  {}\n", market.name, market.location.display()));
                for (name, description) in homes.offered(&market.name).unwrap_or_default() {
                    out.push_str(&format!("  {name}@{}  {description}\n", market.name));
                }
            }
            Ok(if out.is_empty() {
                "No marketplaces: add one with `marketplace add <folder or git URL>`.".into()
            } else {
                out
            })
        }
        _ => {
            Err("plugin: install|uninstall|enable|disable <name@marketplace>, or marketplace add|list|update|remove"
                .into())
        }
    }
}

/// What is wrong with a plugin folder, or with a marketplace folder and each plugin in it
/// (`cairn plugin validate`): nothing when it would load cleanly.
pub fn validate(path: &Path) -> Vec<String> {
    let catalog = path.join(".claude-plugin/marketplace.json");
    if !catalog.is_file() {
        return validate_plugin(path);
    }
    let value = match std::fs::read_to_string(&catalog).map(|t| serde_json::from_str::<Value>(&t)) {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => return vec![format!("{}: not valid JSON: {e}", catalog.display())],
        Err(e) => return vec![format!("{}: {e}", catalog.display())],
    };
    let mut problems = Vec::new();
    let named = |v: &Value| v.as_str().is_some_and(store::valid_name);
    if !named(&value["name"]) {
        problems.push(format!("{}: \"name\" must be letters, digits, -, _, . or +", catalog.display()));
    }
    for entry in value["plugins"].as_array().into_iter().flatten() {
        let name = entry["name"].as_str().unwrap_or("(no name)");
        if !named(&entry["name"]) || (entry.get("version").is_some() && !named(&entry["version"])) {
            problems.push(format!(
                "{}: the plugin {name:?}: its name and version must each be one plain folder name",
                catalog.display()
            ));
        }
        if let Some(relative) = entry["source"].as_str() {
            let base = value["metadata"]["pluginRoot"].as_str().unwrap_or(".").trim_start_matches("./");
            let folder = path.join(base).join(relative.trim_start_matches("./"));
            if folder.is_dir() {
                problems.extend(validate_plugin(&folder));
            } else {
                problems.push(format!(
                    "{}: the plugin {name:?}: its folder {} does not exist",
                    catalog.display(),
                    folder.display()
                ));
            }
        }
    }
    problems
}

/// What is wrong with one plugin's folder.
fn validate_plugin(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let plugin = read("", root, &mut problems);
    // The plugin's parts alone: no project's or user's folders beside them.
    let parts = crate::custom::Locations {
        project: root.join(".cairn-validate-nothing-here"),
        cairn_home: root.join(".cairn-validate-nothing-here"),
        plugins: std::sync::Arc::new(std::sync::RwLock::new(vec![plugin.parts.clone()])),
        ..crate::custom::Locations::default()
    };
    problems.extend(parts.load().warnings);
    problems.extend(crate::custom::output_styles::list(&parts).1);
    let loaded = Loaded { plugins: vec![plugin], warnings: Vec::new() };
    let (_, hook_problems) = crate::hooks::Hooks::new(&loaded.hooks(), root, Vec::new());
    problems.extend(hook_problems.into_iter().map(|p| format!("{}: hooks.{}: {}", p.source, p.event, p.problem)));
    let (_, mcp) = loaded.mcp_servers(&|_| None);
    problems.extend(mcp.into_iter().filter(|w| !w.contains("is not set")));
    problems
}

/// Loads the plugins `enabled` turns on (`true`), from where they were installed.
pub fn load(enabled: &BTreeMap<String, bool>, homes: &store::Homes) -> Loaded {
    let mut loaded = Loaded::default();
    if !enabled.values().any(|on| *on) {
        return loaded;
    }
    let installed = homes.installed();
    for (id, _) in enabled.iter().filter(|(_, on)| **on) {
        let Some(root) = installed.get(id) else {
            loaded.warnings.push(format!(
                "the plugin {id} is enabled but not installed: install it with `cairn plugin install {id}`"
            ));
            continue;
        };
        if !root.is_dir() {
            loaded.warnings.push(format!(
                "the plugin {id} is installed at {}, which is gone: install it again with `cairn plugin install {id}`",
                root.display()
            ));
            continue;
        }
        let plugin = read(id, root, &mut loaded.warnings);
        if let Some(first) = loaded.plugins.iter().find(|p| p.parts.name == plugin.parts.name) {
            loaded.warnings.push(format!(
                "the plugins {} and {id} are both called {}: only {} loads; disable one of them",
                first.id, plugin.parts.name, first.id
            ));
            continue;
        }
        loaded.plugins.push(plugin);
    }
    loaded
}

/// Reads a plugin's folder; what is wrong goes to `warnings`, and the rest still counts.
pub fn read(id: &str, root: &Path, warnings: &mut Vec<String>) -> Plugin {
    let manifest_path = root.join(".claude-plugin/plugin.json");
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => serde_json::from_str::<Value>(&text).unwrap_or_else(|e| {
            warnings.push(format!(
                "{}: not valid JSON ({e}); fix it — the plugin loads meanwhile under its folder's name, with its \
                 usual folders",
                manifest_path.display()
            ));
            Value::Null
        }),
        Err(_) => Value::Null,
    };
    let folder_name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let id_name = id.split('@').next().unwrap_or(id);
    let name = manifest["name"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| if id_name.is_empty() { folder_name } else { id_name.to_owned() });
    let paths = |key: &str, default: &str| -> Vec<PathBuf> {
        let mut out = vec![root.join(default)];
        match &manifest[key] {
            Value::String(one) => out.push(root.join(one)),
            Value::Array(many) => out.extend(many.iter().filter_map(Value::as_str).map(|p| root.join(p))),
            _ => {}
        }
        out.dedup();
        out
    };
    let parts = PluginParts {
        id: id.to_owned(),
        name: name.clone(),
        root: root.to_path_buf(),
        commands: paths("commands", "commands"),
        skills: paths("skills", "skills"),
        agents: paths("agents", "agents"),
        output_styles: paths("outputStyles", "output-styles"),
    };
    let hooks = plugin_hooks(root, &manifest, warnings);
    let mcp_servers = plugin_mcp(root, &manifest, warnings);
    Plugin {
        id: id.to_owned(),
        parts,
        description: manifest["description"].as_str().unwrap_or_default().to_owned(),
        version: manifest["version"].as_str().map(str::to_owned),
        hooks,
        mcp_servers,
    }
}

/// `hooks/hooks.json` (`{"hooks": {event: [groups]}}`), or what the manifest's `hooks`
/// names or holds.
fn plugin_hooks(root: &Path, manifest: &Value, warnings: &mut Vec<String>) -> Vec<(String, HookMatcher)> {
    let mut sources: Vec<(String, Value)> = Vec::new();
    let mut from_file = |path: PathBuf, warnings: &mut Vec<String>| {
        let Ok(text) = std::fs::read_to_string(&path) else { return };
        match serde_json::from_str::<Value>(&text) {
            Ok(value) => sources.push((path.display().to_string(), value)),
            Err(e) => warnings
                .push(format!("{}: not valid JSON ({e}); its hooks are left out until it is fixed", path.display())),
        }
    };
    from_file(root.join("hooks/hooks.json"), warnings);
    match &manifest["hooks"] {
        Value::String(path) if root.join(path) != root.join("hooks/hooks.json") => from_file(root.join(path), warnings),
        Value::Object(_) => {
            sources.push((root.join(".claude-plugin/plugin.json").display().to_string(), manifest.clone()))
        }
        _ => {}
    }
    let root_text = root.display().to_string();
    let mut out = Vec::new();
    for (label, value) in sources {
        let Some(events) = value["hooks"].as_object() else {
            warnings.push(format!("{label}: expected {{\"hooks\": {{\"EventName\": [...]}}}}; its hooks are left out"));
            continue;
        };
        for (event, groups) in events {
            match serde_json::from_value::<Vec<HookMatcher>>(groups.clone()) {
                Ok(groups) => out.extend(groups.into_iter().map(|mut group| {
                    for handler in &mut group.hooks {
                        with_plugin_root(handler, &root_text);
                    }
                    (event.clone(), group)
                })),
                Err(e) => warnings.push(format!("{label}: hooks.{event}: {e}; those hooks are left out")),
            }
        }
    }
    out
}

/// `${CLAUDE_PLUGIN_ROOT}` in a hook is the plugin's folder, and its process gets the
/// variable too: a shell command by `export`, a program run with `args` (no shell) through
/// `env`.
fn with_plugin_root(handler: &mut crate::hooks::HookHandler, root: &str) {
    let fill = |text: &str| text.replace("${CLAUDE_PLUGIN_ROOT}", root);
    match handler.args.take() {
        None => {
            let quoted = root.replace('\'', "'\\''");
            handler.command =
                handler.command.as_deref().map(|c| format!("export CLAUDE_PLUGIN_ROOT='{quoted}'; {}", fill(c)));
        }
        Some(args) => {
            let mut program = vec![format!("CLAUDE_PLUGIN_ROOT={root}")];
            program.extend(handler.command.as_deref().map(fill));
            program.extend(args.iter().map(|a| fill(a)));
            handler.command = Some("env".into());
            handler.args = Some(program);
        }
    }
}

/// `.mcp.json` at the plugin's root (`{"mcpServers": {...}}`), or what the manifest's
/// `mcpServers` names or holds.
fn plugin_mcp(root: &Path, manifest: &Value, warnings: &mut Vec<String>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let from_file = |path: PathBuf, out: &mut BTreeMap<String, Value>, warnings: &mut Vec<String>| {
        let Ok(text) = std::fs::read_to_string(&path) else { return };
        match serde_json::from_str::<Value>(&text) {
            Ok(value) => {
                let servers = value.get("mcpServers").unwrap_or(&value);
                out.extend(servers.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
            }
            Err(e) => warnings.push(format!("{}: not valid JSON ({e}); its MCP servers are left out", path.display())),
        }
    };
    from_file(root.join(".mcp.json"), &mut out, warnings);
    match &manifest["mcpServers"] {
        Value::String(path) => from_file(root.join(path), &mut out, warnings),
        Value::Object(servers) => out.extend(servers.iter().map(|(k, v)| (k.clone(), v.clone()))),
        _ => {}
    }
    out
}
