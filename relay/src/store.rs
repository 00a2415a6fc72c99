//! Durable storage of accepted publishes in SQLite: one row per publish id, numbered per channel.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

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

/// The relay's SQLite database.
pub struct Store {
    db: Connection,
    heads: HashMap<String, u64>,
    /// Dropped with the store, which stops the checkpointer thread.
    _checkpointer: Option<mpsc::Sender<()>>,
}

/// How often the checkpointer copies the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Checkpoints the WAL from a thread of its own with its own connection. A commit in WAL
/// mode with `synchronous = NORMAL` writes the log and syncs nothing; the checkpoint is where
/// the fsyncs are. Left to SQLite's automatic checkpoint it runs inside whichever publish
/// fills the log past 1,000 pages, and every subscriber waits for the disk (tens of
/// milliseconds here). A passive checkpoint never blocks the writer.
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

impl Store {
    /// Opens (or creates) the database at `path`; `:memory:` keeps it in memory.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let db = Connection::open(path)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS events (
                 channel TEXT NOT NULL,
                 seq INTEGER NOT NULL,
                 id TEXT NOT NULL UNIQUE,
                 event TEXT NOT NULL,
                 data TEXT NOT NULL,
                 stored_at INTEGER NOT NULL,
                 PRIMARY KEY (channel, seq)
             );",
        )?;
        let in_memory = path.as_os_str() == ":memory:";
        let checkpointer = if in_memory {
            None
        } else {
            db.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
            Some(start_checkpointer(path)?)
        };
        let mut heads = HashMap::new();
        {
            let mut stmt = db.prepare("SELECT channel, MAX(seq) FROM events GROUP BY channel")?;
            let rows = stmt.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (channel, seq) = row?;
                heads.insert(channel, u64::try_from(seq).unwrap_or(0));
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

    /// Stores a publish unless its id is known.
    pub fn insert(
        &mut self,
        id: &str,
        channel: &str,
        event: &str,
        data: &str,
        now_ms: u64,
    ) -> rusqlite::Result<Stored> {
        let existing: Option<i64> = self
            .db
            .prepare_cached("SELECT seq FROM events WHERE id = ?1")?
            .query_row(params![id], |row| row.get(0))
            .optional()?;
        if let Some(seq) = existing {
            return Ok(Stored::Duplicate(u64::try_from(seq).unwrap_or(0)));
        }
        let seq = self.head(channel) + 1;
        self.db
            .prepare_cached(
                "INSERT INTO events (channel, seq, id, event, data, stored_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![channel, seq as i64, id, event, data, now_ms as i64])?;
        self.heads.insert(channel.to_owned(), seq);
        Ok(Stored::New(seq))
    }

    /// Runs `f` inside one transaction: one commit for many inserts (server-side bulk
    /// publishes). Rolled back when `f` fails.
    pub fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.db.execute_batch("BEGIN")?;
        let heads = self.heads.clone();
        match f(self) {
            Ok(value) => {
                self.db.execute_batch("COMMIT")?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.db.execute_batch("ROLLBACK");
                self.heads = heads;
                Err(e)
            }
        }
    }

    /// Events of a channel after `since`, oldest first, at most `limit`.
    pub fn since(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
    ) -> rusqlite::Result<Vec<StoredEvent>> {
        let mut stmt = self.db.prepare_cached(
            "SELECT id, seq, event, data FROM events WHERE channel = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![channel, since as i64, limit as i64], |row| {
            Ok(StoredEvent {
                id: row.get(0)?,
                channel: channel.to_owned(),
                seq: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                event: row.get(2)?,
                data: row.get(3)?,
            })
        })?;
        rows.collect()
    }

    /// Every stored id of a channel (all channels when `None`), in order of storage.
    pub fn ids(&self, channel: Option<&str>) -> rusqlite::Result<Vec<String>> {
        let mut stmt = self
            .db
            .prepare("SELECT id FROM events WHERE ?1 IS NULL OR channel = ?1 ORDER BY stored_at, channel, seq")?;
        let rows = stmt.query_map(params![channel], |row| row.get(0))?;
        rows.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_per_channel_and_dedups_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.sqlite");
        {
            let mut store = Store::open(&path).unwrap();
            assert_eq!(
                store.insert("a", "c1", "e", "1", 0).unwrap(),
                Stored::New(1)
            );
            assert_eq!(
                store.insert("b", "c1", "e", "2", 0).unwrap(),
                Stored::New(2)
            );
            assert_eq!(
                store.insert("c", "c2", "e", "3", 0).unwrap(),
                Stored::New(1)
            );
            assert_eq!(
                store.insert("a", "c1", "e", "1", 0).unwrap(),
                Stored::Duplicate(1)
            );
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.head("c1"), 2);
        assert_eq!(
            store.insert("b", "c1", "e", "2", 0).unwrap(),
            Stored::Duplicate(2)
        );
        assert_eq!(
            store.insert("d", "c1", "e", "4", 0).unwrap(),
            Stored::New(3)
        );
        let replay = store.since("c1", 1, 10).unwrap();
        assert_eq!(replay.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(store.ids(Some("c2")).unwrap(), vec!["c".to_owned()]);
        assert_eq!(store.ids(None).unwrap().len(), 4);
    }

    #[test]
    fn a_transaction_commits_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.sqlite");
        let mut store = Store::open(&path).unwrap();
        let last = store
            .in_transaction(|s| {
                for n in 0..100 {
                    s.insert(&format!("id-{n}"), "bulk", "e", "{}", 0)?;
                }
                Ok(s.head("bulk"))
            })
            .unwrap();
        assert_eq!(last, 100);
        // A failure inside rolls back the rows and the in-memory heads alike.
        let failed = store.in_transaction(|s| {
            s.insert("id-new", "bulk", "e", "{}", 0)?;
            s.db.execute("INSERT INTO no_such_table VALUES (1)", [])?;
            Ok(())
        });
        assert!(failed.is_err());
        assert_eq!(store.head("bulk"), 100);
        drop(store);
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.head("bulk"), 100);
        assert_eq!(store.ids(Some("bulk")).unwrap().len(), 100);
        assert_eq!(
            store.insert("id-new", "bulk", "e", "{}", 0).unwrap(),
            Stored::New(101)
        );
    }

    #[test]
    fn the_log_reaches_the_database_file_from_the_checkpointer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.sqlite");
        let mut store = Store::open(&path).unwrap();
        let empty = std::fs::metadata(&path).unwrap().len();
        let pad = "x".repeat(200);
        for n in 0..2_000 {
            store.insert(&format!("id-{n}"), "c", "e", &pad, 0).unwrap();
        }
        // The writer never checkpoints (wal_autocheckpoint = 0); only the thread can have
        // copied these pages into the database file.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < empty + 400_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint in 10 s: {} bytes",
                std::fs::metadata(&path).unwrap().len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(store.ids(Some("c")).unwrap().len(), 2_000);
    }
}
