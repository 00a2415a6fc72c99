//! Relay settings and the fault modes tests switch at run time.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How to run one relay.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (127.0.0.1 in tests).
    pub addr: SocketAddr,
    /// SQLite database path.
    pub db: PathBuf,
    /// Token a client must present in `hello`; none means open.
    pub token: Option<String>,
    /// Serve the test-only `/control/*` endpoints.
    pub control: bool,
    /// The per-run secret every `/control/*` request must carry (required with `control`).
    pub control_secret: Option<String>,
    /// The one web origin whose pages may call `/control/*` (CORS for it alone).
    pub control_origin: Option<String>,
    /// Directory served over HTTP at `/` (the demo page).
    pub static_dir: Option<PathBuf>,
    /// Faults active from the start.
    pub faults: Faults,
    /// Most events replayed for one `since` subscription.
    pub history_limit: usize,
    /// Most messages the relay packs into one frame for a subscriber.
    pub max_batch: usize,
    /// Most bytes of one packed frame (half of the 1 MiB a client accepts by default): a
    /// message joins a frame only while the frame stays under it.
    pub max_frame_bytes: usize,
}

impl ServeConfig {
    /// Defaults: an open relay on `addr` with its database at `db`.
    pub fn new(addr: SocketAddr, db: PathBuf) -> Self {
        Self {
            addr,
            db,
            token: None,
            control: false,
            control_secret: None,
            control_origin: None,
            static_dir: None,
            faults: Faults::default(),
            history_limit: 10_000,
            max_batch: 64,
            max_frame_bytes: 512 * 1024,
        }
    }
}

/// Misbehaviour on demand, for tests. All off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Faults {
    /// Store every publish but withhold every Nth ack (0: off).
    pub drop_every_nth_ack: u64,
    /// Wait this long before each ack.
    pub ack_delay_ms: u64,
    /// Answer WebSocket upgrades with 503.
    pub refuse_connections: bool,
    /// Drop the TCP connection, without a close frame, after this many frames from a client (0: off).
    pub close_after_frames: u64,
    /// Publishes to channels starting with one of these are refused for good (final nack).
    pub reject_channels: Vec<String>,
    /// Publishes to channels starting with one of these get a retryable nack.
    pub nack_retryable_channels: Vec<String>,
    /// Leave requests unanswered.
    pub ignore_requests: bool,
    /// Leave pings unanswered (the client's heartbeat must notice).
    pub ignore_pings: bool,
}
