// An editor, scripted: the official ACP client library (@agentclientprotocol/sdk) driving
// `cairn acp` over stdio (a process it starts, restarts with {"do":"restart"}) or over
// WebSocket (URL and TOKEN: a `cairn acp --listen` the test started; {"do":"disconnect"}
// drops the socket). STEPS is a JSON array of steps, run in order; each observation is
// printed as one JSON object. Every message cairn sends is appended to LOG (one per line)
// for the test to check against the protocol's JSON schema.
//
// The editor side: permission requests are answered with DECISION (allow_once by default;
// "never": not answered; "cancel": not answered, the turn cancelled instead), or with
// DECISIONS, one per connection; with fs, files are read from BUFFERS (path → text, the editor's
// unsaved buffers) before the disk, and writes are kept there, not written to disk.

import { spawn } from "node:child_process";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { Readable, Writable } from "node:stream";
import * as acp from "@agentclientprotocol/sdk";
import { createWebSocketStream } from "@agentclientprotocol/sdk/experimental/ws-client";
import WebSocket from "ws";

const steps = JSON.parse(process.env.STEPS ?? "[]");
const buffers = JSON.parse(process.env.BUFFERS ?? "{}");
const say = (fields) => console.log(JSON.stringify(fields));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let child = null;
let session = process.env.SESSION ?? null;
let conn = 0;
let sent = 0;
// Updates not yet taken by a step, in arrival order.
const inbox = [];
let wake = () => {};

function open() {
  conn += 1;
  if (process.env.URL) {
    const headers = { Authorization: `Bearer ${process.env.TOKEN}` };
    return { stream: createWebSocketStream(process.env.URL, { WebSocket, headers }), close: async () => {} };
  }
  if (!child) {
    const extra = JSON.parse(process.env.AGENT_ARGS ?? "[]");
    child = spawn(process.env.CAIRN, ["acp", ...extra], { stdio: ["pipe", "pipe", "inherit"] });
  }
  const proc = child;
  const stream = acp.ndJsonStream(Writable.toWeb(proc.stdin), Readable.toWeb(proc.stdout));
  return { stream, close: async () => {} };
}

// Every message each way, logged: {from: "agent" | "client", message}.
function logged(stream) {
  const tap = (from) =>
    new TransformStream({
      transform(message, controller) {
        if (from === "agent" && message.method === "session/update") onWire += 1;
        if (from === "agent" && message.id !== undefined && !message.method) answeredAt.set(message.id, onWire);
        if (process.env.LOG) appendFileSync(process.env.LOG, JSON.stringify({ from, message }) + "\n");
        controller.enqueue(message);
      },
    });
  const out = tap("client");
  out.readable.pipeTo(stream.writable).catch(() => {});
  return { readable: stream.readable.pipeThrough(tap("agent")), writable: out.writable };
}

// Updates seen on the wire, updates handled, and how many had been seen when each answer
// came: the library may hand an answer over before the updates sent ahead of it.
let onWire = 0;
let handled = 0;
const answeredAt = new Map();
let asked = false;
const terminals = new Map();
let context = null;

const app = acp
  .client({ name: "cairn-test" })
  .onRequest(acp.methods.client.session.requestPermission, async ({ params }) => {
    say({ kind: "permission", conn, title: params.toolCall?.title, options: params.options.map((o) => o.kind),
          toolCall: params.toolCall });
    const decisions = JSON.parse(process.env.DECISIONS ?? "[]");
    const wanted = decisions[conn - 1] ?? process.env.DECISION ?? "allow_once";
    asked = true;
    wake();
    if (wanted === "cancel") {
      await context.notify(acp.methods.agent.session.cancel, { sessionId: params.sessionId });
      say({ kind: "cancelled" });
    }
    if (wanted === "never" || wanted === "cancel") return new Promise(() => {});
    const chosen = params.options.find((o) => o.kind === wanted) ?? params.options[0];
    return { outcome: { outcome: "selected", optionId: chosen.optionId } };
  })
  .onRequest(acp.methods.client.fs.readTextFile, async ({ params }) => {
    say({ kind: "fs_read", path: params.path });
    return { content: buffers[params.path] ?? readFileSync(params.path, "utf8") };
  })
  .onRequest(acp.methods.client.fs.writeTextFile, async ({ params }) => {
    say({ kind: "fs_write", path: params.path, content: params.content });
    buffers[params.path] = params.content;
    return {};
  })
  .onRequest(acp.methods.client.terminal.create, async ({ params }) => {
    const id = `term-${terminals.size + 1}`;
    say({ kind: "terminal_create", id, command: params.command, args: params.args, cwd: params.cwd });
    const env = Object.fromEntries((params.env ?? []).map((v) => [v.name, v.value]));
    const proc = spawn(params.command, params.args ?? [], { cwd: params.cwd, env: { ...process.env, ...env }, detached: true });
    const term = { proc, output: "", exit: null };
    proc.stdout.on("data", (d) => (term.output += d));
    proc.stderr.on("data", (d) => (term.output += d));
    term.exited = new Promise((resolve) => proc.on("exit", (exitCode, signal) => resolve((term.exit = { exitCode, signal }))));
    terminals.set(id, term);
    return { terminalId: id };
  })
  .onRequest(acp.methods.client.terminal.waitForExit, async ({ params }) => terminals.get(params.terminalId).exited)
  .onRequest(acp.methods.client.terminal.output, async ({ params }) => {
    const term = terminals.get(params.terminalId);
    return { output: term.output, truncated: false, exitStatus: term.exit };
  })
  .onRequest(acp.methods.client.terminal.release, async () => ({}))
  .onRequest(acp.methods.client.terminal.kill, async ({ params }) => {
    say({ kind: "terminal_kill", id: params.terminalId });
    try {
      process.kill(-terminals.get(params.terminalId).proc.pid, "SIGKILL");
    } catch {}
    return {};
  })
  .onNotification(acp.methods.client.session.update, async ({ params }) => {
    inbox.push(params.update);
    handled += 1;
    wake();
  });

/// Waits until every update sent before the last answer has been handled.
async function drained() {
  const before = Math.max(0, ...answeredAt.values());
  while (handled < before) await new Promise((resolve) => setImmediate(resolve));
}

/// The next update, waited for (null after `ms`).
async function nextUpdate(ms = 30000) {
  const deadline = Date.now() + ms;
  while (inbox.length === 0) {
    if (Date.now() > deadline) return null;
    await Promise.race([new Promise((resolve) => (wake = resolve)), sleep(100)]);
  }
  return inbox.shift();
}

function show(update) {
  say({ kind: "update", conn, update });
}

async function prompt(ctx, step) {
  let stopped = null;
  const done = ctx
    .request(acp.methods.agent.session.prompt, {
      sessionId: session,
      prompt: [{ type: "text", text: step.text }, ...(step.image ? [{ type: "image", mimeType: "image/png", data: step.image }] : [])],
    })
    .then((r) => (stopped = r.stopReason), (e) => (stopped = `error: ${e.message}`));
  let cancelled = false;
  for (;;) {
    if (step.drop_on === "permission" && asked) {
      say({ kind: "dropping", conn });
      return "disconnect";
    }
    if (stopped !== null) await drained();
    const update = inbox.shift();
    if (!update) {
      if (stopped !== null) break;
      await Promise.race([new Promise((resolve) => (wake = resolve)), sleep(100)]);
      continue;
    }
    show(update);
    if (step.drop_on && update.sessionUpdate === step.drop_on) {
      say({ kind: "dropping", conn });
      return "disconnect";
    }
    if (step.cancel_when_file && update.sessionUpdate === "tool_call" && !cancelled) {
      const marker = `${process.env.PROJECT}/${step.cancel_when_file}`;
      const deadline = Date.now() + 20000;
      while (!(existsSync(marker) && readFileSync(marker, "utf8").trim()) && Date.now() < deadline) await sleep(10);
      await ctx.notify(acp.methods.agent.session.cancel, { sessionId: session });
      cancelled = true;
      say({ kind: "cancelled" });
    }
  }
  await done;
  say({ kind: "prompted", stopReason: stopped });
}

async function run(ctx, step) {
  context = ctx;
  asked = false;
  const request = async (method, params) => {
    sent += 1;
    return ctx.request(method, params);
  };
  switch (step.do) {
    case "initialize": {
      sent = 0;
      const started = performance.now();
      const fs = step.fs ? { readTextFile: true, writeTextFile: true } : {};
      const init = await request(acp.methods.agent.initialize, {
        protocolVersion: acp.PROTOCOL_VERSION,
        clientCapabilities: { fs, terminal: !!step.terminal },
      });
      say({ kind: "initialized", agent: init.agentInfo?.name, capabilities: init.agentCapabilities,
            authMethods: init.authMethods, ms: performance.now() - started });
      globalThis.connectedAt = started;
      break;
    }
    case "new": {
      try {
        const created = await request(acp.methods.agent.session.new, { cwd: process.env.PROJECT, mcpServers: step.mcp ?? [] });
        session = created.sessionId;
        say({ kind: "session", session, modes: created.modes, configOptions: created.configOptions });
      } catch (e) {
        say({ kind: "error", method: "session/new", code: e.code, message: e.message });
      }
      break;
    }
    case "load": {
      const loaded = await request(acp.methods.agent.session.load, {
        sessionId: step.session ?? session, cwd: process.env.PROJECT, mcpServers: [],
      });
      await drained();
      const replayed = inbox.splice(0);
      say({ kind: "loaded", conn, replayed, modes: loaded.modes, requests: sent,
            ms: performance.now() - (globalThis.connectedAt ?? 0) });
      break;
    }
    case "list": {
      const listed = await request(acp.methods.agent.session.list, { cwd: process.env.PROJECT });
      say({ kind: "listed", sessions: listed.sessions });
      break;
    }
    case "set_mode":
      await request(acp.methods.agent.session.setMode, { sessionId: session, modeId: step.mode });
      say({ kind: "mode_set", mode: step.mode });
      break;
    case "set_model": {
      const set = await request("session/set_config_option", { sessionId: session, configId: "model", value: step.model });
      say({ kind: "model_set", configOptions: set.configOptions });
      break;
    }
    case "prompt":
      return prompt(ctx, step);
    case "updates_until": {
      // Live updates, until one whose text contains `text`.
      for (;;) {
        const update = await nextUpdate();
        if (!update) {
          say({ kind: "timeout" });
          return;
        }
        show(update);
        if (JSON.stringify(update).includes(step.text)) return;
      }
    }
    case "wait_file": {
      const marker = `${process.env.PROJECT}/${step.file}`;
      const deadline = Date.now() + 20000;
      while (!existsSync(marker) && Date.now() < deadline) await sleep(10);
      break;
    }
    default:
      throw new Error(`unknown step ${step.do}`);
  }
}

async function main() {
  let i = 0;
  while (i < steps.length) {
    const { stream } = open();
    let ended = "end";
    await app.connectWith(logged(stream), async (ctx) => {
      for (; i < steps.length; i++) {
        const step = steps[i];
        if (step.do === "disconnect" || step.do === "restart") {
          i += 1;
          ended = step.do;
          return;
        }
        if ((await run(ctx, step)) === "disconnect") {
          i += 1;
          ended = "disconnect";
          return;
        }
      }
    }).catch((e) => say({ kind: "connection_error", message: String(e?.message ?? e) }));
    inbox.splice(0);
    if (ended === "restart" && child) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin.end();
      await exited;
      child = null;
      say({ kind: "restarted" });
    }
  }
  if (child) {
    child.stdin.end();
  }
}

await main();
process.exit(0);
