//! Permission rules: `Tool` or `Tool(specifier)`, parsed once and compiled for the list
//! they are in.
//!
//! The specifier means what it means for the tool: a command pattern for Bash (`*` matches
//! anything, a trailing ` *` or the legacy `:*` also matches the bare prefix), a path pattern
//! for the file tools (see `paths`), `domain:host` for WebFetch, a name for Agent/Task and
//! Skill, `param:value` on a top-level input field. Tools are matched by family: an `Edit`
//! rule covers Edit, MultiEdit, Write and NotebookEdit; a `Read` rule covers Read, Grep,
//! Glob and LS; old and new names (`Task`/`Agent`, `KillShell`/`TaskStop`…) are one tool.
//! A specifier this engine cannot read never widens anything: in an allow rule it matches
//! nothing, in a deny or ask rule it covers the whole tool.

use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;

use super::paths::{Anchors, PathPattern};

/// `Tool` or `Tool(specifier)`, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionRule {
    pub tool: String,
    pub specifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid permission rule {rule:?}: {problem}")]
pub struct RuleError {
    pub rule: String,
    pub problem: String,
}

impl PermissionRule {
    pub fn parse(text: &str) -> Result<PermissionRule, RuleError> {
        let text = text.trim();
        let fail = |problem: &str| RuleError { rule: text.to_owned(), problem: problem.to_owned() };
        let (tool, specifier) = match text.split_once('(') {
            None => (text, None),
            Some((tool, rest)) => {
                let inner = rest.strip_suffix(')').ok_or_else(|| fail("missing the closing ')'"))?;
                (tool.trim(), Some(inner.trim().to_owned()))
            }
        };
        let name_ok =
            tool == "*" || tool.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '*');
        if tool.is_empty() || !name_ok {
            return Err(fail("a rule starts with a tool name, like Bash or Read"));
        }
        let specifier = specifier.filter(|s| !s.is_empty() && s != "*");
        Ok(PermissionRule { tool: tool.to_owned(), specifier })
    }

    /// Splits a `--allowedTools` value into rules: commas and spaces separate rules, except
    /// inside parentheses.
    pub fn parse_list(values: &[String]) -> Result<Vec<PermissionRule>, RuleError> {
        let mut rules = Vec::new();
        for value in values {
            let mut depth = 0usize;
            let mut current = String::new();
            for c in value.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if depth == 0 && (c == ',' || c.is_whitespace()) {
                    if !current.trim().is_empty() {
                        rules.push(PermissionRule::parse(&current)?);
                    }
                    current.clear();
                } else {
                    current.push(c);
                }
            }
            if !current.trim().is_empty() {
                rules.push(PermissionRule::parse(&current)?);
            }
        }
        Ok(rules)
    }

    /// The tool family the rule is about.
    pub fn family(&self) -> &str {
        family(&self.tool)
    }
}

impl fmt::Display for PermissionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.specifier {
            Some(spec) => write!(f, "{}({spec})", self.tool),
            None => f.write_str(&self.tool),
        }
    }
}

pub use crate::conversation::tool_names::family;

/// Which list a rule is in: deny and ask rules read specifiers broadly, allow rules narrowly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Allow,
    Ask,
    Deny,
}

impl Purpose {
    pub const ALL: [Purpose; 3] = [Purpose::Allow, Purpose::Ask, Purpose::Deny];

    /// The list's name in settings files: `allow`, `ask` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Allow => "allow",
            Purpose::Ask => "ask",
            Purpose::Deny => "deny",
        }
    }

    pub fn parse(name: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// Where a rule came from, for messages and for its `/` anchor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `.cairn/settings.json`, `--allowedTools`, `this session`…
    pub label: String,
    /// The folder a `/path` in the rule starts from.
    pub dir: PathBuf,
}

#[derive(Clone, Debug)]
enum Matcher {
    /// The whole tool (or every tool, for `*`).
    All,
    /// A Bash command pattern.
    Command(Wildcard),
    Path(PathPattern),
    /// WebFetch `domain:` (a leading `*.` means subdomains only).
    Domain(String),
    /// `param:value` on a top-level input field.
    Param {
        name: String,
        value: String,
    },
    /// A name pattern on a field: Agent's `subagent_type`, Skill's `skill`.
    Name {
        field: &'static [&'static str],
        pattern: Wildcard,
    },
    /// MCP tools by name (`mcp__server`, `mcp__server__*`, `mcp__*`).
    ToolName(Regex),
    /// An allow rule whose specifier cannot be read: matches nothing.
    Never,
}

/// A rule ready to match calls.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    pub rule: PermissionRule,
    pub origin: Origin,
    matcher: Matcher,
}

/// What a rule is checked against.
pub enum Subject<'a> {
    /// The call as a whole.
    Call {
        tool: &'a str,
        input: &'a Value,
    },
    /// One command of a Bash call: its words joined with spaces.
    Command(&'a str),
    /// A file the call reads, or writes.
    Read(&'a super::paths::Target),
    Write(&'a super::paths::Target),
}

const BASH_PARAMS: &[&str] = &["command", "timeout", "description", "run_in_background"];

impl CompiledRule {
    /// Compiles `rule`; `Err` says why its specifier cannot be used (the caller reports it).
    pub fn new(
        rule: PermissionRule,
        origin: Origin,
        purpose: Purpose,
        anchors: &Anchors,
    ) -> Result<CompiledRule, String> {
        let broad = purpose != Purpose::Allow;
        let matcher = match (rule.family(), rule.specifier.as_deref()) {
            ("*", _) if purpose == Purpose::Allow => return Err("`*` can only deny or ask, not allow".into()),
            (tool, _) if tool.starts_with("mcp__") || tool == "*" => Matcher::ToolName(mcp_pattern(&rule.tool)?),
            (_, None) => Matcher::All,
            ("Bash", Some(spec)) => match param(spec, BASH_PARAMS) {
                Some((name, value)) if broad => Matcher::Param { name, value },
                Some(_) => return Err("a `param:value` specifier can only deny or ask".into()),
                None => Matcher::Command(command_pattern(spec)?),
            },
            ("Read" | "Edit", Some(spec)) => {
                Matcher::Path(PathPattern::compile(spec, &anchors_for(&origin, anchors), broad)?)
            }
            ("WebFetch", Some(spec)) => match spec.strip_prefix("domain:") {
                Some(domain) if !domain.trim().is_empty() => Matcher::Domain(canonical_domain(domain)),
                _ if broad => Matcher::All,
                _ => return Err("WebFetch rules read `WebFetch(domain:example.com)`".into()),
            },
            ("Agent", Some(spec)) => Matcher::Name { field: &["subagent_type"], pattern: command_pattern(spec)? },
            ("Skill", Some(spec)) => Matcher::Name { field: &["skill", "command"], pattern: command_pattern(spec)? },
            (_, Some(spec)) => match param(spec, &[]) {
                Some((name, value)) if broad => Matcher::Param { name, value },
                _ if broad => Matcher::All,
                _ => Matcher::Never,
            },
        };
        Ok(CompiledRule { rule, origin, matcher })
    }

    /// A rule that could not be compiled, kept so it still covers its whole tool (deny and
    /// ask lists only: a broken restriction must not widen what runs).
    pub fn whole_tool(rule: PermissionRule, origin: Origin) -> CompiledRule {
        CompiledRule { rule, origin, matcher: Matcher::All }
    }

    /// A bare rule for the whole tool (no specifier).
    /// The rule covers whole tools, whatever their input (`Bash`, `mcp__server`, `mcp__*`).
    pub fn is_whole_tool(&self) -> bool {
        matches!(self.matcher, Matcher::All | Matcher::ToolName(_)) && self.rule.specifier.is_none()
    }

    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        match subject {
            Subject::Call { tool, input } => {
                if let Matcher::ToolName(pattern) = &self.matcher {
                    return pattern.is_match(tool);
                }
                if family(tool) != self.rule.family() {
                    return false;
                }
                match &self.matcher {
                    Matcher::All => true,
                    Matcher::Param { name, value } => input.get(name).is_some_and(|v| param_matches(v, value)),
                    Matcher::Domain(domain) => {
                        let url = input.get("url").and_then(Value::as_str).unwrap_or("");
                        host_of(url).is_some_and(|host| domain_matches(domain, &host))
                    }
                    Matcher::Name { field, pattern } => field
                        .iter()
                        .find_map(|f| input.get(*f).and_then(Value::as_str))
                        .is_some_and(|name| pattern.is_match(name)),
                    _ => false,
                }
            }
            Subject::Command(text) => {
                self.rule.family() == "Bash"
                    && match &self.matcher {
                        Matcher::Command(pattern) => pattern.is_match(text),
                        Matcher::All => true,
                        _ => false,
                    }
            }
            Subject::Read(target) => self.rule.family() == "Read" && self.path_matches(target),
            Subject::Write(target) => self.rule.family() == "Edit" && self.path_matches(target),
        }
    }

    /// Deny and ask rules on reads also guard writes to the same path.
    pub fn matches_write_as_read(&self, target: &super::paths::Target) -> bool {
        self.rule.family() == "Read" && self.path_matches(target)
    }

    fn path_matches(&self, target: &super::paths::Target) -> bool {
        match &self.matcher {
            Matcher::Path(pattern) => pattern.matches(&target.named) || pattern.matches(&target.real),
            _ => false,
        }
    }

    /// The domain of a `WebFetch(domain:…)` rule.
    pub fn domain(&self) -> Option<&str> {
        match &self.matcher {
            Matcher::Domain(domain) => Some(domain),
            _ => None,
        }
    }

    /// For deny rules on reads: whether the rule covers this file.
    pub fn denies_read_of(&self, path: &Path) -> bool {
        let target = super::paths::Target { named: path.to_path_buf(), real: path.to_path_buf() };
        self.rule.family() == "Read" && self.path_matches(&target)
    }

    /// The paths a path rule without wildcards names (`Read(./.env)`); `None` otherwise.
    pub fn literal_paths(&self) -> Option<Vec<PathBuf>> {
        match &self.matcher {
            Matcher::Path(pattern) => pattern.literal_paths(),
            _ => None,
        }
    }

    /// Whether the rule's path pattern could match something in the tree under `dir`.
    pub fn may_match_under(&self, dir: &Path) -> bool {
        match &self.matcher {
            Matcher::Path(pattern) => pattern.may_match_under(dir),
            _ => false,
        }
    }

    /// For allow rules: the pattern covers the path as named and where it really is.
    pub fn allows_path(&self, target: &super::paths::Target, write: bool) -> bool {
        let family = if write { "Edit" } else { "Read" };
        match &self.matcher {
            Matcher::Path(pattern) if self.rule.family() == family => {
                pattern.matches(&target.named) && pattern.matches(&target.real)
            }
            // A bare `Edit` or `Read` allow rule covers every path of its kind.
            Matcher::All if self.rule.family() == family => true,
            _ => false,
        }
    }
}

/// A rule's anchors, with `/` meaning the folder of the file it came from.
fn anchors_for(origin: &Origin, anchors: &Anchors) -> Anchors {
    Anchors { settings_dir: origin.dir.clone(), ..anchors.clone() }
}

/// `name:value` where `name` is a known (or, with no list, any lower-case) field.
fn param(spec: &str, known: &[&str]) -> Option<(String, String)> {
    let (name, value) = spec.split_once(':')?;
    let plausible = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    let listed = if known.is_empty() { plausible && !value.is_empty() && value != "*" } else { known.contains(&name) };
    listed.then(|| (name.to_owned(), value.trim().to_owned()))
}

fn param_matches(value: &Value, expected: &str) -> bool {
    match value {
        Value::String(s) => s == expected,
        Value::Bool(b) => b.to_string() == expected,
        Value::Number(n) => n.to_string() == expected,
        _ => false,
    }
}

/// A command pattern: `*` is any text; a trailing ` *` or `:*` also matches the bare
/// prefix (`Bash(ls *)` covers `ls` and `ls -la`, not `lsof`).
fn command_pattern(spec: &str) -> Result<Wildcard, String> {
    let spec = spec.trim();
    let (body, prefix) = match spec.strip_suffix(":*").or_else(|| spec.strip_suffix(" *")) {
        Some(body) => (body.trim_end(), true),
        None => (spec, false),
    };
    Ok(Wildcard { parts: body.split('*').map(str::to_owned).collect(), prefix })
}

/// A compiled command pattern: literal parts between `*`s (each `*` any text, newlines
/// included). Matched directly: a rule costs nothing to compile, however many there are.
#[derive(Clone, Debug)]
pub struct Wildcard {
    parts: Vec<String>,
    /// The body alone, or the body then whitespace and anything.
    prefix: bool,
}

impl Wildcard {
    pub fn is_match(&self, text: &str) -> bool {
        if wildcard_match(&self.parts, text) {
            return true;
        }
        self.prefix && text.char_indices().any(|(i, c)| c.is_whitespace() && wildcard_match(&self.parts, &text[..i]))
    }
}

fn wildcard_match(parts: &[String], text: &str) -> bool {
    match parts {
        [] => text.is_empty(),
        [only] => text == only,
        [first, middle @ .., last] => {
            if text.len() < first.len() + last.len()
                || !text.starts_with(first.as_str())
                || !text.ends_with(last.as_str())
            {
                return false;
            }
            let mut rest = &text[first.len()..text.len() - last.len()];
            for part in middle {
                match rest.find(part.as_str()) {
                    Some(at) => rest = &rest[at + part.len()..],
                    None => return false,
                }
            }
            true
        }
    }
}

/// `mcp__server` and `mcp__server__*` (every tool of the server), `mcp__server__tool`,
/// `mcp__*`, `*`.
fn mcp_pattern(tool: &str) -> Result<Regex, String> {
    let regex = match tool {
        "*" => "^.*$".to_owned(),
        t if t.matches("__").count() == 1 && !t.ends_with('*') => format!("^{}(?:__.*)?$", regex::escape(t)),
        t => {
            let parts: Vec<String> = t.split('*').map(regex::escape).collect();
            format!("^{}$", parts.join(".*"))
        }
    };
    Regex::new(&regex).map_err(|e| format!("not a valid tool name pattern: {e}"))
}

/// A URL's host as one spelling: lower case, no trailing dot, an IPv4 address however it
/// was written (`2130706433`, `0x7f.1` and `[::ffff:127.0.0.1]` are all `127.0.0.1`).
fn host_of(url: &str) -> Option<String> {
    canonical_host(&reqwest::Url::parse(url).ok()?)
}

pub fn canonical_host(url: &reqwest::Url) -> Option<String> {
    Some(match url.host()? {
        url::Host::Domain(domain) => domain.trim_end_matches('.').to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_ipv4_mapped().map_or_else(|| ip.to_string(), |v4| v4.to_string()),
    })
}

/// A rule's domain in the same spelling as [`canonical_host`] (wildcards kept).
fn canonical_domain(domain: &str) -> String {
    let domain = domain.trim().to_ascii_lowercase();
    if domain.starts_with("*.") {
        return domain;
    }
    reqwest::Url::parse(&format!("http://{domain}/"))
        .ok()
        .and_then(|u| canonical_host(&u))
        .unwrap_or_else(|| domain.trim_end_matches('.').to_owned())
}

fn domain_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => {
            host.len() > parent.len() && host.ends_with(parent) && host[..host.len() - parent.len()].ends_with('.')
        }
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(text: &str, purpose: Purpose) -> CompiledRule {
        let anchors = Anchors { settings_dir: "/p".into(), project_dir: "/p".into(), home: Some("/h".into()) };
        let origin = Origin { label: "test".into(), dir: "/p".into() };
        CompiledRule::new(PermissionRule::parse(text).unwrap(), origin, purpose, &anchors).unwrap()
    }

    /// The regular expression command patterns used to be compiled to, as the reference.
    fn reference(spec: &str) -> Regex {
        let spec = spec.trim();
        let (body, prefix) = match spec.strip_suffix(":*").or_else(|| spec.strip_suffix(" *")) {
            Some(body) => (body.trim_end(), true),
            None => (spec, false),
        };
        let parts: Vec<String> = body.split('*').map(regex::escape).collect();
        let tail = if prefix { "(?:\\s[\\s\\S]*)?" } else { "" };
        Regex::new(&format!("^{}{tail}$", parts.join("[\\s\\S]*"))).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn wildcards_match_as_the_regular_expressions_did(
            spec in "[ab *:-]{0,8}",
            text in "[ab \n-]{0,10}",
        ) {
            let ours = command_pattern(&spec).unwrap();
            proptest::prop_assert_eq!(ours.is_match(&text), reference(&spec).is_match(&text), "{:?} on {:?}", spec, text);
        }
    }

    #[test]
    fn command_patterns_in_both_spellings() {
        let rule = compile("Bash(npm run test:*)", Purpose::Allow);
        for (command, expected) in
            [("npm run test", true), ("npm run test -- --watch", true), ("npm run testx", false), ("npm run", false)]
        {
            assert_eq!(rule.matches(&Subject::Command(command)), expected, "{command}");
        }
        let rule = compile("Bash(git * main)", Purpose::Allow);
        assert!(rule.matches(&Subject::Command("git push origin main")));
        assert!(!rule.matches(&Subject::Command("git push origin dev")));
        let rule = compile("Bash(ls *)", Purpose::Allow);
        assert!(rule.matches(&Subject::Command("ls")) && rule.matches(&Subject::Command("ls -la")));
        assert!(!rule.matches(&Subject::Command("lsof")));
    }

    #[test]
    fn params_domains_names_and_mcp() {
        fn call<'a>(tool: &'a str, input: &'a Value) -> Subject<'a> {
            Subject::Call { tool, input }
        }
        let bg = compile("Bash(run_in_background:true)", Purpose::Deny);
        assert!(bg.matches(&call("Bash", &json!({"command": "x", "run_in_background": true}))));
        assert!(!bg.matches(&call("Bash", &json!({"command": "x"}))));
        let web = compile("WebFetch(domain:*.example.com)", Purpose::Allow);
        assert!(web.matches(&call("WebFetch", &json!({"url": "https://docs.example.com/a"}))));
        assert!(!web.matches(&call("WebFetch", &json!({"url": "https://example.com/a"}))));
        assert!(!web.matches(&call("WebFetch", &json!({"url": "https://evilexample.com/a"}))));
        // However an address is spelled, it is the same address.
        let local = compile("WebFetch(domain:127.0.0.1)", Purpose::Deny);
        for url in [
            "http://127.0.0.1:8080/",
            "http://[::ffff:127.0.0.1]:8080/",
            "http://[::ffff:7f00:1]/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://127.1/",
        ] {
            assert!(local.matches(&call("WebFetch", &json!({ "url": url }))), "{url}");
        }
        let named = compile("WebFetch(domain:Internal.Example.)", Purpose::Deny);
        assert!(named.matches(&call("WebFetch", &json!({"url": "https://internal.example./x"}))));
        let agent = compile("Task(reviewer)", Purpose::Deny);
        assert!(agent.matches(&call("Agent", &json!({"subagent_type": "reviewer"}))));
        let server = compile("mcp__github", Purpose::Allow);
        assert!(server.matches(&call("mcp__github__create_issue", &json!({}))));
        assert!(!server.matches(&call("mcp__githubx__a", &json!({}))));
        let star = compile("mcp__github__get_*", Purpose::Allow);
        assert!(star.matches(&call("mcp__github__get_issue", &json!({}))));
        assert!(!star.matches(&call("mcp__github__delete_repo", &json!({}))));
    }

    #[test]
    fn families_and_unknown_specifiers() {
        let edit = compile("Edit", Purpose::Deny);
        for tool in ["Edit", "MultiEdit", "Write", "NotebookEdit"] {
            assert!(edit.matches(&Subject::Call { tool, input: &json!({}) }), "{tool}");
        }
        let odd = compile("TodoWrite(whatever)", Purpose::Allow);
        assert!(!odd.matches(&Subject::Call { tool: "TodoWrite", input: &json!({}) }));
        let odd = compile("TodoWrite(whatever)", Purpose::Deny);
        assert!(odd.matches(&Subject::Call { tool: "TodoWrite", input: &json!({}) }));
    }

    #[test]
    fn rule_lists_split_outside_parentheses() {
        let rules = PermissionRule::parse_list(&["Read,Bash(git log:*) Bash(npm run a, b)".into()]).unwrap();
        let shown: Vec<String> = rules.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["Read", "Bash(git log:*)", "Bash(npm run a, b)"]);
        assert!(PermissionRule::parse("Bash(oops").is_err());
        assert!(PermissionRule::parse("(x)").is_err());
    }
}
