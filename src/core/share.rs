//! What a leader tells its linked tabs of its connection, and what each tab shows the app.

use super::client::{Action, ClientCore};
use super::state::Role;
use super::tabs::SharedState;
use crate::protocol::envelope::encode_batch;

impl ClientCore {
    /// What the leader's tabs show of its connection.
    pub(super) fn shared_state(&self) -> SharedState {
        let unix =
            |at: u64| u64::try_from(i128::from(at) + i128::from(self.wall_offset)).unwrap_or(0);
        SharedState {
            state: self.snap.state,
            online: self.snap.online,
            attempt: self.snap.attempt,
            reconnects: self.snap.reconnects,
            rtt_ms: self.snap.rtt_ms,
            retry_at: self.snap.retry_at.map(unix),
            last_error: self.snap.last_error.clone(),
            session: self.snap.session.clone(),
            outbox: self.snap.outbox.clone(),
        }
    }

    /// Leader: tells the linked tabs when the shared part changed (or when `force`d, for a
    /// tab that just linked). Outbox counts move with every publish and ack, so a change of
    /// counts alone goes out at most every [`SHARE_COUNTS_MS`]; the latest one always does.
    pub(super) fn share_state(&mut self, now: u64, force: bool) {
        let shared = self.shared_state();
        let last = self.last_shared.as_ref();
        if !force && (last == Some(&shared) || self.hub.tab_count() == 0) {
            // Nothing new, or nobody to tell: a tab that links is told at once.
            self.share_due = None;
            return;
        }
        let counts_only = last.is_some_and(|last| same_but_counts(last, &shared));
        let due = self.shared_at.saturating_add(SHARE_COUNTS_MS);
        if !force && counts_only && now < due {
            self.share_due = Some(due);
            return;
        }
        self.share_due = None;
        self.shared_at = now;
        self.last_shared = Some(shared.clone());
        self.actions.push_back(Action::ShareState(shared));
    }

    /// The app's view: this client's own state, except that a linked follower shows the
    /// leader's connection and outbox. The version moves only when something visible did.
    pub(super) fn update_view(&mut self) {
        let mut view = self.snap.clone();
        if self.role == Role::Follower && self.is_open() {
            if let Some(leader) = &self.leader_view {
                let mono = |at: u64| {
                    u64::try_from(i128::from(at) - i128::from(self.wall_offset)).unwrap_or(0)
                };
                view.state = leader.state;
                view.online = leader.online;
                view.attempt = leader.attempt;
                view.reconnects = leader.reconnects;
                view.rtt_ms = leader.rtt_ms;
                view.retry_at = leader.retry_at.map(mono);
                view.last_error = leader.last_error.clone();
                view.session = leader.session.clone();
                view.outbox = leader.outbox.clone();
            }
        }
        view.version = self.view.version;
        if view != self.view {
            view.version += 1;
            self.view = view;
        }
    }

    /// Sends the frames queued for tabs: consecutive ones for the same tab share a message.
    pub(super) fn flush_tab_out(&mut self) {
        let mut out = std::mem::take(&mut self.tab_out).into_iter().peekable();
        while let Some((to, first)) = out.next() {
            let mut frames = vec![first];
            while frames.len() < self.config.max_batch.max(1)
                && out.peek().is_some_and(|(t, _)| *t == to)
            {
                if let Some((_, frame)) = out.next() {
                    frames.push(frame);
                }
            }
            self.actions.push_back(Action::ToTab {
                to,
                frame: encode_batch(frames),
            });
        }
    }
}

/// Least time between two shares of the leader's state that differ only in outbox counts.
pub(super) const SHARE_COUNTS_MS: u64 = 100;

/// True when the two differ at most in the outbox's depth, in-flight count and oldest entry.
fn same_but_counts(a: &SharedState, b: &SharedState) -> bool {
    let counts = |s: &SharedState| {
        let mut s = s.clone();
        (
            s.outbox.depth,
            s.outbox.in_flight,
            s.outbox.oldest_created_at,
        ) = (0, 0, None);
        s
    };
    counts(a) == counts(b)
}
