//! Rust values into JS values and back: errors, the state snapshot, event contexts, payloads.
//! Every Rust error becomes a JS `Error` here and only here.

use wasm_bindgen::prelude::*;

use super::read::Builder;
use crate::core::{ClientError, DeadLetter, RequestError, SendError, Snapshot, StorageState};
use crate::protocol::envelope::RawJson;
use crate::web::clock;

#[wasm_bindgen(inline_js = r#"
export function makeError(kind, message, retryable, details) {
  const e = new Error(message);
  e.name = "SynclineError";
  e.kind = kind;
  e.retryable = retryable;
  if (details) Object.assign(e, details);
  return e;
}
export function makeMessage(channel, event, seq, id, dataText, coalesced) {
  return { channel, event, seq, id: id === undefined ? null : id, data: JSON.parse(dataText), coalesced };
}
export function makeAck(id, seq) {
  return { id, seq, status: "acked" };
}
export function makeDocument(key, valueText, version, pending, rev) {
  return Object.freeze({ key, value: JSON.parse(valueText), version, pending, rev });
}
export function makeConflict(key, version, strategy, server, client, resolved, serverTs, clientTs, serverBy, clientBy, id, at) {
  return { key, version, strategy, server: JSON.parse(server), client: JSON.parse(client), resolved: JSON.parse(resolved),
    serverTs, clientTs, serverBy, clientBy, id, at };
}
export function makeQueued(id) {
  return { id, seq: null, status: "queued" };
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
    fn make_error(kind: &str, message: &str, retryable: bool, details: JsValue) -> JsValue;
    #[wasm_bindgen(js_name = makeMessage, catch)]
    fn make_message(
        channel: &str,
        event: &str,
        seq: f64,
        id: Option<String>,
        data: &str,
        coalesced: u32,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = makeAck)]
    fn make_ack(id: &str, seq: f64) -> JsValue;
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
    #[wasm_bindgen(js_name = makeQueued)]
    fn make_queued(id: &str) -> JsValue;
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

/// A `SynclineError` with a stable `kind`.
pub fn error(kind: &str, message: &str, retryable: bool) -> JsValue {
    make_error(kind, message, retryable, JsValue::UNDEFINED)
}

/// The caller passed something unusable.
pub fn invalid_argument(message: &str) -> JsValue {
    error("invalid_argument", message, false)
}

/// A connection error, for `onError` listeners.
pub fn client_error(e: &ClientError) -> JsValue {
    error(e.kind(), &e.to_string(), true)
}

/// A failed request or publish, for its promise.
pub fn request_error(e: &RequestError) -> JsValue {
    let details = match e {
        RequestError::Server(server) => {
            let details = Builder::new();
            details.str("code", &server.code);
            details.build()
        }
        _ => JsValue::UNDEFINED,
    };
    make_error(e.kind(), &e.to_string(), e.retryable(), details)
}

/// A send the client could not accept.
pub fn send_error<T>(e: &SendError<T>) -> JsValue {
    error(
        e.kind(),
        &e.to_string(),
        matches!(e, SendError::BufferFull { .. }),
    )
}

/// The context object a subscription handler receives.
pub fn message(d: &crate::core::Delivery) -> Result<JsValue, JsValue> {
    make_message(
        &d.channel,
        &d.event,
        d.seq as f64,
        d.id.clone(),
        d.data.as_str(),
        d.coalesced,
    )
}

/// What a publish promise resolves with.
pub fn ack(id: &str, seq: u64) -> JsValue {
    make_ack(id, seq as f64)
}

/// What a durable publish promise resolves with when the entry is stored, not yet acked.
pub fn queued(id: &str) -> JsValue {
    make_queued(id)
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
pub fn conflict(c: &crate::core::docs::Conflict) -> JsValue {
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

/// The metrics snapshot as a plain object.
pub fn metrics(m: &crate::core::documents::MetricsSnapshot) -> JsValue {
    let errors = Builder::new();
    // Already sorted by kind, each kind once.
    for (kind, n) in &m.errors {
        errors.num(kind, *n);
    }
    let o = Builder::new();
    o.opt("rttLastMs", m.rtt_last_ms)
        .opt("rttP50Ms", m.rtt_p50_ms)
        .opt("rttP99Ms", m.rtt_p99_ms)
        .num("reconnects", m.reconnects)
        .num("messagesIn", m.messages_in)
        .num("messagesOut", m.messages_out)
        .opt("dispatchP50Us", m.dispatch_p50_us)
        .opt("dispatchP99Us", m.dispatch_p99_us)
        .num("queueDepth", m.queue_depth as u64)
        .num("conflicts", m.conflicts)
        .num("duplicatesDropped", m.duplicates_dropped)
        .num("deliveriesCoalesced", m.deliveries_coalesced)
        .num("tabMessagesRejected", m.tab_messages_rejected)
        .str("breaker", m.breaker)
        .set("errors", errors.build());
    o.build()
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
/// object, a tab-bus message): at most `MAX_DEPTH - 8` levels of nesting.
fn app_data_depth(text: String) -> Result<String, JsValue> {
    use crate::protocol::json::{self, JsonError, MAX_DEPTH};
    let limit = MAX_DEPTH - 8;
    let opening = text.bytes().filter(|b| *b == b'[' || *b == b'{').count();
    if opening > limit {
        // Only worth checking exactly when it could be that deep: 8 levels of wrapping.
        let wrapped = format!("[[[[[[[[{text}]]]]]]]]");
        if let Err(JsonError::TooDeep) = json::validate(&wrapped) {
            return Err(invalid_argument(&format!(
                "data is nested deeper than {limit} levels"
            )));
        }
    }
    Ok(text)
}

fn error_view(e: Option<&crate::core::state::ErrorInfo>) -> JsValue {
    match e {
        None => JsValue::NULL,
        Some(e) => {
            let o = Builder::new();
            o.str("kind", e.kind).str("message", &e.message);
            o.build()
        }
    }
}

/// The frozen JS object `getState()` returns.
pub fn state(snapshot: &Snapshot) -> JsValue {
    let now = clock::now_ms();
    let s = snapshot;
    let b = &s.outbox;
    let outbox = Builder::new();
    outbox
        .num("depth", b.depth as u64)
        .num("inFlight", b.in_flight as u64)
        .opt("oldestCreatedAt", b.oldest_created_at)
        .num("deadLetters", b.dead_letters as u64)
        .str("storage", b.storage.as_str())
        .flag("degraded", b.storage == StorageState::Memory)
        .str("breaker", b.breaker)
        .set("lastError", error_view(b.last_error.as_ref()));
    let o = Builder::new();
    o.num("version", s.version)
        .str("state", s.state.as_str())
        .flag("online", s.online)
        .flag("visible", s.visible)
        .num("attempt", u64::from(s.attempt))
        .num("reconnects", s.reconnects)
        .opt("rttMs", s.rtt_ms)
        // Epoch milliseconds of the next attempt, while waiting.
        .opt(
            "retryAt",
            s.retry_at
                .map(|at| clock::unix_ms().saturating_add(at.saturating_sub(now))),
        )
        .set("lastError", error_view(s.last_error.as_ref()))
        .set(
            "session",
            s.session
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from_str),
        )
        .num("buffered", s.buffered as u64)
        .num("pending", s.pending as u64)
        .num("channels", s.channels as u64)
        .set("outbox", outbox.build())
        .str("role", s.role.as_str())
        .num("tabs", s.tabs as u64)
        .str("bus", s.bus)
        .num("tabMessagesRejected", s.tab_messages_rejected);
    let value = o.build();
    freeze_deep(&value);
    value
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
