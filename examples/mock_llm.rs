//! The scripted mock LLM server, on its own: point cairn (or any Anthropic or OpenAI client)
//! at it to see a scenario played over real HTTP/SSE.
//!
//! ```text
//! cargo run --example mock_llm -- --scenario examples/scenarios/hello.yaml [--port 8765] [--record requests.jsonl]
//! ANTHROPIC_API_KEY=demo ANTHROPIC_BASE_URL=http://127.0.0.1:8765 cargo run -- -p "hi" --no-session-persistence
//! cairn -p hi --provider openai --base-url http://127.0.0.1:8765/v1 --model mock --no-session-persistence
//! ```
//! Every request is logged on stderr (and, with `--record`, appended as a JSON line).

#[path = "../tests/support/mock_llm/mod.rs"]
#[allow(dead_code, unused_imports)]
mod mock_llm;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use mock_llm::{MockLlm, Scenario};

struct Args {
    scenario: PathBuf,
    port: u16,
    record: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut scenario = None;
    let mut port = 0;
    let mut record = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--scenario" => scenario = Some(PathBuf::from(value()?)),
            "--port" => port = value()?.parse().map_err(|_| "--port takes a number".to_owned())?,
            "--record" => record = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let scenario = scenario.ok_or("--scenario FILE is required")?;
    Ok(Args { scenario, port, record })
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("mock_llm: {problem}");
            }
            eprintln!("usage: mock_llm --scenario FILE [--port N] [--record FILE]");
            std::process::exit(2);
        }
    };
    let scenario = Scenario::load(&args.scenario).unwrap_or_else(|e| {
        eprintln!("mock_llm: {e}");
        std::process::exit(1);
    });
    let steps = scenario.steps.len();
    let mock = MockLlm::start_on(scenario, &format!("127.0.0.1:{}", args.port)).unwrap_or_else(|e| {
        eprintln!("mock_llm: cannot listen on port {}: {e}", args.port);
        std::process::exit(1);
    });
    println!("mock LLM on {} playing {steps} steps (Ctrl-C to stop)", mock.url());
    // A demo's session does not belong in the user's own ~/.cairn.
    println!("  ANTHROPIC_API_KEY=demo ANTHROPIC_BASE_URL={} cairn -p \"hi\" --no-session-persistence", mock.url());
    println!("  cairn -p \"hi\" --provider openai --base-url {}/v1 --model mock --no-session-persistence", mock.url());
    let mut record = args.record.map(|path| {
        std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap_or_else(|e| {
            eprintln!("mock_llm: cannot open {}: {e}", path.display());
            std::process::exit(1);
        })
    });
    let mut logged = 0;
    loop {
        // Seldom enough that logging (which serialises whole request bodies) does not compete
        // for the CPU with a run being measured.
        std::thread::sleep(Duration::from_millis(250));
        // A request is logged once its answer is complete (so the record has both times), or
        // once a later request shows the client gave up on it.
        let requests = mock.requests_since(logged);
        let total = logged + requests.len();
        let done = requests.iter().take_while(|r| r.finished_at.is_some() || r.index + 1 < total).count();
        for request in &requests[..done] {
            let problems =
                if request.history_problems.is_empty() { String::new() } else { " (history rejected)".into() };
            eprintln!("#{} {} {} → step {}{problems}", request.index, request.method, request.path, request.index);
            if let Some(file) = record.as_mut() {
                let _ = file.write_all(format!("{}\n", mock_llm::to_json(request)).as_bytes());
            }
        }
        logged += done;
    }
}
