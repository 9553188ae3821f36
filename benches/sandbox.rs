//! What the sandbox costs (`cargo bench --bench sandbox`; release, on this machine):
//! - the start of a command: `bash -c true` as cairn ran it before, and through the
//!   sandbox's launcher with a realistic policy — Landlock rules under a home folder with
//!   credentials left out, the seccomp filter, and with or without the mount namespace that
//!   holds deny rules inside the project;
//! - a request through the proxy: an HTTP GET on a fresh connection to a loopback server,
//!   straight and through the proxy.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn::sandbox::Policy;
use cairn::sandbox::proxy::Proxy;

mod common;
use common::{median, ms};

fn time_runs(runs: usize, mut make: impl FnMut() -> Command) -> Duration {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let mut command = make();
        let started = Instant::now();
        let status = command.status().expect("the command starts");
        samples.push(started.elapsed());
        assert!(status.success());
    }
    median(samples)
}

fn command_start() {
    // Under the build folder rather than the system's temporary folder, whose hundreds of
    // entries a real home's parent does not have.
    let project = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let home = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    for dir in [".git/hooks", "src"] {
        std::fs::create_dir_all(project.path().join(dir)).unwrap();
    }
    std::fs::write(project.path().join(".env"), "KEY=1\n").unwrap();
    for secret in [".ssh", ".aws", ".config/gcloud", ".kube"] {
        std::fs::create_dir_all(home.path().join(secret)).unwrap();
    }
    let plain = Policy {
        write: vec![project.path().to_path_buf(), std::env::temp_dir()],
        deny_read: [".ssh", ".aws", ".config/gcloud", ".kube"].iter().map(|s| home.path().join(s)).collect(),
        proxy_port: Some(9),
        ..Policy::default()
    };
    // What a session with a mount namespace sends: everything denied covered there.
    let mut hidden = plain.deny_read.clone();
    hidden.push(project.path().join(".env"));
    let held = Policy {
        deny_read: Vec::new(),
        read_only: vec![project.path().join(".git/hooks"), project.path().join(".git/config")],
        hidden,
        ..plain.clone()
    };
    let launcher = env!("CARGO_BIN_EXE_cairn");
    let sandboxed = |policy: &Policy| {
        let json = serde_json::to_string(policy).unwrap();
        move || {
            let mut command = Command::new(launcher);
            command.args([cairn::sandbox::LAUNCHER_ARG, &json, "--", "bash", "-c", "true"]);
            command.current_dir(Path::new("/"));
            command
        }
    };
    let runs = 101;
    let bare = time_runs(runs, || {
        let mut command = Command::new("bash");
        command.args(["-c", "true"]);
        command
    });
    let landlock = time_runs(runs, sandboxed(&plain));
    let namespace = time_runs(runs, sandboxed(&held));
    println!(
        "command start (bash -c true, median of {runs}): {:.2} ms; sandboxed without a mount namespace (Landlock \
         rules beside each denied path) {:.2} ms (+{:.2}); with it {:.2} ms (+{:.2}) (goal: +5 ms at most)",
        ms(bare),
        ms(landlock),
        ms(landlock.saturating_sub(bare)),
        ms(namespace),
        ms(namespace.saturating_sub(bare))
    );
}

/// A loopback HTTP server answering every request with a short body.
fn server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            });
        }
    });
    port
}

fn get(connect_to: u16, target: &str) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", connect_to)).unwrap();
    stream.write_all(format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert!(reply.ends_with(b"ok"), "{}", String::from_utf8_lossy(&reply));
    started.elapsed()
}

fn proxy_request() {
    let port = server();
    let lists = cairn::sandbox::proxy::Lists { allowed: vec!["localhost".into()], denied: Vec::new() };
    let proxy = Proxy::start(lists, Arc::new(Mutex::new(Vec::new())), Arc::default()).unwrap();
    let runs = 501;
    let straight = median((0..runs).map(|_| get(port, "/")).collect());
    let proxied = median((0..runs).map(|_| get(proxy.port(), &format!("http://localhost:{port}/"))).collect());
    println!(
        "HTTP GET on a fresh connection, median of {runs}: straight {:.3} ms, through the proxy {:.3} ms (+{:.3})",
        ms(straight),
        ms(proxied),
        ms(proxied.saturating_sub(straight))
    );
}

fn main() {
    command_start();
    proxy_request();
}
