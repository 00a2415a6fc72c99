//! Helpers shared by the relay's integration tests: a relay on a free port of 127.0.0.1 and
//! real WebSocket clients.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use syncline_relay::config::ServeConfig;
use syncline_relay::server::{self, Running};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async, connect_async};

pub type Ws<S> = WebSocketStream<S>;

pub async fn relay(db: &Path, tweak: impl FnOnce(&mut ServeConfig)) -> Running {
    let mut config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), db.to_path_buf());
    tweak(&mut config);
    server::start(config).await.expect("relay starts")
}

/// What ended a connection, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Closed(Option<(u16, String)>),
    Quiet,
}

pub struct Client<S = MaybeTlsStream<TcpStream>> {
    pub ws: Ws<S>,
    /// Messages received but not yet taken (frames may carry several).
    pub inbox: Vec<Value>,
    /// Sizes of the text frames received.
    pub frame_sizes: Vec<usize>,
    pub end: Option<End>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let (ws, _) = connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("connect");
        Self::wrap(ws)
    }

    /// Connects with an `Origin` header; the HTTP status when refused.
    pub async fn connect_from(addr: SocketAddr, origin: &str) -> Result<Self, u16> {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        match connect_async(request).await {
            Ok((ws, _)) => Ok(Self::wrap(ws)),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("connect: {e}"),
        }
    }

    pub async fn hello(addr: SocketAddr, token: Option<&str>) -> Self {
        let mut c = Self::connect(addr).await;
        c.send(json!({"t": "hello", "v": 1, "client": "test", "token": token}))
            .await;
        let welcome = c.next().await.expect("welcome");
        assert_eq!(welcome["t"], "welcome", "{welcome}");
        c
    }
}

impl Client<TcpStream> {
    /// A client whose socket takes little in (a receive buffer of `rcvbuf` bytes): a
    /// subscriber that does not read falls behind at once instead of after megabytes.
    pub async fn small_buffer(addr: SocketAddr, rcvbuf: u32) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(rcvbuf).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let (ws, _) = client_async(format!("ws://{addr}/ws"), stream)
            .await
            .expect("handshake");
        let mut c = Self::wrap(ws);
        c.send(json!({"t": "hello", "v": 1, "client": "slow"}))
            .await;
        assert_eq!(c.next().await.expect("welcome")["t"], "welcome");
        c
    }
}

impl<S> Client<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    pub fn wrap(ws: Ws<S>) -> Self {
        Self {
            ws,
            inbox: Vec::new(),
            frame_sizes: Vec::new(),
            end: None,
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    /// The next message, or None when the socket ends or stays quiet for `quiet`.
    pub async fn next_within(&mut self, quiet: Duration) -> Option<Value> {
        while self.inbox.is_empty() {
            if self.end.is_some() {
                return None;
            }
            let frame = match tokio::time::timeout(quiet, self.ws.next()).await {
                Err(_) => {
                    return None;
                }
                Ok(None) | Ok(Some(Err(_))) => {
                    self.end = Some(End::Closed(None));
                    return None;
                }
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Message::Text(t) => {
                    self.frame_sizes.push(t.len());
                    match serde_json::from_str::<Value>(t.as_str()).expect("JSON") {
                        Value::Array(items) => self.inbox.extend(items),
                        one => self.inbox.push(one),
                    }
                }
                Message::Close(frame) => {
                    let close = frame.map(|CloseFrame { code, reason }| {
                        (u16::from(code), reason.as_str().to_owned())
                    });
                    self.end = Some(End::Closed(close));
                    return None;
                }
                _ => {}
            }
        }
        Some(self.inbox.remove(0))
    }

    /// The next message, or None when the socket ends or stays quiet for 2 s.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(Duration::from_secs(2)).await
    }

    /// The next message of type `t`, skipping others.
    pub async fn next_of(&mut self, t: &str) -> Value {
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

    pub async fn publish(&mut self, id: &str, ch: &str, data: Value) {
        self.send(json!({"t": "pub", "id": id, "ch": ch, "ev": "e", "data": data}))
            .await;
    }
}
