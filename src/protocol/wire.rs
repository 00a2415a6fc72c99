//! The one seam between the core and a server's protocol. A [`Wire`] owns everything that
//! differs between protocols: the frames, the handshake, the heartbeat's shape, what the
//! protocol answers by itself (an Engine.IO pong, an ack the server asked for), and what a
//! message too large for the server becomes. The core speaks [`Inbound`]/[`Outbound`] only.

pub use super::error::WireError;
use super::message::{Inbound, Outbound};

/// What becomes of one outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoded {
    /// Send this frame (a wire that batches may join it with others).
    Frame(String),
    /// Send this frame; once it is written, `answer` holds (a message that waits for no
    /// answer from the server is done).
    FrameThen(String, Inbound),
    /// Nothing goes on the wire now (not needed, or held until the handshake is done).
    Nothing,
    /// The wire answers the message itself: a subscription that is live at once, or a message
    /// the server would not accept, refused here.
    Answered(Inbound),
}

/// Who keeps the connection's heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The client sends [`Outbound::Ping`] and waits for [`Inbound::Pong`].
    ClientPings,
    /// The server pings and the wire answers; a connection with no frame for `liveness_ms`
    /// is dead (`None` until the handshake has said).
    ServerPings { liveness_ms: Option<u64> },
}

/// A decoded frame: its messages in order, each on its own, so one bad message does not lose
/// the others.
pub type Decoded = Vec<Result<Inbound, WireError>>;

/// One protocol, frames in and out. Call order: [`Wire::reset`] for every new socket, then
/// [`Wire::decode`]/[`Wire::encode`] as frames and messages come, draining
/// [`Wire::poll_transmit`] after each.
pub trait Wire: std::fmt::Debug {
    /// A new socket: forget the previous one's handshake and unanswered ids.
    fn reset(&mut self);

    /// A text frame from the server. `Err` when the frame as a whole is unusable.
    fn decode(&mut self, frame: &str) -> Result<Decoded, WireError>;

    /// A binary frame from the server, of `len` bytes.
    fn decode_binary(&mut self, len: usize) -> Result<(), WireError> {
        Err(WireError::UnexpectedBinary(len))
    }

    /// One message for the server.
    fn encode(&mut self, message: Outbound) -> Result<Encoded, WireError>;

    /// Frames for `encoded` messages, at most `max_batch` messages and `max_bytes` bytes in
    /// one frame where the protocol can carry several (a message longer than `max_bytes`
    /// goes alone).
    fn join(&self, encoded: Vec<String>, max_batch: usize, max_bytes: usize) -> Vec<String> {
        let _ = (max_batch, max_bytes);
        encoded
    }

    /// A frame the protocol sends by itself (a pong, an ack, a held handshake).
    #[must_use]
    fn poll_transmit(&mut self) -> Option<String>;

    /// Who keeps the heartbeat, as of now.
    fn heartbeat(&self) -> Heartbeat;

    /// True while the wire holds decoded messages back to deliver them in order (a replay of
    /// missed events being merged with live ones); the caller gives it a deadline.
    fn holds(&self) -> bool {
        false
    }

    /// Stop holding: what was held, in order (at the deadline, or before the socket goes).
    fn release(&mut self) -> Decoded {
        Vec::new()
    }

    /// What to send before a client-side close, if the protocol says goodbye.
    fn goodbye(&self) -> Option<String> {
        None
    }

    /// True when the server drops a request sent again under the same id (so a lost answer
    /// may be asked for again).
    fn dedups_requests(&self) -> bool {
        true
    }

    /// True when the protocol has events without an answer (an app's `emit`).
    fn carries_emits(&self) -> bool {
        false
    }

    /// True when the protocol does not let an app send an event of this name.
    fn refuses_event(&self, name: &str) -> bool {
        let _ = name;
        false
    }
}
