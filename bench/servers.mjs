// The peers' servers for `make bench`, in their own process so that their sends do not share
// an event loop with the harness: a `ws` server (for a plain WebSocket and partysocket) and the
// `socket.io` server, both on 127.0.0.1. Prints {"ws": port, "sio": port} once both listen.
//
// Both speak the same small vocabulary, scoped to a room given in the connection URL:
//   blast n        the server sends n events {i, at, pad} of ~200 bytes to this connection,
//                  a thousand per turn of the event loop (as the relay sends its pushes);
//   tick data      sent on to every other connection of the room (the latency scenario).
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(import.meta.dirname, "../www/package.json"));
const { WebSocketServer } = require("ws");
const { Server } = require("socket.io");

const PAD = "x".repeat(150);
const CHUNK = 1_000;
const listen = (server) => new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server.address().port)));

/** Calls send(i) for i in 0..n, CHUNK per turn, so sends drain while later ones are made. */
function blast(n, send) {
  let i = 0;
  const step = () => {
    const end = Math.min(n, i + CHUNK);
    for (; i < end; i++) send(i);
    if (i < n) setImmediate(step);
  };
  step();
}
const event = (i) => ({ i, at: Date.now(), pad: PAD });

// ---- ws: JSON text frames {t, ...} ----
const wsHttp = createServer();
const wss = new WebSocketServer({ server: wsHttp });
const rooms = new Map();
wss.on("connection", (socket, req) => {
  const room = new URL(req.url, "http://x").searchParams.get("room") ?? "";
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(socket);
  socket.on("close", () => {
    members.delete(socket);
    if (members.size === 0) rooms.delete(room);
  });
  socket.on("message", (raw) => {
    const text = raw.toString();
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (msg.t === "blast") {
      blast(Number(msg.n) || 0, (i) => socket.send(JSON.stringify({ t: "tick", ...event(i) })));
    } else if (msg.t === "tick") {
      for (const other of members) if (other !== socket && other.readyState === 1) other.send(text);
    }
  });
});

// ---- socket.io ----
const sioHttp = createServer();
const io = new Server(sioHttp, { transports: ["websocket"] });
io.on("connection", (socket) => {
  const room = String(socket.handshake.query.room ?? "");
  socket.join(room);
  socket.on("blast", (n) => blast(Number(n) || 0, (i) => socket.emit("tick", event(i))));
  socket.on("tick", (data) => socket.to(room).emit("tick", data));
});

const ports = { ws: await listen(wsHttp), sio: await listen(sioHttp) };
console.log(JSON.stringify(ports));
const stop = () => { io.close(); wss.close(); wsHttp.close(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.on("disconnect", stop);
