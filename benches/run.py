#!/usr/bin/env python3
"""cairn's performance benchmarks, against the mock LLM server at zero latency.

    python3 benches/run.py            # builds release binaries, prints a table, writes benches/results.json

Measures the budgets of DESIGN.md that this stage of cairn can be held to:
  - `cairn --version`: wall time and peak RSS
  - `cairn -p "say hi"` end to end: wall time and peak RSS
  - a 20-turn loop reading 20 different files: wall time, and the gap from the end of each
    model reply to the next request (from the mock's own timestamps) — against the mock as
    usual and against the mock without TCP_NODELAY (as Python's http.server and several
    local model servers run: the body's last bytes wait ~40 ms for a delayed ACK)
  - the bytes of system prompt + tool schemas in the first request

Wall times are medians over several runs; peak RSS is the largest of five runs under GNU time.
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

ROOT = Path(__file__).resolve().parent.parent
CAIRN = ROOT / "target" / "release" / "cairn"
MOCK = ROOT / "target" / "release" / "examples" / "mock_llm"
RUNS = int(os.environ.get("BENCH_RUNS", "20"))

BUDGETS = {
    "version_ms": 5.0,
    "version_rss_mib": 8.0,
    "say_hi_ms": 25.0,
    "say_hi_rss_mib": 25.0,
    "gap_ms": 3.0,
    "gap_no_nodelay_ms": 3.0,
    "gap_python_ms": 3.0,
    "loop_ms": 150.0,
    "prompt_kb": 24.0,
}


def build():
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--bin", "cairn", "--example", "mock_llm"],
        cwd=ROOT,
        check=True,
    )


GNU_TIME = Path("/usr/bin/time")


def timed(argv, env=None, cwd=None):
    """Runs argv; returns (wall seconds, stdout)."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{argv} failed ({proc.returncode}):\n{proc.stdout.decode()}\n{proc.stderr.decode()}")
    return elapsed, proc.stdout.decode()


def peak_rss_mib(argv, env=None, cwd=None):
    """Peak RSS of argv in MiB, by GNU time: a small launcher, because Linux counts the memory
    a child had before exec (a fork of this Python process) in its ru_maxrss."""
    if not GNU_TIME.exists():
        sys.exit("peak RSS needs GNU time: sudo apt-get install time")
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run([str(GNU_TIME), "-f", "%M", "-o", out.name, *argv], env=env, cwd=cwd,
                       capture_output=True, stdin=subprocess.DEVNULL, check=True)
        return int(out.read().strip().splitlines()[-1]) / 1024.0


class Mock:
    """The mock_llm example on a free port, playing `steps`, recording requests to a file."""

    def __init__(self, steps, workdir, **options):
        self.scenario = Path(workdir) / "scenario.json"
        self.record = Path(workdir) / "requests.jsonl"
        if self.record.exists():
            self.record.unlink()
        self.scenario.write_text(json.dumps({"steps": steps, **options}))
        self.proc = subprocess.Popen(
            [str(MOCK), "--scenario", str(self.scenario), "--record", str(self.record)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        first = self.proc.stdout.readline()
        self.url = first.split(" on ")[1].split(" ")[0]

    def requests(self, n):
        deadline = time.time() + 10
        while time.time() < deadline:
            text = self.record.read_text() if self.record.exists() else ""
            lines = text.split("\n")[:-1]  # only complete lines: the mock may be mid-write
            if len(lines) >= n:
                records = [json.loads(l) for l in lines]
                if all(r["finished_at_ms"] is not None for r in records[: n - 1]):
                    return records
            time.sleep(0.05)
        sys.exit(f"the mock recorded fewer than {n} requests")

    def close(self):
        self.proc.kill()
        self.proc.wait()


def env_for(mock):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "CAIRN_"))}
    env.update({"ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": mock.url})
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(proxy, None)
    return env


def bench_version():
    walls = [timed([str(CAIRN), "--version"])[0] for _ in range(RUNS)]
    rss = max(peak_rss_mib([str(CAIRN), "--version"]) for _ in range(5))
    return statistics.median(walls) * 1000, rss


def bench_say_hi(workdir):
    mock = Mock([{"text": "Hi!"} for _ in range(RUNS + 5)], workdir)
    try:
        env = env_for(mock)
        walls = [timed([str(CAIRN), "-p", "say hi"], env=env, cwd=workdir)[0] for _ in range(RUNS)]
        rss = max(peak_rss_mib([str(CAIRN), "-p", "say hi"], env=env, cwd=workdir) for _ in range(5))
        first = mock.requests(1)[0]["body"]
        prompt_bytes = len(json.dumps(first.get("system", []))) + len(json.dumps(first.get("tools", [])))
        system_text = sum(len(b["text"].encode()) for b in first.get("system", []))
        tools_bytes = len(json.dumps(first.get("tools", [])).encode())
    finally:
        mock.close()
    return {
        "say_hi_ms": statistics.median(walls) * 1000,
        "say_hi_rss_mib": rss,
        "prompt_kb": prompt_bytes / 1024,
        "system_prompt_bytes": system_text,
        "tool_schema_bytes": tools_bytes,
    }


def bench_read_loop(workdir, turns=20, runs=5, nodelay=True):
    project = Path(workdir) / "project"
    project.mkdir(exist_ok=True)
    for i in range(turns):
        (project / f"file{i:02}.rs").write_text("".join(f"fn f{i}_{n}() {{}}\n" for n in range(200)))
    steps = []
    for _ in range(runs):
        steps += [{"tool_calls": [{"name": "Read", "input": {"file_path": f"file{i:02}.rs"}}]} for i in range(turns - 1)]
        steps.append({"text": "Read them all."})
    mock = Mock(steps, workdir, tcp_nodelay=nodelay)
    try:
        env = env_for(mock)
        walls = [timed([str(CAIRN), "-p", "read every file", "--max-turns", "50"], env=env, cwd=project)[0] for _ in range(runs)]
        records = mock.requests(runs * turns)
    finally:
        mock.close()
    gaps = []
    for run in range(runs):
        chunk = records[run * turns : (run + 1) * turns]
        gaps += [b["received_at_ms"] - a["finished_at_ms"] for a, b in zip(chunk, chunk[1:])]
    return {
        "loop_ms": statistics.median(walls) * 1000,
        "gap_ms": statistics.median(gaps),
        "gap_p90_ms": sorted(gaps)[int(len(gaps) * 0.9)],
    }


def bench_python_server(workdir, turns=20, runs=3):
    """The reply → next request gap against benches/nagle_server.py: Python's http.server,
    Nagle on, one write per event (the server's own clock on both ends)."""
    project = Path(workdir) / "nagle-project"
    project.mkdir(exist_ok=True)
    for i in range(5):
        (project / f"f{i}.txt").write_text(f"line {i}\n")
    log = Path(workdir) / "nagle.jsonl"
    gaps = []
    for _ in range(runs):
        log.unlink(missing_ok=True)
        with socket_port() as port:
            pass
        server = subprocess.Popen([sys.executable, str(ROOT / "benches" / "nagle_server.py"), str(port), str(turns), str(log)])
        try:
            wait_for_port(port)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "CAIRN_"))}
            env.update({"ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}"})
            timed([str(CAIRN), "-p", "read", "--max-turns", "50", "--no-session-persistence"], env=env, cwd=project)
        finally:
            server.kill()
            server.wait()
        records = [json.loads(l) for l in log.read_text().splitlines()]
        gaps += [(b["received"] - a["stop_written"]) * 1000 for a, b in zip(records, records[1:])]
    return {"gap_python_ms": statistics.median(gaps), "gap_python_p90_ms": sorted(gaps)[int(len(gaps) * 0.9)]}


class socket_port:
    """A free loopback port (bound, then released for the server to take)."""

    def __enter__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()


def wait_for_port(port, timeout=10):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"nothing listened on port {port}")


def median_ms(steps, workdir, argv, cwd, runs):
    """The median wall time of `argv` in `cwd` over `runs` runs against a mock playing `steps`."""
    mock = Mock(steps, workdir)
    try:
        env = env_for(mock)
        return statistics.median(timed(argv, env=env, cwd=cwd)[0] for _ in range(runs)) * 1000
    finally:
        mock.close()


def bench_hardening(workdir):
    """Inputs that once took seconds or gigabytes: one 16 MB SSE event, 40,000 permission
    rules at start-up, Grep over six million matching lines."""
    results = {}
    quiet = ["--no-session-persistence"]
    # One 16 MB text delta (the framer is linear: this took 55 s when it was not).
    steps = [{"text": "x" * (16 << 20), "chunk_chars": 16 << 20} for _ in range(3)]
    results["sse_16mb_event_ms"] = median_ms(steps, workdir, [str(CAIRN), "-p", "say it", *quiet], workdir, 3)
    # 40,000 rules in the project's settings.
    project = Path(workdir) / "rules-project"
    (project / ".claude").mkdir(parents=True, exist_ok=True)
    allow = [f"Bash(tool{i} --flag:*)" for i in range(20000)]
    deny = [f"Read(./dir{i}/**)" for i in range(20000)]
    (project / ".claude" / "settings.json").write_text(json.dumps({"permissions": {"allow": allow, "deny": deny}}))
    steps = [{"text": "Hi!"} for _ in range(10)]
    results["rules_40k_say_hi_ms"] = median_ms(steps, workdir, [str(CAIRN), "-p", "say hi", *quiet], project, 5)
    # Grep with six million matching lines (it once held all of them: 1.1 GB).
    grep_dir = Path(workdir) / "grep-project"
    grep_dir.mkdir(exist_ok=True)
    with open(grep_dir / "huge.txt", "w") as f:
        for _ in range(60):
            f.write("needle in a haystack\n" * 100_000)
    steps = [{"tool_calls": [{"name": "Grep", "input": {"pattern": "needle", "output_mode": "content"}}]}, {"text": "found"}]
    mock = Mock(steps, workdir)
    try:
        env = env_for(mock)
        results["grep_6m_lines_rss_mib"] = peak_rss_mib([str(CAIRN), "-p", "grep", "--no-session-persistence"], env=env, cwd=grep_dir)
    finally:
        mock.close()
    return results


def main():
    build()
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        results["version_ms"], results["version_rss_mib"] = bench_version()
        results.update(bench_say_hi(workdir))
        results.update(bench_read_loop(workdir))
        without = bench_read_loop(workdir, nodelay=False)
        results["gap_no_nodelay_ms"] = without["gap_ms"]
        results["gap_no_nodelay_p90_ms"] = without["gap_p90_ms"]
        results.update(bench_python_server(workdir))
        results.update(bench_hardening(workdir))
    rows = [
        ("cairn --version", "version_ms", "ms"),
        ("cairn --version peak RSS", "version_rss_mib", "MiB"),
        ('cairn -p "say hi" wall', "say_hi_ms", "ms"),
        ('cairn -p "say hi" peak RSS', "say_hi_rss_mib", "MiB"),
        ("reply → next request gap (median)", "gap_ms", "ms"),
        ("reply → next request gap (p90)", "gap_p90_ms", "ms"),
        ("gap, server without TCP_NODELAY (median)", "gap_no_nodelay_ms", "ms"),
        ("gap, server without TCP_NODELAY (p90)", "gap_no_nodelay_p90_ms", "ms"),
        ("gap, Python http.server (median)", "gap_python_ms", "ms"),
        ("gap, Python http.server (p90)", "gap_python_p90_ms", "ms"),
        ("20-turn read loop wall", "loop_ms", "ms"),
        ("system prompt + tool schemas", "prompt_kb", "KB"),
        ("one 16 MB SSE event, end to end", "sse_16mb_event_ms", "ms"),
        ('-p "say hi" with 40,000 permission rules', "rules_40k_say_hi_ms", "ms"),
        ("Grep over 6,000,000 matching lines, peak RSS", "grep_6m_lines_rss_mib", "MiB"),
    ]
    print(f"{'what':40} {'measured':>10} {'budget':>10}")
    for label, key, unit in rows:
        budget = BUDGETS.get(key)
        shown = f"≤ {budget:g} {unit}" if budget else ""
        mark = "" if budget is None else ("  ok" if results[key] <= budget else "  OVER")
        print(f"{label:40} {results[key]:>7.2f} {unit:3} {shown:>10}{mark}")
    print(f"(system prompt {results['system_prompt_bytes']} B, tool schemas {results['tool_schema_bytes']} B; {RUNS} runs)")
    (ROOT / "benches" / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
