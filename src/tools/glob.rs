//! `Glob`: files whose path matches a pattern, newest first.
//!
//! The pattern is matched against paths relative to the search folder (`*` stays within one
//! folder, `**` crosses them, `{a,b}` alternates); the walk honours `.gitignore`. Results are
//! sorted by modification time, newest first, and capped at [`MAX_RESULTS`] with a note. A
//! pattern without a `/` that finds nothing at the top is tried again as `**/pattern`, and
//! the result says so.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use globset::GlobBuilder;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{Tool, ToolContext, ToolError, ToolKind, ToolOutput, walk};

pub const MAX_RESULTS: usize = 100;

/// A matching file and when it was last modified.
type Found = (PathBuf, SystemTime);

pub struct Glob;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlobInput {
    /// The pattern, like "**/*.rs" or "src/**/*.{ts,tsx}".
    pub pattern: String,
    /// The folder to search (default: the working directory).
    #[serde(default)]
    pub path: Option<String>,
}

impl Tool for Glob {
    type Input = GlobInput;
    const NAME: &'static str = "Glob";
    const DESCRIPTION: &'static str = include_str!("../../tools/Glob.md");
    const KIND: ToolKind = ToolKind::ReadOnly;

    async fn call(&self, input: GlobInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let (root, pattern) = split_root(&ctx, input.path.as_deref(), &input.pattern);
        if !root.is_dir() {
            return Err(ToolError::Failed(format!(
                "{} is not a folder; give the folder to search as path.",
                root.display()
            )));
        }
        let cancel = ctx.cancel.clone();
        let denials = ctx.session.read_denials();
        let search = move || -> Result<(Vec<Found>, Option<String>), String> {
            let found = find(&root, &pattern, denials.clone(), &cancel)?;
            if found.is_empty() && !pattern.contains('/') {
                let deeper = format!("**/{pattern}");
                let found = find(&root, &deeper, denials, &cancel)?;
                let note = format!("No file matched {pattern} at the top of the folder; these match {deeper}.");
                let note = (!found.is_empty()).then_some(note);
                return Ok((found, note));
            }
            Ok((found, None))
        };
        let (mut found, note) = tokio::task::spawn_blocking(search)
            .await
            .map_err(|e| ToolError::Failed(format!("Glob failed: {e}")))?
            .map_err(ToolError::Failed)?;
        if found.is_empty() {
            return Ok(ToolOutput::text(format!("No files found matching {}.", input.pattern)));
        }
        found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let total = found.len();
        let shown: Vec<String> = found.iter().take(MAX_RESULTS).map(|(p, _)| ctx.show(p)).collect();
        let mut text = String::new();
        if let Some(note) = note {
            text.push_str(&note);
            text.push('\n');
        }
        text.push_str(&shown.join("\n"));
        if total > MAX_RESULTS {
            text.push_str(&format!(
                "\n(Showing the {MAX_RESULTS} newest of {total} matches. Use a narrower pattern or path for the rest.)"
            ));
        }
        Ok(ToolOutput::text(text)
            .with_structured(json!({"filenames": shown, "numFiles": total, "truncated": total > MAX_RESULTS})))
    }
}

/// The folder to walk and the pattern relative to it. An absolute pattern's literal leading
/// folders become the root.
fn split_root(ctx: &ToolContext, path: Option<&str>, pattern: &str) -> (PathBuf, String) {
    let base = path.map_or_else(|| ctx.session.cwd(), |p| ctx.resolve(p));
    if !pattern.starts_with('/') {
        return (base, pattern.trim_start_matches("./").to_owned());
    }
    let parts: Vec<&str> = pattern.split('/').collect();
    let literal = parts.iter().take_while(|p| !p.contains(['*', '?', '[', '{'])).count().min(parts.len() - 1);
    let root = parts[..literal].join("/");
    (PathBuf::from(if root.is_empty() { "/" } else { &root }), parts[literal..].join("/"))
}

fn find(
    root: &Path,
    pattern: &str,
    denials: Option<Arc<crate::permissions::ReadDenials>>,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Vec<Found>, String> {
    let matcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("Invalid glob pattern {pattern:?}: {e}"))?
        .compile_matcher();
    let found = Arc::new(Mutex::new(Vec::new()));
    let stop = AtomicBool::new(false);
    walk::files(&walk::builder(root, denials), &stop, || {
        let matcher = matcher.clone();
        let found = Arc::clone(&found);
        let cancel = cancel.clone();
        let stop = &stop;
        move |entry: &ignore::DirEntry| {
            if cancel.is_cancelled() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
            if matcher.is_match(relative) {
                let modified = entry.metadata().ok().and_then(|m| m.modified().ok()).unwrap_or(SystemTime::UNIX_EPOCH);
                if let Ok(mut found) = found.lock() {
                    found.push((entry.path().to_path_buf(), modified));
                }
            }
        }
    });
    let found = std::mem::take(&mut *found.lock().map_err(|_| "Glob failed".to_owned())?);
    Ok(found)
}
