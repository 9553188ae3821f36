"""Drives cairn with Anthropic's Python Agent SDK (`claude-agent-sdk` from PyPI), as a
program written for Claude Code would: only the CLI path changes.

    python drive.py SCENARIO        # CAIRN (the binary) and PROJECT (the folder) in the env

Prints one JSON object per observation on stdout; tests/sdk.rs reads them. The scenarios
exercise what the issue names: a one-shot query, can_use_tool (deny; allow with changed
input), SDK hooks, a two-turn client, interrupt, set_permission_mode / set_model, resume.
"""

import json
import os
import sys

import anyio
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    HookMatcher,
    PermissionResultAllow,
    PermissionResultDeny,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ToolUseBlock,
    UserMessage,
    create_sdk_mcp_server,
    query,
    tool,
)


def say(**fields):
    print(json.dumps(fields), flush=True)


def options(**extra):
    return ClaudeAgentOptions(cli_path=os.environ["CAIRN"], cwd=os.environ["PROJECT"], **extra)


def summary(message):
    if isinstance(message, SystemMessage):
        return {"kind": "system", "subtype": message.subtype}
    if isinstance(message, AssistantMessage):
        blocks = []
        for block in message.content:
            if isinstance(block, TextBlock):
                blocks.append({"text": block.text})
            elif isinstance(block, ToolUseBlock):
                blocks.append({"tool": block.name, "input": block.input})
        return {"kind": "assistant", "blocks": blocks}
    if isinstance(message, UserMessage):
        content = message.content if isinstance(message.content, list) else []
        results = [
            {"content": getattr(b, "content", None), "is_error": getattr(b, "is_error", None)}
            for b in content
            if hasattr(b, "tool_use_id")
        ]
        return {"kind": "user", "results": results}
    if isinstance(message, ResultMessage):
        return {
            "kind": "result",
            "subtype": message.subtype,
            "is_error": message.is_error,
            "result": message.result,
            "session_id": message.session_id,
            "num_turns": message.num_turns,
        }
    return {"kind": type(message).__name__}


async def prompts(*texts):
    for text in texts:
        yield {"type": "user", "message": {"role": "user", "content": text}, "parent_tool_use_id": None, "session_id": ""}


async def one_shot():
    async for message in query(prompt="read notes.txt", options=options()):
        say(**summary(message))


async def can_use_tool():
    async def decide(tool, tool_input, context):
        say(kind="asked", tool=tool, input=tool_input, suggestions=[s.to_dict() if hasattr(s, "to_dict") else str(s) for s in (context.suggestions or [])])
        if tool_input.get("command", "").startswith("rm"):
            return PermissionResultDeny(message="not that one")
        return PermissionResultAllow(updated_input={"command": "echo changed > changed.txt"})

    opts = options(can_use_tool=decide)
    async for message in query(prompt=prompts("clean up"), options=opts):
        say(**summary(message))


async def hooks():
    async def deny_rm(input_data, tool_use_id, context):
        say(kind="hook", event=input_data["hook_event_name"], tool=input_data.get("tool_name"))
        if "rm" in input_data["tool_input"].get("command", ""):
            return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                           "permissionDecisionReason": "the hook says no rm"}}
        return {}

    async def add_context(input_data, tool_use_id, context):
        say(kind="hook", event=input_data["hook_event_name"], tool=input_data.get("tool_name"))
        return {"hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": "POST-CONTEXT-MARK"}}

    async def on_prompt(input_data, tool_use_id, context):
        say(kind="hook", event=input_data["hook_event_name"], prompt=input_data.get("prompt"))
        return {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": "PROMPT-CONTEXT-MARK"}}

    opts = options(
        allowed_tools=["Bash"],
        hooks={
            "PreToolUse": [HookMatcher(matcher="Bash", hooks=[deny_rm])],
            "PostToolUse": [HookMatcher(matcher="Bash", hooks=[add_context])],
            "UserPromptSubmit": [HookMatcher(hooks=[on_prompt])],
        },
    )
    async for message in query(prompt=prompts("tidy up"), options=opts):
        say(**summary(message))


async def two_turns():
    async with ClaudeSDKClient(options=options()) as client:
        for text in ("first question", "second question"):
            await client.query(text)
            async for message in client.receive_response():
                say(**summary(message))


async def interrupt():
    async with ClaudeSDKClient(options=options(allowed_tools=["Bash"])) as client:
        await client.query("run the slow thing")
        async for message in client.receive_messages():
            say(**summary(message))
            if isinstance(message, AssistantMessage) and any(isinstance(b, ToolUseBlock) for b in message.content):
                # The command is running: wait for its pid file, then interrupt.
                pid_file = os.path.join(os.environ["PROJECT"], "slow.pid")
                with anyio.fail_after(20):
                    while not os.path.exists(pid_file) or not open(pid_file).read().strip():
                        await anyio.sleep(0.02)
                await client.interrupt()
                say(kind="interrupted")
            if isinstance(message, ResultMessage):
                break


async def mode_and_model():
    async with ClaudeSDKClient(options=options()) as client:
        await client.query("first")
        async for message in client.receive_response():
            say(**summary(message))
        await client.set_permission_mode("acceptEdits")
        await client.set_model("claude-haiku-4-5")
        await client.query("write the file")
        async for message in client.receive_response():
            say(**summary(message))


async def resume():
    session = None
    async for message in query(prompt="remember the word PINEAPPLE", options=options()):
        say(**summary(message))
        if isinstance(message, ResultMessage):
            session = message.session_id
    async for message in query(prompt="what was the word?", options=options(resume=session)):
        say(**summary(message))


async def structured():
    schema = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}
    opts = options(output_format={"type": "json_schema", "schema": schema})
    async for message in query(prompt="count the files", options=opts):
        say(**summary(message))
        if isinstance(message, ResultMessage):
            say(kind="structured", value=message.structured_output)


@tool("add", "Adds two numbers", {"a": float, "b": float})
async def add(args):
    say(kind="tool_ran", args=args)
    return {"content": [{"type": "text", "text": str(args["a"] + args["b"])}]}


async def sdk_mcp():
    calc = create_sdk_mcp_server(name="calc", version="1.0.0", tools=[add])
    opts = options(mcp_servers={"calc": calc}, allowed_tools=["mcp__calc__add"])
    async for message in query(prompt=prompts("add 2 and 3"), options=opts):
        say(**summary(message))


async def agents():
    from claude_agent_sdk import AgentDefinition

    reviewer = AgentDefinition(description="Reviews code", prompt="You review code, briefly.", tools=["Read"])
    opts = options(agents={"reviewer": reviewer})
    async for message in query(prompt=prompts("review"), options=opts):
        say(**summary(message))


async def mcp_toggle():
    calc = create_sdk_mcp_server(name="calc", version="1.0.0", tools=[add])
    async with ClaudeSDKClient(options=options(mcp_servers={"calc": calc})) as client:
        await client.query("first")
        async for message in client.receive_response():
            say(**summary(message))
        await client.toggle_mcp_server("calc", False)
        status = await client.get_mcp_status()
        say(kind="status", servers=[s.get("status") for s in status.get("mcpServers", [])])
        await client.query("second")
        async for message in client.receive_response():
            say(**summary(message))


async def rewind():
    # As the SDK documents it: checkpoints on, user messages replayed with their uuid.
    opts = options(enable_file_checkpointing=True, permission_mode="acceptEdits",
                   extra_args={"replay-user-messages": None})
    async with ClaudeSDKClient(options=opts) as client:
        checkpoint = None
        await client.query("write the file")
        async for message in client.receive_response():
            if isinstance(message, UserMessage) and message.uuid and checkpoint is None:
                checkpoint = message.uuid
            say(**summary(message))
        say(kind="written", exists=os.path.exists(os.path.join(os.environ["PROJECT"], "made.txt")))
        await client.rewind_files(checkpoint)
        say(kind="rewound", checkpoint=checkpoint,
            exists=os.path.exists(os.path.join(os.environ["PROJECT"], "made.txt")))


SCENARIOS = {
    "rewind": rewind,
    "mcp_toggle": mcp_toggle,
    "agents": agents,
    "sdk_mcp": sdk_mcp,
    "structured": structured,
    "one_shot": one_shot,
    "can_use_tool": can_use_tool,
    "hooks": hooks,
    "two_turns": two_turns,
    "interrupt": interrupt,
    "mode_and_model": mode_and_model,
    "resume": resume,
}

if __name__ == "__main__":
    anyio.run(SCENARIOS[sys.argv[1]])
