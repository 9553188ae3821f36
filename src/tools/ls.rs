//! `LS` (Claude Code's legacy listing tool, still in users' agent files): a folder as an
//! indented tree, honouring `.gitignore` and extra ignore globs, at most [`MAX_ENTRIES`]
//! entries.

use ignore::overrides::OverrideBuilder;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{Tool, ToolContext, ToolError, ToolKind, ToolOutput, walk};

pub const MAX_ENTRIES: usize = 1000;

pub struct Ls;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LsInput {
    /// The folder to list, absolute or relative to the working directory.
    pub path: String,
    /// Glob patterns of names to leave out, like "*.log" or "node_modules".
    #[serde(default)]
    pub ignore: Option<Vec<String>>,
}

impl Tool for Ls {
    type Input = LsInput;
    const NAME: &'static str = "LS";
    const DESCRIPTION: &'static str = include_str!("../../tools/LS.md");
    const KIND: ToolKind = ToolKind::ReadOnly;

    async fn call(&self, input: LsInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let root = ctx.resolve(&input.path);
        if !root.is_dir() {
            let what = if root.exists() { "is a file; use Read" } else { "does not exist" };
            return Err(ToolError::Failed(format!("{} {what}.", root.display())));
        }
        let mut builder = walk::builder(&root, ctx.session.read_denials());
        builder.sort_by_file_name(|a, b| a.cmp(b));
        if let Some(globs) = &input.ignore {
            let mut overrides = OverrideBuilder::new(&root);
            for glob in globs {
                overrides
                    .add(&format!("!{glob}"))
                    .map_err(|e| ToolError::Failed(format!("Invalid ignore glob {glob:?}: {e}")))?;
            }
            builder.overrides(overrides.build().map_err(|e| ToolError::Failed(e.to_string()))?);
        }
        let list = move || {
            let mut lines = vec![format!("- {}/", root.display())];
            let mut more = false;
            for entry in builder.build().filter_map(Result::ok).filter(|e| e.depth() > 0) {
                if lines.len() > MAX_ENTRIES {
                    more = true;
                    break;
                }
                let name = entry.file_name().to_string_lossy();
                let slash = if entry.file_type().is_some_and(|t| t.is_dir()) { "/" } else { "" };
                lines.push(format!("{}- {name}{slash}", "  ".repeat(entry.depth())));
            }
            (lines, more)
        };
        let (lines, more) =
            tokio::task::spawn_blocking(list).await.map_err(|e| ToolError::Failed(format!("LS failed: {e}")))?;
        let count = lines.len() - 1;
        let mut text = lines.join("\n");
        if more {
            text.push_str(&format!(
                "\n(Showing the first {MAX_ENTRIES} entries; list a subfolder or use Glob for the rest.)"
            ));
        }
        Ok(ToolOutput::text(text).with_structured(json!({"entries": count, "truncated": more})))
    }
}
