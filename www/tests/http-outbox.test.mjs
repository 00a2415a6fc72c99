// The outbox over HTTP (`outbox: { transport: "http" }`) against a REST API written the usual
// way (tests/servers/rest-server.mjs: `PUT /api/widgets/:id`, `POST /api/batch`, Idempotency-Key),
// in real Chromium tabs: server errors, 429 with Retry-After, dropped connections and a refused
// entry; a reload while offline (with the app shell cached, and a reload that fails); two tabs,
// with and without a socket; no WebSocket at all; 401 and a fresh token; a timed-out request and
// 409; batches with a 500 and per-entry results; 10,000 entries drained in batches (the figure).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, test } from "node:test";
import { launch, root, startNodeServer, startRelay, waitFor } from "./harness.mjs";

let api, relay, browser;
let keys = 0;
const freshKey = () => `http-outbox-${process.pid}-${++keys}`;
const tagOf = (name) => `${name}-${process.pid}-${++keys}`;

before(async () => {
  [api, relay] = await Promise.all([startNodeServer("servers/rest-server.mjs"), startRelay()]);
  browser = await launch();
});

beforeEach(async () => {
  await api.post("reset");
});

const contexts = new Set();
afterEach(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  contexts.clear();
});

after(async () => {
  await browser?.close();
  await api?.stop();
  await relay?.stop();
});

async function newContext() {
  const context = await browser.newContext();
  contexts.add(context);
  return context;
}

function appUrl({ key = freshKey(), ws = null, token = null, rotate = false, opts = {} } = {}) {
  const q = new URLSearchParams({ key, opts: JSON.stringify(opts) });
  if (ws) q.set("ws", ws);
  if (token !== null) q.set("token", token);
  if (rotate) q.set("rotate", "");
  return `${api.url}/rest-app.html?${q}`;
}

/** A tab of the app; `page.apiRequests` lists the API requests this page made. */
async function openApp(context, options) {
  const page = await context.newPage();
  page.errors = [];
  page.apiRequests = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  page.on("request", (r) => {
    if (new URL(r.url()).pathname.startsWith("/api/")) page.apiRequests.push({ method: r.method(), url: r.url(), headers: r.headers() });
  });
  await page.goto(appUrl(options));
  await ready(page);
  return page;
}

/** Waits for the page's client; a page error while starting fails at once with its message. */
const ready = (page) =>
  waitFor("the app to start", async () => {
    if (page.errors.length) throw new Error(`the app failed to start: ${page.errors.join("; ")}`);
    return page.evaluate(() => window.ready === true);
  }, 15_000);
const state = (page) => page.evaluate(() => window.t.state());
const settledCount = (page) => page.evaluate(() => window.t.results.length + window.t.failures.length);
const fireMany = (page, prefix, base, from, to) =>
  page.evaluate(({ prefix, base, from, to }) => window.t.fireMany(prefix, "set", base, from, to), { prefix, base, from, to });

async function drained(page, what, timeoutMs = 30_000) {
  await waitFor(what, async () => {
    const s = await state(page);
    return s.outbox.storage !== "loading" && s.outbox.depth === 0;
  }, timeoutMs).catch(async (e) => {
    throw new Error(`${e.message}: outbox ${JSON.stringify((await state(page)).outbox)}`);
  });
}

/** Asserts that each id was applied exactly once by the server. */
function appliedOnce(s, ids, what) {
  const wrong = ids.filter((id) => s.appliedPerKey[id] !== 1).map((id) => `${id}: ${s.appliedPerKey[id] ?? 0}`);
  assert.deepEqual(wrong, [], `${what}: every entry applied exactly once`);
}

test("500, 429 with Retry-After, dropped connections and a refused entry: the rest applied exactly once, the refused one a dead letter", async () => {
  const context = await newContext();
  const page = await openApp(context, { ws: relay.ws, opts: { breaker: { cooldownMs: 1000 } } });
  const tag = tagOf("faults");
  const phases = [
    ["500", 3],
    ["429", 2],
    ["drop", 2],
    ["drop-after", 2],
  ];
  const ids = {};
  let n = 0;
  for (const [mode, count] of phases) {
    await api.post("faults", { mode, count });
    ids[mode] = await fireMany(page, `${tag}-${mode}-`, { tag, value: 1 }, n + 1, n + 4);
    n += 4;
    await waitFor(`the ${mode} phase to settle`, async () => (await settledCount(page)) === n, 30_000);
    await drained(page, `the outbox to drain after the ${mode} phase`);
    assert.deepEqual((await api.stats()).faults, [], `every ${mode} fault was met by a request`);
  }

  // The app's validation refuses this one (value over 1000): 400, for good.
  const bad = await page.evaluate(({ tag }) => {
    const p = window.t.client.publishTo(`${tag}-bad`, "set", { tag, value: 5000 });
    window.badOutcome = p.then((r) => ({ resolved: r }), (e) => ({ kind: e.kind, message: e.message }));
    return p.id;
  }, { tag });
  await page.evaluate(() => window.badOutcome);
  await drained(page, "the refused entry to leave the outbox");

  const s = await api.stats();
  const good = Object.values(ids).flat();
  appliedOnce(s, good, "the 16 good entries");
  assert.equal(s.appliedPerKey[bad], undefined, "the refused entry was not applied");

  const byStatus = (st) => s.log.filter((l) => l.status === st);
  assert.equal(byStatus(500).length, 3, "three 500s answered");
  assert.equal(byStatus(429).length, 2, "two 429s answered");
  assert.equal(byStatus("dropped").length, 2, "two connections dropped before applying");
  const dropAfter = byStatus("dropped after applying");
  assert.equal(dropAfter.length, 2, "two connections dropped after applying");
  // An entry whose answer was lost was sent again with the same Idempotency-Key, and the server
  // answered it from the stored response instead of applying it again.
  for (const lost of dropAfter) {
    assert.ok(good.includes(lost.key), `the dropped request carried an entry's id as its Idempotency-Key (${lost.key})`);
    assert.ok(s.requestsPerKey[lost.key] >= 2, `${lost.key} was sent again after its answer was lost`);
    assert.ok(s.log.some((l) => l.key === lost.key && l.replayed === true && l.status === 200), `${lost.key} was answered from the stored response`);
  }
  // Retry-After: 1 — the entry's next request came no sooner than a second later.
  for (const slow of byStatus(429)) {
    const next = s.log.find((l) => l.key === slow.key && l.t > slow.t);
    assert.ok(next, `${slow.key} was sent again after its 429`);
    assert.ok(next.t - slow.t >= 1000, `${slow.key} was sent again ${next.t - slow.t} ms after its 429 with Retry-After: 1`);
  }
  // Every request of the run is one entry's PUT with its headers.
  for (const l of s.log) {
    assert.equal(l.method, "PUT");
    assert.ok(l.key === bad || good.includes(l.key), `a request for an entry: ${l.key}`);
    assert.equal(l.contentType, "application/json");
    assert.equal(l.event, "set");
    assert.equal(`/api/widgets/${encodeURIComponent(l.channel)}`, l.path, "X-Syncline-Channel names the widget of the URL");
  }
  for (const id of good) assert.ok(s.widgets[s.log.find((l) => l.key === id).channel]?.value === 1);

  const { results, failures, deadLetters, letters, outcome } = await page.evaluate(async () => ({
    results: window.t.results,
    failures: window.t.failures,
    deadLetters: window.t.deadLetters,
    letters: window.t.client.deadLetters().map((l) => ({ id: l.id, reason: l.reason, data: l.data })),
    outcome: await window.badOutcome,
  }));
  assert.equal(results.length, 16, "the 16 good publishes resolved");
  assert.deepEqual(new Set(results.map((r) => r.id)), new Set(good));
  // A publish whose first request failed resolves "queued" (stored, sent again by itself), and
  // "delivered" tells when the server took it.
  assert.ok(results.every((r) => r.status === "acked" || r.status === "queued"), `acked or queued: ${JSON.stringify(results)}`);
  const delivered = await page.evaluate(() => window.t.delivered.map((d) => d.id));
  const confirmed = new Set([...results.filter((r) => r.status === "acked").map((r) => r.id), ...delivered]);
  assert.deepEqual(good.filter((id) => !confirmed.has(id)), [], "every good publish confirmed (acked, or delivered later)");
  assert.ok(!delivered.includes(bad), "the refused one was not delivered");
  const queued = results.filter((r) => r.status === "queued").length;
  assert.equal(outcome.kind, "rejected", `the refused publish's promise rejected: ${JSON.stringify(outcome)}`);
  assert.equal(letters.length, 1, "one dead letter");
  assert.equal(letters[0].id, bad);
  assert.match(letters[0].reason, /^http 400: /, "the reason names the status");
  assert.match(letters[0].reason, /value must be a number from 0 to 1000/, "and the body");
  assert.equal(letters[0].data.value, 5000);
  assert.deepEqual(deadLetters.map((l) => l.id), [bad], "the deadLetter event came once");
  assert.deepEqual(failures, [], "no good publish failed");
  const st = await state(page);
  assert.equal(st.outbox.depth, 0);
  assert.equal(st.outbox.inFlight, 0);
  await waitFor("IndexedDB to be empty", async () => (await page.evaluate(() => window.t.storedIds())).length === 0, 10_000);
  console.log(`# faults: ${s.log.length} requests for 17 entries (${byStatus(200).length} answered 200, ` +
    `${s.log.filter((l) => l.replayed).length} of them from the stored response); ${queued} of the 16 promises resolved "queued"`);
  assert.deepEqual(page.errors, []);
});

/** Publishes 5 entries online and 20 offline, reloads while offline, comes back online; returns
 *  the ids and the server's stats. `shell`: the app's page and package come from a cache (as a
 *  service worker serves them), so the reload works offline; else the reload fails while
 *  offline and the page is opened again once online. */
async function offlineReload(shell) {
  const context = await newContext();
  if (shell) {
    await context.route(/\/(rest-app\.html|outbox-db\.js|pkg\/.*)(\?.*)?$/, (route) => {
      const path = new URL(route.request().url()).pathname;
      const file = path.startsWith("/pkg/") ? join(root, path) : join(root, "www/tests/pages", path);
      route.fulfill({ body: readFileSync(file), contentType: path.endsWith(".wasm") ? "application/wasm" : path.endsWith(".js") ? "text/javascript" : "text/html" });
    });
  }
  const key = freshKey();
  const page = await openApp(context, { key });
  const tag = tagOf("reload");
  const online = await fireMany(page, `${tag}-`, { tag, value: 2 }, 1, 5);
  await waitFor("the online publishes", async () => (await settledCount(page)) === 5);
  assert.deepEqual((await page.evaluate(() => window.t.results)).map((r) => r.status), Array(5).fill("acked"), "online publishes are acked");

  // Chromium's offline emulation fires the browser's `offline` event. During a navigation it
  // lets the old document go `online` for a moment, and that document's client starts sending
  // before it is unloaded; its requests get past the emulation (and past Playwright's routes).
  // A network that is really down would not carry them, so the server cuts every API request
  // unanswered for as long as the test is offline.
  await api.post("network", { down: true });
  await context.setOffline(true);
  await waitFor("offline", async () => (await state(page)).online === false);
  const offline = await fireMany(page, `${tag}-`, { tag, value: 3 }, 6, 25);
  await waitFor("the offline publishes stored", async () => {
    const stored = new Set(await page.evaluate(() => window.t.storedIds()));
    return offline.every((id) => stored.has(id));
  });
  await waitFor("the offline publishes resolved", async () => (await settledCount(page)) === 25);
  const queued = (await page.evaluate(() => window.t.results)).filter((r) => offline.includes(r.id));
  assert.deepEqual(queued.map((r) => r.status), Array(20).fill("queued"), "publishes made offline resolve queued");
  assert.equal((await state(page)).outbox.depth, 20);
  const sentBefore = (await api.stats()).log.length;
  assert.equal(sentBefore, 5, "only the online publishes were sent");

  if (shell) {
    await page.reload();
    await ready(page);
    const s = await state(page);
    assert.equal(s.online, false, "the reloaded page starts offline");
    await waitFor("the reloaded page to load the outbox", async () => (await state(page)).outbox.depth === 20);
    await new Promise((r) => setTimeout(r, 500));
  } else {
    const reloadError = await page.reload().then(() => null, (e) => e.message);
    assert.match(String(reloadError), /ERR_INTERNET_DISCONNECTED/, "the reload failed while offline");
  }
  const whileOffline = (await api.stats()).log.slice(sentBefore);
  assert.deepEqual(whileOffline.filter((l) => l.status !== "network down"), [], "nothing got through while offline");
  await api.post("network", { down: false });
  await context.setOffline(false);
  if (!shell) {
    await page.goto(appUrl({ key }));
    await ready(page);
  }
  await drained(page, "the outbox to drain after the reload");
  const s = await api.stats();
  appliedOnce(s, [...online, ...offline], "25 entries");
  assert.equal(Object.values(s.widgets).filter((w) => w.tag === tag).length, 25);
  assert.deepEqual(page.errors, []);
  return { page, online, offline, s, cut: whileOffline.length };
}

test("a reload while offline (the app shell cached): the queued entries are sent once each when back online", async () => {
  const { page, offline, s, cut } = await offlineReload(true);
  const through = (id) => s.log.filter((l) => l.key === id && l.status !== "network down").length;
  for (const id of offline) assert.equal(through(id), 1, `${id} reached the server once`);
  // Nobody awaits them after the reload; the client tells of each with "delivered".
  const delivered = await waitFor("delivered after the reload", async () => {
    const d = await page.evaluate(() => window.t.delivered);
    return d.length === 20 && d;
  });
  assert.deepEqual(new Set(delivered.map((d) => d.id)), new Set(offline));
  assert.ok(delivered.every((d) => d.status === "acked"));
  console.log(`# cached shell: ${cut} requests of the departing page were cut while the network was down`);
});

test("a reload that fails while offline: the queued entries are applied once each when the page is back", async () => {
  // After the failed navigation Chromium keeps the old document running, online, until the
  // next one: it sends the entries too and may be gone before it reads the answers, so an
  // entry can reach the server twice; the second is answered from its Idempotency-Key.
  const { page, offline, s, cut } = await offlineReload(false);
  const through = (id) => s.log.filter((l) => l.key === id && l.status !== "network down");
  const twice = offline.filter((id) => through(id).length > 1);
  for (const id of twice) {
    assert.ok(through(id).slice(1).every((l) => l.replayed === true), `${id}, sent again, was answered from the stored response`);
  }
  await waitFor("the page to be done with the outbox", async () => (await state(page)).outbox.depth === 0);
  console.log(`# failed reload: ${cut} requests cut while the network was down; ${twice.length} of the 20 entries reached the server twice`);
});

for (const withSocket of [true, false]) {
  test(`two tabs${withSocket ? "" : " without a WebSocket"}: a follower's publish is sent by the leader, once`, async () => {
    const context = await newContext();
    const key = freshKey();
    const ws = withSocket ? relay.ws : null;
    const first = await openApp(context, { key, ws });
    await waitFor("a leader", async () => (await state(first)).role === "leader");
    const second = await openApp(context, { key, ws });
    // A follower that has its storage and the leader's state (a publish before that, while it
    // is still "connecting", resolves "queued").
    await waitFor("a follower linked to the leader", async () => {
      const s = await state(second);
      return s.role === "follower" && s.state !== "connecting" && s.outbox.storage === "indexeddb";
    });
    const tag = tagOf("tabs");
    // The server holds its answers until the test releases them.
    await api.post("faults", { mode: "hold", count: 5 });
    const { ids, at } = await second.evaluate(({ tag }) => {
      const s = window.t.state();
      const at = { state: s.state, role: s.role, online: s.online, storage: s.outbox.storage, tabs: s.tabs, sinceLoad: Math.round(performance.now()) };
      return { ids: window.t.fireMany(`${tag}-`, "set", { tag, value: 4 }, 1, 5), at };
    }, { tag });
    await waitFor("the leader's 5 requests held at the server", async () => (await api.stats()).held === 5);
    await waitFor("the entries stored", async () => {
      const stored = new Set(await second.evaluate(() => window.t.storedIds()));
      return ids.every((id) => stored.has(id));
    });
    // Online, and the leader sending: the follower's promises wait for the server's answers.
    const early = await second.evaluate(() => window.t.results);
    await api.post("release");
    await waitFor("the follower's publishes settled", async () => (await settledCount(second)) === 5, 20_000);
    await drained(second, "the follower's outbox to drain");
    await drained(first, "the leader's outbox to drain");

    const s = await api.stats();
    appliedOnce(s, ids, "the follower's entries");
    for (const id of ids) assert.equal(s.requestsPerKey[id], 1, `${id} reached the server once`);
    assert.deepEqual(second.apiRequests, [], "the follower made no API request");
    const sentByLeader = first.apiRequests.map((r) => r.headers["idempotency-key"]);
    assert.deepEqual(new Set(sentByLeader), new Set(ids), "the leader sent them");
    const leaderTab = await first.evaluate(() => window.t.tabId);
    assert.deepEqual([...new Set(s.log.map((l) => l.tab))], [leaderTab], "the server saw requests from the leader tab only");
    assert.deepEqual([...first.errors, ...second.errors], []);

    // The follower was online all along: its publishes resolve "acked" once the leader's
    // request is answered, as they do for the leader.
    const { results, failures, delivered } = await second.evaluate(() => ({
      results: window.t.results, failures: window.t.failures, delivered: window.t.delivered.map((d) => d.id),
    }));
    assert.deepEqual(failures, []);
    assert.deepEqual(early, [], `no publish of the follower settled while the server held the answers (the follower when it published: ${JSON.stringify(at)})`);
    const notAcked = results.filter((r) => r.status !== "acked");
    assert.deepEqual(notAcked, [], `the follower's publishes resolve acked (${notAcked.length} of 5 resolved ` +
      `${[...new Set(notAcked.map((r) => r.status))]}; ${delivered.length} "delivered" events in the follower)`);
  });
}

test("without a WebSocket (no url): publishes go over HTTP with the configured and auth headers", async () => {
  const context = await newContext();
  const sockets = [];
  context.on("page", (p) => p.on("websocket", (w) => sockets.push(w.url())));
  const page = await openApp(context, { token: "t0k3n", opts: { outbox: { headers: { "X-App": "dash" } } } });
  page.on("websocket", (w) => sockets.push(w.url()));
  const tag = tagOf("nows");
  const results = [];
  for (let n = 1; n <= 3; n++) {
    results.push(await page.evaluate(({ tag, n }) => window.t.publish(`${tag}/${n}`, "rename", { tag, value: n, name: `w ${n}` }), { tag, n }));
  }
  assert.deepEqual(results.map((r) => r.status), ["acked", "acked", "acked"], JSON.stringify(results));
  await waitFor("delivered", async () => (await page.evaluate(() => window.t.delivered.length)) === 3);
  const s = await api.stats();
  appliedOnce(s, results.map((r) => r.id), "3 entries");
  assert.equal(s.log.length, 3, "one request per entry");
  for (const [i, l] of s.log.entries()) {
    const n = i + 1;
    assert.equal(l.method, "PUT");
    assert.equal(l.path, `/api/widgets/${encodeURIComponent(`${tag}/${n}`)}`, "{channel} URL-encoded");
    assert.equal(l.key, results[i].id, "Idempotency-Key is the publish id");
    assert.equal(l.event, "rename");
    assert.equal(l.channel, `${tag}/${n}`);
    assert.equal(l.app, "dash", "the configured header");
    assert.equal(l.authorization, "Bearer t0k3n", "auth's token");
    assert.equal(l.contentType, "application/json");
    assert.deepEqual(s.widgets[`${tag}/${n}`], { id: `${tag}/${n}`, version: 1, tag, value: n, name: `w ${n}` }, "the body is the data");
  }
  assert.deepEqual(sockets, [], "no WebSocket was opened");
  const st = await state(page);
  assert.equal(st.outbox.depth, 0);
  assert.deepEqual(page.errors, []);
});

test("401: the entry is sent again with a fresh token from auth()", async () => {
  const context = await newContext();
  const page = await openApp(context, { token: "tok", rotate: true });
  await api.post("faults", { mode: "401", count: 1 });
  const tag = tagOf("auth");
  const result = await page.evaluate((tag) => window.t.publish(`${tag}-1`, "set", { tag, value: 5 }), tag);
  assert.notEqual(result.status, undefined, `the publish does not fail: ${JSON.stringify(result)}`);
  await drained(page, "the outbox to drain");
  await waitFor("delivered", async () => (await page.evaluate(() => window.t.delivered.map((d) => d.id))).includes(result.id));
  const s = await api.stats();
  appliedOnce(s, [result.id], "the entry");
  const tries = s.log.filter((l) => l.key === result.id);
  assert.deepEqual(tries.map((l) => l.status), [401, 200], "refused with 401, then taken");
  assert.match(tries[0].authorization, /^Bearer tok-\d+$/);
  assert.match(tries[1].authorization, /^Bearer tok-\d+$/);
  assert.notEqual(tries[1].authorization, tries[0].authorization, "the retry carries a token asked for after the 401");
  assert.deepEqual(await page.evaluate(() => window.t.client.deadLetters()), []);
  assert.deepEqual(page.errors, []);
});

test("a request that times out is sent again; the server answers 409 while the first is in progress; applied once", async () => {
  const context = await newContext();
  const page = await openApp(context, { opts: { outbox: { ackTimeoutMs: 800 } } });
  await api.post("faults", { mode: "hold", count: 1 });
  const tag = tagOf("timeout");
  const id = await page.evaluate((tag) => {
    const p = window.t.client.publishTo(`${tag}-1`, "set", { tag, value: 6 });
    p.catch(() => {});
    return p.id;
  }, tag);
  // The first request is held past the timeout; the client aborts it and sends again, and the
  // server, still working on the first, answers 409 (retried).
  await waitFor("a retry answered 409", async () => (await api.stats()).log.some((l) => l.key === id && l.status === 409), 15_000);
  assert.equal((await state(page)).outbox.depth, 1, "still in the outbox");
  await api.post("release");
  await drained(page, "the outbox to drain");
  const s = await api.stats();
  appliedOnce(s, [id], "the entry");
  const statuses = s.log.filter((l) => l.key === id).map((l) => l.status);
  assert.ok(statuses.includes(409), `409 while in progress: ${statuses}`);
  assert.ok(s.log.some((l) => l.key === id && l.status === 200 && l.replayed), `the retry after the release was answered from the stored response: ${statuses}`);
  assert.deepEqual(await page.evaluate(() => window.t.client.deadLetters()), []);
  assert.deepEqual(page.errors, []);
});

test("batches: a 500 retries the whole batch, per-entry results refuse one entry and confirm the rest", async () => {
  const context = await newContext();
  const page = await openApp(context, { opts: { outbox: { batchUrl: `${api.url}/api/batch`, batchSize: 5 } } });
  await context.setOffline(true);
  await waitFor("offline", async () => (await state(page)).online === false);
  const tag = tagOf("batches");
  const ids = await fireMany(page, `${tag}-`, { tag, value: 8 }, 1, 11);
  const bad = await page.evaluate((tag) => {
    const p = window.t.client.publishTo(`${tag}-bad`, "set", { tag, value: 5000 });
    window.badOutcome = p.then((r) => ({ resolved: r }), (e) => ({ kind: e.kind, message: e.message }));
    return p.id;
  }, tag);
  await waitFor("12 entries stored", async () => (await page.evaluate(() => window.t.storedIds())).length === 12);
  await api.post("faults", { mode: "500", count: 1 });
  await context.setOffline(false);
  await drained(page, "the outbox to drain");

  const s = await api.stats();
  appliedOnce(s, ids, "the 11 good entries");
  assert.equal(s.appliedPerKey[bad], undefined, "the refused entry was not applied");
  assert.ok(s.log.every((l) => l.path === "/api/batch" && l.entries <= 5 && l.key === null), "batches of at most 5, without an Idempotency-Key");
  assert.equal(s.log.filter((l) => l.status === 500).length, 1, "one batch answered 500");
  // The entries of the batch answered 500 went again in a later batch.
  const failed = s.log.find((l) => l.status === 500);
  assert.ok(failed.entries >= 1);
  for (const id of failed.ids) {
    assert.ok(s.log.some((l) => l.status === 200 && l.t >= failed.t && l.ids.includes(id)), `${id} was sent again after the 500`);
  }
  const letters = await page.evaluate(() => window.t.client.deadLetters().map((l) => ({ id: l.id, reason: l.reason })));
  assert.equal(letters.length, 1);
  assert.equal(letters[0].id, bad);
  assert.match(letters[0].reason, /^http 400/, "the entry's own status");
  const delivered = new Set(await page.evaluate(() => window.t.delivered.map((d) => d.id)));
  assert.deepEqual(ids.filter((id) => !delivered.has(id)), [], "each good entry delivered");
  assert.deepEqual(page.errors, []);
});

test("10,000 entries queued offline drain through the batch endpoint, each applied once", async () => {
  const context = await newContext();
  const page = await openApp(context, { opts: { outbox: { batchUrl: `${api.url}/api/batch` } } });
  await context.setOffline(true);
  await waitFor("offline", async () => (await state(page)).online === false);
  const tag = tagOf("batch");
  const count = 10_000;
  // 10,000 updates of 100 widgets.
  const ids = await page.evaluate(({ tag, count }) => {
    const ids = [];
    for (let n = 1; n <= count; n++) {
      const p = window.t.client.publishTo(`${tag}-${n % 100}`, "set", { tag, n, value: n % 1000 });
      ids.push(p.id);
      p.catch(() => {});
    }
    return ids;
  }, { tag, count });
  await waitFor("10,000 entries stored", async () => (await page.evaluate(() => window.t.storedIds())).length === count, 60_000);
  assert.equal((await state(page)).outbox.depth, count);
  assert.equal((await api.stats()).log.length, 0, "nothing sent while offline");

  await context.setOffline(false);
  await waitFor("the outbox to drain", async () => (await page.evaluate(() => window.t.drain.empty)) !== null, 60_000)
    .catch(async (e) => {
      throw new Error(`${e.message}: outbox ${JSON.stringify((await state(page)).outbox)}`);
    });
  const { online, empty } = await page.evaluate(() => window.t.drain);
  const ms = Math.round(empty - online);

  const s = await api.stats();
  appliedOnce(s, ids, "10,000 entries");
  assert.equal(Object.keys(s.appliedPerKey).length, count, "the server applied 10,000 entries");
  const batches = s.log.filter((l) => l.path === "/api/batch");
  assert.equal(batches.length, s.log.length, "every request went to the batch endpoint");
  assert.ok(batches.every((b) => b.status === 200 && b.entries <= 500), "batches of at most 500 entries, all answered 200");
  // In order per channel: each widget ends on its last published update.
  const lastOf = {};
  for (let n = 1; n <= count; n++) lastOf[`${tag}-${n % 100}`] = n;
  const outOfOrder = Object.entries(lastOf).filter(([w, n]) => s.widgets[w].n !== n).map(([w]) => w);
  assert.deepEqual(outOfOrder, [], "every widget ended on its last update");
  const st = await state(page);
  assert.equal(st.outbox.depth, 0);
  // Confirmed entries leave IndexedDB (the deletes may trail the count by a moment).
  await waitFor("IndexedDB to be empty", async () => (await page.evaluate(() => window.t.storedIds())).length === 0, 10_000)
    .catch(async (e) => {
      throw new Error(`${e.message}: ${(await page.evaluate(() => window.t.storedIds())).length} entries left in IndexedDB`);
    });
  console.log(`http batch drain: ${count} entries in ${ms} ms (${batches.length} batch requests, ` +
    `${s.log.reduce((sum, l) => sum + (l.entries ?? 0), 0)} entries sent)`);
  assert.deepEqual(page.errors, []);
  assert.ok(ms < 5000, `issue 19 acceptance: the 10,000-entry drain took ${ms} ms (under 5 s wanted)`);
});
