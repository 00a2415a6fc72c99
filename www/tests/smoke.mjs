// Smoke test of the release build: the relay serves the demo page (with the optimized wasm
// from pkg/) and a real headless Chromium loads it, connects, publishes and sees the event.
// A broken optimizer output fails here, at load, instead of in a user's browser.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const root = resolve(import.meta.dirname, "..", "..");
const relayBin = process.env.RELAY_BIN ?? join(root, "target/release/syncline-relay");
const demoDir = process.env.DEMO_DIR ?? join(root, "target/demo");
const shotDir = join(root, "target/smoke");

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on("error", fail);
  });
}

async function waitForPort(port, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const up = await new Promise((ok) => {
      const s = connect(port, "127.0.0.1", () => { s.end(); ok(true); });
      s.on("error", () => ok(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`relay did not listen on ${port}`);
}

const port = await freePort();
const db = join(mkdtempSync(join(tmpdir(), "syncline-smoke-")), "relay.sqlite");
const relay = spawn(relayBin, ["serve", "--port", String(port), "--db", db, "--static", demoDir], {
  stdio: ["ignore", "inherit", "inherit"],
});
let browser;
let failed = false;
try {
  await waitForPort(port, 10_000);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.getElementById("state")?.textContent === "open", null, { timeout: 15_000 });
  await page.fill("#text", "Smoke 17'");
  await page.click("#publish button[type=submit]");
  await page.waitForFunction(() => document.getElementById("publish-result")?.textContent.startsWith("stored as #"), null, { timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById("feed")?.textContent.includes("Smoke 17'"), null, { timeout: 10_000 });
  const rtt = await page.evaluate(() => window.synclineClient.request("echo", { ok: 1 }));
  if (rtt?.ok !== 1) throw new Error(`echo request answered ${JSON.stringify(rtt)}`);
  mkdirSync(shotDir, { recursive: true });
  await page.screenshot({ path: join(shotDir, "demo.png"), fullPage: true });
  if (errors.length) throw new Error(errors.join("\n"));
  const size = await page.evaluate(async () => (await (await fetch("/pkg/wasm/syncline_bg.wasm")).arrayBuffer()).byteLength);
  console.log(`smoke: release build loaded (${size} bytes of wasm), connected, published, received; screenshot target/smoke/demo.png`);
} catch (e) {
  failed = true;
  console.error(`smoke: FAILED: ${e.stack ?? e}`);
} finally {
  await browser?.close();
  relay.kill("SIGTERM");
}
process.exit(failed ? 1 : 0);
