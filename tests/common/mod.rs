//! Helpers for the browser suites: the relay's addresses, HTTP calls to its control API and
//! supervisor, waiting for conditions, and small JS conveniences.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use syncline::SynclineClient;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestInit, Response};

// scripts/with-relay.sh picks free ports and a random secret for each run and compiles them in
// (cargo rebuilds the tests when they change); nothing here is fixed, so two runs at once on one
// machine do not meet.

/// What a test run without scripts/with-relay.sh gets: every request fails with this.
const UNSET: &str = "unset: run the browser tests with `make test-browser` (scripts/with-relay.sh)";

/// The relay's WebSocket endpoint (the test command starts it).
pub const RELAY_WS: &str = match option_env!("SYNCLINE_TEST_RELAY_WS") {
    Some(v) => v,
    None => UNSET,
};
/// The relay's own HTTP address (for `/control/*`).
pub const RELAY_HTTP: &str = match option_env!("SYNCLINE_TEST_RELAY_HTTP") {
    Some(v) => v,
    None => UNSET,
};
/// The supervisor that kills and starts the relay.
pub const SUPERVISOR: &str = match option_env!("SYNCLINE_TEST_SUPERVISOR") {
    Some(v) => v,
    None => UNSET,
};
/// The run's secret: the relay's test endpoints and its supervisor answer only requests that
/// carry it in `x-syncline-secret` (and, from a page, only this test page's origin).
pub const SECRET: &str = match option_env!("SYNCLINE_CONTROL_SECRET") {
    Some(v) => v,
    None => UNSET,
};

/// Sends an HTTP request to a test endpoint (with the run's secret) and returns the JSON answer;
/// fails the test on an error status.
pub async fn http(method: &str, url: &str, body: Option<&str>) -> JsValue {
    assert!(SECRET != UNSET && !url.starts_with(UNSET), "{UNSET}");
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    let headers = js_sys::Object::new();
    Reflect::set(&headers, &"x-syncline-secret".into(), &SECRET.into()).expect("headers");
    init.set_headers(&headers);
    let window = web_sys::window().expect("window");
    let response: Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e:?}"))
        .dyn_into()
        .expect("Response");
    assert!(
        response.ok(),
        "{method} {url} answered {}",
        response.status()
    );
    JsFuture::from(response.json().expect("json"))
        .await
        .expect("JSON body")
}

/// POSTs to the relay's control API.
pub async fn control(path: &str, body: &str) -> JsValue {
    http("POST", &format!("{RELAY_HTTP}/control/{path}"), Some(body)).await
}

/// POSTs to the supervisor.
pub async fn supervisor(path: &str, body: &str) -> JsValue {
    http("POST", &format!("{SUPERVISOR}/{path}"), Some(body)).await
}

/// Makes sure the relay runs with no faults and no token (earlier tests may have changed them).
pub async fn fresh_relay() {
    supervisor("start", "").await;
    control("faults", "{}").await;
    control("token", r#"{"token":null}"#).await;
}

/// A stat from the relay's counters.
pub async fn relay_stat(name: &str) -> f64 {
    let stats = http("GET", &format!("{RELAY_HTTP}/control/stats"), None).await;
    get(&stats, name).as_f64().unwrap_or(f64::NAN)
}

/// Waits `ms` milliseconds.
pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Waits until `cond` holds, failing the test after `timeout_ms`.
pub async fn wait_until(what: &str, timeout_ms: u32, mut cond: impl FnMut() -> bool) {
    let start = js_sys::Date::now();
    while !cond() {
        if js_sys::Date::now() - start > f64::from(timeout_ms) {
            panic!("timed out after {timeout_ms} ms waiting for {what}");
        }
        sleep(10).await;
    }
}

/// `obj[name]`.
pub fn get(obj: &JsValue, name: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// Parses JSON into a JS value.
pub fn js(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap_or_else(|e| panic!("bad test JSON {json}: {e:?}"))
}

/// Client options for the test relay, plus `extra` JSON members (e.g. `"autoConnect":false`).
pub fn options(extra: &str) -> JsValue {
    let sep = if extra.is_empty() { "" } else { "," };
    js(&format!(
        r#"{{"url":"{RELAY_WS}","reconnect":{{"initialDelayMs":100,"maxDelayMs":400}}{sep}{extra}}}"#
    ))
}

/// A client with fast reconnects.
pub fn client(extra: &str) -> SynclineClient {
    SynclineClient::new(options(extra)).expect("client")
}

/// The client's state name.
pub fn state_of(client: &SynclineClient) -> String {
    get(&client.get_state(), "state")
        .as_string()
        .unwrap_or_default()
}

/// Waits for the client to be open.
pub async fn wait_open(client: &SynclineClient) {
    wait_until("state open", 10_000, || state_of(client) == "open").await;
}

/// A unique channel name for one test.
pub fn channel(prefix: &str) -> String {
    format!("{prefix}-{}", (js_sys::Math::random() * 1e12) as u64)
}

/// A JS function that records every first argument it is called with.
pub struct Recorder {
    pub calls: Rc<RefCell<Vec<JsValue>>>,
    pub function: Function,
}

impl Recorder {
    pub fn new() -> Self {
        let calls = Rc::new(RefCell::new(Vec::new()));
        let c = calls.clone();
        let closure = Closure::<dyn FnMut(JsValue)>::new(move |v| c.borrow_mut().push(v));
        Self {
            calls,
            function: closure.into_js_value().unchecked_into(),
        }
    }

    pub fn len(&self) -> usize {
        self.calls.borrow().len()
    }

    /// `field` of every recorded call.
    pub fn field(&self, name: &str) -> Vec<JsValue> {
        self.calls.borrow().iter().map(|c| get(c, name)).collect()
    }
}

/// Awaits a promise, returning its value or its rejection.
pub async fn settle(promise: js_sys::Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

/// The `kind` of a rejected call's error.
pub fn kind_of(error: &JsValue) -> String {
    get(error, "kind").as_string().unwrap_or_default()
}

/// Publish ids the relay has stored for `channel`, in storage order (read by the supervisor,
/// so it works while the relay is down).
pub async fn relay_ids(channel: &str) -> Vec<String> {
    let ids = http("GET", &format!("{SUPERVISOR}/ids?ch={channel}"), None).await;
    js_sys::Array::from(&get(&ids, "ids"))
        .iter()
        .filter_map(|v| v.as_string())
        .collect()
}

/// The client's outbox state field `name`.
pub fn outbox_field(client: &SynclineClient, name: &str) -> JsValue {
    get(&get(&client.get_state(), "outbox"), name)
}

/// Waits until the client's outbox is empty.
pub async fn wait_drained(client: &SynclineClient, timeout_ms: u32) {
    wait_until("outbox drained", timeout_ms, || {
        outbox_field(client, "depth").as_f64() == Some(0.0)
            && outbox_field(client, "storage").as_string().as_deref() != Some("loading")
    })
    .await;
}

/// Awaits several promises, in order.
pub async fn settle_all(promises: Vec<js_sys::Promise>) -> Vec<Result<JsValue, JsValue>> {
    let mut out = Vec::with_capacity(promises.len());
    for p in promises {
        out.push(settle(p).await);
    }
    out
}
