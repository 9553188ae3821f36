//! Sessions on disk: where transcripts live, how one is found, opened, resumed or forked.
//!
//! A session is one JSONL file, `$CAIRN_HOME/projects/<project>/<id>.jsonl`, in Claude
//! Code's envelope, and a sidecar folder beside it (`<id>/tool-results/` for spilled
//! output). `writer` appends to it as the session goes, `reader` turns any transcript —
//! cairn's or Claude Code's, torn or not — back into a history valid to send, `list` is the
//! session browser behind `cairn sessions` and `/resume`, and `secrets` keeps credentials
//! out of all of it. A [`Store`] ties them to one project folder; the core only ever sees
//! a [`Transcript`] to record into.
//!
//! An open session is held under its `lock` (one per session id, held by the process and
//! gone with it even on `kill -9`), so a second cairn cannot interleave its entries with the
//! first's: it is told to fork instead.

pub mod cleanup;
pub mod list;
pub mod lock;
pub mod reader;
pub mod writer;

use std::path::{Path, PathBuf};

pub use reader::Loaded;
pub use writer::{Record, Transcript, TurnSummary};

use crate::secrets::Secrets;
use writer::{Envelope, Start};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("No conversation found with session ID: {0}")]
    NotFound(String),
    #[error("No conversation found to continue in {}", .0.display())]
    NothingToContinue(PathBuf),
    #[error(
        "session {0} is open in another cairn process; close it there, or add --fork-session to continue it as a new session"
    )]
    InUse(String),
    #[error("Session ID {0} is already in use; pick another, or resume it with --resume {0}")]
    IdTaken(String),
    #[error(
        "{} is not a session transcript (none of its lines is a transcript entry); it was left as it was",
        .0.display()
    )]
    NotATranscript(PathBuf),
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// Flags that do not go together.
    #[error("{0}")]
    Usage(&'static str),
    #[error("no message {0} in this session (the ids are the `uuid`s of its transcript entries)")]
    NoSuchMessage(String),
}

impl SessionError {
    fn io(path: &Path, error: &std::io::Error) -> SessionError {
        SessionError::Io { path: path.to_path_buf(), message: error.to_string() }
    }
}

/// How the command line asked the session to start.
#[derive(Clone, Debug, Default)]
pub struct OpenRequest {
    /// `--continue`.
    pub continue_latest: bool,
    /// `--resume`, with its id, title or path if one was given.
    pub resume: Option<Option<String>>,
    pub fork: bool,
    /// `--session-id`.
    pub session_id: Option<String>,
    /// Not `--no-session-persistence`.
    pub persist: bool,
    /// The interactive UI, which can offer a picker.
    pub interactive: bool,
    /// `--resume-session-at`: the entry the conversation continues from.
    pub at: Option<String>,
}

/// The session a run starts with.
pub struct Opened {
    pub session_id: String,
    /// Where it is written (`None` without persistence).
    pub transcript: Option<Transcript>,
    /// The session read back, when continuing one.
    pub loaded: Option<Loaded>,
    /// `--resume` without an id in the interactive UI: open the picker.
    pub pick: bool,
    /// The folder for spilled output and background shell logs.
    pub sidecar: PathBuf,
}

/// Starts, continues or forks the session the flags ask for.
pub fn open(store: &Store, request: OpenRequest) -> Result<Opened, SessionError> {
    let continuing = request.continue_latest || request.resume.is_some();
    if request.fork && !continuing {
        return Err(SessionError::Usage("--fork-session continues a session: add --continue or --resume <id>"));
    }
    if request.session_id.is_some() && continuing && !request.fork {
        return Err(SessionError::Usage(
            "--session-id names a new session; to continue one under a new id add --fork-session",
        ));
    }
    let path = match (&request.resume, request.continue_latest) {
        (Some(Some(key)), _) => Some(store.find(key)?),
        (Some(None), _) if !request.interactive => {
            return Err(SessionError::Usage(
                "--resume needs a session id with --print (list them with `cairn sessions`)",
            ));
        }
        (_, true) => Some(store.latest()?),
        _ => None,
    };
    let pick = matches!(request.resume, Some(None));
    let Some(path) = path else {
        let session_id = request.session_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let transcript = if request.persist { Some(store.create(&session_id)?) } else { None };
        let sidecar = sidecar_dir(&store.path_for(&session_id));
        return Ok(Opened { session_id, transcript, loaded: None, pick, sidecar });
    };
    let mut loaded = reader::load_at(&path, request.at.as_deref())?;
    if request.fork {
        let session_id = request.session_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let transcript = if request.persist { Some(store.fork(&loaded, &session_id)?) } else { None };
        // The fork takes the checkpoints along: its files are the same.
        let _ = crate::tools::checkpoint::copy(&sidecar_dir(&loaded.path), &sidecar_dir(&store.path_for(&session_id)));
        loaded.session_id.clone_from(&session_id);
        loaded.path = store.path_for(&session_id);
        loaded.title = None;
        let sidecar = sidecar_dir(&loaded.path);
        return Ok(Opened { session_id, transcript, loaded: Some(loaded), pick: false, sidecar });
    }
    let transcript = if request.persist { Some(store.reopen(&loaded)?) } else { None };
    Ok(Opened {
        session_id: loaded.session_id.clone(),
        sidecar: sidecar_dir(&loaded.path),
        transcript,
        loaded: Some(loaded),
        pick: false,
    })
}

/// A project's folder name under `projects/`: its absolute path with every character that
/// is not a letter or digit replaced by `-`, as Claude Code names them.
pub fn project_folder_name(cwd: &Path) -> String {
    cwd.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// The folder beside a transcript that holds its spilled output and sub-agent files.
pub fn sidecar_dir(transcript: &Path) -> PathBuf {
    transcript.with_extension("")
}

/// The sessions of one project folder, under one cairn home.
#[derive(Clone, Debug)]
pub struct Store {
    pub home: PathBuf,
    pub cwd: PathBuf,
    pub git_branch: Option<String>,
    pub secrets: Secrets,
}

impl Store {
    pub fn projects_dir(&self) -> PathBuf {
        self.home.join("projects")
    }

    /// `$CAIRN_HOME/projects/<cwd with every non-alphanumeric char as '-'>`.
    pub fn project_dir(&self) -> PathBuf {
        self.projects_dir().join(project_folder_name(&self.cwd))
    }

    pub fn path_for(&self, session_id: &str) -> PathBuf {
        self.project_dir().join(format!("{session_id}.jsonl"))
    }

    /// The transcript `key` names: a path to a `.jsonl` file, a session id (this project
    /// first, then every project), or a title given with `/rename` (this project).
    pub fn find(&self, key: &str) -> Result<PathBuf, SessionError> {
        let key = key.trim();
        let as_path = Path::new(key);
        if key.ends_with(".jsonl") || key.contains(std::path::MAIN_SEPARATOR) {
            let path = self.cwd.join(as_path);
            return if path.is_file() { Ok(path) } else { Err(SessionError::NotFound(key.to_owned())) };
        }
        let safe = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if safe {
            let here = self.path_for(key);
            if here.is_file() {
                return Ok(here);
            }
            let file_name = format!("{key}.jsonl");
            if let Ok(projects) = std::fs::read_dir(self.projects_dir()) {
                for project in projects.flatten() {
                    let candidate = project.path().join(&file_name);
                    if candidate.is_file() {
                        return Ok(candidate);
                    }
                }
            }
        }
        list::sessions(self, false)
            .into_iter()
            .find(|s| s.title.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(key)))
            .map(|s| s.path)
            .ok_or_else(|| SessionError::NotFound(key.to_owned()))
    }

    /// The most recently active session of this project (`--continue`).
    pub fn latest(&self) -> Result<PathBuf, SessionError> {
        list::newest_file(&self.project_dir()).ok_or_else(|| SessionError::NothingToContinue(self.cwd.clone()))
    }

    fn envelope(&self, session_id: &str) -> Envelope {
        Envelope {
            session_id: session_id.to_owned(),
            cwd: self.cwd.clone(),
            git_branch: self.git_branch.clone(),
            agent_id: None,
        }
    }

    /// A sub-agent's transcript, `<session>/subagents/agent-<id>.jsonl` beside the
    /// session's own, its entries marked as a sidechain.
    pub fn sidechain(&self, parent: &Path, session_id: &str, agent_id: &str) -> Transcript {
        let path = sidecar_dir(parent).join("subagents").join(format!("agent-{agent_id}.jsonl"));
        let mut envelope = self.envelope(session_id);
        envelope.agent_id = Some(agent_id.to_owned());
        Transcript::start(path, envelope, Start::New, self.secrets.clone(), None)
    }

    /// A new session's transcript, written from its first entry on.
    pub fn create(&self, session_id: &str) -> Result<Transcript, SessionError> {
        let path = self.path_for(session_id);
        if path.exists() {
            return Err(SessionError::IdTaken(session_id.to_owned()));
        }
        let held = lock::acquire(&self.home, session_id)?;
        Ok(Transcript::start(path, self.envelope(session_id), Start::New, self.secrets.clone(), held))
    }

    /// Appends to a loaded session's own file (resume), once its lock is taken.
    pub fn reopen(&self, loaded: &Loaded) -> Result<Transcript, SessionError> {
        let held = lock::acquire(&self.home, &loaded.session_id)?;
        let file = writer::open_for_append(&loaded.path)?;
        let start = Start::Append { file, leaf: loaded.leaf.clone() };
        let envelope = self.envelope(&loaded.session_id);
        Ok(Transcript::start(loaded.path.clone(), envelope, start, self.secrets.clone(), held))
    }

    /// A new session that starts as a copy of a loaded one (`--fork-session`).
    pub fn fork(&self, loaded: &Loaded, session_id: &str) -> Result<Transcript, SessionError> {
        let path = self.path_for(session_id);
        if path.exists() {
            return Err(SessionError::IdTaken(session_id.to_owned()));
        }
        let held = lock::acquire(&self.home, session_id)?;
        let entries = reader::fork_entries(&loaded.path)?;
        let start = Start::Fork { entries, leaf: loaded.leaf.clone() };
        Ok(Transcript::start(path, self.envelope(session_id), start, self.secrets.clone(), held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(home: &Path, cwd: &Path) -> Store {
        Store { home: home.into(), cwd: cwd.into(), git_branch: None, secrets: Secrets::default() }
    }

    #[tokio::test]
    async fn sessions_are_found_by_id_path_and_title_and_locked_while_open() {
        let home = tempfile::tempdir().unwrap();
        let cwd = tempfile::tempdir().unwrap();
        let store = store(home.path(), cwd.path());
        let t = store.create("s1").unwrap();
        t.record(Record::User {
            content: vec![crate::conversation::history::ContentBlock::text("hi")],
            permission_mode: None,
            meta: false,
        });
        t.record(Record::Title("Bug hunt".into()));
        t.sync().await.unwrap();
        let path = store.path_for("s1");
        assert_eq!(store.find("s1").unwrap(), path);
        assert_eq!(store.find(path.to_str().unwrap()).unwrap(), path);
        assert_eq!(store.find("bug hunt").unwrap(), path);
        assert_eq!(store.find("nope"), Err(SessionError::NotFound("nope".into())));
        assert_eq!(store.latest().unwrap(), path);
        assert!(matches!(store.create("s1"), Err(SessionError::IdTaken(_))));

        // Another project's session is found by id too.
        let elsewhere = Store { cwd: home.path().join("other"), ..store.clone() };
        assert_eq!(elsewhere.find("s1").unwrap(), path);

        // Held by this process, it is refused to another one.
        let lock_file = lock::lock_path(home.path(), "s1");
        assert!(!lock::tests::other_process_can_lock(&lock_file));
        drop(t);
        // The writer thread lets go of the file once its handle is gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !lock::tests::other_process_can_lock(&lock_file) {
            assert!(std::time::Instant::now() < deadline, "the lock outlived the transcript");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let loaded = reader::load(&path).unwrap();
        assert!(store.reopen(&loaded).is_ok());
    }
}
