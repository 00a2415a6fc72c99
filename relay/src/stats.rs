//! The relay's counters (`/control/stats` and the `stats` request).

use std::sync::atomic::AtomicU64;

use serde::Serialize;

/// Counters exposed at `/control/stats` and by the `stats` request.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub denied: AtomicU64,
    pub frames_in: AtomicU64,
    pub published: AtomicU64,
    pub duplicates: AtomicU64,
    pub acks_dropped: AtomicU64,
    pub nacks: AtomicU64,
    /// Commits of the storage thread (each one sync of the log).
    pub commits: AtomicU64,
    /// Publishes those commits carried.
    pub committed: AtomicU64,
    /// Connections closed as slow consumers.
    pub slow_consumers: AtomicU64,
    /// Events removed by retention.
    pub pruned: AtomicU64,
    /// Events sent by replays.
    pub replayed: AtomicU64,
    /// Subscriptions and publishes refused by authorization.
    pub forbidden: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    pub connections: u64,
    pub accepted: u64,
    pub refused: u64,
    pub denied: u64,
    pub frames_in: u64,
    pub published: u64,
    pub duplicates: u64,
    pub acks_dropped: u64,
    pub nacks: u64,
    pub subscriptions: usize,
    pub commits: u64,
    pub committed: u64,
    pub slow_consumers: u64,
    pub pruned: u64,
    pub replayed: u64,
    pub forbidden: u64,
}
