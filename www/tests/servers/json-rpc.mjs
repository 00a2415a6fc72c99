// A request/response backend on the `ws` package, written the way its README writes servers,
// for syncline's end-to-end tests of `protocol: "json"` (tests/json-ws.test.mjs). Requests
// carry a requestId that the response repeats:
//   client → server  {requestId, type:"getUnits", params}            → {requestId, result:[…]}
//                    {requestId, type:"getUnit", params:{id}}        → {requestId, result} or
//                                                                       {requestId, error}
//                    {requestId, type:"saveUnit", params:{unit, idempotencyKey}}
//                      stored once per idempotencyKey (a retried save is answered with the
//                      stored result and not applied again), then notified to everyone;
//                      {requestId, error} for an invalid unit
//                    {requestId, type:"exportUnits"}                 slow: answered after 3 s
//                    {type:"heartbeat", sentAt}                      → {type:"heartbeat_ack", sentAt}
//   server → client  {type:"unitSaved", data:{unit}} and other {type, data} notifications
// Saves go to an append-only file (one line per save, its idempotency key inside), so that the
// dedup outlives a SIGKILL. A control server on another port lets the tests read what arrived,
// push frames, and make the open connections go silent.
//
//   node tests/servers/json-rpc.mjs --port P --control-port C --store FILE
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { WebSocket, WebSocketServer } from "ws";
import { controlServer, listen, notFound, wsControl } from "./control.mjs";

const { values: opt } = parseArgs({
  options: { port: { type: "string" }, "control-port": { type: "string" }, store: { type: "string" } },
});
if (!opt.port || !opt["control-port"] || !opt.store) {
  console.error("usage: json-rpc.mjs --port P --control-port C --store FILE");
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// The app's storage: saves, one line each, keyed by the caller's idempotency key.
// ---------------------------------------------------------------------------------------
const saves = existsSync(opt.store)
  ? readFileSync(opt.store, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line))
  : [];
const byKey = new Map(saves.map((s) => [s.key, s]));
const units = new Map([["u1", { id: "u1", name: "Scout", hp: 10 }]]);
for (const s of saves) units.set(s.unit.id, s.unit);

// What the tests read: how often each idempotency key arrived, requests by type, connections.
const receipts = {};
const frames = {};
const stats = { connections: 0, closed: 0, silenced: 0, silentClosed: 0 };

// ---------------------------------------------------------------------------------------
// The WebSocket server, as the ws README writes one.
// ---------------------------------------------------------------------------------------
const server = createServer();
const wss = new WebSocketServer({ server, path: "/ws" });

function notify(type, data) {
  const text = JSON.stringify({ type, data });
  wss.clients.forEach((client) => {
    if (client.readyState === WebSocket.OPEN && !client.silent) client.send(text);
  });
}

const handlers = {
  getUnits: async () => [...units.values()],
  getUnit: async ({ id } = {}) => {
    if (!units.has(id)) throw new Error(`unit ${id} not found`);
    return units.get(id);
  },
  saveUnit: async ({ unit, idempotencyKey } = {}) => {
    if (idempotencyKey) receipts[idempotencyKey] = (receipts[idempotencyKey] ?? 0) + 1;
    if (!unit || typeof unit.id !== "string" || typeof unit.name !== "string") {
      throw new Error("invalid unit: id and name are required");
    }
    const earlier = idempotencyKey && byKey.get(idempotencyKey);
    if (earlier) return { saved: earlier.unit, duplicate: true };
    const save = { key: idempotencyKey ?? null, unit };
    // One write holds the save and its key: after a SIGKILL either both are there or neither.
    appendFileSync(opt.store, JSON.stringify(save) + "\n");
    saves.push(save);
    if (idempotencyKey) byKey.set(idempotencyKey, save);
    units.set(unit.id, unit);
    notify("unitSaved", { unit });
    return { saved: unit };
  },
  exportUnits: () => new Promise((ok) => setTimeout(() => ok([...units.values()]), 3000)),
};

wss.on("connection", (ws) => {
  stats.connections++;
  ws.on("close", () => {
    stats.closed++;
    if (ws.silent) stats.silentClosed++;
  });

  ws.on("message", async (data) => {
    if (ws.silent) return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return ws.send(JSON.stringify({ error: "invalid JSON" }));
    }
    frames[msg.type] = (frames[msg.type] ?? 0) + 1;

    if (msg.type === "heartbeat") {
      return ws.send(JSON.stringify({ type: "heartbeat_ack", sentAt: msg.sentAt }));
    }
    const { requestId, type, params } = msg;
    const handler = handlers[type];
    if (!handler) {
      return ws.send(JSON.stringify({ requestId, error: `unknown method ${type}` }));
    }
    try {
      const result = await handler(params);
      if (ws.readyState === WebSocket.OPEN && !ws.silent) ws.send(JSON.stringify({ requestId, result }));
    } catch (e) {
      ws.send(JSON.stringify({ requestId, error: e.message }));
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
      for (const s of saves) if (s.key) applied[s.key] = (applied[s.key] ?? 0) + 1;
      const clients = [...wss.clients].filter((c) => c.readyState === WebSocket.OPEN).length;
      return reply({ ...stats, clients, receipts, frames, applied, saves });
    }
    case "/notify": {
      // { events: [{ type, data }] }
      for (const e of b.events) notify(e.type, e.data);
      return reply({ ok: true, clients: wss.clients.size });
    }
    default:
      if (wsControl(wss, path, b, reply, stats)) return;
      return notFound(res, reply);
  }
});

await listen(server, control, opt, () => new Promise((r) => wss.close(r)));
