// syncline against a Socket.IO backend written the usual way (tests/servers/match-server.mjs:
// `socket.on("match_event", (event, ack) => …)`, `socket.join(`match_${id}`)`, a handler that
// never acks, optional connection state recovery), in real Chromium tabs:
// acked publishes through server kills, echo and sent delivery across offline and a reload,
// rooms after a server restart, recovery after a cut connection (next to socket.io-client),
// non-durable publishes, and what a never-acking server does to the default delivery.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, afterEach, before, test } from "node:test";
import { launch, root, startNodeServer, startStatic, waitFor } from "./harness.mjs";

let main, rec, site, browser;
let keys = 0;
const freshKey = () => `sio-app-${process.pid}-${++keys}`;
const tagOf = (name) => `${name}-${process.pid}-${Date.now()}`;

/** The match server as a child process (see `startNodeServer`). */
const startMatchServer = (flags = []) => startNodeServer("servers/match-server.mjs", flags);

before(async () => {
  [main, rec, site] = await Promise.all([startMatchServer(), startMatchServer(["--recovery"]), startStatic()]);
  browser = await launch();
});

// Every context a test opened is closed after it, passed or failed, so that no page of one test
// is still in a room during the next.
const contexts = new Set();
afterEach(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  contexts.clear();
  // A test that failed while its server was killed leaves it running for the next.
  if (main && !main.child) await main.start();
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await main?.stop();
  await rec?.stop();
});

/** A browser context whose pages report breaker changes, errors, dead letters and results
 *  to `reports` (kept across reloads), with socket.io-client served at /vendor/. */
async function newContext() {
  const context = await browser.newContext();
  contexts.add(context);
  const reports = [];
  await context.exposeBinding("report", (_source, kind, value) => {
    reports.push({ kind, value });
  });
  await context.route(`${site.origin}/vendor/socket.io.esm.min.js`, (route) =>
    route.fulfill({ path: join(root, "www/node_modules/socket.io-client/dist/socket.io.esm.min.js"), contentType: "text/javascript" }));
  return { context, reports };
}

function appUrl(server, { key = freshKey(), token = "app", opts = {}, lib = null } = {}) {
  const q = new URLSearchParams({ url: server.url, key, token, opts: JSON.stringify(opts) });
  if (lib) q.set("lib", lib);
  return `${site.origin}/sio-app.html?${q}`;
}

async function openApp(context, server, options) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(appUrl(server, options));
  await page.waitForFunction(() => window.ready === true);
  return page;
}

const state = (page) => page.evaluate(() => window.t.state());
const waitOpen = (page, timeoutMs = 10_000) => waitFor("open", async () => (await state(page)).state === "open", timeoutMs);
const storedOf = async (server, kind, tag) => (await server.stats()).stored.filter((s) => s.kind === kind && s.event.tag === tag);

test("acked handlers: 500 durable publishes through two server kills are all confirmed and stored once; a refused one is a dead letter", async () => {
  const { context } = await newContext();
  const page = await openApp(context, main);
  await waitOpen(page);
  const tag = tagOf("acked");
  await page.evaluate((tag) => window.t.publishMany("match_event", { matchId: 7, tag, type: "goal" }, 500, 4), tag);
  const settled = () => page.evaluate(() => window.t.results.length + window.t.failures.length);
  const statuses = [];
  for (const at of [120, 320]) {
    await waitFor(`${at} publishes settled`, async () => (await settled()) >= at, 30_000);
    await main.kill();
    await waitFor("the client to notice", async () => (await state(page)).state !== "open", 30_000);
    await waitFor(`${at + 60} publishes settled`, async () => (await settled()) >= at + 60, 30_000).catch(async (e) => {
      const stuck = await page.evaluate(() => window.t.current);
      throw new Error(`${e.message}: publish n=${stuck.n} (${stuck.id}), made while "${stuck.state}", has not settled ` +
        `while the server is down; state ${JSON.stringify((await state(page)).outbox)}`);
    });
    statuses.push((await state(page)).outbox.depth);
    await main.start();
    await waitOpen(page, 30_000);
  }
  await waitFor("500 publishes settled", async () => (await settled()) === 500, 60_000);
  await waitFor("the outbox to drain", async () => (await state(page)).outbox.depth === 0, 60_000);

  const { results, failures, delivered } = await page.evaluate(() => ({
    results: window.t.results, failures: window.t.failures, delivered: window.t.delivered,
  }));
  assert.deepEqual(failures, [], "no publish failed");
  assert.equal(results.length, 500);
  const ids = new Set(results.map((r) => r.id));
  assert.equal(ids.size, 500, "500 distinct publish ids");
  const queued = results.filter((r) => r.status === "queued");
  assert.ok(queued.length >= 120, `publishes made while the server was dead were queued (${queued.length})`);
  assert.ok(statuses.every((depth) => depth > 0), "the outbox held them while the server was dead");
  const confirmed = new Set([...results.filter((r) => r.status === "acked").map((r) => r.id), ...delivered.map((d) => d.id)]);
  for (const id of ids) assert.ok(confirmed.has(id), `confirmed: ${id}`);
  assert.ok(results.every((r) => r.status === "acked" || r.status === "queued"), "acked or queued, nothing else");

  const stored = await storedOf(main, "match_event", tag);
  assert.equal(stored.length, 500, "the store holds 500 events for this run");
  assert.equal(new Set(stored.map((s) => s.event.id)).size, 500, "each id stored once");
  assert.deepEqual(new Set(stored.map((s) => s.event.id)), ids, "the ids on the wire are the publish ids");
  assert.deepEqual(stored.map((s) => s.event.n).sort((a, b) => a - b), Array.from({ length: 500 }, (_, i) => i + 1));
  assert.ok(stored.every((s) => s.event.matchId === 7 && s.event.type === "goal"), "the payload as published");
  const receipts = (await main.stats()).receipts;
  const resent = [...ids].reduce((sum, id) => sum + Math.max(0, (receipts[id] ?? 0) - 1), 0);
  console.log(`# acked: ${results.length - queued.length} acked at once, ${queued.length} queued; ` +
    `${resent} resends answered { duplicate: true } since the last restart`);

  // A refusal: ack({ ok: false, error: "bad event" }).
  const refused = await page.evaluate((tag) => window.t.publish("match_event", { matchId: 7, tag, bad: true }), tag);
  assert.equal(refused.status, undefined, `the publish rejects (got ${JSON.stringify(refused)})`);
  const letters = await waitFor("the dead letter", async () => {
    const l = await page.evaluate(() => window.t.deadLetters);
    return l.length > 0 && l;
  });
  assert.equal(letters.length, 1);
  assert.match(letters[0].reason, /bad event/);
  assert.equal(letters[0].data.bad, true);
  const kept = await page.evaluate(() => window.t.client.deadLetters().map((l) => l.reason));
  assert.equal(kept.length, 1);
  assert.match(kept[0], /bad event/);
  assert.equal((await state(page)).outbox.depth, 0);
  assert.equal((await storedOf(main, "match_event", tag)).length, 500, "the refused event was not stored");
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("a durable publish still waiting behind another when the server dies resolves \"queued\"", async () => {
  // What the 500-publish test above runs into now and then: a publish made while open, behind
  // entries of its channel not yet acked, when the connection drops. `window: 1` and a handler
  // that never acks make that state certain: the first note stays in flight, the second waits.
  const { context } = await newContext();
  const page = await openApp(context, main, { opts: { outbox: { window: 1, ackTimeoutMs: 60_000 } } });
  await waitOpen(page);
  const tag = tagOf("behind");
  const first = await page.evaluate((tag) => {
    const p = window.t.client.publish("note", { matchId: 9, tag, n: 1 });
    window.first = p.then((r) => r, (e) => ({ kind: e.kind }));
    return p.id;
  }, tag);
  await waitFor("the first note at the server", async () => (await main.stats()).receipts[first] === 1);
  const second = await page.evaluate((tag) => {
    const p = window.t.client.publish("note", { matchId: 9, tag, n: 2 });
    window.second = p.then((r) => r, (e) => ({ kind: e.kind }));
    return p.id;
  }, tag);
  await waitFor("both stored locally", async () => {
    const s = await state(page);
    return s.outbox.depth === 2 && s.outbox.inFlight === 1;
  });
  await main.kill();
  await waitFor("the client to notice", async () => (await state(page)).state !== "open", 30_000);
  const firstOutcome = await waitFor("the first publish to settle", () => page.evaluate(() =>
    Promise.race([window.first, new Promise((r) => setTimeout(() => r(null), 50))])), 20_000);
  assert.equal(firstOutcome.status, "queued", "the one in flight resolves queued");
  const secondOutcome = await waitFor("the second publish to settle while the server is down", () => page.evaluate(() =>
    Promise.race([window.second, new Promise((r) => setTimeout(() => r(null), 50))])), 20_000)
    .catch(async (e) => {
      throw new Error(`${e.message}: publish ${second} is still pending; outbox ${JSON.stringify((await state(page)).outbox)}`);
    });
  assert.equal(secondOutcome.status, "queued", "the one behind it resolves queued too");
  await main.start();
});

/** Publishes notes across an offline period and a reload done while offline; returns what
 *  the test saw. */
async function offlineAndReload(delivery) {
  const { context, reports } = await newContext();
  const key = freshKey();
  const opts = { delivery, joins: [["join_match", 7]] };
  const page = await openApp(context, main, { key, opts });
  await waitOpen(page);
  const tag = tagOf(delivery);
  const fire = (from, to) => page.evaluate(({ tag, from, to }) => window.t.fire("note", { matchId: 7, tag, n: 0 }, from, to), { tag, from, to });
  const outcomes = async (ids) => {
    const { results, failures } = await page.evaluate(() => ({ results: window.t.results, failures: window.t.failures }));
    const byId = new Map([...results, ...failures].map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id) ?? null);
  };

  const online = await fire(1, 20);
  const onlineOutcomes = await waitFor("the online publishes", async () => {
    const o = await outcomes(online);
    return o.every(Boolean) && o;
  });
  assert.deepEqual(onlineOutcomes.map((r) => r.status), Array(20).fill(delivery === "sent" ? "sent" : "acked"), `${delivery}: online publishes`);

  // Chromium's offline emulation leaves an open WebSocket open (frames wait until it is
  // back online); the client learns it from the browser's `offline` event.
  await context.setOffline(true);
  await waitFor("offline", async () => (await state(page)).online === false);
  const offline = await fire(21, 40);
  const depthOffline = (await state(page)).outbox.depth;
  await new Promise((r) => setTimeout(r, 1500));
  const offlineOutcomes = await outcomes(offline);
  await context.setOffline(false);
  await waitFor("the outbox to drain", async () => (await state(page)).outbox.depth === 0, 30_000);
  const settledOffline = await waitFor("the offline publishes to settle", async () => {
    const o = await outcomes(offline);
    return o.every(Boolean) && o;
  }, 30_000);
  assert.ok(settledOffline.every((r) => r.status !== undefined), `${delivery}: none rejected (${JSON.stringify(settledOffline.filter((r) => !r.status))})`);

  // Offline again; publish, then reload while offline (the reload fails and the page is gone),
  // come back online and open the page again: the new page's outbox sends them.
  await context.setOffline(true);
  await waitFor("offline", async () => (await state(page)).online === false);
  const beforeReload = await fire(41, 60);
  // Before reloading, each must be in IndexedDB, or settled (sent delivery: written).
  await waitFor("the publishes to be stored", async () => {
    const inStore = new Set(await page.evaluate(() => window.t.storedIds()));
    return (await outcomes(beforeReload)).every((r, i) => r !== null || inStore.has(beforeReload[i]));
  });
  const beforeReloadOutcomes = await outcomes(beforeReload);
  const depthBeforeReload = (await state(page)).outbox.depth;
  const reloadError = await page.reload().then(() => null, (e) => e.message);
  assert.match(String(reloadError), /ERR_INTERNET_DISCONNECTED/, "the reload failed while offline");
  await waitFor("the old page to be gone", () => page.evaluate(() => typeof window.t === "undefined").catch(() => false));
  await context.setOffline(false);
  await page.goto(appUrl(main, { key, opts }));
  await page.waitForFunction(() => window.ready === true);
  await waitFor("the outbox to drain after the reload", async () => {
    const s = await state(page);
    return s.outbox.storage !== "loading" && s.outbox.depth === 0;
  }, 30_000);
  const ids = [...online, ...offline, ...beforeReload];
  const statuses = (o) => [...new Set(o.map((r) => r?.status ?? "pending"))].join("/");
  console.log(`# ${delivery}: while offline, the publishes' promises were ${statuses(offlineOutcomes)} (outbox depth ${depthOffline}); ` +
    `before the reload ${statuses(beforeReloadOutcomes)} (outbox depth ${depthBeforeReload})`);

  const stored = await storedOf(main, "note", tag);
  const storedIds = new Set(stored.map((s) => s.event.id));
  const missing = ids.flatMap((id, i) => (storedIds.has(id) ? [] : [i + 1]));
  assert.deepEqual(missing, [], `${delivery}: every note stored (missing n = ${missing}; 1–20 online, 21–40 offline, 41–60 before the reload)`);
  assert.equal(storedIds.size, 60, `${delivery}: 60 notes, none lost`);
  assert.deepEqual(stored.map((s) => s.event.n).sort((a, b) => a - b), Array.from({ length: 60 }, (_, i) => i + 1));
  const breakers = reports.filter((r) => r.kind === "breaker").map((r) => r.value);
  assert.ok(!breakers.includes("open"), `${delivery}: the breaker never opened (${breakers})`);
  const s = await state(page);
  assert.notEqual(s.outbox.breaker, "open");
  assert.equal(s.outbox.deadLetters, 0);
  const receipts = (await main.stats()).receipts;
  const sends = ids.reduce((sum, id) => sum + (receipts[id] ?? 0), 0);
  const errorKinds = reports.filter((r) => r.kind === "error").map((r) => r.value.kind);
  console.log(`# ${delivery}: 60 notes stored, ${sends} receipts at the server, breaker states ${[...new Set(breakers)]}, ` +
    `errors ${JSON.stringify(errorKinds)}`);
  assert.deepEqual(page.errors, []);
  await context.close();
}

test("a server that never acks: delivery \"echo\" loses nothing across offline and a reload", async () => {
  await offlineAndReload("echo");
});

test("a server that never acks: delivery \"sent\" loses nothing across offline and a reload", async () => {
  await offlineAndReload("sent");
});

test("rooms: the declared joins are sent again after a server restart, and room events arrive", async () => {
  const { context } = await newContext();
  const page = await openApp(context, main, { opts: { joins: [["join_match", 7]] } });
  await waitOpen(page);
  await page.evaluate(() => window.t.listen("live_event"));
  await waitFor("the join", async () => (await main.stats()).rooms.match_7 === 1);
  await main.post("emit", { room: "match_8", event: "live_event", args: [{ n: 0, note: "other match" }] });
  await main.post("emit", { room: "match_7", event: "live_event", args: [{ n: 1 }] });
  await waitFor("the first event", async () => (await page.evaluate(() => window.t.received.live_event)).length >= 1);
  const session = (await state(page)).session;

  await main.kill();
  await waitFor("the client to notice", async () => (await state(page)).state !== "open", 30_000);
  await main.start();
  await waitFor("open again", async () => {
    const s = await state(page);
    return s.state === "open" && s.session !== session;
  }, 30_000);
  await waitFor("the join after the restart", async () => (await main.stats()).rooms.match_7 === 1);
  const { members } = await main.post("emit", { room: "match_7", event: "live_event", args: [{ n: 2 }] });
  assert.equal(members, 1);
  const got = await waitFor("the event after the restart", async () => {
    const r = await page.evaluate(() => window.t.received.live_event);
    return r.length >= 2 && r;
  });
  assert.deepEqual(got, [[{ n: 1 }], [{ n: 2 }]], "match_7's events, not match_8's");
  const s = await state(page);
  assert.ok(s.reconnects >= 1);
  assert.notEqual(s.recovered, true, "this server has no recovery: the rooms came back by the joins");
  assert.deepEqual(page.errors, []);
  await context.close();
});

/** Cuts a client's connection at the server, emits 200 room events while it is away, and
 *  returns what arrived. */
async function cutAndMiss(page, token, received) {
  await waitFor("the join", async () => (await rec.stats()).rooms.match_7 === 1);
  await rec.post("emit", { room: "match_7", event: "live_event", args: [{ tag: token, n: 0 }] });
  await waitFor("the first event", async () => (await received()).length >= 1);
  const cut = await rec.post("cut", { token });
  assert.equal(cut.cut, 1);
  const { members } = await rec.post("emit-many", { room: "match_7", event: "live_event", count: 200, tag: token });
  assert.equal(members, 0, "the client was away while the 200 were emitted");
  return cut.disconnects[0];
}

test("connection state recovery: a cut connection comes back with its session, and the 200 events emitted meanwhile arrive once, in order", async () => {
  const { context } = await newContext();
  const token = `sync-${process.pid}`;
  const page = await openApp(context, rec, {
    token,
    opts: { joins: [["join_match", 7]], reconnect: { initialDelayMs: 1500, maxDelayMs: 1500, jitter: 0 } },
  });
  await waitOpen(page);
  await page.evaluate(() => window.t.listen("live_event"));
  const first = await state(page);
  assert.equal(first.recovered, null, "first connect: nothing to recover");
  const recoveredBefore = (await rec.stats()).recovered;
  const received = () => page.evaluate(() => window.t.received.live_event);
  const reason = await cutAndMiss(page, token, received);
  const started = Date.now();
  await waitFor("201 events", async () => (await received()).length >= 201, 20_000);
  const took = Date.now() - started;
  // A marker after the replay: anything replayed twice would have arrived before it.
  await rec.post("emit", { room: "match_7", event: "live_event", args: [{ tag: token, n: 201 }] });
  const got = await waitFor("the marker", async () => {
    const r = await received();
    return r.some(([e]) => e.n === 201) && r;
  });
  assert.deepEqual(got.map((args) => args.length), Array(202).fill(1), "the server's own arguments (the offset is stripped)");
  assert.deepEqual(got.map(([e]) => e.n), Array.from({ length: 202 }, (_, i) => i), "all 200 once, in order");
  assert.ok(got.every(([e]) => e.tag === token));
  const s = await state(page);
  assert.equal(s.recovered, true, "getState().recovered");
  assert.equal(s.session, first.session, "the same Socket.IO id");
  assert.equal((await rec.stats()).recovered, recoveredBefore + 1, "the server recovered the session");
  assert.deepEqual(await page.evaluate(() => window.t.gaps), [], "no gap");
  assert.deepEqual(page.errors, []);
  console.log(`# recovery, syncline: disconnect reason "${reason}", 200/200 replayed in order, none twice, ` +
    `${took} ms from the emits to the last one (reconnect delay 1500 ms)`);
  await context.close();

  // The same app on plain socket.io-client, for comparison (logged, not asserted).
  const plain = await newContext();
  const plainToken = `plain-${process.pid}`;
  const other = await openApp(plain.context, rec, { token: plainToken, lib: "socket.io-client" });
  await other.evaluate(() => window.t.listen("live_event"));
  await waitFor("socket.io-client connected", async () => (await state(other)).connected);
  const plainReceived = () => other.evaluate(() => window.t.received.live_event);
  const plainReason = await cutAndMiss(other, plainToken, plainReceived);
  const plainStarted = Date.now();
  const plainDone = await waitFor("socket.io-client's 201 events", async () => (await plainReceived()).length >= 201, 20_000)
    .then(() => Date.now() - plainStarted, () => null);
  const plainGot = await plainReceived();
  const ns = plainGot.map(([e]) => e.n);
  const inOrder = ns.every((n, i) => i === 0 || n > ns[i - 1]);
  console.log(`# recovery, socket.io-client 4.8: disconnect reason "${plainReason}", ${new Set(ns).size - 1}/200 after the cut, ` +
    `${ns.length - new Set(ns).size} twice, in order: ${inOrder}, recovered: ${(await state(other)).recovered}, ` +
    `${plainDone ?? "not all within 20000"} ms (reconnect delay 1500 ms)`);
  await plain.context.close();
});

test("a non-durable publish to a handler without ack resolves \"sent\"; rttMs is measured", async () => {
  const { context } = await newContext();
  const page = await openApp(context, main);
  await waitOpen(page);
  const s = await state(page);
  assert.equal(typeof s.rttMs, "number", `rttMs once open (${s.rttMs})`);
  assert.ok(s.rttMs >= 0);
  const tag = tagOf("nondurable");
  const r = await page.evaluate((tag) => window.t.publish("note", { matchId: 9, tag }, { durable: false }), tag);
  assert.equal(r.status, "sent", `resolved as sent (got ${JSON.stringify(r)})`);
  assert.equal(typeof r.id, "string");
  const stored = await waitFor("the note at the server", async () => {
    const st = await storedOf(main, "note", tag);
    return st.length > 0 && st;
  });
  assert.equal(stored.length, 1);
  assert.equal((await state(page)).outbox.depth, 0, "not in the outbox");
  assert.deepEqual(await page.evaluate(() => window.t.errors), []);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("default delivery against a handler that never acks: ack_timeout errors, then a dead letter after maxAttempts, no endless resends", async () => {
  const { context } = await newContext();
  const page = await openApp(context, main, {
    opts: { outbox: { ackTimeoutMs: 500, maxAttempts: 2, retry: { initialDelayMs: 200, maxDelayMs: 400 } } },
  });
  await waitOpen(page);
  const tag = tagOf("noack");
  await page.evaluate((tag) => {
    window.noAck = window.t.publish("note", { matchId: 9, tag });
  }, tag);
  const letter = await waitFor("the dead letter", async () => (await page.evaluate(() => window.t.deadLetters))[0], 20_000);
  assert.match(letter.reason, /^ack_timeout/);
  const errors = await page.evaluate(() => window.t.errors);
  assert.ok(errors.some((e) => e.kind === "ack_timeout"), `an ack_timeout error event (${JSON.stringify(errors)})`);
  const s = await state(page);
  assert.equal(s.outbox.depth, 0);
  assert.equal(s.outbox.deadLetters, 1);
  assert.equal(s.outbox.lastError?.kind, "ack_timeout");
  assert.match(s.outbox.lastError.message, /echo/);
  assert.match(s.outbox.lastError.message, /sent/);
  // Long enough for several more resends if there were any.
  await new Promise((r) => setTimeout(r, 2000));
  const receipts = (await main.stats()).receipts[letter.id] ?? 0;
  assert.ok(receipts >= 1 && receipts <= 2, `the server got it at most maxAttempts times (${receipts})`);
  const stored = await storedOf(main, "note", tag);
  assert.equal(stored.length, 1, "stored once by the server");
  const outcome = await page.evaluate(() => Promise.race([window.noAck, new Promise((r) => setTimeout(() => r("pending"), 100))]));
  assert.notEqual(outcome?.status, "acked", `the publish was not confirmed (${JSON.stringify(outcome)})`);
  assert.deepEqual(page.errors, []);
  await context.close();
});
