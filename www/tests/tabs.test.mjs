// Cross-tab sync with real tabs (pages of one browser context) in headless Chromium, against
// the real relay: one connection for all tabs, follower publishes, leader failover with
// nothing lost, the storage-event fallback, the election without Web Locks, forged messages.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, openTab, startRelay, startStatic, state, waitFor } from "./harness.mjs";

let relay, site, browser;
let keys = 0;
const freshKey = () => `tabs-${process.pid}-${++keys}`;

before(async () => {
  relay = await startRelay();
  site = await startStatic();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await relay?.stop();
});

async function openTabs(n, flags = "") {
  const context = await browser.newContext();
  const key = freshKey();
  const tabs = [];
  for (let i = 0; i < n; i++) tabs.push(await openTab(context, site.origin, relay, key, flags));
  await waitFor("every tab open", async () => {
    const states = await Promise.all(tabs.map(state));
    return states.every((s) => s.state === "open" && s.role !== "pending");
  });
  return { context, tabs, key };
}

async function roles(tabs) {
  return Promise.all(tabs.map(async (t) => (await state(t)).role));
}

async function leaderOf(tabs) {
  const r = await roles(tabs);
  assert.equal(r.filter((x) => x === "leader").length, 1, `exactly one leader: ${r}`);
  return tabs[r.indexOf("leader")];
}

test("three tabs share one connection to the relay", async () => {
  const before = (await relay.stats()).connections;
  const { context, tabs } = await openTabs(3);
  const leader = await leaderOf(tabs);
  assert.deepEqual((await roles(tabs)).sort(), ["follower", "follower", "leader"]);
  assert.equal((await state(leader)).tabs, 2, "the leader links two followers");
  assert.equal((await relay.stats()).connections - before, 1, "the relay sees one connection");
  const sessions = new Set(await Promise.all(tabs.map(async (t) => (await state(t)).session)));
  assert.equal(sessions.size, 1, "every tab shows the leader's session");
  await context.close();
});

test("a follower's publish reaches the relay and the other tabs' subscribers", async () => {
  const { context, tabs } = await openTabs(3);
  const channel = `ch-${freshKey()}`;
  await Promise.all(tabs.map((t) => t.evaluate((c) => window.t.subscribe(c), channel)));
  const leader = await leaderOf(tabs);
  const [follower, other] = tabs.filter((t) => t !== leader);
  await waitFor("subscriptions live", async () => (await relay.stats()).subscriptions >= 1);
  await new Promise((r) => setTimeout(r, 100));
  const result = await follower.evaluate((c) => window.t.publish(c, "goal", { minute: 12 }), channel);
  assert.equal(result.status, "acked");
  assert.deepEqual(await relay.ids(channel), [result.id], "stored once by the relay");
  for (const tab of [leader, follower, other]) {
    const got = await waitFor("event in every tab", () => tab.evaluate(() => window.t.received.length > 0 && window.t.received));
    assert.equal(got[0].data.minute, 12);
    assert.equal(got[0].id, result.id);
  }
  await context.close();
});

test("closing the leader tab hands over at once and nothing published meanwhile is lost", async () => {
  const { context, tabs } = await openTabs(3);
  const channel = `failover-${freshKey()}`;
  const leader = await leaderOf(tabs);
  const followers = tabs.filter((t) => t !== leader);
  // A follower publishes a steady stream while the leader tab goes away.
  const publishing = followers[0].evaluate(async (c) => {
    const ids = [];
    for (let i = 0; i < 60; i++) {
      const r = await Promise.race([window.t.publish(c, "tick", { i }), new Promise((ok) => setTimeout(() => ok(null), 3000))]);
      if (r) ids.push(r.id);
      await new Promise((ok) => setTimeout(ok, 10));
    }
    return ids;
  }, channel);
  await new Promise((r) => setTimeout(r, 200));
  const closedAt = Date.now();
  await leader.close();
  await waitFor("a new leader", async () => (await roles(followers)).includes("leader"));
  const tookOverMs = Date.now() - closedAt;
  await waitFor("the new leader connected", async () => (await Promise.all(followers.map(state))).every((s) => s.state === "open"));
  const published = await publishing;
  assert.equal(published.length, 60, "every publish resolved (acked, or queued while no leader)");
  await waitFor("drained", async () => (await Promise.all(followers.map(state))).every((s) => s.outbox.depth === 0), 20_000);
  const stored = await relay.ids(channel);
  assert.deepEqual(stored, published, "all 60 stored, each once, in publish order");
  assert.ok(tookOverMs < 2_000, `took over in ${tookOverMs} ms`);
  await context.close();
});

test("every tab shows the same connection state and outbox, and they change together", async () => {
  const { context, tabs } = await openTabs(3);
  const leader = await leaderOf(tabs);
  const follower = tabs.find((t) => t !== leader);
  await relay.post("kill");
  // Followers mirror the leader within a bus hop, so the tabs agree whenever sampled together.
  await waitFor("every tab sees the loss", async () => {
    const s = await Promise.all(tabs.map(state));
    return s.every((x) => x.state !== "open" && x.state === s[0].state && x.attempt === s[0].attempt);
  });
  const channel = `together-${freshKey()}`;
  const queued = await follower.evaluate((c) => window.t.publish(c, "while-down", 1), channel);
  assert.equal(queued.status, "queued");
  await waitFor("every tab counts the entry", async () => (await Promise.all(tabs.map(state))).every((s) => s.outbox.depth === 1));
  const states = await Promise.all(tabs.map(state));
  assert.ok(states.every((s) => s.state !== "open"), `${states.map((s) => s.state)}`);
  assert.equal(new Set(states.map((s) => s.online)).size, 1);
  await relay.post("start");
  await waitFor("every tab open and drained", async () => (await Promise.all(tabs.map(state))).every((s) => s.state === "open" && s.outbox.depth === 0));
  assert.deepEqual(await relay.ids(channel), [queued.id]);
  await context.close();
});

test("broadcast reaches the other tabs; shareConnection false gives each tab its own socket", async () => {
  const shared = await openTabs(2);
  await shared.tabs[0].evaluate(() => window.t.client.broadcast("note", { hello: "tabs" }));
  const got = await waitFor("broadcast", () => shared.tabs[1].evaluate(() => window.t.broadcasts.length > 0 && window.t.broadcasts));
  assert.deepEqual(got[0].data, { hello: "tabs" });
  assert.equal(got[0].from, await shared.tabs[0].evaluate(() => window.t.client.tabId));
  assert.equal(await shared.tabs[0].evaluate(() => window.t.broadcasts.length), 0, "not echoed to the sender");
  await shared.context.close();

  const before = (await relay.stats()).accepted;
  const solo = await openTabs(2, "&solo=1");
  assert.deepEqual(await roles(solo.tabs), ["solo", "solo"]);
  const sessions = await Promise.all(solo.tabs.map(async (t) => (await state(t)).session));
  assert.notEqual(sessions[0], sessions[1], "each tab has its own connection");
  assert.ok((await relay.stats()).accepted - before >= 2);
  await solo.tabs[1].evaluate(() => window.t.client.broadcast("note", 42));
  const seen = await waitFor("broadcast between solo tabs", () => solo.tabs[0].evaluate(() => window.t.broadcasts.length > 0 && window.t.broadcasts));
  assert.equal(seen[0].data, 42);
  await solo.context.close();
});

test("without BroadcastChannel the tabs talk over storage events", async () => {
  const { context, tabs } = await openTabs(2, "&nobc=1");
  for (const t of tabs) assert.equal((await state(t)).bus, "storage");
  const leader = await leaderOf(tabs);
  const follower = tabs.find((t) => t !== leader);
  const channel = `storage-${freshKey()}`;
  await leader.evaluate((c) => window.t.subscribe(c), channel);
  await new Promise((r) => setTimeout(r, 200));
  const result = await follower.evaluate((c) => window.t.publish(c, "goal", { via: "storage" }), channel);
  assert.equal(result.status, "acked");
  const got = await waitFor("event in the leader tab", () => leader.evaluate(() => window.t.received.length > 0 && window.t.received));
  assert.equal(got[0].data.via, "storage");
  assert.deepEqual(await relay.ids(channel), [result.id]);
  await context.close();
});

test("without Web Locks the tabs elect exactly one leader and replace it when it closes", async () => {
  const { context, tabs } = await openTabs(3, "&nolocks=1");
  const leader = await leaderOf(tabs);
  const rest = tabs.filter((t) => t !== leader);
  await leader.close();
  await waitFor("one new leader", async () => (await roles(rest)).filter((r) => r === "leader").length === 1);
  await waitFor("open again", async () => (await Promise.all(rest.map(state))).every((s) => s.state === "open"));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await roles(rest)).filter((r) => r === "leader").length, 1, "still exactly one");
  await context.close();
});

test("forged and malformed messages on the channel are counted and ignored", async () => {
  const { context, tabs, key } = await openTabs(2);
  const leader = await leaderOf(tabs);
  const follower = tabs.find((t) => t !== leader);
  const ns = `syncline:${key}`;
  // Another page of the origin (an attacker's script, or another library) posts junk.
  const intruder = await context.newPage();
  await intruder.goto(`${site.origin}/tab.html?relay=${encodeURIComponent(relay.ws)}&key=elsewhere`);
  await intruder.evaluate((name) => {
    const bc = new BroadcastChannel(name);
    for (const junk of [
      "not json",
      JSON.stringify({ type: "someone-else" }),
      JSON.stringify({ syncline: 2, ns: "syncline:other", from: "x", k: "who" }),
      JSON.stringify({ syncline: 9, ns: name, from: "x", k: "who" }),
      JSON.stringify({ syncline: 2, ns: name, from: "x", k: "leader", term: -5 }),
      JSON.stringify({ syncline: 2, ns: name, from: "x", k: "up", f: "[[[[garbage" }),
      "{".repeat(5000),
      { not: "a string" },
    ]) bc.postMessage(junk);
    bc.close();
  }, ns);
  await waitFor("rejections counted", async () => (await state(follower)).tabMessagesRejected >= 6);
  const s = await state(leader);
  assert.ok(s.tabMessagesRejected >= 6, `leader counted ${s.tabMessagesRejected}`);
  assert.equal(s.state, "open");
  assert.deepEqual((await roles(tabs)).sort(), ["follower", "leader"], "nothing changed hands");
  for (const t of tabs) assert.deepEqual(t.errors, [], "no page errors");
  const channel = `after-junk-${freshKey()}`;
  const result = await follower.evaluate((c) => window.t.publish(c, "ok", 1), channel);
  assert.equal(result.status, "acked");
  await context.close();
});

test("forged leader and bye messages from another page of the origin leave the follower working", async () => {
  const { context, tabs, key } = await openTabs(2);
  const leader = await leaderOf(tabs);
  const follower = tabs.find((t) => t !== leader);
  const channel = `forged-${freshKey()}`;
  await follower.evaluate((c) => window.t.subscribe(c), channel);
  await waitFor("subscription live", async () => (await relay.stats()).subscriptions >= 1);
  const leaderId = await leader.evaluate(() => window.t.client.tabId);
  const followerId = await follower.evaluate(() => window.t.client.tabId);
  const ns = `syncline:${key}`;
  // Another page of the origin listens to the bus, learns the leader's announcement by asking
  // who leads, and replays it with forged senders and terms.
  const intruder = await context.newPage();
  await intruder.goto(`${site.origin}/tab.html?relay=${encodeURIComponent(relay.ws)}&key=elsewhere-${key}`);
  const heard = await intruder.evaluate(async ({ name, leaderId }) => {
    const bc = new BroadcastChannel(name);
    const announced = new Promise((ok) => {
      bc.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.k === "leader" && m.from === leaderId) ok(m);
      };
    });
    bc.postMessage(JSON.stringify({ syncline: 2, ns: name, from: "intruder", k: "who", term: 0 }));
    const m = await announced;
    window.forge = (message) => bc.postMessage(JSON.stringify({ syncline: 2, ns: name, ...message }));
    return m;
  }, { name: ns, leaderId });
  assert.ok(Number.isSafeInteger(heard.term) && heard.term > 0, `the leader announces a term: ${JSON.stringify(heard)}`);
  const term = heard.term;
  await intruder.evaluate(({ leaderId, term }) => {
    // A stale leader of an older term, a rival claiming the same term, and a goodbye in the
    // real leader's name (exactly as it would say it).
    window.forge({ from: "stale-tab", k: "leader", term: Math.max(0, term - 1) });
    window.forge({ from: "rival-tab", k: "leader", term });
    window.forge({ from: leaderId, k: "bye", term });
  }, { leaderId, term });
  await new Promise((r) => setTimeout(r, 300));
  const started = Date.now();
  const published = await follower.evaluate((c) => Promise.race([
    window.t.publish(c, "after-forgery", { n: 1 }),
    new Promise((ok) => setTimeout(() => ok({ status: "no answer within 5 s" }), 5_000)),
  ]), channel);
  assert.equal(published.status, "acked", `the follower's publish reached the relay (${Date.now() - started} ms)`);
  assert.deepEqual(await relay.ids(channel), [published.id]);
  await waitFor("the follower hears its own event", () => follower.evaluate(() => window.t.received.length >= 1), 5_000);
  assert.equal((await state(follower)).role, "follower");
  // A forged leader of a higher term, sent to the follower alone: it cannot answer the link,
  // so the follower asks again and the real leader (the lock holder) answers with a higher term.
  await intruder.evaluate(({ followerId, term }) => window.forge({ from: "usurper", to: followerId, k: "leader", term: term + 5 }), { followerId, term });
  await new Promise((r) => setTimeout(r, 100));
  await leader.evaluate((c) => window.t.publish(c, "from-leader", { n: 2 }), channel);
  await waitFor("events keep arriving in the follower", () => follower.evaluate(() => window.t.received.length >= 2), 5_000);
  const again = await follower.evaluate((c) => Promise.race([
    window.t.publish(c, "after-usurper", { n: 3 }),
    new Promise((ok) => setTimeout(() => ok({ status: "no answer within 5 s" }), 5_000)),
  ]), channel);
  assert.equal(again.status, "acked");
  assert.equal((await state(follower)).role, "follower");
  assert.equal(await follower.evaluate(() => window.t.client.getState().session), (await state(leader)).session, "linked to the real leader again");
  await context.close();
});
