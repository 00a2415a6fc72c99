//! The app's commands: connect, disconnect, subscribe, publish, request, emit. Each routes
//! into the parts and ends the input.

use super::client::ClientCore;
use super::error::{ClientError, SendError};
use super::messaging::SubscribeSpec;
use super::messaging::pending::{AnswerPolicy, Outgoing};
use super::messaging::router::SubId;
use super::state::ConnectionState;
use crate::protocol::{Outbound, RawJson};

impl ClientCore {
    /// Start connecting (and keep reconnecting) until [`ClientCore::disconnect`].
    pub fn connect(&mut self, now: u64) {
        self.conn.connect(now);
        self.finish(now);
    }

    /// Close the connection and stay closed; everything waiting for an answer fails.
    pub fn disconnect(&mut self, now: u64) {
        self.conn.close();
        let (failures, emits) = self.messaging.handle_close();
        if emits > 0 {
            let mut reason = crate::protocol::raw::decimal(emits as u64);
            reason.push_str(" emit(s) not sent: the client was disconnected");
            self.report_error(ClientError::EmitDropped(reason));
        }
        for failed in failures {
            self.report_failure(failed.message, failed.error);
        }
        self.finish(now);
    }

    /// Skip the wait: try to connect now if waiting or offline-by-error.
    pub fn reconnect_now(&mut self, now: u64) {
        self.conn.reconnect_now(now);
        self.finish(now);
    }

    /// Subscribe to `channel` (optionally one `event`), resuming after `since` if given.
    pub fn subscribe(
        &mut self,
        now: u64,
        channel: &str,
        event: Option<&str>,
        priority: i32,
        since: Option<u64>,
    ) -> SubId {
        let _ = now;
        let (id, first) = self.messaging.subscribe(SubscribeSpec {
            channel: channel.to_owned(),
            event: event.map(str::to_owned),
            priority,
            since,
            pace: None,
        });
        if first && self.is_open() {
            self.send(Outbound::Subscribe {
                channel: channel.to_owned(),
                since,
            });
        }
        self.finish(now);
        id
    }

    /// Remove a subscription; the channel is left when its last one goes.
    pub fn unsubscribe(&mut self, now: u64, id: SubId) {
        let _ = now;
        if let Some(channel) = self.messaging.unsubscribe(id) {
            // Other tabs may still want the channel through this (leader) connection.
            if self.is_open() && !self.tabs.hub.has_channel(&channel) {
                self.send(Outbound::Unsubscribe { channel });
            }
        }
        self.finish(now);
    }

    /// Tells the core the wall-clock time (Unix ms) at monotonic `now`.
    pub fn set_wall_clock(&mut self, now: u64, unix_ms: u64) {
        self.wall_offset = i64::try_from(i128::from(unix_ms) - i128::from(now)).unwrap_or(0);
    }

    /// A new publish id: a UUIDv7 that sorts after every earlier one from this client.
    pub fn next_publish_id(&mut self, now: u64, random: [u8; 10]) -> String {
        let wall = self.wall(now);
        self.ids.next(wall, random)
    }

    /// Publish without the outbox: sent now when open, else buffered in memory (bounded);
    /// nothing is retried. The answer comes as [`Event::PublishDone`](super::Event::PublishDone) with this `id`.
    pub fn publish(
        &mut self,
        now: u64,
        id: String,
        channel: String,
        event: String,
        data: RawJson,
    ) -> Result<(), SendError<Outgoing>> {
        let message = Outgoing::Publish {
            id,
            channel,
            event,
            data,
        };
        let policy = AnswerPolicy {
            timeout_ms: self.config.publish_timeout_ms,
            retries: 0,
        };
        self.push_outgoing(now, message, policy)
    }

    /// Ask the server; the answer comes as [`Event::RequestDone`](super::Event::RequestDone) with the returned id.
    pub fn request(
        &mut self,
        now: u64,
        event: String,
        data: RawJson,
        policy: Option<AnswerPolicy>,
    ) -> Result<String, SendError<Outgoing>> {
        self.request_with(now, event, data, false, policy)
    }

    /// [`ClientCore::request`], where `spread` says `data` is a list of arguments to pass
    /// separately (Socket.IO's `emitWithAck(event, ...args)`).
    pub fn request_with(
        &mut self,
        now: u64,
        event: String,
        data: RawJson,
        spread: bool,
        policy: Option<AnswerPolicy>,
    ) -> Result<String, SendError<Outgoing>> {
        let id = self.messaging.next_request_id(&self.config.tab_id);
        let message = Outgoing::Request {
            id: id.clone(),
            event,
            data,
            spread,
        };
        let policy = policy.unwrap_or(self.config.request);
        self.push_outgoing(now, message, policy).map(|()| id)
    }

    /// An event with no answer (Socket.IO's `emit`): sent now when open, else held in memory
    /// (bounded by the send buffer) until the connection opens. `spread` says `data` is a
    /// list of arguments.
    pub fn emit(
        &mut self,
        now: u64,
        event: String,
        data: RawJson,
        spread: bool,
    ) -> Result<(), SendError<()>> {
        if self.conn.state() == ConnectionState::Closed {
            return Err(SendError::Closed { message: () });
        }
        let message = Outbound::Emit {
            event,
            data,
            spread,
        };
        if self.is_open() {
            self.send(message);
        } else if !self.messaging.hold_emit(message) {
            return Err(SendError::BufferFull {
                capacity: self.config.send_buffer,
                message: (),
            });
        }
        self.finish(now);
        Ok(())
    }

    fn push_outgoing(
        &mut self,
        now: u64,
        message: Outgoing,
        policy: AnswerPolicy,
    ) -> Result<(), SendError<Outgoing>> {
        if self.conn.state() == ConnectionState::Closed {
            return Err(SendError::Closed { message });
        }
        let result = self.messaging.push(now, message, policy, self.is_open());
        let result = result.map(|message| self.send_batched(message.into_iter().collect()));
        self.finish(now);
        result
    }
}
