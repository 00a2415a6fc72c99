//! Relay settings and the fault modes tests switch at run time.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::auth::{Authorizer, ChannelRule};
use crate::db::CommitHook;
use crate::store::Retention;

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
    /// Most messages the relay packs into one frame for a subscriber.
    pub max_batch: usize,
    /// Most bytes of one packed frame (half of the 1 MiB a client accepts by default); a
    /// client's `hello` may ask for less (`max`).
    pub max_frame_bytes: usize,
    /// Most bytes waiting to be sent to one connection; a subscriber past it is a slow
    /// consumer and is disconnected (close 4008).
    pub max_queue_bytes: usize,
    /// Largest publish accepted (its `data` plus id, channel and event names, plus 64).
    pub max_message_bytes: usize,
    /// Most simultaneous WebSocket connections; more are refused with HTTP 503.
    pub max_connections: usize,
    /// Most channels one connection may subscribe to.
    pub max_channels: usize,
    /// Publishes per second per connection (token bucket of one second's worth; 0: no limit).
    pub publish_rate: u32,
    /// Events replayed per read of history.
    pub replay_page: usize,
    /// What history is kept.
    pub retention: Retention,
    /// `Origin`s allowed to open WebSockets (empty: any). Requests without `Origin` (not a
    /// browser) are not affected.
    pub allowed_origins: Vec<String>,
    /// Prefix rules: channels starting with a rule's prefix need its token.
    pub channel_rules: Vec<ChannelRule>,
    /// An embedder's authorization of each `sub` and `pub`.
    pub authorize: Option<Authorizer>,
    /// Test hook run on the storage thread before each commit.
    #[doc(hidden)]
    pub commit_hook: Option<CommitHook>,
}

/// `--max-queue-bytes` by default: 8 MiB.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 8 << 20;
/// `--max-message-bytes` by default: 256 KiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 << 10;
/// `--max-connections` by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// `--max-channels` by default.
pub const DEFAULT_MAX_CHANNELS: usize = 1_000;
/// `--publish-rate` by default.
pub const DEFAULT_PUBLISH_RATE: u32 = 10_000;

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
            max_batch: 64,
            max_frame_bytes: 512 * 1024,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_channels: DEFAULT_MAX_CHANNELS,
            publish_rate: DEFAULT_PUBLISH_RATE,
            replay_page: 500,
            retention: Retention::default(),
            allowed_origins: Vec::new(),
            channel_rules: Vec::new(),
            authorize: None,
            commit_hook: None,
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
