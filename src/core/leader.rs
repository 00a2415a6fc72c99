//! Sharing one connection among tabs: role changes, the leader's side of its followers'
//! links (through the [`Hub`](super::hub::Hub)), and the follower's copy of the leader's state.

use super::client::ClientCore;
use super::conn::Peer;
use super::error::ClientError;
use super::outbox::OutboxEntry;
use super::state::Role;
use super::tabs::SharedState;
use crate::protocol::envelope::{ClientMessage, ServerMessage, decode_client_frame};

impl ClientCore {
    /// This tab's role changed (the election's outcome). The transport belongs to the role:
    /// whatever link or socket exists is dropped, and the client connects again at once —
    /// a leader to the server, a follower to the leader.
    pub fn set_role(&mut self, now: u64, role: Role) {
        if self.role == role {
            self.finish(now);
            return;
        }
        if self.role == Role::Leader {
            let emits = self.hub.clear();
            if emits > 0 {
                let mut reason = String::new();
                crate::protocol::json::write_u64(&mut reason, emits as u64);
                reason.push_str(" emit(s) of other tabs not sent: this tab stopped leading");
                self.report_error(ClientError::EmitDropped(reason));
            }
        }
        self.role = role;
        self.leader_view = None;
        self.relink(now);
        self.finish(now);
    }

    /// A follower's leader changed: link to the new one now (no backoff, no error: this is
    /// not a failure).
    pub fn leader_changed(&mut self, now: u64) {
        if self.role == Role::Follower {
            self.leader_view = None;
            self.relink(now);
        }
        self.finish(now);
    }

    fn relink(&mut self, now: u64) {
        let peer = match self.role {
            Role::Pending => Peer::Unknown,
            Role::Follower => Peer::Leader,
            Role::Solo | Role::Leader => Peer::Server,
        };
        self.conn.set_peer(now, peer);
    }

    /// Says what carries this tab's messages to the others ("broadcastchannel", "storage", "none").
    pub fn set_tab_bus(&mut self, medium: &'static str) {
        self.snap.bus = medium;
    }

    /// A message on the tab bus was malformed or foreign: it was ignored, and is counted.
    pub fn handle_rejected_tab_message(&mut self, now: u64) {
        self.snap.tab_messages_rejected += 1;
        self.finish(now);
    }

    /// Follower: the leader's connection state arrived.
    pub fn handle_leader_state(&mut self, now: u64, state: SharedState) {
        if self.role == Role::Follower {
            self.leader_view = Some(state);
            if !self.server_reachable() {
                self.outbox.stop_waiting_for_acks();
            }
        }
        self.finish(now);
    }

    /// True when the server can answer now: this client's connection is open and, for a
    /// follower, so is the leader's.
    pub(super) fn server_reachable(&self) -> bool {
        self.is_open()
            && (self.role != Role::Follower
                || self
                    .leader_view
                    .as_ref()
                    .is_some_and(|l| l.state == super::state::ConnectionState::Open))
    }

    /// Leader: a follower tab went away (said bye, or its tab closed).
    pub fn handle_tab_gone(&mut self, now: u64, tab: &str) {
        if self.role == Role::Leader {
            self.forget_tab(tab);
        }
        self.finish(now);
    }

    fn forget_tab(&mut self, tab: &str) {
        for channel in self.hub.remove_tab(tab) {
            if !self.messaging.listens(&channel) && self.is_open() {
                self.send(ClientMessage::Unsubscribe { channel });
            }
        }
    }

    /// Leader: tabs that stopped pinging their link are treated as gone.
    pub(super) fn sweep_silent_tabs(&mut self, now: u64) {
        let limit = self.config.heartbeat_interval_ms.saturating_mul(3);
        for tab in self.hub.silent_tabs(now.saturating_sub(limit)) {
            self.forget_tab(&tab);
        }
    }

    /// Leader: an envelope frame from follower `tab`'s link.
    pub fn handle_tab_frame(&mut self, now: u64, tab: &str, frame: &str) {
        if self.role != Role::Leader {
            return;
        }
        // A follower's frames are as untrusted as the network's: a bad one is dropped and
        // counted, and only a tab that said hello is served.
        let messages = match decode_client_frame(frame) {
            Ok(messages) => messages,
            Err(_) => Vec::new(),
        };
        let hello = messages
            .iter()
            .any(|m| matches!(m, Ok(ClientMessage::Hello { .. })));
        if messages.is_empty() || !(hello || self.hub.heard(tab, now)) {
            self.snap.tab_messages_rejected += 1;
            self.finish(now);
            return;
        }
        for message in messages.into_iter().flatten() {
            self.handle_tab_message(now, tab, message);
        }
        self.finish(now);
    }

    fn handle_tab_message(&mut self, now: u64, tab: &str, message: ClientMessage) {
        match message {
            ClientMessage::Hello { .. } => {
                // A tab that links again starts over: it resends its subscriptions next.
                self.forget_tab(tab);
                self.hub.link(tab, now);
                self.to_tab(
                    Some(tab),
                    ServerMessage::Welcome {
                        session: format!("link:{}", self.config.tab_id),
                    },
                );
                self.share_state(now, true);
            }
            ClientMessage::Ping { ts } => self.to_tab(Some(tab), ServerMessage::Pong { ts }),
            ClientMessage::Pong { .. } => {}
            // No answer to wait for: sent now, or held with the tab's other messages.
            message @ ClientMessage::Emit { .. } => {
                if self.is_open() {
                    self.send(message);
                } else if !self.hub.queue(message) {
                    // The emitting tab hears it as an error from the server's side.
                    let error = crate::protocol::envelope::ServerError {
                        code: "buffer_full".to_owned(),
                        message: "emit dropped: the leader tab's buffer is full".to_owned(),
                    };
                    self.to_tab(Some(tab), ServerMessage::Error(error));
                }
            }
            ClientMessage::Subscribe { channel, since } => {
                let upstream = self.hub.subscribe(tab, &channel, since);
                if self.is_open() {
                    self.send(upstream);
                }
            }
            ClientMessage::Unsubscribe { channel } => {
                if self.hub.unsubscribe(tab, &channel)
                    && !self.messaging.listens(&channel)
                    && self.is_open()
                {
                    self.send(ClientMessage::Unsubscribe { channel });
                }
            }
            ClientMessage::Publish {
                id,
                channel,
                event,
                data,
                durable: true,
            } => {
                // Already in the shared outbox database (the follower wrote it): the leader
                // drains it like its own, and owes the follower the outcome.
                self.hub.owe(&id, tab);
                let entry = OutboxEntry {
                    id,
                    channel,
                    event,
                    data,
                    created_at: self.wall(now),
                    priority: 0,
                };
                self.outbox.adopt(entry);
            }
            message @ (ClientMessage::Publish { .. } | ClientMessage::Request { .. }) => {
                let id = match &message {
                    ClientMessage::Publish { id, .. } | ClientMessage::Request { id, .. } => {
                        id.clone()
                    }
                    _ => String::new(),
                };
                self.hub.owe(&id, tab);
                if self.is_open() {
                    self.send(message);
                } else {
                    let is_request = matches!(message, ClientMessage::Request { .. });
                    if !self.hub.queue(message) {
                        self.hub.take_owed(&id);
                        self.to_tab(Some(tab), refusal(&id, is_request));
                    }
                }
            }
        }
    }

    /// Queues an envelope message for one follower tab (or all, with `None`).
    pub(super) fn to_tab(&mut self, tab: Option<&str>, message: ServerMessage) {
        self.tab_out
            .push((tab.map(str::to_owned), message.encode()));
    }

    /// Leader: the connection opened; resume the tabs' subscriptions and send what waited.
    pub(super) fn hub_on_open(&mut self) -> Vec<ClientMessage> {
        let (resume, held) = self.hub.on_open();
        let mut messages: Vec<ClientMessage> = resume
            .into_iter()
            .filter(|(channel, _)| !self.messaging.listens(channel))
            .map(|(channel, since)| ClientMessage::Subscribe { channel, since })
            .collect();
        messages.extend(held);
        messages
    }
}

/// What a tab hears when the leader cannot hold its message: a refusal it can act on.
fn refusal(id: &str, is_request: bool) -> ServerMessage {
    let reason = "the leader tab's buffer is full";
    if is_request {
        ServerMessage::Response {
            id: id.to_owned(),
            result: Err(crate::protocol::envelope::ServerError {
                code: "leader_busy".to_owned(),
                message: reason.to_owned(),
            }),
        }
    } else {
        ServerMessage::Nack {
            id: id.to_owned(),
            reason: reason.to_owned(),
            retryable: true,
        }
    }
}
