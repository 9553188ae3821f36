//! `TodoWrite`: the session's todo list, replaced whole on every call and announced to the
//! front ends as `Event::TodosChanged`. Older clients' `id` and `priority` fields are
//! accepted and kept.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{Approval, Tool, ToolContext, ToolError, ToolKind, ToolOutput};

pub use crate::conversation::{Todo, TodoStatus};

pub struct TodoWrite;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TodoWriteInput {
    /// The whole updated list.
    pub todos: Vec<Todo>,
}

impl Tool for TodoWrite {
    type Input = TodoWriteInput;
    const NAME: &'static str = "TodoWrite";
    const DESCRIPTION: &'static str = include_str!("../../tools/TodoWrite.md");
    const KIND: ToolKind = ToolKind::Mutating;
    const APPROVAL: Approval = Approval::NotNeeded;

    async fn call(&self, input: TodoWriteInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        if let Some(empty) = input.todos.iter().position(|t| t.content.trim().is_empty()) {
            return Err(ToolError::Failed(format!("Todo {} has no content; every item needs a task.", empty + 1)));
        }
        let old = ctx.session.todos();
        ctx.session.set_todos(input.todos.clone());
        let open = input.todos.iter().filter(|t| t.status != TodoStatus::Completed).count();
        Ok(ToolOutput::text(format!(
            "Todos have been modified successfully ({open} open of {}). Keep using the list to track your \
             progress, and carry on with the current task.",
            input.todos.len()
        ))
        .with_structured(json!({"oldTodos": old, "newTodos": input.todos})))
    }
}
