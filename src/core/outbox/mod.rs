//! The outbox part: durable publishes from the app to the server. It owns the queue's policy
//! ([`Outbox`]), the circuit breaker around sending, and what is known of storage.
//!
//! Inputs are `handle_*(now, …)` (an ack, a refusal, storage reports, a deadline); outputs are
//! [`Durable::poll_transmit`] (entries to send), [`Durable::poll_store`] (storage changes),
//! [`Durable::poll_event`] (what the app must hear) and [`Durable::next_deadline`].

mod breaker;
mod queue;
mod types;

pub use breaker::{Breaker, BreakerState};
pub use queue::Outbox;
pub use types::{DeadLetter, OutboxConfig, OutboxEntry, OutboxEvent, OutboxFull, StoreOp};

use std::collections::VecDeque;

use super::error::{ClientError, SendError};
use super::state::{ErrorInfo, OutboxStatus, StorageState};
use crate::protocol::Outbound;

/// What the outbox part reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurableEvent {
    Outbox(OutboxEvent),
    /// Storage failed (the part works from memory now) or held unreadable records.
    Error(ClientError),
}

/// The outbox part; see the module docs.
#[derive(Debug)]
pub struct Durable {
    queue: Outbox,
    breaker: Breaker,
    storage: StorageState,
    /// Storage came back and everything held is being written to it again: the state says
    /// `Memory` until that write commits.
    restoring: bool,
    last_error: Option<ErrorInfo>,
    events: VecDeque<DurableEvent>,
}

impl Durable {
    /// An outbox waiting for storage to load.
    pub fn new(config: OutboxConfig, breaker_threshold: u32, breaker_cooldown_ms: u64) -> Self {
        Self {
            queue: Outbox::new(config),
            breaker: Breaker::new(breaker_threshold, breaker_cooldown_ms),
            storage: StorageState::Loading,
            restoring: false,
            last_error: None,
            events: VecDeque::new(),
        }
    }

    // ----- getters -----

    /// Entries not yet acked.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when no entry waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// True when entry `id` is held.
    pub fn contains(&self, id: &str) -> bool {
        self.queue.contains(id)
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> impl Iterator<Item = &DeadLetter> {
        self.queue.dead_letters()
    }

    /// Where entries are kept.
    pub fn storage(&self) -> StorageState {
        self.storage
    }

    /// True when new entries are written to storage (it works, or is being written back to).
    fn stores(&self) -> bool {
        self.storage != StorageState::Memory || self.restoring
    }

    /// The breaker's state at `now`, as JS names it.
    pub fn breaker(&self, now: u64) -> &'static str {
        self.breaker.peek(now).as_str()
    }

    /// The outbox as the app sees it.
    pub fn status(&self, now: u64) -> OutboxStatus {
        OutboxStatus {
            depth: self.queue.len(),
            in_flight: self.queue.in_flight(),
            oldest_created_at: self.queue.oldest_created_at(),
            dead_letters: self.queue.dead_count(),
            storage: self.storage,
            last_error: self.last_error.clone(),
            breaker: self.breaker(now),
        }
    }

    // ----- inputs -----

    /// A new entry, sent at the next [`Durable::poll_transmit`] when `reachable`.
    pub fn publish(
        &mut self,
        entry: OutboxEntry,
        reachable: bool,
    ) -> Result<(), SendError<OutboxEntry>> {
        let capacity = self.queue.capacity();
        self.queue
            .add(entry, reachable, self.stores())
            .map_err(|OutboxFull(entry)| SendError::BufferFull {
                capacity,
                message: entry,
            })
    }

    /// A follower tab's entry, already stored by it, for this (leader's) outbox to send.
    pub fn adopt(&mut self, entry: OutboxEntry) {
        self.queue.adopt(entry);
    }

    /// Storage opened with these entries and dead letters in it; `skipped` were unreadable.
    pub fn handle_loaded(
        &mut self,
        entries: Vec<OutboxEntry>,
        dead: Vec<DeadLetter>,
        skipped: usize,
    ) {
        if self.storage == StorageState::Loading {
            self.storage = StorageState::Durable;
        }
        self.queue.load(entries, dead);
        if skipped > 0 {
            let mut reason = crate::protocol::raw::decimal(skipped as u64);
            reason.push_str(" unreadable records left in storage");
            self.events
                .push_back(DurableEvent::Error(ClientError::Storage(reason)));
        }
    }

    /// Storage opened again after it was lost (the database deleted under the page, a write
    /// over the quota): `loaded` is what is in it now, merged as at the first load, and every
    /// entry and dead letter held is written to it again. The state says `indexeddb` once that
    /// write has committed ([`Durable::handle_stored`]); promises still waiting then resolve
    /// as queued. Entries whose promise already resolved as held get no event of their own:
    /// the storage state going back to `indexeddb` is what says they are on disk.
    pub fn handle_reopened(
        &mut self,
        entries: Vec<OutboxEntry>,
        dead: Vec<DeadLetter>,
        skipped: usize,
    ) {
        self.handle_loaded(entries, dead, skipped);
        if self.storage == StorageState::Memory {
            self.restoring = true;
            self.queue.write_back();
        }
    }

    /// Storage committed the writes of these entries.
    pub fn handle_stored(&mut self, put_ids: &[String]) {
        self.queue.persisted(put_ids);
        if std::mem::take(&mut self.restoring) {
            self.storage = StorageState::Durable;
        }
    }

    /// Storage cannot be used, or a write failed: memory from now on (until it reopens).
    pub fn handle_store_failed(&mut self, put_ids: &[String], reason: String) {
        // The failed writes are in memory only: their promises resolve as held.
        self.restoring = false;
        self.queue.memory = true;
        self.queue.persisted(put_ids);
        self.storage = StorageState::Memory;
        self.queue.keep_in_memory();
        self.set_error("storage", reason.clone());
        self.events
            .push_back(DurableEvent::Error(ClientError::Storage(reason)));
    }

    /// The server acked `id` as `seq`; false when the id is not this outbox's.
    pub fn handle_ack(&mut self, id: &str, seq: Option<u64>) -> bool {
        let mine = self.queue.ack(id, seq);
        if mine {
            self.breaker.success();
        }
        mine
    }

    /// The server refused `id`; false when the id is not this outbox's. A retryable refusal
    /// counts against the breaker; a final one is an answer (the server works).
    pub fn handle_refused(
        &mut self,
        now: u64,
        wall: u64,
        id: &str,
        reason: &str,
        retryable: bool,
        random: u64,
    ) -> bool {
        let mine = self.queue.nack(now, wall, id, reason, retryable, random);
        if !mine {
            return false;
        }
        if retryable {
            self.breaker.failure(now);
        } else {
            self.breaker.success();
            let mut message = String::from("publish ");
            message.push_str(id);
            message.push_str(" refused: ");
            message.push_str(reason);
            self.set_error("rejected", message);
        }
        true
    }

    /// Sending `id` failed in a way that may pass (an HTTP 5xx or 429, a dropped request):
    /// it goes again after the backoff and not before `at_least_ms`. False when the id is
    /// not this outbox's.
    pub fn handle_retry(&mut self, now: u64, id: &str, random: u64, at_least_ms: u64) -> bool {
        self.queue.retry_later(now, id, random, at_least_ms)
    }

    /// A request carrying entries failed (however many it carried: one failure for the
    /// breaker); `message` becomes the state's `outbox.lastError`.
    pub fn send_failed(&mut self, now: u64, kind: &'static str, message: String) {
        self.breaker.failure(now);
        self.set_error(kind, message);
    }

    /// A deadline passed: acks that did not come, retries due, entries past retention.
    pub fn handle_timeout(&mut self, now: u64, wall: u64, random: impl FnMut() -> u64) {
        // Acks lost from one window time out together: one failure, not one per entry.
        let count = self.queue.expire(now, wall, random);
        if count > 0 {
            self.breaker.failure(now);
            let error = ClientError::AckTimeout { count };
            self.set_error(error.kind(), error.to_string());
            self.events.push_back(DurableEvent::Error(error));
        }
        self.breaker.state(now);
    }

    /// The connection dropped: what was in flight goes back to the queue.
    pub fn connection_lost(&mut self, now: u64) {
        self.queue.connection_lost(now);
        self.breaker.connection_lost();
    }

    /// This tab stopped sending (it became a follower): nothing waits for acks here.
    pub fn stop_waiting_for_acks(&mut self) {
        self.queue.stop_waiting_for_acks();
    }

    /// Puts dead letters (all, or these) back in the queue; returns how many.
    pub fn retry_dead(&mut self, ids: Option<&[String]>, wall: u64) -> usize {
        let store = self.stores();
        self.queue.retry_dead(ids, wall, store)
    }

    /// Forgets dead letters (all, or these); returns how many.
    pub fn discard_dead(&mut self, ids: Option<&[String]>) -> usize {
        self.queue.discard_dead(ids)
    }

    /// Forgets every entry and dead letter, here and in storage; returns the entries' ids and
    /// whether a publish promise waited for each.
    pub fn clear(&mut self) -> Vec<(String, bool)> {
        self.queue.clear()
    }

    /// Forgets the entries and dead letters made at or before `until` (Unix ms), here and in
    /// storage record by record (another tab's logout); returns the entries' ids and whether a
    /// publish promise waited for each.
    pub fn forget_until(&mut self, until: u64) -> Vec<(String, bool)> {
        self.queue.forget_until(until)
    }

    // ----- outputs -----

    /// Entries to send now on an open connection, within the window and the breaker's
    /// allowance; `to_leader` marks them as stored (a follower's link).
    #[must_use]
    pub fn poll_transmit(&mut self, now: u64, to_leader: bool) -> Vec<Outbound> {
        let allowance = self.breaker.allowance(now);
        let messages = self.queue.fill(now, to_leader, allowance);
        self.breaker.sent(messages.len());
        messages
    }

    /// Storage changes to make, in order (none while working from memory).
    #[must_use]
    pub fn poll_store(&mut self) -> Vec<StoreOp> {
        let ops = self.queue.take_ops();
        if !self.stores() {
            return Vec::new();
        }
        ops
    }

    /// What the app must hear next.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<DurableEvent> {
        if self.events.is_empty() {
            self.events.extend(
                self.queue
                    .take_events()
                    .into_iter()
                    .map(DurableEvent::Outbox),
            );
        }
        self.events.pop_front()
    }

    /// When [`Durable::handle_timeout`] must run next; `wall_offset` turns retention's Unix
    /// times into the monotonic clock.
    pub fn next_deadline(&self, wall_offset: i64) -> Option<u64> {
        [
            self.queue.next_deadline(wall_offset),
            self.breaker.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn set_error(&mut self, kind: &'static str, message: String) {
        self.last_error = Some(ErrorInfo { kind, message });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RawJson;

    fn entry(id: &str) -> OutboxEntry {
        OutboxEntry {
            id: id.into(),
            channel: "c".into(),
            event: "e".into(),
            data: RawJson::null(),
            created_at: 0,
            priority: 0,
        }
    }

    fn part() -> Durable {
        let mut part = Durable::new(OutboxConfig::default(), 2, 1_000);
        part.handle_loaded(Vec::new(), Vec::new(), 0);
        part
    }

    #[test]
    fn publishes_are_stored_sent_and_leave_on_their_ack() {
        let mut part = part();
        part.publish(entry("a"), true).unwrap();
        assert!(matches!(part.poll_store().as_slice(), [StoreOp::Put(e)] if e.id == "a"));
        let sent = part.poll_transmit(0, false);
        assert_eq!(sent.len(), 1);
        assert!(part.handle_ack("a", Some(3)));
        assert_eq!(part.poll_store(), vec![StoreOp::Delete("a".into())]);
        assert!(
            !part.handle_ack("a", Some(3)),
            "a second ack is not this outbox's"
        );
        assert!(part.is_empty());
    }

    #[test]
    fn retryable_refusals_open_the_breaker_and_its_cooldown_is_a_deadline() {
        let mut part = part();
        part.publish(entry("a"), true).unwrap();
        let _ = part.poll_transmit(0, false);
        assert!(part.handle_refused(0, 0, "a", "busy", true, 1));
        let _ = part.poll_transmit(5_000, false);
        assert!(part.handle_refused(5_000, 5_000, "a", "busy", true, 1));
        assert_eq!(part.breaker(5_000), "open");
        assert!(
            part.poll_transmit(5_001, false).is_empty(),
            "nothing while open"
        );
        assert!(part.next_deadline(0).is_some_and(|at| at <= 6_000));
    }

    #[test]
    fn a_failed_write_degrades_to_memory_and_says_why() {
        let mut part = part();
        part.publish(entry("a"), false).unwrap();
        let _ = part.poll_store();
        part.handle_store_failed(&["a".into()], "quota".into());
        assert_eq!(part.storage(), StorageState::Memory);
        assert_eq!(part.status(0).last_error.map(|e| e.kind), Some("storage"));
        assert!(matches!(
            part.poll_event(),
            Some(DurableEvent::Error(ClientError::Storage(_)))
        ));
        part.publish(entry("b"), false).unwrap();
        assert!(
            part.poll_store().is_empty(),
            "nothing asked of storage any more"
        );
        assert_eq!(part.len(), 2);
    }

    #[test]
    fn a_final_refusal_makes_a_dead_letter_event() {
        let mut part = part();
        part.publish(entry("a"), true).unwrap();
        let _ = part.poll_transmit(0, false);
        assert!(part.handle_refused(0, 0, "a", "invalid", false, 1));
        let mut saw_dead = false;
        while let Some(event) = part.poll_event() {
            saw_dead |= matches!(event, DurableEvent::Outbox(OutboxEvent::DeadLetter(_)));
        }
        assert!(saw_dead);
        assert_eq!(part.dead_letters().count(), 1);
        assert_eq!(part.status(0).last_error.map(|e| e.kind), Some("rejected"));
    }

    #[test]
    fn a_reopened_storage_gets_everything_held_back_and_says_so_once_written() {
        let mut part = part();
        part.publish(entry("a"), false).unwrap();
        let _ = part.poll_store();
        part.handle_stored(&["a".into()]);
        part.handle_store_failed(&[], "closed".into());
        part.publish(entry("b"), true).unwrap();
        assert!(part.poll_store().is_empty());
        while part.poll_event().is_some() {}
        part.handle_reopened(Vec::new(), Vec::new(), 0);
        let ops = part.poll_store();
        let put: Vec<&str> = ops
            .iter()
            .filter_map(|op| match op {
                StoreOp::Put(e) => Some(e.id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(put, ["a", "b"], "both written back");
        assert_eq!(
            part.storage(),
            StorageState::Memory,
            "memory until the write commits"
        );
        part.publish(entry("c"), false).unwrap();
        assert!(
            matches!(part.poll_store().as_slice(), [StoreOp::Put(e)] if e.id == "c"),
            "a publish meanwhile is written too"
        );
        part.handle_stored(&["a".into(), "b".into()]);
        assert_eq!(part.storage(), StorageState::Durable);
        part.handle_stored(&["c".into()]);
        assert!(matches!(
            part.poll_event(),
            Some(DurableEvent::Outbox(OutboxEvent::Queued { id })) if id == "c"
        ));
    }

    #[test]
    fn a_write_back_that_fails_stays_in_memory() {
        let mut part = part();
        part.handle_store_failed(&[], "closed".into());
        part.publish(entry("a"), false).unwrap();
        part.handle_reopened(Vec::new(), Vec::new(), 0);
        assert_eq!(part.poll_store().len(), 1);
        part.handle_store_failed(&["a".into()], "QuotaExceededError".into());
        assert_eq!(part.storage(), StorageState::Memory);
        part.publish(entry("b"), false).unwrap();
        assert!(part.poll_store().is_empty());
    }
}
