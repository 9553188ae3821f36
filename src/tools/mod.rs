//! Tools: the [`Tool`] trait, the registry, and what a call returns.
//!
//! A tool is a type with Claude Code's name (its other names are in
//! `conversation::tool_names`), an input type deriving `Deserialize + JsonSchema` (its doc
//! comments are the schema text the model reads), a [`ToolKind`] for the scheduler, an
//! [`Approval`] default for the permission gate, and an async `call` that gets a [`ToolContext`]: the call's id, its cancellation
//! token and the session's shared [`SessionState`]. Its model-facing description is
//! `tools/<Name>.md`, embedded at build time. The registry turns each into a [`ToolSpec`]
//! once, validates a call's JSON against the schema before it runs, and hands the call to
//! the tool; the `scheduler` decides what runs concurrently. A failure is never a panic: it
//! goes back to the model as an error result that says what to do next.

pub mod ask;
pub mod bash;
pub mod checkpoint;
pub mod diff;
pub mod edit;
pub mod glob;
pub mod grep;
pub mod ls;
pub mod overlay;
pub mod paths;
pub mod read;
pub mod scheduler;
pub mod skill;
pub mod state;
pub mod tasks;
pub mod todo;
pub mod walk;
pub mod web_fetch;
pub mod write;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::conversation::history::ToolResultContent;
pub use crate::conversation::{Approval, ToolKind, ToolOutput, ToolSpec};
pub use state::SessionState;

/// What a running tool can see of the session.
#[derive(Clone)]
pub struct ToolContext {
    /// The model's id for this call; names the call's spill file.
    pub call_id: String,
    /// Cancelled on interrupt; a tool stops what it started (child processes included).
    pub cancel: CancellationToken,
    pub session: Arc<SessionState>,
}

impl ToolContext {
    /// A path from the model: relative to the working directory, `~/` for home.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.session.resolve(path)
    }

    /// A path as messages show it: relative to the working directory when inside it.
    pub fn show(&self, path: &std::path::Path) -> String {
        paths::display(path, &self.session.cwd())
    }
}

/// The output with every credential cairn holds replaced, in its text and its structured
/// form (a command that prints cairn's own environment shows no key).
pub fn redacted(mut output: ToolOutput, secrets: &crate::secrets::Secrets) -> ToolOutput {
    if secrets.is_empty() {
        return output;
    }
    for part in &mut output.content {
        if let ToolResultContent::Text { text } = part
            && let std::borrow::Cow::Owned(clean) = secrets.redact(text)
        {
            *text = clean;
        }
    }
    redact_value(&mut output.structured, secrets);
    output
}

fn redact_value(value: &mut Value, secrets: &crate::secrets::Secrets) {
    match value {
        Value::String(text) => {
            if let std::borrow::Cow::Owned(clean) = secrets.redact(text) {
                *text = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, secrets)),
        Value::Object(fields) => fields.values_mut().for_each(|v| redact_value(v, secrets)),
        _ => {}
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Written for the model: what went wrong and what to try next.
    #[error("{0}")]
    Failed(String),
    #[error("interrupted")]
    Interrupted,
}

pub trait Tool: Send + Sync + 'static {
    type Input: DeserializeOwned + JsonSchema + Send + 'static;
    /// Claude Code's name for the tool, which users' rules and hook matchers use.
    const NAME: &'static str;
    /// The model-facing description, `include_str!("../../tools/<Name>.md")`.
    const DESCRIPTION: &'static str;
    const KIND: ToolKind;
    const APPROVAL: Approval = Approval::for_kind(Self::KIND);

    /// Renames the fields an alias's callers use to this tool's own, before validation.
    fn adapt_input(_input: &mut Value) {}

    /// What the call would change, shown when the user is asked to approve it (a unified
    /// diff for the file-editing tools).
    fn preview(_input: &Self::Input, _ctx: &ToolContext) -> Option<String> {
        None
    }

    fn call(&self, input: Self::Input, ctx: ToolContext) -> impl Future<Output = Result<ToolOutput, ToolError>> + Send;
}

/// The object-safe face of a [`Tool`], for the registry.
trait DynTool: Send + Sync {
    fn call_json(&self, input: Value, ctx: ToolContext) -> BoxFuture<'_, Result<ToolOutput, ToolError>>;
    fn preview_json(&self, input: &Value, ctx: &ToolContext) -> Option<String>;
}

impl<T: Tool> DynTool for T {
    fn preview_json(&self, input: &Value, ctx: &ToolContext) -> Option<String> {
        let input: T::Input = serde_json::from_value(input.clone()).ok()?;
        T::preview(&input, ctx)
    }

    fn call_json(&self, input: Value, ctx: ToolContext) -> BoxFuture<'_, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let input: T::Input = serde_json::from_value(input).map_err(|e| ToolError::Failed(e.to_string()))?;
            self.call(input, ctx).await
        })
    }
}

/// A tool known only at run time (an MCP server's).
pub struct DynamicSpec {
    pub name: String,
    pub description: String,
    /// What calls are validated against.
    pub schema: Value,
    /// What the model is shown instead, when the full schema is loaded on demand.
    pub offered_schema: Option<Value>,
    pub kind: ToolKind,
    pub approval: Approval,
}

/// A run-time tool's handler: it gets the JSON input.
pub type DynamicHandler = Arc<dyn Fn(Value, ToolContext) -> BoxFuture<'static, ToolOutput> + Send + Sync>;

struct DynamicTool {
    handler: DynamicHandler,
}

impl DynTool for DynamicTool {
    fn preview_json(&self, _input: &Value, _ctx: &ToolContext) -> Option<String> {
        None
    }

    fn call_json(&self, input: Value, ctx: ToolContext) -> BoxFuture<'_, Result<ToolOutput, ToolError>> {
        let call = (self.handler)(input, ctx);
        Box::pin(async move { Ok(call.await) })
    }
}

/// A name known only at run time, made `'static` once and reused (a few per MCP tool).
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<std::sync::Mutex<std::collections::HashSet<&'static str>>> = OnceLock::new();
    let mut names = state::lock(NAMES.get_or_init(Default::default));
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

pub struct RegisteredTool {
    tool: Box<dyn DynTool>,
    pub name: &'static str,
    pub kind: ToolKind,
    pub approval: Approval,
    adapt: fn(&mut Value),
    schema: Value,
    validator: OnceLock<Option<jsonschema::Validator>>,
}

impl RegisteredTool {
    fn validator(&self) -> Option<&jsonschema::Validator> {
        self.validator.get_or_init(|| jsonschema::validator_for(&self.schema).ok()).as_ref()
    }

    /// Renames alias fields, then checks the input against the tool's schema; the error is
    /// written for the model.
    pub fn prepare(&self, input: &mut Value) -> Result<(), String> {
        (self.adapt)(input);
        self.validate(input)
    }

    /// Checks a call's input against the tool's schema; the error is written for the model.
    pub fn validate(&self, input: &Value) -> Result<(), String> {
        let Some(validator) = self.validator() else { return Ok(()) };
        let problems: Vec<String> = validator
            .iter_errors(input)
            .take(5)
            .map(|e| {
                let path = e.instance_path().to_string();
                if path.is_empty() { e.to_string() } else { format!("{path}: {e}") }
            })
            .collect();
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }

    /// What the call would change, for an approval prompt.
    pub fn preview(&self, input: &Value, ctx: &ToolContext) -> Option<String> {
        self.tool.preview_json(input, ctx)
    }

    pub async fn call(&self, input: Value, ctx: ToolContext) -> ToolOutput {
        match self.tool.call_json(input, ctx).await {
            Ok(output) => output,
            Err(ToolError::Failed(message)) => ToolOutput::error(message),
            Err(ToolError::Interrupted) => ToolOutput::error(crate::conversation::history::INTERRUPTED_TOOL_RESULT),
        }
    }
}

#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<Arc<RegisteredTool>>,
    specs: Vec<ToolSpec>,
}

impl ToolRegistry {
    /// The tools cairn ships with, in the order the model sees them.
    pub fn builtin() -> ToolRegistry {
        let mut registry = ToolRegistry::default();
        registry.register(bash::Bash);
        registry.register(bash::shells::BashOutput);
        registry.register(bash::shells::KillShell);
        registry.register(glob::Glob);
        registry.register(grep::Grep);
        registry.register(ls::Ls);
        registry.register(read::Read);
        registry.register(edit::Edit);
        registry.register(edit::MultiEdit);
        registry.register(write::Write);
        registry.register(web_fetch::WebFetch::default());
        registry.register(todo::TodoWrite);
        registry.register(ask::AskUserQuestion);
        registry.register(ask::ExitPlanMode);
        registry
    }

    pub fn register<T: Tool>(&mut self, tool: T) {
        let schema = input_schema::<T::Input>();
        self.specs.push(ToolSpec {
            name: T::NAME.to_owned(),
            description: T::DESCRIPTION.trim().to_owned(),
            input_schema: schema.clone(),
        });
        self.tools.push(Arc::new(RegisteredTool {
            tool: Box::new(tool),
            name: T::NAME,
            kind: T::KIND,
            approval: T::APPROVAL,
            adapt: T::adapt_input,
            schema,
            validator: OnceLock::new(),
        }));
    }

    /// Keeps only the tools `keep` accepts (`--disallowedTools Bash`, say).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.tools.retain(|t| keep(t.name));
        self.specs.retain(|s| keep(&s.name));
    }

    /// Adds a tool known only at run time (an MCP server's), with its own JSON schema.
    pub fn register_dynamic(&mut self, spec: DynamicSpec, handler: DynamicHandler) {
        let DynamicSpec { name, description, schema, offered_schema, kind, approval } = spec;
        let name = intern(&name);
        let input_schema = offered_schema.unwrap_or_else(|| schema.clone());
        self.specs.push(ToolSpec { name: name.to_owned(), description, input_schema });
        self.tools.push(Arc::new(RegisteredTool {
            tool: Box::new(DynamicTool { handler }),
            name,
            kind,
            approval,
            adapt: |_| {},
            schema,
            validator: OnceLock::new(),
        }));
    }

    /// A registry of the tools `keep` accepts, sharing them with this one (a sub-agent's).
    pub fn subset(&self, keep: impl Fn(&str) -> bool) -> ToolRegistry {
        ToolRegistry {
            tools: self.tools.iter().filter(|t| keep(t.name)).cloned().collect(),
            specs: self.specs.iter().filter(|s| keep(&s.name)).cloned().collect(),
        }
    }

    /// Compiles the schema validators on a background thread (~2 ms), so the first tool call
    /// of a session does not wait for them.
    pub fn prepare_validators(&self) {
        let tools = self.tools.clone();
        let _ = std::thread::Builder::new().name("cairn-schemas".into()).spawn(move || {
            for tool in tools {
                tool.validator();
            }
        });
    }

    /// A tool by its name or one of its other names (`conversation::tool_names`).
    pub fn get(&self, name: &str) -> Option<Arc<RegisteredTool>> {
        let name = crate::conversation::tool_names::canonical(name);
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    pub fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    pub fn names(&self) -> Vec<String> {
        self.tools.iter().map(|t| t.name.to_owned()).collect()
    }
}

/// The input schema as the model gets it: no `$schema`/`title` noise, optional fields as
/// plain types (an `Option` is already optional by not being required, so `"null"` and
/// `"default": null` only cost bytes), and none of schemars' integer `format`s, which some
/// OpenAI-compatible servers reject.
pub(crate) fn input_schema<T: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| s.inline_subschemas = true);
    let mut schema = settings.into_generator().into_root_schema_for::<T>().to_value();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        map.remove("title");
    }
    strip_numeric_formats(&mut schema);
    simplify_optional_properties(&mut schema);
    schema
}

fn simplify_optional_properties(schema: &mut Value) {
    if let Some(items) = schema.get_mut("items") {
        simplify_optional_properties(items);
    }
    if let Some(values) = schema.get_mut("additionalProperties").filter(|v| v.is_object()) {
        simplify_optional_properties(values);
    }
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for property in properties.values_mut() {
        let Some(map) = property.as_object_mut() else { continue };
        if map.get("default") == Some(&Value::Null) {
            map.remove("default");
        }
        // `Option<Enum>` comes out as `anyOf: [<enum>, {type: null}]`: keep the enum.
        if let Some(Value::Array(choices)) = map.get("anyOf") {
            let concrete: Vec<&Value> =
                choices.iter().filter(|c| c.get("type") != Some(&Value::from("null"))).collect();
            if let [Value::Object(only)] = concrete.as_slice() {
                let only = only.clone();
                map.remove("anyOf");
                for (key, value) in only {
                    map.entry(key).or_insert(value);
                }
            }
        }
        if let Some(Value::Array(values)) = map.get_mut("enum") {
            values.retain(|v| !v.is_null());
        }
        if let Some(Value::Array(types)) = map.get("type") {
            let concrete: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
            if let [single] = concrete.as_slice() {
                map.insert("type".into(), single.clone());
            }
        }
        simplify_optional_properties(property);
    }
}

fn strip_numeric_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let numeric = map.get("format").and_then(Value::as_str).is_some_and(|f| {
                matches!(
                    f,
                    "uint" | "uint8" | "uint16" | "uint32" | "uint64" | "int" | "int32" | "int64" | "float" | "double"
                )
            });
            if numeric {
                map.remove("format");
            }
            map.values_mut().for_each(strip_numeric_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_numeric_formats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_schemas_are_compact_and_validate_input() {
        let registry = ToolRegistry::builtin();
        let read = registry.get("Read").unwrap();
        assert!(read.validate(&json!({"file_path": "/a"})).is_ok());
        let err = read.validate(&json!({"offset": "x"})).unwrap_err();
        assert!(err.contains("file_path"), "{err}");
        for spec in registry.specs() {
            let text = spec.input_schema.to_string();
            assert!(!text.contains("$schema") && !text.contains("uint") && !text.contains("null"), "{text}");
            assert_eq!(spec.input_schema["additionalProperties"], json!(false), "{}", spec.name);
        }
    }

    /// The whole tool set the model reads on every request stays within its budget.
    #[test]
    fn tool_schemas_and_descriptions_fit_in_16_kb() {
        let registry = ToolRegistry::builtin();
        let bytes = serde_json::to_string(registry.specs()).unwrap().len();
        assert!(bytes <= 16 * 1024, "{bytes} bytes");
    }

    #[test]
    fn aliases_find_the_tool_and_adapt_its_input() {
        let registry = ToolRegistry::builtin();
        let output = registry.get("TaskOutput").unwrap();
        assert_eq!(output.name, "BashOutput");
        let mut input = json!({"task_id": "bash_1", "block": true, "timeout": 10});
        assert!(output.prepare(&mut input).is_ok(), "{input}");
        assert_eq!(input["bash_id"], "bash_1");
        let mut input = json!({"task_id": "bash_1"});
        assert!(registry.get("TaskStop").unwrap().prepare(&mut input).is_ok());
        assert_eq!(input, json!({"shell_id": "bash_1"}));
    }
}
