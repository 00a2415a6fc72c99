//! The messaging part: the app's subscriptions and what arrives for them, and the messages
//! that wait for an answer or for the connection.
//!
//! It owns the [`Router`] (subscriptions, per-channel sequence), the [`PendingTable`]
//! (requests and memory-only publishes), the [`Gates`] (throttle, debounce, per-frame
//! coalescing), the batch of publishes that may wait, the emits held for the connection, and
//! the recent publish ids that drop an event delivered twice. Inputs are `handle_*(now, …)`;
//! outputs are [`Messaging::poll_delivery`] and the messages its methods return;
//! [`Messaging::next_deadline`] is its one deadline.

pub mod gates;
pub mod pending;
mod reorder;
pub mod router;

use std::collections::{HashMap, HashSet, VecDeque};

use super::backoff::Backoff;
use super::error::SendError;
use crate::protocol::{Outbound, RawJson};
use gates::{Gates, Pace};
use pending::{AnswerPolicy, Failed, Outgoing, PendingTable};
use router::{Router, SubId};

/// An incoming event for some of the app's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Subscriptions to call, in priority order.
    pub subscribers: Vec<SubId>,
    /// Channel of the event.
    pub channel: String,
    /// Event name.
    pub event: String,
    /// Per-channel sequence number.
    pub seq: u64,
    /// Publish id, when the server passes it on.
    pub id: Option<String>,
    /// Payload, as JSON text.
    pub data: RawJson,
    /// `data` is the list of a Socket.IO event's arguments.
    pub spread: bool,
    /// Earlier deliveries this one replaced (throttle, debounce, coalescing).
    pub coalesced: u32,
}

/// What `subscribe` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeSpec {
    pub channel: String,
    /// Only this event name.
    pub event: Option<String>,
    /// Higher runs first.
    pub priority: i32,
    /// Resume after this channel sequence.
    pub since: Option<u64>,
    /// Throttle, debounce or per-frame coalescing.
    pub pace: Option<Pace>,
}

/// What happened to an incoming event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Nobody in this tab listens to its channel: not routed here.
    Unheard,
    /// Seen before (by sequence or by publish id): dropped.
    Duplicate,
    /// Routed to the subscribers that want it (maybe none).
    Fresh,
    /// Past a gap: kept until the events before it arrive (the channel is asked for again).
    Held,
}

/// The messaging part; see the module docs.
#[derive(Debug)]
pub struct Messaging {
    router: Router,
    pending: PendingTable,
    gates: Gates,
    /// Publishes that opted into batching, and when they must go at the latest.
    batched: Vec<Outbound>,
    batch_deadline: Option<u64>,
    batch_max: usize,
    /// Emits waiting for the connection (they have no answer to wait for).
    held_emits: VecDeque<Outbound>,
    send_buffer: usize,
    recent_ids: RecentIds,
    /// Events counted here, per channel, for servers that number none.
    local_seqs: HashMap<String, u64>,
    next_request: u64,
    deliveries: VecDeque<Delivery>,
    /// The server numbers each channel 1, 2, 3…: a jump is a gap to refetch.
    contiguous: bool,
    /// Events past a gap, and what the gaps ask of the client.
    reorder: reorder::Reorder,
}

impl Messaging {
    /// Empty; at most `send_buffer` messages wait for the connection, requests are retried
    /// with `request_backoff`, and at most `batch_max` publishes share a batch.
    pub fn new(send_buffer: usize, request_backoff: Backoff, batch_max: usize) -> Self {
        Self {
            router: Router::default(),
            pending: PendingTable::new(send_buffer, request_backoff),
            gates: Gates::default(),
            batched: Vec::new(),
            batch_deadline: None,
            batch_max: batch_max.max(1),
            held_emits: VecDeque::new(),
            send_buffer,
            recent_ids: RecentIds::default(),
            local_seqs: HashMap::new(),
            next_request: 0,
            deliveries: VecDeque::new(),
            contiguous: false,
            reorder: reorder::Reorder::default(),
        }
    }

    /// The server numbers each channel's events without holes (the relay's envelope does):
    /// a jump in sequence is a gap, asked for again.
    pub fn set_contiguous(&mut self, contiguous: bool) {
        self.contiguous = contiguous;
    }

    // ----- getters -----

    /// True when this tab has a subscription on `channel`.
    pub fn listens(&self, channel: &str) -> bool {
        self.router.channel(channel).is_some()
    }

    /// Channels subscribed.
    pub fn channel_count(&self) -> usize {
        self.router.channel_count()
    }

    /// Messages (and emits) waiting for the connection.
    pub fn buffered(&self) -> usize {
        self.pending.buffered() + self.held_emits.len()
    }

    /// Requests and publishes waiting for the connection (emits not counted).
    pub fn buffered_requests(&self) -> usize {
        self.pending.buffered()
    }

    /// Messages waiting for an answer, buffered ones included.
    pub fn awaiting(&self) -> usize {
        self.pending.len()
    }

    /// Deliveries folded into later ones by the gates.
    pub fn coalesced(&self) -> u64 {
        self.gates.coalesced
    }

    /// True when deliveries wait for the next animation frame.
    pub fn wants_frame(&self) -> bool {
        self.gates.wants_frame()
    }

    /// Where each subscribed channel resumes after a reconnect.
    pub fn resume_points(&self) -> Vec<Outbound> {
        self.router
            .resume_points()
            .map(|(channel, since)| Outbound::Subscribe {
                channel: channel.to_owned(),
                since,
            })
            .collect()
    }

    // ----- inputs: the app -----

    /// A new subscription; true as second value when it is the channel's first.
    pub fn subscribe(&mut self, spec: SubscribeSpec) -> (SubId, bool) {
        let (id, first) = self.router.add(
            &spec.channel,
            spec.event.as_deref(),
            spec.priority,
            spec.since,
        );
        if let Some(pace) = spec.pace {
            self.gates.add(id, pace);
        }
        (id, first)
    }

    /// Removes a subscription; returns its channel when that was the channel's last one.
    pub fn unsubscribe(&mut self, id: SubId) -> Option<String> {
        self.gates.remove(id);
        let emptied = self.router.remove(id);
        if let Some(channel) = &emptied {
            self.reorder.forget(channel);
        }
        emptied
    }

    /// A request id unique across the tabs of this browser (a leader forwards several tabs'
    /// requests on one connection).
    pub fn next_request_id(&mut self, tab_id: &str) -> String {
        self.next_request += 1;
        let mut id = String::with_capacity(tab_id.len() + 8);
        id.push_str(tab_id);
        id.push_str(".r");
        crate::protocol::raw::write_u64(&mut id, self.next_request);
        id
    }

    /// A message that waits for its answer: returned to send now when `open`, else buffered.
    pub fn push(
        &mut self,
        now: u64,
        message: Outgoing,
        policy: AnswerPolicy,
        open: bool,
    ) -> Result<Option<Outbound>, SendError<Outgoing>> {
        self.pending.push(now, message, policy, open)
    }

    /// A publish that may wait for others (up to the batch size, or `delay_ms`).
    pub fn push_batched(
        &mut self,
        now: u64,
        message: Outgoing,
        policy: AnswerPolicy,
        delay_ms: u64,
    ) -> Result<(), SendError<Outgoing>> {
        // Registered as waiting for its ack, but sent with the batch rather than now.
        let sent = self.pending.push(now, message, policy, true)?;
        self.batched.extend(sent);
        if self.batch_deadline.is_none() {
            self.batch_deadline = Some(now.saturating_add(delay_ms));
        }
        Ok(())
    }

    /// An emit for when the connection opens; false when the buffer is full.
    pub fn hold_emit(&mut self, message: Outbound) -> bool {
        if self.held_emits.len() >= self.send_buffer {
            return false;
        }
        self.held_emits.push_back(message);
        true
    }

    // ----- inputs: the connection -----

    /// The connection opened: every buffered message and held emit, in order, to send now.
    pub fn handle_open(&mut self, now: u64) -> Vec<Outbound> {
        let mut messages = self.pending.take_unsent(now);
        messages.extend(self.held_emits.drain(..));
        messages
    }

    /// The connection dropped: requests with retries left wait for the next one; the rest fail.
    pub fn handle_connection_lost(&mut self) -> Vec<Failed> {
        self.pending.connection_lost()
    }

    /// The client closed: everything waiting fails; returns the failures and how many held
    /// emits (which have no answer to fail) were dropped.
    pub fn handle_close(&mut self) -> (Vec<Failed>, usize) {
        let emits = self.held_emits.len();
        self.held_emits.clear();
        (self.pending.close_all(), emits)
    }

    /// The answer for `id` arrived: what waited for it, if anything.
    pub fn handle_answer(&mut self, id: &str) -> Option<Outgoing> {
        self.pending.answer(id)
    }

    /// The sequence of an event: the server's, or for a server that numbers none, the next
    /// of this client's count. Only channels someone listens to (this tab, or `for_others`)
    /// are counted, so a server sending endless event names cannot grow this client's memory.
    pub fn sequence(&mut self, channel: &str, seq: Option<u64>, for_others: bool) -> Option<u64> {
        if seq.is_some() {
            return seq;
        }
        if !self.listens(channel) && !for_others {
            return None;
        }
        let counter = self.local_seqs.entry(channel.to_owned()).or_insert(0);
        *counter += 1;
        Some(*counter)
    }

    /// An animation frame: coalesced deliveries go out.
    pub fn handle_frame(&mut self) {
        self.deliveries.extend(self.gates.frame());
    }

    /// Deadlines passed: paced deliveries whose time came, answers that did not come (retried
    /// or failed), a batch that waited long enough. Returns messages to send when `open`,
    /// and the failures.
    pub fn handle_timeout(&mut self, now: u64, open: bool) -> (Vec<Outbound>, Vec<Failed>) {
        self.deliveries.extend(self.gates.expire(now));
        let (mut messages, failed) = self.pending.expire(now, open);
        if open {
            messages.extend(self.poll_batch(now));
        }
        (messages, failed)
    }

    // ----- outputs -----

    /// The batched publishes, once the batch is full or its time came.
    #[must_use]
    pub fn poll_batch(&mut self, now: u64) -> Vec<Outbound> {
        if self.batched.len() >= self.batch_max || self.batch_deadline.is_some_and(|d| d <= now) {
            self.batch_deadline = None;
            return std::mem::take(&mut self.batched);
        }
        Vec::new()
    }

    /// The next delivery for the app.
    #[must_use]
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// When [`Messaging::handle_timeout`] must run next.
    pub fn next_deadline(&self) -> Option<u64> {
        [
            self.pending.next_deadline(),
            self.gates.next_deadline(),
            self.batch_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// The last few thousand publish ids delivered.
#[derive(Debug, Default)]
struct RecentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    const LIMIT: usize = 4_096;

    /// Records `id`; false when it was seen already.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() >= Self::LIMIT {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(id.to_owned());
        self.set.insert(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::InEvent;

    fn part() -> Messaging {
        Messaging::new(4, Backoff::default(), 3)
    }

    fn event(channel: &str, id: Option<&str>) -> InEvent {
        InEvent {
            channel: channel.into(),
            event: "e".into(),
            seq: None,
            id: id.map(str::to_owned),
            data: RawJson::null(),
            spread: false,
        }
    }

    fn spec(channel: &str) -> SubscribeSpec {
        SubscribeSpec {
            channel: channel.into(),
            ..SubscribeSpec::default()
        }
    }

    #[test]
    fn events_of_unnumbered_servers_are_counted_only_where_someone_listens() {
        let mut part = part();
        assert_eq!(part.sequence("c", None, false), None);
        let (sub, first) = part.subscribe(spec("c"));
        assert!(first);
        assert_eq!(part.handle_subscribed(0, "c", None, None, |_| false), 0);
        for expected in 1..=3 {
            let seq = part.sequence("c", None, false).unwrap();
            assert_eq!(seq, expected);
            assert_eq!(
                part.handle_event(0, event("c", None), seq, |_| false),
                Arrival::Fresh
            );
        }
        assert_eq!(
            part.sequence("c", Some(40), false),
            Some(40),
            "a server's number wins"
        );
        let delivered: Vec<u64> = std::iter::from_fn(|| part.poll_delivery())
            .map(|d| d.seq)
            .collect();
        assert_eq!(delivered, vec![1, 2, 3]);
        assert!(part.unsubscribe(sub).is_some());
    }

    #[test]
    fn the_same_publish_twice_is_dropped() {
        let mut part = part();
        part.subscribe(spec("c"));
        part.handle_subscribed(0, "c", Some(0), None, |_| false);
        assert_eq!(
            part.handle_event(0, event("c", Some("p")), 1, |_| false),
            Arrival::Fresh
        );
        assert_eq!(
            part.handle_event(0, event("c", Some("p")), 2, |_| false),
            Arrival::Duplicate
        );
        assert_eq!(
            part.handle_event(0, event("c", None), 1, |_| false),
            Arrival::Duplicate
        );
    }

    #[test]
    fn throttled_deliveries_wait_for_the_deadline() {
        let mut part = part();
        part.subscribe(SubscribeSpec {
            pace: Some(Pace::Throttle(100)),
            ..spec("c")
        });
        part.handle_subscribed(0, "c", Some(0), None, |_| false);
        for seq in 1..=3 {
            part.handle_event(10, event("c", None), seq, |_| false);
        }
        assert_eq!(
            part.poll_delivery().map(|d| d.seq),
            Some(1),
            "the first at once"
        );
        assert_eq!(part.poll_delivery(), None);
        let at = part.next_deadline().unwrap();
        let _ = part.handle_timeout(at, true);
        let last = part.poll_delivery().unwrap();
        assert_eq!((last.seq, last.coalesced), (3, 1));
    }

    #[test]
    fn a_batch_goes_when_full_or_when_its_time_comes() {
        let mut part = part();
        let policy = AnswerPolicy {
            timeout_ms: 1_000,
            retries: 0,
        };
        let publish = |id: &str| Outgoing::Publish {
            id: id.into(),
            channel: "c".into(),
            event: "e".into(),
            data: RawJson::null(),
        };
        part.push_batched(0, publish("a"), policy, 50).unwrap();
        assert!(part.poll_batch(10).is_empty());
        assert_eq!(part.next_deadline(), Some(50));
        let (sent, failed) = part.handle_timeout(50, true);
        assert_eq!(sent.len(), 1);
        assert!(failed.is_empty());
        for id in ["b", "c", "d"] {
            part.push_batched(60, publish(id), policy, 50).unwrap();
        }
        assert_eq!(part.poll_batch(61).len(), 3, "full at three");
    }

    #[test]
    fn held_emits_are_bounded_and_go_on_open() {
        let mut part = part();
        let emit = || Outbound::Emit {
            event: "e".into(),
            data: RawJson::null(),
            spread: false,
        };
        for _ in 0..4 {
            assert!(part.hold_emit(emit()));
        }
        assert!(!part.hold_emit(emit()));
        assert_eq!(part.buffered(), 4);
        assert_eq!(part.handle_open(0).len(), 4);
        assert_eq!(part.buffered(), 0);
    }
}
