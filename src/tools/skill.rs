//! `Skill`: the model asks for one of the listed skills by name. The tool checks that the
//! skill exists and may be invoked by the model, and answers `Launching skill: <name>`; the
//! core then adds the rendered instructions (its folder, the body with its arguments and
//! snippet outputs) to the same result and grants its `allowed-tools` for the turn.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{Approval, Tool, ToolContext, ToolError, ToolKind, ToolOutput};
use crate::custom::SharedCatalog;

pub struct Skill {
    pub catalog: SharedCatalog,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillInput {
    /// The skill's name, as listed.
    #[serde(alias = "command")]
    pub skill: String,
    /// Text for the skill: what to work on.
    #[serde(default)]
    pub args: Option<String>,
}

impl Tool for Skill {
    type Input = SkillInput;
    const NAME: &'static str = "Skill";
    const DESCRIPTION: &'static str = include_str!("../../tools/Skill.md");
    const KIND: ToolKind = ToolKind::Mutating;
    const APPROVAL: Approval = Approval::NotNeeded;

    async fn call(&self, input: SkillInput, _ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let name = input.skill.trim().trim_start_matches('/');
        let catalog = super::state::read(&self.catalog);
        let Some(skill) = catalog.skill(name) else {
            let available: Vec<&str> = catalog
                .prompts
                .iter()
                .filter(|p| p.kind == crate::custom::Kind::Skill && !p.disable_model_invocation)
                .map(|p| p.name.as_str())
                .collect();
            return Err(ToolError::Failed(format!(
                "Unknown skill: {name}. Available skills: {}.",
                if available.is_empty() { "none".to_owned() } else { available.join(", ") }
            )));
        };
        Ok(ToolOutput::text(format!("Launching skill: {}", skill.name)).with_structured(json!({
            "success": true,
            "commandName": skill.name,
            "args": input.args.unwrap_or_default(),
        })))
    }
}
