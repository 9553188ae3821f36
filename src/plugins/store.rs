//! Where plugins and marketplaces live, in Claude Code's files: `known_marketplaces.json`
//! (each marketplace's source and folder), `marketplaces/<name>/` (clones of git ones),
//! `cache/<marketplace>/<plugin>/<version>/` (installed copies) and
//! `installed_plugins.json`, all under a `plugins/` folder — cairn's own under
//! `$CAIRN_HOME`, and Claude Code's under `~/.claude`, read too. Installing and
//! enabling write cairn's; `enabledPlugins` goes into a settings file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// The `plugins/` folders: cairn's (written) and Claude Code's (read).
#[derive(Clone, Debug, Default)]
pub struct Homes {
    pub cairn: PathBuf,
    pub claude: Option<PathBuf>,
    /// The project: an install Claude Code made for another project (`scope: "project"`
    /// with its `projectPath`) does not count here.
    pub project: Option<PathBuf>,
}

/// A marketplace as `known_marketplaces.json` records it.
#[derive(Clone, Debug)]
pub struct Marketplace {
    pub name: String,
    /// `{"source": "directory", "path"}` or `{"source": "git", "url"}`.
    pub source: Value,
    /// The folder holding `.claude-plugin/marketplace.json`.
    pub location: PathBuf,
}

fn read_json(path: &Path) -> Value {
    std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null)
}

fn write_json(path: &Path, value: &Value) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    std::fs::write(path, text).map_err(|e| format!("could not write {}: {e}", path.display()))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Homes {
    /// The `plugins/` folders of cairn's home and Claude Code's (`None`: not read), for a
    /// session in `project`.
    pub fn of(cairn_home: &Path, claude_dir: Option<&Path>, project: &Path) -> Homes {
        Homes {
            cairn: cairn_home.join("plugins"),
            claude: claude_dir.map(|c| c.join("plugins")),
            project: Some(project.to_path_buf()),
        }
    }

    fn dirs(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.cairn).chain(self.claude.iter())
    }

    /// Every installed plugin's folder by id, cairn's over Claude Code's.
    pub fn installed(&self) -> BTreeMap<String, PathBuf> {
        let mut out = BTreeMap::new();
        for dir in self.dirs() {
            let file = read_json(&dir.join("installed_plugins.json"));
            for (id, entries) in file["plugins"].as_object().into_iter().flatten() {
                // Version 2 keeps a list per plugin (one per scope); version 1 one entry.
                // A project install counts in its folder and the folders below it.
                let here = |e: &&Value| {
                    e["projectPath"]
                        .as_str()
                        .is_none_or(|p| self.project.as_deref().is_none_or(|mine| mine.starts_with(p)))
                };
                let entry = match entries.as_array() {
                    Some(list) => list.iter().find(here),
                    None => Some(entries),
                };
                let path = entry.and_then(|e| e["installPath"].as_str());
                if let Some(path) = path {
                    out.entry(id.clone()).or_insert_with(|| PathBuf::from(path));
                }
            }
        }
        out
    }

    /// Every known marketplace, cairn's over Claude Code's.
    pub fn marketplaces(&self) -> Vec<Marketplace> {
        let mut out: Vec<Marketplace> = Vec::new();
        for dir in self.dirs() {
            let file = read_json(&dir.join("known_marketplaces.json"));
            for (name, entry) in file.as_object().into_iter().flatten() {
                let Some(location) = entry["installLocation"].as_str() else { continue };
                if out.iter().all(|m| &m.name != name) {
                    out.push(Marketplace {
                        name: name.clone(),
                        source: entry["source"].clone(),
                        location: PathBuf::from(location),
                    });
                }
            }
        }
        out
    }

    fn marketplace(&self, name: &str) -> Result<Marketplace, String> {
        self.marketplaces().into_iter().find(|m| m.name == name).ok_or_else(|| {
            format!("no marketplace named {name}: add it with `cairn plugin marketplace add <folder or git URL>`")
        })
    }

    /// Adds a marketplace from a folder (read where it is) or a git URL (cloned); its name.
    pub fn add_marketplace(&self, source: &str) -> Result<String, String> {
        let folder = Path::new(source);
        let (location, source_value) = if folder.is_dir() {
            let location = folder.canonicalize().map_err(|e| format!("{source}: {e}"))?;
            (location.clone(), json!({"source": "directory", "path": location}))
        } else {
            let url = if source.contains("://") || source.ends_with(".git") || source.starts_with("git@") {
                source.to_owned()
            } else if source.split('/').count() == 2 {
                format!("https://github.com/{source}.git")
            } else {
                return Err(format!("{source} is neither a folder nor a git URL (or GitHub owner/repo)"));
            };
            let staging = self.cairn.join("marketplaces").join(format!(".adding-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&staging);
            git_clone(&url, &staging)?;
            (staging, json!({"source": "git", "url": url}))
        };
        let catalog = read_catalog(&location)?;
        let name = catalog["name"].as_str().filter(|n| valid_name(n)).map(str::to_owned).ok_or_else(|| {
            format!("{}: needs a \"name\" (letters, digits, - and _)", location.join(MARKETPLACE_FILE).display())
        })?;
        if let Some(known) = self.marketplaces().into_iter().find(|m| m.name == name)
            && known.source != source_value
        {
            if source_value["source"] == "git" {
                let _ = std::fs::remove_dir_all(&location);
            }
            let from = ["url", "path", "repo"].iter().find_map(|k| known.source.get(*k).and_then(Value::as_str));
            let ours = read_json(&self.cairn.join("known_marketplaces.json")).get(&name).is_some();
            let remedy = if ours {
                format!("remove it first with `cairn plugin marketplace remove {name}`")
            } else {
                "Claude Code knows it; remove it there, or rename this one".to_owned()
            };
            return Err(format!(
                "a marketplace named {name} is already known (from {}): {remedy}",
                from.unwrap_or("elsewhere")
            ));
        }
        let location = if source_value["source"] == "git" {
            let target = self.cairn.join("marketplaces").join(&name);
            let _ = std::fs::remove_dir_all(&target);
            std::fs::rename(&location, &target).map_err(|e| format!("could not keep the clone: {e}"))?;
            target
        } else {
            location
        };
        let path = self.cairn.join("known_marketplaces.json");
        let mut known = read_json(&path);
        if !known.is_object() {
            known = json!({});
        }
        known[&name] = json!({"source": source_value, "installLocation": location, "lastUpdated": now()});
        write_json(&path, &known)?;
        Ok(name)
    }

    /// Marketplaces the settings declare (`extraKnownMarketplaces`) and plugins they enable
    /// that are not here yet are added and installed; what was done, or went wrong.
    pub fn provide(&self, declared: &BTreeMap<String, Value>, enabled: &BTreeMap<String, bool>) -> Vec<String> {
        let mut said = Vec::new();
        if declared.is_empty() {
            return said;
        }
        for (name, entry) in declared {
            if self.marketplaces().iter().any(|m| &m.name == name) {
                continue;
            }
            let source = &entry["source"];
            let from = match source["source"].as_str() {
                Some("directory") => source["path"].as_str().map(str::to_owned),
                Some("git" | "url") => source["url"].as_str().map(str::to_owned),
                Some("github") => source["repo"].as_str().map(str::to_owned),
                _ => None,
            };
            match from.map(|from| self.add_marketplace(&from)) {
                Some(Ok(added)) => said.push(format!("added the marketplace {added} the settings declare")),
                Some(Err(e)) => {
                    said.push(format!("the marketplace {name} the settings declare could not be added: {e}"))
                }
                None => said.push(format!("the marketplace {name} the settings declare has no source cairn can read")),
            }
        }
        let installed = self.installed();
        for id in enabled.iter().filter(|(id, on)| **on && !installed.contains_key(*id)).map(|(id, _)| id) {
            let declared_here = id.split_once('@').is_some_and(|(_, market)| declared.contains_key(market));
            if !declared_here {
                continue;
            }
            match self.install(id) {
                Ok((id, _)) => said.push(format!("installed the plugin {id} the settings enable")),
                Err(e) => said.push(format!("the plugin {id} the settings enable could not be installed: {e}")),
            }
        }
        said
    }

    /// Pulls a git marketplace again (a folder is read where it is, always current).
    pub fn update_marketplace(&self, name: &str) -> Result<String, String> {
        let market = self.marketplace(name)?;
        if market.source["source"] != "git" {
            return Ok(format!("{name} is a folder, read as it is: nothing to update"));
        }
        let out = Command::new("git")
            .arg("-C")
            .arg(&market.location)
            .args(["pull", "--ff-only", "--quiet"])
            .output()
            .map_err(|e| format!("could not run git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git pull in {}: {}",
                market.location.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(format!("Updated the marketplace {name}."))
    }

    /// Forgets a marketplace (and deletes cairn's clone of it); its installed plugins stay.
    pub fn remove_marketplace(&self, name: &str) -> Result<String, String> {
        let path = self.cairn.join("known_marketplaces.json");
        let mut known = read_json(&path);
        let removed = known.as_object_mut().and_then(|k| k.shift_remove(name));
        let Some(entry) = removed else {
            return Err(format!("cairn has no marketplace named {name} (`cairn plugin marketplace list`)"));
        };
        write_json(&path, &known)?;
        let clone = self.cairn.join("marketplaces").join(name);
        if entry["installLocation"].as_str().map(Path::new) == Some(clone.as_path()) {
            let _ = std::fs::remove_dir_all(&clone);
        }
        Ok(format!("Removed the marketplace {name}; plugins installed from it stay until uninstalled."))
    }

    /// The plugins a marketplace offers: (name, description).
    pub fn offered(&self, name: &str) -> Result<Vec<(String, String)>, String> {
        let catalog = read_catalog(&self.marketplace(name)?.location)?;
        Ok(catalog["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["name"].as_str()?.to_owned(), p["description"].as_str().unwrap_or("").to_owned())))
            .collect())
    }

    /// Copies `name@marketplace` into the cache and records it; its id and folder.
    pub fn install(&self, id: &str) -> Result<(String, PathBuf), String> {
        let (name, market) = self.resolve(id)?;
        checked("the plugin name", &name)?;
        let catalog = read_catalog(&market.location)?;
        let entry = catalog["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name.as_str())
            .cloned()
            .ok_or_else(|| format!("the marketplace {} offers no plugin named {name}", market.name))?;
        let staging = self.cairn.join("cache").join(format!(".installing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        let source = plugin_source(&entry, &catalog, &market.location, &staging)?;
        let manifest_version = read_json(&source.join(".claude-plugin/plugin.json"))["version"].clone();
        let version = entry["version"]
            .as_str()
            .or(manifest_version.as_str())
            .filter(|v| !v.is_empty())
            .unwrap_or("unknown")
            .to_owned();
        checked("the version", &version)?;
        let target =
            self.cairn.join("cache").join(checked("the marketplace name", &market.name)?).join(&name).join(&version);
        let _ = std::fs::remove_dir_all(&target);
        copy_dir(&source, &target).map_err(|e| format!("could not copy the plugin to {}: {e}", target.display()))?;
        let _ = std::fs::remove_dir_all(&staging);
        let id = format!("{name}@{}", market.name);
        let path = self.cairn.join("installed_plugins.json");
        let mut installed = read_json(&path);
        if !installed.is_object() {
            installed = json!({"version": 2, "plugins": {}});
        }
        installed["plugins"][&id] = json!([{
            "scope": "user", "installPath": target, "version": version, "installedAt": now(), "lastUpdated": now()
        }]);
        write_json(&path, &installed)?;
        Ok((id, target))
    }

    /// Removes an installed plugin (cairn's record and copy).
    pub fn uninstall(&self, id: &str) -> Result<(), String> {
        let path = self.cairn.join("installed_plugins.json");
        let mut installed = read_json(&path);
        let removed = installed.get_mut("plugins").and_then(Value::as_object_mut).and_then(|p| p.shift_remove(id));
        let Some(entry) = removed else {
            return Err(format!("cairn has not installed {id} (`cairn plugin list`)"));
        };
        write_json(&path, &installed)?;
        // Only a copy in cairn's own cache is deleted (a path with `..` is not one).
        let cache = self.cairn.join("cache");
        let dir = entry[0]["installPath"].as_str().or(entry["installPath"].as_str()).map(PathBuf::from);
        // `cache/<marketplace>/<plugin>/<version>`, never more of the cache.
        let one_plugin = |d: &PathBuf| {
            d.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::RootDir))
                && d.strip_prefix(&cache).is_ok_and(|rest| rest.components().count() == 3)
        };
        if let Some(dir) = dir.filter(one_plugin) {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }

    /// `name@marketplace`, or a name one known marketplace alone offers.
    fn resolve(&self, id: &str) -> Result<(String, Marketplace), String> {
        if let Some((name, market)) = id.split_once('@') {
            return Ok((name.to_owned(), self.marketplace(market)?));
        }
        let offering: Vec<Marketplace> = self
            .marketplaces()
            .into_iter()
            .filter(|m| self.offered(&m.name).is_ok_and(|o| o.iter().any(|(n, _)| n == id)))
            .collect();
        match offering.as_slice() {
            [one] => Ok((id.to_owned(), one.clone())),
            [] => Err(format!("no known marketplace offers a plugin named {id}")),
            many => {
                let names: Vec<String> = many.iter().map(|m| format!("{id}@{}", m.name)).collect();
                Err(format!("several marketplaces offer {id}: say which ({})", names.join(", ")))
            }
        }
    }
}

/// Sets `enabledPlugins[id]` in a settings file (`None`: removes it).
pub fn set_enabled(settings_file: &Path, id: &str, on: Option<bool>) -> Result<(), String> {
    let mut settings = read_json(settings_file);
    if !settings.is_object() {
        if settings_file.exists() {
            return Err(format!("{} is not a JSON object; fix it first", settings_file.display()));
        }
        settings = json!({});
    }
    if settings.get("enabledPlugins").is_some_and(|p| !p.is_object()) {
        return Err(format!("{}: \"enabledPlugins\" is not an object; fix it first", settings_file.display()));
    }
    match on {
        Some(on) => settings["enabledPlugins"][id] = json!(on),
        None => {
            if let Some(plugins) = settings.get_mut("enabledPlugins").and_then(Value::as_object_mut) {
                plugins.shift_remove(id);
            }
        }
    }
    write_json(settings_file, &settings)
}

const MARKETPLACE_FILE: &str = ".claude-plugin/marketplace.json";

fn read_catalog(location: &Path) -> Result<Value, String> {
    let path = location.join(MARKETPLACE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not valid JSON: {e}", path.display()))
}

/// A name that can be one folder of a path: letters, digits, `-`, `_`, `.`, `+`, and not
/// `.` or `..` (a marketplace's or plugin's name, a version).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
}

/// `what` may name a folder, or why not.
fn checked<'a>(what: &str, name: &'a str) -> Result<&'a str, String> {
    if valid_name(name) {
        Ok(name)
    } else {
        Err(format!("{what} {name:?} cannot name a folder: use letters, digits, -, _, . and +"))
    }
}

/// Where a marketplace entry's plugin is: a folder in the marketplace (`"./plugins/x"`,
/// under `metadata.pluginRoot`), or a git repository cloned into `staging`.
fn plugin_source(entry: &Value, catalog: &Value, market: &Path, staging: &Path) -> Result<PathBuf, String> {
    let in_market = |relative: &str| {
        let root = catalog["metadata"]["pluginRoot"].as_str().unwrap_or(".");
        let path = market.join(root).join(relative);
        match path.canonicalize() {
            Ok(real) if real.starts_with(market.canonicalize().unwrap_or_default()) && real.is_dir() => Ok(real),
            Ok(_) => Err(format!("the plugin's folder {} is not in the marketplace", path.display())),
            Err(_) => Err(format!("the plugin's folder {} does not exist", path.display())),
        }
    };
    match &entry["source"] {
        Value::String(relative) => in_market(relative),
        Value::Object(source) => {
            let url = match source.get("source").and_then(Value::as_str) {
                Some("github") => {
                    source.get("repo").and_then(Value::as_str).map(|r| format!("https://github.com/{r}.git"))
                }
                Some("git" | "url") => source.get("url").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            };
            let url = url.ok_or("the plugin's \"source\" is not a folder, a git URL or a GitHub repo")?;
            git_clone(&url, staging)?;
            Ok(staging.to_path_buf())
        }
        _ => in_market(entry["name"].as_str().unwrap_or_default()),
    }
}

fn git_clone(url: &str, into: &Path) -> Result<(), String> {
    if let Some(dir) = into.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    let out = Command::new("git")
        .args(["clone", "--quiet", "--depth", "1", url])
        .arg(into)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("could not run git: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("git clone {url}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Copies a plugin's folder (without `.git`). A symlink to something inside it is copied
/// as what it points to; one that leads outside is left out, so an installed plugin holds
/// only its own files.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    let root = from.canonicalize()?;
    copy_within(&root, &root, to, &mut vec![root.clone()])
}

/// Each real folder is copied once (a link back into the plugin does not loop).
fn copy_within(root: &Path, from: &Path, to: &Path, visited: &mut Vec<PathBuf>) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let Ok(real) = entry.path().canonicalize() else { continue };
        if !real.starts_with(root) {
            continue;
        }
        if real.is_dir() {
            if visited.contains(&real) {
                continue;
            }
            visited.push(real.clone());
            copy_within(root, &real, &to.join(&name), visited)?;
        } else {
            std::fs::copy(&real, to.join(&name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_never_leave_their_folder() {
        for good in ["tools", "team-tools", "1.0.0", "2.1.0-beta+3", "my_plugin"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", ".", "..", "../x", "/tmp/victim", "a/b", "a\\b", "x y"] {
            assert!(checked("the version", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn enabling_keeps_the_settings_file_as_it_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        std::fs::write(&file, r#"{"permissions": {"allow": ["Bash(ls)"]}, "env": {"B": "1", "A": "2"}}"#).unwrap();
        set_enabled(&file, "tools@mk", Some(true)).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let (b, a, permissions) =
            (text.find("\"B\"").unwrap(), text.find("\"A\"").unwrap(), text.find("permissions").unwrap());
        assert!(permissions < b && b < a && text.contains("\"tools@mk\": true"), "{text}");
        set_enabled(&file, "other@mk", None).unwrap();
        assert!(!std::fs::read_to_string(&file).unwrap().contains("null"), "nothing is added by a removal");
        std::fs::write(&file, r#"{"zeta": 1}"#).unwrap();
        set_enabled(&file, "tools@mk", None).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), "{\n  \"zeta\": 1\n}");
        std::fs::write(&file, r#"{"enabledPlugins": []}"#).unwrap();
        assert!(set_enabled(&file, "tools@mk", Some(false)).unwrap_err().contains("not an object"));
    }

    #[test]
    fn two_plugins_of_one_name_load_once_and_are_reported() {
        let root = tempfile::tempdir().unwrap();
        let mut installed = serde_json::Map::new();
        for market in ["a", "b"] {
            let dir = root.path().join(market);
            std::fs::create_dir_all(dir.join(".claude-plugin")).unwrap();
            std::fs::write(dir.join(".claude-plugin/plugin.json"), r#"{"name": "tools"}"#).unwrap();
            installed.insert(format!("tools@{market}"), json!([{"installPath": dir}]));
        }
        let homes = Homes { cairn: root.path().join("home"), claude: None, project: None };
        write_json(&homes.cairn.join("installed_plugins.json"), &json!({"version": 2, "plugins": installed})).unwrap();
        let enabled = [("tools@a".to_owned(), true), ("tools@b".to_owned(), true)].into_iter().collect();
        let loaded = crate::plugins::load(&enabled, &homes);
        assert_eq!(loaded.plugins.len(), 1);
        assert!(loaded.warnings[0].contains("both called tools"), "{:?}", loaded.warnings);
    }

    #[test]
    fn a_marketplace_cannot_plant_a_version_that_escapes_the_cache() {
        let root = tempfile::tempdir().unwrap();
        let market = root.path().join("market");
        std::fs::create_dir_all(market.join(".claude-plugin")).unwrap();
        std::fs::create_dir_all(market.join("plugins/good/commands")).unwrap();
        std::fs::write(market.join("plugins/good/commands/hi.md"), "hi").unwrap();
        let victim = root.path().join("victim");
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(victim.join("keep.txt"), "precious").unwrap();
        let catalog =
            json!({"name": "evil", "plugins": [{"name": "good", "source": "./plugins/good", "version": victim}]});
        std::fs::write(market.join(MARKETPLACE_FILE), catalog.to_string()).unwrap();
        let homes = Homes { cairn: root.path().join("home/plugins"), claude: None, project: None };
        homes.add_marketplace(market.to_str().unwrap()).unwrap();
        let refused = homes.install("good@evil").unwrap_err();
        assert!(refused.contains("cannot name a folder"), "{refused}");
        assert_eq!(std::fs::read_to_string(victim.join("keep.txt")).unwrap(), "precious");
    }
}
