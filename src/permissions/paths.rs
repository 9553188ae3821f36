//! Paths in permission rules and the paths calls touch.
//!
//! A rule's path is a gitignore-style pattern with Claude Code's anchors: `//abs` from the
//! file-system root, `~/` from the home folder, `/x` from the folder of the settings file
//! the rule came from, anything else from the project folder. `*` stays within one path
//! segment, `**` crosses them; a bare name (`.env`, `*.pem`) matches at any depth; a pattern
//! without wildcards also covers everything below it. Deny and ask rules read patterns
//! broadly (a one-segment folder pattern like `secrets/**` matches at any depth), allow rules
//! narrowly (from the project folder only).
//!
//! A call's path becomes a [`Target`]: the path as named (made absolute, `..` applied) and
//! where it really is (symlinks followed, including one made earlier in the session). A deny
//! or ask rule matching either applies; an allow rule must match both.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::location::{normalize, real_location};

/// Folders a write into is never approved without asking (outside bypass mode).
const PROTECTED_DIRS: &[&str] =
    &[".git", ".claude", ".cairn", ".vscode", ".idea", ".husky", ".cargo", ".devcontainer", ".yarn", ".mvn"];
/// Files the same holds for: shell start-up files, git and package-manager configuration,
/// MCP and agent configuration.
const PROTECTED_FILES: &[&str] = &[
    ".gitconfig",
    ".gitmodules",
    ".gitattributes",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".zlogin",
    ".profile",
    ".envrc",
    ".npmrc",
    ".yarnrc",
    ".pypirc",
    ".netrc",
    ".mcp.json",
    ".claude.json",
];

/// Where a path a call touches points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Absolute, with `.` and `..` applied.
    pub named: PathBuf,
    /// With symlinks followed.
    pub real: PathBuf,
}

impl Target {
    /// `path` as the tool will see it from `cwd` (`~` is `home`).
    pub fn resolve(path: &str, cwd: &Path, home: Option<&Path>) -> Target {
        let expanded = match (path, home) {
            ("~", Some(home)) => home.to_path_buf(),
            (p, Some(home)) if p.starts_with("~/") => home.join(&p[2..]),
            (p, _) => PathBuf::from(p),
        };
        let named = normalize(&cwd.join(expanded));
        let real = real_location(&named);
        Target { named, real }
    }

    /// Inside one of `roots` (named and real both).
    pub fn within(&self, roots: &[PathBuf]) -> bool {
        let inside = |p: &Path| roots.iter().any(|root| p.starts_with(root));
        inside(&self.named) && inside(&self.real)
    }

    /// A write here is never approved without asking.
    pub fn protected(&self) -> bool {
        is_protected(&self.named) || is_protected(&self.real)
    }

    /// Devices that are not files: `/dev/null`, the standard streams.
    pub fn is_harmless_device(&self) -> bool {
        let p = self.real.to_string_lossy();
        matches!(p.as_ref(), "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/stdin" | "/dev/tty")
            || p.starts_with("/dev/fd/")
    }
}

fn is_protected(path: &Path) -> bool {
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    let in_dir = parts.iter().enumerate().any(|(i, part)| {
        PROTECTED_DIRS.contains(part)
            // Claude Code's own worktrees are work, not configuration.
            && !(*part == ".claude" && parts.get(i + 1) == Some(&"worktrees"))
    });
    let git_config = parts.windows(2).any(|w| w == [".config", "git"]);
    let file = path.file_name().and_then(|f| f.to_str()).is_some_and(|f| PROTECTED_FILES.contains(&f));
    in_dir || git_config || file
}

/// The folders a pattern's anchors stand for.
#[derive(Clone, Debug)]
pub struct Anchors {
    /// `/x`: the folder of the settings file the rule came from.
    pub settings_dir: PathBuf,
    /// `x`, `./x`: the project folder.
    pub project_dir: PathBuf,
    pub home: Option<PathBuf>,
}

/// A compiled path rule. Globs made only of whole folder names and `**` (most rules:
/// `./secrets/**`, `.env`, `//etc/passwd`) are matched segment by segment; the rest go to a
/// `GlobSet`. Compiling is then cheap enough for tens of thousands of rules.
#[derive(Clone, Debug)]
pub struct PathPattern {
    set: Option<GlobSet>,
    simple: Vec<Vec<Segment>>,
    /// Each glob's fixed leading folders (`/p/secrets` of `/p/secrets/**`, `/` of `/**/.env`).
    prefixes: Vec<PathBuf>,
}

impl PathPattern {
    /// Compiles `spec` for a deny/ask rule (`broad`) or an allow rule.
    pub fn compile(spec: &str, anchors: &Anchors, broad: bool) -> Result<PathPattern, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("the path is empty".into());
        }
        let mut bases: Vec<(PathBuf, String)> = Vec::new();
        let with_variants = |dir: &Path| -> Vec<PathBuf> {
            let mut dirs = vec![dir.to_path_buf()];
            if let Ok(real) = dir.canonicalize()
                && real != dir
            {
                dirs.push(real);
            }
            dirs
        };
        if let Some(rest) = spec.strip_prefix("//") {
            bases.push((PathBuf::from("/"), rest.to_owned()));
        } else if let Some(rest) = spec.strip_prefix("~/") {
            let home = anchors.home.as_ref().ok_or("`~` is used but there is no home folder")?;
            bases.extend(with_variants(home).into_iter().map(|d| (d, rest.to_owned())));
        } else if let Some(rest) = spec.strip_prefix('/') {
            bases.extend(with_variants(&anchors.settings_dir).into_iter().map(|d| (d, rest.to_owned())));
        } else {
            let rest = spec.strip_prefix("./").unwrap_or(spec);
            let anywhere = !rest.contains('/') || (broad && single_segment_dir(rest));
            if anywhere {
                bases.push((PathBuf::from("/"), format!("**/{rest}")));
                if !broad {
                    // An allow rule's bare name still only reaches into the project.
                    bases.clear();
                    bases.extend(with_variants(&anchors.project_dir).into_iter().map(|d| (d, format!("**/{rest}"))));
                }
            } else {
                bases.extend(with_variants(&anchors.project_dir).into_iter().map(|d| (d, rest.to_owned())));
            }
        }
        let mut builder = GlobSetBuilder::new();
        let mut globs = 0;
        let mut simple = Vec::new();
        let mut prefixes = Vec::new();
        for (base, rest) in bases {
            let rest = rest.trim_end_matches('/');
            let base = globset::escape(&base.to_string_lossy());
            let full = if rest.is_empty() { base } else { format!("{}/{rest}", base.trim_end_matches('/')) };
            let full = full.replace("//", "/");
            prefixes.push(literal_prefix(&full));
            for pattern in [full.clone(), format!("{full}/**")] {
                if let Some(segments) = segments(&pattern) {
                    simple.push(segments);
                    continue;
                }
                let glob = GlobBuilder::new(&pattern)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| format!("not a valid path pattern: {e}"))?;
                builder.add(glob);
                globs += 1;
            }
        }
        let set =
            if globs > 0 { Some(builder.build().map_err(|e| format!("not a valid path pattern: {e}"))?) } else { None };
        Ok(PathPattern { set, simple, prefixes })
    }

    pub fn matches(&self, path: &Path) -> bool {
        // Lossy: a name that is not UTF-8 matches no literal name, as with globset's bytes.
        let owned: Vec<std::borrow::Cow<'_, str>> = path.iter().map(|p| p.to_string_lossy()).collect();
        let parts: Vec<&str> = owned.iter().map(AsRef::as_ref).filter(|p| *p != "/").collect();
        self.simple.iter().any(|segments| segments_match(segments, &parts))
            || self.set.as_ref().is_some_and(|set| set.is_match(path))
    }

    /// The paths a pattern without wildcards names (each with everything below it); `None`
    /// when it has wildcards.
    pub fn literal_paths(&self) -> Option<Vec<PathBuf>> {
        if self.set.is_some() {
            return None;
        }
        let mut out = Vec::new();
        for segments in &self.simple {
            // Everything below a path (`x/**`, and `x/**/**` of the form kept for it) is the
            // path with everything below it.
            let mut names = segments.as_slice();
            while let Some((Segment::AnyDepth, rest)) = names.split_last() {
                names = rest;
            }
            let mut path = PathBuf::from("/");
            for segment in names {
                match segment {
                    Segment::Name(name) => path.push(name),
                    Segment::AnyDepth => return None,
                }
            }
            if !out.contains(&path) {
                out.push(path);
            }
        }
        Some(out)
    }

    /// Whether something in the tree under `dir` (or `dir` itself) could match.
    pub fn may_match_under(&self, dir: &Path) -> bool {
        self.prefixes.iter().any(|prefix| dir.starts_with(prefix) || prefix.starts_with(dir))
    }
}

/// One folder of a simple pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Name(String),
    /// `**`: any number of folders, none included.
    AnyDepth,
}

/// An absolute glob as segments, when it has no wildcard but whole `**` folders (and no
/// escapes).
fn segments(glob: &str) -> Option<Vec<Segment>> {
    glob.split('/')
        .filter(|p| !p.is_empty())
        .map(|part| match part {
            "**" => Some(Segment::AnyDepth),
            _ if part.contains(['*', '?', '[', ']', '{', '}', '\\']) => None,
            _ => Some(Segment::Name(part.to_owned())),
        })
        .collect()
}

/// Whether the path's folders match the segments (`**` as globset reads it with literal
/// separators: zero or more whole folders; at the end, anything below, which the root `/`
/// always has).
fn segments_match(segments: &[Segment], parts: &[&str]) -> bool {
    matches_from(segments, parts, true)
}

fn matches_from(segments: &[Segment], parts: &[&str], at_root: bool) -> bool {
    match segments.split_first() {
        None => parts.is_empty(),
        Some((Segment::Name(name), rest)) => {
            parts.first().is_some_and(|p| p == name) && matches_from(rest, &parts[1..], false)
        }
        Some((Segment::AnyDepth, rest)) => {
            if rest.is_empty() {
                return at_root || !parts.is_empty();
            }
            (0..=parts.len()).any(|skip| matches_from(rest, &parts[skip..], at_root && skip == 0))
        }
    }
}

/// The folders of a glob before its first wildcard, unescaped.
fn literal_prefix(glob: &str) -> PathBuf {
    let mut prefix = PathBuf::from("/");
    for part in glob.split('/').filter(|p| !p.is_empty()) {
        if part.contains(['*', '?', '[', '{']) {
            break;
        }
        prefix.push(part.replace('\\', ""));
    }
    prefix
}

/// `secrets/**`, `build/*`: one folder name, then wildcards.
fn single_segment_dir(rest: &str) -> bool {
    let mut parts = rest.split('/');
    let first = parts.next().unwrap_or("");
    !first.is_empty() && !first.contains(['*', '?', '[']) && parts.all(|p| p.chars().all(|c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors() -> Anchors {
        Anchors {
            settings_dir: PathBuf::from("/home/u/.claude"),
            project_dir: PathBuf::from("/work/app"),
            home: Some(PathBuf::from("/home/u")),
        }
    }

    fn matches(spec: &str, broad: bool, path: &str) -> bool {
        PathPattern::compile(spec, &anchors(), broad).unwrap().matches(Path::new(path))
    }

    #[test]
    fn anchors_follow_claude_codes_rules() {
        assert!(matches("//etc/passwd", true, "/etc/passwd"));
        assert!(matches("~/.ssh/**", true, "/home/u/.ssh/id_rsa"));
        assert!(matches("/hooks/*.sh", true, "/home/u/.claude/hooks/x.sh"));
        assert!(!matches("/hooks/*.sh", true, "/hooks/x.sh"));
        assert!(matches("./secrets/**", true, "/work/app/secrets/a/b.txt"));
        assert!(matches("src/*.rs", false, "/work/app/src/main.rs"));
        assert!(!matches("src/*.rs", false, "/work/app/src/deep/main.rs"), "* stays in one segment");
        assert!(matches("src/**/*.rs", false, "/work/app/src/deep/main.rs"));
    }

    #[test]
    fn bare_names_and_folders_reach_as_far_as_their_purpose_allows() {
        assert!(matches(".env", true, "/anywhere/deep/.env"));
        assert!(matches(".env", false, "/work/app/deep/.env"));
        assert!(!matches(".env", false, "/elsewhere/.env"));
        assert!(matches("secrets/**", true, "/work/app/a/secrets/k"), "deny: any depth");
        assert!(!matches("secrets/**", false, "/work/app/a/secrets/k"), "allow: the project's own");
        assert!(matches("./secrets", true, "/work/app/secrets/inner/key"), "a folder covers what is below");
        assert!(matches("*.pem", true, "/x/y/cert.pem"));
    }

    proptest::proptest! {
        /// Segment matching agrees with globset on the globs it takes over.
        #[test]
        fn simple_globs_match_as_globset_does(
            pattern in proptest::collection::vec(proptest::sample::select(vec!["a", "b", "**"]), 1..5),
            path in proptest::collection::vec(proptest::sample::select(vec!["a", "b", "c"]), 0..5),
        ) {
            let glob = format!("/{}", pattern.join("/"));
            let path = format!("/{}", path.join("/"));
            let reference = GlobBuilder::new(&glob).literal_separator(true).build().unwrap().compile_matcher();
            let ours = segments(&glob).unwrap();
            let parts: Vec<&str> = Path::new(&path).iter().filter_map(|p| p.to_str()).filter(|p| *p != "/").collect();
            proptest::prop_assert_eq!(segments_match(&ours, &parts), reference.is_match(&path), "{} on {}", glob, path);
        }
    }

    #[test]
    fn protected_paths() {
        let t = |p: &str| Target { named: PathBuf::from(p), real: PathBuf::from(p) };
        assert!(t("/w/.git/config").protected());
        assert!(t("/w/.claude/settings.json").protected());
        assert!(!t("/w/.claude/worktrees/x/src/a.rs").protected());
        assert!(t("/home/u/.bashrc").protected());
        assert!(t("/home/u/.config/git/config").protected());
        assert!(!t("/w/src/git.rs").protected());
    }

    #[test]
    fn targets_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let t = Target::resolve("link/secret", dir.path(), None);
        assert_eq!(t.named, dir.path().join("link/secret"));
        assert_eq!(t.real, outside.path().canonicalize().unwrap().join("secret"));
        let roots = [dir.path().canonicalize().unwrap()];
        assert!(!t.within(&roots));
        let t = Target::resolve("~/x", Path::new("/w"), Some(Path::new("/home/u")));
        assert_eq!(t.named, PathBuf::from("/home/u/x"));
    }
}
