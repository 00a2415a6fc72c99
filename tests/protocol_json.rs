//! The JSON wire on frames in the shapes of three servers: a type-routed one (`{type,
//! priority, payload, id}`, acks `{type:"ack", id}` / `{type:"error", id, error}`), a
//! request/response one by `requestId`, and a channel one (`{action:"subscribe", channel}`,
//! events `{channel, seq, event, data}`, resume `{action:"resume", channel, since}`); and
//! property tests: arbitrary frames never panic, a publish read back by the same paths is
//! the publish.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use syncline::protocol::json::{AnswerSpec, HeartbeatShapes, JsonConfig, JsonWire};
use syncline::protocol::value::Value;
use syncline::protocol::{Encoded, Heartbeat, InEvent, Inbound, Outbound, RawJson, Wire};

fn v(text: &str) -> Value {
    Value::from_text(text).expect("JSON")
}

fn raw(text: &str) -> RawJson {
    RawJson::parse(text).expect("JSON")
}

fn typed() -> JsonConfig {
    let mut c = JsonConfig::new("type");
    c.data = Some("payload".into());
    c.id = Some("id".into());
    let mut answer = AnswerSpec::new("id");
    answer.matches = vec![v(r#"{"type":"ack"}"#), v(r#"{"type":"error"}"#)];
    c.answer = Some(answer);
    c.templates.publish = Some(v(
        r#"{"type":"{event}","priority":2,"payload":"{data}","id":"{id}"}"#,
    ));
    c.heartbeat = Some(HeartbeatShapes {
        ping: v(r#"{"type":"ping"}"#),
        pong: v(r#"{"type":"pong"}"#),
    });
    c
}

fn requests() -> JsonConfig {
    let mut c = JsonConfig::new("type");
    let mut answer = AnswerSpec::new("requestId");
    answer.result = Some("result".into());
    c.answer = Some(answer);
    c.templates.request = Some(v(
        r#"{"requestId":"{id}","type":"{event}","params":"{data}"}"#,
    ));
    c
}

fn channels() -> JsonConfig {
    let mut c = JsonConfig::new("event");
    c.channel = Some("channel".into());
    c.data = Some("data".into());
    c.seq = Some("seq".into());
    c.templates.subscribe = Some(v(r#"{"action":"subscribe","channel":"{channel}"}"#));
    c.templates.resume = Some(v(
        r#"{"action":"resume","channel":"{channel}","since":"{since}"}"#,
    ));
    c
}

fn sent(encoded: Encoded) -> Value {
    match encoded {
        Encoded::Frame(f) | Encoded::FrameThen(f, _) => v(&f),
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[test]
fn a_type_routed_server() {
    let mut w = JsonWire::new(typed());
    assert_eq!(w.heartbeat(), Heartbeat::ClientPings);
    let publish = Outbound::Publish {
        id: "0190a1b2-0000-7000-8000-000000000001".into(),
        channel: "unit_moved".into(),
        event: "unit_moved".into(),
        data: raw(r#"{"unit":{"id":"u7"},"to":[3,4]}"#),
        durable: false,
        memory: false,
        priority: 0,
    };
    assert_eq!(
        sent(w.encode(publish).unwrap()),
        v(
            r#"{"type":"unit_moved","priority":2,"payload":{"unit":{"id":"u7"},"to":[3,4]},"id":"0190a1b2-0000-7000-8000-000000000001"}"#
        )
    );
    // Broadcasts first (another client's move), then the ack.
    let d = w
        .decode(r#"{"type":"unit_moved","priority":2,"payload":{"unit":{"id":"u9"}},"id":"other"}"#)
        .unwrap();
    assert_eq!(
        d,
        vec![Ok(Inbound::Event(InEvent {
            channel: "unit_moved".into(),
            event: "unit_moved".into(),
            seq: None,
            id: Some("other".into()),
            data: raw(r#"{"unit":{"id":"u9"}}"#),
            spread: false,
        }))]
    );
    assert_eq!(
        w.decode(r#"{"type":"ack","id":"0190a1b2-0000-7000-8000-000000000001"}"#)
            .unwrap(),
        vec![Ok(Inbound::Ack {
            id: "0190a1b2-0000-7000-8000-000000000001".into(),
            seq: 0
        })]
    );
    assert_eq!(
        sent(w.encode(Outbound::Ping { ts: 5 }).unwrap()),
        v(r#"{"type":"ping"}"#)
    );
    assert_eq!(
        w.decode(r#"{"type":"pong"}"#).unwrap(),
        vec![Ok(Inbound::Pong { ts: 5 })]
    );
}

#[test]
fn a_request_response_server() {
    let mut w = JsonWire::new(requests());
    let request = Outbound::Request {
        id: "tab1-1".into(),
        event: "getUser".into(),
        data: raw(r#"{"id":4}"#),
        spread: false,
    };
    assert_eq!(
        sent(w.encode(request).unwrap()),
        v(r#"{"requestId":"tab1-1","type":"getUser","params":{"id":4}}"#)
    );
    // A push that is no answer, then the answer.
    let d = w.decode(r#"{"type":"notice","text":"hi"}"#).unwrap();
    assert!(
        matches!(&d[..], [Ok(Inbound::Event(e))] if e.event == "notice" && e.data.as_str() == r#"{"type":"notice","text":"hi"}"#)
    );
    assert_eq!(
        w.decode(r#"{"requestId":"tab1-1","result":{"name":"Ada"}}"#)
            .unwrap(),
        vec![Ok(Inbound::Response {
            id: "tab1-1".into(),
            result: Ok(raw(r#"{"name":"Ada"}"#))
        })]
    );
    // After the socket is replaced, an answer for the old socket's request is not one.
    let request = Outbound::Request {
        id: "tab1-2".into(),
        event: "getUser".into(),
        data: RawJson::null(),
        spread: false,
    };
    sent(w.encode(request).unwrap());
    w.reset();
    let d = w.decode(r#"{"requestId":"tab1-2","result":1}"#).unwrap();
    assert!(matches!(&d[..], [Ok(Inbound::Event(e))] if e.channel == "message"));
}

#[test]
fn a_channel_server() {
    let mut w = JsonWire::new(channels());
    let sub = |since| Outbound::Subscribe {
        channel: "orders".into(),
        since,
    };
    assert_eq!(
        sent(w.encode(sub(None)).unwrap()),
        v(r#"{"action":"subscribe","channel":"orders"}"#)
    );
    let d = w
        .decode(r#"{"channel":"orders","seq":41,"event":"created","data":{"n":1}}"#)
        .unwrap();
    assert_eq!(
        d,
        vec![Ok(Inbound::Event(InEvent {
            channel: "orders".into(),
            event: "created".into(),
            seq: Some(41),
            id: None,
            data: raw(r#"{"n":1}"#),
            spread: false,
        }))]
    );
    assert_eq!(
        sent(w.encode(sub(Some(41))).unwrap()),
        v(r#"{"action":"resume","channel":"orders","since":41}"#)
    );
    // A status frame of the server's own: raw.
    let d = w
        .decode(r#"{"status":"subscribed","channel":"orders"}"#)
        .unwrap();
    assert!(matches!(&d[..], [Ok(Inbound::Event(e))] if e.channel == "message"));
}

fn json_value() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        prop_oneof![
            Just("ack".to_owned()),
            Just("error".to_owned()),
            Just("p1".to_owned()),
            Just("r1".to_owned()),
            ".{0,6}".boxed()
        ]
        .prop_map(|s| {
            let mut out = String::new();
            syncline::protocol::raw::write_str(&mut out, &s);
            out
        }),
    ];
    let key = prop_oneof![
        Just("type"),
        Just("id"),
        Just("payload"),
        Just("requestId"),
        Just("result"),
        Just("error"),
        Just("channel"),
        Just("seq"),
        Just("event"),
        Just("data"),
        Just("retryable"),
    ];
    leaf.prop_recursive(3, 24, 5, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec((key.clone(), inner), 0..5).prop_map(|v| {
                let fields: Vec<String> = v.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
    .boxed()
}

/// Wires of the three shapes, each waiting for answers to `p1` and `r1`.
fn waiting_wires() -> Vec<JsonWire> {
    [typed(), requests(), channels()]
        .into_iter()
        .map(|c| {
            let mut w = JsonWire::new(c);
            let _ = w.encode(Outbound::Publish {
                id: "p1".into(),
                channel: "c".into(),
                event: "e".into(),
                data: RawJson::null(),
                durable: false,
                memory: false,
                priority: 0,
            });
            let _ = w.encode(Outbound::Request {
                id: "r1".into(),
                event: "q".into(),
                data: RawJson::null(),
                spread: false,
            });
            let _ = w.encode(Outbound::Ping { ts: 1 });
            w
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}") {
        for mut w in waiting_wires() {
            let decoded = w.decode(&text).expect("every frame is delivered somewhere");
            prop_assert!(decoded.iter().all(Result::is_ok));
            while w.poll_transmit().is_some() {}
        }
    }

    #[test]
    fn arbitrary_json_frames_never_panic(frame in json_value()) {
        for mut w in waiting_wires() {
            let decoded = w.decode(&frame).expect("every frame is delivered somewhere");
            prop_assert!(decoded.iter().all(Result::is_ok));
            for message in decoded.into_iter().flatten() {
                if let Inbound::Event(e) = message {
                    prop_assert!(RawJson::parse(e.data.as_str()).is_ok());
                }
            }
        }
    }

    #[test]
    fn a_publish_read_back_by_the_same_paths_is_the_publish(data in json_value(), id in "[a-z0-9-]{1,12}", event in "[a-z_]{1,8}") {
        // Default templates mirror the read paths: an echoing server's frame reads back.
        let mut c = JsonConfig::new("meta.type");
        c.channel = Some("meta.room".into());
        c.data = Some("body".into());
        c.id = Some("meta.id".into());
        c.answer = Some(AnswerSpec::new("meta.id"));
        let mut w = JsonWire::new(c);
        let Encoded::Frame(frame) = w.encode(Outbound::Publish {
            id: id.clone(), channel: "room".into(), event: event.clone(), data: raw(&data), durable: false, memory: false, priority: 0,
        }).unwrap() else { panic!("a frame") };
        w.reset();
        let decoded = w.decode(&frame).unwrap();
        let [Ok(Inbound::Event(e))] = &decoded[..] else { panic!("{decoded:?}") };
        prop_assert_eq!(&e.event, &event);
        prop_assert_eq!(&e.channel, "room");
        prop_assert_eq!(e.id.as_deref(), Some(id.as_str()));
        prop_assert_eq!(v(e.data.as_str()), v(&data));
    }
}
