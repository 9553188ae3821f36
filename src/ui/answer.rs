//! The TUI's wording of the core's answers ([`Answer`]): `/permissions`, `/hooks`,
//! `/context`, `/mcp` and `/memory` as lines of text.

use crate::agent::context::thousands;
use crate::protocol::{Answer, ContextUsage, McpStatus};

/// The lines that show `answer`.
pub fn lines(answer: &Answer) -> Vec<String> {
    match answer {
        Answer::Sandbox(text) | Answer::Tasks(text) | Answer::Plugins(text) => {
            text.lines().map(str::to_owned).collect()
        }
        Answer::AgentTranscript { title, messages } => {
            let mut lines = vec![title.clone()];
            lines.extend(messages.iter().map(|m| format!("{:?}: {}", m.role, m.typed_text())));
            lines
        }
        Answer::RewindPoints(points) => points
            .iter()
            .enumerate()
            .map(|(n, p)| format!("{:>2}. {} ({} files)", n + 1, p.label, p.files.len()))
            .collect(),
        Answer::Permissions { mode, rules } => {
            let mut lines = vec![format!("Permission mode: {}", mode.as_str())];
            if rules.is_empty() {
                lines.push("No permission rules.".into());
            }
            for entry in rules {
                lines.push(format!("  {:<5} {}   ({})", entry.list.as_str(), entry.rule, entry.origin));
            }
            lines.push("Add with /permissions allow|ask|deny <rule>, remove with /permissions remove <rule>.".into());
            lines
        }
        Answer::RuleAdded { list, rule, saved } => vec![match saved {
            Ok(()) => format!("Added {} rule {rule} (saved in .cairn/settings.local.json)", list.as_str()),
            Err(e) => format!("Added {} rule {rule} for this session; saving it failed: {e}", list.as_str()),
        }],
        Answer::RuleRemoved { rule, lists } if lists.is_empty() => vec![format!("No rule {rule} is in force.")],
        Answer::RuleRemoved { rule, lists } => {
            let lists: Vec<&str> = lists.iter().map(|l| l.as_str()).collect();
            vec![format!(
                "Removed {rule} ({}). A rule from another settings file comes back next session unless removed there.",
                lists.join(", ")
            )]
        }
        Answer::Hooks(hooks) if hooks.is_empty() => vec!["No hooks configured.".into()],
        Answer::Hooks(hooks) => {
            let mut lines = vec!["Hooks:".to_owned()];
            for hook in hooks {
                let matcher = if hook.matcher.is_empty() { String::new() } else { format!(" [{}]", hook.matcher) };
                lines.push(format!("  {}{matcher}: {}   ({})", hook.event, hook.command, hook.source));
            }
            lines
        }
        Answer::Context(usage) => context(usage),
        Answer::OutputStyles { current, styles } => {
            let mark = |name: Option<&str>| if current.as_deref() == name { "●" } else { " " };
            let mut lines = vec!["Output styles:".to_owned()];
            lines.push(format!("{} default: cairn's own, for software engineering", mark(None)));
            for (name, description) in styles {
                lines.push(format!("{} {name}: {description}", mark(Some(name))));
            }
            lines.push("Switch with /output-style <name> (saved in .cairn/settings.local.json).".into());
            lines
        }
        Answer::McpServers(None) => {
            vec!["No MCP servers are configured (.mcp.json, $CAIRN_HOME/mcp.json, --mcp-config).".into()]
        }
        Answer::McpServers(Some(servers)) => {
            let mut lines = vec!["MCP servers:".to_owned()];
            for server in servers {
                let tools =
                    if server.status == McpStatus::Ready { format!(", {} tools", server.tools) } else { String::new() };
                lines.push(format!("  {} ({}): {}{tools}", server.name, server.scope, server.status.describe()));
            }
            lines.push("/mcp reconnect <name> starts a server again.".into());
            lines
        }
        Answer::McpReconnecting { name } => vec![format!("Reconnecting {name}…")],
        Answer::McpUnknown { name } => vec![format!("No MCP server is called {name}.")],
        Answer::Memory { files, notes_file } => {
            let mut lines = vec!["Memory files loaded:".to_owned()];
            if files.is_empty() {
                lines.push("  (none)".into());
            }
            for (i, path) in files.iter().enumerate() {
                lines.push(format!("  {}. {}", i + 1, path.display()));
            }
            lines.push(format!(
                "/memory <number> opens one in your editor; /memory project opens {}; a message starting with `# ` adds a note to it.",
                notes_file.display()
            ));
            lines
        }
        Answer::Busy => vec!["That can be shown once the running turn has ended.".into()],
    }
}

/// The `/context` picture: a bar and a legend.
/// `compacts_at` is the automatic-compaction threshold in tokens, `None` when it is off.
fn context(parts: &ContextUsage) -> Vec<String> {
    const CELLS: u64 = 50;
    let window = parts.window.max(1);
    let total = parts.total();
    let cells = |tokens: u64| -> usize { ((tokens * CELLS).div_ceil(window)) as usize };
    let mut bar = String::new();
    for (tokens, mark) in [(parts.system, 'S'), (parts.tools, 'T'), (parts.memory, 'M'), (parts.messages, 'm')] {
        bar.push_str(&mark.to_string().repeat(if tokens == 0 { 0 } else { cells(tokens).max(1) }));
    }
    let used = bar.chars().count().min(CELLS as usize);
    let bar: String = bar.chars().take(CELLS as usize).collect::<String>() + &".".repeat(CELLS as usize - used);
    let pct = |tokens: u64| tokens as f64 * 100.0 / window as f64;
    let mut lines = vec![
        format!("Context: {} of {} tokens ({:.0}%)", thousands(total), thousands(window), pct(total)),
        format!("[{bar}]"),
    ];
    for (label, mark, tokens) in [
        ("system prompt", 'S', parts.system),
        ("tool schemas", 'T', parts.tools),
        ("memory files", 'M', parts.memory),
        ("messages", 'm', parts.messages),
        ("free", '.', window.saturating_sub(total)),
    ] {
        lines.push(format!("  {mark} {label:<14} {:>10}  {:>5.1}%", thousands(tokens), pct(tokens)));
    }
    lines.push(if let Some(at) = parts.compacts_at {
        format!("  Compacts automatically at {:.0}% ({} tokens).", pct(at), thousands(at))
    } else {
        "  Automatic compaction is off; /compact compacts now.".to_owned()
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_picture_adds_up() {
        let parts = ContextUsage {
            system: 1_000,
            tools: 3_000,
            memory: 2_000,
            messages: 44_000,
            window: 100_000,
            compacts_at: Some(80_000),
        };
        let lines = context(&parts);
        assert_eq!(lines[0], "Context: 50,000 of 100,000 tokens (50%)");
        assert_eq!(lines[1].len(), 52);
        assert!(lines[1].starts_with("[STTMmmm"), "{}", lines[1]);
        assert!(lines.last().unwrap().contains("80% (80,000 tokens)"));
    }
}
