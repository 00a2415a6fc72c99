//! The core against a Socket.IO server written the usual way, simulated natively: durable
//! publishes in the server's own shape and the answer rule, the delivery modes, the retry
//! limit of unanswered entries, joins, connection state recovery and its gap, and the
//! round-trip time.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use sim::Sim;
use syncline::core::{AckRule, Event, Protocol};
use syncline::protocol::ack::Verdict;
use syncline::protocol::socketio::{Join, SocketIoConfig};
use syncline::protocol::{Delivery, RawJson};

const OPEN: &str = r#"0{"sid":"eio1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

fn sim(edit: impl FnOnce(&mut SocketIoConfig)) -> Sim {
    sim_with(|_| {}, edit)
}

fn sim_with(
    outbox: impl FnOnce(&mut syncline::core::OutboxConfig),
    edit: impl FnOnce(&mut SocketIoConfig),
) -> Sim {
    let mut c = Sim::config();
    c.url = "ws://sio.test/socket.io/?EIO=4&transport=websocket".into();
    c.outbox.ack_timeout_ms = 1_000;
    c.outbox.max_attempts = 3;
    outbox(&mut c.outbox);
    let mut sio = SocketIoConfig::new("/");
    edit(&mut sio);
    c.protocol = Protocol::SocketIo(sio);
    let mut s = Sim::with_storage(c);
    s.socketio = true;
    s
}

/// The Engine.IO handshake and the CONNECT answer `connect`; returns the frames sent.
fn open(s: &mut Sim, connect: &str) -> Vec<String> {
    s.connect();
    s.socket_opens();
    s.receive_frame(OPEN);
    s.advance(7);
    s.receive_frame(connect);
    assert_eq!(s.state(), "open");
    std::mem::take(&mut s.frames)
}

/// Waits for the reconnect's socket and opens it.
fn reopen(s: &mut Sim) {
    while s.socket.is_none() {
        s.advance(50);
    }
    s.socket_opens();
}

fn publish(s: &mut Sim, id: &str, data: &str) {
    let data = RawJson::parse(data).expect("JSON");
    let now = s.now;
    s.core
        .publish_durable(
            now,
            id.into(),
            "match_event".into(),
            "match_event".into(),
            data,
            0,
        )
        .expect("taken");
    s.pump();
}

fn delivered(s: &mut Sim) -> Vec<(String, Option<u64>)> {
    s.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Delivered { id, seq } => Some((id, seq)),
            _ => None,
        })
        .collect()
}

fn dead(s: &Sim) -> Vec<(String, String)> {
    s.core
        .dead_letters()
        .map(|d| (d.entry.id.clone(), d.reason.clone()))
        .collect()
}

#[test]
fn a_durable_publish_is_the_servers_event_and_ok_or_refusal_answers_it() {
    let mut s = sim(|_| {});
    open(&mut s, r#"40{"sid":"S1"}"#);
    publish(&mut s, "a", r#"{"matchId":1}"#);
    publish(&mut s, "b", r#"{"matchId":1,"bad":true}"#);
    // One entry of a channel at a time: a Socket.IO server promises nothing of order.
    assert_eq!(
        std::mem::take(&mut s.frames),
        vec![r#"420["match_event",{"id":"a","matchId":1}]"#]
    );
    s.take_events();
    s.receive_frame(r#"430[{"ok":true}]"#);
    assert_eq!(
        std::mem::take(&mut s.frames),
        vec![r#"421["match_event",{"id":"b","matchId":1,"bad":true}]"#]
    );
    s.receive_frame(r#"431[{"ok":false,"error":"bad event"}]"#);
    assert_eq!(delivered(&mut s), vec![("a".to_owned(), Some(0))]);
    assert_eq!(dead(&s), vec![("b".to_owned(), "bad event".to_owned())]);
    assert_eq!(s.core.snapshot().outbox.depth, 0);
}

#[test]
fn the_apps_ack_rule_reads_other_answers() {
    let mut s = sim(|_| {});
    s.core.set_ack_rule(AckRule(Box::new(|answer: &RawJson| {
        if answer.as_str() == r#""STORED""# {
            Verdict::Ok { seq: 0 }
        } else {
            Verdict::Refuse {
                reason: answer.as_text(),
            }
        }
    })));
    open(&mut s, r#"40{"sid":"S1"}"#);
    publish(&mut s, "a", "{}");
    publish(&mut s, "b", "{}");
    s.receive_frame(r#"430["STORED"]"#);
    s.receive_frame(r#"431["NOPE"]"#);
    assert_eq!(delivered(&mut s), vec![("a".to_owned(), Some(0))]);
    assert_eq!(dead(&s), vec![("b".to_owned(), "NOPE".to_owned())]);
}

#[test]
fn sent_delivery_confirms_on_writing_and_the_outbox_keeps_only_what_waited() {
    let mut s = sim(|c| c.delivery = Delivery::Sent);
    publish(&mut s, "offline", r#"{"n":0}"#);
    assert_eq!(
        s.core.snapshot().outbox.depth,
        1,
        "kept while not connected"
    );
    let frames = open(&mut s, r#"40{"sid":"S1"}"#);
    assert!(
        frames.contains(&r#"42["match_event",{"id":"offline","n":0}]"#.to_owned()),
        "{frames:?}"
    );
    publish(&mut s, "online", r#"{"n":1}"#);
    assert!(
        delivered(&mut s).is_empty(),
        "written, not yet shown to have left"
    );
    s.receive_frame("2");
    assert_eq!(
        delivered(&mut s),
        vec![("offline".to_owned(), None), ("online".to_owned(), None)],
        "the server's next frame (a ping) confirms them"
    );
    assert_eq!(s.core.snapshot().outbox.depth, 0);
    // Well past the ack timeout (within the server's heartbeat promise): nothing waited.
    s.advance(20_000);
    assert_eq!(s.core.snapshot().outbox.breaker, "closed");
    let kinds = s.take_error_kinds();
    assert!(kinds.is_empty(), "{kinds:?}");
}

#[test]
fn echo_delivery_confirms_when_the_broadcast_carries_the_id_back_and_retries_until_then() {
    let mut s = sim(|c| c.delivery = Delivery::Echo);
    open(&mut s, r#"40{"sid":"S1"}"#);
    publish(&mut s, "a", r#"{"n":1}"#);
    assert_eq!(
        std::mem::take(&mut s.frames),
        vec![r#"42["match_event",{"id":"a","n":1}]"#],
        "no ack id"
    );
    s.advance(1_000);
    assert_eq!(s.take_error_kinds(), vec!["ack_timeout"]);
    s.advance(2_000);
    assert!(
        s.frames
            .iter()
            .all(|f| f == r#"42["match_event",{"id":"a","n":1}]"#)
            && !s.frames.is_empty(),
        "sent again: {:?}",
        s.frames
    );
    s.receive_frame(r#"42["live_event",{"id":"a","n":1}]"#);
    assert_eq!(delivered(&mut s), vec![("a".to_owned(), Some(0))]);
    assert_eq!(s.core.snapshot().outbox.depth, 0);
}

#[test]
fn an_entry_no_server_answers_ends_as_a_dead_letter_that_says_why() {
    let mut s = sim(|_| {});
    open(&mut s, r#"40{"sid":"S1"}"#);
    publish(&mut s, "a", "{}");
    s.take_events();
    s.advance(120_000);
    let sends = s
        .frames
        .iter()
        .filter(|f| f.contains("match_event"))
        .count();
    assert_eq!(sends, 3, "maxAttempts sends, then no more: {:?}", s.frames);
    let letters = dead(&s);
    assert_eq!(letters.len(), 1);
    assert!(letters[0].1.starts_with("ack_timeout"), "{letters:?}");
    assert!(
        letters[0].1.contains("delivery"),
        "the reason names the fix"
    );
    let outbox = &s.core.snapshot().outbox;
    assert_eq!(outbox.depth, 0);
    assert_eq!(
        outbox.last_error.as_ref().map(|e| e.kind),
        Some("ack_timeout")
    );
}

#[test]
fn a_memory_publish_resolves_once_written() {
    let mut s = sim(|_| {});
    open(&mut s, r#"40{"sid":"S1"}"#);
    let now = s.now;
    let data = RawJson::parse(r#"{"n":1}"#).expect("JSON");
    s.core
        .publish(now, "m".into(), "note".into(), "note".into(), data)
        .expect("taken");
    s.pump();
    assert_eq!(
        std::mem::take(&mut s.frames),
        vec![r#"42["note",{"id":"m","n":1}]"#]
    );
    assert!(s.take_events().contains(&Event::PublishDone {
        id: "m".into(),
        result: Ok(None)
    }));
}

#[test]
fn joins_recovery_and_the_gap_and_the_round_trip() {
    let mut s = sim(|c| {
        c.joins = vec![Join {
            event: "join_match".into(),
            args: vec![RawJson::parse("7").expect("JSON")],
        }];
    });
    let frames = open(&mut s, r#"40{"sid":"S1","pid":"P1"}"#);
    assert_eq!(frames, vec!["40", r#"42["join_match",7]"#]);
    assert_eq!(s.core.snapshot().rtt_ms, Some(7), "the CONNECT round trip");
    assert_eq!(s.core.snapshot().recovered, None);
    s.receive_frame(r#"42["live_event",{"n":1},"100-0"]"#);
    s.socket_closes(1006);
    reopen(&mut s);
    s.receive_frame(OPEN);
    assert_eq!(
        std::mem::take(&mut s.frames),
        vec![r#"40{"pid":"P1","offset":"100-0"}"#]
    );
    s.receive_frame(r#"40{"sid":"S1","pid":"P1"}"#);
    assert_eq!(s.core.snapshot().recovered, Some(true));
    assert!(s.frames.is_empty(), "rooms were restored: {:?}", s.frames);
    s.socket_closes(1006);
    s.take_events();
    reopen(&mut s);
    s.receive_frame(OPEN);
    s.receive_frame(r#"40{"sid":"S2","pid":"P2"}"#);
    assert_eq!(s.core.snapshot().recovered, Some(false));
    assert_eq!(s.core.snapshot().missed_after.as_deref(), Some("100-0"));
    assert!(s.take_events().contains(&Event::Gap {
        last_offset: Some("100-0".into())
    }));
    assert!(s.frames.contains(&r#"42["join_match",7]"#.to_owned()));
}

#[test]
fn sent_delivery_keeps_what_was_written_to_a_socket_that_then_died() {
    let mut s = sim(|c| c.delivery = Delivery::Sent);
    open(&mut s, r#"40{"sid":"S1"}"#);
    publish(&mut s, "a", "{}");
    assert_eq!(s.frames.len(), 1);
    s.socket_closes(1006);
    assert!(delivered(&mut s).is_empty());
    assert_eq!(
        s.core.snapshot().outbox.depth,
        1,
        "sent again on the next socket"
    );
    s.frames.clear();
    reopen(&mut s);
    s.receive_frame(OPEN);
    s.receive_frame(r#"40{"sid":"S2"}"#);
    assert!(
        s.frames
            .contains(&r#"42["match_event",{"id":"a"}]"#.to_owned()),
        "{:?}",
        s.frames
    );
}

#[test]
fn sent_delivery_holds_what_is_published_while_the_browser_says_it_is_offline() {
    let mut s = sim(|c| c.delivery = Delivery::Sent);
    open(&mut s, r#"40{"sid":"S1"}"#);
    let now = s.now;
    s.core.set_online(now, false);
    s.pump();
    publish(&mut s, "a", r#"{"n":1}"#);
    assert!(
        s.frames.is_empty(),
        "not written to a socket the browser may never flush"
    );
    assert!(
        s.take_events()
            .contains(&Event::PublishQueued { id: "a".into() })
    );
    assert_eq!(s.core.snapshot().outbox.depth, 1);
    let now = s.now;
    s.core.set_online(now, true);
    s.pump();
    assert_eq!(
        std::mem::take(&mut s.frames),
        vec![r#"42["match_event",{"id":"a","n":1}]"#]
    );
    s.receive_frame(r#"42["note_added",{"id":"a","n":1}]"#);
    assert_eq!(delivered(&mut s), vec![("a".to_owned(), None)]);
}

#[test]
fn a_publish_queued_behind_another_resolves_as_queued_when_the_connection_drops() {
    let mut s = sim_with(|o| o.window = 1, |_| {});
    open(&mut s, r#"40{"sid":"S1"}"#);
    publish(&mut s, "a", "{}");
    publish(&mut s, "b", "{}");
    assert_eq!(s.core.snapshot().outbox.in_flight, 1, "b waits behind a");
    s.take_events();
    s.socket_closes(1006);
    let queued: Vec<_> = s
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PublishQueued { id } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(queued, vec!["a".to_owned(), "b".to_owned()]);
}

fn live_events(s: &mut Sim) -> Vec<String> {
    s.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(d) => Some(d.data.into_string()),
            _ => None,
        })
        .collect()
}

/// Connected, one event seen at `10-0`, then a new session the server did not recover: the
/// replay request is out.
fn replaying() -> Sim {
    let mut s = sim(|c| c.replay_event = Some("syncline:replay".into()));
    open(&mut s, r#"40{"sid":"S1","pid":"P1"}"#);
    let now = s.now;
    s.core.subscribe(now, "e".into(), None, 0, None);
    s.pump();
    s.receive_frame(r#"42["e",1,"10-0"]"#);
    s.socket_closes(1006);
    reopen(&mut s);
    s.receive_frame(OPEN);
    s.receive_frame(r#"40{"sid":"S2","pid":"P2"}"#);
    assert!(
        s.frames
            .contains(&r#"420["syncline:replay",{"offset":"10-0"}]"#.to_owned()),
        "{:?}",
        s.frames
    );
    s.take_events();
    s
}

#[test]
fn a_replay_that_never_ends_holds_live_events_only_for_a_while() {
    let mut s = replaying();
    s.receive_frame(r#"42["e",3,"12-0"]"#);
    s.receive_frame(r#"42["e",2,"11-0"]"#);
    assert!(live_events(&mut s).is_empty(), "held for the replay");
    s.advance(5_000);
    assert_eq!(
        live_events(&mut s),
        vec!["2", "3"],
        "released in order at the deadline"
    );
    s.receive_frame(r#"42["e",4,"13-0"]"#);
    s.receive_frame(r#"42["e",3,"12-0"]"#);
    assert_eq!(
        live_events(&mut s),
        vec!["4"],
        "no longer held, still no duplicates"
    );
}

#[test]
fn what_was_held_is_delivered_when_the_socket_goes() {
    let mut s = replaying();
    s.receive_frame(r#"42["e",2,"11-0"]"#);
    s.socket_closes(1006);
    assert_eq!(live_events(&mut s), vec!["2"]);
}
