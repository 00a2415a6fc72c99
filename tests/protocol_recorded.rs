//! Each wire against frames recorded from the real servers (`make record-frames`, written by
//! `scripts/record-frames.mjs`): the release relay for the envelope, the `socket.io` server
//! from npm for Socket.IO. Every server frame decodes through the wire into the messages the
//! conversation implies, the codecs round-trip every recorded frame, and what the Socket.IO
//! wire sends for the recorded client messages is the frame the recording sent.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::VecDeque;

use serde::Deserialize;
use syncline::protocol::ack::default_verdict;
use syncline::protocol::envelope::{
    EnvelopeWire, ServerMessage, decode_client_frame, decode_server_frame,
};
use syncline::protocol::error::DecodeError;
use syncline::protocol::socketio::{
    EnginePacket, Packet, PacketType, PublishFormat, SocketIoConfig, SocketIoWire,
};
use syncline::protocol::{
    Encoded, InEvent, Inbound, JsonError, Outbound, RawJson, ServerError, Wire, WireError,
};

const RELAY: &str = include_str!("fixtures/relay-frames.jsonl");
const SOCKETIO: &str = include_str!("fixtures/socketio-frames.jsonl");

#[derive(Deserialize)]
struct Line {
    conn: String,
    dir: String,
    frame: String,
    note: String,
}

fn lines(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a fixture line"))
        .collect()
}

fn conn<'a>(all: &'a [Line], name: &str) -> Vec<&'a Line> {
    let got: Vec<&Line> = all.iter().filter(|l| l.conn == name).collect();
    assert!(!got.is_empty(), "no frames recorded for connection {name}");
    got
}

fn raw(text: &str) -> RawJson {
    RawJson::parse(text).expect("valid JSON")
}

fn error(code: &str, message: &str) -> ServerError {
    ServerError {
        code: code.into(),
        message: message.into(),
    }
}

// ----- the relay, envelope -----

/// Everything the envelope wire makes of one connection's server frames, in order.
fn relay_inbound(all: &[Line], name: &str) -> Vec<Inbound> {
    let mut wire = EnvelopeWire;
    let mut out = Vec::new();
    for line in conn(all, name).into_iter().filter(|l| l.dir == "in") {
        let decoded = wire.decode(&line.frame).expect("a relay frame decodes");
        for message in decoded {
            out.push(message.unwrap_or_else(|e| panic!("{}: {e}", line.frame)));
        }
        assert_eq!(
            wire.poll_transmit(),
            None,
            "the envelope answers nothing itself"
        );
    }
    out
}

#[test]
fn every_relay_frame_decodes_and_round_trips() {
    let all = lines(RELAY);
    let (mut messages, mut batches) = (0, 0);
    for line in all.iter().filter(|l| l.dir == "in") {
        let decoded = decode_server_frame(&line.frame)
            .unwrap_or_else(|e| panic!("{} ({}): {e}", line.frame, line.note));
        batches += usize::from(decoded.len() > 1);
        let decoded: Vec<ServerMessage> = decoded
            .into_iter()
            .map(|m| m.unwrap_or_else(|e| panic!("{}: {e}", line.frame)))
            .collect();
        // The relay writes the fields in PROTOCOL.md's order, as this codec does: a single
        // message encodes back to the very text the relay sent.
        if let [single] = decoded.as_slice() {
            assert_eq!(single.encode(), line.frame, "{}", line.note);
        }
        for message in decoded {
            let again = decode_server_frame(&message.encode()).expect("re-encoded frame");
            assert_eq!(again, vec![Ok(message)], "{}", line.note);
            messages += 1;
        }
    }
    assert!(messages >= 39, "only {messages} server messages recorded");
    assert!(
        batches >= 2,
        "the relay's batches were recorded ({batches})"
    );
}

#[test]
fn every_well_formed_client_frame_round_trips_and_the_bad_ones_are_the_relays_errors() {
    let all = lines(RELAY);
    let mut refused = Vec::new();
    let mut messages = 0;
    for line in all.iter().filter(|l| l.dir == "out") {
        let decoded = match decode_client_frame(&line.frame) {
            Ok(decoded) => decoded,
            Err(e) => {
                refused.push(e);
                continue;
            }
        };
        for message in decoded {
            let message = match message {
                Ok(message) => message,
                Err(e) => {
                    refused.push(e);
                    continue;
                }
            };
            let again = decode_client_frame(&message.encode()).expect("re-encoded frame");
            assert_eq!(again, vec![Ok(message)], "{}", line.note);
            messages += 1;
        }
    }
    assert!(messages >= 23, "only {messages} client messages recorded");
    // The three frames the relay answered with `error` are exactly the ones the client's
    // codec refuses too.
    assert_eq!(
        refused,
        vec![
            DecodeError::UnknownType("bogus".into()),
            DecodeError::Json(JsonError::Syntax(2)),
            DecodeError::MissingField {
                kind: "pub",
                field: "id"
            },
        ]
    );
}

#[test]
fn the_relays_refusals_reach_the_wire_as_typed_messages() {
    let all = lines(RELAY);
    assert_eq!(
        relay_inbound(&all, "denied"),
        vec![
            Inbound::Error(error("hello_required", "send hello first")),
            Inbound::Denied {
                reason: "token required".into()
            },
        ]
    );
    assert_eq!(
        relay_inbound(&all, "wrong"),
        vec![Inbound::Denied {
            reason: "invalid token".into()
        }]
    );
}

#[test]
fn the_publishers_conversation_decodes_to_what_the_relay_said() {
    let all = lines(RELAY);
    let got = relay_inbound(&all, "a");
    assert!(
        matches!(&got[0], Inbound::Session { session, .. } if session.starts_with('s')),
        "{:?}",
        got[0]
    );
    let ack = |id: &str, seq| Inbound::Ack { id: id.into(), seq };
    let ok = |id: &str, data: &str| Inbound::Response {
        id: id.into(),
        result: Ok(raw(data)),
    };
    assert_eq!(
        got[1..6],
        [
            ack("p-1", 1),
            ack("p-2", 2),
            ack("p-1", 1),
            ack("p-3", 3),
            {
                Inbound::Refused {
                    id: "p-r".into(),
                    reason: "channel refuses publishes".into(),
                    retryable: false,
                }
            }
        ]
    );
    assert_eq!(
        got[6],
        Inbound::Refused {
            id: "p-b".into(),
            reason: "channel unavailable".into(),
            retryable: true,
        }
    );
    assert_eq!(got[7], ok("r-1", r#"{"x":1,"s":"é\n"}"#));
    let time = |m: &Inbound| match m {
        Inbound::Response { id, result: Ok(r) } if id == "r-2" => {
            #[derive(Deserialize)]
            struct Now {
                now: u64,
            }
            r.read::<Now>().ok().map(|n| n.now)
        }
        _ => None,
    };
    assert!(time(&got[8]).is_some_and(|now| now > 1_700_000_000_000));
    assert!(
        matches!(&got[9], Inbound::Response { id, result: Ok(stats) }
            if id == "r-3" && stats.as_str().contains("\"published\":3")),
        "{:?}",
        got[9]
    );
    assert_eq!(got[10], ok("r-4", r#"{"ms":20}"#));
    assert_eq!(
        got[11],
        Inbound::Response {
            id: "r-5".into(),
            result: Err(error("unknown_request", "no request handler for \"nope\"")),
        }
    );
    assert_eq!(
        got[12..16],
        [
            Inbound::Pong { ts: 1234 },
            Inbound::Pong { ts: 1 },
            ok("r-6", "[1,2]"),
            Inbound::Pong { ts: 2 },
        ]
    );
    assert!(matches!(&got[16], Inbound::Error(e) if e.code == "unknown_type"));
    assert!(matches!(&got[17], Inbound::Error(e) if e.code == "bad_json"));
    assert!(matches!(&got[18], Inbound::Error(e) if e.code == "bad_message"));
    assert_eq!(got[19], ack("p-4", 9));
    assert_eq!(got.len(), 20);
}

#[test]
fn subscribers_get_the_events_replays_and_heads_the_relay_sent() {
    let all = lines(RELAY);
    let event = |seq, id: &str, name: &str, data: &str| {
        Inbound::Event(InEvent {
            channel: "match.1".into(),
            event: name.into(),
            seq: Some(seq),
            id: Some(id.into()),
            data: raw(data),
            spread: false,
        })
    };
    let subscribed = |seq| Inbound::Subscribed {
        since: None,
        channel: "match.1".into(),
        seq: Some(seq),
    };
    let ticks = |got: &[Inbound]| {
        got.iter()
            .filter_map(|m| match m {
                Inbound::Event(e) if e.event == "tick" && e.data.as_str() == r#"{"n":1}"# => e.seq,
                _ => None,
            })
            .collect::<Vec<_>>()
    };

    let b = relay_inbound(&all, "b");
    assert!(matches!(&b[0], Inbound::Session { .. }));
    assert_eq!(
        b[1..5],
        [
            subscribed(0),
            event(1, "p-1", "goal", r#"{"min":12,"by":"ana"}"#),
            event(2, "p-2", "card", r#"["yellow",7]"#),
            event(3, "p-3", "end", "null"),
        ]
    );
    assert_eq!(ticks(&b), vec![4, 5, 6, 7, 8]);
    // After its unsub, b's next frame is its pong: p-4 never reached it.
    assert_eq!(b.last(), Some(&Inbound::Pong { ts: 99 }));
    assert_eq!(b.len(), 11);

    let c = relay_inbound(&all, "c");
    assert_eq!(
        c[1..4],
        [
            event(2, "p-2", "card", r#"["yellow",7]"#),
            event(3, "p-3", "end", "null"),
            subscribed(3),
        ],
        "replay after since 1, then the head"
    );
    assert_eq!(ticks(&c), vec![4, 5, 6, 7, 8]);
    assert_eq!(c.last(), Some(&event(9, "p-4", "goal", r#"{"min":80}"#)));
}

// ----- the socket.io server, Engine.IO / Socket.IO -----

#[test]
fn every_socketio_frame_round_trips_through_the_codec() {
    let all = lines(SOCKETIO);
    let mut packets = 0;
    for line in all.iter().filter(|l| binary_len(&l.frame).is_none()) {
        let engine = EnginePacket::decode(&line.frame)
            .unwrap_or_else(|e| panic!("{} ({}): {e}", line.frame, line.note));
        assert_eq!(engine.encode(), line.frame, "{}", line.note);
        if let EnginePacket::Message(text) = engine {
            let packet = Packet::decode(text).unwrap_or_else(|e| panic!("{}: {e}", line.frame));
            assert_eq!(packet.encode(), line.frame, "{}", line.note);
            packets += 1;
        }
    }
    assert!(packets >= 30, "only {packets} Socket.IO packets recorded");
}

/// The length of a recorded binary frame (`<binary N bytes>`).
fn binary_len(frame: &str) -> Option<usize> {
    frame
        .strip_prefix("<binary ")?
        .strip_suffix(" bytes>")?
        .parse()
        .ok()
}

/// What a recorded client frame asked the wire for: a message to encode, or a frame the wire
/// sends by itself (a pong, an ack, the goodbye).
enum Sent {
    Message(Outbound),
    ByTheWire,
    Goodbye,
}

/// The client message a recorded frame carries, as the core would have handed it to the wire:
/// CONNECT is the hello, an EVENT with an ack id whose last argument is `{id, event}` is a
/// publish, another with an ack id a request (`req-<ack id>`), one without an emit.
fn sent(frame: &str) -> Sent {
    let packet = match EnginePacket::decode(frame).expect("a recorded client frame") {
        EnginePacket::Message(text) => Packet::decode(text).expect("a client packet"),
        _ => return Sent::ByTheWire,
    };
    match packet.kind {
        PacketType::Connect => {
            #[derive(Deserialize)]
            struct Auth {
                token: Option<String>,
            }
            let auth: Option<Auth> = packet.data.as_ref().map(|d| d.read().expect("auth"));
            Sent::Message(Outbound::Hello {
                max: None,
                client: "recorded".into(),
                token: auth.and_then(|a| a.token),
            })
        }
        PacketType::Disconnect => Sent::Goodbye,
        PacketType::Ack => Sent::ByTheWire,
        PacketType::Event => {
            let (name, args) = packet.event_parts().expect("an event");
            #[derive(Deserialize)]
            struct Meta {
                id: String,
                event: String,
            }
            let meta = args.last().and_then(|m| m.read::<Meta>().ok());
            let (data, spread) = match args.as_slice() {
                [single] => (single.clone(), false),
                several => (RawJson::list(several), true),
            };
            Sent::Message(match (packet.ack, meta, args.as_slice()) {
                (Some(_), Some(meta), [data, _]) => Outbound::Publish {
                    id: meta.id,
                    channel: name,
                    event: meta.event,
                    data: data.clone(),
                    durable: false,
                    memory: false,
                    priority: 0,
                },
                (Some(ack), _, _) => Outbound::Request {
                    id: format!("req-{ack}"),
                    event: name,
                    data,
                    spread,
                },
                (None, _, _) => Outbound::Emit {
                    event: name,
                    data,
                    spread,
                },
            })
        }
        other => panic!("the client sent a {other:?}"),
    }
}

/// Replays one recorded Socket.IO connection through a fresh wire for `namespace`: server
/// frames are decoded, client frames are made again by the wire (from the message they carry,
/// or from what it sends by itself) and must be the recorded text. Returns what each server
/// frame decoded to, in order (a binary attachment must be taken without an error).
fn socketio_replay(all: &[Line], name: &str, namespace: &str) -> Vec<Result<Inbound, WireError>> {
    // The fixtures were recorded with the `[channel, data, meta]` publish format.
    let mut config = SocketIoConfig::new(namespace);
    config.format = PublishFormat::Meta;
    let mut wire = SocketIoWire::new(config);
    let mut transmitted = VecDeque::new();
    let mut out = Vec::new();
    for line in conn(all, name) {
        if line.dir == "in" {
            if let Some(len) = binary_len(&line.frame) {
                assert_eq!(wire.decode_binary(len), Ok(()), "{}", line.note);
            } else {
                let decoded = wire
                    .decode(&line.frame)
                    .unwrap_or_else(|e| panic!("{} ({}): {e}", line.frame, line.note));
                out.extend(decoded);
            }
            transmitted.extend(std::iter::from_fn(|| wire.poll_transmit()));
            continue;
        }
        let made = match sent(&line.frame) {
            Sent::ByTheWire => transmitted.pop_front(),
            Sent::Goodbye => wire.goodbye(),
            Sent::Message(message) => match wire.encode(message) {
                Ok(Encoded::Frame(frame)) => Some(frame),
                other => panic!("{}: the wire gave {other:?}", line.note),
            },
        };
        assert_eq!(made.as_deref(), Some(line.frame.as_str()), "{}", line.note);
    }
    assert!(transmitted.is_empty(), "{name}: unsent {transmitted:?}");
    out
}

/// The replay of a connection whose every server frame decoded without an error.
fn socketio_inbound(all: &[Line], name: &str, namespace: &str) -> Vec<Inbound> {
    socketio_replay(all, name, namespace)
        .into_iter()
        .map(|m| m.unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

fn session(message: &Inbound) -> bool {
    matches!(message, Inbound::Session { session, .. } if session.len() == 20)
}

fn event(name: &str, data: &str, spread: bool) -> Inbound {
    Inbound::Event(InEvent {
        channel: name.into(),
        event: name.into(),
        seq: None,
        id: None,
        data: raw(data),
        spread,
    })
}

#[test]
fn middleware_refusals_are_denials_with_the_servers_message() {
    let all = lines(SOCKETIO);
    let denied = |reason: &str| Inbound::Denied {
        reason: reason.into(),
    };
    // Without auth, then with a bad token on the same Engine.IO socket: refused twice.
    assert_eq!(
        socketio_inbound(&all, "denied", "/"),
        vec![denied("not authorized"), denied("not authorized")]
    );
    // The server's `error.data` is not carried; its message is.
    assert_eq!(
        socketio_inbound(&all, "admin-denied", "/admin"),
        vec![denied("admins only")]
    );
    assert_eq!(
        socketio_inbound(&all, "nowhere", "/nowhere"),
        vec![denied("Invalid namespace")]
    );
}

#[test]
fn the_main_socket_conversation_replays_through_the_wire() {
    let all = lines(SOCKETIO);
    let got = socketio_replay(&all, "main", "/");
    assert!(got[0].as_ref().is_ok_and(session), "{:?}", got[0]);
    // A publish's ack comes as the server's answer; the default rule reads it as the core will.
    let got: Vec<_> = got
        .into_iter()
        .map(|message| match message {
            Ok(Inbound::Answered { id, answer }) => Ok(default_verdict(&answer).into_inbound(id)),
            other => other,
        })
        .collect();
    let response = |ack: u64, data: &str| {
        Ok(Inbound::Response {
            id: format!("req-{ack}"),
            result: Ok(raw(data)),
        })
    };
    assert_eq!(
        got[1..],
        [
            response(0, r#"{"seq":1}"#),
            Ok(Inbound::Ack {
                id: "p-1".into(),
                seq: 1
            }),
            Ok(Inbound::Refused {
                id: "p-2".into(),
                reason: "sku must be positive".into(),
                retryable: false,
            }),
            // The duplicate the server confirms with a bare `ack()`: acked, no sequence.
            Ok(Inbound::Ack {
                id: "p-1".into(),
                seq: 0
            }),
            response(4, "3"),
            Ok(event("move", r#"[1,2,{"x":3}]"#, true)),
            Ok(event("question", r#"{"q":"ready?"}"#, false)),
            Ok(event("thanks", "[]", true)),
            // A Buffer argument: reported as unsupported, its attachment taken quietly.
            Err(WireError::Unsupported(
                "Socket.IO binary events (BINARY_EVENT)"
            )),
            Ok(Inbound::Closed {
                reason: "Socket.IO DISCONNECT"
            }),
        ]
    );
    assert!(
        all.iter()
            .any(|l| l.conn == "main" && l.dir == "out" && l.frame == "3"),
        "a ping was answered on the main socket"
    );
}

#[test]
fn broadcasts_and_room_emits_reach_the_peer() {
    let all = lines(SOCKETIO);
    let got = socketio_inbound(&all, "peer", "/");
    assert!(session(&got[0]), "{:?}", got[0]);
    assert_eq!(
        got[1..],
        [
            Inbound::Response {
                id: "req-0".into(),
                result: Ok(raw(r#"{"ok":true,"room":"room:1"}"#)),
            },
            event("chat", r#"{"text":"hi"}"#, false),
            event("typing", r#"{"who":"ana"}"#, false),
            event("news", r#""room news""#, false),
        ]
    );
}

#[test]
fn a_namespace_connects_answers_and_says_goodbye() {
    let all = lines(SOCKETIO);
    let got = socketio_inbound(&all, "admin", "/admin");
    assert!(session(&got[0]), "{:?}", got[0]);
    assert_eq!(
        got[1..],
        [
            Inbound::Response {
                id: "req-0".into(),
                result: Ok(raw(r#"{"sockets":1}"#)),
            },
            // Asked for an ack in the namespace: acked there (`43/admin,0[]`, checked above).
            event("audit", r#""stats read""#, false),
        ]
    );
}
