//! The front ends' questions about the session's setup — `/permissions`, `/hooks`,
//! `/context`, `/mcp`, `/memory` — and the rule changes `/permissions` makes, answered as
//! data ([`Answer`]); each front end words them its own way.

use std::path::Path;

use super::{Services, Session, context};
use crate::config::settings;
use crate::custom::output_styles;
use crate::permissions::{Origin, PermissionRule, Purpose};
use crate::protocol::{Answer, ContextUsage, Event, EventSink, HookEntry, Query, RuleEntry};
use crate::tools::state;

impl Session {
    /// Answers a query between turns, when the whole session can be read.
    pub(super) fn answer(&self, query: Query, events: &EventSink) {
        match query {
            Query::Context => events.emit(Event::Answer(Answer::Context(self.context_usage()))),
            Query::Memory { open } => self.answer_memory(open.as_deref(), events),
            Query::RewindPoints => events.emit(Event::Answer(Answer::RewindPoints(self.rewind_points()))),
            Query::OutputStyles => {
                let (styles, _) = output_styles::list(&self.services.custom);
                let styles = styles.into_iter().map(|s| (s.name, s.description)).collect();
                events.emit(Event::Answer(Answer::OutputStyles { current: self.output_style(), styles }));
            }
            other => answer_query(&self.services, &self.context.cwd, other, events),
        }
    }

    /// The name of the output style in use.
    pub(super) fn output_style(&self) -> Option<String> {
        self.context.prompt_spec.as_ref()?.style.as_ref().map(|s| s.name.clone())
    }

    /// Switches the output style (the system prompt is made again) and saves the choice.
    pub(super) fn set_output_style(&mut self, name: &str, events: &EventSink) {
        let Some(spec) = self.context.prompt_spec.as_mut().filter(|spec| spec.replace.is_none()) else {
            let message = "Output styles do not apply: this session's system prompt was given whole".to_owned();
            return events.emit(Event::Error { message });
        };
        let style = match output_styles::find(&self.services.custom, name) {
            Ok(style) => style,
            Err(message) => return events.emit(Event::Error { message }),
        };
        let shown = style.as_ref().map_or("default", |s| s.name.as_str()).to_owned();
        spec.style = style;
        self.context.system_prompt = spec.build(&self.context.cwd);
        let saved = settings::set_local_value(&self.context.cwd, "outputStyle", serde_json::json!(shown));
        let message = match saved {
            Ok(()) => format!("Output style set to {shown} (saved in .cairn/settings.local.json)"),
            Err(e) => format!("Output style set to {shown} for this session; saving it failed: {e}"),
        };
        events.emit(Event::Notice { message });
        events.emit(Event::SessionChanged(self.info()));
    }

    /// What fills the context window, by part.
    fn context_usage(&self) -> ContextUsage {
        let total = self.context_estimate();
        let parts = context::breakdown(&self.context.system_prompt, self.context.tools.specs(), &self.history, total);
        ContextUsage {
            system: parts.system,
            tools: parts.tools,
            memory: parts.memory,
            messages: parts.messages,
            window: self.window(),
            compacts_at: self.services.compaction.auto.then(|| self.compact_threshold()),
        }
    }
}

/// Answers a query; works while a turn runs too (it needs only the services). What needs
/// the session itself is answered [`Answer::Busy`].
/// `/plugin [install|uninstall|enable|disable <id> | marketplace …]`: the store changed
/// (the user's settings, which the watcher reloads), or the plugins listed.
fn plugins(services: &Services, args: &str) -> String {
    let custom = &services.custom;
    let homes = crate::plugins::store::Homes::of(&custom.cairn_home, custom.claude_dir.as_deref(), &custom.project);
    let words: Vec<&str> = args.split_whitespace().collect();
    if words.is_empty() || words == ["list"] {
        let on = custom.plugin_parts();
        return crate::plugins::listing(&homes, |id| on.iter().any(|p| p.id == id));
    }
    crate::plugins::act(&homes, &words, &custom.cairn_home.join("settings.json"))
        .unwrap_or_else(|e| format!("Error: {e}"))
}

pub(super) fn answer_query(services: &Services, project: &Path, query: Query, events: &EventSink) {
    let answer = match query {
        Query::Permissions => {
            let policy = state::lock(&services.permissions);
            let rules = policy.listing().into_iter().map(|(list, rule, origin)| RuleEntry { list, rule, origin });
            Answer::Permissions { mode: policy.mode, rules: rules.collect() }
        }
        Query::AddRule { list, rule } => match add_rule(services, project, list, &rule) {
            Ok(answer) => answer,
            Err(message) => {
                events.emit(Event::Error { message });
                return;
            }
        },
        Query::RemoveRule { rule } => remove_rule(services, project, rule),
        Query::Hooks => Answer::Hooks(
            services
                .hooks()
                .listing()
                .into_iter()
                .map(|(event, matcher, command, source)| HookEntry { event, matcher, command, source })
                .collect(),
        ),
        // The MCP servers belong to the services: asked about or restarted during a turn too.
        Query::Mcp { reconnect } => mcp(services.mcp.as_ref(), reconnect.as_deref()),
        Query::Sandbox { args } => Answer::Sandbox(sandbox(services, &args)),
        Query::Plugins { args } => Answer::Plugins(plugins(services, &args)),
        Query::Tasks { open: None } => {
            Answer::Tasks(format!("{}\n{}", services.shells.list(), services.background.list()))
        }
        Query::Tasks { open: Some(id) } => services.background.transcript(&id),
        Query::McpToggle { name, enabled } => match services.mcp.as_ref() {
            Some(manager) if manager.listing().iter().any(|s| s.name == name) => {
                if enabled {
                    manager.connect(&name);
                } else {
                    manager.disable(&name);
                }
                Answer::McpServers(Some(manager.listing()))
            }
            _ => Answer::McpUnknown { name },
        },
        Query::Context | Query::Memory { .. } | Query::OutputStyles | Query::RewindPoints => Answer::Busy,
    };
    events.emit(Event::Answer(answer));
}

/// Adds a rule for the session, then to `.cairn/settings.local.json`; `Err` when the rule
/// cannot be used at all.
fn add_rule(services: &Services, project: &Path, list: Purpose, rule: &str) -> Result<Answer, String> {
    let parsed = PermissionRule::parse(rule).map_err(|e| e.to_string())?;
    let origin = Origin { label: ".cairn/settings.local.json".into(), dir: project.to_path_buf() };
    state::lock(&services.permissions).add(list, parsed.clone(), origin).map_err(|e| format!("{parsed}: {e}"))?;
    let rule = parsed.to_string();
    let saved = settings::add_local_rule(project, list.as_str(), &rule).map_err(|e| e.to_string());
    Ok(Answer::RuleAdded { list, rule, saved })
}

/// Takes a rule out of every list of the session and of `.cairn/settings.local.json`.
fn remove_rule(services: &Services, project: &Path, rule: String) -> Answer {
    let mut lists = Vec::new();
    for list in Purpose::ALL {
        if state::lock(&services.permissions).remove(list, &rule) {
            lists.push(list);
        }
        let _ = settings::remove_local_rule(project, list.as_str(), &rule);
    }
    Answer::RuleRemoved { rule, lists }
}

/// `/mcp`: each server's state; `/mcp reconnect <name>` starts one again.
fn mcp(manager: Option<&crate::mcp::McpManager>, reconnect: Option<&str>) -> Answer {
    let Some(manager) = manager.filter(|m| !m.listing().is_empty()) else { return Answer::McpServers(None) };
    let Some(name) = reconnect else { return Answer::McpServers(Some(manager.listing())) };
    if !manager.listing().iter().any(|s| s.name == name) {
        return Answer::McpUnknown { name: name.to_owned() };
    }
    manager.connect(name);
    Answer::McpReconnecting { name: name.to_owned() }
}

/// `/sandbox [on|off|allow DOMAIN]`.
fn sandbox(services: &Services, args: &str) -> String {
    let Some(sandbox) = &services.sandbox else { return "This session has no sandbox.".into() };
    let mut words = args.split_whitespace();
    match (words.next(), words.next()) {
        (None, _) => sandbox.describe(),
        (Some("on"), None) => {
            sandbox.set_enabled(true);
            format!("Sandbox turned on for this session.\n{}", sandbox.describe())
        }
        (Some("off"), None) => {
            sandbox.set_enabled(false);
            "Sandbox turned off for this session: commands are checked by the permission rules alone.".into()
        }
        (Some("allow"), Some(domain)) => {
            sandbox.allow_domain(domain);
            format!("Sandboxed commands may now reach {domain} through the proxy (this session).")
        }
        _ => "Use /sandbox, /sandbox on, /sandbox off or /sandbox allow DOMAIN".into(),
    }
}
