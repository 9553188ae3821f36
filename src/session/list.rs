//! The session browser: every transcript of a project (or of all of them), newest first,
//! with its title, last activity, turns and cost.
//!
//! It stays fast however long the sessions are because it reads only the head of each
//! file (the first prompt, the working folder) and its tail (the `cairn-turn` summary the
//! writer adds after every turn, a `/rename` title). Only a file whose tail holds no
//! summary — one written by Claude Code, or cut short by a crash before its first turn
//! ended — is read whole. The list is built from the files themselves, never from an index
//! that could drift away from them.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Store;
use super::reader::{self, prompt_text};
use super::writer::TURN_SUMMARY;

/// How much of a file's start is read for its first prompt.
const HEAD: u64 = 16 * 1024;
/// How much of its end is read for its last summary, at first (the summary is normally the
/// last line); the window grows eightfold until one is found.
const TAIL: u64 = 4 * 1024;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub session_id: String,
    pub path: PathBuf,
    /// The folder the session ran in.
    pub cwd: Option<PathBuf>,
    /// The name given with `/rename` (or a title stored by Claude Code).
    pub title: Option<String>,
    pub first_prompt: Option<String>,
    pub last_prompt: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub last_activity: SystemTime,
    pub turns: u32,
    pub cost_usd: f64,
}

impl SessionSummary {
    /// What the list shows as its name.
    pub fn label(&self) -> String {
        let text = self.title.as_deref().or(self.first_prompt.as_deref()).unwrap_or("(no prompt)");
        one_line(text)
    }
}

fn rfc3339<S: serde::Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&DateTime::<Utc>::from(*time).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The sessions of `store`'s project (every project with `all`), newest first.
pub fn sessions(store: &Store, all: bool) -> Vec<SessionSummary> {
    let folders = if all {
        std::fs::read_dir(store.projects_dir())
            .map(|dirs| dirs.flatten().map(|d| d.path()).collect())
            .unwrap_or_default()
    } else {
        vec![store.project_dir()]
    };
    let mut found: Vec<SessionSummary> = folders
        .iter()
        .flat_map(|folder| transcripts(folder))
        .filter_map(|(path, mtime)| summarize(&path, mtime))
        .collect();
    found.sort_by_key(|s| std::cmp::Reverse(s.last_activity));
    found
}

/// The most recently written transcript in `folder`.
pub fn newest_file(folder: &Path) -> Option<PathBuf> {
    transcripts(folder).into_iter().max_by_key(|(_, mtime)| *mtime).map(|(path, _)| path)
}

fn transcripts(folder: &Path) -> Vec<(PathBuf, SystemTime)> {
    let Ok(entries) = std::fs::read_dir(folder) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            (meta.is_file() && meta.len() > 0).then(|| (e.path(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
        })
        .collect()
}

/// The fields the list needs, from any entry.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "sessionId", default)]
    session_id: Option<String>,
    #[serde(default)]
    cwd: Option<PathBuf>,
    #[serde(rename = "isMeta", default)]
    meta: bool,
    #[serde(rename = "isSidechain", default)]
    sidechain: bool,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
    #[serde(rename = "customTitle", default)]
    custom_title: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    turns: Option<u32>,
    #[serde(rename = "costUsd", default)]
    cost_usd: Option<f64>,
    #[serde(rename = "lastPrompt", default)]
    last_prompt: Option<String>,
}

fn summarize(path: &Path, last_activity: SystemTime) -> Option<SessionSummary> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let mut summary = SessionSummary {
        session_id: stem,
        path: path.to_path_buf(),
        cwd: None,
        title: None,
        first_prompt: None,
        last_prompt: None,
        last_activity,
        turns: 0,
        cost_usd: 0.0,
    };
    let head = read_at(&mut file, 0, HEAD.min(len))?;
    for line in whole_lines(&head, false) {
        let Ok(peek) = serde_json::from_slice::<Peek>(line) else { continue };
        if summary.cwd.is_none() {
            summary.cwd = peek.cwd.clone();
        }
        if let Some(id) = peek.session_id.clone() {
            summary.session_id = id;
        }
        if peek.kind == "summary" && summary.title.is_none() {
            summary.title = peek.summary.clone();
        }
        if peek.kind == "user" && !peek.meta && !peek.sidechain {
            summary.first_prompt = peek.message.and_then(prompt_text);
            if summary.first_prompt.is_some() {
                break;
            }
        }
    }
    let mut window = TAIL;
    loop {
        let start = len.saturating_sub(window);
        let tail = read_at(&mut file, start, len - start)?;
        // Newest first: a rename after the last turn beats the title the turn carried.
        for line in whole_lines(&tail, start > 0).into_iter().rev() {
            let Ok(peek) = serde_json::from_slice::<Peek>(line) else { continue };
            if peek.kind == "custom-title" && summary.title.is_none() {
                summary.title = peek.custom_title;
            } else if peek.kind == TURN_SUMMARY {
                summary.turns = peek.turns.unwrap_or(0);
                summary.cost_usd = peek.cost_usd.unwrap_or(0.0);
                summary.last_prompt = peek.last_prompt;
                summary.title = summary.title.or(peek.custom_title);
                return Some(summary);
            }
        }
        if start == 0 {
            break;
        }
        window *= 8;
    }
    // No summary anywhere: a Claude Code transcript, or a session that crashed in its first
    // turn. Read it whole.
    let loaded = reader::load(path).ok()?;
    summary.turns = loaded.turns;
    summary.cost_usd = loaded.costs.total_cost_usd;
    summary.title = summary.title.or(loaded.title);
    summary.first_prompt = summary.first_prompt.or(loaded.first_prompt);
    Some(summary)
}

/// Who said a line of a preview.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    User,
    Assistant,
}

/// The last `count` prompts and answers of a session, read from the file's tail only.
pub fn preview(path: &Path, count: usize) -> Vec<(Speaker, String)> {
    let Ok(mut file) = File::open(path) else { return Vec::new() };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL);
    let Some(tail) = read_at(&mut file, start, len - start) else { return Vec::new() };
    let mut said = Vec::new();
    for line in whole_lines(&tail, start > 0).into_iter().rev() {
        let Ok(peek) = serde_json::from_slice::<Peek>(line) else { continue };
        let Some(message) = peek.message else { continue };
        let entry = match peek.kind.as_str() {
            "user" if !peek.meta => prompt_text(message).map(|text| (Speaker::User, text)),
            "assistant" => assistant_text(message).map(|text| (Speaker::Assistant, text)),
            _ => None,
        };
        if let Some(entry) = entry {
            said.push(entry);
            if said.len() == count {
                break;
            }
        }
    }
    said.reverse();
    said
}

fn assistant_text(message: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Blocks {
        content: Vec<serde_json::Value>,
    }
    let blocks: Blocks = serde_json::from_str(message.get()).ok()?;
    let text: Vec<&str> =
        blocks.content.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect();
    let text = text.join(" ");
    (!text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn read_at(file: &mut File, offset: u64, len: u64) -> Option<Vec<u8>> {
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = Vec::with_capacity(usize::try_from(len).ok()?);
    file.take(len).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The complete lines of a window; `skip_first` drops the first, which a window that starts
/// mid-file cuts.
fn whole_lines(buf: &[u8], skip_first: bool) -> Vec<&[u8]> {
    buf.split(|b| *b == b'\n').skip(usize::from(skip_first)).filter(|l| !l.is_empty()).collect()
}

/// Text on one line, at most 80 characters.
pub fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 80 {
        return flat;
    }
    let cut: String = flat.chars().take(79).collect();
    format!("{cut}…")
}

/// "just now", "5m ago", "3h ago", "2d ago", or the date.
pub fn ago(time: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(time).map(|d| d.as_secs()).unwrap_or(0);
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        86_400..604_800 => format!("{}d ago", secs / 86_400),
        _ => DateTime::<Utc>::from(time).format("%Y-%m-%d").to_string(),
    }
}

/// The table `cairn sessions` prints.
pub fn table(sessions: &[SessionSummary], all: bool, now: SystemTime) -> String {
    if sessions.is_empty() {
        let scope = if all { "" } else { " in this folder (`cairn sessions --all` lists every folder's)" };
        return format!("No sessions yet{scope}. Start one with `cairn`; pick it up later with `cairn --continue`.\n");
    }
    let mut out = format!("{:<36}  {:<10}  {:>5}  {:>8}  {}\n", "SESSION", "ACTIVE", "TURNS", "COST", "TITLE");
    for s in sessions {
        let mut title = s.label();
        if all && let Some(cwd) = &s.cwd {
            title = format!("{title}  ({})", cwd.display());
        }
        out.push_str(&format!(
            "{:<36}  {:<10}  {:>5}  {:>8}  {title}\n",
            s.session_id,
            ago(s.last_activity, now),
            s.turns,
            format!("${:.2}", s.cost_usd),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Secrets;
    use crate::session::{Record, TurnSummary};
    use std::time::Duration;

    #[tokio::test]
    async fn sessions_list_with_titles_turns_and_cost_newest_first() {
        let home = tempfile::tempdir().unwrap();
        let store = Store {
            home: home.path().into(),
            cwd: PathBuf::from("/work/app"),
            git_branch: None,
            secrets: Secrets::default(),
        };
        for (id, prompt) in [("old", "first session"), ("new", "second session")] {
            let t = store.create(id).unwrap();
            t.record(Record::User {
                content: vec![crate::conversation::history::ContentBlock::text(prompt)],
                permission_mode: None,
                meta: false,
            });
            // A long tool output pushes the summary out of the first tail window.
            t.record(Record::System { subtype: "note", content: "x".repeat(100_000), level: "info" });
            t.record(Record::TurnSummary(TurnSummary { turns: 2, cost_usd: 0.5, ..TurnSummary::default() }));
            t.sync().await.unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let found = sessions(&store, false);
        assert_eq!(found.iter().map(|s| s.session_id.as_str()).collect::<Vec<_>>(), ["new", "old"]);
        assert_eq!(found[0].first_prompt.as_deref(), Some("second session"));
        assert_eq!((found[0].turns, found[0].cost_usd), (2, 0.5));
        assert_eq!(found[0].cwd.as_deref(), Some(Path::new("/work/app")));
        let shown = table(&found, false, SystemTime::now());
        assert!(shown.contains("second session") && shown.contains("$0.50"), "{shown}");
    }

    #[test]
    fn times_read_like_a_person_would_say_them() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000_000);
        assert_eq!(ago(now - Duration::from_secs(5), now), "just now");
        assert_eq!(ago(now - Duration::from_secs(300), now), "5m ago");
        assert_eq!(ago(now - Duration::from_secs(7200), now), "2h ago");
        assert_eq!(one_line("a\n b   c"), "a b c");
    }
}
