//! The operations the facade calls: each one an input into the core (run, then drained), or
//! a read that borrows the core without running anything.

use super::{Busy, Driver, Refused};
use crate::core::docs::merge::Strategy;
use crate::core::docs::{Conflict, Op, Resolver};
use crate::core::documents::{MetricsSnapshot, SubscribeSpec};
use crate::core::options::{Identity, PublishMode};
use crate::core::pending::AnswerPolicy;
use crate::core::router::SubId;
use crate::core::{AckRule, ClientCore, DeadLetter, DocChange, SendError, Snapshot};
use crate::protocol::envelope::RawJson;
use crate::protocol::value::Value;
use crate::web::clock;

/// A send error without the message it hands back (the facade only reports it).
fn refused<T>(e: SendError<T>) -> Refused {
    Refused::Send(match e {
        SendError::BufferFull { capacity, .. } => SendError::BufferFull {
            capacity,
            message: (),
        },
        SendError::Closed { .. } => SendError::Closed { message: () },
    })
}

/// This client's ids and jitter seed: a UUIDv7 client id, a random tab id.
pub fn identity() -> Identity {
    Identity {
        client_id: crate::core::id::uuid_v7(clock::unix_ms(), clock::random_bytes()),
        tab_id: hex(&clock::random_bytes::<6>()),
        seed: clock::random_u64(),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out
}

impl Driver {
    /// Starts connecting.
    pub fn connect(&self) -> Result<(), Busy> {
        self.input(|core, now| core.connect(now)).ok_or(Busy)
    }

    /// Closes the connection and stays closed.
    pub fn disconnect(&self) -> Result<(), Busy> {
        self.input(|core, now| core.disconnect(now)).ok_or(Busy)
    }

    /// Skips the reconnect wait.
    pub fn reconnect_now(&self) -> Result<(), Busy> {
        self.input(|core, now| core.reconnect_now(now)).ok_or(Busy)
    }

    /// Gives the core the app's conflict resolver.
    pub fn set_resolver(&self, resolver: Box<Resolver<'static>>) -> Result<(), Busy> {
        self.input(|core, _| core.set_resolver(resolver))
            .ok_or(Busy)
    }

    /// Sets the app's rule for reading a server's answer to a publish (`ackResult`).
    pub fn set_ack_rule(&self, rule: AckRule) -> Result<(), Busy> {
        self.input(|core, _| core.set_ack_rule(rule)).ok_or(Busy)
    }

    /// True when `publish` takes the event-name spelling (`publish(event, payload)`): a
    /// Socket.IO server with the payload format.
    pub fn publishes_events(&self) -> Result<bool, Busy> {
        self.read(ClientCore::publishes_events).ok_or(Busy)
    }

    /// Subscribes; the id names the subscription in its deliveries.
    pub fn subscribe(&self, spec: SubscribeSpec) -> Result<SubId, Busy> {
        self.input(|core, now| core.subscribe_with(now, spec))
            .ok_or(Busy)
    }

    /// Ends a subscription.
    pub fn unsubscribe(&self, id: SubId) -> Result<(), Busy> {
        self.input(|core, now| core.unsubscribe(now, id))
            .ok_or(Busy)
    }

    /// A name the app may send as an event: not empty, and not one a Socket.IO server
    /// reserves (it would close the connection, and a durable publish would be retried forever).
    pub fn check_event_name(&self, name: &str) -> Result<(), Refused> {
        if name.is_empty() {
            return Err(Refused::EmptyName);
        }
        if self.read(|core| core.refuses_event(name)).ok_or(Busy)? {
            return Err(Refused::Reserved(name.to_owned()));
        }
        Ok(())
    }

    /// Whether the server's protocol has events without an answer (else an emit is sent as
    /// a memory-only publish).
    pub fn carries_emits(&self) -> Result<bool, Busy> {
        self.read(ClientCore::carries_emits).ok_or(Busy)
    }

    /// A Socket.IO event without an ack (`spread`: `data` is the list of arguments).
    pub fn emit(&self, event: String, data: RawJson, spread: bool) -> Result<(), Refused> {
        self.input(|core, now| core.emit(now, event, data, spread))
            .ok_or(Busy)?
            .map_err(refused)
    }

    /// A request (an event with an ack on Socket.IO); returns the id its answer comes with.
    pub fn request(
        &self,
        event: String,
        data: RawJson,
        spread: bool,
        policy: Option<AnswerPolicy>,
    ) -> Result<String, Refused> {
        self.input(|core, now| core.request_with(now, event, data, spread, policy))
            .ok_or(Busy)?
            .map_err(refused)
    }

    /// The client's request timeout and retries.
    pub fn request_defaults(&self) -> Result<AnswerPolicy, Busy> {
        self.read(|core| core.config().request).ok_or(Busy)
    }

    /// A new publish id (UUIDv7), to wait on before publishing with it.
    pub fn next_publish_id(&self) -> Result<String, Busy> {
        let random = clock::random_bytes();
        self.input(|core, now| core.next_publish_id(now, random))
            .ok_or(Busy)
    }

    /// Publishes with the id from [`Driver::next_publish_id`].
    pub fn publish(
        &self,
        id: String,
        channel: String,
        event: String,
        data: RawJson,
        mode: PublishMode,
        priority: i32,
    ) -> Result<(), Refused> {
        if mode == PublishMode::Durable {
            if let Some(why) = self.read(|core| core.payload_problem(&data)).ok_or(Busy)? {
                return Err(Refused::Payload(why));
            }
        }
        self.input(|core, now| match mode {
            PublishMode::Durable => core
                .publish_durable(now, id, channel, event, data, priority)
                .map_err(refused),
            PublishMode::Memory => core.publish(now, id, channel, event, data).map_err(refused),
            PublishMode::Batched => core
                .publish_batched(now, id, channel, event, data)
                .map_err(refused),
        })
        .ok_or(Busy)?
    }

    /// Changes a document optimistically and publishes the change (id from
    /// [`Driver::next_publish_id`]).
    pub fn mutate(
        &self,
        id: String,
        channel: &str,
        event: &str,
        key: &str,
        op: Op,
    ) -> Result<(), Refused> {
        self.input(|core, now| core.mutate(now, id, channel, event, key, op))
            .ok_or(Busy)?
            .map_err(refused)
    }

    /// Applies an optimistic operation's change at once, in every tab.
    pub fn begin_optimistic(&self, id: String, key: &str, op: Op) -> Result<(), Busy> {
        self.input(|core, now| core.begin_optimistic(now, id, key, op))
            .ok_or(Busy)
    }

    /// An optimistic operation's promise settled: commit (with the confirmed value, if
    /// given) or roll back (`None`).
    pub fn settle_optimistic(
        &self,
        id: String,
        outcome: Option<Option<Value>>,
    ) -> Result<(), Busy> {
        self.input(|core, now| core.settle_optimistic(now, id, outcome))
            .ok_or(Busy)
    }

    /// The server's value of a document, passed on by the app.
    pub fn set_document(&self, key: &str, value: Value) -> Result<(), Busy> {
        self.input(|core, now| core.set_document(now, key, value))
            .ok_or(Busy)
    }

    /// Follows the documents of `channel`.
    pub fn watch_documents(&self, channel: &str) -> Result<(), Busy> {
        self.input(|core, now| core.watch_documents(now, channel))
            .ok_or(Busy)
    }

    /// How conflicts on `key` (or every key without its own) are settled.
    pub fn set_conflict_strategy(&self, key: Option<&str>, strategy: Strategy) -> Result<(), Busy> {
        self.input(|core, _| core.set_conflict_strategy(key, strategy))
            .ok_or(Busy)
    }

    /// Puts dead letters (all, or these) back in the outbox; returns how many.
    pub fn retry_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, Busy> {
        self.input(|core, now| core.retry_dead_letters(now, ids))
            .ok_or(Busy)
    }

    /// Forgets dead letters (all, or these); returns how many.
    pub fn discard_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, Busy> {
        self.input(|core, now| core.discard_dead_letters(now, ids))
            .ok_or(Busy)
    }

    /// Logout in every tab: forgets every unacked publish and dead letter here and asks the
    /// other tabs to (request `id`, ended by `Event::ClearDone`); returns how many entries
    /// this tab dropped.
    pub fn clear_local_data(&self, id: String) -> Result<usize, Busy> {
        self.input(|core, now| core.clear_all_tabs(now, id))
            .ok_or(Busy)
    }

    // Reads: they borrow the core and schedule nothing.

    /// Calls `f` with the current snapshot.
    pub fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> Option<R> {
        self.read(|core| f(core.snapshot()))
    }

    /// The metrics, now.
    pub fn metrics(&self) -> Option<MetricsSnapshot> {
        let now = clock::now_ms();
        self.read(|core| core.metrics(now))
    }

    /// A document as this tab sees it, if anything is known of it.
    pub fn document(&self, key: &str) -> Option<DocChange> {
        self.read(|core| {
            core.document(key).map(|d| DocChange {
                key: key.to_owned(),
                value: d.value.to_raw(),
                version: d.version,
                pending: d.pending,
                rev: d.rev,
            })
        })
        .flatten()
    }

    /// A document's value as this tab sees it (`null` when unknown).
    pub fn document_value(&self, key: &str) -> Result<RawJson, Busy> {
        self.read(|core| core.document_value(key).to_raw())
            .ok_or(Busy)
    }

    /// The audit trail, each conflict through `each`.
    pub fn conflicts<R>(&self, each: impl FnMut(&Conflict) -> R) -> Vec<R> {
        self.read(|core| core.conflicts().map(each).collect())
            .unwrap_or_default()
    }

    /// The dead letters, each through `each`.
    pub fn dead_letters<R>(&self, each: impl FnMut(&DeadLetter) -> R) -> Vec<R> {
        self.read(|core| core.dead_letters().map(each).collect())
            .unwrap_or_default()
    }
}
