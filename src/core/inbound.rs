//! Frames from the server: decoding, and what each message does to the client.

use super::client::{ClientCore, Event};
use super::conn::Phase;
use super::error::{ClientError, RequestError};
use super::messaging::Arrival;
use super::messaging::pending::Outgoing;
use crate::protocol::ack::default_verdict;
use crate::protocol::envelope::{ServerError, ServerMessage};
use crate::protocol::{InEvent, Inbound, Outbound};

impl ClientCore {
    /// A text frame arrived on the socket of `attempt`.
    ///
    /// Nothing in a frame can stop the client: undecodable frames and messages become
    /// [`Event::Error`]s and the rest of the frame is still processed.
    pub fn handle_frame(&mut self, now: u64, attempt: u64, frame: &str) {
        if let Some(messages) = self.conn.handle_frame(now, attempt, frame) {
            self.metrics.messages_in += messages.len() as u64;
            for message in messages {
                match message {
                    Ok(message) => self.handle_inbound(now, message),
                    Err(error) => self.report_error(error.into()),
                }
                if self.conn.phase() == Phase::Down {
                    break;
                }
            }
        }
        self.finish(now);
    }

    /// A text frame longer than `maxMessageBytes` arrived and was dropped unread.
    pub fn handle_oversize(&mut self, now: u64, attempt: u64, size: usize) {
        self.conn.handle_oversize(now, attempt, size);
        self.finish(now);
    }

    /// A binary frame arrived: the wire decides whether it was announced.
    pub fn handle_binary(&mut self, now: u64, attempt: u64, len: usize) {
        self.conn.handle_binary(now, attempt, len);
        self.finish(now);
    }

    pub(super) fn handle_inbound(&mut self, now: u64, message: Inbound) {
        match message {
            Inbound::Session { session, resumed } => {
                self.conn.handle_session(now, session, resumed)
            }
            Inbound::Denied { reason } => self
                .conn
                .handle_refusal(now, ClientError::AuthRejected(reason)),
            Inbound::Closed { reason } => self
                .conn
                .handle_refusal(now, ClientError::ServerDisconnect(reason)),
            Inbound::Subscribed {
                channel,
                seq,
                since,
            } => {
                let docs = &self.docs;
                let internal = |sub| docs.is_internal(sub);
                let seq = self
                    .messaging
                    .handle_subscribed(now, &channel, seq, since, internal);
                self.resync();
                if self.tabs.hub.has_channel(&channel) {
                    self.to_tab(
                        None,
                        ServerMessage::Subscribed {
                            channel: channel.clone(),
                            seq,
                            since,
                        },
                    );
                }
            }
            Inbound::Event(event) => self.on_event(now, event),
            Inbound::Ack { id, seq } => self.on_ack(id, Some(seq)),
            Inbound::Sent { id } => self.on_ack(id, None),
            Inbound::Answered { id, answer } => {
                let verdict = match &mut self.ack_rule {
                    Some(rule) => (rule.0)(&answer),
                    None => default_verdict(&answer),
                };
                self.handle_inbound(now, verdict.into_inbound(id));
            }
            Inbound::Refused {
                id,
                reason,
                retryable,
            } => match self.messaging.handle_answer(&id) {
                Some(Outgoing::Publish { id, .. }) => self.events.push_back(Event::PublishDone {
                    id,
                    result: Err(RequestError::Rejected { reason, retryable }),
                }),
                None => {
                    let (wall, random) = (self.wall(now), self.rng.next_u64());
                    let mine = self
                        .outbox
                        .handle_refused(now, wall, &id, &reason, retryable, random);
                    // A retryable refusal of an adopted entry is this outbox's to retry; the
                    // tab that published it hears only the final outcome.
                    let forwarded = !(mine && retryable)
                        && self.forward_answer(&id, || ServerMessage::Nack {
                            id: id.clone(),
                            reason: reason.clone(),
                            retryable,
                        });
                    if !mine && !forwarded {
                        self.unknown_answer("nack", &id, None);
                    }
                }
                other => self.unknown_answer("nack", &id, other),
            },
            Inbound::Response { id, result } => match self.messaging.handle_answer(&id) {
                Some(Outgoing::Request { id, .. }) => self.events.push_back(Event::RequestDone {
                    id,
                    result: result.map_err(RequestError::Server),
                }),
                None => {
                    let forwarded = self.forward_answer(&id, || ServerMessage::Response {
                        id: id.clone(),
                        result: result.clone(),
                    });
                    if !forwarded {
                        self.unknown_answer("res", &id, None);
                    }
                }
                other => self.unknown_answer("res", &id, other),
            },
            Inbound::Ping { ts } => self.send(Outbound::Pong { ts }),
            Inbound::Pong { ts } => self.conn.handle_pong(now, ts),
            Inbound::Error(error) => self.report_error(ClientError::Server(error)),
            Inbound::Limits(limits) => self.conn.handle_limits(limits),
            Inbound::Gap { channel, from, to } => self.on_gap(channel, from, to),
        }
    }

    /// The publish `id` reached the server: stored as `seq`, or (`None`) written to the
    /// socket where no answer comes.
    fn on_ack(&mut self, id: String, seq: Option<u64>) {
        match self.messaging.handle_answer(&id) {
            Some(Outgoing::Publish { id, .. }) => self.events.push_back(Event::PublishDone {
                id,
                result: Ok(seq),
            }),
            None => {
                let mine = self.outbox.handle_ack(&id, seq);
                let forwarded = self.forward_answer(&id, || ServerMessage::Ack {
                    id: id.clone(),
                    seq: seq.unwrap_or(0),
                });
                if !mine && !forwarded {
                    self.unknown_answer("ack", &id, None);
                }
            }
            other => self.unknown_answer("ack", &id, other),
        }
    }

    fn on_event(&mut self, now: u64, event: InEvent) {
        let for_tabs = self.tabs.hub.has_channel(&event.channel);
        let Some(seq) = self.messaging.sequence(&event.channel, event.seq, for_tabs) else {
            return;
        };
        // Follower tabs get every event of their channels, replays included; each drops what
        // it has seen, as this tab's messaging does.
        if for_tabs {
            self.tabs.hub.saw(&event.channel, seq);
            self.to_tab(
                None,
                ServerMessage::Event {
                    channel: event.channel.clone(),
                    event: event.event.clone(),
                    seq,
                    id: event.id.clone(),
                    data: event.data.clone(),
                    spread: event.spread,
                },
            );
        }
        // Documents keep their own version per key, so replays reach them too.
        let wall = self.wall(now);
        let (channel, id) = (event.channel.as_str(), event.id.as_deref());
        self.docs.handle_event(wall, channel, seq, id, &event.data);
        let docs = &self.docs;
        let arrival = self
            .messaging
            .handle_event(now, event, seq, |sub| docs.is_internal(sub));
        if arrival == Arrival::Duplicate {
            self.metrics.duplicates_dropped += 1;
        }
        self.resync();
    }

    /// Events of a channel are missing: ask for the channel again from the last one seen
    /// (the server replays what followed, in order), and tell the app what never came.
    fn resync(&mut self) {
        while let Some((channel, since)) = self.messaging.poll_refetch() {
            self.metrics.gaps_refetched += 1;
            self.send(Outbound::Subscribe {
                channel,
                since: Some(since),
            });
        }
        while let Some((channel, from, to)) = self.messaging.poll_missed() {
            self.events.push_back(Event::Missed { channel, from, to });
        }
    }

    /// Events of a channel are gone from the server's history: the app hears which, and the
    /// stream goes on after them (follower tabs of the channel hear it too).
    fn on_gap(&mut self, channel: String, from: u64, to: u64) {
        if self.tabs.hub.has_channel(&channel) {
            self.tabs.hub.saw(&channel, to);
            let (channel, from, to) = (channel.clone(), from, to);
            self.to_tab(None, ServerMessage::Gap { channel, from, to });
        }
        if self.messaging.skip_gap(&channel, to) {
            self.events.push_back(Event::Missed { channel, from, to });
        }
    }

    /// Leader: passes an answer to the tab it is owed to; false when no tab waits for it.
    fn forward_answer(&mut self, id: &str, message: impl FnOnce() -> ServerMessage) -> bool {
        match self.tabs.hub.take_owed(id) {
            Some(tab) => {
                self.to_tab(Some(&tab), message());
                true
            }
            None => false,
        }
    }

    /// An answer for an id nobody waits for (late, duplicated, or of the wrong kind).
    fn unknown_answer(&mut self, kind: &'static str, id: &str, taken: Option<Outgoing>) {
        if let Some(message) = taken {
            // The answer's kind does not fit what was sent: fail it rather than hang.
            let error = RequestError::Server(ServerError {
                code: "mismatched_answer".to_owned(),
                message: format!("{kind} for a message of another kind"),
            });
            self.report_failure(message, error);
        }
        self.report_error(ClientError::UnknownAnswer {
            kind,
            id: id.to_owned(),
        });
    }
}
