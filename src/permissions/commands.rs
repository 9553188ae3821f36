//! What cairn knows about common commands: which only read (and may run without asking in
//! the project), which read or write the files they are given, and which `acceptEdits`
//! mode lets through.

use super::shell::Word;

/// Commands that change nothing, whatever their arguments (except those refused below).
const READ_ONLY: &[&str] = &[
    "ls",
    "cat",
    "head",
    "tail",
    "wc",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "stat",
    "du",
    "df",
    "file",
    "which",
    "whereis",
    "type",
    "pwd",
    "echo",
    "printf",
    "true",
    "false",
    "date",
    "whoami",
    "id",
    "uname",
    "tree",
    "sort",
    "uniq",
    "cut",
    "tr",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "diff",
    "cmp",
    "comm",
    "nl",
    "od",
    "hexdump",
    "xxd",
    "strings",
    "md5sum",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "cd",
    "test",
    "[",
    "seq",
    "sleep",
    "jq",
    "column",
    "less",
    "more",
    "tac",
    "rev",
    "fold",
    "fmt",
    "expand",
    "unexpand",
    "paste",
    "join",
    "look",
    "wc",
    "nproc",
    "arch",
    "groups",
    "hostname",
    "uptime",
    "ps",
    "lsof",
    "free",
];

/// Commands that print no file's contents: their arguments are not paths.
const NO_FILE_ARGS: &[&str] = &[
    "echo", "printf", "pwd", "true", "false", "date", "whoami", "id", "uname", "which", "whereis", "type", "seq",
    "sleep", "nproc", "arch", "groups", "hostname", "uptime", "ps", "free", "cd", "basename", "dirname",
];

/// Commands whose file arguments are read.
const READS_FILES: &[&str] = &[
    "cat",
    "head",
    "tail",
    "less",
    "more",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "ag",
    "sort",
    "uniq",
    "cut",
    "wc",
    "nl",
    "od",
    "hexdump",
    "xxd",
    "strings",
    "base64",
    "diff",
    "cmp",
    "comm",
    "tac",
    "rev",
    "md5sum",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "jq",
    "awk",
    "gawk",
    "sed",
    "source",
    ".",
    "cp",
    "scp",
    "rsync",
    "tar",
    "zip",
    "gzip",
    "bat",
    "vim",
    "vi",
    "nano",
    "emacs",
    "python",
    "python3",
    "node",
    "ruby",
    "perl",
    "php",
    "openssl",
    "gpg",
    "curl",
    "file",
    "stat",
    "paste",
    "join",
    "fold",
    "column",
    "tr",
];

/// Commands whose file arguments are written (created, changed, moved or removed).
const WRITES_FILES: &[&str] = &[
    "rm", "rmdir", "mv", "cp", "touch", "tee", "truncate", "chmod", "chown", "chgrp", "ln", "mkdir", "dd", "install",
    "shred", "unlink", "rsync", "sed", "patch", "tar", "unzip", "gzip", "gunzip", "zip",
];

/// What `acceptEdits` mode runs without asking, for paths inside the working folders.
const ACCEPT_EDITS: &[&str] = &["mkdir", "touch", "rm", "rmdir", "mv", "cp", "sed"];

/// Read-only git subcommands (with no options before them, which could run programs).
const GIT_READ_ONLY: &[&str] = &[
    "status",
    "diff",
    "log",
    "show",
    "blame",
    "describe",
    "rev-parse",
    "ls-files",
    "ls-tree",
    "shortlog",
    "grep",
    "cat-file",
    "merge-base",
    "rev-list",
    "whatchanged",
    "name-rev",
    "count-objects",
    "check-ignore",
];

fn base(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Whether every command of `script` only reads, as the gate judges one alone: nothing
/// written (but to `/dev/null`), no variables changed, no code the gate cannot read, and
/// nothing uncertain. What a speculation may run.
pub fn script_is_read_only(script: &str) -> bool {
    let analysis = super::shell::analyze(script);
    analysis.uncertain.is_empty()
        && analysis.runs_code.is_empty()
        && analysis.env_changes.is_empty()
        && analysis.redirects.iter().all(|r| !r.write || r.target.text == "/dev/null")
        && !analysis.commands.is_empty()
        && analysis.commands.iter().all(|c| {
            c.wrapped.is_none()
                && !c.extra_args
                && c.env.iter().all(|n| super::code::is_safe_env(n))
                && is_read_only(&c.words)
                && super::code::runs_code(&c.words).is_none()
        })
}

/// Whether the command changes nothing and starts nothing else.
pub fn is_read_only(words: &[Word]) -> bool {
    let Some(first) = words.first() else { return false };
    if first.dynamic || first.text.contains('/') {
        return false;
    }
    let args = &words[1..];
    let has = |flags: &[&str]| {
        args.iter().any(|w| flags.iter().any(|f| w.text == *f || w.text.starts_with(&format!("{f}="))))
    };
    match first.text.as_str() {
        "git" => git_read_only(args),
        "find" => !has(&["-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls"]),
        // `-o FILE` alone or in a cluster (`-uo`); `--output` and `--compress-program` (a
        // program it runs) however abbreviated (`--out`, `--co`), as getopt accepts them.
        "sort" => !args.iter().any(|w| {
            let t = w.text.as_str();
            let long = t.split('=').next().unwrap_or(t);
            (t.starts_with('-') && !t.starts_with("--") && t.contains('o'))
                || (long.len() > 3 && ("--output".starts_with(long) || "--compress-program".starts_with(long)))
        }),
        "diff" => !has(&["--output"]),
        // A second operand (`-` for stdin counts) is the file it writes.
        "uniq" => args.iter().filter(|w| w.text == "-" || !w.text.starts_with('-')).count() <= 1,
        "xxd" => !has(&["-r", "-revert"]) && positional(args) <= 1,
        // BSD-style `e` shows every process's environment (cairn's API key among them).
        "ps" => !args.iter().any(|w| !w.text.starts_with('-') && w.text.contains('e')),
        "tree" => !has(&["-o"]),
        "jq" => !has(&["-i", "--in-place"]),
        "rg" => !has(&["--pre"]),
        "less" | "more" => true,
        name => READ_ONLY.contains(&name),
    }
}

fn git_read_only(args: &[Word]) -> bool {
    let Some(sub) = args.first() else { return false };
    if sub.dynamic || sub.text.starts_with('-') {
        // `git -c core.pager=… status`, `git --exec-path…`: options can run anything.
        return false;
    }
    let rest = &args[1..];
    let has = |flag: &str| rest.iter().any(|w| w.text == flag || w.text.starts_with(&format!("{flag}=")));
    match sub.text.as_str() {
        "branch" => rest.iter().all(|w| {
            matches!(w.text.as_str(), "-a" | "-r" | "-v" | "-vv" | "--list" | "-l" | "--all" | "--show-current")
        }),
        "remote" => {
            rest.iter().all(|w| matches!(w.text.as_str(), "-v" | "--verbose" | "show" | "get-url")) || rest.is_empty()
        }
        "tag" => rest.iter().all(|w| matches!(w.text.as_str(), "-l" | "--list" | "-n")),
        "stash" => rest.first().is_some_and(|w| matches!(w.text.as_str(), "list" | "show")),
        // `reflog expire` and `reflog delete` rewrite history; showing it is reading.
        "reflog" => rest.first().is_none_or(|w| w.text == "show" || !w.text.chars().all(|c| c.is_ascii_lowercase())),
        "config" => rest.first().is_some_and(|w| matches!(w.text.as_str(), "--get" | "--list" | "-l" | "--get-all")),
        sub if GIT_READ_ONLY.contains(&sub) => !has("--output") && !has("--ext-diff") && !has("-o"),
        _ => false,
    }
}

/// Whether its arguments name no files (so none need checking).
pub fn has_no_file_args(name: &str) -> bool {
    NO_FILE_ARGS.contains(&base(name))
}

pub fn reads_files(name: &str) -> bool {
    READS_FILES.contains(&base(name))
}

/// Arguments that are not options.
fn positional(args: &[Word]) -> usize {
    args.iter().filter(|w| !w.text.starts_with('-') || w.text == "-").count()
}

pub fn writes_files(words: &[Word]) -> bool {
    let Some(first) = words.first() else { return false };
    match base(&first.text) {
        "sed" => words[1..].iter().any(|w| w.text.starts_with("-i") || w.text.starts_with("--in-place")),
        // `xxd in out`, `uniq in out`: the second file is written.
        "xxd" | "uniq" => positional(&words[1..]) >= 2,
        name => WRITES_FILES.contains(&name),
    }
}

/// Whether the command reads whole trees (or a repository's history) rather than the
/// files it names: `grep -r`, `rg`, `git grep`, `git log -p`, `git show`, `tar c`…
/// Read deny rules cannot be checked against what it will show.
pub fn reads_broadly(words: &[Word]) -> bool {
    let Some(first) = words.first() else { return false };
    let args = &words[1..];
    let flag = |short: char, long: &[&str]| {
        args.iter().any(|w| {
            let t = w.text.as_str();
            long.contains(&t) || (t.starts_with('-') && !t.starts_with("--") && t[1..].contains(short))
        })
    };
    match base(&first.text) {
        "grep" | "egrep" | "fgrep" | "zgrep" => {
            flag('r', &["--recursive"])
                || flag('R', &["--dereference-recursive"])
                || args.iter().any(|w| w.text == "--directories=recurse")
        }
        "rg" | "ag" | "ack" | "ugrep" | "pt" | "git-grep" => true,
        "cp" | "scp" => flag('r', &["--recursive"]) || flag('R', &[]) || flag('a', &["--archive"]),
        "rsync" => flag('r', &["--recursive"]) || flag('a', &["--archive"]),
        "tar" => {
            flag('c', &["--create"]) || args.first().is_some_and(|w| !w.text.starts_with('-') && w.text.contains('c'))
        }
        "zip" => flag('r', &["--recurse-paths"]),
        "git" => git_shows_content(args),
        _ => false,
    }
}

/// Whether `rg`/`ag` are told to search hidden files too (`--hidden`, `-.`, `-uu`).
pub fn searches_hidden(words: &[Word]) -> bool {
    words[1..].iter().any(|w| {
        let t = w.text.as_str();
        t == "--hidden"
            || t == "-."
            || t == "--unrestricted"
            || (t.len() >= 3 && t.starts_with("-u") && t[1..].chars().all(|c| c == 'u'))
    })
}

/// git subcommands that print file contents from the repository.
fn git_shows_content(args: &[Word]) -> bool {
    let Some(at) = args.iter().position(|w| !w.text.starts_with('-')) else { return false };
    let rest = &args[at + 1..];
    let patch = rest.iter().any(|w| {
        let t = w.text.as_str();
        matches!(t, "-p" | "-u" | "--patch" | "--word-diff")
            || ["-G", "-U", "--unified", "-L", "--word-diff="].iter().any(|p| t.starts_with(p))
    });
    match args[at].text.as_str() {
        "grep" | "show" | "diff" | "cat-file" | "archive" | "blame" | "annotate" | "format-patch" => true,
        "log" | "whatchanged" | "reflog" => patch,
        "stash" => rest.first().is_some_and(|w| w.text == "show") && patch,
        _ => false,
    }
}

/// `git show HEAD:path`: the path in a `<rev>:<path>` argument.
pub fn git_revision_path(word: &Word) -> Option<&str> {
    let (_, path) = word.text.split_once(':')?;
    (!path.is_empty() && !word.text.starts_with('-') && !word.text.contains("://")).then_some(path)
}

pub fn accept_edits_runs(name: &str) -> bool {
    ACCEPT_EDITS.contains(&name)
}

/// The arguments that may be paths: words that are not options, and the values of
/// `--option=value` options that look like paths.
pub fn path_args(words: &[Word]) -> Vec<&Word> {
    words
        .iter()
        .skip(1)
        .filter(|w| {
            let t = w.text.as_str();
            w.dynamic
                || !t.starts_with('-')
                || (t.starts_with("--") && t.split_once('=').is_some_and(|(_, v)| v.contains('/')))
        })
        .collect()
}

/// The path in a word: an `--option=value`'s value, or the word.
pub fn path_text(word: &Word) -> &str {
    match word.text.split_once('=') {
        Some((option, value)) if option.starts_with("--") => value,
        _ => &word.text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Word> {
        text.split(' ').map(|t| Word { text: t.into(), dynamic: false }).collect()
    }

    #[test]
    fn whole_scripts_are_read_only_only_when_every_part_is() {
        assert!(script_is_read_only("ls -la && git status 2>/dev/null | head"));
        for script in ["rm -rf x", "ls > out.txt", "FOO=1; ls", "ls; touch x", "eval ls", "sudo ls", "find . -delete"] {
            assert!(!script_is_read_only(script), "{script}");
        }
    }

    #[test]
    fn read_only_commands_and_their_exceptions() {
        for ro in [
            "ls -la",
            "cat a b",
            "git status",
            "git log --oneline",
            "git diff HEAD",
            "find . -name x",
            "git branch -a",
            "git reflog",
            "git reflog show --all",
        ] {
            assert!(is_read_only(&words(ro)), "{ro}");
        }
        for rw in [
            "rm x",
            "find . -delete",
            "find . -exec rm {} ;",
            "git push",
            "git -c core.pager=sh status",
            "git branch -D main",
            "sort -o out in",
            "sort -S 1 --co=bash big.txt",
            "git reflog expire --expire=now --all",
            "git reflog delete HEAD@{0}",
            "git diff --output=x",
            "/bin/ls",
            "git config user.name x",
        ] {
            assert!(!is_read_only(&words(rw)), "{rw}");
        }
    }

    #[test]
    fn file_arguments() {
        let w = words("grep -r --file=/etc/pats needle src");
        let args: Vec<&str> = path_args(&w).into_iter().map(path_text).collect();
        assert_eq!(args, ["/etc/pats", "needle", "src"]);
        assert!(writes_files(&words("sed -i s/a/b/ f")));
        assert!(!writes_files(&words("sed s/a/b/ f")));
    }
}
