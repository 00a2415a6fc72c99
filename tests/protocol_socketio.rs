//! The Engine.IO / Socket.IO codec: documented frames decode as expected, every packet type
//! round-trips, malformed packets are errors (never panics), and arbitrary text is survived.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use syncline::protocol::envelope::RawJson;
use syncline::protocol::socketio::{
    EnginePacket, Handshake, Packet, PacketType, SocketIoError, engine_url,
};

fn raw(text: &str) -> RawJson {
    RawJson::parse(text).expect("valid JSON")
}

#[test]
fn engine_packets_decode() {
    let open = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
    assert_eq!(
        EnginePacket::decode(open),
        Ok(EnginePacket::Open(Handshake {
            sid: "lv_VI97HAXpY6yYWAAAC".into(),
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            max_payload: Some(1_000_000),
        }))
    );
    assert_eq!(EnginePacket::decode("1"), Ok(EnginePacket::Close));
    assert_eq!(EnginePacket::decode("2"), Ok(EnginePacket::Ping("")));
    assert_eq!(
        EnginePacket::decode("2probe"),
        Ok(EnginePacket::Ping("probe"))
    );
    assert_eq!(EnginePacket::decode("3"), Ok(EnginePacket::Pong("")));
    assert_eq!(EnginePacket::decode("40"), Ok(EnginePacket::Message("0")));
    assert_eq!(EnginePacket::decode("5"), Ok(EnginePacket::Upgrade));
    assert_eq!(EnginePacket::decode("6"), Ok(EnginePacket::Noop));
    assert_eq!(EnginePacket::Pong("probe").encode(), "3probe");
    // The defaults apply when the server leaves the heartbeat out.
    let bare = EnginePacket::decode(r#"0{"sid":"x"}"#);
    assert!(
        matches!(bare, Ok(EnginePacket::Open(ref h)) if h.liveness_ms() == 45_000),
        "{bare:?}"
    );
}

#[test]
fn malformed_engine_packets_are_errors() {
    assert_eq!(EnginePacket::decode(""), Err(SocketIoError::Empty));
    assert_eq!(
        EnginePacket::decode("7"),
        Err(SocketIoError::UnknownEngineType('7'))
    );
    assert_eq!(
        EnginePacket::decode("x42"),
        Err(SocketIoError::UnknownEngineType('x'))
    );
    assert_eq!(
        EnginePacket::decode("é"),
        Err(SocketIoError::UnknownEngineType('é'))
    );
    for bad in [
        "0",
        "0{",
        "0[]",
        "0{\"sid\":1}",
        "0{\"pingInterval\":1}",
        "0{\"sid\":\"a\",\"pingInterval\":-5}",
        "0{\"sid\":\"a\",\"pingTimeout\":\"x\"}",
    ] {
        assert!(
            EnginePacket::decode(bad).is_err(),
            "{bad:?} must not decode"
        );
    }
}

#[test]
fn socketio_packets_decode_as_documented() {
    let connect = Packet::decode(r#"0{"sid":"abc"}"#).unwrap();
    assert_eq!(connect.kind, PacketType::Connect);
    assert_eq!(connect.namespace, "/");
    assert_eq!(connect.sid().as_deref(), Some("abc"));

    let admin = Packet::decode(r#"0/admin,{"sid":"x"}"#).unwrap();
    assert_eq!(admin.namespace, "/admin");

    let error = Packet::decode(r#"4{"message":"Not authorized","data":{"why":1}}"#).unwrap();
    assert_eq!(error.kind, PacketType::ConnectError);
    assert_eq!(error.error_message(), "Not authorized");
    assert_eq!(
        Packet::decode(r#"4"old style""#).unwrap().error_message(),
        "old style"
    );

    let event = Packet::decode(r#"2/admin,12["move",1,{"x":2}]"#).unwrap();
    assert_eq!(event.kind, PacketType::Event);
    assert_eq!(event.namespace, "/admin");
    assert_eq!(event.ack, Some(12));
    let (name, args) = event.event_parts().unwrap();
    assert_eq!(name, "move");
    assert_eq!(args, vec![raw("1"), raw(r#"{"x":2}"#)]);

    let ack = Packet::decode(r#"35["ok",2]"#).unwrap();
    assert_eq!((ack.kind, ack.ack), (PacketType::Ack, Some(5)));
    assert_eq!(ack.ack_args(), vec![raw(r#""ok""#), raw("2")]);

    let disconnect = Packet::decode("1/admin,").unwrap();
    assert_eq!(
        (disconnect.kind, disconnect.namespace.as_str()),
        (PacketType::Disconnect, "/admin")
    );

    let binary = Packet::decode(r#"51-["file",{"_placeholder":true,"num":0}]"#).unwrap();
    assert_eq!(
        (binary.kind, binary.attachments),
        (PacketType::BinaryEvent, 1)
    );
    let binary_ack = Packet::decode(
        r#"62-/admin,7[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    )
    .unwrap();
    assert_eq!(
        (binary_ack.kind, binary_ack.attachments, binary_ack.ack),
        (PacketType::BinaryAck, 2, Some(7))
    );
}

#[test]
fn encoding_matches_the_wire_format() {
    assert_eq!(Packet::connect("/", None).encode(), "40");
    assert_eq!(
        Packet::connect("/admin", Some(raw(r#"{"token":"t"}"#))).encode(),
        r#"40/admin,{"token":"t"}"#
    );
    let data = raw(r#"{"a":1}"#);
    assert_eq!(
        Packet::event("/", Some(3), "chat", &[&data]).encode(),
        r#"423["chat",{"a":1}]"#
    );
    assert_eq!(
        Packet::event("/", None, "q\"uote", &[]).encode(),
        r#"42["q\"uote"]"#
    );
    assert_eq!(Packet::ack("/", 9, &[]).encode(), "439[]");
    assert_eq!(
        Packet::ack("/chat", 0, &[&data]).encode(),
        r#"43/chat,0[{"a":1}]"#
    );
}

#[test]
fn malformed_socketio_packets_are_errors() {
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("7[]", "unknown type"),
        ("x", "unknown type"),
        ("2", "event without payload"),
        ("2[]", "event without a name"),
        ("2[1,2]", "event name not a string"),
        ("2{\"a\":1}", "event payload not an array"),
        ("2[\"a\"", "truncated JSON"),
        ("2[\"a\",]", "bad JSON"),
        ("2[\"a\"]x", "trailing garbage"),
        ("3[]", "ack without an id"),
        ("31", "ack without a payload"),
        ("31{}", "ack payload not an array"),
        ("0[]", "connect payload not an object"),
        ("1{}", "disconnect with a payload"),
        ("4", "connect error without a payload"),
        ("45", "connect error payload a number"),
        ("5[\"a\"]", "binary event without attachment count"),
        ("5x-[\"a\"]", "binary event with a bad attachment count"),
        ("6-1[]", "binary ack with an empty attachment count"),
        ("299999999999999999999[\"a\"]", "ack id too long"),
        ("2/admin,[", "truncated after namespace"),
    ];
    for (text, why) in cases {
        assert!(
            Packet::decode(text).is_err(),
            "{why}: {text:?} must not decode"
        );
    }
}

#[test]
fn engine_urls_follow_socketio_conventions() {
    assert_eq!(
        engine_url("http://127.0.0.1:3000", "/socket.io/", None),
        Ok((
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket".into(),
            "/".into()
        ))
    );
    assert_eq!(
        engine_url("https://example.com/admin?x=1", "socket.io", None),
        Ok((
            "wss://example.com/socket.io/?EIO=4&transport=websocket&x=1".into(),
            "/admin".into()
        ))
    );
    assert_eq!(
        engine_url("ws://h/ignored", "/rt", Some("ops")),
        Ok(("ws://h/rt/?EIO=4&transport=websocket".into(), "/ops".into()))
    );
    assert!(engine_url("example.com", "/socket.io/", None).is_err());
    assert!(engine_url("ftp://example.com", "/socket.io/", None).is_err());
    assert!(engine_url("http:///x", "/socket.io/", None).is_err());
    assert!(engine_url("http://h", "/socket.io/", Some("/a,b")).is_err());
}

fn json_value() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        ".*".prop_map(|s| {
            let mut out = String::new();
            syncline::protocol::raw::write_str(&mut out, &s);
            out
        }),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(("[a-z]{1,4}", inner), 0..4).prop_map(|v| {
                let fields: Vec<String> = v.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
    .boxed()
}

fn namespace() -> BoxedStrategy<String> {
    prop_oneof![Just("/".to_owned()), "/[a-z0-9_-]{1,8}"].boxed()
}

fn args() -> impl Strategy<Value = Vec<RawJson>> {
    proptest::collection::vec(json_value(), 0..4)
        .prop_map(|v| v.into_iter().map(|a| RawJson::parse(a).unwrap()).collect())
}

fn object() -> impl Strategy<Value = RawJson> {
    proptest::collection::vec(("[a-z]{1,4}", json_value()), 0..3).prop_map(|v| {
        let fields: Vec<String> = v.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        RawJson::parse(format!("{{{}}}", fields.join(","))).unwrap()
    })
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (namespace(), proptest::option::of(object()))
            .prop_map(|(ns, auth)| Packet::connect(&ns, auth)),
        namespace().prop_map(|ns| Packet::new(PacketType::Disconnect, &ns)),
        (namespace(), object()).prop_map(|(ns, data)| Packet {
            data: Some(data),
            ..Packet::new(PacketType::ConnectError, &ns)
        }),
        (
            namespace(),
            proptest::option::of(0u64..1_000_000),
            ".*",
            args()
        )
            .prop_map(
                |(ns, ack, name, args): (String, Option<u64>, String, Vec<RawJson>)| {
                    let refs: Vec<&RawJson> = args.iter().collect();
                    Packet::event(&ns, ack, &name, &refs)
                }
            ),
        (namespace(), 0u64..1_000_000, args()).prop_map(
            |(ns, id, args): (String, u64, Vec<RawJson>)| {
                let refs: Vec<&RawJson> = args.iter().collect();
                Packet::ack(&ns, id, &refs)
            }
        ),
        (
            namespace(),
            proptest::option::of(0u64..1000),
            0u64..10,
            ".*"
        )
            .prop_map(|(ns, ack, attachments, name)| Packet {
                attachments,
                ..Packet::event(
                    &ns,
                    ack,
                    &name,
                    &[&RawJson::parse(r#"{"_placeholder":true,"num":0}"#).unwrap()]
                )
            })
            .prop_map(|p| Packet {
                kind: PacketType::BinaryEvent,
                ..p
            }),
        (namespace(), 0u64..1000, 0u64..10).prop_map(|(ns, id, attachments)| Packet {
            kind: PacketType::BinaryAck,
            attachments,
            ..Packet::ack(&ns, id, &[])
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn every_packet_round_trips(packet in packet()) {
        let frame = packet.encode();
        let Ok(EnginePacket::Message(text)) = EnginePacket::decode(&frame) else {
            panic!("{frame:?} is not an Engine.IO message");
        };
        prop_assert_eq!(Packet::decode(text), Ok(packet));
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}") {
        let _ = EnginePacket::decode(&text);
        let _ = Packet::decode(&text);
    }

    #[test]
    fn mutated_packets_never_panic(packet in packet(), cut in 0usize..64, byte in any::<u8>()) {
        let frame = packet.encode();
        let mut bytes = frame.into_bytes();
        let at = cut.min(bytes.len());
        bytes.truncate(at);
        bytes.push(byte);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(EnginePacket::Message(inner)) = EnginePacket::decode(&text) {
            let _ = Packet::decode(inner);
        }
    }
}
