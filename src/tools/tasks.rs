//! The team's shared task list, in Claude Code's shape: `TaskCreate`, `TaskUpdate`,
//! `TaskList` and `TaskGet` over one [`Board`] that the coordinator and its workers share.
//! Tasks have a number, a subject, a description, a status (pending, in progress,
//! completed), an owner and the tasks they block or wait on. When a worker changes a task,
//! the board tells whoever listens (the coordinator hears it as a notification).

use std::sync::{Arc, Mutex, OnceLock};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Approval, Tool, ToolContext, ToolError, ToolKind, ToolOutput, state};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    InProgress,
    Completed,
    /// Taken off the list.
    Deleted,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Deleted => "deleted",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub id: String,
    pub subject: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_form: Option<String>,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub blocks: Vec<String>,
    pub blocked_by: Vec<String>,
}

/// Who hears about a worker's change to a task.
pub type Listener = Box<dyn Fn(String) + Send + Sync>;

/// The task list of one team.
#[derive(Default)]
pub struct Board {
    items: Mutex<Vec<Item>>,
    listener: OnceLock<Listener>,
}

impl Board {
    /// Sets who hears about workers' changes (once).
    pub fn listen(&self, listener: Listener) {
        let _ = self.listener.set(listener);
    }

    fn told(&self, by: Option<&str>, what: String) {
        if let (Some(by), Some(listener)) = (by, self.listener.get()) {
            listener(format!("<task-update>\n<from>{by}</from>\n{what}\n</task-update>"));
        }
    }

    /// The list in words, one task a line (`/tasks`, TaskList).
    pub fn summary(&self) -> String {
        let items = state::lock(&self.items);
        let open: Vec<String> = items.iter().filter(|t| t.status != Status::Deleted).map(line).collect();
        if open.is_empty() { "No tasks found.".into() } else { open.join("\n") }
    }
}

fn line(task: &Item) -> String {
    let owner = task.owner.as_deref().map(|o| format!(" (owner: {o})")).unwrap_or_default();
    let waits: Vec<String> = task.blocked_by.iter().map(|id| format!("#{id}")).collect();
    let blocked = if waits.is_empty() { String::new() } else { format!(" [blocked by {}]", waits.join(", ")) };
    format!("#{} [{}] {}{owner}{blocked}", task.id, task.status.as_str(), task.subject)
}

fn missing(id: &str) -> ToolError {
    ToolError::Failed(format!("Task #{id} not found. TaskList shows the tasks there are."))
}

/// `TaskCreate`.
pub struct TaskCreate {
    pub board: Arc<Board>,
    /// The worker using it (`None`: the coordinator).
    pub by: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateInput {
    /// A short title, in the imperative ("Add the login form").
    pub subject: String,
    /// What needs doing, and how to tell it is done.
    pub description: String,
    /// The title as work in progress ("Adding the login form").
    #[serde(default)]
    pub active_form: Option<String>,
    /// Anything else to keep with the task.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

impl Tool for TaskCreate {
    type Input = CreateInput;
    const NAME: &'static str = "TaskCreate";
    const DESCRIPTION: &'static str = include_str!("../../tools/TaskCreate.md");
    const KIND: ToolKind = ToolKind::ReadOnly;
    const APPROVAL: Approval = Approval::NotNeeded;

    async fn call(&self, input: CreateInput, _ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        if input.subject.trim().is_empty() {
            return Err(ToolError::Failed("A task needs a subject.".into()));
        }
        let mut items = state::lock(&self.board.items);
        let id = (items.len() + 1).to_string();
        let item = Item {
            id: id.clone(),
            subject: input.subject.trim().to_owned(),
            description: input.description,
            active_form: input.active_form,
            status: Status::Pending,
            owner: None,
            blocks: Vec::new(),
            blocked_by: Vec::new(),
        };
        let text = format!("Task #{id} created successfully: {}", item.subject);
        let structured = json!({"task": {"id": id, "subject": item.subject}});
        items.push(item);
        drop(items);
        self.board.told(self.by.as_deref(), text.clone());
        Ok(ToolOutput::text(text).with_structured(structured))
    }
}

/// `TaskUpdate`.
pub struct TaskUpdate {
    pub board: Arc<Board>,
    pub by: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateInput {
    /// The task's number.
    pub task_id: String,
    /// Its new status; `deleted` takes it off the list.
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub active_form: Option<String>,
    /// Who works on it (a worker's name).
    #[serde(default)]
    pub owner: Option<String>,
    /// Tasks that cannot start before this one is done.
    #[serde(default)]
    pub add_blocks: Option<Vec<String>>,
    /// Tasks this one waits for.
    #[serde(default)]
    pub add_blocked_by: Option<Vec<String>>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

impl Tool for TaskUpdate {
    type Input = UpdateInput;
    const NAME: &'static str = "TaskUpdate";
    const DESCRIPTION: &'static str = include_str!("../../tools/TaskUpdate.md");
    const KIND: ToolKind = ToolKind::ReadOnly;
    const APPROVAL: Approval = Approval::NotNeeded;

    async fn call(&self, input: UpdateInput, _ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let id = input.task_id.trim_start_matches('#').to_owned();
        let mut items = state::lock(&self.board.items);
        let known = |other: &String| items.iter().any(|t| &t.id == other && t.status != Status::Deleted);
        let links = input.add_blocks.iter().chain(&input.add_blocked_by).flatten();
        let links: Vec<String> = links.map(|l| l.trim_start_matches('#').to_owned()).collect();
        if let Some(unknown) = links.iter().find(|l| !known(l)) {
            return Err(missing(unknown));
        }
        if links.contains(&id) {
            return Err(ToolError::Failed(format!("Task #{id} cannot block or wait for itself.")));
        }
        let Some(index) = items.iter().position(|t| t.id == id && t.status != Status::Deleted) else {
            return Err(missing(&id));
        };
        let mut changed = Vec::new();
        let task = &mut items[index];
        if let Some(status) = input.status {
            task.status = status;
            changed.push(format!("status {}", status.as_str()));
        }
        for (field, value, name) in
            [(&mut task.subject, input.subject, "subject"), (&mut task.description, input.description, "description")]
        {
            if let Some(value) = value {
                *field = value;
                changed.push(name.to_owned());
            }
        }
        if let Some(active) = input.active_form {
            task.active_form = Some(active);
        }
        if let Some(owner) = input.owner {
            changed.push(format!("owner {owner}"));
            task.owner = Some(owner);
        }
        let trim = |ids: Vec<String>| ids.into_iter().map(|l| l.trim_start_matches('#').to_owned()).collect::<Vec<_>>();
        let blocks = trim(input.add_blocks.unwrap_or_default());
        let blocked_by = trim(input.add_blocked_by.unwrap_or_default());
        if !blocks.is_empty() || !blocked_by.is_empty() {
            changed.push("links".to_owned());
        }
        let link = |list: &mut Vec<String>, other: &String| {
            if !list.contains(other) {
                list.push(other.clone());
            }
        };
        for other in &blocks {
            link(&mut task.blocks, other);
        }
        for other in &blocked_by {
            link(&mut task.blocked_by, other);
        }
        for other in items.iter_mut() {
            if blocks.contains(&other.id) {
                link(&mut other.blocked_by, &id);
            }
            if blocked_by.contains(&other.id) {
                link(&mut other.blocks, &id);
            }
        }
        let subject = items[index].subject.clone();
        drop(items);
        let what = if changed.is_empty() { "nothing changed".to_owned() } else { changed.join(", ") };
        let text = format!("Updated task #{id} ({subject}): {what}");
        self.board.told(self.by.as_deref(), text.clone());
        Ok(ToolOutput::text(text))
    }
}

/// `TaskList`.
pub struct TaskList {
    pub board: Arc<Board>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {}

impl Tool for TaskList {
    type Input = ListInput;
    const NAME: &'static str = "TaskList";
    const DESCRIPTION: &'static str = include_str!("../../tools/TaskList.md");
    const KIND: ToolKind = ToolKind::ReadOnly;
    const APPROVAL: Approval = Approval::NotNeeded;

    async fn call(&self, _input: ListInput, _ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let tasks: Vec<Item> =
            state::lock(&self.board.items).iter().filter(|t| t.status != Status::Deleted).cloned().collect();
        Ok(ToolOutput::text(self.board.summary()).with_structured(json!({ "tasks": tasks })))
    }
}

/// `TaskGet`.
pub struct TaskGet {
    pub board: Arc<Board>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetInput {
    /// The task's number.
    pub task_id: String,
}

impl Tool for TaskGet {
    type Input = GetInput;
    const NAME: &'static str = "TaskGet";
    const DESCRIPTION: &'static str = include_str!("../../tools/TaskGet.md");
    const KIND: ToolKind = ToolKind::ReadOnly;
    const APPROVAL: Approval = Approval::NotNeeded;

    async fn call(&self, input: GetInput, _ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let id = input.task_id.trim_start_matches('#');
        let items = state::lock(&self.board.items);
        let task =
            items.iter().find(|t| t.id == id && t.status != Status::Deleted).cloned().ok_or_else(|| missing(id))?;
        drop(items);
        let mut text = format!("{}\n\n{}", line(&task), task.description);
        if !task.blocks.is_empty() {
            text.push_str(&format!("\n\nBlocks: {}", task.blocks.join(", ")));
        }
        Ok(ToolOutput::text(text).with_structured(json!({ "task": task })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_status_owner_and_what_it_waits_for() {
        let task = Item {
            id: "2".into(),
            subject: "Write the tests".into(),
            description: String::new(),
            active_form: None,
            status: Status::InProgress,
            owner: Some("tester".into()),
            blocks: Vec::new(),
            blocked_by: vec!["1".into()],
        };
        assert_eq!(line(&task), "#2 [in_progress] Write the tests (owner: tester) [blocked by #1]");
    }
}
