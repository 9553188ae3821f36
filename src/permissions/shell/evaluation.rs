//! What a script evaluates as code or sets for what follows, found in the syntax tree:
//! arithmetic over variables (`(( ))`, `$(( ))`, `[[ -eq ]]`, `for (( ))`, array indexes,
//! substring offsets), a variable's value used as a name (`${!x}`, `test -v`, `declare -n`,
//! `printf -v`), `${x@P}`, and assignments to the environment (`PATH=./bin; ls`, `export`,
//! `for PATH in …`, `read HOME`). Each is reported to the gate (see `code`).

use super::wrappers::is_assignment;
use super::{Node, Walker, Word, code, text};

impl Walker {
    /// The checks a simple command (wrappers removed) gets besides being recorded.
    pub(super) fn command_evaluation(&mut self, inner: &[Word]) {
        let name = inner.first().map_or("", |w| w.text.as_str());
        let base = name.rsplit('/').next().unwrap_or(name);
        if is_assignment(name) {
            // `timeout 5 A=1 cmd` runs a program named `A=1`: whatever was meant, it
            // is not what it looks like.
            self.uncertain(format!("`{name}` is not a command"));
        }
        if takes_names(base) && inner.get(1..).unwrap_or_default().iter().any(|w| w.dynamic || w.text.contains('[')) {
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
        for name in assigned_names(inner) {
            if code::changes_environment(name) {
                self.env_change(name);
            }
        }
    }

    /// The checks a node gets besides being walked.
    pub(super) fn evaluation(&mut self, node: Node<'_>, src: &str) {
        match node.kind() {
            "compound_statement" if text(node, src).starts_with("((") => {
                self.runs_code("arithmetic `(( … ))` evaluates variables, which can run commands");
            }
            "c_style_for_statement" => {
                self.runs_code("arithmetic in `for (( … ))` evaluates variables, which can run commands");
            }
            "arithmetic_expansion" => {
                let inner = text(node, src);
                if inner.trim_start_matches("$((").contains(|c: char| c.is_ascii_alphabetic() || c == '$') {
                    self.runs_code("arithmetic `$(( … ))` on a variable can run commands");
                }
            }
            "test_command" => {
                self.test_command(node, src);
            }
            "subscript" => {
                let computed = node
                    .child_by_field_name("index")
                    .is_some_and(|i| !text(i, src).chars().all(|c| c.is_ascii_digit() || matches!(c, '@' | '*' | '-')));
                if computed {
                    self.runs_code("an array index is evaluated as arithmetic, which can run commands");
                }
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
            }
            "variable_assignment" => {
                if let Some(name) = node.child_by_field_name("name")
                    && name.kind() == "variable_name"
                    && code::changes_environment(text(name, src))
                {
                    self.env_change(text(name, src));
                }
            }
            "declaration_command" => {
                self.declaration(node, src);
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
            }
            "for_statement" | "select_statement" => {
                // `for PATH in ./bin; do ls; done` sets the variable for the body.
                if let Some(variable) = node.child_by_field_name("variable")
                    && code::changes_environment(text(variable, src))
                {
                    self.env_change(text(variable, src));
                }
            }
            _ => {}
        }
    }

    pub(super) fn runs_code(&mut self, why: impl Into<String>) {
        let why = why.into();
        if !self.out.runs_code.contains(&why) {
            self.out.runs_code.push(why);
        }
    }

    pub(super) fn env_change(&mut self, name: &str) {
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
