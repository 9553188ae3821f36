#!/usr/bin/env python3
"""PreToolUse hook for Bash: refuses commands that have a better tool, and says which.

    {"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": "python3 /path/to/bash-validator.py"}]}]}}

Exit 2 blocks the call; what this prints on stderr is what the model reads.
"""

import json
import re
import sys

RULES = [
    (r"^\s*grep\b(?!.*\|)", "Use rg (ripgrep) instead of grep: it is faster and honours .gitignore."),
    (r"^\s*find\s+\S+\s+-name\b", "Use rg --files -g '<pattern>' instead of find -name."),
    (r"\bsudo\b", "Do not use sudo: ask the user to run privileged commands themselves."),
]


def main() -> int:
    try:
        event = json.load(sys.stdin)
    except json.JSONDecodeError as error:
        print(f"bash-validator: the hook input is not JSON: {error}", file=sys.stderr)
        return 1
    if event.get("tool_name") != "Bash":
        return 0
    command = event.get("tool_input", {}).get("command", "")
    problems = [message for pattern, message in RULES if re.search(pattern, command)]
    if not problems:
        return 0
    for message in problems:
        print(f"• {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
