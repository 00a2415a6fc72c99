//! Each channel's events in sequence order. On a server that numbers a channel's events without
//! holes (the relay), an event past a gap is kept here while the channel is asked for again
//! from the last event seen; the replay fills the gap and what was kept follows in order. What
//! the replay cannot bring is told to the app (`gap`), and what was kept is delivered after it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::router::{LiveCheck, SeqCheck, SubId};
use super::{Arrival, Delivery, Messaging};
use crate::protocol::InEvent;

/// Most events kept past a gap per channel; beyond, they are dropped (the replay brings them).
const HELD_MAX: usize = 1_024;

#[derive(Debug, Default)]
pub(super) struct Reorder {
    held: HashMap<String, BTreeMap<u64, InEvent>>,
    /// Events that will never come, per channel: (channel, from, to).
    missed: VecDeque<(String, u64, u64)>,
    /// Channels to ask for again, from a sequence.
    refetch: VecDeque<(String, u64)>,
}

impl Reorder {
    fn hold(&mut self, seq: u64, event: InEvent) {
        let held = self.held.entry(event.channel.clone()).or_default();
        if held.len() < HELD_MAX {
            held.insert(seq, event);
        }
    }

    /// The channel has no subscriber left.
    pub(super) fn forget(&mut self, channel: &str) {
        self.held.remove(channel);
    }
}

impl Messaging {
    /// A subscription is live on the server at `seq` (`None`: as counted here), answering a
    /// subscribe from `since` when the server says so; `internal` as for
    /// [`Messaging::handle_event`]. Returns the channel's head.
    pub fn handle_subscribed(
        &mut self,
        now: u64,
        channel: &str,
        seq: Option<u64>,
        since: Option<u64>,
        internal: impl Fn(SubId) -> bool,
    ) -> u64 {
        // Nothing known of the channel's numbering yet: nothing to drop, so that a server
        // numbering from 0 has its first event delivered.
        let Some(seq) = seq.or_else(|| self.local_seqs.get(channel).copied()) else {
            return 0;
        };
        match self.router.mark_live(channel, seq, since, self.contiguous) {
            LiveCheck::Live => {}
            LiveCheck::Refetch { since } => {
                self.reorder.refetch.push_back((channel.to_owned(), since))
            }
            LiveCheck::Answered { head } => self.release(now, channel, head, &internal),
        }
        seq
    }

    /// The server says events up to `to` of `channel` are gone; false when none was missing.
    pub fn skip_gap(&mut self, channel: &str, to: u64) -> bool {
        self.router.skip_to(channel, to)
    }

    /// Events that will never come, (channel, from, to), for the app.
    pub fn poll_missed(&mut self) -> Option<(String, u64, u64)> {
        self.reorder.missed.pop_front()
    }

    /// A channel to ask the server for again, from a sequence.
    pub fn poll_refetch(&mut self) -> Option<(String, u64)> {
        self.reorder.refetch.pop_front()
    }

    /// An event (numbered by [`Messaging::sequence`]): dropped when seen before, kept when
    /// past a gap, else routed to its subscribers, skipping those `internal(sub)` says are
    /// not the app's; deliveries come out of [`Messaging::poll_delivery`], now or when their
    /// gate opens. Events kept before it that now follow in order go with it.
    pub fn handle_event(
        &mut self,
        now: u64,
        event: InEvent,
        seq: u64,
        internal: impl Fn(SubId) -> bool,
    ) -> Arrival {
        let channel = event.channel.clone();
        let arrival = self.accept(now, event, seq, &internal);
        if arrival == Arrival::Fresh {
            self.follow_on(now, &channel, &internal);
        }
        arrival
    }

    fn accept(
        &mut self,
        now: u64,
        event: InEvent,
        seq: u64,
        internal: &impl Fn(SubId) -> bool,
    ) -> Arrival {
        match self.router.accept_seq(&event.channel, seq, self.contiguous) {
            SeqCheck::Fresh => {}
            SeqCheck::Skipped { from, to } => {
                self.reorder
                    .missed
                    .push_back((event.channel.clone(), from, to))
            }
            SeqCheck::Refetch { since } => {
                self.reorder
                    .refetch
                    .push_back((event.channel.clone(), since));
                self.reorder.hold(seq, event);
                return Arrival::Held;
            }
            SeqCheck::Awaiting => {
                self.reorder.hold(seq, event);
                return Arrival::Held;
            }
            SeqCheck::Duplicate => return Arrival::Duplicate,
            // A leader passes on channels only its follower tabs want: not a duplicate here.
            SeqCheck::Unsubscribed => return Arrival::Unheard,
        }
        if let Some(id) = &event.id {
            // The same publish under another sequence (a server that sent it twice).
            if !self.recent_ids.insert(id) {
                return Arrival::Duplicate;
            }
        }
        self.route(now, event, seq, internal);
        Arrival::Fresh
    }

    /// Kept events that follow the channel's last one in order go out.
    fn follow_on(&mut self, now: u64, channel: &str, internal: &impl Fn(SubId) -> bool) {
        while let Some(last) = self.router.channel(channel).and_then(|c| c.last_seq) {
            let Some(held) = self.reorder.held.get_mut(channel) else {
                return;
            };
            // What the stream has passed is dropped; the next one goes if it is next.
            while held.first_key_value().is_some_and(|(seq, _)| *seq <= last) {
                held.pop_first();
            }
            let next = match held.first_key_value() {
                Some((seq, _)) if *seq == last + 1 => held.pop_first(),
                _ => None,
            };
            let Some((seq, event)) = next else {
                return;
            };
            self.accept(now, event, seq, internal);
        }
    }

    /// The answer to a refetch came: what it did not bring is missed, and the kept events go
    /// out in order, each after the gap before it is told.
    fn release(&mut self, now: u64, channel: &str, head: u64, internal: &impl Fn(SubId) -> bool) {
        let held = self.reorder.held.remove(channel).unwrap_or_default();
        for (seq, event) in held {
            let last = self
                .router
                .channel(channel)
                .and_then(|c| c.last_seq)
                .unwrap_or(0);
            if seq <= last {
                continue;
            }
            if seq > last + 1 {
                self.reorder
                    .missed
                    .push_back((channel.to_owned(), last + 1, seq - 1));
                self.router.skip_to(channel, seq - 1);
            }
            self.accept(now, event, seq, internal);
        }
        let last = self
            .router
            .channel(channel)
            .and_then(|c| c.last_seq)
            .unwrap_or(0);
        if head > last && self.router.skip_to(channel, head) {
            self.reorder
                .missed
                .push_back((channel.to_owned(), last + 1, head));
        }
    }

    fn route(&mut self, now: u64, event: InEvent, seq: u64, internal: &impl Fn(SubId) -> bool) {
        let subscribers = self.router.route(&event.channel, &event.event);
        let mut direct = Vec::with_capacity(subscribers.len());
        let delivery = Delivery {
            subscribers: Vec::new(),
            channel: event.channel,
            event: event.event,
            seq,
            id: event.id,
            data: event.data,
            spread: event.spread,
            coalesced: 0,
        };
        for sub in subscribers {
            if internal(sub) {
                continue;
            }
            if self.gates.paces(sub) {
                let own = Delivery {
                    subscribers: vec![sub],
                    ..delivery.clone()
                };
                if let Some(due) = self.gates.offer(now, sub, own) {
                    self.deliveries.push_back(due);
                }
            } else {
                direct.push(sub);
            }
        }
        if !direct.is_empty() {
            self.deliveries.push_back(Delivery {
                subscribers: direct,
                ..delivery
            });
        }
    }
}
