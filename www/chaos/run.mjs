// One mode of the chaos run: the mode's server, three groups of real tabs in headless Chromium
// — publishers (one browser context, three tabs sharing one storage key: one connection and
// one outbox, as an app's tabs do), and two viewer contexts (two tabs, and one tab: separate
// storage, as other people's dashboards) — faults in shuffled rounds while the publishers
// publish, then everything healed, the outbox drained, the viewers caught up, and the log
// compared with the server's store.
import { bindings, createLedger, analyze } from "./ledger.mjs";
import { BACKLOG, inject } from "./faults.mjs";
import { startMode } from "./modes.mjs";
import { waitFor } from "../tests/harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (lo, hi) => lo + Math.random() * (hi - lo);
const CHANNELS = ["c0", "c1", "c2", "c3"];
const GROUPS = { P: { role: "pub", tabs: 3 }, S1: { role: "sub", tabs: 2 }, S2: { role: "sub", tabs: 1 } };
const NORMAL = { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 };

/**
 * Runs mode `mode` until `events` publishes were called and `faults` faults injected (of
 * `kinds`, in shuffled rounds, `gapMs` apart on average), publishing at about `rate` per
 * second in all. Returns the mode's report.
 */
export async function runMode({ browser, site, mode, events, faults, kinds, rate, gapMs, log, active }) {
  const started = Date.now();
  const server = await startMode(mode, CHANNELS);
  const ledger = createLedger();
  const run = `${mode}-${process.pid}-${Date.now()}`;
  const tabs = [];
  const tabOf = (page) => tabs.find((t) => t.page === page);
  const contexts = {};
  let publishing = true;
  let tabCounter = 0;

  const ctx = {
    mode,
    server,
    ledger,
    channels: CHANNELS,
    origin: site.origin,
    stopped: null,
    quotaTab: null,
    alive: (group) => tabs.filter((t) => !t.crashed && !t.page.isClosed() && (!group || t.group === group)),
    stateOf: (t) => Promise.race([t.page.evaluate(() => window.client.getState()).catch(() => null), sleep(5000).then(() => null)]),
    waitReady: (t) => t.page.waitForFunction(() => window.ready === true, null, { timeout: 30_000 }),
    openTab,
    dropTab,
    replaceCrashed,
  };

  active?.add(ctx);
  for (const group of Object.keys(GROUPS)) {
    const context = await browser.newContext();
    contexts[group] = context;
    for (const [name, fn] of Object.entries(bindings(ledger, tabOf))) await context.exposeBinding(name, fn);
  }

  function pageUrl(t) {
    const { role } = GROUPS[t.group];
    const key = `${run}-${t.group}`;
    const cfg = {
      kind: server.kind,
      channels: CHANNELS,
      options: role === "pub" ? server.pubOptions(key) : server.subOptions(key),
      intervalMs: (1000 * GROUPS.P.tabs) / rate,
      idle: !publishing,
    };
    return `${site.origin}/page.html?role=${role}&tab=${t.name}&cfg=${encodeURIComponent(JSON.stringify(cfg))}`;
  }

  async function openTab(group) {
    const page = await contexts[group].newPage();
    const t = { page, group, role: GROUPS[group].role, name: `${group}t${++tabCounter}`, loadCount: 0, w: null, crashed: false, cdp: null };
    tabs.push(t);
    page.on("pageerror", (e) => ledger.pageErrors.push({ w: t.w, at: Date.now(), message: String(e.message).slice(0, 300) }));
    page.on("crash", () => {
      t.crashed = true;
      const load = ledger.loads.get(t.w);
      if (load && load.end === null) Object.assign(load, { end: Date.now(), endReason: "crashed" });
    });
    t.cdp = await contexts[group].newCDPSession(page);
    await t.cdp.send("Network.enable");
    await page.goto(pageUrl(t));
    await ctx.waitReady(t);
    return t;
  }

  async function dropTab(t, reason) {
    tabs.splice(tabs.indexOf(t), 1);
    const load = ledger.loads.get(t.w);
    if (load && load.end === null) Object.assign(load, { end: Date.now(), endReason: reason });
    await t.page.close().catch(() => {});
  }

  /** Replaces tabs whose renderer crashed (a crash can take several tabs of one process). */
  async function replaceCrashed() {
    for (const t of [...tabs]) {
      if (!t.crashed) continue;
      await dropTab(t, "crashed");
      await openTab(t.group);
    }
  }

  let harnessError = null;
  const faultCount = () => ledger.faults.length;
  try {
    // Viewers first, so that they see the first events.
    for (const group of ["S1", "S2", "P"]) for (let i = 0; i < GROUPS[group].tabs; i++) await openTab(group);
    log(`${mode}: ${tabs.length} tabs open; ${events} publishes, ${faults} faults of ${kinds.length} kinds`);
    const consecutive = [];
    while (ledger.pubs.size < events || faultCount() < faults) {
      const round = [...kinds].sort(() => Math.random() - 0.5);
      for (const kind of round) {
        if (ledger.pubs.size >= events && faultCount() >= faults) break;
        await sleep(rand(0.5, 1.5) * gapMs);
        const f = { kind, at: Date.now(), end: null, detail: null, error: null };
        ledger.faults.push(f);
        try {
          f.detail = await inject[kind](ctx);
          consecutive.length = 0;
        } catch (e) {
          f.error = String(e?.message ?? e).slice(0, 300);
          ledger.harnessErrors.push(`${kind}: ${f.error}`);
          consecutive.push(kind);
          if (consecutive.length >= 5) throw new Error(`five faults in a row failed to inject: ${ledger.harnessErrors.slice(-5).join("; ")}`);
        }
        f.end = Date.now();
        await heal();
        await replaceCrashed();
        log(`${mode}: fault ${faultCount()} ${kind} (${f.end - f.at} ms${f.error ? `, failed: ${f.error}` : ""}); ${ledger.pubs.size} called`);
      }
    }
  } catch (e) {
    harnessError = String(e?.stack ?? e);
    log(`${mode}: harness error: ${harnessError}`);
  }

  /** Undoes whatever a fault may have left: server stopped or down, tabs offline, slow,
   *  paused, frozen, over quota. */
  async function heal() {
    if (ctx.stopped) {
      try {
        process.kill(ctx.stopped, "SIGCONT");
      } catch {}
      ctx.stopped = null;
    }
    for (const t of ctx.alive()) {
      await t.cdp.send("Network.emulateNetworkConditions", NORMAL).catch(() => {});
      await t.cdp.send("Debugger.resume").catch(() => {});
      await t.cdp.send("Page.setWebLifecycleState", { state: "active" }).catch(() => {});
    }
    if (ctx.quotaTab) {
      await ctx.quotaTab.cdp.send("Storage.overrideQuotaForOrigin", { origin: site.origin }).catch(() => {});
      ctx.quotaTab = null;
    }
  }

  // Stop publishing, heal everything, and wait for the drain.
  publishing = false;
  const calledAtStop = ledger.pubs.size;
  await heal();
  await server.start().catch((e) => ledger.harnessErrors.push(`start at the end: ${e}`));
  for (const t of ctx.alive("P")) await t.page.evaluate(() => (window.stopPublishing = true)).catch(() => {});
  await replaceCrashed().catch((e) => ledger.harnessErrors.push(`replacing tabs at the end: ${e}`));
  // A fresh publisher tab reads the shared outbox, so entries left by closed or crashed tabs go too.
  await openTab("P").catch((e) => ledger.harnessErrors.push(`the fresh tab: ${e}`));
  const drainStart = Date.now();
  log(`${mode}: publishing stopped, ${calledAtStop} called; draining`);
  let drained = false;
  let storedCount = -1;
  try {
    await waitFor("the outbox to drain", async () => {
      const states = await Promise.all(ctx.alive("P").map(ctx.stateOf));
      if (!states.every((s) => s !== null && s.outbox.depth === 0)) return false;
      // Then until the store stops growing.
      const count = (await server.stored()).length;
      const steady = count === storedCount;
      storedCount = count;
      return steady;
    }, 120_000);
    drained = true;
  } catch {}
  const drainMs = Date.now() - drainStart;
  let stored = await server.stored();

  // The viewers alive now catch up: each has the last stored event of every channel it had events of.
  const lastOf = new Map(stored.map((e) => [e.channel, e.id]));
  const caughtUp = () => ctx.alive().filter((t) => t.role === "sub").every((t) => {
    const load = ledger.loads.get(t.w);
    const chans = new Set(load?.deliveries.map((d) => d.ch));
    return [...chans].every((ch) => load.deliveries.some((d) => d.id === lastOf.get(ch)));
  });
  const viewersCaughtUp = await waitFor("the viewers to catch up", caughtUp, 30_000).then(() => true, () => false);
  await sleep(500);
  stored = await server.stored();

  const states = await Promise.all(ctx.alive().map(async (t) => ({ w: t.w, state: await ctx.stateOf(t) })));
  for (const c of Object.values(contexts)) await c.close().catch(() => {});
  await server.stop().catch(() => {});
  active?.delete(ctx);

  const result = analyze(ledger, stored);
  const backlogs = ledger.faults.filter((f) => f.kind === "backlog" && f.detail?.keys).map((f) => backlogCheck(ledger, f.detail));
  const traps = ledger.pageErrors.filter((e) => /RuntimeError|unreachable/.test(e.message)).length;
  return {
    mode,
    ...result,
    backlogs,
    faults: ledger.faults.map((f) => ({ kind: f.kind, atMs: f.at - ledger.t0, ms: (f.end ?? f.at) - f.at, detail: f.detail, error: f.error })),
    errorKinds: ledger.errorKinds,
    deadLetters: ledger.deadLetters.size,
    pageErrors: ledger.pageErrors.length,
    pageErrorSamples: ledger.pageErrors.slice(0, 10),
    traps,
    harnessError,
    harnessErrors: ledger.harnessErrors,
    drained,
    drainMs,
    viewersCaughtUp,
    tabsOpened: tabCounter,
    pageLoads: ledger.loads.size,
    finalStates: states.map(({ w, state }) => ({ w, state: state?.state ?? null, role: state?.role ?? null, depth: state?.outbox.depth ?? null,
      deadLetters: state?.outbox.deadLetters ?? null, storage: state?.outbox.storage ?? null })),
    durationMs: Date.now() - started,
  };
}

/** Whether the viewer of a 5 MB backlog was handed every one of its events, in order. */
function backlogCheck(ledger, d) {
  const [w, from] = d.keys[0].split("#");
  const ids = [];
  for (let n = Number(from); n < Number(from) + BACKLOG.count; n++) ids.push(ledger.pubs.get(`${w}#${n}`)?.id);
  const load = ledger.loads.get(d.viewer);
  const got = (load?.deliveries ?? []).filter((x) => ids.includes(x.id)).map((x) => ids.indexOf(x.id));
  const inOrder = got.every((v, i) => i === 0 || v > got[i - 1]);
  return { viewer: d.viewer, channel: d.ch, bytes: d.bytes, published: ids.length, acked: d.acked, delivered: new Set(got).size,
    deliveredTimes: got.length, inOrder, caughtUpMs: d.caughtUpMs, viewerEnd: load?.endReason ?? "alive" };
}
