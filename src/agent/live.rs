//! What changes on disk while a session runs: users' commands, skills and agents reloaded
//! when the watcher sees their files change; memory files read again (and the model told)
//! when they change; a sub-folder's memory files read when a tool first touches a file in
//! it; and `# note`s appended to the project's memory file.

use std::path::PathBuf;

use serde_json::Value;

use super::Session;
use crate::custom::watch::Changed;
use crate::memory;
use crate::protocol::{Event, EventSink};
use crate::tools::state;

/// What the session knows of memory files beyond the first message.
#[derive(Clone, Default)]
pub(super) struct MemoryState {
    /// The memory text the model was last given (`None`: not since this process started).
    pub sent: Option<String>,
    /// The watcher saw a memory file change: compare before the next message.
    pub dirty: bool,
    /// Sub-folders whose memory files were looked at.
    pub folders: Vec<PathBuf>,
    /// Path-scoped rules already sent.
    pub rules: Vec<PathBuf>,
}

impl Session {
    /// Applies what the watcher saw.
    pub(super) fn reload(&mut self, changed: &[Changed], events: &EventSink) {
        for kind in changed {
            match kind {
                Changed::Catalog => {
                    let catalog = self.services.custom.load();
                    for message in &catalog.warnings {
                        events.emit(Event::Notice { message: message.clone() });
                    }
                    let counts = (catalog.prompts.len(), catalog.agents.len());
                    *self.services.catalog.write().unwrap_or_else(std::sync::PoisonError::into_inner) = catalog;
                    events.emit(Event::SessionChanged(self.info()));
                    events.emit(Event::Notice {
                        message: format!(
                            "Reloaded commands, skills and agents ({} commands and skills, {} agents)",
                            counts.0, counts.1
                        ),
                    });
                }
                Changed::Memory => {
                    self.memory.dirty = true;
                    events.emit(Event::Notice {
                        message: "Memory files changed; the model gets them with the next message".into(),
                    });
                }
                Changed::Settings => self.reload_settings(events),
                Changed::Folders => {
                    if let Some(ops) = self.ops.as_ref().and_then(tokio::sync::mpsc::WeakUnboundedSender::upgrade) {
                        self._watcher = watch(self, &ops, events);
                    }
                    let everything = [Changed::Catalog, Changed::Settings];
                    let missing: Vec<Changed> = everything.into_iter().filter(|c| !changed.contains(c)).collect();
                    self.reload(&missing, events);
                }
            }
        }
    }

    /// A settings file changed: the permission rules and hooks are read again. The mode in
    /// force and the rules answered "don't ask again" this session stay.
    fn reload_settings(&mut self, events: &EventSink) {
        let Some(reload) = self.services.reload_settings.clone() else { return };
        match reload() {
            Ok(reloaded) => {
                for message in reloaded.warnings {
                    events.emit(Event::Notice { message });
                }
                let mut permissions = reloaded.permissions;
                {
                    let old = state::lock(&self.services.permissions);
                    permissions.mode = old.mode;
                    for (purpose, rule, origin) in old.listing() {
                        if origin == "this session"
                            && let Ok(rule) = crate::permissions::PermissionRule::parse(&rule)
                        {
                            let origin = crate::permissions::Origin { label: origin, dir: self.context.cwd.clone() };
                            let _ = permissions.add(purpose, rule, origin);
                        }
                    }
                }
                *state::lock(&self.services.permissions) = permissions;
                self.services.set_hooks(reloaded.hooks);
                events.emit(Event::Notice { message: "Reloaded the settings: permission rules and hooks".into() });
                if reloaded.plugins_changed {
                    if let Some(manager) = &self.services.mcp {
                        manager.sync_plugin_servers(reloaded.plugin_servers);
                    }
                    self.reload(&[Changed::Catalog], events);
                    if let Some(ops) = self.ops.as_ref().and_then(tokio::sync::mpsc::WeakUnboundedSender::upgrade) {
                        self._watcher = watch(self, &ops, events);
                    }
                }
            }
            Err(problem) => events.emit(Event::Error {
                message: format!(
                    "A settings file changed but could not be read ({problem}); the settings in force stay"
                ),
            }),
        }
    }

    /// The memory files as they are now, if they changed since the model was told.
    pub(super) fn changed_memory(&mut self) -> Option<String> {
        if !std::mem::take(&mut self.memory.dirty) {
            return None;
        }
        let now = memory::render(&self.context.memory.load());
        if self.memory.sent.as_deref() == Some(now.as_str()) {
            return None;
        }
        self.memory.sent = Some(now.clone());
        Some(format!("The user's memory files changed during the session. As they are now:\n\n{now}"))
    }

    /// `# note`: appended to the project's memory file as a list item.
    pub(super) fn remember(&mut self, note: &str, events: &EventSink) {
        let note = note.trim().trim_start_matches('#').trim();
        if note.is_empty() {
            return;
        }
        let path = self.context.memory.notes_file();
        let existing = std::fs::read_to_string(&path).unwrap_or_default();
        let separator = if existing.is_empty() || existing.ends_with('\n') { "" } else { "\n" };
        match std::fs::write(&path, format!("{existing}{separator}- {note}\n")) {
            Ok(()) => {
                self.memory.dirty = true;
                let shown = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
                events.emit(Event::Notice { message: format!("Noted in {shown}") });
            }
            Err(e) => {
                events.emit(Event::Error { message: format!("Could not write the note to {}: {e}", path.display()) })
            }
        }
    }

    /// The memory files of sub-folders the calls touched for the first time, as context
    /// for the model.
    pub(super) fn nested_memory(&mut self, inputs: &[&Value], events: &EventSink) -> Vec<String> {
        let project = self.context.cwd.clone();
        let mut notes = Vec::new();
        let rules: Vec<memory::Rule> = if inputs.is_empty() {
            Vec::new()
        } else {
            self.context.memory.rules().0.into_iter().filter(|r| !r.paths.is_empty()).collect()
        };
        for input in inputs {
            for key in ["file_path", "path", "notebook_path"] {
                let Some(raw) = input.get(key).and_then(Value::as_str) else { continue };
                let path = self.tools.resolve(raw);
                // A folder (Glob, Grep, LS) counts as touching a file in it.
                let path = if path.is_dir() { path.join(".") } else { path };
                let (mut files, problems) = memory::nested(&project, &path, &mut self.memory.folders);
                for message in problems {
                    events.emit(Event::Notice { message });
                }
                files.extend(memory::matching_rules(&rules, &project, &path, &mut self.memory.rules));
                if !files.is_empty() {
                    notes.push(memory::render(&files));
                }
            }
        }
        notes
    }

    /// `/memory`: the files loaded, numbered; `/memory N|project|path` opens one.
    pub(super) fn answer_memory(&self, open: Option<&str>, events: &EventSink) {
        let mut files: Vec<PathBuf> = self.context.memory.load().into_iter().map(|f| f.path).collect();
        files.extend(self.context.memory.auto_files().into_iter().filter(|p| !files.contains(p)).collect::<Vec<_>>());
        files.extend(self.memory.rules.iter().filter(|p| !files.contains(p)).cloned().collect::<Vec<_>>());
        for folder in &self.memory.folders {
            for (path, _) in memory::folder_files(folder) {
                if path.is_file() && !files.contains(&path) {
                    files.push(path);
                }
            }
        }
        let Some(open) = open.map(str::trim).filter(|o| !o.is_empty()) else {
            let notes_file = self.context.memory.notes_file();
            events.emit(Event::Answer(crate::protocol::Answer::Memory { files, notes_file }));
            return;
        };
        let path = match open.parse::<usize>() {
            Ok(n) if (1..=files.len()).contains(&n) => files[n - 1].clone(),
            Ok(n) => {
                events.emit(Event::Error { message: format!("There is no memory file {n}; /memory lists them.") });
                return;
            }
            Err(_) if open == "project" => self.context.memory.notes_file(),
            Err(_) => self.tools.resolve(open),
        };
        events.emit(Event::EditFile { path });
    }

    /// Sub-folders' memory files are read again after a compaction or `/clear`.
    pub(super) fn forget_nested_memory(&mut self) {
        self.memory.folders.clear();
        self.memory.rules.clear();
    }
}

/// Starts the watcher for a session whose front end stays (the UI, stream-json input): a
/// change becomes an [`crate::protocol::Op::Reload`] on the core's own channel. A watch
/// that cannot be set up is told to the user once.
pub(super) fn watch(
    session: &Session,
    ops: &tokio::sync::mpsc::UnboundedSender<crate::protocol::Op>,
    events: &EventSink,
) -> Option<crate::custom::watch::Watcher> {
    if !session.services.custom.watch {
        return None;
    }
    // A weak sender: the watcher must not keep the core alive after the front end is gone.
    let ops = ops.downgrade();
    let started = crate::custom::watch::start(&session.services.custom, move |changed| {
        if let Some(ops) = ops.upgrade() {
            let _ = ops.send(crate::protocol::Op::Reload(changed));
        }
    });
    match started {
        Ok(watcher) => Some(watcher),
        Err(problem) => {
            events.emit(Event::Notice {
                message: format!("Changes to commands, skills, memory and settings will apply from the next start: watching them failed ({problem})"),
            });
            None
        }
    }
}
