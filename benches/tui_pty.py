#!/usr/bin/env python3
"""The interactive UI measured from outside, through a pseudo-terminal, against the mock.

    python3 benches/tui_pty.py          # builds release binaries; prints the figures

  - start-up: from spawn until the prompt is on screen
  - idle CPU over 10 seconds (user + system time of the process), in an empty folder and in
    a Claude Code user's project (`.claude/` with settings, commands and agents, a user
    `~/.claude/commands/`), where the watcher once reloaded three times a second
  - keystroke-to-screen latency while the mock streams 1,000 tokens per second
  - RSS after a scripted 1,000-turn session
  - `cairn --resume` of a 10,000-entry transcript: from spawn until the prompt is on screen

It answers the terminal's cursor-position query like a terminal does. A benchmark: it
reports, it does not fail on a slow machine.
"""

import json
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAIRN = ROOT / "target" / "release" / "cairn"
MOCK = ROOT / "target" / "release" / "examples" / "mock_llm"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Mock:
    def __init__(self, steps, workdir):
        scenario = Path(workdir) / "scenario.json"
        scenario.write_text(json.dumps({"steps": steps}))
        self.proc = subprocess.Popen([str(MOCK), "--scenario", str(scenario)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.url = self.proc.stdout.readline().split(" on ")[1].split(" ")[0]

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Tui:
    """cairn in a pty of 100x30; `output` collects everything it wrote."""

    def __init__(self, mock, workdir, args=(), home=None):
        self.master, slave = pty.openpty()
        os.set_blocking(self.master, False)
        import fcntl, struct, termios
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "CAIRN_"))}
        env.update({"ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": mock.url, "CAIRN_HOME": str(Path(workdir) / "home"),
                    "TERM": "xterm-256color"})
        if home is not None:
            env["HOME"] = str(home)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([str(CAIRN), *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=workdir,
                                     start_new_session=True)
        os.close(slave)
        self.output = b""

    def pump(self, timeout=0.05):
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 1 << 16)
        except (BlockingIOError, OSError):
            return b""
        if b"\x1b[6n" in data:
            os.write(self.master, b"\x1b[1;1R")
        self.output += data
        return data

    def wait_for(self, needle, timeout=20):
        deadline = time.perf_counter() + timeout
        while needle not in self.output:
            if time.perf_counter() > deadline:
                sys.exit(f"timed out waiting for {needle!r}")
            self.pump()
        return time.perf_counter()

    def send(self, data):
        os.write(self.master, data)

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_mib(self, field="VmRSS"):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def close(self):
        self.send(b"\x04")
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.master)


PROMPT = b"Ask cairn to do something"


def idle_cpu(tui, seconds=10):
    """CPU seconds the UI uses over `seconds` with nothing happening, once its prompt is up."""
    tui.wait_for(PROMPT)
    time.sleep(0.5)
    before = tui.cpu_seconds()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        tui.pump(0.5)
    return tui.cpu_seconds() - before


def startup_and_idle(workdir):
    mock = Mock([], workdir)
    try:
        starts = []
        for _ in range(5):
            tui = Tui(mock, workdir)
            at = tui.wait_for(PROMPT)
            starts.append((at - tui.started) * 1000)
            tui.close()
        tui = Tui(mock, workdir)
        idle = idle_cpu(tui)
        tui.close()
    finally:
        mock.close()
    return statistics.median(starts), idle


def keystroke_latency(workdir):
    # 1,000 events a second of four characters each: about 1,000 tokens per second.
    text = " ".join(f"tok{i % 10}" for i in range(20000))
    mock = Mock([{"text": text, "token_delay_ms": 1, "chunk_chars": 4}], workdir)
    try:
        tui = Tui(mock, workdir)
        tui.wait_for(PROMPT)
        tui.send(b"stream please\r")
        tui.wait_for(b"tok5")
        latencies = []
        for i in range(40):
            time.sleep(0.05)
            tui.pump(0)
            seen = len(tui.output)
            sent = time.perf_counter()
            tui.send(b"Z")
            while True:
                tui.pump(0.001)
                if tui.output.count(b"Z", seen) >= 1:
                    latencies.append((time.perf_counter() - sent) * 1000)
                    break
                if time.perf_counter() - sent > 2:
                    break
        tui.close()
    finally:
        mock.close()
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.9)], len(latencies)


def thousand_turns(workdir, turns=1000):
    answer = "Here is a short answer with a little **markdown** and `code`.\n\n- one\n- two\n"
    mock = Mock([{"text": answer + f"\nanswer {i}"} for i in range(turns)], workdir)
    try:
        tui = Tui(mock, workdir)
        tui.wait_for(PROMPT)
        started = time.perf_counter()
        for i in range(turns):
            tui.send(f"question {i}\r".encode())
            tui.wait_for(f"answer {i}".encode())
            if len(tui.output) > 1 << 22:
                tui.output = tui.output[-4096:]
        elapsed = time.perf_counter() - started
        rss, peak = tui.rss_mib(), tui.rss_mib("VmHWM")
        tui.close()
    finally:
        mock.close()
    return rss, peak, elapsed


def write_transcript(workdir, session_id, entries=10_000):
    """A long session in Claude Code's envelope: prompts, answers with a tool call, ~1 KB results."""
    folder = "".join(c if c.isalnum() else "-" for c in str(Path(workdir).resolve()))
    path = Path(workdir) / "home" / "projects" / folder / f"{session_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines, parent, i = [], None, 0
    base = {"isSidechain": False, "userType": "external", "cwd": str(workdir), "sessionId": session_id,
            "version": "0.1.0", "gitBranch": "main", "timestamp": "2026-11-29T12:00:00.000Z"}

    def add(kind, message, **extra):
        nonlocal parent
        uuid = f"{len(lines):08d}-0000-4000-8000-000000000000"
        lines.append(json.dumps({**base, "type": kind, "uuid": uuid, "parentUuid": parent, "message": message, **extra}))
        parent = uuid

    result = "".join(f"{n:>6}\tlet value_{n} = compute({n}); // line {n}\n" for n in range(1, 21))
    while len(lines) < entries:
        if i % 10 == 0:
            add("user", {"role": "user", "content": f"Prompt {i}: please look at module {i} and fix it."})
        usage = {"input_tokens": 1200, "output_tokens": 80, "cache_read_input_tokens": 30000}
        msg = {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-sonnet-5", "usage": usage}
        add("assistant", {**msg, "content": [{"type": "text", "text": f"Step {i}: reading the file first."}]})
        add("assistant", {**msg, "content": [{"type": "tool_use", "id": f"toolu_{i}", "name": "Read",
                                               "input": {"file_path": f"src/m{i}.rs"}}]})
        add("user", {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": result}]},
            toolUseResult={"type": "text"})
        i += 1
    path.write_text("\n".join(lines) + "\n")
    return len(lines), path.stat().st_size


def resume_large(workdir):
    session_id = "0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3"
    count, size = write_transcript(workdir, session_id)
    mock = Mock([], workdir)
    try:
        times = []
        for _ in range(5):
            tui = Tui(mock, workdir, ["--resume", session_id])
            tui.wait_for(b"Resumed")
            at = tui.wait_for(PROMPT)
            times.append((at - tui.started) * 1000)
            tui.close()
    finally:
        mock.close()
    return statistics.median(times), count, size

def idle_in_claude_project(workdir):
    """CPU over 10 idle seconds in a folder with `.claude/` and a user `~/.claude/`, and how
    many reload notices the screen showed (none: nothing changed)."""
    project = Path(workdir) / "claude-project"
    (project / ".claude" / "commands").mkdir(parents=True, exist_ok=True)
    (project / ".claude" / "agents").mkdir(parents=True, exist_ok=True)
    (project / ".claude" / "settings.json").write_text('{"permissions": {"deny": ["Read(./.env)"]}}')
    (project / ".claude" / "commands" / "review.md").write_text("Review $ARGUMENTS.\n")
    (project / ".claude" / "agents" / "tester.md").write_text("---\nname: tester\ndescription: tests\n---\nRun them.\n")
    (project / "CLAUDE.md").write_text("# Project\n")
    home = Path(workdir) / "user-home"
    (home / ".claude" / "commands").mkdir(parents=True, exist_ok=True)
    (home / ".claude" / "commands" / "hello.md").write_text("Say hello.\n")
    mock = Mock([], workdir)
    try:
        tui = Tui(mock, project, home=home)
        idle = idle_cpu(tui)
        reloads = tui.output.count(b"Reloaded")
        tui.close()
    finally:
        mock.close()
    return idle, reloads


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "cairn", "--example", "mock_llm"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as workdir:
        start_ms, idle = startup_and_idle(workdir)
        print(f"start-up to prompt on screen: {start_ms:.1f} ms (median of 5; budget well under 100 ms)")
        print(f"CPU over 10 idle seconds:     {idle * 1000:.0f} ms = {idle / 10 * 100:.2f} % (budget ≤ 0.1 %)")
        idle, reloads = idle_in_claude_project(workdir)
        print(f"the same in a project with .claude/ and ~/.claude/: {idle * 1000:.0f} ms = {idle / 10 * 100:.2f} %, {reloads} reload notices")
        median, p90, n = keystroke_latency(workdir)
        print(f"keystroke to screen while streaming ~1,000 tokens/s: median {median:.1f} ms, p90 {p90:.1f} ms ({n} keys; budget ≤ 16 ms)")
        resumed, count, size = resume_large(workdir)
        print(f"--resume of a {count:,}-entry transcript ({size / 1e6:.1f} MB) to the prompt on screen: {resumed:.1f} ms (median of 5; budget ≤ 300 ms)")
        rss, peak, elapsed = thousand_turns(workdir)
        print(f"after 1,000 turns: RSS {rss:.1f} MiB, peak {peak:.1f} MiB (budget ≤ 80 MiB); {elapsed:.1f} s for the session")


if __name__ == "__main__":
    main()
