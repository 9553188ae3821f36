//! `Write`, and the safe way every file-changing tool touches a file.
//!
//! A change is only made inside the project or an `--add-dir` folder (symlinks resolved,
//! `..` applied); an existing file must have been read in this session and be unchanged
//! since (its hash is what was read or last written); the new content is written to a
//! temporary file beside the target, given the target's permissions, and renamed over it, so
//! a crash leaves the old file or the new one, never half of each. A symlink is written
//! through, not replaced.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::state::content_hash;
use super::{Tool, ToolContext, ToolError, ToolKind, ToolOutput, diff};

pub struct Write;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteInput {
    /// Path of the file to write, absolute or relative to the working directory.
    pub file_path: String,
    /// The complete new content of the file.
    pub content: String,
}

impl Tool for Write {
    type Input = WriteInput;
    const NAME: &'static str = "Write";
    const DESCRIPTION: &'static str = include_str!("../../tools/Write.md");
    const KIND: ToolKind = ToolKind::Mutating;

    fn preview(input: &WriteInput, ctx: &ToolContext) -> Option<String> {
        let path = ctx.resolve(&input.file_path);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        Some(diff::unified(&ctx.show(&path), &old, &input.content))
    }

    async fn call(&self, input: WriteInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let target = writable_target(&ctx, &input.file_path)?;
        let old = load_fresh(&ctx, &target).await?;
        let note = save(&ctx, &target, old.as_deref(), input.content.as_bytes(), Self::NAME).await?.unwrap_or("");
        let shown = ctx.show(&target);
        let lines = input.content.lines().count();
        Ok(match old {
            None => ToolOutput::text(format!("Created {shown} ({lines} lines).{note}"))
                .with_structured(json!({"type": "create", "filePath": target, "content": input.content})),
            Some(old) => {
                let old = String::from_utf8_lossy(&old);
                let (added, removed) = diff::line_counts(&old, &input.content);
                ToolOutput::text(format!("Updated {shown} ({lines} lines; +{added} −{removed}).{note}"))
                    .with_structured(json!({
                        "type": "update", "filePath": target, "content": input.content,
                        "diff": diff::unified(&shown, &old, &input.content),
                    }))
            }
        })
    }
}

/// The real path a change to `file_path` would write, if it may be written at all.
pub(super) fn writable_target(ctx: &ToolContext, file_path: &str) -> Result<PathBuf, ToolError> {
    let path = ctx.resolve(file_path);
    let real = ctx.session.writable(&path).map_err(ToolError::Failed)?;
    if real.is_dir() {
        return Err(ToolError::Failed(format!("{} is a directory; give the path of a file in it.", real.display())));
    }
    Ok(real)
}

/// The file's current bytes (`None` if it does not exist yet), provided the model has seen
/// exactly this content.
pub(super) async fn load_fresh(ctx: &ToolContext, real: &Path) -> Result<Option<Vec<u8>>, ToolError> {
    match read_current(ctx, real).await {
        Ok(bytes) => {
            ctx.session.check_fresh(real, &bytes).map_err(|why| ToolError::Failed(why.message(&ctx.show(real))))?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ToolError::Failed(format!("Cannot read {}: {e}", real.display()))),
    }
}

/// The file's bytes as they are now: the editor's buffer when files go through the editor
/// (for a file that exists), the disk's otherwise.
async fn read_current(ctx: &ToolContext, real: &Path) -> std::io::Result<Vec<u8>> {
    if let Some(text) = ctx.session.overlaid(real) {
        return Ok(text.into_bytes());
    }
    if real.is_file()
        && let Some(answer) = ctx.session.read_through_host(real).await
    {
        return answer.map(String::into_bytes).map_err(std::io::Error::other);
    }
    std::fs::read(real)
}

/// Writes `bytes` over `old` (`None`: a new file) at `real` for `tool` — checkpointed first,
/// so the change can be undone; through the editor when files go through it, else
/// atomically to disk — and remembers the new content as seen. A checkpoint that cannot be
/// written stops the change. `Some(note)`: what the model should know of how what was
/// saved differs from what it sent (credentials left out of its memory).
pub(crate) async fn save(
    ctx: &ToolContext,
    real: &Path,
    old: Option<&[u8]>,
    bytes: &[u8],
    tool: &str,
) -> Result<Option<&'static str>, ToolError> {
    // The model's memory keeps no credentials, whatever it was told.
    let original = bytes;
    let redacted;
    let text = std::str::from_utf8(bytes).ok().filter(|_| ctx.session.in_memory_dir(real));
    let bytes = match text {
        Some(text) => {
            redacted = ctx.session.secrets.redact_credentials(text).into_owned();
            redacted.as_bytes()
        }
        None => bytes,
    };
    let note = (bytes != original).then_some(REDACTED_NOTE);
    let checkpoint = match ctx.session.checkpoints() {
        Some(checkpoints) => Some(checkpoints.before_write(real, old, bytes, tool).map_err(ToolError::Failed)?),
        None => None,
    };
    let text = String::from_utf8_lossy(bytes);
    let written = match ctx.session.write_through_host(real, &text).await {
        Some(written) => {
            written.map(|()| ctx.session.remember(real, content_hash(bytes))).map_err(|e| match ctx.session.overlay() {
                Some(_) => ToolError::Failed(e),
                None => ToolError::Failed(format!("The editor could not write {}: {e}", real.display())),
            })
        }
        None => save_to_disk(ctx, real, bytes),
    };
    if let (Some(id), Some(checkpoints)) = (checkpoint, ctx.session.checkpoints()) {
        checkpoints.after_write(&id, real, written.is_ok());
    }
    written.map(|()| note)
}

/// Told to the model when its memory write lost credentials.
const REDACTED_NOTE: &str = " Credentials in it were saved as [REDACTED]: memory keeps no secrets. Read the file \
                              before you edit it again.";

/// Writes `bytes` to `real` atomically, keeping an existing file's permissions, creating
/// missing folders, and remembering the new content as seen.
fn save_to_disk(ctx: &ToolContext, real: &Path, bytes: &[u8]) -> Result<(), ToolError> {
    let fail = |what: &str, e: std::io::Error| ToolError::Failed(format!("Could not {what} {}: {e}", real.display()));
    let dir = real.parent().ok_or_else(|| ToolError::Failed(format!("{} has no folder", real.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| fail("create the folder for", e))?;
    let mode = std::fs::metadata(real).map(|m| m.permissions().mode()).unwrap_or(0o666 & !*UMASK);
    let mut temp = tempfile::Builder::new()
        .prefix(".cairn-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| fail("create a temporary file beside", e))?;
    temp.write_all(bytes).map_err(|e| fail("write", e))?;
    temp.as_file().sync_all().map_err(|e| fail("write", e))?;
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(mode))
        .map_err(|e| fail("set the mode of", e))?;
    temp.persist(real).map_err(|e| fail("replace", e.error))?;
    ctx.session.remember(real, content_hash(bytes));
    Ok(())
}

/// The process's umask, for the mode of new files (`/proc/self/status`; 022 if unknown).
static UMASK: LazyLock<u32> = LazyLock::new(|| {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Umask:"))?;
            u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
        })
        .unwrap_or(0o022)
});
