//! Bash calls before the gate: each simple command a script would run and each file it
//! redirects to, judged against the rules (see `shell` for how they are found). A deny on
//! any part denies the call; it runs without asking only when every part is allowed; what
//! cannot be judged is asked, and asked even in bypass mode when a deny rule might cover it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::paths::Target;
use super::shell::{self, Command, Word};
use super::{Call, Context, PermissionPolicy, Subject, Verdict, asked_by, code, commands, denied_by, tracked};

impl PermissionPolicy {
    pub(super) fn bash(&self, call: &Call<'_>, ctx: &Context<'_>) -> Verdict {
        if let Some(verdict) = self.call_rules(call) {
            return verdict;
        }
        let script = call.input.get("command").and_then(Value::as_str).unwrap_or("");
        let analysis = shell::analyze(script);
        let home = self.home();
        let mut found = Findings::default();
        for command in &analysis.commands {
            if let Err(denied) = self.judge_command(command, &analysis, ctx, home.as_deref(), &mut found) {
                return denied;
            }
        }
        self.judge_code(&analysis, &mut found);
        for redirect in &analysis.redirects {
            if let Err(denied) = self.judge_redirect(redirect, ctx, home.as_deref(), &mut found) {
                return denied;
            }
        }
        let deny_rules_about_files_or_commands = self.deny.iter().any(|r| match r.rule.family() {
            "Bash" => true,
            "Read" | "Edit" => !ctx.paths_held,
            _ => false,
        });
        found.verdict(&analysis.uncertain, deny_rules_about_files_or_commands)
    }

    /// One simple command: the rules on its name and files, whether it reads broadly or runs
    /// code, and whether a rule, its read-only nature or acceptEdits lets it run. `Err` is a
    /// denial that ends the judgement.
    fn judge_command(
        &self,
        command: &Command,
        analysis: &shell::Analysis,
        ctx: &Context<'_>,
        home: Option<&Path>,
        found: &mut Findings,
    ) -> Result<(), Verdict> {
        for view in views(command) {
            if let Some(rule) = self.deny.iter().find(|r| r.matches(&Subject::Command(&view))) {
                return Err(Verdict::Deny(denied_by(rule)));
            }
            if let Some(rule) = self.ask.iter().find(|r| r.matches(&Subject::Command(&view))) {
                found.ask(Verdict::AskRule(asked_by(rule)));
            }
        }
        if (command.extra_args || command.words.iter().any(|w| w.dynamic)) && self.deny_names(command.name()) {
            found.maybe_denied.push(format!("`{}` has arguments only known when it runs", command.name()));
        }
        let files = self.command_files(command, ctx, home);
        for (target, write, guess) in &files.targets {
            match self.path_rules(target, *write, *guess) {
                Some(Verdict::Deny(reason)) => return Err(Verdict::Deny(reason)),
                Some(verdict) => found.ask(verdict),
                None => {}
            }
        }
        if !files.known && self.has_path_denials() && !ctx.paths_held {
            found.maybe_denied.push(format!("`{}` touches files only known when it runs", command.name()));
        }
        let dir = command_dir(ctx.cwd, command.dir.as_deref(), home);
        if commands::reads_broadly(&command.words)
            && !ctx.paths_held
            && self.broad_read_denied(command, dir.as_deref(), home)
        {
            found.maybe_denied.push(format!(
                "`{}` may show files a Read deny rule protects (the Grep tool leaves them out)",
                joined(&command.words[..command.words.len().min(3)])
            ));
        }
        // Variables that change what it runs: its name no longer says what it does.
        let odd_env: Vec<&str> = command.env.iter().map(String::as_str).filter(|n| !code::is_safe_env(n)).collect();
        let env_changed = !odd_env.is_empty() || !analysis.env_changes.is_empty();
        if let Some(name) = odd_env.first() {
            found.code_notes.push(format!("`{name}=…` changes what `{}` runs", command.name()));
        }
        let runs_code = code::runs_code(&command.words);
        if let Some(why) = &runs_code
            && self.deny_names_any_command()
        {
            found.maybe_denied.push(why.clone());
        }
        let read_only = commands::is_read_only(&command.words) && !env_changed && runs_code.is_none();
        found.changes |= !read_only;
        let plain = joined(&command.words);
        let by_rule = !env_changed
            && match &command.wrapped {
                // `sudo …` is allowed only by a rule that says so.
                Some(wrapped) if is_sudo(wrapped) => self.allows_command(&joined(wrapped)),
                Some(wrapped) => self.allows_command(&plain) || self.allows_command(&joined(wrapped)),
                None => self.allows_command(&plain),
            };
        let inside = files.known && !command.extra_args && files.all_inside(ctx);
        if by_rule || (read_only && inside) {
            return Ok(());
        }
        if commands::accept_edits_runs(command.name()) && inside && !env_changed && runs_code.is_none() {
            found.edits.push(format!("`{plain}` changes files"));
        } else {
            found.needs.push(format!("`{plain}` needs approval"));
        }
        Ok(())
    }

    /// What the script as a whole evaluates as code or sets for later commands: asked even
    /// in bypass mode when a deny rule names a command, else asked like any unknown command.
    fn judge_code(&self, analysis: &shell::Analysis, found: &mut Findings) {
        let mut notes = std::mem::take(&mut found.code_notes);
        if !analysis.env_changes.is_empty() {
            notes.push(format!("the script sets {} for the commands after it", analysis.env_changes.join(", ")));
        }
        notes.extend(analysis.runs_code.iter().cloned());
        if self.deny_names_any_command() {
            found.maybe_denied.extend(notes.iter().cloned());
        }
        found.needs.extend(notes);
    }

    /// One redirection: the rules on its file, and whether the write or read is allowed.
    fn judge_redirect(
        &self,
        redirect: &shell::Redirect,
        ctx: &Context<'_>,
        home: Option<&Path>,
        found: &mut Findings,
    ) -> Result<(), Verdict> {
        let dir = command_dir(ctx.cwd, redirect.dir.as_deref(), home);
        let (Some(dir), false) = (dir, redirect.target.dynamic) else {
            if self.has_path_denials() && !ctx.paths_held {
                found.maybe_denied.push("a redirection goes to a file only known when it runs".into());
            }
            found.needs.push("a redirection goes to a file only known when it runs".into());
            return Ok(());
        };
        let target = Target::resolve(&redirect.target.text, &dir, home);
        if target.is_harmless_device() {
            return Ok(());
        }
        match self.path_rules(&target, redirect.write, false) {
            Some(Verdict::Deny(reason)) => return Err(Verdict::Deny(reason)),
            Some(verdict) => found.ask(verdict),
            None => {}
        }
        if redirect.write {
            found.changes = true;
            // A command's allow rule does not cover what it writes (`git status > f`); a
            // bare `Bash` allows every command, and so its writes in the working folders.
            let by_rule = self.allow.iter().any(|r| r.allows_path(&target, true))
                || (self.allows_all_commands() && target.within(ctx.working_dirs));
            if target.protected() || !(target.within(ctx.working_dirs) || by_rule) {
                found.firm.push(format!("it writes to {}", target.named.display()));
            } else if !by_rule {
                found.edits.push(format!("it writes to {}", target.named.display()));
            }
        } else if !(target.within(ctx.working_dirs)
            || target.within(ctx.readable_dirs)
            || self.allow.iter().any(|r| r.allows_path(&target, false)))
        {
            found.needs.push(format!("it reads {}", target.named.display()));
        }
        Ok(())
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
}

/// What the judgement of a script found so far.
#[derive(Default)]
struct Findings {
    /// The first ask rule (or path rule asking) that matched.
    ask: Option<Verdict>,
    /// Something a deny rule might have caught, had it been known: asked even in bypass.
    maybe_denied: Vec<String>,
    /// What needs approval in any mode, and what only outside acceptEdits.
    needs: Vec<String>,
    edits: Vec<String>,
    /// Writes to protected paths or outside the working folders.
    firm: Vec<String>,
    /// Variables that change what a command runs, for `judge_code`.
    code_notes: Vec<String>,
    changes: bool,
}

impl Findings {
    fn ask(&mut self, verdict: Verdict) {
        if self.ask.is_none() {
            self.ask = Some(verdict);
        }
    }

    /// The verdict, most severe first.
    fn verdict(mut self, uncertain: &[String], deny_rules_about_files_or_commands: bool) -> Verdict {
        if let Some(verdict) = self.ask {
            return verdict;
        }
        if !uncertain.is_empty() && deny_rules_about_files_or_commands {
            self.maybe_denied.extend(uncertain.iter().cloned());
        }
        if !self.maybe_denied.is_empty() {
            return Verdict::AskRule(format!("{} (and a deny rule might cover it)", self.maybe_denied.join("; ")));
        }
        if !uncertain.is_empty() {
            return Verdict::Uncertain { reason: uncertain.join("; "), changes: true };
        }
        if !self.firm.is_empty() {
            return Verdict::Firm { reason: self.firm.join("; ") };
        }
        if !self.needs.is_empty() {
            self.needs.extend(self.edits);
            return Verdict::Unsure { reason: self.needs.join("; "), changes: self.changes };
        }
        if !self.edits.is_empty() {
            return Verdict::EditCommands { reason: self.edits.join("; ") };
        }
        Verdict::Allowed { changes: self.changes }
    }
}

struct Files {
    /// `(target, write, guess)`.
    targets: Vec<(Target, bool, bool)>,
    /// False when some file is only known at run time.
    known: bool,
}

impl Files {
    /// Every file inside the folders it may be read (or written) in.
    fn all_inside(&self, ctx: &Context<'_>) -> bool {
        self.targets.iter().all(|(t, write, _)| {
            if *write {
                t.within(ctx.working_dirs) && !t.protected()
            } else {
                t.within(ctx.working_dirs) || t.within(ctx.readable_dirs)
            }
        })
    }
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
