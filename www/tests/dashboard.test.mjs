// The demo dashboard in real Chromium tabs, served by the release relay: it connects, an event
// published in one tab appears in another, events are queued while the relay is dead and
// delivered when it returns, the indicator follows the browser going offline, and refused
// events become dead letters. Saves target/e2e/dashboard.png.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launch, root, startRelay, waitFor } from "./harness.mjs";

let relay, browser;

before(async () => {
  relay = await startRelay(["--static", join(root, "www/dist"), "--faults", JSON.stringify({ rejectChannels: ["refused."] })]);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

async function openDashboard(context) {
  const page = await context.newPage({ viewport: { width: 1360, height: 860 } });
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(`${relay.http}/`);
  return page;
}

const label = (page) => page.textContent("[data-testid=indicator-label]");
const waitLabel = (page, text, ms = 15_000) => waitFor(`indicator "${text}"`, async () => (await label(page)) === text, ms);

async function publish(page, player) {
  await page.fill("[data-testid=player]", player);
  await page.click("[data-testid=publish]");
}

function badgeOf(page, player) {
  return page.evaluate((p) => {
    const li = [...document.querySelectorAll("[data-testid=feed-item]")].find((x) => x.textContent.includes(p));
    return li ? li.querySelector("[data-testid=badge]")?.textContent ?? "" : null;
  }, player);
}

test("the dashboard loads and connects", async () => {
  const context = await browser.newContext();
  const page = await openDashboard(context);
  await waitLabel(page, "Live");
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("an event published in one tab appears in another", async () => {
  const context = await browser.newContext();
  const a = await openDashboard(context);
  const b = await openDashboard(context);
  await waitLabel(a, "Live");
  await waitLabel(b, "Live");
  await publish(a, "Across Tabs");
  await waitFor("the event in the other tab", async () => (await badgeOf(b, "Across Tabs")) !== null);
  await waitFor("delivered in the first tab", async () => (await badgeOf(a, "Across Tabs")) === "delivered");
  const roles = await Promise.all([a, b].map((p) => p.evaluate(() => window.synclineClient.getState().role)));
  assert.deepEqual([...roles].sort(), ["follower", "leader"]);
  const leader = roles[0] === "leader" ? a : b;
  await leader.click("[data-testid=indicator] button");
  mkdirSync(join(root, "target/e2e"), { recursive: true });
  await leader.screenshot({ path: join(root, "target/e2e/dashboard.png") });
  await context.close();
});

test("with the relay killed events show as queued and are delivered when it restarts", async () => {
  const context = await browser.newContext();
  const page = await openDashboard(context);
  await waitLabel(page, "Live");
  await relay.post("kill");
  await waitFor("indicator leaves Live", async () => (await label(page)) !== "Live");
  await publish(page, "While Down");
  await waitFor("queued badge", async () => (await badgeOf(page, "While Down")) === "queued");
  assert.equal(await page.textContent("[data-testid=outbox-depth]"), "1");
  await relay.post("start");
  await waitLabel(page, "Live", 20_000);
  await waitFor("delivered badge", async () => (await badgeOf(page, "While Down")) === "delivered", 10_000);
  await context.close();
});

test("the indicator shows offline when the browser goes offline, and recovers", async () => {
  const context = await browser.newContext();
  const page = await openDashboard(context);
  await waitLabel(page, "Live");
  await context.setOffline(true);
  await waitLabel(page, "Offline");
  assert.equal(await page.getAttribute("[data-testid=indicator]", "data-online"), "false");
  await context.setOffline(false);
  await waitLabel(page, "Live", 20_000);
  await context.close();
});

test("a refused event becomes a dead letter that can be retried or discarded", async () => {
  const context = await browser.newContext();
  const page = await openDashboard(context);
  await waitLabel(page, "Live");
  await page.click("text=Send to a refused channel");
  await page.waitForSelector("[data-testid=dead-letters] li");
  await page.click("text=Discard all");
  await waitFor("no dead letters", async () => (await page.$("[data-testid=dead-letters]")) === null);
  await context.close();
});
