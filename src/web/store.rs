//! The outbox's IndexedDB database, through web-sys: two object stores keyed by entry id,
//! `outbox` and `dead`. Records are plain objects (serde-wasm-bindgen); the payload stays JSON
//! text. Every failure comes back as an error, never as a panic.
//!
//! - Opening at version 1 creates the stores that are missing (a new or recreated database).
//!   A blocked open is not reported: its future waits, and `driver/storage.rs` gives up after
//!   5 s. A newer database fails the open with a `VersionError`.
//! - A transaction is listened to (`complete`, `abort`) from the moment it is made, and its
//!   requests get no listeners of their own: a failed request aborts the transaction, whose
//!   `error` names the cause; reads take their requests' results once it has completed. Every
//!   listener is removed before its closure is dropped ([`listen`]), so no event, however late
//!   or repeated, can call into a dropped closure.
//! - The browser closes the connection under the page when the origin's data is cleared or
//!   evicted (`close`), and another tab deleting or upgrading the database asks for it to close
//!   (`versionchange`, which closes it here). Either way the `lost` callback given to
//!   [`Store::open`] hears it, once, and the outbox reopens the database.
//! - [`Store`] closes its connection on `Drop`: a connection nobody uses must not hold up
//!   another tab's upgrade or deletion.

mod listen;

use std::borrow::Cow;
use std::cell::Cell;
use std::rc::Rc;

use js_sys::Array;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    IdbDatabase, IdbObjectStoreParameters, IdbOpenDbRequest, IdbRequest, IdbTransaction,
    IdbTransactionMode,
};

use crate::core::{DeadLetter, OutboxEntry, StoreOp};
use crate::protocol::envelope::RawJson;
use listen::{Fired, Listener};

const VERSION: u32 = 1;
const OUTBOX: &str = "outbox";
const DEAD: &str = "dead";
const WRITE_FAILED: &str = "the storage transaction failed";

/// One stored record, as earlier versions wrote them: `{id, channel, event, data, createdAt,
/// priority}`, plus `reason` and `failedAt` for a dead letter. Times are numbers (ms).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    id: Cow<'a, str>,
    channel: Cow<'a, str>,
    event: Cow<'a, str>,
    /// The payload, JSON text.
    data: Cow<'a, str>,
    created_at: f64,
    #[serde(default)]
    priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed_at: Option<f64>,
}

/// The outbox database of one storage key.
pub struct Store {
    db: IdbDatabase,
    /// Hears `close` and `versionchange` while the store lives.
    _watch: Listener,
}

/// What was in the database when it was opened.
pub struct Loaded {
    pub entries: Vec<OutboxEntry>,
    pub dead: Vec<DeadLetter>,
    /// Records that were not syncline entries (corrupt, or another version's): left alone.
    pub skipped: usize,
}

/// True when this context has IndexedDB at all (not a worker, not a browser without it).
pub fn available() -> bool {
    web_sys::window().is_some_and(|w| w.indexed_db().ok().flatten().is_some())
}

impl Store {
    /// Opens (creating on first use, or again after it was deleted) the database `name`;
    /// `lost` is called once if the browser closes the connection later.
    pub async fn open(name: &str, lost: impl FnOnce(String) + 'static) -> Result<Self, String> {
        const FAILED: &str = "IndexedDB did not open";
        let factory = web_sys::window()
            .and_then(|w| w.indexed_db().ok().flatten())
            .ok_or_else(|| "IndexedDB is not available in this context".to_owned())?;
        let request: IdbOpenDbRequest = factory
            .open_with_u32(name, VERSION)
            .map_err(|e| exception(FAILED, &e))?;
        let upgrade_request = request.clone();
        let _upgrade = Listener::new(&request, &["upgradeneeded"], move |_| {
            create_stores(&upgrade_request);
        });
        let fired = Fired::new(&request, &["success", "error"]).await;
        let result = request.result();
        let db = match (fired.as_str(), result) {
            ("success", Ok(db)) => db
                .dyn_into::<IdbDatabase>()
                .map_err(|_| FAILED.to_owned())?,
            _ => return Err(request_error(FAILED, &request)),
        };
        let watched = db.clone();
        let mut lost = Some(lost);
        let gone = Rc::new(Cell::new(false));
        let watch = Listener::new(&db, &["close", "versionchange"], move |event| {
            let kind = event.type_();
            if kind == "versionchange" {
                // Another tab deletes or upgrades the database: let it.
                watched.close();
            }
            if !gone.replace(true)
                && let Some(lost) = lost.take()
            {
                lost(if kind == "close" {
                    "the browser closed the IndexedDB database (site data cleared or evicted)"
                        .to_owned()
                } else {
                    "another tab deleted or upgraded the IndexedDB database".to_owned()
                });
            }
        });
        Ok(Self { db, _watch: watch })
    }

    fn transaction(
        &self,
        mode: IdbTransactionMode,
        context: &str,
    ) -> Result<IdbTransaction, String> {
        let names = Array::of2(&JsValue::from_str(OUTBOX), &JsValue::from_str(DEAD));
        self.db
            .transaction_with_str_sequence_and_mode(&names, mode)
            .map_err(|e| exception(context, &e))
    }

    /// Reads every entry and dead letter, in id order, in one transaction.
    pub async fn load(&self) -> Result<Loaded, String> {
        const FAILED: &str = "IndexedDB could not be read";
        let tx = self.transaction(IdbTransactionMode::Readonly, FAILED)?;
        let done = Fired::new(&tx, &["complete", "abort"]);
        let requested = (|| {
            let outbox = tx.object_store(OUTBOX)?.get_all()?;
            let dead = tx.object_store(DEAD)?.get_all()?;
            Ok::<_, JsValue>((outbox, dead))
        })();
        let (outbox, dead) = match requested {
            Ok(both) => both,
            Err(e) => {
                let _ = tx.abort();
                return Err(exception(FAILED, &e));
            }
        };
        if done.await != "complete" {
            return Err(transaction_error(FAILED, &tx));
        }
        let records = |request: &IdbRequest| {
            request
                .result()
                .ok()
                .and_then(|r| r.dyn_into::<Array>().ok())
                .ok_or_else(|| FAILED.to_owned())
        };
        let (records, dead_records) = (records(&outbox)?, records(&dead)?);
        let mut loaded = Loaded {
            entries: Vec::with_capacity(records.length() as usize),
            dead: Vec::with_capacity(dead_records.length() as usize),
            skipped: 0,
        };
        for record in records.iter() {
            match from_record(record) {
                Some((entry, _)) => loaded.entries.push(entry),
                None => loaded.skipped += 1,
            }
        }
        for record in dead_records.iter() {
            match from_record(record) {
                Some((entry, (reason, failed_at))) => loaded.dead.push(DeadLetter {
                    entry,
                    reason,
                    failed_at,
                }),
                None => loaded.skipped += 1,
            }
        }
        Ok(loaded)
    }

    /// Applies storage changes in order, in one transaction; Ok once it has committed.
    pub async fn apply(&self, ops: &[StoreOp]) -> Result<(), String> {
        // Every value is made before the transaction: a failure here writes nothing.
        let mut values = Vec::with_capacity(ops.len());
        for op in ops {
            values.push(match op {
                StoreOp::Put(entry) => Some(to_record(entry, None)?),
                StoreOp::PutDead(letter) => Some(to_record(&letter.entry, Some(letter))?),
                _ => None,
            });
        }
        let tx = self.transaction(IdbTransactionMode::Readwrite, WRITE_FAILED)?;
        let done = Fired::new(&tx, &["complete", "abort"]);
        let issued = (|| {
            let outbox = tx.object_store(OUTBOX)?;
            let dead = tx.object_store(DEAD)?;
            for (op, value) in ops.iter().zip(&values) {
                match (op, value) {
                    (StoreOp::Put(_), Some(value)) => drop(outbox.put(value)?),
                    (StoreOp::PutDead(_), Some(value)) => drop(dead.put(value)?),
                    (StoreOp::Delete(id), _) => drop(outbox.delete(&JsValue::from_str(id))?),
                    (StoreOp::DeleteDead(id), _) => drop(dead.delete(&JsValue::from_str(id))?),
                    (StoreOp::Clear, _) => {
                        outbox.clear()?;
                        dead.clear()?;
                    }
                    _ => {}
                }
            }
            Ok::<_, JsValue>(())
        })();
        if let Err(e) = issued {
            // Nothing of it may commit; the abort event still comes, and is waited for.
            let _ = tx.abort();
            let _ = done.await;
            return Err(exception(WRITE_FAILED, &e));
        }
        match done.await.as_str() {
            "complete" => Ok(()),
            _ => Err(transaction_error(WRITE_FAILED, &tx)),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.db.close();
    }
}

/// Creates the object stores a new (or recreated) database lacks, in its upgrade.
fn create_stores(request: &IdbOpenDbRequest) {
    let Some(db) = request
        .result()
        .ok()
        .and_then(|r| r.dyn_into::<IdbDatabase>().ok())
    else {
        return;
    };
    let names = db.object_store_names();
    for name in [OUTBOX, DEAD] {
        if !names.contains(name) {
            let params = IdbObjectStoreParameters::new();
            params.set_key_path(&JsValue::from_str("id"));
            // A failure here fails the upgrade, and the open reports it.
            let _ = db.create_object_store_with_optional_parameters(name, &params);
        }
    }
}

/// `context`, and the name of the exception `error` when it is one (`InvalidStateError`, …).
fn exception(context: &str, error: &JsValue) -> String {
    named(context, error.dyn_ref::<web_sys::DomException>())
}

fn request_error(context: &str, request: &IdbRequest) -> String {
    named(context, request.error().ok().flatten().as_ref())
}

/// `context`, and why the transaction aborted (`QuotaExceededError`, `AbortError`, …).
fn transaction_error(context: &str, tx: &IdbTransaction) -> String {
    named(context, tx.error().as_ref())
}

fn named(context: &str, error: Option<&web_sys::DomException>) -> String {
    match error {
        Some(e) => context.to_owned() + ": " + &e.name(),
        None => context.to_owned(),
    }
}

fn to_record(entry: &OutboxEntry, dead: Option<&DeadLetter>) -> Result<JsValue, String> {
    let record = Record {
        id: Cow::Borrowed(&entry.id),
        channel: Cow::Borrowed(&entry.channel),
        event: Cow::Borrowed(&entry.event),
        data: Cow::Borrowed(entry.data.as_str()),
        created_at: entry.created_at as f64,
        priority: entry.priority,
        reason: dead.map(|d| Cow::Borrowed(d.reason.as_str())),
        failed_at: dead.map(|d| d.failed_at as f64),
    };
    serde_wasm_bindgen::to_value(&record).map_err(|_| "an entry could not be stored".to_owned())
}

/// A stored record as an entry (and, for dead letters, reason and time); `None` if it is not
/// one. Nothing read from storage is trusted: fields are checked here and the payload is
/// validated as JSON before it can be sent.
fn from_record(record: JsValue) -> Option<(OutboxEntry, (String, u64))> {
    let record: Record<'static> = serde_wasm_bindgen::from_value(record).ok()?;
    let time = |n: f64| (n.is_finite() && n >= 0.0).then_some(n as u64);
    let entry = OutboxEntry {
        id: record.id.into_owned(),
        channel: record.channel.into_owned(),
        event: record.event.into_owned(),
        data: RawJson::parse(record.data.into_owned()).ok()?,
        created_at: time(record.created_at)?,
        priority: record.priority,
    };
    let reason = record.reason.map(Cow::into_owned).unwrap_or_default();
    Some((entry, (reason, time(record.failed_at.unwrap_or(0.0))?)))
}
