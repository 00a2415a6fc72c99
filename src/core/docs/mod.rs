//! Keyed documents with optimistic changes: the visible value of a key is the value the
//! server's order has confirmed, with this client's pending changes replayed on top.
//!
//! A change is published through the outbox as an event on the document's channel. Every
//! client (the author too) applies the events of a channel in the server's order; a change
//! based on an older version than another writer's later change is a conflict, settled by the
//! key's [`Strategy`]. Since every client sees the same order and applies the same rule, all
//! converge. A change the server refuses for good is rolled back.

pub mod merge;
mod part;

pub use part::{AppResolver, DocChange, Documents};

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::protocol::RawJson;
use crate::protocol::value::Value;
use merge::{Side, Strategy, apply_patch, resolve};

/// Marker field of a document change inside an event's data.
const MARKER: &str = "syncline.doc";
/// Writers remembered per document, to tell a conflict from a run of this writer's own changes.
const WRITER_HISTORY: usize = 64;

/// What a change does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Replace the value.
    Set(Value),
    /// Merge a JSON merge patch into it.
    Patch(Value),
}

impl Op {
    fn apply(&self, base: &Value) -> Value {
        match self {
            Self::Set(v) => v.clone(),
            Self::Patch(p) => apply_patch(base, p),
        }
    }
}

/// One change of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// The publish id.
    pub id: String,
    pub key: String,
    /// The version (channel sequence) the author saw.
    pub base: u64,
    pub op: Op,
    /// Author's clock, Unix ms.
    pub ts: u64,
    /// Author's client id.
    pub by: String,
}

/// A change as it travels in an event's data: `{"syncline.doc":1,"key",…,"set"|"patch"}`.
#[derive(serde::Serialize, serde::Deserialize)]
struct MutationShape {
    #[serde(rename = "syncline.doc")]
    marker: u64,
    key: String,
    #[serde(default)]
    base: u64,
    #[serde(default)]
    ts: u64,
    #[serde(default)]
    by: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    set: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    patch: Option<Value>,
}

/// A field that is there, `null` included (an absent one is `None` by `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(d).map(Some)
}

impl Mutation {
    /// The event data that carries this change.
    pub fn encode(&self) -> RawJson {
        let (set, patch) = match &self.op {
            Op::Set(v) => (Some(v.clone()), None),
            Op::Patch(v) => (None, Some(v.clone())),
        };
        RawJson::to_json(&MutationShape {
            marker: 1,
            key: self.key.clone(),
            base: self.base,
            ts: self.ts,
            by: self.by.clone(),
            set,
            patch,
        })
    }

    /// Reads a change from an event (`None` when the event is not one).
    pub fn decode(id: Option<&str>, data: &RawJson) -> Option<Self> {
        if !data.as_str().contains(MARKER) {
            return None;
        }
        let shape: MutationShape = data.read().ok()?;
        if shape.marker != 1 {
            return None;
        }
        let op = match (shape.set, shape.patch) {
            (Some(value), _) => Op::Set(value),
            (None, Some(patch)) => Op::Patch(patch),
            (None, None) => return None,
        };
        Some(Self {
            id: id.unwrap_or_default().to_owned(),
            key: shape.key,
            base: shape.base,
            op,
            ts: shape.ts,
            by: shape.by,
        })
    }
}

/// A conflict and how it was settled, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub key: String,
    /// The version the change became.
    pub version: u64,
    pub strategy: Strategy,
    /// What the server held, and who wrote it when.
    pub server: Value,
    pub server_ts: u64,
    pub server_by: String,
    /// What the concurrent change proposed, and who wrote it when.
    pub client: Value,
    pub client_ts: u64,
    pub client_by: String,
    /// The value kept.
    pub resolved: Value,
    /// The change's publish id.
    pub id: String,
    /// When it was settled here, Unix ms.
    pub at: u64,
}

/// Asks the app to settle a conflict (the `Custom` strategy): `None` falls back to
/// last-writer-wins.
pub type Resolver<'a> = dyn FnMut(&Conflict) -> Option<Value> + 'a;

#[derive(Debug, Clone)]
struct Doc {
    confirmed: Value,
    version: u64,
    ts: u64,
    by: String,
    writers: VecDeque<(u64, String)>,
    pending: Vec<Mutation>,
    visible: Value,
    /// Moves whenever the visible value or the pending count may have changed.
    rev: u64,
}

impl Doc {
    fn new() -> Self {
        Self {
            confirmed: Value::Null,
            version: 0,
            ts: 0,
            by: String::new(),
            writers: VecDeque::new(),
            pending: Vec::new(),
            visible: Value::Null,
            rev: 0,
        }
    }

    fn recompute(&mut self) {
        self.rev += 1;
        self.visible = self
            .pending
            .iter()
            .fold(self.confirmed.clone(), |v, m| m.op.apply(&v));
    }

    /// Whether someone other than `by` wrote after version `base`.
    fn foreign_write_since(&self, base: u64, by: &str) -> bool {
        if base >= self.version {
            return false;
        }
        let oldest_known = self.writers.front().map_or(u64::MAX, |(v, _)| *v);
        if base + 1 < oldest_known {
            return true;
        }
        self.writers.iter().any(|(v, w)| *v > base && w != by)
    }
}

/// A document as the app sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocView<'a> {
    pub value: &'a Value,
    pub version: u64,
    pub pending: usize,
    /// Moves whenever anything else here may have changed (for caching views).
    pub rev: u64,
}

/// All documents of a client.
#[derive(Debug)]
pub struct Docs {
    docs: HashMap<String, Doc>,
    default: Strategy,
    per_key: HashMap<String, Strategy>,
    audit: VecDeque<Conflict>,
    audit_cap: usize,
    conflicts: u64,
    changed: BTreeSet<String>,
}

impl Docs {
    /// No documents yet; conflicts settled by `default`; the last `audit_cap` kept.
    pub fn new(default: Strategy, audit_cap: usize) -> Self {
        Self {
            docs: HashMap::new(),
            default,
            per_key: HashMap::new(),
            audit: VecDeque::new(),
            audit_cap,
            conflicts: 0,
            changed: BTreeSet::new(),
        }
    }

    /// Sets the strategy of one key, or the default (`None`).
    pub fn set_strategy(&mut self, key: Option<&str>, strategy: Strategy) {
        match key {
            Some(key) => {
                self.per_key.insert(key.to_owned(), strategy);
            }
            None => self.default = strategy,
        }
    }

    /// The strategy that settles conflicts on `key`.
    pub fn strategy(&self, key: &str) -> Strategy {
        self.per_key.get(key).copied().unwrap_or(self.default)
    }

    /// A document's visible value, version and pending changes.
    pub fn view(&self, key: &str) -> Option<DocView<'_>> {
        self.docs.get(key).map(|d| DocView {
            value: &d.visible,
            version: d.version,
            pending: d.pending.len(),
            rev: d.rev,
        })
    }

    /// The visible value of `key` (null when unknown).
    pub fn visible(&self, key: &str) -> Value {
        self.docs
            .get(key)
            .map_or(Value::Null, |d| d.visible.clone())
    }

    /// A local change: applied to the visible value at once, pending until the server's
    /// order confirms it (or it is rolled back).
    pub fn mutate(&mut self, id: String, key: &str, op: Op, ts: u64, by: &str) -> Mutation {
        let doc = self.docs.entry(key.to_owned()).or_insert_with(Doc::new);
        let mutation = Mutation {
            id,
            key: key.to_owned(),
            base: doc.version,
            op,
            ts,
            by: by.to_owned(),
        };
        doc.pending.push(mutation.clone());
        doc.recompute();
        self.changed.insert(key.to_owned());
        mutation
    }

    /// A change in the server's order, as sequence `seq` of its channel (anyone's, this
    /// client's included). Applied once; a conflict is settled and recorded.
    pub fn apply(&mut self, seq: u64, m: Mutation, wall: u64, resolver: &mut Resolver<'_>) {
        let strategy = self.strategy(&m.key);
        let doc = self.docs.entry(m.key.clone()).or_insert_with(Doc::new);
        let was_pending = doc
            .pending
            .iter()
            .position(|p| p.id == m.id && !m.id.is_empty());
        if let Some(i) = was_pending {
            doc.pending.remove(i);
        }
        if seq <= doc.version {
            doc.recompute();
            return;
        }
        let proposed = m.op.apply(&doc.confirmed);
        let (value, ts) = if doc.foreign_write_since(m.base, &m.by) {
            let mut conflict = Conflict {
                key: m.key.clone(),
                version: seq,
                strategy,
                server: doc.confirmed.clone(),
                server_ts: doc.ts,
                server_by: doc.by.clone(),
                client: proposed,
                client_ts: m.ts,
                client_by: m.by.clone(),
                resolved: Value::Null,
                id: m.id.clone(),
                at: wall,
            };
            let server = Side {
                value: &conflict.server,
                ts: conflict.server_ts,
                by: &conflict.server_by,
            };
            let client = Side {
                value: &conflict.client,
                ts: conflict.client_ts,
                by: &conflict.client_by,
            };
            let built_in = resolve(strategy, &server, &client);
            conflict.resolved = match strategy {
                Strategy::Custom => resolver(&conflict).unwrap_or(built_in),
                _ => built_in,
            };
            let value = conflict.resolved.clone();
            self.conflicts += 1;
            if self.audit.len() >= self.audit_cap {
                self.audit.pop_front();
            }
            if self.audit_cap > 0 {
                self.audit.push_back(conflict);
            }
            (value, doc.ts.max(m.ts))
        } else {
            (proposed, m.ts)
        };
        doc.confirmed = value;
        doc.version = seq;
        doc.ts = ts;
        doc.by = m.by.clone();
        doc.writers.push_back((seq, m.by));
        if doc.writers.len() > WRITER_HISTORY {
            doc.writers.pop_front();
        }
        doc.recompute();
        self.changed.insert(m.key);
    }

    /// The server refused change `id` for good: it leaves the pending list. Returns its key.
    pub fn rollback(&mut self, id: &str) -> Option<String> {
        for (key, doc) in &mut self.docs {
            if let Some(i) = doc.pending.iter().position(|p| p.id == id) {
                doc.pending.remove(i);
                doc.recompute();
                self.changed.insert(key.clone());
                return Some(key.clone());
            }
        }
        None
    }

    /// Change `id` was confirmed outside the server's order (an optimistic operation's
    /// promise resolved): it leaves the pending list, and the confirmed value becomes `value`,
    /// or the change applied to it. Returns its key.
    pub fn commit(&mut self, id: &str, value: Option<Value>) -> Option<String> {
        for (key, doc) in &mut self.docs {
            if let Some(i) = doc.pending.iter().position(|p| p.id == id) {
                let change = doc.pending.remove(i);
                doc.confirmed = value.unwrap_or_else(|| change.op.apply(&doc.confirmed));
                doc.recompute();
                self.changed.insert(key.clone());
                return Some(key.clone());
            }
        }
        None
    }

    /// The server's value of `key`, from outside a syncline channel (the app passes on its
    /// server's update): it becomes the confirmed value, pending changes on top of it.
    pub fn set_confirmed(&mut self, key: &str, value: Value) {
        let doc = self.docs.entry(key.to_owned()).or_insert_with(Doc::new);
        doc.confirmed = value;
        doc.recompute();
        self.changed.insert(key.to_owned());
    }

    /// True when some key's visible value may have changed since the last take.
    pub fn has_changed(&self) -> bool {
        !self.changed.is_empty()
    }

    /// Keys whose visible value may have changed since the last call.
    pub fn take_changed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.changed).into_iter().collect()
    }

    /// The audit trail, oldest first.
    pub fn audit(&self) -> impl Iterator<Item = &Conflict> {
        self.audit.iter()
    }

    /// Conflicts settled since the start.
    pub fn conflict_count(&self) -> u64 {
        self.conflicts
    }
}
