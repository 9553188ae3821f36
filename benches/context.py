#!/usr/bin/env python3
"""Context-management benchmarks, against the mock LLM server at zero latency.

    python3 benches/context.py        # builds release binaries, prints the figures

  - Compaction: cairn's own time to compact a ~150,000-token history, the model's time left
    out. A stream-json session of 20 KB prompts and 20 KB answers passes the threshold of a
    190,000-token window; from the mock's timestamps, cairn's time is the gap from the last
    answer to the summary request (measure, micro-compact, build and send a 600 KB request)
    plus the gap from the summary to the next request (memory re-read, the new first message,
    transcript entries, the request). An ordinary turn's gap is shown beside it.
  - Bytes sent per request over a 50-round session (a Read of a different 8 KB file each
    round) with micro-compaction (a 60,000-token window, so it comes into play) and without
    it (a 1,000,000-token window, so the history only grows).

Medians over several runs. This is a benchmark, not a test: it reports, it does not fail.
"""

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the shared helpers: build, Mock, env_for)

SUMMARY_ASK = "Summarize this conversation so far"


def project_with_window(workdir, name, window):
    project = Path(workdir) / name
    (project / ".cairn").mkdir(parents=True, exist_ok=True)
    (project / ".cairn" / "settings.json").write_text(json.dumps({"contextWindow": window}))
    return project


def env_with_home(mock, workdir):
    env = run.env_for(mock)
    env["CAIRN_HOME"] = str(Path(workdir) / "cairn-home")
    return env


def is_summary(record):
    last = record["body"]["messages"][-1]["content"]
    return isinstance(last, list) and any(SUMMARY_ASK in b.get("text", "") for b in last)


def body_bytes(record):
    return len(json.dumps(record["body"], separators=(",", ":"), ensure_ascii=False).encode())


def bench_compaction(workdir, runs=5, turns=17):
    prompt = "word " * 4000  # 20 KB, 5,000 tokens
    answer = "reply " * 3400  # 20 KB
    lines = "".join(
        json.dumps({"type": "user", "message": {"role": "user", "content": f"Prompt {i}. {prompt}"}}) + "\n"
        for i in range(turns)
    )
    own, ordinary, pre_tokens = [], [], []
    for attempt in range(runs):
        project = project_with_window(workdir, f"compact{attempt}", 190_000)
        # Large chunks: at zero latency, 1,700 small deltas would measure stream handling, which
        # a real model's pace hides.
        mock = run.Mock([{"text": answer, "chunk_chars": 4000} for _ in range(turns)], project)
        try:
            argv = [str(run.CAIRN), "-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"]
            proc = subprocess.run(argv, input=lines, text=True, capture_output=True, env=env_with_home(mock, workdir), cwd=project)
            if proc.returncode != 0:
                sys.exit(f"cairn failed ({proc.returncode}): {proc.stderr}")
            records = mock.requests(turns + 1)
        finally:
            mock.close()
        boundaries = [json.loads(l) for l in proc.stdout.splitlines() if '"compact_boundary"' in l]
        if len(boundaries) != 1:
            sys.exit(f"expected one compaction, saw {len(boundaries)}")
        pre_tokens.append(boundaries[0]["compact_metadata"]["pre_tokens"])
        s = next(i for i, r in enumerate(records) if is_summary(r))
        before = records[s]["received_at_ms"] - records[s - 1]["finished_at_ms"]
        after = records[s + 1]["received_at_ms"] - records[s]["finished_at_ms"]
        own.append(before + after)
        ordinary += [
            b["received_at_ms"] - a["finished_at_ms"]
            for i, (a, b) in enumerate(zip(records, records[1:]))
            if i + 1 != s and i != s
        ]
    return {
        "compaction_own_ms": statistics.median(own),
        "compaction_pre_tokens": statistics.median(pre_tokens),
        "turn_gap_ms": statistics.median(ordinary),
    }


def bench_bytes_per_turn(workdir, rounds=50):
    results = {}
    for label, window in (("with", 60_000), ("without", 1_000_000)):
        project = project_with_window(workdir, f"bytes-{label}", window)
        for i in range(rounds):
            (project / f"file{i:02}.txt").write_text("".join(f"line {n} of file {i}: some text\n" for n in range(280)))
        steps = [{"tool_calls": [{"name": "Read", "input": {"file_path": f"file{i:02}.txt"}}]} for i in range(rounds)]
        steps.append({"text": "Read them all."})
        mock = run.Mock(steps, project)
        try:
            argv = [str(run.CAIRN), "-p", "read every file", "--max-turns", str(rounds + 5), "--output-format", "stream-json", "--verbose"]
            proc = subprocess.run(argv, capture_output=True, text=True, env=env_with_home(mock, workdir), cwd=project)
            if proc.returncode != 0:
                sys.exit(f"cairn failed ({proc.returncode}): {proc.stderr}")
            records = mock.requests(rounds + 1)
        finally:
            mock.close()
        sizes = [body_bytes(r) for r in records if not is_summary(r)]
        results[label] = {
            "requests": len(sizes),
            "mean_kb": statistics.mean(sizes) / 1024,
            "last_kb": sizes[-1] / 1024,
            "total_mb": sum(sizes) / 1024 / 1024,
            "compactions": proc.stdout.count('"compact_boundary"'),
        }
    return results


def main():
    run.build()
    with tempfile.TemporaryDirectory() as workdir:
        compaction = bench_compaction(workdir)
        per_turn = bench_bytes_per_turn(workdir)
    print(f"compaction of a {compaction['compaction_pre_tokens']:,.0f}-token history, cairn's own time: "
          f"{compaction['compaction_own_ms']:.2f} ms (budget ≤ 20 ms); an ordinary turn's gap {compaction['turn_gap_ms']:.2f} ms")
    for label, r in per_turn.items():
        print(f"50 Read rounds {label:7} micro-compaction: {r['requests']} requests, mean {r['mean_kb']:.1f} KB, "
              f"last {r['last_kb']:.1f} KB, {r['total_mb']:.2f} MB in all, {r['compactions']} full compactions")
    out = run.ROOT / "benches" / "context-results.json"
    out.write_text(json.dumps({"compaction": compaction, "bytes_per_turn": per_turn}, indent=2) + "\n")


if __name__ == "__main__":
    main()
