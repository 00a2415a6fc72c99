// Shared pieces of the end-to-end tests: a supervised relay and a static server on 127.0.0.1
// (both stopped by stop()), and Debian's Chromium through playwright-core.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
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

/** The secret every test endpoint of this run asks for (relay `/control/*`, its supervisor, the
 *  Node test servers' control ports), in the `x-syncline-secret` header; the servers get it in
 *  SYNCLINE_CONTROL_SECRET. Random per run: a web page cannot know it, and cannot send the header
 *  without a CORS preflight that the endpoints refuse. */
export const secret = process.env.SYNCLINE_CONTROL_SECRET ?? randomBytes(24).toString("hex");
/** The environment for a server child process: ours plus the secret. */
export const secretEnv = () => ({ ...process.env, SYNCLINE_CONTROL_SECRET: secret });
/** `fetch` to a test endpoint: the secret added to `init.headers`. */
export const controlFetch = (url, init = {}) =>
  fetch(url, { ...init, headers: { ...init.headers, "x-syncline-secret": secret } });
/** A test endpoint's JSON answer; a refusal (403, 500…) is an error with the status and body. */
export async function controlJson(url, init = {}) {
  const r = await controlFetch(url, init);
  if (!r.ok) throw new Error(`${init.method ?? "GET"} ${url} answered ${r.status}: ${await r.text()}`);
  return r.json();
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
 *  options (e.g. `--static dir`, `--control-origin URL`) apply to every start. Both answer only
 *  with `secret`: use the returned functions, or `relay.fetch(url, init)` for other calls. */
export async function startRelay(extra = [], attempt = 1) {
  const [port, controlPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), "syncline-e2e-"));
  const child = spawn(join(root, "target/release/syncline-relay"), ["supervise", "--control-port", String(controlPort),
    "--port", String(port), "--db", join(dir, "relay.sqlite"), "--control", ...extra],
    { stdio: ["ignore", "ignore", "inherit"], env: secretEnv() });
  const supervisor = `http://127.0.0.1:${controlPort}`;
  try {
    const ok = (url) => controlFetch(url).then((r) => r.ok, () => false);
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
    secret,
    /** Headers that open the test endpoints. */
    headers: { "x-syncline-secret": secret },
    fetch: controlFetch,
    stats: () => controlJson(`${relay.http}/control/stats`),
    /** The supervisor's `{running, pid, starts}`. */
    status: () => controlJson(`${supervisor}/status`),
    ids: (ch) => controlJson(`${supervisor}/ids?ch=${encodeURIComponent(ch)}`).then((j) => j.ids),
    post: (path, body = "") => controlJson(`${supervisor}/${path}`, { method: "POST", body }),
    control: (path, body = "") => controlJson(`${relay.http}/control/${path}`, { method: "POST", body }),
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
 *  same ports with the same store; `stats()`/`post(path, body)` talk to its control port (with
 *  the run's secret, which the server gets in its environment). The
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
      const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"], env: secretEnv() });
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
    control,
    stats: () => controlJson(`${control}/stats`),
    post: (path, body = {}) => controlJson(`${control}/${path}`, { method: "POST", body: JSON.stringify(body) }),
    async stop() {
      await s.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await s.start();
  return s;
}
