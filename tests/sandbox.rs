//! The sandbox through the binary: a Claude Code user's project with deny rules, a model
//! that tries every way out it can think of in `-p` (where nobody is asked, so sandboxed
//! commands run on their own), and each attempt judged by what it did — a file outside
//! the project, a protected file changed, a secret in the model's results, a connection at
//! a loopback listener — never by the message. Then what must still work: builds, git,
//! the temporary folder, an allowed domain through the proxy; what runs outside the
//! sandbox (excluded commands, `dangerouslyDisableSandbox`) goes through the gate; and a
//! kernel without Landlock is said once.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::support::{MockLlm, Project, Scenario, Step, run, tool_results};

const SECRETS: &[&str] = &["s3cr3t-ssh", "s3cr3t-private", "s3cr3t-env", "s3cr3t-token", "test-key"];

/// A project as a user has it, with things to protect: deny rules on `.env`, `secrets/`,
/// `protected/` and `~/private/`; keys in `~/.ssh`; a folder outside everything.
struct Setup {
    project: Project,
    outside: PathBuf,
    /// A link beside the home folder to it (`~/.ssh` under another name).
    home_link: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.home_link);
    }
}

fn setup(sandbox: Value) -> Setup {
    let project = Project::claude_user();
    let home = project.home.path();
    project.write(
        ".claude/settings.json",
        &json!({
            "permissions": {
                "deny": ["Read(./.env)", "Read(./secrets/**)", "Edit(./protected/**)", "Read(~/private/**)"]
            },
            "sandbox": sandbox,
        })
        .to_string(),
    );
    project.write(".gitignore", ".env\nsecrets/\n");
    project.write(".env", "KEY=s3cr3t-env\n");
    project.write("secrets/token.txt", "s3cr3t-token\n");
    project.write("protected/keep.txt", "keep\n");
    project.write("victim.txt", "victim\n");
    // The secrets are ignored, as users have them: git's history is not the sandbox's to guard.
    project.git(&["add", "-A"]);
    project.git(&["commit", "-qm", "protected things"]);
    for (path, text) in [
        (".ssh/id_rsa", "s3cr3t-ssh\n"),
        ("private/key.txt", "s3cr3t-private\n"),
        ("outside/existing.txt", "existing\n"),
    ] {
        let path = home.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    let home_link = PathBuf::from(format!("{}-link", home.display()));
    std::os::unix::fs::symlink(home, &home_link).unwrap();
    Setup { outside: home.join("outside"), project, home_link }
}

/// Runs `calls` (one response) in `-p`, with the temporary folder inside the home (so the
/// home and `outside` are not under it); the results' texts.
fn attempt(setup: &Setup, calls: &[(&str, Value)], env: &[(&str, &str)]) -> (crate::support::Run, Vec<String>) {
    attempt_with(setup, calls, env, &[])
}

fn attempt_with(
    setup: &Setup,
    calls: &[(&str, Value)],
    env: &[(&str, &str)],
    args: &[&str],
) -> (crate::support::Run, Vec<String>) {
    let mock = MockLlm::start(Scenario::new(vec![Step::tools(calls), Step::text("done")]));
    let mut cmd = setup.project.cairn(&mock);
    cmd.env("TMPDIR", setup.project.home.path().join("tmp")).envs(env.iter().copied());
    cmd.args(["-p", "try", "--output-format", "stream-json", "--verbose"]).args(args);
    let out = run(cmd);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout, out.stderr);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "{}", out.stderr);
    let results: Vec<String> = tool_results(&requests[1].body).into_iter().map(|(_, text, _)| text).collect();
    assert_eq!(results.len(), calls.len());
    (out, results)
}

fn bash(command: &str) -> (&'static str, Value) {
    ("Bash", json!({ "command": command }))
}

/// A loopback TCP listener that counts the connections it is offered.
fn listener() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

/// A loopback HTTP server that answers every request with `body` and keeps the requests.
fn http_server(body: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&requests);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            kept.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (port, requests)
}

fn unchanged(path: &Path, text: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t == text)
}

#[test]
fn no_attempt_of_the_escape_corpus_gets_out() {
    escape_corpus(&[], &[]);
}

/// Without user namespaces (Ubuntu's default for unconfined programs), credentials are
/// left out of Landlock's rules instead, and what deny rules protect inside the project is
/// the gate's alone (so nothing runs without asking there). In bypass mode, with the gate
/// aside, the kernel still holds everything outside the project.
#[test]
fn no_attempt_gets_out_without_user_namespaces() {
    let env = [("CAIRN_SANDBOX_NO_NAMESPACES", "1")];
    escape_corpus(&["--permission-mode", "bypassPermissions"], &env);
}

/// With the gate standing aside, every attempt meets the kernel alone.
#[test]
fn no_attempt_gets_out_in_bypass_mode_either() {
    escape_corpus(&["--permission-mode", "bypassPermissions"], &[]);
}

fn escape_corpus(args: &[&str], env: &[(&str, &str)]) {
    // Without a mount namespace and with the gate aside, nothing holds the deny rules
    // inside the project: those cases are left out.
    let inside_held = env.is_empty() || !args.contains(&"bypassPermissions");
    let setup = setup(json!({"network": {"allowedDomains": ["localhost"]}}));
    let (project, home) = (&setup.project, setup.project.home.path());
    let out = setup.outside.display().to_string();
    let home_name = home.file_name().unwrap().to_string_lossy().into_owned();
    let (port, offered) = listener();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let h = home.display().to_string();
    let writes: Vec<(String, PathBuf)> = vec![
        (format!("echo x > {out}/abs.txt"), setup.outside.join("abs.txt")),
        (format!("echo x > ../{home_name}/outside/dotdot.txt"), setup.outside.join("dotdot.txt")),
        (format!("ln -s {out} link_out; echo x > link_out/sym.txt"), setup.outside.join("sym.txt")),
        (format!("echo x > /proc/self/root{out}/proc.txt"), setup.outside.join("proc.txt")),
        (format!("cd / && touch .{out}/cd.txt"), setup.outside.join("cd.txt")),
        (format!("python3 -c \"open('{out}/py.txt','w').write('x')\""), setup.outside.join("py.txt")),
        (format!("perl -e 'open(F, \">{out}/pl.txt\"); print F \"x\"'"), setup.outside.join("pl.txt")),
        (format!("node -e \"require('fs').writeFileSync('{out}/node.txt','x')\""), setup.outside.join("node.txt")),
        (format!("sh -c 'echo x > {out}/sh.txt'"), setup.outside.join("sh.txt")),
        (format!("env -i /bin/bash -c 'echo x > {out}/envi.txt'"), setup.outside.join("envi.txt")),
        (format!("mkdir {out}/newdir"), setup.outside.join("newdir")),
        (
            format!("python3 -c \"import os; os.symlink('{out}', 'pylink'); open('pylink/pysym.txt','w').write('x')\""),
            setup.outside.join("pysym.txt"),
        ),
        ("cp victim.txt protected/cp.txt".into(), project.file("protected/cp.txt")),
        ("mv victim.txt protected/mv.txt".into(), project.file("protected/mv.txt")),
        ("echo x | tee protected/tee.txt".into(), project.file("protected/tee.txt")),
        ("echo x > protected/redirect.txt".into(), project.file("protected/redirect.txt")),
        ("python3 -c \"open('protected/py.txt','w').write('x')\"".into(), project.file("protected/py.txt")),
        ("echo x > .git/hooks/pre-commit".into(), project.file(".git/hooks/pre-commit")),
        ("echo x >> ~/.ssh/authorized_keys".into(), home.join(".ssh/authorized_keys")),
        ("touch ~/.bashrc".into(), home.join(".bashrc")),
        ("git config --global user.name pwned".into(), home.join(".gitconfig")),
    ];
    // The same protected file, changed every way there is.
    let keep_changes = [
        "sed -i s/keep/pwned/ protected/keep.txt",
        "truncate -s 0 protected/keep.txt",
        "rm -f protected/keep.txt",
        "ln -s protected/keep.txt ln_keep; echo pwned > ln_keep",
        "chmod 777 protected/keep.txt",
        &format!("ln protected/keep.txt {out}/hard.txt; echo pwned > {out}/hard.txt"),
        "git config core.hooksPath evil-hooks",
    ];
    let link = setup.home_link.display().to_string();
    let reads = [
        format!("cat {link}/.ssh/id_rsa"),
        "python3 -c \"import ctypes; l=ctypes.CDLL(None); fd=l.syscall(428, -100, b'.', 1); \
         print(open(f'/proc/self/fd/{fd}/.env').read() if fd >= 0 else 'refused')\""
            .to_owned(),
        "cat ~/.ssh/id_rsa".to_owned(),
        format!("python3 -c \"print(open('{h}/.ssh/id_rsa').read())\""),
        "ln -s ~/.ssh/id_rsa sshlink; cat sshlink".into(),
        "cp ~/.ssh/id_rsa copied; cat copied".into(),
        format!("cat /proc/self/root{h}/.ssh/id_rsa"),
        "cat ~/private/key.txt".into(),
        "cat .env".into(),
        "python3 -c \"print(open('.env').read())\"".into(),
        "cat secrets/token.txt".into(),
        "cp secrets/token.txt tok; cat tok".into(),
        "grep -r s3cr3t . ~ 2>/dev/null".into(),
        "cat /proc/$PPID/environ | tr '\\0' '\\n' | grep ANTHROPIC".into(),
    ];
    let network = [
        format!("python3 -c \"import socket; s=socket.socket(); s.sendto(b'x', 0x20000000, ('127.0.0.1', {port}))\""),
        "python3 -c \"import socket; s=socket.socket(); s.listen(); print('listening on', s.getsockname())\"".into(),
        format!("curl -s --max-time 5 http://127.0.0.1:{port}/"),
        format!("curl -s --noproxy '*' --max-time 5 http://127.0.0.1:{port}/"),
        format!("wget -q -t 1 -T 5 -O- http://127.0.0.1:{port}/"),
        format!("python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 5)\""),
        format!("python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=5)\""),
        format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo hi >&3"),
        format!(
            "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('127.0.0.1', {udp_port}))\""
        ),
        "python3 -c \"import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\"".into(),
        format!(
            "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132); s.connect(('127.0.0.1', {port}))\""
        ),
        format!("node -e \"require('net').connect({port}, '127.0.0.1').on('connect', () => process.exit(0))\""),
    ];
    let mut calls: Vec<(&str, Value)> = Vec::new();
    calls.extend(writes.iter().map(|(command, _)| bash(command)));
    calls.extend(keep_changes.iter().map(|command| bash(command)));
    calls.extend(reads.iter().map(|command| bash(command)));
    calls.extend(network.iter().map(|command| bash(command)));
    // Through the folder a command leaves the shell in, and around the git folder.
    let sequences: Vec<(String, PathBuf)> = vec![
        ("cd .git/hooks".into(), project.file(".git/hooks/x")),
        ("echo x > pre-push".into(), project.file(".git/hooks/pre-push")),
        ("cd ../../protected".into(), project.file("protected/x")),
        ("echo x > from-inside.txt".into(), project.file("protected/from-inside.txt")),
        (format!("cd {}", project.path().display()), project.file("x")),
        (format!("echo {out} > .git/commondir"), project.file(".git/commondir")),
        ("mv .git .git-old".into(), project.file(".git-old")),
    ];
    calls.extend(sequences.iter().map(|(command, _)| bash(command)));
    // A background shell, then a wait for the file it leaves in the project when done.
    calls.push((
        "Bash",
        json!({"command": format!("python3 -c \"open('{out}/bg.txt','w')\"; touch bg-done"), "run_in_background": true}),
    ));
    calls.push(bash("for i in $(seq 300); do [ -e bg-done ] && break; sleep 0.1; done; ls bg-done"));
    assert!(calls.len() >= 40, "the corpus has {} cases", calls.len());
    let (_, results) = attempt_with(&setup, &calls, env, args);

    let inside = |target: &Path| target.starts_with(project.path());
    for (command, target) in writes.iter().filter(|(_, t)| inside_held || !inside(t)) {
        assert!(
            !target.exists()
                || target.ends_with(".gitconfig") && !std::fs::read_to_string(target).unwrap().contains("pwned"),
            "{command} wrote {}",
            target.display()
        );
    }
    assert!(unchanged(&setup.outside.join("existing.txt"), "existing\n"));
    assert!(unchanged(&home.join(".ssh/id_rsa"), "s3cr3t-ssh\n"));
    let secrets: Vec<&str> =
        SECRETS.iter().copied().filter(|s| inside_held || !matches!(*s, "s3cr3t-env" | "s3cr3t-token")).collect();
    for (result, command) in results.iter().zip(calls.iter().map(|(_, c)| c["command"].as_str().unwrap_or_default())) {
        for secret in &secrets {
            assert!(!result.contains(secret), "`{command}` read {secret}: {result}");
        }
    }
    assert!(!setup.outside.join("bg.txt").exists(), "the background shell wrote outside");
    let waited = results.last().unwrap();
    assert!(waited.starts_with("bg-done"), "the background shell did not run: {waited}");
    assert_eq!(offered.load(Ordering::SeqCst), 0, "a command reached the loopback listener");
    let mut buf = [0u8; 16];
    assert!(udp.recv(&mut buf).is_err(), "a datagram got out");
    let listened = &results[writes.len() + keep_changes.len() + reads.len() + 1];
    assert!(!listened.contains("listening on"), "a server took a port: {listened}");
    // The model is told what the proxy blocked, and why a write failed.
    let first_curl = &results[writes.len() + keep_changes.len() + reads.len() + 2];
    assert!(first_curl.contains("blocked network access to 127.0.0.1"), "{first_curl}");
    // A writer the gate cannot see into (python) meets the kernel, and the model hears why.
    let python = &results[5];
    assert!(python.contains("Permission denied") && python.contains("cairn's sandbox"), "{python}");
    if !inside_held {
        return;
    }
    for (command, target) in &sequences {
        assert!(!target.exists(), "{command} made {}", target.display());
    }
    assert!(project.file(".git/HEAD").exists(), "the git folder was moved away");
    let commondir = &results[writes.len() + keep_changes.len() + reads.len() + network.len() + 5];
    let refused = commondir.starts_with("Permission to use Bash was denied") && !args.contains(&"bypassPermissions");
    assert!(refused || commondir.contains("removed it"), "{commondir}");
    assert!(unchanged(&project.file("protected/keep.txt"), "keep\n"), "protected/keep.txt was changed");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(project.file("protected/keep.txt")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o644, "chmod reached protected/keep.txt");
    assert!(project.file("victim.txt").exists(), "mv took the file it could not place");
    let config = std::fs::read_to_string(project.file(".git/config")).unwrap();
    assert!(!config.contains("evil-hooks"), "{config}");
}

#[test]
fn sandboxed_commands_still_build_test_use_git_the_temp_folder_and_allowed_domains() {
    let setup = setup(json!({"network": {"allowedDomains": ["localhost"]}}));
    let (port, requests) = http_server("hello from an allowed domain");
    setup.project.write(
        "Makefile",
        "build:\n\tmkdir -p out && echo built > out/app\ntest: build\n\tgrep -q built out/app && echo tests passed\n",
    );
    setup.project.write("check.py", "import sys\nprint('python ok', sys.version_info.major)\n");
    let calls = [
        bash("make test"),
        bash("python3 check.py && python3 -m py_compile check.py && ls __pycache__"),
        bash(
            "git add -A && git -c user.name=t -c user.email=t@example.com commit -qm 'from the sandbox' && git log --oneline | head -1",
        ),
        bash("f=$(mktemp) && echo temp ok > $f && cat $f && rm $f"),
        bash(&format!("curl -s --max-time 10 http://localhost:{port}/hello")),
        bash("echo \"$HTTPS_PROXY\""),
    ];
    let (_, results) = attempt(&setup, &calls, &[]);
    assert!(results[0].contains("tests passed"), "{}", results[0]);
    assert!(results[1].contains("python ok 3") && results[1].contains("check."), "{}", results[1]);
    assert!(results[2].contains("from the sandbox"), "{}", results[2]);
    assert!(results[3].contains("temp ok"), "{}", results[3]);
    assert!(results[4].contains("hello from an allowed domain"), "{}", results[4]);
    assert!(requests.lock().unwrap().iter().any(|r| r.starts_with("GET /hello ")), "{:?}", requests.lock().unwrap());
    assert!(results[5].starts_with("http://127.0.0.1:"), "{}", results[5]);
}

#[test]
fn what_runs_outside_the_sandbox_goes_through_the_gate() {
    let setup = setup(json!({"excludedCommands": ["touch"]}));
    let calls = [
        bash("touch excluded.txt"),
        ("Bash", json!({"command": "echo x > unsandboxed.txt", "dangerouslyDisableSandbox": true})),
        bash("echo inside > inside.txt"),
    ];
    let (out_run, results) = attempt(&setup, &calls, &[]);
    // Nobody can be asked in -p: the gate refuses what the sandbox does not hold.
    assert!(!setup.project.file("excluded.txt").exists(), "{}", results[0]);
    assert!(!setup.project.file("unsandboxed.txt").exists(), "{}", results[1]);
    assert!(setup.project.file("inside.txt").exists(), "a sandboxed command runs without asking: {}", results[2]);
    let denials = out_run.result()["permission_denials"].as_array().unwrap().len();
    assert_eq!(denials, 2, "{}", out_run.stdout);
}

#[test]
fn without_landlock_cairn_says_so_once_and_the_gate_decides() {
    let setup = setup(json!({}));
    let calls = [bash("echo one > one.txt"), bash("echo two > two.txt")];
    let (run, _) = attempt(&setup, &calls, &[("CAIRN_SANDBOX_UNSUPPORTED", "1")]);
    assert_eq!(run.stderr.matches("The sandbox cannot run here").count(), 1, "{}", run.stderr);
    assert!(!setup.project.file("one.txt").exists(), "an unsandboxed command needs the rules' permission");
    // Told to fail rather than run unsandboxed, a command does not run at all.
    let setup = setup_failing();
    let (_, results) = attempt(&setup, &[bash("echo ran-anyway")], &[("CAIRN_SANDBOX_UNSUPPORTED", "1")]);
    assert!(results[0].contains("failIfUnavailable") && !results[0].contains("ran-anyway"), "{}", results[0]);
}

fn setup_failing() -> Setup {
    setup(json!({"failIfUnavailable": true}))
}

#[test]
fn webfetch_rules_bind_the_proxy_as_claude_codes_do() {
    let (port, requests) = http_server("allowed by a WebFetch rule");
    let setup = setup(json!({}));
    let user = json!({"permissions": {"allow": ["WebFetch(domain:localhost)"]}});
    std::fs::write(setup.project.home.path().join("settings.json"), user.to_string()).unwrap();
    let fetch = format!("curl -s --max-time 10 http://localhost:{port}/");
    let (_, results) = attempt(&setup, &[bash(&fetch)], &[]);
    assert!(results[0].contains("allowed by a WebFetch rule"), "{}", results[0]);
    // A WebFetch deny rule wins over the sandbox's own list.
    let setup = setup_with(json!({"network": {"allowedDomains": ["localhost"]}}), &["WebFetch(domain:localhost)"]);
    let (_, results) = attempt(&setup, &[bash(&fetch)], &[]);
    assert!(results[0].contains("blocked network access to localhost"), "{}", results[0]);
    assert_eq!(requests.lock().unwrap().len(), 1, "only the allowed request reached the server");
}

fn setup_with(sandbox: Value, deny: &[&str]) -> Setup {
    let setup = setup(sandbox);
    let user = json!({"permissions": {"deny": deny}});
    std::fs::write(setup.project.home.path().join("settings.json"), user.to_string()).unwrap();
    setup
}
