//! Memory files: the instructions users keep for the model in `AGENTS.md`, `CLAUDE.md` and
//! `CLAUDE.local.md`, read from the user's folders and from every folder between the file
//! system's root and the project, broadest first.
//!
//! They are sent once, as a `<system-reminder>` at the start of the first user message (with
//! the date and the git branch), never in the system prompt: the system prompt stays the
//! same all session long and the prompt cache holds. Compaction reads them again from disk,
//! and a "Compact instructions" section in them steers the summary.

use std::path::{Path, PathBuf};

/// Files larger than this are skipped (Claude Code's limit).
const MAX_FILE: u64 = 4 << 20;

/// Where a memory file sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    User,
    Project,
    Local,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryFile {
    pub path: PathBuf,
    pub scope: Scope,
    pub text: String,
}

/// Where to look.
#[derive(Clone, Debug, Default)]
pub struct MemoryPaths {
    pub project: PathBuf,
    pub cairn_home: PathBuf,
    /// `~/.claude` (absent when `claudeCompat` is off).
    pub claude_dir: Option<PathBuf>,
}

impl MemoryPaths {
    /// Every memory file, broadest first: the user's, then from the top folder down to the
    /// project (`AGENTS.md`, `CLAUDE.md`, `.claude/CLAUDE.md`, then `CLAUDE.local.md`).
    pub fn load(&self) -> Vec<MemoryFile> {
        let mut candidates: Vec<(PathBuf, Scope)> = Vec::new();
        if let Some(claude) = &self.claude_dir {
            candidates.push((claude.join("CLAUDE.md"), Scope::User));
        }
        if !self.cairn_home.as_os_str().is_empty() {
            candidates.push((self.cairn_home.join("AGENTS.md"), Scope::User));
            candidates.push((self.cairn_home.join("CLAUDE.md"), Scope::User));
        }
        let mut folders: Vec<&Path> =
            self.project.ancestors().filter(|d| d.parent().is_some() && !d.as_os_str().is_empty()).collect();
        folders.reverse();
        for folder in folders {
            for name in ["AGENTS.md", "CLAUDE.md", ".claude/CLAUDE.md"] {
                candidates.push((folder.join(name), Scope::Project));
            }
            candidates.push((folder.join("CLAUDE.local.md"), Scope::Local));
        }
        let mut seen: Vec<PathBuf> = Vec::new();
        let mut out = Vec::new();
        for (path, scope) in candidates {
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if !meta.is_file() || meta.len() > MAX_FILE {
                continue;
            }
            // The same file reached twice (a symlinked CLAUDE.md → AGENTS.md) is sent once.
            let real = path.canonicalize().unwrap_or_else(|_| path.clone());
            if seen.contains(&real) {
                continue;
            }
            seen.push(real);
            if let Ok(text) = std::fs::read_to_string(&path) {
                let text = strip_comments(&text);
                if !text.trim().is_empty() {
                    out.push(MemoryFile { path, scope, text });
                }
            }
        }
        out
    }
}

/// HTML block comments are notes for people, not the model.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn label(scope: Scope) -> &'static str {
    match scope {
        Scope::User => "the user's own instructions, for every project",
        Scope::Project => "project instructions, checked into the codebase",
        Scope::Local => "the user's private instructions for this project",
    }
}

/// How the memory files' text begins (so it can be found again, for `/context`).
pub const PREAMBLE: &str = "Instructions from the user's memory files follow.";

/// The memory files as the model reads them.
pub fn render(files: &[MemoryFile]) -> String {
    let mut out = format!("{PREAMBLE} They take precedence over your usual way of working: follow them.");
    for file in files {
        out.push_str(&format!(
            "\n\nContents of {} ({}):\n\n{}",
            file.path.display(),
            label(file.scope),
            file.text.trim_end()
        ));
    }
    out
}

/// The "Compact instructions" sections of the memory files (a heading of that name, to the
/// next heading of the same or a higher level).
pub fn compact_instructions(files: &[MemoryFile]) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        let mut collecting: Option<usize> = None;
        let mut section = String::new();
        for line in file.text.lines() {
            let level = line.chars().take_while(|c| *c == '#').count();
            let heading = level > 0 && line[level..].starts_with(' ');
            if let Some(depth) = collecting
                && heading
                && level <= depth
            {
                collecting = None;
                out.push(std::mem::take(&mut section).trim().to_owned());
            }
            if collecting.is_some() {
                section.push_str(line);
                section.push('\n');
            } else if heading && line[level..].trim().eq_ignore_ascii_case("compact instructions") {
                collecting = Some(level);
            }
        }
        if collecting.is_some() && !section.trim().is_empty() {
            out.push(section.trim().to_owned());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_load_broadest_first_once_each_without_comments() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let project = root.path().join("repo/app");
        std::fs::create_dir_all(project.join(".claude")).unwrap();
        std::fs::create_dir_all(home.join(".claude")).unwrap();
        std::fs::write(home.join(".claude/CLAUDE.md"), "user rules").unwrap();
        std::fs::write(root.path().join("repo/AGENTS.md"), "repo rules <!-- private note -->").unwrap();
        std::fs::write(project.join("AGENTS.md"), "app rules").unwrap();
        std::os::unix::fs::symlink(project.join("AGENTS.md"), project.join("CLAUDE.md")).unwrap();
        std::fs::write(project.join("CLAUDE.local.md"), "my rules").unwrap();
        let paths = MemoryPaths {
            project: project.clone(),
            cairn_home: home.join(".cairn"),
            claude_dir: Some(home.join(".claude")),
        };
        let files = paths.load();
        let texts: Vec<&str> = files.iter().map(|f| f.text.trim()).collect();
        assert_eq!(texts, ["user rules", "repo rules", "app rules", "my rules"]);
        assert_eq!(files[3].scope, Scope::Local);
        let shown = render(&files);
        assert!(shown.contains(&format!("Contents of {} (project instructions", project.join("AGENTS.md").display())));
    }

    #[test]
    fn compact_instructions_sections() {
        let file = MemoryFile {
            path: "/p/CLAUDE.md".into(),
            scope: Scope::Project,
            text: "# Rules\nuse tabs\n## Compact instructions\nKeep the test names.\nAnd the errors.\n## Other\nx\n"
                .into(),
        };
        assert_eq!(compact_instructions(&[file]), ["Keep the test names.\nAnd the errors."]);
    }
}
