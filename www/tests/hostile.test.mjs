// A hostile server: the relay's raw-frame endpoint sends a real tab what no honest server
// would — invalid JSON, unknown message types, acks for unknown ids, duplicated acks,
// sequence numbers that go backwards, a 16 MB frame, binary garbage, a flood of 100,000
// frames. The client reports each as an error event, never traps, keeps its memory bounded
// and keeps working.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, openTab, startRelay, startStatic, state, waitFor } from "./harness.mjs";

let relay, site, browser, context, tab;

before(async () => {
  relay = await startRelay();
  site = await startStatic();
  browser = await launch();
  context = await browser.newContext();
  tab = await openTab(context, site.origin, relay, `hostile-${process.pid}`, "&solo");
  await waitFor("open", async () => (await state(tab)).state === "open");
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await relay?.stop();
});

const raw = (frames, extra = {}) => relay.control("raw", JSON.stringify({ frames, ...extra }));
const errors = () => tab.evaluate(() => window.t.errors.map((e) => e.kind));
const clearErrors = () => tab.evaluate(() => window.t.errors.splice(0));

/** Sends frames and waits for `n` more errors; returns their kinds. */
async function expectErrors(frames, n, extra) {
  await clearErrors();
  await raw(frames, extra);
  return waitFor(`${n} errors`, async () => {
    const kinds = await errors();
    return kinds.length >= n && kinds;
  });
}

/** The client still works: a durable publish is acked by the relay. */
async function stillWorks(label) {
  const result = await tab.evaluate(() => window.t.publish("hostile-check", "ok", { at: Date.now() }));
  assert.equal(result.status, "acked", `publishing works after ${label}`);
  assert.equal((await state(tab)).state, "open", `still open after ${label}`);
  assert.deepEqual(tab.errors, [], `no page error (a wasm trap is one) after ${label}`);
}

test("invalid JSON and unknown message types are errors, and the client carries on", async () => {
  const kinds = await expectErrors(["{", "not json", "[1,2", "\"just a string\"", "{\"t\":\"zzz\"}", "{\"t\":\"ev\"}", "[{\"t\":\"ack\"},5]"], 8);
  assert.ok(kinds.every((k) => k === "malformed_frame"), kinds.join());
  await stillWorks("malformed frames");
});

test("acks for unknown ids and duplicated acks are reported, not trusted", async () => {
  const kinds = await expectErrors(['{"t":"ack","id":"never-sent","seq":1}', '{"t":"nack","id":"nope","reason":"x","retryable":false}',
    '{"t":"res","id":"r-none","ok":true,"data":1}'], 3);
  assert.deepEqual(kinds, ["unknown_answer", "unknown_answer", "unknown_answer"]);
  const { id, seq } = await tab.evaluate(() => window.t.publish("hostile-dup", "e", 1));
  const again = await expectErrors([JSON.stringify({ t: "ack", id, seq }), JSON.stringify({ t: "ack", id, seq })], 2);
  assert.deepEqual(again, ["unknown_answer", "unknown_answer"]);
  const delivered = await tab.evaluate((id) => window.t.client.getState().outbox.depth, id);
  assert.equal(delivered, 0);
  await stillWorks("duplicated acks");
});

test("sequence numbers that go backwards are dropped as duplicates", async () => {
  await tab.evaluate(() => window.t.subscribe("hostile-seq"));
  await waitFor("subscribed", async () => (await relay.stats()).subscriptions >= 1);
  const ev = (seq) => JSON.stringify({ t: "ev", ch: "hostile-seq", ev: "e", seq, data: { seq } });
  // The channel's head is 0: its events are numbered 1, 2, 3 (a jump would be a gap).
  await raw([ev(1), ev(2), ev(1), ev(2), ev(3)]);
  const seqs = await waitFor("three events", async () => {
    const got = await tab.evaluate(() => window.t.received.filter((m) => m.channel === "hostile-seq").map((m) => m.seq));
    return got.length >= 3 && got;
  });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await tab.evaluate(() => window.t.received.filter((m) => m.channel === "hostile-seq").map((m) => m.seq)), [1, 2, 3]);
  assert.deepEqual(seqs, [1, 2, 3]);
  const dropped = await tab.evaluate(() => window.t.client.metrics().duplicatesDropped);
  assert.ok(dropped >= 2, `duplicates counted: ${dropped}`);
  await stillWorks("backward sequences");
});

test("a 16 MB frame is refused by maxMessageBytes without being copied into wasm memory", async () => {
  const before = await tab.evaluate(() => window.t.wasmBytes());
  const big = JSON.stringify({ t: "ev", ch: "hostile-seq", ev: "e", seq: 99, data: "{{x:16777216}}" });
  const kinds = await expectErrors([big], 1);
  assert.deepEqual(kinds, ["frame_too_large"]);
  const message = await tab.evaluate(() => window.t.errors[0].message);
  assert.match(message, /1048576-byte limit/);
  const after = await tab.evaluate(() => window.t.wasmBytes());
  assert.ok(after - before < 4 * 1024 * 1024, `wasm memory grew by ${after - before} bytes`);
  await stillWorks("a 16 MB frame");
});

test("maxMessageBytes is configurable", async () => {
  const small = await openTab(context, site.origin, relay, `hostile-small-${process.pid}`, "&solo&maxbytes=1000");
  await waitFor("open", async () => (await state(small)).state === "open");
  await small.evaluate(() => window.t.subscribe("hostile-size"));
  await waitFor("subscribed", async () => (await relay.stats()).subscriptions >= 2);
  await small.evaluate(() => window.t.errors.splice(0));
  const ev = (seq, size) => JSON.stringify({ t: "ev", ch: "hostile-size", ev: "e", seq, data: "y".repeat(size) });
  await raw([ev(1, 2000), ev(2, 500)]);
  await waitFor("the small event", async () => (await small.evaluate(() => window.t.received.length)) === 1);
  assert.deepEqual(await small.evaluate(() => window.t.received.map((m) => m.seq)), [2]);
  assert.deepEqual(await small.evaluate(() => window.t.errors.map((e) => e.kind)), ["frame_too_large"]);
  // Event 1 was refused, so 2 came after a hole: the client asked the relay for the channel
  // again, which has nothing stored (these frames were sent raw), and told the app.
  assert.deepEqual(await small.evaluate(() => window.t.gaps), [{ lastOffset: null, channel: "hostile-size", from: 1, to: 1 }]);
  await small.close();
});

test("binary garbage is reported", async () => {
  const kinds = await expectErrors(["\u0000\u00ff\u0001garbage", "more"], 2, { binary: true });
  assert.deepEqual(kinds, ["unexpected_binary", "unexpected_binary"]);
  await stillWorks("binary frames");
});

test("a flood of 100,000 frames is delivered with bounded memory", async () => {
  await tab.evaluate(() => {
    window.flood = 0;
    window.t.client.subscribe("hostile-flood", () => window.flood++);
  });
  await waitFor("subscribed", async () => (await relay.stats()).subscriptions >= 2);
  const before = await tab.evaluate(() => window.t.wasmBytes());
  await raw([JSON.stringify({ t: "ev", ch: "hostile-flood", ev: "e", seq: 0, data: { n: 0, pad: "z".repeat(64) } }).replace('"seq":0', '"seq":{{n}}')], { repeat: 100_000 });
  await waitFor("100,000 deliveries", async () => (await tab.evaluate(() => window.flood)) === 100_000, 120_000);
  const after = await tab.evaluate(() => window.t.wasmBytes());
  assert.ok(after - before <= 8 * 1024 * 1024, `wasm memory grew by ${after - before} bytes over the flood`);
  // A second flood of garbage: 100,000 error events, and the error log in the state stays one entry.
  await clearErrors();
  await raw(["{bad"], { repeat: 100_000 });
  await waitFor("100,000 errors", async () => (await tab.evaluate(() => window.t.errors.length)) === 100_000, 120_000);
  const final = await tab.evaluate(() => window.t.wasmBytes());
  assert.ok(final - before <= 8 * 1024 * 1024, `wasm memory grew by ${final - before} bytes over both floods`);
  await tab.evaluate(() => window.t.errors.splice(0));
  await stillWorks("two floods");
});
