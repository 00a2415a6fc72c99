//! The JS API: `SynclineClient`, the one wasm-bindgen export, and its TypeScript types.

mod convert;
mod options;
mod registry;

use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::core::router::SubId;
use crate::driver::{Driver, Hooks};
use crate::web::clock;
use registry::{ListenerKind, Registry};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Connection states, in the order a connection usually passes through them. */
export type ConnectionState = "idle" | "connecting" | "open" | "waiting" | "offline" | "closed";

export interface ClientOptions {
  /** WebSocket URL of a syncline relay, e.g. "wss://example.com/ws". */
  url: string;
  /** Asked for credentials before every connect: a token, `{ token }`, null, or a Promise of one. */
  auth?: () => string | { token: string | null } | null | Promise<string | { token: string | null } | null>;
  /** Stable id of this client (default: random per client). */
  clientId?: string;
  /** Connect at once (default true). */
  autoConnect?: boolean;
  /** Reconnect delays: 1000 ms, ×2, up to 30000 ms, jitter 0.5 (±50 %) by default. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; factor?: number; jitter?: number };
  /** Ping every 15000 ms; dead when no pong within 5000 ms (defaults). */
  heartbeat?: { intervalMs?: number; timeoutMs?: number };
  /** Auth + socket open + welcome must finish within this (default 10000 ms). */
  connectTimeoutMs?: number;
  /** Time per request attempt (default 5000 ms). */
  requestTimeoutMs?: number;
  /** Further attempts after a timeout or lost connection (default 3, spaced 1 s, 2 s, 4 s). */
  requestRetries?: number;
  /** Time the server has to ack a publish once sent (default 5000 ms). */
  publishTimeoutMs?: number;
  /** Messages held while not connected (default 1000); beyond it calls fail with kind "buffer_full". */
  sendBufferSize?: number;
  /** Largest frame accepted from the server (default 1 MiB). */
  maxMessageBytes?: number;
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
}

export interface SubscribeOptions {
  /** Only this event name. */
  event?: string;
  /** Higher-priority handlers run first (default 0). */
  priority?: number;
  /** Resume after this channel sequence (applies to the channel's first subscription). */
  since?: number;
}

export interface RequestOptions {
  timeoutMs?: number;
  retries?: number;
}

export interface PublishResult {
  readonly id: string;
  readonly seq: number;
  readonly status: "acked";
}

/** Every error syncline raises: `kind` is stable, `message` is for people. */
export interface SynclineError extends Error {
  readonly name: "SynclineError";
  readonly kind:
    | "invalid_argument" | "buffer_full" | "closed" | "timeout" | "connection_lost" | "server" | "rejected"
    | "malformed_frame" | "unexpected_binary" | "frame_too_large" | "auth_rejected" | "auth_callback"
    | "connect_timeout" | "heartbeat_timeout" | "socket_closed" | "socket_open" | "unknown_answer";
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
}

#[wasm_bindgen]
impl SynclineClient {
    /// Creates a client; it connects at once unless `autoConnect` is false.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ClientOptions")] options: JsValue,
    ) -> Result<SynclineClient, JsValue> {
        let client_id = crate::core::id::uuid_v7(clock::unix_ms(), clock::random_bytes());
        let parsed = options::parse_client(&options, client_id, clock::random_u64())?;
        let registry = Rc::new(Registry::default());
        let (on_event, on_state) = (registry.clone(), registry.clone());
        let hooks = Hooks {
            auth: parsed.auth.map(options::auth_hook),
            on_event: Box::new(move |event| on_event.dispatch(event)),
            on_state: Box::new(move |snapshot| on_state.notify_state(snapshot)),
        };
        let driver = Rc::new(Driver::new(parsed.config, hooks));
        if parsed.auto_connect {
            driver.input(|core, now| core.connect(now));
        }
        Ok(Self { driver, registry })
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

    fn listen(&self, kind: ListenerKind, listener: Function) -> JsValue {
        let id = self.registry.add_listener(kind, listener);
        let registry = Rc::downgrade(&self.registry);
        disposer(move || {
            if let Some(r) = registry.upgrade() {
                r.remove_listener(kind, id);
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
        let (event, priority, since) = options::parse_subscribe(&options)?;
        let id = self
            .driver
            .input(|core, now| core.subscribe(now, &channel, event.as_deref(), priority, since))
            .ok_or_else(busy)?;
        self.registry.add_handler(id, handler);
        let (driver, registry): (Weak<Driver>, Weak<Registry>) =
            (Rc::downgrade(&self.driver), Rc::downgrade(&self.registry));
        Ok(disposer(move || unsubscribe(&driver, &registry, id)))
    }

    /// Publishes an event and resolves with `{ id, seq, status: "acked" }` once the server
    /// has stored it. Sent at once when open, buffered (bounded) otherwise.
    #[wasm_bindgen(unchecked_return_type = "Promise<PublishResult>")]
    pub fn publish(&self, channel: String, event: String, data: JsValue) -> js_sys::Promise {
        if channel.is_empty() || event.is_empty() {
            return js_sys::Promise::reject(&convert::invalid_argument(
                "channel and event must not be empty",
            ));
        }
        let data = match convert::data_to_json(&data) {
            Ok(d) => d,
            Err(e) => return js_sys::Promise::reject(&e),
        };
        let id = crate::core::id::uuid_v7(clock::unix_ms(), clock::random_bytes());
        let promise = self.registry.wait_for(id.clone());
        let sent = self
            .driver
            .input(|core, now| core.publish(now, id, channel, event, data))
            .ok_or_else(busy);
        match sent {
            Ok(Ok(())) => promise,
            Ok(Err(e)) => js_sys::Promise::reject(&convert::send_error(&e)),
            Err(e) => js_sys::Promise::reject(&e),
        }
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
        let (data, policy) = match prepared {
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

fn busy() -> JsValue {
    convert::error("busy", "client is busy in a callback of its own", true)
}
