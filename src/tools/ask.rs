//! The tools that talk to the person at the keyboard: `AskUserQuestion` (one to four
//! multiple-choice questions) and `ExitPlanMode` (a plan to approve). Both need the user
//! ([`Approval::User`]): the gate puts every call to them, and what they say comes back as
//! the approval. The front end answers a question by approving the call with its input
//! plus `answers` (question → the label picked, or the user's own words), as Claude Code's
//! SDK hosts do; a PreToolUse or PermissionRequest hook may fill `answers` the same way.
//! Leaving plan mode on approval is the gate's part: the tool only reports it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Approval, Tool, ToolContext, ToolError, ToolKind, ToolOutput};

pub struct AskUserQuestion;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AskUserQuestionInput {
    /// The questions, one to four.
    #[schemars(length(min = 1, max = 4))]
    pub questions: Vec<Question>,
    /// Filled by the harness with the user's answers (question text → answer); leave it out.
    #[serde(default)]
    pub answers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Question {
    /// The whole question, ending with a question mark.
    pub question: String,
    /// A very short label shown as a chip (at most 12 characters), like "Auth method".
    pub header: String,
    /// Two to four choices; the user can also answer in their own words.
    #[schemars(length(min = 2, max = 4))]
    pub options: Vec<QuestionOption>,
    /// Whether more than one option may be chosen.
    #[serde(default)]
    pub multi_select: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionOption {
    /// What the user picks (1–5 words).
    pub label: String,
    /// What it means, or what follows from it.
    pub description: String,
}

impl Tool for AskUserQuestion {
    type Input = AskUserQuestionInput;
    const NAME: &'static str = "AskUserQuestion";
    const DESCRIPTION: &'static str = include_str!("../../tools/AskUserQuestion.md");
    const KIND: ToolKind = ToolKind::ReadOnly;
    const APPROVAL: Approval = Approval::User;

    async fn call(&self, input: AskUserQuestionInput, _ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let Some(answers) = input.answers.filter(|a| !a.is_empty()) else {
            return Err(ToolError::Failed("The user gave no answers; ask again or go on without them.".into()));
        };
        // In the order asked, as Claude Code words it.
        let given: Vec<String> = input
            .questions
            .iter()
            .filter_map(|q| answers.get(&q.question).map(|a| format!("\"{}\"=\"{a}\"", q.question)))
            .collect();
        Ok(ToolOutput::text(format!(
            "User has answered your questions: {}. You can now continue with the user's answers in mind.",
            given.join(", ")
        ))
        .with_structured(json!({"questions": input.questions, "answers": answers})))
    }
}

pub struct ExitPlanMode;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitPlanModeInput {
    /// The plan to run by the user, in markdown: concise, with the steps and the files.
    pub plan: String,
}

impl Tool for ExitPlanMode {
    type Input = ExitPlanModeInput;
    const NAME: &'static str = "ExitPlanMode";
    const DESCRIPTION: &'static str = include_str!("../../tools/ExitPlanMode.md");
    const KIND: ToolKind = ToolKind::ReadOnly;
    const APPROVAL: Approval = Approval::User;

    fn preview(input: &ExitPlanModeInput, _ctx: &ToolContext) -> Option<String> {
        Some(input.plan.clone())
    }

    async fn call(&self, input: ExitPlanModeInput, _ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::text(
            "User has approved your plan. You can now start coding. Start with updating your todo list if applicable.",
        )
        .with_structured(json!({"plan": input.plan, "isAgent": false})))
    }
}
