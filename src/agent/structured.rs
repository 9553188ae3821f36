//! Structured output (`--json-schema`, the SDKs' `output_format`): the final answer as JSON
//! that validates against the user's schema, returned as the result's `structured_output`.
//!
//! The model gives it by calling the `StructuredOutput` tool, whose input schema is the
//! user's: the gate validates every call against it, so an answer that does not fit comes
//! back to the model as an error to fix, like any invalid tool call. A turn that would end
//! without one is asked for it again, [`MAX_NUDGES`] times at most; then it ends with
//! `error_max_structured_output_retries`.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::tools::{Approval, DynamicSpec, ToolKind, ToolOutput, ToolRegistry};

pub const TOOL: &str = "StructuredOutput";

/// Reminders after a turn ended without the structured answer.
pub const MAX_NUDGES: u32 = 2;

/// What the model is told once the turn would end without it.
pub const NUDGE: &str = "You must give your final answer by calling the StructuredOutput tool, with input that \
matches its schema. Call it now.";

/// What the system prompt says about it.
pub const INSTRUCTION: &str = "When the task is done, give your final answer by calling the StructuredOutput tool \
exactly once, with input that matches its schema; the caller reads only that.";

/// The user's schema as a tool's input schema: an object schema as it is, anything else
/// wrapped as the `output` field of one.
pub fn input_schema(schema: &Value) -> Value {
    if schema.get("type").and_then(Value::as_str) == Some("object") {
        return schema.clone();
    }
    json!({"type": "object", "properties": {"output": schema}, "required": ["output"]})
}

/// Offers the `StructuredOutput` tool.
pub fn register(tools: &mut ToolRegistry, schema: &Value) {
    let spec = DynamicSpec {
        name: TOOL.into(),
        description: "Gives the final answer as structured data matching the schema. Call it once, at the end.".into(),
        schema: input_schema(schema),
        offered_schema: None,
        kind: ToolKind::ReadOnly,
        approval: Approval::NotNeeded,
    };
    tools.register_dynamic(
        spec,
        Arc::new(|input, _ctx| {
            Box::pin(async move { ToolOutput::text("Structured output provided successfully.").with_structured(input) })
        }),
    );
}

/// The structured answer a successful call gave, as the caller's schema has it.
pub fn answer(schema: &Value, input: &Value) -> Value {
    if schema.get("type").and_then(Value::as_str) == Some("object") { input.clone() } else { input["output"].clone() }
}
