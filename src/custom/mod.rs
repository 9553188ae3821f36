//! Users' own commands, skills and sub-agents, in Claude Code's formats.
//!
//! A **command** is a markdown file in a `commands/` folder (`deploy.md` → `/deploy`, a
//! sub-folder a namespace: `frontend/build.md` → `/frontend:build`); a **skill** is a folder
//! with a `SKILL.md` in a `skills/` folder, its other files beside it; an **agent** is a
//! markdown file in an `agents/` folder whose body is the sub-agent's system prompt. Each is
//! looked for under the project's `.cairn/` and `.claude/` and the user's `$CAIRN_HOME` and
//! `~/.claude/`; skills also come bundled with cairn (the top-level `skills/` folder,
//! embedded at build time). Only names and descriptions are kept in memory: a body is read
//! from disk when it is used, so an edit shows at the next use. A file that cannot be read
//! or whose frontmatter is broken is reported (file and line) and the rest still load.
//!
//! Which wins when two share a name: a skill over a command; the user's skill over the
//! project's; the project's command over the user's; any of them over a bundled skill.
//! An enabled plugin's commands, skills and agents are named `plugin:name` and never
//! clash; `/name` alone reaches a plugin's command when no other has that name.

pub mod expand;
pub use crate::frontmatter;
pub mod output_styles;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use frontmatter::Document;

/// Skill listings longer than this lose their last entries (Claude Code's fallback budget).
const LISTING_BUDGET: usize = 8_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Command,
    Skill,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Project,
    User,
    Bundled,
    Plugin,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Project => "project",
            Source::User => "user",
            Source::Bundled => "cairn",
            Source::Plugin => "plugin",
        }
    }
}

/// A command or a skill: a prompt the user (or, for skills, the model) can invoke.
#[derive(Clone, Debug)]
pub struct Prompt {
    pub name: String,
    pub kind: Kind,
    pub source: Source,
    pub description: String,
    pub argument_hint: Option<String>,
    /// Permission rules granted while it runs (`allowed-tools`).
    pub allowed_tools: Vec<String>,
    /// The model for its turn.
    pub model: Option<String>,
    /// The model may not invoke it (and does not see it listed).
    pub disable_model_invocation: bool,
    /// The user may invoke it with `/name` (skills can turn this off).
    pub user_invocable: bool,
    /// The file it came from.
    pub path: PathBuf,
    /// A skill's folder (its scripts and references are there).
    pub dir: Option<PathBuf>,
    /// The text of a bundled skill (others are read from `path` when used).
    bundled_body: Option<&'static str>,
}

impl Prompt {
    /// The body as it is on disk now (without its frontmatter).
    pub fn body(&self) -> Result<String, String> {
        if let Some(body) = self.bundled_body {
            return Ok(frontmatter::parse(body).map(|d| d.body).unwrap_or_default());
        }
        let text =
            std::fs::read_to_string(&self.path).map_err(|e| format!("could not read {}: {e}", self.path.display()))?;
        frontmatter::parse(&text)
            .map(|d| d.body)
            .map_err(|(line, problem)| format!("{}:{line}: {problem}", self.path.display()))
    }
}

/// Agent types as Claude Code's `--agents` and the SDKs give them: `{"name": {"description",
/// "prompt", "tools": [...], "model"}}`.
pub fn program_agents(value: &serde_json::Value) -> Result<Vec<AgentDef>, String> {
    let object = value.as_object().ok_or("agents: expected an object of name → definition")?;
    let mut out = Vec::new();
    for (name, definition) in object {
        let text = |key: &str| definition.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
        let prompt = text("prompt").ok_or_else(|| format!("agent {name:?}: needs a \"prompt\""))?;
        let tools = definition
            .get("tools")
            .and_then(serde_json::Value::as_array)
            .map(|tools| tools.iter().filter_map(serde_json::Value::as_str).map(str::to_owned).collect());
        out.push(AgentDef {
            name: name.clone(),
            description: text("description").unwrap_or_default(),
            tools,
            model: text("model").filter(|m| m != "inherit"),
            prompt,
            path: None,
            skip_memory: false,
            isolation: text("isolation"),
        });
    }
    Ok(out)
}

/// A sub-agent definition.
#[derive(Clone, Debug)]
pub struct AgentDef {
    pub name: String,
    pub description: String,
    /// The tools it may use (`None`: all the parent's but Task).
    pub tools: Option<Vec<String>>,
    pub model: Option<String>,
    /// Its system prompt.
    pub prompt: String,
    pub path: Option<PathBuf>,
    /// Memory files are not sent (Explore).
    pub skip_memory: bool,
    /// `worktree`: it works in a git worktree of its own.
    pub isolation: Option<String>,
}

/// Everything found, and what was wrong with the files that were not.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub prompts: Vec<Prompt>,
    pub agents: Vec<AgentDef>,
    pub warnings: Vec<String>,
}

/// The catalog as the session shares it: the watcher replaces it, users read it.
pub type SharedCatalog = Arc<RwLock<Catalog>>;

/// Where to look.
#[derive(Clone, Debug, Default)]
pub struct Locations {
    pub project: PathBuf,
    pub cairn_home: PathBuf,
    /// `~/.claude` (absent when `claudeCompat` is off).
    pub claude_dir: Option<PathBuf>,
    /// Watch these folders for changes while the session runs (the UI, stream-json input).
    pub watch: bool,
    /// Agent types the program driving cairn defined (`--agents`, an SDK's `initialize`):
    /// they win over the files' and outlive reloads.
    pub program_agents: Arc<std::sync::Mutex<Vec<AgentDef>>>,
    /// The enabled plugins' parts (shared, so a reload of the settings can change them).
    pub plugins: Arc<RwLock<Vec<PluginParts>>>,
}

/// Where an enabled plugin keeps its commands, skills, agents and output styles.
#[derive(Clone, Debug, Default)]
pub struct PluginParts {
    /// `name@marketplace`, as `enabledPlugins` names it.
    pub id: String,
    /// Its namespace: `/name:command`, `name:agent`.
    pub name: String,
    pub root: PathBuf,
    pub commands: Vec<PathBuf>,
    pub skills: Vec<PathBuf>,
    pub agents: Vec<PathBuf>,
    pub output_styles: Vec<PathBuf>,
}

impl Locations {
    /// The enabled plugins' parts, now.
    pub fn plugin_parts(&self) -> Vec<PluginParts> {
        self.plugins.read().map(|p| p.clone()).unwrap_or_default()
    }
}

impl Locations {
    /// The user's folders, cairn's first.
    pub(crate) fn user_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if !self.cairn_home.as_os_str().is_empty() {
            dirs.push(self.cairn_home.clone());
        }
        dirs.extend(self.claude_dir.clone());
        dirs
    }

    /// The project's folders, cairn's first.
    pub(crate) fn project_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.project.join(".cairn")];
        if self.claude_dir.is_some() || self.cairn_home.as_os_str().is_empty() {
            dirs.push(self.project.join(".claude"));
        }
        dirs
    }

    /// Every folder the watcher should watch (those that exist).
    pub fn watched(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for base in self.project_dirs().into_iter().chain(self.user_dirs()) {
            for sub in ["commands", "skills", "agents"] {
                out.push(base.join(sub));
            }
        }
        out
    }

    /// Reads every command, skill and agent.
    pub fn load(&self) -> Catalog {
        let mut catalog = Catalog::default();
        let mut found: Vec<Prompt> = Vec::new();
        for base in self.user_dirs() {
            load_skills(&base.join("skills"), Source::User, &mut found, &mut catalog.warnings);
        }
        for base in self.project_dirs() {
            load_skills(&base.join("skills"), Source::Project, &mut found, &mut catalog.warnings);
        }
        for base in self.project_dirs() {
            load_commands(&base.join("commands"), Source::Project, &mut found, &mut catalog.warnings);
        }
        for base in self.user_dirs() {
            load_commands(&base.join("commands"), Source::User, &mut found, &mut catalog.warnings);
        }
        found.extend(bundled_skills());
        for plugin in self.plugin_parts() {
            let mut theirs = Vec::new();
            for dir in &plugin.skills {
                load_skills(dir, Source::Plugin, &mut theirs, &mut catalog.warnings);
            }
            for dir in &plugin.commands {
                load_commands(dir, Source::Plugin, &mut theirs, &mut catalog.warnings);
            }
            found.extend(theirs.into_iter().map(|mut p| {
                p.name = format!("{}:{}", plugin.name, p.name);
                p
            }));
        }
        for prompt in found {
            if !catalog.prompts.iter().any(|p| p.name == prompt.name) {
                catalog.prompts.push(prompt);
            }
        }
        let mut agents: Vec<AgentDef> = self.program_agents.lock().map(|a| a.clone()).unwrap_or_default();
        for base in self.project_dirs().into_iter().chain(self.user_dirs()) {
            load_agents(&base.join("agents"), &mut agents, &mut catalog.warnings);
        }
        for plugin in self.plugin_parts() {
            let mut theirs = Vec::new();
            for dir in &plugin.agents {
                load_agents(dir, &mut theirs, &mut catalog.warnings);
            }
            agents.extend(theirs.into_iter().map(|mut a| {
                a.name = format!("{}:{}", plugin.name, a.name);
                a
            }));
        }
        agents.extend(builtin_agents());
        for agent in agents {
            if !catalog.agents.iter().any(|a| a.name == agent.name) {
                catalog.agents.push(agent);
            }
        }
        catalog
    }
}

impl Catalog {
    /// A prompt the user can invoke by name (`frontend:build`), or a plugin's by its own
    /// name alone when no other has it.
    pub fn command(&self, name: &str) -> Option<&Prompt> {
        if let Some(found) = self.prompts.iter().find(|p| p.name == name && p.user_invocable) {
            return Some(found);
        }
        let suffix = format!(":{name}");
        let mut theirs =
            self.prompts.iter().filter(|p| p.source == Source::Plugin && p.user_invocable && p.name.ends_with(&suffix));
        match (theirs.next(), theirs.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// A skill the model can invoke.
    pub fn skill(&self, name: &str) -> Option<&Prompt> {
        let name = name.trim_start_matches('/');
        self.prompts.iter().find(|p| p.name == name && !p.disable_model_invocation)
    }

    pub fn agent(&self, name: &str) -> Option<&AgentDef> {
        self.agents.iter().find(|a| a.name == name || a.name.eq_ignore_ascii_case(name))
    }

    /// What the model is told of the skills it may invoke: a line each, name and
    /// description, within a budget. `None` when there are none.
    pub fn skill_listing(&self) -> Option<String> {
        let mut out = String::from(
            "The following skills are available through the Skill tool. When one fits the task, invoke it \
             (its instructions are loaded then):\n",
        );
        let mut any = false;
        for prompt in self.prompts.iter().filter(|p| p.kind == Kind::Skill && !p.disable_model_invocation) {
            let line = format!("- {}: {}\n", prompt.name, prompt.description.replace('\n', " "));
            if out.len() + line.len() > LISTING_BUDGET {
                break;
            }
            out.push_str(&line);
            any = true;
        }
        any.then(|| out.trim_end().to_owned())
    }

    /// What the model is told of the agents the Task tool can start.
    pub fn agent_listing(&self) -> String {
        let mut out = String::from("Available agent types (subagent_type):\n");
        for agent in &self.agents {
            let tools = agent.tools.as_ref().map_or_else(|| "all tools".to_owned(), |t| t.join(", "));
            out.push_str(&format!("- {}: {} (Tools: {tools})\n", agent.name, agent.description.replace('\n', " ")));
        }
        out.trim_end().to_owned()
    }
}

fn read(path: &Path, warnings: &mut Vec<String>) -> Option<Document> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            warnings.push(format!("{}: could not be read: {e}", path.display()));
            return None;
        }
    };
    match frontmatter::parse(&text) {
        Ok(doc) => Some(doc),
        Err((line, problem)) => {
            warnings.push(format!("{}:{line}: the frontmatter is not valid YAML ({problem}); skipped", path.display()));
            None
        }
    }
}

fn prompt_from(doc: &Document, name: String, kind: Kind, source: Source, path: PathBuf) -> Prompt {
    use frontmatter::{boolean, list, string};
    let fields = &doc.fields;
    let description = string(fields, "description").unwrap_or_else(|| frontmatter::first_paragraph(&doc.body));
    let description = match string(fields, "when_to_use") {
        Some(when) => format!("{description} - {when}"),
        None => description,
    };
    Prompt {
        name,
        kind,
        source,
        description,
        argument_hint: string(fields, "argument-hint"),
        allowed_tools: list(fields, "allowed-tools"),
        model: string(fields, "model").filter(|m| m != "inherit"),
        disable_model_invocation: boolean(fields, "disable-model-invocation").unwrap_or(false),
        user_invocable: boolean(fields, "user-invocable").unwrap_or(true),
        dir: (kind == Kind::Skill).then(|| path.parent().map(Path::to_path_buf)).flatten(),
        path,
        bundled_body: None,
    }
}

/// `commands/**/*.md`; a sub-folder is a namespace.
fn load_commands(dir: &Path, source: Source, out: &mut Vec<Prompt>, warnings: &mut Vec<String>) {
    let mut files = Vec::new();
    crate::memory::markdown_under(dir, &mut files);
    for path in files {
        let Ok(relative) = path.strip_prefix(dir) else { continue };
        let name = relative.with_extension("").to_string_lossy().replace(std::path::MAIN_SEPARATOR, ":");
        if let Some(doc) = read(&path, warnings) {
            out.push(prompt_from(&doc, name, Kind::Command, source, path));
        }
    }
}

/// `skills/<name>/SKILL.md` (the folder may be a symlink); the folder's name is the name.
fn load_skills(dir: &Path, source: Source, out: &mut Vec<Prompt>, warnings: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut folders: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    folders.sort();
    for folder in folders {
        let path = folder.join("SKILL.md");
        if !path.is_file() {
            continue;
        }
        let Some(name) = folder.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        if let Some(doc) = read(&path, warnings) {
            out.push(prompt_from(&doc, name, Kind::Skill, source, path));
        }
    }
}

/// `agents/**/*.md`, each needing a `name` and a `description`.
fn load_agents(dir: &Path, out: &mut Vec<AgentDef>, warnings: &mut Vec<String>) {
    use frontmatter::{list, string};
    let mut files = Vec::new();
    crate::memory::markdown_under(dir, &mut files);
    for path in files {
        let Some(doc) = read(&path, warnings) else { continue };
        let (Some(name), Some(description)) = (string(&doc.fields, "name"), string(&doc.fields, "description")) else {
            warnings.push(format!("{}: an agent needs a `name` and a `description`; skipped", path.display()));
            continue;
        };
        let tools = doc.fields.contains_key("tools").then(|| list(&doc.fields, "tools"));
        out.push(AgentDef {
            name,
            description,
            tools,
            model: string(&doc.fields, "model").filter(|m| m != "inherit"),
            prompt: doc.body.trim().to_owned(),
            path: Some(path),
            skip_memory: false,
            isolation: string(&doc.fields, "isolation"),
        });
    }
}

/// The skills cairn ships with (`skills/` at the top of the repository).
const BUNDLED: &[(&str, &str)] = &[
    ("init", include_str!("../../skills/init/SKILL.md")),
    ("review", include_str!("../../skills/review/SKILL.md")),
    ("commit", include_str!("../../skills/commit/SKILL.md")),
];

fn bundled_skills() -> Vec<Prompt> {
    BUNDLED
        .iter()
        .filter_map(|(name, text)| {
            let doc = frontmatter::parse(text).ok()?;
            let mut prompt = prompt_from(
                &doc,
                (*name).to_owned(),
                Kind::Skill,
                Source::Bundled,
                PathBuf::from(format!("<cairn>/skills/{name}")),
            );
            prompt.dir = None;
            prompt.bundled_body = Some(text);
            Some(prompt)
        })
        .collect()
}

/// `general-purpose` and `Explore`, always there (a user's file of the same name wins).
fn builtin_agents() -> Vec<AgentDef> {
    vec![
        AgentDef {
            name: "general-purpose".into(),
            description: "General-purpose agent for researching complex questions, searching for code, and \
                          executing multi-step tasks."
                .into(),
            tools: None,
            model: None,
            prompt: "You are an agent working for a coding assistant. Do the task you are given completely, \
                     using the tools available, then answer with a concise report of what you found or did: \
                     the facts, file paths and line numbers the caller needs. Your answer is all the caller \
                     sees."
                .into(),
            path: None,
            skip_memory: false,
            isolation: None,
        },
        AgentDef {
            name: "Explore".into(),
            description: "Fast read-only agent for exploring a codebase: finding files, searching code, \
                          answering questions about it. Say how thorough to be: quick, medium or very thorough."
                .into(),
            tools: Some(["Glob", "Grep", "LS", "Read", "Bash", "WebFetch"].map(String::from).to_vec()),
            model: None,
            prompt: "You are a read-only explorer of a codebase. Search and read to answer the question you \
                     are given; never change a file (Bash only for commands that read). Answer with the \
                     findings: file paths with line numbers and the relevant facts, concisely."
                .into(),
            path: None,
            skip_memory: true,
            isolation: None,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn commands_skills_and_agents_load_with_their_precedence() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("p");
        let home = root.path().join("home");
        let claude = home.join(".claude");
        write(&project.join(".claude/commands/frontend/build.md"), "---\ndescription: Build it\n---\nBuild $1");
        write(&project.join(".claude/commands/deploy.md"), "Deploy now.\n\nMore.");
        write(&claude.join("commands/deploy.md"), "---\ndescription: user deploy\n---\nx");
        write(&project.join(".claude/commands/broken.md"), "---\ndescription: [oops\n---\nx");
        write(
            &project.join(".claude/skills/pdf/SKILL.md"),
            "---\nname: pdf\ndescription: |-\n  Work with\n  PDFs\n---\nBody",
        );
        write(&claude.join("skills/pdf/SKILL.md"), "---\ndescription: the user's pdf\n---\nBody");
        write(&project.join(".cairn/commands/review.md"), "---\ndescription: our review\n---\nReview");
        write(
            &project.join(".claude/agents/reviewer.md"),
            "---\nname: code-reviewer\ndescription: Reviews\ntools: Read, Grep, LS, NotebookRead\n---\nYou review.",
        );
        write(&project.join(".claude/agents/nameless.md"), "---\ndescription: x\n---\ny");
        let locations =
            Locations { project, cairn_home: home.join(".cairn"), claude_dir: Some(claude), ..Locations::default() };
        let catalog = locations.load();
        let build = catalog.command("frontend:build").unwrap();
        assert_eq!((build.description.as_str(), build.source), ("Build it", Source::Project));
        assert_eq!(catalog.command("deploy").unwrap().description, "Deploy now.");
        assert_eq!(catalog.skill("pdf").unwrap().description, "the user's pdf");
        assert_eq!(catalog.command("review").unwrap().description, "our review");
        assert_eq!(catalog.command("init").unwrap().source, Source::Bundled);
        assert!(catalog.warnings.iter().any(|w| w.contains("broken.md:3")), "{:?}", catalog.warnings);
        assert!(catalog.warnings.iter().any(|w| w.contains("nameless.md")));
        let agent = catalog.agent("code-reviewer").unwrap();
        assert_eq!(agent.tools.as_deref().unwrap(), ["Read", "Grep", "LS", "NotebookRead"]);
        assert!(catalog.agent("Explore").is_some() && catalog.agent("general-purpose").is_some());
        let listing = catalog.skill_listing().unwrap();
        assert!(listing.contains("- pdf: the user's pdf") && listing.contains("- init:"), "{listing}");
    }
}
