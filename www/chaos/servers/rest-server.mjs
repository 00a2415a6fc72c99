// The chaos run's REST backend, written the way apps write one with Node's `http`:
//   POST /api/feeds/:feed/items   the body is the item; applied once per Idempotency-Key (a key
//                                 seen before gets the stored answer), stored in an append-only
//                                 file fsynced before the 201 (durable-log.mjs)
//   GET  /api/feeds/:feed/items?after=N
// It allows cross-origin calls from the app's pages (CORS, with the headers syncline's HTTP
// outbox sends), and pushes each new item to viewers over its live WebSocket at /live
// (feeds-ws.mjs, read-only).
//
//   node chaos/servers/rest-server.mjs --port P --control-port C --store FILE
import { createServer } from "node:http";
import { serve, serverArgs } from "./control.mjs";
import { openLog } from "./durable-log.mjs";
import { feedsOverWs } from "./feeds-ws.mjs";

const opt = serverArgs("rest-server.mjs");
const log = openLog(opt.store);
const counts = { requests: 0, replayed: 0, refused: 0 };

const cors = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST",
  "access-control-allow-headers": "content-type, idempotency-key, x-syncline-channel, x-syncline-event, authorization",
  "access-control-expose-headers": "retry-after",
  "access-control-max-age": "600",
};

function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json", ...cors });
  res.end(JSON.stringify(body));
}

const readBody = (req) => new Promise((ok, fail) => {
  const chunks = [];
  req.on("data", (b) => chunks.push(b));
  req.on("end", () => ok(Buffer.concat(chunks).toString("utf8")));
  req.on("error", fail);
});

const http = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (req.method === "OPTIONS") {
    res.writeHead(204, cors);
    return res.end();
  }
  const m = url.pathname.match(/^\/api\/feeds\/([^/]+)\/items$/);
  if (!m) return send(res, 404, { error: "not found" });
  const feed = decodeURIComponent(m[1]);
  if (req.method === "GET") {
    return send(res, 200, log.after(feed, Number(url.searchParams.get("after")) || 0));
  }
  if (req.method !== "POST") return send(res, 405, { error: "method not allowed" });
  counts.requests++;
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    counts.refused++;
    return send(res, 400, { error: "the body is not JSON" });
  }
  const key = req.headers["idempotency-key"];
  if (typeof key !== "string" || !key) {
    counts.refused++;
    return send(res, 400, { error: "Idempotency-Key is required" });
  }
  const event = req.headers["x-syncline-event"] ?? "item";
  const { entry, fresh } = log.append({ channel: feed, event, data: body, id: key });
  if (fresh) live.fanOut(entry);
  else counts.replayed++;
  send(res, fresh ? 201 : 200, { feed, offset: entry.seq, id: key });
});
http.keepAliveTimeout = 60_000;
const live = feedsOverWs(http, "/live", log, { posts: false });

await serve(http, opt, log, () => ({ ...counts, ...live.stats() }), async () => {
  await live.close();
  http.closeAllConnections();
}, live.kick);
