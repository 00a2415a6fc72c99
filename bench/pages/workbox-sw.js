// The service worker of the workbox-background-sync outbox benchmark (bundled by the harness).
// It enqueues n requests with Queue.pushRequest while nothing replays them, then replays them
// to the harness's sink, and posts its figures to /result/<run>.
import { Queue } from "workbox-background-sync";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("message", (event) => event.waitUntil(measure(event.data)));

async function measure({ n, run, sink }) {
  const report = (result) => fetch(`/result/${run}`, { method: "POST", body: JSON.stringify(result) });
  try {
    // No automatic replay (it would start while entries are still being added): the drain
    // below calls replayRequests() itself, as an app's sync handler would.
    const queue = new Queue(`bench-${run}`, { forceSyncFallback: true, onSync: async () => {} });
    const pad = "x".repeat(150);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: n }, (_, i) =>
      queue.pushRequest({ request: new Request(sink, { method: "POST", body: JSON.stringify({ i, pad }) }) })));
    const t1 = performance.now();
    const queued = await queue.size();
    await queue.replayRequests();
    const t2 = performance.now();
    await report({ ok: true, run, n, queued, enqueueMs: t1 - t0, perSec: n / ((t1 - t0) / 1000), drainMs: t2 - t1, left: await queue.size() });
  } catch (e) {
    await report({ ok: false, error: String(e?.stack ?? e) });
  }
}
