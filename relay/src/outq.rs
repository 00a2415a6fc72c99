//! A connection's outbound queue, bounded in bytes, and the task that writes it to the socket.
//!
//! Everything sent to a client goes through its queue: replies, live events, replayed pages.
//! Live events never wait: a subscriber whose queue would pass the bound is a slow consumer,
//! its queue is emptied and replaced by an `error` (`slow_consumer`) and a close (4008), so
//! publishers stay fast and memory stays bounded. Replays wait for room instead (they fill
//! at most half the queue, leaving the rest to live traffic).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::Notify;

use crate::hub::Stats;
use crate::wire::{self, WireError};

/// Close code sent to a subscriber that fell too far behind.
pub const SLOW_CONSUMER_CLOSE: u16 = 4008;

/// What a connection's writer sends.
#[derive(Debug, Clone)]
pub enum Out {
    /// A message; queued messages may share one array frame.
    Msg(Arc<str>),
    /// A frame sent exactly as given, alone (tests forge garbage with it).
    Raw(String),
    /// A binary frame sent exactly as given.
    RawBinary(Vec<u8>),
    /// A close frame with code and reason, then the end of the connection.
    Close(u16, &'static str),
}

impl Out {
    /// A message from text.
    pub fn msg(text: String) -> Self {
        Self::Msg(Arc::from(text))
    }

    fn bytes(&self) -> usize {
        match self {
            Self::Msg(m) => m.len(),
            Self::Raw(m) => m.len(),
            Self::RawBinary(b) => b.len(),
            Self::Close(_, reason) => reason.len() + 2,
        }
    }
}

#[derive(Default)]
struct State {
    items: VecDeque<Out>,
    bytes: usize,
    /// A close is queued: nothing more is accepted.
    closing: bool,
    /// The connection is over: the writer stops once the queue is empty.
    done: bool,
}

/// One connection's outbound queue.
pub struct Outq {
    state: Mutex<State>,
    /// Wakes the writer (something queued, or done).
    ready: Notify,
    /// Wakes replays waiting for room, and the connection when a close is queued.
    room: Notify,
    closing: Notify,
    limit: usize,
    /// Most bytes of one frame to this client: min(its `max`, the relay's cap).
    frame_limit: AtomicUsize,
    max_batch: usize,
    stats: Arc<Stats>,
}

impl Outq {
    /// A queue of at most `limit` bytes.
    pub fn new(limit: usize, frame_limit: usize, max_batch: usize, stats: Arc<Stats>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            room: Notify::new(),
            closing: Notify::new(),
            limit: limit.max(1),
            frame_limit: AtomicUsize::new(frame_limit),
            max_batch: max_batch.max(1),
            stats,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the frame limit the client asked for (never above the relay's own).
    pub fn limit_frames(&self, max: usize) {
        let current = self.frame_limit.load(Ordering::Relaxed);
        self.frame_limit
            .store(max.clamp(1, current), Ordering::Relaxed);
    }

    /// Queued bytes now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// True once a close is queued (or the connection is over).
    pub fn is_closing(&self) -> bool {
        let s = self.lock();
        s.closing || s.done
    }

    /// Queues without waiting; past the bound the client is a slow consumer and is closed.
    /// False when nothing was queued.
    pub fn push(&self, out: Out) -> bool {
        let mut s = self.lock();
        if s.closing || s.done {
            return false;
        }
        let n = out.bytes();
        if s.bytes + n > self.limit {
            self.overflow(&mut s);
            return false;
        }
        s.bytes += n;
        s.items.push_back(out);
        drop(s);
        self.ready.notify_one();
        true
    }

    /// Queues whatever the bound (test floods of `/control/raw`).
    pub fn push_unbounded(&self, out: Out) {
        let mut s = self.lock();
        if s.closing || s.done {
            return;
        }
        s.bytes += out.bytes();
        s.items.push_back(out);
        drop(s);
        self.ready.notify_one();
    }

    /// Queues several at once, or none (slow consumer) when they do not fit.
    pub fn push_all(&self, outs: Vec<Out>) -> bool {
        let mut s = self.lock();
        if s.closing || s.done {
            return false;
        }
        let n: usize = outs.iter().map(Out::bytes).sum();
        if s.bytes + n > self.limit {
            self.overflow(&mut s);
            return false;
        }
        s.bytes += n;
        s.items.extend(outs);
        drop(s);
        self.ready.notify_one();
        true
    }

    fn overflow(&self, s: &mut State) {
        self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
        s.items.clear();
        let error = wire::error(&WireError {
            code: "slow_consumer",
            message: format!(
                "more than {} bytes waited for this connection; resubscribe with since",
                self.limit
            ),
        });
        s.bytes = error.len();
        s.items.push_back(Out::msg(error));
        s.items
            .push_back(Out::Close(SLOW_CONSUMER_CLOSE, "slow_consumer"));
        s.closing = true;
        self.ready.notify_one();
        self.closing.notify_waiters();
        self.room.notify_waiters();
    }

    /// Queues once the queue is under half its bound (replays: they never make a client a
    /// slow consumer, they wait for it). False when the connection is closing.
    pub async fn push_when_room(&self, out: Out) -> bool {
        loop {
            let room = self.room.notified();
            {
                let mut s = self.lock();
                if s.closing || s.done {
                    return false;
                }
                if s.bytes == 0 || s.bytes + out.bytes() <= self.limit / 2 {
                    s.bytes += out.bytes();
                    s.items.push_back(out);
                    drop(s);
                    self.ready.notify_one();
                    return true;
                }
            }
            room.await;
        }
    }

    /// Queues a close: what is queued goes first, then the close frame.
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut s = self.lock();
        if s.closing || s.done {
            return;
        }
        s.items.push_back(Out::Close(code, reason));
        s.closing = true;
        drop(s);
        self.ready.notify_one();
        self.closing.notify_waiters();
        self.room.notify_waiters();
    }

    /// Resolves once a close is queued.
    pub async fn closed(&self) {
        loop {
            let notified = self.closing.notified();
            if self.is_closing() {
                return;
            }
            notified.await;
        }
    }

    /// Ends the connection: the writer sends what is queued, then stops.
    pub fn finish(&self) {
        let mut s = self.lock();
        s.done = true;
        drop(s);
        self.ready.notify_one();
        self.room.notify_waiters();
    }

    /// The next frame to send: one item, or queued messages packed into one array frame of
    /// at most `max_batch` messages and the frame limit. None when the queue is over.
    async fn next_frame(&self) -> Option<Out> {
        loop {
            let ready = self.ready.notified();
            {
                let mut s = self.lock();
                if let Some(first) = s.items.pop_front() {
                    let mut taken = first.bytes();
                    let frame = match first {
                        Out::Msg(first) => {
                            let limit = self.frame_limit.load(Ordering::Relaxed);
                            let mut size = first.len() + 2;
                            let mut batch = vec![first];
                            while batch.len() < self.max_batch {
                                let Some(Out::Msg(m)) = s.items.front() else {
                                    break;
                                };
                                if size + m.len() + 1 > limit {
                                    break;
                                }
                                size += m.len() + 1;
                                taken += m.len();
                                if let Some(Out::Msg(m)) = s.items.pop_front() {
                                    batch.push(m);
                                }
                            }
                            if batch.len() == 1 {
                                Out::Msg(batch.swap_remove(0))
                            } else {
                                let mut text = String::with_capacity(size);
                                text.push('[');
                                for (n, m) in batch.iter().enumerate() {
                                    if n > 0 {
                                        text.push(',');
                                    }
                                    text.push_str(m);
                                }
                                text.push(']');
                                Out::Raw(text)
                            }
                        }
                        other => other,
                    };
                    s.bytes = s.bytes.saturating_sub(taken);
                    drop(s);
                    self.room.notify_waiters();
                    return Some(frame);
                }
                if s.done {
                    return None;
                }
            }
            ready.await;
        }
    }
}

/// Writes the queue to the socket until a close is sent, the queue ends or the peer goes.
pub async fn write_loop(mut sink: SplitSink<WebSocket, Message>, queue: Arc<Outq>) {
    while let Some(out) = queue.next_frame().await {
        let message = match out {
            Out::Msg(text) => Message::Text(Utf8Bytes::from(text.as_ref())),
            Out::Raw(text) => Message::Text(text.into()),
            Out::RawBinary(bytes) => Message::Binary(bytes.into()),
            Out::Close(code, reason) => {
                let close = CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(reason),
                };
                let _ = sink.send(Message::Close(Some(close))).await;
                break;
            }
        };
        if sink.send(message).await.is_err() {
            break;
        }
    }
    queue.finish();
}
