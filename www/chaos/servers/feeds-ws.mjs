// The live side of the chaos run's JSON backends, on the `ws` package as its README writes
// servers. Frames are JSON objects with an `op`:
//   client → server  {op:"watch", feed}              live items of the feed from now on
//                    {op:"watch", feed, after}       first the stored items after `after`, then live
//                    {op:"unwatch", feed}
//                    {op:"post", ref, feed, kind, body}   (when posts are accepted) stored once per
//                      ref, then sent to the feed's watchers; answered {op:"posted", ref, offset}
//                      or {op:"refused", ref, why}
//                    {op:"ping"} → {op:"pong"}
//   server → client  {op:"item", feed, offset, kind, body, ref}
import { WebSocket, WebSocketServer } from "ws";

/** Serves feeds over WebSocket at `path` of `server`; `posts`: whether clients may post. */
export function feedsOverWs(server, path, log, { posts }) {
  const wss = new WebSocketServer({ server, path, maxPayload: 1 << 20 });
  const counts = { connections: 0, duplicates: 0, refused: 0, resumes: 0 };
  const itemOf = (e) => ({ op: "item", feed: e.channel, offset: e.seq, kind: e.event, body: e.data, ref: e.id });

  /** Sends a stored entry to every watcher of its feed. */
  function fanOut(entry) {
    const text = JSON.stringify(itemOf(entry));
    for (const ws of wss.clients) {
      if (ws.readyState === WebSocket.OPEN && ws.feeds.has(entry.channel)) ws.send(text);
    }
  }

  wss.on("connection", (ws) => {
    counts.connections++;
    ws.feeds = new Set();
    const send = (m) => ws.send(JSON.stringify(m));
    ws.on("message", (raw) => {
      let msg;
      try {
        msg = JSON.parse(raw);
      } catch {
        return send({ op: "refused", why: "not JSON" });
      }
      switch (msg.op) {
        case "ping":
          return send({ op: "pong" });
        case "watch": {
          const feed = String(msg.feed);
          if (msg.after !== undefined) {
            counts.resumes++;
            // Replay and registration in one turn of the event loop: nothing falls between.
            for (const e of log.after(feed, Number(msg.after) || 0)) send(itemOf(e));
          }
          ws.feeds.add(feed);
          return;
        }
        case "unwatch":
          ws.feeds.delete(String(msg.feed));
          return;
        case "post": {
          if (!posts || typeof msg.ref !== "string" || typeof msg.feed !== "string") {
            counts.refused++;
            return send({ op: "refused", ref: msg.ref ?? null, why: posts ? "a post needs a ref and a feed" : "read-only" });
          }
          const { entry, fresh } = log.append({ channel: msg.feed, event: String(msg.kind), data: msg.body, id: msg.ref });
          if (fresh) fanOut(entry);
          else counts.duplicates++;
          return send({ op: "posted", ref: msg.ref, offset: entry.seq });
        }
        default:
          return send({ op: "refused", ref: msg.ref ?? null, why: `unknown op ${msg.op}` });
      }
    });
  });

  return {
    wss,
    fanOut,
    stats: () => ({ ...counts, clients: wss.clients.size }),
    kick() {
      for (const ws of wss.clients) ws.terminate();
      return wss.clients.size;
    },
    close: () => new Promise((r) => {
      for (const ws of wss.clients) ws.terminate();
      wss.close(r);
    }),
  };
}
