// One of several Socket.IO servers behind a load balancer, sharing a Redis adapter: the shape of
// an app's backend scaled out, for tests/sio-scale.test.mjs. Written like the Socket.IO docs'
// examples: the Redis streams adapter with connection state recovery, a room joined by an app
// event, and durable `match_event`s stored once per id in the same Redis script as the work.
//
//   node --preserve-symlinks tests/servers/cluster-server.mjs --name A --port P --control-port C
//        --redis redis://127.0.0.1:R [--adapter streams|pubsub] [--replay]
//
// --adapter pubsub uses @socket.io/redis-adapter (Redis pub/sub, no recovery across servers);
// --replay installs syncline's replay helper (syncline/server/socketio). A control server on
// another port reports counts and runs a publisher that broadcasts numbered room events.
// Listens on 127.0.0.1 only and prints "ready" once both servers listen.
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { createAdapter as createPubSubAdapter } from "@socket.io/redis-adapter";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { createClient, defineScript } from "redis";
import { Server } from "socket.io";
import { replayMissed } from "syncline/server/socketio";
import { controlServer, listen, notFound } from "./control.mjs";

const { values: opt } = parseArgs({
  options: {
    name: { type: "string", default: "server" },
    port: { type: "string" },
    "control-port": { type: "string" },
    redis: { type: "string" },
    adapter: { type: "string", default: "streams" },
    replay: { type: "boolean", default: false },
  },
});
if (!opt.port || !opt["control-port"] || !opt.redis) {
  console.error("usage: cluster-server.mjs --port P --control-port C --redis URL [--adapter streams|pubsub] [--replay]");
  process.exit(2);
}

// Store a match event once per id. The dedup mark and the work are one Redis script, so they
// happen together or not at all: a server that marked the id and then died before storing the
// event would ack the client's retry as a duplicate, and the event would be lost.
const storeOnce = defineScript({
  NUMBER_OF_KEYS: 2,
  SCRIPT: `
    if redis.call("SADD", KEYS[1], ARGV[1]) == 0 then return 0 end
    redis.call("RPUSH", KEYS[2], ARGV[2])
    return 1`,
  transformArguments: (idsKey, eventsKey, id, json) => [idsKey, eventsKey, id, json],
  transformReply: (reply) => reply === 1,
});

const redis = createClient({ url: opt.redis, scripts: { storeOnce } });
redis.on("error", (e) => console.error(`${opt.name}: redis: ${e.message}`));
await redis.connect();

let adapter;
if (opt.adapter === "pubsub") {
  const sub = redis.duplicate();
  sub.on("error", () => {});
  await sub.connect();
  adapter = createPubSubAdapter(redis, sub);
} else {
  // maxLen: the stream keeps the last ~100,000 broadcasts, which recovery and replay read.
  adapter = createAdapter(redis, { maxLen: 100_000 });
}

const http = createServer();
const io = new Server(http, {
  adapter,
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 },
});

const stats = { name: opt.name, connections: 0, recovered: 0, stored: 0, duplicates: 0 };

io.on("connection", (socket) => {
  stats.connections++;
  if (socket.recovered) stats.recovered++;

  // Acked when the client asks (socket.io-client with `retries` asks for an ack on every emit).
  socket.on("join_match", (matchId, ack) => {
    socket.join(`match_${matchId}`);
    if (typeof ack === "function") ack({ ok: true });
  });

  socket.on("match_event", async (event, ack) => {
    if (typeof ack !== "function") return;
    if (typeof event?.id !== "string" || event.matchId === undefined) {
      return ack({ ok: false, error: "a match event needs an id and a matchId" });
    }
    try {
      const json = JSON.stringify(event);
      const isNew = await redis.storeOnce(`match:${event.matchId}:ids`, `match:${event.matchId}:events`, event.id, json);
      if (isNew) {
        stats.stored++;
        socket.to(`match_${event.matchId}`).emit("match_event", event);
      } else {
        stats.duplicates++;
        await redis.incr("test:duplicates"); // test instrumentation: dedup hits across restarts
      }
      ack({ ok: true, duplicate: !isNew });
    } catch (e) {
      ack({ ok: false, error: e.message, retryable: true });
    }
  });
});

if (opt.replay) replayMissed(io.of("/"), redis);

// Test instrumentation, not app code: the `n` of every live event this server wrote to each
// Engine.IO connection (missed events of a recovered session included), by the tab's
// `auth.tab`, so that a test can tell events the servers never sent from events a client lost.
const writtenByConn = new Map();
const connsOfTab = new Map();
io.engine.on("connection", (conn) => {
  const written = [];
  writtenByConn.set(conn.id, written);
  conn.on("packetCreate", (packet) => {
    if (packet.type === "message" && typeof packet.data === "string" && packet.data.startsWith('2["live_event",')) {
      written.push(JSON.parse(packet.data.slice(1))[1].n);
    }
  });
});
io.on("connection", (socket) => {
  const tab = socket.handshake.auth?.tab;
  if (typeof tab === "string") connsOfTab.set(tab, [...(connsOfTab.get(tab) ?? []), socket.conn.id]);
});

// The publisher: `rate` numbered events per second to a room, as `event` with `{ matchId, n }`.
let n = 0;
let publisher = null;
function startPublisher({ room, event, rate, matchId }) {
  clearInterval(publisher);
  const t0 = Date.now();
  let sent = 0;
  publisher = setInterval(() => {
    const due = Math.floor(((Date.now() - t0) * rate) / 1000);
    for (; sent < due; sent++) io.to(room).emit(event, { matchId, n: ++n });
  }, 10);
}

const control = controlServer(async (path, b, reply, res, url) => {
  switch (path) {
    case "/stats":
      return reply({ ...stats, sockets: io.of("/").sockets.size, published: n });
    case "/written": {
      const tab = url.searchParams.get("tab");
      return reply({ written: (connsOfTab.get(tab) ?? []).flatMap((id) => writtenByConn.get(id) ?? []) });
    }
    case "/emit": {
      // One broadcast: `{ room?, except?, event, args, binary? }`; `binary` adds a Buffer to the
      // first argument (the adapter then stores the packet as MessagePack).
      let to = b.room ? io.to(b.room) : io;
      if (b.except) to = to.except(b.except);
      const args = b.args ?? [];
      if (b.binary) args[0] = { ...args[0], bytes: Buffer.from(b.binary) };
      to.emit(b.event, ...args);
      return reply({ ok: true });
    }
    case "/publish":
      startPublisher(b);
      return reply({ ok: true, published: n });
    case "/publish-stop":
      clearInterval(publisher);
      return reply({ ok: true, published: n });
    default:
      return notFound(res, reply);
  }
});

await listen(http, control, opt, async () => {
  clearInterval(publisher);
  io.close();
  await redis.quit().catch(() => {});
});
