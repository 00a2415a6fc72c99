//! One WebSocket connection: hello, then messages until either side goes.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::hub::{ConnId, Hub, Out, PublishOutcome, Tx, unix_ms};
use crate::wire::{self, Incoming, WireError};

/// Longest `sleep` request honoured.
const MAX_SLEEP_MS: u64 = 60_000;

struct Conn {
    id: ConnId,
    tx: Tx,
    hub: Arc<Hub>,
    welcomed: bool,
    channels: HashSet<String>,
}

/// Serves one accepted WebSocket until it closes (or is dropped abruptly by a fault).
pub async fn serve(socket: WebSocket, hub: Arc<Hub>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (id, mut kick) = hub.connect(tx.clone());
    let (sink, mut stream) = socket.split();
    let writer = tokio::spawn(write_loop(sink, rx, hub.max_batch, hub.max_frame_bytes));
    let mut conn = Conn {
        id,
        tx,
        hub: hub.clone(),
        welcomed: false,
        channels: HashSet::new(),
    };
    let mut frames: u64 = 0;
    let mut abrupt = false;
    loop {
        let message = tokio::select! {
            m = stream.next() => m,
            _ = kick.recv() => { abrupt = true; break; }
        };
        match message {
            Some(Ok(Message::Text(text))) => {
                frames += 1;
                hub.stats.frames_in.fetch_add(1, Ordering::Relaxed);
                if !conn.handle_frame(text.as_str()) {
                    break;
                }
            }
            Some(Ok(Message::Binary(bytes))) => {
                frames += 1;
                conn.reply_error(&WireError {
                    code: "binary_unsupported",
                    message: format!("binary frame of {} bytes ignored", bytes.len()),
                });
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => {}
        }
        let limit = hub.faults().close_after_frames;
        if limit > 0 && frames >= limit {
            abrupt = true;
            break;
        }
    }
    hub.disconnect(id);
    if abrupt {
        // Drop the TCP connection with no close frame, as a crashed server would.
        writer.abort();
    } else {
        drop(conn);
        let _ = writer.await;
    }
}

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    max_batch: usize,
    max_frame_bytes: usize,
) {
    let mut carried: Option<Out> = None;
    loop {
        let next = match carried.take() {
            Some(out) => out,
            None => match rx.recv().await {
                Some(out) => out,
                None => break,
            },
        };
        let frame = match next {
            Out::Raw(text) => text,
            Out::RawBinary(bytes) => {
                if sink.send(Message::Binary(bytes.into())).await.is_err() {
                    break;
                }
                continue;
            }
            Out::Close(code, reason) => {
                let close = CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(reason),
                };
                let _ = sink.send(Message::Close(Some(close))).await;
                break;
            }
            Out::Msg(first) => {
                // Pack what is already queued into one array frame: fewer frames, same order,
                // and no frame over `max_frame_bytes` (a message that would pass it starts the
                // next frame; one message alone goes as it is).
                let mut bytes = first.len() + 2;
                let mut batch = vec![first];
                while batch.len() < max_batch {
                    match rx.try_recv() {
                        Ok(Out::Msg(m)) if bytes + m.len() + 1 > max_frame_bytes => {
                            carried = Some(Out::Msg(m));
                            break;
                        }
                        Ok(Out::Msg(m)) => {
                            bytes += m.len() + 1;
                            batch.push(m);
                        }
                        Ok(other) => {
                            carried = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if batch.len() == 1 {
                    batch.pop().unwrap_or_default()
                } else {
                    format!("[{}]", batch.join(","))
                }
            }
        };
        if sink.send(Message::Text(frame.into())).await.is_err() {
            break;
        }
    }
}

impl Conn {
    fn send(&self, text: String) {
        let _ = self.tx.send(Out::Msg(text));
    }

    fn reply_error(&self, error: &WireError) {
        self.send(wire::error(error));
    }

    /// Handles a frame; false when the connection must end.
    fn handle_frame(&mut self, text: &str) -> bool {
        let messages = match wire::decode_frame(text) {
            Ok(messages) => messages,
            Err(e) => {
                self.reply_error(&e);
                return true;
            }
        };
        for message in messages {
            match message {
                Ok(message) => {
                    if !self.handle(message) {
                        return false;
                    }
                }
                Err(e) => self.reply_error(&e),
            }
        }
        true
    }

    fn handle(&mut self, message: Incoming) -> bool {
        if let Incoming::Hello { token } = message {
            return self.hello(token);
        }
        if !self.welcomed {
            self.reply_error(&WireError {
                code: "hello_required",
                message: "send hello first".to_owned(),
            });
            return true;
        }
        match message {
            Incoming::Hello { .. } => {}
            Incoming::Subscribe { channel, since } => {
                if let Err(e) = self.hub.subscribe(self.id, &self.tx, &channel, since) {
                    self.storage_error(&e);
                } else {
                    self.channels.insert(channel);
                }
            }
            Incoming::Unsubscribe { channel } => {
                self.hub.unsubscribe(self.id, &channel);
                self.channels.remove(&channel);
            }
            Incoming::Publish {
                id,
                channel,
                event,
                data,
            } => self.publish(id, &channel, &event, &data),
            Incoming::Request { id, event, data } => self.request(id, &event, data),
            Incoming::Ping { ts } => {
                if !self.hub.faults().ignore_pings {
                    self.send(wire::pong(ts));
                }
            }
            Incoming::Pong => {}
        }
        true
    }

    fn hello(&mut self, token: Option<String>) -> bool {
        if let Some(required) = self.hub.token() {
            if token.as_deref() != Some(required.as_str()) {
                self.hub.stats.denied.fetch_add(1, Ordering::Relaxed);
                self.send(wire::denied(if token.is_none() {
                    "token required"
                } else {
                    "invalid token"
                }));
                let _ = self.tx.send(Out::Close(4401, "unauthorized"));
                return false;
            }
        }
        self.welcomed = true;
        self.send(wire::welcome(&self.hub.session_id(self.id)));
        true
    }

    fn publish(&self, id: String, channel: &str, event: &str, data: &str) {
        let reply = match self.hub.publish(&id, channel, event, data) {
            Ok(PublishOutcome::Ack(seq)) => wire::ack(&id, seq),
            Ok(PublishOutcome::AckDropped) => return,
            Ok(PublishOutcome::Nack { reason, retryable }) => wire::nack(&id, &reason, retryable),
            Err(e) => wire::nack(&id, &format!("storage error: {e}"), true),
        };
        let delay = self.hub.faults().ack_delay_ms;
        if delay == 0 {
            self.send(reply);
        } else {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let _ = tx.send(Out::Msg(reply));
            });
        }
    }

    fn request(&self, id: String, event: &str, data: Value) {
        if self.hub.faults().ignore_requests {
            return;
        }
        let reply = match event {
            "echo" => wire::response_ok(&id, &data),
            "time" => wire::response_ok(&id, &json!({ "now": unix_ms() })),
            "stats" => wire::response_ok(&id, &json!(self.hub.stats_view())),
            "sleep" => {
                let ms = data
                    .get("ms")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(MAX_SLEEP_MS);
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    let _ = tx.send(Out::Msg(wire::response_ok(&id, &data)));
                });
                return;
            }
            other => wire::response_err(
                &id,
                "unknown_request",
                &format!("no request handler for {other:?}"),
            ),
        };
        self.send(reply);
    }

    fn storage_error(&self, e: &rusqlite::Error) {
        self.reply_error(&WireError {
            code: "storage",
            message: e.to_string(),
        });
    }
}
