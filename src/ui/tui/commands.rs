//! Slash commands: one registry that the built-in commands start and later features
//! (`/compact`, `/mcp`, users' own commands) extend. The composer's completion
//! popup and `/help` both read it.

/// What a command does; the app runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Help,
    Clear,
    Exit,
    Model,
    Effort,
    OutputStyle,
    Cost,
    Status,
    Resume,
    Rename,
    Permissions,
    Hooks,
    Compact,
    Context,
    Memory,
    Mcp,
    Rewind,
    Fork,
    Sandbox,
    Tasks,
    Plugin,
    /// A user's command or skill: sent to the core, which expands it.
    Custom,
}

#[derive(Clone, Debug)]
pub struct SlashCommand {
    pub name: String,
    pub description: String,
    pub argument_hint: Option<String>,
    pub action: Action,
}

#[derive(Clone, Debug)]
pub struct Commands {
    list: Vec<SlashCommand>,
}

impl Commands {
    pub fn builtin() -> Commands {
        let command = |name: &str, description: &str, hint: Option<&str>, action| SlashCommand {
            name: name.to_owned(),
            description: description.to_owned(),
            argument_hint: hint.map(str::to_owned),
            action,
        };
        Commands {
            list: vec![
                command("help", "Show commands and keys", None, Action::Help),
                command("clear", "Start a new conversation", None, Action::Clear),
                command("model", "Show or set the model", Some("[name]"), Action::Model),
                command(
                    "effort",
                    "Show or set how hard the model thinks",
                    Some("[low|medium|high|xhigh|max|auto]"),
                    Action::Effort,
                ),
                command("output-style", "List the output styles or switch to one", Some("[name]"), Action::OutputStyle),
                command("cost", "Show the session's cost, tokens by kind and model, and duration", None, Action::Cost),
                command(
                    "compact",
                    "Summarize the conversation to free context",
                    Some("[instructions]"),
                    Action::Compact,
                ),
                command("context", "Show what fills the context window", None, Action::Context),
                command(
                    "memory",
                    "List the memory files; open one in your editor",
                    Some("[number|project|path]"),
                    Action::Memory,
                ),
                command("status", "Show the session, model, mode and folder", None, Action::Status),
                command("resume", "Continue an earlier session of this folder", Some("[id|title]"), Action::Resume),
                command("rename", "Name this session (shown in /resume)", Some("<title>"), Action::Rename),
                command(
                    "permissions",
                    "List permission rules; add or remove one",
                    Some("[allow|ask|deny|remove <rule>]"),
                    Action::Permissions,
                ),
                command("hooks", "List the hooks and where they come from", None, Action::Hooks),
                command("mcp", "Show the MCP servers; reconnect one", Some("[reconnect <name>]"), Action::Mcp),
                command(
                    "plugin",
                    "List the plugins; install, enable, disable or uninstall one; manage marketplaces",
                    Some("[install|uninstall|enable|disable <name@marketplace> | marketplace add <source>]"),
                    Action::Plugin,
                ),
                command(
                    "rewind",
                    "Go back to an earlier prompt: the code, the conversation, or both (Esc Esc)",
                    Some("[number] [code|conversation] [--force]"),
                    Action::Rewind,
                ),
                command(
                    "fork",
                    "Continue as a new session from here (or from before prompt N of /rewind list); this one stays",
                    Some("[N]"),
                    Action::Fork,
                ),
                command(
                    "tasks",
                    "List the background shells and agents; /tasks <agent> shows one's transcript",
                    Some("[agent]"),
                    Action::Tasks,
                ),
                command(
                    "sandbox",
                    "Show the sandbox around commands; turn it on or off; allow a domain",
                    Some("[on|off|allow <domain>]"),
                    Action::Sandbox,
                ),
                command("exit", "Quit cairn", None, Action::Exit),
            ],
        }
    }

    /// Adds a command (later stages: `/compact`, users' commands…).
    pub fn add(&mut self, command: SlashCommand) {
        self.list.retain(|c| c.name != command.name);
        self.list.push(command);
    }

    /// Replaces the users' commands and skills (at start, and when their files change). A
    /// built-in command keeps its name.
    pub fn set_custom(&mut self, custom: &[crate::protocol::CommandInfo]) {
        self.list.retain(|c| c.action != Action::Custom);
        for info in custom {
            if self.find(&info.name).is_some() {
                continue;
            }
            self.list.push(SlashCommand {
                name: info.name.clone(),
                description: format!("{} ({})", first_line(&info.description), info.source),
                argument_hint: info.argument_hint.clone(),
                action: Action::Custom,
            });
        }
    }

    pub fn all(&self) -> &[SlashCommand] {
        &self.list
    }

    /// Commands whose name starts with `prefix` (without the slash).
    pub fn matching(&self, prefix: &str) -> Vec<&SlashCommand> {
        self.list.iter().filter(|c| c.name.starts_with(prefix)).collect()
    }

    pub fn find(&self, name: &str) -> Option<&SlashCommand> {
        match name {
            "quit" => self.list.iter().find(|c| c.name == "exit"),
            _ => self.list.iter().find(|c| c.name == name),
        }
    }
}

/// A description's first line, shortened for a one-line listing.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}
