//! The connection part: one connection's life, whatever the server speaks. Attempts with
//! backoff, the app's credentials, the socket, the handshake, the heartbeat and the network's
//! and the page's signals; the server's protocol is its [`Wire`].
//!
//! Inputs are `handle_*(now, …)`; outputs are [`Connection::poll_output`] (actions for the
//! browser, and what the client must hear: opened, lost, errors) and [`Connection::next_deadline`].
//! Inputs that name an older attempt than the current one are ignored, so late callbacks from
//! a socket that was already replaced cannot confuse it.

pub mod backoff;
mod heartbeat;
mod hold;
mod outgoing;
mod snapshot;
#[cfg(test)]
mod tests;
mod types;

use std::collections::VecDeque;

use super::error::ClientError;
use super::output::Action;
use super::rng::Rng;
use super::state::ConnectionState;
use crate::protocol::{Decoded, Heartbeat, Inbound, Outbound, Protocol, Resumption, Wire};
pub use types::{ConnConfig, ConnOutput, LINK_TIMEOUT_MS, Peer, Phase};

/// The connection part; see the module docs.
#[derive(Debug)]
pub struct Connection {
    config: ConnConfig,
    rng: Rng,
    wire: Box<dyn Wire>,
    peer: Peer,
    /// `wire` is the envelope of a link to the leader tab.
    wire_is_link: bool,
    want_open: bool,
    attempt: u64,
    phase: Phase,
    token: Option<String>,
    ping_sent_at: Option<u64>,
    last_rx: u64,
    /// When the frame before the latest one arrived (or the socket opened): a welcome's
    /// round trip where the server keeps the heartbeat.
    previous_rx: u64,
    was_open: bool,
    /// The largest frame the server of this socket accepts, when it said.
    peer_frame_bytes: Option<usize>,
    // The deadlines.
    reconnect_at: Option<u64>,
    connect_deadline: Option<u64>,
    ping_at: Option<u64>,
    pong_deadline: Option<u64>,
    /// When the wire must stop holding messages back (see [`Wire::holds`]).
    hold_deadline: Option<u64>,
    // What the app sees.
    state: ConnectionState,
    online: bool,
    visible: bool,
    failures: u32,
    reconnects: u64,
    rtt_ms: Option<u64>,
    session: Option<String>,
    /// Whether the server took up the previous session (`None`: it does not recover sessions).
    recovered: Option<bool>,
    /// The last event's offset before a session the server could not take up.
    missed_after: Option<String>,
    outgoing: Vec<Outbound>,
    answered: VecDeque<Inbound>,
    output: VecDeque<ConnOutput>,
}

impl Connection {
    /// Idle until [`Connection::connect`].
    pub fn new(config: ConnConfig) -> Self {
        let wire = config.protocol.wire();
        Self {
            rng: Rng::new(config.seed),
            config,
            wire,
            peer: Peer::Server,
            wire_is_link: false,
            want_open: false,
            attempt: 0,
            phase: Phase::Down,
            token: None,
            ping_sent_at: None,
            last_rx: 0,
            previous_rx: 0,
            was_open: false,
            reconnect_at: None,
            connect_deadline: None,
            ping_at: None,
            pong_deadline: None,
            hold_deadline: None,
            state: ConnectionState::Idle,
            online: true,
            visible: true,
            failures: 0,
            peer_frame_bytes: None,
            reconnects: 0,
            rtt_ms: None,
            session: None,
            recovered: None,
            missed_after: None,
            outgoing: Vec::new(),
            answered: VecDeque::new(),
            output: VecDeque::new(),
        }
    }

    // ----- getters -----

    /// True while messages flow.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// What the browser last said about the network.
    pub fn online(&self) -> bool {
        self.online
    }

    /// Where the attempt is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The connection's state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// True until the app closes the client.
    pub fn wants_open(&self) -> bool {
        self.want_open
    }

    /// True when the server's protocol does not let an app send an event of this name.
    pub fn refuses_event(&self, name: &str) -> bool {
        self.server_rule(|wire| wire.refuses_event(name))
    }

    /// True when the server's protocol has events without an answer.
    pub fn carries_emits(&self) -> bool {
        self.server_rule(|wire| wire.carries_emits())
    }

    /// Asks the server's wire (a link to the leader tab has its own, the envelope).
    fn server_rule(&self, rule: impl Fn(&dyn Wire) -> bool) -> bool {
        if self.wire_is_link {
            rule(&*self.config.protocol.wire())
        } else {
            rule(&*self.wire)
        }
    }

    // ----- inputs: the app and the tabs -----

    /// Start connecting (and keep reconnecting) until [`Connection::close`].
    pub fn connect(&mut self, now: u64) {
        self.want_open = true;
        if self.phase == Phase::Down {
            self.attempt_now(now);
        }
    }

    /// Close and stay closed; a protocol that tells a client's goodbye from a lost transport
    /// says goodbye first.
    pub fn close(&mut self) {
        self.want_open = false;
        if self.is_open()
            && let Some(bye) = self.wire.goodbye()
        {
            self.flush();
            self.output.push_back(ConnOutput::Action(Action::Send(bye)));
        }
        self.drop_socket(1000, "client disconnect");
        (self.reconnect_at, self.ping_at) = (None, None);
        self.state = ConnectionState::Closed;
    }

    /// Skip the wait: try now if waiting or offline-by-error.
    pub fn reconnect_now(&mut self, now: u64) {
        if self.want_open && self.phase == Phase::Down {
            self.attempt_now(now);
        }
    }

    /// Who to connect to changed (the election's outcome, or a new leader): whatever socket
    /// or link exists is dropped (without counting as a failure) and a new attempt starts.
    pub fn set_peer(&mut self, now: u64, peer: Peer) {
        self.peer = peer;
        if self.phase != Phase::Down {
            self.drop_socket(1000, "role changed");
            self.output.push_back(ConnOutput::Lost { failure: false });
        }
        self.failures = 0;
        if self.want_open {
            self.attempt_now(now);
        }
    }

    /// The browser's network status changed.
    pub fn set_online(&mut self, now: u64, online: bool) {
        self.online = online;
        match (online, self.phase) {
            // Back online: the first retry is immediate.
            (true, Phase::Down) if self.want_open => self.attempt_now(now),
            (false, Phase::Down) if self.want_open => {
                self.reconnect_at = None;
                self.state = ConnectionState::Offline;
            }
            (false, Phase::Auth | Phase::Socket | Phase::Hello) => {
                self.drop_socket(1000, "offline");
                self.state = ConnectionState::Offline;
            }
            // The browser's word is not proof: ask the server whether the socket still works.
            (false, Phase::Open) => self.health_check(now),
            _ => {}
        }
    }

    /// The page became visible or hidden.
    pub fn set_visible(&mut self, now: u64, visible: bool) {
        self.visible = visible;
        if visible {
            match self.phase {
                Phase::Open => self.health_check(now),
                Phase::Down if self.want_open && self.online => self.attempt_now(now),
                _ => {}
            }
        }
    }

    // ----- inputs: the browser -----

    /// The app's `auth` callback answered for `attempt`.
    pub fn handle_auth(&mut self, now: u64, attempt: u64, result: Result<Option<String>, String>) {
        if attempt != self.attempt || self.phase != Phase::Auth {
            return;
        }
        match result {
            Ok(token) => {
                self.token = token;
                self.phase = Phase::Socket;
                self.output
                    .push_back(ConnOutput::Action(Action::OpenSocket {
                        attempt,
                        url: self.config.url.clone(),
                    }));
            }
            Err(message) => self.lose(now, ClientError::AuthCallback(message)),
        }
    }

    /// The socket of `attempt` opened: introduce ourselves.
    pub fn handle_socket_open(&mut self, now: u64, attempt: u64) {
        if attempt == self.attempt && self.phase == Phase::Socket {
            self.phase = Phase::Hello;
            self.last_rx = now;
            // A handshake's round trip is timed from this socket's frames only (a wire whose
            // session opens without an answer has none).
            self.previous_rx = 0;
            // This socket's server has told no limits yet.
            self.peer_frame_bytes = None;
            // For the server's hello only (a link's goes on the bus), and forgotten with it.
            let token = self.token.take().filter(|_| !self.wire_is_link);
            self.send(Outbound::Hello {
                client: self.config.client_id.clone(),
                token,
                max: u64::try_from(self.config.max_message_bytes).ok(),
            });
        }
    }

    /// The socket of `attempt` closed.
    pub fn handle_socket_closed(&mut self, now: u64, attempt: u64, code: u16, reason: &str) {
        if attempt == self.attempt && self.phase != Phase::Down {
            let reason = reason.to_owned();
            self.lose(now, ClientError::SocketClosed { code, reason });
        }
    }

    /// The socket of `attempt` could not even be created.
    pub fn handle_socket_failed(&mut self, now: u64, attempt: u64, message: String) {
        if attempt == self.attempt && self.phase != Phase::Down {
            self.lose(now, ClientError::SocketOpen(message));
        }
    }

    /// A text frame on the socket of `attempt`: its messages, decoded by the wire, for the
    /// client to handle (`None` when the frame is not for this attempt or was refused).
    pub fn handle_frame(&mut self, now: u64, attempt: u64, frame: &str) -> Option<Decoded> {
        let previous = self.last_rx;
        if !self.is_current(now, attempt) {
            return None;
        }
        self.previous_rx = previous;
        let limit = self.config.max_message_bytes;
        if frame.len() > limit {
            let error = ClientError::FrameTooLarge {
                size: frame.len(),
                limit,
            };
            self.output.push_back(ConnOutput::Error(error));
            return None;
        }
        let decoded = match self.wire.decode(frame) {
            Ok(decoded) => Some(decoded),
            Err(error) => {
                self.output.push_back(ConnOutput::Error(error.into()));
                None
            }
        };
        self.server_alive(now);
        self.arm_hold(now);
        decoded
    }

    /// A text frame longer than `maxMessageBytes` was dropped unread.
    pub fn handle_oversize(&mut self, now: u64, attempt: u64, size: usize) {
        if self.is_current(now, attempt) {
            let limit = self.config.max_message_bytes;
            let error = ClientError::FrameTooLarge { size, limit };
            self.output.push_back(ConnOutput::Error(error));
        }
    }

    /// A binary frame: the wire decides whether it was announced.
    pub fn handle_binary(&mut self, now: u64, attempt: u64, len: usize) {
        if self.is_current(now, attempt)
            && let Err(error) = self.wire.decode_binary(len)
        {
            self.output.push_back(ConnOutput::Error(error.into()));
        }
    }

    /// A deadline passed.
    pub fn handle_timeout(&mut self, now: u64) {
        if take_due(&mut self.reconnect_at, now) {
            self.attempt_now(now);
        }
        if take_due(&mut self.connect_deadline, now) && self.phase != Phase::Down {
            self.lose(now, ClientError::ConnectTimeout);
        }
        if take_due(&mut self.ping_at, now) && self.phase == Phase::Open {
            self.send_ping(now);
            self.output.push_back(ConnOutput::Beat);
        }
        if take_due(&mut self.pong_deadline, now) {
            self.pong_deadline(now);
        }
        if take_due(&mut self.hold_deadline, now) {
            self.release_held();
        }
    }

    // ----- inputs: the server's messages the connection itself handles -----

    /// The server took the handshake; `resumed` says whether it took up the previous session.
    pub fn handle_session(&mut self, now: u64, session: String, resumed: Resumption) {
        if self.phase != Phase::Hello {
            return;
        }
        (self.recovered, self.missed_after) = match resumed {
            Resumption::Fresh => (None, None),
            Resumption::Recovered => (Some(true), None),
            Resumption::Lost { last_offset } => {
                self.output.push_back(ConnOutput::Gap {
                    last_offset: last_offset.clone(),
                });
                (Some(false), last_offset)
            }
        };
        if self.wire.heartbeat() != Heartbeat::ClientPings && self.previous_rx > 0 {
            // No pings from this side: the round trip is the handshake's (the answer to what
            // went out on the frame before, e.g. Socket.IO's CONNECT after Engine.IO's open).
            let rtt = now.saturating_sub(self.previous_rx);
            self.rtt_ms = Some(rtt);
            self.output.push_back(ConnOutput::Rtt(rtt));
        }
        self.phase = Phase::Open;
        self.connect_deadline = None;
        if self.was_open {
            self.reconnects += 1;
        }
        self.was_open = true;
        self.failures = 0;
        self.session = Some(session);
        self.state = ConnectionState::Open;
        self.output.push_back(ConnOutput::Opened);
        // A first ping at once: the round-trip time is known from the start, and a connection
        // that opened but does not carry is found within the pong timeout.
        self.ping_sent_at = None;
        self.send_ping(now);
    }

    /// A pong (or, failing that, any frame after the ping) proves the connection alive.
    pub fn handle_pong(&mut self, now: u64, ts: u64) {
        if self.ping_sent_at != Some(ts) || self.phase != Phase::Open {
            return;
        }
        let rtt = now.saturating_sub(ts);
        self.rtt_ms = Some(rtt);
        self.output.push_back(ConnOutput::Rtt(rtt));
        self.ping_sent_at = None;
        self.pong_deadline = None;
        self.ping_at = Some(ts.saturating_add(self.config.heartbeat_interval_ms));
    }

    /// The server refused the client or ended the session.
    pub fn handle_refusal(&mut self, now: u64, error: ClientError) {
        if self.phase != Phase::Down {
            self.lose(now, error);
        }
    }

    // ----- outputs (sending: outgoing.rs) -----

    /// The next action or report.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<ConnOutput> {
        self.transmit_wire();
        self.output.pop_front()
    }

    /// When [`Connection::handle_timeout`] must run next.
    pub fn next_deadline(&self) -> Option<u64> {
        [
            self.reconnect_at,
            self.connect_deadline,
            self.ping_at,
            self.pong_deadline,
            self.hold_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- the machine -----

    fn is_current(&mut self, now: u64, attempt: u64) -> bool {
        if attempt != self.attempt || self.phase == Phase::Down {
            return false;
        }
        self.last_rx = now;
        true
    }

    /// Starts an attempt now (or waits offline while the browser is offline).
    fn attempt_now(&mut self, now: u64) {
        self.reconnect_at = None;
        if self.peer == Peer::Unknown {
            self.state = ConnectionState::Connecting;
            return;
        }
        let link = self.peer == Peer::Leader;
        // A link to a tab of this browser does not care about the network.
        if !self.online && !link {
            self.state = ConnectionState::Offline;
            return;
        }
        // No server socket (a client whose outbox goes over HTTP and that has no `url`).
        if !link && self.config.url.is_empty() {
            self.state = ConnectionState::Idle;
            return;
        }
        self.attempt += 1;
        let attempt = self.attempt;
        self.token = None; // each attempt asks for its own credentials
        if link != self.wire_is_link {
            self.wire_is_link = link;
            self.wire = if link {
                Protocol::Envelope.wire()
            } else {
                self.config.protocol.wire()
            };
        }
        let timeout = self.config.connect_timeout_ms;
        let timeout = if link {
            timeout.min(LINK_TIMEOUT_MS)
        } else {
            timeout
        };
        self.connect_deadline = Some(now.saturating_add(timeout));
        self.state = ConnectionState::Connecting;
        // Credentials are for the server; a link to the leader carries none.
        if self.config.use_auth && !link {
            self.phase = Phase::Auth;
            self.output
                .push_back(ConnOutput::Action(Action::RequestAuth { attempt }));
        } else {
            self.phase = Phase::Socket;
            let url = self.config.url.clone();
            self.output
                .push_back(ConnOutput::Action(Action::OpenSocket { attempt, url }));
        }
    }

    fn lose(&mut self, now: u64, error: ClientError) {
        self.drop_socket(1000, "");
        self.output.push_back(ConnOutput::Error(error));
        self.output.push_back(ConnOutput::Lost { failure: true });
        if !self.want_open {
            self.state = ConnectionState::Closed;
        } else if !self.online {
            self.state = ConnectionState::Offline;
        } else {
            let delay = self
                .config
                .reconnect
                .delay(self.failures, self.rng.next_u64());
            self.failures = self.failures.saturating_add(1);
            self.reconnect_at = Some(now.saturating_add(delay));
            self.state = ConnectionState::Waiting;
        }
    }

    /// Forgets the socket (asking the browser to close it) and its deadlines.
    fn drop_socket(&mut self, code: u16, reason: &'static str) {
        if self.phase != Phase::Down {
            self.flush();
            let attempt = self.attempt;
            self.output
                .push_back(ConnOutput::Action(Action::CloseSocket {
                    attempt,
                    code,
                    reason,
                }));
        }
        self.phase = Phase::Down;
        self.outgoing.clear();
        self.answered.clear();
        // What the wire held back arrived: it is delivered, not dropped with the socket.
        self.release_held();
        self.wire.reset();
        self.ping_sent_at = None;
        (self.connect_deadline, self.ping_at, self.pong_deadline) = (None, None, None);
        self.session = None;
    }
}

/// True (and cleared) when the deadline passed.
fn take_due(deadline: &mut Option<u64>, now: u64) -> bool {
    if deadline.is_some_and(|at| at <= now) {
        *deadline = None;
        return true;
    }
    false
}
