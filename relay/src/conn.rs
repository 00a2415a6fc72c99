//! One WebSocket connection: hello, then messages until either side goes.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use serde_json::{Value, json};
use tokio::task::AbortHandle;

use crate::auth::Action;
use crate::db::Item;
use crate::hub::{ConnId, Finish, Hub, PublishOutcome, unix_ms};
use crate::outq::{self, Out, Outq};
use crate::store::Stored;
use crate::wire::{self, Incoming, Limits, WireError};

/// Longest `sleep` request honoured.
const MAX_SLEEP_MS: u64 = 60_000;
/// Publishes of one connection waiting for their commit before it reads no more frames.
const MAX_IN_FLIGHT: usize = 1_024;
/// How long a closing connection's last frames may take to leave.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Envelope bytes counted on top of a publish's data and names.
const ENVELOPE: usize = 64;

type Answer = Pin<Box<dyn Future<Output = (String, Result<Vec<Stored>, String>)> + Send>>;

/// Publishes per second, as a bucket of one second's worth.
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        Self {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Conn {
    id: ConnId,
    out: Arc<Outq>,
    hub: Arc<Hub>,
    welcomed: bool,
    /// What the client sent as `token` in `hello` (for channel authorization).
    token: Option<String>,
    channels: HashSet<String>,
    replays: HashMap<String, AbortHandle>,
    bucket: Bucket,
    pending: FuturesOrdered<Answer>,
    /// Per channel, a publish refused for now and when: later publishes of the channel are
    /// refused too until it comes again, so that a retry is never overtaken (PROTOCOL.md).
    held: HashMap<String, (String, Instant)>,
}

/// How long a refused publish holds its channel back when the client does not send it again
/// (it gave it up): after that the channel takes publishes again.
const HOLD_MAX: Duration = Duration::from_secs(60);

/// Serves one accepted WebSocket until it closes (or is dropped abruptly by a fault).
pub async fn serve(socket: WebSocket, hub: Arc<Hub>) {
    let out = hub.queue();
    let (id, mut kick) = hub.connect(out.clone());
    let (sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(outq::write_loop(sink, out.clone()));
    let mut conn = Conn {
        id,
        out: out.clone(),
        hub: hub.clone(),
        welcomed: false,
        token: None,
        channels: HashSet::new(),
        replays: HashMap::new(),
        bucket: Bucket::new(hub.publish_rate),
        pending: FuturesOrdered::new(),
        held: HashMap::new(),
    };
    let mut frames: u64 = 0;
    let mut abrupt = false;
    loop {
        tokio::select! {
            message = stream.next(), if conn.pending.len() < MAX_IN_FLIGHT => match message {
                Some(Ok(Message::Text(text))) => {
                    frames += 1;
                    hub.stats.frames_in.fetch_add(1, Ordering::Relaxed);
                    if !conn.handle_frame(text.as_str()).await {
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
            },
            Some((publish, result)) = conn.pending.next(), if !conn.pending.is_empty() => {
                conn.answer(publish, result);
            }
            _ = kick.recv() => { abrupt = true; break; }
            () = out.closed() => break,
        }
        let limit = hub.faults().close_after_frames;
        if limit > 0 && frames >= limit {
            abrupt = true;
            break;
        }
    }
    for (_, replay) in conn.replays.drain() {
        replay.abort();
    }
    hub.disconnect(id);
    if abrupt {
        // Drop the TCP connection with no close frame, as a crashed server would.
        writer.abort();
    } else {
        out.finish();
        if tokio::time::timeout(CLOSE_GRACE, &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
    }
}

impl Conn {
    fn send(&self, text: String) {
        self.out.push(Out::msg(text));
    }

    fn reply_error(&self, error: &WireError) {
        self.send(wire::error(error));
    }

    /// Handles a frame; false when the connection must end.
    async fn handle_frame(&mut self, text: &str) -> bool {
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
                    if !self.handle(message).await {
                        return false;
                    }
                }
                Err(e) => self.reply_error(&e),
            }
        }
        true
    }

    async fn handle(&mut self, message: Incoming) -> bool {
        if let Incoming::Hello { token, max } = message {
            return self.hello(token, max);
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
            Incoming::Subscribe { channel, since } => self.subscribe(channel, since),
            Incoming::Unsubscribe { channel } => {
                if let Some(replay) = self.replays.remove(&channel) {
                    replay.abort();
                }
                self.hub.unsubscribe(self.id, &channel);
                self.channels.remove(&channel);
            }
            Incoming::Publish {
                id,
                channel,
                event,
                data,
            } => self.publish(id, channel, event, data).await,
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

    fn hello(&mut self, token: Option<String>, max: Option<u64>) -> bool {
        if !self.hub.token_accepts(token.as_deref()) {
            self.hub.stats.denied.fetch_add(1, Ordering::Relaxed);
            self.send(wire::denied(if token.is_none() {
                "token required"
            } else {
                "invalid token"
            }));
            self.out.close(4401, "unauthorized");
            return false;
        }
        if let Some(max) = max {
            self.out
                .limit_frames(usize::try_from(max).unwrap_or(usize::MAX));
        }
        self.token = token;
        self.welcomed = true;
        let limits = Limits {
            frame: self.hub.max_frame_bytes,
            message: self.hub.max_message_bytes,
            channels: self.hub.max_channels,
        };
        self.send(wire::welcome(&self.hub.session_id(self.id), limits));
        true
    }

    fn refuse_channel(&self, code: &'static str, message: String, channel: &str) {
        self.send(wire::channel_error(&WireError { code, message }, channel));
    }

    fn subscribe(&mut self, channel: String, since: Option<u64>) {
        if !self.channels.contains(&channel) && self.channels.len() >= self.hub.max_channels {
            let message = format!("at most {} channels per connection", self.hub.max_channels);
            return self.refuse_channel("too_many_channels", message, &channel);
        }
        if !self
            .hub
            .authorized(self.token.as_deref(), &channel, Action::Subscribe)
        {
            let message = "not allowed to subscribe to this channel".to_owned();
            return self.refuse_channel("forbidden", message, &channel);
        }
        // A new `sub` replaces a replay still running for the channel.
        if let Some(replay) = self.replays.remove(&channel) {
            replay.abort();
        }
        match since {
            None => self.hub.subscribe_live(self.id, &self.out, &channel),
            Some(since) => {
                let (generation, head) = self.hub.begin_replay(self.id, &self.out, &channel, since);
                let done = since >= head
                    && self.hub.finish_replay(self.id, &channel, generation) == Finish::Live;
                if !done {
                    let task = tokio::spawn(crate::replay::replay(
                        self.hub.clone(),
                        self.id,
                        self.out.clone(),
                        channel.clone(),
                        since,
                        generation,
                        head,
                    ));
                    self.replays.insert(channel.clone(), task.abort_handle());
                }
            }
        }
        self.replays.retain(|_, task| !task.is_finished());
        self.channels.insert(channel);
    }

    async fn publish(&mut self, id: String, channel: String, event: String, data: String) {
        if let Some((first, since)) = self.held.get(&channel) {
            if *first == id || since.elapsed() > HOLD_MAX {
                self.held.remove(&channel);
            } else {
                self.hub.stats.nacks.fetch_add(1, Ordering::Relaxed);
                let message = format!("publish {first} of this channel was refused: send it first");
                return self.send(wire::nack_code(&id, "out_of_order", &message, true));
            }
        }
        let size = data.len() + id.len() + channel.len() + event.len() + ENVELOPE;
        let refusal = if size > self.hub.max_message_bytes {
            let limit = self.hub.max_message_bytes;
            Some((
                "too_large",
                format!("{size} bytes, over the limit of {limit}"),
                false,
            ))
        } else if !self
            .hub
            .authorized(self.token.as_deref(), &channel, Action::Publish)
        {
            Some((
                "forbidden",
                "not allowed to publish on this channel".to_owned(),
                false,
            ))
        } else if !self.bucket.take() {
            let rate = self.hub.publish_rate;
            Some((
                "rate_limited",
                format!("over {rate} publishes per second"),
                true,
            ))
        } else {
            None
        };
        if let Some((code, message, retryable)) = refusal {
            self.hub.stats.nacks.fetch_add(1, Ordering::Relaxed);
            self.hold(&channel, &id, retryable);
            return self.send(wire::nack_code(&id, code, &message, retryable));
        }
        if let Some(PublishOutcome::Nack { reason, retryable }) = self.hub.fault_nack(&channel) {
            self.hold(&channel, &id, retryable);
            return self.send(wire::nack(&id, &reason, retryable));
        }
        let item = Item {
            id: id.clone(),
            channel,
            event,
            data,
        };
        match self.hub.submit(vec![item]).await {
            Ok(answer) => self.pending.push_back(Box::pin(async move {
                let stored = answer
                    .await
                    .unwrap_or_else(|_| Err("storage stopped".to_owned()));
                (id, stored)
            })),
            Err(e) => self.send(wire::nack(&id, &format!("storage error: {e}"), true)),
        }
    }

    /// A publish refused for now holds its channel back until it comes again.
    fn hold(&mut self, channel: &str, id: &str, retryable: bool) {
        if retryable {
            self.held
                .entry(channel.to_owned())
                .or_insert_with(|| (id.to_owned(), Instant::now()));
        }
    }

    /// Answers a publisher once its publish is committed (or failed).
    fn answer(&self, id: String, result: Result<Vec<Stored>, String>) {
        let reply = match result.map(|stored| stored.first().copied()) {
            Ok(Some(stored)) => match self.hub.outcome(stored) {
                PublishOutcome::Ack(seq) => wire::ack(&id, seq),
                PublishOutcome::AckDropped => return,
                PublishOutcome::Nack { reason, retryable } => wire::nack(&id, &reason, retryable),
            },
            Ok(None) => wire::nack(&id, "storage error: nothing stored", true),
            Err(e) => wire::nack(&id, &e, true),
        };
        let delay = self.hub.faults().ack_delay_ms;
        if delay == 0 {
            self.send(reply);
        } else {
            let out = self.out.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                out.push(Out::msg(reply));
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
                let out = self.out.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    out.push(Out::msg(wire::response_ok(&id, &data)));
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
}
