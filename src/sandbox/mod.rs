//! The sandbox around the model's commands: what the permission gate cannot see — where a
//! program writes, what it reads, whom it calls — the kernel holds.
//!
//! A sandboxed command starts as `cairn __sandbox POLICY -- bash …`: cairn re-executes
//! itself in a small launcher ([`launch`]) that applies the [`Policy`] to itself — Landlock
//! for files and TCP ports, a seccomp filter for the rest ([`linux`]) — and then execs the
//! shell, so the policy lives in one place and binds every process the command starts.
//! Writes are allowed only in the project, `--add-dir` folders, the temporary folder,
//! cairn's spill folder and `sandbox.filesystem.allowWrite`; reads everywhere but the
//! paths Read deny rules name, `filesystem.denyRead` and a built-in list of credentials;
//! network only through cairn's proxy ([`proxy`]), which admits the domains
//! `sandbox.network.allowedDomains` names.
//!
//! Claude Code's `sandbox` settings are read as they are ([`SandboxSettings`]). The sandbox
//! is on by default where the kernel can enforce it; where it cannot, cairn says so once
//! and the gate alone decides, as before.

mod inside;
#[cfg(target_os = "linux")]
mod linux;
pub mod proxy;
mod settings;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

pub use settings::SandboxSettings;

/// Asks the user whether sandboxed commands may reach a domain (`true`: for the session);
/// called from the proxy's threads, which wait for the answer.
pub type Asker = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// The argument that starts the launcher.
pub const LAUNCHER_ARG: &str = "__sandbox";

/// What one sandboxed command may do (the launcher's input, as JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Folders (and files) the command may write in, with everything below them.
    pub write: Vec<PathBuf>,
    /// Paths the command may not read (nor write), with everything below them.
    pub deny_read: Vec<PathBuf>,
    /// The loopback port of cairn's proxy: the only TCP port the command may connect to.
    /// `None`: no network at all.
    pub proxy_port: Option<u16>,
    /// Whether the command may listen on ports (a dev server, a test's own server).
    pub allow_local_binding: bool,
    /// Whether the command may open Unix sockets (a Docker socket is a way out).
    pub allow_unix_sockets: bool,
    /// Paths inside the writable folders the command may not change (mounted read-only in
    /// a namespace of its own).
    #[serde(default)]
    pub read_only: Vec<PathBuf>,
    /// Paths inside the writable folders the command may not read (covered there).
    #[serde(default)]
    pub hidden: Vec<PathBuf>,
    /// Folders the command may change but not rename or remove (made mount points there):
    /// a repository's git folder.
    #[serde(default)]
    pub pinned: Vec<PathBuf>,
}

/// Credentials a command never needs to read, whatever the rules say (under the home
/// folder).
const SECRETS: &[&str] = &[
    ".ssh",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".gnupg",
    ".kube",
    ".docker/config.json",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".password-store",
    ".claude/.credentials.json",
];

/// Whether and how the kernel can enforce a policy here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// It can: what enforces it, in words ("Landlock ABI 7, seccomp").
    Yes(String),
    /// It cannot, and why.
    No(String),
}

/// The sandbox of a session: its settings, whether it is on, the proxy.
pub struct Sandbox {
    settings: SandboxSettings,
    enabled: AtomicBool,
    /// Said once: the kernel cannot enforce the sandbox here.
    told: AtomicBool,
    support: OnceLock<Support>,
    base: Policy,
    /// The project and `--add-dir`s, walked for what wildcard deny rules match.
    roots: Vec<PathBuf>,
    denials: Vec<crate::permissions::PathDenial>,
    /// Paths inside the writable folders from the settings and the built-in list.
    extra: inside::Inside,
    /// What the deny rules protect inside the writable folders (found the first time).
    inside: OnceLock<inside::Inside>,
    /// Read deny rules with wildcards that reach beyond the project (`Read(~/**/*.pem)`):
    /// the kernel cannot list what they match, the gate holds them.
    unheld: Vec<String>,
    proxy: OnceLock<Result<proxy::Proxy, String>>,
    launcher: PathBuf,
    /// Domains the user allowed in this session (`/sandbox allow`, or answering).
    allowed: Arc<Mutex<Vec<String>>>,
    /// Who is asked about a domain no rule allows (`None`: nobody can answer, as in `-p`).
    asker: Arc<OnceLock<Asker>>,
    /// Domains WebFetch rules allow, and deny (a denial wins over every list).
    web_allowed: Vec<String>,
    web_denied: Vec<String>,
}

/// How a command is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Inside the sandbox, with this policy.
    Sandboxed(Box<Policy>),
    /// Outside it: the sandbox is off, cannot work here, or the command is excluded.
    Plain,
    /// Not at all: the sandbox cannot work here and `failIfUnavailable` says so; why.
    Refused(String),
}

impl Sandbox {
    /// The sandbox the settings ask for, for a session whose tools may write in `writable`
    /// (the project and `--add-dir`s, canonical), under the deny rules `denials`.
    pub fn new(
        settings: SandboxSettings,
        writable: &[PathBuf],
        spill: &Path,
        denials: Vec<crate::permissions::PathDenial>,
        home: Option<&Path>,
    ) -> Sandbox {
        let mut write: Vec<PathBuf> = writable.to_vec();
        write.push(std::env::temp_dir());
        write.push(spill.to_path_buf());
        write.extend(settings.allow_write(home));
        let write: Vec<PathBuf> =
            write.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect();
        let inside = |p: &Path| write.iter().any(|w| p.starts_with(w));
        let named = |paths: Vec<PathBuf>| paths.into_iter().map(|p| (p.clone(), p.display().to_string()));
        let mut reads: Vec<(PathBuf, String)> = named(settings.deny_read(home)).collect();
        if let Some(home) = home {
            reads.extend(named(SECRETS.iter().map(|s| home.join(s)).collect()));
        }
        // Outside the writable folders, a path is left out of Landlock's read rules; inside
        // them it is taken out in the command's own mount namespace (the deny rules' own
        // paths there are found with the rest, by `inside::find`).
        let (inside_read, mut outside_read): (Vec<_>, Vec<_>) = reads.into_iter().partition(|(p, _)| inside(p));
        let literal_reads = denials.iter().filter(|d| !d.write).flat_map(|d| d.literal.iter().flatten());
        outside_read.extend(literal_reads.filter(|p| !inside(p)).map(|p| (p.clone(), String::new())));
        let extra = inside::Inside {
            read: inside_read,
            write: named(settings.deny_write(home)).filter(|(p, _)| inside(p)).collect(),
            complete: true,
        };
        let unheld = denials
            .iter()
            .filter(|d| !d.write && d.literal.is_none() && !d.relative)
            .map(|d| d.words.clone())
            .collect();
        let network = settings.network.clone().unwrap_or_default();
        let base = Policy {
            write,
            deny_read: outside_read.into_iter().map(|(p, _)| p).collect(),
            proxy_port: None,
            allow_local_binding: network.allow_local_binding.unwrap_or(false),
            allow_unix_sockets: network.allow_all_unix_sockets.unwrap_or(false),
            read_only: Vec::new(),
            hidden: Vec::new(),
            pinned: Vec::new(),
        };
        let enabled = settings.enabled.unwrap_or(true);
        Sandbox {
            settings,
            enabled: AtomicBool::new(enabled),
            told: AtomicBool::new(false),
            support: OnceLock::new(),
            base,
            roots: writable.to_vec(),
            denials,
            extra,
            inside: OnceLock::new(),
            unheld,
            proxy: OnceLock::new(),
            launcher: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("cairn")),
            allowed: Arc::new(Mutex::new(Vec::new())),
            asker: Arc::new(OnceLock::new()),
            web_allowed: Vec::new(),
            web_denied: Vec::new(),
        }
    }

    /// The domains WebFetch rules allow and deny, which bind the proxy as Claude Code's do.
    pub fn with_web_rules(mut self, allowed: Vec<String>, denied: Vec<String>) -> Sandbox {
        self.web_allowed = allowed;
        self.web_denied = denied;
        self
    }

    /// The project folder as the policies name it (canonical).
    pub fn project_root(&self) -> Option<PathBuf> {
        self.roots.first().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
    }

    /// Lets the proxy ask the user about a domain no rule allows.
    pub fn set_asker(&self, asker: Asker) {
        let _ = self.asker.set(asker);
    }

    /// What the deny rules protect inside the writable folders.
    fn inside(&self) -> &inside::Inside {
        self.inside.get_or_init(|| inside::find(&self.roots, &self.base.write, &self.denials, self.extra.clone()))
    }

    /// Whether paths inside the writable folders can be protected here (a mount namespace).
    /// `CAIRN_SANDBOX_NO_NAMESPACES` makes it a system without user namespaces.
    fn namespaces(&self) -> bool {
        let made = matches!(self.support(), Support::Yes(how) if how.contains("mount namespace") && !how.contains("no mount namespace"));
        made && std::env::var_os("CAIRN_SANDBOX_NO_NAMESPACES").is_none()
    }

    /// Whether the kernel can enforce a policy here (asked once, by starting the launcher
    /// with an empty policy).
    pub fn support(&self) -> &Support {
        self.support.get_or_init(|| probe(&self.launcher))
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Turns the sandbox on or off for the rest of the session.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether commands run sandboxed now.
    pub fn active(&self) -> bool {
        self.enabled() && matches!(self.support(), Support::Yes(_))
    }

    /// Once per session, when the sandbox is on but cannot work here: what to tell.
    pub fn fallback_notice(&self) -> Option<String> {
        let Support::No(why) = self.support() else { return None };
        if !self.enabled() || self.told.swap(true, Ordering::Relaxed) {
            return None;
        }
        Some(format!("The sandbox cannot run here ({why}); commands are checked by the permission rules alone."))
    }

    /// Whether `command` is one the settings run outside the sandbox (`excludedCommands`:
    /// the first word of any of its commands, or a prefix of the whole line).
    pub fn excluded(&self, command: &str) -> bool {
        let excluded = self.settings.excluded_commands.iter().flatten();
        excluded.into_iter().any(|pattern| {
            let pattern = pattern.trim_end_matches(":*").trim_end_matches('*').trim();
            !pattern.is_empty()
                && command
                    .split(['&', '|', ';', '\n'])
                    .map(str::trim)
                    .any(|part| part == pattern || part.starts_with(&format!("{pattern} ")))
        })
    }

    /// Whether a Bash call the rules would ask about may run without asking: it will run
    /// sandboxed and `autoAllowBashIfSandboxed` (default on) says so.
    /// Not where the sandbox cannot hold the path deny rules (no mount namespace for those
    /// inside the project): the gate is then all that holds them.
    pub fn auto_allows(&self, command: &str, unsandboxed: bool) -> bool {
        self.settings.auto_allow_bash_if_sandboxed.unwrap_or(true) && self.holds_paths(command, unsandboxed)
    }

    /// Whether `command` will run sandboxed with every path deny rule held by the kernel
    /// (none a pattern the kernel cannot name, none inside the writable folders where no
    /// mount namespace can be made).
    pub fn holds_paths(&self, command: &str, unsandboxed: bool) -> bool {
        let inside = self.inside();
        matches!(self.mode_kind(command, unsandboxed), Some(true))
            && self.unheld.is_empty()
            && inside.complete
            && (self.namespaces() || (inside.read.is_empty() && inside.write.is_empty()))
    }

    /// Whether `command` runs sandboxed (`Some(true)`), outside (`Some(false)`), or not at
    /// all (`None`).
    fn mode_kind(&self, command: &str, unsandboxed: bool) -> Option<bool> {
        if let (true, Support::No(_), Some(true)) = (self.enabled(), self.support(), self.settings.fail_if_unavailable)
        {
            return None;
        }
        Some(self.active() && !self.excluded(command) && !(unsandboxed && self.unsandboxed_allowed()))
    }

    /// Whether `dangerouslyDisableSandbox` may be honoured (`allowUnsandboxedCommands`,
    /// default on; the call then goes through the gate as any unsandboxed command).
    pub fn unsandboxed_allowed(&self) -> bool {
        self.settings.allow_unsandboxed_commands.unwrap_or(true)
    }

    /// How to run `command`, starting the proxy the first time a sandboxed command runs.
    pub fn mode(&self, command: &str, unsandboxed: bool) -> Mode {
        match (self.mode_kind(command, unsandboxed), self.support()) {
            (None, Support::No(why)) => {
                return Mode::Refused(format!(
                    "The sandbox cannot run here ({why}) and sandbox.failIfUnavailable is set."
                ));
            }
            (Some(false) | None, _) => return Mode::Plain,
            (Some(true), _) => {}
        }
        let mut policy = self.base.clone();
        policy.proxy_port = self.proxy().map(proxy::Proxy::port);
        if self.namespaces() {
            let inside = self.inside();
            policy.read_only = inside.write.iter().map(|(p, _)| p.clone()).collect();
            policy.hidden = inside.read.iter().map(|(p, _)| p.clone()).collect();
            // Covered in the namespace too, the paths outside leave Landlock one read rule
            // for `/` instead of one for each entry beside them (a home folder's hundreds).
            policy.hidden.append(&mut policy.deny_read);
            let (read_only, pinned) = inside::git_protections(&self.roots);
            policy.read_only.extend(read_only);
            policy.pinned = pinned;
        }
        Mode::Sandboxed(Box::new(policy))
    }

    fn proxy(&self) -> Option<&proxy::Proxy> {
        let started = self.proxy.get_or_init(|| {
            let network = self.settings.network.clone().unwrap_or_default();
            let mut domains = network.allowed_domains.unwrap_or_default();
            domains.extend(self.web_allowed.iter().cloned());
            let lists = proxy::Lists { allowed: domains, denied: self.web_denied.clone() };
            proxy::Proxy::start(lists, Arc::clone(&self.allowed), Arc::clone(&self.asker))
        });
        started.as_ref().ok()
    }

    /// What a sandboxed command made that git would act on outside the sandbox, undone;
    /// in words. `before`: what [`Sandbox::git_redirects`] found before it ran.
    pub fn undo_git_redirects(&self, before: &[PathBuf]) -> Vec<String> {
        inside::undo_git_redirects(&self.roots, before)
    }

    /// The files that redirect git there are now (before a command).
    pub fn git_redirects(&self) -> Vec<PathBuf> {
        inside::git_redirects(&self.roots)
    }

    /// The domains the proxy refused since the last call, for the command's result.
    pub fn take_blocked(&self) -> Vec<String> {
        self.proxy.get().and_then(|p| p.as_ref().ok()).map(proxy::Proxy::take_blocked).unwrap_or_default()
    }

    /// Lets the proxy admit `domain` for the rest of the session.
    pub fn allow_domain(&self, domain: &str) {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let mut allowed = self.allowed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !domain.is_empty() && !allowed.contains(&domain) {
            allowed.push(domain);
        }
    }

    /// The launcher and its arguments for a sandboxed `program args…`.
    pub fn launcher_command(&self, policy: &Policy) -> (PathBuf, Vec<String>) {
        let json = serde_json::to_string(policy).unwrap_or_default();
        (self.launcher.clone(), vec![LAUNCHER_ARG.to_owned(), json, "--".to_owned()])
    }

    /// The state and the policy, in words (`/sandbox`).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let state = match (self.enabled(), self.support()) {
            (true, Support::Yes(how)) => format!("on ({how})"),
            (true, Support::No(why)) => format!("on in the settings, but it cannot run here: {why}"),
            (false, _) => "off".to_owned(),
        };
        out.push_str(&format!("Sandbox: {state}\n"));
        // What is there: the built-in list names many a folder this machine does not have.
        let list = |paths: &[PathBuf]| {
            paths.iter().filter(|p| p.exists()).map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        };
        out.push_str(&format!("Commands may write in: {}\n", list(&self.base.write)));
        let denied = list(&self.base.deny_read);
        if !denied.is_empty() {
            out.push_str(&format!("Commands may not read: {denied}\n"));
        }
        let words = |paths: &[(PathBuf, String)]| {
            let there = paths.iter().filter(|(p, _)| p.exists()).map(|(_, w)| w.clone());
            let mut words: Vec<String> = there.collect();
            words.dedup();
            words.join("; ")
        };
        let inside = self.inside();
        let (read, write) = (words(&inside.read), words(&inside.write));
        let held =
            if self.namespaces() { "by the kernel" } else { "by the permission rules only (no mount namespace here)" };
        if !read.is_empty() {
            out.push_str(&format!("Not readable inside the writable folders, {held}: {read}\n"));
        }
        if !write.is_empty() {
            out.push_str(&format!("Not writable inside the writable folders, {held}: {write}\n"));
        }
        if !self.unheld.is_empty() {
            out.push_str(&format!("Held by the permission rules only (patterns): {}\n", self.unheld.join("; ")));
        }
        if !inside.complete {
            out.push_str("The project is too large to find every file the deny rules' patterns match: those are held by the permission rules.\n");
        }
        let network = self.settings.network.clone().unwrap_or_default();
        let mut domains = network.allowed_domains.unwrap_or_default();
        domains.extend(self.web_allowed.iter().cloned());
        domains.extend(self.allowed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned());
        out.push_str(&format!(
            "Network: through cairn's proxy, to {}\n",
            if domains.is_empty() {
                "no domain (allow one with /sandbox allow DOMAIN)".to_owned()
            } else {
                domains.join(", ")
            }
        ));
        out.push_str(&format!(
            "Sandboxed commands run without asking: {}\n",
            if self.settings.auto_allow_bash_if_sandboxed.unwrap_or(true) { "yes" } else { "no" }
        ));
        if let Some(excluded) = self.settings.excluded_commands.as_ref().filter(|e| !e.is_empty()) {
            out.push_str(&format!("Run outside the sandbox (through the permission rules): {}\n", excluded.join(", ")));
        }
        out
    }
}

/// Starts the launcher with an empty policy to learn whether the kernel enforces it.
fn probe(launcher: &Path) -> Support {
    if std::env::var_os("CAIRN_SANDBOX_UNSUPPORTED").is_some() {
        return Support::No("Landlock is not available (CAIRN_SANDBOX_UNSUPPORTED is set)".into());
    }
    let policy = serde_json::to_string(&Policy::default()).unwrap_or_default();
    let output = std::process::Command::new(launcher)
        .args([LAUNCHER_ARG, &policy, "--probe"])
        .stdin(std::process::Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => Support::Yes(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
        Ok(out) => {
            Support::No(String::from_utf8_lossy(&out.stderr).trim().trim_start_matches("cairn sandbox: ").to_owned())
        }
        Err(e) => Support::No(format!("the launcher {} could not start: {e}", launcher.display())),
    }
}

/// The launcher: `cairn __sandbox POLICY -- PROGRAM ARGS…` applies the policy to itself
/// and execs the program; `cairn __sandbox POLICY --probe` applies it and says how. Never
/// returns.
pub fn launch(args: Vec<std::ffi::OsString>) -> ! {
    let fail = |message: String| -> ! {
        eprintln!("cairn sandbox: {message}");
        std::process::exit(126)
    };
    let mut args = args.into_iter();
    let policy: Policy = match args.next().map(|a| serde_json::from_str(&a.to_string_lossy())) {
        Some(Ok(policy)) => policy,
        Some(Err(e)) => fail(format!("the policy is not valid: {e}")),
        None => fail("no policy given".into()),
    };
    let rest: Vec<std::ffi::OsString> = args.collect();
    let probe = rest.first().is_some_and(|a| a == "--probe");
    #[cfg(target_os = "linux")]
    let how = linux::apply(&policy, probe).unwrap_or_else(|e| fail(e));
    #[cfg(not(target_os = "linux"))]
    let how: String = fail("the sandbox is built for Linux only".into());
    match rest.split_first() {
        Some(_) if probe => {
            println!("{how}");
            std::process::exit(0)
        }
        Some((dash, command)) if dash == "--" && !command.is_empty() => {
            use std::os::unix::process::CommandExt;
            let error = std::process::Command::new(&command[0]).args(&command[1..]).exec();
            fail(format!("could not start {}: {error}", command[0].to_string_lossy()))
        }
        _ => fail("no command given".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(settings: serde_json::Value, project: &Path, home: &Path) -> Sandbox {
        let settings: SandboxSettings = serde_json::from_value(settings).unwrap();
        Sandbox::new(settings, &[project.to_path_buf()], &project.join("spill"), Vec::new(), Some(home))
    }

    #[test]
    fn credentials_are_left_out_and_only_the_working_folders_are_writable() {
        let (project, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let project_path = std::fs::canonicalize(project.path()).unwrap();
        let sandbox =
            sandbox(serde_json::json!({"filesystem": {"denyRead": ["//srv/secret"]}}), &project_path, home.path());
        assert!(sandbox.base.write.contains(&project_path));
        assert!(sandbox.base.write.contains(&std::fs::canonicalize(std::env::temp_dir()).unwrap()));
        // This home is under the temporary folder, which is writable: its keys are then
        // covered in the command's namespace rather than left out of Landlock's rules.
        let ssh = home.path().join(".ssh");
        assert!(sandbox.base.deny_read.contains(&ssh) || sandbox.extra.read.iter().any(|(p, _)| *p == ssh));
        assert!(sandbox.base.deny_read.contains(&PathBuf::from("/srv/secret")));
        assert!(sandbox.enabled(), "on unless the settings say otherwise");
    }

    #[test]
    fn excluded_commands_match_any_part_of_the_line_by_its_first_words() {
        let (project, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let sandbox =
            sandbox(serde_json::json!({"excludedCommands": ["docker", "npm run e2e:*"]}), project.path(), home.path());
        assert!(sandbox.excluded("docker ps"));
        assert!(sandbox.excluded("cd web && docker compose up"));
        assert!(sandbox.excluded("npm run e2e --headed"));
        assert!(!sandbox.excluded("dockerd-ish"));
        assert!(!sandbox.excluded("npm run build"));
    }
}
