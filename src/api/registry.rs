//! The JS side of a client: subscription handlers, listeners and the promises waiting for
//! answers. The driver's events are turned into calls on these here.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::convert;
use crate::driver::{Event, Snapshot, SubId};

/// What a listener listens to (the names of `client.on(name, listener)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    State,
    Error,
    Delivered,
    DeadLetter,
    Gap,
}

impl ListenerKind {
    /// The kind for an event name of `on()`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "state" => Self::State,
            "error" => Self::Error,
            "delivered" => Self::Delivered,
            "deadLetter" => Self::DeadLetter,
            "gap" => Self::Gap,
            _ => return None,
        })
    }
}

/// Callbacks and promises of one client.
#[derive(Default)]
pub struct Registry {
    /// Subscription handlers; `true` for `on(event, …)` ones, called with the arguments.
    handlers: RefCell<HashMap<SubId, (Function, bool)>>,
    listeners: RefCell<Vec<(u32, ListenerKind, Function)>>,
    broadcast_listeners: RefCell<Vec<(u32, String, Function)>>,
    doc_watchers: RefCell<Vec<(u32, String, Function)>>,
    waiting: RefCell<HashMap<String, (Function, Function)>>,
    cached_state: RefCell<Option<(u64, JsValue)>>,
    next_listener: Cell<u32>,
}

impl Registry {
    /// Remembers a subscription's handler.
    pub fn add_handler(&self, id: SubId, handler: Function) {
        self.handlers.borrow_mut().insert(id, (handler, false));
    }

    /// Remembers an `on(event, handler)` handler: called with the event's arguments.
    pub fn add_args_handler(&self, id: SubId, handler: Function) {
        self.handlers.borrow_mut().insert(id, (handler, true));
    }

    /// Forgets a subscription's handler.
    pub fn remove_handler(&self, id: SubId) {
        self.handlers.borrow_mut().remove(&id);
    }

    /// Adds a listener; returns its id for removal.
    pub fn add_listener(&self, kind: ListenerKind, f: Function) -> u32 {
        let id = self.next_listener.get().wrapping_add(1);
        self.next_listener.set(id);
        self.listeners.borrow_mut().push((id, kind, f));
        id
    }

    /// Removes a listener of either kind (removing twice is harmless).
    pub fn remove_listener(&self, id: u32) {
        self.listeners.borrow_mut().retain(|(i, _, _)| *i != id);
        self.broadcast_listeners
            .borrow_mut()
            .retain(|(i, _, _)| *i != id);
        self.doc_watchers.borrow_mut().retain(|(i, _, _)| *i != id);
    }

    /// Adds a watcher of document `key`.
    pub fn add_doc_watcher(&self, key: String, f: Function) -> u32 {
        let id = self.next_listener.get().wrapping_add(1);
        self.next_listener.set(id);
        self.doc_watchers.borrow_mut().push((id, key, f));
        id
    }

    /// Adds a listener for app messages of `topic` from other tabs.
    pub fn add_broadcast_listener(&self, topic: String, f: Function) -> u32 {
        let id = self.next_listener.get().wrapping_add(1);
        self.next_listener.set(id);
        self.broadcast_listeners.borrow_mut().push((id, topic, f));
        id
    }

    /// An app message from tab `from` arrived.
    pub fn broadcast_arrived(
        &self,
        topic: &str,
        data: &crate::protocol::envelope::RawJson,
        from: &str,
    ) {
        let listeners: Vec<Function> = self
            .broadcast_listeners
            .borrow()
            .iter()
            .filter(|(_, t, _)| t == topic)
            .map(|(_, _, f)| f.clone())
            .collect();
        if listeners.is_empty() {
            return;
        }
        let data = convert::parse_data(data);
        let from = JsValue::from_str(from);
        for f in listeners {
            if let Err(e) = f.call2(&JsValue::NULL, &data, &from) {
                report_callback_error(&e);
            }
        }
    }

    fn has_listeners(&self, kind: ListenerKind) -> bool {
        self.listeners.borrow().iter().any(|(_, k, _)| *k == kind)
    }

    /// Drops every handler and listener (after `close()`).
    pub fn clear(&self) {
        self.handlers.borrow_mut().clear();
        self.listeners.borrow_mut().clear();
        self.broadcast_listeners.borrow_mut().clear();
        self.doc_watchers.borrow_mut().clear();
    }

    /// Number of listeners and handlers held (for leak checks).
    pub fn callback_count(&self) -> usize {
        self.handlers.borrow().len()
            + self.listeners.borrow().len()
            + self.broadcast_listeners.borrow().len()
            + self.doc_watchers.borrow().len()
    }

    /// Makes a promise whose outcome arrives later as an event for `id`.
    pub fn wait_for(&self, id: String) -> js_sys::Promise {
        let mut pair = None;
        let promise = js_sys::Promise::new(&mut |resolve, reject| pair = Some((resolve, reject)));
        if let Some(pair) = pair {
            self.waiting.borrow_mut().insert(id, pair);
        }
        promise
    }

    /// Drops the promise for `id` (its publish was refused before it started).
    pub fn forget(&self, id: &str) {
        self.waiting.borrow_mut().remove(id);
    }

    /// The JS state object for `snapshot`, built once per version.
    pub fn state_object(&self, snapshot: &Snapshot) -> JsValue {
        if let Some((version, value)) = &*self.cached_state.borrow() {
            if *version == snapshot.version {
                return value.clone();
            }
        }
        let value = convert::or_null(convert::state(snapshot));
        if !value.is_null() {
            *self.cached_state.borrow_mut() = Some((snapshot.version, value.clone()));
        }
        value
    }

    /// Tells state listeners.
    pub fn notify_state(&self, snapshot: &Snapshot) {
        if !self.has_listeners(ListenerKind::State) {
            return;
        }
        let state = self.state_object(snapshot);
        self.call_listeners(ListenerKind::State, &state);
    }

    /// Calls every listener of `kind` with `value`, each outside any borrow so that it may
    /// call back into the client; one that throws does not stop the others.
    fn gap(&self, gap: &convert::Gap<'_>) {
        if self.has_listeners(ListenerKind::Gap) {
            let gap = convert::or_null(convert::gap(gap));
            self.call_listeners(ListenerKind::Gap, &gap);
        }
    }

    fn call_listeners(&self, kind: ListenerKind, value: &JsValue) {
        let listeners: Vec<Function> = self
            .listeners
            .borrow()
            .iter()
            .filter(|(_, k, _)| *k == kind)
            .map(|(_, _, f)| f.clone())
            .collect();
        for f in listeners {
            if let Err(e) = f.call1(&JsValue::NULL, value) {
                report_callback_error(&e);
            }
        }
    }

    /// Turns a core event into JS calls.
    pub fn dispatch(&self, event: Event) {
        match event {
            Event::Message(d) => {
                let message = match convert::message(&d) {
                    Ok(m) => m,
                    Err(e) => return report_callback_error(&e),
                };
                for sub in d.subscribers {
                    let handler = self.handlers.borrow().get(&sub).cloned();
                    let called = match handler {
                        None => Ok(JsValue::UNDEFINED),
                        Some((handler, false)) => handler.call1(&JsValue::NULL, &message),
                        Some((handler, true)) => {
                            convert::call_with_args(&handler, &message, d.spread)
                        }
                    };
                    if let Err(e) = called {
                        report_callback_error(&e);
                    }
                }
            }
            Event::RequestDone { id, result } => self.settle(
                &id,
                result
                    .map(|data| convert::parse_data(&data))
                    .map_err(|e| convert::request_error(&e)),
            ),
            Event::PublishDone { id, result } => {
                let outcome = match result {
                    Ok(seq) => convert::ack(&id, seq),
                    Err(e) => Err(convert::request_error(&e)),
                };
                self.settle(&id, outcome)
            }
            Event::DocsChanged(changes) => {
                for change in changes {
                    let watchers: Vec<Function> = self
                        .doc_watchers
                        .borrow()
                        .iter()
                        .filter(|(_, key, _)| *key == change.key)
                        .map(|(_, _, f)| f.clone())
                        .collect();
                    if watchers.is_empty() {
                        continue;
                    }
                    let doc = convert::document(
                        &change.key,
                        &change.value,
                        change.version,
                        change.pending,
                        change.rev,
                    );
                    for f in watchers {
                        if let Err(e) = f.call1(&JsValue::NULL, &doc) {
                            report_callback_error(&e);
                        }
                    }
                }
            }
            Event::PublishQueued { id } => self.settle(&id, convert::queued(&id, "queued")),
            Event::PublishHeld { id } => self.settle(&id, convert::queued(&id, "held")),
            Event::Delivered { id, seq } => {
                if self.has_listeners(ListenerKind::Delivered) {
                    let ack = convert::or_null(convert::ack(&id, seq));
                    self.call_listeners(ListenerKind::Delivered, &ack);
                }
            }
            Event::DeadLetter(letter) => {
                self.call_listeners(ListenerKind::DeadLetter, &convert::dead_letter(&letter))
            }
            Event::Error(e) => self.call_listeners(ListenerKind::Error, &convert::client_error(&e)),
            Event::ClearDone(outcome) => {
                let result = if outcome.missing.is_empty() {
                    Ok(JsValue::from_f64(outcome.dropped as f64))
                } else {
                    Err(convert::clear_incomplete(outcome.dropped, &outcome.missing))
                };
                self.settle(&outcome.id, result)
            }
            Event::Gap { last_offset } => self.gap(&convert::Gap {
                last_offset: last_offset.as_deref(),
                ..convert::Gap::default()
            }),
            Event::Missed { channel, from, to } => self.gap(&convert::Gap {
                channel: Some(&channel),
                from: Some(from as f64),
                to: Some(to as f64),
                ..convert::Gap::default()
            }),
        }
    }

    fn settle(&self, id: &str, outcome: Result<JsValue, JsValue>) {
        let pair = self.waiting.borrow_mut().remove(id);
        if let Some((resolve, reject)) = pair {
            let _ = match outcome {
                Ok(value) => resolve.call1(&JsValue::NULL, &value),
                Err(error) => reject.call1(&JsValue::NULL, &error),
            };
        }
    }
}

/// An app callback threw: it must not stop the others, but it must not vanish either.
fn report_callback_error(error: &JsValue) {
    web_sys::console::error_2(&JsValue::from_str("syncline: a callback threw"), error);
}
