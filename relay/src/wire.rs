//! The envelope protocol as the relay reads and writes it (see PROTOCOL.md), with serde_json:
//! an implementation independent of the client's own codec.

use serde_json::{Value, json};

/// A message from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Hello {
        token: Option<String>,
        /// Largest frame in bytes the client accepts.
        max: Option<u64>,
    },
    Subscribe {
        channel: String,
        since: Option<u64>,
    },
    Unsubscribe {
        channel: String,
    },
    Publish {
        id: String,
        channel: String,
        event: String,
        data: String,
    },
    Request {
        id: String,
        event: String,
        data: Value,
    },
    Ping {
        ts: u64,
    },
    Pong,
}

/// Why a client message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// Code sent in the `error` message.
    pub code: &'static str,
    /// Detail.
    pub message: String,
}

fn bad(code: &'static str, message: impl Into<String>) -> WireError {
    WireError {
        code,
        message: message.into(),
    }
}

/// Decodes a frame: one message object or an array of them; each decodes on its own.
pub fn decode_frame(text: &str) -> Result<Vec<Result<Incoming, WireError>>, WireError> {
    let value: Value = serde_json::from_str(text).map_err(|e| bad("bad_json", e.to_string()))?;
    Ok(match value {
        Value::Array(items) => items.into_iter().map(decode_message).collect(),
        other => vec![decode_message(other)],
    })
}

fn field_str(msg: &Value, name: &str) -> Result<String, WireError> {
    msg.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| bad("bad_message", format!("missing or invalid field {name:?}")))
}

fn opt_u64(msg: &Value, name: &str) -> Result<Option<u64>, WireError> {
    match msg.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            bad(
                "bad_message",
                format!("field {name:?} must be a non-negative integer"),
            )
        }),
    }
}

fn decode_message(msg: Value) -> Result<Incoming, WireError> {
    if !msg.is_object() {
        return Err(bad("bad_message", "message is not an object"));
    }
    let kind = msg
        .get("t")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let data = || msg.get("data").cloned().unwrap_or(Value::Null);
    Ok(match kind.as_str() {
        "hello" => Incoming::Hello {
            token: msg.get("token").and_then(Value::as_str).map(str::to_owned),
            max: opt_u64(&msg, "max")?,
        },
        "sub" => Incoming::Subscribe {
            channel: field_str(&msg, "ch")?,
            since: opt_u64(&msg, "since")?,
        },
        "unsub" => Incoming::Unsubscribe {
            channel: field_str(&msg, "ch")?,
        },
        "pub" => Incoming::Publish {
            id: field_str(&msg, "id")?,
            channel: field_str(&msg, "ch")?,
            event: field_str(&msg, "ev")?,
            data: data().to_string(),
        },
        "req" => Incoming::Request {
            id: field_str(&msg, "id")?,
            event: field_str(&msg, "ev")?,
            data: data(),
        },
        "ping" => Incoming::Ping {
            ts: opt_u64(&msg, "ts")?.unwrap_or(0),
        },
        "pong" => Incoming::Pong,
        "" => return Err(bad("bad_message", "message has no type")),
        other => {
            return Err(bad(
                "unknown_type",
                format!("unknown message type {other:?}"),
            ));
        }
    })
}

/// The relay's limits, told in `welcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of a frame the relay sends.
    pub frame: usize,
    /// Largest publish (`data` plus envelope) it accepts.
    pub message: usize,
    /// Most channels per connection.
    pub channels: usize,
}

/// `welcome`.
pub fn welcome(session: &str, limits: Limits) -> String {
    json!({
        "t": "welcome",
        "v": 1,
        "session": session,
        "limits": {"frame": limits.frame, "message": limits.message, "channels": limits.channels},
    })
    .to_string()
}

/// `gap`: events `from..=to` of `channel` are gone (removed by retention).
pub fn gap(channel: &str, from: u64, to: u64) -> String {
    json!({"t": "gap", "ch": channel, "from": from, "to": to}).to_string()
}

/// `denied`.
pub fn denied(reason: &str) -> String {
    json!({"t": "denied", "reason": reason}).to_string()
}

/// `subscribed`: live at head `seq`; `since` echoes the subscribe it answers, when it had one.
pub fn subscribed(channel: &str, seq: u64, since: Option<u64>) -> String {
    match since {
        Some(since) => json!({"t": "subscribed", "ch": channel, "seq": seq, "since": since}),
        None => json!({"t": "subscribed", "ch": channel, "seq": seq}),
    }
    .to_string()
}

/// `ev`, with the stored payload inserted as is.
pub fn event(channel: &str, event: &str, seq: u64, id: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(64 + data.len());
    out.push_str("{\"t\":\"ev\",\"ch\":");
    out.push_str(&Value::from(channel).to_string());
    out.push_str(",\"ev\":");
    out.push_str(&Value::from(event).to_string());
    out.push_str(",\"seq\":");
    out.push_str(&seq.to_string());
    if let Some(id) = id {
        out.push_str(",\"id\":");
        out.push_str(&Value::from(id).to_string());
    }
    out.push_str(",\"data\":");
    out.push_str(data);
    out.push('}');
    out
}

/// `ack`.
pub fn ack(id: &str, seq: u64) -> String {
    json!({"t": "ack", "id": id, "seq": seq}).to_string()
}

/// `nack`.
pub fn nack(id: &str, reason: &str, retryable: bool) -> String {
    json!({"t": "nack", "id": id, "reason": reason, "retryable": retryable}).to_string()
}

/// `nack` whose `reason` is a code (`too_large`, `rate_limited`, `forbidden`), with detail.
pub fn nack_code(id: &str, code: &str, message: &str, retryable: bool) -> String {
    json!({"t": "nack", "id": id, "reason": code, "retryable": retryable, "msg": message})
        .to_string()
}

/// `res` with a result.
pub fn response_ok(id: &str, data: &Value) -> String {
    json!({"t": "res", "id": id, "ok": true, "data": data}).to_string()
}

/// `res` with an error.
pub fn response_err(id: &str, code: &str, message: &str) -> String {
    json!({"t": "res", "id": id, "ok": false, "error": {"code": code, "msg": message}}).to_string()
}

/// `pong`.
pub fn pong(ts: u64) -> String {
    json!({"t": "pong", "ts": ts}).to_string()
}

/// `error`.
pub fn error(e: &WireError) -> String {
    json!({"t": "error", "code": e.code, "msg": e.message}).to_string()
}

/// `error` about one channel (`too_many_channels`, `forbidden`): the subscription is refused.
pub fn channel_error(e: &WireError, channel: &str) -> String {
    json!({"t": "error", "code": e.code, "msg": e.message, "ch": channel}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_batches_message_by_message() {
        let got = decode_frame(r#"[{"t":"ping","ts":5},{"t":"nope"},{"t":"pub","id":"x","ch":"c","ev":"e","data":{"a":1}}]"#).unwrap();
        assert_eq!(got[0], Ok(Incoming::Ping { ts: 5 }));
        assert_eq!(got[1].as_ref().unwrap_err().code, "unknown_type");
        assert_eq!(
            got[2],
            Ok(Incoming::Publish {
                id: "x".into(),
                channel: "c".into(),
                event: "e".into(),
                data: "{\"a\":1}".into()
            })
        );
        assert!(decode_frame("{nope").is_err());
    }

    #[test]
    fn event_frames_are_json() {
        let text = event("c\"h", "e", 7, Some("id"), "[1,2]");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["ch"], "c\"h");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["data"], json!([1, 2]));
    }
}
