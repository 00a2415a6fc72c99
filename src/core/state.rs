//! The connection's observable state: what `getState()` returns, as plain Rust values.

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    /// Created, `connect()` not called yet.
    Idle,
    /// Asking for credentials, opening the socket, or waiting for the welcome.
    Connecting,
    /// Welcomed by the server; messages flow.
    Open,
    /// Lost or failed; the next attempt is scheduled (`retry_at`).
    Waiting,
    /// The browser says it is offline; no attempts until it is back.
    Offline,
    /// Closed by the app; nothing happens until `connect()`.
    Closed,
}

impl ConnectionState {
    /// The name JS sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting => "connecting",
            Self::Open => "open",
            Self::Waiting => "waiting",
            Self::Offline => "offline",
            Self::Closed => "closed",
        }
    }
}

/// This tab's part in sharing one connection among the tabs of an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Not sharing: this client has its own connection (`shareConnection: false`, or tests).
    Solo,
    /// Waiting to learn which tab leads.
    Pending,
    /// Holds the connection for every tab of the origin.
    Leader,
    /// Reaches the server through the leader tab.
    Follower,
}

impl Role {
    /// The name JS sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Solo => "solo",
            Self::Pending => "pending",
            Self::Leader => "leader",
            Self::Follower => "follower",
        }
    }
}

/// Where the outbox keeps its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageState {
    /// IndexedDB is being opened and read.
    Loading,
    /// Entries are written to IndexedDB.
    #[serde(rename = "indexeddb")]
    Durable,
    /// IndexedDB is unavailable or failed: entries live in memory only (degraded).
    Memory,
}

impl StorageState {
    /// The name JS sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loading => "loading",
            Self::Durable => "indexeddb",
            Self::Memory => "memory",
        }
    }
}

/// The durable outbox, as an app shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStatus {
    /// Entries not yet acked.
    pub depth: usize,
    /// Entries sent and waiting for their ack.
    pub in_flight: usize,
    /// Unix ms when the oldest entry was published.
    pub oldest_created_at: Option<u64>,
    /// Entries given up (see the dead letters).
    pub dead_letters: usize,
    /// Where entries are kept; `Memory` means degraded.
    pub storage: StorageState,
    /// The last storage failure or refusal.
    pub last_error: Option<ErrorInfo>,
    /// The circuit breaker around sending: "closed", "open" (entries wait), "half-open".
    pub breaker: &'static str,
}

impl Default for OutboxStatus {
    fn default() -> Self {
        Self {
            depth: 0,
            in_flight: 0,
            oldest_created_at: None,
            dead_letters: 0,
            storage: StorageState::Loading,
            last_error: None,
            breaker: "closed",
        }
    }
}

/// The last error, as JS sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorInfo {
    /// Stable code (`"heartbeat_timeout"`, `"auth_rejected"`, …).
    pub kind: &'static str,
    /// Human-readable description.
    pub message: String,
}

/// Everything about the connection an app may show, versioned so that a UI can cache it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Increases whenever any other field changes.
    pub version: u64,
    /// Connection state.
    pub state: ConnectionState,
    /// What the browser last said about the network (`navigator.onLine` and its events).
    pub online: bool,
    /// Whether the page is visible.
    pub visible: bool,
    /// Failed attempts since the connection was last open.
    pub attempt: u32,
    /// Times the connection opened again after having been open.
    pub reconnects: u64,
    /// Last heartbeat round-trip time.
    pub rtt_ms: Option<u64>,
    /// When the next attempt is due (caller's monotonic clock), while waiting.
    pub retry_at: Option<u64>,
    /// The most recent error.
    pub last_error: Option<ErrorInfo>,
    /// Session id from the server's welcome, while open.
    pub session: Option<String>,
    /// Whether the server took up the previous session on the last connect (`None`: the
    /// first connect, or a server that does not recover sessions).
    pub recovered: Option<bool>,
    /// When it did not: the offset of the last event seen before (events after it may be missing).
    pub missed_after: Option<String>,
    /// Messages waiting for the connection to open.
    pub buffered: usize,
    /// Requests and publishes waiting for the server's answer.
    pub pending: usize,
    /// Channels with at least one subscriber.
    pub channels: usize,
    /// The durable outbox.
    pub outbox: OutboxStatus,
    /// This tab's role in the shared connection.
    pub role: Role,
    /// Follower tabs linked to this one, while it leads.
    pub tabs: usize,
    /// What carries messages between tabs: "broadcastchannel", "storage" or "none".
    pub bus: &'static str,
    /// Messages on the tab bus that were malformed or foreign, and ignored.
    pub tab_messages_rejected: u64,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            version: 0,
            state: ConnectionState::Idle,
            online: true,
            visible: true,
            attempt: 0,
            reconnects: 0,
            rtt_ms: None,
            retry_at: None,
            last_error: None,
            session: None,
            recovered: None,
            missed_after: None,
            buffered: 0,
            pending: 0,
            channels: 0,
            outbox: OutboxStatus::default(),
            role: Role::Solo,
            tabs: 0,
            bus: "none",
            tab_messages_rejected: 0,
        }
    }
}
