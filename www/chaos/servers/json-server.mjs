// The chaos run's JSON WebSocket backend: feeds of items on the `ws` package with its own
// frame shapes (feeds-ws.mjs), posts stored once per ref in an append-only file fsynced before
// the answer (durable-log.mjs), a resume by offset, and an app-level ping.
//
//   node chaos/servers/json-server.mjs --port P --control-port C --store FILE
import { createServer } from "node:http";
import { serve, serverArgs } from "./control.mjs";
import { openLog } from "./durable-log.mjs";
import { feedsOverWs } from "./feeds-ws.mjs";

const opt = serverArgs("json-server.mjs");
const log = openLog(opt.store);
const http = createServer((req, res) => {
  res.statusCode = 404;
  res.end();
});
const live = feedsOverWs(http, "/ws", log, { posts: true });

await serve(http, opt, log, live.stats, live.close, live.kick);
