// Drives cairn with Anthropic's TypeScript Agent SDK (@anthropic-ai/claude-agent-sdk from
// npm), as a program written for Claude Code would: only the executable path changes.
//
//     node drive.mjs SCENARIO      # CAIRN (the binary) and PROJECT (the folder) in the env
//
// Prints one JSON object per observation on stdout; tests/sdk.rs reads them.

import { query } from "@anthropic-ai/claude-agent-sdk";

const say = (fields) => console.log(JSON.stringify(fields));
const base = { pathToClaudeCodeExecutable: process.env.CAIRN, cwd: process.env.PROJECT };

async function* prompts(...texts) {
  for (const text of texts) {
    yield { type: "user", message: { role: "user", content: text }, parent_tool_use_id: null, session_id: "" };
  }
}

const scenarios = {
  // canUseTool: deny one command, allow another with a changed input.
  async can_use_tool() {
    const canUseTool = async (tool, input) => {
      say({ kind: "asked", tool, input });
      if ((input.command ?? "").startsWith("rm")) return { behavior: "deny", message: "not that one" };
      return { behavior: "allow", updatedInput: { command: "echo changed > changed.txt" } };
    };
    for await (const m of query({ prompt: prompts("clean up"), options: { ...base, canUseTool } })) {
      say({ kind: m.type, subtype: m.subtype, result: m.result });
    }
  },
  // A PreToolUse hook that refuses, and structured output.
  async hooks_and_structure() {
    const hooks = {
      PreToolUse: [{ matcher: "Bash", hooks: [async (input) => {
        say({ kind: "hook", event: input.hook_event_name, command: input.tool_input.command });
        return { hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: "deny",
                                       permissionDecisionReason: "no shell today" } };
      }] }],
    };
    const outputFormat = { type: "json_schema", schema: { type: "object", properties: { ok: { type: "boolean" } },
                                                           required: ["ok"] } };
    for await (const m of query({ prompt: prompts("check"), options: { ...base, hooks, outputFormat } })) {
      say({ kind: m.type, subtype: m.subtype, structured: m.structured_output });
    }
  },
};

await scenarios[process.argv[2]]();
