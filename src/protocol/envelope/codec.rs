//! The syncline envelope's messages as JSON, by serde: `PROTOCOL.md` describes them.
//!
//! A frame holds one message object or an array of them. A message is read in one pass into
//! [`Fields`], whose values stay raw slices of the frame; the envelope's scalar fields are then
//! read from their slices, and `data` is kept as the text it arrived as.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::protocol::error::DecodeError;
use crate::protocol::message::{Outbound, PeerLimits, ServerError};
use crate::protocol::raw::{JsonError, RawJson};

/// Protocol version sent in `hello` and expected in `welcome`.
pub const PROTOCOL_VERSION: u64 = 1;

/// A message from a client to the server: the core's [`Outbound`], in the envelope's shape.
pub type ClientMessage = Outbound;

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// The `hello` was accepted; `limits` are the server's, when it tells them.
    Welcome {
        session: String,
        limits: Option<PeerLimits>,
    },
    /// The `hello` was refused (bad or missing token); the server closes the socket next.
    Denied { reason: String },
    /// A subscription is live; `seq` is the channel's latest sequence after any replay.
    /// `since` echoes the subscribe's, so that a client can tell which subscribe it answers.
    Subscribed {
        channel: String,
        seq: u64,
        since: Option<u64>,
    },
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
    /// Events `from..=to` of `channel` are gone from the server's history.
    Gap { channel: String, from: u64, to: u64 },
}

/// Every field any envelope message has, each a raw slice of the frame (`None` when absent
/// or null). Unknown fields are skipped.
#[derive(Deserialize, Default)]
struct Fields<'a> {
    #[serde(borrow, default)]
    t: Option<&'a RawValue>,
    #[serde(borrow, default)]
    ch: Option<&'a RawValue>,
    #[serde(borrow, default)]
    ev: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    seq: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    args: Option<&'a RawValue>,
    #[serde(borrow, default)]
    ok: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reason: Option<&'a RawValue>,
    #[serde(borrow, default)]
    retryable: Option<&'a RawValue>,
    #[serde(borrow, default)]
    session: Option<&'a RawValue>,
    #[serde(borrow, default)]
    ts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    code: Option<&'a RawValue>,
    #[serde(borrow, default)]
    msg: Option<&'a RawValue>,
    #[serde(borrow, default)]
    client: Option<&'a RawValue>,
    #[serde(borrow, default)]
    token: Option<&'a RawValue>,
    #[serde(borrow, default)]
    since: Option<&'a RawValue>,
    #[serde(borrow, default)]
    durable: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max: Option<&'a RawValue>,
    #[serde(borrow, default)]
    limits: Option<&'a RawValue>,
    #[serde(borrow, default)]
    from: Option<&'a RawValue>,
    #[serde(borrow, default)]
    to: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pri: Option<&'a RawValue>,
}

/// Reads the fields of one message for the message type `kind`.
struct Reader<'a> {
    kind: &'static str,
    fields: Fields<'a>,
}

impl<'a> Reader<'a> {
    fn scalar<T: Deserialize<'a>>(
        &self,
        raw: Option<&'a RawValue>,
        field: &'static str,
    ) -> Result<Option<T>, DecodeError> {
        raw.map(|raw| {
            serde_json::from_str(raw.get()).map_err(|_| DecodeError::InvalidField {
                kind: self.kind,
                field,
            })
        })
        .transpose()
    }

    fn required<T: Deserialize<'a>>(
        &self,
        raw: Option<&'a RawValue>,
        field: &'static str,
    ) -> Result<T, DecodeError> {
        self.scalar(raw, field)?.ok_or(DecodeError::MissingField {
            kind: self.kind,
            field,
        })
    }

    fn string(
        &self,
        raw: Option<&'a RawValue>,
        field: &'static str,
    ) -> Result<String, DecodeError> {
        self.required(raw, field)
    }

    fn flag(&self, raw: Option<&'a RawValue>, field: &'static str) -> Result<bool, DecodeError> {
        Ok(self.scalar(raw, field)?.unwrap_or(false))
    }

    fn data(&self) -> RawJson {
        // Absent data means null; present data was validated with the whole frame.
        self.fields.data.map_or_else(RawJson::null, RawJson::from)
    }

    fn error(&self) -> Result<ServerError, DecodeError> {
        let raw = self.fields.error.ok_or(DecodeError::MissingField {
            kind: self.kind,
            field: "error",
        })?;
        let inner: Fields =
            serde_json::from_str(raw.get()).map_err(|_| DecodeError::InvalidField {
                kind: self.kind,
                field: "error",
            })?;
        let inner = Reader {
            kind: self.kind,
            fields: inner,
        };
        Ok(ServerError {
            code: inner.string(inner.fields.code, "code")?,
            message: inner.scalar(inner.fields.msg, "msg")?.unwrap_or_default(),
        })
    }
}

/// Splits a frame into its message objects (one object, or an array of them).
fn frame_messages(frame: &str) -> Result<Vec<&RawValue>, DecodeError> {
    if frame.trim_start().starts_with('[') {
        Ok(serde_json::from_str(frame).map_err(JsonError::from)?)
    } else {
        Ok(vec![serde_json::from_str(frame).map_err(JsonError::from)?])
    }
}

/// Reads a message's fields and its type tag.
fn message_reader(raw: &RawValue) -> Result<(String, Reader<'_>), DecodeError> {
    if !raw.get().trim_start().starts_with('{') {
        return Err(DecodeError::NotAnObject);
    }
    let fields: Fields = serde_json::from_str(raw.get()).map_err(JsonError::from)?;
    let kind = fields
        .t
        .and_then(|t| serde_json::from_str::<String>(t.get()).ok())
        .ok_or(DecodeError::MissingType)?;
    Ok((
        kind,
        Reader {
            kind: "message",
            fields,
        },
    ))
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

fn decode_server_message(raw: &RawValue) -> Result<ServerMessage, DecodeError> {
    let (kind, mut r) = message_reader(raw)?;
    Ok(match kind.as_str() {
        "welcome" => {
            r.kind = "welcome";
            ServerMessage::Welcome {
                session: r.scalar(r.fields.session, "session")?.unwrap_or_default(),
                limits: r.scalar(r.fields.limits, "limits")?,
            }
        }
        "denied" => {
            r.kind = "denied";
            ServerMessage::Denied {
                reason: r.scalar(r.fields.reason, "reason")?.unwrap_or_default(),
            }
        }
        "subscribed" => {
            r.kind = "subscribed";
            ServerMessage::Subscribed {
                channel: r.string(r.fields.ch, "ch")?,
                seq: r.scalar(r.fields.seq, "seq")?.unwrap_or(0),
                since: r.scalar(r.fields.since, "since")?,
            }
        }
        "ev" => {
            r.kind = "ev";
            ServerMessage::Event {
                channel: r.string(r.fields.ch, "ch")?,
                event: r.string(r.fields.ev, "ev")?,
                seq: r.required(r.fields.seq, "seq")?,
                id: r.scalar(r.fields.id, "id")?,
                data: r.data(),
                spread: r.flag(r.fields.args, "args")?,
            }
        }
        "ack" => {
            r.kind = "ack";
            ServerMessage::Ack {
                id: r.string(r.fields.id, "id")?,
                seq: r.scalar(r.fields.seq, "seq")?.unwrap_or(0),
            }
        }
        "nack" => {
            r.kind = "nack";
            ServerMessage::Nack {
                id: r.string(r.fields.id, "id")?,
                reason: r.scalar(r.fields.reason, "reason")?.unwrap_or_default(),
                retryable: r.flag(r.fields.retryable, "retryable")?,
            }
        }
        "res" => {
            r.kind = "res";
            let id = r.string(r.fields.id, "id")?;
            let result = if r.flag(r.fields.ok, "ok")? {
                Ok(r.data())
            } else {
                Err(r.error()?)
            };
            ServerMessage::Response { id, result }
        }
        "ping" => {
            r.kind = "ping";
            ServerMessage::Ping {
                ts: r.required(r.fields.ts, "ts")?,
            }
        }
        "pong" => {
            r.kind = "pong";
            ServerMessage::Pong {
                ts: r.required(r.fields.ts, "ts")?,
            }
        }
        "gap" => {
            r.kind = "gap";
            ServerMessage::Gap {
                channel: r.string(r.fields.ch, "ch")?,
                from: r.required(r.fields.from, "from")?,
                to: r.required(r.fields.to, "to")?,
            }
        }
        "error" => {
            r.kind = "error";
            ServerMessage::Error(ServerError {
                code: r.string(r.fields.code, "code")?,
                message: r.scalar(r.fields.msg, "msg")?.unwrap_or_default(),
            })
        }
        _ => return Err(DecodeError::UnknownType(kind)),
    })
}

/// Decodes a frame from a client (the leader's hub reads its follower tabs' frames with it).
pub fn decode_client_frame(
    frame: &str,
) -> Result<Vec<Result<ClientMessage, DecodeError>>, DecodeError> {
    Ok(frame_messages(frame)?
        .into_iter()
        .map(decode_client_message)
        .collect())
}

fn decode_client_message(raw: &RawValue) -> Result<ClientMessage, DecodeError> {
    let (kind, mut r) = message_reader(raw)?;
    Ok(match kind.as_str() {
        "hello" => {
            r.kind = "hello";
            Outbound::Hello {
                client: r.string(r.fields.client, "client")?,
                token: r.scalar(r.fields.token, "token")?,
                max: r.scalar(r.fields.max, "max")?,
            }
        }
        "sub" => {
            r.kind = "sub";
            Outbound::Subscribe {
                channel: r.string(r.fields.ch, "ch")?,
                since: r.scalar(r.fields.since, "since")?,
            }
        }
        "unsub" => {
            r.kind = "unsub";
            Outbound::Unsubscribe {
                channel: r.string(r.fields.ch, "ch")?,
            }
        }
        "pub" => {
            r.kind = "pub";
            let durable = r.flag(r.fields.durable, "durable")?;
            Outbound::Publish {
                id: r.string(r.fields.id, "id")?,
                channel: r.string(r.fields.ch, "ch")?,
                event: r.string(r.fields.ev, "ev")?,
                data: r.data(),
                durable,
                memory: !durable,
                priority: r.scalar::<i32>(r.fields.pri, "pri")?.unwrap_or(0),
            }
        }
        "req" => {
            r.kind = "req";
            Outbound::Request {
                id: r.string(r.fields.id, "id")?,
                event: r.string(r.fields.ev, "ev")?,
                data: r.data(),
                spread: r.flag(r.fields.args, "args")?,
            }
        }
        "emit" => {
            r.kind = "emit";
            Outbound::Emit {
                event: r.string(r.fields.ev, "ev")?,
                data: r.data(),
                spread: r.flag(r.fields.args, "args")?,
            }
        }
        "ping" => {
            r.kind = "ping";
            Outbound::Ping {
                ts: r.required(r.fields.ts, "ts")?,
            }
        }
        "pong" => {
            r.kind = "pong";
            Outbound::Pong {
                ts: r.required(r.fields.ts, "ts")?,
            }
        }
        _ => return Err(DecodeError::UnknownType(kind)),
    })
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
