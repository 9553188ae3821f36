//! The only way out of the sandbox to the network: an HTTP proxy on a loopback port that
//! admits the domains the settings (or the user, in this session) allow. `CONNECT
//! host:port` (HTTPS, any TCP) is tunnelled; a plain `GET http://host/…` is passed on with
//! the request line made relative. Anything else gets `403` naming the domain and how to
//! allow it, and the domain is noted for the command's result.
//!
//! Blocking threads, one per connection: a command opens few, and nothing here runs unless
//! a sandboxed command calls out.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The longest request head read (a client that sends more is refused).
const MAX_HEAD: usize = 64 * 1024;
/// How long a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The domains the settings and rules allow, and those rules deny (which win).
#[derive(Clone, Debug, Default)]
pub struct Lists {
    pub allowed: Vec<String>,
    pub denied: Vec<String>,
}

pub struct Proxy {
    port: u16,
    blocked: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Listens on a free loopback port and serves in the background.
    pub fn start(
        lists: Lists,
        session: Arc<Mutex<Vec<String>>>,
        asker: Arc<std::sync::OnceLock<super::Asker>>,
    ) -> Result<Proxy, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("the proxy could not listen: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let blocked = Arc::new(Mutex::new(Vec::new()));
        let rules = Arc::new(Rules {
            domains: lists.allowed.iter().map(|d| normal(d)).collect(),
            denied: lists.denied.iter().map(|d| normal(d)).collect(),
            session,
            asker,
            refused: Mutex::default(),
            asking: Mutex::new(()),
        });
        let noted = Arc::clone(&blocked);
        std::thread::Builder::new()
            .name("sandbox-proxy".into())
            .spawn(move || {
                for client in listener.incoming().flatten() {
                    let (rules, noted) = (Arc::clone(&rules), Arc::clone(&noted));
                    let _ = std::thread::Builder::new().name("sandbox-proxy-conn".into()).spawn(move || {
                        serve(client, &rules, &noted);
                    });
                }
            })
            .map_err(|e| format!("the proxy could not start: {e}"))?;
        Ok(Proxy { port, blocked })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The domains refused since the last call (each once).
    pub fn take_blocked(&self) -> Vec<String> {
        std::mem::take(&mut *self.blocked.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

struct Rules {
    domains: Vec<String>,
    denied: Vec<String>,
    session: Arc<Mutex<Vec<String>>>,
    asker: Arc<std::sync::OnceLock<super::Asker>>,
    /// Domains the user refused: not asked about again.
    refused: Mutex<Vec<String>>,
    /// One question at a time.
    asking: Mutex<()>,
}

impl Rules {
    /// `example.com` admits that host; `*.example.com` its subdomains.
    fn admits(&self, host: &str) -> bool {
        let host = normal(host);
        !self.denied.iter().any(|rule| matches(rule, &host)) && (self.allowed(&host) || self.asked(&host))
    }

    /// Whether the user, asked, lets commands reach `host` for the session.
    fn asked(&self, host: &str) -> bool {
        let Some(ask) = self.asker.get() else { return false };
        let _one = self.asking.lock().unwrap_or_else(PoisonError::into_inner);
        if self.allowed(host) {
            return true;
        }
        let host = normal(host);
        if self.refused.lock().unwrap_or_else(PoisonError::into_inner).contains(&host) {
            return false;
        }
        let yes = ask(&host);
        let list = if yes { &*self.session } else { &self.refused };
        list.lock().unwrap_or_else(PoisonError::into_inner).push(host);
        yes
    }

    fn allowed(&self, host: &str) -> bool {
        let host = normal(host);
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        self.domains.iter().chain(session.iter()).any(|rule| matches(rule, &host))
    }
}

/// `example.com` is that host; `*.example.com` its subdomains.
fn matches(rule: &str, host: &str) -> bool {
    match rule.strip_prefix("*.") {
        Some(parent) => host.ends_with(&format!(".{parent}")),
        None => host == rule,
    }
}

fn normal(host: &str) -> String {
    host.trim().trim_end_matches('.').trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()
}

fn serve(client: TcpStream, rules: &Rules, blocked: &Mutex<Vec<String>>) {
    let _ = client.set_read_timeout(Some(HEAD_TIMEOUT));
    let Ok(reader) = client.try_clone() else { return };
    let mut reader = BufReader::new(reader);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if head.len() > MAX_HEAD {
            return refuse(client, 431, "the request head is too long");
        }
    }
    let _ = client.set_read_timeout(None);
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut request_line = text.lines().next().unwrap_or_default().split_whitespace();
    let (method, target, version) =
        (request_line.next().unwrap_or_default(), request_line.next().unwrap_or_default(), request_line.next());
    let Some((host, port, path)) = destination(method, target) else {
        return refuse(client, 400, "cairn's sandbox proxy takes CONNECT host:port or an absolute http:// URL");
    };
    if !rules.admits(&host) {
        let mut noted = blocked.lock().unwrap_or_else(PoisonError::into_inner);
        if !noted.contains(&host) {
            noted.push(host.clone());
        }
        drop(noted);
        let why = format!(
            "cairn's sandbox blocked network access to {host}: allow it with /sandbox allow {host}, or add it to \
             sandbox.network.allowedDomains in the settings"
        );
        return refuse(client, 403, &why);
    }
    // An allowed name that resolves to this machine (DNS rebinding) would reach cairn's
    // own loopback services: only a loopback name or address allowed as such may.
    let addrs: Vec<std::net::SocketAddr> =
        (host.as_str(), port).to_socket_addrs().map(Iterator::collect).unwrap_or_default();
    let loopback_named = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback_named && addrs.iter().any(|a| a.ip().is_loopback() || a.ip().is_unspecified()) {
        return refuse(client, 403, &format!("cairn's sandbox refused {host}: it resolves to this machine"));
    }
    let Ok(mut upstream) = TcpStream::connect(&addrs[..]) else {
        return refuse(client, 502, &format!("{host}:{port} could not be reached"));
    };
    let mut client_writer = match client.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    };
    if method.eq_ignore_ascii_case("CONNECT") {
        if client_writer.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").is_err() {
            return;
        }
    } else {
        // The request again, with its target made relative to the host.
        let rest = text.split_once('\n').map_or("", |(_, rest)| rest);
        let first = format!("{method} {path} {}\r\n", version.unwrap_or("HTTP/1.1"));
        if upstream.write_all(first.as_bytes()).and_then(|()| upstream.write_all(rest.as_bytes())).is_err() {
            return;
        }
    }
    // What the client sent past the head, then both ways until either side closes.
    let buffered = reader.buffer().to_vec();
    if !buffered.is_empty() && upstream.write_all(&buffered).is_err() {
        return;
    }
    let Ok(mut upstream_reader) = upstream.try_clone() else { return };
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut upstream_reader, &mut client_writer);
        let _ = client_writer.shutdown(Shutdown::Write);
    });
    let mut client_reader = reader.into_inner();
    let _ = std::io::copy(&mut client_reader, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// Host, port and the path to send on, from the request line.
fn destination(method: &str, target: &str) -> Option<(String, u16, String)> {
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = target.rsplit_once(':')?;
        return Some((normal(host), port.parse().ok()?, String::new()));
    }
    let rest = target.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (host, port.parse().ok()?),
        _ => (authority, 80),
    };
    let path = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
    Some((normal(host), port, path))
}

fn refuse(mut client: TcpStream, status: u16, why: &str) {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        431 => "Request Header Fields Too Large",
        _ => "Bad Gateway",
    };
    let body = format!("{why}\n");
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(response.as_bytes());
    let _ = client.shutdown(Shutdown::Both);
    let mut sink = [0u8; 512];
    let _ = client.read(&mut sink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_targets_name_host_port_and_path() {
        assert_eq!(destination("CONNECT", "example.com:443"), Some(("example.com".into(), 443, String::new())));
        assert_eq!(destination("GET", "http://Example.com/a?b"), Some(("example.com".into(), 80, "/a?b".into())));
        assert_eq!(destination("GET", "http://localhost:8080"), Some(("localhost".into(), 8080, "/".into())));
        assert_eq!(destination("GET", "/relative"), None);
    }

    #[test]
    fn wildcards_admit_subdomains_only() {
        let rules = Rules {
            domains: vec!["*.example.com".into(), "pypi.org".into()],
            denied: vec!["evil.example.com".into()],
            session: Arc::default(),
            asker: Arc::default(),
            refused: Mutex::default(),
            asking: Mutex::new(()),
        };
        assert!(rules.admits("files.example.com"));
        assert!(!rules.admits("evil.example.com"), "a WebFetch deny rule wins");
        assert!(!rules.admits("example.com"));
        assert!(!rules.admits("badexample.com"));
        assert!(rules.admits("PyPI.org."));
        assert!(!rules.admits("pypi.org.evil.com"));
        rules.session.lock().unwrap().push("localhost".into());
        assert!(rules.admits("localhost"));
    }
}
