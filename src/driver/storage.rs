//! Group commit: one IndexedDB write transaction at a time. Every storage change the core
//! asks for within one tick of the event loop, and all it asks for while a transaction is
//! committing, goes into the next transaction, so under load transactions grow instead of
//! queueing up. The queue and the open database are shared with the
//! writing task, so a write already asked for completes even if the client is dropped.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::Inner;

use gloo_timers::callback::Timeout;

use crate::core::StoreOp;
use crate::web::store::Store;

/// How long opening IndexedDB may take (it can be blocked by another tab's old connection)
/// before the outbox works from memory instead.
const OPEN_TIMEOUT_MS: u32 = 5_000;

enum Phase {
    Opening,
    Open(Rc<Store>),
    Unavailable,
}

/// Storage changes waiting for the next transaction.
pub(super) struct StoreQueue {
    phase: Phase,
    pending: Vec<StoreOp>,
    scheduled: bool,
    /// A transaction is committing; what is asked for meanwhile waits for it.
    writing: bool,
    /// The give-up timer while the database is opening; dropped (cleared) once it has opened,
    /// so an idle page has no stray wakeup.
    open_timeout: Option<Timeout>,
}

pub(super) type SharedQueue = Rc<RefCell<StoreQueue>>;

/// A queue for a database that is still being opened.
pub(super) fn new_queue() -> SharedQueue {
    Rc::new(RefCell::new(StoreQueue {
        phase: Phase::Opening,
        pending: Vec::new(),
        scheduled: false,
        writing: false,
        open_timeout: None,
    }))
}

impl Inner {
    /// Opens the database `name`, hands its contents to the core, then writes what waited.
    pub(super) fn open_storage(self: &Rc<Self>, name: String) {
        let weak = Rc::downgrade(self);
        let queue = self.storage.clone();
        let (timeout_weak, timeout_queue) = (weak.clone(), queue.clone());
        let timeout = Timeout::new(OPEN_TIMEOUT_MS, move || {
            give_up_opening(
                &timeout_queue,
                &timeout_weak,
                "IndexedDB did not open within 5 s (blocked?)".to_owned(),
            );
        });
        if let Ok(mut q) = queue.try_borrow_mut() {
            q.open_timeout = Some(timeout);
        }
        wasm_bindgen_futures::spawn_local(async move {
            let opened = match Store::open(&name).await {
                Ok(store) => store.load().await.map(|loaded| (store, loaded)),
                Err(e) => Err(e),
            };
            match opened {
                Ok((store, loaded)) => {
                    match queue.try_borrow_mut() {
                        Ok(mut q) if matches!(q.phase, Phase::Opening) => {
                            q.phase = Phase::Open(Rc::new(store));
                            q.open_timeout = None;
                        }
                        // Too late: the outbox already works from memory.
                        _ => return,
                    }
                    if let Some(inner) = weak.upgrade() {
                        inner.input(|core, now| {
                            core.handle_storage_loaded(
                                now,
                                loaded.entries,
                                loaded.dead,
                                loaded.skipped,
                            )
                        });
                    }
                    schedule_flush(&queue, &weak);
                }
                Err(reason) => {
                    give_up_opening(&queue, &weak, reason);
                    // Not from inside the timer's own callback: here it has not fired.
                    let timeout = queue
                        .try_borrow_mut()
                        .ok()
                        .and_then(|mut q| q.open_timeout.take());
                    drop(timeout);
                }
            }
        });
    }

    /// Queues storage changes for this tick's transaction.
    pub(super) fn queue_store(self: &Rc<Self>, ops: Vec<StoreOp>) {
        let Ok(mut q) = self.storage.try_borrow_mut() else {
            return;
        };
        if matches!(q.phase, Phase::Unavailable) {
            return;
        }
        q.pending.extend(ops);
        drop(q);
        schedule_flush(&self.storage, &Rc::downgrade(self));
    }
}

/// Storage will not be used: the core keeps entries in memory from now on.
fn give_up_opening(queue: &SharedQueue, inner: &Weak<Inner>, reason: String) {
    match queue.try_borrow_mut() {
        Ok(mut q) if matches!(q.phase, Phase::Opening) => {
            q.phase = Phase::Unavailable;
            q.pending.clear();
        }
        _ => return,
    }
    if let Some(inner) = inner.upgrade() {
        inner.input(|core, now| core.handle_storage_unavailable(now, reason));
    }
}

fn schedule_flush(queue: &SharedQueue, inner: &Weak<Inner>) {
    let Ok(mut q) = queue.try_borrow_mut() else {
        return;
    };
    if q.scheduled || q.writing || q.pending.is_empty() || !matches!(q.phase, Phase::Open(_)) {
        return;
    }
    q.scheduled = true;
    drop(q);
    // Runs as a microtask: after everything else this tick has queued.
    wasm_bindgen_futures::spawn_local(flush(queue.clone(), inner.clone()));
}

async fn flush(queue: SharedQueue, inner: Weak<Inner>) {
    let taken = match queue.try_borrow_mut() {
        Ok(mut q) => {
            q.scheduled = false;
            let store = match &q.phase {
                Phase::Open(store) => store.clone(),
                _ => return,
            };
            q.writing = true;
            Some((store, std::mem::take(&mut q.pending)))
        }
        Err(_) => None,
    };
    let Some((store, ops)) = taken else {
        return;
    };
    let put_ids: Vec<String> = ops
        .iter()
        .filter_map(|op| match op {
            StoreOp::Put(entry) => Some(entry.id.clone()),
            _ => None,
        })
        .collect();
    let result = store.apply(&ops).await;
    if let Ok(mut q) = queue.try_borrow_mut() {
        q.writing = false;
    }
    if let Some(inner) = inner.upgrade() {
        inner.input(|core, now| match result {
            Ok(()) => core.handle_stored(now, &put_ids),
            Err(reason) => core.handle_store_failed(now, &put_ids, reason),
        });
    }
    // What was asked for while this transaction committed.
    schedule_flush(&queue, &inner);
}

impl Inner {
    /// The database, once open.
    pub(super) fn open_store(&self) -> Option<Rc<Store>> {
        match &self.storage.try_borrow().ok()?.phase {
            Phase::Open(store) => Some(store.clone()),
            _ => None,
        }
    }

    /// True while storage changes asked for have not all committed (or failed) yet.
    pub(super) fn storage_busy(&self) -> bool {
        self.storage.try_borrow().is_ok_and(|q| {
            matches!(q.phase, Phase::Open(_)) && (q.writing || q.scheduled || !q.pending.is_empty())
        })
    }

    /// Reads the shared outbox again (a tab that starts leading takes over what the others
    /// left there); entries already known are kept as they are.
    pub(super) fn reload_storage(self: &Rc<Self>) {
        let store = match self.storage.try_borrow() {
            Ok(q) => match &q.phase {
                Phase::Open(store) => store.clone(),
                _ => return,
            },
            Err(_) => return,
        };
        let weak = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            if let (Ok(loaded), Some(inner)) = (store.load().await, weak.upgrade()) {
                inner.input(|core, now| {
                    core.handle_storage_loaded(now, loaded.entries, loaded.dead, loaded.skipped)
                });
            }
        });
    }
}
