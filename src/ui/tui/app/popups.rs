//! The popups over the composer: command and file completion, and the approval dialog
//! (allow, allow for the session, refuse with feedback; for a plan: approve, approve and
//! accept edits, keep planning with feedback).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Popup};
use crate::permissions::PermissionMode;
use crate::protocol::{ApprovalDecision, Op};

impl App {
    /// Opens, updates or closes the completion popup after the composer changed.
    pub(super) fn update_popup(&mut self) {
        let text = self.composer.text();
        if text.starts_with('/') && !text.contains(char::is_whitespace) {
            let keep = match self.popup {
                Some(Popup::Commands { selected }) => selected,
                _ => 0,
            };
            let count = self.commands.matching(&text[1..]).len();
            self.popup = (count > 0).then(|| Popup::Commands { selected: keep.min(count.saturating_sub(1)) });
            return;
        }
        // `@` starts a file mention when it begins a word.
        let word_start = text.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        if text[word_start..].starts_with('@') {
            self.files.start(&self.cwd);
            let selected = match self.popup {
                Some(Popup::Files { selected, .. }) => selected,
                _ => 0,
            };
            self.popup = Some(Popup::Files { start: word_start, selected });
            return;
        }
        self.popup = None;
    }

    /// The popup's choices, for the view and for accepting one.
    pub fn popup_items(&self) -> Vec<(String, String)> {
        match &self.popup {
            Some(Popup::Commands { .. }) => self
                .commands
                .matching(self.composer.text().trim_start_matches('/'))
                .into_iter()
                .map(|c| (format!("/{}", c.name), c.description.clone()))
                .collect(),
            Some(Popup::Files { start, .. }) => {
                let query = &self.composer.text()[start + 1..];
                self.files.matches(query).into_iter().map(|f| (f, String::new())).collect()
            }
            None => Vec::new(),
        }
    }

    /// Keys the popup takes; `false` passes the key on to the composer.
    pub(super) fn popup_key(&mut self, key: KeyEvent) -> bool {
        let items = self.popup_items();
        let count = items.len();
        let Some(popup) = self.popup.clone() else { return false };
        let selected = match popup {
            Popup::Commands { selected } | Popup::Files { selected, .. } => selected,
        };
        let moved = match key.code {
            KeyCode::Up => selected.checked_sub(1).unwrap_or(count.saturating_sub(1)),
            KeyCode::Down if selected + 1 >= count => 0,
            KeyCode::Down => selected + 1,
            KeyCode::Esc => {
                self.popup = None;
                return true;
            }
            KeyCode::Tab | KeyCode::Enter => {
                let Some((choice, _)) = items.get(selected).cloned() else {
                    self.popup = None;
                    return false;
                };
                self.popup = None;
                match popup {
                    Popup::Commands { .. } => {
                        self.composer.set_text(&choice);
                        if key.code == KeyCode::Enter {
                            let text = self.composer.take();
                            self.submit(&text);
                        }
                    }
                    Popup::Files { start, .. } => {
                        let text = format!("{}@{choice} ", &self.composer.text()[..start]);
                        self.composer.set_text(&text);
                    }
                }
                return true;
            }
            _ => return false,
        };
        self.popup = Some(match popup {
            Popup::Commands { .. } => Popup::Commands { selected: moved },
            Popup::Files { start, .. } => Popup::Files { start, selected: moved },
        });
        true
    }

    pub(super) fn approval_key(&mut self, key: KeyEvent) {
        let Some(dialog) = &mut self.approval else { return };
        let typing = dialog.selected == 2;
        let decision = match key.code {
            KeyCode::Up | KeyCode::BackTab => {
                dialog.selected = dialog.selected.checked_sub(1).unwrap_or(2);
                None
            }
            KeyCode::Down | KeyCode::Tab => {
                dialog.selected = (dialog.selected + 1) % 3;
                None
            }
            KeyCode::Char('1') if !typing || dialog.feedback.is_empty() => Some(ApprovalDecision::Allow),
            KeyCode::Char('2') if !typing || dialog.feedback.is_empty() => Some(ApprovalDecision::AllowForSession),
            KeyCode::Esc => Some(ApprovalDecision::Deny { reason: None }),
            KeyCode::Enter => Some(match dialog.selected {
                0 => ApprovalDecision::Allow,
                1 => ApprovalDecision::AllowForSession,
                _ => {
                    ApprovalDecision::Deny { reason: Some(dialog.feedback.trim().to_owned()).filter(|f| !f.is_empty()) }
                }
            }),
            KeyCode::Backspace if typing => {
                dialog.feedback.pop();
                None
            }
            KeyCode::Char(c)
                if typing
                    && !key.modifiers.contains(KeyModifiers::CONTROL)
                    && !key.modifiers.contains(KeyModifiers::ALT) =>
            {
                dialog.feedback.push(c);
                None
            }
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.ops.push(Op::Interrupt);
                Some(ApprovalDecision::Deny { reason: None })
            }
            _ => None,
        };
        if let Some(mut decision) = decision
            && let Some(dialog) = self.approval.take()
        {
            // A plan: the second choice approves it and accepts edits from then on.
            if dialog.tool == "ExitPlanMode" && decision == ApprovalDecision::AllowForSession {
                self.mode = PermissionMode::AcceptEdits;
                self.ops.push(Op::SetPermissionMode(PermissionMode::AcceptEdits));
                decision = ApprovalDecision::Allow;
            }
            let choice = match &decision {
                ApprovalDecision::Allow | ApprovalDecision::AllowWith { .. } => "allowed".to_owned(),
                ApprovalDecision::AllowForSession => "allowed for this session".to_owned(),
                ApprovalDecision::Deny { reason: Some(r) } => format!("refused: {r}"),
                ApprovalDecision::Deny { reason: None } => "refused".to_owned(),
                ApprovalDecision::DenyForSession => "refused for this session".to_owned(),
            };
            let header = crate::ui::tui::cells::tool_header(&dialog.tool, &dialog.input, &self.cwd);
            let from = dialog.from.as_deref().map(|f| format!(" (for {f})")).unwrap_or_default();
            self.notice(format!("{header}{from} {choice}"));
            self.ops.push(Op::ApprovalAnswer { call_id: dialog.call_id, decision });
            self.approval = self.approvals_waiting.pop_front();
        }
    }
}
