//! The relay over real WebSockets on 127.0.0.1: protocol, storage, dedup, replay, auth, faults.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use syncline_relay::config::{Faults, ServeConfig};
use syncline_relay::server::{self, Running};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn relay(db: &Path, tweak: impl FnOnce(&mut ServeConfig)) -> Running {
    let mut config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), db.to_path_buf());
    tweak(&mut config);
    server::start(config).await.expect("relay starts")
}

struct Client {
    ws: Ws,
    /// Messages received but not yet taken (frames may carry several).
    inbox: Vec<Value>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let (ws, _) = connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("connect");
        Self {
            ws,
            inbox: Vec::new(),
        }
    }

    async fn hello(addr: SocketAddr, token: Option<&str>) -> Self {
        let mut c = Self::connect(addr).await;
        c.send(json!({"t": "hello", "v": 1, "client": "test", "token": token}))
            .await;
        let welcome = c.next().await.expect("welcome");
        assert_eq!(welcome["t"], "welcome", "{welcome}");
        c
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    /// The next message, or None when the socket ends or stays quiet for 2 s.
    async fn next(&mut self) -> Option<Value> {
        while self.inbox.is_empty() {
            let frame = tokio::time::timeout(Duration::from_secs(2), self.ws.next())
                .await
                .ok()??;
            match frame.ok()? {
                Message::Text(t) => match serde_json::from_str::<Value>(t.as_str()).ok()? {
                    Value::Array(items) => self.inbox.extend(items),
                    one => self.inbox.push(one),
                },
                Message::Close(_) => return None,
                _ => {}
            }
        }
        Some(self.inbox.remove(0))
    }

    /// The next message of type `t`, skipping others.
    async fn next_of(&mut self, t: &str) -> Value {
        loop {
            let m = self
                .next()
                .await
                .unwrap_or_else(|| panic!("no {t} message"));
            if m["t"] == t {
                return m;
            }
        }
    }

    async fn publish(&mut self, id: &str, ch: &str, data: Value) {
        self.send(json!({"t": "pub", "id": id, "ch": ch, "ev": "e", "data": data}))
            .await;
    }
}

#[tokio::test]
async fn publish_is_acked_stored_once_and_broadcast_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |_| {}).await;
    let mut sub = Client::hello(r.addr, None).await;
    sub.send(json!({"t": "sub", "ch": "room"})).await;
    assert_eq!(sub.next_of("subscribed").await["seq"], 0);

    let mut publisher = Client::hello(r.addr, None).await;
    publisher.publish("id-1", "room", json!({"goal": 1})).await;
    let ack = publisher.next_of("ack").await;
    assert_eq!(
        (ack["id"].as_str(), ack["seq"].as_u64()),
        (Some("id-1"), Some(1))
    );
    // The same id again: acked with the same sequence, not stored or broadcast again.
    publisher.publish("id-1", "room", json!({"goal": 1})).await;
    assert_eq!(publisher.next_of("ack").await["seq"], 1);
    publisher.publish("id-2", "room", json!({"goal": 2})).await;
    assert_eq!(publisher.next_of("ack").await["seq"], 2);

    let first = sub.next_of("ev").await;
    assert_eq!(
        (first["seq"].as_u64(), first["id"].as_str()),
        (Some(1), Some("id-1"))
    );
    assert_eq!(first["data"], json!({"goal": 1}));
    assert_eq!(
        sub.next_of("ev").await["seq"],
        2,
        "the duplicate was not broadcast"
    );
    assert_eq!(
        r.hub.stored_ids(Some("room")).await.unwrap(),
        vec!["id-1", "id-2"]
    );
    assert_eq!(r.hub.stats_view().duplicates, 1);
    r.shutdown().await;
}

#[tokio::test]
async fn dedup_and_history_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let r = relay(&db, |_| {}).await;
    let mut c = Client::hello(r.addr, None).await;
    for n in 1..=3 {
        c.publish(&format!("p{n}"), "ch", json!(n)).await;
        c.next_of("ack").await;
    }
    r.shutdown().await;

    let r = relay(&db, |_| {}).await;
    let mut c = Client::hello(r.addr, None).await;
    c.publish("p2", "ch", json!(2)).await;
    assert_eq!(c.next_of("ack").await["seq"], 2);
    c.send(json!({"t": "sub", "ch": "ch", "since": 1})).await;
    let replayed: Vec<u64> = vec![c.next_of("ev").await, c.next_of("ev").await]
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert_eq!(replayed, vec![2, 3]);
    assert_eq!(c.next_of("subscribed").await["seq"], 3);
    assert_eq!(r.hub.stored_ids(Some("ch")).await.unwrap().len(), 3);
    r.shutdown().await;
}

#[tokio::test]
async fn hello_comes_first_and_the_token_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| c.token = Some("secret".into())).await;
    let mut c = Client::connect(r.addr).await;
    c.send(json!({"t": "sub", "ch": "x"})).await;
    assert_eq!(c.next_of("error").await["code"], "hello_required");
    c.send(json!({"t": "hello", "client": "c", "token": "wrong"}))
        .await;
    assert_eq!(c.next_of("denied").await["reason"], "invalid token");
    assert!(c.next().await.is_none(), "the relay closes after denying");

    Client::hello(r.addr, Some("secret")).await;
    r.hub.set_token(Some("rotated".into()));
    let mut c = Client::connect(r.addr).await;
    c.send(json!({"t": "hello", "client": "c", "token": "secret"}))
        .await;
    c.next_of("denied").await;
    Client::hello(r.addr, Some("rotated")).await;
    assert_eq!(r.hub.stats_view().denied, 2);
    r.shutdown().await;
}

#[tokio::test]
async fn requests_ping_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |_| {}).await;
    let mut c = Client::hello(r.addr, None).await;
    c.send(json!([{"t": "req", "id": "r1", "ev": "echo", "data": {"x": [1]}}, {"t": "ping", "ts": 42}])).await;
    let res = c.next_of("res").await;
    assert_eq!(
        (res["ok"].as_bool(), &res["data"]),
        (Some(true), &json!({"x": [1]}))
    );
    assert_eq!(c.next_of("pong").await["ts"], 42);
    c.send(json!({"t": "req", "id": "r2", "ev": "nope"})).await;
    let res = c.next_of("res").await;
    assert_eq!(
        (res["ok"].as_bool(), res["error"]["code"].as_str()),
        (Some(false), Some("unknown_request"))
    );
    c.ws.send(Message::text("{not json")).await.unwrap();
    assert_eq!(c.next_of("error").await["code"], "bad_json");
    c.send(json!({"t": "warp"})).await;
    assert_eq!(c.next_of("error").await["code"], "unknown_type");
    c.send(json!({"t": "req", "id": "r3", "ev": "sleep", "data": {"ms": 50}}))
        .await;
    assert_eq!(c.next_of("res").await["id"], "r3");
    r.shutdown().await;
}

#[tokio::test]
async fn fault_modes() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |c| {
        c.faults = Faults {
            drop_every_nth_ack: 3,
            reject_channels: vec!["reject.".into()],
            ..Faults::default()
        }
    })
    .await;
    let mut c = Client::hello(r.addr, None).await;
    for n in 1..=6 {
        c.publish(&format!("a{n}"), "ch", json!(n)).await;
    }
    let mut acked = Vec::new();
    while let Some(m) = c.next().await {
        if m["t"] == "ack" {
            acked.push(m["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(
        acked,
        vec!["a1", "a2", "a4", "a5"],
        "every 3rd ack withheld"
    );
    assert_eq!(
        r.hub.stored_ids(Some("ch")).await.unwrap().len(),
        6,
        "but all stored"
    );

    c.publish("x", "reject.me", json!(null)).await;
    let nack = c.next_of("nack").await;
    assert_eq!(nack["retryable"], false);

    r.hub.set_faults(Faults {
        ack_delay_ms: 300,
        ..Faults::default()
    });
    let sent = std::time::Instant::now();
    c.publish("late", "ch", json!(null)).await;
    assert_eq!(c.next_of("ack").await["id"], "late");
    assert!(
        sent.elapsed() >= Duration::from_millis(300),
        "ack held back by the delay"
    );

    r.hub.set_faults(Faults {
        close_after_frames: 2,
        ..Faults::default()
    });
    let mut c = Client::hello(r.addr, None).await;
    c.send(json!({"t": "ping", "ts": 1})).await;
    let _ = c.next().await;
    assert!(c.next().await.is_none(), "dropped after 2 frames");

    r.hub.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    assert!(connect_async(format!("ws://{}/ws", r.addr)).await.is_err());
    assert_eq!(r.hub.stats_view().refused, 1);
    r.shutdown().await;
}

#[tokio::test]
async fn queued_messages_share_frames() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |_| {}).await;
    let mut sub = Client::hello(r.addr, None).await;
    sub.send(json!({"t": "sub", "ch": "burst"})).await;
    sub.next_of("subscribed").await;
    // Concurrent publishes: committed together, queued together.
    let ids: Vec<String> = (0..500).map(|n| format!("b{n}")).collect();
    futures_util::future::join_all(ids.iter().map(|id| r.hub.publish(id, "burst", "e", "1"))).await;
    let mut frames = 0;
    let mut events = 0;
    while events < 500 {
        let frame = tokio::time::timeout(Duration::from_secs(2), sub.ws.next())
            .await
            .expect("events arrive")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = frame {
            frames += 1;
            events += match serde_json::from_str::<Value>(t.as_str()).unwrap() {
                Value::Array(items) => items.len(),
                _ => 1,
            };
        }
    }
    assert_eq!(events, 500);
    assert!(frames < 500, "batched into {frames} frames");
    r.shutdown().await;
}

#[tokio::test]
async fn a_backlog_replays_in_frames_under_the_clients_limit() {
    // A tab away while 100 events of 32 KB were published: its resubscribe must not get frames
    // over the 1 MiB a client accepts by default, or the events in them are lost to it.
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("db"), |_| {}).await;
    let big = "x".repeat(32 * 1024);
    for n in 0..100 {
        r.hub
            .publish(&format!("big{n}"), "backlog", "e", &format!("\"{big}\""))
            .await
            .unwrap();
    }
    let mut sub = Client::hello(r.addr, None).await;
    sub.send(json!({"t": "sub", "ch": "backlog", "since": 0}))
        .await;
    let (mut seqs, mut largest) = (Vec::new(), 0);
    while seqs.len() < 100 {
        let frame = tokio::time::timeout(Duration::from_secs(5), sub.ws.next())
            .await
            .expect("the backlog arrives")
            .expect("open")
            .expect("frame");
        let Message::Text(t) = frame else { continue };
        largest = largest.max(t.len());
        let items = match serde_json::from_str::<Value>(t.as_str()).unwrap() {
            Value::Array(items) => items,
            one => vec![one],
        };
        seqs.extend(
            items
                .iter()
                .filter(|m| m["t"] == "ev")
                .filter_map(|m| m["seq"].as_u64()),
        );
    }
    assert_eq!(
        seqs,
        (1..=100).collect::<Vec<u64>>(),
        "every event, in order"
    );
    assert!(largest <= 1 << 20, "largest frame {largest} bytes");
    r.shutdown().await;
}
