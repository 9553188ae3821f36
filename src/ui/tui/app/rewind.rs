//! `/rewind` in the TUI (and Esc Esc on an empty input): the prompts the session can go back
//! to, numbered, with the files each would bring back (conflicts and lost versions marked);
//! `/rewind N [code|conversation] [--force]` goes back — both by default — and puts the
//! prompt back in the input box. Files someone else changed since are left as they are
//! unless `--force`.

use super::App;
use crate::protocol::{Op, Query, RewindPoint, RewindScope};
use crate::ui::tui::cells::Cell;

impl App {
    pub(super) fn rewind(&mut self, args: &str) {
        let mut words = args.split_whitespace();
        let Some(first) = words.next() else {
            return self.ops.push(Op::Query(Query::RewindPoints));
        };
        let Some(point) =
            first.parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| self.rewind_points.get(i))
        else {
            let message = "Pick a point by its number from the list /rewind shows.".to_owned();
            return self.push_cell(Cell::Error { message });
        };
        let (mut scope, mut overwrite) = (RewindScope::CodeAndConversation, false);
        for word in words {
            match word {
                "code" => scope = RewindScope::Code,
                "conversation" | "chat" => scope = RewindScope::Conversation,
                "both" => scope = RewindScope::CodeAndConversation,
                "--force" | "force" => overwrite = true,
                other => {
                    let message = format!("Unknown word {other}: /rewind N [code|conversation|both] [--force]");
                    return self.push_cell(Cell::Error { message });
                }
            }
        }
        if point.undoes_rewind {
            scope = RewindScope::Code;
        }
        self.ops.push(Op::Rewind { to: point.id.clone(), scope, overwrite });
        self.notice(format!("Rewinding to “{}”…", point.label));
    }

    /// The list `/rewind` shows.
    pub(super) fn show_rewind_points(&mut self, points: Vec<RewindPoint>) {
        if points.is_empty() {
            self.notice("Nothing to rewind to yet: no prompt has been sent in this session.");
            return;
        }
        let mut lines = vec!["Rewind to the moment a prompt was sent (newest last):".to_owned()];
        for (n, point) in points.iter().enumerate() {
            let time = point.at.get(11..16).unwrap_or_default();
            let what =
                if point.undoes_rewind { format!("undo {}", point.label) } else { format!("“{}”", point.label) };
            let conflicts = point.files.iter().filter(|f| f.1).count();
            let lost = point.files.iter().filter(|f| f.2).count();
            let mut files = match point.files.len() {
                0 => "no file changes since".to_owned(),
                1 => "1 file to restore".to_owned(),
                n => format!("{n} files to restore"),
            };
            if conflicts > 0 {
                files.push_str(&format!(", {conflicts} changed by someone else since"));
            }
            if lost > 0 {
                files.push_str(&format!(", {lost} cannot be restored"));
            }
            lines.push(format!("  {:>2}. {time}  {what} — {files}", n + 1));
        }
        lines.push("/rewind N goes back (code and conversation); add `code` or `conversation` for one of them, `--force` to overwrite files changed by someone else.".into());
        self.rewind_points = points;
        self.push_cell(Cell::Info { lines });
    }

    /// A rewind was carried out.
    pub(super) fn rewound(&mut self, prompt: Option<String>, files: &str, conflicts: &[std::path::PathBuf]) {
        let conversation = if prompt.is_some() { "Conversation rewound; " } else { "" };
        self.notice(format!("{conversation}files: {files}"));
        if !conflicts.is_empty() {
            let names: Vec<String> = conflicts.iter().map(|p| crate::tools::paths::display(p, &self.cwd)).collect();
            let message = format!(
                "Left as they are, because someone else changed them since: {}. Run the same /rewind with --force to overwrite them.",
                names.join(", ")
            );
            self.push_cell(Cell::Error { message });
        }
        if let Some(prompt) = prompt {
            self.composer.set_text(&prompt);
        }
        self.rewind_points.clear();
    }
}
