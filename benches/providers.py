#!/usr/bin/env python3
"""Each provider side by side, against the mock LLM server speaking its wire format.

    python3 benches/providers.py      # builds release binaries (via run.py), prints a table

For Anthropic Messages, OpenAI Chat Completions (a local server), the OpenAI Responses API
and Gemini: the bytes of the first request of `-p "say hi"` with the full tool set (and of its
instructions + tool declarations alone), and the gap from the end of each model reply to the
next request in a 20-turn Read loop (median and p90, from the mock's own timestamps).
A benchmark: it reports, it does not fail.
"""

import json
import statistics
import tempfile
from pathlib import Path

import run

PROVIDERS = {
    "anthropic": (["--model", "claude-sonnet-5"], lambda url: {"ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": url}),
    "openai chat (local)": (
        ["--provider", "openai", "--model", "qwen-bench"],
        lambda url: {"OPENAI_BASE_URL": f"{url}/v1"},
    ),
    "openai responses": (
        ["--provider", "openai-responses", "--model", "gpt-5"],
        lambda url: {"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": f"{url}/v1"},
    ),
    "gemini": (
        ["--provider", "gemini", "--model", "gemini-2.5-pro"],
        lambda url: {"GEMINI_API_KEY": "bench", "GOOGLE_GEMINI_BASE_URL": url},
    ),
}


def env_for(mock, extra):
    env = run.env_for(mock)
    for key in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        env.pop(key, None)
    env.update(extra(mock.url))
    return env


def instructions_and_tools(body):
    """The bytes of the system prompt and tool declarations, wherever the format puts them."""
    parts = [body.get(k) for k in ("system", "instructions", "systemInstruction", "tools")]
    if body.get("messages") and body["messages"][0].get("role") == "system":
        parts.append(body["messages"][0])
    return sum(len(json.dumps(p).encode()) for p in parts if p)


def first_request(workdir, args, extra):
    mock = run.Mock([{"text": "Hi!"}], workdir)
    try:
        run.timed([str(run.CAIRN), "-p", "say hi", "--no-session-persistence", *args], env=env_for(mock, extra), cwd=workdir)
        body = mock.requests(1)[0]["body"]
    finally:
        mock.close()
    return len(json.dumps(body).encode()), instructions_and_tools(body)


def gaps(workdir, args, extra, turns=20, runs=3):
    project = Path(workdir) / "loop"
    project.mkdir(exist_ok=True)
    for i in range(turns):
        (project / f"file{i:02}.rs").write_text("".join(f"fn f{i}_{n}() {{}}\n" for n in range(200)))
    steps = []
    for _ in range(runs):
        steps += [{"tool_calls": [{"name": "Read", "input": {"file_path": f"file{i:02}.rs"}}]} for i in range(turns - 1)]
        steps.append({"text": "Read them all."})
    mock = run.Mock(steps, workdir)
    try:
        env = env_for(mock, extra)
        argv = [str(run.CAIRN), "-p", "read every file", "--max-turns", "50", "--no-session-persistence", *args]
        for _ in range(runs):
            run.timed(argv, env=env, cwd=project)
        records = mock.requests(runs * turns)
    finally:
        mock.close()
    found = []
    for r in range(runs):
        chunk = records[r * turns : (r + 1) * turns]
        found += [b["received_at_ms"] - a["finished_at_ms"] for a, b in zip(chunk, chunk[1:])]
    return statistics.median(found), sorted(found)[int(len(found) * 0.9)]


def main():
    run.build()
    print(f"{'provider':22} {'first request':>14} {'prompt+tools':>13} {'gap median':>11} {'gap p90':>9}")
    with tempfile.TemporaryDirectory() as workdir:
        for name, (args, extra) in PROVIDERS.items():
            total, prompt = first_request(workdir, args, extra)
            median, p90 = gaps(workdir, args, extra)
            print(f"{name:22} {total / 1024:>11.2f} KB {prompt / 1024:>10.2f} KB {median:>8.2f} ms {p90:>6.2f} ms")


if __name__ == "__main__":
    main()
