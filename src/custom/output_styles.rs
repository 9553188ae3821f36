//! Output styles, as Claude Code has them: a style replaces the coding part of the system
//! prompt with its own instructions (or adds them to it, with `keep-coding-instructions:
//! true`), for using the agent as something other than a terse engineer.
//!
//! Two are built in (Explanatory, Learning); users add markdown files to an
//! `output-styles/` folder of the project's `.claude/` or `.cairn/`, or of `~/.claude/` or
//! `$CAIRN_HOME` — frontmatter `name` (default: the file's name), `description` and
//! `keep-coding-instructions`, the body the instructions. The project's win over the user's,
//! and both over the built-in ones. `default` is no style.

use std::path::{Path, PathBuf};

use super::Locations;
use super::frontmatter;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputStyle {
    pub name: String,
    pub description: String,
    /// The instructions the system prompt gets.
    pub prompt: String,
    /// Keep cairn's own instructions for coding beside the style's.
    pub keep_coding_instructions: bool,
    /// The file it came from (`None`: built in).
    pub path: Option<PathBuf>,
}

const EXPLANATORY: &str = "\
# Output style: Explanatory
You help with software engineering and also teach along the way. While you work, add brief \
educational insights about the codebase and your choices: why this approach, what pattern the \
code follows, what trade-off was made. Put each in a short block starting with \
\"★ Insight\" (two or three points), before or after the code it explains. Keep them specific \
to this code, not general programming advice, and keep doing the task as well as ever.";

const LEARNING: &str = "\
# Output style: Learning
You help with software engineering and help the user learn by doing. Do the routine parts \
yourself; for a meaningful piece of logic (a design decision, a business rule, an algorithm of \
5–10 lines), prepare the surrounding code, leave a clearly marked `TODO(human)` where it goes, \
and ask the user to write it: say what it should do, the trade-offs to consider, and where. \
Add brief \"★ Insight\" blocks that explain the codebase and your choices. Review what they \
write kindly and precisely.";

/// The styles that come with cairn.
pub fn builtin() -> Vec<OutputStyle> {
    let style = |name: &str, description: &str, prompt: &str| OutputStyle {
        name: name.to_owned(),
        description: description.to_owned(),
        prompt: prompt.to_owned(),
        keep_coding_instructions: true,
        path: None,
    };
    vec![
        style("Explanatory", "Explains its choices and the codebase as it works", EXPLANATORY),
        style("Learning", "Asks you to write key pieces yourself, with guidance", LEARNING),
    ]
}

/// Every style there is, by name, with the problems of files that could not be read.
pub fn list(at: &Locations) -> (Vec<OutputStyle>, Vec<String>) {
    let mut styles = builtin();
    let mut problems = Vec::new();
    // Lowest first: a later one with the same name replaces an earlier one.
    let dirs = at.user_dirs().into_iter().rev().chain(at.project_dirs().into_iter().rev());
    for dir in dirs {
        for style in read_dir(&dir.join("output-styles"), &mut problems) {
            styles.retain(|s| !s.name.eq_ignore_ascii_case(&style.name));
            styles.push(style);
        }
    }
    // A plugin's styles are named `plugin:style`, beside the others.
    for plugin in at.plugin_parts() {
        for dir in &plugin.output_styles {
            for mut style in read_dir(dir, &mut problems) {
                style.name = format!("{}:{}", plugin.name, style.name);
                styles.push(style);
            }
        }
    }
    (styles, problems)
}

/// The style called `name` (any case); `Ok(None)` for `default`. An unknown name is an error
/// that lists the known ones.
pub fn find(at: &Locations, name: &str) -> Result<Option<OutputStyle>, String> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    let (styles, _) = list(at);
    if let Some(style) = styles.iter().find(|s| s.name.eq_ignore_ascii_case(name)) {
        return Ok(Some(style.clone()));
    }
    let names: Vec<&str> = std::iter::once("default").chain(styles.iter().map(|s| s.name.as_str())).collect();
    Err(format!("no output style named {name:?}: there are {}", names.join(", ")))
}

fn read_dir(dir: &Path, problems: &mut Vec<String>) -> Vec<OutputStyle> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "md")).collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        match read_style(&path) {
            Ok(style) => out.push(style),
            Err(problem) => problems.push(format!("{}: {problem}", path.display())),
        }
    }
    out
}

fn read_style(path: &Path) -> Result<OutputStyle, String> {
    let text = crate::limits::read_text(path, 1 << 20).map_err(|e| e.to_string())?;
    let document = frontmatter::parse(&text).map_err(|(line, message)| format!("line {line}: {message}"))?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let fields = &document.fields;
    Ok(OutputStyle {
        name: frontmatter::string(fields, "name").unwrap_or(stem),
        description: frontmatter::string(fields, "description")
            .unwrap_or_else(|| frontmatter::first_paragraph(&document.body)),
        prompt: document.body.trim().to_owned(),
        keep_coding_instructions: frontmatter::boolean(fields, "keep-coding-instructions").unwrap_or(false),
        path: Some(path.to_path_buf()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_style_wins_and_default_is_none() {
        let project = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let claude = home.path().join(".claude");
        std::fs::create_dir_all(claude.join("output-styles")).unwrap();
        std::fs::create_dir_all(project.path().join(".claude/output-styles")).unwrap();
        std::fs::write(claude.join("output-styles/pirate.md"), "---\ndescription: user's\n---\nArr (user).").unwrap();
        std::fs::write(
            project.path().join(".claude/output-styles/pirate.md"),
            "---\nname: Pirate\ndescription: project's\nkeep-coding-instructions: true\n---\nArr.",
        )
        .unwrap();
        let at = Locations {
            project: project.path().to_path_buf(),
            cairn_home: home.path().join(".cairn"),
            claude_dir: Some(claude),
            ..Locations::default()
        };
        let style = find(&at, "PIRATE").unwrap().unwrap();
        assert_eq!((style.description.as_str(), style.prompt.as_str()), ("project's", "Arr."));
        assert!(style.keep_coding_instructions);
        assert_eq!(find(&at, "default"), Ok(None));
        assert_eq!(find(&at, "learning").unwrap().unwrap().name, "Learning");
        let unknown = find(&at, "haiku").unwrap_err();
        assert!(unknown.contains("default, Explanatory, Learning, Pirate"), "{unknown}");
    }
}
