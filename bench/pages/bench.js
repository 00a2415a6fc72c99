// The measured page of `make bench`. Opened by the harness over a browser-level DevTools
// connection that never attaches to it (so nothing reports its frames to DevTools); it measures
// inside the page and posts its figures to /result/<run>. What it does is in the URL:
//   ?scenario=…&lib=…&run=…&room=…&relay=…&ws=…&sio=…&supervisor=…&n=…
// Timer callbacks are counted from the first line, before any library is loaded.
const wakeups = { timeout: 0, interval: 0, animationFrame: 0 };
for (const [name, key] of [["setTimeout", "timeout"], ["setInterval", "interval"], ["requestAnimationFrame", "animationFrame"]]) {
  const native = window[name].bind(window);
  window[name] = (fn, ...rest) => native(typeof fn === "function" ? (...a) => { wakeups[key]++; return fn(...a); } : fn, ...rest);
}

const params = new URLSearchParams(location.search);
const run = params.get("run");
const room = params.get("room");
const urls = { relay: params.get("relay"), ws: params.get("ws"), sio: params.get("sio") };
const N = Number(params.get("n") ?? 1000);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const report = (result) => fetch(`/result/${run}`, { method: "POST", body: JSON.stringify(result) });
const signal = (key, value = {}) => fetch(`/signal/${encodeURIComponent(key)}`, { method: "POST", body: JSON.stringify(value) });
const wait = (key) => fetch(`/wait/${encodeURIComponent(key)}`).then((r) => r.json());

function heap() {
  for (let i = 0; i < 4; i++) globalThis.gc?.();
  return performance.memory?.usedJSHeapSize ?? 0;
}

async function connect() {
  const { LIBS } = await import("./libs.js");
  const open = LIBS[params.get("lib")];
  if (!open) throw new Error(`unknown library ${params.get("lib")}`);
  const conn = await open({ room, urls, params });
  const openedAt = await conn.opened;
  return { conn, openedAt };
}

/** Sends events until the server's echo arrives: the subscription is in place. */
async function primed(conn) {
  let seen = 0;
  conn.onTick(() => seen++);
  for (let tries = 0; seen === 0; tries++) {
    if (tries === 100) throw new Error("no event arrived in 10 s");
    if (tries % 10 === 0) conn.blast(1);
    await sleep(100);
  }
  await sleep(200);
}

/** n events from the server; resolves with ms from asking to the last handler call. */
function receive(conn, n) {
  return new Promise((resolve) => {
    let count = 0;
    let bad = 0;
    conn.onTick((data) => {
      if (typeof data?.i !== "number") bad++;
      if (++count === n) resolve({ ms: performance.now() - t0, bad });
    });
    const t0 = performance.now();
    conn.blast(n);
  });
}

/** Calls send(i) for i in 0..n at `rate` per second (each turn sends what is due). */
async function paced(n, rate, send) {
  const start = performance.now();
  let i = 0;
  while (i < n) {
    const due = Math.min(n, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    for (; i < due; i++) send(i);
    await sleep(1);
  }
}

const scenarios = {
  // 1. Inbound throughput: n events pushed by the server to one subscribed client.
  async inbound() {
    const { conn } = await connect();
    await primed(conn);
    const { ms, bad } = await receive(conn, N);
    conn.close();
    return { n: N, ms, perSec: N / (ms / 1000), bad };
  },

  // 2. End-to-end latency: the sender publishes at `rate`/s; the receiver (another browser
  //    context) records now - at for each.
  async latencySender() {
    const { conn } = await connect();
    const rate = Number(params.get("rate") ?? 1000);
    await wait(`${room}:receiver-ready`);
    await sleep(2000); // both pages settle (their loads end, the browser's start-up work too)
    let failed = 0;
    await paced(N, rate, (i) => {
      const p = conn.publish({ i, at: now(), pad: "x".repeat(150) });
      p?.catch?.(() => failed++);
    });
    await wait(`${room}:receiver-done`);
    conn.close();
    return { sent: N, failed };
  },
  async latencyReceiver() {
    const { conn } = await connect();
    const latencies = [];
    conn.onTick((data) => latencies.push(now() - data.at));
    await sleep(300); // the subscription reaches the server
    await signal(`${room}:receiver-ready`);
    const end = performance.now() + 60_000;
    while (latencies.length < N && performance.now() < end) await sleep(50);
    await signal(`${room}:receiver-done`);
    conn.close();
    return { received: latencies.length, latencies };
  },

  // 3+4. Durable enqueue of n entries while the server is down, then the drain once it is back.
  async outbox() {
    if (params.get("lib") === "workbox-background-sync") return workboxOutbox();
    const supervisor = params.get("supervisor");
    const post = (path) => fetch(`${supervisor}/${path}`, { method: "POST" });
    await post("kill");
    const { createClient } = await import("/peers/syncline.js");
    const client = await createClient({ url: urls.relay, storageKey: `bench-${room}` });
    const until = (predicate) => new Promise((resolve) => {
      if (predicate(client.getState())) return resolve(performance.now());
      const stop = client.onStateChange((st) => { if (predicate(st)) { stop(); resolve(performance.now()); } });
    });
    await until((st) => st.outbox.storage !== "loading");
    if (client.getState().outbox.storage !== "indexeddb") throw new Error("IndexedDB unavailable");
    const t0 = performance.now();
    const promises = [];
    for (let i = 0; i < N; i++) promises.push(client.publish(room, "tick", { i, pad: "x".repeat(150) }));
    const queued = (await Promise.all(promises)).filter((r) => r.status === "queued").length;
    const t1 = performance.now();
    let openedAt = null;
    const stop = client.onStateChange((st) => { if (st.state === "open" && openedAt === null) openedAt = performance.now(); });
    await post("start");
    client.reconnectNow();
    const drainedAt = await until((st) => st.outbox.depth === 0);
    stop();
    const stored = (await (await fetch(`${supervisor}/ids?ch=${room}`)).json()).count;
    client.close();
    return { n: N, queued, stored, enqueueMs: t1 - t0, perSec: N / ((t1 - t0) / 1000), drainMs: drainedAt - openedAt };
  },

  // 5. Cross-tab fan-out. syncline: tabs sharing one connection; the leader's handler time
  //    and each follower's are recorded for the events the relay pushes. The peers: a sender
  //    tab posts at 1,000/s, the receiver records now - at.
  async fanout() {
    const lib = params.get("lib");
    const role = params.get("role");
    const tab = params.get("tab");
    if (lib === "syncline") {
      const { conn } = await connect();
      const arrivals = [];
      conn.onTick((_, m) => arrivals.push([m.seq, now()]));
      await sleep(300);
      await signal(`${room}:ready:${tab}`, { role: conn.client.getState().role });
      const end = performance.now() + 60_000;
      while (arrivals.length < N && performance.now() < end) await sleep(50);
      return { role: conn.client.getState().role, arrivals };
    }
    let channel;
    if (lib === "broadcast-channel") {
      const { BroadcastChannel } = await import("/peers/broadcast-channel.js");
      channel = new BroadcastChannel(room);
    } else {
      channel = new BroadcastChannel(room);
    }
    if (role === "sender") {
      await wait(`${room}:receiver-ready`);
      await paced(N, 1000, (i) => channel.postMessage({ i, at: now(), pad: "x".repeat(150) }));
      await wait(`${room}:receiver-done`);
      await channel.close();
      return { sent: N };
    }
    const latencies = [];
    const onMessage = (data) => latencies.push(now() - data.at);
    if (lib === "broadcast-channel") channel.onmessage = onMessage;
    else channel.onmessage = (e) => onMessage(e.data);
    await sleep(100);
    await signal(`${room}:receiver-ready`);
    const end = performance.now() + 60_000;
    while (latencies.length < N && performance.now() < end) await sleep(50);
    await signal(`${room}:receiver-done`);
    await channel.close();
    return { received: latencies.length, latencies };
  },

  // 6. Startup: navigation start (performance.now() = 0) to the connection's first open.
  async startup() {
    const { openedAt } = await connect();
    return { openedMs: openedAt };
  },

  // 7. Memory: JS heap + library memory growth over n inbound events, after a warm-up.
  async memory() {
    const { conn } = await connect();
    await primed(conn);
    await receive(conn, 10_000);
    await sleep(500);
    const before = { heap: heap(), lib: conn.memoryBytes() };
    const chunk = 100_000;
    for (let done = 0; done < N; done += chunk) await receive(conn, Math.min(chunk, N - done));
    await sleep(500);
    const after = { heap: heap(), lib: conn.memoryBytes() };
    conn.close();
    return { n: N, before, after, growth: after.heap - before.heap + (after.lib - before.lib), gcExposed: typeof globalThis.gc === "function" };
  },

  // 8. Idle wakeups: timer callbacks fired while connected and idle for `seconds`.
  async idle() {
    const { conn } = await connect();
    await sleep(1000);
    const seconds = Number(params.get("seconds") ?? 60);
    const start = { ...wakeups };
    await sleep(seconds * 1000);
    const fired = Object.fromEntries(Object.keys(wakeups).map((k) => [k, wakeups[k] - start[k]]));
    // The measuring sleep's own timer is one of them.
    fired.timeout -= 1;
    const total = fired.timeout + fired.interval + fired.animationFrame;
    conn.close();
    return { seconds, fired, perMinute: (total * 60) / seconds, visibility: document.visibilityState };
  },
};

/** workbox-background-sync's Queue lives in a service worker; it measures there and reports. */
async function workboxOutbox() {
  const registration = await navigator.serviceWorker.register("/peers/workbox-sw.js");
  const worker = registration.installing ?? registration.waiting ?? registration.active;
  if (worker.state !== "activated") {
    await new Promise((resolve) => worker.addEventListener("statechange", () => worker.state === "activated" && resolve()));
  }
  worker.postMessage({ n: N, run, sink: `${location.origin}/sink/${run}` });
  return new Promise(() => {}); // the worker reports
}

try {
  const fn = scenarios[params.get("scenario")];
  if (!fn) throw new Error(`unknown scenario ${params.get("scenario")}`);
  await report({ ok: true, ...(await fn()) });
} catch (e) {
  await report({ ok: false, error: String(e?.stack ?? e) });
}
