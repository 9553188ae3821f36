//! Running a user's command or skill: `/name args` typed by the user (or given to `-p`), or
//! the model's Skill call.
//!
//! The body is read from disk, its arguments and variables filled in, its `` !`cmd` ``
//! snippets run — each through the permission rules, with the command's `allowed-tools`
//! granted, so a snippet nobody allowed stops the command with a message saying how to allow
//! it — and its `@file` mentions attached. The message starts with Claude Code's
//! `<command-message>`/`<command-name>`/`<command-args>` lines; a skill's text starts with
//! its folder, so its scripts and references can be found. A command's `allowed-tools`
//! hold, and its `model` answers, until the turn ends.

use std::sync::Arc;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Session;
use crate::conversation::history::ContentBlock;
use crate::custom::expand::{self, Vars};
use crate::custom::{Kind, Prompt};
use crate::permissions::{Decision, Origin, PermissionRule};
use crate::protocol::UserInput;
use crate::tools::{Approval, ToolContext, ToolKind, state};

/// How long a snippet may run.
const SNIPPET_TIMEOUT_MS: u64 = 120_000;

/// What a turn changed for a command, undone when it ends.
#[derive(Default)]
pub(super) struct Grants {
    /// The origin label of the rules granted (`/name`).
    labels: Vec<String>,
    /// The model before the command chose its own.
    model: Option<crate::provider::models::ModelInfo>,
}

/// `/name args` at the start of a message: the name and the rest.
pub(super) fn parse_invocation(input: &UserInput) -> Option<(String, String)> {
    let Some(ContentBlock::Text { text }) = input.content.first() else { return None };
    let rest = text.strip_prefix('/')?;
    let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let valid = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
    valid.then(|| (name.to_owned(), args.trim().to_owned()))
}

impl Session {
    /// What the model is told of the skills it may invoke and the agent types the Task tool
    /// can start (`None`: nothing to tell).
    pub(super) fn listing(&self) -> Option<String> {
        let catalog = state::read(&self.services.catalog);
        let skills = catalog.skill_listing();
        let agents = self.launcher.is_some().then(|| catalog.agent_listing());
        match (skills, agents) {
            (None, None) => None,
            (Some(one), None) | (None, Some(one)) => Some(one),
            (Some(skills), Some(agents)) => Some(format!("{skills}\n\n{agents}")),
        }
    }

    /// The command the user named, if there is one.
    pub(super) fn find_command(&self, name: &str) -> Option<Prompt> {
        state::read(&self.services.catalog).command(name).cloned()
    }

    /// The message for `/name args`: the header, the rendered body, the rest of what the
    /// user sent; the files the body mentions join the attachments. `Err` says why the
    /// command could not run.
    pub(super) async fn expand_command(
        &mut self,
        prompt: &Prompt,
        args: &str,
        mut input: UserInput,
        cancel: &CancellationToken,
    ) -> Result<UserInput, String> {
        self.grant(prompt);
        if let Some(model) = &prompt.model {
            let chosen = crate::provider::models::lookup(model);
            self.grants.model = Some(std::mem::replace(&mut self.context.model, chosen));
        }
        let text = self.render_prompt(prompt, args, cancel).await?;
        let cwd = self.tools.cwd();
        input.attachments.extend(expand::file_mentions(&text, &cwd));
        let mut content =
            vec![ContentBlock::text(expand::invocation_header(&prompt.name, args)), ContentBlock::text(text)];
        content.extend(input.content.drain(1..));
        input.content = content;
        Ok(input)
    }

    /// A body with its arguments, variables and snippet outputs filled in; a skill's starts
    /// with its folder.
    pub(super) async fn render_prompt(
        &self,
        prompt: &Prompt,
        args: &str,
        cancel: &CancellationToken,
    ) -> Result<String, String> {
        let body = prompt.body().map_err(|e| format!("/{}: {e}", prompt.name))?;
        let vars =
            Vars { session_id: &self.session_id, project_dir: &self.context.cwd, skill_dir: prompt.dir.as_deref() };
        let text = expand::substitute(&body, args, &vars);
        let snippets = expand::shell_snippets(&text);
        let mut outputs = Vec::with_capacity(snippets.len());
        for snippet in &snippets {
            outputs.push(self.run_snippet(&prompt.name, &snippet.command, cancel).await?);
        }
        let text = expand::replace_snippets(&text, &snippets, &outputs);
        Ok(match (&prompt.dir, prompt.kind) {
            (Some(dir), Kind::Skill) => format!("Base directory for this skill: {}\n\n{}", dir.display(), text.trim()),
            _ => text.trim().to_owned(),
        })
    }

    /// Runs one `` !`cmd` `` if the rules allow it.
    async fn run_snippet(&self, name: &str, command: &str, cancel: &CancellationToken) -> Result<String, String> {
        let input = json!({ "command": command, "timeout": SNIPPET_TIMEOUT_MS });
        let decision = super::gate::decide(self, "Bash", ToolKind::Mutating, Approval::Needed, &input);
        if let Decision::Deny { reason } | Decision::Ask { reason, .. } = decision {
            return Err(format!(
                "/{name}: the shell command !`{command}` is not allowed ({reason}). Allow it with `allowed-tools: \
                 Bash({command})` in the command's frontmatter, or with a permission rule."
            ));
        }
        let Some(bash) = self.context.tools.get("Bash") else {
            return Err(format!("/{name}: the shell command !`{command}` cannot run: the Bash tool is turned off"));
        };
        let ctx =
            ToolContext { call_id: "command-snippet".into(), cancel: cancel.clone(), session: Arc::clone(&self.tools) };
        let output = bash.call(input, ctx).await;
        Ok(output.text_content())
    }

    /// The text a Skill call adds to its result: the skill's instructions, rendered; its
    /// `allowed-tools` hold until the turn ends.
    pub(super) async fn skill_text(
        &mut self,
        name: &str,
        args: &str,
        cancel: &CancellationToken,
    ) -> Result<String, String> {
        let prompt =
            state::read(&self.services.catalog).skill(name).cloned().ok_or_else(|| format!("Unknown skill: {name}"))?;
        self.grant(&prompt);
        self.render_prompt(&prompt, args, cancel).await
    }

    /// Grants a command's or skill's `allowed-tools` until the turn ends.
    pub(super) fn grant(&mut self, prompt: &Prompt) {
        if prompt.allowed_tools.is_empty() {
            return;
        }
        let label = format!("/{}", prompt.name);
        let origin = Origin { label: label.clone(), dir: self.context.cwd.clone() };
        let mut permissions = state::lock(&self.services.permissions);
        for text in &prompt.allowed_tools {
            if let Ok(rule) = PermissionRule::parse(text) {
                let _ = permissions.allow(rule, origin.clone());
            }
        }
        drop(permissions);
        self.grants.labels.push(label);
    }

    /// Undoes what [`Session::grant`] and a command's model did, when the turn ends.
    pub(super) fn revoke(&mut self) {
        let grants = std::mem::take(&mut self.grants);
        let mut permissions = state::lock(&self.services.permissions);
        for label in &grants.labels {
            permissions.forget_origin(label);
        }
        drop(permissions);
        if let Some(model) = grants.model {
            self.context.model = model;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_are_recognised() {
        let input = |t: &str| UserInput { content: vec![ContentBlock::text(t)], ..UserInput::default() };
        assert_eq!(
            parse_invocation(&input("/frontend:build prod eu")),
            Some(("frontend:build".into(), "prod eu".into()))
        );
        assert_eq!(parse_invocation(&input("/review")), Some(("review".into(), String::new())));
        assert_eq!(parse_invocation(&input("/usr/bin/env is a path")), None);
        assert_eq!(parse_invocation(&input("hello /review")), None);
    }
}
