// The protocol modes of the chaos run: for each, the server (started, SIGKILLed, restarted,
// SIGSTOPped by pid), the client options an app would use with it (publishers and viewers), and
// how the server's store is read back (every stored publish in store order with its channel,
// sequence, id and the writer/counter in its payload).
//
// Options common to every mode (timing only, never dedup or ordering): reconnect after 100 ms
// to 1 s, an ack timeout of 3 s, outbox retries from 200 ms to 2 s, the breaker probing after
// 5 s, and (relay, JSON) a heartbeat every 3 s with 2 s to answer — the Socket.IO server sets
// the same with pingInterval/pingTimeout — so that a hung server is noticed within a fault.
import WebSocket from "ws";
import { startNodeServer, startRelay } from "../tests/harness.mjs";

export const MODES = ["relay", "socketio", "json", "http"];

const common = (key) => ({
  storageKey: key,
  reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
  breaker: { cooldownMs: 5000 },
  outbox: { ackTimeoutMs: 3000, retry: { initialDelayMs: 200, maxDelayMs: 2000 } },
});
const heartbeat = { intervalMs: 3000, timeoutMs: 2000 };

// The JSON backends' frames (servers/feeds-ws.mjs), as the app declares them.
const feedsJson = {
  event: "kind",
  channel: "feed",
  data: "body",
  id: "ref",
  seq: "offset",
  answer: { id: "ref", match: [{ op: "posted" }, { op: "refused" }], error: "why" },
  subscribe: { op: "watch", feed: "{channel}" },
  unsubscribe: { op: "unwatch", feed: "{channel}" },
  resume: { op: "watch", feed: "{channel}", after: "{since}" },
  publish: { op: "post", ref: "{id}", feed: "{channel}", kind: "{event}", body: "{data}" },
  heartbeat: { ping: { op: "ping" }, pong: { op: "pong" } },
};

/** A Node server of servers/ under the harness's startNodeServer. */
async function nodeServer(script) {
  const s = await startNodeServer(`../chaos/servers/${script}`);
  return {
    s,
    port: new URL(s.url).port,
    kill: () => s.kill(),
    // Started again only when down (the harness's start() would spawn a second one).
    start: () => (s.child ? Promise.resolve() : s.start()),
    pid: async () => s.child?.pid ?? null,
    stats: () => s.stats(),
    stored: () => s.post("stored"),
    kick: () => s.post("kick"),
    stop: () => s.stop(),
  };
}

/** Reads every stored event of `channels` from the relay over its own protocol: `sub` with
 *  `since`, page after page (the relay replays at most its history limit per subscribe). */
async function readRelay(url, channels) {
  const ws = new WebSocket(url, { maxPayload: 256 << 20 });
  const inbox = [];
  let wake = null;
  ws.on("message", (raw) => {
    const v = JSON.parse(raw);
    for (const m of Array.isArray(v) ? v : [v]) inbox.push(m);
    wake?.();
  });
  await new Promise((ok, fail) => {
    ws.once("open", ok);
    ws.once("error", fail);
  });
  const next = async () => {
    const end = Date.now() + 30_000;
    while (inbox.length === 0) {
      if (Date.now() > end) throw new Error("the relay reader got no frame in 30 s");
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 1000);
      });
    }
    return inbox.shift();
  };
  ws.send(JSON.stringify({ t: "hello", v: 1, client: `chaos-reader-${process.pid}` }));
  for (let m = await next(); m.t !== "welcome"; m = await next()) {
    if (m.t === "denied") throw new Error(`the relay denied the reader: ${m.reason}`);
  }
  const out = [];
  for (const ch of channels) {
    let since = 0;
    for (;;) {
      ws.send(JSON.stringify({ t: "sub", ch, since }));
      let got = 0;
      let head = 0;
      for (let m = await next(); ; m = await next()) {
        if (m.t === "ev" && m.ch === ch && m.seq > since) {
          out.push({ channel: ch, seq: m.seq, id: m.id ?? null, w: m.data?.w ?? null, n: m.data?.n ?? null });
          since = m.seq;
          got++;
        } else if (m.t === "subscribed" && m.ch === ch) {
          head = m.seq;
          break;
        }
      }
      ws.send(JSON.stringify({ t: "unsub", ch }));
      if (got === 0 || since >= head) break;
    }
  }
  ws.close();
  return out;
}

/** Starts mode `name`'s server; returns what the run needs of it. */
export async function startMode(name, channels) {
  if (name === "relay") {
    const relay = await startRelay();
    return {
      name,
      kind: "relay",
      async kill() {
        await relay.post("kill");
      },
      async start() {
        await relay.post("start");
      },
      // POST /start on a running relay answers its pid without starting another.
      pid: async () => (await relay.post("start")).pid ?? null,
      stored: () => readRelay(relay.ws, channels),
      kick: () => relay.control("kick"),
      storedIdsCount: async () => (await Promise.all(channels.map((c) => relay.ids(c)))).reduce((a, ids) => a + ids.length, 0),
      pubOptions: (key) => ({ url: relay.ws, ...common(key), heartbeat }),
      subOptions: (key) => ({ url: relay.ws, ...common(key), heartbeat }),
      stop: () => relay.stop(),
    };
  }
  if (name === "socketio") {
    const srv = await nodeServer("sio-server.mjs");
    const url = `http://127.0.0.1:${srv.port}`;
    const base = (key) => ({ url, protocol: "socket.io", ...common(key) });
    return {
      name,
      kind: "sio",
      ...srv,
      pubOptions: base,
      subOptions: (key) => ({ ...base(key), joins: channels.map((c) => ["join_match", c]) }),
    };
  }
  if (name === "json") {
    const srv = await nodeServer("json-server.mjs");
    const options = (key) => ({ url: `ws://127.0.0.1:${srv.port}/ws`, protocol: "json", json: feedsJson, ...common(key), heartbeat });
    return { name, kind: "json", ...srv, pubOptions: options, subOptions: options };
  }
  if (name === "http") {
    const srv = await nodeServer("rest-server.mjs");
    const api = `http://127.0.0.1:${srv.port}`;
    return {
      name,
      kind: "http",
      ...srv,
      // Publishers write through the REST API only (no socket), as a form-heavy app does.
      pubOptions: (key) => {
        const c = common(key);
        return { ...c, outbox: { ...c.outbox, transport: "http", url: `${api}/api/feeds/{channel}/items`, method: "POST" } };
      },
      // Viewers read the live feed the REST server pushes over its WebSocket.
      subOptions: (key) => ({ url: `ws://127.0.0.1:${srv.port}/live`, protocol: "json", json: feedsJson, ...common(key), heartbeat }),
    };
  }
  throw new Error(`unknown mode ${name}`);
}
