//! Durable storage of accepted publishes in SQLite: one row per publish id, numbered per channel.
//!
//! Every commit is durable when it returns: WAL with `synchronous = FULL` syncs the log at each
//! commit, so an event acked after its commit survives a power cut, not only a killed process.
//! Callers make a commit carry many publishes (group commit, see `db.rs`): one sync for all.
//!
//! Retention removes the oldest events of a channel; their id → seq record moves to `removed`
//! (a late retry of a removed id is acked with its old seq, not stored twice) and the highest
//! removed seq of the channel goes to `floors` (what a replay reports as a gap).

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

#[cfg(test)]
mod tests;

/// A stored event, as replayed to a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Publish id (the idempotency key).
    pub id: String,
    /// Channel.
    pub channel: String,
    /// Per-channel sequence number, from 1.
    pub seq: u64,
    /// Event name.
    pub event: String,
    /// Payload, as JSON text.
    pub data: String,
}

/// What storing a publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// New id: stored as this sequence.
    New(u64),
    /// Known id: stored before as this sequence; nothing changed.
    Duplicate(u64),
}

/// A page of a channel's history, read in one read transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Highest seq removed by retention (0: none removed).
    pub floor: u64,
    /// Events after the asked seq (and after `floor`), oldest first.
    pub events: Vec<StoredEvent>,
}

/// How much history to keep (0: no limit of that kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Newest events kept per channel.
    pub events: u64,
    /// Events older than this many milliseconds are removed.
    pub ms: u64,
}

impl Retention {
    /// True when some history is ever removed.
    pub fn active(&self) -> bool {
        self.events > 0 || self.ms > 0
    }
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS events (
        channel TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL UNIQUE,
        event TEXT NOT NULL,
        data TEXT NOT NULL,
        stored_at INTEGER NOT NULL,
        PRIMARY KEY (channel, seq)
    );
    CREATE INDEX IF NOT EXISTS events_stored_at ON events (stored_at);
    CREATE TABLE IF NOT EXISTS removed (
        id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        seq INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS floors (
        channel TEXT PRIMARY KEY,
        upto INTEGER NOT NULL
    ) WITHOUT ROWID;";

/// The relay's SQLite database, as its one writer sees it.
pub struct Store {
    db: Connection,
    heads: HashMap<String, u64>,
    /// Dropped with the store, which stops the checkpointer thread.
    _checkpointer: Option<mpsc::Sender<()>>,
}

/// How often the checkpointer copies the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Checkpoints the WAL from a thread of its own with its own connection, so that no publish
/// waits for a checkpoint that SQLite would otherwise run inside whichever commit fills the
/// log past 1,000 pages. A passive checkpoint never blocks the writer.
fn start_checkpointer(path: &Path) -> rusqlite::Result<mpsc::Sender<()>> {
    let db = Connection::open(path)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("syncline-relay-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                // Busy (another checkpoint) or failed: the next round tries again.
                let _ = db.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
            }
            let _ = db.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
        })
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok(stop)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Whether `path` names an in-memory database (one connection only).
pub fn in_memory(path: &Path) -> bool {
    path.as_os_str() == ":memory:"
}

impl Store {
    /// Opens (or creates) the database at `path`; `:memory:` keeps it in memory.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let db = Connection::open(path)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;",
        )?;
        db.execute_batch(SCHEMA)?;
        let checkpointer = if in_memory(path) {
            None
        } else {
            db.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
            Some(start_checkpointer(path)?)
        };
        let mut heads = HashMap::new();
        {
            let mut stmt = db.prepare(
                "SELECT channel, MAX(seq) FROM (
                     SELECT channel, seq FROM events
                     UNION ALL SELECT channel, upto AS seq FROM floors
                 ) GROUP BY channel",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (channel, seq) = row?;
                heads.insert(channel, to_u64(seq));
            }
        }
        Ok(Self {
            db,
            heads,
            _checkpointer: checkpointer,
        })
    }

    /// The latest sequence of a channel (0 when empty).
    pub fn head(&self, channel: &str) -> u64 {
        self.heads.get(channel).copied().unwrap_or(0)
    }

    /// Every channel's head.
    pub fn heads(&self) -> &HashMap<String, u64> {
        &self.heads
    }

    fn known(&self, id: &str) -> rusqlite::Result<Option<u64>> {
        let stored: Option<i64> = self
            .db
            .prepare_cached("SELECT seq FROM events WHERE id = ?1")?
            .query_row(params![id], |row| row.get(0))
            .optional()?;
        if let Some(seq) = stored {
            return Ok(Some(to_u64(seq)));
        }
        let removed: Option<i64> = self
            .db
            .prepare_cached("SELECT seq FROM removed WHERE id = ?1")?
            .query_row(params![id], |row| row.get(0))
            .optional()?;
        Ok(removed.map(to_u64))
    }

    /// Stores a publish unless its id is known (stored, or removed by retention).
    pub fn insert(
        &mut self,
        id: &str,
        channel: &str,
        event: &str,
        data: &str,
        now_ms: u64,
    ) -> rusqlite::Result<Stored> {
        if let Some(seq) = self.known(id)? {
            return Ok(Stored::Duplicate(seq));
        }
        let seq = self.head(channel) + 1;
        self.db
            .prepare_cached(
                "INSERT INTO events (channel, seq, id, event, data, stored_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![channel, to_i64(seq), id, event, data, to_i64(now_ms)])?;
        self.heads.insert(channel.to_owned(), seq);
        Ok(Stored::New(seq))
    }

    /// Runs `f` inside one transaction: one commit (one sync) for many inserts. Rolled back
    /// when `f` or the commit fails.
    pub fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.db.execute_batch("BEGIN IMMEDIATE")?;
        let heads = self.heads.clone();
        let result = f(self).and_then(|value| self.db.execute_batch("COMMIT").map(|()| value));
        if result.is_err() {
            let _ = self.db.execute_batch("ROLLBACK");
            self.heads = heads;
        }
        result
    }

    /// Removes what `retention` no longer keeps, as of `now_ms`, in one transaction; returns
    /// how many events went.
    pub fn prune(&mut self, retention: Retention, now_ms: u64) -> rusqlite::Result<u64> {
        if !retention.active() {
            return Ok(0);
        }
        let mut bounds: HashMap<String, u64> = HashMap::new();
        if retention.events > 0 {
            for (channel, head) in &self.heads {
                if *head > retention.events {
                    bounds.insert(channel.clone(), head - retention.events);
                }
            }
        }
        if retention.ms > 0 {
            let cutoff = to_i64(now_ms.saturating_sub(retention.ms));
            let mut stmt = self.db.prepare_cached(
                "SELECT channel, MAX(seq) FROM events WHERE stored_at < ?1 GROUP BY channel",
            )?;
            let rows = stmt.query_map(params![cutoff], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (channel, seq) = row?;
                let bound = bounds.entry(channel).or_insert(0);
                *bound = (*bound).max(to_u64(seq));
            }
        }
        if bounds.is_empty() {
            return Ok(0);
        }
        self.in_transaction(|store| {
            let mut removed = 0;
            for (channel, upto) in &bounds {
                let (channel, upto) = (channel.as_str(), to_i64(*upto));
                store
                    .db
                    .prepare_cached(
                        "INSERT OR IGNORE INTO removed (id, channel, seq)
                         SELECT id, channel, seq FROM events WHERE channel = ?1 AND seq <= ?2",
                    )?
                    .execute(params![channel, upto])?;
                let n = store
                    .db
                    .prepare_cached("DELETE FROM events WHERE channel = ?1 AND seq <= ?2")?
                    .execute(params![channel, upto])?;
                if n > 0 {
                    store
                        .db
                        .prepare_cached(
                            "INSERT INTO floors (channel, upto) VALUES (?1, ?2)
                             ON CONFLICT (channel) DO UPDATE SET upto = MAX(upto, excluded.upto)",
                        )?
                        .execute(params![channel, upto])?;
                }
                removed += n as u64;
            }
            Ok(removed)
        })
    }

    /// A page of history (see [`read_page`]).
    pub fn page(
        &self,
        channel: &str,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> rusqlite::Result<Page> {
        read_page(&self.db, channel, after, upto, limit)
    }

    /// Events of a channel after `since`, oldest first, at most `limit`.
    pub fn since(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
    ) -> rusqlite::Result<Vec<StoredEvent>> {
        Ok(read_page(&self.db, channel, since, u64::MAX, limit)?.events)
    }

    /// Every stored id of a channel (all channels when `None`), in order of storage.
    pub fn ids(&self, channel: Option<&str>) -> rusqlite::Result<Vec<String>> {
        read_ids(&self.db, channel)
    }
}

/// Opens a second connection for reads (replays) beside the writer's.
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = 1;")?;
    Ok(db)
}

/// The events of `channel` with `after < seq <= upto`, oldest first, at most `limit`, and the
/// channel's retention floor, read in one read transaction (consistent with each other).
pub fn read_page(
    db: &Connection,
    channel: &str,
    after: u64,
    upto: u64,
    limit: usize,
) -> rusqlite::Result<Page> {
    db.execute_batch("BEGIN")?;
    let result = (|| {
        let floor: Option<i64> = db
            .prepare_cached("SELECT upto FROM floors WHERE channel = ?1")?
            .query_row(params![channel], |row| row.get(0))
            .optional()?;
        let floor = floor.map(to_u64).unwrap_or(0);
        let mut stmt = db.prepare_cached(
            "SELECT id, seq, event, data FROM events
             WHERE channel = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                channel,
                to_i64(after.max(floor)),
                to_i64(upto),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |row| {
                Ok(StoredEvent {
                    id: row.get(0)?,
                    channel: channel.to_owned(),
                    seq: to_u64(row.get::<_, i64>(1)?),
                    event: row.get(2)?,
                    data: row.get(3)?,
                })
            },
        )?;
        let events = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page { floor, events })
    })();
    let _ = db.execute_batch("COMMIT");
    result
}

/// Every stored id of a channel (all channels when `None`), in order of storage.
pub fn read_ids(db: &Connection, channel: Option<&str>) -> rusqlite::Result<Vec<String>> {
    let mut stmt = db.prepare(
        "SELECT id FROM events WHERE ?1 IS NULL OR channel = ?1 ORDER BY stored_at, channel, seq",
    )?;
    let rows = stmt.query_map(params![channel], |row| row.get(0))?;
    rows.collect()
}
