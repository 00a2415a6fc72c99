//! The outbox over HTTP, driven natively: publishes become requests with their
//! Idempotency-Key, and each status decides: confirmed, refused for good, or sent again (not
//! before the server's Retry-After).

mod sim;

use sim::Sim;
use syncline::core::rest::{HttpConfig, HttpOutcome};
use syncline::core::{Config, Event, RequestError, StoreOp};
use syncline::protocol::RawJson;

fn config(batch: Option<&str>) -> Config {
    let mut c = Config::new("", "client-1");
    c.seed = 7;
    c.http = Some(HttpConfig {
        url: "http://127.0.0.1:9/api/widgets/{channel}".into(),
        method: "PUT".into(),
        headers: Vec::new(),
        batch_url: batch.map(str::to_owned),
        batch_size: 100,
    });
    c
}

fn started(batch: Option<&str>) -> Sim {
    let mut s = Sim::with_storage(config(batch));
    s.connect();
    s
}

fn publish(s: &mut Sim, id: &str, channel: &str) {
    let data = RawJson::parse(r#"{"value":42}"#).unwrap();
    s.core
        .publish_durable(s.now, id.into(), channel.into(), "update".into(), data, 0)
        .unwrap();
    s.pump();
}

fn answer(s: &mut Sim, request: u64, status: u16, retry_after: Option<&str>, body: &str) {
    let outcome = HttpOutcome::Status {
        status,
        retry_after: retry_after.map(str::to_owned),
        body: body.into(),
    };
    s.core.handle_http(s.now, request, outcome);
    s.pump();
}

/// Moves the clock until the outbox makes its next request (at most a minute).
fn next_request(s: &mut Sim) -> u64 {
    let before = s.http.len();
    for _ in 0..600 {
        if s.http.len() > before {
            break;
        }
        s.advance(100);
    }
    assert_eq!(s.http.len(), before + 1, "one more request");
    s.http[before].request
}

fn done(s: &Sim, id: &str) -> Option<Result<Option<u64>, RequestError>> {
    s.events.iter().find_map(|e| match e {
        Event::PublishDone { id: i, result } if i == id => Some(result.clone()),
        _ => None,
    })
}

#[test]
fn without_a_url_no_socket_opens_and_a_publish_is_one_request() {
    let mut s = started(None);
    assert!(s.opens.is_empty(), "no socket without a url");
    assert_eq!(s.state(), "idle");
    publish(&mut s, "a", "w7");
    let [r] = s.http.as_slice() else {
        panic!("one request: {:?}", s.http)
    };
    assert_eq!(
        (r.method.as_str(), r.url.as_str()),
        ("PUT", "http://127.0.0.1:9/api/widgets/w7")
    );
    assert!(r.headers.contains(&("Idempotency-Key".into(), "a".into())));
    assert_eq!(r.body, r#"{"value":42}"#);
    let request = r.request;
    answer(&mut s, request, 204, None, "");
    assert_eq!(done(&s, "a"), Some(Ok(Some(0))));
    assert!(s.store_ops.contains(&StoreOp::Delete("a".into())));
    assert_eq!(s.core.snapshot().outbox.depth, 0);
}

#[test]
fn a_server_error_retries_and_retry_after_is_the_least_delay() {
    let mut s = started(None);
    publish(&mut s, "a", "w");
    let first = s.http[0].request;
    answer(&mut s, first, 503, None, "");
    assert_eq!(s.core.snapshot().outbox.depth, 1, "kept");
    assert_eq!(s.take_error_kinds(), vec!["http"]);
    assert_eq!(
        s.core.snapshot().outbox.last_error.as_ref().map(|e| e.kind),
        Some("http")
    );
    let second = next_request(&mut s);
    let asked = s.now;
    answer(&mut s, second, 429, Some("20"), "");
    let third = next_request(&mut s);
    assert!(s.now - asked >= 20_000, "not before Retry-After");
    s.core.handle_http(
        s.now,
        third,
        HttpOutcome::Failed("connection dropped".into()),
    );
    s.pump();
    let last = next_request(&mut s);
    answer(&mut s, last, 200, None, "{}");
    assert_eq!(s.core.snapshot().outbox.depth, 0);
    let keys: Vec<_> = s
        .http
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == "Idempotency-Key")
                .unwrap()
                .1
                .clone()
        })
        .collect();
    assert!(
        keys.iter().all(|k| k == "a"),
        "one key across retries: {keys:?}"
    );
}

#[test]
fn a_client_error_is_a_dead_letter_with_the_status_and_body() {
    let mut s = started(None);
    publish(&mut s, "a", "w");
    let request = s.http[0].request;
    answer(
        &mut s,
        request,
        400,
        None,
        r#"{"error":"value must be a number"}"#,
    );
    let letter = s
        .events
        .iter()
        .find_map(|e| match e {
            Event::DeadLetter(l) => Some(l.clone()),
            _ => None,
        })
        .expect("a dead letter");
    assert!(
        letter
            .reason
            .starts_with("http 400: {\"error\":\"value must be a number\"}")
    );
    assert!(matches!(
        done(&s, "a"),
        Some(Err(RequestError::Rejected { .. }))
    ));
    assert_eq!(s.core.snapshot().outbox.depth, 0);
    assert_eq!(s.core.snapshot().outbox.dead_letters, 1);
}

#[test]
fn offline_entries_wait_and_go_in_batches_when_back() {
    let mut s = started(Some("http://127.0.0.1:9/api/batch"));
    s.core.set_online(s.now, false);
    s.pump();
    for i in 0..250 {
        publish(&mut s, &format!("e{i:04}"), "w");
    }
    assert!(s.http.is_empty(), "nothing while offline");
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, Event::PublishQueued { .. }))
    );
    s.core.set_online(s.now, true);
    s.pump();
    // One batch at a time: two in flight could be applied in either order.
    for batch in 0..3 {
        assert_eq!(s.http.len(), batch + 1, "batch {batch} alone in flight");
        let request = s.http[batch].request;
        let body: serde_json::Value = serde_json::from_str(&s.http[batch].body).unwrap();
        let expected = if batch < 2 { 100 } else { 50 };
        assert_eq!(body["entries"].as_array().map(Vec::len), Some(expected));
        answer(&mut s, request, 200, None, "");
    }
    assert_eq!(s.core.snapshot().outbox.depth, 0);
    let delivered = s
        .events
        .iter()
        .filter(|e| matches!(e, Event::Delivered { .. }))
        .count();
    assert_eq!(delivered, 250);
}

mod options {
    use syncline::core::options::{ClientOptions, Identity, OptionsError};

    fn setup(json: &str) -> Result<syncline::core::Config, String> {
        let options: ClientOptions<serde_json::Value> =
            serde_json::from_str(json).map_err(|e| e.to_string())?;
        let id = Identity {
            client_id: "c".into(),
            tab_id: "t".into(),
            seed: 1,
        };
        options
            .into_setup(id)
            .map(|s| s.config)
            .map_err(|e: OptionsError| e.to_string())
    }

    #[test]
    fn http_settings_reach_the_config() {
        let c = setup(
            r#"{"outbox":{"transport":"http","url":"https://api.example.com/w/{channel}",
                "method":"put","headers":{"X-App":"dash"},"batchUrl":"https://api.example.com/batch",
                "batchSize":250}}"#,
        )
        .unwrap();
        let http = c.http.expect("http");
        assert_eq!(c.url, "", "no socket");
        assert_eq!(http.method, "PUT");
        assert_eq!(http.headers, vec![("X-App".to_owned(), "dash".to_owned())]);
        assert_eq!(http.batch_size, 250);
        assert_eq!(http.batch_size, 250);
    }

    #[test]
    fn bad_http_settings_name_the_field() {
        let cases = [
            (
                r#"{"outbox":{"transport":"http"}}"#,
                "options.outbox.url must not be empty",
            ),
            (
                r#"{"url":"ws://localhost/ws","outbox":{"transport":"carrier pigeon"}}"#,
                "options.outbox.transport must be one of",
            ),
            (
                r#"{"url":"ws://localhost/ws","outbox":{"url":"/x"}}"#,
                "options.outbox.url applies to outbox.transport: \"http\" only",
            ),
            (
                r#"{"outbox":{"transport":"http","url":"/w/{widget}"}}"#,
                "options.outbox.url may use only the placeholders",
            ),
            (
                r#"{"outbox":{"transport":"http","url":"http://api.example.com/w"}}"#,
                "options.outbox.url must use https://",
            ),
            (
                r#"{"outbox":{"transport":"http","url":"/w","method":"GET"}}"#,
                "options.outbox.method must be one of",
            ),
            (
                r#"{"protocol":"socket.io","outbox":{"transport":"http","url":"/w"}}"#,
                "options.url is required",
            ),
        ];
        for (json, expected) in cases {
            let error = setup(json).expect_err(json);
            assert!(error.starts_with(expected), "{json}: {error}");
        }
    }
}

#[test]
fn one_request_per_entry_keeps_each_channel_one_at_a_time() {
    let mut s = started(None);
    for (id, channel) in [
        ("a1", "a"),
        ("a2", "a"),
        ("b1", "b"),
        ("a3", "a"),
        ("b2", "b"),
    ] {
        publish(&mut s, id, channel);
    }
    let keys = |s: &Sim| -> Vec<String> {
        s.http
            .iter()
            .map(|r| {
                r.headers
                    .iter()
                    .find(|(k, _)| k == "Idempotency-Key")
                    .unwrap()
                    .1
                    .clone()
            })
            .collect()
    };
    assert_eq!(keys(&s), vec!["a1", "b1"], "one in flight per channel");
    let (a1, b1) = (s.http[0].request, s.http[1].request);
    answer(&mut s, b1, 204, None, "");
    assert_eq!(keys(&s), vec!["a1", "b1", "b2"]);
    answer(&mut s, a1, 204, None, "");
    assert_eq!(
        keys(&s),
        vec!["a1", "b1", "b2", "a2"],
        "a2 only after a1 is answered"
    );
}
