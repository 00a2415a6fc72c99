//! The client core's side of the [`Tabs`](super::tabs::Tabs) part: routes the bus and the
//! election into it and its outputs out (role changes relink the transport), serves follower
//! tabs' links as the leader (through the [`Hub`](super::tabs::hub::Hub)), shares the
//! leader's state, and shows a follower the leader's connection.

use super::client::{Action, ClientCore};
use super::conn::Peer;
use super::error::ClientError;
use super::outbox::OutboxEntry;
use super::state::{ConnectionState, Role};
use super::tabs::{SharedState, TabBody, TabMessage, TabsOutput};
use crate::protocol::envelope::{ClientMessage, ServerMessage, decode_client_frame, encode_batch};

impl ClientCore {
    /// Joins the other tabs over the bus `medium` ("broadcastchannel", "storage", "none").
    /// When `share` and there is a bus, the tabs elect one leader (with the Web Locks API when
    /// `locks`: report the lock with [`ClientCore::handle_lock_granted`]); else this tab keeps
    /// its own connection.
    pub fn start_tabs(&mut self, now: u64, medium: &'static str, share: bool, locks: bool) {
        self.snap.bus = medium;
        let elect = (share && medium != "none").then_some(locks);
        self.tabs.start(now, elect);
        self.route_tabs(now);
        self.finish(now);
    }

    /// The Web Locks API granted this tab the leader's lock; `stored`: the term the last lock
    /// holder saved in the origin's storage (`TabAction::SaveTerm`), 0 if none.
    pub fn handle_lock_granted(&mut self, now: u64, stored: u64) {
        self.tabs.handle_lock_granted(now, stored);
        self.route_tabs(now);
        self.finish(now);
    }

    /// A checked message from another tab on the bus (the browser layer keeps the link's
    /// `down` frames and the app's broadcasts for itself).
    pub fn handle_bus_message(&mut self, now: u64, message: TabMessage) {
        let TabMessage { from, body, .. } = message;
        match body {
            TabBody::Up { frame } => return self.handle_tab_frame(now, &from, &frame),
            TabBody::State { state, term } => {
                if self.tabs.is_leader(&from, term) {
                    return self.handle_leader_state(now, state);
                }
            }
            TabBody::Bye { term } => {
                // The leader's goodbye counts in its own term only (another is stale or forged).
                let leader = self.tabs.leader() == Some(from.as_str());
                if !leader || self.tabs.is_leader(&from, term) {
                    self.roll_back_tab(&from);
                    if self.tabs.role() == Role::Leader {
                        self.forget_tab(&from);
                    }
                    self.tabs
                        .handle_election(now, &from, &TabBody::Bye { term });
                }
            }
            body @ (TabBody::Leader { .. } | TabBody::Who { .. } | TabBody::Claim { .. }) => {
                self.tabs.handle_election(now, &from, &body);
            }
            TabBody::Clear { id, at } => return self.handle_clear_request(now, &from, id, at),
            TabBody::Cleared { id, dropped, tabs } => {
                return self.handle_cleared(now, &from, &id, dropped, &tabs);
            }
            TabBody::Down { .. } | TabBody::Broadcast { .. } => {}
        }
        self.route_tabs(now);
        self.finish(now);
    }

    /// This tab leaves the others (closing): it says bye, then the bus closes.
    pub fn leave_tabs(&mut self, now: u64) {
        self.tabs.leave();
        self.route_tabs(now);
        self.finish(now);
    }

    /// The tab this one follows (itself when it leads), as far as it knows.
    pub fn tab_leader(&self) -> Option<&str> {
        self.tabs.leader()
    }

    /// Sets this tab's role without an election (tests; the election sets it otherwise).
    /// The transport belongs to the role: whatever link or socket exists is dropped, and the
    /// client connects again at once — a leader to the server, a follower to the leader.
    pub fn set_role(&mut self, now: u64, role: Role) {
        self.tabs.set_role(role);
        self.route_tabs(now);
        self.finish(now);
    }

    /// The term of the tab this one follows (or leads in).
    pub fn tab_term(&self) -> u64 {
        self.tabs.term()
    }

    /// The tabs' deadline passed.
    pub(super) fn tabs_timeout(&mut self, now: u64) {
        self.tabs.handle_timeout(now);
        self.route_tabs(now);
        self.report_clears();
    }

    /// The connection was lost; a follower whose link failed (its leader did not answer the
    /// hello, or stopped answering) asks again who leads rather than retrying the same tab.
    pub(super) fn link_lost(&mut self, now: u64, failure: bool) {
        if failure && self.tabs.role() == Role::Follower {
            self.tabs.handle_leader_silent(now);
            self.route_tabs(now);
        }
    }

    /// Carries out what the tabs part decided.
    fn route_tabs(&mut self, now: u64) {
        while let Some(output) = self.tabs.poll_output() {
            match output {
                TabsOutput::Action(action) => self.actions.push_back(Action::Tab(action)),
                TabsOutput::RoleChanged {
                    role: _,
                    dropped_emits,
                } => {
                    if dropped_emits > 0 {
                        let mut reason = crate::protocol::raw::decimal(dropped_emits as u64);
                        reason
                            .push_str(" emit(s) of other tabs not sent: this tab stopped leading");
                        self.report_error(ClientError::EmitDropped(reason));
                    }
                    self.relink(now);
                }
                TabsOutput::LeaderChanged => self.relink(now),
            }
        }
    }

    fn relink(&mut self, now: u64) {
        let peer = match self.role() {
            Role::Pending => Peer::Unknown,
            Role::Follower => Peer::Leader,
            Role::Solo | Role::Leader => Peer::Server,
        };
        self.conn.set_peer(now, peer);
    }

    /// A message on the tab bus was malformed or foreign: it was ignored, and is counted.
    pub fn handle_rejected_tab_message(&mut self, now: u64) {
        self.snap.tab_messages_rejected += 1;
        self.finish(now);
    }

    /// Follower: the leader's connection state arrived.
    pub fn handle_leader_state(&mut self, now: u64, state: SharedState) {
        // The leader's new session could not take up the old one: this tab hears of the gap too.
        // (A tab that links now heard of no session before: an old gap is not news to it.)
        let before = self.tabs.leader_view().map(|l| l.session.clone());
        if state.recovered == Some(false)
            && state.session.is_some()
            && before.is_some_and(|before| before != state.session)
        {
            let last_offset = state.missed_after.clone();
            self.events
                .push_back(super::client::Event::Gap { last_offset });
        }
        if self.tabs.handle_leader_state(state) && !self.server_reachable() && self.rest.is_none() {
            self.outbox.stop_waiting_for_acks();
        }
        self.finish(now);
    }

    /// True when the outbox may send now: this client's connection is open (a follower's
    /// link to the leader, which adopts the entries whether or not its server is up) and, where
    /// a write counts as delivered (`delivery: "sent"`), the browser does not say it is offline
    /// (a socket it still calls open may be holding frames it will never send).
    pub(super) fn outbox_may_send(&self) -> bool {
        let sent = self.config.protocol.delivery() == crate::protocol::Delivery::Sent;
        self.is_open() && (self.conn.online() || !sent)
    }

    /// True when the server can answer now: this client's connection is open and, for a
    /// follower, so is the leader's.
    pub(super) fn server_reachable(&self) -> bool {
        self.is_open()
            && (self.tabs.role() != Role::Follower
                || self
                    .tabs
                    .leader_view()
                    .is_some_and(|l| l.state == ConnectionState::Open))
    }

    fn forget_tab(&mut self, tab: &str) {
        for channel in self.tabs.hub.remove_tab(tab) {
            if !self.messaging.listens(&channel) && self.is_open() {
                self.send(ClientMessage::Unsubscribe { channel });
            }
        }
    }

    /// Leader: tabs that stopped pinging their link are treated as gone.
    pub(super) fn sweep_silent_tabs(&mut self, now: u64) {
        let limit = self.config.heartbeat_interval_ms.saturating_mul(3);
        for tab in self.tabs.hub.silent_tabs(now.saturating_sub(limit)) {
            self.forget_tab(&tab);
        }
    }

    /// Leader: an envelope frame from follower `tab`'s link.
    pub fn handle_tab_frame(&mut self, now: u64, tab: &str, frame: &str) {
        if self.tabs.role() != Role::Leader {
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
        if messages.is_empty() || !(hello || self.tabs.hub.heard(tab, now)) {
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
                self.tabs.hub.link(tab, now);
                self.to_tab(
                    Some(tab),
                    ServerMessage::Welcome {
                        limits: None,
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
                } else if !self.tabs.hub.queue(message) {
                    // The emitting tab hears it as an error from the server's side.
                    let error = crate::protocol::envelope::ServerError {
                        code: "buffer_full".to_owned(),
                        message: "emit dropped: the leader tab's buffer is full".to_owned(),
                    };
                    self.to_tab(Some(tab), ServerMessage::Error(error));
                }
            }
            ClientMessage::Subscribe { channel, since } => {
                let upstream = self.tabs.hub.subscribe(tab, &channel, since);
                if self.is_open() {
                    self.send(upstream);
                }
            }
            ClientMessage::Unsubscribe { channel } => {
                if self.tabs.hub.unsubscribe(tab, &channel)
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
                priority,
                ..
            } => {
                // Already in the shared outbox database (the follower wrote it): the leader
                // drains it like its own, and owes the follower the outcome. It keeps its
                // priority and the time it was made (its id's, a UUIDv7).
                let created_at = super::id::uuid_v7_time(&id).unwrap_or_else(|| self.wall(now));
                if created_at <= self.tabs.clears.mark() {
                    // Made before a logout this tab obeyed: that tab missed it.
                    return self.remind_clear(tab);
                }
                self.tabs.hub.owe(&id, tab);
                let entry = OutboxEntry {
                    id,
                    channel,
                    event,
                    data,
                    created_at,
                    priority,
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
                self.tabs.hub.owe(&id, tab);
                if self.is_open() {
                    self.send(message);
                } else {
                    let is_request = matches!(message, ClientMessage::Request { .. });
                    if !self.tabs.hub.queue(message) {
                        self.tabs.hub.take_owed(&id);
                        self.to_tab(Some(tab), refusal(&id, is_request));
                    }
                }
            }
        }
    }

    /// Queues an envelope message for one follower tab (or all, with `None`).
    pub(super) fn to_tab(&mut self, tab: Option<&str>, message: ServerMessage) {
        self.tabs
            .queue_frame(tab.map(str::to_owned), message.encode());
    }

    /// Leader: the connection opened; resume the tabs' subscriptions and send what waited.
    pub(super) fn hub_on_open(&mut self) -> Vec<ClientMessage> {
        let (resume, held) = self.tabs.hub.on_open();
        let mut messages: Vec<ClientMessage> = resume
            .into_iter()
            .filter(|(channel, _)| !self.messaging.listens(channel))
            .map(|(channel, since)| ClientMessage::Subscribe { channel, since })
            .collect();
        messages.extend(held);
        messages
    }
}

impl ClientCore {
    /// What the leader's tabs show of its connection.
    fn shared_state(&self) -> SharedState {
        let unix =
            |at: u64| u64::try_from(i128::from(at) + i128::from(self.wall_offset)).unwrap_or(0);
        SharedState {
            state: self.snap.state,
            online: self.snap.online,
            attempt: self.snap.attempt,
            reconnects: self.snap.reconnects,
            rtt_ms: self.snap.rtt_ms,
            retry_at: self.snap.retry_at.map(unix),
            last_error: self.snap.last_error.clone(),
            session: self.snap.session.clone(),
            recovered: self.snap.recovered,
            missed_after: self.snap.missed_after.clone(),
            outbox: self.snap.outbox.clone(),
        }
    }

    /// Leader: tells the linked tabs the connection's state when it changed (throttled by
    /// the tabs part), or at once when `force`d (a tab just linked).
    pub(super) fn share_state(&mut self, now: u64, force: bool) {
        if self.tabs.role() != Role::Leader {
            self.tabs.stop_sharing();
            return;
        }
        let shared = self.shared_state();
        if let Some(shared) = self.tabs.share(now, shared, force) {
            self.actions.push_back(Action::ShareState(shared));
        }
    }

    /// The app's view: this client's own state, except that a linked follower shows the
    /// leader's connection and outbox. The version moves only when something visible did.
    pub(super) fn update_view(&mut self) {
        let mut view = self.snap.clone();
        if self.tabs.role() == Role::Follower && self.is_open() {
            if let Some(leader) = self.tabs.leader_view() {
                super::tabs::overlay(&mut view, leader, self.wall_offset);
            }
        }
        view.version = self.view.version;
        if view != self.view {
            view.version += 1;
            self.view = view;
        }
    }

    /// Sends the frames queued for tabs: consecutive ones for the same tab share a message.
    pub(super) fn flush_tab_out(&mut self) {
        let mut out = self.tabs.take_frames().into_iter().peekable();
        while let Some((to, first)) = out.next() {
            let mut frames = vec![first];
            while frames.len() < self.config.max_batch.max(1)
                && out.peek().is_some_and(|(t, _)| *t == to)
            {
                if let Some((_, frame)) = out.next() {
                    frames.push(frame);
                }
            }
            self.actions.push_back(Action::ToTab {
                to,
                frame: encode_batch(frames),
            });
        }
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
