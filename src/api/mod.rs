//! The JS API: `SynclineClient`, the one wasm-bindgen export, and its TypeScript types.

mod convert;
mod documents;
mod options;
mod registry;
mod types;

use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::driver::{
    self, ClientOptions, Driver, Hooks, PublishOptions, RequestOptions, SubId, SubscribeOptions,
};
use crate::protocol::envelope::RawJson;
use convert::{busy, from_js, refused};
use options::Callback;
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
        let identity = driver::identity();
        let tab_id = identity.tab_id.clone();
        let setup = from_js::<ClientOptions<Callback>>(options, "options")?
            .into_setup(identity)
            .map_err(|e| convert::options_error(&e))?;
        let registry = Rc::new(Registry::default());
        let (on_event, on_state, on_broadcast) =
            (registry.clone(), registry.clone(), registry.clone());
        let hooks = Hooks {
            auth: setup.auth.map(options::auth_hook),
            on_event: Box::new(move |event| on_event.dispatch(event)),
            on_state: Box::new(move |snapshot| on_state.notify_state(snapshot)),
            on_broadcast: Box::new(move |topic, data, from| {
                on_broadcast.broadcast_arrived(topic, data, from)
            }),
        };
        let mut config = setup.config;
        if let (Some(encode), crate::protocol::Protocol::Json(json)) =
            (setup.json_encode, &mut config.protocol)
        {
            json.encode = Some(options::encode_hook(encode));
        }
        let driver = Rc::new(Driver::new(
            config,
            setup.database,
            setup.share_connection,
            hooks,
        ));
        if let Some(rule) = setup.ack_result {
            driver
                .set_ack_rule(options::ack_rule_hook(rule))
                .map_err(busy)?;
        }
        if let Some(resolver) = setup.resolver {
            driver
                .set_resolver(documents::resolver_hook(resolver.0))
                .map_err(busy)?;
        }
        if setup.auto_connect {
            driver.connect().map_err(busy)?;
        }
        Ok(Self {
            driver,
            registry,
            tab_id,
        })
    }

    /// Starts connecting (after `autoConnect: false` or `disconnect()`).
    pub fn connect(&self) {
        // Refused only while the core is in use further up, which the drain loop rules out.
        let _ = self.driver.connect();
    }

    /// Closes the connection and stays closed; waiting requests and publishes fail with "closed".
    pub fn disconnect(&self) {
        // Refused only while the core is in use further up, which the drain loop rules out.
        let _ = self.driver.disconnect();
    }

    /// Skips the reconnect wait.
    #[wasm_bindgen(js_name = reconnectNow)]
    pub fn reconnect_now(&self) {
        // Refused only while the core is in use further up, which the drain loop rules out.
        let _ = self.driver.reconnect_now();
    }

    /// The current state; the same object until something changes.
    #[wasm_bindgen(js_name = getState, unchecked_return_type = "ClientState")]
    pub fn get_state(&self) -> JsValue {
        self.driver
            .with_snapshot(|snapshot| self.registry.state_object(snapshot))
            .unwrap_or(JsValue::NULL)
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
        let spec = SubscribeOptions::default()
            .into_spec(name)
            .map_err(|e| convert::options_error(&e))?;
        let id = self.driver.subscribe(spec).map_err(busy)?;
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
        self.driver.check_event_name(&event).map_err(refused)?;
        if !self.driver.carries_emits().map_err(busy)? {
            let data = if args.length() == 1 {
                args.get(0)
            } else {
                args.clone().into()
            };
            let memory = PublishOptions {
                durable: Some(false),
                ..PublishOptions::default()
            };
            return self.publish_with(event.clone(), event, &data, memory);
        }
        let (data, spread) = arguments(args)?;
        self.driver.emit(event, data, spread).map_err(refused)?;
        Ok(js_sys::Promise::resolve(&JsValue::UNDEFINED))
    }

    /// `emitWithAck(event, ...args)` in `index.js`: an event whose answer is the server's ack
    /// (its first argument); a request on the relay. Timeouts and retries as for `request`.
    #[wasm_bindgen(js_name = emitWithAckArgs, skip_typescript)]
    pub fn emit_with_ack_args(&self, event: String, args: js_sys::Array) -> js_sys::Promise {
        let sent = arguments(&args).and_then(|(data, spread)| {
            self.driver.check_event_name(&event).map_err(refused)?;
            self.driver
                .request(event, data, spread, None)
                .map_err(refused)
        });
        match sent {
            Ok(id) => self.registry.wait_for(id),
            Err(e) => js_sys::Promise::reject(&e),
        }
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
        let spec = from_js::<SubscribeOptions>(options, "options")?
            .into_spec(channel)
            .map_err(|e| convert::options_error(&e))?;
        let id = self.driver.subscribe(spec).map_err(busy)?;
        self.registry.add_handler(id, handler);
        let (driver, registry): (Weak<Driver>, Weak<Registry>) =
            (Rc::downgrade(&self.driver), Rc::downgrade(&self.registry));
        Ok(disposer(move || unsubscribe(&driver, &registry, id)))
    }

    /// Publishes `event` on `channel`. Durable (the default): written to the outbox in
    /// IndexedDB and sent at once when open; resolves with `{ id, seq, status: "acked" }` when
    /// the server confirmed it (`status: "sent"` with `delivery: "sent"`), or
    /// `{ id, status: "queued" }` when it is stored locally and will be sent later; rejects
    /// (kind "rejected") if the server refuses it for good. With `durable: false`: memory only,
    /// sent when open or buffered (bounded), nothing retried. On Socket.IO the channel is the
    /// event name the server's handler listens to.
    #[wasm_bindgen(js_name = publishTo, unchecked_return_type = "PublishPromise")]
    pub fn publish_to(
        &self,
        channel: String,
        event: String,
        data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "PublishOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let published = from_js::<PublishOptions>(options, "options")
            .and_then(|options| self.publish_with(channel, event, &data, options));
        match published {
            Ok(promise) => promise,
            Err(e) => js_sys::Promise::reject(&e),
        }
    }

    /// Publishes `payload` as the event `event` (on Socket.IO, `EVENT [event, payload]`, the id
    /// inside the payload under `idField`; on the relay, the event `event` on the channel of
    /// the same name). Options and results as for `publishTo`.
    #[wasm_bindgen(js_name = publishEvent, unchecked_return_type = "PublishPromise")]
    pub fn publish_event(
        &self,
        event: String,
        payload: JsValue,
        #[wasm_bindgen(unchecked_param_type = "PublishOptions")] options: JsValue,
    ) -> js_sys::Promise {
        self.publish_to(event.clone(), event, payload, options)
    }

    /// True when `publish` takes the event-name spelling (`index.js` reads it).
    #[wasm_bindgen(js_name = publishesEvents, skip_typescript)]
    pub fn publishes_events(&self) -> bool {
        self.driver.publishes_events().unwrap_or(false)
    }

    fn publish_with(
        &self,
        channel: String,
        event: String,
        data: &JsValue,
        options: PublishOptions,
    ) -> Result<js_sys::Promise, JsValue> {
        if channel.is_empty() || event.is_empty() {
            return Err(convert::invalid_argument(
                "channel and event must not be empty",
            ));
        }
        // On Socket.IO the channel is the event name.
        self.driver.check_event_name(&channel).map_err(refused)?;
        let (mode, priority) = options.mode().map_err(|e| convert::options_error(&e))?;
        let data = convert::data_to_json(data)?;
        let id = self.driver.next_publish_id().map_err(busy)?;
        let promise = self.registry.wait_for(id.clone());
        let sent = self
            .driver
            .publish(id.clone(), channel, event, data, mode, priority);
        match sent.map_err(refused) {
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
            .dead_letters(convert::dead_letter)
            .into_iter()
            .collect()
    }

    /// Puts dead letters (all, or those with these ids) back in the outbox; returns how many.
    #[wasm_bindgen(js_name = retryDeadLetters)]
    pub fn retry_dead_letters(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[] | undefined")] ids: JsValue,
    ) -> Result<usize, JsValue> {
        let ids = dead_letter_ids(ids)?;
        self.driver.retry_dead_letters(ids.as_deref()).map_err(busy)
    }

    /// Forgets dead letters (all, or those with these ids); returns how many.
    #[wasm_bindgen(js_name = discardDeadLetters)]
    pub fn discard_dead_letters(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[] | undefined")] ids: JsValue,
    ) -> Result<usize, JsValue> {
        let ids = dead_letter_ids(ids)?;
        self.driver
            .discard_dead_letters(ids.as_deref())
            .map_err(busy)
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
        let sent = convert::data_to_json(&data).and_then(|data| {
            let defaults = self.driver.request_defaults().map_err(busy)?;
            let policy = from_js::<RequestOptions>(options, "options")?
                .policy(defaults)
                .map_err(|e| convert::options_error(&e))?;
            self.driver.check_event_name(&event).map_err(refused)?;
            self.driver
                .request(event, data, false, Some(policy))
                .map_err(refused)
        });
        match sent {
            Ok(id) => self.registry.wait_for(id),
            Err(e) => js_sys::Promise::reject(&e),
        }
    }

    /// Logout, in every tab of the origin that shares this storage key: forgets every
    /// durable publish not yet acked and every dead letter, in this tab, in the IndexedDB
    /// outbox the tabs share, and in every other tab's memory (the leader's first: publishes
    /// still waiting reject with kind "cleared", unconfirmed document changes roll back).
    /// Resolves with the number of entries dropped (each counted once) when the deletion has
    /// committed and the leader and every tab linked to it have confirmed. When some tab does
    /// not confirm within 3 s it rejects with kind "clear_incomplete" (`tabs`: their ids,
    /// `dropped`); those tabs clear when they next hear of the logout, which stays recorded,
    /// and nothing made before it is sent. The auth token is never stored, so nothing else is
    /// left behind.
    #[wasm_bindgen(js_name = clearLocalData, unchecked_return_type = "Promise<number>")]
    pub fn clear_local_data(&self) -> js_sys::Promise {
        thread_local!(static CLEARS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) });
        let n = CLEARS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        let id = format!("clear:{}:{n}", self.tab_id);
        let confirmed = self.registry.wait_for(id.clone());
        if let Err(e) = self.driver.clear_local_data(id.clone()) {
            self.registry.forget(&id);
            return js_sys::Promise::reject(&busy(e));
        }
        // Spawned after the storage flush that carries the deletion, so it waits for it.
        let settled = self.driver.storage_settled();
        wasm_bindgen_futures::future_to_promise(async move {
            let outcome = wasm_bindgen_futures::JsFuture::from(confirmed).await;
            settled.await;
            outcome
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
        // Only refused while the core is in use further up, which the drain loop rules out.
        let _ = d.unsubscribe(id);
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
fn arguments(args: &js_sys::Array) -> Result<(RawJson, bool), JsValue> {
    if args.length() == 1 {
        Ok((convert::data_to_json(&args.get(0))?, false))
    } else {
        Ok((convert::data_to_json(args)?, true))
    }
}

/// Dead-letter ids: `undefined` or `null` for all of them.
fn dead_letter_ids(ids: JsValue) -> Result<Option<Vec<String>>, JsValue> {
    if ids.is_undefined() || ids.is_null() {
        return Ok(None);
    }
    convert::read(ids, "ids").map(Some)
}
