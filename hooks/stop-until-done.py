#!/usr/bin/env python3
"""Stop hook: keeps the model working until it says a given word.

Write the word to `.cairn/stop-until` (in the project); until the model's last message
contains it, stopping is blocked with a reason the model reads as "Stop hook feedback".
It counts the model's answers in the transcript (`transcript_path`) to say which round
this is, and gives up after 20 rounds. Once the word is said, the file is removed.

    {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "python3 /path/to/stop-until-done.py"}]}]}}
"""

import json
import os
import sys


def answers(transcript_path: str) -> int:
    count = 0
    try:
        with open(transcript_path, encoding="utf-8") as transcript:
            for line in transcript:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if entry.get("type") == "assistant":
                    count += 1
    except OSError:
        pass
    return count


def main() -> int:
    event = json.load(sys.stdin)
    project = os.environ.get("CLAUDE_PROJECT_DIR", os.getcwd())
    state = os.path.join(project, ".cairn", "stop-until")
    if not os.path.exists(state):
        return 0
    with open(state, encoding="utf-8") as f:
        word = f.read().strip()
    if word and word in event.get("last_assistant_message", ""):
        os.remove(state)
        return 0
    rounds = answers(event.get("transcript_path", ""))
    if rounds >= 20:
        return 0
    reason = f"Not done yet (round {rounds}): keep working, and say {word} when everything is finished."
    print(json.dumps({"decision": "block", "reason": reason}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
