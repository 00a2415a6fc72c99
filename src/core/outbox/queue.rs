//! The durable outbox's policy: what to send next, what to store and delete, when to retry,
//! when to give up. Storage itself is the driver's business: the outbox asks for it with
//! [`StoreOp`]s and hears back with [`Outbox::persisted`].
//!
//! Rules:
//! - Entries of one channel are sent in id order (ids are time-ordered UUIDv7). Across
//!   channels, higher `priority` goes first, then the older id.
//! - At most `window` entries are in flight (sent, not yet acked).
//! - A channel whose earliest unacked entry waits for a retry sends nothing newer meanwhile,
//!   so a retry cannot be overtaken by what was published after it.
//! - An entry leaves only on an ack, or to the dead letters on a final nack or after its
//!   retention; either way an event says so.

mod dead;
mod forget;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use super::types::{DeadLetter, OutboxConfig, OutboxEntry, OutboxEvent, OutboxFull, StoreOp};
use crate::protocol::Outbound as ClientMessage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flight {
    /// Waiting to be sent, not before this time (0: at once).
    Queued { not_before: u64 },
    /// Sent; the ack is due by this time.
    InFlight { deadline: u64 },
}

/// Who waits on a publish promise, and for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiter {
    None,
    /// Published while open: settle on the ack (or as queued if it does not come soon).
    Ack,
    /// Settle as queued once stored.
    Stored,
}

#[derive(Debug)]
struct Slot {
    entry: OutboxEntry,
    flight: Flight,
    attempts: u32,
    /// Sends that got no answer in time.
    timeouts: u32,
    persisted: bool,
    waiter: Waiter,
}

/// The outbox: entries by id, per-channel order, in-flight window, retry and expiry times.
#[derive(Debug)]
pub struct Outbox {
    config: OutboxConfig,
    slots: HashMap<String, Slot>,
    channels: BTreeMap<String, BTreeSet<String>>,
    in_flight: BTreeSet<String>,
    retry_at: BTreeSet<(u64, String)>,
    by_age: BTreeSet<(u64, String)>,
    dead: BTreeMap<String, DeadLetter>,
    ops: Vec<StoreOp>,
    events: Vec<OutboxEvent>,
    /// Stored entries have been loaded; until then nothing is sent (order across reloads).
    pub loaded: bool,
    /// Storage is gone: what waits is in memory only (its promises resolve as held).
    pub memory: bool,
}

impl Outbox {
    /// An empty outbox, not yet loaded.
    pub fn new(config: OutboxConfig) -> Self {
        Self {
            config,
            slots: HashMap::new(),
            channels: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            retry_at: BTreeSet::new(),
            by_age: BTreeSet::new(),
            dead: BTreeMap::new(),
            ops: Vec::new(),
            events: Vec::new(),
            loaded: false,
            memory: false,
        }
    }

    /// Most entries held.
    pub fn capacity(&self) -> usize {
        self.config.max_entries
    }

    /// Storage changes asked for since the last call, in order.
    pub fn take_ops(&mut self) -> Vec<StoreOp> {
        std::mem::take(&mut self.ops)
    }

    /// Events since the last call, in order.
    pub fn take_events(&mut self) -> Vec<OutboxEvent> {
        std::mem::take(&mut self.events)
    }

    /// Entries held (sent or not, not yet acked).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Entries sent and waiting for their ack.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Creation time (Unix ms) of the oldest entry.
    pub fn oldest_created_at(&self) -> Option<u64> {
        self.by_age.first().map(|(at, _)| *at)
    }

    /// The dead letters, oldest id first.
    pub fn dead_letters(&self) -> impl Iterator<Item = &DeadLetter> {
        self.dead.values()
    }

    /// Number of dead letters.
    pub fn dead_count(&self) -> usize {
        self.dead.len()
    }

    /// Adds a new publish. `open`: the socket is open, so the promise waits for the ack.
    /// `store`: write it to storage (false when storage is unavailable: memory only).
    pub fn add(&mut self, entry: OutboxEntry, open: bool, store: bool) -> Result<(), OutboxFull> {
        if self.slots.len() >= self.config.max_entries || self.slots.contains_key(&entry.id) {
            return Err(OutboxFull(entry));
        }
        if store {
            self.ops.push(StoreOp::Put(entry.clone()));
        }
        let waiter = if open { Waiter::Ack } else { Waiter::Stored };
        let id = entry.id.clone();
        self.insert(entry, !store, waiter);
        if !store && waiter == Waiter::Stored {
            self.settle_queued(&id);
        }
        Ok(())
    }

    fn insert(&mut self, entry: OutboxEntry, persisted: bool, waiter: Waiter) {
        self.channels
            .entry(entry.channel.clone())
            .or_default()
            .insert(entry.id.clone());
        self.by_age.insert((entry.created_at, entry.id.clone()));
        self.slots.insert(
            entry.id.clone(),
            Slot {
                entry,
                flight: Flight::Queued { not_before: 0 },
                attempts: 0,
                timeouts: 0,
                persisted,
                waiter,
            },
        );
    }

    /// Takes over an entry another tab already stored (it published through this leader).
    /// Known ids and a full outbox leave it where it is: that tab keeps it and sends again.
    pub fn adopt(&mut self, entry: OutboxEntry) {
        if !self.slots.contains_key(&entry.id) && self.slots.len() < self.config.max_entries {
            self.insert(entry, true, Waiter::None);
        }
    }

    /// True when the outbox holds `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.slots.contains_key(id)
    }

    /// Entries and dead letters read from storage (after a reload); known ids are skipped.
    pub fn load(&mut self, entries: Vec<OutboxEntry>, dead: Vec<DeadLetter>) {
        for entry in entries {
            if !self.slots.contains_key(&entry.id) && self.slots.len() < self.config.max_entries {
                self.insert(entry, true, Waiter::None);
            }
        }
        for letter in dead {
            self.dead.entry(letter.entry.id.clone()).or_insert(letter);
        }
        self.evict_dead();
        self.loaded = true;
    }

    /// Storage confirmed (or, when it failed, gave up on) these entries.
    pub fn persisted(&mut self, ids: &[String]) {
        for id in ids {
            let settle = match self.slots.get_mut(id) {
                Some(slot) => {
                    slot.persisted = true;
                    slot.waiter == Waiter::Stored
                }
                None => false,
            };
            if settle {
                self.settle_queued(id);
            }
        }
    }

    /// Storage is gone: every entry not yet stored is kept in memory only, and promises
    /// waiting for the write resolve now.
    pub fn keep_in_memory(&mut self) {
        self.memory = true;
        let unstored: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, slot)| !slot.persisted)
            .map(|(id, _)| id.clone())
            .collect();
        self.persisted(&unstored);
        self.loaded = true;
    }

    /// Storage is back: every entry and dead letter is written to it again, and promises still
    /// waiting resolve as queued once that write commits.
    pub fn write_back(&mut self) {
        self.memory = false;
        let mut ids: Vec<&String> = self.slots.keys().collect();
        ids.sort();
        for id in ids {
            if let Some(slot) = self.slots.get(id.as_str()) {
                self.ops.push(StoreOp::Put(slot.entry.clone()));
            }
        }
        for slot in self.slots.values_mut() {
            slot.persisted = false;
        }
        for letter in self.dead.values() {
            self.ops.push(StoreOp::PutDead(letter.clone()));
        }
    }

    fn settle_queued(&mut self, id: &str) {
        if let Some(slot) = self.slots.get_mut(id) {
            slot.waiter = Waiter::None;
            let id = id.to_owned();
            self.events.push(if self.memory {
                OutboxEvent::Held { id }
            } else {
                OutboxEvent::Queued { id }
            });
        }
    }

    /// The ack did not come (timeout, lost connection, retryable nack): a promise waiting for
    /// it resolves as queued once the entry is stored.
    fn stop_waiting_for_ack(&mut self, id: &str) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        if slot.waiter == Waiter::Ack {
            slot.waiter = Waiter::Stored;
            if slot.persisted {
                self.settle_queued(id);
            }
        }
    }

    /// The server is out of reach for now (a follower's leader lost its connection): promises
    /// waiting for acks resolve as queued once their entries are stored; entries stay put.
    pub fn stop_waiting_for_acks(&mut self) {
        let waiting: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.waiter == Waiter::Ack)
            .map(|(id, _)| id.clone())
            .collect();
        for id in waiting {
            self.stop_waiting_for_ack(&id);
        }
    }

    /// Takes `id` out of flight and schedules it again, after a backoff when `delay` is set.
    fn requeue(&mut self, now: u64, id: &str, random: u64, delay: bool) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        let not_before = if delay {
            let retry = slot.attempts.saturating_sub(1);
            now.saturating_add(self.config.retry.delay(retry, random))
        } else {
            0
        };
        slot.flight = Flight::Queued { not_before };
        self.in_flight.remove(id);
        if not_before > 0 {
            self.retry_at.insert((not_before, id.to_owned()));
        }
        self.stop_waiting_for_ack(id);
    }

    /// The server stored `id` as `seq` (`None`: it was written to the socket and no answer
    /// comes). False when the id is unknown (late or duplicated ack).
    pub fn ack(&mut self, id: &str, seq: Option<u64>) -> bool {
        let Some(slot) = self.remove(id) else {
            return false;
        };
        self.ops.push(StoreOp::Delete(slot.entry.id.clone()));
        self.events.push(OutboxEvent::Acked {
            id: slot.entry.id,
            seq,
            settles: slot.waiter != Waiter::None,
        });
        true
    }

    /// The server refused `id`: try again later, or give up when `retryable` is false.
    pub fn nack(
        &mut self,
        now: u64,
        wall: u64,
        id: &str,
        reason: &str,
        retryable: bool,
        random: u64,
    ) -> bool {
        if !self.slots.contains_key(id) {
            return false;
        }
        if retryable {
            self.requeue(now, id, random, true);
        } else {
            self.bury(id, reason, wall);
        }
        true
    }

    /// Sending `id` failed in a way that may pass: it goes again after the backoff, and not
    /// before `at_least_ms` from now (a server's `Retry-After`). False when the id is unknown.
    pub fn retry_later(&mut self, now: u64, id: &str, random: u64, at_least_ms: u64) -> bool {
        if !self.slots.contains_key(id) {
            return false;
        }
        self.requeue(now, id, random, true);
        let at = now.saturating_add(at_least_ms);
        if let Some(slot) = self.slots.get_mut(id)
            && let Flight::Queued { not_before } = slot.flight
            && at > not_before
        {
            self.retry_at.remove(&(not_before, id.to_owned()));
            slot.flight = Flight::Queued { not_before: at };
            self.retry_at.insert((at, id.to_owned()));
        }
        true
    }

    fn remove(&mut self, id: &str) -> Option<Slot> {
        let slot = self.slots.remove(id)?;
        self.in_flight.remove(id);
        if let Flight::Queued { not_before } = slot.flight {
            self.retry_at.remove(&(not_before, id.to_owned()));
        }
        self.by_age.remove(&(slot.entry.created_at, id.to_owned()));
        if let Some(ids) = self.channels.get_mut(&slot.entry.channel) {
            ids.remove(id);
            if ids.is_empty() {
                self.channels.remove(&slot.entry.channel);
            }
        }
        Some(slot)
    }

    /// Moves an entry to the dead letters, with an event (and a rejection for its promise).
    fn bury(&mut self, id: &str, reason: &str, wall: u64) {
        let Some(slot) = self.remove(id) else {
            return;
        };
        let letter = DeadLetter {
            entry: slot.entry,
            reason: reason.to_owned(),
            failed_at: wall,
        };
        self.ops.push(StoreOp::Delete(letter.entry.id.clone()));
        self.ops.push(StoreOp::PutDead(letter.clone()));
        if slot.waiter != Waiter::None {
            self.events.push(OutboxEvent::Rejected {
                id: letter.entry.id.clone(),
                reason: letter.reason.clone(),
            });
        }
        self.dead.insert(letter.entry.id.clone(), letter.clone());
        self.events.push(OutboxEvent::DeadLetter(letter));
        self.evict_dead();
    }

    /// The connection dropped: everything in flight will be sent again on the next one, and
    /// promises waiting for an ack (sent or still queued behind others) resolve as queued
    /// once their entries are stored.
    pub fn connection_lost(&mut self, now: u64) {
        let ids: Vec<String> = self.in_flight.iter().cloned().collect();
        for id in ids {
            self.requeue(now, &id, 0, false);
        }
        self.stop_waiting_for_acks();
    }

    /// Ack timeouts, retries coming due, and retention: call when [`Outbox::next_deadline`]
    /// passes. Returns how many acks timed out.
    pub fn expire(&mut self, now: u64, wall: u64, mut random: impl FnMut() -> u64) -> usize {
        let late: Vec<String> = self
            .in_flight
            .iter()
            .filter(|id| {
                self.slots.get(*id).is_some_and(
                    |s| matches!(s.flight, Flight::InFlight { deadline } if deadline <= now),
                )
            })
            .cloned()
            .collect();
        let timed_out = late.len();
        for id in late {
            let timeouts = self.slots.get_mut(&id).map_or(0, |slot| {
                slot.timeouts = slot.timeouts.saturating_add(1);
                slot.timeouts
            });
            if timeouts >= self.config.max_attempts {
                let mut reason = String::from("ack_timeout: no answer after ");
                crate::protocol::raw::write_u64(&mut reason, u64::from(timeouts));
                reason.push_str(" attempt(s); a server that does not ack publishes needs delivery: \"echo\" or \"sent\"");
                self.bury(&id, &reason, wall);
            } else {
                self.requeue(now, &id, random(), true);
            }
        }
        while let Some((at, id)) = self.retry_at.first().cloned() {
            if at > now {
                break;
            }
            self.retry_at.remove(&(at, id.clone()));
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.flight = Flight::Queued { not_before: 0 };
            }
        }
        while let Some((created, id)) = self.by_age.first().cloned() {
            if created.saturating_add(self.config.retention_ms) > wall {
                break;
            }
            self.bury(&id, "expired", wall);
        }
        timed_out
    }

    /// When [`Outbox::expire`] must run next, in the caller's monotonic clock; `wall_offset`
    /// converts Unix ms to it (`monotonic = unix - wall_offset`).
    pub fn next_deadline(&self, wall_offset: i64) -> Option<u64> {
        let ack = self
            .in_flight
            .iter()
            .filter_map(|id| match self.slots.get(id)?.flight {
                Flight::InFlight { deadline } => Some(deadline),
                Flight::Queued { .. } => None,
            })
            .min();
        let retry = self.retry_at.first().map(|(at, _)| *at);
        let expiry = self.oldest_created_at().map(|created| {
            let wall = created.saturating_add(self.config.retention_ms);
            u64::try_from(i128::from(wall) - i128::from(wall_offset)).unwrap_or(0)
        });
        [ack, retry, expiry].into_iter().flatten().min()
    }

    /// Picks what to send now (at most the free part of the window), marks it in flight and
    /// returns the messages; `to_leader` marks them for a leader tab (which adopts them).
    /// At most `limit` go out (the circuit breaker's allowance).
    pub fn fill(&mut self, now: u64, to_leader: bool, limit: usize) -> Vec<ClientMessage> {
        let free = self
            .config
            .window
            .saturating_sub(self.in_flight.len())
            .min(limit);
        if !self.loaded || free == 0 || self.slots.len() == self.in_flight.len() {
            return Vec::new();
        }
        let picked = self.pick(free);
        let mut messages = Vec::with_capacity(picked.len());
        for id in picked {
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
            slot.flight = Flight::InFlight {
                deadline: now.saturating_add(self.config.ack_timeout_ms),
            };
            slot.attempts = slot.attempts.saturating_add(1);
            self.in_flight.insert(id);
            messages.push(ClientMessage::Publish {
                id: slot.entry.id.clone(),
                channel: slot.entry.channel.clone(),
                event: slot.entry.event.clone(),
                data: slot.entry.data.clone(),
                durable: to_leader,
                memory: false,
                priority: slot.entry.priority,
            });
        }
        messages
    }

    /// Merges the channels' sendable runs: highest priority first, then oldest id, never
    /// taking a channel's entry before its earlier ones.
    fn pick(&self, free: usize) -> Vec<String> {
        let mut runs: Vec<Box<dyn Iterator<Item = &String> + '_>> = Vec::new();
        let mut heap = BinaryHeap::new();
        // Serial channels: one with an entry in flight sends nothing more, and one at a time.
        let (busy, per_run): (BTreeSet<&str>, usize) = if self.config.serial_channels {
            let busy = self.in_flight.iter();
            let busy = busy.filter_map(|id| self.slots.get(id).map(|s| s.entry.channel.as_str()));
            (busy.collect(), 1)
        } else {
            (BTreeSet::new(), usize::MAX)
        };
        for (channel, ids) in &self.channels {
            if busy.contains(channel.as_str()) {
                continue;
            }
            let mut run = Box::new(
                ids.iter()
                    .skip_while(|id| self.in_flight.contains(*id))
                    .take_while(|id| self.is_ready(id))
                    .take(per_run),
            ) as Box<dyn Iterator<Item = &String>>;
            if let Some(first) = run.next() {
                heap.push((self.key(first), runs.len(), first));
                runs.push(run);
            }
        }
        let mut picked = Vec::with_capacity(free);
        while picked.len() < free {
            let Some((_, run, id)) = heap.pop() else {
                break;
            };
            picked.push(id.clone());
            if let Some(next) = runs.get_mut(run).and_then(Iterator::next) {
                heap.push((self.key(next), run, next));
            }
        }
        picked
    }

    fn is_ready(&self, id: &str) -> bool {
        self.slots
            .get(id)
            .is_some_and(|s| s.flight == Flight::Queued { not_before: 0 })
    }

    /// Max-heap key: higher priority, then the smaller id.
    fn key<'a>(&self, id: &'a String) -> (i32, Reverse<&'a String>) {
        let priority = self.slots.get(id.as_str()).map_or(0, |s| s.entry.priority);
        (priority, Reverse(id))
    }

    /// Forgets every entry and dead letter, here and in storage (logout); returns the ids of
    /// entries that were still waiting, so that their promises can be failed.
    pub fn clear(&mut self) -> Vec<(String, bool)> {
        let waiting = self
            .slots
            .iter()
            .map(|(id, slot)| (id.clone(), slot.waiter != Waiter::None))
            .collect();
        self.slots.clear();
        self.channels.clear();
        self.in_flight.clear();
        self.retry_at.clear();
        self.by_age.clear();
        self.dead.clear();
        self.ops.clear();
        self.ops.push(StoreOp::Clear);
        waiting
    }
}
