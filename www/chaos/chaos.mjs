// The chaos run: several real tabs in headless Chromium publish durable events at random
// intervals to the real relay while faults are injected — the relay SIGKILLed and restarted,
// a tab taken offline and back through the DevTools protocol, the leader tab closed, a tab
// reloaded mid-publish, a tab's renderer crashed. Every id whose publish was called, and how
// each publish settled, is recorded here, outside the pages. At the end the outbox drains and
// the relay's SQLite is compared: `lost` (publishes that resolved, "acked" or "queued", that
// the relay never stored) must be 0.
//
//   node --preserve-symlinks chaos/chaos.mjs [--events N] [--seconds S] [--faults F] [--tabs T]
// Publishing goes on until N events were published and F faults injected, spread over ~S s.
// Writes target/chaos/report.json; exits 1 when anything was lost or a page trapped.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { launch, root, startRelay, startStatic, waitFor } from "../tests/harness.mjs";

const { values: opt } = parseArgs({
  options: {
    events: { type: "string", default: "5000" },
    seconds: { type: "string", default: "150" },
    faults: { type: "string", default: "36" },
    tabs: { type: "string", default: "4" },
  },
});
const EVENTS = Number(opt.events);
const SECONDS = Number(opt.seconds);
const TABS = Number(opt.tabs);
const FAULTS = Number(opt.faults);
const KEY = `chaos-${process.pid}`;
const KINDS = ["relayKill", "offline", "closeLeader", "reload", "crash"];

const started = Date.now();
const called = new Set();
const resolved = new Map(); // id -> "acked" | "queued"
const rejected = [];
const pageErrors = [];
const faults = Object.fromEntries(KINDS.map((k) => [k, 0]));
let duplicates = 0;
let relayRestarts = 0;
let tabCounter = 0;

const rand = (lo, hi) => lo + Math.random() * (hi - lo);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);

const relay = await startRelay();
const site = await startStatic(join(root, "www/chaos"));
const browser = await launch();
const context = await browser.newContext();
await context.exposeBinding("chaosCalled", (_, id) => called.add(id));
await context.exposeBinding("chaosResolved", (_, id, status) => {
  // "acked" wins over an earlier "queued" for the same id.
  if (resolved.get(id) !== "acked") resolved.set(id, status);
});
await context.exposeBinding("chaosRejected", (_, id, kind, message) => rejected.push({ id, kind, message }));

/** Live tabs: { page, cdp, name, crashed }. */
const tabs = [];
const interval = (SECONDS * 1000 * TABS) / EVENTS / 1.25;
let publishing = true;

async function openTab() {
  const name = `t${++tabCounter}`;
  const page = await context.newPage();
  const tab = { page, name, crashed: false, cdp: null };
  page.on("pageerror", (e) => pageErrors.push({ tab: name, message: e.message }));
  page.on("crash", () => (tab.crashed = true));
  tab.cdp = await context.newCDPSession(page);
  await tab.cdp.send("Network.enable");
  const idle = publishing ? "" : "&idle";
  await page.goto(`${site.origin}/page.html?relay=${encodeURIComponent(relay.ws)}&key=${KEY}&tab=${name}&interval=${interval}${idle}`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
  tabs.push(tab);
  return tab;
}

const alive = () => tabs.filter((t) => !t.crashed && !t.page.isClosed());
const stateOf = (t) => t.page.evaluate(() => window.client.getState()).catch(() => null);

async function dropTab(tab) {
  tabs.splice(tabs.indexOf(tab), 1);
  await tab.page.close().catch(() => {});
}

/** Replaces tabs whose renderer crashed (a crash can take several tabs of one process). */
async function replaceCrashed() {
  for (const t of [...tabs]) {
    if (t.crashed) {
      await dropTab(t);
      await openTab();
    }
  }
}

async function relayStats() {
  return fetch(`${relay.http}/control/stats`).then((r) => r.json()).catch(() => null);
}

const inject = {
  async relayKill() {
    const stats = await relayStats();
    duplicates += stats?.duplicates ?? 0;
    await relay.post("kill");
    await sleep(rand(300, 2000));
    await relay.post("start");
    relayRestarts++;
  },
  async offline() {
    const t = alive()[Math.floor(Math.random() * alive().length)];
    if (!t) return;
    const conditions = { latency: 0, downloadThroughput: -1, uploadThroughput: -1 };
    await t.cdp.send("Network.emulateNetworkConditions", { offline: true, ...conditions });
    await sleep(rand(500, 2500));
    await t.cdp.send("Network.emulateNetworkConditions", { offline: false, ...conditions }).catch(() => {});
  },
  async closeLeader() {
    let leader = null;
    for (const t of alive()) if ((await stateOf(t))?.role === "leader") leader = t;
    leader ??= alive()[0];
    if (!leader) return;
    await dropTab(leader);
    await openTab();
  },
  async reload() {
    const t = alive()[Math.floor(Math.random() * alive().length)];
    if (!t) return;
    await t.page.reload();
    await t.page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
  },
  async crash() {
    const t = alive()[Math.floor(Math.random() * alive().length)];
    if (!t) return;
    // chrome://crash takes down this tab's renderer only (CDP's Page.crash takes the
    // headless browser with it).
    await t.page.goto("chrome://crash").catch(() => {});
    await waitFor("the crash", () => t.crashed, 5_000).catch(() => (t.crashed = true));
    await replaceCrashed();
  },
};

for (let i = 0; i < TABS; i++) await openTab();
log(`${TABS} tabs open; publishing ${EVENTS} events over ~${SECONDS} s`);

// Faults in rounds of every kind, shuffled, until enough events and faults.
const faultGap = (SECONDS * 1000) / FAULTS;
const faultCount = () => Object.values(faults).reduce((a, b) => a + b, 0);
let harnessError = null;
try {
  while (called.size < EVENTS || faultCount() < FAULTS) {
    const round = [...KINDS].sort(() => Math.random() - 0.5);
    for (const kind of round) {
      await sleep(rand(0.5, 1.5) * faultGap);
      await inject[kind]();
      faults[kind]++;
      await replaceCrashed();
      log(`fault ${kind}; ${called.size} called, ${resolved.size} resolved`);
    }
  }
} catch (e) {
  harnessError = String(e?.stack ?? e);
  log(`harness error: ${harnessError}`);
}

// Stop publishing, heal everything, and wait for the drain.
publishing = false;
for (const t of alive()) {
  await t.page.evaluate(() => (window.stopPublishing = true)).catch(() => {});
  await t.cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 }).catch(() => {});
}
const status = await fetch(`${relay.supervisor}/status`).then((r) => r.json()).catch(() => ({}));
if (status.running === false) await relay.post("start");
await replaceCrashed();
// A fresh tab reads the shared outbox, so entries left by closed or crashed tabs are sent too.
await openTab();
const drainStart = Date.now();
log(`publishing stopped: ${called.size} called, ${resolved.size} resolved; draining`);
let stored = new Set();
let drained = false;
try {
  await waitFor("the drain", async () => {
    stored = new Set(await relay.ids("chaos"));
    const states = await Promise.all(alive().map(stateOf));
    const empty = states.every((s) => s !== null && s.outbox.depth === 0);
    return empty && [...resolved.keys()].every((id) => stored.has(id));
  }, 120_000);
  drained = true;
} catch {
  stored = new Set(await relay.ids("chaos"));
}
const drainMs = Date.now() - drainStart;
const final = await relayStats();
duplicates += final?.duplicates ?? 0;

const lostIds = [...resolved.keys()].filter((id) => !stored.has(id));
const traps = pageErrors.filter((e) => /RuntimeError|unreachable/.test(e.message));
const faultTotal = Object.values(faults).reduce((a, b) => a + b, 0);
const report = {
  date: new Date().toISOString(),
  events: called.size,
  resolved: resolved.size,
  acked: [...resolved.values()].filter((s) => s === "acked").length,
  queued: [...resolved.values()].filter((s) => s === "queued").length,
  rejected: rejected.length,
  rejections: rejected.slice(0, 20),
  unresolved: [...called].filter((id) => !resolved.has(id)).length,
  unresolvedStored: [...called].filter((id) => !resolved.has(id) && stored.has(id)).length,
  stored: stored.size,
  lost: lostIds.length,
  lostIds: lostIds.slice(0, 50),
  duplicates,
  duplicatesNote: "the relay's duplicate-publish counter, summed over its processes (read before each kill)",
  faults: { total: faultTotal, byKind: faults },
  relayRestarts,
  drained,
  drainMs,
  durationMs: Date.now() - started,
  tabs: TABS,
  harnessError,
  tabsOpened: tabCounter,
  pageErrors: pageErrors.length,
  traps: traps.length,
  pageErrorSamples: pageErrors.slice(0, 10),
};
mkdirSync(join(root, "target/chaos"), { recursive: true });
const path = join(root, "target/chaos/report.json");
writeFileSync(path, JSON.stringify(report, null, 2));

await browser.close();
await site.stop();
await relay.stop();

console.log(`chaos: ${report.events} events, ${faultTotal} faults, ${report.lost} lost, ${duplicates} duplicates deduped`);
console.log(`chaos: ${report.acked} acked, ${report.queued} queued, ${report.unresolved} unresolved (tab gone first; ${report.unresolvedStored} of them stored anyway), ${report.rejected} rejected; drain ${drainMs} ms; page errors ${pageErrors.length}; report ${path}`);
const failed = report.lost > 0 || traps.length > 0 || !drained || report.rejected > 0 || harnessError !== null;
process.exit(failed ? 1 : 0);
