//! The outbox's values: its settings, an entry, a dead letter, what storage must do and what
//! the app must hear.

use crate::core::backoff::Backoff;
use crate::protocol::RawJson;

/// Settings of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Entries in flight at once (default 64).
    pub window: usize,
    /// Time the server has to ack a sent entry before it is sent again (default 10 s).
    pub ack_timeout_ms: u64,
    /// Delays between retries of one entry (default 1 s, ×2, up to 30 s, ±50 %).
    pub retry: Backoff,
    /// Age after which an unsent entry goes to the dead letters (default 7 days).
    pub retention_ms: u64,
    /// Most entries held; beyond, publishes are refused (default 100,000).
    pub max_entries: usize,
    /// Sends of one entry that got no answer in time before it becomes a dead letter
    /// (default 8; lost connections do not count).
    pub max_attempts: u32,
    /// Most dead letters kept; beyond, the oldest is dropped with an event (default 1,000).
    pub max_dead_letters: usize,
    /// At most one entry of a channel in flight: for a transport whose messages may be
    /// applied out of order (the HTTP outbox's concurrent requests).
    pub serial_channels: bool,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            window: 64,
            ack_timeout_ms: 10_000,
            retry: Backoff::default(),
            retention_ms: 7 * 24 * 3_600_000,
            max_entries: 100_000,
            max_attempts: 8,
            max_dead_letters: 1_000,
            serial_channels: false,
        }
    }
}

/// One durable publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// UUIDv7, the idempotency key.
    pub id: String,
    pub channel: String,
    pub event: String,
    pub data: RawJson,
    /// Unix ms when published.
    pub created_at: u64,
    /// Higher goes first across channels.
    pub priority: i32,
}

/// An entry the outbox gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub entry: OutboxEntry,
    /// Why: the server's nack reason, or "expired".
    pub reason: String,
    /// Unix ms when it was given up.
    pub failed_at: u64,
}

/// A change the storage must make, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    Put(OutboxEntry),
    Delete(String),
    PutDead(DeadLetter),
    DeleteDead(String),
    /// Empty both stores (entries and dead letters), whoever wrote them.
    Clear,
}

/// What the app must hear from the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxEvent {
    /// Stored by the server as `seq` (`None`: written to the socket, no answer comes);
    /// `settles` when a publish promise waits for it.
    Acked {
        id: String,
        seq: Option<u64>,
        settles: bool,
    },
    /// The publish promise may resolve as "queued": stored locally, will be sent.
    Queued { id: String },
    /// The promise of `id` resolves: kept in memory only (storage is unavailable), will be sent.
    Held { id: String },
    /// The publish promise must reject: the server refused the entry for good.
    Rejected { id: String, reason: String },
    /// An entry went to the dead letters.
    DeadLetter(DeadLetter),
    /// The dead letters were full: the oldest was dropped, here and in storage.
    Evicted(DeadLetter),
}

/// The outbox is full; the entry is handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxFull(pub OutboxEntry);
