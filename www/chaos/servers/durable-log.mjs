// The storage the chaos servers share, as an app without a database would write it: an
// append-only file of JSON lines, each line written whole and fsynced before the server answers,
// so that an acked publish survives a SIGKILL (and a power cut). Each entry is stored once per
// id; the channel's sequence is the entry's place in its channel.
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";

/** Opens (or creates) the log at `file`; a line torn by a kill mid-write is cut off. */
export function openLog(file) {
  let text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const fd = openSync(file, "a+");
  const end = text.lastIndexOf("\n") + 1;
  if (end !== text.length) {
    ftruncateSync(fd, Buffer.byteLength(text.slice(0, end)));
    fsyncSync(fd);
    text = text.slice(0, end);
  }
  const entries = [];
  const byId = new Map();
  const heads = new Map();
  for (const line of text.split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line);
    entries.push(e);
    if (e.id) byId.set(e.id, e);
    heads.set(e.channel, e.seq);
  }
  return {
    entries,
    /** The stored entry with this id, if any. */
    get: (id) => byId.get(id),
    /** The channel's last sequence (0 when empty). */
    head: (channel) => heads.get(channel) ?? 0,
    /** Stores `{ channel, event, data, id }` unless its id is stored already; returns the
     *  stored entry (with `seq`) and whether it is new. Durable when it returns. */
    append({ channel, event, data, id }) {
      const old = id ? byId.get(id) : undefined;
      if (old) return { entry: old, fresh: false };
      const entry = { channel, seq: (heads.get(channel) ?? 0) + 1, event, data, id: id ?? null, at: Date.now() };
      writeSync(fd, JSON.stringify(entry) + "\n");
      fsyncSync(fd);
      entries.push(entry);
      if (id) byId.set(id, entry);
      heads.set(channel, entry.seq);
      return { entry, fresh: true };
    },
    /** The channel's entries after `since`, oldest first. */
    after: (channel, since) => entries.filter((e) => e.channel === channel && e.seq > since),
    close: () => closeSync(fd),
  };
}

/** What the chaos run reads back: every stored entry in store order, without bulky data
 *  (the writer `w`, its counter `n`, the bytes of padding). */
export function storedSummary(log) {
  return log.entries.map((e) => ({
    channel: e.channel,
    seq: e.seq,
    id: e.id,
    w: e.data?.w ?? null,
    n: e.data?.n ?? null,
    at: e.at,
  }));
}
