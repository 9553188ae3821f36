#!/usr/bin/env python3
"""Start-up with MCP servers: `cairn` in a pseudo-terminal to the prompt on screen, with no
server configured and with three (two `server-everything` over stdio and one that never
answers), and how long the servers themselves take to be ready. The prompt must not wait
for them. Needs `npm ci --prefix tests/mcp-servers`.

    python3 benches/mcp_startup.py
"""

import json
import statistics
import subprocess
import tempfile
from pathlib import Path

import tui_pty
from tui_pty import PROMPT, ROOT, Mock, Tui

EVERYTHING = ROOT / "tests/mcp-servers/node_modules/@modelcontextprotocol/server-everything/dist/index.js"


def startup(workdir, servers, runs=5):
    home = Path(workdir) / "home"
    home.mkdir(exist_ok=True)
    config = home / "mcp.json"
    if servers:
        config.write_text(json.dumps({"mcpServers": servers}))
    elif config.exists():
        config.unlink()
    mock = Mock([], workdir)
    prompts, ready = [], []
    try:
        for _ in range(runs):
            tui = Tui(mock, workdir)
            prompts.append((tui.wait_for(PROMPT) - tui.started) * 1000)
            if servers:
                for name in servers:
                    if name != "silent":
                        tui.wait_for(f"MCP server {name} is ready".encode(), timeout=30)
                ready.append((tui.wait_for(b"is ready") - tui.started) * 1000)
            tui.close()
    finally:
        mock.close()
    return statistics.median(prompts), (statistics.median(ready) if ready else None)


def main():
    assert EVERYTHING.is_file(), "run `npm ci --prefix tests/mcp-servers` first"
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "cairn", "--example", "mock_llm"], cwd=ROOT, check=True)
    servers = {
        "one": {"command": "node", "args": [str(EVERYTHING), "stdio"]},
        "two": {"command": "node", "args": [str(EVERYTHING), "stdio"]},
        "silent": {"command": "sleep", "args": ["1000"]},
    }
    with tempfile.TemporaryDirectory() as workdir:
        none, _ = startup(workdir, {})
        three, ready = startup(workdir, servers)
    print(f"start-up to prompt on screen, no MCP server: {none:.1f} ms (median of 5)")
    print(f"start-up to prompt on screen, three servers (one never answers): {three:.1f} ms; "
          f"the servers' tools ready after {ready:.0f} ms")


if __name__ == "__main__":
    main()
