// The official ACP client library (@agentclientprotocol/sdk) driving an ACP agent as an
// editor would: initialize, a session in PROJECT, one prompt; permission requests are
// answered with DECISION (allow_once by default). The agent is Zed's adapter
// (@zed-industries/claude-agent-acp) running cairn as its Claude Code
// (CLAUDE_CODE_EXECUTABLE), or with NATIVE=1 `cairn acp` itself. Prints one JSON object per
// observation.

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { Readable, Writable } from "node:stream";
import * as acp from "@agentclientprotocol/sdk";

const adapterPath = new URL("./node_modules/@zed-industries/claude-agent-acp/dist/index.js", import.meta.url).pathname;
const [program, args] = process.env.NATIVE ? [process.env.CAIRN, ["acp"]] : [process.execPath, [adapterPath]];
const adapter = spawn(program, args, {
  stdio: ["pipe", "pipe", "inherit"],
  env: { ...process.env, CLAUDE_CODE_EXECUTABLE: process.env.CAIRN },
});
const stream = acp.ndJsonStream(Writable.toWeb(adapter.stdin), Readable.toWeb(adapter.stdout));
const say = (fields) => console.log(JSON.stringify(fields));

const app = acp.client({ name: "cairn-test" }).onRequest(
  acp.methods.client.session.requestPermission,
  async ({ params }) => {
    say({ kind: "permission", title: params.toolCall?.title, options: params.options.map((o) => o.kind) });
    const wanted = process.env.DECISION ?? "allow_once";
    const allow = params.options.find((o) => o.kind === wanted) ?? params.options[0];
    return { outcome: { outcome: "selected", optionId: allow.optionId } };
  },
);

try {
  await app.connectWith(stream, async (ctx) => {
    const init = await ctx.request(acp.methods.agent.initialize, {
      protocolVersion: acp.PROTOCOL_VERSION,
      clientCapabilities: {},
    });
    say({ kind: "initialized", agent: init.agentInfo?.name });
    await ctx.buildSession(process.env.PROJECT).withSession(async (session) => {
      if (process.env.MODE) {
        await ctx.request(acp.methods.agent.session.setMode, { sessionId: session.sessionId, modeId: process.env.MODE });
        say({ kind: "mode_set", mode: process.env.MODE });
      }
      const done = session.prompt(process.env.PROMPT ?? "make the file");
      for (;;) {
        const message = await session.nextUpdate();
        if (message.kind === "stop") break;
        const u = message.update;
        // CANCEL=<file>: cancel once the command is running, which it shows by writing
        // the file (waited for, not slept for).
        if (process.env.CANCEL && u.sessionUpdate === "tool_call") {
          const marker = `${process.env.PROJECT}/${process.env.CANCEL}`;
          const deadline = Date.now() + 20000;
          while (!(existsSync(marker) && readFileSync(marker, "utf8").trim()) && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          await ctx.notify(acp.methods.agent.session.cancel, { sessionId: session.sessionId });
          say({ kind: "cancelled" });
        }
        say({ kind: "update", update: u.sessionUpdate, text: u.content?.text, title: u.title, status: u.status,
              entries: u.entries?.map((e) => e.content) });
      }
      say({ kind: "prompted", stopReason: (await done).stopReason });
    });
  });
} finally {
  adapter.kill();
}
