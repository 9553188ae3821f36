#!/usr/bin/env python3
"""PreToolUse hook for Edit, MultiEdit and Write: refuses changes to protected files, with a
reason the model reads (JSON `permissionDecision: "deny"`).

    {"hooks": {"PreToolUse": [{"matcher": "Edit|MultiEdit|Write", "hooks": [
        {"type": "command", "command": "python3 /path/to/protect-paths.py"}]}]}}

PROTECTED_PATHS (colon-separated globs, default `.env:.env.*:*.lock:.git/*`) says what is
protected; paths are matched relative to the project ($CLAUDE_PROJECT_DIR).
"""

import fnmatch
import json
import os
import sys


def main() -> int:
    event = json.load(sys.stdin)
    path = event.get("tool_input", {}).get("file_path", "")
    project = os.environ.get("CLAUDE_PROJECT_DIR", os.getcwd())
    relative = os.path.relpath(os.path.abspath(path), project)
    patterns = os.environ.get("PROTECTED_PATHS", ".env:.env.*:*.lock:.git/*").split(":")
    hit = next((p for p in patterns if fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(os.path.basename(relative), p)), None)
    if hit is None:
        return 0
    print(json.dumps({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": f"{relative} is protected (matches {hit}); leave it unchanged.",
        }
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
