//! Settings: which file wins, what gathers, and what every problem looks like.

use std::path::Path;

use tempfile::TempDir;

use super::*;

struct Dirs {
    home: TempDir,
    project: TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        Dirs { home: tempfile::tempdir().unwrap(), project: tempfile::tempdir().unwrap() }
    }

    fn write(&self, base: &Path, relative: &str, text: &str) {
        let path = base.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn user_claude(&self, text: &str) {
        self.write(self.home.path(), ".claude/settings.json", text);
    }

    fn user_cairn(&self, text: &str) {
        self.write(self.home.path(), ".cairn/settings.json", text);
    }

    fn project(&self, relative: &str, text: &str) {
        self.write(self.project.path(), relative, text);
    }

    fn locations(&self, cli: Option<&str>) -> Locations {
        Locations {
            cwd: self.project.path().to_path_buf(),
            home: Some(self.home.path().to_path_buf()),
            cairn_home: self.home.path().join(".cairn"),
            claude_dir: Some(self.home.path().join(".claude")),
            cli: cli.map(str::to_owned),
            managed: vec![self.home.path().join("managed.json")],
            levels: None,
        }
    }

    fn load(&self, cli: Option<&str>) -> Settings {
        Settings::load(&self.locations(cli)).unwrap()
    }

    /// Diagnostics with the temp folders taken out, for snapshots.
    fn shown(&self, settings: &Settings) -> String {
        settings
            .diagnostics
            .iter()
            .map(|d| d.to_string().replace(&self.home.path().display().to_string(), "<home>"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn rules(list: &[(PermissionRule, Origin)]) -> Vec<String> {
    list.iter().map(|(r, o)| format!("{r} <- {}", o.label)).collect()
}

#[test]
fn the_most_specific_file_wins_and_cairns_beats_claudes() {
    let dirs = Dirs::new();
    dirs.user_claude(r#"{"model": "user-claude", "env": {"A": "1", "B": "user"}}"#);
    dirs.user_cairn(r#"{"model": "user-cairn"}"#);
    dirs.project(".claude/settings.json", r#"{"model": "project-claude", "env": {"B": "project"}}"#);
    dirs.project(".cairn/settings.json", r#"{"model": "project-cairn"}"#);
    assert_eq!(dirs.load(None).model.as_deref(), Some("project-cairn"));
    dirs.project(".claude/settings.local.json", r#"{"model": "local-claude"}"#);
    assert_eq!(dirs.load(None).model.as_deref(), Some("local-claude"));
    dirs.project(".cairn/settings.local.json", r#"{"model": "local-cairn"}"#);
    let settings = dirs.load(None);
    assert_eq!(settings.model.as_deref(), Some("local-cairn"));
    assert_eq!(settings.env.get("A").map(String::as_str), Some("1"));
    assert_eq!(settings.env.get("B").map(String::as_str), Some("project"), "env merges key by key");
    assert_eq!(dirs.load(Some(r#"{"model": "cli"}"#)).model.as_deref(), Some("cli"));
    dirs.write(dirs.home.path(), "managed.json", r#"{"model": "managed"}"#);
    assert_eq!(dirs.load(Some(r#"{"model": "cli"}"#)).model.as_deref(), Some("managed"));
}

#[test]
fn rule_lists_gather_from_every_file_with_their_origins() {
    let dirs = Dirs::new();
    dirs.user_claude(r#"{"permissions": {"allow": ["Read"], "deny": ["Bash(curl:*)"]}}"#);
    dirs.project(
        ".claude/settings.json",
        r#"{"permissions": {"allow": ["Bash(npm test)"], "additionalDirectories": ["../lib"]}}"#,
    );
    dirs.project(
        ".cairn/settings.local.json",
        r#"{"permissions": {"allow": ["Edit(src/**)"], "ask": ["Bash(git push:*)"]}}"#,
    );
    let settings = dirs.load(Some(r#"{"permissions": {"deny": ["Read(./.env)"]}}"#));
    assert_eq!(
        rules(&settings.allow),
        [
            "Read <- ~/.claude/settings.json",
            "Bash(npm test) <- .claude/settings.json",
            "Edit(src/**) <- .cairn/settings.local.json"
        ]
    );
    assert_eq!(rules(&settings.deny), ["Bash(curl:*) <- ~/.claude/settings.json", "Read(./.env) <- --settings"]);
    assert_eq!(rules(&settings.ask), ["Bash(git push:*) <- .cairn/settings.local.json"]);
    assert_eq!(settings.additional_directories, [dirs.project.path().join("../lib")]);
    // `/` in a user rule starts at ~/.claude; in a project rule, at the project.
    assert_eq!(settings.allow[0].1.dir, dirs.home.path().join(".claude"));
    assert_eq!(settings.allow[1].1.dir, dirs.project.path());
}

#[test]
fn claude_compat_false_stops_reading_claudes_files() {
    let dirs = Dirs::new();
    dirs.user_claude(r#"{"permissions": {"allow": ["Bash"]}, "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x"}]}]}}"#);
    dirs.project(".claude/settings.json", r#"{"model": "from-claude"}"#);
    dirs.project(".cairn/settings.json", r#"{"claudeCompat": false, "model": "from-cairn"}"#);
    let settings = dirs.load(None);
    assert!(!settings.claude_compat);
    assert!(settings.allow.is_empty() && settings.hooks.is_empty());
    assert_eq!(settings.model.as_deref(), Some("from-cairn"));
    assert!(settings.sources.iter().all(|s| !s.claude));
}

#[test]
fn hooks_gather_with_their_sources() {
    let dirs = Dirs::new();
    let hook = |cmd: &str| {
        format!(
            r#"{{"hooks": {{"PreToolUse": [{{"matcher": "Bash", "hooks": [{{"type": "command", "command": "{cmd}", "timeout": 5}}]}}]}}}}"#
        )
    };
    dirs.user_claude(&hook("user.sh"));
    dirs.project(".cairn/settings.json", &hook("project.sh"));
    let settings = dirs.load(None);
    let found: Vec<(String, String)> = settings
        .hooks
        .iter()
        .map(|(event, group, source)| {
            (format!("{event}:{}", group.hooks[0].command.as_deref().unwrap_or("")), source.clone())
        })
        .collect();
    assert_eq!(
        found,
        [
            ("PreToolUse:user.sh".to_owned(), "~/.claude/settings.json".to_owned()),
            ("PreToolUse:project.sh".to_owned(), ".cairn/settings.json".to_owned())
        ]
    );
    assert_eq!(settings.hooks[0].1.hooks[0].timeout, Some(5.0));
}

#[test]
fn problems_are_named_by_file_and_path_and_the_rest_still_counts() {
    let dirs = Dirs::new();
    dirs.project(
        ".cairn/settings.json",
        r#"{
            "permisions": {"allow": ["Read"]},
            "model": 5,
            "env": {"GOOD": "yes"},
            "permissions": {
                "allow": ["Bash(npm test)", 42, "Bash(oops"],
                "deny": ["Read(./.env", "Bash(curl:*)"],
                "defaultMode": "yolo",
                "alow": []
            },
            "hooks": {
                "PreToolUse": [
                    {"matcher": "Bash", "hooks": [{"type": "command", "command": "ok.sh"}]},
                    {"matcher": "Edit", "hooks": [{"type": "command", "command": "bad.sh", "timeout": "soon"}]}
                ],
                "PreTooluse": [],
                "Stop": [{"hooks": [{"type": "command", "command": "stop.sh", "comand": "x"}]}]
            }
        }"#,
    );
    let settings = dirs.load(None);
    insta::assert_snapshot!("settings_problems", dirs.shown(&settings));
    assert_eq!(settings.env.get("GOOD").map(String::as_str), Some("yes"));
    assert_eq!(rules(&settings.allow), ["Bash(npm test) <- .cairn/settings.json"]);
    assert_eq!(rules(&settings.deny), ["Bash(curl:*) <- .cairn/settings.json"]);
    // The broken deny rule still makes its tool ask.
    assert_eq!(rules(&settings.ask), ["Read <- .cairn/settings.json"]);
    assert_eq!(settings.default_mode, None);
    let hook_commands: Vec<&str> =
        settings.hooks.iter().filter_map(|(_, g, _)| g.hooks[0].command.as_deref()).collect();
    assert_eq!(hook_commands, ["ok.sh", "stop.sh"], "only the broken hook entry is skipped");
}

#[test]
fn a_file_that_is_not_json_stops_the_start() {
    let dirs = Dirs::new();
    dirs.project(".claude/settings.json", "{\"permissions\": {\"deny\": [\"Bash(rm:*)\"],}}");
    let error = Settings::load(&dirs.locations(None)).unwrap_err();
    insta::assert_snapshot!("settings_not_json", error.to_string());
    std::fs::remove_file(dirs.project.path().join(".claude/settings.json")).unwrap();
    let error = Settings::load(&dirs.locations(Some("missing.json"))).unwrap_err();
    assert!(error.to_string().starts_with("--settings missing.json: cannot be read"), "{error}");
}

#[test]
fn local_rules_are_saved_without_losing_the_rest_of_the_file() {
    let dirs = Dirs::new();
    dirs.project(".cairn/settings.local.json", r#"{"model": "keep-me", "permissions": {"allow": ["Read"]}}"#);
    add_local_allow_rules(dirs.project.path(), &["Bash(npm test)".into(), "Read".into()]).unwrap();
    add_local_rule(dirs.project.path(), "deny", "Bash(curl:*)").unwrap();
    let text = std::fs::read_to_string(dirs.project.path().join(".cairn/settings.local.json")).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["model"], "keep-me");
    assert_eq!(value["permissions"]["allow"], serde_json::json!(["Read", "Bash(npm test)"]));
    assert_eq!(value["permissions"]["deny"], serde_json::json!(["Bash(curl:*)"]));
    assert!(remove_local_rule(dirs.project.path(), "allow", "Read").unwrap());
    assert!(!remove_local_rule(dirs.project.path(), "allow", "Read").unwrap());
}

#[test]
fn the_schema_describes_the_keys() {
    let schema = schema();
    for key in
        ["permissions", "hooks", "env", "model", "statusLine", "apiKeyHelper", "autoCompactEnabled", "claudeCompat"]
    {
        assert!(schema["properties"].get(key).is_some(), "{key} is missing from the schema");
    }
    assert_eq!(super::schema::closest("permisions", &["permissions", "hooks"]), Some("permissions"));
    assert_eq!(super::schema::closest("zzz", &["permissions", "hooks"]), None);
}
