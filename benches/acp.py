#!/usr/bin/env python3
"""An editor's view of `cairn acp` and of Zed's ACP adapter running Claude Code, side by side.

    python3 benches/acp.py     # after the README's test command (it installs the ACP client)

For each agent, against the mock LLM server at zero latency, through the official ACP client
library (`benches/acp_client.mjs`): initialize + session/new, the time from `session/prompt` to
the first update and to the stop reason for "say hi" (medians), and the resident memory of the
agent's process tree idle with ten sessions. Then cairn's WebSocket reconnect: a new socket,
initialize and session/load of a ten-turn session, until the load is answered (replay
included). A benchmark: it reports, it does not fail.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402

ADAPTER = run.ROOT / "tests/sdk/node_modules/@zed-industries/claude-agent-acp/dist/index.js"
# The Claude Code native build the TypeScript Agent SDK installs, for the adapter to run.
CLAUDE = run.ROOT / "tests/sdk/node_modules/@anthropic-ai/claude-agent-sdk-linux-x64/claude"
CLIENT = run.ROOT / "benches/acp_client.mjs"


def measure(agent, env, project, extra=None):
    env = {**env, "AGENT": json.dumps(agent), "PROJECT": str(project), **(extra or {})}
    out = subprocess.run(["node", str(CLIENT)], env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        sys.exit(f"{agent} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    run.build()
    with tempfile.TemporaryDirectory() as workdir:
        project = Path(workdir) / "project"
        project.mkdir()
        mock = run.Mock([{"text": "Hi!"} for _ in range(400)], workdir)
        env = run.env_for(mock)
        env.update({"CAIRN_HOME": str(Path(workdir) / "home"), "HOME": str(Path(workdir) / "home"),
                    "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                    # Claude Code refuses --allow-dangerously-skip-permissions (which the adapter
                    # passes) as root unless told it is in a sandbox.
                    "IS_SANDBOX": "1"})
        env["CLAUDE_CODE_EXECUTABLE"] = os.environ.get("CLAUDE_WRAP", str(CLAUDE))
        rows = [("cairn acp", [str(run.CAIRN), "acp"]),
                ("Zed adapter + Claude Code", ["node", str(ADAPTER)])]
        print(f"{'agent':28} {'init+new':>10} {'prompt→1st update':>18} {'prompt→stop':>12} {'idle, 10 sessions':>18}")
        for name, agent in rows:
            r = measure(agent, env, project)
            print(f"{name:28} {r['ready']:>7.1f} ms {r['first']:>15.1f} ms {r['stop']:>9.1f} ms {r['idleRss10']:>14.1f} MiB")
        listen = subprocess.Popen([str(run.CAIRN), "acp", "--listen", "127.0.0.1:0"], env=env, cwd=project,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        url = listen.stdout.readline().split()[-1]
        base, token = url.split("?token=")
        r = measure([], env, project, {"URL": base, "TOKEN": token})
        listen.kill()
        mock.close()
        print(f"cairn acp --listen: reconnect to a rebuilt view (initialize + session/load, "
              f"{r['replayed']} updates replayed): {r['reconnect']:.1f} ms in {r['requests']} requests")


if __name__ == "__main__":
    main()
