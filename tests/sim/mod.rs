//! A simulated browser around the client core, for native tests: a clock that only moves when
//! told, a socket that opens and closes when the test says, and a record of what was sent.
#![allow(dead_code)]

use syncline::core::tabs::{SharedState, TabAction};
use syncline::core::{Action, ClientCore, Config, Event, StoreOp};
use syncline::protocol::envelope::{ClientMessage, ServerMessage, decode_client_frame};

pub struct Sim {
    pub core: ClientCore,
    pub now: u64,
    /// Every client message sent on any socket, in order.
    pub sent: Vec<ClientMessage>,
    /// Frames as sent (to see batching).
    pub frames: Vec<String>,
    pub events: Vec<Event>,
    /// Attempt whose socket the "browser" is opening or has open.
    pub socket: Option<u64>,
    /// Attempts that asked for auth.
    pub auth_requests: Vec<u64>,
    /// Times `OpenSocket` was asked for.
    pub opens: Vec<u64>,
    /// Times the core's timer fired.
    pub wakeups: u32,
    /// Every storage change asked for, in order.
    pub store_ops: Vec<StoreOp>,
    /// Report storage writes as committed at once (else the test does it).
    pub auto_store: bool,
    /// Leader: frames for follower tabs (recipient, frame), in order.
    pub to_tabs: Vec<(Option<String>, String)>,
    /// Leader: state shared with the tabs.
    pub shared: Vec<SharedState>,
    /// Tab actions (bus posts of the election, storage reloads, closing the bus), in order.
    pub tab_actions: Vec<TabAction>,
    /// Animation frames asked for and not yet given.
    pub frames_requested: u32,
    /// The server speaks Socket.IO: frames are kept as they are, not decoded as envelopes.
    pub socketio: bool,
    /// HTTP requests of the outbox, in order.
    pub http: Vec<syncline::core::rest::HttpRequest>,
}

impl Sim {
    pub fn new(config: Config) -> Self {
        Self {
            core: ClientCore::new(config),
            now: 1_000,
            sent: Vec::new(),
            frames: Vec::new(),
            events: Vec::new(),
            socket: None,
            auth_requests: Vec::new(),
            opens: Vec::new(),
            wakeups: 0,
            store_ops: Vec::new(),
            auto_store: true,
            to_tabs: Vec::new(),
            shared: Vec::new(),
            tab_actions: Vec::new(),
            frames_requested: 0,
            socketio: false,
            http: Vec::new(),
        }
    }

    /// A client whose storage opened empty (the usual start).
    pub fn with_storage(config: Config) -> Self {
        let mut s = Self::new(config);
        let now = s.now;
        s.core.set_wall_clock(now, 1_700_000_000_000);
        s.core.handle_storage_loaded(now, Vec::new(), Vec::new(), 0);
        s.pump();
        s
    }

    pub fn config() -> Config {
        let mut c = Config::new("ws://relay.test/ws", "client-1");
        c.seed = 7;
        c
    }

    /// Carries out the core's actions.
    pub fn pump(&mut self) {
        let mut stored = Vec::new();
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::RequestAuth { attempt } => self.auth_requests.push(attempt),
                Action::OpenSocket { attempt, .. } => {
                    self.opens.push(self.now);
                    self.socket = Some(attempt);
                }
                Action::Send(frame) if self.socketio => self.frames.push(frame),
                Action::Send(frame) => {
                    let messages = decode_client_frame(&frame).expect("client frames are JSON");
                    self.sent.extend(
                        messages
                            .into_iter()
                            .map(|m| m.expect("client messages decode")),
                    );
                    self.frames.push(frame);
                }
                Action::CloseSocket { attempt, .. } => {
                    if self.socket == Some(attempt) {
                        self.socket = None;
                    }
                }
                Action::ToTab { to, frame } => self.to_tabs.push((to, frame)),
                Action::ShareState(state) => self.shared.push(state),
                Action::RequestFrame => self.frames_requested += 1,
                Action::Tab(action) => self.tab_actions.push(action),
                Action::Http(request) => self.http.push(request),
                Action::Store(ops) => {
                    for op in &ops {
                        if let StoreOp::Put(entry) = op {
                            stored.push(entry.id.clone());
                        }
                    }
                    self.store_ops.extend(ops);
                }
            }
        }
        if self.auto_store && !stored.is_empty() {
            self.core.handle_stored(self.now, &stored);
            self.pump();
        }
        while let Some(event) = self.core.poll_event() {
            self.events.push(event);
        }
    }

    /// Moves the clock forward by `ms`, firing every deadline on the way.
    pub fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while let Some(at) = self.core.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.wakeups += 1;
            self.core.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
    }

    /// Gives the animation frame the core asked for.
    pub fn animation_frame(&mut self) {
        self.frames_requested = 0;
        self.core.handle_animation_frame(self.now);
        self.pump();
    }

    pub fn connect(&mut self) {
        self.core.connect(self.now);
        self.pump();
    }

    /// The browser reports the socket open.
    pub fn socket_opens(&mut self) {
        let attempt = self.socket.expect("a socket is being opened");
        self.core.handle_socket_open(self.now, attempt);
        self.pump();
    }

    /// The browser reports the socket closed.
    pub fn socket_closes(&mut self, code: u16) {
        let attempt = self.socket.take().expect("a socket exists");
        self.core.handle_socket_closed(self.now, attempt, code, "");
        self.pump();
    }

    /// A frame from the server.
    pub fn receive_frame(&mut self, frame: &str) {
        let attempt = self.socket.expect("a socket exists");
        self.core.handle_frame(self.now, attempt, frame);
        self.pump();
    }

    pub fn receive(&mut self, message: ServerMessage) {
        self.receive_frame(&message.encode());
    }

    /// The server welcomes the client and answers the ping it sends right after (at once).
    pub fn welcome(&mut self) {
        self.receive(ServerMessage::Welcome {
            limits: None,
            session: "s1".into(),
        });
        self.answer_pings();
    }

    /// The server answers every ping sent so far (they leave `sent`).
    pub fn answer_pings(&mut self) {
        let (pings, rest): (Vec<ClientMessage>, Vec<ClientMessage>) =
            std::mem::take(&mut self.sent)
                .into_iter()
                .partition(|m| matches!(m, ClientMessage::Ping { .. }));
        self.sent = rest;
        for ping in pings {
            if let ClientMessage::Ping { ts } = ping {
                self.receive(ServerMessage::Pong { ts });
            }
        }
    }

    /// Connect all the way to open.
    pub fn open(&mut self) {
        self.connect();
        self.socket_opens();
        self.welcome();
    }

    pub fn state(&self) -> &'static str {
        self.core.snapshot().state.as_str()
    }

    pub fn take_sent(&mut self) -> Vec<ClientMessage> {
        std::mem::take(&mut self.sent)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Kinds of the error events so far (drained).
    pub fn take_error_kinds(&mut self) -> Vec<&'static str> {
        self.take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Error(e) => Some(e.kind()),
                _ => None,
            })
            .collect()
    }
}
