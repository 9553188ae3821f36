//! Commands that run text as code where the gate cannot read it, and the variables that
//! change what a command runs. An awk program's `system()`, `source`, an alias, a git alias
//! or `-c core.pager=…`, `printf -v 'a[$(…)]'`, `BASH_ENV=…`, `PATH=./bin:$PATH`: the
//! command's name says nothing about what it will run. Such a command is never read-only,
//! no allow rule written for its name covers it, and when a deny rule names a command it
//! is asked, because what it runs might be that command. (What a parser cannot see at all —
//! a script file's contents — is the sandbox's to bound.)

use super::shell::Word;

/// Variables a command may be given without changing what it runs: locale, colour,
/// terminal size, log levels.
const SAFE_ENV: &[&str] = &[
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "TZ",
    "TERM",
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "CI",
    "DEBUG",
    "RUST_BACKTRACE",
    "RUST_LOG",
    "NODE_ENV",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONIOENCODING",
];

/// Whether setting `name` for a command leaves what it runs unchanged.
pub fn is_safe_env(name: &str) -> bool {
    SAFE_ENV.contains(&name) || name.starts_with("LC_")
}

/// Whether a variable set for the rest of a script (`NAME=…; cmd`, `export NAME`) can
/// change what later commands run: the shell's own and the environment's (by convention
/// upper case), not a script's lower-case locals.
pub fn changes_environment(name: &str) -> bool {
    !is_safe_env(name) && !name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
}

/// Interpreters, and the options that give them code on the command line.
const INLINE_CODE: &[(&str, &[&str])] = &[
    ("perl", &["-e", "-E"]),
    ("ruby", &["-e"]),
    ("python", &["-c"]),
    ("python3", &["-c"]),
    ("python2", &["-c"]),
    ("node", &["-e", "--eval", "-p", "--print"]),
    ("nodejs", &["-e", "--eval", "-p", "--print"]),
    ("deno", &["eval"]),
    ("bun", &["-e", "--eval"]),
    ("php", &["-r"]),
    ("lua", &["-e"]),
    ("Rscript", &["-e"]),
    ("osascript", &["-e"]),
    ("pwsh", &["-c", "-Command"]),
    ("tclsh", &[]),
];

/// git configuration that runs programs (or renames commands) when set.
const GIT_CODE_KEYS: &[&str] = &[
    "alias.",
    "core.",
    "diff.",
    "merge.",
    "filter.",
    "credential.",
    "gpg.",
    "pager.",
    "sequence.",
    "uploadpack.",
    "receive.",
    "remote.",
    "url.",
    "include.",
    "includeif.",
    "init.",
    "protocol.",
    "http.",
    "ssh.",
];

/// Why this command (wrappers removed, name first) runs code the gate cannot read.
pub fn runs_code(words: &[Word]) -> Option<String> {
    let name = words.first()?.text.rsplit('/').next().unwrap_or("");
    let args = &words[1..];
    let has = |flag: &str| args.iter().any(|w| w.text == flag);
    let why = |what: &str| Some(format!("`{name}` {what}"));
    match name {
        "source" | "." => why("runs the commands of a file"),
        "alias" if args.iter().any(|w| w.text.contains('=') || w.dynamic) => why("defines a command"),
        "shopt" if args.iter().any(|w| w.text == "expand_aliases") => why("turns on aliases"),
        "let" => why("evaluates arithmetic, which can run commands"),
        "printf" => {
            let target = args.iter().position(|w| w.text == "-v").and_then(|i| args.get(i + 1));
            target.filter(|t| t.dynamic || t.text.contains('[')).and(why("-v assigns to a computed name"))
        }
        "mapfile" | "readarray" if has("-C") => why("-C runs a callback"),
        "complete" | "compgen" if has("-C") => why("-C runs a command"),
        "bind" if has("-x") => why("-x runs a command"),
        "enable" if has("-f") => why("-f loads code"),
        "fc" => why("runs commands from the history"),
        "awk" | "gawk" | "mawk" | "nawk" => awk(args).then(|| format!("the `{name}` program can run commands")),
        "sed" | "gsed" => sed(args).then(|| format!("the `{name}` script can run commands or write files")),
        "git" => git(args),
        _ => {
            let (_, flags) = INLINE_CODE.iter().find(|(n, _)| *n == name)?;
            let inline = flags.is_empty() || args.iter().any(|w| flags.iter().any(|f| w.text == *f));
            inline.then(|| format!("`{name}` runs code given on the command line"))
        }
    }
}

/// An awk program that calls `system`, pipes to or from a command, or is read from a file.
fn awk(args: &[Word]) -> bool {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        match text {
            "-f" | "--file" | "-E" | "--exec" | "-i" | "--include" | "-l" | "--load" => return true,
            "-F" | "-v" | "--assign" | "--field-separator" => i += 2,
            _ if text.starts_with("-f") || text.starts_with("--file=") => return true,
            "-e" | "--source" => {
                if args.get(i + 1).is_none_or(awk_code) {
                    return true;
                }
                i += 2;
            }
            _ if text.starts_with('-') && text.len() > 1 => i += 1,
            _ => return awk_code(arg),
        }
    }
    false
}

fn awk_code(program: &Word) -> bool {
    program.dynamic || program.text.contains("system") || program.text.contains('|')
}

/// A sed script (from the command line, or a file: unknown) with the `e` command or flag,
/// or `w`/`W` writing a file.
fn sed(args: &[Word]) -> bool {
    let mut scripts: Vec<&Word> = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        if text == "-f" || text.starts_with("--file") || (text.starts_with("-f") && !text.starts_with("--")) {
            return true;
        }
        if text == "-e" || text == "--expression" {
            scripts.extend(args.get(i + 1));
            i += 2;
            continue;
        }
        if let Some(script) = text.strip_prefix("--expression=") {
            if sed_code(script) {
                return true;
            }
        } else if !text.starts_with('-') && scripts.is_empty() {
            scripts.push(arg);
        }
        i += 1;
    }
    scripts.iter().any(|s| s.dynamic || sed_code(&s.text))
}

/// Whether a sed script has an `e`, `w` or `W` command, or an `s` command with the `e` or
/// `w` flag. Read roughly: a false alarm only asks.
fn sed_code(script: &str) -> bool {
    let commands = script.split([';', '\n', '{', '}']);
    commands.into_iter().any(|command| {
        let command = command.trim_start_matches(|c: char| {
            c.is_ascii_digit() || c.is_whitespace() || matches!(c, '$' | ',' | '!' | '~' | '+')
        });
        let command = skip_address(command);
        match command.chars().next() {
            Some('e' | 'w' | 'W') => true,
            Some('s') => substitution_flags(&command[1..]).is_some_and(|f| f.contains(['e', 'w'])),
            _ => false,
        }
    })
}

/// A `/regex/` address in front of a command.
fn skip_address(command: &str) -> &str {
    let Some(rest) = command.strip_prefix('/') else { return command };
    match rest.find('/') {
        Some(end) => rest[end + 1..].trim_start_matches(|c: char| c.is_whitespace() || c == '!'),
        None => command,
    }
}

/// The flags of `s/re/repl/flags` (what follows the third delimiter).
fn substitution_flags(after_s: &str) -> Option<&str> {
    let delimiter = after_s.chars().next()?;
    let mut seen = 0;
    let mut escaped = false;
    for (i, c) in after_s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == delimiter {
            seen += 1;
            if seen == 2 {
                return Some(&after_s[i + 1..]);
            }
        }
    }
    None
}

/// `git -c key=value …`, `--config-env`, `--exec-path=`, `git config alias.x '!…'`, and
/// `git grep -O` (opens a pager program).
fn git(args: &[Word]) -> Option<String> {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        if text == "-c" || text.starts_with("--config-env") || text.starts_with("--exec-path=") || arg.dynamic {
            return Some(format!("`git {text}` sets configuration that can run programs"));
        }
        if !text.starts_with('-') {
            break;
        }
        // Options that take a value: skip it.
        if matches!(text, "-C" | "--git-dir" | "--work-tree" | "--namespace") {
            i += 1;
        }
        i += 1;
    }
    let sub = args.get(i)?;
    let rest = &args[i + 1..];
    match sub.text.as_str() {
        "config" => {
            let key = rest.iter().find(|w| !w.text.starts_with('-'))?;
            let lower = key.text.to_ascii_lowercase();
            let reads = rest.iter().any(|w| matches!(w.text.as_str(), "--get" | "--get-all" | "--list" | "-l"));
            (!reads && (key.dynamic || GIT_CODE_KEYS.iter().any(|k| lower.starts_with(k))))
                .then(|| format!("`git config {}` sets configuration that can run programs", key.text))
        }
        "grep" => rest
            .iter()
            .any(|w| w.text.starts_with("-O") || w.text.starts_with("--open-files-in-pager"))
            .then(|| "`git grep -O` opens the files in a program".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Word> {
        shlex_split(text).into_iter().map(|t| Word { text: t, dynamic: false }).collect()
    }

    /// Enough of shell quoting for these tests: single quotes group.
    fn shlex_split(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut current = String::new();
        let mut quoted = false;
        for c in text.chars() {
            match c {
                '\'' => quoted = !quoted,
                ' ' if !quoted => {
                    if !current.is_empty() {
                        out.push(std::mem::take(&mut current));
                    }
                }
                _ => current.push(c),
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    #[test]
    fn code_runners_are_named() {
        for command in [
            "awk 'BEGIN{system(\"curl x\")}'",
            "awk '{print | \"sh\"}' file",
            "gawk -f prog.awk data",
            "sed 'e curl x' f",
            "sed -n 's/a/b/e' f",
            "sed 's/x/y/w out.txt' f",
            "sed '1w /tmp/x' f",
            "sed -f script.sed f",
            "perl -e 'system(1)'",
            "python3 -c 'import os'",
            "node -e 'x'",
            "source ./env.sh",
            ". /dev/stdin",
            "alias ls='rm -rf x'",
            "shopt -s expand_aliases",
            "printf -v 'a[$(curl x)]' %s 1",
            "mapfile -C 'curl x' -c 1 arr",
            "git -c alias.x='!curl evil' x",
            "git --config-env=core.pager=P log",
            "git config alias.x '!rm -rf y'",
            "git config core.fsmonitor 'touch x'",
            "git grep -Ocat foo",
            "git grep --open-files-in-pager=vim foo",
            "let x=y+1",
        ] {
            assert!(runs_code(&words(command)).is_some(), "{command}");
        }
        for command in [
            "awk '{print $1}' file",
            "awk -F: '{print $2}' /etc/passwd",
            "sed -n '1,5p' f",
            "sed 's/foo/bar/g' f",
            "sed -i 's/a/b/' f",
            "python3 script.py",
            "node build.js",
            "git status",
            "git config --get user.name",
            "git config user.email x@y",
            "git grep TODO",
            "printf -v x %s 1",
            "alias",
        ] {
            assert!(runs_code(&words(command)).is_none(), "{command}: {:?}", runs_code(&words(command)));
        }
    }

    #[test]
    fn variables() {
        assert!(is_safe_env("LANG") && is_safe_env("LC_MESSAGES") && is_safe_env("NO_COLOR"));
        for name in ["PATH", "GIT_CONFIG_PARAMETERS", "LD_PRELOAD", "BASH_ENV", "PAGER", "GIT_EXTERNAL_DIFF"] {
            assert!(!is_safe_env(name) && changes_environment(name), "{name}");
        }
        assert!(!changes_environment("dir") && !changes_environment("_tmp") && !changes_environment("LANG"));
    }
}
