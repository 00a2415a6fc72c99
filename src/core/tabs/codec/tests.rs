//! The tab bus codec's tests.

use super::*;

fn message(body: TabBody) -> TabMessage {
    TabMessage {
        ns: "syncline:default".into(),
        from: "tab-a".into(),
        to: Some("tab-b".into()),
        body,
    }
}

#[test]
fn every_kind_round_trips() {
    let state = SharedState {
        state: ConnectionState::Waiting,
        online: true,
        attempt: 3,
        reconnects: 2,
        rtt_ms: Some(4),
        retry_at: Some(1_700_000_000_000),
        last_error: Some(ErrorInfo {
            kind: "heartbeat_timeout",
            message: "heartbeat timed out".into(),
        }),
        session: Some("s1".into()),
        recovered: Some(false),
        missed_after: Some("1700000000000-0".into()),
        outbox: OutboxStatus {
            depth: 5,
            in_flight: 1,
            oldest_created_at: Some(9),
            dead_letters: 1,
            storage: StorageState::Durable,
            last_error: None,
            breaker: "open",
        },
    };
    for body in [
        TabBody::Up {
            frame: r#"{"t":"ping","ts":1}"#.into(),
        },
        TabBody::Down {
            frame: "[{\"t\":\"pong\",\"ts\":1}]".into(),
            term: 3,
        },
        TabBody::Leader { term: 7 },
        TabBody::Who { term: 2 },
        TabBody::State { state, term: 7 },
        TabBody::Bye { term: 7 },
        TabBody::Clear {
            id: "clear:tab-a:1".into(),
            at: 1_700_000_000_000,
        },
        TabBody::Cleared {
            id: "clear:tab-a:1".into(),
            dropped: 3,
            tabs: vec!["tab-c".into(), "tab-d".into()],
        },
        TabBody::Claim { term: 8 },
        TabBody::Broadcast {
            topic: "filters".into(),
            data: RawJson::parse(r#"{"team":"home"}"#).unwrap(),
        },
    ] {
        let m = message(body);
        let text = m.encode().expect("encodes");
        assert_eq!(TabMessage::decode(&text, "syncline:default"), Ok(m));
    }
}

#[test]
fn foreign_and_malformed_messages_are_refused() {
    let ns = "syncline:default";
    let good = message(TabBody::Who { term: 0 }).encode().expect("encodes");
    assert_eq!(
        TabMessage::decode(&good, "syncline:other"),
        Err(TabMessageError::OtherNamespace)
    );
    for (text, expected) in [
        ("\"hello\"", TabMessageError::Foreign),
        ("[1]", TabMessageError::Foreign),
        (r#"{"type":"other-lib"}"#, TabMessageError::Foreign),
        (r#"{"syncline":"1"}"#, TabMessageError::Foreign),
        (
            r#"{"syncline":1,"ns":"syncline:default"}"#,
            TabMessageError::Version(1),
        ),
        (
            r#"{"syncline":2,"ns":"syncline:default","from":"a","k":"warp"}"#,
            TabMessageError::Invalid("k"),
        ),
        (
            r#"{"syncline":2,"ns":"syncline:default","from":"","k":"who","term":0}"#,
            TabMessageError::Invalid("from"),
        ),
        (
            r#"{"syncline":2,"ns":"syncline:default","from":"a","k":"up"}"#,
            TabMessageError::Invalid("f"),
        ),
        (
            r#"{"syncline":2,"ns":"syncline:default","from":"a","k":"leader","term":-1}"#,
            TabMessageError::Invalid("term"),
        ),
        (
            r#"{"syncline":2,"ns":"syncline:default","from":"a","k":"state","s":{"state":"exploded","outbox":{}},"term":1}"#,
            TabMessageError::Invalid("state"),
        ),
    ] {
        assert_eq!(TabMessage::decode(text, ns), Err(expected), "{text}");
    }
    assert!(TabMessage::decode("{\"syncline\":2,", ns).is_err());
    assert!(TabMessage::decode(&good[..good.len() - 1], ns).is_err());
}
