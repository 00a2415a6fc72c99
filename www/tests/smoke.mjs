// Smoke test of the release build: the relay serves the dashboard (built by Vite from the
// optimized wasm in pkg/) and a real headless Chromium loads it, connects, publishes and sees
// the event delivered. A broken optimizer output fails here, at load, not in a user's browser.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, launch, root, waitFor } from "./harness.mjs";

const shotDir = join(root, "target/smoke");
const port = await freePort();
const db = join(mkdtempSync(join(tmpdir(), "syncline-smoke-")), "relay.sqlite");
const relay = spawn(join(root, "target/release/syncline-relay"), ["serve", "--port", String(port), "--db", db,
  "--static", join(root, "www/dist")], { stdio: ["ignore", "ignore", "inherit"] });
let browser;
let failed = false;
try {
  await waitFor("relay", () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok, () => false));
  browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.querySelector("[data-testid=indicator-label]")?.textContent === "Live", null, { timeout: 15_000 });
  await page.fill("[data-testid=player]", "Smoke");
  await page.click("[data-testid=publish]");
  await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=feed-item]")]
    .some((li) => li.textContent.includes("Smoke") && li.textContent.includes("delivered")), null, { timeout: 10_000 });
  const echo = await page.evaluate(() => window.synclineClient.request("echo", { ok: 1 }));
  if (echo?.ok !== 1) throw new Error(`echo request answered ${JSON.stringify(echo)}`);
  mkdirSync(shotDir, { recursive: true });
  await page.click("[data-testid=indicator] button");
  await page.screenshot({ path: join(shotDir, "dashboard.png") });
  if (errors.length) throw new Error(errors.join("\n"));
  const size = await page.evaluate(async () => {
    const wasm = performance.getEntriesByType("resource").find((e) => e.name.endsWith(".wasm"));
    return wasm ? (await (await fetch(wasm.name)).arrayBuffer()).byteLength : 0;
  });
  console.log(`smoke: release build loaded (${size} bytes of wasm), connected, published, delivered; screenshot target/smoke/dashboard.png`);
} catch (e) {
  failed = true;
  console.error(`smoke: FAILED: ${e.stack ?? e}`);
} finally {
  await browser?.close();
  relay.kill("SIGTERM");
}
process.exit(failed ? 1 : 0);
