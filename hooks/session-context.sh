#!/bin/sh
# SessionStart hook: tells the model where the repository stands (branch, last commit,
# uncommitted files) as `additionalContext`.
#
#   {"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "sh /path/to/session-context.sh"}]}]}}
cat > /dev/null
cd "${CLAUDE_PROJECT_DIR:-.}" || exit 0
if git rev-parse --git-dir > /dev/null 2>&1; then
    branch=$(git branch --show-current 2>/dev/null)
    last=$(git log -1 --format='%h %s' 2>/dev/null)
    changed=$(git status --porcelain 2>/dev/null | wc -l | tr -d ' ')
    context="Repository on branch ${branch:-(detached)}; last commit: ${last:-none}; ${changed} uncommitted file(s)."
else
    context="This folder is not a git repository."
fi
python3 -c 'import json, sys; print(json.dumps({"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": sys.argv[1]}}))' "$context"
