//! Update processing through the core, with injected time: documents (optimistic value,
//! confirmation, rollback), the circuit breaker around outbox sends, paced subscriptions,
//! batched publishes, duplicate drop by id, and the metrics snapshot.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use sim::Sim;
use syncline::core::docs::Op;
use syncline::core::docs::merge::Strategy;
use syncline::core::documents::SubscribeSpec;
use syncline::core::gates::Pace;
use syncline::core::{Event, RequestError};
use syncline::protocol::envelope::{ClientMessage, RawJson, ServerMessage};
use syncline::protocol::value::Value;

fn v(text: &str) -> Value {
    Value::from_text(text).expect("json")
}

/// The publish the client just sent, as the server would broadcast it.
fn echo(s: &mut Sim, seq: u64) -> (String, ServerMessage) {
    let sent = s.take_sent();
    let (id, channel, event, data) = sent
        .into_iter()
        .rev()
        .find_map(|m| match m {
            ClientMessage::Publish {
                id,
                channel,
                event,
                data,
                ..
            } => Some((id, channel, event, data)),
            _ => None,
        })
        .expect("a publish was sent");
    (
        id.clone(),
        ServerMessage::Event {
            channel,
            event,
            seq,
            id: Some(id),
            data,
            spread: false,
        },
    )
}

#[test]
fn a_document_change_shows_at_once_is_confirmed_or_rolled_back() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    let now = s.now;
    s.core.watch_documents(now, "docs");
    s.pump();
    assert!(
        s.take_sent().contains(&ClientMessage::Subscribe {
            channel: "docs".into(),
            since: Some(0)
        }),
        "the channel's history is replayed to build the documents"
    );
    s.core
        .mutate(
            now,
            "m1".into(),
            "docs",
            "doc",
            "match:1",
            Op::Patch(v(r#"{"home":1}"#)),
        )
        .expect("accepted");
    s.pump();
    assert_eq!(
        s.core.document_value("match:1"),
        v(r#"{"home":1}"#),
        "visible before any ack"
    );
    assert_eq!(s.core.document("match:1").map(|d| d.pending), Some(1));
    assert_eq!(
        s.frames_requested, 1,
        "listeners hear of it at the next animation frame"
    );
    s.animation_frame();
    let changed: Vec<_> = s
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::DocsChanged(c) => Some(c),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(
        (changed[0].key.as_str(), changed[0].pending),
        ("match:1", 1)
    );
    assert_eq!(changed[0].value.as_str(), r#"{"home":1}"#);

    let (id, event) = echo(&mut s, 1);
    s.receive(event);
    s.receive(ServerMessage::Ack { id, seq: 1 });
    let doc = s.core.document("match:1").expect("known");
    assert_eq!((doc.version, doc.pending), (1, 0));

    // A change the server refuses for good is rolled back, with an error.
    s.core
        .mutate(
            s.now,
            "m2".into(),
            "docs",
            "doc",
            "match:1",
            Op::Patch(v(r#"{"home":2}"#)),
        )
        .expect("accepted");
    s.pump();
    assert_eq!(s.core.document_value("match:1"), v(r#"{"home":2}"#));
    let (id, _) = echo(&mut s, 2);
    s.take_events();
    s.receive(ServerMessage::Nack {
        id: id.clone(),
        reason: "read-only".into(),
        retryable: false,
    });
    assert_eq!(
        s.core.document_value("match:1"),
        v(r#"{"home":1}"#),
        "rolled back"
    );
    let events = s.take_events();
    assert!(events.iter().any(|e| matches!(e, Event::PublishDone { id: i, result: Err(RequestError::Rejected { .. }) } if *i == id)));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Error(err) if err.kind() == "rolled_back"))
    );
}

#[test]
fn a_concurrent_change_is_settled_by_the_keys_strategy_and_audited() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    let now = s.now;
    s.core.set_conflict_strategy(Some("k"), Strategy::Merge);
    s.core
        .mutate(
            now,
            "mine".into(),
            "docs",
            "doc",
            "k",
            Op::Set(v(r#"{"tags":["a"]}"#)),
        )
        .expect("ok");
    s.pump();
    let (my_id, my_event) = echo(&mut s, 2);
    // Another client's change was ordered first.
    let theirs = syncline::core::docs::Mutation {
        id: "theirs".into(),
        key: "k".into(),
        base: 0,
        op: Op::Set(v(r#"{"tags":["b"]}"#)),
        ts: 1,
        by: "other".into(),
    };
    s.receive(ServerMessage::Event {
        channel: "docs".into(),
        event: "doc".into(),
        seq: 1,
        id: Some("theirs".into()),
        data: theirs.encode(),
        spread: false,
    });
    s.receive(my_event);
    s.receive(ServerMessage::Ack { id: my_id, seq: 2 });
    assert_eq!(s.core.document_value("k"), v(r#"{"tags":["b","a"]}"#));
    let audit: Vec<_> = s.core.conflicts().collect();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].strategy, Strategy::Merge);
    assert_eq!(s.core.metrics(s.now).conflicts, 1);
}

#[test]
fn the_breaker_opens_after_five_failures_and_probes_after_thirty_seconds() {
    let mut config = Sim::config();
    config.outbox.ack_timeout_ms = 1_000;
    config.outbox.retry.initial_ms = 100;
    config.outbox.retry.max_ms = 100;
    // No heartbeat in this test: unanswered pings would drop the connection.
    config.heartbeat_interval_ms = 3_600_000;
    let mut s = Sim::with_storage(config);
    s.open();
    for _ in 0..5 {
        let id = s.core.next_publish_id(s.now, [1; 10]);
        s.core
            .publish_durable(s.now, id, "c".into(), "e".into(), RawJson::null(), 0)
            .expect("ok");
    }
    s.pump();
    s.take_sent();
    s.advance(1_000);
    assert_eq!(
        s.core.snapshot().outbox.breaker,
        "closed",
        "five timeouts at once are one failure"
    );
    // Each unanswered round of retries is one more failure: the fifth opens the breaker.
    let mut opened_after = 0;
    while s.core.snapshot().outbox.breaker != "open" {
        s.advance(50);
        opened_after += 50;
        assert!(opened_after < 10_000, "the breaker never opened");
    }
    assert!(
        opened_after >= 4 * 1_000,
        "after four more rounds: {opened_after} ms"
    );
    s.take_sent();
    s.advance(5_000);
    assert!(
        s.take_sent()
            .iter()
            .all(|m| !matches!(m, ClientMessage::Publish { .. })),
        "nothing sent while open"
    );
    assert_eq!(
        s.core.snapshot().outbox.depth,
        5,
        "entries wait in the outbox"
    );
    s.advance(25_000);
    let probes: Vec<String> = s
        .take_sent()
        .into_iter()
        .filter_map(|m| match m {
            ClientMessage::Publish { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(probes.len(), 1, "half-open: one probe");
    assert_eq!(s.core.snapshot().outbox.breaker, "half-open");
    s.receive(ServerMessage::Ack {
        id: probes[0].clone(),
        seq: 1,
    });
    assert_eq!(s.core.snapshot().outbox.breaker, "closed");
    let resumed = s
        .take_sent()
        .iter()
        .filter(|m| matches!(m, ClientMessage::Publish { .. }))
        .count();
    assert_eq!(resumed, 4, "the rest goes out once closed");
}

#[test]
fn paced_subscriptions_throttle_debounce_and_coalesce_per_frame() {
    let mut s = Sim::with_storage(Sim::config());
    let now = s.now;
    let throttled = s.core.subscribe_with(
        now,
        SubscribeSpec {
            channel: "c".into(),
            pace: Some(Pace::Throttle(1_000)),
            ..SubscribeSpec::default()
        },
    );
    let framed = s.core.subscribe_with(
        now,
        SubscribeSpec {
            channel: "c".into(),
            pace: Some(Pace::Frame(Some("id".into()))),
            ..SubscribeSpec::default()
        },
    );
    let plain = s.core.subscribe(now, "c", None, 0, None);
    s.open();
    s.take_events();
    for (seq, data) in [
        (1, r#"{"id":"a"}"#),
        (2, r#"{"id":"a"}"#),
        (3, r#"{"id":"b"}"#),
        (4, r#"{"id":"a"}"#),
    ] {
        s.receive(ServerMessage::Event {
            channel: "c".into(),
            event: "e".into(),
            seq,
            id: None,
            data: RawJson::parse(data).expect("json"),
            spread: false,
        });
    }
    let got = |s: &mut Sim, sub| -> Vec<(u64, u32)> {
        s.take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Message(d) if d.subscribers.contains(&sub) => Some((d.seq, d.coalesced)),
                _ => None,
            })
            .collect()
    };
    let events = s.take_events();
    let plain_seen: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(d) if d.subscribers.contains(&plain) => Some(d.seq),
            _ => None,
        })
        .collect();
    assert_eq!(
        plain_seen,
        vec![1, 2, 3, 4],
        "an unpaced subscriber gets everything"
    );
    let throttled_seen: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(d) if d.subscribers == vec![throttled] => Some(d.seq),
            _ => None,
        })
        .collect();
    assert_eq!(throttled_seen, vec![1], "throttle: the first at once");
    s.animation_frame();
    assert_eq!(
        got(&mut s, framed),
        vec![(3, 0), (4, 2)],
        "per frame: the latest per id"
    );
    s.advance(1_000);
    assert_eq!(
        got(&mut s, throttled),
        vec![(4, 2)],
        "then the latest, saying it replaced two"
    );
    assert_eq!(s.core.metrics(s.now).deliveries_coalesced, 4);
}

#[test]
fn batched_publishes_wait_for_ten_or_two_seconds() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    s.take_sent();
    s.frames.clear();
    for n in 0..3 {
        s.core
            .publish_batched(
                s.now,
                format!("b{n}"),
                "telemetry".into(),
                "tick".into(),
                RawJson::null(),
            )
            .expect("ok");
    }
    s.pump();
    assert!(s.take_sent().is_empty(), "held");
    s.advance(2_000);
    assert_eq!(s.take_sent().len(), 3);
    assert_eq!(s.frames.len(), 1, "one frame for the batch");
    s.frames.clear();
    for n in 0..10 {
        s.core
            .publish_batched(
                s.now,
                format!("c{n}"),
                "telemetry".into(),
                "tick".into(),
                RawJson::null(),
            )
            .expect("ok");
    }
    s.pump();
    assert_eq!(s.take_sent().len(), 10, "ten go at once");
    assert_eq!(s.frames.len(), 1);
}

#[test]
fn an_event_delivered_twice_under_new_sequences_is_dropped_by_id() {
    let mut s = Sim::with_storage(Sim::config());
    let now = s.now;
    s.core.subscribe(now, "c", None, 0, None);
    s.open();
    s.take_events();
    for seq in [1, 2] {
        s.receive(ServerMessage::Event {
            channel: "c".into(),
            event: "e".into(),
            seq,
            id: Some("same-publish".into()),
            data: RawJson::null(),
            spread: false,
        });
    }
    let delivered = s
        .take_events()
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert_eq!(delivered, 1);
    let m = s.core.metrics(s.now);
    assert_eq!(m.duplicates_dropped, 1);
    assert!(m.messages_in >= 3, "welcome and two events");
}

#[test]
fn metrics_report_rtt_percentiles_and_errors_by_kind() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    for rtt in [10, 20, 30] {
        s.advance(15_000);
        let ts = s
            .take_sent()
            .into_iter()
            .find_map(|m| match m {
                ClientMessage::Ping { ts } => Some(ts),
                _ => None,
            })
            .expect("ping");
        s.advance(rtt);
        s.receive(ServerMessage::Pong { ts });
        s.advance(0);
    }
    s.receive_frame("garbage");
    s.core.record_dispatch(&[5, 7, 900]);
    let m = s.core.metrics(s.now);
    // The ping at the welcome is answered at once (0 ms); each 15 s step then lands just after
    // the next ping, so the samples are 0, 10, 20+10, 30+30 ms.
    assert_eq!(
        (m.rtt_last_ms, m.rtt_p50_ms, m.rtt_p99_ms),
        (Some(60), Some(10), Some(60))
    );
    assert_eq!((m.dispatch_p50_us, m.dispatch_p99_us), (Some(7), Some(900)));
    assert_eq!(m.errors, vec![("malformed_frame", 1)]);
    assert_eq!(m.breaker, "closed");
}
