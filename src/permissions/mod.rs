//! The permission gate: may this tool call run, must it be refused, or must the user say?
//!
//! Rules use Claude Code's syntax (`rule`) and come from settings files and flags, each
//! remembering where it came from. A call is checked deny first, then ask, then allow — and
//! only then the mode. Everything a call touches is checked, not just its name: each simple
//! command a Bash script would run (`shell` finds them through lists, pipes, substitutions,
//! wrappers and nested shells), every file it redirects to or names as an argument, every
//! path a file tool is given — resolved through `~`, `..` and symlinks (`paths`). A deny
//! that matches any part denies the call; the call is allowed only when every part is.
//! Anything that cannot be judged is asked, never allowed. Writes outside the working
//! folders and to protected paths (`.git/`, `.claude/`, shell start-up files…) always ask
//! outside bypass mode; reads outside the working folders ask too. A short list of
//! read-only commands (`commands`) runs without asking inside the working folders.

mod bash;
pub mod code;
pub mod commands;
pub mod paths;
mod read_denials;
pub mod rule;
pub mod shell;
mod tracked;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conversation::{Approval, ToolKind};
use paths::{Anchors, Target};
pub use read_denials::{PathDenial, ReadDenials};
pub use rule::{CompiledRule, Origin, PermissionRule, Purpose, RuleError, Subject, canonical_host, family};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PermissionMode {
    #[default]
    Default,
    AcceptEdits,
    Plan,
    BypassPermissions,
    /// Only what rules allow runs; everything else is refused without asking.
    DontAsk,
}

impl PermissionMode {
    /// Whether a resumed session keeps this mode (plan and bypass modes are never carried
    /// over).
    pub fn carried_over(&self) -> bool {
        matches!(self, PermissionMode::Default | PermissionMode::AcceptEdits)
    }

    pub fn parse(text: &str) -> Option<PermissionMode> {
        match text {
            "default" | "manual" => Some(PermissionMode::Default),
            "acceptEdits" => Some(PermissionMode::AcceptEdits),
            "plan" => Some(PermissionMode::Plan),
            "bypassPermissions" => Some(PermissionMode::BypassPermissions),
            "dontAsk" => Some(PermissionMode::DontAsk),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PermissionMode::Default => "default",
            PermissionMode::AcceptEdits => "acceptEdits",
            PermissionMode::Plan => "plan",
            PermissionMode::BypassPermissions => "bypassPermissions",
            PermissionMode::DontAsk => "dontAsk",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny {
        reason: String,
    },
    /// The user must say. `firm`: an ask rule, a protected path, a write outside the working
    /// folders, or a command a deny rule might cover — no hook's "allow" overrides it.
    Ask {
        reason: String,
        firm: bool,
    },
}

/// The rules of a run, by list.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub allow: Vec<(PermissionRule, Origin)>,
    pub ask: Vec<(PermissionRule, Origin)>,
    pub deny: Vec<(PermissionRule, Origin)>,
}

/// A tool call, as the gate sees it.
pub struct Call<'a> {
    pub tool: &'a str,
    pub kind: ToolKind,
    pub approval: Approval,
    pub input: &'a Value,
}

/// Where the call runs.
pub struct Context<'a> {
    /// The Bash tool's working folder (relative paths start here).
    pub cwd: &'a Path,
    /// Folders files may be read and written in: the project, `--add-dir`,
    /// `additionalDirectories`, and folders the user approved in this session.
    pub working_dirs: &'a [PathBuf],
    /// More folders that may be read without asking (the session's own spill folder).
    pub readable_dirs: &'a [PathBuf],
    /// A command runs in a sandbox whose kernel limits hold every path deny rule: a file
    /// known only when it runs needs no question for their sake.
    pub paths_held: bool,
}

/// Why compiling the rules went wrong, for one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleProblem {
    pub rule: String,
    pub origin: String,
    pub problem: String,
}

#[derive(Clone, Debug, Default)]
pub struct PermissionPolicy {
    pub mode: PermissionMode,
    allow: Vec<CompiledRule>,
    ask: Vec<CompiledRule>,
    deny: Vec<CompiledRule>,
    anchors: Option<Anchors>,
    /// Some rules could not be read: every call is asked (deny rules still refuse).
    closed: Option<String>,
    /// `permissions.disableBypassPermissionsMode: "disable"`: the mode cannot be chosen.
    pub bypass_disabled: bool,
    /// The auto memory folder: cairn's own, read and written without asking (deny rules
    /// still hold).
    pub memory_dir: Option<std::path::PathBuf>,
}

impl PermissionPolicy {
    /// Compiles the rules. A rule whose specifier cannot be used is reported; in an allow
    /// list it is dropped, in a deny or ask list it covers its whole tool, so a mistake
    /// never lets more through.
    pub fn new(mode: PermissionMode, rules: Rules, anchors: Anchors) -> (PermissionPolicy, Vec<RuleProblem>) {
        let mut problems = Vec::new();
        let mut compile = |list: Vec<(PermissionRule, Origin)>, purpose: Purpose| -> Vec<CompiledRule> {
            let mut out = Vec::new();
            for (rule, origin) in list {
                match CompiledRule::new(rule.clone(), origin.clone(), purpose, &anchors) {
                    Ok(compiled) => out.push(compiled),
                    Err(problem) => {
                        problems.push(RuleProblem { rule: rule.to_string(), origin: origin.label.clone(), problem });
                        if purpose != Purpose::Allow {
                            out.push(CompiledRule::whole_tool(rule, origin));
                        }
                    }
                }
            }
            out
        };
        let policy = PermissionPolicy {
            mode,
            allow: compile(rules.allow, Purpose::Allow),
            ask: compile(rules.ask, Purpose::Ask),
            deny: compile(rules.deny, Purpose::Deny),
            anchors: Some(anchors.clone()),
            closed: None,
            bypass_disabled: false,
            memory_dir: None,
        };
        (policy, problems)
    }

    /// Adds an allow rule (an answer of "don't ask again").
    pub fn allow(&mut self, rule: PermissionRule, origin: Origin) -> Result<(), String> {
        self.add(Purpose::Allow, rule, origin)
    }

    /// Adds a rule to a list.
    pub fn add(&mut self, purpose: Purpose, rule: PermissionRule, origin: Origin) -> Result<(), String> {
        let anchors = self.anchors.clone().unwrap_or_else(|| Anchors {
            settings_dir: origin.dir.clone(),
            project_dir: origin.dir.clone(),
            home: None,
        });
        let compiled = CompiledRule::new(rule, origin, purpose, &anchors)?;
        match purpose {
            Purpose::Allow => self.allow.push(compiled),
            Purpose::Ask => self.ask.push(compiled),
            Purpose::Deny => self.deny.push(compiled),
        }
        Ok(())
    }

    /// Removes the first rule written `text` from a list; whether there was one.
    pub fn remove(&mut self, purpose: Purpose, text: &str) -> bool {
        let list = match purpose {
            Purpose::Allow => &mut self.allow,
            Purpose::Ask => &mut self.ask,
            Purpose::Deny => &mut self.deny,
        };
        match list.iter().position(|r| r.rule.to_string() == text) {
            Some(at) => {
                list.remove(at);
                true
            }
            None => false,
        }
    }

    /// Removes every allow rule that came from `label` (a command's `allowed-tools`, when
    /// its turn ends).
    pub fn forget_origin(&mut self, label: &str) {
        self.allow.retain(|r| r.origin.label != label);
    }

    /// The rules in force, by list, with their origins.
    pub fn listing(&self) -> Vec<(Purpose, String, String)> {
        let mut out = Vec::new();
        for (purpose, list) in [(Purpose::Deny, &self.deny), (Purpose::Ask, &self.ask), (Purpose::Allow, &self.allow)] {
            out.extend(list.iter().map(|r| (purpose, r.rule.to_string(), r.origin.label.clone())));
        }
        out
    }

    /// A bare deny rule takes the tool away from the model altogether.
    pub fn removes_tool(&self, tool: &str) -> bool {
        self.deny.iter().any(|r| r.is_whole_tool() && r.matches(&Subject::Call { tool, input: &Value::Null }))
    }

    /// Makes every call asked (in any mode; refused where nobody can be asked), because
    /// rules exist that could not be read.
    pub fn fail_closed(&mut self, reason: String) {
        self.closed = Some(reason);
    }

    pub fn decide(&self, call: &Call<'_>, ctx: &Context<'_>) -> Decision {
        let verdict = match family(call.tool) {
            "Bash" => self.bash(call, ctx),
            "Read" | "Edit" => self.files(call, ctx),
            _ => self.other(call),
        };
        match (self.apply_mode(call, verdict), &self.closed) {
            (Decision::Deny { reason }, _) => Decision::Deny { reason },
            (_, Some(closed)) => self.ask_or_refuse(closed.clone(), true),
            (decision, None) => decision,
        }
    }

    /// Deny and ask rules on the call itself (bare, param, domain, name, MCP).
    fn call_rules(&self, call: &Call<'_>) -> Option<Verdict> {
        let subject = Subject::Call { tool: call.tool, input: call.input };
        if let Some(rule) = self.deny.iter().find(|r| r.matches(&subject)) {
            return Some(Verdict::Deny(denied_by(rule)));
        }
        if let Some(rule) = self.ask.iter().find(|r| r.matches(&subject)) {
            return Some(Verdict::AskRule(asked_by(rule)));
        }
        None
    }

    fn allowed_by_rule(&self, call: &Call<'_>) -> bool {
        let subject = Subject::Call { tool: call.tool, input: call.input };
        self.allow.iter().any(|r| r.matches(&subject))
    }

    fn other(&self, call: &Call<'_>) -> Verdict {
        if let Some(verdict) = self.call_rules(call) {
            return verdict;
        }
        let changes = call.kind == ToolKind::Mutating && call.approval == Approval::Needed;
        if self.allowed_by_rule(call) || call.approval == Approval::NotNeeded {
            return Verdict::Allowed { changes };
        }
        Verdict::Unsure { reason: String::new(), changes }
    }

    /// Read, Grep, Glob, LS; Edit, MultiEdit, Write, NotebookEdit.
    fn files(&self, call: &Call<'_>, ctx: &Context<'_>) -> Verdict {
        if let Some(verdict) = self.call_rules(call) {
            return verdict;
        }
        let write = family(call.tool) == "Edit";
        let field =
            ["file_path", "notebook_path", "path"].into_iter().find_map(|f| call.input.get(f).and_then(Value::as_str));
        let home = self.home();
        let target = Target::resolve(field.unwrap_or("."), ctx.cwd, home.as_deref());
        if let Some(verdict) = self.path_rules(&target, write, false) {
            return verdict;
        }
        let allowed_by_rule = self.allow.iter().any(|r| r.allows_path(&target, write));
        if self.memory_dir.as_ref().is_some_and(|dir| target.named.starts_with(dir) && target.real.starts_with(dir)) {
            return Verdict::Allowed { changes: write };
        }
        if write {
            if target.protected() {
                return Verdict::Unsure {
                    reason: format!("{} is a protected path", target.named.display()),
                    changes: true,
                };
            }
            if !target.within(ctx.working_dirs) && !allowed_by_rule {
                return Verdict::Unsure {
                    reason: format!("{} is outside the working folders", target.named.display()),
                    changes: true,
                };
            }
            if allowed_by_rule || self.allowed_by_rule(call) {
                return Verdict::Allowed { changes: true };
            }
            return Verdict::Edit;
        }
        let readable = target.within(ctx.working_dirs) || target.within(ctx.readable_dirs);
        if readable || allowed_by_rule {
            return Verdict::Allowed { changes: false };
        }
        Verdict::Unsure { reason: format!("{} is outside the working folders", target.named.display()), changes: false }
    }

    /// Deny and ask rules on one file; `guess` when the command may not really touch it.
    fn path_rules(&self, target: &Target, write: bool, guess: bool) -> Option<Verdict> {
        let subject = if write { Subject::Write(target) } else { Subject::Read(target) };
        let hits = |r: &&CompiledRule| r.matches(&subject) || (write && r.matches_write_as_read(target));
        if let Some(rule) = self.deny.iter().find(hits) {
            return Some(if guess { Verdict::AskRule(asked_by(rule)) } else { Verdict::Deny(denied_by(rule)) });
        }
        self.ask.iter().find(hits).map(|rule| Verdict::AskRule(asked_by(rule)))
    }

    fn apply_mode(&self, call: &Call<'_>, verdict: Verdict) -> Decision {
        let plan_refusal =
            || Decision::Deny { reason: "plan mode allows no changes: finish the plan and present it first".into() };
        match verdict {
            Verdict::Deny(reason) => Decision::Deny { reason },
            Verdict::AskRule(reason) => {
                if self.mode == PermissionMode::Plan && call.kind == ToolKind::Mutating && family(call.tool) != "Bash" {
                    return plan_refusal();
                }
                self.ask_or_refuse(reason, true)
            }
            Verdict::Firm { reason } => match self.mode {
                PermissionMode::Plan => plan_refusal(),
                PermissionMode::BypassPermissions => Decision::Allow,
                _ => self.ask_or_refuse(reason, true),
            },
            Verdict::Allowed { changes } => match self.mode {
                PermissionMode::Plan if changes => plan_refusal(),
                _ => Decision::Allow,
            },
            Verdict::Edit => match self.mode {
                PermissionMode::Plan => plan_refusal(),
                PermissionMode::AcceptEdits | PermissionMode::BypassPermissions => Decision::Allow,
                _ => self.ask_or_refuse(String::new(), false),
            },
            Verdict::EditCommands { reason } => match self.mode {
                PermissionMode::Plan => plan_refusal(),
                PermissionMode::AcceptEdits | PermissionMode::BypassPermissions => Decision::Allow,
                _ => self.ask_or_refuse(reason, false),
            },
            Verdict::Uncertain { reason, changes } | Verdict::Unsure { reason, changes } => match self.mode {
                PermissionMode::Plan if changes => plan_refusal(),
                PermissionMode::BypassPermissions => Decision::Allow,
                _ => self.ask_or_refuse(reason, false),
            },
        }
    }

    fn ask_or_refuse(&self, reason: String, firm: bool) -> Decision {
        match self.mode {
            PermissionMode::DontAsk => Decision::Deny {
                reason: format!("no permission rule allows this call (dontAsk mode){}", suffix(&reason)),
            },
            _ => Decision::Ask { reason, firm },
        }
    }

    fn home(&self) -> Option<PathBuf> {
        self.anchors.as_ref().and_then(|a| a.home.clone())
    }
}

fn suffix(reason: &str) -> String {
    if reason.is_empty() { String::new() } else { format!(": {reason}") }
}

/// What the rules say before the mode has its word.
enum Verdict {
    Deny(String),
    /// An ask rule matched (asked even in bypass mode).
    AskRule(String),
    /// Rules or the tool's nature allow it; `changes` says whether it changes anything.
    Allowed {
        changes: bool,
    },
    /// A file edit inside the working folders (acceptEdits lets it through).
    Edit,
    /// Bash commands acceptEdits lets through (mkdir, rm… on paths inside the working folders).
    EditCommands {
        reason: String,
    },
    /// The shell script cannot be judged.
    Uncertain {
        reason: String,
        changes: bool,
    },
    /// Nothing allows it.
    Unsure {
        reason: String,
        changes: bool,
    },
    /// A write to a protected path or outside the working folders: only the user (or bypass
    /// mode) may allow it.
    Firm {
        reason: String,
    },
}

fn denied_by(rule: &CompiledRule) -> String {
    format!("denied by the permission rule {} (from {})", rule.rule, rule.origin.label)
}

fn asked_by(rule: &CompiledRule) -> String {
    format!("the permission rule {} (from {}) asks for approval", rule.rule, rule.origin.label)
}

#[cfg(test)]
mod tests;
