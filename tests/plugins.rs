//! Plugins through the binary: a marketplace in a local bare git repository, added and
//! installed with `cairn plugin`; each part of the plugin (a command, an agent, a skill, a
//! hook using `${CLAUDE_PLUGIN_ROOT}`, the npm filesystem MCP server) used against the
//! mock; a broken plugin reported while the rest loads; disabled (its parts gone) and
//! uninstalled.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{MockLlm, Project, Scenario, Step, run, tool_results};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A marketplace with two plugins — `tools` (every kind of part) and `broken` (a manifest
/// that is not JSON, and a command) — as a bare git repository; its path.
pub fn marketplace(root: &Path) -> PathBuf {
    let market = root.join("market");
    let tools = market.join("plugins/tools");
    write(
        &market.join(".claude-plugin/marketplace.json"),
        &json!({"name": "team-tools", "owner": {"name": "Team"}, "plugins": [
            {"name": "tools", "source": "./plugins/tools", "description": "Team tools", "version": "1.0.0"},
            {"name": "broken", "source": "./plugins/broken", "version": "0.1.0"},
        ]})
        .to_string(),
    );
    write(
        &tools.join(".claude-plugin/plugin.json"),
        r#"{"name": "tools", "version": "1.0.0", "description": "Team tools"}"#,
    );
    write(
        &tools.join("commands/hello.md"),
        "---\ndescription: Say hello\n---\nSay hello to $ARGUMENTS from TOOLS-COMMAND.",
    );
    write(
        &tools.join("agents/reviewer.md"),
        "---\nname: reviewer\ndescription: Reviews code\n---\nYou are TOOLS-REVIEWER.",
    );
    write(
        &tools.join("skills/greet/SKILL.md"),
        "---\nname: greet\ndescription: Greets people\n---\nGREET-SKILL: wave first.",
    );
    // The same script as a shell command and as a program with arguments.
    let hook = json!({"hooks": {"PreToolUse": [{"matcher": "Read", "hooks": [
        {"type": "command", "command": "${CLAUDE_PLUGIN_ROOT}/hooks/log.sh"},
        {"type": "command", "command": "/bin/sh", "args": ["${CLAUDE_PLUGIN_ROOT}/hooks/log.sh"]},
    ]}]}});
    write(&tools.join("hooks/hooks.json"), &hook.to_string());
    write(&tools.join("hooks/log.sh"), "#!/bin/sh\necho \"$0 ${CLAUDE_PLUGIN_ROOT:-unset}\" >> hook-ran.txt\n");
    let script = tools.join("hooks/log.sh");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let server = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp-servers/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    let mcp = json!({"mcpServers": {"fs": {"command": "node", "args": [server, "${CLAUDE_PLUGIN_ROOT}"]}}});
    write(&tools.join(".mcp.json"), &mcp.to_string());
    write(&market.join("plugins/broken/.claude-plugin/plugin.json"), "{ this is not json");
    write(&market.join("plugins/broken/commands/ok.md"), "BROKEN-OK still loads.");
    // A link back into the plugin: copied once, not forever.
    std::os::unix::fs::symlink(".", tools.join("self")).unwrap();
    git(&market, &["init", "-q"]);
    git(&market, &["add", "-A"]);
    git(&market, &["commit", "-q", "-m", "marketplace"]);
    let bare = root.join("market.git");
    git(root, &["clone", "-q", "--bare", market.to_str().unwrap(), bare.to_str().unwrap()]);
    bare
}

pub fn plugin(project: &Project, args: &[&str]) -> String {
    let mut cmd = project.bare_cairn();
    cmd.arg("plugin").args(args);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "cairn plugin {args:?}: {}{}", out.stdout, out.stderr);
    out.stdout
}

fn init_of(out: &crate::support::Run) -> Value {
    out.lines().into_iter().find(|l| l["subtype"] == "init").unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().unwrap().iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

#[test]
fn a_marketplace_plugin_installs_works_in_every_part_and_goes_away() {
    let project = Project::claude_user();
    project.write("notes.md", "notes\n");
    let bare = marketplace(project.home.path());
    let added = plugin(&project, &["marketplace", "add", &format!("file://{}", bare.display())]);
    assert!(added.contains("Added the marketplace team-tools (2 plugins)"), "{added}");
    plugin(&project, &["install", "tools@team-tools"]);
    plugin(&project, &["install", "broken"]);
    let root = project.home.path().join("plugins/cache/team-tools/tools/1.0.0").canonicalize().unwrap();
    let listed = plugin(&project, &["list"]);
    assert!(listed.contains("tools@team-tools  enabled  1.0.0"), "{listed}");
    assert!(listed.contains("1 commands, 1 skills, 1 agents, 1 hook groups, 1 MCP servers"), "{listed}");
    assert!(listed.contains("plugin.json: not valid JSON"), "the broken one is reported: {listed}");

    let mock = MockLlm::start(Scenario::new(vec![
        Step::tools(&[("Read", json!({"file_path": "notes.md"})), ("Skill", json!({"skill": "tools:greet"}))]),
        Step::tool("Task", json!({"subagent_type": "tools:reviewer", "prompt": "REVIEW-ME", "description": "review"})),
        Step::text("Reviewed.").when("REVIEW-ME"),
        Step::tool("mcp__plugin_tools_fs__list_directory", json!({"path": root})),
        Step::text("All done."),
    ]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "/tools:hello world", "--output-format", "stream-json", "--verbose"]);
    cmd.args(["--allowedTools", "mcp__plugin_tools_fs"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(out.stderr.contains("plugin.json: not valid JSON"), "{}", out.stderr);
    let init = init_of(&out);
    let commands = strings(&init["slash_commands"]);
    assert!(commands.iter().any(|c| c == "tools:hello") && commands.iter().any(|c| c == "broken:ok"), "{commands:?}");
    assert_eq!(init["plugins"][1], json!({"name": "tools", "path": root}));
    let requests = mock.requests();
    let offered = requests[0].body["tools"].to_string();
    assert!(offered.contains("mcp__plugin_tools_fs__list_directory"), "{offered}");
    assert!(requests[0].body.to_string().contains("Say hello to world from TOOLS-COMMAND."));
    let ran = std::fs::read_to_string(project.file("hook-ran.txt")).unwrap();
    let script = root.join("hooks/log.sh").display().to_string();
    let shell = format!("{script} {}", root.display());
    let mut lines: Vec<&str> = ran.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, [shell.as_str(), shell.as_str()], "both forms ran from the plugin's folder, knowing it");
    assert!(!root.join("self").exists(), "the link back into the plugin is not copied");
    let first = tool_results(&requests[1].body);
    assert!(first[1].1.contains("GREET-SKILL: wave first."), "{first:?}");
    let reviewer = requests.iter().find(|r| r.body.to_string().contains("REVIEW-ME")).unwrap();
    assert!(reviewer.body["system"].to_string().contains("You are TOOLS-REVIEWER."));
    let results = tool_results(&requests.last().unwrap().body);
    let listing = results.last().unwrap();
    assert!(listing.1.contains("[DIR] commands") && !listing.2, "{results:?}");

    // Disabled: its parts are gone; the other plugin stays.
    plugin(&project, &["disable", "tools@team-tools"]);
    let mock = MockLlm::start(Scenario::new(vec![Step::text("ok")]));
    let mut cmd = project.cairn(&mock);
    cmd.args(["-p", "hello", "--output-format", "stream-json", "--verbose"]);
    let out = run(cmd);
    let init = init_of(&out);
    let commands = strings(&init["slash_commands"]);
    assert!(!commands.iter().any(|c| c.starts_with("tools:")) && commands.iter().any(|c| c == "broken:ok"));
    assert!(!mock.requests()[0].body["tools"].to_string().contains("mcp__plugin_tools"));

    plugin(&project, &["uninstall", "tools@team-tools"]);
    assert!(!root.exists());
    assert!(!plugin(&project, &["list"]).contains("tools@team-tools"));
}

#[test]
fn validate_names_what_is_wrong_before_a_plugin_is_shared() {
    let project = Project::new();
    marketplace(project.home.path());
    let market = project.home.path().join("market");
    let tools = market.join("plugins/tools");
    let mut cmd = project.bare_cairn();
    cmd.args(["plugin", "validate"]).arg(&tools);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("is valid."), "{}", out.stdout);
    write(&tools.join("agents/nameless.md"), "---\ndescription: no name\n---\nx");
    write(
        &tools.join("hooks/hooks.json"),
        r#"{"hooks": {"PreToolUze": [{"hooks": [{"type": "command", "command": "true"}]}]}}"#,
    );
    let mut cmd = project.bare_cairn();
    cmd.args(["plugin", "validate"]).arg(&market);
    let out = run(cmd);
    assert_eq!(out.code(), 1, "{}", out.stdout);
    for problem in ["nameless.md: an agent needs a `name`", "PreToolUze", "plugin.json: not valid JSON"] {
        assert!(out.stdout.contains(problem), "{problem} not in {}", out.stdout);
    }
}

#[test]
fn a_plugin_claude_code_installed_works_unchanged() {
    let project = Project::claude_user();
    let claude = project.home.path().join(".claude");
    let root = claude.join("plugins/cache/their-market/notes/2.0.0");
    write(&root.join(".claude-plugin/plugin.json"), r#"{"name": "notes", "version": "2.0.0"}"#);
    write(&root.join("commands/jot.md"), "Jot down $ARGUMENTS for NOTES-PLUGIN.");
    // Another project's install of a plugin does not count here.
    let elsewhere = claude.join("plugins/cache/their-market/other/1.0.0");
    write(&elsewhere.join("commands/other.md"), "OTHER-PLUGIN");
    let installed = json!({"version": 2, "plugins": {
        "notes@their-market": [
            {"scope": "user", "installPath": root, "version": "2.0.0", "installedAt": "2026-01-01T00:00:00.000Z"}],
        "other@their-market": [
            {"scope": "project", "projectPath": "/somewhere/else", "installPath": elsewhere, "version": "1.0.0"}],
    }});
    write(&claude.join("plugins/installed_plugins.json"), &installed.to_string());
    let settings = json!({"permissions": {"allow": ["Bash(ls:*)"]},
                          "enabledPlugins": {"notes@their-market": true, "other@their-market": true}});
    write(&claude.join("settings.json"), &settings.to_string());
    let mock = MockLlm::start(Scenario::new(vec![Step::text("Jotted.")]));
    let mut cmd = project.cairn(&mock);
    // A plugin's command answers to its own name too, when nothing else has it.
    cmd.args(["-p", "/jot the idea"]);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(mock.requests()[0].body.to_string().contains("Jot down the idea for NOTES-PLUGIN."));
    assert!(out.stderr.contains("the plugin other@their-market is enabled but not installed"), "{}", out.stderr);
    let listed = plugin(&project, &["list"]);
    assert!(listed.contains("notes@their-market  enabled  2.0.0"), "{listed}");
}
