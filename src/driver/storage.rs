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
use crate::web::store::{self, Store};

/// How long opening IndexedDB may take (it can be blocked by another tab's old connection)
/// before the outbox works from memory instead.
const OPEN_TIMEOUT_MS: u32 = 5_000;
/// Reopening after the database was lost: the first try after this, then twice as long after
/// each failure, up to [`REOPEN_MAX_MS`]; tries go on as long as the page lives.
const REOPEN_FIRST_MS: u32 = 100;
const REOPEN_MAX_MS: u32 = 30_000;

enum Phase {
    Opening,
    Open(Rc<Store>),
    /// The database was lost (a write to it failed: deleted or closed under the page, over the
    /// quota) or did not open: the outbox works from memory and a timer tries to open it again.
    Lost,
    /// This context has no IndexedDB: memory for good.
    Unavailable,
}

/// Storage changes waiting for the next transaction.
pub(super) struct StoreQueue {
    phase: Phase,
    /// The database's name (the storage key).
    name: String,
    /// Counts the databases opened: a loss reported for an earlier one is ignored.
    generation: u64,
    /// Tries to reopen since the last write that committed.
    failures: u32,
    pending: Vec<StoreOp>,
    scheduled: bool,
    /// A transaction is committing; what is asked for meanwhile waits for it.
    writing: bool,
    /// The give-up timer while the database is opening, then the reopen timer; dropped
    /// (cleared) once it has opened, so an idle page has no stray wakeup.
    timer: Option<Timeout>,
}

pub(super) type SharedQueue = Rc<RefCell<StoreQueue>>;

/// A queue for a database that is still being opened.
pub(super) fn new_queue() -> SharedQueue {
    Rc::new(RefCell::new(StoreQueue {
        phase: Phase::Opening,
        name: String::new(),
        generation: 0,
        failures: 0,
        pending: Vec::new(),
        scheduled: false,
        writing: false,
        timer: None,
    }))
}

impl Inner {
    /// Opens the database `name`, hands its contents to the core, then writes what waited.
    pub(super) fn open_storage(self: &Rc<Self>, name: String) {
        let weak = Rc::downgrade(self);
        let queue = self.storage.clone();
        if !store::available() {
            give_up(
                &queue,
                &weak,
                "IndexedDB is not available in this context".to_owned(),
                false,
            );
            return;
        }
        let (timeout_weak, timeout_queue) = (weak.clone(), queue.clone());
        let timeout = Timeout::new(OPEN_TIMEOUT_MS, move || {
            let reason = "IndexedDB did not open within 5 s (blocked?)".to_owned();
            give_up(&timeout_queue, &timeout_weak, reason, true);
        });
        if let Ok(mut q) = queue.try_borrow_mut() {
            q.name = name;
            q.timer = Some(timeout);
        }
        wasm_bindgen_futures::spawn_local(connect(queue, weak));
    }

    /// Queues storage changes for this tick's transaction.
    pub(super) fn queue_store(self: &Rc<Self>, ops: Vec<StoreOp>) {
        let Ok(mut q) = self.storage.try_borrow_mut() else {
            return;
        };
        // Once reopened, everything held is written back: nothing to keep meanwhile.
        if matches!(q.phase, Phase::Unavailable | Phase::Lost) {
            return;
        }
        q.pending.extend(ops);
        drop(q);
        schedule_flush(&self.storage, &Rc::downgrade(self));
    }
}

/// Opens the database and reads it; the core hears what it held (a first open) or writes back
/// what it holds (a reopen).
async fn connect(queue: SharedQueue, inner: Weak<Inner>) {
    let Some((name, generation)) = queue.try_borrow_mut().ok().map(|mut q| {
        q.generation += 1;
        (q.name.clone(), q.generation)
    }) else {
        return;
    };
    let opened = match Store::open(&name).await {
        Ok(store) => store.load().await.map(|loaded| (store, loaded)),
        Err(e) => Err(e),
    };
    let (store, loaded) = match opened {
        Ok(opened) => opened,
        Err(reason) => {
            give_up(&queue, &inner, reason, true);
            return;
        }
    };
    let reopened = match queue.try_borrow_mut() {
        Ok(mut q) if matches!(q.phase, Phase::Opening | Phase::Lost) => {
            let reopened = matches!(q.phase, Phase::Lost);
            q.phase = Phase::Open(Rc::new(store));
            q.generation = generation;
            q.timer = None;
            reopened
        }
        // Opened already by another try, or no IndexedDB at all.
        _ => return,
    };
    if let Some(inner) = inner.upgrade() {
        let (entries, dead, skipped) = (loaded.entries, loaded.dead, loaded.skipped);
        inner.input(|core, now| {
            if reopened {
                core.handle_storage_reopened(now, entries, dead, skipped);
            } else {
                core.handle_storage_loaded(now, entries, dead, skipped);
            }
        });
    }
    schedule_flush(&queue, &inner);
}

/// The database did not open (or not in time): the core works from memory, and another try
/// comes later when `retry`.
fn give_up(queue: &SharedQueue, inner: &Weak<Inner>, reason: String, retry: bool) {
    let first = match queue.try_borrow_mut() {
        Ok(mut q) => match q.phase {
            Phase::Opening => {
                q.phase = if retry {
                    Phase::Lost
                } else {
                    Phase::Unavailable
                };
                q.pending.clear();
                true
            }
            Phase::Lost => false,
            Phase::Open(_) | Phase::Unavailable => return,
        },
        Err(_) => return,
    };
    if first && let Some(inner) = inner.upgrade() {
        inner.input(|core, now| core.handle_storage_unavailable(now, reason));
    }
    if retry {
        schedule_reopen(queue, inner);
    }
}

/// A write to the open database `generation` failed: the database was deleted or closed under
/// the page (rexie's `InvalidStateError`, `AbortError`, …), or the origin is over its quota.
/// Memory until it is reopened. A failure of an earlier database is ignored (what it was
/// writing is written back after the reopen anyway). rexie does not hand out the connection,
/// so its `close` event is not heard: a loss shows at the next write.
fn lose(
    queue: &SharedQueue,
    inner: &Weak<Inner>,
    generation: u64,
    put_ids: &[String],
    reason: String,
) {
    let store = match queue.try_borrow_mut() {
        Ok(mut q) if matches!(q.phase, Phase::Open(_)) && q.generation == generation => {
            q.pending.clear();
            std::mem::replace(&mut q.phase, Phase::Lost)
        }
        _ => return,
    };
    // Closes the connection, if the browser has not.
    drop(store);
    if let Some(inner) = inner.upgrade() {
        inner.input(|core, now| core.handle_store_failed(now, put_ids, reason));
    }
    schedule_reopen(queue, inner);
}

fn schedule_reopen(queue: &SharedQueue, inner: &Weak<Inner>) {
    let Ok(mut q) = queue.try_borrow_mut() else {
        return;
    };
    let delay = REOPEN_FIRST_MS
        .saturating_mul(1 << q.failures.min(16))
        .min(REOPEN_MAX_MS);
    q.failures = q.failures.saturating_add(1);
    let (timer_queue, timer_inner) = (queue.clone(), inner.clone());
    q.timer = Some(Timeout::new(delay, move || {
        if timer_queue
            .try_borrow()
            .is_ok_and(|q| matches!(q.phase, Phase::Lost))
        {
            wasm_bindgen_futures::spawn_local(connect(timer_queue, timer_inner));
        }
    }));
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
            Some((store, q.generation, std::mem::take(&mut q.pending)))
        }
        Err(_) => None,
    };
    let Some((store, generation, ops)) = taken else {
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
    drop(store);
    if let Ok(mut q) = queue.try_borrow_mut() {
        q.writing = false;
        if result.is_ok() {
            q.failures = 0;
        }
    }
    match result {
        Ok(()) => {
            if let Some(inner) = inner.upgrade() {
                inner.input(|core, now| core.handle_stored(now, &put_ids));
            }
        }
        // Over the quota, the database closed or deleted: memory, and reopen.
        Err(reason) => lose(&queue, &inner, generation, &put_ids, reason),
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
