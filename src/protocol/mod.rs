//! What syncline says to servers, pure Rust: the typed messages the core speaks
//! ([`Inbound`], [`Outbound`]), the [`Wire`] trait, and one wire per protocol: the syncline
//! envelope (the relay, and the link between tabs), Socket.IO, and any JSON server whose
//! frames the app declares. JSON is serde_json's; an
//! app's payload stays raw JSON text ([`RawJson`]).

pub mod ack;
pub mod envelope;
pub mod error;
pub mod json;
pub mod message;
pub mod raw;
pub mod socketio;
pub mod url;
pub mod value;
pub mod wire;

pub use message::{Delivery, InEvent, Inbound, Outbound, PeerLimits, Resumption, ServerError};
pub use raw::{JsonError, RawJson};
pub use wire::{Decoded, Encoded, Heartbeat, Wire, WireError};

/// What the client speaks to the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Protocol {
    /// syncline's JSON envelope (the relay).
    #[default]
    Envelope,
    /// Engine.IO v4 over WebSocket with Socket.IO v5 packets, with these settings (the
    /// namespace, `/` by default; the publish format; the delivery rule; the joins).
    SocketIo(socketio::SocketIoConfig),
    /// A JSON WebSocket server speaking its own frames, as the app declared them.
    Json(Box<json::JsonConfig>),
}

/// Why a client's `protocol` option cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolChoiceError {
    /// A protocol syncline does not speak.
    Unknown,
    /// The server's URL does not fit the protocol.
    BadUrl(&'static str),
}

impl Protocol {
    /// The protocol an app names (`"syncline"`, the default, `"socket.io"` or `"json"`), and
    /// the URL to open for it: for Socket.IO, the Engine.IO URL under `path` (default
    /// `/socket.io/`), in `namespace` (default: the URL's path); for JSON the URL as it is.
    pub fn choose(
        name: Option<&str>,
        url: String,
        path: Option<&str>,
        namespace: Option<&str>,
    ) -> Result<(String, Self), ProtocolChoiceError> {
        match name {
            None | Some("syncline") => Ok((url, Self::Envelope)),
            Some("socket.io") => {
                let path = path.unwrap_or("/socket.io/");
                let (url, namespace) = socketio::engine_url(&url, path, namespace)
                    .map_err(ProtocolChoiceError::BadUrl)?;
                Ok((
                    url,
                    Self::SocketIo(socketio::SocketIoConfig::new(&namespace)),
                ))
            }
            Some("json") => Ok((url, Self::Json(Box::default()))),
            Some(_) => Err(ProtocolChoiceError::Unknown),
        }
    }

    /// Whether requests are retried by default: a Socket.IO handler runs once per event it
    /// receives and has no id to drop a resent request by, so there they are not.
    pub fn retries_requests(&self) -> bool {
        self.wire().dedups_requests()
    }

    /// A fresh wire for this protocol.
    pub fn wire(&self) -> Box<dyn Wire> {
        match self {
            Self::Envelope => Box::new(envelope::EnvelopeWire),
            Self::SocketIo(config) => Box::new(socketio::SocketIoWire::new(config.clone())),
            Self::Json(config) => Box::new(json::JsonWire::new(json::JsonConfig::clone(config))),
        }
    }

    /// Whether the server numbers each channel's events 1, 2, 3… without holes (the relay
    /// does), so that a jump in sequence means events were missed.
    pub fn numbers_contiguously(&self) -> bool {
        matches!(self, Self::Envelope)
    }

    /// When a durable publish counts as delivered (the relay always acks).
    pub fn delivery(&self) -> Delivery {
        match self {
            Self::Envelope => Delivery::Ack,
            Self::SocketIo(config) => config.delivery,
            Self::Json(config) => config.delivery,
        }
    }
}
