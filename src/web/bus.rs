//! The tab bus: text messages to the other tabs of the origin, over BroadcastChannel, or, where
//! that is missing, over localStorage `storage` events. Closed and unhooked on drop.

use std::cell::Cell;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent, Storage, StorageEvent};

use super::events::Listener;

enum Medium {
    Channel {
        channel: BroadcastChannel,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
    },
    Storage {
        storage: Storage,
        key: String,
        sent: Cell<u64>,
        _listener: Listener,
    },
}

/// One tab's end of the bus of namespace `ns`.
pub struct Bus {
    medium: Medium,
}

fn has_global(name: &str) -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str(name)).ok())
        .is_some_and(|v| v.is_function() || v.is_object())
}

impl Bus {
    /// Opens the bus; every message from another tab goes to `on_message` as received (the
    /// caller validates it). `None` when the page has neither BroadcastChannel nor storage.
    pub fn open(ns: &str, on_message: impl FnMut(String) + 'static) -> Option<Self> {
        let mut on_message = on_message;
        if has_global("BroadcastChannel") {
            let channel = BroadcastChannel::new(ns).ok()?;
            let closure = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                if let Some(text) = e.data().as_string() {
                    on_message(text);
                }
            });
            channel.set_onmessage(Some(closure.as_ref().unchecked_ref()));
            return Some(Self {
                medium: Medium::Channel {
                    channel,
                    _on_message: closure,
                },
            });
        }
        let window = web_sys::window()?;
        let storage = window.local_storage().ok().flatten()?;
        let key = format!("{ns}:bus");
        let wanted = key.clone();
        let listener = Listener::new(&window, "storage", move |e| {
            let Some(e) = e.dyn_ref::<StorageEvent>() else {
                return;
            };
            if e.key().as_deref() != Some(wanted.as_str()) {
                return;
            }
            // Values are "<counter>|<message>": the counter makes every write an event.
            if let Some(value) = e.new_value() {
                if let Some((_, message)) = value.split_once('|') {
                    on_message(message.to_owned());
                }
            }
        })
        .ok()?;
        Some(Self {
            medium: Medium::Storage {
                storage,
                key,
                sent: Cell::new(0),
                _listener: listener,
            },
        })
    }

    /// Which medium carries the messages: "broadcastchannel" or "storage".
    pub fn medium(&self) -> &'static str {
        match self.medium {
            Medium::Channel { .. } => "broadcastchannel",
            Medium::Storage { .. } => "storage",
        }
    }

    /// Sends `text` to every other tab on the bus.
    pub fn post(&self, text: &str) {
        match &self.medium {
            Medium::Channel { channel, .. } => {
                let _ = channel.post_message(&JsValue::from_str(text));
            }
            Medium::Storage {
                storage, key, sent, ..
            } => {
                let n = sent.get().wrapping_add(1);
                sent.set(n);
                let mut value = n.to_string();
                value.reserve(text.len() + 1);
                value.push('|');
                value.push_str(text);
                // Other tabs see the write as a `storage` event; the key is removed at once
                // so the bus leaves nothing behind.
                let _ = storage.set_item(key, &value);
                let _ = storage.remove_item(key);
            }
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        if let Medium::Channel { channel, .. } = &self.medium {
            channel.set_onmessage(None);
            channel.close();
        }
    }
}

/// A value the tabs keep in the origin's localStorage (the leader's term, the time of the
/// latest logout); `None` when absent or when storage cannot be used.
pub fn read_number(key: &str) -> Option<u64> {
    let storage = web_sys::window()?.local_storage().ok().flatten()?;
    storage.get_item(key).ok().flatten()?.parse().ok()
}

/// Keeps a number in the origin's localStorage (nothing when storage cannot be used).
pub fn write_number(key: &str, value: u64) {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.set_item(key, &value.to_string());
    }
}

/// Calls `on_change` with the new number whenever another tab writes `key`.
pub fn watch_number(key: &str, mut on_change: impl FnMut(u64) + 'static) -> Option<Listener> {
    let window = web_sys::window()?;
    let wanted = key.to_owned();
    Listener::new(&window, "storage", move |e| {
        let Some(e) = e.dyn_ref::<StorageEvent>() else {
            return;
        };
        if e.key().as_deref() == Some(wanted.as_str()) {
            if let Some(n) = e.new_value().and_then(|v| v.parse().ok()) {
                on_change(n);
            }
        }
    })
    .ok()
}
