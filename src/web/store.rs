//! The outbox's IndexedDB database, through rexie: two object stores keyed by entry id,
//! `outbox` and `dead`. Records are plain objects (serde-wasm-bindgen); the payload stays JSON
//! text. Every failure comes back as an error, never as a panic.
//!
//! What rexie 0.6 does for us and what it does not (read in its source and idb 0.6's, which
//! it is built on):
//! - `RexieBuilder::build` opens at version 1, creates the stores on upgrade, deletes stores it
//!   was not told about, and closes the connection on `versionchange`. The `expect`s in idb's
//!   upgrade callback cannot fire for this schema: the upgrade only ever runs on a new (empty)
//!   database, where it creates two stores with a key path.
//! - A blocked open is not reported (rexie has no `blocked` hook): its future just waits, and
//!   `driver/storage.rs` gives up after 5 s. A newer database fails the open with a
//!   `VersionError`, which degrades to memory like any other failure.
//! - A rexie request starts only when its future is first polled. Awaiting one put after the
//!   other would cost a round trip per entry, so [`settle_in_order`] polls every request in one
//!   go (IndexedDB runs them in that order) and waits until all have settled: each request
//!   fires one event, `success` or `error`, and waiting for all keeps every callback alive
//!   until IndexedDB has called it.
//! - idb's transaction future holds `Closure::once` handlers for the transaction's `error`,
//!   `abort` and `complete`, and drops them when it resolves: on the first of them. When a
//!   request fails (the database deleted under a running transaction, for one) every pending
//!   request's `error` bubbles to the transaction and `abort` follows, each of which would call
//!   a closure already used or dropped ("closure invoked recursively or after being dropped",
//!   a page error). So [`Store::apply`] listens to the transaction only once every request has
//!   succeeded, in the same microtask as the last `success`: only `complete` or `abort` can
//!   come then, once, in a later task (an abort at commit: over the quota, or the database
//!   closed). A transaction whose request failed is not listened to at all; it aborts.
//! - idb keeps its callbacks in the `Database` and does not close the connection when it is
//!   dropped, so [`Store`] closes it on `Drop`: a connection nobody uses must not hold up
//!   another tab's upgrade, and its `versionchange` callback goes with it.

use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use rexie::{ObjectStore, Rexie, TransactionMode, TransactionResult};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

use crate::core::{DeadLetter, OutboxEntry, StoreOp};
use crate::protocol::envelope::RawJson;

const VERSION: u32 = 1;
const OUTBOX: &str = "outbox";
const DEAD: &str = "dead";
const STORES: [&str; 2] = [OUTBOX, DEAD];
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
    /// Taken only by `Drop`.
    db: Option<Rexie>,
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
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str("indexedDB")).ok())
        .is_some_and(|idb| !idb.is_undefined() && !idb.is_null())
}

impl Store {
    /// Opens (creating on first use, or again after it was deleted) the database `name`.
    pub async fn open(name: &str) -> Result<Self, String> {
        if !available() {
            return Err("IndexedDB is not available in this context".to_owned());
        }
        let db = Rexie::builder(name)
            .version(VERSION)
            .add_object_store(ObjectStore::new(OUTBOX).key_path("id"))
            .add_object_store(ObjectStore::new(DEAD).key_path("id"))
            .build()
            .await
            .map_err(|e| describe("IndexedDB did not open", e))?;
        Ok(Self { db: Some(db) })
    }

    fn db(&self) -> Result<&Rexie, String> {
        self.db
            .as_ref()
            .ok_or_else(|| "the database is closed".to_owned())
    }

    /// Reads every entry and dead letter, in id order, in one transaction.
    pub async fn load(&self) -> Result<Loaded, String> {
        const FAILED: &str = "IndexedDB could not be read";
        let tx = self
            .db()?
            .transaction(&STORES, TransactionMode::ReadOnly)
            .map_err(|e| describe(FAILED, e))?;
        let outbox = tx.store(OUTBOX).map_err(|e| describe(FAILED, e))?;
        let dead = tx.store(DEAD).map_err(|e| describe(FAILED, e))?;
        let mut both = settle_in_order(vec![
            Box::pin(outbox.get_all(None, None)),
            Box::pin(dead.get_all(None, None)),
        ])
        .await
        .into_iter();
        let (Some(records), Some(dead_records)) = (both.next(), both.next()) else {
            return Err(FAILED.to_owned());
        };
        let records = records.map_err(|e| describe(FAILED, e))?;
        let dead_records = dead_records.map_err(|e| describe(FAILED, e))?;
        let mut loaded = Loaded {
            entries: Vec::with_capacity(records.len()),
            dead: Vec::with_capacity(dead_records.len()),
            skipped: 0,
        };
        for record in records {
            match from_record(record) {
                Some((entry, _)) => loaded.entries.push(entry),
                None => loaded.skipped += 1,
            }
        }
        for record in dead_records {
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
        let tx = self
            .db()?
            .transaction(&STORES, TransactionMode::ReadWrite)
            .map_err(|e| describe(WRITE_FAILED, e))?;
        let outbox = tx.store(OUTBOX).map_err(|e| describe(WRITE_FAILED, e))?;
        let dead = tx.store(DEAD).map_err(|e| describe(WRITE_FAILED, e))?;
        let (outbox, dead) = (&outbox, &dead);
        // Every value is made before the first request goes out: a failure here leaves the
        // transaction empty, and it commits nothing.
        let mut steps: Vec<Step<'_>> = Vec::with_capacity(ops.len());
        for op in ops {
            let step: Step<'_> = match op {
                StoreOp::Put(entry) => {
                    let value = to_record(entry, None)?;
                    Box::pin(async move { failed(outbox.put(&value, None).await.map(drop)) })
                }
                StoreOp::Delete(id) => {
                    Box::pin(async move { failed(outbox.delete(JsValue::from_str(id)).await) })
                }
                StoreOp::PutDead(letter) => {
                    let value = to_record(&letter.entry, Some(letter))?;
                    Box::pin(async move { failed(dead.put(&value, None).await.map(drop)) })
                }
                StoreOp::DeleteDead(id) => {
                    Box::pin(async move { failed(dead.delete(JsValue::from_str(id)).await) })
                }
                StoreOp::Clear => Box::pin(async move {
                    let both =
                        settle_in_order(vec![Box::pin(outbox.clear()), Box::pin(dead.clear())]);
                    failed(both.await.into_iter().collect())
                }),
            };
            steps.push(step);
        }
        // The first failed request says why; the transaction aborts after it, unheard.
        if let Some(e) = settle_in_order(steps)
            .await
            .into_iter()
            .find_map(Result::err)
        {
            return Err(e);
        }
        // Listened to from here, before the task that commits it (see the module's notes).
        match tx.done().await {
            Ok(TransactionResult::Committed) => Ok(()),
            Ok(TransactionResult::Aborted) => Err("the storage transaction was aborted".to_owned()),
            Err(e) => Err(describe(WRITE_FAILED, e)),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            db.close();
        }
    }
}

/// One step of a transaction, boxed so steps of different kinds run together.
type Step<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

fn failed(result: rexie::Result<()>) -> Result<(), String> {
    result.map_err(|e| describe(WRITE_FAILED, e))
}

/// Polls every future in order, all in the same tick, then until each has settled; their
/// outputs in the same order. For rexie this issues the requests in order and at once.
async fn settle_in_order<F, T>(futures: Vec<F>) -> Vec<T>
where
    F: Future<Output = T> + Unpin,
{
    let mut slots: Vec<(F, Option<T>)> = futures.into_iter().map(|f| (f, None)).collect();
    // The first poll starts every request; after that IndexedDB settles them in order, so a
    // wake-up polls from the first unsettled one and stops at the first still pending: each
    // future is polled a few times, not once per wake-up of any other (that was quadratic in a
    // transaction's size).
    let mut started = false;
    let mut next = 0;
    poll_fn(|cx| {
        let mut at = next;
        while let Some((future, output)) = slots.get_mut(at) {
            if output.is_none() {
                match Pin::new(future).poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending if started => return Poll::Pending,
                    Poll::Pending => {}
                }
            }
            if output.is_some() && at == next {
                next += 1;
            }
            at += 1;
        }
        started = true;
        if next >= slots.len() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    slots.into_iter().filter_map(|(_, output)| output).collect()
}

/// `context`, and the name of the browser's exception when there is one (`QuotaExceededError`,
/// `VersionError`, …).
fn describe(context: &str, error: rexie::Error) -> String {
    let exception = match &error {
        rexie::Error::IdbError(idb::Error::DomException(e)) => Some(e.name()),
        rexie::Error::IdbError(idb::Error::TransactionOpenFailed(value)) => value
            .dyn_ref::<web_sys::DomException>()
            .map(web_sys::DomException::name),
        _ => None,
    };
    match exception {
        Some(name) => context.to_owned() + ": " + &name,
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
