//! Shell commands as the permission gate sees them: every simple command a Bash call would
//! run, and every file it would redirect to or from.
//!
//! tree-sitter-bash parses the script; [`analyze`] walks the whole tree, so commands hidden
//! in `&&`/`||`/`;`/`|`/`&` lists, subshells, `$(…)`, backticks, process substitution,
//! function bodies, `if`/`for`/`while`/`case`, heredoc substitutions and assignments are all
//! found. Words are unquoted the way bash would (`'r'm`, `"rm"`, `\rm` are all `rm`); a word
//! computed at run time (`$X`, `$(…)`, `{a,b}`) is marked dynamic. Commands that run other
//! commands are looked through: wrappers (`env`, `timeout`, `nice`, `nohup`, `time`,
//! `command`, `builtin`, `exec`, `stdbuf`, `noglob`, `watch`, `sudo`), `xargs`,
//! `find -exec`, and `bash -c '…'` / `sh -c` (parsed again). What cannot be judged — a parse
//! error, `eval`, a command name computed at run time, an interpreter fed from a pipe or a
//! heredoc, `env -S` — is reported as uncertain, which the gate asks about and never allows.

use std::sync::OnceLock;

use super::code;

mod evaluation;
mod wrappers;

use wrappers::{INTERPRETERS, Unwrapped, has_program_argument, shell_script, unwrap};

/// Longer commands are not analysed: they are asked about.
const MAX_LEN: usize = 10_000;
/// `bash -c` inside `bash -c` … this deep at most.
const MAX_NESTING: usize = 5;

/// Bash's reserved words: never the name of a simple command in a script bash accepts.
const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do", "done", "in",
    "function", "{", "}", "[[", "]]", "coproc",
];

/// A word of a command: its text with quotes removed, and whether part of it is only known
/// when the command runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub dynamic: bool,
}

impl Word {
    fn literal(text: impl Into<String>) -> Word {
        Word { text: text.into(), dynamic: false }
    }
}

/// One simple command, after looking through wrappers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The command as it runs (wrappers removed), name first.
    pub words: Vec<Word>,
    /// The same with the wrappers it was found in (`sudo rm x`, `timeout 5 make`), when
    /// different: deny rules are checked against both.
    pub wrapped: Option<Vec<Word>>,
    /// Arguments it gets from elsewhere (`xargs`, `find -exec {}`): unknown paths.
    pub extra_args: bool,
    /// The folder it runs in relative to the Bash tool's, after a literal `cd`; `None` when a
    /// `cd` with a computed argument came first.
    pub dir: Option<String>,
    /// Variables set for it alone (`NAME=value cmd`, `env NAME=value cmd`), by name.
    pub env: Vec<String>,
}

impl Command {
    pub fn name(&self) -> &str {
        self.words.first().map_or("", |w| w.text.as_str())
    }

    pub fn args(&self) -> &[Word] {
        self.words.get(1..).unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// `>`, `>>`, `&>`, `>|`, `<>`: the file is written.
    pub write: bool,
    pub target: Word,
    /// As for [`Command::dir`].
    pub dir: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    pub commands: Vec<Command>,
    pub redirects: Vec<Redirect>,
    /// Why the script cannot be judged; non-empty means "ask".
    pub uncertain: Vec<String>,
    /// Where the script runs text as code the gate cannot read (see `code`): an awk
    /// program's `system`, `source`, arithmetic on a variable, `${x@P}`…
    pub runs_code: Vec<String>,
    /// Variables the script sets for the commands after it (`PATH=./bin; ls`,
    /// `export GIT_DIR=…`), by name.
    pub env_changes: Vec<String>,
}

/// Every command and redirection in `script`.
pub fn analyze(script: &str) -> Analysis {
    let mut walker = Walker { out: Analysis::default(), dir: Some(String::new()), depth: 0 };
    walker.script(script);
    walker.out
}

fn language() -> &'static tree_sitter::Language {
    static LANGUAGE: OnceLock<tree_sitter::Language> = OnceLock::new();
    LANGUAGE.get_or_init(|| tree_sitter_bash::LANGUAGE.into())
}

/// Parses with this thread's parser (made once: making one costs more than a short parse).
fn parse(text: &str) -> Option<tree_sitter::Tree> {
    thread_local! {
        static PARSER: std::cell::RefCell<Option<tree_sitter::Parser>> = const { std::cell::RefCell::new(None) };
    }
    PARSER.with(|cell| {
        let mut slot = cell.try_borrow_mut().ok()?;
        if slot.is_none() {
            let mut parser = tree_sitter::Parser::new();
            parser.set_language(language()).ok()?;
            *slot = Some(parser);
        }
        slot.as_mut()?.parse(text, None)
    })
}

struct Walker {
    out: Analysis,
    /// The folder commands run in, relative to the tool's (`""`), after literal `cd`s.
    dir: Option<String>,
    /// `bash -c` nesting.
    depth: usize,
}

type Node<'t> = tree_sitter::Node<'t>;

impl Walker {
    fn uncertain(&mut self, why: impl Into<String>) {
        let why = why.into();
        if !self.out.uncertain.contains(&why) {
            self.out.uncertain.push(why);
        }
    }

    fn script(&mut self, script: &str) {
        if script.len() > MAX_LEN {
            return self.uncertain("the command is too long to check");
        }
        if self.depth > MAX_NESTING {
            return self.uncertain("shells are nested too deeply to check");
        }
        // No shell passes a NUL byte on (and the grammar's scanner does not survive one).
        if script.contains('\0') {
            return self.uncertain("the command contains a NUL byte");
        }

        // The grammar's scanner can crash on some non-ASCII text. Bash's syntax is ASCII, and
        // every byte of a multi-byte character is >= 0x80: parsing a copy with those bytes
        // (and control characters) as letters gives the same tree at the same offsets.
        let parsed: String = script
            .bytes()
            .map(|b| if b >= 0x80 || (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) { 'a' } else { char::from(b) })
            .collect();
        let Some(tree) = parse(&parsed) else {
            return self.uncertain("the command could not be parsed");
        };
        let root = tree.root_node();
        if root.has_error() {
            self.uncertain("the command could not be parsed");
        }
        self.node(root, script, false);
    }

    /// Walks any node; `piped` says its stdin comes from a pipe.
    fn node(&mut self, node: Node<'_>, src: &str, piped: bool) {
        match node.kind() {
            "command" => self.command(node, src, piped),
            "redirected_statement" => self.redirected(node, src, piped),
            "pipeline" => {
                let mut cursor = node.walk();
                for (i, child) in node.named_children(&mut cursor).enumerate() {
                    self.node(child, src, piped || i > 0);
                }
            }
            "subshell" | "command_substitution" | "process_substitution" => {
                let saved = self.dir.clone();
                self.children(node, src);
                self.dir = saved;
            }
            "file_redirect" | "heredoc_redirect" | "herestring_redirect" => self.redirect(node, src),
            "ERROR" => {
                self.uncertain("the command could not be parsed");
                self.children(node, src);
            }
            _ => {
                if node.is_missing() {
                    self.uncertain("the command could not be parsed");
                }
                // Constructs that evaluate text as code or set variables for what follows.
                self.evaluation(node, src);
                self.children(node, src);
            }
        }
    }

    fn children(&mut self, node: Node<'_>, src: &str) {
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
        for child in children {
            self.node(child, src, false);
        }
    }

    /// A statement with redirections: `body > file`, `python <<EOF …`.
    fn redirected(&mut self, node: Node<'_>, src: &str, piped: bool) {
        let mut cursor = node.walk();
        let redirects: Vec<Node<'_>> = node.children_by_field_name("redirect", &mut cursor).collect();
        let fed = redirects.iter().any(|r| matches!(r.kind(), "heredoc_redirect" | "herestring_redirect"))
            || redirects.iter().any(|r| is_input_redirect(*r, src));
        if let Some(body) = node.child_by_field_name("body") {
            match body.kind() {
                "command" => self.command(body, src, piped || fed),
                _ => self.node(body, src, piped),
            }
        }
        for redirect in redirects {
            self.redirect(redirect, src);
        }
        // Herestrings and other children outside the `redirect` field.
        let mut cursor = node.walk();
        let rest: Vec<Node<'_>> = node
            .named_children(&mut cursor)
            .filter(|c| Some(*c) != node.child_by_field_name("body") && c.kind() == "herestring_redirect")
            .collect();
        for child in rest {
            self.children(child, src);
        }
    }

    fn redirect(&mut self, node: Node<'_>, src: &str) {
        match node.kind() {
            "file_redirect" => {
                let operator = (0..node.child_count())
                    .filter_map(|i| node.child(i))
                    .find(|c| !c.is_named())
                    .map_or("", |c| text(c, src));
                let mut cursor = node.walk();
                let destinations: Vec<Node<'_>> = node.children_by_field_name("destination", &mut cursor).collect();
                for destination in destinations {
                    let target = self.word(destination, src);
                    let duplicates_fd = matches!(operator, ">&" | "<&" | ">&-" | "<&-")
                        && (target.text.chars().all(|c| c.is_ascii_digit() || c == '-'));
                    if duplicates_fd {
                        continue;
                    }
                    let write = operator.contains('>');
                    self.out.redirects.push(Redirect { write, target, dir: self.dir.clone() });
                }
            }
            _ => {
                // Heredocs and herestrings hold no file, but their text may hold `$(…)`.
                self.children(node, src);
            }
        }
    }

    /// A simple command: its assignments, words and own redirections.
    fn command(&mut self, node: Node<'_>, src: &str, piped: bool) {
        let mut words = Vec::new();
        let mut env = Vec::new();
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
        let mut fed = piped;
        for child in children {
            match child.kind() {
                "variable_assignment" => {
                    match child.child_by_field_name("name") {
                        Some(name) if name.kind() == "variable_name" => env.push(text(name, src).to_owned()),
                        _ => self.runs_code("an assignment to a computed name can run commands"),
                    }
                    self.children(child, src);
                }
                "command_name" => {
                    let name =
                        child.named_child(0).map_or_else(|| Word::literal(text(child, src)), |n| self.word(n, src));
                    words.push(name);
                }
                "file_redirect" => {
                    fed |= is_input_redirect(child, src);
                    self.redirect(child, src);
                }
                "herestring_redirect" => {
                    fed = true;
                    self.redirect(child, src);
                }
                _ => {
                    let word = self.word(child, src);
                    words.push(word);
                }
            }
        }
        if words.is_empty() {
            // Assignments alone set variables for the rest of the script.
            for name in env.iter().filter(|n| code::changes_environment(n)) {
                self.env_change(name);
            }
            return;
        }
        let before = self.out.commands.len();
        self.simple(words, fed);
        for command in &mut self.out.commands[before..] {
            command.env.extend(env.iter().cloned());
        }
    }

    /// A command's words: looks through wrappers and nested shells, records the rest.
    fn simple(&mut self, words: Vec<Word>, fed: bool) {
        if !words[0].dynamic && RESERVED.contains(&words[0].text.as_str()) {
            // Bash would refuse this as a syntax error; the grammar took it for a command.
            self.uncertain(format!("`{}` is out of place: the command could not be parsed", words[0].text));
        }
        if words[0].dynamic {
            self.uncertain(format!("the command name `{}` is only known when it runs", words[0].text));
        }
        let unwrapped = unwrap(&words);
        match unwrapped {
            Unwrapped::Command { words: inner, extra_args, env } => {
                let name = inner.first().map_or("", |w| w.text.as_str());
                let base = name.rsplit('/').next().unwrap_or(name);
                match base {
                    "eval" => self.uncertain("`eval` runs text built at run time"),
                    "trap" if inner.len() > 2 => self.uncertain("`trap` runs text later"),
                    _ => {}
                }
                self.command_evaluation(&inner);
                if INTERPRETERS.contains(&base) && fed && !has_program_argument(&inner) {
                    self.uncertain(format!("`{base}` runs a program it reads from a pipe or heredoc"));
                }
                if let Some(script) = shell_script(&inner) {
                    match script {
                        Some(script) => self.nested_script(&script),
                        None => self.uncertain(format!("`{base} -c` runs text built at run time")),
                    }
                }
                let is_cd = base == "cd";
                let wrapped = (inner != words).then_some(words);
                let dir = self.dir.clone();
                self.out.commands.push(Command { words: inner.clone(), wrapped, extra_args, dir, env });
                if is_cd {
                    self.change_dir(&inner);
                }
            }
            Unwrapped::Nested { outer, inner } => {
                // The outer command (find, xargs) is a command too; the inner one runs from it.
                self.plain(outer);
                if !inner.is_empty() {
                    self.simple_extra(inner, false);
                }
            }
            Unwrapped::Script { outer, script } => {
                // `watch 'a; b'`: the arguments are joined and run by a shell.
                self.plain(outer);
                match script {
                    Some(script) => self.nested_script(&script),
                    None => self.uncertain("a shell runs text built at run time"),
                }
            }
            Unwrapped::Uncertain(why) => {
                self.uncertain(why);
                self.plain(words);
            }
        }
    }

    /// Records a command as written, in the current folder.
    fn plain(&mut self, words: Vec<Word>) {
        let dir = self.dir.clone();
        self.out.commands.push(Command { words, wrapped: None, extra_args: false, dir, env: Vec::new() });
    }

    /// A script a command hands to a shell (`bash -c`, `watch`): analysed as part of this
    /// one, one level deeper; a `cd` in it stays in it.
    fn nested_script(&mut self, script: &str) {
        self.depth += 1;
        let saved = self.dir.clone();
        self.script(script);
        self.dir = saved;
        self.depth -= 1;
    }

    /// A command run by `xargs` or `find -exec`: it gets more arguments than it shows.
    fn simple_extra(&mut self, words: Vec<Word>, fed: bool) {
        let before = self.out.commands.len();
        self.simple(words, fed);
        for command in &mut self.out.commands[before..] {
            command.extra_args = true;
        }
    }

    fn change_dir(&mut self, words: &[Word]) {
        let target = words.iter().skip(1).find(|w| !w.text.starts_with('-') || w.text == "-");
        self.dir = match (target, self.dir.take()) {
            (Some(w), Some(current)) if !w.dynamic && w.text != "-" => Some(join(&current, &w.text)),
            // `cd` alone goes home; `cd -`, `cd $X` go somewhere we cannot know.
            (None, _) => Some("~".into()),
            _ => None,
        };
    }

    /// The word an argument node stands for.
    fn word(&mut self, node: Node<'_>, src: &str) -> Word {
        match node.kind() {
            "word" | "number" | "variable_name" => Word::literal(unescape(text(node, src))),
            "raw_string" => {
                let raw = text(node, src);
                Word::literal(raw.get(1..raw.len().saturating_sub(1)).unwrap_or(""))
            }
            "ansi_c_string" => {
                let raw = text(node, src);
                let inner = raw.get(2..raw.len().saturating_sub(1)).unwrap_or("");
                // `$'\x72\x6d'` spells `rm`: escapes are not worked out, so such a word is dynamic.
                Word { text: inner.to_owned(), dynamic: inner.contains('\\') }
            }
            "string" | "translated_string" => {
                let mut out = Word::literal("");
                let mut cursor = node.walk();
                let parts: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
                for part in parts {
                    match part.kind() {
                        "string_content" => out.text.push_str(&unescape_double(text(part, src))),
                        _ => {
                            let inner = self.word(part, src);
                            out.text.push_str(&inner.text);
                            out.dynamic |= inner.dynamic;
                        }
                    }
                }
                out
            }
            "concatenation" => {
                let mut out = Word::literal("");
                let mut cursor = node.walk();
                let parts: Vec<Node<'_>> = node.children(&mut cursor).collect();
                for part in parts {
                    let inner = if part.is_named() { self.word(part, src) } else { Word::literal(text(part, src)) };
                    out.text.push_str(&inner.text);
                    out.dynamic |= inner.dynamic;
                }
                out
            }
            _ => {
                // Expansions, substitutions, brace and arithmetic expressions: known only
                // when the command runs. Commands inside them are still found.
                self.node(node, src, false);
                Word { text: text(node, src).to_owned(), dynamic: true }
            }
        }
    }
}

fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    src.get(node.byte_range()).unwrap_or("")
}

fn is_input_redirect(node: Node<'_>, src: &str) -> bool {
    node.kind() == "file_redirect"
        && (0..node.child_count()).filter_map(|i| node.child(i)).any(|c| !c.is_named() && text(c, src) == "<")
}

/// Backslashes in an unquoted word quote the next character.
fn unescape(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(next) => out.push(next),
            },
            _ => out.push(c),
        }
    }
    out
}

/// Inside double quotes a backslash quotes only `$`, `` ` ``, `"`, `\` and a newline.
fn unescape_double(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('$' | '`' | '"' | '\\' | '\n')) {
            if let Some(next) = chars.next()
                && next != '\n'
            {
                out.push(next);
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// `current` then `cd target`, as a path relative to where the tool started (or absolute,
/// or under `~`).
fn join(current: &str, target: &str) -> String {
    if target.starts_with('/') || target.starts_with('~') || current.is_empty() {
        return target.to_owned();
    }
    format!("{}/{target}", current.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(script: &str) -> Vec<String> {
        analyze(script)
            .commands
            .iter()
            .map(|c| c.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[test]
    fn every_command_of_lists_pipes_and_substitutions_is_found() {
        assert_eq!(
            names("git status && rm -rf x || echo hi; ls | wc -l & sleep 1"),
            ["git status", "rm -rf x", "echo hi", "ls", "wc -l", "sleep 1"]
        );
        assert_eq!(names("echo $(rm a) `rm b` <(rm c)"), ["rm a", "rm b", "rm c", "echo $(rm a) `rm b` <(rm c)"]);
        assert_eq!(names("(cd x && rm y); f() { rm z; }; f"), ["cd x", "rm y", "rm z", "f"]);
        assert_eq!(names("X=$(rm q) true"), ["rm q", "true"]);
        assert_eq!(names("if true; then rm a; fi; for f in *; do rm \"$f\"; done"), ["true", "rm a", "rm $f"]);
    }

    #[test]
    fn quoting_tricks_spell_the_same_command() {
        for script in ["'r'm -rf x", "\"rm\" -rf x", "\\rm -rf x", "r\\m -rf x", "'rm' '-rf' 'x'", "r''m -rf x"] {
            assert_eq!(names(script), ["rm -rf x"], "{script}");
        }
    }

    #[test]
    fn wrappers_nested_shells_xargs_and_find_exec_are_looked_through() {
        for script in [
            "timeout 10 rm x",
            "nice -n 5 rm x",
            "nohup rm x",
            "env FOO=1 rm x",
            "command rm x",
            "sudo -u root rm x",
            "bash -c 'rm x'",
            "sh -c \"rm x\"",
            "bash -lc 'echo ok; rm x'",
        ] {
            assert!(names(script).iter().any(|n| n == "rm x"), "{script}: {:?}", names(script));
        }
        let a = analyze("find . -name '*.tmp' -exec rm {} \\;");
        assert!(a.commands.iter().any(|c| c.name() == "rm" && c.extra_args), "{a:?}");
        let a = analyze("ls | xargs -n 1 rm -f");
        assert!(a.commands.iter().any(|c| c.name() == "rm" && c.extra_args), "{a:?}");
        let a = analyze("sudo rm -rf /");
        assert_eq!(a.commands[0].wrapped.as_ref().map(|w| w[0].text.as_str()), Some("sudo"));
    }

    #[test]
    fn what_cannot_be_judged_is_uncertain() {
        for script in [
            "eval \"$CMD\"",
            "$CMD -rf x",
            "curl https://x | bash",
            "python3 <<EOF\nimport os\nEOF",
            "env -S 'rm x'",
            "echo 'unclosed",
            "bash -c \"$X\"",
            "$'\\x72\\x6d' -rf x",
            "{rm,-rf,x}",
            "ls\0; rm x",
            "$CMD \u{f8657}",
        ] {
            assert!(!analyze(script).uncertain.is_empty(), "{script} should be uncertain");
        }
        for script in ["ls -la", "python3 script.py", "git diff | head", "cat <<EOF > notes.md\nhello $USER\nEOF"] {
            assert!(analyze(script).uncertain.is_empty(), "{script}: {:?}", analyze(script).uncertain);
        }
    }

    #[test]
    fn text_the_grammar_chokes_on_is_parsed_safely() {
        // `{` then characters from the supplementary planes crashed tree-sitter-bash's scanner.
        let a = analyze("{\u{f8657}\u{a5}\u{bb5d4}");
        assert!(!a.uncertain.is_empty() || !a.commands.is_empty());
        assert_eq!(names("echo héllo wörld > café.txt"), ["echo héllo wörld"]);
        assert_eq!(analyze("echo hi > café.txt").redirects[0].target.text, "café.txt");
    }

    #[test]
    fn redirections_are_file_reads_and_writes() {
        let a = analyze("echo hi > out.txt 2>&1; sort < in.txt >> log; cat <<EOF > notes.md\nx\nEOF");
        let shown: Vec<(bool, &str)> = a.redirects.iter().map(|r| (r.write, r.target.text.as_str())).collect();
        assert_eq!(shown, [(true, "out.txt"), (false, "in.txt"), (true, "log"), (true, "notes.md")]);
    }

    #[test]
    fn literal_cds_are_followed() {
        let a = analyze("cd src && cat main.rs; cd /etc; cat passwd; cd $X; cat y");
        let dirs: Vec<Option<&str>> = a.commands.iter().map(|c| c.dir.as_deref()).collect();
        assert_eq!(dirs, [Some(""), Some("src"), Some("src"), Some("/etc"), Some("/etc"), None]);
    }
}
