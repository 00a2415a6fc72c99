//! The client's settings and their documented defaults.

use super::backoff::Backoff;
use super::docs::merge::Strategy;
use super::outbox::OutboxConfig;
use super::pending::AnswerPolicy;

/// Settings of a client; [`Config::new`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// WebSocket URL of the server (for Socket.IO, the Engine.IO URL with `EIO=4`).
    pub url: String,
    /// What the server speaks: the syncline envelope (default) or Socket.IO.
    pub protocol: crate::protocol::Protocol,
    /// This client's id, sent in `hello`.
    pub client_id: String,
    /// Ask the app for credentials before every connect.
    pub use_auth: bool,
    /// Reconnect delays (default 1 s, ×2, max 30 s, ±50 %).
    pub reconnect: Backoff,
    /// Ping interval (default 15 s).
    pub heartbeat_interval_ms: u64,
    /// Time allowed for the pong (default 5 s).
    pub heartbeat_timeout_ms: u64,
    /// Time allowed for auth, socket open and welcome together (default 10 s).
    pub connect_timeout_ms: u64,
    /// Requests: time per attempt (default 5 s) and retries (default 3).
    pub request: AnswerPolicy,
    /// Spacing of request retries (default 1 s, ×2).
    pub request_backoff: Backoff,
    /// Time the server has to ack a publish once sent (default 5 s).
    pub publish_timeout_ms: u64,
    /// Messages held while not connected (default 1,000).
    pub send_buffer: usize,
    /// Largest frame accepted from the server (default 1 MiB).
    pub max_message_bytes: usize,
    /// Messages per frame when several go out at once (default 64).
    pub max_batch: usize,
    /// The durable outbox: window, ack timeout, retries, retention, size.
    pub outbox: OutboxConfig,
    /// Consecutive send failures that open the circuit breaker (default 5).
    pub breaker_threshold: u32,
    /// Time the breaker stays open before a probe (default 30 s).
    pub breaker_cooldown_ms: u64,
    /// How document conflicts are settled unless a key says otherwise (default last-writer-wins).
    pub conflict_strategy: Strategy,
    /// Conflicts kept in the audit trail (default 500).
    pub audit_size: usize,
    /// Batched publishes: at most this many per frame (default 10)…
    pub batch_max: usize,
    /// …held at most this long (default 2 s).
    pub batch_delay_ms: u64,
    /// This tab's id on the tab bus (also prefixes request ids, unique across tabs).
    pub tab_id: String,
    /// Seed of the jitter source.
    pub seed: u64,
    /// The outbox sends over HTTP instead of the socket (`outbox.transport: "http"`).
    pub http: Option<crate::core::rest::HttpConfig>,
}

impl Config {
    /// Defaults for a server at `url`.
    pub fn new(url: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            protocol: crate::protocol::Protocol::Envelope,
            client_id: client_id.into(),
            use_auth: false,
            reconnect: Backoff::default(),
            heartbeat_interval_ms: 15_000,
            heartbeat_timeout_ms: 5_000,
            connect_timeout_ms: 10_000,
            request: AnswerPolicy {
                timeout_ms: 5_000,
                retries: 3,
            },
            request_backoff: Backoff {
                jitter_permille: 0,
                ..Backoff::default()
            },
            publish_timeout_ms: 5_000,
            send_buffer: 1_000,
            max_message_bytes: 1 << 20,
            max_batch: 64,
            outbox: OutboxConfig::default(),
            breaker_threshold: 5,
            breaker_cooldown_ms: 30_000,
            conflict_strategy: Strategy::LastWriterWins,
            audit_size: 500,
            batch_max: 10,
            batch_delay_ms: 2_000,
            tab_id: "tab".to_owned(),
            seed: 1,
            http: None,
        }
    }
}
