//! The client core's errors, each with a stable `kind` code that JS sees.

use crate::protocol::envelope::{DecodeError, ServerError};
use crate::protocol::socketio::SocketIoError;
use crate::protocol::wire::WireError;

/// Something went wrong on the connection; reported as an `error` event and in the state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A frame from the server could not be decoded; the connection goes on.
    #[error("malformed frame from server: {0}")]
    MalformedFrame(DecodeError),
    /// A Socket.IO (or Engine.IO) packet could not be decoded, or is for another namespace.
    #[error("malformed Socket.IO packet from server: {0}")]
    MalformedPacket(SocketIoError),
    /// The server used a feature syncline does not implement (Socket.IO binary packets).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The server ended the session (Socket.IO DISCONNECT or Engine.IO close); the client
    /// reconnects with backoff.
    #[error("server ended the session: {0}")]
    ServerDisconnect(&'static str),
    /// An `emit` (which has no answer) could not be held for the connection.
    #[error("emit dropped: {0}")]
    EmitDropped(String),
    /// A binary frame arrived on a protocol that only uses text.
    #[error("unexpected binary frame of {0} bytes")]
    UnexpectedBinary(usize),
    /// A frame larger than `maxMessageBytes` was refused.
    #[error("frame of {size} bytes exceeds the {limit}-byte limit")]
    FrameTooLarge { size: usize, limit: usize },
    /// The server reported an error about something the client sent.
    #[error("server error {}: {}", .0.code, .0.message)]
    Server(ServerError),
    /// The server refused the credentials.
    #[error("authentication refused: {0}")]
    AuthRejected(String),
    /// The app's `auth` callback failed or returned something unusable.
    #[error("auth callback failed: {0}")]
    AuthCallback(String),
    /// Auth, socket open and welcome did not finish in time.
    #[error("connect timed out")]
    ConnectTimeout,
    /// No pong (or any frame) came back in time after a ping.
    #[error("heartbeat timed out")]
    HeartbeatTimeout,
    /// An answer (`ack`, `nack`, `res`) for an id nothing waits for: late or duplicated.
    #[error("{kind} for unknown id {id:?}")]
    UnknownAnswer { kind: &'static str, id: String },
    /// A document change was refused for good (or expired) and rolled back.
    #[error("change {id} rolled back: {reason}")]
    ChangeRolledBack { id: String, reason: String },
    /// Sent durable publishes got no answer in time (`count` of them); each is sent again
    /// until `outbox.maxAttempts`, then becomes a dead letter.
    #[error(
        "{count} durable publish(es) got no answer within outbox.ackTimeoutMs; they are sent again up to outbox.maxAttempts times, then become dead letters. A server that does not ack publishes needs delivery: \"echo\" (its broadcast carries the id back) or \"sent\""
    )]
    AckTimeout { count: usize },
    /// IndexedDB failed or is unavailable; the outbox keeps entries in memory.
    #[error("storage unavailable: {0}")]
    Storage(String),
    /// The socket closed; the code and reason are the WebSocket close event's.
    #[error("socket closed ({code}) {reason}")]
    SocketClosed { code: u16, reason: String },
    /// The browser could not create the socket (bad URL, blocked port).
    #[error("socket could not be opened: {0}")]
    SocketOpen(String),
    /// The dead letters were full (`outbox.maxDeadLetters`): the oldest, `id`, was dropped.
    #[error("dead letter {id} dropped (the dead letters are full): it was {reason}")]
    DeadLetterEvicted { id: String, reason: String },
    /// An HTTP request of the outbox failed in a way that may pass (5xx, 429, a dropped
    /// connection); its entries are sent again.
    #[error("outbox request failed: {0}")]
    Http(String),
}

impl From<WireError> for ClientError {
    fn from(error: WireError) -> Self {
        match error {
            WireError::Envelope(e) => Self::MalformedFrame(e),
            WireError::SocketIo(e) => Self::MalformedPacket(e),
            WireError::Unsupported(what) => Self::Unsupported(what),
            WireError::UnexpectedBinary(len) => Self::UnexpectedBinary(len),
            WireError::UnknownAck(id) => Self::UnknownAnswer {
                kind: "ack",
                id: crate::protocol::raw::decimal(id),
            },
            WireError::TooLarge { .. } => {
                Self::EmitDropped("larger than the server's maxPayload".to_owned())
            }
        }
    }
}

impl ClientError {
    /// Stable code for JS (`error.kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MalformedFrame(_) | Self::MalformedPacket(_) => "malformed_frame",
            Self::Unsupported(_) => "unsupported",
            Self::ServerDisconnect(_) => "server_disconnect",
            Self::EmitDropped(_) => "buffer_full",
            Self::UnexpectedBinary(_) => "unexpected_binary",
            Self::FrameTooLarge { .. } => "frame_too_large",
            Self::Server(_) => "server",
            Self::AuthRejected(_) => "auth_rejected",
            Self::AuthCallback(_) => "auth_callback",
            Self::ConnectTimeout => "connect_timeout",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::UnknownAnswer { .. } => "unknown_answer",
            Self::Storage(_) => "storage",
            Self::AckTimeout { .. } => "ack_timeout",
            Self::ChangeRolledBack { .. } => "rolled_back",
            Self::SocketClosed { .. } => "socket_closed",
            Self::SocketOpen(_) => "socket_open",
            Self::Http(_) => "http",
            Self::DeadLetterEvicted { .. } => "dead_letter_evicted",
        }
    }
}

/// Why a request or an acknowledged publish failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No answer within the timeout, after every allowed attempt.
    #[error("no answer after {attempts} attempt(s)")]
    Timeout { attempts: u32 },
    /// The connection dropped before the answer and no retry was allowed.
    #[error("connection lost before an answer")]
    ConnectionLost,
    /// The client was disconnected or dropped.
    #[error("client closed")]
    Closed,
    /// The server answered with an error.
    #[error("server error {}: {}", .0.code, .0.message)]
    Server(ServerError),
    /// The server refused a publish.
    #[error("publish refused: {reason}")]
    Rejected { reason: String, retryable: bool },
    /// The local data was cleared (`clearLocalData()`) before the publish was acked.
    #[error("local data was cleared before the publish was acknowledged")]
    Cleared,
}

impl RequestError {
    /// Stable code for JS (`error.kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::ConnectionLost => "connection_lost",
            Self::Closed => "closed",
            Self::Server(_) => "server",
            Self::Rejected { .. } => "rejected",
            Self::Cleared => "cleared",
        }
    }

    /// True when trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::ConnectionLost => true,
            Self::Rejected { retryable, .. } => *retryable,
            Self::Closed | Self::Server(_) | Self::Cleared => false,
        }
    }
}

/// A send could not be accepted; the message is handed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError<T> {
    /// The buffer used while connecting is full.
    #[error("send buffer full ({capacity} messages)")]
    BufferFull { capacity: usize, message: T },
    /// The client is closed; call `connect()` first.
    #[error("client is closed")]
    Closed { message: T },
}

impl<T> SendError<T> {
    /// Stable code for JS (`error.kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BufferFull { .. } => "buffer_full",
            Self::Closed { .. } => "closed",
        }
    }

    /// The message that was not sent.
    pub fn into_message(self) -> T {
        match self {
            Self::BufferFull { message, .. } | Self::Closed { message } => message,
        }
    }
}
