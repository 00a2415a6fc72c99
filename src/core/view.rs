//! The state as an app sees it: the serde shape of `getState()` (`ClientState` in the
//! TypeScript declarations). Written out by hand where the shape is not the struct's: the
//! outbox's `degraded` flag is derived, and `retryAt` is in wall-clock time.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::state::{OutboxStatus, Snapshot, StorageState};

/// A snapshot with its retry time in Unix ms, ready to serialize.
pub struct StateView<'a> {
    pub snapshot: &'a Snapshot,
    /// Unix ms of the next attempt, while waiting.
    pub retry_at: Option<u64>,
}

impl Serialize for StateView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.snapshot;
        let mut o = serializer.serialize_struct("ClientState", 20)?;
        o.serialize_field("version", &s.version)?;
        o.serialize_field("state", &s.state)?;
        o.serialize_field("online", &s.online)?;
        o.serialize_field("visible", &s.visible)?;
        o.serialize_field("attempt", &s.attempt)?;
        o.serialize_field("reconnects", &s.reconnects)?;
        o.serialize_field("rttMs", &s.rtt_ms)?;
        o.serialize_field("retryAt", &self.retry_at)?;
        o.serialize_field("lastError", &s.last_error)?;
        o.serialize_field("session", &s.session)?;
        o.serialize_field("recovered", &s.recovered)?;
        o.serialize_field("missedAfter", &s.missed_after)?;
        o.serialize_field("buffered", &s.buffered)?;
        o.serialize_field("pending", &s.pending)?;
        o.serialize_field("channels", &s.channels)?;
        o.serialize_field("outbox", &s.outbox)?;
        o.serialize_field("role", &s.role)?;
        o.serialize_field("tabs", &s.tabs)?;
        o.serialize_field("bus", s.bus)?;
        o.serialize_field("tabMessagesRejected", &s.tab_messages_rejected)?;
        o.end()
    }
}

impl Serialize for OutboxStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut o = serializer.serialize_struct("OutboxState", 8)?;
        o.serialize_field("depth", &self.depth)?;
        o.serialize_field("inFlight", &self.in_flight)?;
        o.serialize_field("oldestCreatedAt", &self.oldest_created_at)?;
        o.serialize_field("deadLetters", &self.dead_letters)?;
        o.serialize_field("storage", &self.storage)?;
        o.serialize_field("degraded", &(self.storage == StorageState::Memory))?;
        o.serialize_field("breaker", self.breaker)?;
        o.serialize_field("lastError", &self.last_error)?;
        o.end()
    }
}

/// Errors by kind as an object `{ kind: count }` (already sorted, each kind once).
pub fn errors_by_kind<S: Serializer>(
    errors: &[(&'static str, u64)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(errors.iter().map(|(kind, n)| (*kind, *n)))
}
