use super::*;

fn v(text: &str) -> Value {
    Value::from_text(text).expect("JSON")
}

fn raw(text: &str) -> RawJson {
    RawJson::parse(text).expect("JSON")
}

/// A type-routed server: `{type, payload, id}`, acks `{type:"ack", id}`.
fn typed() -> JsonConfig {
    let mut c = JsonConfig::new("type");
    c.data = Some("payload".into());
    c.id = Some("id".into());
    let mut answer = AnswerSpec::new("id");
    answer.matches = vec![v(r#"{"type":"ack"}"#), v(r#"{"type":"error"}"#)];
    c.answer = Some(answer);
    c.templates.publish = Some(v(r#"{"type":"{event}","id":"{id}","payload":"{data}"}"#));
    c
}

fn frame(encoded: Encoded) -> Value {
    match encoded {
        Encoded::Frame(f) | Encoded::FrameThen(f, _) => v(&f),
        other => panic!("expected a frame, got {other:?}"),
    }
}

fn publish(id: &str, channel: &str, data: &str) -> Outbound {
    Outbound::Publish {
        id: id.into(),
        channel: channel.into(),
        event: channel.into(),
        data: raw(data),
        durable: false,
        memory: false,
        priority: 0,
    }
}

fn event(decoded: &[Result<Inbound, WireError>]) -> &InEvent {
    match decoded.first() {
        Some(Ok(Inbound::Event(e))) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[test]
fn frames_that_are_not_objects_go_to_message_raw() {
    let mut w = JsonWire::new(typed());
    let d = w.decode("hello there").unwrap();
    let e = event(&d);
    assert_eq!(
        (e.channel.as_str(), e.event.as_str()),
        ("message", "message")
    );
    assert_eq!(e.data.as_str(), r#""hello there""#);
    let d = w.decode("[1,2]").unwrap();
    assert_eq!(
        event(&d).data.as_str(),
        "[1,2]",
        "JSON that is not an object: parsed"
    );
    let d = w.decode(" 7").unwrap();
    assert_eq!(event(&d).data.as_str(), " 7");
    let d = w.decode(r#"{"no":"type"}"#).unwrap();
    assert_eq!(event(&d).channel, "message");
    assert_eq!(event(&d).data.as_str(), r#"{"no":"type"}"#);
    let d = w.decode(r#"{"type":7}"#).unwrap();
    assert_eq!(
        event(&d).channel,
        "message",
        "an event name must be a string"
    );
}

#[test]
fn events_are_read_by_their_paths() {
    let mut c = typed();
    c.channel = Some("meta.room".into());
    c.seq = Some("meta.seq".into());
    let mut w = JsonWire::new(c);
    let d = w
        .decode(r#"{"type":"tick","payload":{"x": 1.50},"id":"e1","meta":{"room":"r1","seq":4}}"#)
        .unwrap();
    let e = event(&d);
    assert_eq!(e.channel, "r1");
    assert_eq!(e.event, "tick");
    assert_eq!(e.data.as_str(), r#"{"x": 1.50}"#, "data as it arrived");
    assert_eq!(e.id.as_deref(), Some("e1"));
    assert_eq!(e.seq, Some(4));
    let d = w.decode(r#"{"type":"tick"}"#).unwrap();
    let e = event(&d);
    assert_eq!(
        (e.channel.as_str(), e.data.as_str(), e.seq),
        ("tick", "null", None)
    );
}

#[test]
fn a_publish_is_acked_or_refused_by_its_answer() {
    let mut w = JsonWire::new(typed());
    let f = frame(w.encode(publish("p1", "move", r#"{"x":1}"#)).unwrap());
    assert_eq!(f, v(r#"{"type":"move","id":"p1","payload":{"x":1}}"#));
    frame(w.encode(publish("p2", "move", "{}")).unwrap());
    frame(w.encode(publish("p3", "move", "{}")).unwrap());
    // An event that carries an awaited id but is not an answer's shape stays an event.
    let d = w.decode(r#"{"type":"move","id":"p1"}"#).unwrap();
    assert_eq!(event(&d).event, "move");
    assert_eq!(
        w.decode(r#"{"type":"ack","id":"p1"}"#).unwrap(),
        vec![Ok(Inbound::Ack {
            id: "p1".into(),
            seq: 0
        })]
    );
    assert_eq!(
        w.decode(r#"{"type":"error","id":"p2","error":"bad move"}"#)
            .unwrap(),
        vec![Ok(Inbound::Refused {
            id: "p2".into(),
            reason: "bad move".into(),
            retryable: false
        })]
    );
    assert_eq!(
        w.decode(r#"{"type":"error","id":"p3","error":{"code":"busy"},"retryable":true}"#)
            .unwrap(),
        vec![Ok(Inbound::Refused {
            id: "p3".into(),
            reason: r#"{"code":"busy"}"#.into(),
            retryable: true
        })]
    );
    // A second ack for the same id is nothing awaited: an event of type "ack".
    let d = w.decode(r#"{"type":"ack","id":"p1"}"#).unwrap();
    assert_eq!(event(&d).event, "ack");
}

#[test]
fn requests_are_answered_by_id() {
    let mut c = JsonConfig::new("type");
    let mut answer = AnswerSpec::new("requestId");
    answer.result = Some("result".into());
    c.answer = Some(answer);
    c.templates.request = Some(v(
        r#"{"requestId":"{id}","type":"{event}","params":"{data}"}"#,
    ));
    let mut w = JsonWire::new(c);
    let request = |id: &str| Outbound::Request {
        id: id.into(),
        event: "sum".into(),
        data: raw("[1,2]"),
        spread: false,
    };
    let f = frame(w.encode(request("r1")).unwrap());
    assert_eq!(f, v(r#"{"requestId":"r1","type":"sum","params":[1,2]}"#));
    frame(w.encode(request("r2")).unwrap());
    frame(w.encode(request("r3")).unwrap());
    assert_eq!(
        w.decode(r#"{"requestId":"r1","result":3}"#).unwrap(),
        vec![Ok(Inbound::Response {
            id: "r1".into(),
            result: Ok(raw("3"))
        })]
    );
    let error = |code: &str, message: &str| ServerError {
        code: code.into(),
        message: message.into(),
    };
    assert_eq!(
        w.decode(r#"{"requestId":"r2","error":"no such sum"}"#)
            .unwrap(),
        vec![Ok(Inbound::Response {
            id: "r2".into(),
            result: Err(error("error", "no such sum"))
        })]
    );
    assert_eq!(
        w.decode(r#"{"requestId":"r3","error":{"code":"E42","message":"nope"}}"#)
            .unwrap(),
        vec![Ok(Inbound::Response {
            id: "r3".into(),
            result: Err(error("E42", "nope"))
        })]
    );
}

#[test]
fn without_an_answer_requests_and_acked_publishes_are_refused_here() {
    let mut w = JsonWire::new(JsonConfig::new("type"));
    let r = w
        .encode(Outbound::Request {
            id: "r".into(),
            event: "e".into(),
            data: RawJson::null(),
            spread: false,
        })
        .unwrap();
    assert!(matches!(
        r,
        Encoded::Answered(Inbound::Response { result: Err(_), .. })
    ));
    assert_eq!(
        w.encode(publish("p", "c", "{}")).unwrap(),
        Encoded::Answered(Inbound::Refused {
            id: "p".into(),
            reason: NO_ANSWER.into(),
            retryable: false
        })
    );
}

#[test]
fn subscribe_resume_and_unsubscribe_follow_their_templates() {
    let mut c = JsonConfig::new("event");
    c.channel = Some("channel".into());
    c.seq = Some("seq".into());
    c.templates.subscribe = Some(v(
        r#"{"action":"subscribe","channel":"{channel}","since":"{since}"}"#,
    ));
    c.templates.unsubscribe = Some(v(r#"{"action":"unsubscribe","channel":"{channel}"}"#));
    c.templates.resume = Some(v(
        r#"{"action":"resume","channel":"{channel}","since":"{since}"}"#,
    ));
    let mut w = JsonWire::new(c);
    let sub = |since| Outbound::Subscribe {
        channel: "prices".into(),
        since,
    };
    let live = Inbound::Subscribed {
        since: None,
        channel: "prices".into(),
        seq: None,
    };
    assert_eq!(
        w.encode(sub(None)).unwrap(),
        Encoded::FrameThen(
            r#"{"action":"subscribe","channel":"prices"}"#.into(),
            live.clone()
        )
    );
    assert_eq!(
        w.encode(sub(Some(0))).unwrap(),
        Encoded::FrameThen(
            r#"{"action":"subscribe","channel":"prices"}"#.into(),
            live.clone()
        ),
        "nothing seen yet: a plain subscribe"
    );
    assert_eq!(
        w.encode(sub(Some(12))).unwrap(),
        Encoded::FrameThen(
            r#"{"action":"resume","channel":"prices","since":12}"#.into(),
            live
        )
    );
    assert_eq!(
        frame(
            w.encode(Outbound::Unsubscribe {
                channel: "prices".into()
            })
            .unwrap()
        ),
        v(r#"{"action":"unsubscribe","channel":"prices"}"#)
    );
    // The raw frames' channel is local.
    assert_eq!(
        w.encode(Outbound::Subscribe {
            channel: "message".into(),
            since: None
        })
        .unwrap(),
        Encoded::Answered(Inbound::Subscribed {
            since: None,
            channel: "message".into(),
            seq: None
        })
    );
    assert_eq!(
        w.encode(Outbound::Unsubscribe {
            channel: "message".into()
        })
        .unwrap(),
        Encoded::Nothing
    );
}

#[test]
fn a_count_of_this_client_is_no_resume_point() {
    let mut c = JsonConfig::new("type");
    c.templates.subscribe = Some(v(r#"{"sub":"{channel}"}"#));
    c.templates.resume = Some(v(r#"{"resume":"{channel}","since":"{since}"}"#));
    let mut w = JsonWire::new(c);
    let f = frame(
        w.encode(Outbound::Subscribe {
            channel: "c".into(),
            since: Some(5),
        })
        .unwrap(),
    );
    assert_eq!(f, v(r#"{"sub":"c"}"#), "no seq path: the 5 is counted here");
    let mut w = JsonWire::new(JsonConfig::new("type"));
    assert_eq!(
        w.encode(Outbound::Subscribe {
            channel: "c".into(),
            since: None
        })
        .unwrap(),
        Encoded::Answered(Inbound::Subscribed {
            since: None,
            channel: "c".into(),
            seq: None
        }),
        "no subscribe template: local"
    );
}

#[test]
fn hello_carries_the_token_or_the_session_opens_at_once() {
    let mut c = JsonConfig::new("type");
    c.templates.hello = Some(v(
        r#"{"type":"auth","token":"{token}","who":"client {client}"}"#,
    ));
    let mut w = JsonWire::new(c);
    let session = Inbound::Session {
        session: "c1".into(),
        resumed: Resumption::Fresh,
    };
    assert_eq!(
        w.encode(Outbound::Hello {
            max: None,
            client: "c1".into(),
            token: Some("t0k".into())
        })
        .unwrap(),
        Encoded::FrameThen(
            r#"{"type":"auth","token":"t0k","who":"client c1"}"#.into(),
            session.clone()
        )
    );
    assert_eq!(
        frame(
            w.encode(Outbound::Hello {
                max: None,
                client: "c1".into(),
                token: None
            })
            .unwrap()
        ),
        v(r#"{"type":"auth","who":"client c1"}"#),
        "a whole placeholder without a value is left out"
    );
    let mut w = JsonWire::new(JsonConfig::new("type"));
    assert_eq!(
        w.encode(Outbound::Hello {
            max: None,
            client: "c1".into(),
            token: None
        })
        .unwrap(),
        Encoded::Answered(session)
    );
}

#[test]
fn default_templates_mirror_the_read_paths() {
    let mut c = JsonConfig::new("meta.kind");
    c.channel = Some("meta.room".into());
    c.data = Some("body".into());
    c.id = Some("meta.id".into());
    c.answer = Some(AnswerSpec::new("meta.id"));
    let mut w = JsonWire::new(c);
    let f = frame(w.encode(publish("p1", "r1", r#"{"a":1}"#)).unwrap());
    assert_eq!(
        f,
        v(r#"{"body":{"a":1},"meta":{"kind":"r1","room":"r1","id":"p1"}}"#)
    );
    let f = frame(
        w.encode(Outbound::Emit {
            event: "hi".into(),
            data: raw("2"),
            spread: false,
        })
        .unwrap(),
    );
    assert_eq!(f, v(r#"{"body":2,"meta":{"kind":"hi","room":"hi"}}"#));
    assert!(w.carries_emits());
    // No data path: the data's members at the top.
    let mut c = JsonConfig::new("type");
    c.answer = Some(AnswerSpec::new("id"));
    let mut w = JsonWire::new(c);
    let f = frame(
        w.encode(publish("p1", "move", r#"{"x":1,"type":"spoof"}"#))
            .unwrap(),
    );
    assert_eq!(f, v(r#"{"x":1,"type":"move","id":"p1"}"#));
    let f = frame(w.encode(publish("p2", "move", "[1]")).unwrap());
    assert_eq!(f, v(r#"{"data":[1],"type":"move","id":"p2"}"#));
    let f = frame(
        w.encode(Outbound::Request {
            id: "r1".into(),
            event: "q".into(),
            data: raw(r#"{"n":1}"#),
            spread: false,
        })
        .unwrap(),
    );
    assert_eq!(f, v(r#"{"n":1,"type":"q","id":"r1"}"#));
}

#[test]
fn a_declared_publish_without_an_emit_sends_emits_as_publishes() {
    let w = JsonWire::new(typed());
    assert!(!w.carries_emits());
    let mut c = typed();
    c.templates.emit = Some(v(r#"{"type":"{event}","payload":"{data}"}"#));
    assert!(JsonWire::new(c).carries_emits());
}

#[test]
fn echo_and_sent_delivery() {
    let mut c = typed();
    c.delivery = Delivery::Echo;
    let mut w = JsonWire::new(c);
    frame(w.encode(publish("p1", "move", "{}")).unwrap());
    w.reset();
    let d = w
        .decode(r#"{"type":"move","id":"p1","payload":{}}"#)
        .unwrap();
    assert_eq!(event(&d).id.as_deref(), Some("p1"));
    assert_eq!(
        d.get(1),
        Some(&Ok(Inbound::Ack {
            id: "p1".into(),
            seq: 0
        })),
        "echoes outlive the socket"
    );
    let d = w
        .decode(r#"{"type":"move","id":"p1","payload":{}}"#)
        .unwrap();
    assert_eq!(d.len(), 1, "confirmed once");

    let mut c = typed();
    c.delivery = Delivery::Sent;
    let mut w = JsonWire::new(c);
    assert!(matches!(
        w.encode(publish("p1", "move", "{}")).unwrap(),
        Encoded::FrameThen(_, Inbound::Sent { id }) if id == "p1"
    ));
    // Memory-only publishes are done once written, whatever the delivery.
    let mut w = JsonWire::new(typed());
    let mut memory = publish("m1", "move", "{}");
    if let Outbound::Publish { memory: m, .. } = &mut memory {
        *m = true;
    }
    assert!(matches!(
        w.encode(memory).unwrap(),
        Encoded::FrameThen(_, Inbound::Sent { .. })
    ));
}

#[test]
fn heartbeat_pings_and_pongs_by_shape() {
    let mut c = typed();
    c.heartbeat = Some(HeartbeatShapes {
        ping: v(r#"{"type":"ping","t":"{ts}"}"#),
        pong: v(r#"{"type":"pong"}"#),
    });
    let mut w = JsonWire::new(c);
    assert_eq!(w.heartbeat(), Heartbeat::ClientPings);
    assert_eq!(
        frame(w.encode(Outbound::Ping { ts: 42 }).unwrap()),
        v(r#"{"type":"ping","t":42}"#)
    );
    assert_eq!(
        w.decode(r#"{"type":"pong","extra":1}"#).unwrap(),
        vec![Ok(Inbound::Pong { ts: 42 })]
    );
    assert_eq!(
        w.decode(r#"{"type":"pong"}"#).unwrap(),
        vec![],
        "no ping outstanding"
    );
    // The server's ping is answered with the pong.
    assert_eq!(w.decode(r#"{"type":"ping","t":"abc"}"#).unwrap(), vec![]);
    assert_eq!(w.poll_transmit().as_deref(), Some(r#"{"type":"pong"}"#));
    assert_eq!(w.poll_transmit(), None);
    assert_eq!(
        JsonWire::new(typed()).heartbeat(),
        Heartbeat::ServerPings { liveness_ms: None }
    );
    let mut plain = JsonWire::new(typed());
    assert_eq!(
        plain.encode(Outbound::Ping { ts: 1 }).unwrap(),
        Encoded::Nothing
    );
}

#[test]
fn the_encode_callback_comes_first_and_none_leaves_the_template() {
    let mut c = typed();
    c.encode = Some(EncodeHook(std::rc::Rc::new(
        |kind: &str, message: &RawJson| {
            (kind == "publish").then(|| {
                let channel = message
                    .field("channel")
                    .map(|c| c.as_text())
                    .unwrap_or_default();
                RawJson::to_json(&["pub".to_owned(), channel])
            })
        },
    )));
    let mut w = JsonWire::new(c);
    assert_eq!(
        frame(w.encode(publish("p1", "room", "{}")).unwrap()),
        v(r#"["pub","room"]"#)
    );
    let f = frame(
        w.encode(Outbound::Emit {
            event: "e".into(),
            data: raw("1"),
            spread: false,
        })
        .unwrap(),
    );
    assert_eq!(f, v(r#"{"type":"e","payload":1}"#));
}

#[test]
fn placeholders_and_shapes() {
    assert_eq!(
        unknown_placeholder(&v(r#"{"a":["x {foo} y"]}"#)),
        Some("foo".into())
    );
    assert_eq!(
        unknown_placeholder(&v(r#"{"a":"{ not one }","b":"{id}:{channel}"}"#)),
        None
    );
    let t = Template::Declared(v(
        r#"{"k":"user:{channel}","n":["{since}", "{{id}}"],"d":"{data}"}"#,
    ));
    let vars = Vars::default()
        .text("channel", Some("c"))
        .text("id", Some("7"))
        .with("data", Some(Out::Raw(raw("[1]"))));
    assert_eq!(
        t.fill(&vars).to_json().as_str(),
        r#"{"k":"user:c","n":[null,"{7}"],"d":[1]}"#
    );
    let mut bound = Vec::new();
    assert!(path::has_shape(
        &v(r#"{"a":{"b":1.0,"c":2}}"#),
        &v(r#"{"a":{"b":1}}"#),
        &mut bound
    ));
    assert!(!path::has_shape(
        &v(r#"{"a":{"b":2}}"#),
        &v(r#"{"a":{"b":1}}"#),
        &mut bound
    ));
    assert!(path::holds(&v(r#"{"a":{"b":"x"}}"#), &v(r#"{"a.b":"x"}"#)));
    assert!(path::holds(
        &v(r#"{"n":1e2,"m":-5e-1}"#),
        &v(r#"{"n":100,"m":-0.5}"#)
    ));
    assert!(!path::holds(&v(r#"{"n":100.5}"#), &v(r#"{"n":100}"#)));
}
