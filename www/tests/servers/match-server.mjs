// A match-events backend written the way the socket.io docs write one, for syncline's
// end-to-end tests (tests/sio-idiomatic.test.mjs): a room per match joined by an app event,
// a `match_event` handler that stores, broadcasts and acks, and a `note` handler that stores
// and broadcasts but never acks. Stored events go to an append-only file (one line per event,
// the id inside it), so the dedup by id outlives a SIGKILL. A control server on another port
// lets the tests read what arrived, emit to rooms and cut a client's connection.
//
//   node tests/servers/match-server.mjs --port P --control-port C --store FILE [--recovery]
// --recovery turns on connectionStateRecovery (2 minutes). Listens on 127.0.0.1 only and
// prints "ready" once both servers listen.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";
import { controlServer, listen, notFound } from "./control.mjs";

const { values: opt } = parseArgs({
  options: {
    port: { type: "string" },
    "control-port": { type: "string" },
    store: { type: "string" },
    recovery: { type: "boolean", default: false },
  },
});
if (!opt.port || !opt["control-port"] || !opt.store) {
  console.error("usage: match-server.mjs --port P --control-port C --store FILE [--recovery]");
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// The app's storage: every stored event is one line `{ kind, event }`; the id is event.id.
// ---------------------------------------------------------------------------------------
const stored = existsSync(opt.store)
  ? readFileSync(opt.store, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line))
  : [];
const seen = new Set(stored.map((s) => `${s.kind}:${s.event.id}`));

function alreadyStored(kind, event) {
  return seen.has(`${kind}:${event.id}`);
}

function store(kind, event) {
  // One write holds the event and its id: after a SIGKILL either both are there or neither.
  appendFileSync(opt.store, JSON.stringify({ kind, event }) + "\n");
  seen.add(`${kind}:${event.id}`);
  stored.push({ kind, event });
}

// What the tests read: how often each id arrived, connections, disconnect reasons.
const receipts = {};
const stats = { connections: 0, recovered: 0, disconnects: [], joins: 0 };
const count = (event) => {
  const id = event?.id ?? "(no id)";
  receipts[id] = (receipts[id] ?? 0) + 1;
};

// ---------------------------------------------------------------------------------------
// The Socket.IO server, as the docs write it.
// ---------------------------------------------------------------------------------------
const http = createServer();
const io = new Server(http, {
  connectionStateRecovery: opt.recovery ? { maxDisconnectionDuration: 2 * 60 * 1000 } : undefined,
});

io.on("connection", (socket) => {
  stats.connections++;
  if (socket.recovered) stats.recovered++;

  socket.on("join_match", (matchId) => {
    stats.joins++;
    socket.join(`match_${matchId}`);
  });

  socket.on("match_event", (event, ack) => {
    count(event);
    if (event.bad === true) {
      return ack({ ok: false, error: "bad event" });
    }
    if (alreadyStored("match_event", event)) {
      return ack({ ok: true, duplicate: true });
    }
    store("match_event", event);
    io.to(`match_${event.matchId}`).emit("live_event", event);
    ack({ ok: true });
  });

  // Never acks. A note sent again is stored once but broadcast each time, so that a client
  // waiting for the echo of a resent note gets it.
  socket.on("note", (event) => {
    count(event);
    if (!alreadyStored("note", event)) store("note", event);
    io.to(`match_${event.matchId}`).emit("note_added", event);
  });

  socket.on("disconnect", (reason) => {
    stats.disconnects.push(reason);
  });
});

// ---------------------------------------------------------------------------------------
// The tests' control port.
// ---------------------------------------------------------------------------------------
const roomSizes = () => {
  const rooms = {};
  for (const [room, members] of io.of("/").adapter.rooms) {
    if (!io.of("/").sockets.has(room)) rooms[room] = members.size;
  }
  return rooms;
};

const control = controlServer(async (path, b, reply, res) => {
  switch (path) {
    case "/stats":
      return reply({ ...stats, clients: io.engine.clientsCount, rooms: roomSizes(), receipts, stored });
    case "/emit": {
      // { room, event, args }: io.to(room).emit(event, ...args)
      io.to(b.room).emit(b.event, ...(b.args ?? []));
      return reply({ ok: true, members: io.of("/").adapter.rooms.get(b.room)?.size ?? 0 });
    }
    case "/emit-many": {
      // { room, event, count, tag }: `count` events { tag, n } with n = 1…count, in order.
      const members = io.of("/").adapter.rooms.get(b.room)?.size ?? 0;
      for (let n = 1; n <= b.count; n++) io.to(b.room).emit(b.event, { tag: b.tag, n });
      return reply({ ok: true, members });
    }
    case "/cut": {
      // { token }: closes the engine connection of every socket that connected with this
      // auth token (a transport close: the server keeps the session for recovery), and
      // answers once the sockets' "disconnect" has run.
      const sockets = [...io.of("/").sockets.values()].filter((s) => s.handshake.auth?.token === b.token);
      await Promise.all(sockets.map((socket) => new Promise((ok) => {
        socket.once("disconnect", (reason) => ok(reason));
        socket.conn.close();
      })));
      return reply({ ok: true, cut: sockets.length, disconnects: stats.disconnects.slice(-sockets.length) });
    }
    default:
      return notFound(res, reply);
  }
});

await listen(http, control, opt, () => io.close());
