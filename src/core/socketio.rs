//! Socket.IO as the wire. The rest of the core speaks envelope messages; with
//! [`Protocol::SocketIo`] this module turns them into Engine.IO/Socket.IO packets on the way
//! out, and packets back into envelope messages on the way in, so the outbox, requests,
//! subscriptions and the tabs' shared connection work unchanged.
//!
//! The mapping (see the README's Socket.IO section):
//! - `hello` waits for the Engine.IO handshake, then goes as CONNECT with `{"token": …}`;
//!   the server's CONNECT answer is `welcome`, CONNECT_ERROR is `denied`.
//! - The server pings and the client answers; no ping within `pingInterval + pingTimeout`
//!   means a dead connection.
//! - A subscription is `on(event)`: nothing goes on the wire. Events get a per-event
//!   sequence number counted here, so duplicates and documents work as with the relay.
//! - A publish is EVENT `[channel, data, {"id", "event"}]` with an ack id; the server's ack
//!   confirms it (`{"error": …, "retryable": …}` as the first ack argument refuses it).
//! - A request is an EVENT with an ack id; the ack's first argument is the answer.
//! - An emit is an EVENT without an ack id.
//! - Binary packets are reported as unsupported.
//!
//! Follower tabs keep speaking the envelope to their leader; only the leader's (or a solo
//! tab's) socket carries Socket.IO.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::client::{Action, ClientCore};
use super::error::ClientError;
use super::state::Role;
use super::timer::Timer;
use crate::protocol::envelope::decode_client_frame;
use crate::protocol::envelope::{ClientMessage, RawJson, ServerError, ServerMessage};
use crate::protocol::json;
use crate::protocol::socketio::{EnginePacket, Packet, PacketType, SocketIoError};

/// What the client speaks to the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Protocol {
    /// syncline's JSON envelope (the relay).
    #[default]
    Envelope,
    /// Engine.IO v4 over WebSocket with Socket.IO v5 packets, in `namespace` (`/` by default).
    SocketIo { namespace: String },
}

/// Ack ids kept per socket at most; the oldest are forgotten beyond it (their entries time
/// out and are sent again under a new id).
const MAX_AWAITED: usize = 10_000;

/// What an ack id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaited {
    Publish(String),
    Request(String),
}

impl Awaited {
    fn id(&self) -> &str {
        match self {
            Self::Publish(id) | Self::Request(id) => id,
        }
    }
}

/// Event names a Socket.IO server reserves: an EVENT with one of them closes the connection.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// True when `name` may not be sent as a Socket.IO event.
pub fn is_reserved(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}

/// The Socket.IO side of one client: per socket, the handshake and the ack ids in flight;
/// for the client's life, the per-event sequence numbers.
#[derive(Debug, Default)]
pub(super) struct SioWire {
    engine_open: bool,
    liveness_ms: u64,
    /// The server's largest accepted frame (Engine.IO's maxPayload); bigger ones would close
    /// the connection, so they are refused here.
    max_payload: Option<u64>,
    /// The `hello` (its token) waiting for the Engine.IO handshake.
    held_hello: Option<Option<String>>,
    awaited: BTreeMap<u64, Awaited>,
    /// The ack id each message waits under: a message sent again on the same socket (a
    /// retry) reuses it, so one answer settles it and a second is a duplicate.
    ack_of: HashMap<String, u64>,
    next_ack: u64,
    seqs: HashMap<String, u64>,
    /// Binary attachments still to come for a binary packet that was refused.
    attachments_due: u64,
    /// Answers made up here (a subscription is live at once), handled before the input ends.
    pub(super) synthetic: VecDeque<ServerMessage>,
}

impl SioWire {
    /// Forgets the socket: its handshake and its ack ids (what waited is sent again).
    pub(super) fn reset(&mut self) {
        self.engine_open = false;
        self.held_hello = None;
        self.max_payload = None;
        self.awaited.clear();
        self.ack_of.clear();
        self.attachments_due = 0;
    }

    fn await_answer(&mut self, what: Awaited) -> u64 {
        let key = what.id().to_owned();
        if let Some(ack) = self.ack_of.get(&key) {
            if self.awaited.get(ack) == Some(&what) {
                return *ack;
            }
        }
        let id = self.next_ack;
        self.next_ack = self.next_ack.wrapping_add(1);
        if self.awaited.len() >= MAX_AWAITED {
            if let Some((_, old)) = self.awaited.pop_first() {
                self.ack_of.remove(old.id());
            }
        }
        self.awaited.insert(id, what);
        self.ack_of.insert(key, id);
        id
    }

    fn take_answer(&mut self, ack: u64) -> Option<Awaited> {
        let what = self.awaited.remove(&ack)?;
        self.ack_of.remove(what.id());
        Some(what)
    }
}

impl ClientCore {
    /// True when this tab's socket carries Socket.IO (a follower's link carries the envelope).
    pub(super) fn sio_active(&self) -> bool {
        matches!(self.config.protocol, Protocol::SocketIo { .. }) && self.role() != Role::Follower
    }

    fn namespace(&self) -> &str {
        match &self.config.protocol {
            Protocol::SocketIo { namespace } => namespace,
            Protocol::Envelope => "/",
        }
    }

    /// Envelope messages (encoded) into Socket.IO frames.
    pub(super) fn sio_translate(&mut self, messages: Vec<String>) -> Vec<String> {
        let mut frames = Vec::with_capacity(messages.len());
        for text in messages {
            // What the core encoded always decodes (app data is limited to a depth that
            // leaves room for the envelope); anything else would be a bug, reported.
            let Ok(decoded) = decode_client_frame(&text) else {
                self.report_error(ClientError::Unsupported(
                    "a message that could not be translated to Socket.IO",
                ));
                continue;
            };
            for message in decoded.into_iter().flatten() {
                if let Some(frame) = self.sio_outgoing(message) {
                    frames.push(frame);
                }
            }
        }
        frames
    }

    fn sio_outgoing(&mut self, message: ClientMessage) -> Option<String> {
        let ns = self.namespace().to_owned();
        match message {
            ClientMessage::Hello { token, .. } => {
                if self.sio.engine_open {
                    return Some(connect_packet(&ns, token.as_deref()));
                }
                self.sio.held_hello = Some(token);
                None
            }
            ClientMessage::Subscribe { channel, .. } => {
                let seq = self.sio.seqs.get(&channel).copied().unwrap_or(0);
                self.sio
                    .synthetic
                    .push_back(ServerMessage::Subscribed { channel, seq });
                None
            }
            ClientMessage::Unsubscribe { .. }
            | ClientMessage::Ping { .. }
            | ClientMessage::Pong { .. } => None,
            ClientMessage::Publish {
                id,
                channel,
                event,
                data,
                ..
            } => {
                let mut meta = String::from("{\"id\":");
                json::write_str(&mut meta, &id);
                meta.push_str(",\"event\":");
                json::write_str(&mut meta, &event);
                meta.push('}');
                let meta = RawJson::from_validated(meta);
                let ack = self.sio.await_answer(Awaited::Publish(id.clone()));
                let frame = Packet::event(&ns, Some(ack), &channel, &[&data, &meta]).encode();
                self.within_payload(frame, ack)
            }
            ClientMessage::Request {
                id,
                event,
                data,
                spread,
            } => {
                let ack = self.sio.await_answer(Awaited::Request(id));
                let args = arguments(&data, spread);
                let args: Vec<&RawJson> = args.iter().collect();
                let frame = Packet::event(&ns, Some(ack), &event, &args).encode();
                self.within_payload(frame, ack)
            }
            ClientMessage::Emit {
                event,
                data,
                spread,
            } => {
                let args = arguments(&data, spread);
                let args: Vec<&RawJson> = args.iter().collect();
                let frame = Packet::event(&ns, None, &event, &args).encode();
                if self.too_large(&frame) {
                    self.report_error(ClientError::EmitDropped(
                        "larger than the server's maxPayload".to_owned(),
                    ));
                    return None;
                }
                Some(frame)
            }
        }
    }

    fn too_large(&self, frame: &str) -> bool {
        self.sio
            .max_payload
            .is_some_and(|max| frame.len() as u64 > max)
    }

    /// A frame the server would refuse (closing the connection) fails its message for good
    /// instead: a publish becomes a dead letter, a request fails.
    fn within_payload(&mut self, frame: String, ack: u64) -> Option<String> {
        if !self.too_large(&frame) {
            return Some(frame);
        }
        let reason = "larger than the server's maxPayload";
        let answer = match self.sio.take_answer(ack)? {
            Awaited::Publish(id) => ServerMessage::Nack {
                id,
                reason: reason.to_owned(),
                retryable: false,
            },
            Awaited::Request(id) => ServerMessage::Response {
                id,
                result: Err(ServerError {
                    code: "too_large".to_owned(),
                    message: reason.to_owned(),
                }),
            },
        };
        self.sio.synthetic.push_back(answer);
        None
    }

    /// Handles what [`ClientCore::sio_translate`] made up, until nothing is left.
    pub(super) fn sio_settle(&mut self, now: u64) {
        while let Some(message) = self.sio.synthetic.pop_front() {
            self.handle_message(now, message);
        }
    }

    /// A text frame on a Socket.IO socket.
    pub(super) fn handle_sio_frame(&mut self, now: u64, frame: &str) {
        self.metrics.messages_in += 1;
        if self.sio.engine_open {
            self.arm_liveness(now);
        }
        let packet = match EnginePacket::decode(frame) {
            Ok(packet) => packet,
            Err(error) => return self.report_error(ClientError::MalformedPacket(error)),
        };
        match packet {
            EnginePacket::Open(handshake) => {
                self.sio.engine_open = true;
                self.sio.liveness_ms = handshake.liveness_ms();
                self.sio.max_payload = handshake.max_payload;
                self.arm_liveness(now);
                if let Some(token) = self.sio.held_hello.take() {
                    let ns = self.namespace().to_owned();
                    self.push_action(Action::Send(connect_packet(&ns, token.as_deref())));
                }
            }
            EnginePacket::Close => {
                self.lose(now, ClientError::ServerDisconnect("Engine.IO close"));
            }
            EnginePacket::Ping(payload) => {
                self.push_action(Action::Send(EnginePacket::Pong(payload).encode()));
            }
            EnginePacket::Pong(_) | EnginePacket::Noop => {}
            EnginePacket::Upgrade => {
                self.report_error(ClientError::Unsupported("Engine.IO transport upgrade"));
            }
            EnginePacket::Message(text) => match Packet::decode(text) {
                Ok(packet) => self.on_packet(now, packet),
                Err(error) => self.report_error(ClientError::MalformedPacket(error)),
            },
        }
    }

    /// A binary frame on a Socket.IO socket: an attachment of a refused binary packet is
    /// dropped quietly (the packet was reported); any other is reported.
    pub(super) fn handle_sio_binary(&mut self, len: usize) {
        if self.sio.attachments_due > 0 {
            self.sio.attachments_due -= 1;
        } else {
            self.report_error(ClientError::UnexpectedBinary(len));
        }
    }

    fn arm_liveness(&mut self, now: u64) {
        self.timers.set(
            Timer::PongDeadline,
            now.saturating_add(self.sio.liveness_ms),
        );
    }

    fn on_packet(&mut self, now: u64, packet: Packet) {
        if packet.namespace != self.namespace() {
            let error = SocketIoError::WrongNamespace {
                expected: self.namespace().to_owned(),
                got: packet.namespace,
            };
            return self.report_error(ClientError::MalformedPacket(error));
        }
        match packet.kind {
            PacketType::Connect => {
                let session = packet.sid().unwrap_or_default();
                self.handle_message(now, ServerMessage::Welcome { session });
            }
            PacketType::ConnectError => {
                let reason = packet.error_message();
                self.handle_message(now, ServerMessage::Denied { reason });
            }
            PacketType::Disconnect => {
                self.lose(now, ClientError::ServerDisconnect("Socket.IO DISCONNECT"));
            }
            PacketType::Event => self.on_event(now, &packet),
            PacketType::Ack => {
                let args = packet.ack_args();
                self.on_ack(now, packet.ack, args.first());
            }
            PacketType::BinaryEvent => {
                self.sio.attachments_due = packet.attachments;
                self.report_error(ClientError::Unsupported(
                    "Socket.IO binary events (BINARY_EVENT)",
                ));
            }
            PacketType::BinaryAck => {
                self.sio.attachments_due = packet.attachments;
                self.report_error(ClientError::Unsupported(
                    "Socket.IO binary acks (BINARY_ACK)",
                ));
                self.on_binary_ack(now, packet.ack);
            }
        }
    }

    fn on_event(&mut self, now: u64, packet: &Packet) {
        let Some((name, args)) = packet.event_parts() else {
            return;
        };
        if let Some(id) = packet.ack {
            // The server asked for an ack: the event arrived.
            let ack = Packet::ack(self.namespace(), id, &[]).encode();
            self.push_action(Action::Send(ack));
        }
        // Only events someone listens to get a sequence; others are dropped here, so a server
        // sending endless event names cannot grow this client's memory.
        if self.router.channel(&name).is_none() && !self.tabs.hub.has_channel(&name) {
            return;
        }
        let seq = {
            let counter = self.sio.seqs.entry(name.clone()).or_insert(0);
            *counter += 1;
            *counter
        };
        let (data, spread) = match <[RawJson; 1]>::try_from(args) {
            Ok([single]) => (single, false),
            Err(args) => (list(&args), true),
        };
        let message = ServerMessage::Event {
            channel: name.clone(),
            event: name,
            seq,
            id: None,
            data,
            spread,
        };
        self.handle_message(now, message);
    }

    fn on_ack(&mut self, now: u64, id: Option<u64>, first: Option<&RawJson>) {
        let Some(awaited) = id.and_then(|id| self.sio.take_answer(id)) else {
            return self.unknown_ack(id);
        };
        let message = match awaited {
            Awaited::Request(id) => ServerMessage::Response {
                id,
                result: Ok(first.cloned().unwrap_or_else(RawJson::null)),
            },
            Awaited::Publish(id) => match first.and_then(refusal) {
                Some((reason, retryable)) => ServerMessage::Nack {
                    id,
                    reason,
                    retryable,
                },
                None => {
                    let seq = first.and_then(|f| number_field(f, "seq")).unwrap_or(0);
                    ServerMessage::Ack { id, seq }
                }
            },
        };
        self.handle_message(now, message);
    }

    /// A binary ack: for a publish it still says the server has it; a request cannot use it.
    fn on_binary_ack(&mut self, now: u64, id: Option<u64>) {
        let Some(awaited) = id.and_then(|id| self.sio.take_answer(id)) else {
            return self.unknown_ack(id);
        };
        let message = match awaited {
            Awaited::Publish(id) => ServerMessage::Ack { id, seq: 0 },
            Awaited::Request(id) => ServerMessage::Response {
                id,
                result: Err(ServerError {
                    code: "unsupported".to_owned(),
                    message: "the answer came as a binary ack (BINARY_ACK), which syncline does not support".to_owned(),
                }),
            },
        };
        self.handle_message(now, message);
    }

    fn unknown_ack(&mut self, id: Option<u64>) {
        let mut text = String::new();
        json::write_u64(&mut text, id.unwrap_or(0));
        self.report_error(ClientError::UnknownAnswer {
            kind: "ack",
            id: text,
        });
    }
}

/// CONNECT with the token as `{"token": …}` (what Socket.IO servers read as
/// `socket.handshake.auth.token`).
fn connect_packet(namespace: &str, token: Option<&str>) -> String {
    let auth = token.map(|token| {
        let mut out = String::from("{\"token\":");
        json::write_str(&mut out, token);
        out.push('}');
        RawJson::from_validated(out)
    });
    Packet::connect(namespace, auth).encode()
}

/// The arguments of an outgoing event: the elements of `data` when it is a list to spread.
fn arguments(data: &RawJson, spread: bool) -> Vec<RawJson> {
    if spread {
        if let Ok(items) = json::array_elements(data.as_str()) {
            return items.into_iter().map(RawJson::from_validated).collect();
        }
    }
    vec![data.clone()]
}

/// A JSON array of raw values.
fn list(items: &[RawJson]) -> RawJson {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_str());
    }
    out.push(']');
    RawJson::from_validated(out)
}

/// `{"error": reason, "retryable": bool}` as an ack's first argument refuses a publish.
fn refusal(first: &RawJson) -> Option<(String, bool)> {
    let fields = json::object_fields(first.as_str()).ok()?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
            .filter(|v| !json::is_null(v))
    };
    let error = get("error")?;
    let reason = json::as_str(error).map_or_else(|_| error.to_owned(), |s| s.into_owned());
    let retryable = get("retryable").is_some_and(|r| json::as_bool(r).unwrap_or(false));
    Some((reason, retryable))
}

fn number_field(value: &RawJson, name: &str) -> Option<u64> {
    let fields = json::object_fields(value.as_str()).ok()?;
    let raw = fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v)?;
    json::as_u64(raw).ok()
}
