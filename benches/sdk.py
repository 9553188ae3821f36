#!/usr/bin/env python3
"""The Agent SDK's view of cairn and of the CLI it bundles, side by side.

    target/sdk-venv/bin/python benches/sdk.py     # after the README's test command

For each CLI — cairn (release build) and the Claude Code the Python `claude-agent-sdk` bundles —
against the mock LLM server at zero latency: the time from `query()` to its first message and
to its result for "say hi" (median of several runs), and cairn's peak RSS under the SDK.
A benchmark: it reports, it does not fail.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import claude_agent_sdk
from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402

RUNS = 5
BUNDLED = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"


async def once(cli, cwd):
    started = time.perf_counter()
    first = result = None
    opts = ClaudeAgentOptions(cli_path=str(cli), cwd=str(cwd))
    async for message in query(prompt="say hi", options=opts):
        if first is None:
            first = (time.perf_counter() - started) * 1000
        if isinstance(message, ResultMessage) and result is None:
            result = (time.perf_counter() - started) * 1000
    return (first, result) if result is not None else None


def measure(cli, workdir):
    mock = run.Mock([{"text": "Hi!"} for _ in range(RUNS * 10)], workdir)
    os.environ.update({"ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": mock.url,
                       "CAIRN_HOME": str(Path(workdir) / "home"), "DISABLE_TELEMETRY": "1",
                       "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"})
    try:
        times = [anyio.run(once, cli, workdir) for _ in range(RUNS)]
    finally:
        mock.close()
    firsts = [t[0] for t in times if t]
    results = [t[1] for t in times if t]
    return statistics.median(firsts), statistics.median(results)


def peak_rss_under_sdk(workdir):
    """cairn's peak RSS while the SDK drives it: GNU time wraps the binary."""
    wrapper = Path(workdir) / "cairn-timed"
    out = Path(workdir) / "rss.txt"
    wrapper.write_text(f"#!/bin/sh\nexec {run.GNU_TIME} -f %M -o {out} {run.CAIRN} \"$@\"\n")
    wrapper.chmod(0o755)
    measure(wrapper, workdir)
    return int(out.read_text().split()[-1]) / 1024


def main():
    run.build()
    with tempfile.TemporaryDirectory() as workdir:
        rows = [("cairn", run.CAIRN), ("Claude Code (bundled)", BUNDLED)]
        print(f"{'CLI':24} {'query() → first message':>24} {'query() → result':>18}")
        for name, cli in rows:
            first, result = measure(cli, workdir)
            print(f"{name:24} {first:>21.1f} ms {result:>15.1f} ms")
        print(f"cairn peak RSS under the SDK: {peak_rss_under_sdk(workdir):.1f} MiB")


if __name__ == "__main__":
    main()
