"""An MCP server (the official Python `mcp` package) whose one tool answers cairn's
permission questions, for `--permission-prompt-tool mcp__gate__approve`: a call mentioning
`rm` is refused, anything else allowed — `touch` commands rewritten to `echo gated`."""

import json

from mcp.server.mcpserver import MCPServer

app = MCPServer("gate")


@app.tool()
def approve(tool_name: str, input: dict, tool_use_id: str = "") -> str:
    """Decides whether a tool call may run."""
    command = str(input.get("command", ""))
    if "rm " in command:
        return json.dumps({"behavior": "deny", "message": f"the gate refuses {tool_name}: no rm"})
    if command.startswith("touch"):
        return json.dumps({"behavior": "allow", "updatedInput": {**input, "command": "echo gated > gated.txt"}})
    return json.dumps({"behavior": "allow", "updatedInput": input})


if __name__ == "__main__":
    app.run()
