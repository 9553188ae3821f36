//! The Read deny rules, for the tools that read files without naming each one to the gate:
//! Grep, Glob and LS walk folders, and attachments (`@file`, a command file's mentions) are
//! read for the user. Each walk leaves out what a rule denies — whole folders pruned — so a
//! search over `.` never shows a file `Read(./.env)` protects.

use std::path::{Path, PathBuf};

use super::paths::Target;
use super::rule::CompiledRule;
use super::{PermissionPolicy, Subject};

/// A snapshot of the Read deny rules (cheap to share across a walk's threads).
#[derive(Clone, Debug, Default)]
pub struct ReadDenials {
    rules: Vec<CompiledRule>,
    home: Option<PathBuf>,
}

impl ReadDenials {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some rule could deny a path in the tree under `dir` (named or real).
    pub fn may_deny_under(&self, dir: &Path) -> bool {
        let real = crate::location::real_location(dir);
        self.rules.iter().any(|r| r.may_match_under(dir) || r.may_match_under(&real))
    }

    /// The rule that denies reading this file, as named and where it really is, in words.
    pub fn denial(&self, named: &Path, real: &Path) -> Option<String> {
        let target = Target { named: named.to_path_buf(), real: real.to_path_buf() };
        self.rules
            .iter()
            .find(|r| r.matches(&Subject::Read(&target)))
            .map(|r| format!("denied by the permission rule {} (from {})", r.rule, r.origin.label))
    }

    /// The same for a path that may pass through symlinks.
    pub fn denial_of(&self, path: &Path) -> Option<String> {
        let target = Target::resolve(&path.to_string_lossy(), Path::new("/"), self.home.as_deref());
        self.denial(&target.named, &target.real)
    }
}

impl PermissionPolicy {
    /// The domains WebFetch deny rules name (canonical spelling), with the rule in words:
    /// WebFetch compares their addresses with the address it is about to fetch from.
    pub fn denied_domains(&self) -> Vec<(String, String)> {
        self.deny
            .iter()
            .filter_map(|r| {
                let domain = r.domain()?;
                Some((domain.to_owned(), format!("denied by the permission rule {} (from {})", r.rule, r.origin.label)))
            })
            .collect()
    }

    /// The domains WebFetch allow rules name: Claude Code lets sandboxed commands reach
    /// them too.
    pub fn allowed_domains(&self) -> Vec<String> {
        self.allow.iter().filter_map(|r| r.domain()).map(str::to_owned).collect()
    }

    /// The Read and Edit deny rules that name paths, for the sandbox to hold.
    pub fn path_denials(&self) -> Vec<PathDenial> {
        self.deny
            .iter()
            .filter(|r| matches!(r.rule.family(), "Read" | "Edit") && r.rule.specifier.is_some())
            .map(|rule| {
                let spec = rule.rule.specifier.as_deref().unwrap_or_default().trim();
                PathDenial {
                    write: rule.rule.family() == "Edit",
                    words: format!("{} (from {})", rule.rule, rule.origin.label),
                    literal: rule.literal_paths(),
                    relative: !spec.starts_with('/') && !spec.starts_with("~/"),
                    rule: rule.clone(),
                }
            })
            .collect()
    }

    /// The Read deny rules in force (with a path; a bare `Read` deny takes the tools away).
    pub fn read_denials(&self) -> ReadDenials {
        let rules =
            self.deny.iter().filter(|r| r.rule.family() == "Read" && r.rule.specifier.is_some()).cloned().collect();
        ReadDenials { rules, home: self.home() }
    }
}

/// A Read or Edit deny rule on paths, as the sandbox sees it.
#[derive(Clone, Debug)]
pub struct PathDenial {
    /// An Edit rule (writes), else a Read rule (reads and writes).
    pub write: bool,
    /// The rule and where it came from, in words.
    pub words: String,
    /// The paths it names, when it has no wildcard.
    pub literal: Option<Vec<PathBuf>>,
    /// Written from the project (`./x`, `x`, `**/x`): Claude Code reads it within the
    /// project, so what it means is what it matches there.
    pub relative: bool,
    rule: CompiledRule,
}

impl PathDenial {
    pub fn matches(&self, path: &Path) -> bool {
        let target = Target { named: path.to_path_buf(), real: path.to_path_buf() };
        self.rule.matches(&Subject::Read(&target)) || self.rule.matches(&Subject::Write(&target))
    }

    /// Whether something under `dir` could match.
    pub fn may_match_under(&self, dir: &Path) -> bool {
        self.rule.may_match_under(dir)
    }
}
