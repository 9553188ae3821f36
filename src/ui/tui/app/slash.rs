//! The built-in slash commands as the TUI runs them: most become an `Op` for the core; `/help`,
//! `/cost`, `/status` and `/model` are answered from the TUI's own state.

use super::{App, duration};
use crate::agent::context::thousands;
use crate::permissions::Purpose;
use crate::protocol::{Op, Query};
use crate::provider::models;
use crate::provider::reasoning::Effort;
use crate::ui::tui::cells::Cell;
use crate::ui::tui::commands::Action;

impl App {
    pub(super) fn run_command(&mut self, line: &str) {
        let (name, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let args = args.trim();
        let Some(command) = self.commands.find(name) else {
            self.push_cell(Cell::Error { message: format!("Unknown command /{name}. Type /help for the list.") });
            return;
        };
        match command.action {
            Action::Custom if self.is_running() => self.queued.push_back(format!("/{line}")),
            Action::Custom => self.send(&format!("/{line}")),
            Action::Help => {
                let lines = self.help_lines();
                self.push_cell(Cell::Info { lines });
            }
            Action::Clear => {
                self.ops.push(Op::Clear);
                self.cells.clear();
                self.context_tokens = 0;
                self.notice("New conversation");
            }
            Action::Exit => self.quit = true,
            Action::Model if args.is_empty() => {
                let lines = vec![
                    format!("Model: {}", self.model.id),
                    "Set it with /model <name>: an id, or opus, sonnet, haiku, fable.".to_owned(),
                ];
                self.push_cell(Cell::Info { lines });
            }
            Action::Model => {
                self.ops.push(Op::SetModel(args.to_owned()));
                self.notice(format!("Model set to {}", models::lookup(args).id));
            }
            Action::Effort => self.effort(args),
            Action::OutputStyle if args.is_empty() => self.ops.push(Op::Query(Query::OutputStyles)),
            Action::OutputStyle => self.ops.push(Op::SetOutputStyle(args.to_owned())),
            Action::Cost => {
                let lines = self.cost_lines();
                self.push_cell(Cell::Info { lines });
            }
            Action::Compact => {
                let instructions = Some(args.to_owned()).filter(|a| !a.is_empty());
                self.ops.push(Op::Compact(instructions));
                self.compacting = true;
                self.notice("Compacting the conversation… (Esc to stop)");
            }
            Action::Context => self.ops.push(Op::Query(Query::Context)),
            Action::Plugin => self.ops.push(Op::Query(Query::Plugins { args: args.to_owned() })),
            Action::Mcp => {
                let reconnect = args.strip_prefix("reconnect").map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
                self.ops.push(Op::Query(Query::Mcp { reconnect }));
            }
            Action::Memory => {
                let open = Some(args.to_owned()).filter(|a| !a.is_empty());
                self.ops.push(Op::Query(Query::Memory { open }));
            }
            Action::Resume if args.is_empty() => self.open_picker(),
            Action::Resume => self.ops.push(Op::Resume(args.to_owned())),
            Action::Rename if args.is_empty() => {
                self.push_cell(Cell::Error { message: "Give the session a title: /rename <title>".into() })
            }
            Action::Rename => {
                self.ops.push(Op::Rename(args.to_owned()));
                self.notice(format!("Session renamed to {args}"));
            }
            Action::Permissions => self.permissions(args),
            Action::Hooks => self.ops.push(Op::Query(Query::Hooks)),
            Action::Sandbox => self.ops.push(Op::Query(Query::Sandbox { args: args.to_owned() })),
            Action::Tasks => {
                let open = Some(args.to_owned()).filter(|a| !a.is_empty());
                self.ops.push(Op::Query(Query::Tasks { open }));
            }
            Action::Rewind => self.rewind(args),
            Action::Fork => self.fork(args),
            Action::Status => {
                let lines = self.status_lines();
                self.push_cell(Cell::Info { lines });
            }
        }
    }

    pub(super) fn help_lines(&self) -> Vec<String> {
        let mut lines = vec!["Commands:".to_owned()];
        for command in self.commands.all() {
            let hint = command.argument_hint.as_deref().map(|h| format!(" {h}")).unwrap_or_default();
            lines.push(format!("  /{}{hint:<10}  {}", command.name, command.description));
        }
        lines.extend(
            [
                "Keys:",
                "  Enter send · Shift+Enter, Alt+Enter or \\ Enter new line · Up/Down history",
                "  Esc interrupt · Ctrl-C clear, twice quit · Ctrl-D quit · Shift+Tab permission mode",
                "  Ctrl-T transcript · Ctrl-B running agents and commands to the background · @ attach a file · / commands",
            ]
            .map(str::to_owned),
        );
        lines
    }

    /// `/cost`: what the session cost, how long it took, and the tokens by model.
    fn cost_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("Total cost:            ${:.4}", self.cost_usd),
            format!("Total duration (API):  {}", duration(self.api_time)),
            format!("Total duration (wall): {}", duration(self.started.elapsed())),
        ];
        if !self.model_usage.is_empty() {
            lines.push("Usage by model:".into());
        }
        for (model, usage) in &self.model_usage {
            lines.push(format!(
                "  {model}: {} input, {} output, {} cache read, {} cache write · ${:.4}",
                thousands(usage.input_tokens),
                thousands(usage.output_tokens),
                thousands(usage.cache_read_input_tokens),
                thousands(usage.cache_creation_input_tokens),
                usage.cost_usd
            ));
        }
        let ahead = &self.ahead_costs;
        if ahead.suggestions > 0 {
            lines.push(format!("Prompt suggestions:    ${:.4} ({} asked)", ahead.suggestions_usd, ahead.suggestions));
        }
        if ahead.adopted + ahead.wasted > 0 {
            lines.push(format!(
                "Speculation:           ${:.4} used ({} adopted) · ${:.4} wasted ({} discarded, {} tokens)",
                ahead.adopted_usd,
                ahead.adopted,
                ahead.wasted_usd,
                ahead.wasted,
                thousands(ahead.wasted_tokens)
            ));
        }
        lines
    }

    /// `/status`: the session, model, mode, folder and branch.
    fn status_lines(&self) -> Vec<String> {
        let session = self.session.as_ref().map_or("(starting)".to_owned(), |s| s.session_id.clone());
        vec![
            format!("Session:  {session}"),
            format!(
                "Title:    {}",
                self.session.as_ref().and_then(|s| s.title.as_deref()).unwrap_or("(none: /rename sets one)")
            ),
            format!("Model:    {} (context window {} tokens)", self.model.id, self.model.context_window),
            format!(
                "Effort:   {}",
                self.session.as_ref().and_then(|s| s.effort).map_or("none".into(), |e| e.to_string())
            ),
            format!("Style:    {}", self.session.as_ref().and_then(|s| s.output_style.as_deref()).unwrap_or("default")),
            format!("Mode:     {}", self.mode.as_str()),
            format!("Folder:   {}", self.cwd.display()),
            format!("Branch:   {}", self.branch.as_deref().unwrap_or("(not a git repository)")),
        ]
    }

    /// `/effort`: the level and the ones the model offers; `/effort <level>` sets it,
    /// `/effort auto` goes back to the model's default.
    fn effort(&mut self, args: &str) {
        let offered: Vec<&str> = self.model.capability.efforts.iter().map(|e| e.as_str()).collect();
        if args.is_empty() {
            let current = self.session.as_ref().and_then(|s| s.effort);
            let lines = match current {
                Some(effort) => vec![
                    format!("Effort: {effort}"),
                    format!(
                        "{} offers {}; set it with /effort <level>, or /effort auto.",
                        self.model.id,
                        offered.join(", ")
                    ),
                ],
                None => vec![format!("{} has no effort levels.", self.model.id)],
            };
            self.push_cell(Cell::Info { lines });
            return;
        }
        if args.eq_ignore_ascii_case("auto") {
            self.ops.push(Op::SetEffort(None));
            self.notice("Effort set to the model's default");
            return;
        }
        match args.parse::<Effort>() {
            Ok(effort) => {
                self.ops.push(Op::SetEffort(Some(effort)));
                match self.model.capability.nearest(effort) {
                    Some(used) if used == effort => self.notice(format!("Effort set to {effort}")),
                    Some(used) => self.notice(format!("Effort set to {effort} ({} uses {used})", self.model.id)),
                    None => self.notice(format!("Effort set to {effort} (not used by {})", self.model.id)),
                }
            }
            Err(message) => self.push_cell(Cell::Error { message }),
        }
    }

    /// `/permissions`: the listing, `allow|ask|deny <rule>` or `remove <rule>`.
    fn permissions(&mut self, args: &str) {
        let mut words = args.splitn(2, char::is_whitespace);
        let first = words.next().unwrap_or("");
        let query = match (first, words.next().map(str::trim), Purpose::parse(first)) {
            ("", ..) => Query::Permissions,
            ("remove", Some(rule), _) if !rule.is_empty() => Query::RemoveRule { rule: rule.to_owned() },
            (_, Some(rule), Some(list)) if !rule.is_empty() => Query::AddRule { list, rule: rule.to_owned() },
            _ => {
                self.push_cell(Cell::Error {
                    message: "Use /permissions, /permissions allow|ask|deny <rule> or /permissions remove <rule>"
                        .into(),
                });
                return;
            }
        };
        self.ops.push(Op::Query(query));
    }
}
