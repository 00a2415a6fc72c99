// The test endpoints cannot be driven by a web page (SECURITY.md, "Test endpoints"): a page of
// another origin, in real Chromium, tries what any site could while tests run — no-preflight
// text/plain POSTs to the supervisor's /kill and the relay's /control/token, a form POST, and
// fetches with the x-syncline-secret header (a guess, and even the real one) — and the relay is
// still up with its token unchanged; the same requests from Node with the run's secret work.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { launch, startNodeServer, startRelay, startStatic } from "./harness.mjs";

let relay, evil, evilDir, browser;

before(async () => {
  relay = await startRelay();
  // The other origin: a static site on its own free port, as any web page open during a run.
  evilDir = mkdtempSync(join(tmpdir(), "syncline-evil-"));
  writeFileSync(join(evilDir, "index.html"), "<!doctype html><title>another site</title><p>hello");
  evil = await startStatic(evilDir);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await evil?.stop();
  await relay?.stop();
  if (evilDir) rmSync(evilDir, { recursive: true, force: true });
});

/** The relay's answer to a hello without a token: "welcome" while it is open. */
function helloWithoutToken() {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(relay.ws);
    const timer = setTimeout(() => fail(new Error("no answer to hello")), 5_000);
    ws.on("open", () => ws.send(JSON.stringify({ t: "hello", v: 1, client: "endpoints-test" })));
    ws.on("message", (data) => {
      clearTimeout(timer);
      ws.close();
      ok(JSON.parse(String(data)).t);
    });
    ws.on("error", (e) => {
      clearTimeout(timer);
      fail(e);
    });
  });
}

/** A tab on the other origin. */
async function evilPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${evil.origin}/`);
  return { page, close: () => context.close() };
}

/** What the page gets for each attempt: "sent" (an opaque no-cors answer), "refused" (fetch
 *  threw: the browser blocked it), or the status it could read. */
function attack(page, targets) {
  return page.evaluate(async ({ targets, guess }) => {
    const outcome = async (p) => p.then((r) => (r.type === "opaque" ? "sent" : r.status), () => "refused");
    const out = {};
    for (const [name, url, body] of targets) {
      // 1. The old attack: a "simple" request, sent without asking first.
      out[`${name}:plain`] = await outcome(fetch(url, { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body }));
      // 2. The header, guessed: the browser must ask first (preflight).
      out[`${name}:header`] = await outcome(fetch(url, { method: "POST", headers: { "x-syncline-secret": guess }, body }));
    }
    return out;
  }, { targets, guess: "0".repeat(48) });
}

test("a page of another origin cannot kill the relay or set its token", async () => {
  const before = await relay.status();
  assert.equal(before.running, true);
  assert.equal(await helloWithoutToken(), "welcome", "the relay is open before");
  const { page, close } = await evilPage();
  // A classic form POST (a navigation: no CORS at all), text/plain like the old attack; its
  // body reads as JSON: {"token":"set-by-a-form","x":"="}.
  await page.evaluate((action) => {
    const form = document.createElement("form");
    form.method = "POST";
    form.enctype = "text/plain";
    form.action = action;
    const field = document.createElement("input");
    field.name = '{"token":"set-by-a-form","x":"';
    field.value = '"}';
    form.append(field);
    document.body.append(form);
    form.submit();
  }, `${relay.http}/control/token`);
  await page.waitForURL(/\/control\/token$/);
  const formAnswer = await page.evaluate(() => document.body.innerText);
  await page.goto(`${evil.origin}/`);
  const targets = [
    ["token", `${relay.http}/control/token`, JSON.stringify({ token: "set-by-another-site" })],
    ["faults", `${relay.http}/control/faults`, JSON.stringify({ refuseConnections: true })],
    ["kill", `${relay.supervisor}/kill`, ""],
    ["reset", `${relay.supervisor}/reset`, ""],
  ];
  const outcome = await attack(page, targets);
  // The same with the run's real secret (as if it had leaked): the preflight names the page's
  // origin, which the relay does not allow, so the browser never sends the request.
  const withSecret = await page.evaluate(async ({ url, secret }) =>
    fetch(url, { method: "POST", headers: { "x-syncline-secret": secret } }).then((r) => r.status, () => "refused"),
  { url: `${relay.supervisor}/kill`, secret: relay.secret });
  await close();

  const now = await relay.status();
  assert.equal(now.running, true, "the relay is still running");
  assert.equal(now.pid, before.pid, "the same process: not killed, not restarted");
  assert.equal(now.starts, before.starts);
  assert.equal(await helloWithoutToken(), "welcome", "the token is unchanged (none) and connections are accepted");
  assert.match(formAnswer, /^test endpoint: /, "the form POST was answered with a refusal");
  for (const [name] of targets) {
    assert.equal(outcome[`${name}:plain`], "sent", `the plain ${name} POST left the browser (the attack is real)`);
    assert.equal(outcome[`${name}:header`], "refused", `the browser refused the ${name} fetch with the header`);
  }
  assert.equal(withSecret, "refused", "the real secret from another origin is refused too");
});

test("the same requests from Node with the run's secret work", async () => {
  const before = await relay.status();
  // Without the secret: refused.
  const bare = await fetch(`${relay.supervisor}/kill`, { method: "POST", headers: { "content-type": "text/plain" } });
  assert.equal(bare.status, 403);
  assert.equal((await fetch(`${relay.http}/control/stats`)).status, 403);
  // With it: done.
  assert.equal((await relay.post("kill")).running, false);
  await assert.rejects(helloWithoutToken(), "the relay is down");
  assert.equal((await relay.post("start")).running, true);
  assert.ok((await relay.status()).starts > before.starts);
  await relay.control("token", JSON.stringify({ token: "set-by-the-test" }));
  try {
    assert.equal(await helloWithoutToken(), "denied", "the token the test set is required now");
  } finally {
    await relay.control("token", JSON.stringify({ token: null }));
  }
  assert.equal(await helloWithoutToken(), "welcome");
});

test("a page of another origin cannot drive a Node test server's control port", async () => {
  const api = await startNodeServer("servers/rest-server.mjs");
  try {
    const { page, close } = await evilPage();
    const outcome = await attack(page, [["set", `${api.control}/set`, JSON.stringify({ id: "evil", widget: { value: 666 } })]]);
    await close();
    assert.equal(outcome["set:plain"], "sent", "the plain POST left the browser");
    assert.equal(outcome["set:header"], "refused");
    assert.equal((await api.stats()).widgets.evil, undefined, "the server did not take it");
    assert.equal((await fetch(`${api.control}/stats`)).status, 403, "no secret, no answer");
    // From Node with the secret: taken.
    await api.post("set", { id: "fine", widget: { value: 1 } });
    assert.equal((await api.stats()).widgets.fine.value, 1);
  } finally {
    await api.stop();
  }
});
