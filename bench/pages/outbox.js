// Measures, inside the page, the durable outbox: enqueue throughput while the relay is down,
// then drain time from socket open to the last ack once it is back. Reports over HTTP.
import { createClient } from "/pkg/index.js";

const params = new URLSearchParams(location.search);
const N = Number(params.get("n") ?? 10000);
const relay = params.get("relay");
const supervisor = params.get("supervisor");
const channel = `bench-${Date.now()}`;

const post = (url, body) => fetch(url, { method: "POST", body: body ?? "" }).then((r) => r.json());
const report = (result) => post("/result", JSON.stringify(result));

function waitFor(client, predicate) {
  return new Promise((resolve) => {
    if (predicate(client.getState())) return resolve(performance.now());
    const stop = client.onStateChange((s) => {
      if (predicate(s)) { stop(); resolve(performance.now()); }
    });
  });
}

try {
  await post(`${supervisor}/kill`);
  const client = await createClient({ url: relay, storageKey: channel });
  await waitFor(client, (s) => s.outbox.storage !== "loading");
  if (client.getState().outbox.storage !== "indexeddb") throw new Error("IndexedDB unavailable");

  const t0 = performance.now();
  const promises = [];
  for (let i = 0; i < N; i++) promises.push(client.publish(channel, "tick", { i, at: Date.now(), pad: "x".repeat(120) }));
  const results = await Promise.all(promises);
  const t1 = performance.now();
  const queued = results.filter((r) => r.status === "queued").length;

  let openedAt = null;
  const stop = client.onStateChange((s) => { if (s.state === "open" && openedAt === null) openedAt = performance.now(); });
  await post(`${supervisor}/start`);
  client.reconnectNow();
  const drainedAt = await waitFor(client, (s) => s.outbox.depth === 0);
  stop();
  const stored = (await (await fetch(`${supervisor}/ids?ch=${channel}`)).json()).count;
  client.close();
  await report({
    n: N,
    queued,
    enqueueMs: t1 - t0,
    enqueuePerSec: N / ((t1 - t0) / 1000),
    drainMs: drainedAt - openedAt,
    stored,
  });
} catch (e) {
  await report({ error: String(e?.stack ?? e) });
}
