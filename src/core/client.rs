//! The client core: one sans-IO state machine for a syncline connection, made of parts that
//! own their state — the connection ([`Connection`]), messaging ([`Messaging`]), the outbox
//! ([`Durable`]), documents ([`Documents`]) and the tab hub — and routes between them.
//!
//! Call order, as in quinn-proto: feed inputs with the `handle_*` methods and the app's
//! commands (`connect`, `subscribe`, `publish`, `request`, …), each taking `now` in
//! milliseconds of a monotonic clock; then drain [`ClientCore::poll_action`] (what the browser
//! must do) and [`ClientCore::poll_event`] (what the app must hear), and arm one timer for
//! [`ClientCore::poll_timeout`], calling [`ClientCore::handle_timeout`] when it fires.

use std::collections::VecDeque;

use super::config::Config;
use super::conn::{ConnConfig, ConnOutput, Connection};
use super::docs::Documents;
use super::error::{ClientError, RequestError};
use super::id::IdGen;
use super::messaging::Messaging;
use super::messaging::pending::Outgoing;
use super::metrics::Metrics;
use super::outbox::{Durable, DurableEvent, OutboxEvent};
use super::rng::Rng;
use super::state::{ErrorInfo, Role, Snapshot};
use super::tabs::Tabs;
use super::timer::{Timer, TimerTable};
use crate::protocol::Outbound;
use crate::protocol::ack::Verdict;

pub use super::output::{Action, Event};

/// The client's state machine; see the module docs.
#[derive(Debug)]
pub struct ClientCore {
    pub(super) config: Config,
    pub(super) snap: Snapshot,
    /// What JS sees: `snap`, or for a follower the leader's shared state over it; versioned.
    pub(super) view: Snapshot,
    /// The connection part: attempts, auth, socket, handshake, heartbeat, the wire.
    pub(super) conn: Connection,
    /// The messaging part: subscriptions, answers awaited, pacing, batches, held emits.
    pub(super) messaging: Messaging,
    /// The outbox part: durable publishes, the breaker, storage.
    pub(super) outbox: Durable,
    /// The documents part.
    pub(super) docs: Documents,
    /// The tabs part: election, role, the leader's hub, the shared state.
    pub(super) tabs: Tabs,
    pub(super) metrics: Metrics,
    pub(super) frame_requested: bool,
    pub(super) timers: TimerTable,
    pub(super) rng: Rng,
    pub(super) actions: VecDeque<Action>,
    pub(super) events: VecDeque<Event>,
    /// What the connection reported, for the parts to hear before the input ends.
    from_connection: VecDeque<ConnOutput>,
    /// Unix ms minus monotonic ms, to date entries and apply retention.
    pub(super) wall_offset: i64,
    pub(super) ids: IdGen,
    /// The app's rule for reading a server's answer to a publish (`ackResult`).
    pub(super) ack_rule: Option<AckRule>,
    /// The outbox over HTTP, when it does not use the socket.
    pub(super) rest: Option<super::rest::Rest>,
    /// Optimistic operations other tabs began and have not settled, by tab.
    pub(super) remote: std::collections::HashMap<String, Vec<String>>,
}

/// The app's rule for reading an answer to a publish: `ackResult(answer)`.
pub struct AckRule(pub Box<dyn FnMut(&crate::protocol::RawJson) -> Verdict>);

impl std::fmt::Debug for AckRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AckRule")
    }
}

impl ClientCore {
    /// A client in the `idle` state.
    pub fn new(mut config: Config) -> Self {
        // Concurrent HTTP requests may be applied in any order: with one request per entry a
        // channel sends one entry at a time; batches go one at a time, a batch's worth each.
        match &config.http {
            Some(h) if h.batch_url.is_some() => config.outbox.window = h.batch_size.max(1),
            Some(_) => config.outbox.serial_channels = true,
            // The relay refuses a channel's later publishes after refusing one, until that
            // one comes again (PROTOCOL.md); other servers promise nothing of the kind, so a
            // channel whose publishes are answered (acked, refused, echoed or timed out) sends
            // one entry at a time and a retry is never overtaken.
            None => {
                let answered = config.protocol.delivery() != crate::protocol::Delivery::Sent;
                config.outbox.serial_channels |=
                    answered && !config.protocol.numbers_contiguously();
            }
        }
        let conn = Connection::new(ConnConfig {
            url: config.url.clone(),
            protocol: config.protocol.clone(),
            client_id: config.client_id.clone(),
            use_auth: config.use_auth,
            reconnect: config.reconnect,
            heartbeat_interval_ms: config.heartbeat_interval_ms,
            heartbeat_timeout_ms: config.heartbeat_timeout_ms,
            connect_timeout_ms: config.connect_timeout_ms,
            max_message_bytes: config.max_message_bytes,
            max_batch: config.max_batch,
            seed: config.seed,
        });
        let mut messaging =
            Messaging::new(config.send_buffer, config.request_backoff, config.batch_max);
        messaging.set_contiguous(config.protocol.numbers_contiguously());
        let outbox = Durable::new(
            config.outbox,
            config.breaker_threshold,
            config.breaker_cooldown_ms,
        );
        let docs = Documents::new(config.conflict_strategy, config.audit_size);
        let tabs = Tabs::new(&config.tab_id);
        let rest = config.http.clone().map(super::rest::Rest::new);
        Self {
            rng: Rng::new(config.seed),
            config,
            snap: Snapshot::default(),
            view: Snapshot::default(),
            conn,
            messaging,
            outbox,
            docs,
            tabs,
            metrics: Metrics::default(),
            frame_requested: false,
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            from_connection: VecDeque::new(),
            wall_offset: 0,
            ids: IdGen::default(),
            ack_rule: None,
            rest,
            remote: std::collections::HashMap::new(),
        }
    }

    /// Sets the app's rule for reading a server's answer to a publish (`ackResult`).
    pub fn set_ack_rule(&mut self, rule: AckRule) {
        self.ack_rule = Some(rule);
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
        self.conn.is_open()
    }

    /// True when the server's protocol does not let an app send an event of this name.
    pub fn refuses_event(&self, name: &str) -> bool {
        self.conn.refuses_event(name)
    }

    /// True when the server's protocol has events without an answer (else an app's emit
    /// goes as a memory-only publish).
    pub fn carries_emits(&self) -> bool {
        self.conn.carries_emits()
    }

    /// True when `publish` takes the event-name spelling: a Socket.IO server with the payload
    /// format, where the event name is the channel.
    pub fn publishes_events(&self) -> bool {
        matches!(&self.config.protocol, crate::protocol::Protocol::SocketIo(c) if c.format == crate::protocol::socketio::PublishFormat::Payload)
    }

    /// Why `data` cannot be a durable publish's payload here, if it cannot: the payload
    /// format carries the id inside the payload, which must then be an object.
    pub fn payload_problem(&self, data: &crate::protocol::RawJson) -> Option<&'static str> {
        (self.publishes_events() && !data.is_object())
            .then_some(crate::protocol::socketio::NOT_AN_OBJECT)
    }

    /// Unix ms at monotonic `now`.
    pub fn wall(&self, now: u64) -> u64 {
        u64::try_from(i128::from(now) + i128::from(self.wall_offset)).unwrap_or(0)
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

    // ----- routing -----

    /// Queues a message for the server; it goes out at the end of this input, batched.
    pub(super) fn send(&mut self, message: Outbound) {
        self.conn.send(message);
    }

    /// Queues messages for the server.
    pub(super) fn send_batched(&mut self, messages: Vec<Outbound>) {
        for message in messages {
            self.conn.send(message);
        }
    }

    /// Moves the connection's browser actions out, in order; keeps the rest for routing.
    fn drain_connection(&mut self) {
        while let Some(output) = self.conn.poll_output() {
            match output {
                ConnOutput::Action(action) => self.actions.push_back(action),
                other => self.from_connection.push_back(other),
            }
        }
    }

    /// Routes what the connection said and what its wire answered itself (a subscription
    /// live at once) until neither has more, sending what was queued meanwhile in as few
    /// frames as the wire allows.
    fn settle(&mut self, now: u64) {
        loop {
            self.drain_connection();
            let mut routed = false;
            while let Some(output) = self.from_connection.pop_front() {
                routed = true;
                self.route_connection(now, output);
            }
            while let Some(answer) = self.conn.poll_answered() {
                routed = true;
                self.handle_inbound(now, answer);
            }
            if !routed {
                self.metrics.messages_out += self.conn.flush() as u64;
                self.drain_connection();
                if self.from_connection.is_empty() && !self.conn.has_answered() {
                    return;
                }
            }
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

    /// Ends every input: fills the outbox window, sends what was queued, asks for storage,
    /// reports what the parts have for the app, re-arms the parts' timers, shares the state
    /// with other tabs, and bumps the snapshot version when what the app sees changed.
    pub(super) fn finish(&mut self, now: u64) {
        if self.sends_over_http() {
            self.send_over_http(now);
        } else if self.outbox_may_send() {
            let messages = self
                .outbox
                .poll_transmit(now, self.role() == Role::Follower);
            self.send_batched(messages);
        }
        if self.is_open() {
            let batch = self.messaging.poll_batch(now);
            self.send_batched(batch);
        }
        self.settle(now);
        self.flush_tab_out();
        let ops = self.outbox.poll_store();
        if !ops.is_empty() {
            self.actions.push_back(Action::Store(ops));
        }
        self.report_outbox_events();
        while let Some(delivery) = self.messaging.poll_delivery() {
            self.events.push_back(Event::Message(delivery));
        }
        self.metrics.deliveries_coalesced = self.messaging.coalesced();
        if (self.docs.has_changes() || self.messaging.wants_frame()) && !self.frame_requested {
            self.frame_requested = true;
            self.actions.push_back(Action::RequestFrame);
        }
        let deadlines = [
            (Timer::Connection, self.conn.next_deadline()),
            (Timer::Messaging, self.messaging.next_deadline()),
            (Timer::Outbox, self.outbox.next_deadline(self.wall_offset)),
        ];
        for (timer, at) in deadlines {
            match at {
                Some(at) => self.timers.set(timer, at),
                None => self.timers.stop(timer),
            }
        }
        self.conn.fill(&mut self.snap);
        (self.snap.buffered, self.snap.pending, self.snap.channels) = (
            self.messaging.buffered(),
            self.messaging.awaiting(),
            self.messaging.channel_count(),
        );
        self.snap.outbox = self.outbox.status(now);
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
        while let Some(event) = self.outbox.poll_event() {
            match event {
                DurableEvent::Error(error) => self.report_error(error),
                DurableEvent::Outbox(OutboxEvent::Acked { id, seq, settles }) => {
                    if settles {
                        let result = Ok(seq);
                        let id = id.clone();
                        self.events.push_back(Event::PublishDone { id, result });
                    }
                    self.events.push_back(Event::Delivered { id, seq });
                }
                DurableEvent::Outbox(OutboxEvent::Queued { id }) => {
                    self.events.push_back(Event::PublishQueued { id })
                }
                DurableEvent::Outbox(OutboxEvent::Evicted(letter)) => {
                    self.report_error(ClientError::DeadLetterEvicted {
                        id: letter.entry.id,
                        reason: letter.reason,
                    });
                }
                DurableEvent::Outbox(OutboxEvent::Held { id }) => {
                    self.events.push_back(Event::PublishHeld { id })
                }
                DurableEvent::Outbox(OutboxEvent::Rejected { id, reason }) => {
                    let retryable = false;
                    let result = Err(RequestError::Rejected { reason, retryable });
                    self.events.push_back(Event::PublishDone { id, result });
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
}
