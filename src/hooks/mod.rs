//! Hooks: the user's commands, run at points of the session as Claude Code runs them.

/// The events cairn knows (Claude Code's names).
pub const EVENTS: &[&str] = &[
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "UserPromptSubmit",
    "Stop",
    "SubagentStop",
    "SessionStart",
    "SessionEnd",
    "PreCompact",
    "PostCompact",
    "Notification",
    "PermissionRequest",
    "SubagentStart",
];
