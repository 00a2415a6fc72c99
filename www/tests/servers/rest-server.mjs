// A widgets REST API written the way apps write one with Node's `http`, for syncline's HTTP
// outbox and optimistic-operation tests (tests/http-outbox.test.mjs, tests/optimistic.test.mjs).
// It serves the app too (same origin: the test pages under /, the npm package under /pkg/, the
// React probe under /hooks/ with its /assets/), so the API needs no CORS.
//
//   GET  /api/widgets/:id        → the widget, or 404
//   PUT  /api/widgets/:id        → merges the JSON body into the widget; 400 when `value` is not
//                                  a number from 0 to 1000; answers the stored widget
//   POST /api/batch              → { entries: [{ id, channel, event, data, createdAt }] }: each
//                                  entry is a PUT of `data` to widget `channel`; answers
//                                  { results: [{ id, status, error? }] }
//
// `Idempotency-Key` (and a batch entry's `id`): a key seen before is answered with the stored
// response and not applied again; a request whose key is still being handled gets 409.
//
// A control port (servers/control.mjs) for the tests:
//   POST /faults  { mode, count }  the next `count` API requests: "500", "401", "429" (Retry-After: 1),
//                                  "drop" (socket destroyed before anything is applied),
//                                  "drop-after" (applied, then the socket destroyed unanswered),
//                                  "hold" (held unanswered until /release, then handled)
//   POST /network { down }         while down, every API request's connection is cut unanswered
//                                  and nothing is applied (the network between is down)
//   POST /release                  handles the held requests; answers how many
//   POST /set    { id, widget }    another user's change: the widget becomes `widget`
//   POST /reset                    forgets every widget, key, log line and fault
//   GET  /stats                    widgets, applied per widget and per idempotency key,
//                                  requests per key, the request log and what is held
//
//   node tests/servers/rest-server.mjs --port P --control-port C [--store FILE]
// Listens on 127.0.0.1 and prints "ready". (--store is accepted and unused: the store is memory.)
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, resolve } from "node:path";
import { parseArgs } from "node:util";
import { controlServer, listen, notFound } from "./control.mjs";

const { values: opt } = parseArgs({
  options: {
    port: { type: "string" },
    "control-port": { type: "string" },
    store: { type: "string" },
  },
});
if (!opt.port || !opt["control-port"]) {
  console.error("usage: rest-server.mjs --port P --control-port C");
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// The app's data: widgets in memory, and the responses stored per idempotency key.
// ---------------------------------------------------------------------------------------
let widgets = new Map();
let responses = new Map(); // key → { status, body }
let inProgress = new Set();
let appliedPerWidget = {};
let appliedPerKey = {};
let requestsPerKey = {};
let log = [];
let faults = [];
let held = [];
let networkDown = false;

function validate(body) {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return "the body must be a JSON object";
  if ("value" in body && (typeof body.value !== "number" || body.value < 0 || body.value > 1000)) {
    return "value must be a number from 0 to 1000";
  }
  return null;
}

/** Applies a change to widget `id`; answers `{ status, body }`. */
function putWidget(id, body, key) {
  const problem = validate(body);
  if (problem) return { status: 400, body: { error: problem } };
  const old = widgets.get(id) ?? { id, version: 0 };
  const widget = { ...old, ...body, id, version: old.version + 1 };
  widgets.set(id, widget);
  appliedPerWidget[id] = (appliedPerWidget[id] ?? 0) + 1;
  if (key) appliedPerKey[key] = (appliedPerKey[key] ?? 0) + 1;
  return { status: 200, body: widget };
}

/** Runs `apply` once per idempotency key: a repeated key gets the stored response. */
function once(key, apply) {
  if (!key) return apply();
  requestsPerKey[key] = (requestsPerKey[key] ?? 0) + 1;
  if (responses.has(key)) return { ...responses.get(key), replayed: true };
  if (inProgress.has(key)) return { status: 409, body: { error: "a request with this Idempotency-Key is in progress" } };
  const answer = apply();
  // Only what the handler decided is kept; server errors are not.
  if (answer.status < 500) responses.set(key, answer);
  return answer;
}

const readBody = (req) =>
  new Promise((ok) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (s) => (text += s));
    req.on("end", () => ok(text));
  });

function send(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

// ---------------------------------------------------------------------------------------
// The API.
// ---------------------------------------------------------------------------------------
async function api(req, res, url) {
  const text = await readBody(req);
  const key = req.headers["idempotency-key"] ?? null;
  const line = {
    t: Date.now(),
    method: req.method,
    path: url.pathname,
    key,
    event: req.headers["x-syncline-event"] ?? null,
    channel: req.headers["x-syncline-channel"] ?? null,
    app: req.headers["x-app"] ?? null,
    tab: req.headers["x-tab"] ?? null,
    authorization: req.headers.authorization ?? null,
    contentType: req.headers["content-type"] ?? null,
    status: null,
  };
  log.push(line);
  if (url.pathname === "/api/batch") {
    try {
      line.ids = JSON.parse(text).entries.map((e) => e.id);
      line.entries = line.ids.length;
    } catch {}
  }

  if (networkDown) {
    line.status = "network down";
    return req.socket.destroy();
  }
  const fault = faults.find((f) => f.count > 0);
  if (fault) fault.count--;
  const mode = fault?.mode ?? null;
  line.fault = mode;
  if (mode === "500") {
    line.status = 500;
    return send(res, 500, { error: "internal error" });
  }
  if (mode === "401") {
    line.status = 401;
    return send(res, 401, { error: "token expired" });
  }
  if (mode === "429") {
    line.status = 429;
    return send(res, 429, { error: "slow down" }, { "retry-after": "1" });
  }
  if (mode === "drop") {
    line.status = "dropped";
    return req.socket.destroy();
  }
  if (mode === "hold") {
    line.status = "held";
    // While held, the key is in progress: a retry of it meanwhile is answered 409.
    if (key) inProgress.add(key);
    return new Promise((ok) => held.push(() => {
      if (key) inProgress.delete(key);
      ok(handle(req, res, url, text, key, line, null));
    }));
  }
  return handle(req, res, url, text, key, line, mode);
}

function handle(req, res, url, text, key, line, mode) {
  let body;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    line.status = 400;
    return send(res, 400, { error: "the body is not JSON" });
  }
  let answer;
  const widget = url.pathname.match(/^\/api\/widgets\/([^/]+)$/);
  if (widget && req.method === "GET") {
    const w = widgets.get(decodeURIComponent(widget[1]));
    answer = w ? { status: 200, body: w } : { status: 404, body: { error: "no such widget" } };
  } else if (widget && req.method === "PUT") {
    answer = once(key, () => putWidget(decodeURIComponent(widget[1]), body, key));
  } else if (url.pathname === "/api/batch" && req.method === "POST") {
    if (!Array.isArray(body?.entries)) {
      answer = { status: 400, body: { error: "entries must be an array" } };
    } else {
      const results = body.entries.map((e) => {
        const a = once(e.id, () => putWidget(String(e.channel), e.data, e.id));
        return a.status < 300 ? { id: e.id, status: a.status } : { id: e.id, status: a.status, error: a.body.error };
      });
      answer = { status: 200, body: { results } };
    }
  } else {
    answer = { status: 404, body: { error: "not found" } };
  }
  if (mode === "drop-after") {
    line.status = "dropped after applying";
    return req.socket.destroy();
  }
  line.status = answer.status;
  line.replayed = answer.replayed === true;
  send(res, answer.status, answer.body);
}

// ---------------------------------------------------------------------------------------
// The app's pages, same origin.
// ---------------------------------------------------------------------------------------
const root = resolve(import.meta.dirname, "..", "..", "..");
const dirs = [
  ["/pkg/", join(root, "pkg")],
  ["/hooks/", join(root, "www/tests/hooks/dist")],
  ["/assets/", join(root, "www/tests/hooks/dist/assets")],
  ["/", join(root, "www/tests/pages")],
];
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };

function page(req, res, url) {
  let path = decodeURIComponent(url.pathname);
  if (path.endsWith("/")) path += "index.html";
  const [prefix, dir] = dirs.find(([p]) => path.startsWith(p));
  const file = join(dir, normalize(path.slice(prefix.length - 1)));
  if (!file.startsWith(dir) || !existsSync(file)) {
    res.statusCode = 404;
    return res.end();
  }
  res.setHeader("content-type", types[extname(file)] ?? "application/octet-stream");
  res.end(readFileSync(file));
}

const http = createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname.startsWith("/api/")) {
    api(req, res, url).catch((e) => {
      if (!res.headersSent) send(res, 500, { error: String(e) });
    });
  } else {
    page(req, res, url);
  }
});
// Many requests in one connection (the batch drain), and no idle timeouts during a test.
http.keepAliveTimeout = 60_000;

// ---------------------------------------------------------------------------------------
// The test control port.
// ---------------------------------------------------------------------------------------
const control = controlServer((path, b, reply, res) => {
  if (path === "/faults") {
    faults.push({ mode: String(b.mode), count: Number(b.count ?? 1) });
    return reply({ ok: true, faults });
  }
  if (path === "/network") {
    networkDown = b.down === true;
    return reply({ down: networkDown });
  }
  if (path === "/release") {
    const n = held.length;
    for (const go of held.splice(0)) go();
    return reply({ released: n });
  }
  if (path === "/set") {
    widgets.set(String(b.id), { ...b.widget, id: String(b.id) });
    return reply(widgets.get(String(b.id)));
  }
  if (path === "/reset") {
    widgets = new Map();
    responses = new Map();
    inProgress = new Set();
    appliedPerWidget = {};
    appliedPerKey = {};
    requestsPerKey = {};
    log = [];
    faults = [];
    networkDown = false;
    for (const go of held.splice(0)) go();
    return reply({ ok: true });
  }
  if (path === "/stats") {
    return reply({
      widgets: Object.fromEntries(widgets),
      appliedPerWidget,
      appliedPerKey,
      requestsPerKey,
      log,
      held: held.length,
      faults: faults.filter((f) => f.count > 0),
    });
  }
  return notFound(res, reply);
});

await listen(http, control, opt, async () => {
  http.closeAllConnections();
  http.close();
});
