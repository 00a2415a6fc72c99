//! Optimistic operations confirmed by any promise (`client.optimistic(key, change, confirm)`):
//! the change shows at once as a pending change of document `key`, in this tab and in the
//! other tabs of the origin, and is committed or rolled back when the app's promise settles.
//! The promise runs in the tab that began the operation; the others follow it over the tab
//! bus and roll its operations back if that tab goes away before they settle.

use super::client::{Action, ClientCore};
use super::docs::Op;
use super::tabs::{TabAction, TabBody};
use crate::protocol::RawJson;
use crate::protocol::value::Value;

/// The tab-bus topic of optimistic operations (not an app's broadcast).
pub const TOPIC: &str = "syncline.optimistic";

/// What a [`Step`] does.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Begin,
    Commit,
    Rollback,
}

/// One step of an operation, as the other tabs hear it: `{"step":"begin","id","key","set"|"patch"}`,
/// `{"step":"commit","id","value"?}` or `{"step":"rollback","id"}`. A flat struct rather than
/// an enum tagged by `step`: serde reads a tagged enum through its buffered `Content`, code
/// the wasm needs for nothing else.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Step {
    step: Kind,
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    set: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    patch: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
}

impl Step {
    fn new(step: Kind, id: String) -> Self {
        Self {
            step,
            id,
            key: None,
            set: None,
            patch: None,
            value: None,
        }
    }
}

impl ClientCore {
    /// Applies `op` to document `key` at once as operation `id`, pending until
    /// [`ClientCore::settle_optimistic`]; the other tabs show it too.
    pub fn begin_optimistic(&mut self, now: u64, id: String, key: &str, op: Op) {
        let by = self.config.client_id.clone();
        self.docs
            .mutate(id.clone(), key, op.clone(), self.wall(now), &by);
        let (set, patch) = match op {
            Op::Set(v) => (Some(v), None),
            Op::Patch(v) => (None, Some(v)),
        };
        self.tell_tabs(&Step {
            key: Some(key.to_owned()),
            set,
            patch,
            ..Step::new(Kind::Begin, id)
        });
        self.finish(now);
    }

    /// Operation `id`'s promise settled: `Some(value)` commits it (the confirmed value
    /// becomes `value`, or the change applied when `None`), `None` rolls it back.
    pub fn settle_optimistic(&mut self, now: u64, id: String, outcome: Option<Option<Value>>) {
        match outcome {
            Some(value) => {
                self.docs.commit(&id, value.clone());
                self.tell_tabs(&Step {
                    value,
                    ..Step::new(Kind::Commit, id)
                });
            }
            None => {
                self.docs.rollback(&id);
                self.tell_tabs(&Step::new(Kind::Rollback, id));
            }
        }
        self.finish(now);
    }

    /// The server's value of document `key`, passed on by the app (from its own server's
    /// update): pending changes are applied again on top of it.
    pub fn set_document(&mut self, now: u64, key: &str, value: Value) {
        self.docs.set_confirmed(key, value);
        self.finish(now);
    }

    /// A step of another tab's operation.
    pub fn handle_optimistic_step(&mut self, now: u64, from: &str, data: &RawJson) {
        let Ok(step) = data.read::<Step>() else {
            return;
        };
        let Step {
            step,
            id,
            key,
            set,
            patch,
            value,
        } = step;
        match step {
            Kind::Begin => {
                let op = match (set, patch) {
                    (Some(v), _) => Op::Set(v),
                    (None, Some(p)) => Op::Patch(p),
                    (None, None) => return,
                };
                let Some(key) = key else {
                    return;
                };
                self.remote
                    .entry(from.to_owned())
                    .or_default()
                    .push(id.clone());
                self.docs.mutate(id, &key, op, self.wall(now), from);
            }
            Kind::Commit => {
                self.forget_remote(from, &id);
                self.docs.commit(&id, value);
            }
            Kind::Rollback => {
                self.forget_remote(from, &id);
                self.docs.rollback(&id);
            }
        }
        self.finish(now);
    }

    /// Tab `tab` went away: the operations it began and did not settle never will be.
    pub(super) fn roll_back_tab(&mut self, tab: &str) {
        for id in self.remote.remove(tab).unwrap_or_default() {
            self.docs.rollback(&id);
        }
    }

    fn forget_remote(&mut self, tab: &str, id: &str) {
        if let Some(ids) = self.remote.get_mut(tab) {
            ids.retain(|i| i != id);
            if ids.is_empty() {
                self.remote.remove(tab);
            }
        }
    }

    fn tell_tabs(&mut self, step: &Step) {
        let body = TabBody::Broadcast {
            topic: TOPIC.to_owned(),
            data: RawJson::to_json(step),
        };
        self.actions
            .push_back(Action::Tab(TabAction::Post { to: None, body }));
    }
}
