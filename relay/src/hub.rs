//! What all connections share: storage, who subscribes to what, faults, token and counters.
//!
//! The subscription registry is a plain mutex that never waits for SQLite: the storage thread
//! takes it after each commit to hand the new events to subscribers' queues (which never
//! block), and connections take it to (un)register.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, oneshot};

use crate::auth::{self, Action, Authorizer, ChannelRule};
use crate::config::{Faults, ServeConfig};
use crate::db::{Committed, Db, Fanout, Item};
use crate::outq::{Out, Outq};
use crate::store::Stored;
use crate::wire;

pub use crate::stats::{Stats, StatsView};

/// Identifies one WebSocket connection.
pub type ConnId = u64;

enum SubState {
    Live,
    /// Paging history: live events wait in `buffer` until the replay catches up.
    Replaying {
        generation: u64,
        /// The `since` of the subscribe, echoed in `subscribed`.
        since: u64,
        buffer: Vec<Arc<str>>,
        bytes: usize,
        /// The buffer passed its bound and was dropped: the replay reads those from storage.
        overflowed: bool,
    },
}

struct Sub {
    out: Arc<Outq>,
    state: SubState,
}

#[derive(Default)]
struct Reg {
    channels: HashMap<String, HashMap<ConnId, Sub>>,
    heads: HashMap<String, u64>,
    connections: HashMap<ConnId, Arc<Outq>>,
    generation: u64,
}

/// Subscriptions and the heads of channels as far as subscribers were sent.
pub struct Registry {
    inner: Mutex<Reg>,
    /// Most bytes of live events held back for one replaying subscription.
    buffer_limit: usize,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Reg> {
        // A poisoned lock only means a task panicked mid-update; the maps stay usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Fanout for Registry {
    fn committed(&self, events: Vec<Committed>) {
        let buffer_limit = self.buffer_limit;
        let mut reg = self.lock();
        for e in events {
            let head = reg.heads.entry(e.channel.clone()).or_insert(0);
            *head = (*head).max(e.seq);
            let Some(subs) = reg.channels.get_mut(&e.channel) else {
                continue;
            };
            for sub in subs.values_mut() {
                match &mut sub.state {
                    SubState::Live => {
                        sub.out.push(Out::Msg(e.frame.clone()));
                    }
                    SubState::Replaying {
                        buffer,
                        bytes,
                        overflowed,
                        ..
                    } => {
                        if *overflowed {
                            continue;
                        }
                        if *bytes + e.frame.len() > buffer_limit {
                            *overflowed = true;
                            buffer.clear();
                            *bytes = 0;
                        } else {
                            *bytes += e.frame.len();
                            buffer.push(e.frame.clone());
                        }
                    }
                }
            }
        }
    }
}

/// How a replay ended its last page.
#[derive(Debug, PartialEq, Eq)]
pub enum Finish {
    /// Live now (`subscribed` queued).
    Live,
    /// Live events were missed while paging: page on up to this head.
    More(u64),
    /// Another `sub` (or an `unsub`) replaced this replay.
    Replaced,
}

/// The relay's shared state.
pub struct Hub {
    registry: Arc<Registry>,
    db: Db,
    faults: RwLock<Faults>,
    token: RwLock<Option<String>>,
    /// Counters.
    pub stats: Arc<Stats>,
    kick: broadcast::Sender<()>,
    next_conn: AtomicU64,
    ack_count: AtomicU64,
    /// Distinguishes this process's sessions from those of earlier runs.
    boot: u64,
    /// Most messages per frame to a subscriber.
    pub max_batch: usize,
    /// Most bytes of a frame of several messages.
    pub max_frame_bytes: usize,
    /// Most bytes queued for one connection.
    pub max_queue_bytes: usize,
    /// Largest publish accepted.
    pub max_message_bytes: usize,
    /// Most connections.
    pub max_connections: usize,
    /// Most channels per connection.
    pub max_channels: usize,
    /// Publishes per second per connection (0: no limit).
    pub publish_rate: u32,
    /// Events per read of history.
    pub replay_page: usize,
    /// Allowed `Origin`s (empty: any).
    pub allowed_origins: Vec<String>,
    channel_rules: Vec<ChannelRule>,
    authorize: Option<Authorizer>,
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

/// A publish handed to the storage thread, in order; its answer comes later.
pub type Pending = oneshot::Receiver<Result<Vec<Stored>, String>>;

impl Hub {
    /// Opens the store and sets up shared state.
    pub fn new(config: &ServeConfig) -> rusqlite::Result<Self> {
        let (kick, _) = broadcast::channel(4);
        let stats = Arc::new(Stats::default());
        let registry = Arc::new(Registry {
            inner: Mutex::new(Reg::default()),
            buffer_limit: (config.max_queue_bytes / 2).max(1),
        });
        let (db, heads) = Db::open(
            &config.db,
            config.retention,
            config.max_queue_bytes,
            registry.clone(),
            stats.clone(),
            config.commit_hook.clone(),
        )?;
        registry.lock().heads = heads;
        Ok(Self {
            registry,
            db,
            faults: RwLock::new(config.faults.clone()),
            token: RwLock::new(config.token.clone()),
            stats,
            kick,
            next_conn: AtomicU64::new(0),
            ack_count: AtomicU64::new(0),
            boot: unix_ms(),
            max_batch: config.max_batch,
            max_frame_bytes: config.max_frame_bytes,
            max_queue_bytes: config.max_queue_bytes,
            max_message_bytes: config.max_message_bytes,
            max_connections: config.max_connections,
            max_channels: config.max_channels,
            publish_rate: config.publish_rate,
            replay_page: config.replay_page.max(1),
            allowed_origins: config.allowed_origins.clone(),
            channel_rules: config.channel_rules.clone(),
            authorize: config.authorize.clone(),
        })
    }

    /// The storage threads.
    pub(crate) fn db(&self) -> &Db {
        &self.db
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

    /// Whether `presented` opens the relay (compared in fixed time).
    pub fn token_accepts(&self, presented: Option<&str>) -> bool {
        match (self.token(), presented) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(required), Some(p)) => auth::fixed_time_eq(p.as_bytes(), required.as_bytes()),
        }
    }

    /// Whether a session with `token` may do `action` on `channel`.
    pub fn authorized(&self, token: Option<&str>, channel: &str, action: Action) -> bool {
        let allowed = auth::rules_allow(&self.channel_rules, token, channel)
            && self
                .authorize
                .as_ref()
                .is_none_or(|hook| hook.0.authorize(token, channel, action));
        if !allowed {
            self.stats.forbidden.fetch_add(1, Ordering::Relaxed);
        }
        allowed
    }

    /// A new connection's outbound queue.
    pub fn queue(&self) -> Arc<Outq> {
        Arc::new(Outq::new(
            self.max_queue_bytes,
            self.max_frame_bytes,
            self.max_batch,
            self.stats.clone(),
        ))
    }

    /// Registers a new connection.
    pub fn connect(&self, out: Arc<Outq>) -> (ConnId, broadcast::Receiver<()>) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
        self.registry.lock().connections.insert(id, out);
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        (id, self.kick.subscribe())
    }

    /// A session id unique across restarts of the relay.
    pub fn session_id(&self, conn: ConnId) -> String {
        format!("s{:x}-{conn}", self.boot)
    }

    /// Forgets a connection and its subscriptions.
    pub fn disconnect(&self, conn: ConnId) {
        let mut reg = self.registry.lock();
        reg.connections.remove(&conn);
        reg.channels.retain(|_, subs| {
            subs.remove(&conn);
            !subs.is_empty()
        });
    }

    /// Drops every connection without a close frame.
    pub fn kick_all(&self) {
        let _ = self.kick.send(());
    }

    /// Subscribes `conn` to live events from now on; queues `subscribed` with the head.
    pub fn subscribe_live(&self, conn: ConnId, out: &Arc<Outq>, channel: &str) {
        let mut reg = self.registry.lock();
        let head = reg.heads.get(channel).copied().unwrap_or(0);
        reg.channels.entry(channel.to_owned()).or_default().insert(
            conn,
            Sub {
                out: out.clone(),
                state: SubState::Live,
            },
        );
        out.push(Out::msg(wire::subscribed(channel, head, None)));
    }

    /// Registers a replaying subscription (replacing any other of `conn` on `channel`):
    /// live events from now on wait in its buffer. Returns its generation and the head up
    /// to which the replay must page.
    pub fn begin_replay(
        &self,
        conn: ConnId,
        out: &Arc<Outq>,
        channel: &str,
        since: u64,
    ) -> (u64, u64) {
        let mut reg = self.registry.lock();
        reg.generation += 1;
        let generation = reg.generation;
        let head = reg.heads.get(channel).copied().unwrap_or(0);
        reg.channels.entry(channel.to_owned()).or_default().insert(
            conn,
            Sub {
                out: out.clone(),
                state: SubState::Replaying {
                    generation,
                    since,
                    buffer: Vec::new(),
                    bytes: 0,
                    overflowed: false,
                },
            },
        );
        (generation, head)
    }

    /// Ends a replay that paged up to its head: queues the events held back, `subscribed`,
    /// and turns the subscription live, all under the registry lock so that the next live
    /// event follows them.
    pub fn finish_replay(&self, conn: ConnId, channel: &str, generation: u64) -> Finish {
        let mut reg = self.registry.lock();
        let head = reg.heads.get(channel).copied().unwrap_or(0);
        let Some(sub) = reg.channels.get_mut(channel).and_then(|s| s.get_mut(&conn)) else {
            return Finish::Replaced;
        };
        let SubState::Replaying {
            generation: current,
            since,
            buffer,
            bytes,
            overflowed,
        } = &mut sub.state
        else {
            return Finish::Replaced;
        };
        if *current != generation {
            return Finish::Replaced;
        }
        if *overflowed {
            *overflowed = false;
            *bytes = 0;
            return Finish::More(head);
        }
        let mut outs: Vec<Out> = std::mem::take(buffer).into_iter().map(Out::Msg).collect();
        outs.push(Out::msg(wire::subscribed(channel, head, Some(*since))));
        let out = sub.out.clone();
        sub.state = SubState::Live;
        out.push_all(outs);
        Finish::Live
    }

    /// Removes one subscription.
    pub fn unsubscribe(&self, conn: ConnId, channel: &str) {
        let mut reg = self.registry.lock();
        if let Some(subs) = reg.channels.get_mut(channel) {
            subs.remove(&conn);
            if subs.is_empty() {
                reg.channels.remove(channel);
            }
        }
    }

    /// The publish faults' verdict on `channel`: a nack, or None to store it.
    pub fn fault_nack(&self, channel: &str) -> Option<PublishOutcome> {
        let faults = self.faults();
        let refused =
            |prefixes: &[String]| prefixes.iter().any(|p| channel.starts_with(p.as_str()));
        if !refused(&faults.reject_channels) && !refused(&faults.nack_retryable_channels) {
            return None;
        }
        self.stats.nacks.fetch_add(1, Ordering::Relaxed);
        let retryable = !refused(&faults.reject_channels);
        Some(PublishOutcome::Nack {
            reason: if retryable {
                "channel unavailable"
            } else {
                "channel refuses publishes"
            }
            .to_owned(),
            retryable,
        })
    }

    /// Hands publishes to the storage thread, in order; the answer comes after their commit.
    pub async fn submit(&self, items: Vec<Item>) -> Result<Pending, String> {
        self.db.submit(items).await
    }

    /// What to tell the publisher of an event stored as `stored`.
    pub fn outcome(&self, stored: Stored) -> PublishOutcome {
        let seq = match stored {
            Stored::New(seq) | Stored::Duplicate(seq) => seq,
        };
        let n = self.ack_count.fetch_add(1, Ordering::Relaxed) + 1;
        let every = self.faults().drop_every_nth_ack;
        if every > 0 && n % every == 0 {
            self.stats.acks_dropped.fetch_add(1, Ordering::Relaxed);
            return PublishOutcome::AckDropped;
        }
        PublishOutcome::Ack(seq)
    }

    /// Stores a publish (once per id) and broadcasts it the first time, durably: resolves
    /// after its commit.
    pub async fn publish(
        &self,
        id: &str,
        channel: &str,
        event: &str,
        data: &str,
    ) -> Result<PublishOutcome, String> {
        if let Some(nack) = self.fault_nack(channel) {
            return Ok(nack);
        }
        let pending = self
            .submit(vec![Item {
                id: id.to_owned(),
                channel: channel.to_owned(),
                event: event.to_owned(),
                data: data.to_owned(),
            }])
            .await?;
        let stored = pending.await.map_err(|_| "storage stopped".to_owned())??;
        match stored.first() {
            Some(s) => Ok(self.outcome(*s)),
            None => Err("nothing stored".to_owned()),
        }
    }

    /// Server-side publishes of events numbered `numbers` with the same data, stored in one
    /// transaction (an app backend pushing a burst); each gets its own id `{prefix}{n}`.
    /// Returns the last sequence.
    pub async fn push_many(
        &self,
        prefix: &str,
        channel: &str,
        event: &str,
        data: &str,
        numbers: std::ops::Range<u64>,
    ) -> Result<u64, String> {
        let items = numbers
            .map(|n| Item {
                id: format!("{prefix}{n}"),
                channel: channel.to_owned(),
                event: event.to_owned(),
                data: data.to_owned(),
            })
            .collect();
        let stored = self
            .submit(items)
            .await?
            .await
            .map_err(|_| "storage stopped".to_owned())??;
        Ok(match stored.last() {
            Some(Stored::New(seq) | Stored::Duplicate(seq)) => *seq,
            None => 0,
        })
    }

    /// Sends raw frames (text, or binary with the text's bytes) to every connection. Test
    /// floods pass the queue bound on purpose.
    pub fn send_raw_to_all(&self, frames: &[String], binary: bool) -> usize {
        let reg = self.registry.lock();
        for out in reg.connections.values() {
            for frame in frames {
                out.push_unbounded(if binary {
                    Out::RawBinary(frame.as_bytes().to_vec())
                } else {
                    Out::Raw(frame.clone())
                });
            }
        }
        reg.connections.len()
    }

    /// Every stored id of a channel (or of all channels).
    pub async fn stored_ids(&self, channel: Option<&str>) -> Result<Vec<String>, String> {
        self.db.ids(channel).await
    }

    /// Asks the storage thread to apply retention now.
    pub fn prune(&self) {
        self.db.prune();
    }

    /// The counters, now.
    pub fn stats_view(&self) -> StatsView {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let subscriptions = self
            .registry
            .lock()
            .channels
            .values()
            .map(HashMap::len)
            .sum();
        let s = &self.stats;
        StatsView {
            connections: load(&s.connections),
            accepted: load(&s.accepted),
            refused: load(&s.refused),
            denied: load(&s.denied),
            frames_in: load(&s.frames_in),
            published: load(&s.published),
            duplicates: load(&s.duplicates),
            acks_dropped: load(&s.acks_dropped),
            nacks: load(&s.nacks),
            subscriptions,
            commits: load(&s.commits),
            committed: load(&s.committed),
            slow_consumers: load(&s.slow_consumers),
            pruned: load(&s.pruned),
            replayed: load(&s.replayed),
            forbidden: load(&s.forbidden),
        }
    }
}
