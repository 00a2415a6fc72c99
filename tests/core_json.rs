//! The core against JSON servers of three shapes, simulated natively: a type-routed server
//! (`{type, priority, payload, id}`, acks `{type:"ack", id}` / `{type:"error", id, error}`),
//! a request/response server (`{requestId, result}` / `{requestId, error}`), and a channel
//! server (`{action:"subscribe", channel}`, events `{channel, seq, event, data}`, resume by
//! `{action:"resume", channel, since}`).
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use std::collections::HashMap;

use sim::Sim;
use syncline::core::pending::AnswerPolicy;
use syncline::core::{Event, Protocol};
use syncline::protocol::RawJson;
use syncline::protocol::json::{AnswerSpec, HeartbeatShapes, JsonConfig};
use syncline::protocol::value::Value;

fn v(text: &str) -> Value {
    Value::from_text(text).expect("JSON")
}

fn typed() -> JsonConfig {
    let mut c = JsonConfig::new("type");
    c.data = Some("payload".into());
    c.id = Some("id".into());
    let mut answer = AnswerSpec::new("id");
    answer.matches = vec![v(r#"{"type":"ack"}"#), v(r#"{"type":"error"}"#)];
    c.answer = Some(answer);
    c.templates.hello = Some(v(r#"{"type":"auth","token":"{token}"}"#));
    c.templates.publish = Some(v(
        r#"{"type":"{event}","priority":1,"payload":"{data}","id":"{id}"}"#,
    ));
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
    c.templates.unsubscribe = Some(v(r#"{"action":"unsubscribe","channel":"{channel}"}"#));
    c.templates.resume = Some(v(
        r#"{"action":"resume","channel":"{channel}","since":"{since}"}"#,
    ));
    c
}

fn sim(json: JsonConfig) -> Sim {
    let mut c = Sim::config();
    c.url = "ws://json.test/ws".into();
    c.outbox.ack_timeout_ms = 1_000;
    c.outbox.max_attempts = 3;
    c.request.retries = 0;
    c.protocol = Protocol::Json(Box::new(json));
    let mut s = Sim::with_storage(c);
    s.socketio = true;
    s
}

/// Connects to open; returns the frames sent on the way.
fn open(s: &mut Sim) -> Vec<String> {
    s.connect();
    s.socket_opens();
    assert_eq!(s.state(), "open");
    std::mem::take(&mut s.frames)
}

fn reopen(s: &mut Sim) {
    while s.socket.is_none() {
        s.advance(50);
    }
    s.socket_opens();
    assert_eq!(s.state(), "open");
}

fn publish(s: &mut Sim, id: &str, data: &str) {
    let now = s.now;
    let data = RawJson::parse(data).expect("JSON");
    s.core
        .publish_durable(now, id.into(), "move".into(), "move".into(), data, 0)
        .expect("taken");
    s.pump();
}

fn delivered(s: &mut Sim) -> Vec<String> {
    s.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Delivered { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}

/// A request's outcome: the result's JSON, or the error's kind and message.
type Answer = Result<String, (&'static str, String)>;

fn frames_as_values(frames: Vec<String>) -> Vec<Value> {
    frames.iter().map(|f| v(f)).collect()
}

#[test]
fn durable_publishes_are_acked_refused_or_retried_by_the_servers_answers() {
    let mut s = sim(typed());
    s.connect();
    s.socket_opens();
    assert_eq!(
        frames_as_values(std::mem::take(&mut s.frames)),
        vec![v(r#"{"type":"auth"}"#)]
    );
    publish(&mut s, "a", r#"{"x":1}"#);
    publish(&mut s, "b", r#"{"x":2}"#);
    publish(&mut s, "c", r#"{"x":3}"#);
    // A server that promises nothing of order gets a channel's entries one at a time, so
    // that a retried one is never overtaken.
    let next_frame = |s: &mut Sim| frames_as_values(std::mem::take(&mut s.frames));
    assert_eq!(
        next_frame(&mut s),
        vec![v(
            r#"{"type":"move","priority":1,"payload":{"x":1},"id":"a"}"#
        )]
    );
    s.take_events();
    s.receive_frame(r#"{"type":"ack","id":"a"}"#);
    assert_eq!(
        next_frame(&mut s),
        vec![v(
            r#"{"type":"move","priority":1,"payload":{"x":2},"id":"b"}"#
        )]
    );
    s.receive_frame(r#"{"type":"error","id":"b","error":"illegal move"}"#);
    assert_eq!(
        next_frame(&mut s),
        vec![v(
            r#"{"type":"move","priority":1,"payload":{"x":3},"id":"c"}"#
        )]
    );
    s.receive_frame(r#"{"type":"error","id":"c","error":{"code":"busy","retryable":true}}"#);
    assert_eq!(delivered(&mut s), vec!["a".to_owned()]);
    let dead: Vec<(String, String)> = s
        .core
        .dead_letters()
        .map(|d| (d.entry.id.clone(), d.reason.clone()))
        .collect();
    assert_eq!(dead, vec![("b".to_owned(), "illegal move".to_owned())]);
    assert_eq!(
        s.core.snapshot().outbox.depth,
        1,
        "c waits to be sent again"
    );
    while s.frames.is_empty() {
        s.advance(100);
    }
    let resent = frames_as_values(std::mem::take(&mut s.frames));
    assert!(
        resent.contains(&v(
            r#"{"type":"move","priority":1,"payload":{"x":3},"id":"c"}"#
        )),
        "{resent:?}"
    );
    s.receive_frame(r#"{"type":"ack","id":"c"}"#);
    assert_eq!(delivered(&mut s), vec!["c".to_owned()]);
    assert_eq!(s.core.snapshot().outbox.depth, 0);
}

#[test]
fn the_hello_carries_the_apps_token() {
    let mut c = Sim::config();
    c.url = "ws://json.test/ws".into();
    c.use_auth = true;
    c.protocol = Protocol::Json(Box::new(typed()));
    let mut s = Sim::with_storage(c);
    s.socketio = true;
    s.connect();
    let attempt = *s.auth_requests.last().expect("auth asked");
    s.core
        .handle_auth(s.now, attempt, Ok(Some("s3cret".into())));
    s.pump();
    s.socket_opens();
    assert_eq!(
        s.frames,
        vec![r#"{"type":"auth","token":"s3cret"}"#.to_owned()]
    );
    assert_eq!(s.state(), "open");
}

#[test]
fn requests_are_answered_errored_or_time_out() {
    let mut s = sim(requests());
    open(&mut s);
    let now = s.now;
    let policy = Some(AnswerPolicy {
        timeout_ms: 2_000,
        retries: 0,
    });
    let data = |t: &str| RawJson::parse(t).expect("JSON");
    let r1 = s
        .core
        .request(now, "sum".into(), data("[1,2]"), policy)
        .expect("sent");
    let r2 = s
        .core
        .request(now, "sum".into(), data("[]"), policy)
        .expect("sent");
    let r3 = s
        .core
        .request(now, "slow".into(), data("null"), policy)
        .expect("sent");
    s.pump();
    assert_eq!(
        frames_as_values(std::mem::take(&mut s.frames)),
        vec![
            v(&format!(
                r#"{{"requestId":"{r1}","type":"sum","params":[1,2]}}"#
            )),
            v(&format!(
                r#"{{"requestId":"{r2}","type":"sum","params":[]}}"#
            )),
            v(&format!(
                r#"{{"requestId":"{r3}","type":"slow","params":null}}"#
            )),
        ]
    );
    s.receive_frame(&format!(r#"{{"requestId":"{r1}","result":3}}"#));
    s.receive_frame(&format!(
        r#"{{"requestId":"{r2}","error":{{"code":"EMPTY","message":"nothing to sum"}}}}"#
    ));
    s.advance(2_500);
    let done: HashMap<String, Answer> = s
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::RequestDone { id, result } => Some((
                id,
                result
                    .map(RawJson::into_string)
                    .map_err(|e| (e.kind(), e.to_string())),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(done.len(), 3, "{done:?}");
    assert_eq!(done[&r1], Ok("3".to_owned()));
    assert!(
        matches!(&done[&r2], Err(("server", message)) if message.contains("nothing to sum")),
        "{:?}",
        done[&r2]
    );
    assert!(matches!(&done[&r3], Err(("timeout", _))), "{:?}", done[&r3]);
}

#[test]
fn a_missing_pong_reconnects_and_a_pong_keeps_the_connection() {
    let mut config = typed();
    config.heartbeat = Some(HeartbeatShapes {
        ping: v(r#"{"type":"ping","ts":"{ts}"}"#),
        pong: v(r#"{"type":"pong"}"#),
    });
    let mut s = sim(config);
    let sent = open(&mut s);
    assert_eq!(sent.len(), 2, "hello, then the first ping: {sent:?}");
    assert_eq!(v(&sent[1]).get("type"), Some(&Value::String("ping".into())));
    s.receive_frame(r#"{"type":"pong"}"#);
    assert!(s.core.snapshot().rtt_ms.is_some());
    s.advance(15_000);
    assert_eq!(s.state(), "open");
    let pings = std::mem::take(&mut s.frames);
    assert_eq!(pings.len(), 1, "the next ping: {pings:?}");
    // The server's own ping is answered with the pong.
    s.receive_frame(r#"{"type":"ping"}"#);
    assert_eq!(
        std::mem::take(&mut s.frames),
        vec![r#"{"type":"pong"}"#.to_owned()]
    );
    s.receive_frame(r#"{"type":"pong"}"#);
    // Now the server stops answering.
    let opens = s.opens.len();
    s.advance(15_000 + 5_000 + 10);
    assert_ne!(s.state(), "open");
    assert!(s.take_error_kinds().contains(&"heartbeat_timeout"));
    reopen(&mut s);
    assert_eq!(s.opens.len(), opens + 1);
}

#[test]
fn without_a_heartbeat_the_connection_has_no_liveness_timer() {
    let mut s = sim(typed());
    open(&mut s);
    s.advance(10 * 60_000);
    assert_eq!(s.state(), "open");
    assert!(s.frames.is_empty(), "no pings: {:?}", s.frames);
}

#[test]
fn a_reconnect_resumes_each_channel_after_its_last_sequence() {
    let mut s = sim(channels());
    open(&mut s);
    let now = s.now;
    s.core.subscribe(now, "prices", None, 0, None);
    s.core.subscribe(now, "news", None, 0, None);
    s.pump();
    let mut subs = std::mem::take(&mut s.frames);
    subs.sort();
    assert_eq!(
        subs,
        vec![
            r#"{"action":"subscribe","channel":"news"}"#.to_owned(),
            r#"{"action":"subscribe","channel":"prices"}"#.to_owned(),
        ]
    );
    s.receive_frame(r#"{"channel":"prices","seq":7,"event":"tick","data":{"p":1}}"#);
    s.receive_frame(r#"{"channel":"prices","seq":8,"event":"tick","data":{"p":2}}"#);
    s.receive_frame(r#"{"channel":"prices","seq":8,"event":"tick","data":{"p":2}}"#);
    let got: Vec<(String, u64, String)> = s
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(d) => Some((d.channel, d.seq, d.data.into_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("prices".to_owned(), 7, r#"{"p":1}"#.to_owned()),
            ("prices".to_owned(), 8, r#"{"p":2}"#.to_owned()),
        ],
        "the repeated sequence is dropped"
    );
    s.socket_closes(1006);
    reopen(&mut s);
    let mut again = std::mem::take(&mut s.frames);
    again.sort();
    assert_eq!(
        again,
        vec![
            r#"{"action":"resume","channel":"prices","since":8}"#.to_owned(),
            r#"{"action":"subscribe","channel":"news"}"#.to_owned(),
        ]
    );
}

#[test]
fn frames_of_no_declared_shape_reach_the_message_channel() {
    let mut s = sim(channels());
    open(&mut s);
    let now = s.now;
    s.core.subscribe(now, "message", None, 0, None);
    s.pump();
    assert!(
        s.frames.is_empty(),
        "the message channel is local: {:?}",
        s.frames
    );
    s.receive_frame(r#"{"hello":"world"}"#);
    s.receive_frame("plain text");
    let got: Vec<(String, String)> = s
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(d) => Some((d.channel, d.data.into_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("message".to_owned(), r#"{"hello":"world"}"#.to_owned()),
            ("message".to_owned(), r#""plain text""#.to_owned()),
        ]
    );
}

#[test]
fn echo_delivery_confirms_when_the_publish_comes_back() {
    let mut config = typed();
    config.delivery = syncline::protocol::Delivery::Echo;
    let mut s = sim(config);
    open(&mut s);
    publish(&mut s, "e1", r#"{"x":1}"#);
    s.take_events();
    s.receive_frame(r#"{"type":"move","payload":{"x":1},"id":"e1"}"#);
    assert_eq!(delivered(&mut s), vec!["e1".to_owned()]);
}

#[test]
fn without_pings_a_reconnect_reports_no_made_up_round_trip() {
    let mut s = sim(channels());
    open(&mut s);
    s.receive_frame(r#"{"channel":"x","seq":1,"event":"e","data":1}"#);
    s.advance(60_000);
    s.socket_closes(1006);
    reopen(&mut s);
    assert_eq!(
        s.core.snapshot().rtt_ms,
        None,
        "no frame was answered: nothing to time"
    );
}

#[test]
fn a_server_numbering_from_zero_has_its_first_event_delivered() {
    let mut s = sim(channels());
    open(&mut s);
    let now = s.now;
    s.core.subscribe(now, "prices", None, 0, None);
    s.pump();
    for seq in [0, 1, 1] {
        s.receive_frame(&format!(
            r#"{{"channel":"prices","seq":{seq},"event":"tick","data":{{"p":{seq}}}}}"#
        ));
    }
    let seqs: Vec<u64> = s
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(d) => Some(d.seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, vec![0, 1], "0 delivered, the repeated 1 dropped");
}
