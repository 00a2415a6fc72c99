//! The envelope's messages written as JSON, by serde: `t` first, then the fields in the
//! order `PROTOCOL.md` gives, optional ones left out when absent.

use serde::Serialize;

use super::codec::{PROTOCOL_VERSION, ServerMessage};
use crate::protocol::message::{Outbound, PeerLimits, ServerError};
use crate::protocol::raw::RawJson;

fn is_false(flag: &bool) -> bool {
    !*flag
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// The client's messages as they are written (`t` first, then the fields in this order).
#[derive(Serialize)]
#[serde(tag = "t")]
enum ClientOut<'a> {
    #[serde(rename = "hello")]
    Hello {
        v: u64,
        client: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<u64>,
    },
    #[serde(rename = "sub")]
    Sub {
        ch: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    #[serde(rename = "unsub")]
    Unsub { ch: &'a str },
    #[serde(rename = "pub")]
    Pub {
        id: &'a str,
        ch: &'a str,
        ev: &'a str,
        #[serde(skip_serializing_if = "is_false")]
        durable: bool,
        #[serde(skip_serializing_if = "is_zero")]
        pri: i32,
        data: &'a RawJson,
    },
    #[serde(rename = "req")]
    Req {
        id: &'a str,
        ev: &'a str,
        #[serde(skip_serializing_if = "is_false")]
        args: bool,
        data: &'a RawJson,
    },
    #[serde(rename = "emit")]
    Emit {
        ev: &'a str,
        #[serde(skip_serializing_if = "is_false")]
        args: bool,
        data: &'a RawJson,
    },
    #[serde(rename = "ping")]
    Ping { ts: u64 },
    #[serde(rename = "pong")]
    Pong { ts: u64 },
}

/// The server's messages as they are written.
#[derive(Serialize)]
#[serde(tag = "t")]
enum ServerOut<'a> {
    #[serde(rename = "welcome")]
    Welcome {
        v: u64,
        session: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        limits: Option<&'a PeerLimits>,
    },
    #[serde(rename = "gap")]
    Gap { ch: &'a str, from: u64, to: u64 },
    #[serde(rename = "denied")]
    Denied { reason: &'a str },
    #[serde(rename = "subscribed")]
    Subscribed {
        ch: &'a str,
        seq: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    #[serde(rename = "ev")]
    Ev {
        ch: &'a str,
        ev: &'a str,
        seq: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        #[serde(skip_serializing_if = "is_false")]
        args: bool,
        data: &'a RawJson,
    },
    #[serde(rename = "ack")]
    Ack { id: &'a str, seq: u64 },
    #[serde(rename = "nack")]
    Nack {
        id: &'a str,
        reason: &'a str,
        retryable: bool,
    },
    #[serde(rename = "res")]
    Res {
        id: &'a str,
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a RawJson>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a ServerError>,
    },
    #[serde(rename = "ping")]
    Ping { ts: u64 },
    #[serde(rename = "pong")]
    Pong { ts: u64 },
    #[serde(rename = "error")]
    Error { code: &'a str, msg: &'a str },
}

fn to_text(value: &impl Serialize) -> String {
    // The shapes above hold strings, numbers and validated JSON only: they always serialise.
    serde_json::to_string(value).unwrap_or_default()
}

impl Outbound {
    /// The message in the envelope's JSON (the relay's protocol, and the tab link's).
    pub fn encode(&self) -> String {
        to_text(&match self {
            Self::Hello { client, token, max } => ClientOut::Hello {
                v: PROTOCOL_VERSION,
                client,
                token: token.as_deref(),
                max: *max,
            },
            Self::Subscribe { channel, since } => ClientOut::Sub {
                ch: channel,
                since: *since,
            },
            Self::Unsubscribe { channel } => ClientOut::Unsub { ch: channel },
            Self::Publish {
                id,
                channel,
                event,
                data,
                durable,
                priority,
                ..
            } => ClientOut::Pub {
                id,
                ch: channel,
                ev: event,
                durable: *durable,
                // Only a tab link's publishes are outbox entries the receiver keeps.
                pri: if *durable { *priority } else { 0 },
                data,
            },
            Self::Request {
                id,
                event,
                data,
                spread,
            } => ClientOut::Req {
                id,
                ev: event,
                args: *spread,
                data,
            },
            Self::Emit {
                event,
                data,
                spread,
            } => ClientOut::Emit {
                ev: event,
                args: *spread,
                data,
            },
            Self::Ping { ts } => ClientOut::Ping { ts: *ts },
            Self::Pong { ts } => ClientOut::Pong { ts: *ts },
        })
    }
}

impl ServerMessage {
    /// The message in the envelope's JSON.
    pub fn encode(&self) -> String {
        to_text(&match self {
            Self::Welcome { session, limits } => ServerOut::Welcome {
                v: PROTOCOL_VERSION,
                session,
                limits: limits.as_ref(),
            },
            Self::Gap { channel, from, to } => ServerOut::Gap {
                ch: channel,
                from: *from,
                to: *to,
            },
            Self::Denied { reason } => ServerOut::Denied { reason },
            Self::Subscribed {
                channel,
                seq,
                since,
            } => ServerOut::Subscribed {
                ch: channel,
                seq: *seq,
                since: *since,
            },
            Self::Event {
                channel,
                event,
                seq,
                id,
                data,
                spread,
            } => ServerOut::Ev {
                ch: channel,
                ev: event,
                seq: *seq,
                id: id.as_deref(),
                args: *spread,
                data,
            },
            Self::Ack { id, seq } => ServerOut::Ack { id, seq: *seq },
            Self::Nack {
                id,
                reason,
                retryable,
            } => ServerOut::Nack {
                id,
                reason,
                retryable: *retryable,
            },
            Self::Response { id, result } => ServerOut::Res {
                id,
                ok: result.is_ok(),
                data: result.as_ref().ok(),
                error: result.as_ref().err(),
            },
            Self::Ping { ts } => ServerOut::Ping { ts: *ts },
            Self::Pong { ts } => ServerOut::Pong { ts: *ts },
            Self::Error(error) => ServerOut::Error {
                code: &error.code,
                msg: &error.message,
            },
        })
    }
}
