//! Subscriptions, publishes and requests through the core with injected time: resubscribe with
//! `since`, duplicate drop, buffering, batching, acks, nacks, timeouts, retries.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use sim::Sim;
use syncline::core::pending::AnswerPolicy;
use syncline::core::{Event, RequestError};
use syncline::protocol::envelope::{ClientMessage, RawJson, ServerError, ServerMessage};

fn event(channel: &str, seq: u64) -> ServerMessage {
    ServerMessage::Event {
        channel: channel.into(),
        event: "e".into(),
        seq,
        id: None,
        data: RawJson::parse(seq.to_string()).expect("number"),
        spread: false,
    }
}

fn delivered_seqs(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(d) => Some(d.seq),
            _ => None,
        })
        .collect()
}

#[test]
fn subscriptions_resume_after_reconnect_and_drop_duplicates() {
    let mut s = Sim::with_storage(Sim::config());
    let sub = s.core.subscribe(s.now, "scores", None, 0, None);
    s.open();
    let sent = s.take_sent();
    assert!(sent.contains(&ClientMessage::Subscribe {
        channel: "scores".into(),
        since: None
    }));
    s.receive(ServerMessage::Subscribed {
        since: None,
        channel: "scores".into(),
        seq: 10,
    });
    s.receive(event("scores", 11));
    s.receive(event("scores", 12));
    s.receive(event("scores", 12));
    let events = s.take_events();
    assert_eq!(
        delivered_seqs(&events),
        vec![11, 12],
        "the repeated 12 is dropped"
    );
    match &events[0] {
        Event::Message(d) => assert_eq!(
            (d.subscribers.as_slice(), d.data.as_str()),
            ([sub].as_slice(), "11")
        ),
        other => panic!("{other:?}"),
    }

    s.socket_closes(1006);
    s.advance(2_000);
    s.socket_opens();
    s.welcome();
    let resubscribe: Vec<_> = s
        .take_sent()
        .into_iter()
        .filter(|m| matches!(m, ClientMessage::Subscribe { .. }))
        .collect();
    assert_eq!(
        resubscribe,
        vec![ClientMessage::Subscribe {
            channel: "scores".into(),
            since: Some(12)
        }]
    );
    // The replay overlaps what was seen; only the new ones are delivered.
    for seq in [12, 13, 14] {
        s.receive(event("scores", seq));
    }
    assert_eq!(delivered_seqs(&s.take_events()), vec![13, 14]);

    s.core.unsubscribe(s.now, sub);
    s.pump();
    assert_eq!(
        s.take_sent(),
        vec![ClientMessage::Unsubscribe {
            channel: "scores".into()
        }]
    );
    s.receive(event("scores", 15));
    assert!(delivered_seqs(&s.take_events()).is_empty());
}

#[test]
fn buffered_messages_go_out_in_order_in_batched_frames() {
    let mut config = Sim::config();
    config.max_batch = 10;
    let mut s = Sim::with_storage(config);
    s.core.subscribe(s.now, "a", None, 0, Some(3));
    for n in 0..25 {
        s.core
            .publish(
                s.now,
                format!("p{n}"),
                "a".into(),
                "e".into(),
                RawJson::null(),
            )
            .expect("buffered");
    }
    assert_eq!(s.core.snapshot().buffered, 25);
    s.connect();
    s.socket_opens();
    s.take_sent();
    s.frames.clear();
    s.welcome();
    let sent = s.take_sent();
    assert_eq!(
        sent[0],
        ClientMessage::Subscribe {
            channel: "a".into(),
            since: Some(3)
        },
        "subscriptions first"
    );
    let ids: Vec<String> = sent
        .iter()
        .filter_map(|m| match m {
            ClientMessage::Publish { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, (0..25).map(|n| format!("p{n}")).collect::<Vec<_>>());
    assert_eq!(s.frames.len(), 3, "26 messages in frames of at most 10");
    assert_eq!(s.core.snapshot().buffered, 0);
    assert_eq!(s.core.snapshot().pending, 25);
}

#[test]
fn publishes_resolve_on_ack_and_fail_on_nack_timeout_or_loss() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    for id in ["ok", "no", "slow", "lost"] {
        s.core
            .publish(s.now, id.into(), "c".into(), "e".into(), RawJson::null())
            .expect("sent");
    }
    s.pump();
    s.receive(ServerMessage::Ack {
        id: "ok".into(),
        seq: 7,
    });
    s.receive(ServerMessage::Nack {
        id: "no".into(),
        reason: "refused".into(),
        retryable: false,
    });
    let events = s.take_events();
    assert!(events.contains(&Event::PublishDone {
        id: "ok".into(),
        result: Ok(Some(7))
    }));
    assert!(events.contains(&Event::PublishDone {
        id: "no".into(),
        result: Err(RequestError::Rejected {
            reason: "refused".into(),
            retryable: false
        })
    }));
    s.advance(5_000);
    let timed_out: Vec<_> = s
        .take_events()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Event::PublishDone {
                    result: Err(RequestError::Timeout { .. }),
                    ..
                }
            )
        })
        .collect();
    assert_eq!(timed_out.len(), 2, "no ack within 5 s");
    s.core
        .publish(s.now, "x".into(), "c".into(), "e".into(), RawJson::null())
        .expect("sent");
    s.pump();
    s.socket_closes(1006);
    assert!(s.take_events().contains(&Event::PublishDone {
        id: "x".into(),
        result: Err(RequestError::ConnectionLost)
    }));
    assert_eq!(s.core.snapshot().pending, 0);
}

#[test]
fn requests_are_answered_retried_after_loss_and_time_out() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    s.take_sent();
    let once = AnswerPolicy {
        timeout_ms: 1_000,
        retries: 0,
    };
    let id = s
        .core
        .request(
            s.now,
            "echo".into(),
            RawJson::parse("[1]").expect("json"),
            Some(once),
        )
        .expect("sent");
    s.pump();
    s.receive(ServerMessage::Response {
        id: id.clone(),
        result: Ok(RawJson::parse("[1]").expect("json")),
    });
    assert!(s.take_events().contains(&Event::RequestDone {
        id,
        result: Ok(RawJson::parse("[1]").expect("json"))
    }));

    // Lost connection: a request with retries left goes again, same id, after reconnecting.
    let retrying = AnswerPolicy {
        timeout_ms: 10_000,
        retries: 1,
    };
    let id = s
        .core
        .request(s.now, "e".into(), RawJson::null(), Some(retrying))
        .expect("sent");
    s.pump();
    s.take_sent();
    s.socket_closes(1006);
    assert_eq!(s.core.snapshot().buffered, 1);
    s.advance(1_500);
    s.socket_opens();
    s.welcome();
    let resent: Vec<_> = s
        .take_sent()
        .into_iter()
        .filter(|m| matches!(m, ClientMessage::Request { .. }))
        .collect();
    assert_eq!(resent.len(), 1);
    assert!(matches!(&resent[0], ClientMessage::Request { id: r, .. } if *r == id));
    s.receive(ServerMessage::Response {
        id: id.clone(),
        result: Err(ServerError {
            code: "nope".into(),
            message: "no".into(),
        }),
    });
    assert!(s.take_events().iter().any(|e| matches!(
        e,
        Event::RequestDone { id: i, result: Err(RequestError::Server(err)) } if *i == id && err.code == "nope"
    )));

    let id = s
        .core
        .request(s.now, "e".into(), RawJson::null(), Some(once))
        .expect("sent");
    s.pump();
    s.advance(1_000);
    assert!(s.take_events().contains(&Event::RequestDone {
        id,
        result: Err(RequestError::Timeout { attempts: 1 })
    }));
}

#[test]
fn answers_for_unknown_ids_are_reported() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    s.take_events();
    s.receive(ServerMessage::Ack {
        id: "ghost".into(),
        seq: 1,
    });
    s.receive(ServerMessage::Response {
        id: "ghost".into(),
        result: Ok(RawJson::null()),
    });
    assert_eq!(
        s.take_error_kinds(),
        vec!["unknown_answer", "unknown_answer"]
    );
    // An ack for a request is the wrong kind of answer: the request fails instead of hanging.
    let id = s
        .core
        .request(s.now, "e".into(), RawJson::null(), None)
        .expect("sent");
    s.pump();
    s.receive(ServerMessage::Ack {
        id: id.clone(),
        seq: 1,
    });
    assert!(s.take_events().iter().any(|e| matches!(
        e,
        Event::RequestDone { id: i, result: Err(RequestError::Server(_)) } if *i == id
    )));
}

#[test]
fn disconnect_fails_everything_and_refuses_new_sends() {
    let mut s = Sim::with_storage(Sim::config());
    let r = s
        .core
        .request(s.now, "e".into(), RawJson::null(), None)
        .expect("buffered");
    s.core.disconnect(s.now);
    s.pump();
    assert!(s.take_events().contains(&Event::RequestDone {
        id: r,
        result: Err(RequestError::Closed)
    }));
    let refused = s
        .core
        .publish(s.now, "p".into(), "c".into(), "e".into(), RawJson::null())
        .expect_err("closed");
    assert_eq!(refused.kind(), "closed");
}

#[test]
fn the_send_buffer_is_bounded_and_hands_the_message_back() {
    let mut config = Sim::config();
    config.send_buffer = 2;
    let mut s = Sim::with_storage(config);
    for n in 0..2 {
        s.core
            .publish(
                s.now,
                n.to_string(),
                "c".into(),
                "e".into(),
                RawJson::null(),
            )
            .expect("fits");
    }
    let full = s
        .core
        .publish(s.now, "2".into(), "c".into(), "e".into(), RawJson::null())
        .expect_err("full");
    assert_eq!(full.kind(), "buffer_full");
    assert_eq!(full.into_message().id(), "2");
}
