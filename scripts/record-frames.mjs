// Records real conversations with the two servers syncline speaks to, frame by frame, for the
// round-trip tests of the protocol wires (tests/protocol_recorded.rs):
//
// - the release relay (`target/release/syncline-relay`), spoken to in the envelope protocol
//   (PROTOCOL.md) by a plain `ws` client;
// - a real `socket.io` server from npm, written the way its documentation shows, spoken to in
//   Engine.IO 4 / Socket.IO 5 by hand over a plain `ws` WebSocket.
//
// Every text frame of every connection is written, in the order this process saw it, one JSON
// object a line: {"conn": name, "dir": "in" (server → client) | "out", "frame", "note"}.
// The client answers Engine.IO pings and acks server events that ask for one the moment they
// arrive, as syncline's SocketIoWire does, so a replay through the wire lines up.
//
//   node scripts/record-frames.mjs        (`make record-frames`; needs the release relay)
// Both servers listen on 127.0.0.1 on free ports and are stopped before the script exits.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const require = createRequire(join(root, "www/package.json"));
const WebSocket = require("ws");
const { Server } = require("socket.io");

const RELAY_TOKEN = "relay-secret";
// The relay's /control/* endpoints answer only this run's secret, in the x-syncline-secret header.
const CONTROL_SECRET = randomBytes(24).toString("hex");
const controlHeaders = { "x-syncline-secret": CONTROL_SECRET };
const WAIT_MS = 5_000;

const freePort = () =>
  new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One recorded WebSocket connection. `auto(frame)` may return a frame to send at once. */
class Conn {
  constructor(log, name, url, auto = () => null) {
    this.log = log;
    this.name = name;
    this.inbox = []; // entries of this.log not yet claimed by expect()
    this.waiters = [];
    this.closed = null;
    this.ws = new WebSocket(url);
    this.ws.on("message", (data, binary) => {
      const frame = binary ? `<binary ${data.length} bytes>` : data.toString();
      const entry = { conn: name, dir: "in", frame, note: "" };
      log.push(entry);
      const reply = binary ? null : auto(frame, entry);
      if (reply) this.send(reply, entry.note ? `answer to ${entry.note}` : "answered at once");
      else this.inbox.push(entry);
      this.wake();
    });
    this.ws.on("close", (code) => {
      this.closed = code;
      this.wake();
    });
    this.opened = new Promise((ok, fail) => {
      this.ws.once("open", ok);
      this.ws.once("error", fail);
    });
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  send(frame, note) {
    this.log.push({ conn: this.name, dir: "out", frame, note });
    this.ws.send(frame);
  }

  /** Waits for the first unclaimed frame `pred` accepts, notes it and returns it. */
  async expect(pred, note) {
    const end = Date.now() + WAIT_MS;
    for (;;) {
      const at = this.inbox.findIndex((e) => pred(e.frame));
      if (at >= 0) {
        const [entry] = this.inbox.splice(at, 1);
        entry.note = note;
        return entry.frame;
      }
      if (Date.now() > end) throw new Error(`${this.name}: timed out waiting for ${note}`);
      await new Promise((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  /** Waits until a frame `pred` accepts has arrived and been answered at once. */
  async answered(pred) {
    const end = Date.now() + WAIT_MS;
    while (!this.log.some((e) => e.conn === this.name && e.dir === "in" && pred(e.frame))) {
      if (Date.now() > end) throw new Error(`${this.name}: timed out waiting for an answered frame`);
      await new Promise((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  async waitClose() {
    const end = Date.now() + WAIT_MS;
    while (this.closed === null) {
      if (Date.now() > end) throw new Error(`${this.name}: socket did not close`);
      await new Promise((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.closed;
  }

  close() {
    this.ws.close();
  }
}

/** Notes for frames nobody claimed (a relay batch split across waits, a ping). */
function finish(log, describe) {
  return log.map((e) => ({ conn: e.conn, dir: e.dir, frame: e.frame, note: e.note || describe(e.frame) }));
}

function write(file, entries) {
  writeFileSync(join(root, file), entries.map((e) => JSON.stringify(e)).join("\n") + "\n");
  const ins = entries.filter((e) => e.dir === "in").length;
  console.log(`${file}: ${entries.length} frames (${ins} in, ${entries.length - ins} out)`);
}

// ----- the relay, envelope protocol -----

const envelope = (frame) => {
  try {
    const v = JSON.parse(frame);
    return Array.isArray(v) ? v : [v];
  } catch {
    return [];
  }
};
const has = (pred) => (frame) => envelope(frame).some(pred);
const msg = (t, extra = {}) => has((m) => m.t === t && Object.entries(extra).every(([k, v]) => m[k] === v));

async function startRelay() {
  const binary = join(root, "target/release/syncline-relay");
  if (!existsSync(binary)) throw new Error("build the relay first: cargo build --release -p syncline-relay");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "syncline-frames-"));
  const child = spawn(
    binary,
    ["serve", "--host", "127.0.0.1", "--port", String(port), "--db", join(dir, "relay.sqlite"), "--control",
      "--token", RELAY_TOKEN, "--faults", JSON.stringify({ rejectChannels: ["refused."], nackRetryableChannels: ["busy."] })],
    { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, SYNCLINE_CONTROL_SECRET: CONTROL_SECRET } },
  );
  const http = `http://127.0.0.1:${port}`;
  const end = Date.now() + 10_000;
  while (!(await fetch(`${http}/control/stats`, { headers: controlHeaders }).then((r) => r.ok, () => false))) {
    if (Date.now() > end) {
      child.kill("SIGKILL");
      throw new Error("the relay did not start");
    }
    await sleep(50);
  }
  return {
    ws: `ws://127.0.0.1:${port}/ws`,
    control: (path, body) => fetch(`${http}/control/${path}`, { method: "POST", body: JSON.stringify(body), headers: controlHeaders }).then((r) => r.json()),
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function recordRelay() {
  const relay = await startRelay();
  const log = [];
  try {
    // Refused: a message before hello, a hello without the token (denied, then close 4401).
    const denied = new Conn(log, "denied", relay.ws);
    await denied.opened;
    denied.send(JSON.stringify({ t: "sub", ch: "match.1" }), "sub before hello");
    await denied.expect(msg("error", { code: "hello_required" }), "error hello_required");
    denied.send(JSON.stringify({ t: "hello", v: 1, client: "c-denied" }), "hello without token");
    await denied.expect(msg("denied"), "denied (the relay closes with 4401 next)");
    const code = await denied.waitClose();
    if (code !== 4401) throw new Error(`denied socket closed with ${code}, not 4401`);
    const wrong = new Conn(log, "wrong", relay.ws);
    await wrong.opened;
    wrong.send(JSON.stringify({ t: "hello", v: 1, client: "c-wrong", token: "guess" }), "hello with a wrong token");
    await wrong.expect(msg("denied"), "denied (then close 4401)");
    await wrong.waitClose();

    // The subscriber: hello with token, sub without since.
    const b = new Conn(log, "b", relay.ws);
    await b.opened;
    b.send(JSON.stringify({ t: "hello", v: 1, client: "c-b", token: RELAY_TOKEN }), "hello with token");
    await b.expect(msg("welcome"), "welcome");
    b.send(JSON.stringify({ t: "sub", ch: "match.1" }), "sub, live only");
    await b.expect(msg("subscribed", { ch: "match.1" }), "subscribed at head 0");

    // The publisher.
    const a = new Conn(log, "a", relay.ws);
    await a.opened;
    a.send(JSON.stringify({ t: "hello", v: 1, client: "c-a", token: RELAY_TOKEN }), "hello with token");
    await a.expect(msg("welcome"), "welcome");
    a.send(JSON.stringify({ t: "pub", id: "p-1", ch: "match.1", ev: "goal", data: { min: 12, by: "ana" } }), "pub");
    await a.expect(msg("ack", { id: "p-1" }), "ack p-1 seq 1");
    await b.expect(msg("ev", { id: "p-1" }), "event p-1 delivered to the subscriber");
    a.send(JSON.stringify({ t: "pub", id: "p-2", ch: "match.1", ev: "card", durable: true, data: ["yellow", 7] }), "durable pub");
    await a.expect(msg("ack", { id: "p-2" }), "ack p-2 seq 2");
    await b.expect(msg("ev", { id: "p-2" }), "event p-2 delivered to the subscriber");
    a.send(JSON.stringify({ t: "pub", id: "p-1", ch: "match.1", ev: "goal", data: { min: 12, by: "ana" } }), "pub p-1 again");
    await a.expect(msg("ack", { id: "p-1" }), "ack p-1 again with its first seq");
    a.send(JSON.stringify({ t: "pub", id: "p-3", ch: "match.1", ev: "end" }), "pub without data");
    await a.expect(msg("ack", { id: "p-3" }), "ack p-3 seq 3");
    await b.expect(msg("ev", { id: "p-3" }), "event p-3 (data null)");
    a.send(JSON.stringify({ t: "pub", id: "p-r", ch: "refused.x", ev: "goal", data: 1 }), "pub to a refused channel");
    await a.expect(msg("nack", { id: "p-r" }), "nack, not retryable");
    a.send(JSON.stringify({ t: "pub", id: "p-b", ch: "busy.x", ev: "goal", data: 1 }), "pub to a busy channel");
    await a.expect(msg("nack", { id: "p-b" }), "nack, retryable");

    // Requests: the relay's built-in ones and an unknown one.
    a.send(JSON.stringify({ t: "req", id: "r-1", ev: "echo", data: { x: 1, s: "é\n" } }), "req echo");
    await a.expect(msg("res", { id: "r-1" }), "res echo");
    a.send(JSON.stringify({ t: "req", id: "r-2", ev: "time" }), "req time");
    await a.expect(msg("res", { id: "r-2" }), "res time");
    a.send(JSON.stringify({ t: "req", id: "r-3", ev: "stats" }), "req stats");
    await a.expect(msg("res", { id: "r-3" }), "res stats");
    a.send(JSON.stringify({ t: "req", id: "r-4", ev: "sleep", data: { ms: 20 } }), "req sleep");
    await a.expect(msg("res", { id: "r-4" }), "res sleep");
    a.send(JSON.stringify({ t: "req", id: "r-5", ev: "nope", data: null }), "req unknown");
    await a.expect(msg("res", { id: "r-5" }), "res error unknown_request");

    // Heartbeat, a client batch (answered as one batch when the relay has both queued).
    a.send(JSON.stringify({ t: "ping", ts: 1234 }), "ping");
    await a.expect(msg("pong", { ts: 1234 }), "pong");
    a.send(JSON.stringify([{ t: "ping", ts: 1 }, { t: "req", id: "r-6", ev: "echo", data: [1, 2] }, { t: "ping", ts: 2 }]), "batch: ping, req, ping");
    await a.expect(msg("pong", { ts: 2 }), "the last answer to the batch (with the others if they were queued together)");

    // What the relay says to messages it cannot use.
    a.send(JSON.stringify({ t: "bogus" }), "unknown type");
    await a.expect(msg("error", { code: "unknown_type" }), "error unknown_type");
    a.send("{not json", "not JSON");
    await a.expect(msg("error", { code: "bad_json" }), "error bad_json");
    a.send(JSON.stringify({ t: "pub", ch: "match.1" }), "pub without id");
    await a.expect(msg("error"), "error for a message missing fields");

    // A late subscriber with since: replay, then subscribed, then live events.
    const c = new Conn(log, "c", relay.ws);
    await c.opened;
    c.send(JSON.stringify({ t: "hello", v: 1, client: "c-c", token: RELAY_TOKEN }), "hello with token");
    await c.expect(msg("welcome"), "welcome");
    c.send(JSON.stringify({ t: "sub", ch: "match.1", since: 1 }), "sub since 1");
    await c.expect(msg("subscribed", { ch: "match.1" }), "replay of seq 2..3, then subscribed at head 3");

    // Server-side publishes: several queued at once go out as one batch frame.
    await relay.control("push", { ch: "match.1", ev: "tick", data: { n: 1 }, count: 5 });
    await b.expect(msg("ev", { ev: "tick", seq: 8 }), "the last pushed event (one frame each, or a batch when they queue up)");
    await c.expect(msg("ev", { ev: "tick", seq: 8 }), "the last pushed event (one frame each, or a batch when they queue up)");

    // Unsubscribe: no answer; later events on the channel do not arrive.
    b.send(JSON.stringify({ t: "unsub", ch: "match.1" }), "unsub");
    a.send(JSON.stringify({ t: "pub", id: "p-4", ch: "match.1", ev: "goal", data: { min: 80 } }), "pub after b's unsub");
    await a.expect(msg("ack", { id: "p-4" }), "ack p-4 seq 9");
    await c.expect(msg("ev", { id: "p-4" }), "event p-4 (b unsubscribed)");
    b.send(JSON.stringify({ t: "ping", ts: 99 }), "ping");
    await b.expect(msg("pong", { ts: 99 }), "pong, and no p-4 before it");
    for (const conn of [a, b, c]) conn.close();
    await Promise.all([a, b, c].map((conn) => conn.waitClose()));
  } finally {
    await relay.stop();
  }
  const describe = (frame) => {
    const types = envelope(frame).map((m) => m.t);
    return types.length > 1 ? `batch: ${types.join(", ")}` : String(types[0] ?? "unparsed");
  };
  return finish(log, describe);
}

// ----- a real socket.io server, Engine.IO 4 / Socket.IO 5 by hand -----

async function startSocketIo() {
  const http = createServer();
  const io = new Server(http, { transports: ["websocket"], pingInterval: 300, pingTimeout: 2_000 });
  const orders = [];

  io.use((socket, next) => {
    if (socket.handshake.auth?.token === "good") next();
    else next(new Error("not authorized"));
  });
  io.on("connection", (socket) => {
    // A request answered by its ack (socket.io's docs: `socket.on(event, (msg, ack) => …)`).
    socket.on("chat", (msg, ack) => {
      ack({ seq: 1 });
      socket.broadcast.emit("chat", msg);
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      ack?.({ ok: true, room });
    });
    socket.on("sum", (a, b, ack) => ack(a + b));
    // syncline's durable publish: (data, meta, ack), refused by `ack({ error, retryable })`.
    socket.on("orders", (data, meta, ack) => {
      if (!(data?.sku > 0)) return ack({ error: "sku must be positive", retryable: false });
      if (orders.includes(meta.id)) return ack(); // the README's dedup one-liner
      orders.push(meta.id);
      ack({ seq: orders.length });
    });
    socket.on("typing", (who) => {
      socket.to("room:1").emit("typing", who);
    });
    // The server's own emits: several arguments, and one that asks the client for an ack.
    socket.on("poke", () => {
      socket.emit("move", 1, 2, { x: 3 });
      socket.emit("question", { q: "ready?" }, () => socket.emit("thanks"));
      io.to("room:1").emit("news", "room news");
    });
    socket.on("send-file", () => socket.emit("file", Buffer.from([1, 2, 3]), "name.bin"));
    socket.on("leave-me", () => socket.disconnect());
  });

  const admin = io.of("/admin");
  admin.use((socket, next) => {
    if (socket.handshake.auth?.token === "admin") return next();
    const error = new Error("admins only");
    error.data = { code: 403 };
    next(error);
  });
  admin.on("connection", (socket) => {
    socket.on("stats", (ack) => {
      ack({ sockets: io.of("/").sockets.size });
      socket.emit("audit", "stats read", () => {});
    });
  });

  const port = await freePort();
  await new Promise((ok) => http.listen(port, "127.0.0.1", ok));
  return {
    ws: `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`,
    async stop() {
      io.close();
      await new Promise((r) => http.close(r));
    },
  };
}

/** The client's automatic answers, as SocketIoWire makes them: a pong for a ping, an empty
 *  ACK for a server event that carries an ack id. */
function sioAuto(frame, entry) {
  if (frame.startsWith("2")) {
    entry.note = "Engine.IO ping";
    return `3${frame.slice(1)}`;
  }
  const event = /^42((?:\/[^,]*,)?)(\d+)\[/.exec(frame);
  if (event) {
    entry.note = "server EVENT asking for an ack";
    return `43${event[1]}${event[2]}[]`;
  }
  return null;
}

const starts = (prefix) => (frame) => frame.startsWith(prefix);

async function recordSocketIo() {
  const server = await startSocketIo();
  const log = [];
  const open = async (name) => {
    const conn = new Conn(log, name, server.ws, sioAuto);
    await conn.opened;
    await conn.expect(starts("0{"), "Engine.IO open (handshake)");
    return conn;
  };
  try {
    // Middleware refuses a bad token: CONNECT_ERROR, the Engine.IO socket stays open.
    const denied = await open("denied");
    denied.send("40", "CONNECT without auth");
    await denied.expect(starts("44"), "CONNECT_ERROR not authorized");
    denied.send(`40${JSON.stringify({ token: "bad" })}`, "CONNECT again, on the same Engine.IO socket, with a bad token");
    await denied.expect(starts("44"), "CONNECT_ERROR not authorized");
    denied.close();

    // A namespace that does not exist.
    const nowhere = await open("nowhere");
    nowhere.send(`40/nowhere,${JSON.stringify({ token: "good" })}`, "CONNECT to a namespace the server lacks");
    await nowhere.expect(starts("44/nowhere,"), "CONNECT_ERROR Invalid namespace");
    nowhere.close();

    // The peer, in room:1, sees what the main socket broadcasts.
    const peer = await open("peer");
    peer.send(`40${JSON.stringify({ token: "good" })}`, "CONNECT with token");
    await peer.expect(starts("40{"), "CONNECT answer with sid");
    peer.send(`420${JSON.stringify(["join", "room:1"])}`, "request join room:1 (ack id 0)");
    await peer.expect(starts("430"), "ACK 0: joined");

    const main = await open("main");
    main.send(`40${JSON.stringify({ token: "good" })}`, "CONNECT with token");
    await main.expect(starts("40{"), "CONNECT answer with sid");
    main.send(`420${JSON.stringify(["chat", { text: "hi" }])}`, "request chat (ack id 0)");
    await main.expect(starts("430"), "ACK 0 {seq:1}");
    await peer.expect(starts('42["chat"'), "chat broadcast to the peer");
    main.send(`421${JSON.stringify(["orders", { sku: 7 }, { id: "p-1", event: "created" }])}`, "publish orders (ack id 1)");
    await main.expect(starts("431"), "ACK 1 {seq:1}: publish stored");
    main.send(`422${JSON.stringify(["orders", { sku: -1 }, { id: "p-2", event: "created" }])}`, "publish orders refused (ack id 2)");
    await main.expect(starts("432"), "ACK 2 {error, retryable:false}: publish refused");
    main.send(`423${JSON.stringify(["orders", { sku: 7 }, { id: "p-1", event: "created" }])}`, "publish p-1 again (ack id 3)");
    await main.expect(starts("433"), "ACK 3 with no argument: a duplicate, confirmed by ack()");
    main.send(`424${JSON.stringify(["sum", 1, 2])}`, "request with two arguments (ack id 4)");
    await main.expect(starts("434"), "ACK 4 [3]");
    main.send(`42${JSON.stringify(["typing", { who: "ana" }])}`, "emit, no ack id");
    await peer.expect(starts('42["typing"'), "typing, emitted to room:1");
    main.send(`42${JSON.stringify(["poke"])}`, "emit poke: the server emits to this socket");
    await main.expect(starts('42["move"'), "EVENT with several arguments");
    await main.expect(starts('42["thanks"'), "EVENT thanks, after the client acked the question");
    await peer.expect(starts('42["news"'), "room news");
    main.send(`42${JSON.stringify(["send-file"])}`, "emit send-file: the server emits a Buffer");
    await main.expect(starts("45"), "BINARY_EVENT with one attachment");
    await main.expect(starts("<binary"), "the attachment, a binary frame");
    // A heartbeat exchange (pingInterval 300 ms): the ping is answered on arrival.
    const pings = () => log.filter((e) => e.conn === "main" && e.dir === "in" && e.frame === "2").length;
    const end = Date.now() + WAIT_MS;
    while (pings() === 0 && Date.now() < end) await sleep(50);
    if (pings() === 0) throw new Error("no ping from the socket.io server");
    main.send(`42${JSON.stringify(["leave-me"])}`, "emit leave-me: the server disconnects this socket");
    await main.expect(starts("41"), "DISCONNECT from the server");
    main.close();

    // The /admin namespace: refused without its token, then with it.
    const adminDenied = await open("admin-denied");
    adminDenied.send(`40/admin,${JSON.stringify({ token: "good" })}`, "CONNECT /admin with the wrong token");
    await adminDenied.expect(starts("44/admin,"), "CONNECT_ERROR with data");
    adminDenied.close();

    const admin = await open("admin");
    admin.send(`40/admin,${JSON.stringify({ token: "admin" })}`, "CONNECT /admin");
    await admin.expect(starts("40/admin,"), "CONNECT answer with sid");
    admin.send(`42/admin,0${JSON.stringify(["stats"])}`, "request stats, no arguments (ack id 0)");
    await admin.expect(starts("43/admin,0"), "ACK 0 with the stats");
    await admin.answered(starts("42/admin,0"));
    admin.send("41/admin,", "DISCONNECT from the client");
    admin.close();
    peer.close();
    await Promise.all([denied, nowhere, peer, main, adminDenied, admin].map((c) => c.waitClose()));
  } finally {
    await server.stop();
  }
  const describe = (frame) => ({ 2: "Engine.IO ping", 3: "Engine.IO pong" })[frame[0]] ?? "unclaimed";
  return finish(log, describe);
}

write("tests/fixtures/relay-frames.jsonl", await recordRelay());
write("tests/fixtures/socketio-frames.jsonl", await recordSocketIo());
