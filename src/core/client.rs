//! The client core: one sans-IO state machine for a syncline connection.
//!
//! Call order, as in quinn-proto: feed inputs with the `handle_*` methods and the app's
//! commands (`connect`, `subscribe`, `publish`, `request`, …), each taking `now` in
//! milliseconds of a monotonic clock; then drain [`ClientCore::poll_action`] (what the browser
//! must do) and [`ClientCore::poll_event`] (what the app must hear), and arm one timer for
//! [`ClientCore::poll_timeout`], calling [`ClientCore::handle_timeout`] when it fires.
//! Inputs that name an older `attempt` than the current one are ignored, so late callbacks
//! from a socket that was already replaced cannot confuse the machine.

use std::collections::VecDeque;

use super::breaker::Breaker;
use super::config::Config;
use super::docs::{Conflict, Docs};
use super::error::{ClientError, RequestError, SendError};
use super::gates::Gates;
use super::id::IdGen;
use super::metrics::Metrics;
use super::outbox::{DeadLetter, Outbox, OutboxEvent, StoreOp};
use super::pending::{AnswerPolicy, Outgoing, PendingTable};
use super::rng::Rng;
use super::router::{Router, SubId};
use super::state::{ConnectionState, ErrorInfo, Role, Snapshot, StorageState};
use super::tabs::{SharedState, TabAction, Tabs};
use super::timer::{Timer, TimerTable};
use crate::protocol::envelope::{ClientMessage, RawJson, encode_batch};

/// What the browser must do for the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Call the app's `auth` callback and report with [`ClientCore::handle_auth`].
    RequestAuth { attempt: u64 },
    /// Open a WebSocket to `url`; report its events with this `attempt`.
    OpenSocket { attempt: u64, url: String },
    /// Send a text frame on the open socket.
    Send(String),
    /// Close the socket of `attempt` (if it still exists).
    CloseSocket {
        attempt: u64,
        code: u16,
        reason: &'static str,
    },
    /// Apply these storage changes, in order (one transaction is fine), then report with
    /// [`ClientCore::handle_stored`] or [`ClientCore::handle_store_failed`].
    Store(Vec<StoreOp>),
    /// Leader: send an envelope frame to one follower tab, or to all (`None`), on the tab bus.
    ToTab { to: Option<String>, frame: String },
    /// Leader: tell every tab the connection's state.
    ShareState(SharedState),
    /// Call [`ClientCore::handle_animation_frame`] at the next animation frame.
    RequestFrame,
    /// Something for the tab bus, the leader's lock or the shared outbox (see [`TabAction`]).
    Tab(TabAction),
}

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

/// A document as it is after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocChange {
    pub key: String,
    pub value: RawJson,
    pub version: u64,
    pub pending: usize,
    pub rev: u64,
}

/// What the app must hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An event for subscribers.
    Message(Delivery),
    /// A request was answered or failed.
    RequestDone {
        id: String,
        result: Result<RawJson, RequestError>,
    },
    /// A publish was acked (with its sequence) or failed.
    PublishDone {
        id: String,
        result: Result<u64, RequestError>,
    },
    /// A durable publish is stored locally and will be sent: its promise resolves as queued.
    PublishQueued { id: String },
    /// A durable publish reached the server (whether or not anyone still waits for it).
    Delivered { id: String, seq: u64 },
    /// A durable publish was given up: refused for good, or past its retention.
    DeadLetter(DeadLetter),
    /// Documents whose visible value changed (at most once per key per animation frame).
    DocsChanged(Vec<DocChange>),
    /// Something went wrong; the client carries on (or reconnects).
    Error(ClientError),
}

/// Where the current connection attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Down,
    Auth,
    Socket,
    Hello,
    Open,
}

/// The client's state machine; see the module docs for the call order.
#[derive(Debug)]
pub struct ClientCore {
    pub(super) config: Config,
    pub(super) snap: Snapshot,
    /// What JS sees: `snap`, or for a follower the leader's shared state over it; versioned.
    pub(super) view: Snapshot,
    /// This tab among the others: election, role, the leader's hub, shared state.
    pub(super) tabs: Tabs,
    pub(super) breaker: Breaker,
    pub(super) metrics: Metrics,
    pub(super) gates: Gates,
    pub(super) docs: Docs,
    /// Channels watched for documents, and their internal subscription.
    pub(super) doc_channels: std::collections::HashMap<String, SubId>,
    /// Settles `Custom` conflicts (the app's resolver).
    pub(super) resolver: Option<AppResolver>,
    /// Recently delivered publish ids, to drop an event delivered twice.
    pub(super) recent_ids: RecentIds,
    /// Publishes that opted into batching, and when they must go at the latest.
    pub(super) batched: Vec<String>,
    pub(super) batch_deadline: Option<u64>,
    /// Documents changed since the last animation frame.
    pub(super) docs_changed: std::collections::BTreeSet<String>,
    pub(super) frame_requested: bool,
    pub(super) want_open: bool,
    pub(super) attempt_id: u64,
    pub(super) phase: Phase,
    pub(super) token: Option<String>,
    pub(super) timers: TimerTable,
    pub(super) rng: Rng,
    pub(super) router: Router,
    pub(super) pending: PendingTable,
    pub(super) actions: VecDeque<Action>,
    pub(super) events: VecDeque<Event>,
    pub(super) ping_sent_at: Option<u64>,
    pub(super) last_rx: u64,
    pub(super) was_open: bool,
    pub(super) outbox: Outbox,
    pub(super) storage: StorageState,
    /// Unix ms minus monotonic ms, to date entries and apply retention.
    pub(super) wall_offset: i64,
    ids: IdGen,
    /// Frames to send at the end of this input, several per frame when there are many.
    outgoing: Vec<String>,
    next_request: u64,
    /// The Socket.IO translation, when the server speaks it.
    pub(super) sio: super::socketio::SioWire,
    /// Emits waiting for the connection (they have no answer to wait for).
    pub(super) held_emits: VecDeque<String>,
}

impl ClientCore {
    /// A client in the `idle` state.
    pub fn new(config: Config) -> Self {
        let rng = Rng::new(config.seed);
        let pending = PendingTable::new(config.send_buffer, config.request_backoff);
        let outbox = Outbox::new(config.outbox);
        let breaker = Breaker::new(config.breaker_threshold, config.breaker_cooldown_ms);
        let docs = Docs::new(config.conflict_strategy, config.audit_size);
        let tabs = Tabs::new(&config.tab_id);
        Self {
            config,
            snap: Snapshot::default(),
            view: Snapshot::default(),
            tabs,
            breaker,
            metrics: Metrics::default(),
            gates: Gates::default(),
            docs,
            doc_channels: std::collections::HashMap::new(),
            resolver: None,
            recent_ids: RecentIds::default(),
            batched: Vec::new(),
            batch_deadline: None,
            docs_changed: std::collections::BTreeSet::new(),
            frame_requested: false,
            want_open: false,
            attempt_id: 0,
            phase: Phase::Down,
            token: None,
            timers: TimerTable::default(),
            rng,
            router: Router::default(),
            pending,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            ping_sent_at: None,
            last_rx: 0,
            was_open: false,
            outbox,
            storage: StorageState::Loading,
            wall_offset: 0,
            ids: IdGen::default(),
            outgoing: Vec::new(),
            next_request: 0,
            sio: super::socketio::SioWire::default(),
            held_emits: VecDeque::new(),
        }
    }

    // ----- getters -----

    /// The current state as the app sees it, versioned.
    pub fn snapshot(&self) -> &Snapshot {
        &self.view
    }

    /// This tab's role.
    pub fn role(&self) -> Role {
        self.tabs.role()
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True while the connection is open.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    // ----- outputs -----

    /// The next thing the browser must do.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next thing the app must hear.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`ClientCore::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.next()
    }

    // ----- app commands -----

    /// Start connecting (and keep reconnecting) until [`ClientCore::disconnect`].
    pub fn connect(&mut self, now: u64) {
        self.want_open = true;
        if self.phase == Phase::Down {
            self.attempt_now(now);
        }
        self.finish(now);
    }

    /// Close the connection and stay closed; everything waiting for an answer fails.
    pub fn disconnect(&mut self, now: u64) {
        let _ = now;
        self.want_open = false;
        if self.sio_active() && self.is_open() {
            // Tell a Socket.IO server that this is a client disconnect, not a lost transport.
            let ns = match &self.config.protocol {
                super::socketio::Protocol::SocketIo { namespace } => namespace.clone(),
                super::socketio::Protocol::Envelope => "/".to_owned(),
            };
            let bye = crate::protocol::socketio::Packet::new(
                crate::protocol::socketio::PacketType::Disconnect,
                &ns,
            );
            self.push_action(Action::Send(bye.encode()));
        }
        self.drop_socket(1000, "client disconnect");
        if !self.held_emits.is_empty() {
            let mut reason = String::new();
            crate::protocol::json::write_u64(&mut reason, self.held_emits.len() as u64);
            reason.push_str(" emit(s) not sent: the client was disconnected");
            self.held_emits.clear();
            self.report_error(ClientError::EmitDropped(reason));
        }
        for failed in self.pending.close_all() {
            self.report_failure(failed.message, failed.error);
        }
        self.timers = TimerTable::default();
        self.set_state(ConnectionState::Closed);
        self.finish(now);
    }

    /// Skip the wait: try to connect now if waiting or offline-by-error.
    pub fn reconnect_now(&mut self, now: u64) {
        if self.want_open && self.phase == Phase::Down {
            self.attempt_now(now);
        }
        self.finish(now);
    }

    /// Subscribe to `channel` (optionally one `event`), resuming after `since` if given.
    pub fn subscribe(
        &mut self,
        now: u64,
        channel: &str,
        event: Option<&str>,
        priority: i32,
        since: Option<u64>,
    ) -> SubId {
        let _ = now;
        let (id, first) = self.router.add(channel, event, priority, since);
        if first && self.is_open() {
            self.send(ClientMessage::Subscribe {
                channel: channel.to_owned(),
                since,
            });
        }
        self.finish(now);
        id
    }

    /// Remove a subscription; the channel is left when its last one goes.
    pub fn unsubscribe(&mut self, now: u64, id: SubId) {
        let _ = now;
        if let Some(channel) = self.router.remove(id) {
            // Other tabs may still want the channel through this (leader) connection.
            if self.is_open() && !self.tabs.hub.has_channel(&channel) {
                self.send(ClientMessage::Unsubscribe { channel });
            }
        }
        self.finish(now);
    }

    /// Unix ms at monotonic `now`.
    pub fn wall(&self, now: u64) -> u64 {
        u64::try_from(i128::from(now) + i128::from(self.wall_offset)).unwrap_or(0)
    }

    /// Tells the core the wall-clock time (Unix ms) at monotonic `now`.
    pub fn set_wall_clock(&mut self, now: u64, unix_ms: u64) {
        self.wall_offset = i64::try_from(i128::from(unix_ms) - i128::from(now)).unwrap_or(0);
    }

    /// A new publish id: a UUIDv7 that sorts after every earlier one from this client.
    pub fn next_publish_id(&mut self, now: u64, random: [u8; 10]) -> String {
        let wall = self.wall(now);
        self.ids.next(wall, random)
    }

    /// Publish without the outbox: sent now when open, else buffered in memory (bounded);
    /// nothing is retried. The answer comes as [`Event::PublishDone`] with this `id`.
    pub fn publish(
        &mut self,
        now: u64,
        id: String,
        channel: String,
        event: String,
        data: RawJson,
    ) -> Result<(), SendError<Outgoing>> {
        let message = Outgoing::Publish {
            id,
            channel,
            event,
            data,
        };
        let policy = AnswerPolicy {
            timeout_ms: self.config.publish_timeout_ms,
            retries: 0,
        };
        self.push_outgoing(now, message, policy)
    }

    /// Ask the server; the answer comes as [`Event::RequestDone`] with the returned id.
    pub fn request(
        &mut self,
        now: u64,
        event: String,
        data: RawJson,
        policy: Option<AnswerPolicy>,
    ) -> Result<String, SendError<Outgoing>> {
        self.request_with(now, event, data, false, policy)
    }

    /// [`ClientCore::request`], where `spread` says `data` is a list of arguments to pass
    /// separately (Socket.IO's `emitWithAck(event, ...args)`).
    pub fn request_with(
        &mut self,
        now: u64,
        event: String,
        data: RawJson,
        spread: bool,
        policy: Option<AnswerPolicy>,
    ) -> Result<String, SendError<Outgoing>> {
        self.next_request += 1;
        // Unique across tabs: a leader forwards requests of several tabs on one connection.
        let mut id = format!("{}.r", self.config.tab_id);
        crate::protocol::json::write_u64(&mut id, self.next_request);
        let message = Outgoing::Request {
            id: id.clone(),
            event,
            data,
            spread,
        };
        let policy = policy.unwrap_or(self.config.request);
        self.push_outgoing(now, message, policy).map(|()| id)
    }

    /// An event with no answer (Socket.IO's `emit`): sent now when open, else held in memory
    /// (bounded by the send buffer) until the connection opens. `spread` says `data` is a
    /// list of arguments.
    pub fn emit(
        &mut self,
        now: u64,
        event: String,
        data: RawJson,
        spread: bool,
    ) -> Result<(), SendError<()>> {
        if self.snap.state == ConnectionState::Closed {
            return Err(SendError::Closed { message: () });
        }
        let message = ClientMessage::Emit {
            event,
            data,
            spread,
        };
        if self.is_open() {
            self.send(message);
        } else if self.held_emits.len() < self.config.send_buffer {
            self.held_emits.push_back(message.encode());
        } else {
            return Err(SendError::BufferFull {
                capacity: self.config.send_buffer,
                message: (),
            });
        }
        self.finish(now);
        Ok(())
    }

    fn push_outgoing(
        &mut self,
        now: u64,
        message: Outgoing,
        policy: AnswerPolicy,
    ) -> Result<(), SendError<Outgoing>> {
        if self.snap.state == ConnectionState::Closed {
            return Err(SendError::Closed { message });
        }
        let result = self.pending.push(now, message, policy, self.is_open());
        let result = result.map(|frame| self.outgoing.extend(frame));
        self.finish(now);
        result
    }

    // ----- shared helpers -----

    /// Queues a message; it goes out at the end of this input, batched with the others.
    pub(super) fn send(&mut self, message: ClientMessage) {
        self.outgoing.push(message.encode());
    }

    /// Queues encoded messages.
    pub(super) fn send_batched(&mut self, frames: Vec<String>) {
        self.outgoing.extend(frames);
    }

    /// Any other action goes after the messages queued before it.
    pub(super) fn push_action(&mut self, action: Action) {
        self.flush_outgoing();
        self.actions.push_back(action);
    }

    fn flush_outgoing(&mut self) {
        self.metrics.messages_out += self.outgoing.len() as u64;
        if self.sio_active() {
            // One Socket.IO packet per frame.
            let messages = std::mem::take(&mut self.outgoing);
            for frame in self.sio_translate(messages) {
                self.actions.push_back(Action::Send(frame));
            }
            return;
        }
        let mut messages = std::mem::take(&mut self.outgoing).into_iter().peekable();
        while messages.peek().is_some() {
            let chunk: Vec<String> = messages
                .by_ref()
                .take(self.config.max_batch.max(1))
                .collect();
            self.actions.push_back(Action::Send(encode_batch(chunk)));
        }
    }

    pub(super) fn report_failure(&mut self, message: Outgoing, error: RequestError) {
        self.events.push_back(match message {
            Outgoing::Request { id, .. } => Event::RequestDone {
                id,
                result: Err(error),
            },
            Outgoing::Publish { id, .. } => Event::PublishDone {
                id,
                result: Err(error),
            },
        });
    }

    pub(super) fn report_error(&mut self, error: ClientError) {
        self.metrics.error(error.kind());
        self.snap.last_error = Some(ErrorInfo {
            kind: error.kind(),
            message: error.to_string(),
        });
        self.events.push_back(Event::Error(error));
    }

    pub(super) fn set_state(&mut self, state: ConnectionState) {
        self.snap.state = state;
    }

    /// Ends every input: fills the outbox window, sends what was queued, asks for storage,
    /// reports outbox events, re-arms timers, shares the state with other tabs, and bumps the
    /// snapshot version when what the app sees changed.
    pub(super) fn finish(&mut self, now: u64) {
        if self.sio_active() {
            // Subscriptions are live at once on Socket.IO: settle them within this input.
            self.flush_outgoing();
            self.sio_settle(now);
        }
        if self.is_open() {
            let allowance = self.breaker.allowance(now);
            let messages = self
                .outbox
                .fill(now, self.role() == Role::Follower, allowance);
            self.breaker.sent(messages.len());
            for message in messages {
                self.send(message);
            }
            if self.batched.len() >= self.config.batch_max.max(1)
                || self.batch_deadline.is_some_and(|d| d <= now)
            {
                self.batch_deadline = None;
                let batched = std::mem::take(&mut self.batched);
                self.outgoing.extend(batched);
            }
        }
        self.flush_outgoing();
        self.sio_settle(now);
        self.flush_tab_out();
        let ops = self.outbox.take_ops();
        if !ops.is_empty() && self.storage != StorageState::Memory {
            self.actions.push_back(Action::Store(ops));
        }
        self.report_outbox_events();
        match self.pending.next_deadline() {
            Some(at) => self.timers.set(Timer::Pending, at),
            None => self.timers.stop(Timer::Pending),
        }
        match self.outbox.next_deadline(self.wall_offset) {
            Some(at) => self.timers.set(Timer::Outbox, at),
            None => self.timers.stop(Timer::Outbox),
        }
        // Moves an open breaker whose cooldown passed to half-open, so its deadline is ahead.
        self.breaker.state(now);
        let paced = [
            self.gates.next_deadline(),
            self.batch_deadline,
            self.breaker.next_deadline(),
        ];
        match paced.into_iter().flatten().min() {
            Some(at) => self.timers.set(Timer::Paced, at),
            None => self.timers.stop(Timer::Paced),
        }
        self.docs_changed.extend(self.docs.take_changed());
        if (!self.docs_changed.is_empty() || self.gates.wants_frame()) && !self.frame_requested {
            self.frame_requested = true;
            self.actions.push_back(Action::RequestFrame);
        }
        self.snap.retry_at = self.timers.get(Timer::Reconnect);
        (self.snap.buffered, self.snap.pending, self.snap.channels) = (
            self.pending.buffered() + self.held_emits.len(),
            self.pending.len(),
            self.router.channel_count(),
        );
        self.snap.outbox = super::state::OutboxStatus {
            depth: self.outbox.len(),
            in_flight: self.outbox.in_flight(),
            oldest_created_at: self.outbox.oldest_created_at(),
            dead_letters: self.outbox.dead_count(),
            storage: self.storage,
            last_error: self.snap.outbox.last_error.take(),
            breaker: self.breaker.state(now).as_str(),
        };
        self.snap.role = self.tabs.role();
        self.snap.tabs = self.tabs.linked_tabs();
        self.share_state(now, false);
        match self.tabs.next_deadline() {
            Some(at) => self.timers.set(Timer::Tabs, at),
            None => self.timers.stop(Timer::Tabs),
        }
        self.update_view();
    }

    fn report_outbox_events(&mut self) {
        for event in self.outbox.take_events() {
            match event {
                OutboxEvent::Acked { id, seq, settles } => {
                    if settles {
                        self.events.push_back(Event::PublishDone {
                            id: id.clone(),
                            result: Ok(seq),
                        });
                    }
                    self.events.push_back(Event::Delivered { id, seq });
                }
                OutboxEvent::Queued { id } => self.events.push_back(Event::PublishQueued { id }),
                OutboxEvent::Rejected { id, reason } => self.reject(id, reason),
                OutboxEvent::DeadLetter(letter) => {
                    // A refused or expired document change is rolled back.
                    if self.docs.rollback(&letter.entry.id).is_some() {
                        self.report_error(ClientError::ChangeRolledBack {
                            id: letter.entry.id.clone(),
                            reason: letter.reason.clone(),
                        });
                    }
                    self.events.push_back(Event::DeadLetter(letter));
                }
            }
        }
    }

    fn reject(&mut self, id: String, reason: String) {
        self.events.push_back(Event::PublishDone {
            id,
            result: Err(RequestError::Rejected {
                reason,
                retryable: false,
            }),
        });
    }
}

/// The app's conflict resolver.
pub struct AppResolver(pub Box<dyn FnMut(&Conflict) -> Option<crate::protocol::value::Value>>);

impl std::fmt::Debug for AppResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppResolver")
    }
}

/// The last few thousand publish ids delivered.
#[derive(Debug, Default)]
pub struct RecentIds {
    order: VecDeque<String>,
    set: std::collections::HashSet<String>,
}

impl RecentIds {
    const LIMIT: usize = 4_096;

    /// Records `id`; false when it was seen already.
    pub fn insert(&mut self, id: &str) -> bool {
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
