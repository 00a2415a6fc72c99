//! The app's functions in options (`auth`, `conflicts.resolver`, `ackResult`, `json.encode`)
//! as they pass through serde, and the callbacks as the core and the driver call them. The options themselves are plain serde
//! types checked in the core (`core::options`).

use js_sys::Function;
use serde::de::{Deserialize, Deserializer, Error};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::convert;
use crate::driver::{AckRule, AuthFuture};
use crate::protocol::RawJson;
use crate::protocol::ack::{Verdict, default_verdict, refusal_reason};
use crate::protocol::json::EncodeHook;
use crate::web::socket::describe;

/// A JS function from an options object, kept as it is.
pub struct Callback(pub Function);

impl<'de> Deserialize<'de> for Callback {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value: JsValue = serde_wasm_bindgen::preserve::deserialize(d)?;
        value
            .dyn_into::<Function>()
            .map(Callback)
            .map_err(|_| D::Error::custom("expected a function"))
    }
}

/// Wraps the app's `ackResult(answer)`: "ok" confirms, "retry" sends again later, "refuse"
/// makes a dead letter (with the answer's error as the reason). Anything else falls back to
/// the default rule; a throw counts as "retry", so that nothing is dropped on a bug.
pub fn ack_rule_hook(rule: Callback) -> AckRule {
    let rule = rule.0;
    AckRule(Box::new(move |answer| {
        let fallback = default_verdict(answer);
        let returned = rule.call1(&JsValue::NULL, &convert::parse_data(answer));
        let reason = || refusal_reason(answer);
        match returned.map(|v| v.as_string()) {
            Ok(Some(word)) => match word.as_str() {
                "ok" => match fallback {
                    Verdict::Ok { seq } => Verdict::Ok { seq },
                    _ => Verdict::Ok { seq: 0 },
                },
                "retry" => Verdict::Retry { reason: reason() },
                "refuse" => Verdict::Refuse { reason: reason() },
                _ => fallback,
            },
            Ok(None) => fallback,
            Err(e) => Verdict::Retry {
                reason: ["ackResult threw: ", &describe(&e)].concat(),
            },
        }
    }))
}

/// Wraps the app's `json.encode(kind, message)`: the object it returns is the frame;
/// `undefined`, `null`, a throw or a value that is not JSON leaves the frame to the template.
pub fn encode_hook(encode: Callback) -> EncodeHook {
    let encode = encode.0;
    EncodeHook(std::rc::Rc::new(move |kind: &str, message: &RawJson| {
        let message = convert::parse_data(message);
        let returned = encode
            .call2(&JsValue::NULL, &JsValue::from_str(kind), &message)
            .ok()?;
        if returned.is_undefined() || returned.is_null() {
            return None;
        }
        let text = js_sys::JSON::stringify(&returned).ok()?.as_string()?;
        RawJson::parse(text).ok()
    }))
}

/// What `auth` may return besides a string or null.
#[derive(serde::Deserialize)]
struct TokenObject {
    token: Option<String>,
}

/// Wraps the app's `auth` callback: it may return a token, `{ token }`, null, or a Promise of one.
pub fn auth_hook(auth: Callback) -> Box<dyn Fn() -> AuthFuture> {
    let auth = auth.0;
    Box::new(move || {
        let returned = auth.call0(&JsValue::NULL);
        Box::pin(async move {
            let value = returned.map_err(|e| describe(&e))?;
            let value = if value.has_type::<js_sys::Promise>() {
                let promise: js_sys::Promise = value.unchecked_into();
                wasm_bindgen_futures::JsFuture::from(promise)
                    .await
                    .map_err(|e| describe(&e))?
            } else {
                value
            };
            token_of(value)
        })
    })
}

fn token_of(value: JsValue) -> Result<Option<String>, String> {
    if value.is_null() || value.is_undefined() {
        return Ok(None);
    }
    if let Some(token) = value.as_string() {
        return Ok(Some(token));
    }
    if !value.is_object() {
        // Neither a string nor an object: it has no token.
        return Ok(None);
    }
    convert::read::<TokenObject>(value, "auth()")
        .map(|t| t.token)
        .map_err(|_| "auth must return a string, { token }, or null".to_owned())
}
