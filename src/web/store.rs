//! The outbox's IndexedDB database: two object stores keyed by entry id, `outbox` and
//! `dead`. Records are plain objects; the payload stays JSON text. The IndexedDB calls are a
//! few lines of JS; every failure comes back as a rejected promise, never as a panic.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::core::{DeadLetter, OutboxEntry, StoreOp};
use crate::protocol::envelope::RawJson;

#[wasm_bindgen(inline_js = r#"
const STORES = ["outbox", "dead"];
export function idbOpen(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      for (const s of Array.from(db.objectStoreNames)) if (!STORES.includes(s)) db.deleteObjectStore(s);
      for (const s of STORES) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s, { keyPath: "id" });
    };
    req.onsuccess = () => {
      const db = req.result;
      db.onversionchange = () => db.close();
      resolve(db);
    };
    req.onerror = () => reject(req.error);
  });
}
export function idbLoad(db) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORES, "readonly");
    const entries = tx.objectStore("outbox").getAll();
    const dead = tx.objectStore("dead").getAll();
    dead.onsuccess = () => resolve([entries.result, dead.result]);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}
export function idbApply(db, ops) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORES, "readwrite");
    tx.oncomplete = () => resolve(true);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => resolve(false);
    try {
      const outbox = tx.objectStore("outbox"), dead = tx.objectStore("dead");
      for (let i = 0; i < ops.length; i += 2) {
        const op = ops[i], value = ops[i + 1];
        if (op === 0) outbox.put(value);
        else if (op === 1) outbox.delete(value);
        else if (op === 2) dead.put(value);
        else if (op === 3) dead.delete(value);
        else { outbox.clear(); dead.clear(); }
      }
    } catch (e) {
      reject(e);
      try { tx.abort(); } catch {}
    }
  });
}
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
    #[wasm_bindgen(js_name = idbOpen)]
    fn idb_open(name: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = idbLoad)]
    fn idb_load(db: &JsValue) -> js_sys::Promise;
    #[wasm_bindgen(js_name = idbApply)]
    fn idb_apply(db: &JsValue, ops: &js_sys::Array) -> js_sys::Promise;
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
    db: JsValue,
}

/// What was in the database when it was opened.
pub struct Loaded {
    pub entries: Vec<OutboxEntry>,
    pub dead: Vec<DeadLetter>,
    /// Records that were not syncline entries (corrupt, or another version's): left alone.
    pub skipped: usize,
}

/// What a failed IndexedDB call reports.
const IDB_ERROR: &str = "idb error";

async fn settle(promise: js_sys::Promise) -> Result<JsValue, String> {
    JsFuture::from(promise)
        .await
        .map_err(|_| IDB_ERROR.to_owned())
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
        let db = settle(idb_open(name)).await?;
        Ok(Self { db })
    }

    /// Reads every entry and dead letter, in id order.
    pub async fn load(&self) -> Result<Loaded, String> {
        let both = js_sys::Array::from(&settle(idb_load(&self.db)).await?);
        let records = js_sys::Array::from(&both.get(0));
        let dead_records = js_sys::Array::from(&both.get(1));
        let mut loaded = Loaded {
            entries: Vec::with_capacity(records.length() as usize),
            dead: Vec::with_capacity(dead_records.length() as usize),
            skipped: 0,
        };
        for record in records.iter() {
            match from_record(&record) {
                Some((entry, _)) => loaded.entries.push(entry),
                None => loaded.skipped += 1,
            }
        }
        for record in dead_records.iter() {
            match from_record(&record) {
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
        // Pairs of (operation code, record or id), as `idbApply` reads them.
        let list = js_sys::Array::new();
        for op in ops {
            let (code, value) = match op {
                StoreOp::Put(entry) => (0, to_record(entry, None)),
                StoreOp::Delete(id) => (1, JsValue::from_str(id)),
                StoreOp::PutDead(letter) => (2, to_record(&letter.entry, Some(letter))),
                StoreOp::DeleteDead(id) => (3, JsValue::from_str(id)),
                StoreOp::Clear => (4, JsValue::NULL),
            };
            list.push(&JsValue::from_f64(code as f64));
            list.push(&value);
        }
        if settle(idb_apply(&self.db, &list)).await?.is_truthy() {
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
