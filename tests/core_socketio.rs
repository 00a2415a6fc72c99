//! The core speaking Socket.IO, simulated natively: the handshake and CONNECT with auth, the
//! server-driven heartbeat, events and acks, durable publishes confirmed by acks, requests,
//! emits, namespaces, server disconnects and unsupported binary packets.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use sim::Sim;
use syncline::core::{Event, Protocol};
use syncline::protocol::envelope::RawJson;

const OPEN: &str = r#"0{"sid":"eio1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

fn config(namespace: &str) -> syncline::core::Config {
    let mut c = Sim::config();
    c.url = "ws://sio.test/socket.io/?EIO=4&transport=websocket".into();
    let mut sio = syncline::protocol::socketio::SocketIoConfig::new(namespace);
    // These tests were written for the `[channel, data, meta]` format.
    sio.format = syncline::protocol::socketio::PublishFormat::Meta;
    c.protocol = Protocol::SocketIo(sio);
    c
}

fn sim(namespace: &str) -> Sim {
    let mut s = Sim::with_storage(config(namespace));
    s.socketio = true;
    s
}

fn take_frames(s: &mut Sim) -> Vec<String> {
    std::mem::take(&mut s.frames)
}

/// Connects through the Engine.IO handshake and the CONNECT answer.
fn open(s: &mut Sim) {
    s.connect();
    s.socket_opens();
    s.receive_frame(OPEN);
    s.receive_frame(r#"40{"sid":"S1"}"#);
    assert_eq!(s.state(), "open");
    take_frames(s);
    s.take_events();
}

fn json(text: &str) -> RawJson {
    RawJson::parse(text).expect("JSON")
}

fn messages(s: &mut Sim) -> Vec<(String, u64, String, bool)> {
    s.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(d) => Some((d.channel, d.seq, d.data.into_string(), d.spread)),
            _ => None,
        })
        .collect()
}

/// The ack id of the one EVENT frame sent for `name`, and the frame.
fn sent_event(s: &mut Sim, name: &str) -> (u64, String) {
    let prefix = format!("42[\"{name}\"");
    let frames: Vec<String> = take_frames(s)
        .into_iter()
        .filter(|f| f.starts_with("42") && f.contains(&format!("[\"{name}\"")))
        .collect();
    assert_eq!(frames.len(), 1, "one EVENT for {name}: {frames:?}");
    let frame = frames[0].clone();
    assert!(
        !frame.starts_with(&prefix),
        "the EVENT asks for an ack: {frame}"
    );
    let digits: String = frame[2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (digits.parse().expect("ack id"), frame)
}

#[test]
fn connect_waits_for_the_handshake_and_sends_the_token() {
    let mut c = config("/");
    c.use_auth = true;
    let mut s = Sim::with_storage(c);
    s.socketio = true;
    s.connect();
    let attempt = s.auth_requests[0];
    s.core
        .handle_auth(s.now, attempt, Ok(Some("se\"cret".into())));
    s.pump();
    s.socket_opens();
    assert!(
        s.frames.is_empty(),
        "nothing before the Engine.IO handshake: {:?}",
        s.frames
    );
    s.receive_frame(OPEN);
    assert_eq!(take_frames(&mut s), vec![r#"40{"token":"se\"cret"}"#]);
    assert_eq!(s.state(), "connecting");
    s.receive_frame(r#"40{"sid":"abc"}"#);
    assert_eq!(s.state(), "open");
    assert_eq!(s.core.snapshot().session.as_deref(), Some("abc"));
    assert!(
        take_frames(&mut s).iter().all(|f| !f.starts_with('2')),
        "a Socket.IO client never pings"
    );
}

#[test]
fn connect_error_is_an_auth_rejection_and_the_client_retries() {
    let mut s = sim("/");
    s.connect();
    s.socket_opens();
    s.receive_frame(OPEN);
    s.receive_frame(r#"44{"message":"unauthorized","data":{"code":401}}"#);
    let errors: Vec<(String, String)> = s
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Error(e) => Some((e.kind().to_owned(), e.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "auth_rejected");
    assert!(errors[0].1.contains("unauthorized"), "{}", errors[0].1);
    assert_eq!(s.state(), "waiting");
    let opens = s.opens.len();
    s.advance(2_000);
    assert_eq!(s.opens.len(), opens + 1, "a new attempt after the backoff");
}

#[test]
fn the_server_pings_the_client_answers_and_silence_is_death() {
    let mut s = sim("/");
    open(&mut s);
    for _ in 0..10 {
        s.advance(25_000);
        s.receive_frame("2");
        assert_eq!(take_frames(&mut s), vec!["3"]);
    }
    assert_eq!(s.state(), "open", "five minutes of pings keep it open");
    s.advance(44_999);
    assert_eq!(s.state(), "open");
    s.advance(1);
    assert_eq!(s.take_error_kinds(), vec!["heartbeat_timeout"]);
    assert_eq!(s.state(), "waiting");
}

#[test]
fn events_reach_subscribers_with_their_own_sequence() {
    let mut s = sim("/");
    open(&mut s);
    s.core.subscribe(s.now, "price", None, 0, None);
    s.core.subscribe(s.now, "move", None, 0, None);
    s.pump();
    assert!(
        take_frames(&mut s).is_empty(),
        "subscribing is local on Socket.IO"
    );
    s.receive_frame(r#"42["price",{"v":1}]"#);
    s.receive_frame(r#"42["other",1]"#);
    s.receive_frame(r#"42["price",{"v":2}]"#);
    s.receive_frame(r#"42["move",3,4]"#);
    s.receive_frame(r#"42["move"]"#);
    assert_eq!(
        messages(&mut s),
        vec![
            ("price".into(), 1, r#"{"v":1}"#.into(), false),
            ("price".into(), 2, r#"{"v":2}"#.into(), false),
            ("move".into(), 1, "[3,4]".into(), true),
            ("move".into(), 2, "[]".into(), true),
        ]
    );
    // An event the server wants acked is acked on arrival, listened to or not.
    s.receive_frame(r#"427["price",{"v":3}]"#);
    s.receive_frame(r#"428["other",{}]"#);
    assert_eq!(take_frames(&mut s), vec!["437[]", "438[]"]);
    assert_eq!(messages(&mut s).len(), 1);
}

#[test]
fn a_durable_publish_is_confirmed_by_the_servers_ack() {
    let mut s = sim("/");
    open(&mut s);
    let id = s.core.next_publish_id(s.now, [1; 10]);
    s.core
        .publish_durable(
            s.now,
            id.clone(),
            "orders".into(),
            "created".into(),
            json(r#"{"n":1}"#),
            0,
        )
        .expect("accepted");
    s.pump();
    let (ack, frame) = sent_event(&mut s, "orders");
    assert!(
        frame.ends_with(&format!(
            r#"["orders",{{"n":1}},{{"id":"{id}","event":"created"}}]"#
        )),
        "{frame}"
    );
    s.receive_frame(&format!(r#"43{ack}[{{"ok":true,"seq":41}}]"#));
    let events = s.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Delivered { id: d, seq: Some(41) } if *d == id)),
        "{events:?}"
    );
    assert_eq!(s.core.snapshot().outbox.depth, 0);
    // The same ack again answers nothing: reported, not trusted.
    s.receive_frame(&format!(r#"43{ack}[{{"ok":true}}]"#));
    assert_eq!(s.take_error_kinds(), vec!["unknown_answer"]);
}

#[test]
fn an_unacked_publish_is_sent_again_after_a_reconnect_under_the_same_id() {
    let mut s = sim("/");
    open(&mut s);
    let id = s.core.next_publish_id(s.now, [2; 10]);
    s.core
        .publish_durable(
            s.now,
            id.clone(),
            "orders".into(),
            "created".into(),
            json("1"),
            0,
        )
        .expect("accepted");
    s.pump();
    let (old_ack, _) = sent_event(&mut s, "orders");
    s.socket_closes(1006);
    assert_eq!(s.core.snapshot().outbox.depth, 1);
    s.advance(2_000);
    s.socket_opens();
    s.receive_frame(OPEN);
    s.receive_frame(r#"40{"sid":"S2"}"#);
    let frames = take_frames(&mut s);
    let resent: Vec<&String> = frames.iter().filter(|f| f.contains(&id)).collect();
    assert_eq!(resent.len(), 1, "sent again once: {frames:?}");
    // An ack for the dead socket's id means nothing on this one.
    let digits: String = resent[0][2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let new_ack: u64 = digits.parse().expect("ack id");
    assert_ne!(new_ack, old_ack);
    s.receive_frame(&format!("43{new_ack}[]"));
    assert!(
        s.take_events()
            .iter()
            .any(|e| matches!(e, Event::Delivered { id: d, .. } if *d == id))
    );
    assert_eq!(s.core.snapshot().outbox.depth, 0);
}

#[test]
fn an_ack_with_an_error_refuses_the_publish() {
    let mut s = sim("/");
    open(&mut s);
    let id = s.core.next_publish_id(s.now, [3; 10]);
    s.core
        .publish_durable(
            s.now,
            id.clone(),
            "refused.x".into(),
            "e".into(),
            json("1"),
            0,
        )
        .expect("accepted");
    s.pump();
    let (ack, _) = sent_event(&mut s, "refused.x");
    s.receive_frame(&format!(
        r#"43{ack}[{{"error":"not allowed","retryable":false}}]"#
    ));
    let events = s.take_events();
    assert!(
        events.iter().any(
            |e| matches!(e, Event::DeadLetter(l) if l.entry.id == id && l.reason == "not allowed")
        ),
        "{events:?}"
    );
}

#[test]
fn requests_are_events_with_acks_and_emits_are_not() {
    let mut s = sim("/");
    open(&mut s);
    let id = s
        .core
        .request_with(s.now, "sum".into(), json("[2,3]"), true, None)
        .expect("sent");
    s.pump();
    let (ack, frame) = sent_event(&mut s, "sum");
    assert!(frame.ends_with(r#"["sum",2,3]"#), "{frame}");
    s.receive_frame(&format!("43{ack}[5]"));
    let answers: Vec<String> = s
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::RequestDone {
                id: r,
                result: Ok(data),
            } if r == id => Some(data.into_string()),
            _ => None,
        })
        .collect();
    assert_eq!(answers, vec!["5"]);

    s.core
        .emit(s.now, "typing".into(), json(r#"{"who":"a"}"#), false)
        .expect("sent");
    s.core
        .emit(s.now, "move".into(), json("[1,2]"), true)
        .expect("sent");
    s.pump();
    assert_eq!(
        take_frames(&mut s),
        vec![r#"42["typing",{"who":"a"}]"#, r#"42["move",1,2]"#]
    );
}

#[test]
fn emits_wait_for_the_connection() {
    let mut s = sim("/");
    s.connect();
    s.core
        .emit(s.now, "hello".into(), json("1"), false)
        .expect("held");
    s.pump();
    assert_eq!(s.core.snapshot().buffered, 1);
    s.socket_opens();
    s.receive_frame(OPEN);
    s.receive_frame(r#"40{"sid":"S"}"#);
    assert!(take_frames(&mut s).contains(&r#"42["hello",1]"#.to_owned()));
    assert_eq!(s.core.snapshot().buffered, 0);
}

#[test]
fn namespaces_prefix_packets_and_foreign_ones_are_refused() {
    let mut s = sim("/admin");
    s.connect();
    s.socket_opens();
    s.receive_frame(OPEN);
    assert_eq!(take_frames(&mut s), vec!["40/admin,"]);
    s.receive_frame(r#"40{"sid":"wrong-ns"}"#);
    assert_eq!(s.take_error_kinds(), vec!["malformed_frame"]);
    assert_eq!(s.state(), "connecting");
    s.receive_frame(r#"40/admin,{"sid":"S"}"#);
    assert_eq!(s.state(), "open");
    s.core.subscribe(s.now, "stats", None, 0, None);
    s.pump();
    s.receive_frame(r#"42["stats",1]"#);
    s.receive_frame(r#"42/elsewhere,["stats",3]"#);
    assert_eq!(
        s.take_error_kinds(),
        vec!["malformed_frame", "malformed_frame"]
    );
    s.receive_frame(r#"42/admin,["stats",2]"#);
    let events = s.take_events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::Error(_))),
        "{events:?}"
    );
    let delivered: Vec<String> = events
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(d) => Some(d.data.into_string()),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec!["2"], "only the namespace's own event");
    // A client disconnect tells the server so.
    s.core.disconnect(s.now);
    s.pump();
    assert_eq!(take_frames(&mut s), vec!["41/admin,"]);
}

#[test]
fn a_server_disconnect_reconnects_with_backoff() {
    let mut s = sim("/");
    open(&mut s);
    s.receive_frame("41");
    assert_eq!(s.take_error_kinds(), vec!["server_disconnect"]);
    assert_eq!(s.state(), "waiting");
    assert!(s.core.snapshot().retry_at.is_some());
    s.advance(2_000);
    s.socket_opens();
    s.receive_frame(OPEN);
    s.receive_frame(r#"40{"sid":"S2"}"#);
    assert_eq!(s.state(), "open");
    assert_eq!(s.core.snapshot().reconnects, 1);
    // An Engine.IO close is the same.
    s.receive_frame("1");
    assert_eq!(s.take_error_kinds(), vec!["server_disconnect"]);
}

#[test]
fn binary_packets_are_reported_as_unsupported() {
    let mut s = sim("/");
    open(&mut s);
    s.core.subscribe(s.now, "file", None, 0, None);
    s.pump();
    s.receive_frame(r#"451-["file",{"_placeholder":true,"num":0}]"#);
    let attempt = s.socket.expect("open");
    s.core.handle_binary(s.now, attempt, 10);
    s.pump();
    assert_eq!(
        s.take_error_kinds(),
        vec!["unsupported"],
        "the attachment is part of it"
    );
    s.core.handle_binary(s.now, attempt, 10);
    s.pump();
    assert_eq!(s.take_error_kinds(), vec!["unexpected_binary"]);
    // A request answered with a binary ack fails clearly instead of hanging.
    let id = s
        .core
        .request(s.now, "photo".into(), json("1"), None)
        .expect("sent");
    s.pump();
    let (ack, _) = sent_event(&mut s, "photo");
    s.receive_frame(&format!(r#"461-{ack}[{{"_placeholder":true,"num":0}}]"#));
    let failed = s.take_events().into_iter().any(|e| {
        matches!(e, Event::RequestDone { id: r, result: Err(ref err) } if r == id && err.to_string().contains("binary"))
    });
    assert!(failed);
    assert_eq!(s.state(), "open");
}

#[test]
fn garbage_from_the_server_is_reported_and_survived() {
    let mut s = sim("/");
    open(&mut s);
    for frame in [
        "", "9", "4", "42", "42[", "43x[]", "0{", "4/admin", "45-[]", "2probe",
    ] {
        s.receive_frame(frame);
    }
    let kinds = s.take_error_kinds();
    assert_eq!(kinds.len(), 9, "{kinds:?}");
    assert!(kinds.iter().all(|k| *k == "malformed_frame"), "{kinds:?}");
    assert_eq!(s.state(), "open");
    assert_eq!(take_frames(&mut s), vec!["3probe"]);
}

#[test]
fn a_message_over_the_servers_max_payload_fails_instead_of_closing_the_connection() {
    let mut s = sim("/");
    s.connect();
    s.socket_opens();
    s.receive_frame(r#"0{"sid":"e","pingInterval":25000,"pingTimeout":20000,"maxPayload":200}"#);
    s.receive_frame(r#"40{"sid":"S"}"#);
    take_frames(&mut s);
    s.take_events();
    let big = json(&format!("\"{}\"", "x".repeat(300)));
    let id = s.core.next_publish_id(s.now, [4; 10]);
    s.core
        .publish_durable(
            s.now,
            id.clone(),
            "orders".into(),
            "e".into(),
            big.clone(),
            0,
        )
        .expect("accepted");
    let request = s
        .core
        .request(s.now, "echo".into(), big.clone(), None)
        .expect("sent");
    s.core
        .emit(s.now, "note".into(), big, false)
        .expect("taken");
    s.pump();
    assert!(take_frames(&mut s).is_empty(), "nothing too big goes out");
    let events = s.take_events();
    assert!(events.iter().any(|e| matches!(e, Event::DeadLetter(l) if l.entry.id == id && l.reason.contains("maxPayload"))), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::RequestDone { id: r, result: Err(_) } if *r == request))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Error(err) if err.kind() == "buffer_full"))
    );
    assert_eq!(s.state(), "open");
    s.core
        .emit(s.now, "note".into(), json("1"), false)
        .expect("sent");
    s.pump();
    assert_eq!(take_frames(&mut s), vec![r#"42["note",1]"#]);
}

#[test]
fn a_publish_sent_again_on_the_same_socket_keeps_its_ack_id() {
    let mut s = sim("/");
    open(&mut s);
    let id = s.core.next_publish_id(s.now, [5; 10]);
    s.core
        .publish_durable(s.now, id.clone(), "orders".into(), "e".into(), json("1"), 0)
        .expect("accepted");
    s.pump();
    let (first, _) = sent_event(&mut s, "orders");
    // No ack within the outbox's ack timeout: sent again, under the same ack id.
    for _ in 0..8 {
        s.advance(5_000);
        s.receive_frame("2");
    }
    let again: Vec<String> = take_frames(&mut s)
        .into_iter()
        .filter(|f| f.contains(&id))
        .collect();
    assert!(!again.is_empty(), "sent again");
    assert!(
        again.iter().all(|f| f.starts_with(&format!("42{first}["))),
        "{again:?}"
    );
    // The server acks both transmissions: one settles it, the other is a duplicate answer.
    s.receive_frame(&format!("43{first}[]"));
    s.receive_frame(&format!("43{first}[]"));
    let events = s.take_events();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Delivered { id: d, .. } if *d == id))
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Error(err) if err.kind() == "unknown_answer"))
            .count(),
        1
    );
}
