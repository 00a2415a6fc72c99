//! The client's update processing: documents with optimistic changes, paced subscriptions,
//! batched publishes, animation frames, and the metrics snapshot.

use super::client::{ClientCore, Event};
use super::docs::merge::Strategy;
use super::docs::{Conflict, DocView, Op};
use super::error::SendError;
pub use super::messaging::SubscribeSpec;
use super::messaging::pending::{AnswerPolicy, Outgoing};
use super::messaging::router::SubId;
use super::outbox::OutboxEntry;
use super::state::ConnectionState;
use crate::protocol::envelope::{ClientMessage, RawJson};
use crate::protocol::value::Value;

/// Numbers about the client, read as a whole (`client.metrics()`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSnapshot {
    pub rtt_last_ms: Option<u64>,
    pub rtt_p50_ms: Option<u64>,
    pub rtt_p99_ms: Option<u64>,
    pub reconnects: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub dispatch_p50_us: Option<u64>,
    pub dispatch_p99_us: Option<u64>,
    /// Outbox entries plus messages waiting for the connection.
    pub queue_depth: usize,
    pub conflicts: u64,
    pub duplicates_dropped: u64,
    pub gaps_refetched: u64,
    pub deliveries_coalesced: u64,
    pub tab_messages_rejected: u64,
    pub breaker: &'static str,
    #[serde(serialize_with = "super::view::errors_by_kind")]
    pub errors: Vec<(&'static str, u64)>,
}

impl ClientCore {
    /// Subscribes with every option; see [`ClientCore::subscribe`].
    pub fn subscribe_with(&mut self, now: u64, spec: SubscribeSpec) -> SubId {
        let (channel, since) = (spec.channel.clone(), spec.since);
        let (id, first) = self.messaging.subscribe(spec);
        if first && self.is_open() {
            self.send(ClientMessage::Subscribe { channel, since });
        }
        self.finish(now);
        id
    }

    /// Follows the documents of `channel`: its whole history is replayed once so that every
    /// document on it is known, then changes arrive live.
    pub fn watch_documents(&mut self, now: u64, channel: &str) {
        if !self.docs.watches(channel) {
            let known = self.messaging.listens(channel);
            let id = self.subscribe(now, channel, None, i32::MIN, Some(0));
            self.docs.watch(channel, id);
            if known && self.is_open() {
                // The channel was already live for the app: ask for its history once more.
                self.send(ClientMessage::Subscribe {
                    channel: channel.to_owned(),
                    since: Some(0),
                });
            }
        }
        self.finish(now);
    }

    /// Changes document `key` on `channel` at once (optimistically) and publishes the change
    /// durably as `event`. The outcome comes like a publish's, with this `id`; a change the
    /// server refuses for good is rolled back.
    pub fn mutate(
        &mut self,
        now: u64,
        id: String,
        channel: &str,
        event: &str,
        key: &str,
        op: Op,
    ) -> Result<(), SendError<OutboxEntry>> {
        if self.snap.state == ConnectionState::Closed {
            return Err(SendError::Closed {
                message: OutboxEntry {
                    id,
                    channel: channel.to_owned(),
                    event: event.to_owned(),
                    data: RawJson::null(),
                    created_at: self.wall(now),
                    priority: 0,
                },
            });
        }
        self.watch_documents(now, channel);
        let by = self.config.client_id.clone();
        let mutation = self.docs.mutate(id.clone(), key, op, self.wall(now), &by);
        let result = self.publish_durable(
            now,
            id.clone(),
            channel.to_owned(),
            event.to_owned(),
            mutation.encode(),
            0,
        );
        if result.is_err() {
            self.docs.rollback(&id);
            self.finish(now);
        }
        result
    }

    /// A document as this client sees it: confirmed value with pending changes on top.
    pub fn document(&self, key: &str) -> Option<DocView<'_>> {
        self.docs.view(key)
    }

    /// The visible value of a document (null when unknown).
    pub fn document_value(&self, key: &str) -> Value {
        self.docs.visible(key)
    }

    /// Sets how conflicts on `key` (or, with `None`, by default) are settled.
    pub fn set_conflict_strategy(&mut self, key: Option<&str>, strategy: Strategy) {
        self.docs.set_strategy(key, strategy);
    }

    /// Sets the app's resolver for the `Custom` strategy.
    pub fn set_resolver(&mut self, resolver: Box<dyn FnMut(&Conflict) -> Option<Value>>) {
        self.docs.set_resolver(resolver);
    }

    /// The audit trail of conflicts, oldest first.
    pub fn conflicts(&self) -> impl Iterator<Item = &Conflict> {
        self.docs.audit()
    }

    /// Publishes without the outbox, held with other batched publishes until there are
    /// `batch_max` of them or `batch_delay_ms` passed, then sent in one frame. For updates
    /// that may wait (telemetry, presence); everything else goes at once.
    pub fn publish_batched(
        &mut self,
        now: u64,
        id: String,
        channel: String,
        event: String,
        data: RawJson,
    ) -> Result<(), SendError<Outgoing>> {
        if !self.is_open() {
            return self.publish(now, id, channel, event, data);
        }
        let message = Outgoing::Publish {
            id,
            channel,
            event,
            data,
        };
        let policy = AnswerPolicy {
            timeout_ms: self
                .config
                .publish_timeout_ms
                .saturating_add(self.config.batch_delay_ms),
            retries: 0,
        };
        let delay = self.config.batch_delay_ms;
        self.messaging.push_batched(now, message, policy, delay)?;
        self.finish(now);
        Ok(())
    }

    /// An animation frame: coalesced deliveries and document changes go out, once each.
    pub fn handle_animation_frame(&mut self, now: u64) {
        self.frame_requested = false;
        self.messaging.handle_frame();
        let changed = self.docs.poll_changes();
        if !changed.is_empty() {
            self.events.push_back(Event::DocsChanged(changed));
        }
        self.finish(now);
    }

    /// Time the app's handlers took, in µs, per delivered message.
    pub fn record_dispatch(&mut self, micros: &[u64]) {
        for m in micros {
            self.metrics.dispatch.push(*m);
        }
    }

    /// The metrics, now.
    pub fn metrics(&self, now: u64) -> MetricsSnapshot {
        let m = &self.metrics;
        MetricsSnapshot {
            rtt_last_ms: m.rtt.last(),
            rtt_p50_ms: m.rtt.percentile(50),
            rtt_p99_ms: m.rtt.percentile(99),
            reconnects: self.snap.reconnects,
            messages_in: m.messages_in,
            messages_out: m.messages_out,
            dispatch_p50_us: m.dispatch.percentile(50),
            dispatch_p99_us: m.dispatch.percentile(99),
            queue_depth: self.outbox.len() + self.messaging.buffered_requests(),
            conflicts: self.docs.conflict_count(),
            duplicates_dropped: m.duplicates_dropped,
            gaps_refetched: m.gaps_refetched,
            deliveries_coalesced: m.deliveries_coalesced,
            tab_messages_rejected: self.snap.tab_messages_rejected,
            breaker: self.outbox.breaker(now),
            errors: m.errors.clone(),
        }
    }
}
