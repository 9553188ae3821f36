//! Memory files: the instructions users keep for the model in `AGENTS.md`, `CLAUDE.md` and
//! `CLAUDE.local.md`, read from the user's folders and from every folder between the file
//! system's root and the project, broadest first.
//!
//! They are sent once, as a `<system-reminder>` at the start of the first user message (with
//! the date and the git branch), never in the system prompt: the system prompt stays the
//! same all session long and the prompt cache holds. Compaction reads them again from disk,
//! and a "Compact instructions" section in them steers the summary.
//!
//! `@path` in a memory file imports another file (relative to the importing file, `~/` or
//! absolute; outside code), up to five imports deep; a cycle is reported and skipped. The
//! memory files of a folder below the project are read when a tool first touches a file in
//! it ([`nested`]).
//!
//! Rules are memory files too: every `*.md` under `.claude/rules/` (and `.cairn/rules/`, and
//! the user's `~/.claude/rules/`), sent with the others — or, when its frontmatter names
//! `paths:` (globs relative to the project), only once a tool first touches a file they
//! match ([`matching_rules`]).

use std::path::{Path, PathBuf};

/// Files larger than this are skipped (Claude Code's limit).
const MAX_FILE: u64 = 4 << 20;

/// How many imports deep `@path` is followed.
const MAX_IMPORT_DEPTH: usize = 5;

/// The names of a folder's memory files, in the order they are read.
const NAMES: [&str; 4] = ["AGENTS.md", "CLAUDE.md", ".claude/CLAUDE.md", "CLAUDE.local.md"];

/// Where a memory file sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    User,
    Project,
    Local,
    /// The model's own memory of the project (auto memory).
    Auto,
}

/// Lines of the auto memory index sent, at most.
pub const AUTO_INDEX_LINES: usize = 200;

/// Bytes of the auto memory index sent, at most.
pub const AUTO_INDEX_BYTES: usize = 25_000;

/// The auto memory's index file, in its folder.
pub const AUTO_INDEX: &str = "MEMORY.md";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryFile {
    pub path: PathBuf,
    pub scope: Scope,
    pub text: String,
    /// The memory file whose `@path` brought this one in.
    pub imported_by: Option<PathBuf>,
}

/// Where to look.
#[derive(Clone, Debug, Default)]
pub struct MemoryPaths {
    pub project: PathBuf,
    pub cairn_home: PathBuf,
    /// `~/.claude` (absent when `claudeCompat` is off).
    pub claude_dir: Option<PathBuf>,
    /// The auto memory folder, when the model keeps one (`None`: off).
    pub auto: Option<PathBuf>,
}

impl MemoryPaths {
    /// The auto memory folder of `project`: `memory/` beside its transcripts under cairn's
    /// home — or under `~/.claude`, where Claude Code keeps it, when only that one exists.
    pub fn auto_dir(cairn_home: &Path, claude_dir: Option<&Path>, project_folder: &str) -> PathBuf {
        let ours = cairn_home.join("projects").join(project_folder).join("memory");
        match claude_dir.map(|c| c.join("projects").join(project_folder).join("memory")) {
            Some(theirs) if !ours.exists() && theirs.join(AUTO_INDEX).is_file() => theirs,
            _ => ours,
        }
    }

    /// The auto memory index as the model gets it: its first [`AUTO_INDEX_LINES`] lines,
    /// [`AUTO_INDEX_BYTES`] at most.
    fn auto_index(&self) -> Option<MemoryFile> {
        let path = self.auto.as_ref()?.join(AUTO_INDEX);
        let mut head = Vec::new();
        let file = std::fs::File::open(&path).ok()?;
        std::io::Read::read_to_end(&mut std::io::Read::take(file, AUTO_INDEX_BYTES as u64 + 1), &mut head).ok()?;
        let text = String::from_utf8_lossy(&head);
        let lines: Vec<&str> = text.lines().collect();
        let mut shown = String::new();
        for line in lines.iter().take(AUTO_INDEX_LINES) {
            if shown.len() + line.len() + 1 > AUTO_INDEX_BYTES {
                break;
            }
            shown.push_str(line);
            shown.push('\n');
        }
        if shown.len() < text.len() {
            shown.push_str("(the index goes on: keep it short, and read the file for the rest)");
        }
        (!shown.trim().is_empty()).then_some(MemoryFile { path, scope: Scope::Auto, text: shown, imported_by: None })
    }

    /// The auto memory's files (the index first), for `/memory`.
    pub fn auto_files(&self) -> Vec<PathBuf> {
        let Some(dir) = &self.auto else { return Vec::new() };
        let mut files = Vec::new();
        markdown_under(dir, &mut files);
        files.sort_by_key(|f| f.file_name().is_none_or(|n| n != AUTO_INDEX));
        files
    }
    /// Every memory file, broadest first: the user's, then from the top folder down to the
    /// project (`AGENTS.md`, `CLAUDE.md`, `.claude/CLAUDE.md`, then `CLAUDE.local.md`), each
    /// followed by what it imports.
    pub fn load(&self) -> Vec<MemoryFile> {
        self.load_reporting().0
    }

    /// [`MemoryPaths::load`], and what was wrong with the imports (cycles, too deep).
    pub fn load_reporting(&self) -> (Vec<MemoryFile>, Vec<String>) {
        let mut candidates: Vec<(PathBuf, Scope)> = Vec::new();
        if let Some(claude) = &self.claude_dir {
            candidates.push((claude.join("CLAUDE.md"), Scope::User));
        }
        if !self.cairn_home.as_os_str().is_empty() {
            candidates.push((self.cairn_home.join("AGENTS.md"), Scope::User));
            candidates.push((self.cairn_home.join("CLAUDE.md"), Scope::User));
        }
        let mut loader = Loader::default();
        for (path, scope) in candidates {
            loader.add(&path, scope, None, &mut Vec::new());
        }
        let (rules, problems) = self.rules();
        loader.problems.extend(problems);
        let always = |scope: Scope| rules.iter().filter(move |r| r.paths.is_empty() && r.file.scope == scope);
        loader.files.extend(always(Scope::User).map(|r| r.file.clone()));
        let mut folders: Vec<&Path> =
            self.project.ancestors().filter(|d| d.parent().is_some() && !d.as_os_str().is_empty()).collect();
        folders.reverse();
        for folder in folders {
            for (path, scope) in folder_files(folder) {
                loader.add(&path, scope, None, &mut Vec::new());
            }
        }
        loader.files.extend(always(Scope::Project).map(|r| r.file.clone()));
        loader.files.extend(self.auto_index());
        (loader.files, loader.problems)
    }

    /// The rules folders, the user's first.
    fn rule_dirs(&self) -> Vec<(PathBuf, Scope)> {
        let mut dirs = Vec::new();
        if let Some(claude) = &self.claude_dir {
            dirs.push((claude.join("rules"), Scope::User));
        }
        if !self.cairn_home.as_os_str().is_empty() {
            dirs.push((self.cairn_home.join("rules"), Scope::User));
        }
        dirs.push((self.project.join(".claude/rules"), Scope::Project));
        dirs.push((self.project.join(".cairn/rules"), Scope::Project));
        dirs
    }

    /// Every rule file, and what was wrong with those that could not be read.
    pub fn rules(&self) -> (Vec<Rule>, Vec<String>) {
        let (mut rules, mut problems) = (Vec::new(), Vec::new());
        let mut seen = Vec::new();
        for (dir, scope) in self.rule_dirs() {
            let mut files = Vec::new();
            markdown_under(&dir, &mut files);
            for path in files {
                let real = path.canonicalize().unwrap_or_else(|_| path.clone());
                if seen.contains(&real) {
                    continue;
                }
                seen.push(real);
                match read_rule(&path, scope) {
                    Ok(Some(rule)) => rules.push(rule),
                    Ok(None) => {}
                    Err(problem) => problems.push(problem),
                }
            }
        }
        (rules, problems)
    }

    /// The memory files the user writes notes into: the project's `AGENTS.md`, else its
    /// `CLAUDE.md`, else a new `AGENTS.md`.
    pub fn notes_file(&self) -> PathBuf {
        ["AGENTS.md", "CLAUDE.md"]
            .into_iter()
            .map(|name| self.project.join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| self.project.join("AGENTS.md"))
    }
}

/// A rule file: sent with the memory files, or, with `paths`, once a file they match is
/// touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub file: MemoryFile,
    /// Globs relative to the project (`src/api/**/*.ts`); a glob without `/` matches a file
    /// name anywhere.
    pub paths: Vec<String>,
}

fn read_rule(path: &Path, scope: Scope) -> Result<Option<Rule>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: could not be read: {e}", path.display()))?;
    if meta.len() > MAX_FILE {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: could not be read: {e}", path.display()))?;
    let doc = crate::frontmatter::parse(&text).map_err(|(line, problem)| {
        format!("{}:{line}: the frontmatter is not valid YAML ({problem}); the rule is skipped", path.display())
    })?;
    let text = strip_comments(&doc.body);
    if text.trim().is_empty() {
        return Ok(None);
    }
    let paths = crate::frontmatter::list(&doc.fields, "paths");
    Ok(Some(Rule { file: MemoryFile { path: path.to_path_buf(), scope, text, imported_by: None }, paths }))
}

/// Every `*.md` file under `dir`, in sorted order, sub-folders included.
pub fn markdown_under(dir: &Path, out: &mut Vec<PathBuf>) {
    markdown_within(dir, out, 0);
}

/// [`markdown_under`], at most 16 folders deep (a symlinked folder may loop).
fn markdown_within(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    if depth > 16 {
        return;
    }
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            markdown_within(&path, out, depth + 1);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// The path-scoped rules whose globs match `file` (relative to `project`) and that are not
/// in `loaded` yet (those returned are added to it).
pub fn matching_rules(rules: &[Rule], project: &Path, file: &Path, loaded: &mut Vec<PathBuf>) -> Vec<MemoryFile> {
    // Paths are the project's: a file outside it matches none.
    let Ok(relative) = file.strip_prefix(project) else { return Vec::new() };
    let name = relative.file_name().map(Path::new).unwrap_or(relative);
    let mut out = Vec::new();
    for rule in rules.iter().filter(|r| !r.paths.is_empty()) {
        if loaded.contains(&rule.file.path) {
            continue;
        }
        let matches = rule.paths.iter().any(|pattern| {
            let glob = globset::GlobBuilder::new(pattern.trim_start_matches("./")).literal_separator(true).build();
            glob.is_ok_and(|g| {
                let g = g.compile_matcher();
                g.is_match(relative) || (!pattern.contains('/') && g.is_match(name))
            })
        });
        if matches {
            loaded.push(rule.file.path.clone());
            out.push(rule.file.clone());
        }
    }
    out
}

/// A folder's memory files, in reading order.
pub(crate) fn folder_files(folder: &Path) -> Vec<(PathBuf, Scope)> {
    NAMES
        .iter()
        .map(|name| (folder.join(name), if *name == "CLAUDE.local.md" { Scope::Local } else { Scope::Project }))
        .collect()
}

/// Reads files and follows their imports, each file once.
#[derive(Default)]
struct Loader {
    files: Vec<MemoryFile>,
    problems: Vec<String>,
    seen: Vec<PathBuf>,
}

impl Loader {
    /// Reads `path` (if it is a memory file worth sending), then what it imports. `chain`
    /// holds the files importing this one, for cycles.
    fn add(&mut self, path: &Path, scope: Scope, imported_by: Option<&Path>, chain: &mut Vec<PathBuf>) {
        let Ok(meta) = std::fs::metadata(path) else {
            if let Some(by) = imported_by {
                self.problems.push(format!("{} imports {}, which does not exist", by.display(), path.display()));
            }
            return;
        };
        if !meta.is_file() || meta.len() > MAX_FILE {
            return;
        }
        // The same file reached twice (a symlinked CLAUDE.md → AGENTS.md) is sent once.
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if chain.contains(&real) {
            let by = imported_by.map(|b| b.display().to_string()).unwrap_or_default();
            self.problems.push(format!("{by} imports {}, which imports it back: the cycle is skipped", path.display()));
            return;
        }
        if self.seen.contains(&real) {
            return;
        }
        if chain.len() > MAX_IMPORT_DEPTH {
            self.problems.push(format!(
                "{} is imported more than {MAX_IMPORT_DEPTH} levels deep and is skipped",
                path.display()
            ));
            return;
        }
        self.seen.push(real.clone());
        let Ok(text) = std::fs::read_to_string(path) else { return };
        let text = strip_comments(&text);
        let imports = imports_of(&text, path);
        if !text.trim().is_empty() {
            self.files.push(MemoryFile {
                path: path.to_path_buf(),
                scope,
                text,
                imported_by: imported_by.map(Path::to_path_buf),
            });
        }
        chain.push(real);
        for import in imports {
            self.add(&import, scope, Some(path), chain);
        }
        chain.pop();
    }
}

/// The files `@path` imports, resolved against the importing file's folder.
fn imports_of(text: &str, file: &Path) -> Vec<PathBuf> {
    let base = file.parent().unwrap_or(Path::new("/"));
    at_mentions(text)
        .into_iter()
        .filter(|target| target.contains('/') || target.contains('.'))
        .map(|target| resolve_mention(target, base))
        .collect()
}

/// What follows each `@` that starts a word, outside code fences and code spans, without
/// trailing punctuation: the `@path` of memory imports and of commands' file mentions.
pub fn at_mentions(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Every other piece between backticks is a code span.
        for part in line.split('`').step_by(2) {
            for word in part.split_whitespace() {
                let Some(target) = word.strip_prefix('@') else { continue };
                let target = target.trim_end_matches(['.', ',', ';', ':', ')', '"', '\'']);
                if !target.is_empty() && !target.starts_with('@') {
                    out.push(target);
                }
            }
        }
    }
    out
}

/// A mentioned path: `~/` is the home folder, a relative path is under `base`.
pub fn resolve_mention(target: &str, base: &Path) -> PathBuf {
    match target.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map_or_else(|| base.join(target), |h| PathBuf::from(h).join(rest)),
        None => base.join(target),
    }
}

/// The memory files of the folders from just below `project` down to `file`'s folder that
/// are not in `known` yet (folders already looked at are added to it). Read when a tool
/// first touches a file in a sub-folder.
pub fn nested(project: &Path, file: &Path, known: &mut Vec<PathBuf>) -> (Vec<MemoryFile>, Vec<String>) {
    let Some(folder) = file.parent() else { return (Vec::new(), Vec::new()) };
    let Ok(below) = folder.strip_prefix(project) else { return (Vec::new(), Vec::new()) };
    let mut loader = Loader::default();
    let mut current = project.to_path_buf();
    for part in below.components() {
        current.push(part);
        if known.contains(&current) {
            continue;
        }
        known.push(current.clone());
        for (path, scope) in folder_files(&current) {
            loader.add(&path, scope, None, &mut Vec::new());
        }
    }
    (loader.files, loader.problems)
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
        Scope::Auto => "your auto memory of this project: the index of what you saved in earlier sessions",
    }
}

/// How the memory files' text begins (so it can be found again, for `/context`).
pub const PREAMBLE: &str = "Instructions from the user's memory files follow.";

/// The memory files as the model reads them.
pub fn render(files: &[MemoryFile]) -> String {
    let mut out = format!("{PREAMBLE} They take precedence over your usual way of working: follow them.");
    for file in files {
        let label = match &file.imported_by {
            Some(by) => format!("imported by {}", by.display()),
            None => label(file.scope).to_owned(),
        };
        out.push_str(&format!("\n\nContents of {} ({label}):\n\n{}", file.path.display(), file.text.trim_end()));
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
            auto: None,
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
            imported_by: None,
        };
        assert_eq!(compact_instructions(&[file]), ["Keep the test names.\nAnd the errors."]);
    }

    #[test]
    fn imports_are_followed_once_with_cycles_and_depth_reported() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("p");
        std::fs::create_dir_all(project.join("docs")).unwrap();
        std::fs::write(
            project.join("AGENTS.md"),
            "Rules. See @docs/style.md and @docs/missing.md.\n`@docs/not-an-import.md`\n```\n@docs/nor-this.md\n```",
        )
        .unwrap();
        std::fs::write(project.join("docs/style.md"), "Style. @../AGENTS.md @deep1.md").unwrap();
        for i in 1..=7 {
            std::fs::write(project.join(format!("docs/deep{i}.md")), format!("level {i} @deep{}.md", i + 1)).unwrap();
        }
        let paths = MemoryPaths { project: project.clone(), ..MemoryPaths::default() };
        let (files, problems) = paths.load_reporting();
        let names: Vec<String> =
            files.iter().map(|f| f.path.strip_prefix(&project).unwrap().display().to_string()).collect();
        assert_eq!(names[..3], ["AGENTS.md", "docs/style.md", "docs/deep1.md"]);
        assert!(names.len() < 9, "the depth limit holds: {names:?}");
        assert_eq!(files[1].imported_by.as_deref(), Some(project.join("AGENTS.md").as_path()));
        let problems = problems.join("\n");
        assert!(problems.contains("missing.md, which does not exist"), "{problems}");
        assert!(problems.contains("which imports it back"), "{problems}");
        assert!(problems.contains("levels deep"), "{problems}");
        assert!(!problems.contains("not-an-import") && !problems.contains("nor-this"), "{problems}");
        assert!(render(&files).contains("(imported by "));
    }

    #[test]
    fn sub_folders_memory_is_read_once_when_first_touched() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().to_path_buf();
        std::fs::create_dir_all(project.join("crates/parser/src")).unwrap();
        std::fs::write(project.join("crates/AGENTS.md"), "crates rules").unwrap();
        std::fs::write(project.join("crates/parser/CLAUDE.md"), "parser rules").unwrap();
        let mut known = Vec::new();
        let (files, _) = nested(&project, &project.join("crates/parser/src/lib.rs"), &mut known);
        let texts: Vec<&str> = files.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["crates rules", "parser rules"]);
        let (again, _) = nested(&project, &project.join("crates/parser/src/other.rs"), &mut known);
        assert!(again.is_empty());
        let (outside, _) = nested(&project, Path::new("/etc/hosts"), &mut known);
        assert!(outside.is_empty());
    }

    #[test]
    fn rules_load_always_or_when_their_paths_are_touched() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("p");
        let home = root.path().join("home");
        std::fs::create_dir_all(project.join(".claude/rules/frontend")).unwrap();
        std::fs::create_dir_all(home.join(".claude/rules")).unwrap();
        std::fs::write(home.join(".claude/rules/me.md"), "USER-RULE").unwrap();
        std::fs::write(project.join(".claude/rules/style.md"), "ALWAYS-RULE").unwrap();
        std::fs::write(
            project.join(".claude/rules/frontend/api.md"),
            "---\npaths:\n  - \"src/api/**/*.ts\"\n---\nAPI-RULE",
        )
        .unwrap();
        std::fs::write(project.join(".claude/rules/docs.md"), "---\npaths: \"*.md\"\n---\nDOCS-RULE").unwrap();
        std::fs::write(project.join(".claude/rules/broken.md"), "---\npaths: [\n---\nx").unwrap();
        std::fs::write(project.join("AGENTS.md"), "PROJECT").unwrap();
        let paths =
            MemoryPaths { project: project.clone(), claude_dir: Some(home.join(".claude")), ..MemoryPaths::default() };
        let (files, problems) = paths.load_reporting();
        let texts: Vec<&str> = files.iter().map(|f| f.text.trim()).collect();
        assert_eq!(texts, ["USER-RULE", "PROJECT", "ALWAYS-RULE"]);
        assert!(problems.iter().any(|p| p.contains("broken.md:")), "{problems:?}");
        let (rules, _) = paths.rules();
        let mut loaded = Vec::new();
        assert!(matching_rules(&rules, &project, &project.join("src/main.ts"), &mut loaded).is_empty());
        let api = matching_rules(&rules, &project, &project.join("src/api/v1/users.ts"), &mut loaded);
        assert_eq!(api.iter().map(|f| f.text.trim()).collect::<Vec<_>>(), ["API-RULE"]);
        assert!(matching_rules(&rules, &project, &project.join("src/api/x.ts"), &mut loaded).is_empty(), "once");
        let docs = matching_rules(&rules, &project, &project.join("docs/guide/intro.md"), &mut loaded);
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn the_auto_memory_index_is_sent_within_its_lines_and_bytes() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("memory");
        std::fs::create_dir_all(&dir).unwrap();
        let index: String = (1..=300).map(|i| format!("- entry {i}\n")).collect();
        std::fs::write(dir.join(AUTO_INDEX), index).unwrap();
        let paths = MemoryPaths { project: root.path().join("p"), auto: Some(dir.clone()), ..MemoryPaths::default() };
        let sent = paths.auto_index().unwrap().text;
        assert!(
            sent.contains("- entry 200\n")
                && !sent.contains("entry 201")
                && sent.ends_with("read the file for the rest)")
        );
        std::fs::write(dir.join(AUTO_INDEX), "x".repeat(3 * AUTO_INDEX_BYTES)).unwrap();
        assert!(paths.auto_index().unwrap().text.len() < AUTO_INDEX_BYTES, "one huge line is not sent whole");
    }

    #[test]
    fn notes_go_to_the_existing_memory_file() {
        let root = tempfile::tempdir().unwrap();
        let paths = MemoryPaths { project: root.path().to_path_buf(), ..MemoryPaths::default() };
        assert_eq!(paths.notes_file(), root.path().join("AGENTS.md"));
        std::fs::write(root.path().join("CLAUDE.md"), "x").unwrap();
        assert_eq!(paths.notes_file(), root.path().join("CLAUDE.md"));
    }
}
