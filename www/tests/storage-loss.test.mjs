// The outbox's IndexedDB taken away under an open page, in real Chromium against the real relay:
// the database deleted (DevTools Storage.clearDataForOrigin, as "clear site data" or the browser
// evicting storage does) and the origin over its quota (Storage.overrideQuotaForOrigin). The
// outbox works from memory meanwhile, goes back to IndexedDB by itself, writes back what it
// holds, and a reload loses nothing.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, openTab, startRelay, startStatic, state, waitFor } from "./harness.mjs";

let relay, site, browser;
let keys = 0;
const freshKey = () => `storage-loss-${process.pid}-${++keys}`;

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

const publish = (page, channel, n) => page.evaluate(([c, n]) => window.t.publish(c, "e", { n }), [channel, n]);
const storage = async (page) => (await state(page)).outbox.storage;

/** Every key of every object store of every database of the page's origin. */
const storedIds = (page) =>
  page.evaluate(async () => {
    const ids = [];
    for (const { name } of await indexedDB.databases()) {
      const db = await new Promise((ok, fail) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      for (const store of db.objectStoreNames) {
        const keys = await new Promise((ok, fail) => {
          const r = db.transaction(store).objectStore(store).getAllKeys();
          r.onsuccess = () => ok(r.result);
          r.onerror = () => fail(r.error);
        });
        ids.push(...keys);
      }
      db.close();
    }
    return ids;
  });

test("the database deleted under the page: the outbox goes back to IndexedDB and a reload loses nothing", async () => {
  const context = await browser.newContext();
  const key = freshKey();
  const channel = `loss-${key}`;
  const tab = await openTab(context, site.origin, relay, key, "&solo");
  try {
    await deleteUnderThePage(context, tab, key, channel);
  } finally {
    await relay.post("start").catch(() => {});
    await context.close();
  }
});

async function deleteUnderThePage(context, tab, key, channel) {
  await waitFor("open", async () => (await state(tab)).state === "open");
  assert.equal(await storage(tab), "indexeddb");
  await relay.post("kill");
  await waitFor("the relay gone", async () => (await state(tab)).state !== "open");

  const results = [];
  for (let i = 0; i < 3; i++) results.push(await publish(tab, channel, i));
  assert.deepEqual(results.map((r) => r.status), ["queued", "queued", "queued"], "stored while the relay is down");

  const cdp = await context.newCDPSession(tab);
  await cdp.send("Storage.clearDataForOrigin", { origin: site.origin, storageTypes: "indexeddb" });
  for (let i = 3; i < 6; i++) results.push(await publish(tab, channel, i));
  const ids = results.map((r) => r.id);

  await waitFor("storage back to indexeddb", async () => (await storage(tab)) === "indexeddb", 15_000).catch((e) => {
    throw new Error(`${e.message}; publishes ${JSON.stringify(results.map((r) => r.status))}; page errors ${JSON.stringify(tab.errors)}`);
  });
  const onDisk = await storedIds(tab);
  assert.deepEqual(ids.filter((id) => !onDisk.includes(id)), [], "every publish is on disk again");
  const outbox = (await state(tab)).outbox;
  assert.equal(outbox.degraded, false);
  assert.equal(outbox.depth, 6);

  // A reload with the relay still down: the new page reads them from IndexedDB.
  await tab.reload();
  await tab.waitForFunction(() => window.ready === true);
  await waitFor("the reloaded page's storage", async () => (await storage(tab)) !== "loading");
  assert.equal(await storage(tab), "indexeddb", "the reloaded page uses IndexedDB");
  // A tab opened after the deletion uses IndexedDB too.
  const other = await openTab(context, site.origin, relay, `${key}-other`, "&solo");
  await waitFor("the new tab's storage", async () => (await storage(other)) !== "loading");
  assert.equal(await storage(other), "indexeddb");

  await relay.post("start");
  await waitFor("every publish stored by the relay", async () => (await relay.ids(channel)).length >= ids.length, 15_000);
  assert.deepEqual((await relay.ids(channel)).slice().sort(), ids.slice().sort(), "none lost, none twice");
  await waitFor("the outbox drained", async () => (await state(tab)).outbox.depth === 0);
  assert.deepEqual([...tab.errors, ...other.errors], [], "no page errors");
}

test("over the quota the outbox works from memory, and goes back to IndexedDB when the quota returns", async () => {
  const context = await browser.newContext();
  const key = freshKey();
  const channel = `quota-${key}`;
  const tab = await openTab(context, site.origin, relay, key, "&solo");
  await waitFor("open", async () => (await state(tab)).state === "open");
  await relay.post("kill");
  await waitFor("the relay gone", async () => (await state(tab)).state !== "open");
  const cdp = await context.newCDPSession(tab);
  try {
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: site.origin, quotaSize: 1 });
    const results = [];
    // Big enough that one write is over any slack the browser allows.
    const blob = "x".repeat(200_000);
    for (let i = 0; i < 3; i++) results.push(await tab.evaluate(([c, b, n]) => window.t.publish(c, "e", { n, b }), [channel, blob, i]));
    assert.ok(results.some((r) => r.status === "held"), `held while over quota: ${results.map((r) => r.status)}`);
    const during = (await state(tab)).outbox;
    assert.equal(during.storage, "memory");
    assert.equal(during.degraded, true);
    assert.equal(during.lastError?.kind, "storage");
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: site.origin });
    await waitFor("storage back to indexeddb", async () => (await storage(tab)) === "indexeddb", 40_000);
    const onDisk = await storedIds(tab);
    assert.deepEqual(results.map((r) => r.id).filter((id) => !onDisk.includes(id)), [], "the held publishes are on disk");
    await relay.post("start");
    await waitFor("sent", async () => (await relay.ids(channel)).length >= 3, 15_000);
    assert.deepEqual(tab.errors, [], "no page errors");
  } finally {
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: site.origin }).catch(() => {});
    await relay.post("start").catch(() => {});
    await context.close();
  }
});

test("the database deleted while a write is committing: no page errors, and it goes back to IndexedDB", async () => {
  const context = await browser.newContext();
  const key = freshKey();
  const channel = `midwrite-${key}`;
  const tab = await openTab(context, site.origin, relay, key, "&solo");
  try {
    await waitFor("open", async () => (await state(tab)).state === "open");
    await relay.post("kill");
    await waitFor("the relay gone", async () => (await state(tab)).state !== "open");
    const cdp = await context.newCDPSession(tab);
    const blob = "x".repeat(20_000);
    let ids = [];
    // Bursts of writes, the database deleted under each while its transaction is running; the
    // delay before the deletion varies so that some land mid-transaction.
    for (let round = 0; round < 8; round++) {
      const burst = tab.evaluate(([c, b, r]) => {
        const all = [];
        for (let i = 0; i < 40; i++) all.push(window.t.publish(c, "e", { r, i, b }));
        return Promise.all(all);
      }, [channel, blob, round]);
      await new Promise((r) => setTimeout(r, round * 3));
      await cdp.send("Storage.clearDataForOrigin", { origin: site.origin, storageTypes: "indexeddb" });
      ids = ids.concat((await burst).map((r) => r.id));
      await waitFor("storage back to indexeddb", async () => (await storage(tab)) === "indexeddb", 15_000);
    }
    // One more write after the last deletion, so that a loss no write has seen yet shows.
    ids.push((await publish(tab, channel, -1)).id);
    await waitFor("storage back to indexeddb", async () => (await storage(tab)) === "indexeddb", 15_000);
    await waitFor("every publish on disk", async () => {
      const onDisk = await storedIds(tab);
      return ids.every((id) => onDisk.includes(id));
    }, 15_000);
    assert.deepEqual(tab.errors, [], "no page errors");
  } finally {
    await relay.post("start").catch(() => {});
    await context.close();
  }
});
