//! SQLite on threads of its own, fed by channels: no SQLite call runs on the async runtime.
//!
//! One writer thread owns the only write connection. It takes every publish waiting in its
//! queue, stores them all in ONE transaction (one commit, one sync of the log: group commit),
//! and only once that commit returned hands the new events to the fan-out and answers each
//! publisher. A reader thread with a second connection serves replays and id lists, so a
//! long replay never holds up a commit. An in-memory database has one connection: there
//! the writer thread serves the reads too.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::hub::{Stats, unix_ms};
use crate::store::{self, Page, Retention, Store, Stored};
use crate::wire;

/// Most publish jobs one commit takes.
const MAX_GROUP: usize = 4_096;
/// Most bytes of data one commit takes, at most: what one commit hands a subscriber's queue
/// at once stays well under the queue's bound (a fast reader is not a slow consumer for
/// being sent a whole group in one go).
const MAX_GROUP_BYTES: usize = 4 << 20;
/// Jobs waiting for the writer before publishers wait to hand theirs over.
const QUEUE: usize = 8_192;

/// One publish to store.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub channel: String,
    pub event: String,
    pub data: String,
}

/// An event that a commit made durable, ready for its channel's subscribers.
#[derive(Debug, Clone)]
pub struct Committed {
    pub channel: String,
    pub seq: u64,
    /// The `ev` message, shared by every subscriber's queue.
    pub frame: Arc<str>,
}

/// Receives each commit's new events, in commit order, before any publisher is answered.
pub trait Fanout: Send + Sync + 'static {
    fn committed(&self, events: Vec<Committed>);
}

/// Called on the writer thread just before each COMMIT, with the number of publishes in it
/// (tests hold a commit with it to watch that nothing is acked before).
#[derive(Clone)]
pub struct CommitHook(pub Arc<dyn Fn(usize) + Send + Sync>);

impl std::fmt::Debug for CommitHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitHook(..)")
    }
}

type StoreReply = oneshot::Sender<Result<Vec<Stored>, String>>;

enum ReadJob {
    Page {
        channel: String,
        after: u64,
        upto: u64,
        limit: usize,
        reply: oneshot::Sender<Result<Page, String>>,
    },
    Ids {
        channel: Option<String>,
        reply: oneshot::Sender<Result<Vec<String>, String>>,
    },
}

enum WriteJob {
    Store { items: Vec<Item>, reply: StoreReply },
    Prune,
    Read(ReadJob),
}

/// The handle the rest of the relay uses.
pub struct Db {
    write: mpsc::Sender<WriteJob>,
    read: Option<std::sync::mpsc::Sender<ReadJob>>,
}

fn gone() -> String {
    "the storage thread has stopped".to_owned()
}

fn spawn_error(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

impl Db {
    /// Opens the database, starts its threads and returns the heads of every channel.
    pub fn open(
        path: &Path,
        retention: Retention,
        max_queue_bytes: usize,
        fanout: Arc<dyn Fanout>,
        stats: Arc<Stats>,
        hook: Option<CommitHook>,
    ) -> rusqlite::Result<(Self, HashMap<String, u64>)> {
        let store = Store::open(path)?;
        let heads = store.heads().clone();
        let read = if store::in_memory(path) {
            None
        } else {
            let conn = store::open_reader(path)?;
            let (tx, rx) = std::sync::mpsc::channel::<ReadJob>();
            std::thread::Builder::new()
                .name("syncline-relay-read".into())
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        serve_read(&conn, job);
                    }
                })
                .map_err(spawn_error)?;
            Some(tx)
        };
        let (write, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            store,
            retention,
            group_bytes: (max_queue_bytes / 4).clamp(1, MAX_GROUP_BYTES),
            fanout,
            stats,
            hook,
        };
        std::thread::Builder::new()
            .name("syncline-relay-write".into())
            .spawn(move || writer.run(rx))
            .map_err(spawn_error)?;
        Ok((Self { write, read }, heads))
    }

    /// Hands publishes to the writer (waiting while its queue is full); the receiver answers
    /// after their commit, each result saying whether the id was new or known.
    pub async fn submit(
        &self,
        items: Vec<Item>,
    ) -> Result<oneshot::Receiver<Result<Vec<Stored>, String>>, String> {
        let (reply, answer) = oneshot::channel();
        self.write
            .send(WriteJob::Store { items, reply })
            .await
            .map_err(|_| gone())?;
        Ok(answer)
    }

    /// Asks the writer to apply retention (skipped when it is busy with a full queue).
    pub fn prune(&self) {
        let _ = self.write.try_send(WriteJob::Prune);
    }

    async fn read(&self, job: ReadJob) -> Result<(), String> {
        match &self.read {
            Some(read) => read.send(job).map_err(|_| gone()),
            None => self
                .write
                .send(WriteJob::Read(job))
                .await
                .map_err(|_| gone()),
        }
    }

    /// Events of `channel` with `after < seq <= upto`, at most `limit`, and its retention floor.
    pub async fn page(
        &self,
        channel: &str,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Page, String> {
        let (reply, answer) = oneshot::channel();
        self.read(ReadJob::Page {
            channel: channel.to_owned(),
            after,
            upto,
            limit,
            reply,
        })
        .await?;
        answer.await.map_err(|_| gone())?
    }

    /// Every stored id of a channel (all channels when `None`), in order of storage.
    pub async fn ids(&self, channel: Option<&str>) -> Result<Vec<String>, String> {
        let (reply, answer) = oneshot::channel();
        self.read(ReadJob::Ids {
            channel: channel.map(str::to_owned),
            reply,
        })
        .await?;
        answer.await.map_err(|_| gone())?
    }
}

fn serve_read(conn: &Connection, job: ReadJob) {
    match job {
        ReadJob::Page {
            channel,
            after,
            upto,
            limit,
            reply,
        } => {
            let page = store::read_page(conn, &channel, after, upto, limit);
            let _ = reply.send(page.map_err(|e| e.to_string()));
        }
        ReadJob::Ids { channel, reply } => {
            let ids = store::read_ids(conn, channel.as_deref());
            let _ = reply.send(ids.map_err(|e| e.to_string()));
        }
    }
}

struct Writer {
    store: Store,
    retention: Retention,
    group_bytes: usize,
    fanout: Arc<dyn Fanout>,
    stats: Arc<Stats>,
    hook: Option<CommitHook>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<WriteJob>) {
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = Vec::new();
            let mut bytes = 0;
            let mut prune = false;
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    WriteJob::Store { items, reply } => {
                        bytes += items.iter().map(|i| i.data.len()).sum::<usize>();
                        jobs.push((items, reply));
                    }
                    WriteJob::Prune => prune = true,
                    WriteJob::Read(read) => self.serve_read(read),
                }
                if jobs.len() < MAX_GROUP && bytes < self.group_bytes {
                    next = rx.try_recv().ok();
                }
            }
            if !jobs.is_empty() {
                self.commit(jobs);
            }
            if prune {
                match self.store.prune(self.retention, unix_ms()) {
                    Ok(n) => {
                        self.stats.pruned.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => eprintln!("syncline-relay: retention failed: {e}"),
                }
            }
        }
    }

    fn serve_read(&self, job: ReadJob) {
        match job {
            ReadJob::Page {
                channel,
                after,
                upto,
                limit,
                reply,
            } => {
                let page = self.store.page(&channel, after, upto, limit);
                let _ = reply.send(page.map_err(|e| e.to_string()));
            }
            ReadJob::Ids { channel, reply } => {
                let ids = self.store.ids(channel.as_deref());
                let _ = reply.send(ids.map_err(|e| e.to_string()));
            }
        }
    }

    fn commit(&mut self, jobs: Vec<(Vec<Item>, StoreReply)>) {
        let now = unix_ms();
        let count: usize = jobs.iter().map(|(items, _)| items.len()).sum();
        let hook = self.hook.clone();
        let result = self.store.in_transaction(|store| {
            let mut all = Vec::with_capacity(jobs.len());
            for (items, _) in &jobs {
                let mut results = Vec::with_capacity(items.len());
                for item in items {
                    results.push(store.insert(
                        &item.id,
                        &item.channel,
                        &item.event,
                        &item.data,
                        now,
                    )?);
                }
                all.push(results);
            }
            if let Some(hook) = &hook {
                (hook.0)(count);
            }
            Ok(all)
        });
        let all = match result {
            Ok(all) => all,
            Err(e) => {
                let message = format!("storage error: {e}");
                for (_, reply) in jobs {
                    let _ = reply.send(Err(message.clone()));
                }
                return;
            }
        };
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .committed
            .fetch_add(count as u64, Ordering::Relaxed);
        let mut committed = Vec::new();
        for ((items, _), results) in jobs.iter().zip(&all) {
            for (item, stored) in items.iter().zip(results) {
                match stored {
                    Stored::New(seq) => {
                        self.stats.published.fetch_add(1, Ordering::Relaxed);
                        let frame = wire::event(
                            &item.channel,
                            &item.event,
                            *seq,
                            Some(&item.id),
                            &item.data,
                        );
                        committed.push(Committed {
                            channel: item.channel.clone(),
                            seq: *seq,
                            frame: Arc::from(frame),
                        });
                    }
                    Stored::Duplicate(_) => {
                        self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        // Subscribers first, then publishers: an ack means the event went out too.
        self.fanout.committed(committed);
        for ((_, reply), results) in jobs.into_iter().zip(all) {
            let _ = reply.send(Ok(results));
        }
    }
}
