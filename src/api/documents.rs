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
        let op = self.change_op(&key, change, o.replace.unwrap_or(false))?;
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

    /// A change as the app gives it: a function from the current value to the next one, a
    /// whole value (`replace`), or a JSON merge patch.
    fn change_op(&self, key: &str, change: &JsValue, replace: bool) -> Result<Op, JsValue> {
        if let Some(f) = change.dyn_ref::<Function>() {
            let current = self.driver.document_value(key).map_err(busy)?;
            let next = f.call1(&JsValue::NULL, &convert::parse_data(&current))?;
            return Ok(Op::Set(Value::from_raw(&convert::data_to_json(&next)?)));
        }
        let value = Value::from_raw(&convert::data_to_json(change)?);
        Ok(if replace {
            Op::Set(value)
        } else {
            Op::Patch(value)
        })
    }

    /// Changes document `key` at once (optimistically, in every tab of this origin) and calls
    /// `confirm()`; the change is pending while its promise runs. If it resolves, the change
    /// is committed: its value becomes the document's confirmed value when it is plain JSON
    /// (or, for a `Response`, its JSON body), else the change is applied (also with
    /// `{ commit: "change" }`). If it rejects (or resolves with a `Response` that is not
    /// ok), the change is rolled back everywhere and the returned promise rejects. Server
    /// updates that arrive meanwhile (`setDocument`, or a watched channel) go under it.
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn optimistic(
        &self,
        key: String,
        #[wasm_bindgen(unchecked_param_type = "unknown | ((current: unknown) => unknown)")] change: JsValue,
        #[wasm_bindgen(unchecked_param_type = "() => Promise<unknown>")] confirm: Function,
        #[wasm_bindgen(unchecked_param_type = "OptimisticOptions")] options: JsValue,
    ) -> js_sys::Promise {
        match self.try_optimistic(key, &change, &confirm, options) {
            Ok(promise) => promise,
            Err(e) => js_sys::Promise::reject(&e),
        }
    }

    fn try_optimistic(
        &self,
        key: String,
        change: &JsValue,
        confirm: &Function,
        options: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        if key.is_empty() {
            return Err(convert::invalid_argument("key must not be empty"));
        }
        let o = from_js::<OptimisticOptions>(options, "options")?;
        let keep_change = match o.commit.as_deref() {
            None | Some("result") => false,
            Some("change") => true,
            Some(_) => {
                return Err(convert::invalid_argument(
                    "options.commit must be one of \"result\", \"change\"",
                ));
            }
        };
        let op = self.change_op(&key, change, o.replace.unwrap_or(false))?;
        let id = self.driver.next_publish_id().map_err(busy)?;
        self.driver
            .begin_optimistic(id.clone(), &key, op)
            .map_err(busy)?;
        let running = match confirm.call0(&JsValue::NULL) {
            Ok(value) => js_sys::Promise::resolve(&value),
            Err(e) => js_sys::Promise::reject(&e),
        };
        let driver = Rc::downgrade(&self.driver);
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let (outcome, answer) = match wasm_bindgen_futures::JsFuture::from(running).await {
                Ok(value) => confirmed(value, keep_change).await,
                Err(e) => (None, Err(e)),
            };
            if let Some(driver) = driver.upgrade() {
                // Not busy here: a promise's continuation runs outside any callback.
                let _ = driver.settle_optimistic(id, outcome);
            }
            answer
        }))
    }

    /// The server's value of document `key` (from the app's own server update, e.g. a
    /// WebSocket event): it becomes the confirmed value and pending changes go on top.
    #[wasm_bindgen(js_name = setDocument)]
    pub fn set_document(&self, key: String, value: JsValue) -> Result<(), JsValue> {
        if key.is_empty() {
            return Err(convert::invalid_argument("key must not be empty"));
        }
        let value = Value::from_raw(&convert::data_to_json(&value)?);
        self.driver.set_document(&key, value).map_err(busy)
    }

    /// A document as this tab sees it — `{ key, value, version, pending }` — or null when
    /// nothing is known of it yet.
    #[wasm_bindgen(js_name = getDocument, unchecked_return_type = "DocumentState | null")]
    pub fn get_document(&self, key: String) -> JsValue {
        self.driver.document(&key).map_or(JsValue::NULL, |d| {
            convert::document(&d.key, &d.value, d.version, d.pending, d.rev)
        })
    }

    /// Follows the documents of a channel (default "docs"; none with `{ local: true }`, for
    /// documents changed by `optimistic` and `setDocument` only) and calls
    /// `listener(document)` when `key` changes, at most once per animation frame; returns the
    /// function that stops.
    #[wasm_bindgen(js_name = watchDocument, unchecked_return_type = "() => void")]
    pub fn watch_document(
        &self,
        key: String,
        #[wasm_bindgen(unchecked_param_type = "(document: DocumentState) => void")]
        listener: Function,
        #[wasm_bindgen(unchecked_param_type = "{ channel?: string; local?: boolean }")]
        options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let o = from_js::<DocumentOptions>(options, "options")?;
        if !o.local.unwrap_or(false) {
            self.driver.watch_documents(o.channel()).map_err(busy)?;
        }
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

/// Options of `optimistic()`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OptimisticOptions {
    /// "result" (default) or "change".
    commit: Option<String>,
    /// `change` is the whole value rather than a merge patch.
    replace: Option<bool>,
}

/// What a resolved `confirm()` means: the commit (with the confirmed value, when the result
/// gives one) and what `optimistic()` resolves with; a `Response` that is not ok rolls back.
async fn confirmed(
    value: JsValue,
    keep_change: bool,
) -> (Option<Option<Value>>, Result<JsValue, JsValue>) {
    if let Some(response) = value.dyn_ref::<web_sys::Response>() {
        let text = match response.text() {
            Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise)
                .await
                .ok()
                .and_then(|t| t.as_string())
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        if !response.ok() {
            let mut message = String::from("http ");
            message.push_str(&response.status().to_string());
            if !text.is_empty() {
                message.push_str(": ");
                message.extend(text.chars().take(200));
            }
            return (None, Err(convert::error("rejected", &message, false)));
        }
        let body = crate::protocol::RawJson::parse(text).ok();
        let parsed = body
            .as_ref()
            .map_or(JsValue::UNDEFINED, convert::parse_data);
        let value = body.filter(|_| !keep_change).map(|b| Value::from_raw(&b));
        return (Some(value), Ok(parsed));
    }
    if keep_change || value.is_undefined() || !plain(&value) {
        return (Some(None), Ok(value));
    }
    let committed = convert::data_to_json(&value)
        .ok()
        .map(|raw| Value::from_raw(&raw));
    (Some(committed), Ok(value))
}

/// Plain JSON: a primitive, an array, or an object made by `{}` or `JSON.parse`.
fn plain(value: &JsValue) -> bool {
    if !value.is_object() || js_sys::Array::is_array(value) {
        return true;
    }
    let proto = js_sys::Object::get_prototype_of(value);
    proto.is_null() || js_sys::Object::get_prototype_of(&proto).is_null()
}
