// syncline with `protocol: "json"` against three WebSocket backends written on the `ws` package
// the way its README writes them, none of which knows syncline (tests/servers/json-*.mjs):
//   (a) json-typed     frames routed by `type`, acks and errors by message id, {type:"ping"}
//   (b) json-rpc       requests by requestId, {type, data} notifications, saves deduplicated
//                      by an idempotency key in the params
//   (c) json-channels  subscribe/unsubscribe/resume by channel, per-channel sequences kept in
//                      a log file, publishes acked with their seq
// For each, in real Chromium tabs with a client configured only through `json` options:
// events, durable publishes through a server kill, restart and a page reload (each applied
// once), requests (answered, refused, timed out), a dead connection found by the app-level
// heartbeat, two tabs on one socket, frames of no declared shape, and options refused; on (c)
// also the resume (since the last seq seen) after a silent socket and after a restart.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { launch, startNodeServer, startStatic, waitFor } from "./harness.mjs";

let site, browser;
let keys = 0;
const freshKey = () => `json-${process.pid}-${++keys}`;
const tagOf = (name) => `${name}-${process.pid}-${++keys}`;
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

before(async () => {
  [site, browser] = await Promise.all([startStatic(), launch()]);
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

// Every context a test opened is closed after it, passed or failed.
const contexts = new Set();
async function closeContexts() {
  for (const context of contexts) await context.close().catch(() => {});
  contexts.clear();
}
afterEach(closeContexts);

/** A browser context whose pages report results, errors and dead letters to `reports`
 *  (kept across reloads). */
async function newContext() {
  const context = await browser.newContext();
  contexts.add(context);
  const reports = [];
  await context.exposeBinding("report", (_source, kind, value) => {
    reports.push({ kind, value });
  });
  return { context, reports };
}

const wsUrl = (server) => `${server.url.replace(/^http/, "ws")}/ws`;

function appUrl(server, opts, key = freshKey()) {
  const q = new URLSearchParams({ url: wsUrl(server), key, opts: JSON.stringify(opts) });
  return `${site.origin}/json-app.html?${q}`;
}

async function openApp(context, server, opts, key) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(appUrl(server, opts, key));
  await ready(page);
  return page;
}

async function ready(page) {
  await page.waitForFunction(() => window.ready === true || window.failed);
  const failed = await page.evaluate(() => window.failed);
  if (failed) throw new Error(`the client was not created: ${failed.message}`);
}

const state = (page) => page.evaluate(() => window.t.state());
const waitOpen = (page, timeoutMs = 10_000) => waitFor("open", async () => (await state(page)).state === "open", timeoutMs);
const received = (page, channel) => page.evaluate((c) => window.t.received[c], channel);

// ---------------------------------------------------------------------------------------
// The three backends, and how an app configures syncline for each.
// ---------------------------------------------------------------------------------------
const profiles = [
  {
    name: "(a) type-routed server (json-typed)",
    script: "servers/json-typed.mjs",
    json: {
      event: "type",
      data: "payload",
      id: "id",
      answer: { id: "id", match: [{ type: "ack" }, { type: "error" }, { type: "unit" }], result: "payload", error: "error" },
      publish: { type: "{event}", id: "{id}", payload: "{data}" },
      request: { type: "{event}", id: "{id}", payload: "{data}" },
      heartbeat: { ping: { type: "ping" }, pong: { type: "pong" } },
    },
    pingFrame: "ping",
    // Events: unit_moved, routed by its name (no channel path, no subscribe frame).
    eventChannel: () => "unit_moved",
    async pushEvents(server, _channel, tag, ns) {
      await server.post("broadcast", { events: ns.map((n) => ({ priority: n % 2 ? "high" : "normal", id: `${tag}-${n}`, payload: { tag, n } })) });
    },
    eventFrame: (_channel, tag, n) => ({ type: "unit_moved", priority: "high", id: `${tag}-${n}`, payload: { tag, n } }),
    checkEvent(m, _channel, tag, n) {
      assert.deepEqual(m, { channel: "unit_moved", event: "unit_moved", seq: m.seq, id: `${tag}-${n}`, data: { tag, n } });
    },
    // A resent event (same id) is dropped by the client.
    duplicateIds: true,
    // Publishes: move_unit {unit, x, y}, acked {type:"ack", id}.
    publishTo: (tag) => ["units", "move_unit", { unit: `unit-${tag}`, x: 3, y: 4 }],
    applied: (stats, tag) => stats.moves.filter((m) => m.payload.unit === `unit-${tag}`).map((m) => ({ id: m.id, n: m.payload.n })),
    refused: (tag) => ["units", "move_unit", { unit: `unit-${tag}` }, /invalid move: unit, x and y are required/],
    requests: {
      ok: ["get_unit", { unit: "scout" }, (r) => assert.equal(r.unit, "scout")],
      error: ["get_unit", { unit: "wyvern" }, /unknown unit wyvern/],
      slow: ["get_unit", { unit: "archived" }],
    },
    raw: [{ notice: "maintenance at 22:00" }, { type: 42, note: "a type that is not a string" }],
    badOptions: [
      [(o) => ({ ...o, json: { ...o.json, event: undefined } }), /options\.json\.event is required/],
      [(o) => ({ ...o, json: { ...o.json, request: { type: "{event}", id: "{id}", payload: "{foo}" } } }), /options\.json\.request: unknown placeholder \{foo\}/],
    ],
  },
  {
    name: "(b) request/response server (json-rpc)",
    script: "servers/json-rpc.mjs",
    json: {
      event: "type",
      data: "data",
      answer: { id: "requestId", result: "result", error: "error" },
      publish: { requestId: "{id}", type: "{event}", params: { unit: "{data}", idempotencyKey: "{id}" } },
      request: { requestId: "{id}", type: "{event}", params: "{data}" },
      heartbeat: { ping: { type: "heartbeat", sentAt: "{ts}" }, pong: { type: "heartbeat_ack" } },
    },
    pingFrame: "heartbeat",
    // Events: {type, data} notifications, routed by their name.
    eventChannel: () => "unitSaved",
    async pushEvents(server, _channel, tag, ns) {
      await server.post("notify", { events: ns.map((n) => ({ type: "unitSaved", data: { tag, n } })) });
    },
    eventFrame: (_channel, tag, n) => ({ type: "unitSaved", data: { tag, n } }),
    checkEvent(m, _channel, tag, n) {
      assert.deepEqual(m, { channel: "unitSaved", event: "unitSaved", seq: m.seq, id: m.id, data: { tag, n } });
    },
    duplicateIds: false,
    // Publishes: saveUnit {unit, idempotencyKey}, answered {requestId, result}.
    publishTo: (tag) => ["units", "saveUnit", { id: `unit-${tag}`, name: "Scout" }],
    applied: (stats, tag) => stats.saves.filter((s) => s.unit.id === `unit-${tag}`).map((s) => ({ id: s.key, n: s.unit.n })),
    refused: (tag) => ["units", "saveUnit", { id: `unit-${tag}` }, /invalid unit: id and name are required/],
    requests: {
      ok: ["getUnit", { id: "u1" }, (r) => assert.deepEqual(r, { id: "u1", name: "Scout", hp: 10 })],
      error: ["getUnit", { id: "zz9" }, /unit zz9 not found/],
      slow: ["exportUnits", {}],
    },
    raw: [{ jsonrpc: "2.0", method: "serverNotice", params: { text: "maintenance at 22:00" } }, { requestId: "nobody-asked", result: 1 }],
    badOptions: [
      [(o) => ({ ...o, json: { ...o.json, answer: { result: "result" } } }), /options\.json\.answer\.id is required/],
      [(o) => ({ ...o, json: { ...o.json, publish: { requestId: "{id}", type: "{event}", params: { unit: "{data}", key: "{unitId}" } } } }),
        /options\.json\.publish: unknown placeholder \{unitId\}/],
    ],
  },
  {
    name: "(c) channel server with a sequence log (json-channels)",
    script: "servers/json-channels.mjs",
    json: {
      event: "event",
      channel: "channel",
      data: "data",
      id: "id",
      seq: "seq",
      answer: { id: "id", match: [{ action: "ack" }, { action: "result" }, { action: "error" }], result: "result", error: "error" },
      subscribe: { action: "subscribe", channel: "{channel}" },
      unsubscribe: { action: "unsubscribe", channel: "{channel}" },
      resume: { action: "resume", channel: "{channel}", since: "{since}" },
      publish: { action: "publish", channel: "{channel}", event: "{event}", data: "{data}", id: "{id}" },
      request: { action: "{event}", id: "{id}", params: "{data}" },
      heartbeat: { ping: { action: "ping" }, pong: { action: "pong" } },
    },
    pingFrame: "ping",
    serverPing: { action: "ping" },
    subscribeFrame: true,
    eventChannel: (tag) => `feed-${tag}`,
    async pushEvents(server, channel, tag, ns) {
      await server.post("publish", { channel, events: ns.map((n) => ({ event: "price", data: { tag, n }, id: `${tag}-${n}` })) });
    },
    eventFrame: (channel, tag, n) => ({ channel, seq: 1000 + n, event: "price", data: { tag, n }, id: `${tag}-x${n}` }),
    checkEvent(m, channel, tag, n) {
      assert.equal(m.channel, channel);
      assert.equal(m.event, "price");
      assert.deepEqual(m.data, { tag, n });
      assert.equal(typeof m.seq, "number");
    },
    duplicateIds: false,
    publishTo: (tag) => [`orders-${tag}`, "order_placed", { tag, item: "tea" }],
    applied: (stats, tag) => stats.log.filter((e) => e.channel === `orders-${tag}`).map((e) => ({ id: e.id, n: e.data.n })),
    refused: (tag) => [`readonly:${tag}`, "order_placed", { tag }, /channel readonly:\S+ is read-only/],
    requests: {
      ok: ["history", { channel: "menu", limit: 2 }, (r) => assert.deepEqual(r.map((e) => e.seq), [2, 3])],
      error: ["history", { channel: "no-such-channel" }, /no such channel: no-such-channel/],
      slow: ["history", { channel: "archive:2025" }],
      async setup(server) {
        if (!(await server.stats()).log.some((e) => e.channel === "menu")) {
          await server.post("publish", { channel: "menu", events: [1, 2, 3].map((n) => ({ event: "dish", data: { n } })) });
        }
        if (!(await server.stats()).log.some((e) => e.channel === "archive:2025")) {
          await server.post("publish", { channel: "archive:2025", events: [{ event: "dish", data: { n: 0 } }] });
        }
      },
    },
    raw: [{ action: "maintenance", at: "22:00" }, { channel: "x", event: 7, data: "an event name that is not a string" }],
    badOptions: [
      [(o) => ({ ...o, json: { ...o.json, resume: { action: "resume", channel: "{channel}", since: "{sinse}" } } }), /options\.json\.resume: unknown placeholder \{sinse\}/],
      [(o) => ({ ...o, json: { ...o.json, answer: undefined } }), /options\.json\.answer/],
    ],
  },
];

for (const p of profiles) {
  describe(p.name, () => {
    let server;
    const base = (extra = {}) => ({ ...extra, json: p.json });

    before(async () => {
      server = await startNodeServer(p.script);
    });
    afterEach(async () => {
      await closeContexts();
      // A test that failed while its server was killed leaves it running for the next.
      if (server && !server.child) await server.start();
      // The next test starts with no socket of this one left.
      await waitFor("the sockets of the test closed", async () => (await server.stats()).clients === 0);
    });
    after(async () => {
      await server?.stop();
    });

    test("subscribe: the server's events arrive, with their data, in order", async () => {
      const { context } = await newContext();
      const page = await openApp(context, server, base());
      await waitOpen(page);
      const tag = tagOf("events");
      const channel = p.eventChannel(tag);
      await page.evaluate((c) => window.t.subscribe(c), channel);
      if (p.subscribeFrame) {
        await waitFor("the subscribe frame at the server", async () => (await server.stats()).subscribers[channel] === 1);
      }
      await p.pushEvents(server, channel, tag, [1, 2, 3]);
      if (p.duplicateIds) await p.pushEvents(server, channel, tag, [2]); // the same id again
      await p.pushEvents(server, channel, tag, [4, 5]);
      const got = await waitFor("5 events", async () => {
        const r = (await received(page, channel)).filter((m) => m.data?.tag === tag);
        return r.length >= 5 && r;
      });
      // Anything arriving late (a duplicate) would come before this marker.
      await p.pushEvents(server, channel, tag, [6]);
      const all = await waitFor("the marker", async () => {
        const r = (await received(page, channel)).filter((m) => m.data?.tag === tag);
        return r.some((m) => m.data.n === 6) && r;
      });
      assert.deepEqual(all.map((m) => m.data.n), [1, 2, 3, 4, 5, 6], "each event once, in order");
      got.forEach((m, i) => p.checkEvent(m, channel, tag, i + 1));
      if (p.json.seq) {
        const seqs = all.map((m) => m.seq);
        assert.deepEqual(seqs, range(seqs[0], seqs[0] + 5), "the server's sequence numbers");
      }
      if (p.json.unsubscribe) {
        await page.evaluate((c) => window.t.unsubscribe(c), channel);
        await waitFor("the unsubscribe frame at the server", async () => (await server.stats()).subscribers[channel] === undefined);
        await p.pushEvents(server, channel, tag, [7]);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal((await received(page, channel)).length, 6, "nothing after the unsubscribe");
      }
      assert.deepEqual(await page.evaluate(() => window.t.errors), []);
      assert.deepEqual(page.errors, []);
    });

    test("durable publishes through a server kill, a restart and a reload: every id applied exactly once", async () => {
      const { context, reports } = await newContext();
      const key = freshKey();
      const opts = base();
      const page = await openApp(context, server, opts, key);
      await waitOpen(page);
      const tag = tagOf("durable");
      const [channel, event, data] = p.publishTo(tag);
      const fire = (pg, from, to) => pg.evaluate(({ channel, event, data, from, to }) =>
        window.t.fire(channel, event, data, from, to), { channel, event, data, from, to });

      // 10 while open, and the server killed while they are in flight.
      const ids = await fire(page, 1, 10);
      await server.kill();
      await waitFor("the client to notice", async () => (await state(page)).state !== "open");
      // 10 while the server is down.
      ids.push(...(await fire(page, 11, 20)));
      await waitFor("the 20 publishes to be stored or confirmed", async () => {
        const stored = new Set(await page.evaluate(() => window.t.storedIds()));
        const settled = new Set(reports.filter((r) => r.kind === "result").map((r) => r.value.id));
        return ids.every((id) => stored.has(id) || settled.has(id));
      });
      const depthBeforeReload = (await state(page)).outbox.depth;
      assert.ok(depthBeforeReload >= 10, `the publishes made while the server was down wait in the outbox (${depthBeforeReload})`);
      // A reload while the server is down, then 10 more from the new page.
      await page.reload();
      await ready(page);
      await waitFor("the outbox loaded", async () => (await state(page)).outbox.storage !== "loading");
      ids.push(...(await fire(page, 21, 30)));
      await server.start();
      await waitOpen(page, 20_000);
      await waitFor("the outbox to drain", async () => (await state(page)).outbox.depth === 0, 30_000).catch(async (e) => {
        throw new Error(`${e.message}: ${JSON.stringify((await state(page)).outbox)}`);
      });

      const stats = await server.stats();
      const applied = p.applied(stats, tag);
      const appliedIds = applied.map((a) => a.id);
      const unique = new Set(appliedIds);
      assert.equal(new Set(ids).size, 30, "30 distinct publish ids");
      const lost = ids.filter((id) => !unique.has(id));
      assert.deepEqual(lost, [], "0 lost");
      assert.equal(appliedIds.length, unique.size, `0 applied twice (${appliedIds.length - unique.size})`);
      assert.deepEqual(unique, new Set(ids), "the ids applied are the publish ids");
      assert.deepEqual(applied.map((a) => a.n).sort((a, b) => a - b), range(1, 30), "the payloads as published");
      for (const id of ids) assert.equal(stats.applied[id], 1, `${id} applied once`);
      const failures = reports.filter((r) => r.kind === "failure");
      assert.deepEqual(failures, [], "no publish failed");
      const s = await state(page);
      assert.equal(s.outbox.depth, 0);
      assert.equal(s.outbox.deadLetters, 0);
      const receipts = ids.reduce((sum, id) => sum + (stats.receipts[id] ?? 0), 0);
      const statuses = reports.filter((r) => r.kind === "result").reduce((acc, r) => ({ ...acc, [r.value.status]: (acc[r.value.status] ?? 0) + 1 }), {});
      console.log(`# ${p.script}: 30 publishes, 30 applied once; outbox depth ${depthBeforeReload} before the reload; ` +
        `${receipts} receipts since the restart; results ${JSON.stringify(statuses)}`);
      assert.deepEqual(page.errors, []);
    });

    test("requests: answered, refused with the server's error, timed out; a refused publish is a dead letter", async () => {
      await p.requests.setup?.(server);
      const { context } = await newContext();
      const page = await openApp(context, server, base());
      await waitOpen(page);
      const [okEvent, okData, checkOk] = p.requests.ok;
      const ok = await page.evaluate(([e, d]) => window.t.request(e, d, { timeoutMs: 5000 }), [okEvent, okData]);
      assert.equal(ok.error, undefined, `answered (${JSON.stringify(ok.error)})`);
      checkOk(ok.result);

      const [errEvent, errData, errMessage] = p.requests.error;
      const err = await page.evaluate(([e, d]) => window.t.request(e, d, { timeoutMs: 5000 }), [errEvent, errData]);
      assert.ok(err.error, `rejected (${JSON.stringify(err)})`);
      assert.equal(err.error.kind, "server");
      assert.match(err.error.message, errMessage);

      const [slowEvent, slowData] = p.requests.slow;
      const slow = await page.evaluate(([e, d]) => window.t.request(e, d, { timeoutMs: 300, retries: 0 }), [slowEvent, slowData]);
      assert.ok(slow.error, `rejected (${JSON.stringify(slow)})`);
      assert.equal(slow.error.kind, "timeout");

      const tag = tagOf("refused");
      const [channel, event, data, reason] = p.refused(tag);
      const refused = await page.evaluate(({ channel, event, data }) => window.t.publish(channel, event, data), { channel, event, data });
      assert.equal(refused.status, undefined, `the publish rejects (got ${JSON.stringify(refused)})`);
      const letters = await waitFor("the dead letter", async () => {
        const l = await page.evaluate(() => window.t.deadLetters);
        return l.length > 0 && l;
      });
      assert.equal(letters.length, 1);
      assert.equal(letters[0].id, refused.id);
      assert.match(letters[0].reason, reason);
      assert.equal((await state(page)).outbox.depth, 0);
      // Still open and working, also after the slow answer came in late.
      await new Promise((r) => setTimeout(r, 200));
      const again = await page.evaluate(([e, d]) => window.t.request(e, d, { timeoutMs: 5000 }), [okEvent, okData]);
      assert.equal(again.error, undefined);
      assert.equal((await state(page)).state, "open");
      assert.deepEqual(page.errors, []);
    });

    test("heartbeat: a server gone silent on an open socket is found dead, and the client reconnects", async () => {
      const { context } = await newContext();
      const page = await openApp(context, server, base({ heartbeat: { intervalMs: 300, timeoutMs: 1000 } }));
      await waitOpen(page);
      const tag = tagOf("silent");
      const channel = p.eventChannel(tag);
      await page.evaluate((c) => window.t.subscribe(c), channel);
      if (p.subscribeFrame) await waitFor("subscribed", async () => (await server.stats()).subscribers[channel] === 1);
      await p.pushEvents(server, channel, tag, [1, 2, 3]);
      await waitFor("3 events", async () => (await received(page, channel)).length === 3);
      const before = await server.stats();
      await waitFor("app-level pings answered", async () => ((await server.stats()).frames[p.pingFrame] ?? 0) > (before.frames[p.pingFrame] ?? 0));
      assert.equal(typeof (await state(page)).rttMs, "number", "rttMs from the pings");
      if (p.serverPing) {
        // A ping from the server is answered with the pong template.
        const pongs = before.frames.pong ?? 0;
        await server.post("send", { frames: [p.serverPing] });
        await waitFor("the client's pong", async () => ((await server.stats()).frames.pong ?? 0) > pongs);
      }
      const statesBefore = (await page.evaluate(() => window.t.states)).length;
      const { silenced } = await server.post("silence");
      assert.equal(silenced, 1);
      // While silent: events this client does not get.
      await p.pushEvents(server, channel, tag, [4, 5, 6, 7, 8]);
      await waitFor("the client to leave open", async () => (await state(page)).state !== "open", 10_000);
      await waitOpen(page);
      await waitFor("the silent socket closed by the client", async () => (await server.stats()).silentClosed === before.silentClosed + 1);
      const after = await server.stats();
      assert.ok(after.connections > before.connections, "a new connection");
      assert.equal(after.clients, 1, "one open socket: the new one");
      const states = (await page.evaluate(() => window.t.states)).slice(statesBefore - 1);
      assert.equal(states[0], "open");
      assert.equal(states.at(-1), "open");
      assert.ok(states.some((s) => s !== "open"), `left open and came back (${states})`);
      const s = await state(page);
      assert.ok(s.reconnects >= 1, `reconnects ${s.reconnects}`);
      const errors = await page.evaluate(() => window.t.errors);
      assert.ok(errors.some((e) => e.kind === "heartbeat_timeout"), `the lost connection reported (${JSON.stringify(errors)})`);
      console.log(`# ${p.script}: heartbeat: states ${states.join(" → ")}; errors ${JSON.stringify(errors.map((e) => e.kind))}; ` +
        `${after.connections - before.connections} new connection(s)`);
      if (p.json.resume) {
        // The resume frame carries the last seq seen; the server replays what the silent socket missed.
        await waitFor("the missed events", async () => (await received(page, channel)).length >= 8);
        await p.pushEvents(server, channel, tag, [9]);
        const all = await waitFor("the marker", async () => {
          const r = await received(page, channel);
          return r.some((m) => m.data.n === 9) && r;
        });
        assert.deepEqual(all.map((m) => m.data.n), range(1, 9), "each once, in order");
        assert.deepEqual(all.map((m) => m.seq), range(1, 9));
        const resumes = (await server.stats()).resumes.filter((r) => r.channel === channel);
        assert.deepEqual(resumes.map((r) => r.since), [3], "resume since the last seq seen");
      } else {
        // Live events reach the new socket.
        await p.pushEvents(server, channel, tag, [9]);
        await waitFor("an event on the new socket", async () => (await received(page, channel)).some((m) => m.data.n === 9));
      }
      assert.deepEqual(page.errors, []);
    });

    if (p.json.resume) {
      test("resume after a server restart: the sequence comes back from the log, the events missed arrive once, in order", async () => {
        const { context } = await newContext();
        // A fixed reconnect delay, so that events published just after the restart are usually
        // missed and replayed (either way, each must arrive once).
        const page = await openApp(context, server, base({ reconnect: { initialDelayMs: 1000, maxDelayMs: 1000, jitter: 0 } }));
        await waitOpen(page);
        const tag = tagOf("restart");
        const channel = p.eventChannel(tag);
        await page.evaluate((c) => window.t.subscribe(c), channel);
        await waitFor("subscribed", async () => (await server.stats()).subscribers[channel] === 1);
        await p.pushEvents(server, channel, tag, [1, 2, 3]);
        await waitFor("3 events", async () => (await received(page, channel)).length === 3);
        await server.kill();
        await waitFor("the client to notice", async () => (await state(page)).state !== "open");
        await server.start();
        await p.pushEvents(server, channel, tag, [4, 5, 6]);
        await waitOpen(page);
        await waitFor("6 events", async () => (await received(page, channel)).length >= 6);
        await p.pushEvents(server, channel, tag, [7]);
        const all = await waitFor("the marker", async () => {
          const r = await received(page, channel);
          return r.some((m) => m.data.n === 7) && r;
        });
        assert.deepEqual(all.map((m) => m.data.n), range(1, 7), "each once, in order");
        assert.deepEqual(all.map((m) => m.seq), range(1, 7), "the sequence went on from the log");
        const resumes = (await server.stats()).resumes.filter((r) => r.channel === channel);
        assert.deepEqual(resumes.map((r) => r.since), [3], "one resume, since the last seq seen");
        console.log(`# ${p.script}: resume after a restart replayed ${resumes[0].replayed} of the 3 events published meanwhile`);
        assert.deepEqual(page.errors, []);
      });
    }

    test("two tabs share one socket: both get the events, a follower's publish is applied once", async () => {
      const { context } = await newContext();
      const key = freshKey();
      const before = await server.stats();
      const tabs = [];
      for (let i = 0; i < 2; i++) tabs.push(await openApp(context, server, base(), key));
      await waitFor("both open", async () => (await Promise.all(tabs.map(state))).every((s) => s.state === "open"));
      const roles = await waitFor("roles", async () => {
        const r = (await Promise.all(tabs.map(state))).map((s) => s.role);
        return r.includes("leader") && r.includes("follower") && r;
      });
      const follower = tabs[roles.indexOf("follower")];
      const leader = tabs[roles.indexOf("leader")];
      // (The previous test's socket may still be closing.)
      await waitFor("one open socket at the server", async () => (await server.stats()).clients === 1);
      const mid = await server.stats();
      assert.equal(mid.connections - before.connections, 1, "the server saw one connection");

      const tag = tagOf("tabs");
      const channel = p.eventChannel(tag);
      for (const tab of tabs) await tab.evaluate((c) => window.t.subscribe(c), channel);
      if (p.subscribeFrame) await waitFor("subscribed", async () => (await server.stats()).subscribers[channel] === 1);
      // A server without a subscribe frame sends every event to the socket: the leader passes
      // a channel's events to a follower once the follower's subscribe has crossed the tab bus.
      else await new Promise((r) => setTimeout(r, 300));
      await p.pushEvents(server, channel, tag, [1, 2, 3]);
      for (const tab of [leader, follower]) {
        const got = await waitFor("3 events in each tab", async () => {
          const r = await received(tab, channel);
          return r.length >= 3 && r;
        });
        assert.deepEqual(got.map((m) => m.data.n), [1, 2, 3]);
      }

      const [pch, pev, pdata] = p.publishTo(tag);
      const result = await follower.evaluate(({ pch, pev, pdata }) => window.t.publish(pch, pev, { ...pdata, n: 1 }), { pch, pev, pdata });
      assert.equal(result.status, "acked", `the follower's publish (${JSON.stringify(result)})`);
      const stats = await server.stats();
      assert.deepEqual(p.applied(stats, tag), [{ id: result.id, n: 1 }], "applied once");
      assert.equal(stats.applied[result.id], 1);
      await waitFor("both outboxes empty", async () => (await Promise.all(tabs.map(state))).every((s) => s.outbox.depth === 0));
      assert.equal((await server.stats()).connections - before.connections, 1, "still one connection");
      for (const tab of tabs) assert.deepEqual(tab.errors, []);
    });

    test("on(\"message\") gets the frames that match no declared shape", async () => {
      const { context } = await newContext();
      const page = await openApp(context, server, base());
      await waitOpen(page);
      const tag = tagOf("raw");
      const channel = p.eventChannel(tag);
      await page.evaluate((c) => window.t.subscribe(c), channel);
      if (p.subscribeFrame) await waitFor("subscribed", async () => (await server.stats()).subscribers[channel] === 1);
      const event = p.eventFrame(channel, tag, 1);
      await server.post("send", { frames: [...p.raw, event, "plain text, not JSON", "[1,2,3]"] });
      await waitFor("the event", async () => (await received(page, channel)).length === 1);
      // The channel server's own "subscribed" confirmation is such a frame too; it is not one of these.
      const ours = async () => (await page.evaluate(() => window.t.messages)).filter((m) => m?.action !== "subscribed");
      const messages = await waitFor("the raw frames", async () => {
        const m = await ours();
        return m.length >= p.raw.length + 2 && m;
      });
      // Frames that are JSON (objects of no declared shape, a list): as parsed JSON; text that
      // is not JSON: the text, as a string.
      assert.deepEqual(messages, [...p.raw, "plain text, not JSON", [1, 2, 3]], "each once, in order");
      p.checkEvent((await received(page, channel))[0], channel, tag, 1);
      assert.equal((await state(page)).state, "open");
      assert.deepEqual(page.errors, []);
    });

    test("options: bad ones are refused at creation with an error naming the field", async () => {
      const { context } = await newContext();
      const page = await context.newPage();
      page.errors = [];
      page.on("pageerror", (e) => page.errors.push(e.message));
      await page.goto(`${site.origin}/json-app.html`);
      await page.waitForFunction(() => window.ready === true);
      const good = { url: wsUrl(server), protocol: "json", storageKey: freshKey(), autoConnect: false, json: p.json };
      assert.equal(await page.evaluate((o) => window.tryCreate(o), good), null, "the good options are taken");
      const cases = [...p.badOptions, [(o) => ({ ...o, json: undefined }), /options\.json/]];
      const wrong = [];
      for (const [change, message] of cases) {
        const bad = JSON.parse(JSON.stringify(change(good)));
        const error = await page.evaluate((o) => window.tryCreate(o), bad);
        if (!error || !message.test(error.message)) {
          wrong.push(`${JSON.stringify(bad.json)}: expected an error matching ${message}, got ${error ? JSON.stringify(error.message) : "a client"}`);
        }
      }
      assert.deepEqual(wrong, [], "every bad option refused at creation, naming the field");
      assert.deepEqual(page.errors, []);
    });
  });
}
