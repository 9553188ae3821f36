//! Commands that only run another command, looked through: wrappers (`env`, `timeout`,
//! `nice`, `nohup`, `time`, `command`, `builtin`, `exec`, `stdbuf`, `noglob`, `sudo`,
//! `busybox`), runners (`uv run`, `bundle exec`, …), `xargs`, `find -exec`, `watch` (whose
//! arguments are a shell script) and `bash -c` / `sh -c`; and what an interpreter is given to
//! run. Options that take a value are skipped with it, long forms included; what cannot be
//! followed is reported as uncertain.

use super::Word;

/// Interpreters that run a program they read from stdin when given none.
pub(super) const INTERPRETERS: &[&str] = &[
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

pub(super) enum Unwrapped {
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

/// xargs options that take a value.
const XARGS_VALUES: &[&str] = &[
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
];

/// sudo options that take a value.
const SUDO_VALUES: &[&str] =
    &["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "--user", "--group", "--host", "--prompt"];

/// One step of looking through a wrapper.
enum Step<'w> {
    /// The command it runs, to look at next.
    Through(&'w [Word]),
    /// What it runs is known another way (a script, a nested command), or not at all.
    Done(Unwrapped),
    /// Not a wrapper: the command itself.
    Itself,
}

/// Looks through the commands that only run another command.
pub(super) fn unwrap(words: &[Word]) -> Unwrapped {
    let mut rest: &[Word] = words;
    let mut env = Vec::new();
    loop {
        let step = match rest.first() {
            Some(first) if !first.dynamic => wrapper(rest, &mut env),
            _ => Step::Itself,
        };
        match step {
            Step::Through(next) if !next.is_empty() => rest = next,
            Step::Done(unwrapped) => return unwrapped,
            // Not a wrapper, or one with nothing to run (`sudo` alone): the command itself.
            _ => return Unwrapped::Command { words: rest.to_vec(), extra_args: false, env },
        }
    }
}

/// What the wrapper `rest[0]` runs; variables it sets go to `env`.
fn wrapper<'w>(rest: &'w [Word], env: &mut Vec<String>) -> Step<'w> {
    let name = rest[0].text.rsplit('/').next().unwrap_or(&rest[0].text);
    let args = &rest[1..];
    match name {
        "nohup" | "builtin" | "noglob" | "busybox" => Step::Through(args),
        "exec" => Step::Through(skip_options(args, &["-a"])),
        "time" => Step::Through(skip_options(args, &[])),
        "command" if args.first().is_some_and(|a| a.text == "-v" || a.text == "-V") => Step::Itself,
        "command" => Step::Through(skip_options(args, &[])),
        "nice" => Step::Through(skip_options(args, &["-n", "--adjustment"])),
        "timeout" => {
            let after = skip_options(args, &["-s", "-k", "--signal", "--kill-after"]);
            Step::Through(after.get(1..).unwrap_or_default())
        }
        "stdbuf" => Step::Through(skip_options(args, &["-i", "-o", "-e", "--input", "--output", "--error"])),
        "sudo" | "doas" => Step::Through(skip_options(args, SUDO_VALUES)),
        "watch" => watch(rest),
        "env" => env_wrapper(args, env),
        "xargs" => {
            let after = skip_options(args, XARGS_VALUES);
            let mut inner = after.to_vec();
            if inner.is_empty() {
                inner.push(Word::literal("echo"));
            }
            Step::Done(Unwrapped::Nested { outer: rest[..rest.len() - after.len()].to_vec(), inner })
        }
        "find" => find_exec(rest),
        runner if RUNNERS.iter().any(|(r, verb)| *r == runner && args.first().is_some_and(|a| a.text == *verb)) => {
            Step::Through(skip_options(&args[1..], &[]))
        }
        _ => Step::Itself,
    }
}

/// `watch [options] COMMAND…`: the arguments joined and run by `sh -c`, unless `-x`.
fn watch(rest: &[Word]) -> Step<'_> {
    let args = &rest[1..];
    let after = skip_options(args, &["-n", "-q", "--interval", "--equexit"]);
    let options = &args[..args.len() - after.len()];
    let exec = options
        .iter()
        .any(|a| a.text == "--exec" || (a.text.starts_with('-') && !a.text.starts_with("--") && a.text.contains('x')));
    if exec {
        return Step::Through(after);
    }
    let script = (!after.iter().any(|w| w.dynamic)).then(|| joined_text(after));
    Step::Done(Unwrapped::Script { outer: rest[..rest.len() - after.len()].to_vec(), script })
}

/// `env [options] [NAME=value…] COMMAND…`.
fn env_wrapper<'w>(args: &'w [Word], env: &mut Vec<String>) -> Step<'w> {
    let splits = |a: &Word| {
        a.text.starts_with("--split-string")
            || (a.text.starts_with('-') && !a.text.starts_with("--") && a.text.contains('S'))
    };
    if args.iter().any(splits) {
        return Step::Done(Unwrapped::Uncertain("`env -S` splits text into a command".into()));
    }
    let after = skip_options(args, &["-u", "-C", "--unset", "--chdir"]);
    // env takes any `NAME=value` (not only shell identifiers) as an assignment.
    let assigns = |w: &Word| !w.dynamic && w.text.find('=').is_some_and(|at| at > 0);
    let start = after.iter().position(|w| !assigns(w)).unwrap_or(after.len());
    env.extend(after[..start].iter().filter_map(|w| w.text.split_once('=').map(|(n, _)| n.to_owned())));
    Step::Through(&after[start..])
}

/// `find … -exec COMMAND… ;`: find is a command, and so is what it runs.
fn find_exec(rest: &[Word]) -> Step<'_> {
    let args = &rest[1..];
    let Some(at) = args.iter().position(|w| matches!(w.text.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir")) else {
        return Step::Itself;
    };
    let end = args[at + 1..].iter().position(|w| w.text == ";" || w.text == "+").map_or(args.len(), |p| at + 1 + p);
    let inner = args[at + 1..end].to_vec();
    let mut outer = vec![rest[0].clone()];
    outer.extend(args[..at].iter().cloned());
    outer.extend(args[end..].iter().skip(1).cloned());
    Step::Done(Unwrapped::Nested { outer, inner })
}

fn joined_text(words: &[Word]) -> String {
    words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")
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

pub(super) fn is_assignment(word: &str) -> bool {
    word.split_once('=')
        .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// `bash -c SCRIPT`: `Some(Some(script))`, `Some(None)` when the script is computed,
/// `None` when this is not a shell running a `-c` script.
pub(super) fn shell_script(words: &[Word]) -> Option<Option<String>> {
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
pub(super) fn has_program_argument(words: &[Word]) -> bool {
    words[1..].iter().any(|w| {
        let t = w.text.as_str();
        w.dynamic || (!t.starts_with('-') && !t.is_empty()) || matches!(t, "-c" | "-e" | "-m" | "-r" | "--eval")
    })
}
