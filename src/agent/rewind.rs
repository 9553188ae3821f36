//! `/rewind` and `/fork`. A rewind goes back to the moment a prompt was sent: the files
//! (from the checkpoints), the conversation (the transcript continues from the entry before
//! the prompt, what came after left on a branch), or both; the prompt's text goes back to
//! the input box. Rewinding to an earlier rewind undoes it. A fork continues the
//! conversation so far as a new session, the original left as it was.

use std::path::PathBuf;

use super::Session;
use crate::protocol::{Event, EventSink, RewindPoint, RewindScope};
use crate::session::{self, Record};
use crate::tools::checkpoint::Entry;

/// A prompt sent in this process: its id, the history before it, and its text.
#[derive(Clone, Debug)]
pub(super) struct PromptMark {
    pub id: String,
    pub history_len: usize,
    pub text: String,
}

impl Session {
    /// The points the session can go back to, oldest first.
    pub(super) fn rewind_points(&self) -> Vec<RewindPoint> {
        let Some(checkpoints) = self.tools.checkpoints() else { return Vec::new() };
        checkpoints
            .entries()
            .into_iter()
            .filter_map(|entry| match entry {
                Entry::Turn { turn, at, label } => Some((turn, at, label)),
                _ => None,
            })
            .map(|(id, at, label)| {
                let plan = checkpoints.plan_rewind(&id).unwrap_or_default();
                let mut files: Vec<(PathBuf, bool, bool)> =
                    plan.steps.iter().map(|s| (s.path.clone(), s.conflict, false)).collect();
                files.extend(plan.lost.iter().map(|(path, _)| (path.clone(), false, true)));
                RewindPoint { undoes_rewind: id.starts_with("rewind-"), id, label, at, files }
            })
            .collect()
    }

    /// The files the turn that is ending changed: written to the transcript (as Claude
    /// Code's `file-history-snapshot`) and told to the front ends.
    pub(super) fn record_turn_changes(&self, events: &EventSink) -> Vec<PathBuf> {
        let (Some(checkpoints), Some(mark)) = (self.tools.checkpoints(), self.prompt_marks.last()) else {
            return Vec::new();
        };
        let mut backups: Vec<(PathBuf, Option<String>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for change in checkpoints.changes_since(&mark.id).unwrap_or_default() {
            if seen.insert(change.path.clone()) {
                backups.push((change.path, change.before.map(|v| v.hash)));
            }
        }
        if backups.is_empty() {
            return Vec::new();
        }
        let files: Vec<PathBuf> = backups.iter().map(|(path, _)| path.clone()).collect();
        self.record(Record::FileHistory { message_id: mark.id.clone(), backups });
        events.emit(Event::FilesChanged { files: files.clone() });
        files
    }

    /// Goes back to prompt `to`.
    pub(super) fn rewind(&mut self, to: &str, scope: RewindScope, overwrite: bool, events: &EventSink) {
        let undoing = to.starts_with("rewind-");
        let label = self.rewind_points().into_iter().find(|p| p.id == to).map(|p| p.label);
        let Some(label) = label.or_else(|| self.prompt_marks.iter().find(|m| m.id == to).map(|m| m.text.clone()))
        else {
            return events.emit(Event::Error { message: format!("No prompt {to} to rewind to in this session.") });
        };
        let (mut files, mut conflicts) = ("files unchanged".to_owned(), Vec::new());
        if scope != RewindScope::Conversation {
            match self.tools.checkpoints().and_then(|c| Some((c.plan_rewind(to)?, c))) {
                Some((plan, checkpoints)) => {
                    let report = checkpoints.apply(&plan, overwrite, &format!("the rewind to “{label}”"));
                    files = report.summary();
                    conflicts = report.kept;
                }
                None => files = "no file changes were recorded since that prompt".to_owned(),
            }
        }
        let mut prompt = None;
        if scope != RewindScope::Code && !undoing {
            match self.rewind_conversation(to) {
                Ok(text) => prompt = Some(text.unwrap_or(label)),
                Err(message) => return events.emit(Event::Error { message }),
            }
            events.emit(Event::SessionChanged(self.info()));
        }
        events.emit(Event::Rewound { to: to.to_owned(), prompt, files, conflicts });
    }

    /// The conversation continues from before prompt `to`; the prompt's text, if known.
    fn rewind_conversation(&mut self, to: &str) -> Result<Option<String>, String> {
        let mark = self.prompt_marks.iter().position(|m| m.id == to);
        let text = mark.map(|at| self.prompt_marks[at].text.clone());
        if let Some(transcript) = &self.transcript {
            let parent = session::reader::parent_of(transcript.path(), to)
                .ok_or_else(|| format!("The prompt {to} is not in this session's transcript."))?;
            transcript.record(Record::Branch { parent });
            let loaded = session::reader::load(transcript.path()).map_err(|e| e.to_string())?;
            self.history = loaded.history;
        } else {
            let at = mark.ok_or_else(|| "That prompt was not sent in this session.".to_owned())?;
            self.history.truncate(self.prompt_marks[at].history_len);
        }
        if let Some(at) = mark {
            self.prompt_marks.truncate(at);
        }
        self.meter.reset();
        Ok(text)
    }

    /// Continues as a new session with the conversation so far — or with the conversation
    /// from before prompt `before` was sent.
    pub(super) fn fork(&mut self, before: Option<&str>, events: &EventSink) {
        let Some(transcript) = self.transcript.clone() else {
            let message = "This session is not saved (--no-session-persistence): there is nothing to fork.";
            return events.emit(Event::Error { message: message.into() });
        };
        let Some(store) = self.services.store.clone() else { return };
        let at = match before.map(|prompt| session::reader::parent_of(transcript.path(), prompt)) {
            None => None,
            Some(Some(Some(parent))) => Some(parent),
            Some(Some(None)) => {
                let message = "Nothing comes before the first prompt: /clear starts an empty session.";
                return events.emit(Event::Error { message: message.into() });
            }
            Some(None) => return events.emit(Event::Error { message: "No such prompt in this session.".into() }),
        };
        let forked =
            session::reader::load_at(transcript.path(), at.as_deref()).map_err(|e| e.to_string()).and_then(|loaded| {
                let id = uuid::Uuid::new_v4().to_string();
                let new = store.fork(&loaded, &id).map_err(|e| e.to_string())?;
                Ok((loaded, id, new))
            });
        let (mut loaded, id, new) = match forked {
            Ok(forked) => forked,
            Err(message) => return events.emit(Event::Error { message: format!("Could not fork: {message}") }),
        };
        let (from, to) = (session::sidecar_dir(transcript.path()), session::sidecar_dir(new.path()));
        if let Err(e) = crate::tools::checkpoint::copy(&from, &to) {
            events.emit(Event::Error { message: format!("The fork could not take the checkpoints along: {e}") });
        }
        let parent = std::mem::replace(&mut loaded.session_id, id);
        loaded.path = new.path().to_path_buf();
        loaded.title = None;
        self.adopt(loaded, Some(new));
        self.prompt_marks.clear();
        events.emit(Event::SessionChanged(self.info()));
        events.emit(Event::Notice { message: format!("Forked session {parent} as {}.", self.session_id) });
    }
}
