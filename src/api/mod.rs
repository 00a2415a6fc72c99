//! The JS API: `SynclineClient`, the one wasm-bindgen export, and its TypeScript types.

mod convert;
mod documents;
mod options;
mod read;
mod registry;
mod types;

use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::core::Protocol;
use crate::core::router::SubId;
use crate::driver::{Driver, Hooks};
use crate::web::clock;
use options::PublishMode;
use registry::{ListenerKind, Registry};

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
        self.driver
            .broadcast(topic, data)
            .map_err(|e| convert::invalid_argument(&e.to_string()))
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
