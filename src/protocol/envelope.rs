//! The syncline envelope protocol: JSON text frames, described in `PROTOCOL.md`.
//!
//! A frame holds one message object or an array of them. Payloads (`data`) travel as raw JSON
//! text ([`RawJson`]) and are never re-encoded here. Both directions are encoded and decoded,
//! so codec tests can round-trip every message and hostile-server tests can forge frames.

use std::borrow::Cow;

use super::json::{self, JsonError};

/// Protocol version sent in `hello` and expected in `welcome`.
pub const PROTOCOL_VERSION: u64 = 1;

/// A JSON document kept as text; it was validated when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(String);

impl RawJson {
    /// Validates `text` as one JSON value.
    pub fn parse(text: impl Into<String>) -> Result<Self, JsonError> {
        let text = text.into();
        json::validate(&text)?;
        Ok(Self(text))
    }

    /// JSON `null`.
    pub fn null() -> Self {
        Self("null".to_owned())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Wraps a slice that the scanner already validated as part of a larger document.
    fn validated(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// Wraps text that was already validated (or written by a JSON writer).
    pub(crate) fn from_validated(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// First message on a socket: who the client is and its credentials.
    Hello {
        /// Stable id of the client (the browser profile's syncline instance).
        client: String,
        /// Auth token from the app's `auth` callback, if any.
        token: Option<String>,
    },
    /// Start receiving a channel's events; with `since`, first replay those after that sequence.
    Subscribe { channel: String, since: Option<u64> },
    /// Stop receiving a channel's events.
    Unsubscribe { channel: String },
    /// Publish an event; `id` is the idempotency key the server acks or nacks.
    Publish {
        id: String,
        channel: String,
        event: String,
        data: RawJson,
        /// Set by a follower tab for its leader: the entry is in the shared durable outbox.
        /// Servers ignore it.
        durable: bool,
    },
    /// Ask the server something; answered by a `res` with the same id.
    Request {
        id: String,
        event: String,
        data: RawJson,
        /// `data` is a list of arguments to pass separately (Socket.IO servers); encoded as
        /// `"args":true`, which the relay ignores.
        spread: bool,
    },
    /// An event with no answer (Socket.IO's `emit`); `spread` as for `req`. Servers that do
    /// not speak Socket.IO never see it: the JS API publishes instead.
    Emit {
        event: String,
        data: RawJson,
        spread: bool,
    },
    /// Heartbeat; the server answers `pong` with the same `ts`.
    Ping { ts: u64 },
    /// Answer to a server `ping`.
    Pong { ts: u64 },
}

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// The `hello` was accepted.
    Welcome { session: String },
    /// The `hello` was refused (bad or missing token); the server closes the socket next.
    Denied { reason: String },
    /// A subscription is live; `seq` is the channel's latest sequence after any replay.
    Subscribed { channel: String, seq: u64 },
    /// An event on a subscribed channel.
    Event {
        channel: String,
        event: String,
        seq: u64,
        id: Option<String>,
        data: RawJson,
        /// `data` is the list of a Socket.IO event's arguments (encoded as `"args":true`).
        spread: bool,
    },
    /// The publish `id` is stored as `seq` on its channel.
    Ack { id: String, seq: u64 },
    /// The publish `id` was refused; `retryable` says whether sending it again may succeed.
    Nack {
        id: String,
        reason: String,
        retryable: bool,
    },
    /// The answer to request `id`.
    Response {
        id: String,
        result: Result<RawJson, ServerError>,
    },
    /// Heartbeat from the server; the client answers `pong`.
    Ping { ts: u64 },
    /// Answer to the client's `ping`.
    Pong { ts: u64 },
    /// The server could not process something the client sent.
    Error(ServerError),
}

/// An error the server reports, in a `res` or an `error` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// Machine-readable code, e.g. `"unknown_request"`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// Why a frame or a message in it could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is not valid JSON.
    #[error("frame is not valid JSON: {0}")]
    Json(#[from] JsonError),
    /// A message is not a JSON object.
    #[error("message is not a JSON object")]
    NotAnObject,
    /// A message has no `t` field.
    #[error("message has no type field")]
    MissingType,
    /// A message type this version does not know; forward-compatible peers skip it.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A required field is absent.
    #[error("message {kind:?} lacks field {field:?}")]
    MissingField {
        kind: &'static str,
        field: &'static str,
    },
    /// A field has the wrong type or an invalid value.
    #[error("message {kind:?} has an invalid field {field:?}")]
    InvalidField {
        kind: &'static str,
        field: &'static str,
    },
}

/// The fields of one message object, looked up by name.
struct Fields<'a> {
    kind: &'static str,
    fields: Vec<(Cow<'a, str>, &'a str)>,
}

impl<'a> Fields<'a> {
    fn raw(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, raw)| *raw)
            .filter(|raw| !json::is_null(raw))
    }

    fn string(&self, field: &'static str) -> Result<String, DecodeError> {
        self.opt_string(field)?.ok_or(DecodeError::MissingField {
            kind: self.kind,
            field,
        })
    }

    fn opt_string(&self, field: &'static str) -> Result<Option<String>, DecodeError> {
        self.raw(field)
            .map(|raw| {
                json::as_str(raw)
                    .map(Cow::into_owned)
                    .map_err(|_| self.invalid(field))
            })
            .transpose()
    }

    fn u64(&self, field: &'static str) -> Result<u64, DecodeError> {
        self.opt_u64(field)?.ok_or(DecodeError::MissingField {
            kind: self.kind,
            field,
        })
    }

    fn opt_u64(&self, field: &'static str) -> Result<Option<u64>, DecodeError> {
        self.raw(field)
            .map(|raw| json::as_u64(raw).map_err(|_| self.invalid(field)))
            .transpose()
    }

    fn bool(&self, field: &'static str) -> Result<bool, DecodeError> {
        match self.raw(field) {
            None => Ok(false),
            Some(raw) => json::as_bool(raw).map_err(|_| self.invalid(field)),
        }
    }

    fn data(&self) -> RawJson {
        // Absent data means null; present data was validated with the whole frame.
        self.raw("data")
            .map(RawJson::validated)
            .unwrap_or_else(RawJson::null)
    }

    fn error(&self) -> Result<ServerError, DecodeError> {
        let raw = self.raw("error").ok_or(DecodeError::MissingField {
            kind: self.kind,
            field: "error",
        })?;
        let inner = Fields {
            kind: self.kind,
            fields: json::object_fields(raw).map_err(|_| self.invalid("error"))?,
        };
        Ok(ServerError {
            code: inner.string("code")?,
            message: inner.opt_string("msg")?.unwrap_or_default(),
        })
    }

    fn invalid(&self, field: &'static str) -> DecodeError {
        DecodeError::InvalidField {
            kind: self.kind,
            field,
        }
    }
}

/// Splits a frame into its message objects (one object, or an array of them).
fn frame_messages(frame: &str) -> Result<Vec<&str>, DecodeError> {
    if frame.trim_start().starts_with('[') {
        Ok(json::array_elements(frame)?)
    } else {
        json::validate(frame)?;
        Ok(vec![frame])
    }
}

/// Reads a message's fields and its type tag.
fn message_fields(raw: &str) -> Result<(String, Fields<'_>), DecodeError> {
    let fields = json::object_fields(raw).map_err(|e| match e {
        JsonError::WrongType(_) => DecodeError::NotAnObject,
        other => DecodeError::Json(other),
    })?;
    let fields = Fields {
        kind: "message",
        fields,
    };
    let kind = fields
        .raw("t")
        .ok_or(DecodeError::MissingType)
        .and_then(|raw| json::as_str(raw).map_err(|_| DecodeError::MissingType))?
        .into_owned();
    Ok((kind, fields))
}

/// Decodes a frame from the server. A frame that is not JSON fails as a whole; otherwise each
/// message decodes on its own, so one bad message in a batch does not lose the others.
pub fn decode_server_frame(
    frame: &str,
) -> Result<Vec<Result<ServerMessage, DecodeError>>, DecodeError> {
    Ok(frame_messages(frame)?
        .into_iter()
        .map(decode_server_message)
        .collect())
}

fn decode_server_message(raw: &str) -> Result<ServerMessage, DecodeError> {
    let (kind, mut f) = message_fields(raw)?;
    Ok(match kind.as_str() {
        "welcome" => {
            f.kind = "welcome";
            ServerMessage::Welcome {
                session: f.opt_string("session")?.unwrap_or_default(),
            }
        }
        "denied" => {
            f.kind = "denied";
            ServerMessage::Denied {
                reason: f.opt_string("reason")?.unwrap_or_default(),
            }
        }
        "subscribed" => {
            f.kind = "subscribed";
            ServerMessage::Subscribed {
                channel: f.string("ch")?,
                seq: f.opt_u64("seq")?.unwrap_or(0),
            }
        }
        "ev" => {
            f.kind = "ev";
            ServerMessage::Event {
                channel: f.string("ch")?,
                event: f.string("ev")?,
                seq: f.u64("seq")?,
                id: f.opt_string("id")?,
                data: f.data(),
                spread: f.bool("args")?,
            }
        }
        "ack" => {
            f.kind = "ack";
            ServerMessage::Ack {
                id: f.string("id")?,
                seq: f.opt_u64("seq")?.unwrap_or(0),
            }
        }
        "nack" => {
            f.kind = "nack";
            ServerMessage::Nack {
                id: f.string("id")?,
                reason: f.opt_string("reason")?.unwrap_or_default(),
                retryable: f.bool("retryable")?,
            }
        }
        "res" => {
            f.kind = "res";
            let id = f.string("id")?;
            let result = if f.bool("ok")? {
                Ok(f.data())
            } else {
                Err(f.error()?)
            };
            ServerMessage::Response { id, result }
        }
        "ping" => {
            f.kind = "ping";
            ServerMessage::Ping { ts: f.u64("ts")? }
        }
        "pong" => {
            f.kind = "pong";
            ServerMessage::Pong { ts: f.u64("ts")? }
        }
        "error" => {
            f.kind = "error";
            ServerMessage::Error(ServerError {
                code: f.string("code")?,
                message: f.opt_string("msg")?.unwrap_or_default(),
            })
        }
        _ => return Err(DecodeError::UnknownType(kind)),
    })
}

/// Decodes a frame from a client (used by tests and tools; the relay has its own decoder).
pub fn decode_client_frame(
    frame: &str,
) -> Result<Vec<Result<ClientMessage, DecodeError>>, DecodeError> {
    Ok(frame_messages(frame)?
        .into_iter()
        .map(decode_client_message)
        .collect())
}

fn decode_client_message(raw: &str) -> Result<ClientMessage, DecodeError> {
    let (kind, mut f) = message_fields(raw)?;
    Ok(match kind.as_str() {
        "hello" => {
            f.kind = "hello";
            ClientMessage::Hello {
                client: f.string("client")?,
                token: f.opt_string("token")?,
            }
        }
        "sub" => {
            f.kind = "sub";
            ClientMessage::Subscribe {
                channel: f.string("ch")?,
                since: f.opt_u64("since")?,
            }
        }
        "unsub" => {
            f.kind = "unsub";
            ClientMessage::Unsubscribe {
                channel: f.string("ch")?,
            }
        }
        "pub" => {
            f.kind = "pub";
            ClientMessage::Publish {
                id: f.string("id")?,
                channel: f.string("ch")?,
                event: f.string("ev")?,
                data: f.data(),
                durable: f.bool("durable")?,
            }
        }
        "req" => {
            f.kind = "req";
            ClientMessage::Request {
                id: f.string("id")?,
                event: f.string("ev")?,
                data: f.data(),
                spread: f.bool("args")?,
            }
        }
        "emit" => {
            f.kind = "emit";
            ClientMessage::Emit {
                event: f.string("ev")?,
                data: f.data(),
                spread: f.bool("args")?,
            }
        }
        "ping" => {
            f.kind = "ping";
            ClientMessage::Ping { ts: f.u64("ts")? }
        }
        "pong" => {
            f.kind = "pong";
            ClientMessage::Pong { ts: f.u64("ts")? }
        }
        _ => return Err(DecodeError::UnknownType(kind)),
    })
}

/// Builds one message object field by field.
struct Writer {
    out: String,
}

impl Writer {
    fn new(kind: &str) -> Self {
        let mut out = String::with_capacity(64);
        out.push_str("{\"t\":");
        json::write_str(&mut out, kind);
        Self { out }
    }

    fn key(&mut self, key: &str) -> &mut Self {
        self.out.push(',');
        json::write_str(&mut self.out, key);
        self.out.push(':');
        self
    }

    fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        json::write_str(&mut self.out, value);
        self
    }

    fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        json::write_u64(&mut self.out, value);
        self
    }

    fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    fn raw(&mut self, key: &str, value: &RawJson) -> &mut Self {
        self.key(key);
        self.out.push_str(value.as_str());
        self
    }

    fn error(&mut self, error: &ServerError) -> &mut Self {
        self.key("error");
        self.out.push_str("{\"code\":");
        json::write_str(&mut self.out, &error.code);
        self.out.push_str(",\"msg\":");
        json::write_str(&mut self.out, &error.message);
        self.out.push('}');
        self
    }

    fn finish(&mut self) -> String {
        self.out.push('}');
        std::mem::take(&mut self.out)
    }
}

impl ClientMessage {
    /// Encodes the message as one JSON object.
    pub fn encode(&self) -> String {
        match self {
            Self::Hello { client, token } => {
                let mut w = Writer::new("hello");
                w.u64("v", PROTOCOL_VERSION).str("client", client);
                if let Some(token) = token {
                    w.str("token", token);
                }
                w.finish()
            }
            Self::Subscribe { channel, since } => {
                let mut w = Writer::new("sub");
                w.str("ch", channel);
                if let Some(since) = since {
                    w.u64("since", *since);
                }
                w.finish()
            }
            Self::Unsubscribe { channel } => Writer::new("unsub").str("ch", channel).finish(),
            Self::Publish {
                id,
                channel,
                event,
                data,
                durable,
            } => {
                let mut w = Writer::new("pub");
                w.str("id", id).str("ch", channel).str("ev", event);
                if *durable {
                    w.bool("durable", true);
                }
                w.raw("data", data).finish()
            }
            Self::Request {
                id,
                event,
                data,
                spread,
            } => {
                let mut w = Writer::new("req");
                w.str("id", id).str("ev", event);
                if *spread {
                    w.bool("args", true);
                }
                w.raw("data", data).finish()
            }
            Self::Emit {
                event,
                data,
                spread,
            } => {
                let mut w = Writer::new("emit");
                w.str("ev", event);
                if *spread {
                    w.bool("args", true);
                }
                w.raw("data", data).finish()
            }
            Self::Ping { ts } => Writer::new("ping").u64("ts", *ts).finish(),
            Self::Pong { ts } => Writer::new("pong").u64("ts", *ts).finish(),
        }
    }
}

impl ServerMessage {
    /// Encodes the message as one JSON object.
    pub fn encode(&self) -> String {
        match self {
            Self::Welcome { session } => Writer::new("welcome")
                .u64("v", PROTOCOL_VERSION)
                .str("session", session)
                .finish(),
            Self::Denied { reason } => Writer::new("denied").str("reason", reason).finish(),
            Self::Subscribed { channel, seq } => Writer::new("subscribed")
                .str("ch", channel)
                .u64("seq", *seq)
                .finish(),
            Self::Event {
                channel,
                event,
                seq,
                id,
                data,
                spread,
            } => {
                let mut w = Writer::new("ev");
                w.str("ch", channel).str("ev", event).u64("seq", *seq);
                if let Some(id) = id {
                    w.str("id", id);
                }
                if *spread {
                    w.bool("args", true);
                }
                w.raw("data", data).finish()
            }
            Self::Ack { id, seq } => Writer::new("ack").str("id", id).u64("seq", *seq).finish(),
            Self::Nack {
                id,
                reason,
                retryable,
            } => Writer::new("nack")
                .str("id", id)
                .str("reason", reason)
                .bool("retryable", *retryable)
                .finish(),
            Self::Response { id, result } => {
                let mut w = Writer::new("res");
                w.str("id", id);
                match result {
                    Ok(data) => w.bool("ok", true).raw("data", data),
                    Err(error) => w.bool("ok", false).error(error),
                };
                w.finish()
            }
            Self::Ping { ts } => Writer::new("ping").u64("ts", *ts).finish(),
            Self::Pong { ts } => Writer::new("pong").u64("ts", *ts).finish(),
            Self::Error(error) => Writer::new("error")
                .str("code", &error.code)
                .str("msg", &error.message)
                .finish(),
        }
    }
}

/// Joins encoded messages into one frame: the message itself, or an array of several.
pub fn encode_batch<I: IntoIterator<Item = String>>(messages: I) -> String {
    let mut items = messages.into_iter();
    let Some(first) = items.next() else {
        return "[]".to_owned();
    };
    let Some(second) = items.next() else {
        return first;
    };
    let mut out = String::with_capacity(first.len() * 3);
    out.push('[');
    out.push_str(&first);
    out.push(',');
    out.push_str(&second);
    for item in items {
        out.push(',');
        out.push_str(&item);
    }
    out.push(']');
    out
}
