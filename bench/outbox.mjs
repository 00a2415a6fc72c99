// make bench-outbox: the durable outbox in headless Chromium (launched directly, so no test
// framework instruments the measured page), against the release relay on 127.0.0.1.
// Rounds run in fresh browser profiles; medians are reported and written to
// target/bench/outbox.json.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, resolve, normalize } from "node:path";

const root = resolve(import.meta.dirname, "..");
const relayBin = join(root, "target/release/syncline-relay");
const rounds = Number(process.env.ROUNDS ?? 3);
const n = Number(process.env.N ?? 10000);
const chromium = process.env.CHROMIUM ?? "/usr/bin/chromium";
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

const listen = (server) => new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server.address().port)));
const freePort = async () => { const s = createServer(); const p = await listen(s); await new Promise((r) => s.close(r)); return p; };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

let waiting = null;
const server = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/result") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => { res.end("{}"); waiting?.(JSON.parse(body)); });
    return;
  }
  const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
  const file = path.startsWith("/pkg/") ? join(root, normalize(path)) : join(root, "bench/pages", normalize(path));
  if (!file.startsWith(root) || !existsSync(file)) { res.statusCode = 404; return res.end(); }
  res.setHeader("content-type", types[extname(file)] ?? "application/octet-stream");
  res.end(readFileSync(file));
});
const httpPort = await listen(server);
const [relayPort, controlPort] = [await freePort(), await freePort()];
const state = mkdtempSync(join(tmpdir(), "syncline-bench-"));
const supervisor = spawn(relayBin, ["supervise", "--control-port", String(controlPort), "--port", String(relayPort),
  "--db", join(state, "relay.sqlite"), "--control"], { stdio: ["ignore", "ignore", "inherit"] });
await new Promise((r) => setTimeout(r, 500));

const results = [];
const profiles = [];
try {
  for (let round = 1; round <= rounds; round++) {
    const profile = mkdtempSync(join(tmpdir(), "syncline-bench-profile-"));
    const url = `http://127.0.0.1:${httpPort}/outbox.html?n=${n}&relay=ws://127.0.0.1:${relayPort}/ws&supervisor=http://127.0.0.1:${controlPort}`;
    const result = new Promise((ok) => (waiting = ok));
    const browser = spawn(chromium, ["--headless", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
      "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-quic", `--user-data-dir=${profile}`, url], { stdio: "ignore", detached: true });
    const timeout = setTimeout(() => waiting?.({ error: "timed out after 120 s" }), 120_000);
    const r = await result;
    clearTimeout(timeout);
    const exited = new Promise((ok) => browser.once("exit", ok));
    process.kill(-browser.pid, "SIGKILL"); // the whole group: Chromium's helpers too
    await exited;
    profiles.push(profile);
    if (r.error) throw new Error(`round ${round}: ${r.error}`);
    if (r.stored !== n || r.queued !== n) throw new Error(`round ${round}: ${r.queued} queued, ${r.stored} stored of ${n}`);
    console.log(`round ${round}: enqueue ${Math.round(r.enqueuePerSec)} entries/s (${Math.round(r.enqueueMs)} ms), drain ${(r.drainMs / 1000).toFixed(3)} s, relay stored ${r.stored}`);
    results.push(r);
  }
  const summary = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, ${(await import("node:os")).cpus().length} cores, ${chromium}`,
    entries: n,
    rounds,
    enqueuePerSec: { median: median(results.map((r) => r.enqueuePerSec)), rounds: results.map((r) => r.enqueuePerSec) },
    drainSeconds: { median: median(results.map((r) => r.drainMs / 1000)), rounds: results.map((r) => r.drainMs / 1000) },
  };
  mkdirSync(join(root, "target/bench"), { recursive: true });
  writeFileSync(join(root, "target/bench/outbox.json"), JSON.stringify(summary, null, 2));
  console.log(`bench-outbox: enqueue ${n} durable publishes offline: median ${Math.round(summary.enqueuePerSec.median)} entries/s; ` +
    `drain after the relay returns: median ${summary.drainSeconds.median.toFixed(3)} s (socket open to last ack); ${rounds} rounds`);
} finally {
  supervisor.kill("SIGTERM");
  server.close();
  await new Promise((r) => setTimeout(r, 300));
  for (const dir of [state, ...profiles]) {
    try { rmSync(dir, { recursive: true, force: true, maxRetries: 3 }); } catch { /* left in the temp dir */ }
  }
}
process.exit(0);
