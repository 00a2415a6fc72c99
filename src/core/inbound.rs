//! Frames from the server: decoding, and what each message does to the client.

use super::client::{ClientCore, Delivery, Event, Phase};
use super::error::{ClientError, RequestError};
use super::pending::Outgoing;
use super::router::SeqCheck;
use crate::protocol::envelope::{self, ClientMessage, ServerMessage};

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
        } else if self.sio_active() {
            self.handle_sio_frame(now, frame);
        } else {
            match envelope::decode_server_frame(frame) {
                Err(error) => self.report_error(ClientError::MalformedFrame(error)),
                Ok(messages) => {
                    self.metrics.messages_in += messages.len() as u64;
                    for message in messages {
                        match message {
                            Ok(message) => self.handle_message(now, message),
                            Err(error) => self.report_error(ClientError::MalformedFrame(error)),
                        }
                        if self.phase == Phase::Down {
                            break;
                        }
                    }
                }
            }
        }
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

    /// A binary frame arrived; the envelope protocol has none, so it is reported and dropped.
    pub fn handle_binary(&mut self, now: u64, attempt: u64, len: usize) {
        if attempt != self.attempt_id || self.phase == Phase::Down {
            return;
        }
        self.last_rx = now;
        if self.sio_active() {
            self.handle_sio_binary(len);
        } else {
            self.report_error(ClientError::UnexpectedBinary(len));
        }
        self.finish(now);
    }

    pub(super) fn handle_message(&mut self, now: u64, message: ServerMessage) {
        match message {
            ServerMessage::Welcome { session } => self.on_welcome(now, session),
            ServerMessage::Denied { reason } => self.lose(now, ClientError::AuthRejected(reason)),
            ServerMessage::Subscribed { channel, seq } => {
                if self.tabs.hub.has_channel(&channel) {
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
            ServerMessage::Event {
                channel,
                event,
                seq,
                id,
                data,
                spread,
            } => {
                // Follower tabs get every event of their channels, replays included; each
                // drops what it has seen, as this router does for this tab.
                if self.tabs.hub.has_channel(&channel) {
                    self.tabs.hub.saw(&channel, seq);
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
            ServerMessage::Ack { id, seq } => match self.pending.answer(&id) {
                Some(Outgoing::Publish { id, .. }) => self.events.push_back(Event::PublishDone {
                    id,
                    result: Ok(seq),
                }),
                None => {
                    let mine = self.outbox.ack(&id, seq);
                    if mine {
                        self.breaker.success();
                    }
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
            ServerMessage::Nack {
                id,
                reason,
                retryable,
            } => match self.pending.answer(&id) {
                Some(Outgoing::Publish { id, .. }) => self.events.push_back(Event::PublishDone {
                    id,
                    result: Err(RequestError::Rejected { reason, retryable }),
                }),
                None => {
                    let mine = self.outbox_nack(now, &id, &reason, retryable);
                    if mine && retryable {
                        self.breaker.failure(now);
                    } else if mine {
                        // A final refusal is an answer: the server is working.
                        self.breaker.success();
                    }
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
            ServerMessage::Response { id, result } => match self.pending.answer(&id) {
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
            ServerMessage::Ping { ts } => self.send(ClientMessage::Pong { ts }),
            ServerMessage::Pong { ts } => self.on_pong(now, ts),
            ServerMessage::Error(error) => self.report_error(ClientError::Server(error)),
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

    /// Applies a nack to the outbox; false when the id is not in it.
    fn outbox_nack(&mut self, now: u64, id: &str, reason: &str, retryable: bool) -> bool {
        let (wall, random) = (self.wall(now), self.rng.next_u64());
        let known = self.outbox.nack(now, wall, id, reason, retryable, random);
        if known && !retryable {
            self.set_outbox_error("rejected", format!("publish {id} refused: {reason}"));
        }
        known
    }

    /// An answer for an id nobody waits for (late, duplicated, or of the wrong kind).
    fn unknown_answer(&mut self, kind: &'static str, id: &str, taken: Option<Outgoing>) {
        if let Some(message) = taken {
            // The answer's kind does not fit what was sent: fail it rather than hang.
            let error = RequestError::Server(envelope::ServerError {
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
