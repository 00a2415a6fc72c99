// Shared pieces of the end-to-end tests: a supervised relay and a static server on 127.0.0.1
// (both stopped by stop()), and Debian's Chromium through playwright-core.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve } from "node:path";
import { chromium } from "playwright-core";

export const root = resolve(import.meta.dirname, "..", "..");
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };

const listen = (server) => new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server.address().port)));

// Ports handed out by this process: never the same one twice, so that two servers started
// together cannot be given one port.
const handedOut = new Set();
export async function freePort() {
  for (;;) {
    const s = createServer();
    const port = await listen(s);
    await new Promise((r) => s.close(r));
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export async function waitFor(what, fn, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts the release relay under its supervisor, with the test control API; `extra` serve
 *  options (e.g. `--static dir`) apply to every start. */
export async function startRelay(extra = [], attempt = 1) {
  const [port, controlPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), "syncline-e2e-"));
  const child = spawn(join(root, "target/release/syncline-relay"), ["supervise", "--control-port", String(controlPort),
    "--port", String(port), "--db", join(dir, "relay.sqlite"), "--control", ...extra], { stdio: ["ignore", "ignore", "inherit"] });
  const supervisor = `http://127.0.0.1:${controlPort}`;
  try {
    const ok = (url) => fetch(url).then((r) => r.ok, () => false);
    await waitFor("relay", async () => (await ok(`${supervisor}/status`)) && ok(`http://127.0.0.1:${port}/control/stats`));
  } catch (e) {
    // A free port can be taken by another program between the check and the relay's bind.
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    if (attempt < 3) return startRelay(extra, attempt + 1);
    throw e;
  }
  const relay = {
    ws: `ws://127.0.0.1:${port}/ws`,
    http: `http://127.0.0.1:${port}`,
    port,
    supervisor,
    stats: () => fetch(`${relay.http}/control/stats`).then((r) => r.json()),
    ids: (ch) => fetch(`${supervisor}/ids?ch=${encodeURIComponent(ch)}`).then((r) => r.json()).then((j) => j.ids),
    post: (path, body = "") => fetch(`${supervisor}/${path}`, { method: "POST", body }).then((r) => r.json()),
    control: (path, body = "") => fetch(`${relay.http}/control/${path}`, { method: "POST", body }).then((r) => r.json()),
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return relay;
}

/** Serves pkg/ and the test pages (or another directory at /). */
export async function startStatic(dir = join(root, "www/tests/pages")) {
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (path.endsWith("/")) path += "index.html";
    const base = path.startsWith("/pkg/") ? root : dir;
    const file = join(base, normalize(path));
    if (!file.startsWith(base) || !existsSync(file)) {
      res.statusCode = 404;
      return res.end();
    }
    res.setHeader("content-type", types[extname(file)] ?? "application/octet-stream");
    res.end(readFileSync(file));
  });
  const port = await listen(server);
  return { origin: `http://127.0.0.1:${port}`, stop: () => new Promise((r) => server.close(r)) };
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

/** Opens a tab with a syncline client; collects page errors in tab.errors. */
export async function openTab(context, origin, relay, key, flags = "") {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(`${origin}/tab.html?relay=${encodeURIComponent(relay.ws)}&key=${key}${flags}`);
  await page.waitForFunction(() => window.ready === true);
  return page;
}

export const state = (page) => page.evaluate(() => window.t.state());

/** A Node test server (`script`, under tests/) as a child process on free ports, with a store
 *  file in a temp dir and a control port: `kill()` is SIGKILL, `start()` runs it again on the
 *  same ports with the same store; `stats()`/`post(path, body)` talk to its control port. The
 *  script gets `--port P --control-port C --store FILE`, then `flags`, and prints "ready". */
export async function startNodeServer(script, flags = []) {
  const [port, controlPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), "syncline-server-"));
  const control = `http://127.0.0.1:${controlPort}`;
  const s = {
    url: `http://127.0.0.1:${port}`,
    child: null,
    async start() {
      const args = [join(import.meta.dirname, script), "--port", String(port), "--control-port", String(controlPort),
        "--store", join(dir, "store.jsonl"), ...flags];
      const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
      s.child = child;
      await new Promise((ok, fail) => {
        let out = "";
        child.stdout.on("data", (b) => {
          out += b;
          if (out.includes("ready")) ok();
        });
        child.once("exit", (code) => fail(new Error(`${script} exited with ${code}`)));
      });
    },
    async kill() {
      const child = s.child;
      s.child = null;
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await exited;
      }
    },
    stats: () => fetch(`${control}/stats`).then((r) => r.json()),
    post: (path, body = {}) => fetch(`${control}/${path}`, { method: "POST", body: JSON.stringify(body) }).then((r) => r.json()),
    async stop() {
      await s.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await s.start();
  return s;
}
