#!/usr/bin/env python3
"""UserPromptSubmit hook: refuses a prompt that carries what looks like a secret (an API
key, a private key), and otherwise hands the model today's date as context.

    {"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "python3 /path/to/prompt-guard.py"}]}]}}
"""

import datetime
import json
import re
import sys

SECRETS = [
    r"\bsk-[A-Za-z0-9_-]{20,}",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
]


def main() -> int:
    prompt = json.load(sys.stdin).get("prompt", "")
    if any(re.search(pattern, prompt) for pattern in SECRETS):
        print(json.dumps({"decision": "block", "reason": "The prompt looks like it contains a secret; it was not sent. Remove it and try again."}))
        return 0
    print(f"Today is {datetime.date.today().isoformat()}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
