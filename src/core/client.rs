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

use super::config::Config;
use super::docs::{DocChange, Documents};
use super::error::{ClientError, RequestError, SendError};
use super::hub::Hub;
use super::id::IdGen;
use super::messaging::pending::{AnswerPolicy, Outgoing};
use super::messaging::router::SubId;
use super::messaging::{Delivery, Messaging};
use super::metrics::Metrics;
use super::outbox::{DeadLetter, Durable, DurableEvent, OutboxEvent, StoreOp};
use super::rng::Rng;
use super::state::{ConnectionState, ErrorInfo, Role, Snapshot};
use super::tabs::SharedState;
use super::timer::{Timer, TimerTable};
use crate::protocol::{Encoded, Inbound, Outbound, RawJson, Wire};

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
    pub(super) role: Role,
    pub(super) hub: Hub,
    /// A follower's latest copy of the leader's state.
    pub(super) leader_view: Option<SharedState>,
    pub(super) last_shared: Option<SharedState>,
    /// When `last_shared` went out, and when a held-back change of counts is due.
    pub(super) shared_at: u64,
    pub(super) share_due: Option<u64>,
    /// Frames for follower tabs at the end of this input.
    pub(super) tab_out: Vec<(Option<String>, String)>,
    pub(super) metrics: Metrics,
    /// The documents part.
    pub(super) docs: Documents,
    pub(super) frame_requested: bool,
    pub(super) want_open: bool,
    pub(super) attempt_id: u64,
    pub(super) phase: Phase,
    pub(super) token: Option<String>,
    pub(super) timers: TimerTable,
    pub(super) rng: Rng,
    /// The messaging part: subscriptions, answers awaited, pacing, batches, held emits.
    pub(super) messaging: Messaging,
    pub(super) actions: VecDeque<Action>,
    pub(super) events: VecDeque<Event>,
    pub(super) ping_sent_at: Option<u64>,
    pub(super) last_rx: u64,
    pub(super) was_open: bool,
    /// The outbox part: durable publishes, the breaker, storage.
    pub(super) outbox: Durable,
    /// Unix ms minus monotonic ms, to date entries and apply retention.
    pub(super) wall_offset: i64,
    ids: IdGen,
    /// Messages to send at the end of this input (the wire may put several in one frame).
    outgoing: Vec<Outbound>,
    /// The server's protocol (a follower's link to its leader speaks the envelope).
    pub(super) wire: Box<dyn Wire>,
    /// `wire` is the envelope of a follower's link to its leader.
    pub(super) wire_is_link: bool,
    /// What the wire answered by itself, handled before the input ends.
    answered: VecDeque<Inbound>,
}

impl ClientCore {
    /// A client in the `idle` state.
    pub fn new(config: Config) -> Self {
        let rng = Rng::new(config.seed);
        let messaging =
            Messaging::new(config.send_buffer, config.request_backoff, config.batch_max);
        let outbox = Durable::new(
            config.outbox,
            config.breaker_threshold,
            config.breaker_cooldown_ms,
        );
        let docs = Documents::new(config.conflict_strategy, config.audit_size);
        let wire = config.protocol.wire();
        Self {
            config,
            snap: Snapshot::default(),
            view: Snapshot::default(),
            role: Role::Solo,
            hub: Hub::default(),
            leader_view: None,
            last_shared: None,
            shared_at: 0,
            share_due: None,
            tab_out: Vec::new(),
            metrics: Metrics::default(),
            docs,
            frame_requested: false,
            want_open: false,
            attempt_id: 0,
            phase: Phase::Down,
            token: None,
            timers: TimerTable::default(),
            rng,
            messaging,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            ping_sent_at: None,
            last_rx: 0,
            was_open: false,
            outbox,
            wall_offset: 0,
            ids: IdGen::default(),
            outgoing: Vec::new(),
            wire,
            wire_is_link: false,
            answered: VecDeque::new(),
        }
    }

    // ----- getters -----

    /// The current state as the app sees it, versioned.
    pub fn snapshot(&self) -> &Snapshot {
        &self.view
    }

    /// This tab's role.
    pub fn role(&self) -> Role {
        self.role
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
        if self.is_open() {
            // A protocol that tells a client disconnect from a lost transport says goodbye.
            if let Some(bye) = self.wire.goodbye() {
                self.push_action(Action::Send(bye));
            }
        }
        self.drop_socket(1000, "client disconnect");
        let (failures, emits) = self.messaging.handle_close();
        if emits > 0 {
            let mut reason = crate::protocol::raw::decimal(emits as u64);
            reason.push_str(" emit(s) not sent: the client was disconnected");
            self.report_error(ClientError::EmitDropped(reason));
        }
        for failed in failures {
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
        let (id, first) = self.messaging.subscribe(super::messaging::SubscribeSpec {
            channel: channel.to_owned(),
            event: event.map(str::to_owned),
            priority,
            since,
            pace: None,
        });
        if first && self.is_open() {
            self.send(Outbound::Subscribe {
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
        if let Some(channel) = self.messaging.unsubscribe(id) {
            // Other tabs may still want the channel through this (leader) connection.
            if self.is_open() && !self.hub.has_channel(&channel) {
                self.send(Outbound::Unsubscribe { channel });
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
        let id = self.messaging.next_request_id(&self.config.tab_id);
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
        let message = Outbound::Emit {
            event,
            data,
            spread,
        };
        if self.is_open() {
            self.send(message);
        } else if !self.messaging.hold_emit(message) {
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
        let result = self.messaging.push(now, message, policy, self.is_open());
        let result = result.map(|frame| self.outgoing.extend(frame));
        self.finish(now);
        result
    }

    // ----- shared helpers -----

    /// Queues a message; it goes out at the end of this input, batched with the others.
    pub(super) fn send(&mut self, message: Outbound) {
        self.outgoing.push(message);
    }

    /// Queues messages.
    pub(super) fn send_batched(&mut self, messages: Vec<Outbound>) {
        self.outgoing.extend(messages);
    }

    /// Any other action goes after the messages queued before it.
    pub(super) fn push_action(&mut self, action: Action) {
        self.flush_outgoing();
        self.actions.push_back(action);
    }

    /// Encodes what was queued through the wire, into as few frames as the wire allows.
    fn flush_outgoing(&mut self) {
        self.transmit_wire();
        if self.outgoing.is_empty() {
            return;
        }
        self.metrics.messages_out += self.outgoing.len() as u64;
        let mut frames = Vec::with_capacity(self.outgoing.len());
        for message in std::mem::take(&mut self.outgoing) {
            match self.wire.encode(message) {
                Ok(Encoded::Frame(frame)) => frames.push(frame),
                Ok(Encoded::Answered(answer)) => self.answered.push_back(answer),
                Ok(_) => {}
                Err(error) => self.report_error(error.into()),
            }
        }
        for frame in self.wire.join(frames, self.config.max_batch) {
            self.actions.push_back(Action::Send(frame));
        }
        self.transmit_wire();
    }

    /// Frames the wire sends by itself (a pong, an ack, a held handshake).
    pub(super) fn transmit_wire(&mut self) {
        while let Some(frame) = self.wire.poll_transmit() {
            self.actions.push_back(Action::Send(frame));
        }
    }

    /// Sends what was queued and handles what the wire answered itself, until neither is left.
    fn settle(&mut self, now: u64) {
        loop {
            self.flush_outgoing();
            let Some(answer) = self.answered.pop_front() else {
                return;
            };
            self.handle_inbound(now, answer);
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
        if self.is_open() {
            let messages = self.outbox.poll_transmit(now, self.role == Role::Follower);
            for message in messages {
                self.send(message);
            }
            let batch = self.messaging.poll_batch(now);
            self.outgoing.extend(batch);
        }
        // What the wire answered itself (a subscription live at once) is handled in this input.
        self.settle(now);
        self.flush_tab_out();
        let ops = self.outbox.poll_store();
        if !ops.is_empty() {
            self.actions.push_back(Action::Store(ops));
        }
        self.report_outbox_events();
        match self.messaging.next_deadline() {
            Some(at) => self.timers.set(Timer::Messaging, at),
            None => self.timers.stop(Timer::Messaging),
        }
        match self.outbox.next_deadline(self.wall_offset) {
            Some(at) => self.timers.set(Timer::Outbox, at),
            None => self.timers.stop(Timer::Outbox),
        }
        while let Some(delivery) = self.messaging.poll_delivery() {
            self.events.push_back(Event::Message(delivery));
        }
        self.metrics.deliveries_coalesced = self.messaging.coalesced();
        if (self.docs.has_changes() || self.messaging.wants_frame()) && !self.frame_requested {
            self.frame_requested = true;
            self.actions.push_back(Action::RequestFrame);
        }
        self.snap.retry_at = self.timers.get(Timer::Reconnect);
        (self.snap.buffered, self.snap.pending, self.snap.channels) = (
            self.messaging.buffered(),
            self.messaging.awaiting(),
            self.messaging.channel_count(),
        );
        self.snap.outbox = self.outbox.status(now);
        self.snap.role = self.role;
        self.snap.tabs = self.hub.tab_count();
        if self.role == Role::Leader {
            self.share_state(now, false);
        } else {
            self.share_due = None;
        }
        if let Some(due) = self.share_due {
            if self.timers.get(Timer::Paced).is_none_or(|at| at > due) {
                self.timers.set(Timer::Paced, due);
            }
        }
        self.update_view();
    }

    fn report_outbox_events(&mut self) {
        while let Some(event) = self.outbox.poll_event() {
            match event {
                DurableEvent::Error(error) => self.report_error(error),
                DurableEvent::Outbox(OutboxEvent::Acked { id, seq, settles }) => {
                    if settles {
                        self.events.push_back(Event::PublishDone {
                            id: id.clone(),
                            result: Ok(seq),
                        });
                    }
                    self.events.push_back(Event::Delivered { id, seq });
                }
                DurableEvent::Outbox(OutboxEvent::Queued { id }) => {
                    self.events.push_back(Event::PublishQueued { id })
                }
                DurableEvent::Outbox(OutboxEvent::Rejected { id, reason }) => {
                    self.reject(id, reason)
                }
                DurableEvent::Outbox(OutboxEvent::DeadLetter(letter)) => {
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
