#!/usr/bin/env python3
"""What working ahead saves and costs (`python3 benches/speculation.py`; release build, mock).

1. Streaming tool execution: a response of about two seconds (TOKEN_DELAY_MS between SSE
   events) whose first block is a Grep over a tree of files, then a long text tail; the
   wall time of `cairn -p` with early starts on and off (`CAIRN_STREAMING_TOOLS=0`).
2. Speculation, in a real terminal (tmux): after a first turn the mock suggests the next
   prompt; cairn works ahead on it (a Read, then a 60-token answer at TOKEN_DELAY_MS).
   Enter → answer on screen for the accepted suggestion (Tab, Enter) and for an ordinary
   prompt of the same shape; and what the speculation cost, adopted or discarded (/cost).
This is a benchmark, not a test: it reports, it does not fail on a slow machine.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TOKEN_DELAY_MS = int(os.environ.get("TOKEN_DELAY_MS", "20"))


def streaming(workdir):
    tree = Path(workdir, "tree")
    for d in range(40):
        folder = tree / f"d{d}"
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(50):
            (folder / f"f{f}.txt").write_text(("lorem ipsum dolor sit amet\n" * 1500) + "needle\n")
    tail = "The rest of the answer keeps streaming in small pieces. " * 18
    steps = [
        {"tool_calls": [{"name": "Grep", "input": {"pattern": "needle", "path": str(tree), "output_mode": "count"}}],
         "text_after": tail, "chunk_chars": 10, "token_delay_ms": TOKEN_DELAY_MS},
        {"text": "Found them."},
    ]
    out = {}
    for label, value in (("early", "1"), ("after_stream", "0")):
        walls = []
        for _ in range(RUNS):
            mock = run.Mock(steps, workdir)
            try:
                env = {**run.env_for(mock), "CAIRN_STREAMING_TOOLS": value}
                walls.append(run.timed([str(run.CAIRN), "-p", "find the needles"], env=env, cwd=workdir)[0])
            finally:
                mock.close()
        out[label] = statistics.median(walls) * 1000
    return {"response_ms": round(len(tail) / 10 * TOKEN_DELAY_MS), "early_ms": round(out["early"]),
            "after_stream_ms": round(out["after_stream"]), "saved_ms": round(out["after_stream"] - out["early"])}


def tmux(socket, *args):
    return subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", *args], capture_output=True, text=True)


def screen(socket):
    return tmux(socket, "capture-pane", "-t", "0", "-p").stdout


def wait(socket, text, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in screen(socket):
            return time.monotonic()
        time.sleep(0.002)
    raise SystemExit(f"waited for {text!r}:\n{screen(socket)}")


def speculation_run(workdir, accept):
    answer = " ".join(f"word{i}" for i in range(60))
    steps = [{"text": "Looked."},
             {"tool_calls": [{"name": "Read", "input": {"file_path": "notes.md"}}], "token_delay_ms": TOKEN_DELAY_MS},
             {"text": answer + " DONE", "token_delay_ms": TOKEN_DELAY_MS, "chunk_chars": 6}]
    Path(workdir, "notes.md").write_text("notes\n")
    mock = run.Mock(steps, workdir, suggestions=["summarise the notes"])
    socket = f"cairn-bench-{os.getpid()}-{accept}"
    try:
        env = " ".join(f"{k}={v}" for k, v in run.env_for(mock).items() if k.isidentifier())
        script = f"cd {workdir} && env {env} {run.CAIRN} 'look' ; sleep 60"
        tmux(socket, "new-session", "-d", "-x", "120", "-y", "40", "bash", "--norc", "-c", script)
        wait(socket, "summarise the notes  (Tab)")
        if accept:
            mock.requests(3)  # the speculation has its answer
            time.sleep(0.2)
            tmux(socket, "send-keys", "-t", "0", "Tab", "Enter")
        else:
            tmux(socket, "send-keys", "-t", "0", "-l", "read the notes")
            tmux(socket, "send-keys", "-t", "0", "Enter")
        sent = time.monotonic()
        shown = wait(socket, "DONE")
        tmux(socket, "send-keys", "-t", "0", "-l", "/cost")
        tmux(socket, "send-keys", "-t", "0", "Enter")
        wait(socket, "Total cost")
        cost_lines = [line.strip() for line in screen(socket).splitlines() if "Speculation" in line]
        return (shown - sent) * 1000, cost_lines
    finally:
        tmux(socket, "kill-server")
        mock.close()


def main():
    run.build()
    results = {"token_delay_ms": TOKEN_DELAY_MS}
    with tempfile.TemporaryDirectory() as workdir:
        results["streaming_tools"] = streaming(str(Path(workdir).resolve()))
    for accept in (True, False):
        times, costs = [], []
        for _ in range(RUNS):
            with tempfile.TemporaryDirectory() as workdir:
                ms, cost = speculation_run(str(Path(workdir).resolve()), accept)
                times.append(ms)
                costs = cost
        key = "accepted" if accept else "ordinary_turn"
        results[key] = {"enter_to_answer_ms": round(statistics.median(times), 1), "cost": costs}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
