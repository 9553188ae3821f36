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

/// Longer commands are not analysed: they are asked about.
const MAX_LEN: usize = 10_000;
/// `bash -c` inside `bash -c` … this deep at most.
const MAX_NESTING: usize = 5;

/// Interpreters that run a program they read from stdin when given none.
const INTERPRETERS: &[&str] = &[
    "bash",
    "sh",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "python",
    "python3",
    "python2",
    "node",
    "nodejs",
    "perl",
    "ruby",
    "php",
    "lua",
    "deno",
    "bun",
    "osascript",
    "pwsh",
    "tclsh",
    "Rscript",
];

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

    fn runs_code(&mut self, why: impl Into<String>) {
        let why = why.into();
        if !self.out.runs_code.contains(&why) {
            self.out.runs_code.push(why);
        }
    }

    fn env_change(&mut self, name: &str) {
        if !self.out.env_changes.iter().any(|n| n == name) {
            self.out.env_changes.push(name.to_owned());
        }
    }

    /// `[[ $x -eq 0 ]]` evaluates both sides as arithmetic (`[ … ]` does not); `[[ -v $x ]]`
    /// takes a name from a variable.
    fn test_command(&mut self, node: Node<'_>, src: &str) {
        let all = text(node, src);
        if !all.starts_with("[[") {
            // `[ -v 'a[$(…)]' ]` evaluates the index of the name it tests.
            let words: Vec<&str> = all.split_whitespace().collect();
            let named =
                words.windows(2).any(|w| matches!(w[0], "-v" | "-R") && (w[1].contains('[') || w[1].contains('$')));
            if named {
                self.runs_code("`[ -v … ]` evaluates an array index, which can run commands");
            }
            return;
        }
        let arithmetic = ["-eq", "-ne", "-lt", "-le", "-gt", "-ge"].iter().any(|op| all.contains(op));
        let named = all.contains("-v ") || all.contains("-R ");
        let operands = all.trim_start_matches("[[").trim_end_matches("]]");
        let variable = operands.split_whitespace().any(|w| {
            !w.starts_with('-')
                && w.contains(|c: char| c.is_ascii_alphabetic() || c == '$')
                && !matches!(w, "$?" | "$#" | "\"$?\"" | "\"$#\"")
        });
        if (arithmetic || named) && variable {
            self.runs_code("`[[ … ]]` evaluates a variable as arithmetic, which can run commands");
        }
    }

    /// `export`, `declare -x`, `local`, `readonly`: what they export or compute.
    fn declaration(&mut self, node: Node<'_>, src: &str) {
        let all = text(node, src);
        let keyword = all.split_whitespace().next().unwrap_or("");
        let mut cursor = node.walk();
        let parts: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
        let flags: Vec<&str> = parts.iter().map(|p| text(*p, src)).filter(|t| t.starts_with('-')).collect();
        let exports = keyword == "export" || flags.iter().any(|f| f.contains('x'));
        if flags.iter().any(|f| f.contains('i')) {
            self.runs_code(format!("`{keyword} -i` evaluates values as arithmetic, which can run commands"));
        }
        if flags.iter().any(|f| f.contains('n')) {
            self.runs_code(format!("`{keyword} -n` makes a name refer to another, which can run commands"));
        }
        for part in parts {
            let name = match part.kind() {
                "variable_assignment" => part.child_by_field_name("name").map(|n| text(n, src)),
                "variable_name" | "word" if !text(part, src).starts_with('-') => Some(text(part, src)),
                "word" => None,
                _ => {
                    // A computed name (`declare "$x=1"`) can be `a[$(…)]`.
                    self.runs_code(format!("`{keyword}` assigns to a computed name"));
                    None
                }
            };
            if let Some(name) = name
                && (code::changes_environment(name) || (exports && !code::is_safe_env(name)))
            {
                self.env_change(name);
            }
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
            "compound_statement" if text(node, src).starts_with("((") => {
                self.runs_code("arithmetic `(( … ))` evaluates variables, which can run commands");
                self.children(node, src);
            }
            "c_style_for_statement" => {
                self.runs_code("arithmetic in `for (( … ))` evaluates variables, which can run commands");
                self.children(node, src);
            }
            "arithmetic_expansion" => {
                let inner = text(node, src);
                if inner.trim_start_matches("$((").contains(|c: char| c.is_ascii_alphabetic() || c == '$') {
                    self.runs_code("arithmetic `$(( … ))` on a variable can run commands");
                }
                self.children(node, src);
            }
            "test_command" => {
                self.test_command(node, src);
                self.children(node, src);
            }
            "subscript" => {
                let computed = node
                    .child_by_field_name("index")
                    .is_some_and(|i| !text(i, src).chars().all(|c| c.is_ascii_digit() || matches!(c, '@' | '*' | '-')));
                if computed {
                    self.runs_code("an array index is evaluated as arithmetic, which can run commands");
                }
                self.children(node, src);
            }
            "expansion" => {
                let inner = text(node, src);
                if inner.starts_with("${!") && !inner.ends_with("[@]}") && !inner.ends_with("[*]}") {
                    self.runs_code("`${!name}` uses a variable's value as a name, which can run commands");
                }
                if computed_substring(inner) {
                    self.runs_code("`${name:offset}` evaluates the offset as arithmetic, which can run commands");
                }
                if inner.contains("@P") {
                    self.runs_code("`${name@P}` expands a value as a prompt, which can run commands");
                }
                self.children(node, src);
            }
            "variable_assignment" => {
                if let Some(name) = node.child_by_field_name("name")
                    && name.kind() == "variable_name"
                    && code::changes_environment(text(name, src))
                {
                    self.env_change(text(name, src));
                }
                self.children(node, src);
            }
            "declaration_command" => {
                self.declaration(node, src);
                self.children(node, src);
            }
            "array" => {
                // `arr=([x]=1)`: an index in an array's value is arithmetic too.
                let computed = node.named_children(&mut node.walk()).any(|item| {
                    let item = text(item, src);
                    item.starts_with('[')
                        && item
                            .split_once("]=")
                            .is_some_and(|(index, _)| !index[1..].chars().all(|c| c.is_ascii_digit() || c == '-'))
                });
                if computed {
                    self.runs_code("an array index is evaluated as arithmetic, which can run commands");
                }
                self.children(node, src);
            }
            "for_statement" | "select_statement" => {
                // `for PATH in ./bin; do ls; done` sets the variable for the body.
                if let Some(variable) = node.child_by_field_name("variable")
                    && code::changes_environment(text(variable, src))
                {
                    self.env_change(text(variable, src));
                }
                self.children(node, src);
            }
            "ERROR" => {
                self.uncertain("the command could not be parsed");
                self.children(node, src);
            }
            _ => {
                if node.is_missing() {
                    self.uncertain("the command could not be parsed");
                }
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
                if is_assignment(name) {
                    // `timeout 5 A=1 cmd` runs a program named `A=1`: whatever was meant, it
                    // is not what it looks like.
                    self.uncertain(format!("`{name}` is not a command"));
                }
                if takes_names(base) && inner[1..].iter().any(|w| w.dynamic || w.text.contains('[')) {
                    self.runs_code(format!("`{base}` assigns to a computed name, which can run commands"));
                }
                if matches!(base, "test" | "[")
                    && inner
                        .windows(2)
                        .any(|w| matches!(w[0].text.as_str(), "-v" | "-R") && (w[1].dynamic || w[1].text.contains('[')))
                {
                    self.runs_code(format!("`{base} -v` evaluates an array index, which can run commands"));
                }
                // `printf -v HOME …`, `read PATH`: builtins that set variables by name.
                for name in assigned_names(&inner) {
                    if code::changes_environment(name) {
                        self.env_change(name);
                    }
                }
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

enum Unwrapped {
    Command {
        words: Vec<Word>,
        extra_args: bool,
        /// Variables a wrapper set for it (`env NAME=value cmd`).
        env: Vec<String>,
    },
    /// A command that joins its arguments and hands them to a shell (`watch`); `None` when
    /// some of them are computed.
    Script {
        outer: Vec<Word>,
        script: Option<String>,
    },
    /// `find … -exec cmd …`, `xargs cmd`: the outer command and the one it runs.
    Nested {
        outer: Vec<Word>,
        inner: Vec<Word>,
    },
    Uncertain(String),
}

/// Runners that start the command after them (`uv run pytest`, `bundle exec rake`).
const RUNNERS: &[(&str, &str)] = &[
    ("uv", "run"),
    ("poetry", "run"),
    ("pipenv", "run"),
    ("pdm", "run"),
    ("hatch", "run"),
    ("bundle", "exec"),
    ("mise", "exec"),
    ("npm", "exec"),
    ("pnpm", "exec"),
    ("yarn", "exec"),
];

/// Looks through the commands that only run another command.
fn unwrap(words: &[Word]) -> Unwrapped {
    let mut rest: &[Word] = words;
    let mut env = Vec::new();
    loop {
        let Some(first) = rest.first() else {
            return Unwrapped::Command { words: Vec::new(), extra_args: false, env };
        };
        if first.dynamic {
            return Unwrapped::Command { words: rest.to_vec(), extra_args: false, env };
        }
        let name = first.text.rsplit('/').next().unwrap_or(&first.text);
        let args = &rest[1..];
        let next: Option<&[Word]> = match name {
            "nohup" | "builtin" | "noglob" | "busybox" => Some(args),
            "exec" => Some(skip_options(args, &["-a"])),
            "time" => Some(skip_options(args, &[])),
            "command" => {
                if args.first().is_some_and(|a| a.text == "-v" || a.text == "-V") {
                    None
                } else {
                    Some(skip_options(args, &[]))
                }
            }
            "nice" => Some(skip_options(args, &["-n", "--adjustment"])),
            "timeout" => {
                let after = skip_options(args, &["-s", "-k", "--signal", "--kill-after"]);
                Some(after.get(1..).unwrap_or_default())
            }
            "stdbuf" => Some(skip_options(args, &["-i", "-o", "-e", "--input", "--output", "--error"])),
            "sudo" | "doas" => Some(skip_options(
                args,
                &["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "--user", "--group", "--host", "--prompt"],
            )),
            "watch" => {
                let after = skip_options(args, &["-n", "-q", "--interval", "--equexit"]);
                let options = &args[..args.len() - after.len()];
                let exec = options.iter().any(|a| {
                    a.text == "--exec" || (a.text.starts_with('-') && !a.text.starts_with("--") && a.text.contains('x'))
                });
                if exec {
                    Some(after)
                } else {
                    let script = (!after.iter().any(|w| w.dynamic)).then(|| joined_text(after));
                    return Unwrapped::Script { outer: rest[..rest.len() - after.len()].to_vec(), script };
                }
            }
            "env" => {
                let splits = |a: &Word| {
                    a.text.starts_with("--split-string")
                        || (a.text.starts_with('-') && !a.text.starts_with("--") && a.text.contains('S'))
                };
                if args.iter().any(splits) {
                    return Unwrapped::Uncertain("`env -S` splits text into a command".into());
                }
                let after = skip_options(args, &["-u", "-C", "--unset", "--chdir"]);
                // env takes any `NAME=value` (not only shell identifiers) as an assignment.
                let assigns = |w: &Word| !w.dynamic && w.text.find('=').is_some_and(|at| at > 0);
                let start = after.iter().position(|w| !assigns(w)).unwrap_or(after.len());
                env.extend(after[..start].iter().filter_map(|w| w.text.split_once('=').map(|(n, _)| n.to_owned())));
                Some(&after[start..])
            }
            "xargs" => {
                let after = skip_options(
                    args,
                    &[
                        "-a",
                        "-d",
                        "-E",
                        "-I",
                        "-L",
                        "-n",
                        "-P",
                        "-s",
                        "--arg-file",
                        "--delimiter",
                        "--eof",
                        "--replace",
                        "--max-lines",
                        "--max-args",
                        "--max-procs",
                        "--max-chars",
                    ],
                );
                let mut inner = after.to_vec();
                if inner.is_empty() {
                    inner.push(Word::literal("echo"));
                }
                return Unwrapped::Nested { outer: rest[..rest.len() - after.len()].to_vec(), inner };
            }
            "find" => {
                let at = args.iter().position(|w| matches!(w.text.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir"));
                if let Some(at) = at {
                    let end = args[at + 1..]
                        .iter()
                        .position(|w| w.text == ";" || w.text == "+")
                        .map_or(args.len(), |p| at + 1 + p);
                    let inner = args[at + 1..end].to_vec();
                    let mut outer = vec![rest[0].clone()];
                    outer.extend(args[..at].iter().cloned());
                    outer.extend(args[end..].iter().skip(1).cloned());
                    return Unwrapped::Nested { outer, inner };
                }
                None
            }
            runner if RUNNERS.iter().any(|(r, verb)| *r == runner && args.first().is_some_and(|a| a.text == *verb)) => {
                Some(skip_options(&args[1..], &[]))
            }
            _ => None,
        };
        match next {
            Some(next) if !next.is_empty() => rest = next,
            // Not a wrapper, or one with nothing to run (`sudo` alone): the command itself.
            _ => return Unwrapped::Command { words: rest.to_vec(), extra_args: false, env },
        }
    }
}

fn joined_text(words: &[Word]) -> String {
    words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")
}

/// `${name:offset}` / `${name:offset:length}` with an offset or length that is not a plain
/// number (`${x:-default}` and the other `:` operators are not substrings).
fn computed_substring(expansion: &str) -> bool {
    let Some(body) = expansion.strip_prefix("${").and_then(|b| b.strip_suffix('}')) else { return false };
    let Some((name, rest)) = body.split_once(':') else { return false };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return false;
    }
    if rest.starts_with(['-', '=', '?', '+']) {
        return false;
    }
    rest.chars().any(|c| c.is_ascii_alphabetic() || c == '$' || c == '_' || c == '[')
}

/// The variables a builtin sets by name: `printf -v NAME`, `read [-a] NAME…`, `mapfile
/// NAME`, `getopts SPEC NAME`, `wait -p NAME`.
fn assigned_names(words: &[Word]) -> Vec<&str> {
    let name = words.first().map_or("", |w| w.text.as_str());
    let args = words.get(1..).unwrap_or_default();
    let value_of =
        |flag: &str| args.windows(2).filter(|w| w[0].text == flag).map(|w| w[1].text.as_str()).collect::<Vec<_>>();
    let positional = |with_value: &[&str]| {
        let mut out = Vec::new();
        let mut skip = false;
        for arg in args {
            if std::mem::take(&mut skip) {
                continue;
            }
            if arg.text.starts_with('-') {
                skip = with_value.contains(&arg.text.as_str());
                continue;
            }
            out.push(arg.text.as_str());
        }
        out
    };
    match name {
        "printf" => value_of("-v"),
        "wait" => value_of("-p"),
        "read" => {
            let mut names = positional(&["-a", "-d", "-i", "-n", "-N", "-p", "-t", "-u"]);
            names.extend(value_of("-a"));
            names
        }
        "mapfile" | "readarray" => {
            positional(&["-d", "-n", "-O", "-s", "-u", "-C", "-c"]).into_iter().last().into_iter().collect()
        }
        "getopts" => positional(&[]).into_iter().nth(1).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Builtins whose arguments are variable names (a name computed at run time, or with a
/// subscript, is evaluated as arithmetic).
fn takes_names(name: &str) -> bool {
    matches!(name, "read" | "unset" | "getopts" | "wait" | "mapfile" | "readarray")
}

/// Skips leading options; those in `with_value` take the next word as their value (unless
/// written joined, like `-n5` or `--signal=KILL`).
fn skip_options<'w>(args: &'w [Word], with_value: &[&str]) -> &'w [Word] {
    let mut i = 0;
    while let Some(word) = args.get(i) {
        let text = word.text.as_str();
        if text == "--" {
            return &args[i + 1..];
        }
        if !text.starts_with('-') || text == "-" || word.dynamic {
            break;
        }
        i += 1;
        if with_value.contains(&text) {
            i += 1;
        }
    }
    args.get(i..).unwrap_or_default()
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=')
        .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// `bash -c SCRIPT`: `Some(Some(script))`, `Some(None)` when the script is computed,
/// `None` when this is not a shell running a `-c` script.
fn shell_script(words: &[Word]) -> Option<Option<String>> {
    let name = words.first()?.text.rsplit('/').next()?;
    if !matches!(name, "bash" | "sh" | "zsh" | "dash" | "ksh") {
        return None;
    }
    let mut args = words[1..].iter();
    while let Some(arg) = args.next() {
        let text = arg.text.as_str();
        if text.starts_with('-') && !text.starts_with("--") && text[1..].contains('c') {
            return Some(args.next().and_then(|s| (!s.dynamic).then(|| s.text.clone())));
        }
        if text == "-o" || text == "-O" {
            args.next();
            continue;
        }
        if !text.starts_with('-') && !text.starts_with('+') {
            return None;
        }
    }
    None
}

/// Whether an interpreter was given a program (a file or `-c`/`-e` code) rather than
/// reading one from stdin.
fn has_program_argument(words: &[Word]) -> bool {
    words[1..].iter().any(|w| {
        let t = w.text.as_str();
        w.dynamic || (!t.starts_with('-') && !t.is_empty()) || matches!(t, "-c" | "-e" | "-m" | "-r" | "--eval")
    })
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
