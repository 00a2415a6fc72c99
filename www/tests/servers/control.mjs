// What the test servers share: a JSON control port for the tests, and the start-up handshake
// (listen on 127.0.0.1, stop on SIGTERM, print "ready").
import { timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

/** The per-run secret the test gives in SYNCLINE_CONTROL_SECRET (harness.mjs): every control
 *  request must carry it in `x-syncline-secret`. Requests from web pages (any `Origin`) are
 *  refused, and no CORS header is ever sent, so no page can drive a control port. Returns
 *  `(req) => allowed`; exits the process when the secret is missing. For any test server's
 *  control port (controlServer uses it). */
export function secretCheck() {
  const secret = Buffer.from(process.env.SYNCLINE_CONTROL_SECRET ?? "");
  if (secret.length < 16) {
    console.error("the control port needs a per-run secret of 16+ characters in SYNCLINE_CONTROL_SECRET");
    process.exit(2);
  }
  return (req) => {
    if (req.headers.origin !== undefined) return false;
    const given = Buffer.from(String(req.headers["x-syncline-secret"] ?? ""));
    return given.length === secret.length && timingSafeEqual(given, secret);
  };
}

const readBody = (req) =>
  new Promise((ok) => {
    let text = "";
    req.on("data", (b) => (text += b));
    req.on("end", () => ok(text ? JSON.parse(text) : {}));
  });

/** A control server: `route(path, body, reply, res, url)` answers with `reply(value)`; a
 *  thrown error is a 500 with its message. */
export function controlServer(route) {
  const allowed = secretCheck();
  return createServer(async (req, res) => {
    const reply = (value) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(value));
    };
    if (!allowed(req)) {
      res.statusCode = 403;
      req.resume();
      return reply({ error: "forbidden: missing or wrong x-syncline-secret" });
    }
    try {
      const url = new URL(req.url, "http://x");
      const b = req.method === "POST" ? await readBody(req) : {};
      await route(url.pathname, b, reply, res, url);
    } catch (e) {
      res.statusCode = 500;
      reply({ error: String(e) });
    }
  });
}

/** Answers an unknown control path. */
export function notFound(res, reply) {
  res.statusCode = 404;
  return reply({ error: "not found" });
}

/** Listens on `opt.port` and `opt["control-port"]`, stops on SIGTERM after `onStop`, and
 *  prints "ready" for the test that started it. */
export async function listen(http, control, opt, onStop) {
  process.on("SIGTERM", async () => {
    await onStop();
    control.close();
    process.exit(0);
  });
  await new Promise((ok) => http.listen(Number(opt.port), "127.0.0.1", ok));
  await new Promise((ok) => control.listen(Number(opt["control-port"]), "127.0.0.1", ok));
  console.log("ready");
}

/** The control paths every `ws` test server has, answered for `wss` when `path` is one of
 *  them (true), else false: `/send` `{ frames: [value] }` sends each to every open connection
 *  (objects as JSON, strings as they are); `/silence` makes the open connections stop
 *  answering anything while their TCP sockets stay open (counted in `stats.silenced`). */
export function wsControl(wss, path, b, reply, stats) {
  const open = (c) => c.readyState === 1 && !c.silent;
  if (path === "/send") {
    for (const f of b.frames) {
      const text = typeof f === "string" ? f : JSON.stringify(f);
      wss.clients.forEach((c) => open(c) && c.send(text));
    }
    reply({ ok: true });
    return true;
  }
  if (path === "/silence") {
    let n = 0;
    wss.clients.forEach((c) => {
      if (!c.silent) n++;
      c.silent = true;
    });
    stats.silenced += n;
    reply({ ok: true, silenced: n });
    return true;
  }
  return false;
}
