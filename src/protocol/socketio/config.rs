//! What an app tells the Socket.IO wire: the namespace, how a durable publish looks on the
//! wire and when it counts as delivered, the events that put a new connection back in its
//! rooms, and the server helper's replay event.

use crate::protocol::message::Delivery;
use crate::protocol::raw::RawJson;

/// The arguments of a durable publish's EVENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PublishFormat {
    /// `[event, payload]`, the idempotency id inside the payload (under `id_field`): what a
    /// handler written the usual way, `(payload, ack) => …`, expects.
    #[default]
    Payload,
    /// `[channel, data, {"id", "event"}]`, for servers written for it: `(data, meta, ack) => …`.
    Meta,
}

/// An event sent after every connection the server did not recover (`joins`), such as
/// `["join_match", 42]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub event: String,
    pub args: Vec<RawJson>,
}

/// The Socket.IO wire's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketIoConfig {
    /// `/` for the main namespace.
    pub namespace: String,
    pub format: PublishFormat,
    /// The payload member that carries a publish's idempotency id (default `"id"`).
    pub id_field: String,
    pub delivery: Delivery,
    /// Sent, in order, after every connection the server did not recover, before anything else.
    pub joins: Vec<Join>,
    /// The server helper's event that replays what a lost session missed (opt-in).
    pub replay_event: Option<String>,
}

impl SocketIoConfig {
    /// The defaults for `namespace`: payload format, `id`, delivery on ack, no joins.
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            format: PublishFormat::Payload,
            id_field: "id".to_owned(),
            delivery: Delivery::Ack,
            joins: Vec::new(),
            replay_event: None,
        }
    }
}
