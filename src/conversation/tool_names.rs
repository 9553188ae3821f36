//! Tool names: cairn's name for each tool, the other names Claude Code and its users have
//! called it (Task became Agent, KillShell became TaskStop, SlashCommand became Skill), and
//! its family — the name permission rules read it by (an `Edit` rule covers Write and
//! MultiEdit, a `Read` rule covers Grep, Glob and LS). The one table that rules, hooks,
//! agent files, the tool registry and the front ends consult.

pub struct ToolName {
    /// cairn's name: the one the model is offered.
    pub name: &'static str,
    /// Other names for the same tool, older or newer.
    pub aliases: &'static [&'static str],
    /// The name rules read it by.
    pub family: &'static str,
    /// Whether cairn has the tool (the others are Claude Code's, named in rules and agent
    /// files cairn reads).
    pub builtin: bool,
}

const fn tool(name: &'static str, aliases: &'static [&'static str], family: &'static str) -> ToolName {
    ToolName { name, aliases, family, builtin: true }
}

const fn foreign(name: &'static str, family: &'static str) -> ToolName {
    ToolName { name, aliases: &[], family, builtin: false }
}

const TABLE: &[ToolName] = &[
    tool("Bash", &[], "Bash"),
    tool("BashOutput", &["TaskOutput"], "BashOutput"),
    tool("KillShell", &["TaskStop", "KillBash"], "KillShell"),
    tool("Read", &[], "Read"),
    tool("Grep", &[], "Read"),
    tool("Glob", &[], "Read"),
    tool("LS", &[], "Read"),
    tool("Edit", &[], "Edit"),
    tool("MultiEdit", &[], "Edit"),
    tool("Write", &[], "Edit"),
    tool("WebFetch", &[], "WebFetch"),
    tool("TodoWrite", &[], "TodoWrite"),
    tool("Skill", &["SlashCommand"], "Skill"),
    tool("Task", &["Agent"], "Agent"),
    tool("AskUserQuestion", &[], "AskUserQuestion"),
    tool("ExitPlanMode", &[], "ExitPlanMode"),
    foreign("NotebookEdit", "Edit"),
    foreign("NotebookRead", "Read"),
];

/// The names of cairn's own tools.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    TABLE.iter().filter(|t| t.builtin).map(|t| t.name)
}

/// The entry for a name or an alias.
pub fn lookup(name: &str) -> Option<&'static ToolName> {
    TABLE.iter().find(|t| t.name == name || t.aliases.contains(&name))
}

/// cairn's name for a tool, by any of its names; a name the table does not know (an MCP
/// tool's) is its own.
pub fn canonical(name: &str) -> &str {
    lookup(name).map_or(name, |t| t.name)
}

/// The name rules read a tool by; a name the table does not know is its own family.
pub fn family(name: &str) -> &str {
    lookup(name).map_or(name, |t| t.family)
}

/// cairn's name for a tool it has; `None` for one it lacks.
pub fn builtin(name: &str) -> Option<&'static str> {
    lookup(name).filter(|t| t.builtin).map(|t| t.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_alias_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for entry in TABLE {
            for name in std::iter::once(&entry.name).chain(entry.aliases) {
                assert!(seen.insert(*name), "{name} is listed twice");
            }
        }
    }

    #[test]
    fn old_and_new_names_are_one_tool() {
        assert_eq!(canonical("Agent"), "Task");
        assert_eq!(canonical("TaskStop"), "KillShell");
        assert_eq!(canonical("mcp__github__search"), "mcp__github__search");
        assert_eq!(family("Write"), "Edit");
        assert_eq!(family("Task"), "Agent");
        assert_eq!(family("LS"), "Read");
        assert_eq!(builtin("SlashCommand"), Some("Skill"));
        assert_eq!(builtin("NotebookEdit"), None);
        assert_eq!(builtin("WebSearch"), None);
    }
}
