// A unit-tracking backend on the `ws` package, written the way its README writes servers,
// for syncline's end-to-end tests of `protocol: "json"` (tests/json-ws.test.mjs). Every frame
// is a JSON object routed by its `type`:
//   client → server  {type:"move_unit", id, payload:{unit, x, y}}   stored once per id, then
//                      broadcast; answered {type:"ack", id} (again for a resent id, which is not
//                      applied again) or {type:"error", id, error} for an invalid payload
//                    {type:"get_unit", id, payload:{unit}}          answered {type:"unit", id,
//                      payload:{…}} or {type:"error", id, error}; a unit in cold storage
//                      ("archived") takes 3 s
//                    {type:"ping"}                                  answered {type:"pong"}
//   server → client  {type:"unit_moved", priority:"high"|"normal", id, payload}
// Applied moves go to an append-only file (one line per move, its id inside), so that the dedup
// by id outlives a SIGKILL. A control server on another port lets the tests read what arrived,
// push frames, and make the open connections go silent.
//
//   node tests/servers/json-typed.mjs --port P --control-port C --store FILE
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { WebSocket, WebSocketServer } from "ws";
import { controlServer, listen, notFound, wsControl } from "./control.mjs";

const { values: opt } = parseArgs({
  options: { port: { type: "string" }, "control-port": { type: "string" }, store: { type: "string" } },
});
if (!opt.port || !opt["control-port"] || !opt.store) {
  console.error("usage: json-typed.mjs --port P --control-port C --store FILE");
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// The app's storage: the moves applied, one line each; the units' positions follow from them.
// ---------------------------------------------------------------------------------------
const moves = existsSync(opt.store)
  ? readFileSync(opt.store, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line))
  : [];
const applied = new Set(moves.map((m) => m.id));
const units = new Map([["scout", { unit: "scout", x: 0, y: 0 }], ["archived", { unit: "archived", x: 9, y: 9 }]]);
for (const m of moves) units.set(m.payload.unit, { ...m.payload });

function applyMove(id, payload) {
  // One write holds the move and its id: after a SIGKILL either both are there or neither.
  appendFileSync(opt.store, JSON.stringify({ id, payload }) + "\n");
  applied.add(id);
  moves.push({ id, payload });
  units.set(payload.unit, { ...payload });
}

const validMove = (p) => p && typeof p.unit === "string" && Number.isFinite(p.x) && Number.isFinite(p.y);

// What the tests read: how often each id arrived, frames by type, connections.
const receipts = {};
const frames = {};
const stats = { connections: 0, closed: 0, silenced: 0, silentClosed: 0 };

// ---------------------------------------------------------------------------------------
// The WebSocket server, as the ws README writes one.
// ---------------------------------------------------------------------------------------
const server = createServer();
const wss = new WebSocketServer({ server, path: "/ws" });

function broadcast(message) {
  const text = JSON.stringify(message);
  wss.clients.forEach((client) => {
    if (client.readyState === WebSocket.OPEN && !client.silent) client.send(text);
  });
}

wss.on("connection", (ws) => {
  stats.connections++;
  ws.on("close", () => {
    stats.closed++;
    if (ws.silent) stats.silentClosed++;
  });

  ws.on("message", (data) => {
    if (ws.silent) return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return ws.send(JSON.stringify({ type: "error", error: "invalid JSON" }));
    }
    frames[msg.type] = (frames[msg.type] ?? 0) + 1;

    switch (msg.type) {
      case "ping":
        ws.send(JSON.stringify({ type: "pong" }));
        break;

      case "move_unit":
        receipts[msg.id] = (receipts[msg.id] ?? 0) + 1;
        if (!validMove(msg.payload)) {
          ws.send(JSON.stringify({ type: "error", id: msg.id, error: "invalid move: unit, x and y are required" }));
          break;
        }
        if (!applied.has(msg.id)) {
          applyMove(msg.id, msg.payload);
          broadcast({ type: "unit_moved", priority: "normal", id: msg.id, payload: msg.payload });
        }
        ws.send(JSON.stringify({ type: "ack", id: msg.id }));
        break;

      case "get_unit": {
        const unit = units.get(msg.payload?.unit);
        const answer = () =>
          ws.send(unit
            ? JSON.stringify({ type: "unit", id: msg.id, payload: unit })
            : JSON.stringify({ type: "error", id: msg.id, error: `unknown unit ${msg.payload?.unit}` }));
        if (msg.payload?.unit === "archived") setTimeout(answer, 3000); // cold storage
        else answer();
        break;
      }

      case "pong":
        break;

      default:
        ws.send(JSON.stringify({ type: "error", id: msg.id, error: `unknown type ${msg.type}` }));
    }
  });
});

// ---------------------------------------------------------------------------------------
// The tests' control port.
// ---------------------------------------------------------------------------------------
const control = controlServer(async (path, b, reply, res) => {
  switch (path) {
    case "/stats": {
      const appliedCounts = {};
      for (const m of moves) appliedCounts[m.id] = (appliedCounts[m.id] ?? 0) + 1;
      const clients = [...wss.clients].filter((c) => c.readyState === WebSocket.OPEN).length;
      return reply({ ...stats, clients, receipts, frames, applied: appliedCounts, moves });
    }
    case "/broadcast": {
      // { events: [{ priority, id, payload }] } → unit_moved to every client
      for (const e of b.events) broadcast({ type: "unit_moved", ...e });
      return reply({ ok: true, clients: wss.clients.size });
    }
    default:
      if (wsControl(wss, path, b, reply, stats)) return;
      return notFound(res, reply);
  }
});

await listen(server, control, opt, () => new Promise((r) => wss.close(r)));
