//! `options.json` (for `protocol: "json"`): where things are in the server's frames, its
//! answers, the frames to build and the app-level heartbeat, checked into the JSON wire's
//! settings with errors that name the field.

use serde::Deserialize;

use super::OptionsError;
use crate::protocol::json::{
    AnswerSpec, HeartbeatShapes, JsonConfig, Templates, unknown_placeholder,
};
use crate::protocol::value::Value;
use crate::protocol::{Delivery, Protocol};

/// `options.json.answer`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonAnswerOptions {
    pub id: Option<String>,
    /// An object of `path → value`, or a list of them (any of them).
    #[serde(rename = "match")]
    pub matches: Option<Value>,
    pub result: Option<String>,
    pub error: Option<String>,
}

/// `options.json.heartbeat`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonHeartbeatOptions {
    pub ping: Option<Value>,
    pub pong: Option<Value>,
}

/// `options.json`; `F` is the app's `encode` callback.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "F: Deserialize<'de>"))]
pub struct JsonOptions<F> {
    pub event: Option<String>,
    pub channel: Option<String>,
    pub data: Option<String>,
    pub id: Option<String>,
    pub seq: Option<String>,
    pub answer: Option<JsonAnswerOptions>,
    pub hello: Option<Value>,
    pub subscribe: Option<Value>,
    pub unsubscribe: Option<Value>,
    pub resume: Option<Value>,
    pub publish: Option<Value>,
    pub request: Option<Value>,
    pub emit: Option<Value>,
    pub heartbeat: Option<JsonHeartbeatOptions>,
    pub encode: Option<F>,
}

/// Why `options.json` cannot be used; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonOptionsError {
    #[error("options.json is required with protocol: \"json\"")]
    Missing,
    #[error("options.json applies to protocol: \"json\" only")]
    JsonOnly,
    #[error("options.json.{0} is required")]
    Required(&'static str),
    #[error("options.json.{0} must be a dotted path such as \"payload.id\"")]
    BadPath(&'static str),
    #[error("options.json.{0}: unknown placeholder {{{1}}}")]
    UnknownPlaceholder(&'static str, String),
    #[error("options.json.{0} must be an object or a list")]
    NotATemplate(&'static str),
    #[error("options.json.answer.match must be an object of path → value, or a list of them")]
    BadMatch,
    #[error(
        "options.json.answer is required with delivery \"ack\" (the default), or choose delivery \"echo\" or \"sent\""
    )]
    AnswerForAck,
    #[error(
        "options.json.id is required with delivery \"echo\": the path the publish id comes back at"
    )]
    IdForEcho,
}

/// A dotted path: non-empty steps.
fn path(name: &'static str, value: Option<String>) -> Result<Option<String>, JsonOptionsError> {
    match value {
        Some(p) if p.is_empty() || p.split('.').any(str::is_empty) => {
            Err(JsonOptionsError::BadPath(name))
        }
        other => Ok(other),
    }
}

/// A template: an object or a list whose placeholders are all known.
fn template(name: &'static str, value: Option<Value>) -> Result<Option<Value>, JsonOptionsError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if !matches!(value, Value::Object(_) | Value::Array(_)) {
        return Err(JsonOptionsError::NotATemplate(name));
    }
    match unknown_placeholder(&value) {
        Some(unknown) => Err(JsonOptionsError::UnknownPlaceholder(name, unknown)),
        None => Ok(Some(value)),
    }
}

fn answer(o: JsonAnswerOptions) -> Result<AnswerSpec, JsonOptionsError> {
    let id = path("answer.id", o.id)?.ok_or(JsonOptionsError::Required("answer.id"))?;
    let mut spec = AnswerSpec::new(&id);
    spec.matches = match o.matches {
        None => Vec::new(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(Value::Array(list)) if list.iter().all(|m| matches!(m, Value::Object(_))) => list,
        Some(_) => return Err(JsonOptionsError::BadMatch),
    };
    spec.result = path("answer.result", o.result)?;
    if let Some(error) = path("answer.error", o.error)? {
        spec.error = error;
    }
    Ok(spec)
}

/// Applies `options.json` to the JSON protocol (its delivery already set); returns the
/// app's `encode` callback, which the facade wraps.
pub(super) fn json_settings<F>(
    protocol: &mut Protocol,
    options: Option<JsonOptions<F>>,
) -> Result<Option<F>, OptionsError> {
    let Protocol::Json(config) = protocol else {
        return match options {
            Some(_) => Err(JsonOptionsError::JsonOnly.into()),
            None => Ok(None),
        };
    };
    let o = options.ok_or(JsonOptionsError::Missing)?;
    let event = path("event", o.event)?.ok_or(JsonOptionsError::Required("event"))?;
    let heartbeat = match o.heartbeat {
        None => None,
        Some(h) => Some(HeartbeatShapes {
            ping: template("heartbeat.ping", h.ping)?
                .ok_or(JsonOptionsError::Required("heartbeat.ping"))?,
            pong: template("heartbeat.pong", h.pong)?
                .ok_or(JsonOptionsError::Required("heartbeat.pong"))?,
        }),
    };
    let checked = JsonConfig {
        event,
        channel: path("channel", o.channel)?,
        data: path("data", o.data)?,
        id: path("id", o.id)?,
        seq: path("seq", o.seq)?,
        answer: o.answer.map(answer).transpose()?,
        templates: Templates {
            hello: template("hello", o.hello)?,
            subscribe: template("subscribe", o.subscribe)?,
            unsubscribe: template("unsubscribe", o.unsubscribe)?,
            resume: template("resume", o.resume)?,
            publish: template("publish", o.publish)?,
            request: template("request", o.request)?,
            emit: template("emit", o.emit)?,
        },
        heartbeat,
        delivery: config.delivery,
        encode: None,
    };
    match checked.delivery {
        Delivery::Ack if checked.answer.is_none() => {
            return Err(JsonOptionsError::AnswerForAck.into());
        }
        Delivery::Echo if checked.id.is_none() => return Err(JsonOptionsError::IdForEcho.into()),
        _ => {}
    }
    **config = checked;
    Ok(o.encode)
}
