#!/usr/bin/env python3
"""What a team buys and costs (`python3 benches/team.py`; release build, mock LLM).

The same work twice, on a mock whose every response takes a fixed time to stream
(TOKEN_DELAY_MS between SSE events, about 200 ms a response):
  - one agent doing twenty tool turns (a Read each), then answering;
  - a coordinator (`--coordinator`) starting four workers that do five of those turns each,
    waiting for them (TaskOutput), and answering.
Reports the wall time of each (median of RUNS), the speed-up, and peak RSS of each run: the
difference over four is the memory a worker costs.
This is a benchmark, not a test: it reports, it does not fail on a slow machine.
"""

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the shared mock and timing helpers)

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TOKEN_DELAY_MS = int(os.environ.get("TOKEN_DELAY_MS", "25"))
WORKERS = 4
TURNS = 5


def step(marker, **fields):
    return {"when": marker, "token_delay_ms": TOKEN_DELAY_MS, **fields}


def read(path):
    return {"tool_calls": [{"name": "Read", "input": {"file_path": path}}]}


def single_steps(workdir):
    marker = "ALONE:"
    steps = [step(marker, **read(f"{workdir}/f{i}.txt")) for i in range(WORKERS * TURNS)]
    return steps + [step(marker, text="All twenty files read.")]


def team_steps(workdir):
    lead = "LEAD:"
    tasks = [{"name": "Task", "input": {"description": f"part {w}", "prompt": f"WORKER-{w}: read your files",
                                         "name": f"w{w}"}} for w in range(WORKERS)]
    waits = [{"name": "TaskOutput", "input": {"task_id": f"w{w}", "timeout": 120000}} for w in range(WORKERS)]
    steps = [step(lead, tool_calls=tasks), step(lead, tool_calls=waits),
             step(lead, text="The workers are done."), step(lead, text="All twenty files read.")]
    for w in range(WORKERS):
        marker = f"WORKER-{w}:"
        steps += [step(marker, **read(f"{workdir}/f{w * TURNS + t}.txt")) for t in range(TURNS)]
        steps.append(step(marker, text=f"Worker {w} read its files."))
    return steps


def measure(workdir, make_steps, argv):
    walls, rss = [], []
    for i in range(RUNS):
        mock = run.Mock(make_steps(workdir), workdir)
        try:
            env = run.env_for(mock)
            if i == 0:
                rss.append(run.peak_rss_mib([str(run.CAIRN), *argv], env=env, cwd=workdir))
            else:
                walls.append(run.timed([str(run.CAIRN), *argv], env=env, cwd=workdir)[0])
        finally:
            mock.close()
    return statistics.median(walls) * 1000, max(rss)


def main():
    run.build()
    with tempfile.TemporaryDirectory() as workdir:
        workdir = str(Path(workdir).resolve())
        for i in range(WORKERS * TURNS):
            Path(workdir, f"f{i}.txt").write_text(f"file {i}\n")
        alone_ms, alone_rss = measure(workdir, single_steps, ["-p", "ALONE: read the files"])
        team_ms, team_rss = measure(workdir, team_steps, ["-p", "LEAD: read the files", "--coordinator"])
    results = {
        "token_delay_ms": TOKEN_DELAY_MS,
        "one_agent_ms": round(alone_ms),
        "four_workers_ms": round(team_ms),
        "speed_up": round(alone_ms / team_ms, 2),
        "one_agent_rss_mib": round(alone_rss, 1),
        "team_rss_mib": round(team_rss, 1),
        "rss_per_worker_mib": round((team_rss - alone_rss) / WORKERS, 2),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
