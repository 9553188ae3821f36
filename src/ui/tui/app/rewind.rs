//! `/rewind` in the TUI. Esc Esc on an empty input (or `/rewind` alone) opens a picker over
//! the prompts, newest first, each with the files it would bring back; then what to bring
//! back (code and conversation, the conversation, or the code); then, when someone else
//! changed some of those files since, whether to overwrite them. `/rewind` followed by
//! `list` shows them as text, and `/rewind N [code|conversation] [--force]` goes back
//! without asking. The prompt returns to the input box when the conversation is rewound.

use super::{App, QuestionDialog};
use crate::protocol::{Op, Query, RewindPoint, RewindScope};
use crate::ui::tui::cells::Cell;

/// Where the `/rewind` picker is.
#[derive(Clone, Debug)]
pub enum Step {
    /// Choosing the prompt, among these points (newest first).
    Point(Vec<RewindPoint>),
    /// Choosing what comes back.
    Scope(RewindPoint),
    /// Whether to overwrite files someone else changed.
    Conflicts(RewindPoint, RewindScope),
}

const SCOPES: [(RewindScope, &str, &str); 3] = [
    (
        RewindScope::CodeAndConversation,
        "Code and conversation",
        "the files, and the conversation from before the prompt",
    ),
    (RewindScope::Conversation, "Conversation only", "the files stay as they are"),
    (RewindScope::Code, "Code only", "the conversation goes on from here"),
];

impl App {
    pub(super) fn rewind(&mut self, args: &str) {
        let mut words = args.split_whitespace();
        let Some(first) = words.next() else {
            self.rewind_picker = true;
            return self.ops.push(Op::Query(Query::RewindPoints));
        };
        if first == "list" {
            return self.ops.push(Op::Query(Query::RewindPoints));
        }
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

    /// `/fork`: a new session from here; `/fork N`: from before prompt N of `/rewind list`.
    pub(super) fn fork(&mut self, args: &str) {
        if args.is_empty() {
            return self.ops.push(Op::Fork { at: None });
        }
        match args.parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| self.rewind_points.get(i)) {
            Some(point) if !point.undoes_rewind => self.ops.push(Op::Fork { at: Some(point.id.clone()) }),
            _ => self.push_cell(Cell::Error { message: "Pick a prompt by its number from /rewind list.".into() }),
        }
    }

    /// The list `/rewind list` shows, or the picker.
    pub(super) fn show_rewind_points(&mut self, points: Vec<RewindPoint>) {
        if points.is_empty() {
            self.notice("Nothing to rewind to yet: no prompt has been sent in this session.");
            return;
        }
        if std::mem::take(&mut self.rewind_picker) {
            self.rewind_points.clone_from(&points);
            return self.ask_rewind(Step::Point(points.into_iter().rev().collect()));
        }
        let mut lines = vec!["Rewind to the moment a prompt was sent (newest last):".to_owned()];
        for (n, point) in points.iter().enumerate() {
            let time = point.at.get(11..16).unwrap_or_default();
            let what =
                if point.undoes_rewind { format!("undo {}", point.label) } else { format!("“{}”", point.label) };
            lines.push(format!("  {:>2}. {time}  {what} — {}", n + 1, point_detail(point)));
        }
        lines.push("/rewind N goes back (code and conversation); add `code` or `conversation` for one of them, `--force` to overwrite files changed by someone else.".into());
        self.rewind_points = points;
        self.push_cell(Cell::Info { lines });
    }

    /// The turn changed `n` files.
    pub(super) fn files_changed(&mut self, n: usize) {
        self.notice(format!("Changed {n} file{} · /rewind to undo", if n == 1 { "" } else { "s" }));
    }

    /// A problem the core reports (a compaction, if one ran, is over).
    pub(super) fn problem(&mut self, message: String) {
        self.compacting = false;
        self.push_cell(Cell::Error { message });
    }

    /// Something the core tells (a compaction, if one ran, is over).
    pub(super) fn told(&mut self, message: String) {
        self.compacting = false;
        self.notice(message);
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

impl App {
    /// Puts the picker's next question in place of the composer.
    fn ask_rewind(&mut self, step: Step) {
        let (question, options): (String, Vec<(String, String)>) = match &step {
            Step::Point(points) => (
                "Rewind to the moment a prompt was sent:".into(),
                points.iter().map(|p| (point_label(p), point_detail(p))).collect(),
            ),
            Step::Scope(point) => (
                format!("What should come back to before “{}”?", point.label),
                SCOPES.iter().map(|(_, name, detail)| ((*name).to_owned(), (*detail).to_owned())).collect(),
            ),
            Step::Conflicts(point, _) => {
                let names: Vec<String> =
                    point.files.iter().filter(|f| f.1).map(|f| crate::tools::paths::display(&f.0, &self.cwd)).collect();
                (
                    format!("Someone else changed {} since: overwrite them?", names.join(", ")),
                    vec![
                        ("Leave them as they are".into(), "restore the other files".into()),
                        ("Overwrite them".into(), "their changes since are lost (the rewind can be undone)".into()),
                    ],
                )
            }
        };
        self.question = Some(QuestionDialog::choice("Rewind", &question, options, step));
    }

    /// An answer of the picker's: the next question, or the rewind.
    pub(super) fn rewind_chosen(&mut self, dialog: &QuestionDialog) {
        let (Some(step), Some(chosen)) = (dialog.rewind.clone(), dialog.chosen()) else {
            return self.notice("Rewind cancelled");
        };
        match step {
            Step::Point(points) => {
                let Some(point) = points.get(chosen).cloned() else { return };
                if point.undoes_rewind {
                    return self.conflicts_or_go(point, RewindScope::Code);
                }
                self.ask_rewind(Step::Scope(point));
            }
            Step::Scope(point) => {
                let scope = SCOPES.get(chosen).map_or(RewindScope::CodeAndConversation, |s| s.0);
                self.conflicts_or_go(point, scope);
            }
            Step::Conflicts(point, scope) => self.go_back(&point, scope, chosen == 1),
        }
    }

    fn conflicts_or_go(&mut self, point: RewindPoint, scope: RewindScope) {
        if scope != RewindScope::Conversation && point.files.iter().any(|f| f.1) {
            return self.ask_rewind(Step::Conflicts(point, scope));
        }
        self.go_back(&point, scope, false);
    }

    fn go_back(&mut self, point: &RewindPoint, scope: RewindScope, overwrite: bool) {
        self.ops.push(Op::Rewind { to: point.id.clone(), scope, overwrite });
        self.notice(format!("Rewinding to “{}”…", point.label));
    }
}

fn point_label(point: &RewindPoint) -> String {
    let time = point.at.get(11..16).unwrap_or_default();
    if point.undoes_rewind { format!("{time} undo {}", point.label) } else { format!("{time} {}", point.label) }
}

fn point_detail(point: &RewindPoint) -> String {
    let conflicts = point.files.iter().filter(|f| f.1).count();
    let lost = point.files.iter().filter(|f| f.2).count();
    let mut detail = match point.files.len() {
        0 => "no file changes since".to_owned(),
        1 => "1 file to restore".to_owned(),
        n => format!("{n} files to restore"),
    };
    if conflicts > 0 {
        detail.push_str(&format!(", {conflicts} changed by someone else since"));
    }
    if lost > 0 {
        detail.push_str(&format!(", {lost} cannot be restored"));
    }
    detail
}
