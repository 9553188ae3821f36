#!/usr/bin/env python3
"""Compares the exact bytes two cairn binaries send the model.

    python3 benches/request_bytes.py OLD_CAIRN NEW_CAIRN

Runs each binary with `-p` in the same fresh project (a CLAUDE.md, a settings file with
rules and a hook, a .claude/commands file, a git repository), with the same session id,
against a recording server that answers with a Read call, a Bash call, then text; prints
whether every request body is byte-identical, and the first difference if not. A
refactoring that must not change what the model sees is checked with it.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SESSION = "6f1c1a52-2f3e-4d6b-9c1a-0d8e7b3f4a21"


def server(bodies):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            bodies.append(raw)
            turns = sum(1 for m in json.loads(raw)["messages"] if m["role"] == "assistant")
            events = [("message_start", {"type": "message_start", "message": {
                "id": f"m{turns}", "type": "message", "role": "assistant", "model": "claude-sonnet-5",
                "content": [], "usage": {"input_tokens": 10, "output_tokens": 1}}})]
            if turns < 2:
                name, args = [("Read", {"file_path": "notes.txt"}), ("Bash", {"command": "echo hi"})][turns]
                events += [
                    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
                        "type": "tool_use", "id": f"toolu_{turns}", "name": name, "input": {}}}),
                    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
                        "type": "input_json_delta", "partial_json": json.dumps(args)}}),
                    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                                       "usage": {"output_tokens": 5}}),
                ]
            else:
                events += [
                    ("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}}),
                    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "text_delta", "text": "done"}}),
                    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                       "usage": {"output_tokens": 5}}),
                ]
            events.append(("message_stop", {"type": "message_stop"}))
            payload = b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def project(root):
    (root / ".claude" / "commands").mkdir(parents=True)
    (root / "CLAUDE.md").write_text("# Project\nUse tabs.\n")
    (root / "notes.txt").write_text("one\ntwo\n")
    (root / ".claude" / "commands" / "review.md").write_text("---\ndescription: Review\n---\nReview $ARGUMENTS\n")
    (root / ".claude" / "settings.json").write_text(json.dumps({
        "permissions": {"allow": ["Bash(echo:*)"], "deny": ["Read(./secrets/**)"]},
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}]},
    }))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)


def requests(binary, root, home):
    bodies = []
    httpd = server(bodies)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CAIRN_", "CLAUDE_"))}
    env.update({"HOME": str(home), "CAIRN_HOME": str(home / ".cairn"), "ANTHROPIC_API_KEY": "k",
                "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{httpd.server_port}"})
    out = subprocess.run([binary, "-p", "look at notes.txt", "--session-id", SESSION, "--no-session-persistence"],
                         cwd=root, env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    httpd.shutdown()
    if out.returncode != 0:
        sys.exit(f"{binary} failed ({out.returncode}): {out.stderr.decode()}")
    return bodies


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root, home = tmp / "project", tmp / "home"
        root.mkdir()
        home.mkdir()
        project(root)
        old = requests(os.path.abspath(sys.argv[1]), root, home)
        shutil.rmtree(home)
        home.mkdir()
        new = requests(os.path.abspath(sys.argv[2]), root, home)
    print(f"{len(old)} and {len(new)} requests; {sum(map(len, old))} and {sum(map(len, new))} bytes")
    for i, (a, b) in enumerate(zip(old, new)):
        if a != b:
            at = next(k for k in range(min(len(a), len(b))) if a[k] != b[k]) if a[:len(b)] != b[:len(a)] else min(len(a), len(b))
            print(f"request {i + 1} differs at byte {at}:\n  old …{a[max(0, at - 80):at + 80]!r}\n  new …{b[max(0, at - 80):at + 80]!r}")
            sys.exit(1)
    if len(old) != len(new):
        sys.exit("the number of requests differs")
    print("byte-identical")


if __name__ == "__main__":
    main()
