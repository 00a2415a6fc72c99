//! Socket.IO (Engine.IO v4 over WebSocket, Socket.IO v5 packets) as a [`Wire`], for apps that
//! keep the Socket.IO server they have, with handlers written the usual way:
//! `socket.on(event, (payload, ack) => …)`.
//!
//! The mapping (see the README's Socket.IO section):
//! - `hello` waits for the Engine.IO handshake, then goes as CONNECT with `{"token": …}` (and,
//!   where the server recovers sessions, the session id and last offset); the server's CONNECT
//!   answer is the session, CONNECT_ERROR a refusal. A connection the server did not recover
//!   first sends the app's `joins`, so that its rooms come back.
//! - The server pings and this wire answers; no frame within `pingInterval + pingTimeout`
//!   means a dead connection ([`Heartbeat::ServerPings`]).
//! - A subscription is `socket.on(event)`: nothing goes on the wire, it is live at once.
//!   Socket.IO numbers no events, so the core counts them.
//! - A durable publish is EVENT `[event, payload]`, the id inside the payload
//!   ([`PublishFormat::Payload`]), or `[channel, data, {"id", "event"}]` ([`PublishFormat::Meta`]);
//!   with an ack id when [`Delivery::Ack`]: the ack's first argument is the answer the client's
//!   ack rule reads. A memory-only publish goes without an ack id, like an emit.
//! - A request is an EVENT with an ack id; the ack's first argument is the answer.
//! - An emit is an EVENT without an ack id. An EVENT from the server that asks for an ack is
//!   acked at once.
//! - Binary packets are reported as unsupported.

mod config;
mod echo;
mod packet;
mod publish;
mod recovery;

pub use config::{Join, PublishFormat, SocketIoConfig};
pub use packet::{
    DEFAULT_PING_INTERVAL_MS, DEFAULT_PING_TIMEOUT_MS, EnginePacket, Handshake, Packet, PacketType,
    SocketIoError, engine_url,
};
pub use publish::NOT_AN_OBJECT;

use std::collections::{HashMap, VecDeque};

use echo::Echoes;
use recovery::Recovery;

use crate::protocol::message::{Delivery, InEvent, Inbound, Outbound, ServerError};
use crate::protocol::raw::RawJson;
use crate::protocol::wire::{Decoded, Encoded, Heartbeat, Wire, WireError};

/// Ack ids kept per socket at most; the oldest are forgotten beyond it (their messages time
/// out and are sent again under a new id). Also the most publishes awaiting their echo.
const MAX_AWAITED: usize = 10_000;

/// Event names a Socket.IO server reserves: an EVENT with one of them closes the connection.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// What an ack id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaited {
    Publish(String),
    Request(String),
    /// The server helper's replay.
    Replay,
}

impl Awaited {
    fn id(&self) -> &str {
        match self {
            Self::Publish(id) | Self::Request(id) => id,
            Self::Replay => "",
        }
    }
}

/// The Socket.IO side of one client: per socket, the handshake and the ack ids in flight;
/// across sockets, the session to recover and the publishes awaiting their echo.
#[derive(Debug)]
pub struct SocketIoWire {
    config: SocketIoConfig,
    engine_open: bool,
    liveness_ms: Option<u64>,
    /// The server's largest accepted frame (Engine.IO's maxPayload); bigger ones would close
    /// the connection, so they are refused here.
    max_payload: Option<u64>,
    /// The `hello` (its token) waiting for the Engine.IO handshake.
    held_hello: Option<Option<String>>,
    /// The CONNECT answer came on this socket.
    connected: bool,
    /// Events a recovered session's server sends before its CONNECT answer.
    early: Decoded,
    /// Ack id → what it answers, in the order sent (ids only grow, so the front is oldest).
    awaited: VecDeque<(u64, Awaited)>,
    /// The ack id each message waits under: a message sent again on the same socket (a
    /// retry) reuses it, so one answer settles it and a second is a duplicate.
    ack_of: HashMap<String, u64>,
    next_ack: u64,
    /// Binary attachments still to come for a binary packet that was refused.
    attachments_due: u64,
    transmit: VecDeque<String>,
    recovery: Recovery,
    echoes: Echoes,
    /// While the server helper replays: events with a stream offset, held to be delivered in
    /// offset order (replayed ones are older than the live ones around them).
    held: Option<Vec<((u64, u64), Inbound)>>,
    /// Durable publishes written with [`Delivery::Sent`], confirmed by the next frame the
    /// server sends on this socket: the connection carried traffic after them, so they did not
    /// die in a socket that was already going away.
    written: Vec<String>,
}

impl SocketIoWire {
    /// A wire with these settings.
    pub fn new(config: SocketIoConfig) -> Self {
        Self {
            config,
            engine_open: false,
            liveness_ms: None,
            max_payload: None,
            held_hello: None,
            connected: false,
            early: Vec::new(),
            awaited: VecDeque::new(),
            ack_of: HashMap::new(),
            next_ack: 0,
            attachments_due: 0,
            transmit: VecDeque::new(),
            recovery: Recovery::default(),
            echoes: Echoes::default(),
            held: None,
            written: Vec::new(),
        }
    }

    fn namespace(&self) -> &str {
        &self.config.namespace
    }

    fn await_answer(&mut self, what: Awaited) -> u64 {
        if let Some(&ack) = self.ack_of.get(what.id()) {
            if self.awaited.iter().any(|(id, w)| *id == ack && *w == what) {
                return ack;
            }
        }
        let id = self.next_ack;
        self.next_ack = self.next_ack.wrapping_add(1);
        if self.awaited.len() >= MAX_AWAITED {
            if let Some((_, old)) = self.awaited.pop_front() {
                self.ack_of.remove(old.id());
            }
        }
        if what != Awaited::Replay {
            self.ack_of.insert(what.id().to_owned(), id);
        }
        self.awaited.push_back((id, what));
        id
    }

    fn take_answer(&mut self, ack: u64) -> Option<Awaited> {
        let at = self.awaited.iter().position(|(id, _)| *id == ack)?;
        let (_, what) = self.awaited.remove(at)?;
        self.ack_of.remove(what.id());
        Some(what)
    }

    fn too_large(&self, frame: &str) -> Option<WireError> {
        let limit = self.max_payload?;
        (frame.len() as u64 > limit).then_some(WireError::TooLarge {
            size: frame.len(),
            limit,
        })
    }

    fn on_packet(&mut self, packet: Packet, out: &mut Decoded) {
        if packet.namespace != self.config.namespace {
            let error = SocketIoError::WrongNamespace {
                expected: self.config.namespace.clone(),
                got: packet.namespace,
            };
            return out.push(Err(error.into()));
        }
        match packet.kind {
            PacketType::Connect => self.on_connect(&packet, out),
            PacketType::ConnectError => out.push(Ok(Inbound::Denied {
                reason: packet.error_message(),
            })),
            PacketType::Disconnect => out.push(Ok(Inbound::Closed {
                reason: "Socket.IO DISCONNECT",
            })),
            PacketType::Event => {
                if let Some(id) = packet.ack {
                    // The server asked for an ack: the event arrived.
                    self.transmit
                        .push_back(Packet::ack(self.namespace(), id, &[]).encode());
                }
                if let Some((name, args)) = packet.event_parts() {
                    if self.connected {
                        self.on_event(name, args, out);
                    } else {
                        // A recovered session's missed events come before the CONNECT answer.
                        let mut early = std::mem::take(&mut self.early);
                        self.on_event(name, args, &mut early);
                        self.early = early;
                    }
                }
            }
            PacketType::Ack => {
                let first = packet.ack_args().into_iter().next();
                if let Some(answer) = self.on_ack(packet.ack, first) {
                    out.push(answer);
                }
                if !self.recovery.replaying() {
                    // The replay is complete: what was held goes out, in offset order.
                    out.append(&mut self.release());
                }
            }
            PacketType::BinaryEvent => {
                self.attachments_due = packet.attachments;
                out.push(Err(WireError::Unsupported(
                    "Socket.IO binary events (BINARY_EVENT)",
                )));
            }
            PacketType::BinaryAck => {
                self.attachments_due = packet.attachments;
                out.push(Err(WireError::Unsupported(
                    "Socket.IO binary acks (BINARY_ACK)",
                )));
                if let Some(answer) = self.on_binary_ack(packet.ack) {
                    out.push(answer);
                }
                if !self.recovery.replaying() {
                    out.append(&mut self.release());
                }
            }
        }
    }

    /// The CONNECT answer: the session, whether the server recovered the previous one, and
    /// what a connection that was not recovered sends first (the joins, the replay).
    fn on_connect(&mut self, packet: &Packet, out: &mut Decoded) {
        self.connected = true;
        let resumed = self.recovery.connected(packet.pid());
        if resumed != crate::protocol::message::Resumption::Recovered {
            for join in &self.config.joins {
                let args: Vec<&RawJson> = join.args.iter().collect();
                let frame = Packet::event(self.namespace(), None, &join.event, &args).encode();
                self.transmit.push_back(frame);
            }
        }
        if let (
            crate::protocol::message::Resumption::Lost {
                last_offset: Some(offset),
            },
            Some(event),
        ) = (&resumed, self.config.replay_event.clone())
        {
            #[derive(serde::Serialize)]
            struct Replay<'a> {
                offset: &'a str,
            }
            let request = RawJson::to_json(&Replay { offset });
            let ack = self.await_answer(Awaited::Replay);
            let frame = Packet::event(self.namespace(), Some(ack), &event, &[&request]).encode();
            self.transmit.push_back(frame);
            self.recovery.replay_started();
            self.held = Some(Vec::new());
        }
        out.push(Ok(Inbound::Session {
            session: packet.sid().unwrap_or_default(),
            resumed,
        }));
        out.append(&mut self.early);
    }

    fn on_event(&mut self, name: String, mut args: Vec<RawJson>, out: &mut Decoded) {
        let mut position = None;
        if self.recovery.enabled() && args.len() > 1 {
            // A server that recovers sessions ends each broadcast with its offset.
            if let Some(offset) = args.last().and_then(|last| last.read::<String>().ok()) {
                args.pop();
                position = recovery::stream_id(&offset);
                if !self.recovery.arrived(offset) {
                    return;
                }
            }
        }
        let echoed = if self.config.delivery == Delivery::Echo {
            self.echoes.take(&self.config.id_field, &args)
        } else {
            None
        };
        let (data, spread) = match <[RawJson; 1]>::try_from(args) {
            Ok([single]) => (single, false),
            Err(args) => (RawJson::list(&args), true),
        };
        let event = Inbound::Event(InEvent {
            channel: name.clone(),
            event: name,
            seq: None,
            id: None,
            data,
            spread,
        });
        match (&mut self.held, position) {
            (Some(held), Some(position)) => held.push((position, event)),
            _ => out.push(Ok(event)),
        }
        if let Some(id) = echoed {
            out.push(Ok(Inbound::Ack { id, seq: 0 }));
        }
    }

    fn on_ack(
        &mut self,
        ack: Option<u64>,
        first: Option<RawJson>,
    ) -> Option<Result<Inbound, WireError>> {
        let awaited = ack.and_then(|id| self.take_answer(id));
        Some(Ok(match awaited {
            None => return Some(Err(WireError::UnknownAck(ack.unwrap_or(0)))),
            Some(Awaited::Replay) => {
                self.recovery.replay_done();
                return None;
            }
            Some(Awaited::Request(id)) => Inbound::Response {
                id,
                result: Ok(first.unwrap_or_else(RawJson::null)),
            },
            Some(Awaited::Publish(id)) => Inbound::Answered {
                id,
                answer: first.unwrap_or_else(RawJson::null),
            },
        }))
    }

    /// A binary ack: for a publish it still says the server has it; a request cannot use it.
    fn on_binary_ack(&mut self, ack: Option<u64>) -> Option<Result<Inbound, WireError>> {
        Some(Ok(match ack.and_then(|id| self.take_answer(id)) {
            None => return Some(Err(WireError::UnknownAck(ack.unwrap_or(0)))),
            Some(Awaited::Replay) => {
                self.recovery.replay_done();
                return None;
            }
            Some(Awaited::Publish(id)) => Inbound::Ack { id, seq: 0 },
            Some(Awaited::Request(id)) => Inbound::Response {
                id,
                result: Err(ServerError {
                    code: "unsupported".to_owned(),
                    message: "the answer came as a binary ack (BINARY_ACK), which syncline does not support".to_owned(),
                }),
            },
        }))
    }

    fn connect_frame(&mut self, token: Option<String>) -> String {
        #[derive(serde::Serialize)]
        struct Auth<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            token: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pid: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            offset: Option<&'a str>,
        }
        let (pid, offset) = self.recovery.ask();
        let auth = (token.is_some() || pid.is_some())
            .then(|| RawJson::to_json(&Auth { token, pid, offset }));
        Packet::connect(&self.config.namespace, auth).encode()
    }
}

/// The arguments of an outgoing event: the elements of `data` when it is a list to spread.
fn arguments(data: RawJson, spread: bool) -> Vec<RawJson> {
    if spread {
        if let Some(items) = data.elements() {
            return items;
        }
    }
    vec![data]
}

impl Wire for SocketIoWire {
    fn reset(&mut self) {
        // Ack ids keep counting across sockets: an answer meant for a dead socket's message
        // cannot settle the same message sent again on the next one. The session to recover
        // and the publishes awaiting their echo outlive the socket too.
        let fresh = Self::new(self.config.clone());
        let old = std::mem::replace(self, fresh);
        self.next_ack = old.next_ack;
        self.recovery = old.recovery;
        self.recovery.replay_done();
        self.echoes = old.echoes;
    }

    fn decode(&mut self, frame: &str) -> Result<Decoded, WireError> {
        let packet = EnginePacket::decode(frame)?;
        // Any frame from the server, a ping included, confirms what was written before it.
        let mut out: Decoded = self
            .written
            .drain(..)
            .map(|id| Ok(Inbound::Sent { id }))
            .collect();
        match packet {
            EnginePacket::Open(handshake) => {
                self.engine_open = true;
                self.liveness_ms = Some(handshake.liveness_ms());
                self.max_payload = handshake.max_payload;
                if let Some(token) = self.held_hello.take() {
                    let connect = self.connect_frame(token);
                    self.transmit.push_back(connect);
                }
            }
            EnginePacket::Close => out.push(Ok(Inbound::Closed {
                reason: "Engine.IO close",
            })),
            EnginePacket::Ping(payload) => {
                self.transmit
                    .push_back(EnginePacket::Pong(payload).encode());
            }
            EnginePacket::Pong(_) | EnginePacket::Noop => {}
            EnginePacket::Upgrade => {
                out.push(Err(WireError::Unsupported("Engine.IO transport upgrade")));
            }
            EnginePacket::Message(text) => self.on_packet(Packet::decode(text)?, &mut out),
        }
        Ok(out)
    }

    fn decode_binary(&mut self, len: usize) -> Result<(), WireError> {
        if self.attachments_due > 0 {
            // An attachment of a binary packet that was already reported.
            self.attachments_due -= 1;
            Ok(())
        } else {
            Err(WireError::UnexpectedBinary(len))
        }
    }

    fn encode(&mut self, message: Outbound) -> Result<Encoded, WireError> {
        let ns = self.config.namespace.clone();
        Ok(match message {
            Outbound::Hello { token, .. } => {
                if self.engine_open {
                    Encoded::Frame(self.connect_frame(token))
                } else {
                    self.held_hello = Some(token);
                    Encoded::Nothing
                }
            }
            Outbound::Subscribe { channel, .. } => Encoded::Answered(Inbound::Subscribed {
                channel,
                seq: None,
                since: None,
            }),
            Outbound::Unsubscribe { .. } | Outbound::Ping { .. } | Outbound::Pong { .. } => {
                Encoded::Nothing
            }
            Outbound::Publish {
                id,
                channel,
                event,
                data,
                memory,
                ..
            } => self.encode_publish(id, &channel, &event, data, memory),
            Outbound::Request {
                id,
                event,
                data,
                spread,
            } => {
                let ack = self.await_answer(Awaited::Request(id));
                let args = arguments(data, spread);
                let args: Vec<&RawJson> = args.iter().collect();
                let frame = Packet::event(&ns, Some(ack), &event, &args).encode();
                if self.too_large(&frame).is_none() {
                    Encoded::Frame(frame)
                } else {
                    match self.take_answer(ack) {
                        Some(Awaited::Request(id)) => Encoded::Answered(Inbound::Response {
                            id,
                            result: Err(ServerError {
                                code: "too_large".to_owned(),
                                message: "larger than the server's maxPayload".to_owned(),
                            }),
                        }),
                        _ => Encoded::Nothing,
                    }
                }
            }
            Outbound::Emit {
                event,
                data,
                spread,
            } => {
                let args = arguments(data, spread);
                let args: Vec<&RawJson> = args.iter().collect();
                let frame = Packet::event(&ns, None, &event, &args).encode();
                if let Some(error) = self.too_large(&frame) {
                    return Err(error);
                }
                Encoded::Frame(frame)
            }
        })
    }

    fn poll_transmit(&mut self) -> Option<String> {
        self.transmit.pop_front()
    }

    fn holds(&self) -> bool {
        self.held.is_some()
    }

    fn release(&mut self) -> Decoded {
        // Held events were already checked against duplicates; a replay that goes on after a
        // release still drops what was delivered (the recovery keeps its offsets until its end).
        let Some(mut held) = self.held.take() else {
            return Vec::new();
        };
        held.sort_by_key(|(position, _)| *position);
        held.into_iter().map(|(_, event)| Ok(event)).collect()
    }

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat::ServerPings {
            liveness_ms: self.liveness_ms,
        }
    }

    fn goodbye(&self) -> Option<String> {
        Some(Packet::new(PacketType::Disconnect, &self.config.namespace).encode())
    }

    fn carries_emits(&self) -> bool {
        true
    }

    fn dedups_requests(&self) -> bool {
        // A handler runs once per event it receives; nothing drops a resent request.
        false
    }

    fn refuses_event(&self, name: &str) -> bool {
        RESERVED_EVENTS.contains(&name)
    }
}

#[cfg(test)]
mod tests;
