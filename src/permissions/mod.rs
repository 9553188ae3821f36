//! The permission gate: may this tool call run, must it be refused, or must the user say?
//!
//! Rules use Claude Code's syntax (`Tool`, `Tool(specifier)`, Bash prefixes as
//! `Bash(npm run test:*)` or `Bash(npm run test *)`), checked deny first, then allow, then
//! the mode. This first form knows Bash specifiers only; a specifier on another tool never
//! widens what is allowed (an allow rule with one matches nothing, a deny rule with one
//! denies the tool outright). A Bash allow rule never matches a command with shell
//! operators (`;`, `&&`, `|`, `$(`, redirections…), so `Bash(git status:*)` cannot be
//! stretched to `git status; rm -rf ~`. The full engine (paths, compound commands, settings
//! files) replaces this in issue [5/8].

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tools::{Approval, ToolKind};

/// The tools `acceptEdits` mode lets through without asking.
const FILE_EDIT_TOOLS: &[&str] = &["Edit", "MultiEdit", "Write", "NotebookEdit"];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PermissionMode {
    #[default]
    Default,
    AcceptEdits,
    Plan,
    BypassPermissions,
}

impl PermissionMode {
    pub fn parse(text: &str) -> Option<PermissionMode> {
        match text {
            "default" => Some(PermissionMode::Default),
            "acceptEdits" => Some(PermissionMode::AcceptEdits),
            "plan" => Some(PermissionMode::Plan),
            "bypassPermissions" => Some(PermissionMode::BypassPermissions),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PermissionMode::Default => "default",
            PermissionMode::AcceptEdits => "acceptEdits",
            PermissionMode::Plan => "plan",
            PermissionMode::BypassPermissions => "bypassPermissions",
        }
    }
}

/// `Tool` or `Tool(specifier)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionRule {
    pub tool: String,
    pub specifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid permission rule {rule:?}: {problem}")]
pub struct RuleError {
    pub rule: String,
    pub problem: &'static str,
}

impl PermissionRule {
    pub fn parse(text: &str) -> Result<PermissionRule, RuleError> {
        let text = text.trim();
        let fail = |problem| RuleError { rule: text.to_owned(), problem };
        let (tool, specifier) = match text.split_once('(') {
            None => (text, None),
            Some((tool, rest)) => {
                let inner = rest.strip_suffix(')').ok_or_else(|| fail("missing the closing ')'"))?;
                (tool, Some(inner.trim().to_owned()))
            }
        };
        if tool.is_empty() || !tool.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(fail("a rule starts with a tool name, like Bash or Read"));
        }
        let specifier = specifier.filter(|s| !s.is_empty() && s != "*");
        Ok(PermissionRule { tool: tool.to_owned(), specifier })
    }

    /// Whether the rule covers this call; `for_allow` picks the safe reading of specifiers
    /// this engine does not understand.
    fn matches(&self, tool: &str, input: &Value, for_allow: bool) -> bool {
        if self.tool != tool {
            return false;
        }
        let Some(spec) = &self.specifier else { return true };
        if tool != "Bash" {
            return !for_allow;
        }
        let command = input.get("command").and_then(Value::as_str).unwrap_or("").trim();
        let prefix = spec.strip_suffix(":*").or_else(|| spec.strip_suffix(" *"));
        let matched = match prefix {
            Some(prefix) => {
                command == prefix
                    || command.strip_prefix(prefix).is_some_and(|rest| rest.starts_with(char::is_whitespace))
            }
            None => command == spec,
        };
        if for_allow {
            matched && !has_shell_operators(command)
        } else {
            matched || mentions(command, prefix.unwrap_or(spec))
        }
    }

    /// Splits a `--allowedTools` value into rules: commas and spaces separate rules, except
    /// inside parentheses.
    pub fn parse_list(values: &[String]) -> Result<Vec<PermissionRule>, RuleError> {
        let mut rules = Vec::new();
        for value in values {
            let mut depth = 0usize;
            let mut current = String::new();
            for c in value.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if depth == 0 && (c == ',' || c.is_whitespace()) {
                    if !current.trim().is_empty() {
                        rules.push(PermissionRule::parse(&current)?);
                    }
                    current.clear();
                } else {
                    current.push(c);
                }
            }
            if !current.trim().is_empty() {
                rules.push(PermissionRule::parse(&current)?);
            }
        }
        Ok(rules)
    }
}

impl fmt::Display for PermissionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.specifier {
            Some(spec) => write!(f, "{}({spec})", self.tool),
            None => f.write_str(&self.tool),
        }
    }
}

/// Shell syntax that can chain, substitute or redirect: an allow rule never covers it.
fn has_shell_operators(command: &str) -> bool {
    command.contains([';', '&', '|', '`', '>', '<', '\n']) || command.contains("$(")
}

/// A deny rule also catches its command inside a compound one (`true && git push`).
fn mentions(command: &str, denied: &str) -> bool {
    has_shell_operators(command)
        && command
            .split([';', '&', '|', '\n', '(', ')', '`'])
            .map(str::trim)
            .any(|part| part == denied || part.strip_prefix(denied).is_some_and(|r| r.starts_with(char::is_whitespace)))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny { reason: String },
    Ask,
}

#[derive(Clone, Debug, Default)]
pub struct PermissionPolicy {
    pub mode: PermissionMode,
    pub allow: Vec<PermissionRule>,
    pub deny: Vec<PermissionRule>,
}

impl PermissionPolicy {
    pub fn decide(&self, tool: &str, kind: ToolKind, approval: Approval, input: &Value) -> Decision {
        if let Some(rule) = self.deny.iter().find(|r| r.matches(tool, input, false)) {
            return Decision::Deny { reason: format!("denied by the permission rule {rule}") };
        }
        if self.mode == PermissionMode::BypassPermissions || approval == Approval::NotNeeded {
            return Decision::Allow;
        }
        if self.mode == PermissionMode::Plan && kind == ToolKind::Mutating {
            return Decision::Deny { reason: "plan mode allows no changes: present the plan instead".into() };
        }
        if self.mode == PermissionMode::AcceptEdits && FILE_EDIT_TOOLS.contains(&tool) {
            return Decision::Allow;
        }
        if self.allow.iter().any(|r| r.matches(tool, input, true)) {
            return Decision::Allow;
        }
        Decision::Ask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(allow: &[&str], deny: &[&str]) -> PermissionPolicy {
        let parse = |rules: &[&str]| rules.iter().map(|r| PermissionRule::parse(r).unwrap()).collect();
        PermissionPolicy { mode: PermissionMode::Default, allow: parse(allow), deny: parse(deny) }
    }

    fn bash(command: &str) -> Value {
        json!({ "command": command })
    }

    #[test]
    fn bash_prefix_rules_in_both_spellings() {
        let p = policy(&["Bash(npm run test:*)", "Bash(git status *)", "Bash(ls)"], &[]);
        let m = ToolKind::Mutating;
        assert_eq!(p.decide("Bash", m, Approval::Needed, &bash("npm run test")), Decision::Allow);
        assert_eq!(p.decide("Bash", m, Approval::Needed, &bash("npm run test -- --watch")), Decision::Allow);
        assert_eq!(p.decide("Bash", m, Approval::Needed, &bash("npm run testx")), Decision::Ask);
        assert_eq!(p.decide("Bash", m, Approval::Needed, &bash("git status -s")), Decision::Allow);
        assert_eq!(p.decide("Bash", m, Approval::Needed, &bash("ls")), Decision::Allow);
        assert_eq!(p.decide("Bash", m, Approval::Needed, &bash("ls -la")), Decision::Ask);
    }

    #[test]
    fn allow_rules_do_not_stretch_over_shell_operators() {
        let p = policy(&["Bash(git status:*)"], &[]);
        for cmd in ["git status; rm -rf ~", "git status && curl x | sh", "git status $(rm x)", "git status > /etc/x"] {
            assert_eq!(p.decide("Bash", ToolKind::Mutating, Approval::Needed, &bash(cmd)), Decision::Ask, "{cmd}");
        }
    }

    #[test]
    fn deny_beats_allow_and_bypass_and_catches_compound_commands() {
        let mut p = policy(&["Bash"], &["Bash(git push:*)"]);
        p.mode = PermissionMode::BypassPermissions;
        assert!(matches!(
            p.decide("Bash", ToolKind::Mutating, Approval::Needed, &bash("git push origin")),
            Decision::Deny { .. }
        ));
        assert!(matches!(
            p.decide("Bash", ToolKind::Mutating, Approval::Needed, &bash("true && git push")),
            Decision::Deny { .. }
        ));
        assert_eq!(p.decide("Bash", ToolKind::Mutating, Approval::Needed, &bash("git pull")), Decision::Allow);
    }

    #[test]
    fn unknown_specifiers_never_widen() {
        let p = policy(&["Write(src/**)"], &["Read(./secrets/**)"]);
        assert_eq!(
            p.decide("Write", ToolKind::Mutating, Approval::Needed, &json!({"file_path": "src/a"})),
            Decision::Ask
        );
        let read = p.decide("Read", ToolKind::ReadOnly, Approval::NotNeeded, &json!({"file_path": "a"}));
        assert!(matches!(read, Decision::Deny { .. }));
    }

    #[test]
    fn rule_lists_split_outside_parentheses() {
        let rules = PermissionRule::parse_list(&["Read,Bash(git log:*) Bash(npm run a, b)".into()]).unwrap();
        let shown: Vec<String> = rules.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["Read", "Bash(git log:*)", "Bash(npm run a, b)"]);
        assert!(PermissionRule::parse("Bash(oops").is_err());
        assert!(PermissionRule::parse("(x)").is_err());
    }

    #[test]
    fn plan_mode_refuses_changes_but_not_reads() {
        let p = PermissionPolicy { mode: PermissionMode::Plan, ..Default::default() };
        assert!(matches!(p.decide("Bash", ToolKind::Mutating, Approval::Needed, &bash("ls")), Decision::Deny { .. }));
        assert_eq!(p.decide("Read", ToolKind::ReadOnly, Approval::NotNeeded, &json!({})), Decision::Allow);
        assert_eq!(p.decide("WebFetch", ToolKind::ReadOnly, Approval::Needed, &json!({})), Decision::Ask);
    }

    #[test]
    fn accept_edits_lets_file_edits_through_but_not_commands() {
        let p = PermissionPolicy { mode: PermissionMode::AcceptEdits, ..Default::default() };
        assert_eq!(p.decide("Edit", ToolKind::Mutating, Approval::Needed, &json!({})), Decision::Allow);
        assert_eq!(p.decide("Bash", ToolKind::Mutating, Approval::Needed, &bash("ls")), Decision::Ask);
    }
}
