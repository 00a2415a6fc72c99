// syncline's server helper for Socket.IO servers that share the Redis streams adapter
// (@socket.io/redis-streams-adapter). Node only; not loaded by the browser client.
//
// Socket.IO's connection state recovery hands a reconnecting client the broadcasts it missed,
// but only when the server that had the socket stored its session on the way out. When that
// server dies (SIGKILL, crash, OOM), recovery fails and the client starts a new session: the
// events broadcast in between are gone. They are still in the Redis stream the adapter writes
// every broadcast to, so a client that knows the offset of the last event it saw can ask for
// the rest: syncline does this with the client option `replayEvent: "syncline:replay"`.
//
//   import { replayMissed } from "syncline/server/socketio";
//   replayMissed(io.of("/"), redisClient);
//
// Facts of the adapter this relies on (0.3.x): each broadcast is a stream entry whose fields are
// `nsp`, `type` ("3" for a broadcast) and `data`: JSON text (it starts with "{") or, when the
// packet holds binary, MessagePack encoded as base64; decoded it is `{ packet, opts }`, with
// `packet.data = [event, ...args]` and `opts = { rooms: [...], except: [...], flags }`.

const OFFSET = /^\d+-\d+$/;

/**
 * On every connection of `nsp`, answers `socket.on(event, ({ offset }, ack) => …)`: reads the
 * stream after `offset` (exclusive, in pages), emits each broadcast of this namespace that this
 * socket's rooms would have received — included when it went to all (no rooms) or to one of the
 * socket's rooms, excluded when one of them was in `except`, the rule of the adapter's own
 * session recovery — to this socket only as `(event, ...args, entryId)`, as Socket.IO's own
 * recovery does, then acks `{ replayed: n }` (after them, on the same connection).
 * The ack also has `trimmed: true` when the offset is no longer in the stream (older entries
 * were trimmed by the adapter's `maxLen`: some events cannot be replayed), and `error` when
 * the offset is malformed or Redis failed.
 *
 * Register the app's handlers that join rooms before the client's replay request arrives
 * (syncline sends its `joins` first): the replay uses the rooms the socket is in when it runs.
 *
 * @param nsp the namespace, e.g. `io.of("/")`
 * @param redisClient a connected client of the `redis` package (4.x) or of `ioredis`
 * @param options `streamName`: the adapter's stream (default "socket.io"; with the adapter's
 *   `streamCount` > 1, the stream of this namespace); `event`: the client's `replayEvent`;
 *   `pageSize`: entries per XRANGE (default 100)
 */
export function replayMissed(nsp, redisClient, { streamName = "socket.io", event = "syncline:replay", pageSize = 100 } = {}) {
  nsp.on("connection", (socket) => {
    socket.on(event, async (request, ack) => {
      const answer = typeof ack === "function" ? ack : () => {};
      const offset = request?.offset;
      if (typeof offset !== "string" || !OFFSET.test(offset)) {
        return answer({ replayed: 0, error: "invalid offset" });
      }
      let replayed = 0;
      try {
        const trimmed = (await xrange(redisClient, streamName, offset, offset, 1)).length === 0;
        // Entries added while this runs reach the socket live too (it is in its rooms already);
        // the client drops what it already has by offset. A page shorter than asked is the end.
        for (let after = offset; ;) {
          const entries = await xrange(redisClient, streamName, nextOffset(after), "+", pageSize);
          for (const { id, message } of entries) {
            after = id;
            if (message.nsp !== nsp.name || message.type !== "3" || !message.data) continue;
            const { packet, opts } = await decode(message.data);
            // Events only (type 2); volatile broadcasts carry no offset and are not kept.
            if (packet?.type !== 2 || opts?.flags?.volatile !== undefined || !includes(socket.rooms, opts)) continue;
            // Not `socket.emit`: with connection state recovery on, that goes through the
            // adapter, which adds a new stream entry and appends its id as another offset.
            // A local broadcast to the socket's own room is written to it at once, as is.
            nsp.local.to(socket.id).emit(packet.data[0], ...packet.data.slice(1), id);
            replayed++;
          }
          if (entries.length < pageSize) break;
        }
        answer(trimmed ? { replayed, trimmed: true } : { replayed });
      } catch (e) {
        answer({ replayed, error: String(e?.message ?? e) });
      }
    });
  });
}

/** The adapter's room rule: sent to everyone or to one of the rooms, and to none of `except`. */
function includes(rooms, { rooms: to = [], except = [] }) {
  const socketRooms = [...rooms];
  const included = to.length === 0 || socketRooms.some((room) => to.includes(room));
  return included && socketRooms.every((room) => !except.includes(room));
}

/** The id right after `id` (an exclusive start that also works before Redis 6.2). */
function nextOffset(id) {
  const [ms, seq] = id.split("-");
  return `${ms}-${BigInt(seq) + 1n}`;
}

/** XRANGE with COUNT as `[{ id, message }]`, for node-redis 4 (`xRange`) and ioredis (`xrange`). */
async function xrange(client, key, start, end, count) {
  if (typeof client.xRange === "function") return client.xRange(key, start, end, { COUNT: count });
  const rows = await client.xrange(key, start, end, "COUNT", count);
  return rows.map(([id, fields]) => {
    const message = {};
    for (let i = 0; i < fields.length; i += 2) message[fields[i]] = fields[i + 1];
    return { id, message };
  });
}

let msgpack = null;
/** JSON text, or MessagePack in base64 for packets with binary (decoded by @msgpack/msgpack,
 *  which the adapter depends on, loaded only when such an entry comes up). */
async function decode(data) {
  if (data.startsWith("{")) return JSON.parse(data);
  msgpack ??= await import("@msgpack/msgpack");
  return msgpack.decode(Buffer.from(data, "base64"));
}
