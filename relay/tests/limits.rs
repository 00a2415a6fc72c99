//! Limits and access, over real WebSockets: frame size per client, connections, channels,
//! message size, publish rate, the token, Origin and per-channel authorization.

mod common;

use std::time::Duration;

use common::{Client, End, relay};
use serde_json::{Value, json};
use syncline_relay::auth::{Action, Authorizer, ChannelRule};
use tokio_tungstenite::connect_async;

#[tokio::test]
async fn frames_stay_under_the_max_a_client_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |_| {}).await;
    let big = "x".repeat(32 * 1024);
    for n in 0..100 {
        r.hub
            .publish(&format!("big{n}"), "backlog", "e", &format!("\"{big}\""))
            .await
            .unwrap();
    }
    let mut c = Client::connect(r.addr).await;
    c.send(json!({"t": "hello", "v": 1, "client": "t", "max": 100_000}))
        .await;
    let welcome = c.next_of("welcome").await;
    assert_eq!(
        welcome["limits"],
        json!({"frame": 512 * 1024, "message": 256 * 1024, "channels": 1000}),
        "the relay tells its limits"
    );
    c.send(json!({"t": "sub", "ch": "backlog", "since": 0}))
        .await;
    let mut seqs = Vec::new();
    loop {
        let m = c.next().await.expect("the backlog and subscribed");
        if m["t"] == "subscribed" {
            break;
        }
        seqs.push(m["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, (1..=100).collect::<Vec<u64>>());
    let largest = c.frame_sizes.iter().copied().max().unwrap();
    assert!(largest <= 100_000, "a frame of {largest} bytes");
    assert!(
        c.frame_sizes.len() < 100,
        "events still share frames: {} frames",
        c.frame_sizes.len()
    );
    r.shutdown().await;
}

#[tokio::test]
async fn connections_past_the_limit_get_503() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| c.max_connections = 3).await;
    let url = format!("ws://{}/ws", r.addr);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Client::hello(r.addr, None).await);
    }
    match connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503)
        }
        other => panic!("a 4th connection was not refused: {:?}", other.map(|_| ())),
    }
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if connect_async(&url).await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a place never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    r.shutdown().await;
}

#[tokio::test]
async fn channels_per_connection_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| c.max_channels = 2).await;
    let mut c = Client::hello(r.addr, None).await;
    for ch in ["a", "b"] {
        c.send(json!({"t": "sub", "ch": ch})).await;
        assert_eq!(c.next_of("subscribed").await["ch"], ch);
    }
    c.send(json!({"t": "sub", "ch": "c"})).await;
    let e = c.next().await.unwrap();
    assert_eq!(
        (e["t"].as_str(), e["code"].as_str(), e["ch"].as_str()),
        (Some("error"), Some("too_many_channels"), Some("c"))
    );
    // Subscribing again to one it has is not a new channel; leaving one frees a place.
    c.send(json!({"t": "sub", "ch": "a"})).await;
    assert_eq!(c.next_of("subscribed").await["ch"], "a");
    c.send(json!([{"t": "unsub", "ch": "b"}, {"t": "sub", "ch": "c"}]))
        .await;
    assert_eq!(c.next_of("subscribed").await["ch"], "c");
    assert_eq!(r.hub.stats_view().subscriptions, 2);
    r.shutdown().await;
}

#[tokio::test]
async fn a_publish_over_the_message_limit_is_nacked_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| c.max_message_bytes = 1_000).await;
    let mut c = Client::hello(r.addr, None).await;
    c.publish("big", "ch", json!("y".repeat(2_000))).await;
    let nack = c.next_of("nack").await;
    assert_eq!(
        (
            nack["id"].as_str(),
            nack["reason"].as_str(),
            nack["retryable"].as_bool()
        ),
        (Some("big"), Some("too_large"), Some(false))
    );
    c.publish("small", "ch", json!("y".repeat(500))).await;
    assert_eq!(c.next_of("ack").await["id"], "small");
    assert_eq!(r.hub.stored_ids(Some("ch")).await.unwrap(), vec!["small"]);
    r.shutdown().await;
}

#[tokio::test]
async fn publishes_over_the_rate_are_nacked_retryable() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| c.publish_rate = 10).await;
    let mut c = Client::hello(r.addr, None).await;
    let burst: Vec<Value> = (0..30)
        .map(|n| json!({"t": "pub", "id": format!("r{n}"), "ch": "ch", "ev": "e", "data": n}))
        .collect();
    c.send(Value::Array(burst)).await;
    let (mut acked, mut refusals) = (0, Vec::new());
    while acked + refusals.len() < 30 {
        let m = c.next().await.expect("an answer to every publish");
        match m["t"].as_str() {
            Some("ack") => acked += 1,
            Some("nack") => {
                assert_eq!(m["retryable"].as_bool(), Some(true));
                refusals.push((m["id"].to_string(), m["reason"].to_string()));
            }
            _ => {}
        }
    }
    assert!(
        (10..=12).contains(&acked),
        "{acked} acked of a burst of 30 at 10/s"
    );
    // The first refused is over the rate; the rest of the channel waits behind it.
    let (first, reason) = refusals[0].clone();
    assert_eq!(reason, "\"rate_limited\"");
    assert!(
        refusals[1..].iter().all(|(_, r)| r == "\"out_of_order\""),
        "{refusals:?}"
    );
    // The bucket refills: the refused one first, then the channel goes on.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    c.publish("r29", "ch", json!(29)).await;
    assert_eq!(c.next_of("nack").await["reason"], "out_of_order");
    let first = first.trim_matches('"').to_owned();
    c.publish(&first, "ch", json!(0)).await;
    assert_eq!(c.next_of("ack").await["id"], first.as_str());
    c.publish("r29", "ch", json!(29)).await;
    assert_eq!(c.next_of("ack").await["id"], "r29");
    r.shutdown().await;
}

#[tokio::test]
async fn a_refused_publish_is_not_overtaken_by_a_later_one_of_its_channel() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| c.publish_rate = 1).await;
    let mut c = Client::hello(r.addr, None).await;
    c.publish("x", "other", json!(0)).await;
    assert_eq!(c.next_of("ack").await["id"], "x");
    c.publish("a", "ch", json!(1)).await;
    assert_eq!(c.next_of("nack").await["reason"], "rate_limited");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // The bucket has room again, but "a" was first: "b" waits.
    c.publish("b", "ch", json!(2)).await;
    assert_eq!(c.next_of("nack").await["reason"], "out_of_order");
    c.publish("a", "ch", json!(1)).await;
    assert_eq!(c.next_of("ack").await["id"], "a");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    c.publish("b", "ch", json!(2)).await;
    assert_eq!(c.next_of("ack").await["id"], "b");
    assert_eq!(r.hub.stored_ids(Some("ch")).await.unwrap(), vec!["a", "b"]);
    r.shutdown().await;
}

#[tokio::test]
async fn the_token_must_match_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| {
        c.token = Some("s3cret-token".into())
    })
    .await;
    for wrong in [
        "s3cret-tokex",
        "s3cret-toke",
        "s3cret-token!",
        "",
        "S3CRET-TOKEN",
    ] {
        let mut c = Client::connect(r.addr).await;
        c.send(json!({"t": "hello", "client": "c", "token": wrong}))
            .await;
        assert_eq!(c.next().await.unwrap()["t"], "denied", "{wrong:?}");
        assert!(c.next().await.is_none());
        assert_eq!(
            c.end,
            Some(End::Closed(Some((4401, "unauthorized".into()))))
        );
    }
    Client::hello(r.addr, Some("s3cret-token")).await;
    assert_eq!(r.hub.stats_view().denied, 5);
    r.shutdown().await;
}

#[tokio::test]
async fn only_listed_origins_may_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| {
        c.allowed_origins = vec!["https://app.example".into()]
    })
    .await;
    assert_eq!(
        Client::connect_from(r.addr, "https://evil.example")
            .await
            .err(),
        Some(403)
    );
    assert_eq!(
        Client::connect_from(r.addr, "https://app.example.evil")
            .await
            .err(),
        Some(403)
    );
    let mut ok = Client::connect_from(r.addr, "https://app.example")
        .await
        .map_err(|status| format!("refused with {status}"))
        .unwrap();
    ok.send(json!({"t": "hello", "client": "c"})).await;
    assert_eq!(ok.next().await.unwrap()["t"], "welcome");
    // No Origin: not a browser page, so not the cross-site case the list is for.
    Client::hello(r.addr, None).await;
    r.shutdown().await;
}

#[tokio::test]
async fn the_authorization_hook_decides_per_channel_and_action() {
    let dir = tempfile::tempdir().unwrap();
    let hook = |token: Option<&str>, channel: &str, action: Action| match action {
        Action::Subscribe => !channel.starts_with("staff.") || token == Some("staff"),
        Action::Publish => token == Some("staff") || token == Some("writer"),
    };
    let r = relay(&dir.path().join("db"), |c| {
        c.authorize = Some(Authorizer::new(hook));
    })
    .await;
    let mut reader = Client::hello(r.addr, Some("reader")).await;
    reader.send(json!({"t": "sub", "ch": "staff.room"})).await;
    let e = reader.next().await.unwrap();
    assert_eq!(
        (e["code"].as_str(), e["ch"].as_str()),
        (Some("forbidden"), Some("staff.room"))
    );
    reader.send(json!({"t": "sub", "ch": "lobby"})).await;
    assert_eq!(reader.next_of("subscribed").await["ch"], "lobby");
    reader.publish("p1", "lobby", json!(1)).await;
    let nack = reader.next_of("nack").await;
    assert_eq!(
        (nack["reason"].as_str(), nack["retryable"].as_bool()),
        (Some("forbidden"), Some(false))
    );

    let mut writer = Client::hello(r.addr, Some("writer")).await;
    writer.publish("p2", "lobby", json!(2)).await;
    assert_eq!(writer.next_of("ack").await["id"], "p2");
    assert_eq!(reader.next_of("ev").await["id"], "p2");
    let mut staff = Client::hello(r.addr, Some("staff")).await;
    staff.send(json!({"t": "sub", "ch": "staff.room"})).await;
    assert_eq!(staff.next_of("subscribed").await["ch"], "staff.room");
    assert_eq!(r.hub.stored_ids(Some("lobby")).await.unwrap(), vec!["p2"]);
    assert_eq!(r.hub.stats_view().forbidden, 2);
    r.shutdown().await;
}

#[tokio::test]
async fn channel_rules_from_the_command_line_guard_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| {
        c.channel_rules = vec![ChannelRule::parse("ops.=opstoken").unwrap()];
    })
    .await;
    let mut anyone = Client::hello(r.addr, None).await;
    anyone.send(json!({"t": "sub", "ch": "ops.alerts"})).await;
    assert_eq!(anyone.next().await.unwrap()["code"], "forbidden");
    anyone.publish("x", "ops.alerts", json!(1)).await;
    assert_eq!(anyone.next_of("nack").await["reason"], "forbidden");
    anyone.publish("y", "public", json!(1)).await;
    assert_eq!(anyone.next_of("ack").await["id"], "y");
    let mut ops = Client::hello(r.addr, Some("opstoken")).await;
    ops.send(json!({"t": "sub", "ch": "ops.alerts", "since": 0}))
        .await;
    assert_eq!(ops.next_of("subscribed").await["ch"], "ops.alerts");
    ops.publish("z", "ops.alerts", json!(1)).await;
    assert_eq!(ops.next_of("ack").await["id"], "z");
    r.shutdown().await;
}
