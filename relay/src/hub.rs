//! What all connections share: the store, who subscribes to what, faults, token and counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::config::{Faults, ServeConfig};
use crate::store::{Store, Stored};
use crate::wire;

/// Identifies one WebSocket connection.
pub type ConnId = u64;

/// What a connection's writer sends.
#[derive(Debug)]
pub enum Out {
    /// A message; queued messages may share one array frame.
    Msg(String),
    /// A frame sent exactly as given, alone (tests forge garbage with it).
    Raw(String),
    /// A binary frame sent exactly as given.
    RawBinary(Vec<u8>),
    /// A close frame with code and reason, then the end of the connection.
    Close(u16, &'static str),
}

/// Sends to one connection's writer.
pub type Tx = mpsc::UnboundedSender<Out>;

/// Counters exposed at `/control/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub denied: AtomicU64,
    pub frames_in: AtomicU64,
    pub published: AtomicU64,
    pub duplicates: AtomicU64,
    pub acks_dropped: AtomicU64,
    pub nacks: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    pub connections: u64,
    pub accepted: u64,
    pub refused: u64,
    pub denied: u64,
    pub frames_in: u64,
    pub published: u64,
    pub duplicates: u64,
    pub acks_dropped: u64,
    pub nacks: u64,
    pub subscriptions: usize,
}

struct Inner {
    store: Store,
    channels: HashMap<String, HashMap<ConnId, Tx>>,
    connections: HashMap<ConnId, Tx>,
}

/// The relay's shared state.
pub struct Hub {
    inner: Mutex<Inner>,
    faults: RwLock<Faults>,
    token: RwLock<Option<String>>,
    /// Counters.
    pub stats: Stats,
    kick: broadcast::Sender<()>,
    next_conn: AtomicU64,
    ack_count: AtomicU64,
    history_limit: usize,
    /// Distinguishes this process's sessions from those of earlier runs.
    boot: u64,
    /// Most messages per frame to a subscriber.
    pub max_batch: usize,
    /// Most bytes of a frame of several messages.
    pub max_frame_bytes: usize,
}

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The outcome of a publish, for the publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored (now or before) as this sequence: ack.
    Ack(u64),
    /// Stored, but the fault mode withholds the ack.
    AckDropped,
    /// Refused: nack.
    Nack { reason: String, retryable: bool },
}

impl Hub {
    /// Opens the store and sets up shared state.
    pub fn new(config: &ServeConfig) -> rusqlite::Result<Self> {
        let (kick, _) = broadcast::channel(4);
        Ok(Self {
            inner: Mutex::new(Inner {
                store: Store::open(&config.db)?,
                channels: HashMap::new(),
                connections: HashMap::new(),
            }),
            faults: RwLock::new(config.faults.clone()),
            token: RwLock::new(config.token.clone()),
            stats: Stats::default(),
            kick,
            next_conn: AtomicU64::new(0),
            ack_count: AtomicU64::new(0),
            history_limit: config.history_limit,
            boot: unix_ms(),
            max_batch: config.max_batch,
            max_frame_bytes: config.max_frame_bytes,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another connection's task panicked mid-update; the
        // maps stay usable, so carry on rather than take the whole relay down.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The active faults.
    pub fn faults(&self) -> Faults {
        self.faults.read().map(|f| f.clone()).unwrap_or_default()
    }

    /// Replaces the active faults.
    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut f) = self.faults.write() {
            *f = faults;
        }
    }

    /// The token clients must present.
    pub fn token(&self) -> Option<String> {
        self.token.read().ok().and_then(|t| t.clone())
    }

    /// Replaces the token clients must present.
    pub fn set_token(&self, token: Option<String>) {
        if let Ok(mut t) = self.token.write() {
            *t = token;
        }
    }

    /// Registers a new connection.
    pub fn connect(&self, tx: Tx) -> (ConnId, broadcast::Receiver<()>) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().connections.insert(id, tx);
        self.stats.connections.fetch_add(1, Ordering::Relaxed);
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        (id, self.kick.subscribe())
    }

    /// A session id unique across restarts of the relay.
    pub fn session_id(&self, conn: ConnId) -> String {
        format!("s{:x}-{conn}", self.boot)
    }

    /// Forgets a connection and its subscriptions.
    pub fn disconnect(&self, conn: ConnId) {
        let mut inner = self.lock();
        inner.connections.remove(&conn);
        inner.channels.retain(|_, subs| {
            subs.remove(&conn);
            !subs.is_empty()
        });
        self.stats.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Drops every connection without a close frame.
    pub fn kick_all(&self) {
        let _ = self.kick.send(());
    }

    /// Subscribes `conn`, first replaying what came after `since`; all under one lock so that
    /// no event falls between the replay and the live stream.
    pub fn subscribe(
        &self,
        conn: ConnId,
        tx: &Tx,
        channel: &str,
        since: Option<u64>,
    ) -> rusqlite::Result<()> {
        let mut inner = self.lock();
        if let Some(since) = since {
            for e in inner.store.since(channel, since, self.history_limit)? {
                let _ = tx.send(Out::Msg(wire::event(
                    &e.channel,
                    &e.event,
                    e.seq,
                    Some(&e.id),
                    &e.data,
                )));
            }
        }
        let head = inner.store.head(channel);
        inner
            .channels
            .entry(channel.to_owned())
            .or_default()
            .insert(conn, tx.clone());
        let _ = tx.send(Out::Msg(wire::subscribed(channel, head)));
        Ok(())
    }

    /// Removes one subscription.
    pub fn unsubscribe(&self, conn: ConnId, channel: &str) {
        let mut inner = self.lock();
        if let Some(subs) = inner.channels.get_mut(channel) {
            subs.remove(&conn);
            if subs.is_empty() {
                inner.channels.remove(channel);
            }
        }
    }

    /// Stores a publish (once per id) and broadcasts it to the channel the first time.
    pub fn publish(
        &self,
        id: &str,
        channel: &str,
        event: &str,
        data: &str,
    ) -> rusqlite::Result<PublishOutcome> {
        let faults = self.faults();
        let refused =
            |prefixes: &[String]| prefixes.iter().any(|p| channel.starts_with(p.as_str()));
        if refused(&faults.reject_channels) || refused(&faults.nack_retryable_channels) {
            self.stats.nacks.fetch_add(1, Ordering::Relaxed);
            let retryable = !refused(&faults.reject_channels);
            return Ok(PublishOutcome::Nack {
                reason: if retryable {
                    "channel unavailable"
                } else {
                    "channel refuses publishes"
                }
                .to_owned(),
                retryable,
            });
        }
        let seq = {
            let mut inner = self.lock();
            match inner.store.insert(id, channel, event, data, unix_ms())? {
                Stored::Duplicate(seq) => {
                    self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    seq
                }
                Stored::New(seq) => {
                    self.stats.published.fetch_add(1, Ordering::Relaxed);
                    if let Some(subs) = inner.channels.get(channel) {
                        let frame = wire::event(channel, event, seq, Some(id), data);
                        for tx in subs.values() {
                            let _ = tx.send(Out::Msg(frame.clone()));
                        }
                    }
                    seq
                }
            }
        };
        let n = self.ack_count.fetch_add(1, Ordering::Relaxed) + 1;
        if faults.drop_every_nth_ack > 0 && n % faults.drop_every_nth_ack == 0 {
            self.stats.acks_dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(PublishOutcome::AckDropped);
        }
        Ok(PublishOutcome::Ack(seq))
    }

    /// Server-side publishes of events numbered `numbers` with the same data, stored in one
    /// transaction (an app backend pushing a burst); each gets its own id `{prefix}{n}` and is
    /// fanned out to the channel's subscribers as it is stored. Returns the last sequence.
    pub fn push_many(
        &self,
        prefix: &str,
        channel: &str,
        event: &str,
        data: &str,
        numbers: std::ops::Range<u64>,
    ) -> rusqlite::Result<u64> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let (store, channels) = (&mut inner.store, &inner.channels);
        store.in_transaction(|store| {
            let mut last = 0;
            for n in numbers {
                let id = format!("{prefix}{n}");
                let seq = match store.insert(&id, channel, event, data, unix_ms())? {
                    Stored::Duplicate(seq) => {
                        self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                        seq
                    }
                    Stored::New(seq) => {
                        self.stats.published.fetch_add(1, Ordering::Relaxed);
                        if let Some(subs) = channels.get(channel) {
                            let frame = wire::event(channel, event, seq, Some(&id), data);
                            for tx in subs.values() {
                                let _ = tx.send(Out::Msg(frame.clone()));
                            }
                        }
                        seq
                    }
                };
                last = seq;
            }
            Ok(last)
        })
    }

    /// Sends raw frames (text, or binary with the text's bytes) to every connection.
    pub fn send_raw_to_all(&self, frames: &[String], binary: bool) -> usize {
        let inner = self.lock();
        for tx in inner.connections.values() {
            for frame in frames {
                let out = if binary {
                    Out::RawBinary(frame.as_bytes().to_vec())
                } else {
                    Out::Raw(frame.clone())
                };
                let _ = tx.send(out);
            }
        }
        inner.connections.len()
    }

    /// Every stored id of a channel (or of all channels).
    pub fn stored_ids(&self, channel: Option<&str>) -> rusqlite::Result<Vec<String>> {
        self.lock().store.ids(channel)
    }

    /// The counters, now.
    pub fn stats_view(&self) -> StatsView {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let subscriptions = self.lock().channels.values().map(HashMap::len).sum();
        StatsView {
            connections: load(&self.stats.connections),
            accepted: load(&self.stats.accepted),
            refused: load(&self.stats.refused),
            denied: load(&self.stats.denied),
            frames_in: load(&self.stats.frames_in),
            published: load(&self.stats.published),
            duplicates: load(&self.stats.duplicates),
            acks_dropped: load(&self.stats.acks_dropped),
            nacks: load(&self.stats.nacks),
            subscriptions,
        }
    }
}
