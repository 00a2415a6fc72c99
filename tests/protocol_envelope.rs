//! The envelope codec: every message round-trips, batches split, malformed input is an error
//! (never a panic), and arbitrary bytes are survived.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use syncline::protocol::PeerLimits;
use syncline::protocol::envelope::{
    ClientMessage, DecodeError, RawJson, ServerError, ServerMessage, decode_client_frame,
    decode_server_frame, encode_batch,
};
use syncline::protocol::raw as json;

fn one_server(frame: &str) -> Result<ServerMessage, DecodeError> {
    let mut all = decode_server_frame(frame)?;
    assert_eq!(all.len(), 1);
    all.remove(0)
}

#[test]
fn fixtures_decode_to_the_documented_messages() {
    assert_eq!(
        one_server(r#"{"t":"ev","ch":"m:1","ev":"goal","seq":4,"id":"x","data":{"min":12}}"#),
        Ok(ServerMessage::Event {
            channel: "m:1".into(),
            event: "goal".into(),
            seq: 4,
            id: Some("x".into()),
            data: RawJson::parse(r#"{"min":12}"#).unwrap(),
            spread: false,
        })
    );
    assert_eq!(
        one_server(r#"{"t":"res","id":"r1","ok":false,"error":{"code":"forbidden","msg":"no"}}"#),
        Ok(ServerMessage::Response {
            id: "r1".into(),
            result: Err(ServerError {
                code: "forbidden".into(),
                message: "no".into()
            })
        })
    );
    assert_eq!(
        one_server(r#" {"future":true,"t":"ack","id":"a","seq":2} "#),
        Ok(ServerMessage::Ack {
            id: "a".into(),
            seq: 2
        }),
        "unknown fields are ignored"
    );
    assert_eq!(
        one_server(r#"{"t":"ev","ch":"c","ev":"e","seq":1}"#),
        Ok(ServerMessage::Event {
            channel: "c".into(),
            event: "e".into(),
            seq: 1,
            id: None,
            data: RawJson::null(),
            spread: false,
        }),
        "absent data is null"
    );
}

#[test]
fn malformed_messages_are_errors() {
    let cases: &[(&str, DecodeError)] = &[
        ("[", DecodeError::Json(json::JsonError::UnexpectedEnd)),
        ("5", DecodeError::NotAnObject),
        (r#"{"x":1}"#, DecodeError::MissingType),
        (r#"{"t":7}"#, DecodeError::MissingType),
        (r#"{"t":"warp"}"#, DecodeError::UnknownType("warp".into())),
        (
            r#"{"t":"ev","ch":"c","seq":1}"#,
            DecodeError::MissingField {
                kind: "ev",
                field: "ev",
            },
        ),
        (
            r#"{"t":"ev","ch":"c","ev":"e","seq":-1}"#,
            DecodeError::InvalidField {
                kind: "ev",
                field: "seq",
            },
        ),
        (
            r#"{"t":"ev","ch":"c","ev":"e","seq":1.5}"#,
            DecodeError::InvalidField {
                kind: "ev",
                field: "seq",
            },
        ),
        (
            r#"{"t":"ack","id":5}"#,
            DecodeError::InvalidField {
                kind: "ack",
                field: "id",
            },
        ),
        (
            r#"{"t":"nack","id":"a","retryable":"yes"}"#,
            DecodeError::InvalidField {
                kind: "nack",
                field: "retryable",
            },
        ),
        (
            r#"{"t":"res","id":"a","ok":false}"#,
            DecodeError::MissingField {
                kind: "res",
                field: "error",
            },
        ),
    ];
    for (frame, expected) in cases {
        let got = decode_server_frame(frame).and_then(|mut v| v.remove(0));
        assert_eq!(got.as_ref(), Err(expected), "{frame}");
    }
}

#[test]
fn one_bad_message_does_not_lose_the_rest_of_a_batch() {
    let frame = r#"[{"t":"pong","ts":1},{"t":"nope"},{"t":"ack","id":"a","seq":1}]"#;
    let got = decode_server_frame(frame).unwrap();
    assert_eq!(got.len(), 3);
    assert!(got[0].is_ok() && got[1].is_err() && got[2].is_ok());
}

#[test]
fn batches_encode_as_arrays() {
    assert_eq!(encode_batch(Vec::<String>::new()), "[]");
    let ping = ClientMessage::Ping { ts: 1 }.encode();
    assert_eq!(
        encode_batch(vec![ping.clone()]),
        ping,
        "one message stays a plain object"
    );
    let frame = encode_batch(vec![ping.clone(), ping]);
    assert_eq!(decode_client_frame(&frame).unwrap().len(), 2);
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (-1e6f64..1e6).prop_map(|f| format!("{f:e}")),
        ".*".prop_map(|s| {
            let mut out = String::new();
            json::write_str(&mut out, &s);
            out
        }),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec((".*", inner), 0..6).prop_map(|v| {
                let fields: Vec<String> = v
                    .into_iter()
                    .map(|(k, v)| {
                        let mut key = String::new();
                        json::write_str(&mut key, &k);
                        format!("{key}:{v}")
                    })
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

fn raw() -> impl Strategy<Value = RawJson> {
    json_value().prop_map(|s| RawJson::parse(s).expect("generated JSON is valid"))
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (
            ".*",
            proptest::option::of(".*"),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(client, token, max)| ClientMessage::Hello { client, token, max }),
        (".*", proptest::option::of(any::<u64>()))
            .prop_map(|(channel, since)| ClientMessage::Subscribe { channel, since }),
        ".*".prop_map(|channel| ClientMessage::Unsubscribe { channel }),
        (".*", ".*", ".*", raw(), any::<bool>()).prop_map(|(id, channel, event, data, durable)| {
            ClientMessage::Publish {
                id,
                channel,
                event,
                data,
                durable,
                memory: !durable,
                priority: 0,
            }
        }),
        (".*", ".*", raw(), any::<bool>()).prop_map(|(id, event, data, spread)| {
            ClientMessage::Request {
                id,
                event,
                data,
                spread,
            }
        }),
        (".*", raw(), any::<bool>()).prop_map(|(event, data, spread)| ClientMessage::Emit {
            event,
            data,
            spread
        }),
        any::<u64>().prop_map(|ts| ClientMessage::Ping { ts }),
        any::<u64>().prop_map(|ts| ClientMessage::Pong { ts }),
    ]
}

fn limits() -> impl Strategy<Value = PeerLimits> {
    let n = || proptest::option::of(any::<u64>());
    (n(), n(), n()).prop_map(|(frame, message, channels)| PeerLimits {
        frame,
        message,
        channels,
    })
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    let error = (".*", ".*").prop_map(|(code, message)| ServerError { code, message });
    prop_oneof![
        (".*", proptest::option::of(limits()))
            .prop_map(|(session, limits)| ServerMessage::Welcome { session, limits }),
        (".*", any::<u64>(), any::<u64>()).prop_map(|(channel, from, to)| ServerMessage::Gap {
            channel,
            from,
            to
        }),
        ".*".prop_map(|reason| ServerMessage::Denied { reason }),
        (".*", any::<u64>(), proptest::option::of(any::<u64>())).prop_map(
            |(channel, seq, since)| ServerMessage::Subscribed {
                channel,
                seq,
                since
            }
        ),
        (
            ".*",
            ".*",
            any::<u64>(),
            proptest::option::of(".*"),
            raw(),
            any::<bool>()
        )
            .prop_map(
                |(channel, event, seq, id, data, spread)| ServerMessage::Event {
                    channel,
                    event,
                    seq,
                    id,
                    data,
                    spread,
                }
            ),
        (".*", any::<u64>()).prop_map(|(id, seq)| ServerMessage::Ack { id, seq }),
        (".*", ".*", any::<bool>()).prop_map(|(id, reason, retryable)| ServerMessage::Nack {
            id,
            reason,
            retryable
        }),
        (".*", raw()).prop_map(|(id, data)| ServerMessage::Response {
            id,
            result: Ok(data)
        }),
        (".*", error.clone()).prop_map(|(id, e)| ServerMessage::Response { id, result: Err(e) }),
        any::<u64>().prop_map(|ts| ServerMessage::Ping { ts }),
        any::<u64>().prop_map(|ts| ServerMessage::Pong { ts }),
        error.prop_map(ServerMessage::Error),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn client_messages_round_trip(messages in proptest::collection::vec(client_message(), 1..5)) {
        let frame = encode_batch(messages.iter().map(ClientMessage::encode));
        let decoded: Vec<ClientMessage> = decode_client_frame(&frame).unwrap().into_iter().map(Result::unwrap).collect();
        prop_assert_eq!(decoded, messages);
    }

    #[test]
    fn server_messages_round_trip(messages in proptest::collection::vec(server_message(), 1..5)) {
        let frame = encode_batch(messages.iter().map(ServerMessage::encode));
        let decoded: Vec<ServerMessage> = decode_server_frame(&frame).unwrap().into_iter().map(Result::unwrap).collect();
        prop_assert_eq!(decoded, messages);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = decode_server_frame(&text);
        let _ = decode_client_frame(&text);
        let _ = RawJson::parse(text.clone());
    }

    #[test]
    fn mutated_valid_frames_never_panic(message in server_message(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let frame = message.encode();
        let mut bytes = frame.into_bytes();
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        if let Ok(text) = String::from_utf8(bytes.clone()) {
            let _ = decode_server_frame(&text);
        }
        bytes.truncate(at);
        if let Ok(text) = String::from_utf8(bytes) {
            let _ = decode_server_frame(&text);
        }
    }
}
