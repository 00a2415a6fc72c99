//! Rust values into JS values and back. Options come in and state, metrics and publish
//! results go out through serde-wasm-bindgen; objects that carry the app's JSON payloads
//! (messages, documents, conflicts, dead letters) are built by small JS functions that parse
//! the payload text with the browser's `JSON.parse`, so the payload never goes through Rust
//! values. Every Rust error becomes a JS `Error` here and only here.

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

use crate::driver::{
    Busy, ClientError, Conflict, DeadLetter, Delivery, OptionsError, Refused, RequestError,
    SendError, Snapshot, StateView,
};
use crate::protocol::envelope::RawJson;
use crate::web::clock;

#[wasm_bindgen(inline_js = r#"
export function makeError(kind, message, retryable, code) {
  const e = new Error(message);
  e.name = "SynclineError";
  e.kind = kind;
  e.retryable = retryable;
  if (code !== undefined) e.code = code;
  return e;
}
export function makeMessage(channel, event, seq, id, dataText, coalesced) {
  return { channel, event, seq, id: id === undefined ? null : id, data: JSON.parse(dataText), coalesced };
}
export function makeDocument(key, valueText, version, pending, rev) {
  return Object.freeze({ key, value: JSON.parse(valueText), version, pending, rev });
}
export function makeConflict(key, version, strategy, server, client, resolved, serverTs, clientTs, serverBy, clientBy, id, at) {
  return { key, version, strategy, server: JSON.parse(server), client: JSON.parse(client), resolved: JSON.parse(resolved),
    serverTs, clientTs, serverBy, clientBy, id, at };
}
export function callWithArgs(handler, message, spread) {
  return spread && Array.isArray(message.data) ? handler(...message.data) : handler(message.data);
}
export function makeDeadLetter(id, channel, event, dataText, createdAt, priority, reason, failedAt) {
  return { id, channel, event, data: JSON.parse(dataText), createdAt, priority, reason, failedAt };
}
"#)]
extern "C" {
    /// Calls an `on(event, handler)` handler with the event's arguments.
    #[wasm_bindgen(js_name = callWithArgs, catch)]
    pub fn call_with_args(
        handler: &js_sys::Function,
        message: &JsValue,
        spread: bool,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = makeError)]
    fn make_error(kind: &str, message: &str, retryable: bool, code: Option<&str>) -> JsValue;
    #[wasm_bindgen(js_name = makeMessage, catch)]
    fn make_message(
        channel: &str,
        event: &str,
        seq: f64,
        id: Option<String>,
        data: &str,
        coalesced: u32,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = makeDocument, catch)]
    fn make_document(
        key: &str,
        value: &str,
        version: f64,
        pending: u32,
        rev: f64,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = makeConflict, catch)]
    #[allow(clippy::too_many_arguments)]
    fn make_conflict(
        key: &str,
        version: f64,
        strategy: &str,
        server: &str,
        client: &str,
        resolved: &str,
        server_ts: f64,
        client_ts: f64,
        server_by: &str,
        client_by: &str,
        id: &str,
        at: f64,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = makeDeadLetter, catch)]
    #[allow(clippy::too_many_arguments)]
    fn make_dead_letter(
        id: &str,
        channel: &str,
        event: &str,
        data: &str,
        created_at: f64,
        priority: i32,
        reason: &str,
        failed_at: f64,
    ) -> Result<JsValue, JsValue>;
}

// ----- errors -----

/// A `SynclineError` with a stable `kind`.
pub fn error(kind: &str, message: &str, retryable: bool) -> JsValue {
    make_error(kind, message, retryable, None)
}

/// A logout that some tabs did not confirm in time: kind "clear_incomplete", with `tabs`
/// (the ids of the tabs that did not answer) and `dropped` (entries dropped by those that did).
pub fn clear_incomplete(dropped: u64, tabs: &[String]) -> JsValue {
    let message = format!(
        "local data was cleared here, but {} tab(s) did not confirm in time; they clear when \
         they next hear of it",
        tabs.len()
    );
    let error = error("clear_incomplete", &message, true);
    let list: js_sys::Array = tabs.iter().map(|t| JsValue::from_str(t)).collect();
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("tabs"), &list);
    let _ = js_sys::Reflect::set(
        &error,
        &JsValue::from_str("dropped"),
        &JsValue::from_f64(dropped as f64),
    );
    error
}

/// The caller passed something unusable.
pub fn invalid_argument(message: &str) -> JsValue {
    error("invalid_argument", message, false)
}

/// Options that do not fit, with the field named.
pub fn options_error(e: &OptionsError) -> JsValue {
    invalid_argument(&e.to_string())
}

/// The core was in use (an app callback called back in a way the client cannot take).
pub fn busy(_: Busy) -> JsValue {
    error("busy", &Busy.to_string(), true)
}

/// An operation the driver did not carry out.
pub fn refused(e: Refused) -> JsValue {
    match e {
        Refused::Busy(b) => busy(b),
        Refused::Send(e) => send_error(&e),
        e @ (Refused::EmptyName | Refused::Reserved(_) | Refused::Payload(_)) => {
            invalid_argument(&e.to_string())
        }
    }
}

/// A connection error, for `onError` listeners.
pub fn client_error(e: &ClientError) -> JsValue {
    error(e.kind(), &e.to_string(), true)
}

/// A failed request or publish, for its promise.
pub fn request_error(e: &RequestError) -> JsValue {
    let code = match e {
        RequestError::Server(server) => Some(server.code.as_str()),
        _ => None,
    };
    make_error(e.kind(), &e.to_string(), e.retryable(), code)
}

/// A send the client could not accept.
pub fn send_error<T>(e: &SendError<T>) -> JsValue {
    error(
        e.kind(),
        &e.to_string(),
        matches!(e, SendError::BufferFull { .. }),
    )
}

// ----- serde at the boundary -----

/// `None` becomes `null` (as the TypeScript declarations say), maps become plain objects.
const SERIALIZER: serde_wasm_bindgen::Serializer = serde_wasm_bindgen::Serializer::new()
    .serialize_missing_as_null(true)
    .serialize_maps_as_objects(true);

/// A Rust value as a plain JS value.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&SERIALIZER)
        .map_err(|e| error("internal", &e.to_string(), false))
}

/// The value, or `null` once the error is on the console (a value that cannot become JS,
/// such as a number past 2^53, must not throw out of a getter).
pub fn or_null(value: Result<JsValue, JsValue>) -> JsValue {
    value.unwrap_or_else(|e| {
        web_sys::console::error_2(&JsValue::from_str("syncline: cannot convert"), &e);
        JsValue::NULL
    })
}

/// A JS options argument as `T`; `undefined` and `null` read as `{}`. A field of the wrong
/// type fails with its path: `options.reconnect.maxDelayMs: invalid type: …`.
pub fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    let value = if value.is_undefined() || value.is_null() {
        js_sys::Object::new().into()
    } else {
        value
    };
    read(value, what)
}

/// A JS value as `T`, or the error naming the field that did not fit.
pub fn read<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    serde_path_to_error::deserialize(serde_wasm_bindgen::Deserializer::from(value)).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            what.to_owned()
        } else {
            [what, ".", &path].concat()
        };
        options_error(&OptionsError::Type {
            path,
            message: e.into_inner().to_string(),
        })
    })
}

/// What a publish promise resolves with, and what `delivered` listeners receive.
#[derive(Serialize)]
struct PublishResult<'a> {
    id: &'a str,
    seq: Option<f64>,
    status: &'static str,
}

/// A publish the server acked with `seq`.
pub fn ack(id: &str, seq: Option<u64>) -> Result<JsValue, JsValue> {
    to_js(&PublishResult {
        id,
        seq: seq.map(|seq| seq as f64),
        status: if seq.is_some() { "acked" } else { "sent" },
    })
}

/// What the "gap" event carries: a session the server could not take up (`lastOffset`), or
/// events of one channel that will never come (`channel`, `from`, `to`).
#[derive(serde::Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Gap<'a> {
    pub last_offset: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<f64>,
}

pub fn gap(gap: &Gap<'_>) -> Result<JsValue, JsValue> {
    to_js(gap)
}

/// A durable publish kept locally, not yet acked: `status` is "queued" (in IndexedDB) or
/// "held" (in memory only: storage is unavailable).
pub fn queued(id: &str, status: &'static str) -> Result<JsValue, JsValue> {
    to_js(&PublishResult {
        id,
        seq: None,
        status,
    })
}

/// The frozen JS object `getState()` returns.
pub fn state(snapshot: &Snapshot) -> Result<JsValue, JsValue> {
    let now = clock::now_ms();
    let view = StateView {
        snapshot,
        // Epoch milliseconds of the next attempt, while waiting.
        retry_at: snapshot
            .retry_at
            .map(|at| clock::unix_ms().saturating_add(at.saturating_sub(now))),
    };
    let value = to_js(&view)?;
    freeze_deep(&value);
    Ok(value)
}

/// Freezes an object and the objects in it (the snapshot is a few levels deep at most).
fn freeze_deep(value: &JsValue) {
    let Some(object) = value.dyn_ref::<js_sys::Object>() else {
        return;
    };
    for inner in js_sys::Object::values(object).iter() {
        if inner.is_object() {
            freeze_deep(&inner);
        }
    }
    js_sys::Object::freeze(object);
}

// ----- objects that carry the app's payloads -----

/// The context object a subscription handler receives.
pub fn message(d: &Delivery) -> Result<JsValue, JsValue> {
    make_message(
        &d.channel,
        &d.event,
        d.seq as f64,
        d.id.clone(),
        d.data.as_str(),
        d.coalesced,
    )
}

/// A dead letter, for `deadLetters()` and `deadLetter` listeners.
pub fn dead_letter(letter: &DeadLetter) -> JsValue {
    let e = &letter.entry;
    make_dead_letter(
        &e.id,
        &e.channel,
        &e.event,
        e.data.as_str(),
        e.created_at as f64,
        e.priority,
        &letter.reason,
        letter.failed_at as f64,
    )
    .unwrap_or(JsValue::NULL)
}

/// A document, for `getDocument()` and document watchers.
pub fn document(key: &str, value: &RawJson, version: u64, pending: usize, rev: u64) -> JsValue {
    make_document(
        key,
        value.as_str(),
        version as f64,
        pending.min(u32::MAX as usize) as u32,
        rev as f64,
    )
    .unwrap_or(JsValue::NULL)
}

/// A conflict record, for the audit trail and the app's resolver.
pub fn conflict(c: &Conflict) -> JsValue {
    make_conflict(
        &c.key,
        c.version as f64,
        c.strategy.as_str(),
        c.server.to_raw().as_str(),
        c.client.to_raw().as_str(),
        c.resolved.to_raw().as_str(),
        c.server_ts as f64,
        c.client_ts as f64,
        &c.server_by,
        &c.client_by,
        &c.id,
        c.at as f64,
    )
    .unwrap_or(JsValue::NULL)
}

/// A payload from the server, parsed by the browser.
pub fn parse_data(data: &RawJson) -> JsValue {
    js_sys::JSON::parse(data.as_str()).unwrap_or_else(|_| JsValue::from_str(data.as_str()))
}

/// A payload from the app, as JSON text (`undefined` becomes `null`).
pub fn data_to_json(data: &JsValue) -> Result<RawJson, JsValue> {
    if data.is_undefined() {
        return Ok(RawJson::null());
    }
    let text = js_sys::JSON::stringify(data).map_err(|e| {
        invalid_argument(&format!(
            "data is not JSON-serializable: {}",
            crate::web::socket::describe(&e)
        ))
    })?;
    let text = text.as_string().unwrap_or_else(|| "null".to_owned());
    RawJson::parse(app_data_depth(text)?)
        .map_err(|e| invalid_argument(&format!("data is not valid JSON: {e}")))
}

/// App data must leave room for the messages it travels in (a batch array, a message
/// object, a tab-bus message): the relay, Socket.IO servers and document values read JSON at
/// most 128 levels deep, so app data may have at most 120.
fn app_data_depth(text: String) -> Result<String, JsValue> {
    const LIMIT: usize = 120;
    let opening = text.bytes().filter(|b| *b == b'[' || *b == b'{').count();
    if opening > LIMIT {
        // Only worth reading when it could be that deep: inside 8 levels of wrapping, a value
        // tree of it is refused past serde_json's limit (the text is JSON.stringify's).
        let wrapped = format!("[[[[[[[[{text}]]]]]]]]");
        if crate::protocol::value::Value::from_text(&wrapped).is_err() {
            return Err(invalid_argument(&format!(
                "data is nested deeper than {LIMIT} levels"
            )));
        }
    }
    Ok(text)
}
