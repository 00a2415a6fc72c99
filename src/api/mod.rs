//! The JS API: `SynclineClient`, the one wasm-bindgen export, and its TypeScript types.

mod convert;
mod documents;
mod options;
mod read;
mod registry;

use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::core::Protocol;
use crate::core::router::SubId;
use crate::driver::{Driver, Hooks};
use crate::web::clock;
use options::PublishMode;
use registry::{ListenerKind, Registry};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Connection states, in the order a connection usually passes through them. */
export type ConnectionState = "idle" | "connecting" | "open" | "waiting" | "offline" | "closed";

export interface ClientOptions {
  /** WebSocket URL of a syncline relay, e.g. "wss://example.com/ws"; with
   *  `protocol: "socket.io"`, the Socket.IO server's URL as socket.io-client takes it
   *  ("https://example.com", or "https://example.com/admin" for the /admin namespace). */
  url: string;
  /** Allow a plain `ws://`/`http://` URL to a host other than this machine (default false:
   *  such URLs throw, so that tokens and data never cross the network unencrypted). */
  allowInsecure?: boolean;
  /** What the server speaks: "syncline" (the relay; default) or "socket.io" (Engine.IO v4
   *  over WebSocket, Socket.IO v5). */
  protocol?: "syncline" | "socket.io";
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
   *  0 with `protocol: "socket.io"`, whose handlers have no id to recognize a resent event). */
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
  };
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
  /** Last heartbeat round trip, in ms. */
  readonly rttMs: number | null;
  /** Epoch ms of the next attempt, while waiting. */
  readonly retryAt: number | null;
  readonly lastError: { readonly kind: string; readonly message: string } | null;
  /** Session id from the server, while open. */
  readonly session: string | null;
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
  readonly deliveriesCoalesced: number;
  readonly tabMessagesRejected: number;
  readonly breaker: "closed" | "open" | "half-open";
  /** Errors seen, by kind. */
  readonly errors: Readonly<Record<string, number>>;
}

export interface PublishResult {
  /** The publish id (UUIDv7), which the server dedups on. */
  readonly id: string;
  /** The channel sequence the server stored it as; null while only queued. */
  readonly seq: number | null;
  /** "acked": stored by the server. "queued": stored locally, will be sent. */
  readonly status: "acked" | "queued";
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
  delivered: (result: { id: string; seq: number }) => void;
  deadLetter: (letter: DeadLetter) => void;
}

/** Socket.IO-style calls, defined in the package's entry point (`syncline`). */
export interface SynclineClient {
  /** Sends `event` with `args` and no ack: on a Socket.IO server sent now or held in memory
   *  until connected (resolves at once); on the relay a memory-only publish on the channel
   *  `event` (resolves when acked). */
  emit(event: string, ...args: unknown[]): Promise<unknown>;
  /** Sends `event` with `args` and resolves with the server's ack (its first argument);
   *  timeouts and retries as for `request`. */
  emitWithAck<T = unknown>(event: string, ...args: unknown[]): Promise<T>;
}

/** Every error syncline raises: `kind` is stable, `message` is for people. */
export interface SynclineError extends Error {
  readonly name: "SynclineError";
  readonly kind:
    | "invalid_argument" | "buffer_full" | "closed" | "timeout" | "connection_lost" | "server" | "rejected"
    | "malformed_frame" | "unexpected_binary" | "frame_too_large" | "auth_rejected" | "auth_callback"
    | "connect_timeout" | "heartbeat_timeout" | "socket_closed" | "socket_open" | "unknown_answer" | "storage"
    | "rolled_back" | "busy" | "unsupported" | "server_disconnect";
  readonly retryable: boolean;
  /** For kind "server": the server's error code. */
  readonly code?: string;
}
"#;

/// A syncline client: one connection to a relay, kept alive, with subscriptions, publishes
/// and requests. Call `close()` when done with it.
#[wasm_bindgen]
pub struct SynclineClient {
    driver: Rc<Driver>,
    registry: Rc<Registry>,
    tab_id: String,
}

#[wasm_bindgen]
impl SynclineClient {
    /// Creates a client; it connects at once unless `autoConnect` is false.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ClientOptions")] options: JsValue,
    ) -> Result<SynclineClient, JsValue> {
        let client_id = crate::core::id::uuid_v7(clock::unix_ms(), clock::random_bytes());
        let tab_id = hex(&clock::random_bytes::<6>());
        let parsed =
            options::parse_client(&options, client_id, tab_id.clone(), clock::random_u64())?;
        let registry = Rc::new(Registry::default());
        let (on_event, on_state, on_broadcast) =
            (registry.clone(), registry.clone(), registry.clone());
        let hooks = Hooks {
            auth: parsed.auth.map(options::auth_hook),
            on_event: Box::new(move |event| on_event.dispatch(event)),
            on_state: Box::new(move |snapshot| on_state.notify_state(snapshot)),
            on_broadcast: Box::new(move |topic, data, from| {
                on_broadcast.broadcast_arrived(topic, data, from)
            }),
        };
        let resolver = parsed.resolver.clone();
        let driver = Rc::new(Driver::new(
            parsed.config,
            parsed.database,
            parsed.share_connection,
            hooks,
        ));
        if let Some(resolver) = resolver {
            driver.input(|core, _| core.set_resolver(documents::resolver_hook(resolver)));
        }
        if parsed.auto_connect {
            driver.input(|core, now| core.connect(now));
        }
        Ok(Self {
            driver,
            registry,
            tab_id,
        })
    }

    /// Starts connecting (after `autoConnect: false` or `disconnect()`).
    pub fn connect(&self) {
        self.driver.input(|core, now| core.connect(now));
    }

    /// Closes the connection and stays closed; waiting requests and publishes fail with "closed".
    pub fn disconnect(&self) {
        self.driver.input(|core, now| core.disconnect(now));
    }

    /// Skips the reconnect wait.
    #[wasm_bindgen(js_name = reconnectNow)]
    pub fn reconnect_now(&self) {
        self.driver.input(|core, now| core.reconnect_now(now));
    }

    /// The current state; the same object until something changes.
    #[wasm_bindgen(js_name = getState, unchecked_return_type = "ClientState")]
    pub fn get_state(&self) -> JsValue {
        match self.driver.snapshot() {
            Some(snapshot) => self.registry.state_object(&snapshot),
            None => JsValue::NULL,
        }
    }

    /// Calls `listener(state)` whenever the state changes; returns the function that stops it.
    #[wasm_bindgen(js_name = onStateChange, unchecked_return_type = "() => void")]
    pub fn on_state_change(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(state: ClientState) => void")] listener: Function,
    ) -> JsValue {
        self.listen(ListenerKind::State, listener)
    }

    /// Calls `listener(error)` for every connection error; returns the function that stops it.
    #[wasm_bindgen(js_name = onError, unchecked_return_type = "() => void")]
    pub fn on_error(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(error: SynclineError) => void")] listener: Function,
    ) -> JsValue {
        self.listen(ListenerKind::Error, listener)
    }

    /// Calls `listener` for the client's own events — "state", "error", "delivered" (a
    /// durable publish reached the server) or "deadLetter" — or, for any other name, for the
    /// server's events of that name, with their arguments (Socket.IO's `socket.on`; on the
    /// relay, the channel of that name). Returns the function that stops it.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "keyof SynclineEvents | (string & {})")] name: String,
        #[wasm_bindgen(unchecked_param_type = "(...args: any[]) => void")] listener: Function,
    ) -> Result<JsValue, JsValue> {
        if let Some(kind) = ListenerKind::from_name(&name) {
            return Ok(self.listen(kind, listener));
        }
        if name.is_empty() {
            return Err(convert::invalid_argument("event name must not be empty"));
        }
        let spec = options::parse_subscribe(&JsValue::UNDEFINED, name)?;
        let id = self
            .driver
            .input(|core, now| core.subscribe_with(now, spec))
            .ok_or_else(busy)?;
        self.registry.add_args_handler(id, listener);
        let (driver, registry): (Weak<Driver>, Weak<Registry>) =
            (Rc::downgrade(&self.driver), Rc::downgrade(&self.registry));
        Ok(disposer(move || unsubscribe(&driver, &registry, id)))
    }

    /// `emit(event, ...args)` in `index.js`: on a Socket.IO server an event without an ack
    /// (sent now, or held in memory until connected); on the relay a memory-only publish on
    /// the channel `event`. Resolves once sent or held (Socket.IO) or acked (relay).
    #[wasm_bindgen(js_name = emitArgs, skip_typescript)]
    pub fn emit_args(&self, event: String, args: js_sys::Array) -> js_sys::Promise {
        match self.try_emit(event, &args) {
            Ok(promise) => promise,
            Err(e) => js_sys::Promise::reject(&e),
        }
    }

    fn try_emit(&self, event: String, args: &js_sys::Array) -> Result<js_sys::Promise, JsValue> {
        self.check_event_name(&event)?;
        if !self.speaks_socketio()? {
            let data = if args.length() == 1 {
                args.get(0)
            } else {
                args.clone().into()
            };
            let options = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&options, &"durable".into(), &JsValue::FALSE);
            return self.try_publish(event.clone(), event, &data, &options);
        }
        let (data, spread) = arguments(args)?;
        let sent = self
            .driver
            .input(|core, now| core.emit(now, event, data, spread))
            .ok_or_else(busy)?;
        sent.map(|()| js_sys::Promise::resolve(&JsValue::UNDEFINED))
            .map_err(|e| convert::send_error(&e))
    }

    /// `emitWithAck(event, ...args)` in `index.js`: an event whose answer is the server's ack
    /// (its first argument); a request on the relay. Timeouts and retries as for `request`.
    #[wasm_bindgen(js_name = emitWithAckArgs, skip_typescript)]
    pub fn emit_with_ack_args(&self, event: String, args: js_sys::Array) -> js_sys::Promise {
        let sent = arguments(&args).and_then(|(data, spread)| {
            self.check_event_name(&event)?;
            self.driver
                .input(|core, now| core.request_with(now, event, data, spread, None))
                .ok_or_else(busy)
        });
        match sent {
            Ok(Ok(id)) => self.registry.wait_for(id),
            Ok(Err(e)) => js_sys::Promise::reject(&convert::send_error(&e)),
            Err(e) => js_sys::Promise::reject(&e),
        }
    }

    /// A name to send as an event: not empty, and not one a Socket.IO server reserves (it
    /// would close the connection, and a durable publish would then be retried forever).
    fn check_event_name(&self, name: &str) -> Result<(), JsValue> {
        if name.is_empty() {
            return Err(convert::invalid_argument("event name must not be empty"));
        }
        if crate::core::socketio::is_reserved(name) && self.speaks_socketio()? {
            return Err(convert::invalid_argument(&format!(
                "{name:?} is reserved by Socket.IO and cannot be sent as an event"
            )));
        }
        Ok(())
    }

    fn speaks_socketio(&self) -> Result<bool, JsValue> {
        self.driver
            .input(|core, _| matches!(core.config().protocol, Protocol::SocketIo { .. }))
            .ok_or_else(busy)
    }

    fn listen(&self, kind: ListenerKind, listener: Function) -> JsValue {
        let id = self.registry.add_listener(kind, listener);
        let registry = Rc::downgrade(&self.registry);
        disposer(move || {
            if let Some(r) = registry.upgrade() {
                r.remove_listener(id);
            }
        })
    }

    /// Calls `handler(message)` for events on `channel`; returns the function that unsubscribes.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        channel: String,
        #[wasm_bindgen(unchecked_param_type = "(message: SynclineMessage) => void")]
        handler: Function,
        #[wasm_bindgen(unchecked_param_type = "SubscribeOptions")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        if channel.is_empty() {
            return Err(convert::invalid_argument("channel must not be empty"));
        }
        let spec = options::parse_subscribe(&options, channel)?;
        let id = self
            .driver
            .input(|core, now| core.subscribe_with(now, spec))
            .ok_or_else(busy)?;
        self.registry.add_handler(id, handler);
        let (driver, registry): (Weak<Driver>, Weak<Registry>) =
            (Rc::downgrade(&self.driver), Rc::downgrade(&self.registry));
        Ok(disposer(move || unsubscribe(&driver, &registry, id)))
    }

    /// Publishes an event. Durable (the default): written to the outbox in IndexedDB and sent
    /// at once when open; resolves with `{ id, seq, status: "acked" }` when the server stored
    /// it, or `{ id, status: "queued" }` when it is stored locally and will be sent later;
    /// rejects (kind "rejected") if the server refuses it for good. With `durable: false`:
    /// memory only, sent when open or buffered (bounded), nothing retried.
    #[wasm_bindgen(unchecked_return_type = "Promise<PublishResult> & { readonly id: string }")]
    pub fn publish(
        &self,
        channel: String,
        event: String,
        data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "PublishOptions")] options: JsValue,
    ) -> js_sys::Promise {
        match self.try_publish(channel, event, &data, &options) {
            Ok(promise) => promise,
            Err(e) => js_sys::Promise::reject(&e),
        }
    }

    fn try_publish(
        &self,
        channel: String,
        event: String,
        data: &JsValue,
        options: &JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        if channel.is_empty() || event.is_empty() {
            return Err(convert::invalid_argument(
                "channel and event must not be empty",
            ));
        }
        // On Socket.IO the channel is the event name.
        self.check_event_name(&channel)?;
        let (mode, priority) = options::parse_publish(options)?;
        let data = convert::data_to_json(data)?;
        let random = clock::random_bytes();
        let id = self
            .driver
            .input(|core, now| core.next_publish_id(now, random))
            .ok_or_else(busy)?;
        let promise = self.registry.wait_for(id.clone());
        let sent = self.driver.input(|core, now| match mode {
            PublishMode::Durable => core
                .publish_durable(now, id.clone(), channel, event, data, priority)
                .map_err(|e| convert::send_error(&e)),
            PublishMode::Memory => core
                .publish(now, id.clone(), channel, event, data)
                .map_err(|e| convert::send_error(&e)),
            PublishMode::Batched => core
                .publish_batched(now, id.clone(), channel, event, data)
                .map_err(|e| convert::send_error(&e)),
        });
        match sent.ok_or_else(busy)? {
            Ok(()) => {
                // The id is known at once: a UI can show the event as "sending" right away.
                let _ = js_sys::Reflect::set(
                    &promise,
                    &JsValue::from_str("id"),
                    &JsValue::from_str(&id),
                );
                Ok(promise)
            }
            Err(e) => {
                self.registry.forget(&id);
                Err(e)
            }
        }
    }

    /// Durable publishes the outbox gave up on (refused for good, or past retention).
    #[wasm_bindgen(js_name = deadLetters, unchecked_return_type = "DeadLetter[]")]
    pub fn dead_letters(&self) -> js_sys::Array {
        self.driver
            .input(|core, _| {
                core.dead_letters()
                    .map(convert::dead_letter)
                    .collect::<js_sys::Array>()
            })
            .unwrap_or_default()
    }

    /// Puts dead letters (all, or those with these ids) back in the outbox; returns how many.
    #[wasm_bindgen(js_name = retryDeadLetters)]
    pub fn retry_dead_letters(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[] | undefined")] ids: JsValue,
    ) -> Result<usize, JsValue> {
        let ids = options::parse_ids(&ids)?;
        self.driver
            .input(|core, now| core.retry_dead_letters(now, ids.as_deref()))
            .ok_or_else(busy)
    }

    /// Forgets dead letters (all, or those with these ids); returns how many.
    #[wasm_bindgen(js_name = discardDeadLetters)]
    pub fn discard_dead_letters(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[] | undefined")] ids: JsValue,
    ) -> Result<usize, JsValue> {
        let ids = options::parse_ids(&ids)?;
        self.driver
            .input(|core, now| core.discard_dead_letters(now, ids.as_deref()))
            .ok_or_else(busy)
    }

    /// Asks the server and resolves with its answer, or rejects with a `SynclineError`
    /// ("timeout" after every attempt, "server" when the server answered with an error).
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn request(
        &self,
        event: String,
        data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RequestOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let prepared = convert::data_to_json(&data).and_then(|data| {
            let defaults = self
                .driver
                .input(|core, _| core.config().request)
                .ok_or_else(busy)?;
            Ok((data, options::parse_request(&options, defaults)?))
        });
        let (data, policy) = match prepared.and_then(|p| self.check_event_name(&event).map(|()| p))
        {
            Ok(p) => p,
            Err(e) => return js_sys::Promise::reject(&e),
        };
        let sent = self
            .driver
            .input(|core, now| core.request(now, event, data, Some(policy)))
            .ok_or_else(busy);
        match sent {
            Ok(Ok(id)) => self.registry.wait_for(id),
            Ok(Err(e)) => js_sys::Promise::reject(&convert::send_error(&e)),
            Err(e) => js_sys::Promise::reject(&e),
        }
    }

    /// Logout: forgets every durable publish not yet acked and every dead letter, in this tab
    /// and in the IndexedDB outbox that the origin's tabs share (publishes still waiting reject
    /// with kind "cleared", unconfirmed document changes roll back). Resolves with the number
    /// of entries dropped once the deletion has committed. The auth token is never stored, so
    /// nothing else is left behind.
    #[wasm_bindgen(js_name = clearLocalData, unchecked_return_type = "Promise<number>")]
    pub fn clear_local_data(&self) -> js_sys::Promise {
        let Some(dropped) = self.driver.input(|core, now| core.clear_local_data(now)) else {
            return js_sys::Promise::reject(&busy());
        };
        // Spawned after the storage flush that carries the deletion, so it waits for it.
        let settled = self.driver.storage_settled();
        wasm_bindgen_futures::future_to_promise(async move {
            settled.await;
            Ok(JsValue::from_f64(dropped as f64))
        })
    }

    /// This tab's id among the tabs of the origin.
    #[wasm_bindgen(getter, js_name = tabId)]
    pub fn tab_id(&self) -> String {
        self.tab_id.clone()
    }

    /// Sends `data` to every other tab of the origin (with the same storage key), for
    /// `onBroadcast(topic, …)` there. This tab does not hear its own message.
    pub fn broadcast(&self, topic: String, data: JsValue) -> Result<(), JsValue> {
        if topic.is_empty() {
            return Err(convert::invalid_argument("topic must not be empty"));
        }
        let data = convert::data_to_json(&data)?;
        self.driver.broadcast(topic, data);
        Ok(())
    }

    /// Calls `listener(data, fromTab)` for messages other tabs `broadcast` on `topic`;
    /// returns the function that stops it.
    #[wasm_bindgen(js_name = onBroadcast, unchecked_return_type = "() => void")]
    pub fn on_broadcast(
        &self,
        topic: String,
        #[wasm_bindgen(unchecked_param_type = "(data: unknown, fromTab: string) => void")] listener: Function,
    ) -> JsValue {
        let id = self.registry.add_broadcast_listener(topic, listener);
        let registry = Rc::downgrade(&self.registry);
        disposer(move || {
            if let Some(r) = registry.upgrade() {
                r.remove_listener(id);
            }
        })
    }

    /// Disconnects and releases every listener, handler, timer and page listener.
    pub fn close(&self) {
        self.driver.shut_down();
        self.registry.clear();
    }

    /// Handlers and listeners still registered (0 after `close()`; for leak checks).
    #[wasm_bindgen(js_name = callbackCount)]
    pub fn callback_count(&self) -> usize {
        self.registry.callback_count()
    }
}

fn unsubscribe(driver: &Weak<Driver>, registry: &Weak<Registry>, id: SubId) {
    if let Some(r) = registry.upgrade() {
        r.remove_handler(id);
    }
    if let Some(d) = driver.upgrade() {
        d.input(|core, now| core.unsubscribe(now, id));
    }
}

/// A JS function that runs `f` (and does nothing on later calls); freed when JS drops it.
fn disposer(f: impl FnOnce() + 'static) -> JsValue {
    let mut f = Some(f);
    Closure::<dyn FnMut()>::new(move || {
        if let Some(f) = f.take() {
            f();
        }
    })
    .into_js_value()
}

/// An event's arguments as one JSON value: the argument itself when there is one, else the
/// list (`spread`).
fn arguments(args: &js_sys::Array) -> Result<(crate::protocol::envelope::RawJson, bool), JsValue> {
    if args.length() == 1 {
        Ok((convert::data_to_json(&args.get(0))?, false))
    } else {
        Ok((convert::data_to_json(args)?, true))
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out
}

fn busy() -> JsValue {
    convert::error("busy", "client is busy in a callback of its own", true)
}
