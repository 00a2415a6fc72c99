// The faults of the chaos run. Each takes the run's context (run.mjs) and returns what it did
// (for the report); each undoes itself before it returns, so faults never overlap.
import { waitFor } from "../tests/harness.mjs";

export const KINDS = ["serverKill", "serverHang", "offline", "slowNetwork", "closeLeader", "reload", "crash",
  "idbDelete", "quota", "clockJump", "freeze", "backlog"];

const rand = (lo, hi) => lo + Math.random() * (hi - lo);
// How long a fault lasts: anywhere from lo to hi, or near lo in a quick run (make test-chaos).
let quick = false;
export const setQuick = (q) => (quick = q);
const span = (lo, hi) => (quick ? lo + Math.random() * 0.15 * (hi - lo) : rand(lo, hi));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pick = (list) => list[Math.floor(Math.random() * list.length)];
const NORMAL = { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 };

/** Stops the page's JavaScript between two tasks (a `debugger` statement run as a task of its
 *  own, with the debugger on), after dispatching `freeze` in that task when `freeze`; resolves
 *  once paused. Debugger.pause would stop it mid-task: between the log of a publish and the
 *  call, which no browser freeze or sleep does to a page. */
async function pauseBetweenTasks(t, freeze) {
  await t.cdp.send("Debugger.enable");
  const paused = new Promise((r) => t.cdp.once("Debugger.paused", r));
  t.page.evaluate((freeze) => {
    if (freeze) document.dispatchEvent(new Event("freeze"));
    // eslint-disable-next-line no-debugger
    debugger;
  }, freeze).catch(() => {});
  const ok = await Promise.race([paused.then(() => true), sleep(5000).then(() => false)]);
  if (!ok) throw new Error("the page did not pause");
}

async function resume(t) {
  await t.cdp.send("Debugger.resume").catch(() => {});
  await t.cdp.send("Debugger.disable").catch(() => {});
}

/** The 5 MB backlog: 168 events of 32 KiB. */
export const BACKLOG = { count: 168, bytes: 32 * 1024 };

export const inject = {
  /** The server SIGKILLed, down for 0.3–2 s, started again on the same port and store. */
  async serverKill(ctx) {
    await ctx.server.kill();
    const down = span(300, 2000);
    await sleep(down);
    await ctx.server.start();
    return { downMs: Math.round(down) };
  },

  /** The server SIGSTOPped past the heartbeat (3 s + 2 s), then SIGCONT: its sockets stay
   *  open and silent. `noticed`: a viewer's connection left "open" meanwhile. */
  async serverHang(ctx) {
    const pid = await ctx.server.pid();
    if (!pid) throw new Error("no server pid");
    const viewer = pick(ctx.alive("S1"));
    process.kill(pid, "SIGSTOP");
    ctx.stopped = pid;
    const ms = span(6500, 8500);
    await sleep(ms - 500);
    const state = viewer ? await ctx.stateOf(viewer) : null;
    await sleep(500);
    process.kill(pid, "SIGCONT");
    ctx.stopped = null;
    return { pid, ms: Math.round(ms), viewerStateDuringHang: state?.state ?? null };
  },

  /** A tab offline for 0.5–2.5 s (DevTools network emulation), then online. Chromium's
   *  offline emulation fails new connections and requests but leaves an open WebSocket
   *  working (measured: frames still flow), so the server drops every connection at that
   *  moment too: the other tabs reconnect at once, this one cannot until it is back. */
  async offline(ctx) {
    const t = pick(ctx.alive());
    await t.cdp.send("Network.emulateNetworkConditions", { ...NORMAL, offline: true });
    await ctx.server.kick();
    const ms = span(500, 2500);
    await sleep(ms);
    await t.cdp.send("Network.emulateNetworkConditions", NORMAL);
    return { tab: t.w, ms: Math.round(ms) };
  },

  /** A slow link for 2–4 s: 200–800 ms latency, 16–64 KB/s each way (DevTools throttling:
   *  measured, the throughput limits WebSocket frames too, the latency only HTTP requests and
   *  handshakes; its packet loss applies to WebRTC only, so loss is not emulated). */
  async slowNetwork(ctx) {
    const t = pick(ctx.alive());
    const c = { offline: false, latency: Math.round(rand(200, 800)), downloadThroughput: Math.round(rand(16, 64)) * 1024,
      uploadThroughput: Math.round(rand(16, 64)) * 1024 };
    await t.cdp.send("Network.emulateNetworkConditions", c);
    const ms = span(2000, 4000);
    await sleep(ms);
    await t.cdp.send("Network.emulateNetworkConditions", NORMAL);
    return { tab: t.w, ms: Math.round(ms), ...c };
  },

  /** The publishers' leader tab closed; a new publisher tab opened. */
  async closeLeader(ctx) {
    let leader = null;
    for (const t of ctx.alive("P")) if ((await ctx.stateOf(t))?.role === "leader") leader = t;
    const found = leader !== null;
    leader ??= ctx.alive("P")[0];
    if (!leader) return { tab: null };
    const w = leader.w;
    await ctx.dropTab(leader, "closed");
    await ctx.openTab("P");
    return { tab: w, wasLeader: found };
  },

  /** A publisher tab reloaded in the same task as 10 publishes (mid-publish). */
  async reload(ctx) {
    const t = pick(ctx.alive("P"));
    const w = t.w;
    await t.page.evaluate(() => {
      window.burst(null, 10);
      location.reload();
    }).catch(() => {});
    await ctx.waitReady(t);
    return { tab: w, now: t.w };
  },

  /** A tab's renderer crashed (chrome://crash: this renderer only), the tab replaced. */
  async crash(ctx) {
    const t = pick(ctx.alive());
    const w = t.w;
    await t.page.goto("chrome://crash").catch(() => {});
    await waitFor("the crash", () => t.crashed, 5000).catch(() => (t.crashed = true));
    await ctx.replaceCrashed();
    return { tab: w, group: t.group };
  },

  /** The publishers' IndexedDB deleted under the open pages (DevTools Storage.clearDataForOrigin,
   *  as "clear site data" does), while they publish. */
  async idbDelete(ctx) {
    const t = pick(ctx.alive("P"));
    const before = await ctx.stateOf(t);
    await t.cdp.send("Storage.clearDataForOrigin", { origin: ctx.origin, storageTypes: "indexeddb" });
    await sleep(span(1000, 2000));
    const after = await ctx.stateOf(t);
    return { tab: t.w, depthBefore: before?.outbox.depth ?? null, depthAfter: after?.outbox.depth ?? null, storage: after?.outbox.storage ?? null };
  },

  /** The publishers' origin over its storage quota for 2–4 s (DevTools
   *  Storage.overrideQuotaForOrigin to 1 byte), with a burst of 5 publishes meanwhile. */
  async quota(ctx) {
    const t = pick(ctx.alive("P"));
    await t.cdp.send("Storage.overrideQuotaForOrigin", { origin: ctx.origin, quotaSize: 1 });
    ctx.quotaTab = t;
    await sleep(300);
    await t.page.evaluate(() => window.burst(null, 5)).catch(() => {});
    await sleep(span(1700, 3700));
    const during = await ctx.stateOf(t);
    await t.cdp.send("Storage.overrideQuotaForOrigin", { origin: ctx.origin });
    ctx.quotaTab = null;
    return { tab: t.w, storage: during?.outbox.storage ?? null, degraded: during?.outbox.degraded ?? null, lastError: during?.outbox.lastError?.kind ?? null };
  },

  /** A laptop sleeping: the page's JavaScript paused for 3–8 s (the debugger, between two
   *  tasks), so its timers fire late; `lagMs` is the lateness its own 100 ms timer saw. */
  async clockJump(ctx) {
    const t = pick(ctx.alive());
    await t.page.evaluate(() => window.takeLag()).catch(() => null);
    await pauseBetweenTasks(t, false);
    const ms = span(3000, 8000);
    await sleep(ms);
    await resume(t);
    await sleep(300);
    const lag = await t.page.evaluate(() => window.takeLag()).catch(() => null);
    return { tab: t.w, ms: Math.round(ms), lagMs: lag };
  },

  /** A background tab frozen, and half the time discarded: its `freeze` event, then its
   *  JavaScript stopped for 2–4 s (the debugger, in the task of the event), then either `resume` and on, or the tab
   *  gone without `pagehide` (its renderer crashed, as a discard of a frozen tab is).
   *  Chromium's own Page.setWebLifecycleState("frozen") does nothing to a visible page, and
   *  every headless page is visible, so the browser's freeze is played by these steps. */
  async freeze(ctx) {
    const t = pick(ctx.alive());
    const w = t.w;
    await pauseBetweenTasks(t, true);
    const ms = span(2000, 4000);
    await sleep(ms);
    const discard = Math.random() < 0.5;
    if (discard) {
      await t.page.goto("chrome://crash", { timeout: 5000 }).catch(() => {});
      await waitFor("the crash", () => t.crashed, 5000).catch(() => (t.crashed = true));
      await ctx.replaceCrashed();
      return { tab: w, ms: Math.round(ms), discarded: true };
    }
    await resume(t);
    await t.page.evaluate(() => document.dispatchEvent(new Event("resume"))).catch(() => {});
    return { tab: w, ms: Math.round(ms), discarded: false };
  },

  /** A viewer away (offline) while 168 × 32 KiB (5.25 MiB) are published on one channel, then
   *  back: it must be handed all of it, in order (checked with everything else at the end;
   *  `caughtUpMs` is how long it took to get the last one, null if not within 60 s). */
  async backlog(ctx) {
    const viewer = ctx.alive("S2")[0];
    const pub = ctx.alive("P")[0];
    if (!viewer || !pub) return { skipped: "no viewer or publisher" };
    const ch = pick(ctx.channels);
    await viewer.cdp.send("Network.emulateNetworkConditions", { ...NORMAL, offline: true });
    await ctx.server.kick(); // see `offline`
    await waitFor("the viewer to go offline", async () => (await ctx.stateOf(viewer))?.state !== "open", 10_000).catch(() => {});
    const w = pub.w;
    const last = await pub.page.evaluate(({ ch, count, bytes }) => window.burst(ch, count, bytes), { ch, ...BACKLOG });
    const keys = Array.from({ length: BACKLOG.count }, (_, i) => `${w}#${last - BACKLOG.count + 1 + i}`);
    const settled = () => keys.filter((k) => ctx.ledger.pubs.get(k)?.status).length;
    await waitFor("the backlog settled", () => settled() === keys.length, 60_000).catch(() => {});
    await waitFor("the backlog sent", async () => (await ctx.stateOf(pub))?.outbox.depth === 0, 60_000).catch(() => {});
    const acked = keys.filter((k) => ctx.ledger.pubs.get(k)?.status === "acked").length;
    const away = (await ctx.stateOf(viewer))?.state ?? null;
    await viewer.cdp.send("Network.emulateNetworkConditions", NORMAL);
    const lastId = ctx.ledger.pubs.get(keys.at(-1))?.id;
    const load = ctx.ledger.loads.get(viewer.w);
    const back = Date.now();
    const got = () => load?.deliveries.some((d) => d.id === lastId);
    const caught = await waitFor("the viewer to catch up", got, 60_000).then(() => true, () => false);
    return { viewer: viewer.w, viewerStateWhileAway: away, ch, publisher: w, count: BACKLOG.count, bytes: BACKLOG.count * BACKLOG.bytes, acked,
      caughtUpMs: caught ? Date.now() - back : null, keys: [keys[0], keys.at(-1)] };
  },
};
