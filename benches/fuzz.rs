//! Fuzzing what reads untrusted text — the SSE framer and decoders, the settings loader, the
//! shell analyser and the permission gate — with mutated real inputs, for a set time each,
//! to find panics (and hangs: an input that takes over a second is reported).
//!
//! ```text
//! cargo bench --bench fuzz                        # 10 minutes per target
//! FUZZ_SECONDS=60 cargo bench --bench fuzz -- sse # one target, a minute
//! ```
//! Not part of CI. A failing input is written to `target/fuzz-crashes/` and printed.

// A harness: when its own setup fails, stopping with the reason is all it can do.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn::config::settings::{Locations, Settings};
use cairn::permissions::paths::Anchors;
use cairn::permissions::{Call, Context, Origin, PermissionMode, PermissionPolicy, PermissionRule, Rules};
use cairn::provider::anthropic::AnthropicDecoder;
use cairn::provider::openai::OpenAiDecoder;
use cairn::provider::sse::framer::Framer;
use cairn::provider::sse::{SseDecoder, SseEvent};
use cairn::tools::{Approval, ToolKind};
use serde_json::json;

/// xorshift64*: enough randomness for mutations, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// One mutation of `input`: a byte flipped, a token or another seed's piece spliced in, a
/// range deleted or repeated.
fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>], tokens: &[&str]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let token = tokens[rng.below(tokens.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            2 if !out.is_empty() => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 if !out.is_empty() => {
                let start = rng.below(out.len());
                let end = (start + rng.below(64)).min(out.len());
                let piece = out[start..end].to_vec();
                for _ in 0..=rng.below(3) {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let start = rng.below(other.len());
                let end = (start + rng.below(128)).min(other.len());
                out.splice(at..at, other[start..end].iter().copied());
            }
            _ => out.insert(at, rng.next() as u8),
        }
    }
    out.truncate(64 << 10);
    out
}

/// Runs `check` on mutations of the seeds for `seconds`; returns (runs, failures).
fn fuzz(name: &str, seconds: u64, seeds: &[Vec<u8>], tokens: &[&str], mut check: impl FnMut(&[u8], &mut Rng)) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let until = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut failures, mut slow) = (0u64, 0u64, 0u64);
    let mut corpus: Vec<Vec<u8>> = seeds.to_vec();
    while Instant::now() < until {
        let base = corpus[rng.below(corpus.len())].clone();
        let input = mutate(&mut rng, &base, seeds, tokens);
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| check(&input, &mut rng)));
        runs += 1;
        if outcome.is_err() {
            failures += 1;
            save(name, "panic", &input);
        } else if started.elapsed() > Duration::from_secs(1) {
            slow += 1;
            save(name, "slow", &input);
        }
        // Keep some mutants, so mutations build on each other.
        if rng.below(16) == 0 && corpus.len() < 4096 {
            corpus.push(input);
        }
    }
    println!("{name:10} {runs:>10} inputs in {seconds} s: {failures} panics, {slow} over a second");
}

fn save(name: &str, kind: &str, input: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    let _ = std::fs::create_dir_all(&dir);
    let path =
        dir.join(format!("{name}-{kind}-{}.bin", std::time::SystemTime::now().elapsed().map_or(0, |d| d.as_nanos())));
    let _ = std::fs::write(&path, input);
    println!("{name}: {kind} on {} ({:?})", path.display(), String::from_utf8_lossy(&input[..input.len().min(200)]));
}

fn sse_seeds() -> Vec<Vec<u8>> {
    let anthropic = [
        r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"Read","input":{}}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"file_path\": \"a\"}"}}"#,
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"ping"}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
        r#"{"type":"message_stop"}"#,
    ];
    let anthropic: String = anthropic.iter().map(|d| format!("event: x\ndata: {d}\n\n")).collect();
    let openai = [
        r#"{"id":"c","model":"q","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"hm"}}]}"#,
        r#"{"id":"c","model":"q","choices":[{"index":0,"delta":{"content":"Reading"}}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"Read","arguments":"{\"file_path\":"}}]}}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a\"}"}}]},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#,
        "[DONE]",
    ];
    let openai: String = openai.iter().map(|d| format!("data: {d}\r\n\r\n")).collect();
    vec![anthropic.into_bytes(), openai.into_bytes()]
}

/// Frames the bytes in random chunks and decodes them with both vendors' decoders.
fn check_sse(input: &[u8], rng: &mut Rng) {
    let mut framer = Framer::default();
    let mut events: Vec<SseEvent> = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(512));
        let _ = framer.push(&rest[..n], &mut events);
        rest = &rest[n..];
    }
    let _ = framer.finish(&mut events);
    let mut anthropic = AnthropicDecoder::default();
    let mut openai = OpenAiDecoder::default();
    let mut out = Vec::new();
    for event in &events {
        let _ = anthropic.decode(event, &mut out);
        let _ = openai.decode(event, &mut out);
    }
    let _ = anthropic.finish(&mut out);
    let _ = openai.finish(&mut out);
    let mut builder = cairn::provider::ResponseBuilder::default();
    for event in &out {
        builder.apply(event);
    }
    let _ = builder.finish();
}

fn settings_seeds() -> Vec<Vec<u8>> {
    let full = json!({
        "permissions": {"allow": ["Bash(npm run test:*)", "Read(src/**)"], "deny": ["Read(./.env)", "Bash(curl:*)"],
                        "ask": ["Bash(git push:*)"], "defaultMode": "acceptEdits", "additionalDirectories": ["../lib"]},
        "hooks": {"PreToolUse": [{"matcher": "Bash|Edit", "hooks": [{"type": "command", "command": "true", "timeout": 5}]}]},
        "env": {"A": "1"}, "model": "sonnet", "statusLine": {"type": "command", "command": "echo hi"},
        "autoCompactEnabled": true, "claudeCompat": true
    });
    vec![full.to_string().into_bytes(), b"{}".to_vec(), br#"{"permissions": {"deny": "Bash(rm:*)"}}"#.to_vec()]
}

fn check_settings(input: &[u8], dir: &Path) {
    std::fs::write(dir.join(".claude/settings.json"), input).unwrap();
    let env = |name: &str| (name == "HOME").then(|| dir.to_string_lossy().into_owned());
    let locations = Locations::from_env(dir, &dir.join("home"), None, &env);
    if let Ok(settings) = Settings::load(&locations) {
        let _ = settings.untrusted();
    }
}

fn shell_seeds() -> Vec<Vec<u8>> {
    [
        "git status && git diff | head -5",
        "GIT_CONFIG_PARAMETERS=\"'core.pager=sh'\" git log > out.txt 2>&1",
        "for f in *.rs; do echo \"$f\"; done; (( x + 1 )); [[ $y -eq 0 ]]",
        "awk 'BEGIN{system(\"ls\")}' file | xargs -n1 rm -f",
        "cat <<EOF > notes.md\n$(date) ${x@P} ${!y} ${a[$i]}\nEOF",
        "find . -name '*.tmp' -exec bash -c 'rm \"$1\"' _ {} \\;",
        "x=$(printf -v 'a[$(id)]' %s 1); source /dev/stdin <<< 'ls'",
        "alias ll='ls -la'\nll; watch -n1 'ls; date'",
        "sed -n '/a/,/b/{s/x/y/gw out.txt\n}' f; sed -ne '1e date' g",
        "perl -lne 'print' f; python3 -c'print(1)'; timeout --signal KILL 5 env a-b=1 ls",
        "git -C src log -p -L1,9:.env HEAD~3 -- x; git show HEAD:a/b; rg --hidden -uu x",
        "for PATH in ./bin; do read HOME; printf -v X %s \"${Y:z}\"; done; [ -v 'a[1]' ]",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn main() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    std::panic::set_hook(Box::new(|_| {}));

    if wanted("sse") {
        let tokens = [
            "\n", "\r", "\r\n", "\n\n", "data: ", "event: ", ":", "{", "}", "\"", "[DONE]", "\u{feff}", "1e300", "null",
        ];
        fuzz("sse", seconds, &sse_seeds(), &tokens, check_sse);
    }
    if wanted("settings") {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".claude")).unwrap();
        let tokens =
            ["{", "}", "[", "]", "\"", ",", ":", "null", "1e300", "-1", "\"Bash(\"", "\"Read(//**)\"", "\\u0000"];
        fuzz("settings", seconds, &settings_seeds(), &tokens, |input, _| check_settings(input, dir.path()));
    }
    if wanted("shell") {
        let root = tempfile::tempdir().unwrap();
        let origin = Origin { label: "fuzz".into(), dir: root.path().to_path_buf() };
        let rules = |list: &[&str]| list.iter().map(|r| (PermissionRule::parse(r).unwrap(), origin.clone())).collect();
        let (policy, _) = PermissionPolicy::new(
            PermissionMode::BypassPermissions,
            Rules {
                allow: rules(&["Bash(git status:*)", "Bash(ls:*)"]),
                ask: rules(&["Bash(git push:*)"]),
                deny: rules(&["Bash(rm:*)", "Bash(curl:*)", "Read(./.env)", "Read(secrets/**)"]),
            },
            Anchors { settings_dir: root.path().into(), project_dir: root.path().into(), home: None },
        );
        let working = [root.path().to_path_buf()];
        let tokens = [
            "$(",
            ")",
            "`",
            "'",
            "\"",
            "\\",
            "|",
            ";",
            "&&",
            "${",
            "}",
            "[[",
            "]]",
            "((",
            "))",
            "<<",
            ">",
            "<(",
            "=",
            "\n",
            "\0",
            "é",
            "\u{f8657}",
            "a[$(",
            "@P",
            "${!",
            "bash -c ",
            "eval ",
            "§",
            "sed ",
            "s/",
            "/e",
            " -e",
            "\\",
        ];
        fuzz("shell", seconds, &shell_seeds(), &tokens, |input, _| {
            let script = String::from_utf8_lossy(input);
            let _ = cairn::permissions::shell::analyze(&script);
            let ctx = Context { cwd: root.path(), working_dirs: &working, readable_dirs: &[], paths_held: false };
            let input = json!({ "command": script });
            let call = Call { tool: "Bash", kind: ToolKind::Mutating, approval: Approval::Needed, input: &input };
            let _ = policy.decide(&call, &ctx);
        });
    }
}
