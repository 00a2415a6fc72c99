// make bench-tabs: cross-tab fan-out latency and leader failover, with real tabs in headless
// Chromium against the release relay on 127.0.0.1. Figures are measured inside the pages;
// the same run measures a bare BroadcastChannel hop as the floor. Writes target/bench/tabs.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { launch, root, startRelay, waitFor } from "../www/tests/harness.mjs";
import { createServer } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { extname, normalize } from "node:path";

const EVENTS = Number(process.env.EVENTS ?? 500);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };
const median = (xs) => pct(xs, 50);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const site = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
  const file = path.startsWith("/pkg/") ? join(root, normalize(path)) : join(root, "bench/pages", normalize(path));
  if (!file.startsWith(root) || !existsSync(file)) { res.statusCode = 404; return res.end(); }
  res.setHeader("content-type", types[extname(file)] ?? "application/octet-stream");
  res.end(readFileSync(file));
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${site.address().port}`;
const relay = await startRelay();
const browser = await launch();

async function tab(context, key) {
  const page = await context.newPage();
  await page.goto(`${origin}/tab.html?relay=${encodeURIComponent(relay.ws)}&key=${key}`);
  await page.waitForFunction(() => window.ready === true);
  return page;
}
const state = (p) => p.evaluate(() => window.b.state());
async function openGroup(key, n) {
  const context = await browser.newContext();
  const tabs = [];
  for (let i = 0; i < n; i++) tabs.push(await tab(context, key));
  await waitFor("tabs open", async () => (await Promise.all(tabs.map(state))).every((s) => s.state === "open" && s.role !== "pending"));
  return { context, tabs };
}
async function push(channel, count) {
  // Server-side events at a steady pace (about 1,000/s), as a backend would send them.
  for (let i = 0; i < count; i += 10) {
    await relay.control("push", JSON.stringify({ ch: channel, ev: "tick", data: { i, pad: "x".repeat(150) }, count: 10 }));
    await sleep(10);
  }
}

try {
  // Fan-out: the leader receives from the relay; followers get it through the leader.
  const { context, tabs } = await openGroup("fanout", 3);
  const roles = await Promise.all(tabs.map(async (t) => (await state(t)).role));
  const leader = tabs[roles.indexOf("leader")];
  const followers = tabs.filter((t) => t !== leader);
  await Promise.all(tabs.map((t) => t.evaluate(() => window.b.subscribe("fan"))));
  await sleep(300);
  await push("fan", EVENTS);
  await waitFor("all events in all tabs", async () => (await Promise.all(tabs.map((t) => t.evaluate(() => window.b.arrivals.size)))).every((n) => n >= EVENTS), 30_000);
  const leaderAt = new Map(await leader.evaluate(() => [...window.b.arrivals]));
  const fanout = [];
  for (const f of followers) {
    for (const [seq, at] of await f.evaluate(() => [...window.b.arrivals])) {
      if (leaderAt.has(seq)) fanout.push(at - leaderAt.get(seq));
    }
  }
  if (process.env.DEBUG_TAIL) {
    const worst = [];
    for (const f of followers) for (const [seq, at] of await f.evaluate(() => [...window.b.arrivals])) worst.push([seq, +(at - leaderAt.get(seq)).toFixed(2)]);
    console.log("slowest (seq, ms):", JSON.stringify(worst.sort((a, b) => b[1] - a[1]).slice(0, 25)));
  }
  // Baseline: the leader forwards each event over a bare BroadcastChannel.
  await leader.evaluate(() => window.b.relayNative("native"));
  await sleep(200);
  await push("native", EVENTS);
  await waitFor("native hop", async () => (await Promise.all(followers.map((f) => f.evaluate(() => window.b.nativeLatencies.length)))).every((n) => n >= EVENTS), 30_000);
  const native = (await Promise.all(followers.map((f) => f.evaluate(() => window.b.nativeLatencies)))).flat();
  await context.close();

  // Failover: close the leader tab; time until another tab leads with its socket open.
  const failovers = [];
  const group = await openGroup("failover", 3);
  for (let round = 0; round < ROUNDS; round++) {
    const rs = await Promise.all(group.tabs.map(async (t) => (await state(t)).role));
    const old = group.tabs[rs.indexOf("leader")];
    group.tabs.splice(group.tabs.indexOf(old), 1);
    await sleep(300);
    const closedAt = Date.now();
    await old.close();
    const next = await waitFor("new leader open", async () => {
      for (const t of group.tabs) {
        const s = await state(t);
        if (s.role === "leader" && s.state === "open") return t;
      }
      return null;
    });
    const transitions = await next.evaluate(() => window.b.transitions);
    const led = transitions.find((x) => x.at >= closedAt && x.role === "leader");
    const open = transitions.find((x) => x.at >= closedAt && x.role === "leader" && x.state === "open");
    failovers.push({ handoverMs: led.at - closedAt, openMs: open.at - closedAt, connectMs: open.at - led.at });
    group.tabs.push(await tab(group.context, "failover"));
    await waitFor("group whole", async () => (await Promise.all(group.tabs.map(state))).every((s) => s.state === "open" && s.role !== "pending"));
  }
  await group.context.close();

  const summary = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, ${cpus().length} cores, /usr/bin/chromium via playwright-core`,
    events: EVENTS,
    fanoutMs: { p50: pct(fanout, 50), p99: pct(fanout, 99), samples: fanout.length },
    nativeBroadcastChannelMs: { p50: pct(native, 50), p99: pct(native, 99), samples: native.length },
    failover: {
      rounds: failovers,
      medianOpenMs: median(failovers.map((f) => f.openMs)),
      medianHandoverMs: median(failovers.map((f) => f.handoverMs)),
      medianConnectMs: median(failovers.map((f) => f.connectMs)),
    },
  };
  mkdirSync(join(root, "target/bench"), { recursive: true });
  writeFileSync(join(root, "target/bench/tabs.json"), JSON.stringify(summary, null, 2));
  const f = (x) => x.toFixed(2);
  console.log(`bench-tabs: fan-out leader -> follower p50 ${f(summary.fanoutMs.p50)} ms, p99 ${f(summary.fanoutMs.p99)} ms ` +
    `(bare BroadcastChannel hop p50 ${f(summary.nativeBroadcastChannelMs.p50)} ms, p99 ${f(summary.nativeBroadcastChannelMs.p99)} ms; ${fanout.length} samples)`);
  console.log(`bench-tabs: failover (leader tab closed -> new leader's socket open) median ${Math.round(summary.failover.medianOpenMs)} ms ` +
    `= handover ${Math.round(summary.failover.medianHandoverMs)} ms + connect ${Math.round(summary.failover.medianConnectMs)} ms; ${ROUNDS} rounds`);
} finally {
  await browser.close();
  await relay.stop();
  site.close();
}
