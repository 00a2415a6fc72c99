//! The options an app passes, checked natively: the JSON an app would write goes through
//! serde into `core::options`, then into the core's settings; and the state's JSON shape.

use syncline::core::Snapshot;
use syncline::core::gates::Pace;
use syncline::core::options::{
    ClientOptions, Identity, OptionsError, PublishMode, PublishOptions, RequestOptions,
    SubscribeOptions,
};
use syncline::core::pending::AnswerPolicy;
use syncline::core::view::StateView;
use syncline::core::{Protocol, StorageState};

/// Stands for the app's JS function: any JSON value here.
type F = serde_json::Value;

fn identity() -> Identity {
    Identity {
        client_id: "client-1".into(),
        tab_id: "tab-1".into(),
        seed: 7,
    }
}

fn client(json: &str) -> Result<syncline::core::options::ClientSetup<F>, OptionsError> {
    let options: ClientOptions<F> = serde_json::from_str(json).map_err(|e| OptionsError::Type {
        path: "options".into(),
        message: e.to_string(),
    })?;
    options.into_setup(identity())
}

#[test]
fn defaults_apply_when_only_the_url_is_given() {
    let setup = client(r#"{"url":"ws://localhost:8080/ws"}"#).unwrap();
    let c = &setup.config;
    assert_eq!(c.url, "ws://localhost:8080/ws");
    assert_eq!(c.client_id, "client-1");
    assert_eq!(c.tab_id, "tab-1");
    assert_eq!(c.seed, 7);
    assert_eq!(c.protocol, Protocol::Envelope);
    assert_eq!(c.heartbeat_interval_ms, 15_000);
    assert_eq!(
        c.request,
        AnswerPolicy {
            timeout_ms: 5_000,
            retries: 3
        }
    );
    assert!(!c.use_auth);
    assert!(setup.auto_connect && setup.share_connection);
    assert_eq!(setup.database, "syncline:default");
    assert!(setup.auth.is_none() && setup.resolver.is_none());
}

#[test]
fn every_field_reaches_the_config_with_its_clamps() {
    let setup = client(
        r#"{"url":"wss://example.com/ws","clientId":"me","autoConnect":false,
            "shareConnection":false,"storageKey":"app","auth":"fn",
            "reconnect":{"initialDelayMs":10,"maxDelayMs":100,"factor":1000,"jitter":0.25},
            "heartbeat":{"intervalMs":1000,"timeoutMs":500},
            "outbox":{"window":0,"ackTimeoutMs":7,"retentionMs":8,"maxEntries":9,
                      "retry":{"initialDelayMs":1}},
            "conflicts":{"strategy":"merge","auditSize":3,"resolver":"fn"},
            "batching":{"maxMessages":0,"maxDelayMs":50},
            "breaker":{"threshold":5000,"cooldownMs":60},
            "connectTimeoutMs":11,"requestTimeoutMs":12,"requestRetries":1000,
            "publishTimeoutMs":13,"sendBufferSize":14,"maxMessageBytes":15}"#,
    )
    .unwrap();
    let c = &setup.config;
    assert_eq!(c.client_id, "me");
    assert!(!setup.auto_connect && !setup.share_connection);
    assert_eq!(setup.database, "syncline:app");
    assert!(c.use_auth && setup.auth.is_some() && setup.resolver.is_some());
    assert_eq!(
        (
            c.reconnect.initial_ms,
            c.reconnect.max_ms,
            c.reconnect.factor
        ),
        (10, 100, 100)
    );
    assert_eq!(c.reconnect.jitter_permille, 250);
    assert_eq!(
        (c.heartbeat_interval_ms, c.heartbeat_timeout_ms),
        (1000, 500)
    );
    assert_eq!(c.outbox.window, 1, "window clamps to at least 1");
    assert_eq!(
        (
            c.outbox.ack_timeout_ms,
            c.outbox.retention_ms,
            c.outbox.max_entries
        ),
        (7, 8, 9)
    );
    assert_eq!(c.outbox.retry.initial_ms, 1);
    assert_eq!(c.conflict_strategy.as_str(), "merge");
    assert_eq!(c.audit_size, 3);
    assert_eq!((c.batch_max, c.batch_delay_ms), (1, 50));
    assert_eq!((c.breaker_threshold, c.breaker_cooldown_ms), (1000, 60));
    assert_eq!(c.connect_timeout_ms, 11);
    assert_eq!(
        c.request,
        AnswerPolicy {
            timeout_ms: 12,
            retries: 100
        }
    );
    assert_eq!(
        (c.publish_timeout_ms, c.send_buffer, c.max_message_bytes),
        (13, 14, 15)
    );
}

#[test]
fn socketio_builds_the_engine_url_and_does_not_retry_requests() {
    let setup = client(r#"{"url":"http://localhost:3000/admin","protocol":"socket.io"}"#).unwrap();
    assert!(
        setup
            .config
            .url
            .starts_with("ws://localhost:3000/socket.io/")
    );
    assert_eq!(
        setup.config.protocol,
        Protocol::SocketIo(syncline::protocol::socketio::SocketIoConfig::new("/admin"))
    );
    assert_eq!(setup.config.request.retries, 0);
}

#[test]
fn bad_values_are_refused_with_the_field_named() {
    let cases = [
        ("{}", "options.url is required"),
        (
            r#"{"url":"ws://localhost/","protocol":"mqtt"}"#,
            "options.protocol must be \"syncline\", \"socket.io\" or \"json\", not \"mqtt\"",
        ),
        (
            r#"{"url":"ws://localhost/","reconnect":{"maxDelayMs":-1}}"#,
            "options.reconnect.maxDelayMs must be a non-negative number",
        ),
        (
            r#"{"url":"ws://localhost/","outbox":{"retry":{"jitter":2}}}"#,
            "options.outbox.retry.jitter must be between 0 and 1",
        ),
        (
            r#"{"url":"ws://localhost/","conflicts":{"strategy":"coin"}}"#,
            "unknown conflict strategy \"coin\"",
        ),
        (
            r#"{"url":"ftp://localhost/","protocol":"socket.io"}"#,
            "options.url: url must start with http://, https://, ws:// or wss://",
        ),
    ];
    for (json, message) in cases {
        assert_eq!(client(json).unwrap_err().to_string(), message, "{json}");
    }
    let insecure = client(r#"{"url":"ws://example.com/ws"}"#).unwrap_err();
    assert_eq!(insecure, OptionsError::Insecure);
    assert!(client(r#"{"url":"ws://example.com/ws","allowInsecure":true}"#).is_ok());
}

#[test]
fn a_wrong_type_fails_in_the_deserializer() {
    let err = client(r#"{"url":"ws://localhost/","reconnect":{"maxDelayMs":"soon"}}"#).unwrap_err();
    let OptionsError::Type { message, .. } = err else {
        panic!("expected a type error, got {err:?}");
    };
    assert!(message.contains("expected f64"), "{message}");
}

#[test]
fn publish_modes_and_priority() {
    let mode = |json: &str| serde_json::from_str::<PublishOptions>(json).unwrap().mode();
    assert_eq!(mode("{}"), Ok((PublishMode::Durable, 0)));
    assert_eq!(
        mode(r#"{"durable":false,"priority":2e9}"#),
        Ok((PublishMode::Memory, 1_000_000))
    );
    assert_eq!(mode(r#"{"batch":true}"#), Ok((PublishMode::Batched, 0)));
    assert_eq!(
        mode(r#"{"batch":true,"durable":true}"#),
        Err(OptionsError::BatchDurable)
    );
}

#[test]
fn request_options_override_the_client_defaults() {
    let defaults = AnswerPolicy {
        timeout_ms: 5_000,
        retries: 3,
    };
    let policy = |json: &str| {
        serde_json::from_str::<RequestOptions>(json)
            .unwrap()
            .policy(defaults)
    };
    assert_eq!(policy("{}"), Ok(defaults));
    assert_eq!(
        policy(r#"{"timeoutMs":100,"retries":500}"#),
        Ok(AnswerPolicy {
            timeout_ms: 100,
            retries: 100
        })
    );
    assert_eq!(
        policy(r#"{"timeoutMs":-5}"#),
        Err(OptionsError::NotWhole("options.timeoutMs"))
    );
}

#[test]
fn subscribe_paces() {
    let spec = |json: &str| {
        serde_json::from_str::<SubscribeOptions>(json)
            .unwrap()
            .into_spec("ch".into())
    };
    assert_eq!(spec("{}").unwrap().pace, None);
    assert_eq!(
        spec(r#"{"throttleMs":true}"#).unwrap().pace,
        Some(Pace::Throttle(1_000))
    );
    assert_eq!(
        spec(r#"{"debounceMs":250,"coalesce":false}"#).unwrap().pace,
        Some(Pace::Debounce(250))
    );
    assert_eq!(
        spec(r#"{"coalesce":"id"}"#).unwrap().pace,
        Some(Pace::Frame(Some("id".into())))
    );
    assert_eq!(
        spec(r#"{"coalesce":true,"event":"e","since":4,"priority":3}"#).unwrap(),
        syncline::core::documents::SubscribeSpec {
            channel: "ch".into(),
            event: Some("e".into()),
            priority: 3,
            since: Some(4),
            pace: Some(Pace::Frame(None)),
        }
    );
    assert_eq!(
        spec(r#"{"throttleMs":10,"debounceMs":10}"#),
        Err(OptionsError::Pace)
    );
    let wrong = serde_json::from_str::<SubscribeOptions>(r#"{"throttleMs":"fast"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains("expected a number of milliseconds or a boolean"),
        "{wrong}"
    );
}

#[test]
fn the_state_serializes_in_the_shape_js_sees() {
    let mut snapshot = Snapshot::default();
    snapshot.outbox.storage = StorageState::Memory;
    snapshot.session = Some("s1".into());
    let view = StateView {
        snapshot: &snapshot,
        retry_at: Some(1_700_000_000_000),
    };
    let json = serde_json::to_string(&view).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"version":0,"state":"idle","online":true,"visible":true,"attempt":0,"#,
            r#""reconnects":0,"rttMs":null,"retryAt":1700000000000,"lastError":null,"#,
            r#""session":"s1","recovered":null,"missedAfter":null,"#,
            r#""buffered":0,"pending":0,"channels":0,"#,
            r#""outbox":{"depth":0,"inFlight":0,"oldestCreatedAt":null,"deadLetters":0,"#,
            r#""storage":"memory","degraded":true,"breaker":"closed","lastError":null},"#,
            r#""role":"solo","tabs":0,"bus":"none","tabMessagesRejected":0}"#
        )
    );
}
