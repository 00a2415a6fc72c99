//! The client's update processing: documents with optimistic changes, paced subscriptions,
//! batched publishes, animation frames, and the metrics snapshot.

use super::client::{ClientCore, Delivery, DocChange, Event};
use super::docs::merge::Strategy;
use super::docs::{Conflict, DocView, Op};
use super::error::SendError;
use super::gates::Pace;
use super::outbox::OutboxEntry;
use super::pending::Outgoing;
use super::router::SubId;
use super::state::ConnectionState;
use crate::protocol::envelope::{ClientMessage, RawJson};
use crate::protocol::value::Value;

/// What `subscribe` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeSpec {
    pub channel: String,
    /// Only this event name.
    pub event: Option<String>,
    /// Higher runs first.
    pub priority: i32,
    /// Resume after this channel sequence.
    pub since: Option<u64>,
    /// Throttle, debounce or per-frame coalescing.
    pub pace: Option<Pace>,
}

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
    pub deliveries_coalesced: u64,
    pub tab_messages_rejected: u64,
    pub breaker: &'static str,
    #[serde(serialize_with = "super::view::errors_by_kind")]
    pub errors: Vec<(&'static str, u64)>,
}

impl ClientCore {
    /// Subscribes with every option; see [`ClientCore::subscribe`].
    pub fn subscribe_with(&mut self, now: u64, spec: SubscribeSpec) -> SubId {
        let id = self.subscribe(
            now,
            &spec.channel,
            spec.event.as_deref(),
            spec.priority,
            spec.since,
        );
        if let Some(pace) = spec.pace {
            self.gates.add(id, pace);
        }
        id
    }

    /// Follows the documents of `channel`: its whole history is replayed once so that every
    /// document on it is known, then changes arrive live.
    pub fn watch_documents(&mut self, now: u64, channel: &str) {
        if !self.doc_channels.contains_key(channel) {
            let known = self.router.channel(channel).is_some();
            let id = self.subscribe(now, channel, None, i32::MIN, Some(0));
            self.doc_channels.insert(channel.to_owned(), id);
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
        self.resolver = Some(super::client::AppResolver(resolver));
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
        let policy = super::pending::AnswerPolicy {
            timeout_ms: self
                .config
                .publish_timeout_ms
                .saturating_add(self.config.batch_delay_ms),
            retries: 0,
        };
        // Registered as waiting for its ack, but sent with the batch rather than now.
        let frame = self.pending.push(now, message, policy, true)?;
        self.batched.extend(frame);
        if self.batch_deadline.is_none() {
            self.batch_deadline = Some(now.saturating_add(self.config.batch_delay_ms));
        }
        self.finish(now);
        Ok(())
    }

    /// An animation frame: coalesced deliveries and document changes go out, once each.
    pub fn handle_animation_frame(&mut self, now: u64) {
        self.frame_requested = false;
        for delivery in self.gates.frame() {
            self.events.push_back(Event::Message(delivery));
        }
        let changed: Vec<DocChange> = std::mem::take(&mut self.docs_changed)
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
            .collect();
        if !changed.is_empty() {
            self.events.push_back(Event::DocsChanged(changed));
        }
        self.finish(now);
    }

    /// Paced deliveries whose time came.
    pub(super) fn release_paced(&mut self, now: u64) {
        for delivery in self.gates.expire(now) {
            self.events.push_back(Event::Message(delivery));
        }
    }

    /// Routes an event to its subscribers: internal ones (documents) are skipped, paced ones
    /// go through their gate, the rest get it now.
    pub(super) fn deliver(&mut self, now: u64, delivery: Delivery) {
        let internal: Vec<SubId> = self.doc_channels.values().copied().collect();
        let mut direct = Vec::with_capacity(delivery.subscribers.len());
        for sub in &delivery.subscribers {
            if internal.contains(sub) {
                continue;
            }
            if self.gates.paces(*sub) {
                let mut own = delivery.clone();
                own.subscribers = vec![*sub];
                if let Some(now_due) = self.gates.offer(now, *sub, own) {
                    self.events.push_back(Event::Message(now_due));
                }
            } else {
                direct.push(*sub);
            }
        }
        self.metrics.deliveries_coalesced = self.gates.coalesced;
        if !direct.is_empty() {
            self.events.push_back(Event::Message(Delivery {
                subscribers: direct,
                ..delivery
            }));
        }
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
            queue_depth: self.outbox.len() + self.pending.buffered(),
            conflicts: self.docs.conflict_count(),
            duplicates_dropped: m.duplicates_dropped,
            deliveries_coalesced: m.deliveries_coalesced,
            tab_messages_rejected: self.snap.tab_messages_rejected,
            breaker: self.breaker.state_at(now).as_str(),
            errors: m.errors.clone(),
        }
    }

    /// Applies a document change carried by an event on a watched channel.
    pub(super) fn apply_document(
        &mut self,
        now: u64,
        channel: &str,
        seq: u64,
        id: Option<&str>,
        data: &RawJson,
    ) {
        if !self.doc_channels.contains_key(channel) {
            return;
        }
        let Some(mutation) = super::docs::Mutation::decode(id, data) else {
            return;
        };
        let wall = self.wall(now);
        match self.resolver.as_mut() {
            Some(resolver) => self.docs.apply(seq, mutation, wall, &mut *resolver.0),
            None => self.docs.apply(seq, mutation, wall, &mut |_| None),
        }
    }
}
