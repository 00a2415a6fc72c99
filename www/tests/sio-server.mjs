// The test double of an app's existing Socket.IO backend, for syncline's end-to-end tests:
// the real `socket.io` server from npm, with auth middleware, rooms joined by an app event,
// acks, and the one-line dedup of durable publishes by `meta.id`, whose ids survive a SIGKILL
// in an append-only store file. A control server on another port lets tests push events,
// disconnect sockets, send raw frames and read what arrived.
//
//   node tests/sio-server.mjs --port P --control-port C --store FILE
//        [--ping-interval MS] [--ping-timeout MS]
// Listens on 127.0.0.1 only and prints "ready" once both servers listen.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";
import { controlServer, listen, notFound } from "./servers/control.mjs";

const { values: opt } = parseArgs({
  options: {
    port: { type: "string" },
    "control-port": { type: "string" },
    store: { type: "string" },
    "ping-interval": { type: "string", default: "25000" },
    "ping-timeout": { type: "string", default: "20000" },
  },
});
if (!opt.port || !opt["control-port"] || !opt.store) {
  console.error("usage: sio-server.mjs --port P --control-port C --store FILE");
  process.exit(2);
}

// Ids of stored publishes, in order, from earlier runs too.
const ids = existsSync(opt.store)
  ? readFileSync(opt.store, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line).id)
  : [];
const seen = new Set(ids);
const stats = { totalConnections: 0, duplicates: 0, emits: [], acked: {} };

const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  pingInterval: Number(opt["ping-interval"]),
  pingTimeout: Number(opt["ping-timeout"]),
});

const SPECIAL = new Set(["join", "leave", "echo", "sum"]);

function serve(nsp, token) {
  nsp.use((socket, next) => (socket.handshake.auth?.token === token ? next() : next(new Error("unauthorized"))));
  nsp.on("connection", (socket) => {
    stats.totalConnections++;
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack({ ok: true, room });
    });
    socket.on("leave", (room, ack) => {
      socket.leave(room);
      if (typeof ack === "function") ack({ ok: true });
    });
    socket.on("echo", (...args) => {
      if (typeof args.at(-1) === "function") args.pop()(args[0]);
    });
    socket.on("sum", (a, b, ack) => {
      if (typeof ack === "function") ack(a + b);
    });
    socket.onAny((event, ...args) => {
      if (SPECIAL.has(event)) return;
      const ack = typeof args.at(-1) === "function" ? args.pop() : null;
      if (!ack) return stats.emits.push({ event, args });
      stats.acked[event] = (stats.acked[event] ?? 0) + 1;
      const [data, meta] = args;
      if (typeof meta?.id !== "string") return ack(null);
      if (event.startsWith("refused.")) return ack({ error: "refused by server", retryable: false });
      // The dedup one-liner of the README, with a store that outlives the process.
      if (seen.has(meta.id)) {
        stats.duplicates++;
        return ack({ ok: true, duplicate: true });
      }
      seen.add(meta.id);
      ids.push(meta.id);
      appendFileSync(opt.store, JSON.stringify({ id: meta.id, channel: event, event: meta.event, data }) + "\n");
      ack({ ok: true, seq: ids.length });
    });
  });
}
serve(io.of("/"), "good");
serve(io.of("/admin"), "admin");

const control = controlServer(async (path, b, reply, res) => {
  switch (path) {
    case "/stats": {
      const rooms = {};
      for (const [room, members] of io.of("/").adapter.rooms) {
        if (!io.of("/").sockets.has(room)) rooms[room] = members.size;
      }
      const connections = io.of("/").sockets.size + io.of("/admin").sockets.size;
      return reply({ connections, engineClients: io.engine.clientsCount, ...stats, ids, rooms });
    }
    case "/emit": {
      const nsp = io.of(b.namespace ?? "/");
      (b.room ? nsp.to(b.room) : nsp).emit(b.event, ...(b.args ?? []));
      return reply({ ok: true });
    }
    case "/emit-with-ack":
      return io.timeout(2000).emit(b.event, ...(b.args ?? []), (err, responses) =>
        reply({ err: err?.message ?? null, responses }));
    case "/disconnect-all":
      io.of("/").disconnectSockets(true);
      return reply({ ok: true });
    case "/raw": {
      let sent = 0;
      for (const client of Object.values(io.engine.clients)) {
        // engine.io's websocket transport keeps the `ws` WebSocket as `transport.socket`.
        const ws = client.transport.socket;
        if (ws?.readyState !== 1) continue;
        ws.send(b.text);
        sent++;
      }
      return reply({ ok: true, sent });
    }
    case "/exit":
      reply({ ok: true });
      return process.exit(0);
    default:
      return notFound(res, reply);
  }
});

await listen(http, control, opt, () => io.close());
