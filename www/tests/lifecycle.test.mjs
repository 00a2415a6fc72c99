// Page lifecycle with real tabs in headless Chromium against the real relay: a leader tab that
// is frozen lets another tab lead at once, as a closing tab does, and joins the others again
// when it runs again. Headless Chromium keeps every page visible and DevTools'
// Page.setWebLifecycleState does not freeze a visible page, so the test does what the browser
// does: the page gets its `freeze` event, then runs nothing (paused by the debugger) until
// it is let go and gets `resume`.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, openTab, startRelay, startStatic, state, waitFor } from "./harness.mjs";

let relay, site, browser;

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

const roleOf = async (tab) => (await state(tab)).role;

test("a frozen leader lets another tab lead, and a follower's publish reaches the relay meanwhile", async () => {
  const context = await browser.newContext();
  const key = `lifecycle-${process.pid}`;
  const tabs = [await openTab(context, site.origin, relay, key), await openTab(context, site.origin, relay, key)];
  await waitFor("one leader, one follower", async () => {
    const roles = (await Promise.all(tabs.map(roleOf))).sort();
    return roles[0] === "follower" && roles[1] === "leader";
  });
  const roles = await Promise.all(tabs.map(roleOf));
  const leader = tabs[roles.indexOf("leader")];
  const follower = tabs[roles.indexOf("follower")];
  const cdp = await context.newCDPSession(leader);

  await cdp.send("Debugger.enable");
  await leader.evaluate(() => document.dispatchEvent(new Event("freeze")));
  const paused = new Promise((resolve) => cdp.once("Debugger.paused", resolve));
  await cdp.send("Debugger.pause");
  // The next statement the page runs stops it: this one, left pending while it is stopped.
  const stopped = cdp.send("Runtime.evaluate", { expression: "0" });
  await paused;
  // A frozen page runs nothing: only by letting go on `freeze` can the follower take over.
  await waitFor("the follower leads", async () => (await roleOf(follower)) === "leader", 5_000);
  await waitFor("its own connection", async () => (await state(follower)).state === "open", 5_000);
  const channel = `frozen-${process.pid}`;
  const result = await follower.evaluate((c) => window.t.publish(c, "e", { n: 1 }), channel);
  assert.equal(result.status, "acked", "published through the new leader");
  assert.deepEqual(await relay.ids(channel), [result.id]);

  // Running again, the old leader joins as a follower and its publish is stored too.
  await cdp.send("Debugger.resume");
  await stopped;
  await leader.evaluate(() => document.dispatchEvent(new Event("resume")));
  await waitFor("the old leader follows", async () => (await roleOf(leader)) === "follower", 5_000);
  const again = await leader.evaluate((c) => window.t.publish(c, "e", { n: 2 }), channel);
  assert.equal(again.status, "acked");
  assert.deepEqual((await relay.ids(channel)).sort(), [result.id, again.id].sort());
  assert.equal((await Promise.all(tabs.map(roleOf))).filter((r) => r === "leader").length, 1);
  assert.deepEqual([...leader.errors, ...follower.errors], []);
  await context.close();
});
