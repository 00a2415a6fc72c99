/** The part of a Socket.IO namespace the helper uses (`io.of("/")`). */
export interface NamespaceLike {
  readonly name: string;
  on(event: "connection", listener: (socket: any) => void): unknown;
}

export interface ReplayMissedOptions {
  /** The Redis streams adapter's stream (default "socket.io"). */
  streamName?: string;
  /** The event the client sends: syncline's `replayEvent` option (default "syncline:replay"). */
  event?: string;
  /** Entries read per XRANGE (default 100). */
  pageSize?: number;
}

/** What the replay request is acked with. */
export interface ReplayAnswer {
  replayed: number;
  /** The offset is no longer in the stream: older entries were trimmed and cannot be replayed. */
  trimmed?: true;
  error?: string;
}

/**
 * Answers syncline's replay request (sent when connection state recovery failed) from the
 * Redis stream of @socket.io/redis-streams-adapter: every broadcast after the client's last
 * offset that the socket's current rooms would have received is emitted to it with the stream
 * entry id appended, then the request is acked with `{ replayed }`.
 *
 * @param redisClient a connected `redis` (4.x) or `ioredis` client
 */
export function replayMissed(nsp: NamespaceLike, redisClient: unknown, options?: ReplayMissedOptions): void;
