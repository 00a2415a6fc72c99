//! The messages the core speaks, whatever the server's protocol. A [`Wire`](super::Wire)
//! turns a protocol's frames into [`Inbound`] messages and [`Outbound`] messages into frames.
//! Payloads are [`RawJson`]: the core routes them and hands them on, never looking inside.

use super::raw::RawJson;

/// An error the server reports, for a request or on its own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerError {
    /// Machine-readable code, e.g. `"unknown_request"`.
    pub code: String,
    /// Human-readable message.
    #[serde(rename = "msg", default)]
    pub message: String,
}

/// An event from the server on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InEvent {
    pub channel: String,
    /// Event name.
    pub event: String,
    /// Per-channel sequence number; `None` when the server numbers nothing (the core then
    /// counts the events it keeps).
    pub seq: Option<u64>,
    /// The publish id, when the server passes it on.
    pub id: Option<String>,
    pub data: RawJson,
    /// `data` is the list of the event's arguments (Socket.IO's `emit(name, ...args)`).
    pub spread: bool,
}

/// Whether a new session continues the previous one (Socket.IO's connection state recovery).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Resumption {
    /// The first session, or a server that does not recover sessions.
    #[default]
    Fresh,
    /// The server restored the previous session: its rooms, and the events it missed.
    Recovered,
    /// The server could not restore it: events after `last_offset` (the last one this client
    /// saw; `None` when it saw none) may be missing.
    Lost { last_offset: Option<String> },
}

/// When a durable publish counts as delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// When the server acks it.
    #[default]
    Ack,
    /// When an event carrying its id comes back from the server.
    Echo,
    /// When it is written to an open socket.
    Sent,
}

/// What the server says to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inbound {
    /// The handshake is done: the connection carries messages now.
    Session {
        session: String,
        /// Whether the server took up the previous session where it was.
        resumed: Resumption,
    },
    /// The server refused the client's credentials; the connection ends.
    Denied {
        reason: String,
    },
    /// A subscription is live; `seq` is the channel's latest sequence (`None`: as counted here).
    /// `since` is the subscribe's own, when the server says which subscribe it answers.
    Subscribed {
        channel: String,
        seq: Option<u64>,
        since: Option<u64>,
    },
    Event(InEvent),
    /// The publish `id` is stored as `seq` on its channel.
    Ack {
        id: String,
        seq: u64,
    },
    /// The server answered the publish `id` with `answer`, which the client's ack rule reads
    /// (protocols whose acks carry whatever the server's handler passed).
    Answered {
        id: String,
        answer: RawJson,
    },
    /// The publish `id` was written to an open socket and no answer will come for it.
    Sent {
        id: String,
    },
    /// The publish `id` was refused; `retryable` says whether sending it again may succeed.
    Refused {
        id: String,
        reason: String,
        retryable: bool,
    },
    /// The answer to request `id`.
    Response {
        id: String,
        result: Result<RawJson, ServerError>,
    },
    /// The server's heartbeat: answer with [`Outbound::Pong`].
    Ping {
        ts: u64,
    },
    /// The answer to the client's [`Outbound::Ping`].
    Pong {
        ts: u64,
    },
    /// The server reports an error and carries on.
    Error(ServerError),
    /// The server ended the session (the socket may still be open).
    Closed {
        reason: &'static str,
    },
    /// The server's limits, told in its handshake.
    Limits(PeerLimits),
    /// Events `from..=to` of `channel` are gone from the server's history (retention): they
    /// can never be delivered.
    Gap {
        channel: String,
        from: u64,
        to: u64,
    },
}

/// Limits a server tells in its handshake (the relay's `welcome`); absent ones are unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
pub struct PeerLimits {
    /// Largest frame it accepts, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
    /// Largest publish it accepts, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<u64>,
    /// Most channels one connection may subscribe to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u64>,
}

/// What the client says to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outbound {
    /// The handshake: who the client is and its credentials.
    Hello {
        client: String,
        token: Option<String>,
        /// The largest frame, in bytes, this client accepts (`maxMessageBytes`): a server that
        /// packs several messages into one frame keeps each frame under it.
        max: Option<u64>,
    },
    /// Start receiving a channel's events; with `since`, first those after that sequence.
    Subscribe { channel: String, since: Option<u64> },
    /// Stop receiving a channel's events.
    Unsubscribe { channel: String },
    /// Publish an event; `id` is the idempotency key the server acks or refuses.
    Publish {
        id: String,
        channel: String,
        event: String,
        data: RawJson,
        /// A follower tab's publish that is in the shared durable outbox (tab link only).
        durable: bool,
        /// A memory-only publish (`durable: false`), not an outbox entry.
        memory: bool,
        /// The outbox entry's priority (carried on the tab link only, for the leader that
        /// adopts the entry).
        priority: i32,
    },
    /// Ask the server something; answered by [`Inbound::Response`] with the same id.
    Request {
        id: String,
        event: String,
        data: RawJson,
        /// `data` is a list of arguments to pass separately.
        spread: bool,
    },
    /// An event with no answer; `spread` as for a request.
    Emit {
        event: String,
        data: RawJson,
        spread: bool,
    },
    /// The client's heartbeat.
    Ping { ts: u64 },
    /// The answer to [`Inbound::Ping`].
    Pong { ts: u64 },
}

impl Outbound {
    /// The id an answer to this message will name, if it waits for one.
    pub fn answer_id(&self) -> Option<&str> {
        match self {
            Self::Publish { id, .. } | Self::Request { id, .. } => Some(id),
            _ => None,
        }
    }
}
