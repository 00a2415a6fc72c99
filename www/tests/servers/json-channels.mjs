// A channel backend on the `ws` package, written the way its README writes servers, for
// syncline's end-to-end tests of `protocol: "json"` (tests/json-ws.test.mjs). Frames are JSON
// objects with an `action`:
//   client → server  {action:"subscribe", channel}         → {action:"subscribed", channel, seq}
//                    {action:"unsubscribe", channel}
//                    {action:"resume", channel, since}      the channel's events after `since`,
//                                                             then live ones
//                    {action:"publish", channel, event, data, id}
//                      logged once per id with the channel's next seq, sent to the channel's
//                      subscribers; answered {action:"ack", id, seq} (a resent id: its seq, not
//                      logged again), or {action:"error", id, error} on a read-only channel
//                    {action:"history", id, params:{channel, limit}}
//                      → {action:"result", id, result:[events]} or {action:"error", id, error};
//                      channels under "archive:" are read from cold storage (3 s)
//                    {action:"ping"} → {action:"pong"}
//   server → client  {channel, seq, event, data, id}
// The log of every channel is an append-only file given on the command line, so that sequences
// and the dedup by id outlive a SIGKILL and a resume after a restart is meaningful. A control
// server on another port lets the tests read what arrived, publish, send frames, and make the
// open connections go silent.
//
//   node tests/servers/json-channels.mjs --port P --control-port C --store FILE
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { WebSocket, WebSocketServer } from "ws";
import { controlServer, listen, notFound, wsControl } from "./control.mjs";

const { values: opt } = parseArgs({
  options: { port: { type: "string" }, "control-port": { type: "string" }, store: { type: "string" } },
});
if (!opt.port || !opt["control-port"] || !opt.store) {
  console.error("usage: json-channels.mjs --port P --control-port C --store FILE");
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// The log: one line per event `{channel, seq, event, data, id}`.
// ---------------------------------------------------------------------------------------
const log = existsSync(opt.store)
  ? readFileSync(opt.store, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line))
  : [];
const seqs = new Map();
const byId = new Map();
for (const e of log) {
  seqs.set(e.channel, e.seq);
  if (e.id) byId.set(e.id, e);
}

function append(channel, event, data, id) {
  const entry = { channel, seq: (seqs.get(channel) ?? 0) + 1, event, data, id };
  // One write holds the event, its seq and its id: after a SIGKILL all are there or none.
  appendFileSync(opt.store, JSON.stringify(entry) + "\n");
  log.push(entry);
  seqs.set(channel, entry.seq);
  if (id) byId.set(id, entry);
  const text = JSON.stringify(entry);
  for (const ws of wss.clients) {
    if (ws.readyState === WebSocket.OPEN && ws.channels.has(channel) && !ws.silent) ws.send(text);
  }
  return entry;
}

const history = (channel, since = 0) => log.filter((e) => e.channel === channel && e.seq > since);

// What the tests read: how often each publish id arrived, frames by action, connections.
const receipts = {};
const frames = {};
const resumes = [];
const stats = { connections: 0, closed: 0, silenced: 0, silentClosed: 0 };

// ---------------------------------------------------------------------------------------
// The WebSocket server, as the ws README writes one.
// ---------------------------------------------------------------------------------------
const server = createServer();
const wss = new WebSocketServer({ server, path: "/ws" });

wss.on("connection", (ws) => {
  stats.connections++;
  ws.channels = new Set();
  ws.on("close", () => {
    stats.closed++;
    if (ws.silent) stats.silentClosed++;
  });
  const send = (message) => ws.send(JSON.stringify(message));

  ws.on("message", (data) => {
    if (ws.silent) return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return send({ action: "error", error: "invalid JSON" });
    }
    frames[msg.action] = (frames[msg.action] ?? 0) + 1;

    switch (msg.action) {
      case "ping":
        send({ action: "pong" });
        break;

      case "subscribe":
        ws.channels.add(msg.channel);
        send({ action: "subscribed", channel: msg.channel, seq: seqs.get(msg.channel) ?? 0 });
        break;

      case "unsubscribe":
        ws.channels.delete(msg.channel);
        break;

      case "resume": {
        const missed = history(msg.channel, Number(msg.since) || 0);
        resumes.push({ channel: msg.channel, since: msg.since, replayed: missed.length });
        for (const e of missed) send(e);
        ws.channels.add(msg.channel);
        break;
      }

      case "publish": {
        receipts[msg.id] = (receipts[msg.id] ?? 0) + 1;
        if (String(msg.channel).startsWith("readonly:")) {
          send({ action: "error", id: msg.id, error: `channel ${msg.channel} is read-only` });
          break;
        }
        const entry = byId.get(msg.id) ?? append(msg.channel, msg.event, msg.data, msg.id);
        send({ action: "ack", id: msg.id, seq: entry.seq });
        break;
      }

      case "history": {
        const { channel, limit = 100 } = msg.params ?? {};
        const answer = () => {
          if (!seqs.has(channel)) return send({ action: "error", id: msg.id, error: `no such channel: ${channel}` });
          if (ws.readyState === WebSocket.OPEN) send({ action: "result", id: msg.id, result: history(channel).slice(-limit) });
        };
        if (String(channel).startsWith("archive:")) setTimeout(answer, 3000); // cold storage
        else answer();
        break;
      }

      case "pong":
        break;

      default:
        send({ action: "error", id: msg.id, error: `unknown action ${msg.action}` });
    }
  });
});

// ---------------------------------------------------------------------------------------
// The tests' control port.
// ---------------------------------------------------------------------------------------
const control = controlServer(async (path, b, reply, res) => {
  switch (path) {
    case "/stats": {
      const applied = {};
      for (const e of log) if (e.id) applied[e.id] = (applied[e.id] ?? 0) + 1;
      const clients = [...wss.clients].filter((c) => c.readyState === WebSocket.OPEN);
      const subscribers = {};
      for (const c of clients) for (const ch of c.channels) subscribers[ch] = (subscribers[ch] ?? 0) + 1;
      return reply({ ...stats, clients: clients.length, receipts, frames, applied, resumes, subscribers, log });
    }
    case "/publish": {
      // { channel, events: [{ event, data, id? }] }: logged and sent like a client's publish
      const entries = b.events.map((e) => append(b.channel, e.event, e.data, e.id));
      return reply({ ok: true, seqs: entries.map((e) => e.seq) });
    }
    default:
      if (wsControl(wss, path, b, reply, stats)) return;
      return notFound(res, reply);
  }
});

await listen(server, control, opt, () => new Promise((r) => wss.close(r)));
