//! The connection part's settings, its phases, who it connects to, and what it reports.

use super::backoff::Backoff;
use crate::core::error::ClientError;
use crate::core::output::Action;
use crate::protocol::Protocol;

/// Where the current attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Down,
    Auth,
    Socket,
    Hello,
    Open,
}

/// The settings the connection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnConfig {
    pub url: String,
    pub protocol: Protocol,
    pub client_id: String,
    pub use_auth: bool,
    pub reconnect: Backoff,
    pub heartbeat_interval_ms: u64,
    pub heartbeat_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub max_message_bytes: usize,
    pub max_batch: usize,
    /// Seed of the reconnect jitter.
    pub seed: u64,
}

/// What the connection asks for, or reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnOutput {
    /// Something the browser must do: ask for credentials, open, send on or close the socket.
    Action(Action),
    /// The server took the handshake: the connection is open (send what waited).
    Opened,
    /// The connection (or the attempt) is gone: fail or requeue what was in flight;
    /// `failure` is false when it was dropped on purpose (a new peer).
    Lost { failure: bool },
    /// Something to report; the connection carries on or already said `Lost`.
    Error(ClientError),
    /// A heartbeat round trip, in ms.
    Rtt(u64),
    /// The server could not take up the previous session: events after `last_offset` (the
    /// last one seen) may be missing.
    Gap { last_offset: Option<String> },
    /// The heartbeat's period passed (a leader sweeps its silent tabs then).
    Beat,
}

/// Who the connection is for: a server, or (a follower's link) the leader tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Not known yet (the election is running): nothing to connect to.
    Unknown,
    Server,
    /// The leader tab: the link speaks the envelope, carries no credentials, ignores the network.
    Leader,
}

/// Longest wait for the leader tab's answer to a link's hello (within a bus hop; one that
/// does not answer is not the leader, and the tabs part asks again who leads).
pub const LINK_TIMEOUT_MS: u64 = 2_000;
