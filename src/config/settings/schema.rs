//! The settings files' schema (generated from the types by schemars) and the checks against
//! it: each problem named by its JSON path (`permissions.allow[2]`), a misspelt key given
//! the nearest known one, keys Claude Code knows but cairn does not use accepted quietly;
//! what does not fit is marked and swept out so the rest of the file still counts.

use serde_json::{Map, Value};

use super::{Diagnostic, SettingsFile, Severity};

/// Keys Claude Code knows that cairn accepts without using them.
const KNOWN_ELSEWHERE: &[&str] = &[
    "includeCoAuthoredBy",
    "attribution",
    "allowedMcpServers",
    "deniedMcpServers",
    "forceLoginMethod",
    "forceLoginOrgUUID",
    "awsAuthRefresh",
    "awsCredentialExport",
    "companyAnnouncements",
    "availableModels",
    "language",
    "spinnerTipsEnabled",
    "respectGitignore",
    "plansDirectory",
    "agent",
    "allowManagedHooksOnly",
    "allowManagedPermissionRulesOnly",
    "strictKnownMarketplaces",
    "ignorePatterns",
    "theme",
    "verbose",
    "preferredNotifChannel",
    "autoUpdates",
    "autoUpdatesChannel",
    "feedbackSurveyRate",
    "skipWebFetchPreflight",
    "disableAutoMode",
    "fileSuggestion",
];

/// Marks what a schema error points at for removal: one entry of a permission list or one
/// hook group where the error is inside one, else the key it is under.
pub(super) fn mark_bad(object: &mut Map<String, Value>, path: &str) {
    let mut parts = path.split(['.', '[']).map(|p| p.trim_end_matches(']'));
    let Some(key) = parts.next().filter(|k| !k.is_empty()) else { return };
    let sub = parts.next();
    let index = parts.next().and_then(|i| i.parse::<usize>().ok());
    let entry = match (key, sub, index) {
        ("permissions" | "hooks", Some(sub), Some(index)) => {
            object.get_mut(key).and_then(|v| v.get_mut(sub)).and_then(|v| v.get_mut(index))
        }
        ("permissions" | "hooks", Some(sub), None) => object.get_mut(key).and_then(|v| v.get_mut(sub)),
        _ => object.get_mut(key),
    };
    if let Some(entry) = entry {
        *entry = Value::Null;
    }
}

/// Drops what [`mark_bad`] marked.
pub(super) fn sweep(object: &mut Map<String, Value>) {
    object.retain(|_, v| !v.is_null());
    for key in ["permissions", "hooks"] {
        if let Some(Value::Object(inner)) = object.get_mut(key) {
            inner.retain(|_, v| !v.is_null());
            for list in inner.values_mut() {
                if let Value::Array(items) = list {
                    items.retain(|v| !v.is_null());
                }
            }
        }
    }
}

/// The schema every settings file is checked against.
pub fn schema() -> Value {
    crate::tools::input_schema::<SettingsFile>()
}

/// Schema errors and unknown keys of one file's JSON.
pub fn check(value: &Value, label: &str) -> Vec<Diagnostic> {
    static VALIDATOR: std::sync::OnceLock<Option<jsonschema::Validator>> = std::sync::OnceLock::new();
    let mut out = Vec::new();
    if let Some(validator) = VALIDATOR.get_or_init(|| jsonschema::validator_for(&schema()).ok()) {
        for error in validator.iter_errors(value) {
            out.push(Diagnostic {
                severity: Severity::Error,
                file: label.to_owned(),
                path: pointer_to_path(&error.instance_path().to_string()),
                message: error.to_string(),
            });
        }
    }
    out.extend(unknown_keys(value, label));
    out
}

/// `/permissions/allow/2` → `permissions.allow[2]`.
fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part.replace("~1", "/").replace("~0", "~"));
        }
    }
    out
}

fn unknown_keys(value: &Value, label: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let schema = schema();
    let known_top: Vec<String> =
        schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    let permissions_keys = [
        "allow",
        "ask",
        "deny",
        "additionalDirectories",
        "defaultMode",
        "disableBypassPermissionsMode",
        "disableAutoMode",
    ];
    let handler_keys = [
        "type",
        "command",
        "args",
        "timeout",
        "if",
        "statusMessage",
        "async",
        "asyncRewake",
        "shell",
        "once",
        "url",
        "headers",
        "allowedEnvVars",
        "prompt",
        "model",
        "server",
        "tool",
        "input",
        "continueOnBlock",
    ];
    let mut unknown = |path: String, key: &str, known: &[&str]| {
        let suggestion = closest(key, known).map(|k| format!(" (did you mean `{k}`?)")).unwrap_or_default();
        out.push(Diagnostic {
            severity: Severity::Warning,
            file: label.to_owned(),
            path,
            message: format!("unknown key `{key}`{suggestion}; it is ignored"),
        });
    };
    let Some(object) = value.as_object() else { return out };
    let top: Vec<&str> = known_top.iter().map(String::as_str).chain(KNOWN_ELSEWHERE.iter().copied()).collect();
    for key in object.keys() {
        if !top.contains(&key.as_str()) {
            unknown(key.clone(), key, &top);
        }
    }
    if let Some(p) = object.get("permissions").and_then(Value::as_object) {
        for key in p.keys().filter(|k| !permissions_keys.contains(&k.as_str())) {
            unknown(format!("permissions.{key}"), key, &permissions_keys);
        }
    }
    if let Some(hooks) = object.get("hooks").and_then(Value::as_object) {
        for (event, groups) in hooks {
            if crate::hooks::HookEvent::parse(event).is_none() {
                unknown(format!("hooks.{event}"), event, &crate::hooks::HookEvent::names());
            }
            for (i, group) in groups.as_array().into_iter().flatten().enumerate() {
                for (j, handler) in group["hooks"].as_array().into_iter().flatten().enumerate() {
                    for key in handler.as_object().into_iter().flat_map(|h| h.keys()) {
                        if !handler_keys.contains(&key.as_str()) {
                            unknown(format!("hooks.{event}[{i}].hooks[{j}].{key}"), key, &handler_keys);
                        }
                    }
                }
            }
        }
    }
    out
}

/// The known name nearest to a misspelt one, if it is near enough.
pub(super) fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    let word = word.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (crate::tools::paths::edit_distance(&word, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}
