//! The connection state machine with injected time: connect, heartbeat, backoff, auth,
//! online/offline and visibility, timeouts, stale callbacks, idle cost.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use proptest::prelude::*;
use sim::Sim;
use syncline::core::backoff::Backoff;
use syncline::core::{Action, ClientCore, ClientError, Event};
use syncline::protocol::envelope::{ClientMessage, ServerMessage};

#[test]
fn connects_through_hello_and_welcome() {
    let mut s = Sim::with_storage(Sim::config());
    assert_eq!(s.state(), "idle");
    s.connect();
    assert_eq!(s.state(), "connecting");
    assert_eq!(s.opens.len(), 1);
    s.socket_opens();
    assert_eq!(
        s.take_sent(),
        vec![ClientMessage::Hello {
            // The client's frame limit (maxMessageBytes), for a server packing batches.
            max: Some(1 << 20),
            client: "client-1".into(),
            token: None
        }]
    );
    assert_eq!(s.state(), "connecting", "open only after the welcome");
    s.welcome();
    let snap = s.core.snapshot();
    assert_eq!(
        snap.rtt_ms,
        Some(0),
        "a first ping right after the welcome measures the RTT"
    );
    assert_eq!(
        (snap.state.as_str(), snap.attempt, snap.session.as_deref()),
        ("open", 0, Some("s1"))
    );
    assert_eq!(
        s.core.poll_timeout(),
        Some(s.now + 15_000),
        "first ping in 15 s"
    );
}

#[test]
fn heartbeat_measures_rtt_and_detects_a_dead_connection() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    s.take_sent();
    s.advance(15_000);
    let ping_ts = match s.take_sent().as_slice() {
        [ClientMessage::Ping { ts }] => *ts,
        other => panic!("expected one ping, got {other:?}"),
    };
    s.advance(20);
    s.receive(ServerMessage::Pong { ts: ping_ts });
    assert_eq!(s.core.snapshot().rtt_ms, Some(20));
    assert_eq!(
        s.core.poll_timeout(),
        Some(ping_ts + 15_000),
        "next ping one interval after the last"
    );

    // Next ping goes unanswered and nothing else arrives: dead after 5 s.
    s.advance(15_000 - 20);
    assert!(matches!(
        s.take_sent().as_slice(),
        [ClientMessage::Ping { .. }]
    ));
    s.advance(4_999);
    assert_eq!(s.state(), "open");
    s.advance(1);
    assert_eq!(s.state(), "waiting");
    assert!(s.socket.is_none(), "the dead socket was closed");
    assert_eq!(s.take_error_kinds(), vec!["heartbeat_timeout"]);
    let retry = s.core.snapshot().retry_at.expect("a retry is planned") - s.now;
    assert!(
        (500..=1_500).contains(&retry),
        "first retry after 1 s ±50 %: {retry}"
    );
}

#[test]
fn a_busy_connection_without_pong_is_still_alive() {
    let mut s = Sim::with_storage(Sim::config());
    s.connect();
    s.socket_opens();
    s.welcome();
    s.core.subscribe(s.now, "c", None, 0, None);
    s.pump();
    s.advance(15_000);
    s.advance(2_000);
    s.receive(ServerMessage::Event {
        channel: "c".into(),
        event: "e".into(),
        seq: 1,
        id: None,
        data: syncline::protocol::envelope::RawJson::null(),
        spread: false,
    });
    s.advance(3_000);
    assert_eq!(
        s.state(),
        "open",
        "frames after the ping prove the connection alive"
    );
}

#[test]
fn backoff_grows_to_the_cap_and_resets_after_a_welcome() {
    let mut s = Sim::with_storage(Sim::config());
    s.connect();
    let mut delays = Vec::new();
    for _ in 0..8 {
        s.socket_closes(1006);
        let start = s.now;
        let retry_at = s.core.snapshot().retry_at.expect("retry planned");
        s.advance(retry_at - s.now);
        assert_eq!(
            s.opens.last(),
            Some(&s.now),
            "attempt made exactly when due"
        );
        delays.push(s.now - start);
    }
    let nominal = [
        1_000u64, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ];
    for (delay, n) in delays.iter().zip(nominal) {
        assert!(
            *delay >= n / 2 && *delay <= (n * 3 / 2).min(30_000),
            "{delays:?}"
        );
    }
    assert_eq!(s.core.snapshot().attempt, 8);
    s.socket_opens();
    s.welcome();
    assert_eq!(s.core.snapshot().attempt, 0);
    s.socket_closes(1006);
    let retry = s.core.snapshot().retry_at.expect("retry") - s.now;
    assert!(retry <= 1_500, "back to the first step: {retry}");
    assert_eq!(
        s.core.snapshot().reconnects,
        0,
        "no reconnect counted until open again"
    );
}

#[test]
fn offline_stops_attempts_and_online_retries_at_once() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    s.socket_closes(1006);
    assert_eq!(s.state(), "waiting");
    s.core.set_online(s.now, false);
    s.pump();
    assert_eq!(s.state(), "offline");
    assert_eq!(
        s.core.poll_timeout(),
        None,
        "no timer while offline: no polling"
    );
    let opens = s.opens.len();
    s.advance(120_000);
    assert_eq!(
        s.opens.len(),
        opens,
        "no attempts while the browser is offline"
    );
    s.core.set_online(s.now, true);
    s.pump();
    assert_eq!(s.opens.len(), opens + 1, "immediate attempt on online");
    assert_eq!(s.state(), "connecting");
    s.socket_opens();
    s.welcome();
    assert_eq!(s.core.snapshot().reconnects, 1);
}

#[test]
fn offline_while_open_only_checks_the_connection() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    s.take_sent();
    s.core.set_online(s.now, false);
    s.pump();
    let ts = match s.take_sent().as_slice() {
        [ClientMessage::Ping { ts }] => *ts,
        other => panic!("expected a health-check ping, got {other:?}"),
    };
    assert_eq!(s.state(), "open");
    s.receive(ServerMessage::Pong { ts });
    s.advance(10_000);
    assert_eq!(
        s.state(),
        "open",
        "the browser's offline was wrong; the socket works"
    );
    assert!(!s.core.snapshot().online);
}

#[test]
fn offline_during_an_attempt_aborts_it() {
    let mut s = Sim::with_storage(Sim::config());
    s.connect();
    s.core.set_online(s.now, false);
    s.pump();
    assert_eq!(s.state(), "offline");
    assert!(s.socket.is_none());
    s.advance(60_000);
    assert_eq!(s.opens.len(), 1);
}

#[test]
fn visible_again_retries_now_and_checks_an_open_connection() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    s.take_sent();
    s.core.set_visible(s.now, false);
    s.core.set_visible(s.now, true);
    s.pump();
    assert!(matches!(
        s.take_sent().as_slice(),
        [ClientMessage::Ping { .. }]
    ));
    s.socket_closes(1006);
    let opens = s.opens.len();
    s.core.set_visible(s.now, true);
    s.pump();
    assert_eq!(s.opens.len(), opens + 1);
}

#[test]
fn auth_is_asked_on_every_connect_and_stale_answers_are_ignored() {
    let mut config = Sim::config();
    config.use_auth = true;
    let mut s = Sim::with_storage(config);
    s.connect();
    assert_eq!(s.auth_requests, vec![1]);
    assert!(s.opens.is_empty(), "no socket before credentials");
    s.core.handle_auth(s.now, 1, Ok(Some("tok".into())));
    s.pump();
    s.socket_opens();
    assert_eq!(
        s.take_sent(),
        vec![ClientMessage::Hello {
            // The client's frame limit (maxMessageBytes), for a server packing batches.
            max: Some(1 << 20),
            client: "client-1".into(),
            token: Some("tok".into())
        }]
    );
    s.receive(ServerMessage::Denied {
        reason: "invalid token".into(),
    });
    assert_eq!(s.state(), "waiting");
    assert_eq!(s.take_error_kinds(), vec!["auth_rejected"]);
    let first_retry = s.core.snapshot().retry_at.unwrap_or(0) - s.now;
    s.advance(first_retry);
    assert_eq!(
        s.auth_requests,
        vec![1, 2],
        "asked again for fresh credentials"
    );
    // An answer for attempt 1 arriving now is stale.
    s.core.handle_auth(s.now, 1, Ok(Some("old".into())));
    s.pump();
    assert_eq!(s.opens.len(), 1);
    s.core
        .handle_auth(s.now, 2, Err("token service down".into()));
    s.pump();
    assert_eq!(s.take_error_kinds(), vec!["auth_callback"]);
    assert_eq!(s.state(), "waiting");
    let second_retry = s.core.snapshot().retry_at.unwrap_or(0) - s.now;
    assert!(second_retry >= 1_000, "rejections back off: {second_retry}");
}

#[test]
fn connect_times_out_without_a_welcome() {
    let mut s = Sim::with_storage(Sim::config());
    s.connect();
    s.socket_opens();
    s.advance(9_999);
    assert_eq!(s.state(), "connecting");
    s.advance(1);
    assert_eq!(s.state(), "waiting");
    assert_eq!(s.take_error_kinds(), vec!["connect_timeout"]);
}

#[test]
fn events_from_a_replaced_socket_are_ignored() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    let old = s.socket.expect("socket");
    s.socket_closes(1006);
    s.advance(2_000);
    s.socket_opens();
    s.welcome();
    s.core.handle_socket_closed(s.now, old, 1006, "late");
    s.core.handle_frame(s.now, old, "garbage");
    s.pump();
    assert_eq!(s.state(), "open");
    assert!(s.take_error_kinds().iter().all(|k| *k != "malformed_frame"));
}

#[test]
fn disconnect_closes_for_good_until_connect() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    s.core.disconnect(s.now);
    s.pump();
    assert_eq!(s.state(), "closed");
    assert!(s.socket.is_none());
    assert_eq!(s.core.poll_timeout(), None);
    s.advance(100_000);
    assert_eq!(s.opens.len(), 1);
    s.connect();
    assert_eq!(s.opens.len(), 2);
}

#[test]
fn an_idle_open_connection_wakes_only_for_the_heartbeat() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    s.take_sent();
    let start = s.wakeups;
    for _ in 0..60 {
        s.advance(1_000);
        let pings: Vec<u64> = s
            .take_sent()
            .into_iter()
            .filter_map(|m| match m {
                ClientMessage::Ping { ts } => Some(ts),
                _ => None,
            })
            .collect();
        for ts in pings {
            s.receive(ServerMessage::Pong { ts });
        }
    }
    assert_eq!(
        s.wakeups - start,
        4,
        "one timer per heartbeat: 4 per minute"
    );
}

#[test]
fn bad_frames_are_reported_and_the_connection_goes_on() {
    let mut config = Sim::config();
    config.max_message_bytes = 64;
    let mut s = Sim::with_storage(config);
    s.open();
    s.take_events();
    s.receive_frame("{nope");
    s.receive_frame(&format!(
        "{{\"t\":\"welcome\",\"pad\":\"{}\"}}",
        "x".repeat(100)
    ));
    s.receive_frame(r#"[{"t":"pong","ts":1},{"t":"mystery"},{"t":"ev"}]"#);
    s.core.handle_binary(s.now, s.socket.unwrap_or(0), 12);
    s.pump();
    assert_eq!(
        s.take_error_kinds(),
        vec![
            "malformed_frame",
            "frame_too_large",
            "malformed_frame",
            "malformed_frame",
            "unexpected_binary"
        ]
    );
    assert_eq!(s.state(), "open");
    assert_eq!(
        s.core.snapshot().last_error.as_ref().map(|e| e.kind),
        Some("unexpected_binary")
    );
}

proptest! {
    #[test]
    fn backoff_stays_within_its_bounds(
        initial in 1u64..10_000,
        factor in 1u32..5,
        max in 1u64..120_000,
        jitter in 0u32..=1_000,
        retry in 0u32..100,
        random: u64,
    ) {
        let b = Backoff { initial_ms: initial, factor, max_ms: max, jitter_permille: jitter };
        let nominal = b.nominal(retry);
        prop_assert!(nominal <= max);
        prop_assert!(nominal <= b.nominal(retry + 1), "never shrinks");
        let delay = b.delay(retry, random);
        let spread = nominal * u64::from(jitter) / 1_000;
        prop_assert!(delay >= nominal - spread);
        prop_assert!(delay <= (nominal + spread).min(max).max(nominal - spread));
    }

    /// Any sequence of inputs, including hostile frames and out-of-order callbacks, leaves the
    /// core consistent and never panics.
    #[test]
    fn arbitrary_inputs_never_break_the_core(ops in proptest::collection::vec(op(), 1..120)) {
        let mut core = ClientCore::new(sim::Sim::config());
        let mut now = 0u64;
        let mut attempt = 0u64;
        for op in ops {
            now += op.0;
            match op.1 {
                0 => core.connect(now),
                1 => core.disconnect(now),
                2 => core.handle_socket_open(now, attempt),
                3 => core.handle_socket_closed(now, attempt, 1006, "x"),
                4 => core.handle_frame(now, attempt, &op.2),
                5 => core.handle_frame(now, attempt, r#"{"t":"welcome","session":"s"}"#),
                6 => core.set_online(now, op.0 % 2 == 0),
                7 => core.set_visible(now, op.0 % 2 == 0),
                8 => { let _ = core.request(now, "e".into(), syncline::protocol::envelope::RawJson::null(), None); }
                9 => { core.subscribe(now, "c", None, 0, None); }
                10 => core.handle_auth(now, attempt, Ok(None)),
                _ => core.reconnect_now(now),
            }
            if let Some(at) = core.poll_timeout() {
                if at <= now { core.handle_timeout(now); }
            }
            while let Some(action) = core.poll_action() {
                if let Action::OpenSocket { attempt: a, .. } = action { attempt = a; }
            }
            while let Some(event) = core.poll_event() {
                if let Event::Error(ClientError::MalformedFrame(_)) = event {}
            }
            let snap = core.snapshot();
            prop_assert!(snap.buffered <= snap.pending);
            prop_assert_eq!(snap.session.is_some(), core.is_open());
            prop_assert_eq!(snap.retry_at.is_some(), snap.state.as_str() == "waiting");
        }
    }
}

fn op() -> impl Strategy<Value = (u64, u8, String)> {
    (
        0u64..20_000,
        0u8..12,
        prop_oneof![
            Just(String::new()),
            ".{0,40}",
            "\\PC{0,40}",
            Just("[[[[".to_owned())
        ],
    )
}
