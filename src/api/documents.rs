//! The JS API of documents, conflicts and metrics.

use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::read::Fields;
use super::{SynclineClient, busy, convert, disposer};
use crate::core::docs::merge::Strategy;
use crate::core::docs::{Conflict, Op};
use crate::protocol::value::Value;
use crate::web::clock;

/// Options of `mutate()` and `watchDocument()`.
struct DocumentOptions {
    channel: Option<String>,
    event: Option<String>,
    replace: Option<bool>,
}

const DEFAULT_CHANNEL: &str = "docs";
const DEFAULT_EVENT: &str = "doc";

fn document_options(options: &JsValue) -> Result<DocumentOptions, JsValue> {
    let f = Fields::top(options, "document options", "DocumentOptions")?;
    Ok(DocumentOptions {
        channel: f.string("channel")?,
        event: f.string("event")?,
        replace: f.boolean("replace")?,
    })
}

/// The app's conflict resolver, called with a conflict object; what it returns (any JSON
/// value) is kept. If it throws or returns `undefined`, last-writer-wins decides.
pub fn resolver_hook(resolver: Function) -> Box<dyn FnMut(&Conflict) -> Option<Value>> {
    Box::new(move |conflict| {
        let answer = resolver
            .call1(&JsValue::NULL, &convert::conflict(conflict))
            .ok()?;
        if answer.is_undefined() {
            return None;
        }
        let raw = convert::data_to_json(&answer).ok()?;
        Some(Value::from_raw(&raw))
    })
}

#[wasm_bindgen]
impl SynclineClient {
    /// Changes document `key` at once (optimistically) and publishes the change durably on the
    /// document's channel (default "docs"). `change` is a JSON merge patch (objects merge,
    /// `null` removes a field), a whole value with `{ replace: true }`, or a function from the
    /// current value to the next one. Resolves like `publish`; if the server refuses the
    /// change for good it is rolled back and the promise rejects.
    #[wasm_bindgen(unchecked_return_type = "Promise<PublishResult>")]
    pub fn mutate(
        &self,
        key: String,
        #[wasm_bindgen(unchecked_param_type = "unknown | ((current: unknown) => unknown)")] change: JsValue,
        #[wasm_bindgen(unchecked_param_type = "MutateOptions")] options: JsValue,
    ) -> js_sys::Promise {
        match self.try_mutate(key, &change, &options) {
            Ok(promise) => promise,
            Err(e) => js_sys::Promise::reject(&e),
        }
    }

    fn try_mutate(
        &self,
        key: String,
        change: &JsValue,
        options: &JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        if key.is_empty() {
            return Err(convert::invalid_argument("key must not be empty"));
        }
        let o = document_options(options)?;
        let channel = o.channel.unwrap_or_else(|| DEFAULT_CHANNEL.to_owned());
        let event = o.event.unwrap_or_else(|| DEFAULT_EVENT.to_owned());
        let op = if let Some(f) = change.dyn_ref::<Function>() {
            let current = self
                .driver
                .input(|core, _| core.document_value(&key).to_raw())
                .ok_or_else(busy)?;
            let next = f.call1(&JsValue::NULL, &convert::parse_data(&current))?;
            Op::Set(Value::from_raw(&convert::data_to_json(&next)?))
        } else {
            let value = Value::from_raw(&convert::data_to_json(change)?);
            if o.replace.unwrap_or(false) {
                Op::Set(value)
            } else {
                Op::Patch(value)
            }
        };
        let random = clock::random_bytes();
        let id = self
            .driver
            .input(|core, now| core.next_publish_id(now, random))
            .ok_or_else(busy)?;
        let promise = self.registry.wait_for(id.clone());
        let sent = self
            .driver
            .input(|core, now| core.mutate(now, id.clone(), &channel, &event, &key, op))
            .ok_or_else(busy)?;
        match sent {
            Ok(()) => Ok(promise),
            Err(e) => {
                self.registry.forget(&id);
                Err(convert::send_error(&e))
            }
        }
    }

    /// A document as this tab sees it — `{ key, value, version, pending }` — or null when
    /// nothing is known of it yet.
    #[wasm_bindgen(js_name = getDocument, unchecked_return_type = "DocumentState | null")]
    pub fn get_document(&self, key: String) -> JsValue {
        self.driver
            .input(|core, _| {
                core.document(&key).map(|d| {
                    convert::document(&key, &d.value.to_raw(), d.version, d.pending, d.rev)
                })
            })
            .flatten()
            .unwrap_or(JsValue::NULL)
    }

    /// Follows the documents of a channel (default "docs") and calls `listener(document)`
    /// when `key` changes, at most once per animation frame; returns the function that stops.
    #[wasm_bindgen(js_name = watchDocument, unchecked_return_type = "() => void")]
    pub fn watch_document(
        &self,
        key: String,
        #[wasm_bindgen(unchecked_param_type = "(document: DocumentState) => void")]
        listener: Function,
        #[wasm_bindgen(unchecked_param_type = "{ channel?: string }")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let o = document_options(&options)?;
        let channel = o.channel.unwrap_or_else(|| DEFAULT_CHANNEL.to_owned());
        self.driver
            .input(|core, now| core.watch_documents(now, &channel))
            .ok_or_else(busy)?;
        let id = self.registry.add_doc_watcher(key, listener);
        let registry = Rc::downgrade(&self.registry);
        Ok(disposer(move || {
            if let Some(r) = registry.upgrade() {
                r.remove_listener(id);
            }
        }))
    }

    /// Sets how conflicts are settled: "lww" (last writer wins, by timestamp), "server",
    /// "client", "merge", or "custom" (the `conflicts.resolver` option) — for one `key`, or
    /// for every key without its own.
    #[wasm_bindgen(js_name = setConflictStrategy)]
    pub fn set_conflict_strategy(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ConflictStrategy")] strategy: String,
        key: Option<String>,
    ) -> Result<(), JsValue> {
        let strategy = Strategy::from_name(&strategy).ok_or_else(|| {
            convert::invalid_argument(&format!("unknown conflict strategy {strategy:?}"))
        })?;
        self.driver
            .input(|core, _| core.set_conflict_strategy(key.as_deref(), strategy))
            .ok_or_else(busy)
    }

    /// The audit trail: the last conflicts (500 by default) and how each was settled.
    #[wasm_bindgen(unchecked_return_type = "ConflictRecord[]")]
    pub fn conflicts(&self) -> js_sys::Array {
        self.driver
            .input(|core, _| {
                core.conflicts()
                    .map(convert::conflict)
                    .collect::<js_sys::Array>()
            })
            .unwrap_or_default()
    }

    /// Counters and percentiles: RTT, reconnects, messages in and out, handler time per
    /// message, queue depth, conflicts, duplicates dropped, errors by kind.
    #[wasm_bindgen(unchecked_return_type = "Metrics")]
    pub fn metrics(&self) -> JsValue {
        self.driver
            .input(|core, now| convert::metrics(&core.metrics(now)))
            .unwrap_or(JsValue::NULL)
    }
}
