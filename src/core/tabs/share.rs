//! What a leader tells its tabs of its connection, and what a follower shows of it.

use super::codec::SharedState;
use crate::core::state::Snapshot;

/// Least time between two shares of the leader's state that differ only in outbox counts.
pub const SHARE_COUNTS_MS: u64 = 100;

/// The leader's side: the last state shared, and a held-back change of counts.
#[derive(Debug, Default)]
pub(super) struct Share {
    last: Option<SharedState>,
    /// When `last` went out.
    at: u64,
    /// When a held-back change of counts is due.
    due: Option<u64>,
}

impl Share {
    /// Whether `shared` goes out now (returned) or later. A change (or a `force`d share, for a
    /// tab that just linked) goes at once; outbox counts move with every publish and ack, so a
    /// change of counts alone goes at most every [`SHARE_COUNTS_MS`], and the latest always
    /// does. Nothing goes when nothing changed or no tab is linked (a tab that links is told).
    pub(super) fn offer(
        &mut self,
        now: u64,
        shared: SharedState,
        linked_tabs: usize,
        force: bool,
    ) -> Option<SharedState> {
        let last = self.last.as_ref();
        if !force && (last == Some(&shared) || linked_tabs == 0) {
            self.due = None;
            return None;
        }
        let counts_only = last.is_some_and(|last| same_but_counts(last, &shared));
        let due = self.at.saturating_add(SHARE_COUNTS_MS);
        if !force && counts_only && now < due {
            self.due = Some(due);
            return None;
        }
        self.due = None;
        self.at = now;
        self.last = Some(shared.clone());
        Some(shared)
    }

    /// Drops a held-back share (this tab does not lead).
    pub(super) fn cancel(&mut self) {
        self.due = None;
    }

    /// When the held-back share is due.
    pub(super) fn due(&self) -> Option<u64> {
        self.due
    }
}

/// True when the two differ at most in the outbox's depth, in-flight count and oldest entry.
fn same_but_counts(a: &SharedState, b: &SharedState) -> bool {
    a.state == b.state
        && a.online == b.online
        && a.attempt == b.attempt
        && a.reconnects == b.reconnects
        && a.rtt_ms == b.rtt_ms
        && a.retry_at == b.retry_at
        && a.last_error == b.last_error
        && a.session == b.session
        && a.recovered == b.recovered
        && a.missed_after == b.missed_after
        && a.outbox.dead_letters == b.outbox.dead_letters
        && a.outbox.storage == b.outbox.storage
        && a.outbox.last_error == b.outbox.last_error
        && a.outbox.breaker == b.outbox.breaker
}

/// A linked follower shows the leader's connection and outbox over its own snapshot.
/// `wall_offset` is Unix ms minus this tab's monotonic ms (the leader's `retry_at` is Unix ms).
pub fn overlay(view: &mut Snapshot, leader: &SharedState, wall_offset: i64) {
    let mono = |at: u64| u64::try_from(i128::from(at) - i128::from(wall_offset)).unwrap_or(0);
    view.state = leader.state;
    view.online = leader.online;
    view.attempt = leader.attempt;
    view.reconnects = leader.reconnects;
    view.rtt_ms = leader.rtt_ms;
    view.retry_at = leader.retry_at.map(mono);
    view.last_error = leader.last_error.clone();
    view.session = leader.session.clone();
    view.recovered = leader.recovered;
    view.missed_after = leader.missed_after.clone();
    view.outbox = leader.outbox.clone();
}
