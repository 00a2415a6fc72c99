//! `fetch`: one HTTP request of the outbox, aborted after its timeout, answered with the
//! status, the `Retry-After` header and the body, or with why no answer came.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, RequestInit, Response};

/// Largest body sent with `keepalive` (the browser refuses a keepalive request when the bodies
/// of all of them in flight pass 64 KiB).
const KEEPALIVE_MAX_BYTES: usize = 16 * 1024;

/// The server's answer.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// Makes the request; `Err` when no answer came (network error, dropped connection, timeout,
/// a request the browser refused to make).
pub async fn fetch(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &str,
    timeout_ms: u64,
) -> Result<Answer, String> {
    let window = web_sys::window().ok_or_else(|| "no window to fetch from".to_owned())?;
    let init = RequestInit::new();
    init.set_method(method);
    init.set_body(&JsValue::from_str(body));
    let h = Headers::new().map_err(|e| describe(&e))?;
    for (name, value) in headers {
        h.set(name, value).map_err(|e| describe(&e))?;
    }
    init.set_headers(&h);
    // A request under the browser's keepalive budget (64 KiB in flight) outlives the page:
    // a publish made just before a reload or a close still reaches the server.
    // (web-sys's RequestInit has no setter for it: set on the dictionary object.)
    if body.len() <= KEEPALIVE_MAX_BYTES {
        let _ = js_sys::Reflect::set(&init, &JsValue::from_str("keepalive"), &JsValue::TRUE);
    }
    let timeout = u32::try_from(timeout_ms).unwrap_or(u32::MAX).max(1);
    // Aborts the request at its deadline; dropped (cancelled) once the answer is read.
    let _deadline = AbortController::new().ok().map(|controller| {
        init.set_signal(Some(&controller.signal()));
        gloo_timers::callback::Timeout::new(timeout, move || controller.abort())
    });
    let answer = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| describe(&e))?;
    let response: Response = answer
        .dyn_into()
        .map_err(|_| "fetch answered with something other than a Response".to_owned())?;
    let retry_after = response.headers().get("Retry-After").ok().flatten();
    let text = response.text().map_err(|e| describe(&e))?;
    let body = JsFuture::from(text)
        .await
        .map_err(|e| describe(&e))?
        .as_string()
        .unwrap_or_default();
    Ok(Answer {
        status: response.status(),
        retry_after,
        body,
    })
}

/// A thrown value as text (an Error's name and message).
fn describe(error: &JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(e) => [&String::from(e.name()), ": ", &String::from(e.message())].concat(),
        None => error
            .as_string()
            .unwrap_or_else(|| "fetch failed".to_owned()),
    }
}
