//! The test endpoints (the relay's `/control/*`, the supervisor's API) answer only requests that
//! carry the per-run secret, and CORS only for the one origin given; spoken to over raw HTTP.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use syncline_relay::config::ServeConfig;
use syncline_relay::server::{self, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "test-secret-0123456789abcdef";
const PAGE: &str = "http://127.0.0.1:45678";
const OTHER: &str = "http://127.0.0.1:45679";

/// One HTTP/1.1 request; returns (status, lower-cased head, body).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("answer in time")
        .expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn allow_origin(head: &str) -> Option<&str> {
    head.lines()
        .find_map(|l| l.strip_prefix("access-control-allow-origin:"))
        .map(str::trim)
}

async fn relay() -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().join("r.sqlite"),
    );
    config.control = true;
    config.control_secret = Some(SECRET.to_owned());
    config.control_origin = Some(PAGE.to_owned());
    (server::start(config).await.expect("relay starts"), dir)
}

#[tokio::test]
async fn control_needs_the_secret() {
    let (relay, _dir) = relay().await;
    let addr = relay.addr;
    let token = r#"{"token":"attacker"}"#;
    // The old attack: a text/plain POST (no preflight) from another page.
    let plain = [
        ("content-type", "text/plain;charset=UTF-8"),
        ("origin", OTHER),
    ];
    let (status, _, _) = request(addr, "POST", "/control/token", &plain, token).await;
    assert_eq!(status, 403);
    let (status, _, _) = request(
        addr,
        "POST",
        "/control/token",
        &[("content-type", "text/plain")],
        token,
    )
    .await;
    assert_eq!(status, 403, "no secret, no origin");
    let wrong = [("x-syncline-secret", "test-secret-0123456789abcdeX")];
    let (status, _, _) = request(addr, "POST", "/control/token", &wrong, token).await;
    assert_eq!(status, 403, "wrong secret");
    let (status, _, _) = request(addr, "GET", "/control/stats", &[], "").await;
    assert_eq!(status, 403, "reads need it too");
    // The secret, but named by a page of another origin.
    let (status, _, _) = request(
        addr,
        "POST",
        "/control/token",
        &[("x-syncline-secret", SECRET), ("origin", OTHER)],
        token,
    )
    .await;
    assert_eq!(status, 403, "another origin with the secret");
    assert_eq!(relay.hub.token(), None, "the token is unchanged");

    let (status, head, body) = request(
        addr,
        "POST",
        "/control/token",
        &[("x-syncline-secret", SECRET)],
        token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        allow_origin(&head),
        None,
        "no CORS for a request without Origin"
    );
    assert_eq!(relay.hub.token().as_deref(), Some("attacker"));
    // The allowed page, with the secret: answered, CORS for it alone.
    let (status, head, _) = request(
        addr,
        "GET",
        "/control/stats",
        &[("x-syncline-secret", SECRET), ("origin", PAGE)],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(allow_origin(&head), Some(PAGE));
    // The WebSocket endpoint is not behind the lock.
    let (status, _, _) = request(addr, "GET", "/ws", &[], "").await;
    assert_ne!(status, 403);
    relay.shutdown().await;
}

#[tokio::test]
async fn preflight_answers_only_the_allowed_origin() {
    let (relay, _dir) = relay().await;
    let ask = |origin| {
        [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "x-syncline-secret"),
        ]
    };
    let (status, head, _) = request(relay.addr, "OPTIONS", "/control/token", &ask(OTHER), "").await;
    assert_eq!(status, 403);
    assert_eq!(allow_origin(&head), None);
    let (status, head, _) = request(relay.addr, "OPTIONS", "/control/token", &ask(PAGE), "").await;
    assert_eq!(status, 204);
    assert_eq!(allow_origin(&head), Some(PAGE));
    assert!(
        head.contains("access-control-allow-headers: x-syncline-secret"),
        "{head}"
    );
    assert!(!head.contains('*'), "never a wildcard: {head}");
    relay.shutdown().await;
}

#[tokio::test]
async fn control_without_a_secret_does_not_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    for secret in [None, Some("short")] {
        let mut config = ServeConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            dir.path().join("r.sqlite"),
        );
        config.control = true;
        config.control_secret = secret.map(str::to_owned);
        assert!(server::start(config).await.is_err(), "{secret:?}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test]
async fn supervisor_needs_the_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, control_port) = (free_port(), free_port());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_syncline-relay"))
        .args([
            "supervise",
            "--control-port",
            &control_port.to_string(),
            "--port",
            &port.to_string(),
            "--control",
        ])
        .arg("--db")
        .arg(dir.path().join("r.sqlite"))
        .env("SYNCLINE_CONTROL_SECRET", SECRET)
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("supervisor starts");
    let sup = SocketAddr::from(([127, 0, 0, 1], control_port));
    let relay = SocketAddr::from(([127, 0, 0, 1], port));
    let with = [("x-syncline-secret", SECRET)];
    let mut up = false;
    for _ in 0..200 {
        if TcpStream::connect(sup).await.is_ok() && TcpStream::connect(relay).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "supervisor and relay listening");
    let plain = [("content-type", "text/plain"), ("origin", OTHER)];
    let (status, head, _) = request(sup, "POST", "/kill", &plain, "").await;
    assert_eq!(status, 403);
    assert_eq!(allow_origin(&head), None);
    let (status, _, _) = request(sup, "GET", "/status", &[], "").await;
    assert_eq!(status, 403);
    let (_, _, body) = request(sup, "GET", "/status", &with, "").await;
    assert!(body.contains(r#""running":true"#), "still running: {body}");
    // The child got the secret: its /control/* answers with it and refuses without.
    assert_eq!(
        request(relay, "GET", "/control/stats", &[], "").await.0,
        403
    );
    assert_eq!(
        request(relay, "GET", "/control/stats", &with, "").await.0,
        200
    );
    let (status, _, body) = request(sup, "POST", "/kill", &with, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""running":false"#), "{body}");
    let _ = child.kill().await;
}
