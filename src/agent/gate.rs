//! The gate every tool call passes before it may run, in call order: the tool must exist,
//! its input must match the tool's schema, PreToolUse hooks may block it, change its input
//! or decide for it, and the permission rules (or PermissionRequest hooks, or the user) must
//! allow it. A hook's "allow" never overrides a deny rule or a firm ask. A call that fails any
//! check is answered at once with an error result that tells the model what to do; the loop
//! goes on.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{ApprovalMode, Approvals, Session};
use crate::config::settings;
use crate::conversation::ToolCall;
use crate::hooks::{HookEvent, Invocation, PermissionVerdict};
use crate::permissions::{
    Call, Context, Decision, Origin, PermissionMode, PermissionRule, Purpose, commands, family, shell,
};
use crate::protocol::{ApprovalDecision, Event, EventSink, PermissionDenial};
use crate::tools::scheduler::Planned;
use crate::tools::{Approval, RegisteredTool, ToolContext, ToolKind, ToolOutput, state};

/// What the gate learned besides the plan.
#[derive(Default)]
pub(super) struct Gated {
    /// Calls refused for permission, for the result's `permission_denials`.
    pub denials: Vec<PermissionDenial>,
    /// Context hooks gave the model, sent after the results.
    pub context: Vec<String>,
    /// A hook said `continue: false`: the turn ends after this batch.
    pub stop: Option<String>,
}

pub(super) async fn plan_calls(
    session: &Session,
    calls: Vec<ToolCall>,
    cancel: &CancellationToken,
    events: &EventSink,
    gated: &mut Gated,
) -> Vec<Planned> {
    let mut plan = Vec::with_capacity(calls.len());
    for call in calls {
        plan.push(plan_one(session, call, cancel, events, gated).await);
    }
    plan
}

/// One call through the gate: ready to run, or answered.
pub(super) async fn plan_one(
    session: &Session,
    mut call: ToolCall,
    cancel: &CancellationToken,
    events: &EventSink,
    gated: &mut Gated,
) -> Planned {
    match admit(session, &mut call, cancel, events, gated).await {
        Ok(tool) => Planned::Run { call_id: call.id, name: call.name, input: call.input, tool },
        Err(refused) => {
            if refused.denial {
                gated.denials.push(denial(&call));
            }
            Planned::Answered { call_id: call.id, name: call.name, input: call.input, output: refused.output }
        }
    }
}

/// Why a call does not run: the result the model gets, and whether it counts as a
/// permission denial.
struct Refused {
    output: ToolOutput,
    denial: bool,
}

impl Refused {
    /// The call cannot run as made (no such tool, bad input, a hook's block).
    fn error(message: String) -> Refused {
        Refused { output: ToolOutput::error(message), denial: false }
    }

    /// The rules, a hook or the user said no.
    fn denied(message: String) -> Refused {
        Refused { output: ToolOutput::error(message), denial: true }
    }
}

/// Takes one call through every check, in order; the tool to run it with, or why not.
/// Hooks and the user may change its input on the way.
async fn admit(
    session: &Session,
    call: &mut ToolCall,
    cancel: &CancellationToken,
    events: &EventSink,
    gated: &mut Gated,
) -> Result<Arc<RegisteredTool>, Refused> {
    let tool = prepared(session, call)?;
    if tool.name == "ExitPlanMode" && state::lock(&session.services.permissions).mode != PermissionMode::Plan {
        return Err(Refused::error(
            "You are not in plan mode: there is no plan to approve. Go on with the task.".into(),
        ));
    }
    if tool.name == "AskUserQuestion"
        && let Some(input) = call.input.as_object_mut()
    {
        // The answers are the user's to give (or a hook's, for them), never the model's.
        input.remove("answers");
    }
    let hook_verdict = pre_tool_use(session, &tool, call, events, gated).await?;
    let decision = match (tool.approval, decide(session, tool.name, tool.kind, tool.approval, &call.input)) {
        // For the person at the keyboard, whatever the mode says; a rule may still refuse.
        (Approval::User, Decision::Allow) => Decision::Ask { reason: String::new(), firm: false },
        (_, decision) => decision,
    };
    let decision = match (hook_verdict, decision) {
        // A hook's "allow" skips the question, but not a deny rule or a firm ask.
        (Some((PermissionVerdict::Allow, _)), Decision::Ask { firm: false, .. }) => Decision::Allow,
        (Some((PermissionVerdict::Ask | PermissionVerdict::Defer, reason)), Decision::Allow) => {
            Decision::Ask { reason, firm: true }
        }
        (_, decision) => decision,
    };
    let admitted = match permission_request(session, call, decision, events).await {
        Decision::Allow => Ok(()),
        Decision::Deny { reason } => Err(Refused::denied(format!(
            "Permission to use {} was denied: {reason}. Do not retry this call.",
            call.name
        ))),
        Decision::Ask { .. }
            if tool.approval == Approval::User && session.services.approval_mode == ApprovalMode::Refuse =>
        {
            Err(Refused::denied(nobody_to_ask(&call.name)))
        }
        Decision::Ask { reason, .. } => match session.services.approval_mode {
            ApprovalMode::Refuse => Err(Refused::denied(format!(
                "Permission to use {} was denied: cairn is running non-interactively and no permission \
                 rule allows this call{}. Do not retry it; finish what you can without it. (The user can \
                 allow it with --allowedTools or --permission-mode.)",
                call.name,
                if reason.is_empty() { String::new() } else { format!(" ({reason})") }
            ))),
            ApprovalMode::Ask => ask(session, &tool, call, cancel, events).await,
        },
    };
    admitted?;
    if tool.name == "ExitPlanMode" {
        // However it was approved: by the user, a hook, or a host.
        leave_plan_mode(session, events);
    }
    Ok(tool)
}

/// Why a call for the user is refused when nobody is there to answer it (`-p`).
fn nobody_to_ask(tool: &str) -> String {
    if tool == "ExitPlanMode" {
        return "Nobody can approve a plan in this non-interactive run, and plan mode stays on. Do not call \
                ExitPlanMode again: give the plan as your final answer."
            .into();
    }
    format!(
        "{tool} needs the user, and nobody can answer in this non-interactive run. Do not call it again: \
         decide with what you know, and say in your final answer what you assumed and what the user \
         should decide."
    )
}

/// The tool called, with the call's input checked against its schema.
fn prepared(session: &Session, call: &mut ToolCall) -> Result<Arc<RegisteredTool>, Refused> {
    let Some(tool) = session.context.tools.get(&call.name) else {
        let available = session.context.tools.names().join(", ");
        return Err(Refused::error(format!(
            "<tool_use_error>Error: No such tool available: {}. Available tools: {available}.</tool_use_error>",
            call.name
        )));
    };
    tool.prepare(&mut call.input).map_err(|problem| {
        Refused::error(format!(
            "<tool_use_error>InputValidationError: {} was called with invalid input: {problem}. \
             Fix the input to match the tool's schema and call it again.</tool_use_error>",
            call.name
        ))
    })?;
    Ok(tool)
}

/// PreToolUse hooks, before the permission check as in Claude Code: they may stop the
/// session, block or refuse the call, change its input, or give a verdict the rules weigh.
async fn pre_tool_use(
    session: &Session,
    tool: &RegisteredTool,
    call: &mut ToolCall,
    events: &EventSink,
    gated: &mut Gated,
) -> Result<Option<(PermissionVerdict, String)>, Refused> {
    let fields = json!({ "tool_name": call.name, "tool_input": call.input, "tool_use_id": call.id });
    let hooked =
        session.run_hooks(HookEvent::PreToolUse, &call.name, fields, Some((&call.name, &call.input)), events).await;
    gated.context.extend(hooked.context.iter().cloned());
    if let Some(reason) = &hooked.stop {
        gated.stop = Some(reason.clone());
        return Err(Refused::error(format!(
            "A PreToolUse hook stopped the session before this call ran{}",
            suffix(reason)
        )));
    }
    if let Some((command, reason)) = hooked.blocks.first() {
        return Err(Refused::error(format!("PreToolUse:{} hook error: [{command}]: {reason}\n", call.name)));
    }
    if let Some((PermissionVerdict::Deny, reason)) = &hooked.permission {
        let message = if reason.is_empty() {
            format!("A PreToolUse hook refused this {} call.", call.name)
        } else {
            reason.clone()
        };
        return Err(Refused::denied(message));
    }
    if let Some(input) = hooked.updated_input {
        call.input = input;
        tool.prepare(&mut call.input).map_err(|problem| {
            Refused::error(format!(
                "<tool_use_error>A PreToolUse hook changed the input into an invalid one: {problem}</tool_use_error>"
            ))
        })?;
    }
    Ok(hooked.permission)
}

/// PermissionRequest hooks answer a question for the user (in `-p` too).
async fn permission_request(
    session: &Session,
    call: &mut ToolCall,
    decision: Decision,
    events: &EventSink,
) -> Decision {
    let Decision::Ask { reason, firm } = decision else { return decision };
    if !session.services.hooks().has(HookEvent::PermissionRequest) {
        return Decision::Ask { reason, firm };
    }
    let fields = json!({ "tool_name": call.name, "tool_input": call.input });
    let answer = session
        .run_hooks(HookEvent::PermissionRequest, &call.name, fields, Some((&call.name, &call.input)), events)
        .await;
    match answer.permission {
        Some((PermissionVerdict::Allow, _)) => {
            if let Some(input) = answer.updated_input {
                call.input = input;
            }
            Decision::Allow
        }
        Some((PermissionVerdict::Deny, message)) => Decision::Deny {
            reason: if message.is_empty() { "a PermissionRequest hook refused it".into() } else { message },
        },
        _ => Decision::Ask { reason, firm },
    }
}

/// Asks the user, showing what the call would do; "yes" approves the paths it writes,
/// "yes, and don't ask again" also adds a rule for the session.
async fn ask(
    session: &Session,
    tool: &RegisteredTool,
    call: &mut ToolCall,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Result<(), Refused> {
    let ctx = ToolContext { call_id: call.id.clone(), cancel: cancel.clone(), session: Arc::clone(&session.tools) };
    let preview = tool.preview(&call.input, &ctx);
    let mut answer = match &session.services.permission_prompt_tool {
        Some((server, tool)) => ask_tool(session, server, tool, call, cancel).await,
        None => {
            notify(session, &call.name);
            ask_user(call, preview, &session.services.approvals, cancel, events).await
        }
    };
    if let Answer::AllowedWith(input) = answer {
        call.input = input;
        tool.prepare(&mut call.input).map_err(|problem| {
            Refused::error(format!("<tool_use_error>The answer did not fit the call: {problem}</tool_use_error>"))
        })?;
        // The rules saw the input as the model wrote it: a deny rule still holds for the new one.
        if let Decision::Deny { reason } = decide(session, tool.name, tool.kind, tool.approval, &call.input) {
            return Err(Refused::denied(format!("Permission to use {} was denied: {reason}.", call.name)));
        }
        answer = Answer::Allowed;
    }
    if matches!(answer, Answer::Allowed | Answer::AllowedForSession) {
        approve_paths(session, tool.name, &call.input);
    }
    match answer {
        Answer::Allowed | Answer::AllowedWith(_) => Ok(()),
        Answer::AllowedForSession => {
            remember(session, tool.name, &call.input, events);
            Ok(())
        }
        Answer::Refused(message) => Err(Refused::denied(message)),
        Answer::RefusedForSession(message) => {
            refuse_from_now_on(session, tool.name, &call.input);
            Err(Refused::denied(message))
        }
    }
}

fn denial(call: &ToolCall) -> PermissionDenial {
    PermissionDenial { tool_name: call.name.clone(), tool_use_id: call.id.clone(), tool_input: call.input.clone() }
}

fn suffix(reason: &str) -> String {
    if reason.is_empty() { ".".into() } else { format!(": {reason}") }
}

/// Notification hooks hear that the user is asked; they run on their own, never holding up
/// the question.
fn notify(session: &Session, tool: &str) {
    let hooks = session.services.hooks();
    if !hooks.has(HookEvent::Notification) {
        return;
    }
    let message = format!("cairn needs your permission to use {tool}");
    let input = session.hook_input(
        HookEvent::Notification,
        json!({ "message": message, "title": "Permission needed", "notification_type": "permission_prompt" }),
    );
    let cwd = session.tools.cwd();
    tokio::spawn(async move {
        let invocation = Invocation {
            event: HookEvent::Notification,
            target: "permission_prompt",
            input,
            cwd: &cwd,
            call: None,
            budget: None,
        };
        hooks.run(invocation).await;
    });
}

enum Answer {
    Allowed,
    AllowedWith(Value),
    AllowedForSession,
    Refused(String),
    RefusedForSession(String),
}

/// An approved plan ends plan mode: for the default mode, unless the user already chose
/// another (accepting edits) as they approved it.
fn leave_plan_mode(session: &Session, events: &EventSink) {
    let mut permissions = state::lock(&session.services.permissions);
    if permissions.mode != PermissionMode::Plan {
        return;
    }
    permissions.mode = PermissionMode::Default;
    drop(permissions);
    events.emit(Event::SessionChanged(session.info()));
}

/// What the permission rules say about a call, in the session's current folder.
pub(super) fn decide(session: &Session, tool: &str, kind: ToolKind, approval: Approval, input: &Value) -> Decision {
    let cwd = session.tools.cwd();
    let readable = [session.tools.spill_dir()];
    let command = input.get("command").and_then(Value::as_str).unwrap_or_default();
    let unsandboxed = input.get("dangerouslyDisableSandbox").and_then(Value::as_bool) == Some(true);
    let sandbox = session.tools.sandbox().filter(|_| tool == "Bash");
    if let Some(notice) = sandbox.and_then(|s| s.fallback_notice()) {
        session.services.events.emit(crate::protocol::Event::Notice { message: notice });
    }
    let ctx = Context {
        cwd: &cwd,
        working_dirs: session.tools.working_dirs(),
        readable_dirs: &readable,
        paths_held: sandbox.is_some_and(|s| s.holds_paths(command, unsandboxed)),
    };
    let decision = state::lock(&session.services.permissions).decide(&Call { tool, kind, approval, input }, &ctx);
    // A command the sandbox will hold needs no question (`autoAllowBashIfSandboxed`); one
    // an ask rule names, or a deny rule might cover, still does.
    match (decision, sandbox) {
        (Decision::Ask { firm: false, .. }, Some(sandbox)) if sandbox.auto_allows(command, unsandboxed) => {
            Decision::Allow
        }
        (decision, _) => decision,
    }
}

/// An approved write outside the working folders may go ahead: the tool is told so.
fn approve_paths(session: &Session, tool: &str, input: &Value) {
    if family(tool) != "Edit" {
        return;
    }
    if let Some(path) = ["file_path", "notebook_path"].into_iter().find_map(|f| input.get(f).and_then(Value::as_str)) {
        session.tools.approve_write(&session.tools.resolve(path));
    }
}

/// The rules "don't ask again" adds: each command of a Bash script (at most five), the
/// domain for WebFetch, the whole tool otherwise. Bash and WebFetch rules are also saved to
/// `.cairn/settings.local.json`, as Claude Code saves them; edits are allowed for the session.
fn remember(session: &Session, tool: &str, input: &Value, events: &EventSink) {
    let rules = session_rules(tool, input);
    let origin = Origin { label: "this session".into(), dir: session.context.cwd.clone() };
    {
        let mut permissions = state::lock(&session.services.permissions);
        for rule in &rules {
            let _ = permissions.allow(rule.clone(), origin.clone());
        }
    }
    if matches!(family(tool), "Bash" | "WebFetch") && session.services.approval_mode == ApprovalMode::Ask {
        let texts: Vec<String> = rules.iter().map(ToString::to_string).collect();
        if let Err(e) = settings::add_local_allow_rules(&session.context.cwd, &texts) {
            events.emit(Event::Error { message: format!("Could not save the rule for next time: {e}") });
        }
    }
}

/// "Always reject": the same rules "always allow" would add, as deny rules for this session
/// only (not saved: a refusal in one session is not a policy).
fn refuse_from_now_on(session: &Session, tool: &str, input: &Value) {
    let origin = Origin { label: "this session".into(), dir: session.context.cwd.clone() };
    let mut permissions = state::lock(&session.services.permissions);
    for rule in session_rules(tool, input) {
        let _ = permissions.add(Purpose::Deny, rule, origin.clone());
    }
}

fn session_rules(tool: &str, input: &Value) -> Vec<PermissionRule> {
    let rule = |specifier: Option<String>| PermissionRule { tool: tool.to_owned(), specifier };
    match family(tool) {
        "Bash" => {
            let script = input.get("command").and_then(Value::as_str).unwrap_or("");
            let analysis = shell::analyze(script);
            let mut rules: Vec<PermissionRule> = Vec::new();
            for command in analysis.commands.iter().filter(|c| !commands::is_read_only(&c.words)).take(5) {
                let text: Vec<&str> = command.words.iter().map(|w| w.text.as_str()).collect();
                let candidate = rule(Some(text.join(" ")));
                if !rules.contains(&candidate) {
                    rules.push(candidate);
                }
            }
            if rules.is_empty() {
                rules.push(rule(Some(script.trim().to_owned())));
            }
            rules
        }
        "WebFetch" => {
            let host = input
                .get("url")
                .and_then(Value::as_str)
                .and_then(|u| reqwest::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned));
            vec![rule(host.map(|h| format!("domain:{h}")))]
        }
        _ => vec![rule(None)],
    }
}

/// `--permission-prompt-tool mcp__server__tool`: the MCP tool decides, given
/// `{tool_name, input, tool_use_id}`, answering (as text) `{"behavior": "allow",
/// "updatedInput": …}` or `{"behavior": "deny", "message": …}` as Claude Code reads it.
async fn ask_tool(session: &Session, server: &str, tool: &str, call: &ToolCall, cancel: &CancellationToken) -> Answer {
    let Some(manager) = session.services.mcp.as_ref() else {
        return Answer::Refused(format!("No MCP server {server} is configured to answer permission questions."));
    };
    manager.settled(std::time::Duration::from_secs(30)).await;
    let ctx = ToolContext { call_id: call.id.clone(), cancel: cancel.clone(), session: Arc::clone(&session.tools) };
    let question = json!({"tool_name": call.name, "input": call.input, "tool_use_id": call.id});
    let output = manager.call(server, tool, question, ctx).await;
    let text = output.text_content();
    if output.is_error {
        return Answer::Refused(format!("The permission tool mcp__{server}__{tool} failed: {text}"));
    }
    let Ok(verdict) = serde_json::from_str::<Value>(text.trim()) else {
        return Answer::Refused(format!("The permission tool mcp__{server}__{tool} did not answer with JSON: {text}"));
    };
    match verdict["behavior"].as_str() {
        Some("allow") => match verdict.get("updatedInput").filter(|i| i.is_object()) {
            Some(input) => Answer::AllowedWith(input.clone()),
            None => Answer::Allowed,
        },
        _ => Answer::Refused(
            verdict["message"]
                .as_str()
                .map_or_else(|| format!("The permission tool refused this {} call.", call.name), str::to_owned),
        ),
    }
}

/// A sandboxed command wants to reach `host`, which no rule allows: the user is asked, as
/// for a WebFetch of it, from the proxy's thread, which waits (a command's own timeout
/// still holds). `true`: allowed for the session.
pub(super) fn network_question(
    services: &std::sync::Weak<super::Services>,
    runtime: &tokio::runtime::Handle,
    host: &str,
) -> bool {
    let Some(services) = services.upgrade() else { return false };
    let id = format!("sandbox-network-{}", uuid::Uuid::new_v4().simple());
    let answer = services.approvals.request(&id);
    services.events.emit(Event::ApprovalRequest {
        call_id: id.clone(),
        tool: "WebFetch".into(),
        input: serde_json::json!({"url": format!("https://{host}/"), "prompt": format!("A sandboxed command wants to reach {host}")}),
        preview: Some(format!("A command in the sandbox wants to reach {host}.")),
        from: None,
    });
    let decision =
        runtime.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(600), answer).await.ok()?.ok() });
    services.approvals.forget(&id);
    matches!(
        decision,
        Some(ApprovalDecision::Allow | ApprovalDecision::AllowWith { .. } | ApprovalDecision::AllowForSession)
    )
}

/// Asks the front end and waits for the answer.
async fn ask_user(
    call: &ToolCall,
    preview: Option<String>,
    approvals: &Approvals,
    cancel: &CancellationToken,
    events: &EventSink,
) -> Answer {
    let answer = approvals.request(&call.id);
    events.emit(Event::ApprovalRequest {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        input: call.input.clone(),
        preview,
        from: None,
    });
    let decision = tokio::select! {
        decision = answer => decision.ok(),
        () = cancel.cancelled() => None,
    };
    approvals.forget(&call.id);
    match decision {
        Some(ApprovalDecision::Allow) => Answer::Allowed,
        Some(ApprovalDecision::AllowWith { input }) => Answer::AllowedWith(input),
        Some(ApprovalDecision::AllowForSession) => Answer::AllowedForSession,
        Some(ApprovalDecision::Deny { reason: Some(reason) }) if !reason.trim().is_empty() => {
            Answer::Refused(format!("The user refused this {} call and said: {reason}", call.name))
        }
        Some(ApprovalDecision::Deny { .. }) => Answer::Refused(format!(
            "The user refused this {} call. Do not retry it; ask the user how to proceed.",
            call.name
        )),
        Some(ApprovalDecision::DenyForSession) => Answer::RefusedForSession(format!(
            "The user refused this {} call, and calls like it for the rest of the session. Do not retry it; ask \
             the user how to proceed.",
            call.name
        )),
        None => Answer::Refused(format!("The {} call was not run: the user interrupted.", call.name)),
    }
}
