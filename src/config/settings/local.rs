//! Rules and choices saved to the project's own `.cairn/settings.local.json` ("don't ask
//! again", `/permissions add|remove`, `/output-style`): the file is read, the list or key
//! changed, and the whole written back atomically, everything else in it kept.

use std::path::Path;

use serde_json::{Map, Value};

/// Saves allow rules to `.cairn/settings.local.json` (creating it), keeping everything else
/// in the file and skipping rules it already has.
pub fn add_local_allow_rules(project: &Path, rules: &[String]) -> Result<(), String> {
    edit_local(project, |allow| {
        for rule in rules {
            if !allow.iter().any(|r| r.as_str() == Some(rule)) {
                allow.push(Value::String(rule.clone()));
            }
        }
    })
}

/// Removes an allow, ask or deny rule from `.cairn/settings.local.json`; whether it was there.
pub fn remove_local_rule(project: &Path, list: &str, rule: &str) -> Result<bool, String> {
    let mut removed = false;
    edit_local_list(project, list, |items| {
        let before = items.len();
        items.retain(|r| r.as_str() != Some(rule));
        removed = items.len() != before;
    })?;
    Ok(removed)
}

/// Adds a rule to a list of `.cairn/settings.local.json`.
pub fn add_local_rule(project: &Path, list: &str, rule: &str) -> Result<(), String> {
    edit_local_list(project, list, |items| {
        if !items.iter().any(|r| r.as_str() == Some(rule)) {
            items.push(Value::String(rule.to_owned()));
        }
    })
}

fn edit_local(project: &Path, change: impl FnOnce(&mut Vec<Value>)) -> Result<(), String> {
    edit_local_list(project, "allow", change)
}

fn edit_local_list(project: &Path, list: &str, change: impl FnOnce(&mut Vec<Value>)) -> Result<(), String> {
    edit_local_file(project, |object, path| {
        let permissions = object.entry("permissions").or_insert_with(|| Value::Object(Map::new()));
        let permissions =
            permissions.as_object_mut().ok_or_else(|| format!("{}: `permissions` is not an object", path.display()))?;
        let items = permissions.entry(list).or_insert_with(|| Value::Array(Vec::new()));
        let items =
            items.as_array_mut().ok_or_else(|| format!("{}: `permissions.{list}` is not a list", path.display()))?;
        change(items);
        Ok(())
    })
}

/// Sets a top-level key of `.cairn/settings.local.json` (`outputStyle`, for one).
pub fn set_local_value(project: &Path, key: &str, value: Value) -> Result<(), String> {
    edit_local_file(project, |object, _| {
        object.insert(key.to_owned(), value);
        Ok(())
    })
}

fn edit_local_file(
    project: &Path,
    change: impl FnOnce(&mut Map<String, Value>, &Path) -> Result<(), String>,
) -> Result<(), String> {
    let path = project.join(".cairn").join("settings.local.json");
    let mut root: Value = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?,
        Err(_) => Value::Object(Map::new()),
    };
    let object = root.as_object_mut().ok_or_else(|| format!("{} does not hold a JSON object", path.display()))?;
    change(object, &path)?;
    let dir = path.parent().ok_or("no folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(&root).map_err(|e| e.to_string())? + "\n";
    let temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(temp.path(), text).map_err(|e| format!("{}: {e}", path.display()))?;
    temp.persist(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}
