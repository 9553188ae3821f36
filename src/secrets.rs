//! Keeping credentials out of everything cairn writes.
//!
//! [`Secrets`] knows the credential values of this run (API keys, auth tokens, later
//! `apiKeyHelper` output) and the environment variables that hold them. The transcript
//! writer passes every line through [`Secrets::redact`], spilled tool output is redacted
//! before it reaches disk, and the commands the tools start never see the variables
//! ([`Secrets::hidden_env`]), so `env` or `echo $ANTHROPIC_API_KEY` in a Bash call prints
//! nothing worth stealing.

use std::borrow::Cow;
use std::sync::Arc;

/// What replaces a secret wherever cairn writes it.
pub const REDACTED: &str = "[REDACTED]";

/// Values shorter than this are not treated as secrets: replacing every `1` or `abc` in a
/// transcript would destroy it and protect nothing.
const MIN_SECRET_LEN: usize = 8;

#[derive(Clone, Debug, Default)]
pub struct Secrets {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    values: Vec<String>,
    env: Vec<String>,
}

impl Secrets {
    /// `values` are redacted wherever they appear; `env` names are removed from the
    /// environment of every command the tools run.
    pub fn new(values: impl IntoIterator<Item = String>, env: impl IntoIterator<Item = String>) -> Secrets {
        let mut values: Vec<String> = values.into_iter().filter(|v| v.trim().len() >= MIN_SECRET_LEN).collect();
        // Longest first, so a secret that contains another is replaced whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { inner: Arc::new(Inner { values, env: env.into_iter().collect() }) }
    }

    pub fn is_empty(&self) -> bool {
        self.inner.values.is_empty()
    }

    /// `text` with every secret replaced by [`REDACTED`]; borrowed when there was none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.inner.values {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }

    /// [`Secrets::redact`], and credentials recognisable by their shape (API keys, tokens,
    /// private keys): for what the model writes into its own memory.
    pub fn redact_credentials<'a>(&self, text: &'a str) -> Cow<'a, str> {
        static SHAPES: std::sync::OnceLock<Option<[regex::Regex; 4]>> = std::sync::OnceLock::new();
        let shapes = SHAPES.get_or_init(|| {
            Some([
                // Whole tokens, by their prefixes and shapes (each starting a word).
                regex::Regex::new(concat!(
                    r"\bsk-ant-[A-Za-z0-9_-]{16,}|\bsk-[A-Za-z0-9_-]{20,}|\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
                    r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}|\bglpat-[A-Za-z0-9_-]{20,}",
                    r"|\bnpm_[A-Za-z0-9]{30,}|\bhf_[A-Za-z0-9]{30,}|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
                    r"|\bxox[abpors]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{30,}|\bya29\.[0-9A-Za-z_-]{20,}",
                    r"|\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|\bSK[0-9a-f]{32}\b|\bGOCSPX-[A-Za-z0-9_-]{20,}",
                    r"|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
                    r"|https://hooks\.slack\.com/services/\S+",
                    // A private key: its header, the lines of its body, and its footer if any.
                    r"|-----BEGIN [A-Z ]*PRIVATE KEY[A-Z ]*-----(?:\s*[A-Za-z0-9+/=:-]{16,})*(?:\s*-----END [A-Z ]*PRIVATE KEY[A-Z ]*-----)?",
                ))
                .ok()?,
                // A value after a name that says it is secret (`SECRET_KEY=`, `password:`).
                regex::Regex::new(concat!(
                    r"(?i)(\b[a-z0-9_]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key",
                    r#"|_key|_pass)[a-z0-9_]*["']?\s*[:=]\s*["']?)([^\s"',;()\[\]{}<>]+)"#,
                ))
                .ok()?,
                // An HTTP authorization's credentials.
                regex::Regex::new(r"(?i)(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]+)").ok()?,
                // A password in a URL.
                regex::Regex::new(r"([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)").ok()?,
            ])
        });
        let known = self.redact(text);
        let Some([tokens, named, auth, url]) = shapes else { return known };
        if ![tokens, named, auth, url].iter().any(|r| r.is_match(&known)) {
            return known;
        }
        let out = tokens.replace_all(&known, REDACTED);
        // A name's value only when it looks like a credential, not a word or a call.
        let guarded = |c: &regex::Captures<'_>| {
            let (name, value) = (&c[1], &c[2]);
            if looks_secret(value) { format!("{name}{REDACTED}") } else { c[0].to_owned() }
        };
        let out = named.replace_all(&out, guarded);
        let out = auth.replace_all(&out, guarded);
        let out = url.replace_all(&out, |c: &regex::Captures<'_>| format!("{}{REDACTED}{}", &c[1], &c[3]));
        Cow::Owned(out.into_owned())
    }

    /// The same for raw bytes (command output on its way to a spill file).
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(bytes);
        for secret in &self.inner.values {
            let needle = secret.as_bytes();
            if find(&out, needle).is_none() {
                continue;
            }
            let mut replaced = Vec::with_capacity(out.len());
            let mut rest: &[u8] = &out;
            while let Some(at) = find(rest, needle) {
                replaced.extend_from_slice(&rest[..at]);
                replaced.extend_from_slice(REDACTED.as_bytes());
                rest = &rest[at + needle.len()..];
            }
            replaced.extend_from_slice(rest);
            out = Cow::Owned(replaced);
        }
        out
    }

    /// A redactor for output that arrives in pieces.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor { secrets: self.clone(), held: Vec::new() }
    }

    /// How many bytes at the end of `bytes` are the start of some secret (and so might be
    /// the first part of one split over two reads).
    fn partial_at_end(&self, bytes: &[u8]) -> usize {
        self.inner
            .values
            .iter()
            .map(|secret| {
                let secret = secret.as_bytes();
                (1..secret.len().min(bytes.len() + 1)).rev().find(|&k| bytes.ends_with(&secret[..k])).unwrap_or(0)
            })
            .max()
            .unwrap_or(0)
    }

    /// Variables the tools' commands must not inherit.
    pub fn hidden_env(&self) -> impl Iterator<Item = &str> {
        self.inner.env.iter().map(String::as_str)
    }
}

/// Redacts a stream given in chunks: a secret split between two chunks is found all the
/// same, because an end of a chunk that could be the start of a secret waits for the next
/// (and only such an end: a quiet stream's last line is not held back).
pub struct StreamRedactor {
    secrets: Secrets,
    held: Vec<u8>,
}

impl StreamRedactor {
    /// What can be written now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.secrets.is_empty() {
            return chunk.to_vec();
        }
        self.held.extend_from_slice(chunk);
        let mut out = self.secrets.redact_bytes(&self.held).into_owned();
        let keep = self.secrets.partial_at_end(&out);
        self.held = out.split_off(out.len() - keep);
        out
    }

    /// The rest, at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether a value looks like a credential rather than a word, a number or code: eight
/// characters or more, letters and digits mixed (or a long one in mixed case).
fn looks_secret(value: &str) -> bool {
    let has = |f: fn(&char) -> bool| value.chars().any(|c| f(&c));
    value.len() >= 8
        && !value.contains("://")
        && ((has(char::is_ascii_digit) && has(char::is_ascii_alphabetic))
            || (value.len() >= 12 && has(char::is_ascii_uppercase) && has(char::is_ascii_lowercase)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_in_text_and_bytes() {
        let secrets = Secrets::new(["sk-ant-secret-1234".to_owned(), "short".to_owned()], []);
        let shaped =
            secrets.redact_credentials("key AKIAABCDEFGHIJKLMNOP and ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok");
        assert_eq!(shaped, "key [REDACTED] and [REDACTED] ok");
        for (text, kept) in [
            ("password: hunter2hunter2", "password: [REDACTED]"),
            ("db postgres://app:s3cretpw@db.internal/x", "db postgres://app:[REDACTED]@db.internal/x"),
            ("Authorization: Bearer abcdefghijklmnop123", "Authorization: Bearer [REDACTED]"),
            ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [REDACTED]"),
            ("stripe sk_live_abcdefghijklmnop1234", "stripe [REDACTED]"),
            ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\nno end", "[REDACTED]\nno end"),
            ("run `make check` before committing", "run `make check` before committing"),
            ("SECRET_KEY=django-insecure-4f9x2kq", "SECRET_KEY=[REDACTED]"),
            ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [REDACTED]"),
            (
                "keys are PEM (`-----BEGIN RSA PRIVATE KEY-----`); convert\nmore notes",
                "keys are PEM (`[REDACTED]`); convert\nmore notes",
            ),
            ("docs/task-management-system-overview.md", "docs/task-management-system-overview.md"),
            ("run_task_test_helperfunctionname", "run_task_test_helperfunctionname"),
            ("api_key = os.environ[\"KEY\"]", "api_key = os.environ[\"KEY\"]"),
            (
                "struct Config { api_key: String, token: Option<String> }",
                "struct Config { api_key: String, token: Option<String> }",
            ),
            (
                "we use Bearer authentication everywhere; max_token: 128000",
                "we use Bearer authentication everywhere; max_token: 128000",
            ),
            ("## Secret: Management", "## Secret: Management"),
        ] {
            assert_eq!(secrets.redact_credentials(text), kept, "{text}");
        }
        assert_eq!(
            secrets.redact("key=sk-ant-secret-1234; again sk-ant-secret-1234"),
            "key=[REDACTED]; again [REDACTED]"
        );
        assert!(matches!(secrets.redact("nothing here, short"), Cow::Borrowed(_)));
        assert_eq!(&*secrets.redact_bytes(b"x sk-ant-secret-1234 y"), b"x [REDACTED] y");
        assert!(matches!(secrets.redact_bytes(b"clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_secret_split_between_chunks_is_still_redacted() {
        let secrets = Secrets::new(["sk-ant-secret-1234".to_owned()], []);
        let text = b"before sk-ant-secret-1234 middle sk-ant-secret-1234 after";
        for size in 1..text.len() {
            let mut stream = secrets.stream();
            let mut out = Vec::new();
            for chunk in text.chunks(size) {
                out.extend(stream.push(chunk));
            }
            out.extend(stream.finish());
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "before [REDACTED] middle [REDACTED] after",
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn a_longer_secret_containing_another_is_replaced_whole() {
        let secrets = Secrets::new(["abcdefgh".to_owned(), "abcdefgh-and-more".to_owned()], []);
        assert_eq!(secrets.redact("abcdefgh-and-more"), REDACTED);
    }
}
