//! The client's durable side: publishing through the outbox, what storage reports back, and
//! the dead letters.

use super::client::{Action, ClientCore};
use super::error::{ClientError, SendError};
use super::outbox::{DeadLetter, OutboxEntry};
use super::rest::{HttpOutcome, Verdict};
use super::state::ConnectionState;
use super::state::Role;
use crate::protocol::Inbound;
use crate::protocol::envelope::RawJson;

impl ClientCore {
    /// Publishes through the durable outbox: stored, sent at once when open, retried until
    /// acked. The outcome comes as [`super::Event::PublishDone`] (acked, or refused for good)
    /// or [`super::Event::PublishQueued`] (stored, will be sent), or
    /// [`super::Event::PublishHeld`] (in memory only, will be sent).
    pub fn publish_durable(
        &mut self,
        now: u64,
        id: String,
        channel: String,
        event: String,
        data: RawJson,
        priority: i32,
    ) -> Result<(), SendError<OutboxEntry>> {
        let entry = OutboxEntry {
            id,
            channel,
            event,
            data,
            created_at: self.wall(now),
            priority,
        };
        if self.snap.state == ConnectionState::Closed {
            return Err(SendError::Closed { message: entry });
        }
        // While the browser says it is offline, the promise resolves as queued once stored
        // rather than waiting for an answer a socket it still calls open may never bring.
        // Over HTTP the server is as reachable as the network: a follower's entry reaches the
        // leader over its link and the leader sends it whether or not any socket is open.
        let waits = if self.rest.is_some() {
            self.conn.online() && (self.role() != Role::Follower || self.is_open())
        } else {
            self.server_reachable() && self.outbox_may_send() && self.conn.online()
        };
        let result = self.outbox.publish(entry, waits);
        self.finish(now);
        result
    }

    /// Storage opened and these entries and dead letters were in it (a reload's leftovers);
    /// `skipped` records could not be read and were left alone.
    pub fn handle_storage_loaded(
        &mut self,
        now: u64,
        entries: Vec<OutboxEntry>,
        dead: Vec<DeadLetter>,
        skipped: usize,
    ) {
        self.outbox.handle_loaded(entries, dead, skipped);
        // Left behind by a tab that missed a logout: forgotten, not sent.
        let mark = self.tabs.clears.mark();
        if mark > 0 {
            for (id, _) in self.outbox.forget_until(mark) {
                self.docs.rollback(&id);
            }
        }
        self.finish(now);
    }

    /// Storage opened again after it was lost: what is in it now is merged, and everything the
    /// outbox holds is written back (see [`super::outbox::Durable::handle_reopened`]).
    pub fn handle_storage_reopened(
        &mut self,
        now: u64,
        entries: Vec<OutboxEntry>,
        dead: Vec<DeadLetter>,
        skipped: usize,
    ) {
        self.outbox.handle_reopened(entries, dead, skipped);
        let mark = self.tabs.clears.mark();
        if mark > 0 {
            for (id, _) in self.outbox.forget_until(mark) {
                self.docs.rollback(&id);
            }
        }
        self.finish(now);
    }

    /// Storage cannot be used (no IndexedDB, private mode, blocked): memory from now on.
    pub fn handle_storage_unavailable(&mut self, now: u64, reason: String) {
        self.outbox.handle_store_failed(&[], reason);
        self.finish(now);
    }

    /// Storage committed the writes of these entries.
    pub fn handle_stored(&mut self, now: u64, put_ids: &[String]) {
        self.outbox.handle_stored(put_ids);
        self.finish(now);
    }

    /// A storage write failed (quota, closed database): the entries stay in memory, the
    /// client says it is degraded and reports why.
    pub fn handle_store_failed(&mut self, now: u64, put_ids: &[String], reason: String) {
        self.outbox.handle_store_failed(put_ids, reason);
        self.finish(now);
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> impl Iterator<Item = &DeadLetter> {
        self.outbox.dead_letters()
    }

    /// Puts dead letters (all, or those with these ids) back in the outbox; returns how many.
    pub fn retry_dead_letters(&mut self, now: u64, ids: Option<&[String]>) -> usize {
        let count = self.outbox.retry_dead(ids, self.wall(now));
        self.finish(now);
        count
    }

    /// Forgets dead letters (all, or those with these ids); returns how many.
    pub fn discard_dead_letters(&mut self, now: u64, ids: Option<&[String]>) -> usize {
        let count = self.outbox.discard_dead(ids);
        self.finish(now);
        count
    }

    /// True when this tab's outbox sends over HTTP (a follower's goes to the leader tab).
    pub(super) fn sends_over_http(&self) -> bool {
        self.rest.is_some() && self.role() != Role::Follower
    }

    /// Fills the outbox window with HTTP requests while the browser is online.
    pub(super) fn send_over_http(&mut self, now: u64) {
        // Batches go one at a time: two in flight could be applied in either order.
        let batch_in_flight = self
            .rest
            .as_ref()
            .is_some_and(|r| r.batches() && r.in_flight() > 0);
        if !self.conn.online() || batch_in_flight {
            return;
        }
        let messages = self.outbox.poll_transmit(now, false);
        let timeout_ms = self.config.outbox.ack_timeout_ms;
        if let (false, Some(rest)) = (messages.is_empty(), &mut self.rest) {
            for request in rest.requests(messages, timeout_ms) {
                self.metrics.messages_out += 1;
                self.actions.push_back(Action::Http(request));
            }
        }
    }

    /// An HTTP request of the outbox ended: its entries are confirmed, refused for good, or
    /// sent again later (not before the server's `Retry-After`).
    pub fn handle_http(&mut self, now: u64, request: u64, outcome: HttpOutcome) {
        let wall = self.wall(now);
        let verdicts = match &mut self.rest {
            Some(rest) => rest.outcome(request, &outcome, wall),
            None => Vec::new(),
        };
        let mut failure = None;
        for verdict in verdicts {
            match verdict {
                Verdict::Confirmed(id) => self.handle_inbound(now, Inbound::Ack { id, seq: 0 }),
                Verdict::Refused { id, reason } => self.handle_inbound(
                    now,
                    Inbound::Refused {
                        id,
                        reason,
                        retryable: false,
                    },
                ),
                Verdict::Retry {
                    id,
                    reason,
                    after_ms,
                } => {
                    let random = self.rng.next_u64();
                    if self.outbox.handle_retry(now, &id, random, after_ms) {
                        failure = Some(reason);
                    }
                }
            }
        }
        if let Some(reason) = failure {
            self.outbox.send_failed(now, "http", reason.clone());
            self.report_error(ClientError::Http(reason));
        }
        self.finish(now);
    }
}
