//! Socket.IO (Engine.IO v4 over WebSocket, Socket.IO v5 packets) as a [`Wire`], for apps that
//! keep the Socket.IO server they have, with handlers written the usual way:
//! `socket.on(event, (payload, ack) => …)`.
//!
//! The mapping (see the README's Socket.IO section):
//! - `hello` waits for the Engine.IO handshake, then goes as CONNECT with `{"token": …}`; the
//!   server's CONNECT answer is the session, CONNECT_ERROR a refusal.
//! - The server pings and this wire answers; no frame within `pingInterval + pingTimeout`
//!   means a dead connection ([`Heartbeat::ServerPings`]).
//! - A subscription is `socket.on(event)`: nothing goes on the wire, it is live at once.
//!   Socket.IO numbers no events, so the core counts them.
//! - A publish is EVENT `[channel, data, {"id", "event"}]` with an ack id; the server's ack
//!   confirms it (`{"error": …, "retryable": …}` as the first ack argument refuses it).
//! - A request is an EVENT with an ack id; the ack's first argument is the answer.
//! - An emit is an EVENT without an ack id. An EVENT from the server that asks for an ack is
//!   acked at once.
//! - Binary packets are reported as unsupported.

mod packet;

pub use packet::{
    DEFAULT_PING_INTERVAL_MS, DEFAULT_PING_TIMEOUT_MS, EnginePacket, Handshake, Packet, PacketType,
    SocketIoError, engine_url,
};

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;

use crate::protocol::message::{InEvent, Inbound, Outbound, ServerError};
use crate::protocol::raw::RawJson;
use crate::protocol::wire::{Decoded, Encoded, Heartbeat, Wire, WireError};

/// Ack ids kept per socket at most; the oldest are forgotten beyond it (their messages time
/// out and are sent again under a new id).
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
}

impl Awaited {
    fn id(&self) -> &str {
        match self {
            Self::Publish(id) | Self::Request(id) => id,
        }
    }
}

/// The Socket.IO side of one client, per socket: the handshake and the ack ids in flight.
#[derive(Debug)]
pub struct SocketIoWire {
    namespace: String,
    engine_open: bool,
    liveness_ms: Option<u64>,
    /// The server's largest accepted frame (Engine.IO's maxPayload); bigger ones would close
    /// the connection, so they are refused here.
    max_payload: Option<u64>,
    /// The `hello` (its token) waiting for the Engine.IO handshake.
    held_hello: Option<Option<String>>,
    /// Ack id → what it answers, in the order sent (ids only grow, so the front is oldest).
    awaited: VecDeque<(u64, Awaited)>,
    /// The ack id each message waits under: a message sent again on the same socket (a
    /// retry) reuses it, so one answer settles it and a second is a duplicate.
    ack_of: HashMap<String, u64>,
    next_ack: u64,
    /// Binary attachments still to come for a binary packet that was refused.
    attachments_due: u64,
    transmit: VecDeque<String>,
}

impl SocketIoWire {
    /// A wire for the Socket.IO `namespace` (`/` for the main one).
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            engine_open: false,
            liveness_ms: None,
            max_payload: None,
            held_hello: None,
            awaited: VecDeque::new(),
            ack_of: HashMap::new(),
            next_ack: 0,
            attachments_due: 0,
            transmit: VecDeque::new(),
        }
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
        self.ack_of.insert(what.id().to_owned(), id);
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

    /// A frame that would exceed the server's limit is answered here instead: a publish is
    /// refused for good, a request fails.
    fn within_payload(&mut self, frame: String, ack: u64) -> Encoded {
        if self.too_large(&frame).is_none() {
            return Encoded::Frame(frame);
        }
        let reason = "larger than the server's maxPayload";
        match self.take_answer(ack) {
            Some(Awaited::Publish(id)) => Encoded::Answered(Inbound::Refused {
                id,
                reason: reason.to_owned(),
                retryable: false,
            }),
            Some(Awaited::Request(id)) => Encoded::Answered(Inbound::Response {
                id,
                result: Err(ServerError {
                    code: "too_large".to_owned(),
                    message: reason.to_owned(),
                }),
            }),
            None => Encoded::Nothing,
        }
    }

    fn on_packet(&mut self, packet: Packet, out: &mut Decoded) {
        if packet.namespace != self.namespace {
            let error = SocketIoError::WrongNamespace {
                expected: self.namespace.clone(),
                got: packet.namespace,
            };
            return out.push(Err(error.into()));
        }
        match packet.kind {
            PacketType::Connect => out.push(Ok(Inbound::Session {
                session: packet.sid().unwrap_or_default(),
            })),
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
                        .push_back(Packet::ack(&self.namespace, id, &[]).encode());
                }
                if let Some((name, args)) = packet.event_parts() {
                    let (data, spread) = match <[RawJson; 1]>::try_from(args) {
                        Ok([single]) => (single, false),
                        Err(args) => (RawJson::list(&args), true),
                    };
                    out.push(Ok(Inbound::Event(InEvent {
                        channel: name.clone(),
                        event: name,
                        seq: None,
                        id: None,
                        data,
                        spread,
                    })));
                }
            }
            PacketType::Ack => {
                let first = packet.ack_args().into_iter().next();
                out.push(self.on_ack(packet.ack, first));
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
                out.push(self.on_binary_ack(packet.ack));
            }
        }
    }

    fn on_ack(&mut self, ack: Option<u64>, first: Option<RawJson>) -> Result<Inbound, WireError> {
        let awaited = ack.and_then(|id| self.take_answer(id));
        Ok(match awaited {
            None => return Err(WireError::UnknownAck(ack.unwrap_or(0))),
            Some(Awaited::Request(id)) => Inbound::Response {
                id,
                result: Ok(first.unwrap_or_else(RawJson::null)),
            },
            Some(Awaited::Publish(id)) => {
                let answer = first.and_then(|f| f.read::<AckAnswer>().ok());
                match answer {
                    Some(AckAnswer {
                        error: Some(error),
                        retryable,
                        ..
                    }) => Inbound::Refused {
                        id,
                        reason: error
                            .read::<String>()
                            .unwrap_or_else(|_| error.into_string()),
                        retryable: retryable.unwrap_or(false),
                    },
                    answer => Inbound::Ack {
                        id,
                        seq: answer.and_then(|a| a.seq).unwrap_or(0),
                    },
                }
            }
        })
    }

    /// A binary ack: for a publish it still says the server has it; a request cannot use it.
    fn on_binary_ack(&mut self, ack: Option<u64>) -> Result<Inbound, WireError> {
        Ok(match ack.and_then(|id| self.take_answer(id)) {
            None => return Err(WireError::UnknownAck(ack.unwrap_or(0))),
            Some(Awaited::Publish(id)) => Inbound::Ack { id, seq: 0 },
            Some(Awaited::Request(id)) => Inbound::Response {
                id,
                result: Err(ServerError {
                    code: "unsupported".to_owned(),
                    message: "the answer came as a binary ack (BINARY_ACK), which syncline does not support".to_owned(),
                }),
            },
        })
    }

    fn connect_frame(&self, token: Option<String>) -> String {
        #[derive(serde::Serialize)]
        struct Auth {
            token: String,
        }
        let auth = token.map(|token| RawJson::to_json(&Auth { token }));
        Packet::connect(&self.namespace, auth).encode()
    }
}

/// A publish's ack: `{"seq": n}`, or `{"error": reason, "retryable": bool}` to refuse it.
/// Anything else (no argument, another shape) confirms it.
#[derive(Deserialize)]
struct AckAnswer {
    #[serde(default)]
    error: Option<RawJson>,
    #[serde(default)]
    retryable: Option<bool>,
    #[serde(default)]
    seq: Option<u64>,
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
        // cannot settle the same message sent again on the next one.
        let next_ack = self.next_ack;
        *self = Self::new(&self.namespace);
        self.next_ack = next_ack;
    }

    fn decode(&mut self, frame: &str) -> Result<Decoded, WireError> {
        let mut out = Decoded::new();
        match EnginePacket::decode(frame)? {
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
        let ns = self.namespace.clone();
        Ok(match message {
            Outbound::Hello { token, .. } => {
                if self.engine_open {
                    Encoded::Frame(self.connect_frame(token))
                } else {
                    self.held_hello = Some(token);
                    Encoded::Nothing
                }
            }
            Outbound::Subscribe { channel, .. } => {
                Encoded::Answered(Inbound::Subscribed { channel, seq: None })
            }
            Outbound::Unsubscribe { .. } | Outbound::Ping { .. } | Outbound::Pong { .. } => {
                Encoded::Nothing
            }
            Outbound::Publish {
                id,
                channel,
                event,
                data,
                ..
            } => {
                #[derive(serde::Serialize)]
                struct Meta<'a> {
                    id: &'a str,
                    event: &'a str,
                }
                let meta = RawJson::to_json(&Meta {
                    id: &id,
                    event: &event,
                });
                let ack = self.await_answer(Awaited::Publish(id));
                let frame = Packet::event(&ns, Some(ack), &channel, &[&data, &meta]).encode();
                self.within_payload(frame, ack)
            }
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
                self.within_payload(frame, ack)
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

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat::ServerPings {
            liveness_ms: self.liveness_ms,
        }
    }

    fn goodbye(&self) -> Option<String> {
        Some(Packet::new(PacketType::Disconnect, &self.namespace).encode())
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
mod tests {
    use super::*;

    fn raw(text: &str) -> RawJson {
        RawJson::parse(text).unwrap()
    }

    #[test]
    fn hello_waits_for_the_engine_handshake() {
        let mut wire = SocketIoWire::new("/admin");
        let hello = Outbound::Hello {
            client: "c".into(),
            token: Some("t".into()),
        };
        assert_eq!(wire.encode(hello), Ok(Encoded::Nothing));
        let open = r#"0{"sid":"s","upgrades":[],"pingInterval":300,"pingTimeout":200}"#;
        assert_eq!(wire.decode(open), Ok(vec![]));
        assert_eq!(
            wire.poll_transmit().as_deref(),
            Some(r#"40/admin,{"token":"t"}"#)
        );
        assert_eq!(
            wire.heartbeat(),
            Heartbeat::ServerPings {
                liveness_ms: Some(500)
            }
        );
        assert_eq!(wire.decode("2"), Ok(vec![]));
        assert_eq!(wire.poll_transmit().as_deref(), Some("3"));
    }

    #[test]
    fn a_publish_is_an_event_with_an_ack_and_its_ack_answers_it() {
        let mut wire = SocketIoWire::new("/");
        let publish = Outbound::Publish {
            id: "p1".into(),
            channel: "chat".into(),
            event: "msg".into(),
            data: raw(r#"{"x":1}"#),
            durable: true,
        };
        assert_eq!(
            wire.encode(publish),
            Ok(Encoded::Frame(
                r#"420["chat",{"x":1},{"id":"p1","event":"msg"}]"#.into()
            ))
        );
        assert_eq!(
            wire.decode(r#"430[{"seq":7}]"#),
            Ok(vec![Ok(Inbound::Ack {
                id: "p1".into(),
                seq: 7
            })])
        );
        assert_eq!(
            wire.decode(r#"430[]"#),
            Ok(vec![Err(WireError::UnknownAck(0))]),
            "a second answer is a duplicate"
        );
    }

    #[test]
    fn an_ack_with_an_error_refuses_a_publish() {
        let mut wire = SocketIoWire::new("/");
        let publish = Outbound::Publish {
            id: "p".into(),
            channel: "c".into(),
            event: "e".into(),
            data: RawJson::null(),
            durable: false,
        };
        wire.encode(publish).unwrap();
        assert_eq!(
            wire.decode(r#"430[{"error":"nope","retryable":true}]"#),
            Ok(vec![Ok(Inbound::Refused {
                id: "p".into(),
                reason: "nope".into(),
                retryable: true
            })])
        );
    }

    #[test]
    fn server_events_are_acked_and_spread_when_several() {
        let mut wire = SocketIoWire::new("/");
        let got = wire.decode(r#"425["move",1,2]"#).unwrap();
        assert_eq!(
            got,
            vec![Ok(Inbound::Event(InEvent {
                channel: "move".into(),
                event: "move".into(),
                seq: None,
                id: None,
                data: raw("[1,2]"),
                spread: true,
            }))]
        );
        assert_eq!(wire.poll_transmit().as_deref(), Some("435[]"));
    }

    #[test]
    fn too_large_messages_are_answered_here() {
        let mut wire = SocketIoWire::new("/");
        wire.decode(r#"0{"sid":"s","maxPayload":40}"#).unwrap();
        let big = RawJson::to_json(&"x".repeat(64));
        let request = Outbound::Request {
            id: "r".into(),
            event: "e".into(),
            data: big.clone(),
            spread: false,
        };
        assert!(matches!(
            wire.encode(request),
            Ok(Encoded::Answered(Inbound::Response { result: Err(_), .. }))
        ));
        let emit = Outbound::Emit {
            event: "e".into(),
            data: big,
            spread: false,
        };
        assert!(matches!(wire.encode(emit), Err(WireError::TooLarge { .. })));
    }
}
