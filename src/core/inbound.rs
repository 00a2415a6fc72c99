//! Frames from the server: decoding, and what each message does to the client.

use super::client::{ClientCore, Delivery, Event, Phase};
use super::error::{ClientError, RequestError};
use super::pending::Outgoing;
use super::router::SeqCheck;
use crate::protocol::envelope::{ServerError, ServerMessage};
use crate::protocol::{InEvent, Inbound, Outbound};

impl ClientCore {
    /// A text frame arrived on the socket of `attempt`.
    ///
    /// Nothing in a frame can stop the client: undecodable frames and messages become
    /// [`Event::Error`]s and the rest of the frame is still processed.
    pub fn handle_frame(&mut self, now: u64, attempt: u64, frame: &str) {
        if attempt != self.attempt_id || self.phase == Phase::Down {
            return;
        }
        self.last_rx = now;
        if frame.len() > self.config.max_message_bytes {
            self.report_error(ClientError::FrameTooLarge {
                size: frame.len(),
                limit: self.config.max_message_bytes,
            });
        } else {
            match self.wire.decode(frame) {
                Err(error) => self.report_error(error.into()),
                Ok(messages) => {
                    self.metrics.messages_in += messages.len() as u64;
                    for message in messages {
                        match message {
                            Ok(message) => self.handle_inbound(now, message),
                            Err(error) => self.report_error(error.into()),
                        }
                        if self.phase == Phase::Down {
                            break;
                        }
                    }
                }
            }
            self.transmit_wire();
        }
        self.server_alive(now);
        self.finish(now);
    }

    /// A text frame longer than `maxMessageBytes` arrived and was dropped unread.
    pub fn handle_oversize(&mut self, now: u64, attempt: u64, size: usize) {
        if attempt != self.attempt_id || self.phase == Phase::Down {
            return;
        }
        self.last_rx = now;
        self.report_error(ClientError::FrameTooLarge {
            size,
            limit: self.config.max_message_bytes,
        });
        self.finish(now);
    }

    /// A binary frame arrived: the wire decides whether it was announced.
    pub fn handle_binary(&mut self, now: u64, attempt: u64, len: usize) {
        if attempt != self.attempt_id || self.phase == Phase::Down {
            return;
        }
        self.last_rx = now;
        if let Err(error) = self.wire.decode_binary(len) {
            self.report_error(error.into());
        }
        self.finish(now);
    }

    /// The sequence of an event: the server's, or for a server that numbers none, the next
    /// of this client's count. Only channels someone listens to are counted, so a server
    /// sending endless event names cannot grow this client's memory.
    fn sequence(&mut self, channel: &str, seq: Option<u64>) -> Option<u64> {
        if seq.is_some() {
            return seq;
        }
        if self.router.channel(channel).is_none() && !self.hub.has_channel(channel) {
            return None;
        }
        let counter = self.local_seqs.entry(channel.to_owned()).or_insert(0);
        *counter += 1;
        Some(*counter)
    }

    pub(super) fn handle_inbound(&mut self, now: u64, message: Inbound) {
        match message {
            Inbound::Session { session } => self.on_welcome(now, session),
            Inbound::Denied { reason } => self.lose(now, ClientError::AuthRejected(reason)),
            Inbound::Closed { reason } => self.lose(now, ClientError::ServerDisconnect(reason)),
            Inbound::Subscribed { channel, seq } => {
                let seq =
                    seq.unwrap_or_else(|| self.local_seqs.get(&channel).copied().unwrap_or(0));
                if self.hub.has_channel(&channel) {
                    self.to_tab(
                        None,
                        ServerMessage::Subscribed {
                            channel: channel.clone(),
                            seq,
                        },
                    );
                }
                self.router.mark_live(&channel, seq);
            }
            Inbound::Event(event) => self.on_event(now, event),
            Inbound::Ack { id, seq } => match self.pending.answer(&id) {
                Some(Outgoing::Publish { id, .. }) => self.events.push_back(Event::PublishDone {
                    id,
                    result: Ok(seq),
                }),
                None => {
                    let mine = self.outbox.handle_ack(&id, seq);
                    let forwarded = self.forward_answer(&id, || ServerMessage::Ack {
                        id: id.clone(),
                        seq,
                    });
                    if !mine && !forwarded {
                        self.unknown_answer("ack", &id, None);
                    }
                }
                other => self.unknown_answer("ack", &id, other),
            },
            Inbound::Refused {
                id,
                reason,
                retryable,
            } => match self.pending.answer(&id) {
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
            Inbound::Response { id, result } => match self.pending.answer(&id) {
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
            Inbound::Pong { ts } => self.on_pong(now, ts),
            Inbound::Error(error) => self.report_error(ClientError::Server(error)),
        }
    }

    fn on_event(&mut self, now: u64, event: InEvent) {
        let InEvent {
            channel,
            event,
            seq,
            id,
            data,
            spread,
        } = event;
        let Some(seq) = self.sequence(&channel, seq) else {
            return;
        };
        // Follower tabs get every event of their channels, replays included; each drops what
        // it has seen, as this router does for this tab.
        if self.hub.has_channel(&channel) {
            self.hub.saw(&channel, seq);
            self.to_tab(
                None,
                ServerMessage::Event {
                    channel: channel.clone(),
                    event: event.clone(),
                    seq,
                    id: id.clone(),
                    data: data.clone(),
                    spread,
                },
            );
        }
        // Documents keep their own version per key, so replays reach them too.
        self.apply_document(now, &channel, seq, id.as_deref(), &data);
        if self.router.accept_seq(&channel, seq) != SeqCheck::Fresh {
            self.metrics.duplicates_dropped += 1;
            return;
        }
        if let Some(id) = &id {
            // The same publish under another sequence (a server that sent it twice).
            if !self.recent_ids.insert(id) {
                self.metrics.duplicates_dropped += 1;
                return;
            }
        }
        let subscribers = self.router.route(&channel, &event);
        if !subscribers.is_empty() {
            self.deliver(
                now,
                Delivery {
                    subscribers,
                    channel,
                    event,
                    seq,
                    id,
                    data,
                    spread,
                    coalesced: 0,
                },
            );
        }
    }

    /// Leader: passes an answer to the tab it is owed to; false when no tab waits for it.
    fn forward_answer(&mut self, id: &str, message: impl FnOnce() -> ServerMessage) -> bool {
        match self.hub.take_owed(id) {
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
