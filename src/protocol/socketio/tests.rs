//! The Socket.IO wire alone: frames in, messages out.

// This whole file is the `tests` module (declared under `#[cfg(test)]` in mod.rs).
#[cfg(test)]
use super::*;
use crate::protocol::message::Resumption;

fn raw(text: &str) -> RawJson {
    RawJson::parse(text).unwrap()
}

#[test]
fn hello_waits_for_the_engine_handshake() {
    let mut wire = SocketIoWire::new(SocketIoConfig::new("/admin"));
    let hello = Outbound::Hello {
        max: None,
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
fn too_large_messages_are_answered_here() {
    let mut wire = SocketIoWire::new(SocketIoConfig::new("/"));
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

fn wire_with(edit: impl FnOnce(&mut SocketIoConfig)) -> SocketIoWire {
    let mut config = SocketIoConfig::new("/");
    edit(&mut config);
    SocketIoWire::new(config)
}

fn publish(id: &str, data: &str, memory: bool) -> Outbound {
    Outbound::Publish {
        id: id.into(),
        channel: "match_event".into(),
        event: "match_event".into(),
        data: raw(data),
        durable: false,
        memory,
        priority: 0,
    }
}

/// Opens the Engine.IO session and sends `hello`; returns the CONNECT frame.
fn open(wire: &mut SocketIoWire) -> String {
    wire.decode(r#"0{"sid":"e","pingInterval":300,"pingTimeout":200}"#)
        .unwrap();
    let hello = Outbound::Hello {
        max: None,
        client: "c".into(),
        token: None,
    };
    match wire.encode(hello) {
        Ok(Encoded::Frame(frame)) => frame,
        other => panic!("{other:?}"),
    }
}

fn transmitted(wire: &mut SocketIoWire) -> Vec<String> {
    std::iter::from_fn(|| wire.poll_transmit()).collect()
}

fn event(name: &str, data: &str) -> Result<Inbound, WireError> {
    Ok(Inbound::Event(InEvent {
        channel: name.into(),
        event: name.into(),
        seq: None,
        id: None,
        data: raw(data),
        spread: false,
    }))
}

#[test]
fn a_publish_is_the_servers_own_event_with_the_id_inside_and_its_ack_is_the_answer() {
    let mut wire = wire_with(|_| {});
    assert_eq!(
        wire.encode(publish("p1", r#"{"x":1}"#, false)),
        Ok(Encoded::Frame(
            r#"420["match_event",{"id":"p1","x":1}]"#.into()
        ))
    );
    assert_eq!(
        wire.decode(r#"430[{"ok":true}]"#),
        Ok(vec![Ok(Inbound::Answered {
            id: "p1".into(),
            answer: raw(r#"{"ok":true}"#)
        })])
    );
    assert_eq!(
        wire.decode(r#"430[]"#),
        Ok(vec![Err(WireError::UnknownAck(0))]),
        "a second answer is a duplicate"
    );
    assert_eq!(
        wire.encode(publish("p2", r#"{"id":"app-7","x":2}"#, false)),
        Ok(Encoded::Frame(
            r#"421["match_event",{"id":"app-7","x":2}]"#.into()
        )),
        "an id already in the payload is kept"
    );
    assert!(
        matches!(
            wire.encode(publish("p3", "[1]", false)),
            Ok(Encoded::Answered(Inbound::Refused {
                retryable: false,
                ..
            }))
        ),
        "a durable payload that cannot carry an id is refused, not sent without one"
    );
}

#[test]
fn the_meta_format_sends_channel_data_and_meta() {
    let mut wire = wire_with(|c| c.format = PublishFormat::Meta);
    assert_eq!(
        wire.encode(publish("p1", r#"{"x":1}"#, false)),
        Ok(Encoded::Frame(
            r#"420["match_event",{"x":1},{"id":"p1","event":"match_event"}]"#.into()
        ))
    );
}

#[test]
fn memory_publishes_and_sent_delivery_wait_for_no_ack() {
    let mut wire = wire_with(|c| c.delivery = Delivery::Sent);
    let sent = |id: &str| Inbound::Sent { id: id.into() };
    assert_eq!(
        wire.encode(publish("m", r#""text""#, true)),
        Ok(Encoded::FrameThen(
            r#"42["match_event","text"]"#.into(),
            sent("m")
        )),
        "a memory-only publish is done once written"
    );
    assert_eq!(
        wire.encode(publish("d", "{}", false)),
        Ok(Encoded::Frame(r#"42["match_event",{"id":"d"}]"#.into()))
    );
    assert_eq!(
        wire.decode("2"),
        Ok(vec![Ok(sent("d"))]),
        "a durable one once the server's next frame shows the socket carried it"
    );
    wire.encode(publish("lost", "{}", false)).unwrap();
    wire.reset();
    assert_eq!(
        wire.decode("2"),
        Ok(vec![]),
        "not when the socket died first"
    );
}

#[test]
fn echo_delivery_confirms_a_publish_when_its_id_comes_back() {
    let mut wire = wire_with(|c| {
        c.delivery = Delivery::Echo;
        c.id_field = "eventId".into();
    });
    open(&mut wire);
    wire.decode(r#"40{"sid":"s"}"#).unwrap();
    assert_eq!(
        wire.encode(publish("p1", r#"{"n":1}"#, false)),
        Ok(Encoded::Frame(
            r#"42["match_event",{"eventId":"p1","n":1}]"#.into()
        ))
    );
    wire.reset();
    open(&mut wire);
    wire.decode(r#"40{"sid":"s2"}"#).unwrap();
    let got = wire
        .decode(r#"42["live_event",{"eventId":"p1","n":1}]"#)
        .unwrap();
    assert_eq!(
        got,
        vec![
            event("live_event", r#"{"eventId":"p1","n":1}"#),
            Ok(Inbound::Ack {
                id: "p1".into(),
                seq: 0
            })
        ],
        "also on the next socket"
    );
    let again = wire
        .decode(r#"42["live_event",{"eventId":"p1","n":1}]"#)
        .unwrap();
    assert_eq!(again.len(), 1, "a second echo confirms nothing");
}

#[test]
fn server_events_are_acked_and_spread_when_several() {
    let mut wire = wire_with(|_| {});
    open(&mut wire);
    wire.decode(r#"40{"sid":"s"}"#).unwrap();
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
fn joins_go_first_on_every_connection_the_server_did_not_recover() {
    let mut wire = wire_with(|c| {
        c.joins = vec![Join {
            event: "join_match".into(),
            args: vec![raw("42")],
        }];
    });
    assert_eq!(open(&mut wire), "40");
    let got = wire.decode(r#"40{"sid":"s1","pid":"p1"}"#).unwrap();
    assert_eq!(
        got,
        vec![Ok(Inbound::Session {
            session: "s1".into(),
            resumed: Resumption::Fresh
        })]
    );
    assert_eq!(transmitted(&mut wire), vec![r#"42["join_match",42]"#]);
    // Broadcasts of a server that recovers sessions end with their offset: stripped, kept.
    assert_eq!(
        wire.decode(r#"42["live_event",{"n":1},"1700-0"]"#).unwrap(),
        vec![event("live_event", r#"{"n":1}"#)]
    );
    wire.reset();
    assert_eq!(
        open(&mut wire),
        r#"40{"pid":"p1","offset":"1700-0"}"#,
        "the session and offset go back in CONNECT"
    );
    // Recovered: the missed event comes before the CONNECT answer, and is delivered after it.
    assert_eq!(
        wire.decode(r#"42["live_event",{"n":2},"1701-0"]"#).unwrap(),
        vec![]
    );
    let got = wire.decode(r#"40{"sid":"s1","pid":"p1"}"#).unwrap();
    assert_eq!(
        got,
        vec![
            Ok(Inbound::Session {
                session: "s1".into(),
                resumed: Resumption::Recovered
            }),
            event("live_event", r#"{"n":2}"#)
        ]
    );
    assert!(
        transmitted(&mut wire).is_empty(),
        "the server kept the rooms"
    );
    wire.reset();
    open(&mut wire);
    let got = wire.decode(r#"40{"sid":"s9","pid":"p9"}"#).unwrap();
    assert_eq!(
        got,
        vec![Ok(Inbound::Session {
            session: "s9".into(),
            resumed: Resumption::Lost {
                last_offset: Some("1701-0".into())
            }
        })]
    );
    assert_eq!(transmitted(&mut wire), vec![r#"42["join_match",42]"#]);
}

#[test]
fn a_lost_session_asks_the_server_helper_to_replay_and_drops_what_it_delivered() {
    let mut wire = wire_with(|c| c.replay_event = Some("syncline:replay".into()));
    open(&mut wire);
    wire.decode(r#"40{"sid":"s1","pid":"p1"}"#).unwrap();
    wire.decode(r#"42["e",1,"10-0"]"#).unwrap();
    wire.reset();
    open(&mut wire);
    wire.decode(r#"40{"sid":"s2","pid":"p2"}"#).unwrap();
    assert_eq!(
        transmitted(&mut wire),
        vec![r#"420["syncline:replay",{"offset":"10-0"}]"#]
    );
    assert!(wire.holds());
    let live = wire.decode(r#"42["e",4,"13-0"]"#).unwrap();
    assert_eq!(live, vec![], "a live event waits for the replay");
    let replayed: Vec<_> = ["11-0", "12-0", "13-0"]
        .iter()
        .enumerate()
        .flat_map(|(n, offset)| {
            let frame = format!(r#"42["e",{},"{offset}"]"#, n + 2);
            wire.decode(&frame).unwrap()
        })
        .collect();
    assert_eq!(replayed, vec![]);
    assert_eq!(
        wire.decode(r#"430[{"replayed":3}]"#),
        Ok(vec![event("e", "2"), event("e", "3"), event("e", "4")]),
        "in offset order, 13-0 once"
    );
    assert!(!wire.holds());
    assert_eq!(wire.decode(r#"42["e",3,"12-0"]"#).unwrap(), vec![]);
    assert_eq!(
        wire.decode(r#"42["e",5,"14-0"]"#).unwrap(),
        vec![event("e", "5")]
    );
}
