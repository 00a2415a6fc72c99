// The React hooks in real Chromium, under StrictMode, with the real client against the real
// relay: every hook of syncline/react, read from a probe page built by Vite.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launch, root, startRelay, startStatic, waitFor } from "./harness.mjs";

let relay, site, browser;
let n = 0;

before(async () => {
  relay = await startRelay();
  site = await startStatic(join(root, "www/tests/hooks/dist"));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await relay?.stop();
});

async function openProbe(context, key = `hooks-${process.pid}-${++n}`, channel = `probe-${n}`) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(`${site.origin}/?relay=${encodeURIComponent(relay.ws)}&key=${key}&channel=${channel}`);
  return page;
}

const probe = (page) => page.evaluate(() => JSON.parse(document.getElementById("probe")?.textContent ?? "null"));
const until = (what, page, check, ms) => waitFor(what, async () => { const p = await probe(page); return p && check(p) ? p : null; }, ms);

test("the provider makes one client under StrictMode and useConnection shows it open", async () => {
  const context = await browser.newContext();
  const page = await openProbe(context);
  const p = await until("open", page, (x) => x.ready && x.state === "open" && x.role === "leader");
  assert.equal(p.online, true, "useOnline");
  await new Promise((r) => setTimeout(r, 300));
  const stats = await relay.stats();
  assert.equal(stats.connections, 1, "StrictMode's double mount leaves one connection");
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("useChannel, useEvent, usePublish and useRequest work together", async () => {
  const context = await browser.newContext();
  const page = await openProbe(context);
  await until("open", page, (x) => x.state === "open");
  await new Promise((r) => setTimeout(r, 200));
  const result = await page.evaluate(() => window.probe.publish(new URLSearchParams(location.search).get("channel"), "goal", { minute: 7 }));
  assert.equal(result.status, "acked");
  const p = await until("delivered to the hooks", page, (x) => x.goals === 1 && x.latest?.data?.minute === 7);
  assert.equal(p.latest.event, "goal");
  const answer = await page.evaluate(() => window.probe.request("echo", { q: 1 }));
  assert.deepEqual(answer, { q: 1 });
  await until("metrics counted", page, (x) => x.messagesIn > 0);
  await context.close();
});

test("useDocument shows the change at once, pending, then confirmed", async () => {
  const context = await browser.newContext();
  const page = await openProbe(context);
  await until("open", page, (x) => x.state === "open");
  await relay.control("faults", JSON.stringify({ ackDelayMs: 500 }));
  // The ack is held back 500 ms; two frames after mutate() the component already shows it.
  // (The server's broadcast of the change is not delayed, so `pending` may already be 0.)
  const seen = await page.evaluate(() => new Promise((resolve) => {
    let acked = false;
    window.probe.mutate({ home: 3 }).then(() => { acked = true; });
    requestAnimationFrame(() => requestAnimationFrame(() => resolve({ ...JSON.parse(document.getElementById("probe").textContent), acked })));
  }));
  assert.deepEqual(seen.doc.value, { home: 3 }, "visible in the component");
  assert.equal(seen.acked, false, "before the ack");
  await until("confirmed", page, (x) => x.doc.pending === 0 && x.doc.value?.home === 3);
  await relay.control("faults", "{}");
  await context.close();
});

test("useOutbox and useConnection follow the relay going away and coming back", async () => {
  const context = await browser.newContext();
  const page = await openProbe(context);
  await until("open", page, (x) => x.state === "open");
  await relay.post("kill");
  await until("not open", page, (x) => x.state !== "open");
  const result = await page.evaluate(() => window.probe.publish("outbox-hook", "e", 1));
  assert.equal(result.status, "queued");
  await until("outbox depth 1", page, (x) => x.outbox.depth === 1);
  await relay.post("start");
  await page.evaluate(() => window.probe.reconnectNow());
  await until("drained", page, (x) => x.state === "open" && x.outbox.depth === 0, 10_000);
  await context.close();
});

test("useOnline follows the browser going offline", async () => {
  const context = await browser.newContext();
  const page = await openProbe(context);
  await until("open", page, (x) => x.state === "open");
  await context.setOffline(true);
  await until("offline", page, (x) => x.online === false);
  await context.setOffline(false);
  await until("online and open", page, (x) => x.online === true && x.state === "open", 15_000);
  await context.close();
});

test("useTabRole tells the leader from the follower", async () => {
  const context = await browser.newContext();
  const key = `roles-${process.pid}`;
  const first = await openProbe(context, key, "roles");
  await until("leader", first, (x) => x.role === "leader" && x.state === "open");
  const second = await openProbe(context, key, "roles");
  const p = await until("follower", second, (x) => x.role === "follower" && x.state === "open");
  assert.equal(p.role, "follower");
  await context.close();
});
