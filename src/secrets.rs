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
        static SHAPES: std::sync::OnceLock<Option<(regex::Regex, regex::Regex)>> = std::sync::OnceLock::new();
        let shapes = SHAPES.get_or_init(|| {
            // Whole tokens, by their prefixes and shapes.
            let tokens = regex::Regex::new(concat!(
                r"sk-ant-[A-Za-z0-9_-]{16,}|sk-[A-Za-z0-9_-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
                r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}",
                r"|npm_[A-Za-z0-9]{30,}|hf_[A-Za-z0-9]{30,}|(?:AKIA|ASIA)[0-9A-Z]{16}",
                r"|xox[abpors]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,}|ya29\.[0-9A-Za-z_-]{20,}",
                r"|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|SK[0-9a-f]{32}",
                r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
                r"|https://hooks\.slack\.com/services/\S+",
                r"|-----BEGIN [A-Z ]*PRIVATE KEY[A-Z ]*-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY[A-Z ]*-----|\z)",
            ))
            .ok()?;
            // Values after a name that says what they are: the name stays.
            let assigned = regex::Regex::new(concat!(
                r"(?i)((?:password|passwd|secret|token|api[_-]?key|access[_-]?key|aws_secret_access_key)",
                r#"["']?\s*[:=]\s*["']?)[^\s"']{6,}|(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{12,}"#,
                r"|([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(@)",
            ))
            .ok()?;
            Some((tokens, assigned))
        });
        let known = self.redact(text);
        let Some((tokens, assigned)) = shapes else { return known };
        if !tokens.is_match(&known) && !assigned.is_match(&known) {
            return known;
        }
        let out = tokens.replace_all(&known, REDACTED);
        let out = assigned.replace_all(&out, |c: &regex::Captures<'_>| {
            let kept = c.get(1).or(c.get(2)).or(c.get(3)).map_or("", |m| m.as_str());
            format!("{kept}{REDACTED}{}", c.get(4).map_or("", |m| m.as_str()))
        });
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
            ("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nno end", "[REDACTED]"),
            ("run `make check` before committing", "run `make check` before committing"),
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
