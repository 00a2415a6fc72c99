//! The JS API of documents, conflicts and metrics.

use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::convert::{self, busy, from_js, refused};
use super::{SynclineClient, disposer};
use crate::driver::{DocumentOptions, Op, Resolver, Strategy};
use crate::protocol::value::Value;

/// The app's conflict resolver, called with a conflict object; what it returns (any JSON
/// value) is kept. If it throws or returns `undefined`, last-writer-wins decides.
pub fn resolver_hook(resolver: Function) -> Box<Resolver<'static>> {
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
        let o = from_js::<DocumentOptions>(options.clone(), "options")?;
        let op = if let Some(f) = change.dyn_ref::<Function>() {
            let current = self.driver.document_value(&key).map_err(busy)?;
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
        let id = self.driver.next_publish_id().map_err(busy)?;
        let promise = self.registry.wait_for(id.clone());
        match self
            .driver
            .mutate(id.clone(), o.channel(), o.event(), &key, op)
        {
            Ok(()) => Ok(promise),
            Err(e) => {
                self.registry.forget(&id);
                Err(refused(e))
            }
        }
    }

    /// A document as this tab sees it — `{ key, value, version, pending }` — or null when
    /// nothing is known of it yet.
    #[wasm_bindgen(js_name = getDocument, unchecked_return_type = "DocumentState | null")]
    pub fn get_document(&self, key: String) -> JsValue {
        self.driver.document(&key).map_or(JsValue::NULL, |d| {
            convert::document(&d.key, &d.value, d.version, d.pending, d.rev)
        })
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
        let o = from_js::<DocumentOptions>(options, "options")?;
        self.driver.watch_documents(o.channel()).map_err(busy)?;
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
            .set_conflict_strategy(key.as_deref(), strategy)
            .map_err(busy)
    }

    /// The audit trail: the last conflicts (500 by default) and how each was settled.
    #[wasm_bindgen(unchecked_return_type = "ConflictRecord[]")]
    pub fn conflicts(&self) -> js_sys::Array {
        self.driver
            .conflicts(convert::conflict)
            .into_iter()
            .collect()
    }

    /// Counters and percentiles: RTT, reconnects, messages in and out, handler time per
    /// message, queue depth, conflicts, duplicates dropped, errors by kind.
    #[wasm_bindgen(unchecked_return_type = "Metrics")]
    pub fn metrics(&self) -> JsValue {
        self.driver
            .metrics()
            .map_or(JsValue::NULL, |m| convert::or_null(convert::to_js(&m)))
    }
}
