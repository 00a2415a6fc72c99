// make bench: syncline side by side with the libraries apps use today, in one headless Chromium
// (Debian's), against servers on 127.0.0.1: the release relay for syncline, the `ws` server for
// a plain WebSocket and partysocket, the `socket.io` server for socket.io-client. workbox's
// Queue and pubkey's broadcast-channel need no server.
//
// The browser is started here and driven over its browser-level DevTools connection: pages are
// created with Target.createTarget and never attached to, so nothing instruments them (an
// attached page reports every WebSocket frame to DevTools and halves throughput). Every page
// measures itself and posts its figures to this process over HTTP (bench/pages/bench.js).
//
// Each round runs in a fresh browser context (its own storage, cache and service workers).
// Writes target/bench/results.json, results.md and chart.svg.
//
//   node bench/bench.mjs [--rounds R] [--only inbound,latency,…] [--quick]
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { cpus, tmpdir, totalmem } from "node:os";
import { extname, join, normalize } from "node:path";
import { parseArgs } from "node:util";
import { startRelay, root, waitFor } from "../www/tests/harness.mjs";
import { buildPeers, bundleFile, PEERS } from "./peers.mjs";
import { writeChart, writeTable } from "./report.mjs";

const require = createRequire(join(root, "www/package.json"));
const WebSocket = require("ws");

const { values: opt } = parseArgs({
  options: {
    rounds: { type: "string", default: process.env.ROUNDS ?? "3" },
    only: { type: "string", default: process.env.ONLY ?? "" },
    quick: { type: "boolean", default: process.env.QUICK === "1" },
  },
});
const ROUNDS = Number(opt.rounds);
const quick = opt.quick;
const SIZES = {
  inbound: quick ? 20_000 : 200_000,
  latency: quick ? 1_000 : 5_000,
  outbox: quick ? 1_000 : 10_000,
  fanout: quick ? 500 : 2_000,
  memory: quick ? 100_000 : 1_000_000,
  idleSeconds: quick ? 10 : 60,
};
const only = new Set(opt.only.split(",").filter(Boolean));
const wanted = (name) => only.size === 0 || only.has(name);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const OUT = join(root, "target/bench");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const median = (xs) => pct(xs, 50);
let nextId = 0;
const id = () => `${Date.now().toString(36)}${(nextId++).toString(36)}`;

// ---------------------------------------------------------------- peers, bundled
mkdirSync(OUT, { recursive: true });
const peerDir = join(OUT, "peers");
await buildPeers(peerDir);
await bundleFile(join(root, "bench/pages/workbox-sw.js"), join(peerDir, "workbox-sw.js"), { format: "iife" });
// syncline as an app's bundler ships it, like the peers: the entry and its wasm-bindgen glue in
// one file, the wasm beside it (found through import.meta.url).
await bundleFile(join(root, "pkg/index.js"), join(peerDir, "syncline.js"));
copyFileSync(join(root, "pkg/wasm/syncline_bg.wasm"), join(peerDir, "syncline_bg.wasm"));
const versions = Object.fromEntries(Object.values(PEERS).map((p) => [p.name, p.version]));

// ---------------------------------------------------------------- the harness's HTTP server
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
const results = new Map(); // run -> resolve
const signals = new Map(); // key -> { value, waiters }
const sinks = new Map(); // run -> requests received
let relay;

function signalSlot(key) {
  if (!signals.has(key)) signals.set(key, { value: undefined, waiters: [] });
  return signals.get(key);
}
function raise(key, value) {
  const slot = signalSlot(key);
  slot.value = value ?? {};
  for (const w of slot.waiters.splice(0)) w(slot.value);
}
function waitSignal(key) {
  const slot = signalSlot(key);
  return slot.value !== undefined ? Promise.resolve(slot.value) : new Promise((ok) => slot.waiters.push(ok));
}
const body = (req) => new Promise((ok) => {
  let text = "";
  req.on("data", (c) => (text += c));
  req.on("end", () => ok(text));
});

const site = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const [, head, rest] = url.pathname.match(/^\/([^/]+)\/?(.*)$/) ?? [];
  res.setHeader("cache-control", "no-store");
  if (req.method === "POST" && head === "result") {
    const text = await body(req);
    res.end("{}");
    let value;
    try { value = JSON.parse(text); } catch { value = { ok: false, error: `bad result: ${text.slice(0, 200)}` }; }
    results.get(rest)?.(value);
    return;
  }
  if (req.method === "POST" && head === "signal") {
    raise(decodeURIComponent(rest), JSON.parse((await body(req)) || "{}"));
    return res.end("{}");
  }
  if (head === "wait") {
    const value = await waitSignal(decodeURIComponent(rest));
    res.setHeader("content-type", "application/json");
    return res.end(JSON.stringify(value));
  }
  if (head === "sink") {
    await body(req);
    sinks.set(rest, (sinks.get(rest) ?? 0) + 1);
    return res.end("ok");
  }
  // The relay's test endpoints answer only the run's secret, which pages never see: the bench
  // pages reach them through these routes of their own origin. Only same-origin requests pass
  // (Sec-Fetch-Site is set by the browser, and another site cannot forge it).
  if ((head === "push" || head === "supervisor") && req.headers["sec-fetch-site"] !== "same-origin") {
    res.statusCode = 403;
    return res.end("same-origin pages only");
  }
  if (head === "supervisor") {
    const init = req.method === "POST" ? { method: "POST", body: await body(req) } : {};
    const r = await relay.fetch(`${relay.supervisor}/${rest}${url.search}`, init);
    res.statusCode = r.status;
    res.setHeader("content-type", "application/json");
    return res.end(await r.text());
  }
  if (req.method === "POST" && head === "push") {
    // syncline's server side: the relay stores and pushes n events (as an app backend would).
    const room = url.searchParams.get("room");
    const n = Number(url.searchParams.get("n"));
    const r = await relay.control("push", JSON.stringify({ ch: room, ev: "tick", data: { i: 0, at: Date.now(), pad: "x".repeat(150) }, count: n }));
    return res.end(JSON.stringify(r));
  }
  const base = head === "pkg" ? join(root, "pkg") : head === "peers" ? peerDir : head === "pages" ? join(root, "bench/pages") : null;
  const file = base && join(base, normalize(rest));
  if (!file || !file.startsWith(base) || !existsSync(file)) {
    res.statusCode = 404;
    return res.end();
  }
  res.setHeader("content-type", types[extname(file)] ?? "application/octet-stream");
  res.end(readFileSync(file));
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${site.address().port}`;

// ---------------------------------------------------------------- servers
relay = await startRelay();
const peerServers = spawn(process.execPath, [join(root, "bench/servers.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
const ports = await new Promise((ok, fail) => {
  let out = "";
  peerServers.stdout.on("data", (c) => {
    out += c;
    if (out.includes("\n")) ok(JSON.parse(out.split("\n")[0]));
  });
  peerServers.once("exit", (code) => fail(new Error(`bench/servers.mjs exited with ${code}`)));
});
const urls = { relay: relay.ws, ws: `ws://127.0.0.1:${ports.ws}`, sio: `http://127.0.0.1:${ports.sio}`, supervisor: `${origin}/supervisor` };

// ---------------------------------------------------------------- the browser
const profile = mkdtempSync(join(tmpdir(), "syncline-bench-profile-"));
const browserProcess = spawn(CHROMIUM, ["--headless", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
  "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows",
  "--js-flags=--expose-gc", "--enable-precise-memory-info", "--remote-debugging-port=0", `--user-data-dir=${profile}`, "about:blank"],
{ stdio: "ignore", detached: true });
const portFile = join(profile, "DevToolsActivePort");
await waitFor("Chromium's DevTools port", () => existsSync(portFile) && readFileSync(portFile, "utf8").includes("\n"), 30_000);
const [devtoolsPort, browserPath] = readFileSync(portFile, "utf8").trim().split("\n");

/** The browser-level DevTools connection (no page is ever attached). */
const cdp = await new Promise((ok, fail) => {
  const socket = new WebSocket(`ws://127.0.0.1:${devtoolsPort}${browserPath}`, { perMessageDeflate: false });
  const pending = new Map();
  let seq = 0;
  socket.on("message", (raw) => {
    const msg = JSON.parse(raw.toString());
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.fail(new Error(`${p.method}: ${msg.error.message}`));
    else p.ok(msg.result);
  });
  socket.once("error", fail);
  socket.once("open", () => ok({
    send: (method, params = {}) => new Promise((ok2, fail2) => {
      const n = ++seq;
      pending.set(n, { ok: ok2, fail: fail2, method });
      socket.send(JSON.stringify({ id: n, method, params }));
    }),
    close: () => socket.close(),
  }));
});
const browserVersion = (await cdp.send("Browser.getVersion")).product;

async function newContext() {
  const { browserContextId } = await cdp.send("Target.createBrowserContext");
  const targets = [];
  return {
    /** Opens bench.html with these parameters; resolves with what the page reports. */
    async open(query, timeoutMs = 180_000) {
      const run = id();
      const qs = new URLSearchParams({ ...query, run, relay: urls.relay, ws: urls.ws, sio: urls.sio, supervisor: urls.supervisor });
      const result = new Promise((ok) => {
        const timer = setTimeout(() => ok({ ok: false, error: `no result after ${timeoutMs / 1000} s` }), timeoutMs);
        results.set(run, (value) => { clearTimeout(timer); results.delete(run); ok(value); });
      });
      const { targetId } = await cdp.send("Target.createTarget", { url: `${origin}/pages/bench.html?${qs}`, browserContextId, newWindow: true });
      targets.push(targetId);
      return { run, result };
    },
    async close() {
      for (const targetId of targets) await cdp.send("Target.closeTarget", { targetId }).catch(() => {});
      await cdp.send("Target.disposeBrowserContext", { browserContextId }).catch(() => {});
    },
  };
}

/** One page in a fresh context; throws with the page's error. */
async function single(query, timeoutMs) {
  const context = await newContext();
  try {
    const { result } = await context.open(query, timeoutMs);
    const r = await result;
    if (!r.ok) throw new Error(`${query.scenario}/${query.lib}: ${r.error}`);
    return r;
  } finally {
    await context.close();
  }
}

// ---------------------------------------------------------------- scenarios
const out = {
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${process.platform} ${process.arch}`,
    browser: browserVersion,
    node: process.version,
  },
  versions,
  rounds: ROUNDS,
  quick,
  scenarios: {},
};
const log = (...a) => console.log(...a);

/** Runs `measure(lib, round)` for every library and round; records each value. */
async function scenario(name, spec, libs, rounds, measure) {
  if (!wanted(name)) return;
  log(`\n${spec.title}`);
  const entry = { ...spec, libs: {} };
  out.scenarios[name] = entry;
  for (let round = 1; round <= rounds; round++) {
    for (const lib of libs) {
      const label = typeof lib === "string" ? lib : lib.label;
      const r = await measure(lib, round);
      const slot = (entry.libs[label] ??= { rounds: [] });
      slot.rounds.push(r);
      log(`  round ${round} ${label.padEnd(22)} ${spec.show(r)}`);
    }
  }
  for (const slot of Object.values(entry.libs)) {
    for (const key of spec.figures) slot[key] = median(slot.rounds.map((r) => r[key]));
  }
  writeFileSync(join(OUT, "results.json"), JSON.stringify(out, null, 2));
}

// Fan-out: syncline's leader tab and one follower, as the peers' sender and receiver: two tabs.
const FANOUT_TABS = 2;
const SOCKET_LIBS = ["websocket", "partysocket", "socket.io-client", "syncline", "syncline (socket.io)"];
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : String(x));
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : String(x));

try {
  await scenario("inbound", {
    title: `1. inbound throughput: ${SIZES.inbound.toLocaleString("en")} server-pushed events of ~200 bytes to one client`,
    unit: "events/s", better: "higher", figures: ["perSec"], n: SIZES.inbound,
    show: (r) => `${Math.round(r.perSec)} events/s (${Math.round(r.ms)} ms)`,
  }, SOCKET_LIBS, ROUNDS, async (lib) => {
    const r = await single({ scenario: "inbound", lib, room: `in-${id()}`, n: SIZES.inbound });
    if (r.bad) throw new Error(`inbound/${lib}: ${r.bad} events without data`);
    return { perSec: r.perSec, ms: r.ms };
  });

  await scenario("latency", {
    title: `2. end-to-end latency: tab A publishes 1,000 events/s through the server to tab B (${SIZES.latency.toLocaleString("en")} events)`,
    unit: "ms", better: "lower", figures: ["p50", "p99"], n: SIZES.latency,
    show: (r) => `p50 ${f2(r.p50)} ms, p99 ${f2(r.p99)} ms (${r.received} received)`,
  }, [...SOCKET_LIBS, { label: "syncline (durable)", lib: "syncline", durable: "1" }], ROUNDS, async (lib) => {
    const spec = typeof lib === "string" ? { lib } : lib;
    const room = `lat-${id()}`;
    const [a, b] = [await newContext(), await newContext()];
    try {
      const query = { lib: spec.lib, room, n: SIZES.latency, rate: 1000, durable: spec.durable ?? "0" };
      const receiver = await b.open({ ...query, scenario: "latencyReceiver" });
      const sender = await a.open({ ...query, scenario: "latencySender" });
      const [rs, ss] = [await receiver.result, await sender.result];
      if (!rs.ok || !ss.ok) throw new Error(`latency/${spec.lib}: ${rs.error ?? ss.error}`);
      // The first tenth is warm-up (JIT, connection set-up).
      const steady = rs.latencies.slice(Math.floor(SIZES.latency / 10));
      if (process.env.DEBUG_LATENCY) {
        const worst = rs.latencies.map((v, i) => [i, +v.toFixed(1)]).sort((x, y) => y[1] - x[1]).slice(0, 15);
        console.log("    slowest (index, ms):", JSON.stringify(worst));
      }
      return { p50: pct(steady, 50), p99: pct(steady, 99), received: rs.received, failed: ss.failed };
    } finally {
      await a.close();
      await b.close();
    }
  });

  await scenario("outbox", {
    title: `3+4. durable outbox: ${SIZES.outbox.toLocaleString("en")} publishes while the server is down, then the drain once it is back`,
    unit: "entries/s; s", better: "higher; lower", figures: ["perSec", "drainSeconds"], n: SIZES.outbox,
    show: (r) => `enqueue ${Math.round(r.perSec)} entries/s, drain ${f2(r.drainSeconds)} s`,
  }, ["syncline", "workbox-background-sync"], ROUNDS, async (lib) => {
    const room = `ob-${id()}`;
    const r = await single({ scenario: "outbox", lib, room, n: SIZES.outbox }, 300_000);
    if (lib === "syncline") {
      if (r.queued !== SIZES.outbox || r.stored !== SIZES.outbox) throw new Error(`outbox/syncline: ${r.queued} queued, ${r.stored} stored`);
    } else {
      const arrived = sinks.get(r.run) ?? 0;
      if (r.queued !== SIZES.outbox || r.left !== 0 || arrived !== SIZES.outbox) throw new Error(`outbox/workbox: ${r.queued} queued, ${r.left} left, ${arrived} replayed`);
      sinks.clear();
    }
    return { perSec: r.perSec, drainSeconds: r.drainMs / 1000 };
  });

  await scenario("fanout", {
    title: `5. cross-tab fan-out: one tab to another at 1,000 events/s (${SIZES.fanout.toLocaleString("en")} events)`,
    unit: "ms", better: "lower", figures: ["p50", "p99"], n: SIZES.fanout,
    show: (r) => `p50 ${f2(r.p50)} ms, p99 ${f2(r.p99)} ms (${r.samples} samples)`,
  }, ["native BroadcastChannel", "broadcast-channel", "syncline"], ROUNDS, async (lib) => {
    const room = `fan-${id()}`;
    const context = await newContext();
    try {
      if (lib === "syncline") {
        const tabs = [];
        for (let tab = 0; tab < FANOUT_TABS; tab++) tabs.push(await context.open({ scenario: "fanout", lib, room, key: room, share: "1", n: SIZES.fanout, tab }));
        for (let tab = 0; tab < FANOUT_TABS; tab++) await waitSignal(`${room}:ready:${tab}`);
        await sleep(300);
        for (let i = 0; i < SIZES.fanout; i += 5) {
          await relay.control("push", JSON.stringify({ ch: room, ev: "tick", data: { i, pad: "x".repeat(150) }, count: 5 }));
          await sleep(5);
        }
        const reports = await Promise.all(tabs.map((t) => t.result));
        const bad = reports.find((r) => !r.ok);
        if (bad) throw new Error(`fanout/syncline: ${bad.error}`);
        const leader = reports.find((r) => r.role === "leader");
        if (!leader) throw new Error(`fanout/syncline: no leader among ${reports.map((r) => r.role)}`);
        const at = new Map(leader.arrivals);
        const hops = reports.filter((r) => r !== leader).flatMap((r) => r.arrivals.filter(([seq]) => at.has(seq)).map(([seq, t]) => t - at.get(seq)));
        return { p50: pct(hops, 50), p99: pct(hops, 99), samples: hops.length };
      }
      const name = lib === "broadcast-channel" ? "broadcast-channel" : "native";
      const receiver = await context.open({ scenario: "fanout", lib: name, role: "receiver", room, n: SIZES.fanout });
      const sender = await context.open({ scenario: "fanout", lib: name, role: "sender", room, n: SIZES.fanout });
      const [rs, ss] = [await receiver.result, await sender.result];
      if (!rs.ok || !ss.ok) throw new Error(`fanout/${lib}: ${rs.error ?? ss.error}`);
      return { p50: pct(rs.latencies, 50), p99: pct(rs.latencies, 99), samples: rs.received };
    } finally {
      await context.close();
    }
  });

  await scenario("startup", {
    title: "6. startup: navigation start to the connection's first open (module fetch and instantiation included)",
    unit: "ms", better: "lower", figures: ["openedMs"],
    show: (r) => `${f1(r.openedMs)} ms`,
  }, [...SOCKET_LIBS, { label: "syncline (own connection)", lib: "syncline", share: "0" }], Math.max(3 * ROUNDS, 9), async (lib) => {
    const spec = typeof lib === "string" ? { lib } : lib;
    const r = await single({ scenario: "startup", lib: spec.lib, share: spec.share ?? "1", room: `st-${id()}` });
    return { openedMs: r.openedMs };
  });

  await scenario("memory", {
    title: `7. memory: JS heap + wasm memory growth over ${SIZES.memory.toLocaleString("en")} inbound events (after a 10,000-event warm-up, with gc)`,
    unit: "MB", better: "lower", figures: ["growthMB"], n: SIZES.memory,
    show: (r) => `${f2(r.growthMB)} MB (heap ${f2(r.heapMB)} MB, wasm ${f2(r.libMB)} MB)`,
  }, SOCKET_LIBS, 1, async (lib) => {
    const r = await single({ scenario: "memory", lib, room: `mem-${id()}`, n: SIZES.memory }, 600_000);
    if (!r.gcExposed) throw new Error("gc() is not exposed to the page");
    const mb = (x) => x / 1e6;
    return { growthMB: mb(r.growth), heapMB: mb(r.after.heap - r.before.heap), libMB: mb(r.after.lib - r.before.lib) };
  });

  // All idle clients at once (each in its own context and window), so the minute is shared.
  if (wanted("idle")) {
    const libs = SOCKET_LIBS;
    log(`\n8. idle wakeups: timer callbacks per minute of a connected, idle client in a visible tab (${SIZES.idleSeconds} s)`);
    const contexts = await Promise.all(libs.map(() => newContext()));
    try {
      const pages = await Promise.all(libs.map((lib, i) => contexts[i].open({ scenario: "idle", lib, room: `idle-${id()}`, seconds: SIZES.idleSeconds }, (SIZES.idleSeconds + 60) * 1000)));
      const entry = { title: "8. idle wakeups", unit: "timers/min", better: "lower", figures: ["perMinute"], libs: {} };
      for (const [i, lib] of libs.entries()) {
        const r = await pages[i].result;
        if (!r.ok) throw new Error(`idle/${lib}: ${r.error}`);
        entry.libs[lib] = { rounds: [r], perMinute: r.perMinute };
        log(`  ${lib.padEnd(24)} ${f1(r.perMinute)} per minute (${JSON.stringify(r.fired)}, ${r.visibility})`);
      }
      out.scenarios.idle = entry;
    } finally {
      for (const c of contexts) await c.close();
    }
  }

  out.finished = new Date().toISOString();
  writeFileSync(join(OUT, "results.json"), JSON.stringify(out, null, 2));
  writeTable(out, join(OUT, "results.md"));
  writeChart(out, join(OUT, "chart.svg"));
  log(`\nmake bench: wrote target/bench/results.json, results.md, chart.svg`);
} finally {
  cdp.close();
  try { process.kill(-browserProcess.pid, "SIGKILL"); } catch { /* gone */ }
  peerServers.kill("SIGTERM");
  await relay.stop();
  site.close();
  await sleep(300);
  rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
}
process.exit(0);
