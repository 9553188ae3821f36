//! Commands that run text as code where the gate cannot read it, and the variables that
//! change what a command runs. An awk program's `system()`, `source`, an alias, a git alias
//! or `-c core.pager=…`, `printf -v 'a[$(…)]'`, `BASH_ENV=…`, `PATH=./bin:$PATH`: the
//! command's name says nothing about what it will run. Such a command is never read-only;
//! when a deny rule names a command it is asked (even where an allow rule covers its name,
//! even in bypass mode), because what it runs might be that command. A variable that
//! changes what runs also voids the allow rules for the command it is set for. (What a
//! parser cannot see at all — a script file's contents — is the sandbox's to bound.)

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
        "sort" if args.iter().any(|w| w.text.starts_with("--compress-program")) => {
            why("--compress-program runs a program")
        }
        _ => {
            let (_, flags) = INLINE_CODE.iter().find(|(n, _)| *n == name)?;
            let inline = flags.is_empty() || args.iter().any(|w| flags.iter().any(|f| gives_flag(&w.text, f)));
            inline.then(|| format!("`{name}` runs code given on the command line"))
        }
    }
}

/// Whether a word gives `flag`: as itself, joined to its value (`-c'code'`,
/// `--eval=code`), or among a cluster of one-letter options (`perl -lne`).
fn gives_flag(word: &str, flag: &str) -> bool {
    if word == flag {
        return true;
    }
    if let Some(long) = flag.strip_prefix("--") {
        return word.strip_prefix("--").is_some_and(|w| w.strip_prefix(long).is_some_and(|r| r.starts_with('=')));
    }
    let Some(letter) = flag.strip_prefix('-').filter(|l| l.len() == 1) else { return false };
    let Some(cluster) = word.strip_prefix('-').filter(|c| !c.starts_with('-')) else { return false };
    cluster.starts_with(letter) || (cluster.chars().all(|c| c.is_ascii_alphabetic()) && cluster.contains(letter))
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
/// or `w`/`W` writing a file. Options are read as GNU sed reads them: `-ne SCRIPT`,
/// `-escript`, `-nf FILE`, `--expression=…`; `-iSUFFIX` takes the rest of its word.
fn sed(args: &[Word]) -> bool {
    let mut scripts: Vec<&str> = Vec::new();
    let mut explicit = false;
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        i += 1;
        let text = arg.text.as_str();
        if arg.dynamic && text.starts_with('-') {
            return true;
        }
        if let Some(long) = text.strip_prefix("--") {
            match long.split_once('=') {
                Some(("expression", script)) => {
                    explicit = true;
                    scripts.push(script);
                }
                Some(("file", _)) => return true,
                None if long == "expression" => {
                    explicit = true;
                    scripts.extend(args.get(i).map(|w| w.text.as_str()));
                    i += 1;
                }
                None if long == "file" => return true,
                _ => {}
            }
            continue;
        }
        let Some(cluster) = text.strip_prefix('-').filter(|c| !c.is_empty()) else {
            if !explicit && scripts.is_empty() {
                if arg.dynamic {
                    return true;
                }
                scripts.push(text);
            }
            continue;
        };
        for (at, letter) in cluster.char_indices() {
            let rest = &cluster[at + letter.len_utf8()..];
            match letter {
                'i' => break,
                'f' => return true,
                'e' | 'l' => {
                    let value = if rest.is_empty() {
                        i += 1;
                        args.get(i - 1).map(|w| w.text.as_str())
                    } else {
                        Some(rest)
                    };
                    if letter == 'e' {
                        explicit = true;
                        scripts.extend(value);
                    }
                    break;
                }
                _ => {}
            }
        }
    }
    scripts.iter().any(|s| sed_code(s))
}

/// Whether a sed script has an `e`, `w` or `W` command, or an `s` command with the `e` or
/// `w` flag. A script this reading cannot follow counts as having one (a false alarm only
/// asks).
fn sed_code(script: &str) -> bool {
    let chars: Vec<char> = script.chars().collect();
    let mut at = 0;
    let blank = |c: char| c == ' ' || c == '\t';
    while at < chars.len() {
        let c = chars[at];
        if blank(c) || c == ';' || c == '\n' || c == '{' || c == '}' {
            at += 1;
            continue;
        }
        let Some(next) = skip_addresses(&chars, at) else { return true };
        at = next;
        while chars.get(at).is_some_and(|c| blank(*c) || *c == '!') {
            at += 1;
        }
        let Some(&command) = chars.get(at) else { return false };
        at += 1;
        match command {
            'e' | 'w' | 'W' => return true,
            '{' | '}' => {}
            // To the end of the line: text, file names, labels, comments.
            'a' | 'i' | 'c' | 'r' | 'R' | '#' | ':' => at = end_of_line(&chars, at),
            'b' | 't' | 'T' => {
                while chars.get(at).is_some_and(|c| *c != ';' && *c != '\n' && *c != '}') {
                    at += 1;
                }
            }
            's' | 'y' => {
                let Some(&delimiter) = chars.get(at) else { return true };
                if delimiter == '\n' || delimiter == '\\' {
                    return true;
                }
                let Some(after) = skip_delimited(&chars, at + 1, delimiter, 2) else { return true };
                at = after;
                if command == 's' {
                    let flags_end = chars[at..]
                        .iter()
                        .position(|c| matches!(c, ';' | '\n' | '}') || c.is_whitespace())
                        .map_or(chars.len(), |p| at + p);
                    if chars[at..flags_end].iter().any(|c| matches!(c, 'e' | 'w')) {
                        return true;
                    }
                    at = flags_end;
                }
            }
            _ => {}
        }
    }
    false
}

/// Past the addresses in front of a command (`3`, `$`, `/re/I`, `\%re%`, `1~2`, `a,+3`).
fn skip_addresses(chars: &[char], mut at: usize) -> Option<usize> {
    for second in [false, true] {
        match chars.get(at) {
            Some(c) if c.is_ascii_digit() || *c == '$' || (second && matches!(c, '+' | '~')) => {
                at += 1;
                while chars.get(at).is_some_and(|c| c.is_ascii_digit() || *c == '~') {
                    at += 1;
                }
            }
            Some('/') => at = skip_delimited(chars, at + 1, '/', 1)?,
            Some('\\') => {
                let delimiter = *chars.get(at + 1)?;
                at = skip_delimited(chars, at + 2, delimiter, 1)?;
            }
            _ => return Some(at),
        }
        while chars.get(at).is_some_and(|c| matches!(c, 'I' | 'M')) {
            at += 1;
        }
        if second || chars.get(at) != Some(&',') {
            return Some(at);
        }
        at += 1;
    }
    Some(at)
}

/// Past `parts` runs of text each ended by an unescaped `delimiter`.
fn skip_delimited(chars: &[char], mut at: usize, delimiter: char, parts: usize) -> Option<usize> {
    let mut seen = 0;
    while seen < parts {
        match chars.get(at)? {
            '\\' => at += 2,
            c if *c == delimiter => {
                seen += 1;
                at += 1;
            }
            _ => at += 1,
        }
    }
    Some(at)
}

fn end_of_line(chars: &[char], mut at: usize) -> usize {
    while let Some(c) = chars.get(at) {
        match c {
            '\\' => at += 2,
            '\n' => return at,
            _ => at += 1,
        }
    }
    chars.len()
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
            "sed '/a/,/b/e cmd' f",
            "sed '/x/Ie cmd' f",
            "sed '\\%x%e cmd' f",
            "sed 's/x;*/cmd/e' f",
            "sed -nf s.sed f",
            "sed -e p -ne '1e cmd' f",
            "sed -n -e p --expression=1w/tmp/x f",
            "perl -le 'print 1'",
            "perl -ne 'print'",
            "python3 -c'import os'",
            "node --eval=1",
            "sort -S 1K --compress-program=sh big",
        ] {
            assert!(runs_code(&words(command)).is_some(), "{command}");
        }
        for command in [
            "awk '{print $1}' file",
            "awk -F: '{print $2}' /etc/passwd",
            "sed -n '1,5p' f",
            "sed 's/foo/bar/g' f",
            "sed -i 's/a/b/' f",
            "sed -ie 's/a/b/' f",
            "sed 's§a§b§' f",
            "sed -n '/start/,/end/p' f",
            "sed 's/[;]/,/g; s/x/y/I' f",
            "sed -E 's/(a|b)+/c/2' f",
            "perl script.pl",
            "python3 -Wignore::DeprecationWarning script.py",
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
