//! Flow under load, over real WebSockets: slow consumers, long replays in pages, gaps left
//! by retention, repeated subscriptions.

mod common;

use std::time::{Duration, Instant};

use common::{Client, End, relay};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_closed_with_4008_while_the_publisher_stays_acked() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| c.max_queue_bytes = 256 * 1024).await;
    // Subscribed, then reading nothing (with a small socket buffer: the relay's queue is
    // what fills, not the kernel's).
    let mut slow = Client::small_buffer(r.addr, 4 * 1024).await;
    slow.send(json!({"t": "sub", "ch": "firehose"})).await;
    assert_eq!(slow.next_of("subscribed").await["seq"], 0);
    let mut fast = Client::hello(r.addr, None).await;
    fast.send(json!({"t": "sub", "ch": "firehose"})).await;
    fast.next_of("subscribed").await;
    let total = 2_000;
    // The fast subscriber reads as events come, and gets everything in order.
    let fast = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while seqs.len() < total {
            let m = fast
                .next()
                .await
                .expect("the fast subscriber gets every event");
            if m["t"] == "ev" {
                seqs.push(m["seq"].as_u64().unwrap());
            }
        }
        seqs
    });

    let mut publisher = Client::hello(r.addr, None).await;
    let pad = "p".repeat(2_000);
    let started = Instant::now();
    // Batches of 50 (100 KB), each sent once the one before is acked: the fast subscriber
    // keeps well within its 256 KiB bound however busy the machine, the slow one does not.
    let mut acked = 0;
    for batch in 0..(total / 50) {
        let frame: Vec<Value> = (0..50)
            .map(|n| {
                let id = format!("f{}", batch * 50 + n);
                json!({"t": "pub", "id": id, "ch": "firehose", "ev": "e", "data": pad})
            })
            .collect();
        publisher.send(Value::Array(frame)).await;
        while acked < (batch + 1) * 50 {
            let m = publisher
                .next_within(Duration::from_secs(10))
                .await
                .expect("every publish acked");
            if m["t"] == "ack" {
                acked += 1;
            }
        }
    }
    let publish_time = started.elapsed();
    assert_eq!(fast.await.unwrap(), (1..=total as u64).collect::<Vec<_>>());
    // The slow one: what fitted, then the reason, then close 4008.
    let mut last = None;
    let mut error = None;
    while let Some(m) = slow.next_within(Duration::from_secs(5)).await {
        match m["t"].as_str() {
            Some("ev") => last = m["seq"].as_u64(),
            Some("error") => error = Some(m),
            _ => {}
        }
    }
    let error = error.expect("an error before the close");
    assert_eq!(error["code"], "slow_consumer");
    assert_eq!(
        slow.end,
        Some(End::Closed(Some((4008, "slow_consumer".into()))))
    );
    assert!(
        last.unwrap_or(0) < total as u64,
        "the slow consumer was closed before it had everything"
    );
    assert_eq!(r.hub.stats_view().slow_consumers, 1);
    // It resumes with since, as a client does on reconnect, and misses nothing.
    let mut back = Client::hello(r.addr, None).await;
    back.send(json!({"t": "sub", "ch": "firehose", "since": last.unwrap_or(0)}))
        .await;
    let mut resumed = last.unwrap_or(0);
    loop {
        let m = back.next().await.expect("the rest, then subscribed");
        if m["t"] == "subscribed" {
            break;
        }
        assert_eq!(m["seq"].as_u64(), Some(resumed + 1));
        resumed += 1;
    }
    assert_eq!(resumed, total as u64);
    eprintln!("{total} publishes acked in {publish_time:?} beside a slow consumer");
    r.shutdown().await;
}

/// Stores `count` events of `bytes` each on `channel` from the server side.
async fn fill(r: &syncline_relay::server::Running, channel: &str, count: u64, bytes: usize) {
    let data = format!("\"{}\"", "d".repeat(bytes));
    let mut start = 0;
    while start < count {
        let end = count.min(start + 5_000);
        r.hub
            .push_many("fill-", channel, "e", &data, start..end)
            .await
            .unwrap();
        start = end;
    }
}

#[tokio::test]
async fn a_replay_of_50000_events_is_complete_and_paged() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| c.max_queue_bytes = 1 << 20).await;
    fill(&r, "long", 50_000, 1_000).await;
    let mut c = Client::small_buffer(r.addr, 64 * 1024).await;
    c.send(json!({"t": "sub", "ch": "long", "since": 0})).await;
    // Not reading: the replay must wait for the queue, not load 50 MB of history into it.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let replayed = r.hub.stats_view().replayed;
    assert!(
        replayed < 5_000,
        "{replayed} events queued for a client that reads nothing"
    );
    // A publish meanwhile lands after the replay, once.
    let mut publisher = Client::hello(r.addr, None).await;
    publisher.publish("live-1", "long", json!("live")).await;
    assert_eq!(publisher.next_of("ack").await["seq"], 50_001);
    let mut next = 1;
    let mut subscribed = None;
    while let Some(m) = c.next().await {
        match m["t"].as_str() {
            Some("ev") => {
                assert_eq!(
                    m["seq"].as_u64(),
                    Some(next),
                    "in order, none lost or doubled"
                );
                next += 1;
            }
            Some("subscribed") => subscribed = m["seq"].as_u64(),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(next - 1, 50_001, "every stored event and the live one");
    assert_eq!(subscribed, Some(50_001));
    r.shutdown().await;
}

#[tokio::test]
async fn history_removed_by_retention_is_reported_as_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| c.retention.events = 10).await;
    let mut p = Client::hello(r.addr, None).await;
    for n in 1..=30 {
        p.publish(&format!("id-{n}"), "kept", json!(n)).await;
    }
    for _ in 1..=30 {
        p.next_of("ack").await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while r.hub.stats_view().pruned < 20 {
        assert!(Instant::now() < deadline, "retention never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut c = Client::hello(r.addr, None).await;
    c.send(json!({"t": "sub", "ch": "kept", "since": 5})).await;
    assert_eq!(
        c.next().await.unwrap(),
        json!({"t": "gap", "ch": "kept", "from": 6, "to": 20})
    );
    for seq in 21..=30 {
        assert_eq!(c.next().await.unwrap()["seq"], seq);
    }
    assert_eq!(
        c.next_of("subscribed").await,
        json!({"t": "subscribed", "ch": "kept", "seq": 30, "since": 5}),
        "subscribed echoes the since it answers"
    );
    // Resuming from inside the kept history: no gap.
    c.send(json!({"t": "sub", "ch": "kept", "since": 25})).await;
    assert_eq!(c.next().await.unwrap()["seq"], 26);
    // A late retry of a removed publish is acked with its old seq, not stored again.
    p.publish("id-3", "kept", json!(3)).await;
    assert_eq!(p.next_of("ack").await["seq"], 3);
    assert_eq!(r.hub.stored_ids(Some("kept")).await.unwrap().len(), 10);
    r.shutdown().await;
}

#[tokio::test]
async fn a_hundred_subs_of_one_channel_in_one_frame_replay_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |_| {}).await;
    fill(&r, "dup", 5_000, 100).await;
    let mut c = Client::hello(r.addr, None).await;
    let subs: Vec<Value> = (0..100)
        .map(|_| json!({"t": "sub", "ch": "dup", "since": 0}))
        .collect();
    c.send(Value::Array(subs)).await;
    let mut seqs = Vec::new();
    let mut subscribed = 0;
    while let Some(m) = c.next().await {
        match m["t"].as_str() {
            Some("ev") => seqs.push(m["seq"].as_u64().unwrap()),
            Some("subscribed") => subscribed += 1,
            _ => {}
        }
    }
    assert_eq!(
        seqs,
        (1..=5_000).collect::<Vec<u64>>(),
        "one replay, complete"
    );
    assert_eq!(subscribed, 1);
    assert_eq!(r.hub.stats_view().replayed, 5_000);
    r.shutdown().await;
}
