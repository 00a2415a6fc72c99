//! The protocol layer's errors: a wire's ([`WireError`]) and, inside it, what each protocol's
//! decoder says of a frame it cannot read.

use super::raw::JsonError;

/// Why a frame could not be used, or a message could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// An envelope frame or message that does not decode.
    #[error("malformed frame: {0}")]
    Envelope(#[from] DecodeError),
    /// An Engine.IO / Socket.IO packet that does not decode.
    #[error("malformed Socket.IO packet: {0}")]
    SocketIo(#[from] SocketIoError),
    /// Something the protocol allows that syncline does not support.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// A binary frame the protocol did not announce.
    #[error("unexpected binary frame of {0} bytes")]
    UnexpectedBinary(usize),
    /// An answer (ack) for an id nothing waits for.
    #[error("answer for unknown ack id {0}")]
    UnknownAck(u64),
    /// A message larger than the server accepts (it would close the connection).
    #[error("message of {size} bytes is larger than the server's limit of {limit}")]
    TooLarge { size: usize, limit: u64 },
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

/// Why a frame is not a Socket.IO packet this client can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SocketIoError {
    /// An empty frame.
    #[error("empty Engine.IO frame")]
    Empty,
    /// An Engine.IO packet type other than 0–6.
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownEngineType(char),
    /// A Socket.IO packet type other than 0–6.
    #[error("unknown Socket.IO packet type {0:?}")]
    UnknownType(char),
    /// The Engine.IO open packet lacks a usable handshake.
    #[error("bad Engine.IO handshake: {0}")]
    Handshake(&'static str),
    /// A binary packet's attachment count is missing or not a number.
    #[error("bad attachment count in a binary packet")]
    Attachments,
    /// An ack id that is not a number, or too long.
    #[error("bad ack id")]
    AckId,
    /// The payload is not JSON.
    #[error("payload is not valid JSON: {0}")]
    Json(#[from] JsonError),
    /// The payload's shape does not fit the packet type.
    #[error("invalid payload for a {0} packet")]
    Payload(&'static str),
    /// A packet for a namespace this client did not join.
    #[error("packet for namespace {got:?}, expected {expected:?}")]
    WrongNamespace { expected: String, got: String },
}
