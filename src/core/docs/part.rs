//! The documents part: which channels carry documents, the documents themselves, the app's
//! conflict resolver, and which keys changed since the app last heard.
//!
//! Inputs: [`Documents::handle_event`] (an event on a watched channel), [`Documents::mutate`]
//! and [`Documents::rollback`]; output: [`Documents::poll_changes`], once per animation frame.
//! It keeps no deadline: documents change only when events come.

use std::collections::HashMap;

use super::{Conflict, DocView, Docs, Mutation, Op};
use crate::core::router::SubId;
use crate::protocol::RawJson;
use crate::protocol::value::Value;

/// A document as it is after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocChange {
    pub key: String,
    pub value: RawJson,
    pub version: u64,
    pub pending: usize,
    pub rev: u64,
}

/// The app's conflict resolver.
pub struct AppResolver(pub Box<dyn FnMut(&Conflict) -> Option<Value>>);

impl std::fmt::Debug for AppResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppResolver")
    }
}

/// The documents part; see the module docs.
#[derive(Debug)]
pub struct Documents {
    docs: Docs,
    /// Channels watched for documents, and their internal subscription.
    channels: HashMap<String, SubId>,
    resolver: Option<AppResolver>,
}

impl Documents {
    /// No documents; conflicts settled by `strategy`, the last `audit_size` kept.
    pub fn new(strategy: super::merge::Strategy, audit_size: usize) -> Self {
        Self {
            docs: Docs::new(strategy, audit_size),
            channels: HashMap::new(),
            resolver: None,
        }
    }

    // ----- getters -----

    /// True when `channel` is watched for documents.
    pub fn watches(&self, channel: &str) -> bool {
        self.channels.contains_key(channel)
    }

    /// True when `sub` is one of this part's own subscriptions (not the app's).
    pub fn is_internal(&self, sub: SubId) -> bool {
        self.channels.values().any(|own| *own == sub)
    }

    /// A document as this client sees it: confirmed value with pending changes on top.
    pub fn view(&self, key: &str) -> Option<DocView<'_>> {
        self.docs.view(key)
    }

    /// The visible value of a document (null when unknown).
    pub fn visible(&self, key: &str) -> Value {
        self.docs.visible(key)
    }

    /// The audit trail of conflicts, oldest first.
    pub fn audit(&self) -> impl Iterator<Item = &Conflict> {
        self.docs.audit()
    }

    /// Conflicts settled since the start.
    pub fn conflict_count(&self) -> u64 {
        self.docs.conflict_count()
    }

    /// True when some document changed since the app last heard.
    pub fn has_changes(&self) -> bool {
        self.docs.has_changed()
    }

    // ----- inputs -----

    /// Watches `channel` through the subscription `sub`.
    pub fn watch(&mut self, channel: &str, sub: SubId) {
        self.channels.insert(channel.to_owned(), sub);
    }

    /// Sets how conflicts on `key` (or, with `None`, by default) are settled.
    pub fn set_strategy(&mut self, key: Option<&str>, strategy: super::merge::Strategy) {
        self.docs.set_strategy(key, strategy);
    }

    /// Sets the app's resolver for the `Custom` strategy.
    pub fn set_resolver(&mut self, resolver: Box<dyn FnMut(&Conflict) -> Option<Value>>) {
        self.resolver = Some(AppResolver(resolver));
    }

    /// An event on `channel` (at `seq`): a document change when the channel is watched and
    /// the data is one.
    pub fn handle_event(
        &mut self,
        wall: u64,
        channel: &str,
        seq: u64,
        id: Option<&str>,
        data: &RawJson,
    ) {
        if !self.watches(channel) {
            return;
        }
        let Some(mutation) = Mutation::decode(id, data) else {
            return;
        };
        match self.resolver.as_mut() {
            Some(resolver) => self.docs.apply(seq, mutation, wall, &mut *resolver.0),
            None => self.docs.apply(seq, mutation, wall, &mut |_| None),
        }
    }

    /// This client changes `key` at once; the change to publish (as publish `id`) is returned.
    pub fn mutate(&mut self, id: String, key: &str, op: Op, wall: u64, by: &str) -> Mutation {
        self.docs.mutate(id, key, op, wall, by)
    }

    /// A change that will never be confirmed is undone; returns its key if it was one.
    pub fn rollback(&mut self, id: &str) -> Option<String> {
        self.docs.rollback(id)
    }

    /// A change confirmed outside the server's order: `value` (or the change applied) becomes
    /// the confirmed value; returns its key if it was one.
    pub fn commit(&mut self, id: &str, value: Option<Value>) -> Option<String> {
        self.docs.commit(id, value)
    }

    /// The server's value of `key`, passed on by the app: pending changes go on top of it.
    pub fn set_confirmed(&mut self, key: &str, value: Value) {
        self.docs.set_confirmed(key, value);
    }

    // ----- outputs -----

    /// The documents that changed since the last call, as they are now.
    #[must_use]
    pub fn poll_changes(&mut self) -> Vec<DocChange> {
        self.docs
            .take_changed()
            .into_iter()
            .filter_map(|key| {
                let view = self.docs.view(&key)?;
                Some(DocChange {
                    value: view.value.to_raw(),
                    version: view.version,
                    pending: view.pending,
                    rev: view.rev,
                    key,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::docs::merge::Strategy;

    fn value(text: &str) -> Value {
        Value::from_text(text).unwrap()
    }

    #[test]
    fn only_watched_channels_carry_documents_and_changes_come_once() {
        let mut part = Documents::new(Strategy::LastWriterWins, 8);
        let change = Mutation {
            id: "p1".into(),
            key: "k".into(),
            base: 0,
            op: Op::Set(value(r#"{"a":1}"#)),
            ts: 5,
            by: "other".into(),
        }
        .encode();
        part.handle_event(0, "docs", 1, Some("p1"), &change);
        assert!(part.view("k").is_none(), "the channel is not watched");
        part.watch("docs", SubId(7));
        assert!(part.is_internal(SubId(7)) && !part.is_internal(SubId(8)));
        part.handle_event(0, "docs", 1, Some("p1"), &change);
        let changes = part.poll_changes();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].version, 1);
        assert_eq!(value(changes[0].value.as_str()), value(r#"{"a":1}"#));
        assert!(part.poll_changes().is_empty(), "each change is told once");
    }

    #[test]
    fn a_local_change_shows_at_once_and_a_rollback_undoes_it() {
        let mut part = Documents::new(Strategy::LastWriterWins, 8);
        part.watch("docs", SubId(1));
        let m = part.mutate("p1".into(), "k", Op::Set(value("3")), 1, "me");
        assert_eq!(part.visible("k"), value("3"));
        assert_eq!(Mutation::decode(Some("p1"), &m.encode()), Some(m));
        assert_eq!(part.rollback("p1").as_deref(), Some("k"));
        assert_eq!(part.visible("k"), Value::Null);
    }

    #[test]
    fn setting_null_is_a_change() {
        let m = Mutation {
            id: "x".into(),
            key: "k".into(),
            base: 2,
            op: Op::Set(Value::Null),
            ts: 0,
            by: String::new(),
        };
        assert_eq!(Mutation::decode(Some("x"), &m.encode()), Some(m));
    }
}
