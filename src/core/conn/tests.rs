//! The connection part alone, on a simulated clock.

// This whole file is the `tests` module (declared under `#[cfg(test)]` in mod.rs).
#[cfg(test)]
use super::*;
use crate::core::output::Action;
use crate::protocol::Resumption;
use crate::protocol::socketio::RESERVED_EVENTS;
use backoff::Backoff;

fn config(protocol: Protocol) -> ConnConfig {
    ConnConfig {
        url: "ws://127.0.0.1:1/ws".into(),
        protocol,
        client_id: "c1".into(),
        use_auth: false,
        reconnect: Backoff::default(),
        heartbeat_interval_ms: 15_000,
        heartbeat_timeout_ms: 5_000,
        connect_timeout_ms: 10_000,
        max_message_bytes: 1 << 20,
        max_batch: 64,
        seed: 7,
    }
}

fn outputs(conn: &mut Connection) -> Vec<ConnOutput> {
    conn.flush();
    std::iter::from_fn(|| conn.poll_output()).collect()
}

/// The attempt of the one `OpenSocket` the connection asks for now.
fn opened_socket(conn: &mut Connection) -> u64 {
    match outputs(conn).as_slice() {
        [ConnOutput::Action(Action::OpenSocket { attempt, .. })] => *attempt,
        other => panic!("expected OpenSocket, got {other:?}"),
    }
}

/// Connects and answers the handshake; returns the attempt.
fn open(conn: &mut Connection, now: u64) -> u64 {
    conn.connect(now);
    let attempt = opened_socket(conn);
    conn.handle_socket_open(now, attempt);
    let hello = outputs(conn);
    assert!(
        matches!(hello.as_slice(), [ConnOutput::Action(Action::Send(f))] if f.contains("\"hello\""))
    );
    conn.handle_session(now, "s1".into(), Resumption::Fresh);
    assert_eq!(conn.state(), ConnectionState::Open);
    attempt
}

#[test]
fn opens_then_pings_and_measures_the_round_trip() {
    let mut conn = Connection::new(config(Protocol::Envelope));
    open(&mut conn, 0);
    let out = outputs(&mut conn);
    assert!(matches!(out.first(), Some(ConnOutput::Opened)));
    assert!(
        matches!(out.last(), Some(ConnOutput::Action(Action::Send(f))) if f.contains("\"ping\""))
    );
    conn.handle_pong(30, 0);
    assert!(outputs(&mut conn).contains(&ConnOutput::Rtt(30)));
    assert_eq!(
        conn.next_deadline(),
        Some(15_000),
        "next ping a period after the last"
    );
}

#[test]
fn a_missing_pong_loses_the_connection_and_a_retry_is_scheduled_with_backoff() {
    let mut conn = Connection::new(config(Protocol::Envelope));
    open(&mut conn, 0);
    let _ = outputs(&mut conn);
    assert_eq!(conn.next_deadline(), Some(5_000));
    conn.handle_timeout(5_000);
    let out = outputs(&mut conn);
    assert!(out.contains(&ConnOutput::Error(ClientError::HeartbeatTimeout)));
    assert!(out.contains(&ConnOutput::Lost { failure: true }));
    assert_eq!(conn.state(), ConnectionState::Waiting);
    let retry = conn.next_deadline().unwrap();
    assert!((5_500..=6_500).contains(&retry), "1 s ±50 %: {retry}");
    conn.handle_timeout(retry);
    assert!(matches!(
        outputs(&mut conn).as_slice(),
        [ConnOutput::Action(Action::OpenSocket { attempt: 2, .. })]
    ));
}

#[test]
fn late_events_of_an_old_attempt_are_ignored() {
    let mut conn = Connection::new(config(Protocol::Envelope));
    let first = open(&mut conn, 0);
    conn.handle_socket_closed(10, first, 1006, "gone");
    let _ = outputs(&mut conn);
    conn.handle_timeout(conn.next_deadline().unwrap());
    let _ = outputs(&mut conn);
    assert!(
        conn.handle_frame(20_000, first, r#"{"t":"pong","ts":0}"#)
            .is_none()
    );
    conn.handle_socket_closed(20_000, first, 1006, "late");
    assert!(outputs(&mut conn).is_empty());
}

#[test]
fn offline_waits_and_online_retries_at_once() {
    let mut conn = Connection::new(config(Protocol::Envelope));
    conn.set_online(0, false);
    conn.connect(0);
    assert_eq!(conn.state(), ConnectionState::Offline);
    assert!(outputs(&mut conn).is_empty());
    conn.set_online(100, true);
    assert!(matches!(
        outputs(&mut conn).as_slice(),
        [ConnOutput::Action(Action::OpenSocket { .. })]
    ));
}

#[test]
fn a_link_to_the_leader_speaks_the_envelope_and_ignores_the_network() {
    let namespace = "/".to_owned();
    let mut conn = Connection::new(config(Protocol::SocketIo(
        crate::protocol::socketio::SocketIoConfig::new(&namespace),
    )));
    assert!(conn.refuses_event(RESERVED_EVENTS[0]));
    conn.set_online(0, false);
    conn.connect(0);
    conn.set_peer(0, Peer::Leader);
    let attempt = opened_socket(&mut conn);
    conn.handle_socket_open(0, attempt);
    assert!(
        matches!(outputs(&mut conn).as_slice(), [ConnOutput::Action(Action::Send(f))] if f.starts_with("{\"t\":\"hello\"")),
        "the envelope's hello, not a Socket.IO CONNECT"
    );
}

#[test]
fn a_server_that_keeps_the_heartbeat_is_dead_after_its_promise() {
    let namespace = "/".to_owned();
    let mut conn = Connection::new(config(Protocol::SocketIo(
        crate::protocol::socketio::SocketIoConfig::new(&namespace),
    )));
    conn.connect(0);
    let attempt = opened_socket(&mut conn);
    conn.handle_socket_open(0, attempt);
    assert!(
        outputs(&mut conn).is_empty(),
        "CONNECT waits for the Engine.IO handshake"
    );
    let open = r#"0{"sid":"e","upgrades":[],"pingInterval":300,"pingTimeout":200}"#;
    assert_eq!(conn.handle_frame(10, attempt, open), Some(Vec::new()));
    assert!(
        matches!(outputs(&mut conn).as_slice(), [ConnOutput::Action(Action::Send(f))] if f == "40")
    );
    assert_eq!(conn.next_deadline(), Some(510));
    conn.handle_timeout(510);
    assert!(outputs(&mut conn).contains(&ConnOutput::Error(ClientError::HeartbeatTimeout)));
}

#[test]
fn closing_says_goodbye_where_the_protocol_has_one() {
    let namespace = "/".to_owned();
    let mut conn = Connection::new(config(Protocol::SocketIo(
        crate::protocol::socketio::SocketIoConfig::new(&namespace),
    )));
    conn.connect(0);
    let attempt = opened_socket(&mut conn);
    conn.handle_socket_open(0, attempt);
    let _ = conn.handle_frame(0, attempt, r#"0{"sid":"e"}"#);
    let _ = conn.handle_frame(0, attempt, r#"40{"sid":"s"}"#);
    conn.handle_session(0, "s".into(), Resumption::Fresh);
    let _ = outputs(&mut conn);
    conn.close();
    let out = outputs(&mut conn);
    assert!(matches!(out.first(), Some(ConnOutput::Action(Action::Send(f))) if f == "41"));
    assert!(matches!(
        out.last(),
        Some(ConnOutput::Action(Action::CloseSocket { .. }))
    ));
    assert_eq!(conn.state(), ConnectionState::Closed);
    assert_eq!(conn.next_deadline(), None);
}
