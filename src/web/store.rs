//! The outbox's IndexedDB database, through rexie: two object stores keyed by entry id,
//! `outbox` and `dead`. Records are plain objects; the payload stays JSON text.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use rexie::{ObjectStore, Rexie, TransactionMode};
use wasm_bindgen::prelude::*;

use crate::core::{DeadLetter, OutboxEntry, StoreOp};
use crate::protocol::envelope::RawJson;

const OUTBOX: &str = "outbox";
const DEAD: &str = "dead";

#[wasm_bindgen(inline_js = r#"
export function makeRecord(id, channel, event, data, createdAt, priority, reason, failedAt) {
  const r = { id, channel, event, data, createdAt, priority };
  if (reason !== undefined) { r.reason = reason; r.failedAt = failedAt; }
  return r;
}
export function readRecord(r) {
  if (r === null || typeof r !== "object") return null;
  const { id, channel, event, data, createdAt, priority, reason, failedAt } = r;
  if (typeof id !== "string" || typeof channel !== "string" || typeof event !== "string" ||
      typeof data !== "string" || !Number.isFinite(createdAt) || createdAt < 0) return null;
  return [id, channel, event, data, createdAt, Number.isInteger(priority) ? priority : 0,
          typeof reason === "string" ? reason : "", Number.isFinite(failedAt) ? failedAt : 0];
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = makeRecord)]
    fn make_record(
        id: &str,
        channel: &str,
        event: &str,
        data: &str,
        created_at: f64,
        priority: i32,
        reason: Option<String>,
        failed_at: Option<f64>,
    ) -> JsValue;
    #[wasm_bindgen(js_name = readRecord)]
    fn read_record(record: &JsValue) -> JsValue;
}

/// The outbox database of one storage key.
pub struct Store {
    db: Rexie,
}

/// What was in the database when it was opened.
pub struct Loaded {
    pub entries: Vec<OutboxEntry>,
    pub dead: Vec<DeadLetter>,
    /// Records that were not syncline entries (corrupt, or another version's): left alone.
    pub skipped: usize,
}

fn describe(e: rexie::Error) -> String {
    e.to_string()
}

impl Store {
    /// Opens (creating on first use) the database `name`.
    pub async fn open(name: &str) -> Result<Self, String> {
        let has_idb = web_sys::window()
            .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str("indexedDB")).ok())
            .is_some_and(|idb| !idb.is_undefined() && !idb.is_null());
        if !has_idb {
            return Err("IndexedDB is not available in this context".to_owned());
        }
        let db = Rexie::builder(name)
            .version(1)
            .add_object_store(ObjectStore::new(OUTBOX).key_path("id"))
            .add_object_store(ObjectStore::new(DEAD).key_path("id"))
            .build()
            .await
            .map_err(describe)?;
        Ok(Self { db })
    }

    /// Reads every entry and dead letter, in id order.
    pub async fn load(&self) -> Result<Loaded, String> {
        let tx = self
            .db
            .transaction(&[OUTBOX, DEAD], TransactionMode::ReadOnly)
            .map_err(describe)?;
        let outbox = tx.store(OUTBOX).map_err(describe)?;
        let dead = tx.store(DEAD).map_err(describe)?;
        let records = outbox.get_all(None, None).await.map_err(describe)?;
        let dead_records = dead.get_all(None, None).await.map_err(describe)?;
        let mut loaded = Loaded {
            entries: Vec::with_capacity(records.len()),
            dead: Vec::with_capacity(dead_records.len()),
            skipped: 0,
        };
        for record in &records {
            match from_record(record) {
                Some((entry, _)) => loaded.entries.push(entry),
                None => loaded.skipped += 1,
            }
        }
        for record in &dead_records {
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
            .db
            .transaction(&[OUTBOX, DEAD], TransactionMode::ReadWrite)
            .map_err(describe)?;
        let (outbox, dead) = (
            &tx.store(OUTBOX).map_err(describe)?,
            &tx.store(DEAD).map_err(describe)?,
        );
        let mut requests: Vec<Pin<Box<dyn Future<Output = rexie::Result<()>> + '_>>> =
            Vec::with_capacity(ops.len());
        for op in ops {
            if let StoreOp::Clear = op {
                requests.push(Box::pin(outbox.clear()));
            }
            requests.push(match op {
                StoreOp::Put(entry) => {
                    let record = to_record(entry, None);
                    Box::pin(async move { outbox.put(&record, None).await.map(|_| ()) })
                }
                StoreOp::Delete(id) => Box::pin(outbox.delete(JsValue::from_str(id))),
                StoreOp::PutDead(letter) => {
                    let record = to_record(&letter.entry, Some(letter));
                    Box::pin(async move { dead.put(&record, None).await.map(|_| ()) })
                }
                StoreOp::DeleteDead(id) => Box::pin(dead.delete(JsValue::from_str(id))),
                StoreOp::Clear => Box::pin(dead.clear()),
            });
        }
        // Issue every request now (one poll each starts it; IndexedDB runs them in order),
        // then wait only for the transaction: it commits all of them or none. The request
        // futures stay alive until then so that their callbacks have somewhere to go.
        let mut context = Context::from_waker(Waker::noop());
        for request in &mut requests {
            if let Poll::Ready(Err(e)) = request.as_mut().poll(&mut context) {
                return Err(describe(e));
            }
        }
        let outcome = tx.done().await.map_err(describe)?;
        drop(requests);
        if outcome.is_committed() {
            Ok(())
        } else {
            Err("the storage transaction was aborted".to_owned())
        }
    }
}

fn to_record(entry: &OutboxEntry, dead: Option<&DeadLetter>) -> JsValue {
    make_record(
        &entry.id,
        &entry.channel,
        &entry.event,
        entry.data.as_str(),
        entry.created_at as f64,
        entry.priority,
        dead.map(|d| d.reason.clone()),
        dead.map(|d| d.failed_at as f64),
    )
}

/// A stored record as an entry (and, for dead letters, reason and time); `None` if it is not
/// one. Nothing read from storage is trusted: fields are checked here and the payload is
/// validated as JSON before it can be sent.
fn from_record(record: &JsValue) -> Option<(OutboxEntry, (String, u64))> {
    let fields = js_sys::Array::from(&read_record(record));
    if fields.length() != 8 {
        return None;
    }
    let text = |i: u32| fields.get(i).as_string();
    let number = |i: u32| {
        fields
            .get(i)
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    let entry = OutboxEntry {
        id: text(0)?,
        channel: text(1)?,
        event: text(2)?,
        data: RawJson::parse(text(3)?).ok()?,
        created_at: number(4)? as u64,
        priority: fields.get(5).as_f64()? as i32,
    };
    Some((entry, (text(6)?, number(7)? as u64)))
}
