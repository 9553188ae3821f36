// One ACP agent measured as an editor sees it (run by benches/acp.py, which starts the mock
// and prints the table): AGENT is the command line, as JSON. With URL (a `cairn acp
// --listen`), measures the reconnect instead. Prints one JSON object.

import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { Readable, Writable } from "node:stream";

const require = createRequire(new URL("../tests/sdk/package.json", import.meta.url));
const acp = await import(require.resolve("@agentclientprotocol/sdk"));
const RUNS = Number(process.env.RUNS ?? 10);
const now = () => performance.now();
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
let onUpdate = () => {};
const app = acp
  .client({ name: "bench" })
  .onRequest(acp.methods.client.session.requestPermission, async ({ params }) => ({
    outcome: { outcome: "selected", optionId: params.options[0].optionId },
  }))
  .onNotification(acp.methods.client.session.update, async ({ params }) => onUpdate(params.update));

/// Resident memory of `pid` and all its descendants, in MiB.
function treeRssMib(pid) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {}
  }
  let kib = 0;
  const walk = (p) => {
    try {
      kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))[1]);
    } catch {}
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return kib / 1024;
}

async function turns(ctx, cwd) {
  const { sessionId } = await ctx.request(acp.methods.agent.session.new, { cwd, mcpServers: [] });
  const first = [];
  const stop = [];
  for (let i = 0; i < RUNS; i++) {
    let firstAt = null;
    onUpdate = (u) => {
      if (firstAt === null && ["agent_message_chunk", "agent_thought_chunk", "tool_call"].includes(u.sessionUpdate)) firstAt = now();
    };
    const started = now();
    await ctx.request(acp.methods.agent.session.prompt, { sessionId, prompt: [{ type: "text", text: "say hi" }] });
    stop.push(now() - started);
    first.push((firstAt ?? now()) - started);
  }
  return { sessionId, first: median(first), stop: median(stop) };
}

async function stdio() {
  const [program, ...args] = JSON.parse(process.env.AGENT);
  const agent = spawn(program, args, { stdio: ["pipe", "pipe", process.env.BENCH_DEBUG ? "inherit" : "ignore"] });
  const stream = acp.ndJsonStream(Writable.toWeb(agent.stdin), Readable.toWeb(agent.stdout));
  let result;
  await app.connectWith(stream, async (ctx) => {
    const cwd = process.env.PROJECT;
    const started = now();
    await ctx.request(acp.methods.agent.initialize, { protocolVersion: acp.PROTOCOL_VERSION, clientCapabilities: {} });
    const { sessionId } = await ctx.request(acp.methods.agent.session.new, { cwd, mcpServers: [] });
    const ready = now() - started;
    const timed = await turns(ctx, cwd);
    for (let i = 0; i < 9; i++) await ctx.request(acp.methods.agent.session.new, { cwd, mcpServers: [] });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    result = { ready, first: timed.first, stop: timed.stop, idleRss10: treeRssMib(agent.pid), sessionId };
  });
  agent.kill();
  return result;
}

async function reconnect() {
  const { createWebSocketStream } = await import(require.resolve("@agentclientprotocol/sdk/experimental/ws-client"));
  const WebSocket = (await import(require.resolve("ws"))).default;
  const open = () => createWebSocketStream(process.env.URL, { WebSocket, headers: { Authorization: `Bearer ${process.env.TOKEN}` } });
  let sessionId;
  await app.connectWith(open(), async (ctx) => {
    await ctx.request(acp.methods.agent.initialize, { protocolVersion: acp.PROTOCOL_VERSION, clientCapabilities: {} });
    ({ sessionId } = await turns(ctx, process.env.PROJECT));
  });
  const times = [];
  let updates = 0;
  for (let i = 0; i < RUNS; i++) {
    await app.connectWith(open(), async (ctx) => {
      updates = 0;
      onUpdate = () => (updates += 1);
      const started = now();
      await ctx.request(acp.methods.agent.initialize, { protocolVersion: acp.PROTOCOL_VERSION, clientCapabilities: {} });
      await ctx.request(acp.methods.agent.session.load, { sessionId, cwd: process.env.PROJECT, mcpServers: [] });
      times.push(now() - started);
    });
  }
  return { reconnect: median(times), requests: 2, replayed: updates };
}

console.log(JSON.stringify(process.env.URL ? await reconnect() : await stdio()));
process.exit(0);
