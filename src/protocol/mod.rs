//! What syncline says to servers, pure Rust: the typed messages the core speaks
//! ([`Inbound`], [`Outbound`]), the [`Wire`] trait, and one wire per protocol: the syncline
//! envelope (the relay, and the link between tabs) and Socket.IO. JSON is serde_json's; an
//! app's payload stays raw JSON text ([`RawJson`]).

pub mod envelope;
pub mod error;
pub mod message;
pub mod raw;
pub mod socketio;
pub mod url;
pub mod value;
pub mod wire;

pub use message::{InEvent, Inbound, Outbound, ServerError};
pub use raw::{JsonError, RawJson};
pub use wire::{Decoded, Encoded, Heartbeat, Wire, WireError};

/// What the client speaks to the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Protocol {
    /// syncline's JSON envelope (the relay).
    #[default]
    Envelope,
    /// Engine.IO v4 over WebSocket with Socket.IO v5 packets, in `namespace` (`/` by default).
    SocketIo { namespace: String },
}

impl Protocol {
    /// A fresh wire for this protocol.
    pub fn wire(&self) -> Box<dyn Wire> {
        match self {
            Self::Envelope => Box::new(envelope::EnvelopeWire),
            Self::SocketIo { namespace } => Box::new(socketio::SocketIoWire::new(namespace)),
        }
    }
}
