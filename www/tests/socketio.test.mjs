// syncline against the real `socket.io` server from npm (tests/sio-server.mjs, a child process
// that plays an app's existing backend): connect with auth, rooms joined by an app event,
// acks both ways, durable publishes across a killed server, server-side disconnects, a
// connect refused by middleware, namespaces, and tabs sharing one Socket.IO connection.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, startNodeServer, startStatic, waitFor } from "./harness.mjs";

let server, site, browser;
let keys = 0;
const freshKey = () => `sio-${process.pid}-${++keys}`;

/** The Socket.IO server as a child process (see `startNodeServer`). */
const startSioServer = () => startNodeServer("sio-server.mjs");

before(async () => {
  server = await startSioServer();
  site = await startStatic();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await server?.stop();
});

async function openTab(context, { key = freshKey(), token = "good", url = server.url, flags = "" } = {}) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  const q = new URLSearchParams({ url, key });
  if (token !== null) q.set("token", token);
  await page.goto(`${site.origin}/sio.html?${q}${flags}`);
  await page.waitForFunction(() => window.ready === true);
  return page;
}

const state = (page) => page.evaluate(() => window.t.state());
const waitOpen = (page) => waitFor("open", async () => (await state(page)).state === "open");

test("connects with auth, joins a room by an app event, and gets what is emitted to the room", async () => {
  const context = await browser.newContext();
  const tab = await openTab(context, { flags: "&solo" });
  await waitOpen(tab);
  const s = await state(tab);
  assert.ok(typeof s.session === "string" && s.session.length > 0, "the session is the Socket.IO id");
  assert.deepEqual(await tab.evaluate(() => window.t.emitWithAck("join", "room-a")), { ok: true, room: "room-a" });
  await tab.evaluate(() => window.t.listen("news"));
  await server.post("emit", { room: "room-b", event: "news", args: [{ headline: "not for room-a" }] });
  await server.post("emit", { room: "room-a", event: "news", args: [{ headline: "one" }] });
  await server.post("emit", { room: "room-a", event: "news", args: [{ headline: "two" }, 2, "x"] });
  const got = await waitFor("two room events", async () => {
    const r = await tab.evaluate(() => window.t.received.news);
    return r.length >= 2 && r;
  });
  assert.deepEqual(got, [[{ headline: "one" }], [{ headline: "two" }, 2, "x"]], "only room-a's events, with all their arguments");
  assert.deepEqual(await tab.evaluate(() => window.t.errors), []);
  assert.deepEqual(tab.errors, []);
  await context.close();
});

test("emit with ack both ways: emitWithAck resolves with the ack, server events that ask for one are acked", async () => {
  const context = await browser.newContext();
  const tab = await openTab(context, { flags: "&solo" });
  await waitOpen(tab);
  assert.equal(await tab.evaluate(() => window.t.emitWithAck("sum", 2, 3)), 5);
  assert.deepEqual(await tab.evaluate(() => window.t.emitWithAck("echo", { deep: [1, { x: "é" }] })), { deep: [1, { x: "é" }] });
  await tab.evaluate(() => window.t.emit("typing", { who: "ana" }, true));
  await waitFor("the emit", async () => (await server.stats()).emits.some((e) => e.event === "typing"));
  const emitted = (await server.stats()).emits.find((e) => e.event === "typing");
  assert.deepEqual(emitted.args, [{ who: "ana" }, true]);
  const refused = await tab.evaluate(async () => {
    const kind = (p) => p.then(() => "sent", (e) => e.kind);
    return [await kind(window.t.emit("disconnect", 1)), await kind(window.t.emitWithAck("connect")),
      await kind(window.t.publish("newListener", "e", 1)), await kind(window.t.emit("deep", JSON.parse("[".repeat(125) + "]".repeat(125))))];
  });
  assert.deepEqual(refused, ["invalid_argument", "invalid_argument", "invalid_argument", "invalid_argument"],
    "reserved names (which would close the connection) and data too deep to wrap are refused");
  const answer = await server.post("emit-with-ack", { event: "ping-me", args: [1] });
  assert.equal(answer.err, null, "every client acked within the server's timeout");
  assert.ok(answer.responses.length >= 1);
  await context.close();
});

test("a connect refused by middleware surfaces CONNECT_ERROR to JS and is retried", async () => {
  const context = await browser.newContext();
  const tab = await openTab(context, { token: "bad", flags: "&solo" });
  const error = await waitFor("the refusal", async () => (await tab.evaluate(() => window.t.errors))[0]);
  assert.equal(error.kind, "auth_rejected");
  assert.match(error.message, /unauthorized/);
  const s = await state(tab);
  assert.notEqual(s.state, "open");
  assert.equal(s.lastError.kind, "auth_rejected");
  await waitFor("a second attempt", async () => (await tab.evaluate(() => window.t.errors)).length >= 2);
  await context.close();
});

test("a server-side disconnect reconnects with backoff", async () => {
  const context = await browser.newContext();
  const tab = await openTab(context, { flags: "&solo" });
  await waitOpen(tab);
  const first = (await state(tab)).session;
  const seen = [];
  await server.post("disconnect-all");
  // Sample the state until open again: it must pass through "waiting" with a retry time.
  await waitFor("open again", async () => {
    const s = await state(tab);
    seen.push(s);
    return s.state === "open" && s.session !== first;
  });
  assert.ok(seen.some((s) => s.state === "waiting" && s.retryAt !== null), "waited for the backoff");
  const s = await state(tab);
  assert.equal(s.reconnects, 1);
  const kinds = (await tab.evaluate(() => window.t.errors)).map((e) => e.kind);
  assert.deepEqual(kinds, ["server_disconnect"]);
  await context.close();
});

test("durable publishes while the server is down are delivered after restart and acked once", async () => {
  const context = await browser.newContext();
  const tab = await openTab(context, { flags: "&solo" });
  await waitOpen(tab);
  const before = await tab.evaluate(() => window.t.publish("orders", "created", { n: 0 }));
  assert.equal(before.status, "acked");
  await server.kill();
  await waitFor("the client to notice", async () => (await state(tab)).state !== "open", 60_000);
  const queued = await tab.evaluate(async () => {
    const out = [];
    for (let n = 1; n <= 20; n++) out.push(await window.t.publish("orders", "created", { n }));
    return out;
  });
  assert.ok(queued.every((r) => r.status === "queued"), "stored locally while the server is down");
  await tab.evaluate(() => window.t.emit("offline-note", { held: true }));
  assert.equal((await state(tab)).buffered, 1, "the emit waits in memory");
  assert.equal((await state(tab)).outbox.depth, 20);
  await server.start();
  await waitFor("the drain", async () => (await state(tab)).outbox.depth === 0, 30_000);
  const stats = await server.stats();
  const ids = new Set(queued.map((r) => r.id));
  const stored = stats.ids.filter((id) => ids.has(id));
  assert.equal(stored.length, 20, "every queued publish reached the server");
  assert.equal(new Set(stored).size, 20, "each stored once");
  assert.equal(stats.duplicates, 0, "nothing acked was sent again (counted since the restart)");
  const delivered = await tab.evaluate(() => window.t.delivered.map((d) => d.id));
  for (const id of ids) assert.equal(delivered.filter((d) => d === id).length, 1, `acked once: ${id}`);
  const notes = (await server.stats()).emits.filter((e) => e.event === "offline-note");
  assert.deepEqual(notes.map((e) => e.args), [[{ held: true }]], "the held emit went out once after the restart");
  await context.close();
});

test("a refused publish becomes a dead letter", async () => {
  const context = await browser.newContext();
  const tab = await openTab(context, { flags: "&solo" });
  await waitOpen(tab);
  const error = await tab.evaluate(() => window.t.publish("refused.x", "e", 1).then(() => null, (e) => ({ kind: e.kind, message: e.message })));
  assert.equal(error.kind, "rejected");
  assert.match(error.message, /refused by server/);
  assert.equal(await tab.evaluate(() => window.t.client.deadLetters().length), 1);
  await context.close();
});

test("a namespace from the URL, with its own middleware", async () => {
  const context = await browser.newContext();
  const tab = await openTab(context, { url: `${server.url}/admin`, token: "admin", flags: "&solo" });
  await waitOpen(tab);
  await tab.evaluate(() => window.t.listen("report"));
  await server.post("emit", { namespace: "/", event: "report", args: ["main"] });
  await server.post("emit", { namespace: "/admin", event: "report", args: ["admin"] });
  const got = await waitFor("the admin event", async () => {
    const r = await tab.evaluate(() => window.t.received.report);
    return r.length > 0 && r;
  });
  assert.deepEqual(got, [["admin"]]);
  await context.close();
});

test("tabs share one Socket.IO connection: a follower's emitWithAck, room events and durable publish", async () => {
  const context = await browser.newContext();
  const key = freshKey();
  const connectionsBefore = (await server.stats()).connections;
  const a = await openTab(context, { key });
  await waitOpen(a);
  const b = await openTab(context, { key });
  await waitFor("roles", async () => {
    const roles = [(await state(a)).role, (await state(b)).role].sort();
    return roles[0] === "follower" && roles[1] === "leader";
  });
  await waitOpen(b);
  assert.equal((await server.stats()).connections - connectionsBefore, 1, "one socket for both tabs");
  const follower = (await state(a)).role === "follower" ? a : b;
  assert.deepEqual(await follower.evaluate(() => window.t.emitWithAck("join", "room-tabs")), { ok: true, room: "room-tabs" });
  await follower.evaluate(() => window.t.listen("tick"));
  await server.post("emit", { room: "room-tabs", event: "tick", args: [7, { t: 1 }] });
  const got = await waitFor("the tick", async () => {
    const r = await follower.evaluate(() => window.t.received.tick);
    return r.length > 0 && r;
  });
  assert.deepEqual(got, [[7, { t: 1 }]]);
  const result = await follower.evaluate(() => window.t.publish("orders", "created", { from: "follower" }));
  assert.equal(result.status, "acked");
  const stats = await server.stats();
  assert.ok(stats.ids.includes(result.id), "the follower's publish is stored");
  assert.equal(stats.duplicates, 0, "and was not sent twice");
  await context.close();
});

test("malformed and unsupported packets from the server are reported, and the client carries on", async () => {
  const context = await browser.newContext();
  const tab = await openTab(context, { flags: "&solo" });
  await waitOpen(tab);
  for (const text of ["42[", "7", "42/elsewhere,[\"x\"]", "45", "451-[\"file\",{\"_placeholder\":true,\"num\":0}]"]) {
    const { sent } = await server.post("raw", { text });
    assert.ok(sent >= 1);
  }
  const kinds = await waitFor("five errors", async () => {
    const e = await tab.evaluate(() => window.t.errors.map((x) => x.kind));
    return e.length >= 5 && e;
  });
  assert.deepEqual(kinds, ["malformed_frame", "malformed_frame", "malformed_frame", "malformed_frame", "unsupported"]);
  assert.equal((await state(tab)).state, "open");
  assert.equal(await tab.evaluate(() => window.t.emitWithAck("sum", 1, 1)), 2, "still working");
  assert.deepEqual(tab.errors, [], "no page error (a wasm trap would be one)");
  await context.close();
});
