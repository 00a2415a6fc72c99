// Optimistic operations confirmed by any promise (`client.optimistic(key, change, confirm)`),
// in two real Chromium tabs of one origin, against a REST API written the usual way
// (tests/servers/rest-server.mjs: `PUT /api/widgets/:id` merges the body and answers the widget,
// 400 for a value over 1000; the control port holds answers until released): the change shows
// in both tabs at once and is committed with the server's answer, a refusal rolls it back in
// both, a server update while it is pending is rebased under it, and a tab closing with one
// pending rolls it back in the other.
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { launch, startNodeServer, waitFor } from "./harness.mjs";

let api, browser;
let keys = 0;
const freshKey = () => `optimistic-${process.pid}-${++keys}`;
const DOC = "widget:7";

before(async () => {
  api = await startNodeServer("servers/rest-server.mjs");
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
});

async function openApp(context, key) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(`${api.url}/rest-app.html?${new URLSearchParams({ key })}`);
  await ready(page);
  return page;
}

/** Two tabs of one origin (one storageKey) that loaded widget 7, stored as `widget`, from the API. */
async function twoTabs(widget) {
  const context = await browser.newContext();
  contexts.add(context);
  const key = freshKey();
  await api.post("set", { id: "7", widget });
  const a = await openApp(context, key);
  const b = await openApp(context, key);
  for (const page of [a, b]) {
    await page.evaluate((doc) => window.t.load(doc, "7"), DOC);
    await page.evaluate((doc) => window.t.watch(doc), DOC);
  }
  return { context, a, b };
}

/** Waits for the page's client; a page error while starting fails at once with its message. */
const ready = (page) =>
  waitFor("the app to start", async () => {
    if (page.errors.length) throw new Error(`the app failed to start: ${page.errors.join("; ")}`);
    return page.evaluate(() => window.ready === true);
  }, 15_000);
const doc = (page) => page.evaluate((key) => window.t.doc(key), DOC);
const op = (page, name) => page.evaluate((name) => window.t.ops[name], name);
const bothShow = (tabs, what, check) =>
  waitFor(what, async () => {
    const docs = await Promise.all(tabs.map(doc));
    return docs.every((d) => d && check(d)) && docs;
  }).catch(async (e) => {
    throw new Error(`${e.message}: the tabs show ${JSON.stringify(await Promise.all(tabs.map(doc)))}`);
  });

for (const form of ["json", "response"]) {
  const by = form === "json" ? "the app's own promise of the JSON answer" : "fetch's Response";
  test(`confirmed (${by}): the change shows in both tabs at once, pending, then committed with the server's answer`, async () => {
    const { a, b } = await twoTabs({ value: 1, version: 1 });
    await api.post("faults", { mode: "hold", count: 1 });
    // In the same task as the call, this tab already shows the change.
    const atOnce = await a.evaluate(({ key, form }) => {
      window.t.optimisticPut("confirm", key, "7", { value: 42 }, { form });
      return window.t.doc(key);
    }, { key: DOC, form });
    assert.equal(atOnce.value.value, 42, "visible at once in the tab that made it");
    assert.ok(atOnce.pending >= 1, "and pending");
    const pending = await bothShow([a, b], "both tabs to show 42 pending", (d) => d.value.value === 42 && d.pending >= 1);
    assert.deepEqual(pending[1].value, { value: 42, version: 1, id: "7" }, "the other tab shows the change on the confirmed value");
    await waitFor("the PUT held at the server", async () => (await api.stats()).held === 1);
    assert.equal((await op(a, "confirm")).state, "pending", "the promise has not settled while the server holds its answer");

    assert.equal((await api.post("release")).released, 1);
    const settled = await waitFor("optimistic() to resolve", async () => {
      const o = await op(a, "confirm");
      return o.state !== "pending" && o;
    });
    const server = (await api.stats()).widgets["7"];
    assert.deepEqual(server, { id: "7", value: 42, version: 2 }, "the server applied it");
    assert.equal(settled.state, "resolved", JSON.stringify(settled));
    assert.deepEqual(settled.result, server, "optimistic() resolves with the confirm promise's value");
    const committed = await bothShow([a, b], "both tabs committed", (d) => d.pending === 0 && isDeepStrictEqual(d.value, server));
    assert.deepEqual(committed.map((d) => d.value), [server, server], "the server's answer is the confirmed value in both tabs");

    // watchDocument saw the pending change and the commit in the other tab.
    const seen = await b.evaluate((key) => window.t.seen[key], DOC);
    assert.ok(seen.some((s) => s.value?.value === 42 && s.pending >= 1), `the other tab's watcher saw it pending: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen.at(-1), { value: server, pending: 0 }, "and then committed");
    assert.deepEqual([...a.errors, ...b.errors], []);
  });

  test(`refused (${by}): the server answers 400, the promise rejects and both tabs roll back`, async () => {
    const prior = { id: "7", value: 42, version: 2 };
    const { a, b } = await twoTabs(prior);
    await api.post("faults", { mode: "hold", count: 1 });
    await a.evaluate(({ key, form }) => window.t.optimisticPut("refused", key, "7", { value: 5000 }, { form }), { key: DOC, form });
    await bothShow([a, b], "both tabs to show 5000 pending", (d) => d.value.value === 5000 && d.pending >= 1);
    await waitFor("the PUT held at the server", async () => (await api.stats()).held === 1);
    await api.post("release");
    const settled = await waitFor("optimistic() to settle", async () => {
      const o = await op(a, "refused");
      return o.state !== "pending" && o;
    });
    assert.equal(settled.state, "rejected", JSON.stringify(settled));
    // The app's error, or for a Response that is not ok, syncline's naming its status and body.
    assert.match(settled.message, /^http 400: .*value must be a number/, "optimistic() rejects with the confirm promise's error");
    const docs = await bothShow([a, b], "both tabs rolled back", (d) => d.pending === 0 && d.value.value === 42);
    assert.deepEqual(docs.map((d) => d.value), [prior, prior], "the previous value, in both tabs");
    assert.deepEqual((await api.stats()).widgets["7"], prior, "the server kept it");
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
}

test("a server update while pending: the update is confirmed and the change rebased on it, then committed", async () => {
  const { a, b } = await twoTabs({ value: 42, version: 2 });
  await api.post("faults", { mode: "hold", count: 1 });
  await a.evaluate((key) => window.t.optimisticPut("rebase", key, "7", { value: 43 }), DOC);
  await bothShow([a, b], "both tabs to show 43 pending", (d) => d.value.value === 43 && d.pending >= 1);
  await waitFor("the PUT held at the server", async () => (await api.stats()).held === 1);

  // Another user changes the widget; the app hears of it (e.g. its WebSocket handler) and
  // feeds it to syncline in each tab.
  const update = await api.post("set", { id: "7", widget: { value: 1, other: "x", version: 3 } });
  for (const page of [a, b]) await page.evaluate(({ key, update }) => window.t.client.setDocument(key, update), { key: DOC, update });
  const rebased = await bothShow([a, b], "both tabs to show the update with the change on top",
    (d) => d.value.other === "x" && d.value.value === 43);
  for (const d of rebased) {
    assert.deepEqual(d.value, { id: "7", value: 43, other: "x", version: 3 }, "the update with the pending change on top");
    assert.ok(d.pending >= 1, "still pending");
  }
  assert.equal((await op(a, "rebase")).state, "pending");

  await api.post("release");
  const settled = await waitFor("optimistic() to resolve", async () => {
    const o = await op(a, "rebase");
    return o.state !== "pending" && o;
  });
  const server = (await api.stats()).widgets["7"];
  assert.deepEqual(server, { id: "7", value: 43, other: "x", version: 4 });
  assert.equal(settled.state, "resolved", JSON.stringify(settled));
  const committed = await bothShow([a, b], "both tabs committed", (d) => d.pending === 0 && d.value.version === 4);
  assert.deepEqual(committed.map((d) => d.value), [server, server]);
  assert.deepEqual([...a.errors, ...b.errors], []);
});

test("commit: \"change\": the change, not the promise's value, is applied to the confirmed value", async () => {
  const { a, b } = await twoTabs({ value: 42, version: 2 });
  await a.evaluate((key) => window.t.optimisticPut("change", key, "7", { value: 7 }, { options: { commit: "change" } }), DOC);
  const settled = await waitFor("optimistic() to resolve", async () => {
    const o = await op(a, "change");
    return o.state !== "pending" && o;
  });
  assert.equal(settled.state, "resolved", JSON.stringify(settled));
  assert.deepEqual(settled.result, { id: "7", value: 7, version: 3 }, "it still resolves with the promise's value");
  const docs = await bothShow([a, b], "both tabs committed", (d) => d.pending === 0 && d.value.value === 7);
  assert.deepEqual(docs.map((d) => d.value), [{ id: "7", value: 7, version: 2 }, { id: "7", value: 7, version: 2 }],
    "the change on the confirmed value (the server's version not taken)");
  assert.deepEqual([...a.errors, ...b.errors], []);
});

test("a tab that closes with an operation pending: the other tab rolls it back", async () => {
  const { a, b } = await twoTabs({ value: 42, version: 2 });
  await api.post("faults", { mode: "hold", count: 1 });
  await b.evaluate((key) => window.t.optimisticPut("closing", key, "7", { value: 99 }), DOC);
  await bothShow([a, b], "both tabs to show 99 pending", (d) => d.value.value === 99 && d.pending >= 1);
  await b.close();
  const [d] = await bothShow([a], "the remaining tab rolled back", (x) => x.pending === 0 && x.value.value === 42);
  assert.deepEqual(d.value, { id: "7", value: 42, version: 2 });
  await api.post("release");
  assert.deepEqual(a.errors, []);
});

// React: useOptimisticUpdate in a widget editor built by Vite (tests/hooks/optimistic.jsx,
// `make hooks-app`), two tabs; what the component renders is read from the DOM.
test("useOptimisticUpdate: both tabs render the change pending, then the server's answer; a refusal rolls both back", async () => {
  const context = await browser.newContext();
  contexts.add(context);
  const key = freshKey();
  await api.post("set", { id: "7", widget: { value: 1, version: 1 } });
  const open = async () => {
    const page = await context.newPage();
    page.errors = [];
    page.on("pageerror", (e) => page.errors.push(e.message));
    await page.goto(`${api.url}/hooks/optimistic.html?${new URLSearchParams({ key })}`);
    await waitFor("the provider's client", () => page.evaluate(() => window.probe?.ready === true));
    await page.evaluate(() => window.probe.load());
    return page;
  };
  const a = await open();
  const b = await open();
  const rendered = (page) => page.evaluate(() => JSON.parse(document.getElementById("probe").textContent));
  const bothRender = (what, check) =>
    waitFor(what, async () => {
      const views = await Promise.all([a, b].map(rendered));
      return views.every(check) && views;
    }).catch(async (e) => {
      throw new Error(`${e.message}: the tabs render ${JSON.stringify(await Promise.all([a, b].map(rendered)))}`);
    });
  const outcome = () =>
    waitFor("update() to settle", async () => {
      const o = await a.evaluate(() => window.probe.outcome);
      return o && o.state !== "pending" && o;
    });
  await bothRender("the loaded widget", (v) => v.value?.value === 1 && v.pending === 0);

  await api.post("faults", { mode: "hold", count: 1 });
  await a.evaluate(() => window.probe.set(42));
  await bothRender("42 pending in both tabs", (v) => v.value?.value === 42 && v.pending >= 1);
  await waitFor("the PUT held at the server", async () => (await api.stats()).held === 1);
  await api.post("release");
  const confirmed = await outcome();
  const server = (await api.stats()).widgets["7"];
  assert.deepEqual(server, { id: "7", value: 42, version: 2 });
  assert.equal(confirmed.state, "resolved", JSON.stringify(confirmed));
  assert.deepEqual(confirmed.result, server);
  const committed = await bothRender("committed in both tabs", (v) => v.pending === 0 && isDeepStrictEqual(v.value, server));
  assert.deepEqual(committed.map((v) => v.value), [server, server]);

  await api.post("faults", { mode: "hold", count: 1 });
  await a.evaluate(() => window.probe.set(5000));
  await bothRender("5000 pending in both tabs", (v) => v.value?.value === 5000 && v.pending >= 1);
  await waitFor("the PUT held at the server", async () => (await api.stats()).held === 1);
  await api.post("release");
  const refused = await outcome();
  assert.equal(refused.state, "rejected", JSON.stringify(refused));
  assert.match(refused.message, /^http 400: value must be a number/);
  const rolledBack = await bothRender("rolled back in both tabs", (v) => v.pending === 0 && v.value?.value === 42);
  assert.deepEqual(rolledBack.map((v) => v.value), [server, server]);
  assert.deepEqual([...a.errors, ...b.errors], []);
});
