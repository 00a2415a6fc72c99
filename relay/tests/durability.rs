//! An ack means "stored for good": sent only after the commit that holds the publish, and
//! one commit (one sync of the log) carries the publishes of many clients.

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use common::{Client, relay};
use serde_json::json;
use syncline_relay::db::CommitHook;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_acked_or_broadcast_before_its_commit_and_one_commit_carries_many() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    // The first commit is held at the door until the test lets it through.
    let (entered_tx, entered) = mpsc::channel::<usize>();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let entered_tx = Mutex::new(entered_tx);
    let hold = AtomicBool::new(true);
    let hook = CommitHook(Arc::new(move |count| {
        if hold.swap(false, Ordering::SeqCst) {
            let _ = entered_tx.lock().unwrap().send(count);
            let _ = released.lock().unwrap().recv();
        }
    }));
    let r = relay(&db, |c| c.commit_hook = Some(hook)).await;
    let mut sub = Client::hello(r.addr, None).await;
    sub.send(json!({"t": "sub", "ch": "d"})).await;
    sub.next_of("subscribed").await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(Client::hello(r.addr, None).await);
    }
    clients[0].publish("p0", "d", json!(0)).await;
    let held = tokio::task::spawn_blocking(move || entered.recv_timeout(Duration::from_secs(5)))
        .await
        .unwrap()
        .expect("the first commit reached the hook");
    assert_eq!(held, 1);
    for (n, c) in clients.iter_mut().enumerate().skip(1) {
        c.publish(&format!("p{n}"), "d", json!(n)).await;
    }
    // While the commit is held: no ack, no event, and nothing readable in the database.
    assert!(
        clients[0]
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "acked before its commit"
    );
    assert!(
        sub.next_within(Duration::from_millis(100)).await.is_none(),
        "broadcast before its commit"
    );
    let reader = rusqlite::Connection::open(&db).unwrap();
    let visible: i64 = reader
        .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(visible, 0);
    release.send(()).unwrap();
    let mut seqs = HashSet::new();
    for c in clients.iter_mut() {
        seqs.insert(c.next_of("ack").await["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, (1..=20).collect::<HashSet<u64>>());
    let stats = r.hub.stats_view();
    assert_eq!(stats.committed, 20);
    assert!(
        stats.commits <= 3,
        "20 publishes in {} commits: the 19 waiting should share one",
        stats.commits
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acked_publish_is_in_the_database_after_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.sqlite");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncline-relay"))
        .args(["serve", "--port", &port.to_string(), "--db"])
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay never listened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for client in 0..10 {
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::hello(addr, None).await;
            for n in 0..100 {
                c.publish(
                    &format!("c{client}-{n}"),
                    &format!("ch{}", client % 3),
                    json!(n),
                )
                .await;
            }
            while let Some(m) = c.next_within(Duration::from_secs(5)).await {
                if m["t"] == "ack" {
                    acked
                        .lock()
                        .unwrap()
                        .push(m["id"].as_str().unwrap().to_owned());
                }
            }
        }));
        if client == 7 {
            // Kill while publishes are still in flight, right after some acks.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().len() < 300 {
        assert!(std::time::Instant::now() < deadline, "too few acks");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.kill().unwrap();
    let acked_then: Vec<String> = acked.lock().unwrap().clone();
    let _ = child.wait();
    for t in tasks {
        let _ = t.await;
    }
    let stored: HashSet<String> = syncline_relay::store::Store::open(&db)
        .unwrap()
        .ids(None)
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<&String> = acked_then
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(lost.is_empty(), "acked but not stored: {lost:?}");
    eprintln!(
        "{} acked before the kill, {} stored",
        acked_then.len(),
        stored.len()
    );
}
