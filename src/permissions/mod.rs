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
pub use read_denials::ReadDenials;
pub use rule::{CompiledRule, Origin, PermissionRule, Purpose, RuleError, Subject, canonical_host, family};
use shell::{Command, Word};

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

    fn bash(&self, call: &Call<'_>, ctx: &Context<'_>) -> Verdict {
        if let Some(verdict) = self.call_rules(call) {
            return verdict;
        }
        let script = call.input.get("command").and_then(Value::as_str).unwrap_or("");
        let analysis = shell::analyze(script);
        let home = self.home();
        let mut ask: Option<Verdict> = None;
        // Something a deny rule might have caught, had it been known: asked even in bypass.
        let mut maybe_denied: Vec<String> = Vec::new();
        // What needs approval in any mode, and what only outside acceptEdits.
        let mut needs: Vec<String> = Vec::new();
        let mut edits: Vec<String> = Vec::new();
        // Writes to protected paths or outside the working folders.
        let mut firm: Vec<String> = Vec::new();
        let mut changes = false;
        // A deny rule names a command: what runs code the gate cannot read might be it.
        let guard_code = self.deny_names_any_command();
        let mut code_notes: Vec<String> = Vec::new();
        for command in &analysis.commands {
            for view in views(command) {
                if let Some(rule) = self.deny.iter().find(|r| r.matches(&Subject::Command(&view))) {
                    return Verdict::Deny(denied_by(rule));
                }
                if ask.is_none()
                    && let Some(rule) = self.ask.iter().find(|r| r.matches(&Subject::Command(&view)))
                {
                    ask = Some(Verdict::AskRule(asked_by(rule)));
                }
            }
            if (command.extra_args || command.words.iter().any(|w| w.dynamic)) && self.deny_names(command.name()) {
                maybe_denied.push(format!("`{}` has arguments only known when it runs", command.name()));
            }
            let files = self.command_files(command, ctx, home.as_deref());
            for (target, write, guess) in &files.targets {
                match self.path_rules(target, *write, *guess) {
                    Some(Verdict::Deny(reason)) => return Verdict::Deny(reason),
                    Some(verdict) if ask.is_none() => ask = Some(verdict),
                    _ => {}
                }
            }
            if !files.known && self.has_path_denials() {
                maybe_denied.push(format!("`{}` touches files only known when it runs", command.name()));
            }
            let dir = command_dir(ctx.cwd, command.dir.as_deref(), home.as_deref());
            if commands::reads_broadly(&command.words)
                && self.broad_read_denied(command, dir.as_deref(), home.as_deref())
            {
                maybe_denied.push(format!(
                    "`{}` may show files a Read deny rule protects (the Grep tool leaves them out)",
                    joined(&command.words[..command.words.len().min(3)])
                ));
            }
            // Variables that change what it runs: its name no longer says what it does.
            let odd_env: Vec<&str> = command.env.iter().map(String::as_str).filter(|n| !code::is_safe_env(n)).collect();
            let env_changed = !odd_env.is_empty() || !analysis.env_changes.is_empty();
            if let Some(name) = odd_env.first() {
                code_notes.push(format!("`{name}=…` changes what `{}` runs", command.name()));
            }
            let runs_code = code::runs_code(&command.words);
            if let Some(why) = &runs_code
                && guard_code
            {
                maybe_denied.push(why.clone());
            }
            let read_only = commands::is_read_only(&command.words) && !env_changed && runs_code.is_none();
            changes |= !read_only;
            let plain = joined(&command.words);
            let by_rule = !env_changed
                && match &command.wrapped {
                    // `sudo …` is allowed only by a rule that says so.
                    Some(wrapped) if is_sudo(wrapped) => self.allows_command(&joined(wrapped)),
                    Some(wrapped) => self.allows_command(&plain) || self.allows_command(&joined(wrapped)),
                    None => self.allows_command(&plain),
                };
            let inside = files.known
                && !command.extra_args
                && files.targets.iter().all(|(t, write, _)| {
                    if *write {
                        t.within(ctx.working_dirs) && !t.protected()
                    } else {
                        t.within(ctx.working_dirs) || t.within(ctx.readable_dirs)
                    }
                });
            if by_rule || (read_only && inside) {
                continue;
            }
            if commands::accept_edits_runs(command.name()) && inside && !env_changed && runs_code.is_none() {
                edits.push(format!("`{plain}` changes files"));
            } else {
                needs.push(format!("`{plain}` needs approval"));
            }
        }
        if !analysis.env_changes.is_empty() {
            code_notes.push(format!("the script sets {} for the commands after it", analysis.env_changes.join(", ")));
        }
        code_notes.extend(analysis.runs_code.iter().cloned());
        if guard_code {
            maybe_denied.extend(code_notes.iter().cloned());
        }
        needs.extend(code_notes);
        for redirect in &analysis.redirects {
            let dir = command_dir(ctx.cwd, redirect.dir.as_deref(), home.as_deref());
            let (Some(dir), false) = (dir, redirect.target.dynamic) else {
                if self.has_path_denials() {
                    maybe_denied.push("a redirection goes to a file only known when it runs".into());
                }
                needs.push("a redirection goes to a file only known when it runs".into());
                continue;
            };
            let target = Target::resolve(&redirect.target.text, &dir, home.as_deref());
            if target.is_harmless_device() {
                continue;
            }
            match self.path_rules(&target, redirect.write, false) {
                Some(Verdict::Deny(reason)) => return Verdict::Deny(reason),
                Some(verdict) if ask.is_none() => ask = Some(verdict),
                _ => {}
            }
            if redirect.write {
                changes = true;
                // A command's allow rule does not cover what it writes (`git status > f`);
                // a bare `Bash` allows every command, and so its writes in the working folders.
                let by_rule = self.allow.iter().any(|r| r.allows_path(&target, true))
                    || (self.allows_all_commands() && target.within(ctx.working_dirs));
                if target.protected() || !(target.within(ctx.working_dirs) || by_rule) {
                    firm.push(format!("it writes to {}", target.named.display()));
                } else if !by_rule {
                    edits.push(format!("it writes to {}", target.named.display()));
                }
            } else if !(target.within(ctx.working_dirs)
                || target.within(ctx.readable_dirs)
                || self.allow.iter().any(|r| r.allows_path(&target, false)))
            {
                needs.push(format!("it reads {}", target.named.display()));
            }
        }
        if let Some(verdict) = ask {
            return verdict;
        }
        if !analysis.uncertain.is_empty()
            && self
                .deny
                .iter()
                .any(|r| r.rule.family() == "Bash" || r.rule.family() == "Read" || r.rule.family() == "Edit")
        {
            maybe_denied.extend(analysis.uncertain.iter().cloned());
        }
        if !maybe_denied.is_empty() {
            return Verdict::AskRule(format!("{} (and a deny rule might cover it)", maybe_denied.join("; ")));
        }
        if !analysis.uncertain.is_empty() {
            return Verdict::Uncertain { reason: analysis.uncertain.join("; "), changes: true };
        }
        if !firm.is_empty() {
            return Verdict::Firm { reason: firm.join("; ") };
        }
        if !needs.is_empty() {
            needs.extend(edits);
            return Verdict::Unsure { reason: needs.join("; "), changes };
        }
        if !edits.is_empty() {
            return Verdict::EditCommands { reason: edits.join("; ") };
        }
        Verdict::Allowed { changes }
    }

    /// A bare `Bash` allow rule.
    fn allows_all_commands(&self) -> bool {
        self.allow.iter().any(|r| r.rule.family() == "Bash" && r.is_whole_tool())
    }

    fn allows_command(&self, text: &str) -> bool {
        self.allow.iter().any(|r| r.matches(&Subject::Command(text)))
    }

    /// Whether some deny rule is about files.
    fn has_path_denials(&self) -> bool {
        self.deny.iter().any(|r| matches!(r.rule.family(), "Read" | "Edit") && r.rule.specifier.is_some())
    }

    /// Whether some deny rule names a command (so a construct that runs code the gate
    /// cannot read might run it).
    fn deny_names_any_command(&self) -> bool {
        self.deny.iter().any(|r| r.rule.family() == "Bash" && r.rule.specifier.is_some())
    }

    /// Whether a command that reads whole trees from `dir` (or the repository) may show a
    /// file a Read deny rule protects.
    fn broad_read_denied(&self, command: &Command, dir: Option<&Path>, home: Option<&Path>) -> bool {
        let Some(dir) = dir else { return self.has_read_denials() };
        let name = command.name().rsplit('/').next().unwrap_or("");
        // The trees it reads: the folders it names, or where it runs.
        let mut roots: Vec<PathBuf> = commands::path_args(&command.words)
            .into_iter()
            .filter(|w| !w.dynamic)
            .map(|w| Target::resolve(commands::path_text(w), dir, home).named)
            .collect();
        if roots.is_empty() || command.words.iter().any(|w| w.dynamic) {
            roots.push(dir.to_path_buf());
        }
        let reads_hidden = !matches!(name, "rg" | "ag") || commands::searches_hidden(&command.words);
        let denials = self.deny.iter().filter(|r| r.rule.family() == "Read" && r.rule.specifier.is_some());
        for rule in denials {
            if name == "git" {
                let Some((repository, _)) = tracked::repository(dir) else { return true };
                if !rule.may_match_under(&repository) {
                    continue;
                }
                // History (a log, a commit, a revision) may hold what the working tree no
                // longer does; the working tree shows only what git tracks.
                if git_reads_history(command, dir) {
                    return true;
                }
                match tracked::files(dir) {
                    Some(files) if !files.iter().any(|f| rule.denies_read_of(f)) => continue,
                    _ => return true,
                }
            }
            if !roots.iter().any(|root| rule.may_match_under(root)) {
                continue;
            }
            // A rule naming files: only those that are there can be read (and a search that
            // skips hidden files, as rg does, skips hidden ones).
            match rule.literal_paths() {
                Some(paths) => {
                    let exposed = |p: &PathBuf| p.exists() && (reads_hidden || !is_hidden(p));
                    if paths.iter().any(exposed) {
                        return true;
                    }
                }
                None => return true,
            }
        }
        false
    }

    fn has_read_denials(&self) -> bool {
        self.deny.iter().any(|r| r.rule.family() == "Read" && r.rule.specifier.is_some())
    }

    /// Whether some deny rule is about a command of this name (a dynamic argument could
    /// make it match).
    fn deny_names(&self, name: &str) -> bool {
        self.deny.iter().any(|r| {
            r.rule.family() == "Bash"
                && r.rule.specifier.as_deref().is_some_and(|s| s.split([' ', ':']).next() == Some(name))
        })
    }

    /// The files a command names, as targets, and whether they are all known.
    fn command_files(&self, command: &Command, ctx: &Context<'_>, home: Option<&Path>) -> Files {
        let mut files = Files { targets: Vec::new(), known: !command.extra_args };
        let name = command.name();
        if commands::has_no_file_args(name) {
            return files;
        }
        let Some(dir) = command_dir(ctx.cwd, command.dir.as_deref(), home) else {
            files.known = false;
            return files;
        };
        let reads = commands::reads_files(name) || commands::is_read_only(&command.words);
        let writes = commands::writes_files(&command.words);
        let is_git = name.rsplit('/').next() == Some("git");
        for arg in commands::path_args(&command.words) {
            if arg.dynamic {
                files.known = false;
                continue;
            }
            if is_git && let Some(path) = commands::git_revision_path(arg) {
                // `git show HEAD:.env` reads `.env` as it was committed: from the top of the
                // repository, unless it starts with `./` or `../`.
                let base = match tracked::repository(&dir) {
                    Some((root, _)) if !path.starts_with("./") && !path.starts_with("../") => root,
                    _ => dir.clone(),
                };
                files.targets.push((Target::resolve(path, &base, home), false, false));
                continue;
            }
            let text = commands::path_text(arg);
            for target in expand(text, &dir, home, &mut files.known) {
                // A command cairn does not know may or may not open its arguments: a rule
                // on them asks rather than refuses.
                let guess = !reads && !writes;
                files.targets.push((target.clone(), false, guess));
                if writes {
                    files.targets.push((target, true, false));
                }
            }
        }
        files
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

struct Files {
    /// `(target, write, guess)`.
    targets: Vec<(Target, bool, bool)>,
    /// False when some file is only known at run time.
    known: bool,
}

fn denied_by(rule: &CompiledRule) -> String {
    format!("denied by the permission rule {} (from {})", rule.rule, rule.origin.label)
}

fn asked_by(rule: &CompiledRule) -> String {
    format!("the permission rule {} (from {}) asks for approval", rule.rule, rule.origin.label)
}

fn joined(words: &[Word]) -> String {
    words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")
}

fn is_sudo(words: &[Word]) -> bool {
    words.first().is_some_and(|w| matches!(w.text.rsplit('/').next(), Some("sudo" | "doas")))
}

/// The ways a command can be named for deny and ask rules: as it runs, as written with
/// its wrappers, and with a path-qualified name (`/bin/rm`) reduced to its base name. Behind
/// a wrapper, every word could be where the command starts (`timeout --signal KILL 5 rm …`
/// with an option this reading does not know): each is tried.
fn views(command: &Command) -> Vec<String> {
    let mut out = vec![joined(&command.words)];
    if let Some(wrapped) = &command.wrapped {
        out.push(joined(wrapped));
        out.extend((1..wrapped.len()).map(|start| joined(&wrapped[start..])));
    }
    if let Some(first) = command.words.first()
        && first.text.contains('/')
    {
        let mut words = command.words.clone();
        words[0].text = first.text.rsplit('/').next().unwrap_or("").to_owned();
        out.push(joined(&words));
    }
    out
}

/// Whether a path has a hidden (dot) component.
fn is_hidden(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str().to_str().is_some_and(|n| n.starts_with('.') && n.len() > 1 && n != ".."))
}

/// Whether a git command reads history rather than the working tree: `log`, `show`,
/// `cat-file`…, or `diff`/`grep` given a revision (an argument that is not a path here).
fn git_reads_history(command: &Command, dir: &Path) -> bool {
    let args = command.args();
    let Some(at) = args.iter().position(|w| !w.text.starts_with('-')) else { return false };
    let rest = &args[at + 1..];
    match args[at].text.as_str() {
        "diff" | "grep" => rest
            .iter()
            .take_while(|w| w.text != "--")
            .filter(|w| !w.text.starts_with('-'))
            .any(|w| w.dynamic || !dir.join(&w.text).exists()),
        _ => true,
    }
}

/// The folder a command runs in, or `None` when a `cd` made it unknowable.
fn command_dir(cwd: &Path, dir: Option<&str>, home: Option<&Path>) -> Option<PathBuf> {
    let dir = dir?;
    if dir.is_empty() {
        return Some(cwd.to_path_buf());
    }
    Some(Target::resolve(dir, cwd, home).named)
}

/// A path argument as the files it names: itself, or what its wildcard matches now in its
/// folder. A wildcard that cannot be expanded makes the files unknown.
fn expand(text: &str, dir: &Path, home: Option<&Path>, known: &mut bool) -> Vec<Target> {
    if !text.contains(['*', '?', '[']) {
        return vec![Target::resolve(text, dir, home)];
    }
    let (parent, pattern) = match text.rsplit_once('/') {
        Some((parent, pattern)) => (if parent.is_empty() { "/" } else { parent }, pattern),
        None => (".", text),
    };
    if parent.contains(['*', '?', '[']) || pattern.contains("**") {
        *known = false;
        return Vec::new();
    }
    let base = Target::resolve(parent, dir, home);
    let Ok(glob) = globset::Glob::new(pattern) else {
        *known = false;
        return Vec::new();
    };
    let matcher = glob.compile_matcher();
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&base.named) {
        for entry in entries.flatten().take(10_000) {
            if matcher.is_match(entry.file_name()) {
                out.push(Target::resolve(&entry.path().to_string_lossy(), dir, home));
            }
        }
    }
    // Where nothing matches, bash passes the word on as it is.
    if out.is_empty() {
        out.push(Target::resolve(text, dir, home));
    }
    out
}

#[cfg(test)]
mod tests;
