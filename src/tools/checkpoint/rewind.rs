//! Rewinding files to how they were when a turn began: for each file changed since, the
//! version it had before its first change — removed if it did not exist. A file someone
//! else changed since cairn last left it is a conflict, restored only when the user says
//! so; a version that was never kept is reported. The rewind is itself a turn of changes,
//! so rewinding to it undoes it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{Change, Checkpoints, Version, store::hash_of};

/// What rewinding to a turn would do.
#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Files whose version then is not known: (path, why).
    pub lost: Vec<(PathBuf, String)>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub path: PathBuf,
    /// The version to bring back (`None`: remove the file).
    pub target: Option<Version>,
    /// Someone changed the file since cairn last left it.
    pub conflict: bool,
}

/// What a rewind did.
#[derive(Debug, Default)]
pub struct Report {
    pub restored: Vec<PathBuf>,
    pub removed: Vec<PathBuf>,
    /// Conflicting files left as they are.
    pub kept: Vec<PathBuf>,
    pub failed: Vec<(PathBuf, String)>,
    pub lost: Vec<(PathBuf, String)>,
    /// The turn the rewind was journaled as: rewinding to it undoes it.
    pub undo: String,
}

impl Report {
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} restored, {} removed", self.restored.len(), self.removed.len())];
        if !self.kept.is_empty() {
            parts.push(format!("{} changed by someone else left as they are", self.kept.len()));
        }
        for (path, why) in self.failed.iter().chain(&self.lost) {
            parts.push(format!("{} not restored: {why}", path.display()));
        }
        parts.join("; ")
    }
}

/// The current version of the file at `path` (`None`: absent).
fn current(path: &Path) -> Option<Version> {
    let bytes = std::fs::read(path).ok()?;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    Some(Version { hash: hash_of(&bytes), mode })
}

fn same_bytes(a: &Option<Version>, b: &Option<Version>) -> bool {
    a.as_ref().map(|v| &v.hash) == b.as_ref().map(|v| &v.hash)
}

impl Checkpoints {
    /// What rewinding to the start of `turn` would do (`None`: no such turn).
    pub fn plan_rewind(&self, turn: &str) -> Option<Plan> {
        let changes = self.changes_since(turn)?;
        let mut plan = Plan::default();
        // Each path's first and last change, in the order paths first changed.
        let mut order: Vec<&PathBuf> = Vec::new();
        let mut ends: std::collections::HashMap<&PathBuf, (&Change, &Change)> = std::collections::HashMap::new();
        for change in &changes {
            ends.entry(&change.path).and_modify(|(_, last)| *last = change).or_insert_with(|| {
                order.push(&change.path);
                (change, change)
            });
        }
        for path in order {
            let (first, last) = ends[path];
            if let Some(why) = &first.lost {
                plan.lost.push((path.clone(), why.clone()));
                continue;
            }
            let now = current(path);
            if same_bytes(&now, &first.before) && now.as_ref().map(|v| v.mode) == first.before.as_ref().map(|v| v.mode)
            {
                continue;
            }
            let conflict = !same_bytes(&now, &last.after);
            plan.steps.push(Step { path: path.clone(), target: first.before.clone(), conflict });
        }
        Some(plan)
    }

    /// Carries out `plan` (conflicting files too with `overwrite`), journaled as a turn of
    /// its own labelled `label`.
    pub fn apply(&self, plan: &Plan, overwrite: bool, label: &str) -> Report {
        let undo = format!("rewind-{}", uuid::Uuid::new_v4().simple());
        self.begin_turn(&undo, label);
        let mut report = Report { lost: plan.lost.clone(), undo, ..Report::default() };
        for step in &plan.steps {
            if step.conflict && !overwrite {
                report.kept.push(step.path.clone());
                continue;
            }
            match self.restore(step) {
                Ok(()) if step.target.is_none() => report.removed.push(step.path.clone()),
                Ok(()) => report.restored.push(step.path.clone()),
                Err(why) => report.failed.push((step.path.clone(), why)),
            }
        }
        report
    }

    /// Whether the nearest existing folder above `path` now resolves somewhere other than
    /// where it was when the change was recorded (a link put in place of a folder).
    fn redirected(&self, path: &Path) -> bool {
        let Some(existing) = path.ancestors().skip(1).find(|dir| dir.exists()) else { return false };
        let Ok(real) = existing.canonicalize() else { return true };
        let expected = match existing.strip_prefix(&self.root) {
            Ok(rel) => self.root_dir().join(rel),
            Err(_) => existing.to_path_buf(),
        };
        real != expected && real != existing
    }

    /// Puts one file back (checkpointing what is there now first).
    fn restore(&self, step: &Step) -> Result<(), String> {
        let path = &step.path;
        // A folder on the way may have become a link since: never write or remove through
        // it to somewhere else.
        if self.redirected(path) {
            return Err("a folder on its path is now a symbolic link to elsewhere; left alone".into());
        }
        let old = std::fs::read(path).ok();
        match &step.target {
            Some(version) => {
                let bytes = self.store.get(&version.hash)?;
                let id = self.before_write(path, old.as_deref(), &bytes, "rewind")?;
                let written = write_file(path, &bytes, version.mode);
                self.after_write(&id, path, written.is_ok());
                written.map_err(|e| format!("could not write it: {e}"))
            }
            None => {
                let Some(old) = old else { return Ok(()) };
                let id = self.before_removal(path, &old)?;
                let removed = std::fs::remove_file(path);
                self.after_write(&id, path, removed.is_ok());
                removed.map_err(|e| format!("could not remove it: {e}"))
            }
        }
    }
}

/// Writes `bytes` with `mode` to `path` atomically (a temporary file renamed over it; a
/// symlink there is replaced, never followed), creating its folder.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("no folder"))?;
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new().prefix(".cairn-").suffix(".tmp").tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(mode))?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Checkpoints;

    /// A project, its session's folder, a folder outside both, and the checkpoints, with
    /// turn `t1` begun.
    fn setup() -> (tempfile::TempDir, tempfile::TempDir, tempfile::TempDir, Checkpoints) {
        let (project, session, outside) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let checkpoints = Checkpoints::open(project.path(), session.path());
        checkpoints.begin_turn("t1", "write");
        (project, session, outside, checkpoints)
    }

    /// `tool` writes `new` over `old` (`None`: a new file) at `path`, checkpointed.
    fn write(checkpoints: &Checkpoints, path: &Path, old: Option<&[u8]>, new: &[u8], tool: &str) {
        let id = checkpoints.before_write(path, old, new, tool).unwrap();
        std::fs::write(path, new).unwrap();
        checkpoints.after_write(&id, path, true);
    }

    #[test]
    fn a_symlink_put_where_a_file_was_is_replaced_never_followed() {
        let (project, _session, outside, checkpoints) = setup();
        let path = project.path().join("a.txt");
        std::fs::write(&path, "before\n").unwrap();
        write(&checkpoints, &path, Some(b"before\n"), b"after\n", "Edit");
        // Someone puts a link to a file outside the project where the file was.
        std::fs::write(outside.path().join("secret"), "outside\n").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), &path).unwrap();
        let plan = checkpoints.plan_rewind("t1").unwrap();
        assert!(plan.steps[0].conflict, "a changed file is a conflict");
        let report = checkpoints.apply(&plan, true, "rewind");
        assert_eq!(report.restored.len(), 1, "{}", report.summary());
        assert_eq!(std::fs::read_to_string(outside.path().join("secret")).unwrap(), "outside\n");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "before\n");
    }

    #[test]
    fn a_folder_turned_into_a_link_is_never_written_through() {
        let (project, _session, outside, checkpoints) = setup();
        let path = project.path().join("cfg/keys");
        std::fs::create_dir_all(project.path().join("cfg")).unwrap();
        write(&checkpoints, &path, None, b"key\n", "Write");
        checkpoints.begin_turn("t2", "swap");
        std::fs::remove_dir_all(project.path().join("cfg")).unwrap();
        std::os::unix::fs::symlink(outside.path(), project.path().join("cfg")).unwrap();
        // Rewinding to before the Write would remove cfg/keys — through the link.
        write(&checkpoints, &outside.path().join("keys"), None, b"theirs\n", "Write");
        let plan = checkpoints.plan_rewind("t1").unwrap();
        let report = checkpoints.apply(&plan, true, "rewind");
        assert!(
            report.failed.iter().any(|(p, why)| p == &path && why.contains("symbolic link")),
            "{}",
            report.summary()
        );
    }
}
