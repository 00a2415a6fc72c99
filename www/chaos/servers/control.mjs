// The chaos servers' start-up handshake and control port: listen on 127.0.0.1 (the ports the
// harness gives), stop on SIGTERM, print "ready"; the control port answers GET /stored (every
// stored entry, in store order, without bulky data), GET /stats, and POST /kick (every client
// connection dropped without a goodbye, as a network cut does) — to the harness only: the
// per-run secret is required and pages are refused (tests/servers/control.mjs).
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { secretCheck } from "../../tests/servers/control.mjs";
import { storedSummary } from "./durable-log.mjs";

/** `--port P --control-port C --store FILE` (what tests/harness.mjs's startNodeServer passes). */
export function serverArgs(name, extra = {}) {
  const { values } = parseArgs({
    options: { port: { type: "string" }, "control-port": { type: "string" }, store: { type: "string" }, ...extra },
  });
  if (!values.port || !values["control-port"] || !values.store) {
    console.error(`usage: ${name} --port P --control-port C --store FILE`);
    process.exit(2);
  }
  return values;
}

/** Listens on both ports, prints "ready"; `stats()` is merged into GET /stats. */
export async function serve(app, opt, log, stats, onStop, kick) {
  const allowed = secretCheck();
  const control = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    res.setHeader("content-type", "application/json");
    if (!allowed(req)) {
      res.statusCode = 403;
      return res.end(JSON.stringify({ error: "forbidden" }));
    }
    if (path === "/stored") return res.end(JSON.stringify(storedSummary(log)));
    if (path === "/kick") return res.end(JSON.stringify({ kicked: kick() }));
    if (path === "/stats") return res.end(JSON.stringify({ stored: log.entries.length, pid: process.pid, ...stats() }));
    res.statusCode = 404;
    res.end(JSON.stringify({ error: "not found" }));
  });
  process.on("SIGTERM", async () => {
    await onStop();
    control.close();
    process.exit(0);
  });
  await new Promise((ok) => app.listen(Number(opt.port), "127.0.0.1", ok));
  await new Promise((ok) => control.listen(Number(opt["control-port"]), "127.0.0.1", ok));
  console.log("ready");
}
