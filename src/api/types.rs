//! The TypeScript types of the JS API, declared once for the generated `.d.ts`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Connection states, in the order a connection usually passes through them. */
export type ConnectionState = "idle" | "connecting" | "open" | "waiting" | "offline" | "closed";

export interface ClientOptions {
  /** WebSocket URL of a syncline relay, e.g. "wss://example.com/ws"; with
   *  `protocol: "socket.io"`, the Socket.IO server's URL as socket.io-client takes it
   *  ("https://example.com", or "https://example.com/admin" for the /admin namespace).
   *  Optional only with `outbox.transport: "http"`: without it there is no socket. */
  url?: string;
  /** Allow a plain `ws://`/`http://` URL to a host other than this machine (default false:
   *  such URLs throw, so that tokens and data never cross the network unencrypted). */
  allowInsecure?: boolean;
  /** What the server speaks: "syncline" (the relay; default), "socket.io" (Engine.IO v4
   *  over WebSocket, Socket.IO v5), or "json" (any JSON WebSocket server, its frames declared
   *  in `json`; the URL is used as it is). */
  protocol?: "syncline" | "socket.io" | "json";
  /** With `protocol: "json"` (required there): where things are in the server's frames and
   *  how to build the frames it expects. */
  json?: JsonProtocolOptions;
  /** Socket.IO namespace (default: the URL's path, else "/"). */
  namespace?: string;
  /** Socket.IO server's Engine.IO path (default "/socket.io/"). */
  path?: string;
  /** Asked for credentials before every connect: a token, `{ token }`, null, or a Promise of one. */
  auth?: () => string | { token: string | null } | null | Promise<string | { token: string | null } | null>;
  /** Stable id of this client (default: random per client). */
  clientId?: string;
  /** Connect at once (default true). */
  autoConnect?: boolean;
  /** Reconnect delays: 1000 ms, ×2, up to 30000 ms, jitter 0.5 (±50 %) by default. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; factor?: number; jitter?: number };
  /** Ping every 15000 ms; dead when no pong within 5000 ms (defaults). Socket.IO servers
   *  set their own heartbeat (pingInterval + pingTimeout) and this is not used. */
  heartbeat?: { intervalMs?: number; timeoutMs?: number };
  /** Auth + socket open + welcome must finish within this (default 10000 ms). */
  connectTimeoutMs?: number;
  /** Time per request attempt (default 5000 ms). */
  requestTimeoutMs?: number;
  /** Further attempts after a timeout or lost connection (default 3, spaced 1 s, 2 s, 4 s;
   *  0 with `protocol: "socket.io"` or `"json"`, whose handlers may not recognize a resent event). */
  requestRetries?: number;
  /** Time the server has to ack a publish once sent (default 5000 ms). */
  publishTimeoutMs?: number;
  /** Messages held while not connected (default 1000); beyond it calls fail with kind "buffer_full". */
  sendBufferSize?: number;
  /** Largest frame accepted from the server (default 1 MiB). */
  maxMessageBytes?: number;
  /** Names the outbox's IndexedDB database ("syncline:" + key; default "default"), e.g. per user.
   *  Tabs with the same key share one connection and one outbox. */
  storageKey?: string;
  /** How document conflicts are settled (default "lww"), the resolver for "custom", and how
   *  many conflicts the audit trail keeps (default 500). */
  conflicts?: { strategy?: ConflictStrategy; resolver?: (conflict: ConflictRecord) => unknown; auditSize?: number };
  /** Publishes with `batch: true` wait for up to maxMessages (10) or maxDelayMs (2000). */
  batching?: { maxMessages?: number; maxDelayMs?: number };
  /** The circuit breaker around sending: opens after `threshold` consecutive failures
   *  (default 5), probes after `cooldownMs` (default 30000). */
  breaker?: { threshold?: number; cooldownMs?: number };
  /** One WebSocket for all tabs of the origin, held by an elected leader tab (default true).
   *  With false every tab connects itself; tabs still share the outbox and `broadcast`. */
  shareConnection?: boolean;
  outbox?: {
    /** Entries in flight at once (default 64). */
    window?: number;
    /** Time the server has to ack a sent entry before it is sent again (default 10000 ms). */
    ackTimeoutMs?: number;
    /** Age after which an unsent entry becomes a dead letter (default 7 days). */
    retentionMs?: number;
    /** Most entries held; beyond, publish rejects with kind "buffer_full" (default 100000). */
    maxEntries?: number;
    /** Delays between retries of one entry (default 1000 ms, ×2, up to 30000 ms, jitter 0.5). */
    retry?: { initialDelayMs?: number; maxDelayMs?: number; factor?: number; jitter?: number };
    /** Sends of one entry that got no answer within ackTimeoutMs before it becomes a dead
     *  letter (reason "ack_timeout: …"; default 8). Lost connections do not count. */
    maxAttempts?: number;
    /** Most dead letters kept (default 1,000); beyond, the oldest is dropped with an error
     *  event of kind "dead_letter_evicted". */
    maxDeadLetters?: number;
    /** Where durable publishes go: "socket" (default) or "http" (one `fetch` per entry, or
     *  batches to `batchUrl`; 2xx confirms, 4xx other than 401/408/409/425/429 refuses for
     *  good, the rest is retried, honouring `Retry-After`). */
    transport?: "socket" | "http";
    /** HTTP: one entry's URL; `{channel}`, `{event}` and `{id}` are filled in, URL-encoded.
     *  The body is the entry's data; `Idempotency-Key` is the entry's id. */
    url?: string;
    /** HTTP: one entry's method (default "POST"). */
    method?: "POST" | "PUT" | "PATCH" | "DELETE";
    /** HTTP: headers every request carries (`auth()`'s token goes as `Authorization: Bearer`). */
    headers?: Record<string, string>;
    /** HTTP: entries go in batches (POST `{entries: [{id, channel, event, data}]}`) to this
     *  URL instead; a 2xx answer confirms all, or each by `{results: [{id, status}]}`. */
    batchUrl?: string;
    /** HTTP: entries per batch (default 500). */
    batchSize?: number;
  };
  /** When a durable publish counts as delivered (Socket.IO and JSON; default "ack"): "ack"
   *  when the server acks it (JSON: needs `json.answer`); "echo" when an event carrying its id comes back (a room broadcast the
   *  sender is in); "sent" once written to an open socket. See the README's table. */
  delivery?: "ack" | "echo" | "sent";
  /** Socket.IO: the payload member that carries a durable publish's id (default "id"); an id
   *  already there is kept and is the one the server sees. */
  idField?: string;
  /** Socket.IO: a durable publish is `[event, payload]` with its id in the payload
   *  ("payload", default; handlers `(payload, ack) => …`), or `[channel, data, { id, event }]`
   *  ("meta"; handlers `(data, meta, ack) => …`). */
  publishFormat?: "payload" | "meta";
  /** Socket.IO: events sent after every connect on which the server did not recover the
   *  session, before anything else, e.g. `[["join_match", 42]]`: rooms come back by themselves. */
  joins?: Array<[string, ...unknown[]]>;
  /** Socket.IO with the server helper (`syncline/server/socketio`): the event that asks it to
   *  replay what a lost session missed (opt-in, e.g. "syncline:replay"). */
  replayEvent?: string;
  /** Socket.IO: how the server's answer to a durable publish (its ack's first argument) is
   *  read (with `protocol: "json"`, `json.answer` decides). Default:
   *  any answer confirms, except `{ ok: false, … }` or `{ error, … }`, which refuse (retried
   *  when `retryable: true`, else a dead letter with that error). */
  ackResult?: (answer: unknown) => "ok" | "retry" | "refuse";
}

/** A frame template: objects and lists nest; a string that is exactly "{name}" is replaced by
 *  the value itself (left out when there is none), "{name}" inside other text by the value as
 *  text. Names: id, channel, event, data, since, token, client, ts. */
export type JsonTemplate = { [key: string]: unknown } | unknown[];

/** `protocol: "json"`: the server's frames. Paths are dotted ("payload.unit.id"). */
export interface JsonProtocolOptions {
  /** Required: path of the event name (a string) in an event frame. */
  event: string;
  /** Path of the channel (absent, or missing in a frame: the event name is the channel). */
  channel?: string;
  /** Path of the event's data (absent: the whole frame). */
  data?: string;
  /** Path of a message id (duplicate drop; with delivery "echo", the publish id coming back). */
  id?: string;
  /** Path of the server's per-channel sequence number (a number); sent as `since` on resume. */
  seq?: string;
  /** How the server answers publishes and requests. */
  answer?: {
    /** Required: path of the id of the publish or request answered. */
    id: string;
    /** A frame is an answer only if each (path → value) holds; a list: any of them. */
    match?: { [path: string]: unknown } | Array<{ [path: string]: unknown }>;
    /** Path of a request's result (absent: the whole frame). */
    result?: string;
    /** Path of the error (default "error"): present and not null refuses the publish (retried
     *  when the error or the frame has `retryable: true`) or rejects the request. */
    error?: string;
  };
  /** Sent first on each socket (e.g. `{ type: "auth", token: "{token}" }`). */
  hello?: JsonTemplate;
  /** Sent for each channel subscribed (absent: subscriptions are local only). */
  subscribe?: JsonTemplate;
  unsubscribe?: JsonTemplate;
  /** Sent instead of `subscribe` on a reconnect when the client has a sequence (`{since}`). */
  resume?: JsonTemplate;
  /** A publish (`{id}` is the outbox entry's id, stable across retries and reloads). Default:
   *  each value at the path it is read by (data without a data path: its members at the top). */
  publish?: JsonTemplate;
  /** A request (`{id}` is answered by `answer.id`). */
  request?: JsonTemplate;
  /** An event without an answer (`client.emit`); without it (and with a declared `publish`),
   *  emits go as memory-only publishes. */
  emit?: JsonTemplate;
  /** App-level heartbeat: `ping` sent every heartbeat.intervalMs, a frame matching `pong`
   *  expected within heartbeat.timeoutMs (else the connection is reconnected); a server frame
   *  matching `ping` is answered with `pong`. Absent or null: no app-level heartbeat. */
  heartbeat?: { ping: JsonTemplate; pong: JsonTemplate } | null;
  /** For the unusual: the frame for `kind`, or undefined to use the template. */
  encode?: (
    kind: "hello" | "subscribe" | "unsubscribe" | "resume" | "publish" | "request" | "emit" | "ping" | "pong",
    message: { id?: string; channel?: string; event?: string; data?: unknown; since?: number; token?: string; client?: string; ts?: number },
  ) => object | undefined;
}

export interface OutboxState {
  /** Durable publishes not yet acked by the server. */
  readonly depth: number;
  /** Of those, sent and waiting for the ack. */
  readonly inFlight: number;
  /** Epoch ms of the oldest entry's publish. */
  readonly oldestCreatedAt: number | null;
  readonly deadLetters: number;
  /** Where entries are kept: "loading", "indexeddb", or "memory" (degraded). */
  readonly storage: "loading" | "indexeddb" | "memory";
  /** The circuit breaker: "open" means entries wait in the outbox until a probe succeeds. */
  readonly breaker: "closed" | "open" | "half-open";
  /** True when IndexedDB is unavailable or failed: entries survive only while the page lives. */
  readonly degraded: boolean;
  readonly lastError: { readonly kind: string; readonly message: string } | null;
}

export interface ClientState {
  /** Increases whenever anything else here changes; equal versions are the same object. */
  readonly version: number;
  readonly state: ConnectionState;
  /** What the browser says about the network. */
  readonly online: boolean;
  readonly visible: boolean;
  /** Failed attempts since the connection was last open. */
  readonly attempt: number;
  /** Times the connection opened again after having been open. */
  readonly reconnects: number;
  /** Last heartbeat round trip, in ms (on Socket.IO, whose clients may not ping, the CONNECT
   *  round trip). */
  readonly rttMs: number | null;
  /** Epoch ms of the next attempt, while waiting. */
  readonly retryAt: number | null;
  readonly lastError: { readonly kind: string; readonly message: string } | null;
  /** Session id from the server, while open. */
  readonly session: string | null;
  /** Socket.IO connection state recovery on the last connect: true when the server took the
   *  session up again (rooms and missed events restored), false when it could not (see the
   *  "gap" event), null on a first connect or a server without recovery. */
  readonly recovered: boolean | null;
  /** After a failed recovery: the offset of the last event seen before it (events after it
   *  may be missing); null otherwise. */
  readonly missedAfter: string | null;
  /** Messages waiting for the connection. */
  readonly buffered: number;
  /** Requests and publishes waiting for an answer. */
  readonly pending: number;
  /** Subscribed channels. */
  readonly channels: number;
  readonly outbox: OutboxState;
  /** This tab's part: "leader" holds the connection for all tabs, "follower" goes through
   *  it, "pending" while the election runs, "solo" when not sharing. */
  readonly role: "leader" | "follower" | "pending" | "solo";
  /** Follower tabs linked to this one, while it leads. */
  readonly tabs: number;
  /** What carries messages between tabs: "broadcastchannel", "storage" (fallback) or "none". */
  readonly bus: "broadcastchannel" | "storage" | "none";
  /** Malformed or foreign messages seen on the tab bus, ignored. */
  readonly tabMessagesRejected: number;
}

/** What a subscription handler receives. */
export interface SynclineMessage<T = unknown> {
  readonly channel: string;
  readonly event: string;
  /** Per-channel sequence number. */
  readonly seq: number;
  /** The publish id, when the server passes it on. */
  readonly id: string | null;
  readonly data: T;
  /** Earlier events this delivery replaced (throttle, debounce, coalesce); 0 otherwise. */
  readonly coalesced: number;
}

export interface SubscribeOptions {
  /** Only this event name. */
  event?: string;
  /** Higher-priority handlers run first (default 0). */
  priority?: number;
  /** Resume after this channel sequence (applies to the channel's first subscription). */
  since?: number;
  /** At most one call per this many ms: the first at once, the latest at the end (true: 1000). */
  throttleMs?: number | true;
  /** One call with the latest event once events pause for this many ms (true: 1000). */
  debounceMs?: number | true;
  /** One call per animation frame with the latest event per key: true keys by event name, a
   *  string is a dotted path into the data ("id", "match.id"). */
  coalesce?: true | string;
}

export interface RequestOptions {
  timeoutMs?: number;
  retries?: number;
}

export interface PublishOptions {
  /** Through the IndexedDB outbox, retried until acked (default true); false: memory only. */
  durable?: boolean;
  /** Higher goes first when the outbox drains several channels (default 0). */
  priority?: number;
  /** Memory-only, held with other batched publishes and sent together (see `batching`). */
  batch?: boolean;
}

export type ConflictStrategy = "lww" | "server" | "client" | "merge" | "custom";

export interface MutateOptions {
  /** The document's channel (default "docs"); every client watching it converges. */
  channel?: string;
  /** The event name of the change (default "doc"). */
  event?: string;
  /** Replace the whole value instead of merging the patch (JSON merge patch, RFC 7396). */
  replace?: boolean;
}

export interface OptimisticOptions {
  /** What a resolved `confirm()` commits: "result" (default: its value, when plain JSON, or a
   *  `Response`'s JSON body, becomes the confirmed value; otherwise the change is applied) or
   *  "change" (the change is applied to the confirmed value). */
  commit?: "result" | "change";
  /** Replace the whole value instead of merging the patch. */
  replace?: boolean;
}

export interface DocumentState<T = unknown> {
  readonly key: string;
  /** The confirmed value with this tab's pending changes on top. */
  readonly value: T;
  /** The channel sequence of the last confirmed change. */
  readonly version: number;
  /** Changes of this tab not yet confirmed. */
  readonly pending: number;
  /** Moves whenever anything here changed: equal revs mean an equal document. */
  readonly rev: number;
}

export interface ConflictRecord {
  readonly key: string;
  readonly version: number;
  readonly strategy: ConflictStrategy;
  /** What the server held, and what the concurrent change proposed. */
  readonly server: unknown;
  readonly client: unknown;
  readonly resolved: unknown;
  readonly serverTs: number;
  readonly clientTs: number;
  readonly serverBy: string;
  readonly clientBy: string;
  /** The change's publish id. */
  readonly id: string;
  /** Epoch ms when it was settled. */
  readonly at: number;
}

export interface Metrics {
  readonly rttLastMs: number | null;
  readonly rttP50Ms: number | null;
  readonly rttP99Ms: number | null;
  readonly reconnects: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Time subscription handlers took per message, in µs. */
  readonly dispatchP50Us: number | null;
  readonly dispatchP99Us: number | null;
  /** Outbox entries plus messages waiting for the connection. */
  readonly queueDepth: number;
  readonly conflicts: number;
  readonly duplicatesDropped: number;
  /** Sequence gaps seen (events missing between two), each answered by asking the server
   *  for the channel again from the last event seen. */
  readonly gapsRefetched: number;
  readonly deliveriesCoalesced: number;
  readonly tabMessagesRejected: number;
  readonly breaker: "closed" | "open" | "half-open";
  /** Errors seen, by kind. */
  readonly errors: Readonly<Record<string, number>>;
}

export interface PublishResult {
  /** The publish id (UUIDv7), which the server dedups on. */
  readonly id: string;
  /** The channel sequence the server stored it as; null while only queued, or when sent. */
  readonly seq: number | null;
  /** "acked": the server confirmed it (its ack, or its echo). "sent": written to an open
   *  socket, where no answer comes (`delivery: "sent"`, and memory-only publishes on
   *  Socket.IO). "queued": stored in IndexedDB, will be sent (after a reload too). "held":
   *  kept in memory only because storage is unavailable (`outbox.storage: "memory"`), will be
   *  sent while this page lives. */
  readonly status: "acked" | "sent" | "queued" | "held";
}

export interface DeadLetter<T = unknown> {
  readonly id: string;
  readonly channel: string;
  readonly event: string;
  readonly data: T;
  /** Epoch ms of the publish. */
  readonly createdAt: number;
  readonly priority: number;
  /** The server's reason, or "expired". */
  readonly reason: string;
  /** Epoch ms when it was given up. */
  readonly failedAt: number;
}

/** The events of `client.on(name, listener)`. */
export interface SynclineEvents {
  state: (state: ClientState) => void;
  error: (error: SynclineError) => void;
  /** A durable publish reached the server (also after a reload, when nobody awaits it). */
  delivered: (result: PublishResult) => void;
  deadLetter: (letter: DeadLetter) => void;
  /** Socket.IO: the server could not take up the previous session; events after
   *  `lastOffset` may be missing (fetch them). Joins were sent again. */
  /** Events that may never arrive: after `lastOffset` when a server could not take up the
   *  session (Socket.IO recovery), or `from`..`to` of `channel` when the server's history no
   *  longer has them (the relay's retention) or asking again brought nothing. */
  gap: (gap: { lastOffset: string | null; channel?: string; from?: number; to?: number }) => void;
}

/** What `publish` returns: a promise of the result, with the id known at once. */
export type PublishPromise = Promise<PublishResult> & { readonly id: string };

/** Socket.IO-style calls, defined in the package's entry point (`syncline`). */
export interface SynclineClient {
  /** Sends `event` with `args` and no ack: on a Socket.IO server sent now or held in memory
   *  until connected (resolves at once); on the relay a memory-only publish on the channel
   *  `event` (resolves when acked). */
  emit(event: string, ...args: unknown[]): Promise<unknown>;
  /** Sends `event` with `args` and resolves with the server's ack (its first argument);
   *  timeouts and retries as for `request`. */
  emitWithAck<T = unknown>(event: string, ...args: unknown[]): Promise<T>;
  /** A publish, spelled by what the server expects. With `protocol: "socket.io"` and the
   *  default `publishFormat: "payload"`: `publish(event, payload, options?)`, the same as
   *  `publishEvent`. Otherwise (the relay, or `publishFormat: "meta"`):
   *  `publish(channel, event, data, options?)`, the same as `publishTo`. */
  publish(eventOrChannel: string, payloadOrEvent: unknown, optionsOrData?: unknown, options?: PublishOptions): PublishPromise;
}

/** Every error syncline raises: `kind` is stable, `message` is for people. */
export interface SynclineError extends Error {
  readonly name: "SynclineError";
  readonly kind:
    | "invalid_argument" | "buffer_full" | "closed" | "timeout" | "connection_lost" | "server" | "rejected"
    | "malformed_frame" | "unexpected_binary" | "frame_too_large" | "auth_rejected" | "auth_callback"
    | "connect_timeout" | "heartbeat_timeout" | "socket_closed" | "socket_open" | "unknown_answer" | "storage"
    | "rolled_back" | "busy" | "unsupported" | "server_disconnect" | "ack_timeout";
  readonly retryable: boolean;
  /** For kind "server": the server's error code. */
  readonly code?: string;
}
"#;
