//! Requests and publishes waiting for the server's answer, and the bounded buffer of those
//! not yet sent because the connection is not open.

use std::collections::{BTreeMap, HashMap};

use crate::core::backoff::Backoff;
use crate::core::error::{RequestError, SendError};
use crate::protocol::{Outbound, RawJson};

/// A message that the server answers by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// Answered by a `res`.
    Request {
        id: String,
        event: String,
        data: RawJson,
        /// `data` is a list of arguments (Socket.IO's `emitWithAck(event, ...args)`).
        spread: bool,
    },
    /// Answered by an `ack` or a `nack`.
    Publish {
        id: String,
        channel: String,
        event: String,
        data: RawJson,
    },
}

impl Outgoing {
    /// The id the answer carries.
    pub fn id(&self) -> &str {
        match self {
            Self::Request { id, .. } | Self::Publish { id, .. } => id,
        }
    }

    /// The message to send for it.
    pub fn to_outbound(&self) -> Outbound {
        match self.clone() {
            Self::Request {
                id,
                event,
                data,
                spread,
            } => Outbound::Request {
                id,
                event,
                data,
                spread,
            },
            Self::Publish {
                id,
                channel,
                event,
                data,
            } => Outbound::Publish {
                id,
                channel,
                event,
                data,
                durable: false,
                memory: true,
                priority: 0,
            },
        }
    }
}

/// How long to wait for an answer, and how often to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerPolicy {
    /// Time allowed for each attempt.
    pub timeout_ms: u64,
    /// Further attempts after a timeout or a lost connection.
    pub retries: u32,
}

/// An entry that left the table without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// What was sent.
    pub message: Outgoing,
    /// Why it failed.
    pub error: RequestError,
}

#[derive(Debug)]
struct Entry {
    message: Outgoing,
    policy: AnswerPolicy,
    order: u64,
    sent: bool,
    attempts: u32,
    deadline: Option<u64>,
    resend_at: Option<u64>,
}

/// What is waiting for an answer, and what waits for the connection.
#[derive(Debug)]
pub struct PendingTable {
    entries: HashMap<String, Entry>,
    unsent: BTreeMap<u64, String>,
    capacity: usize,
    next_order: u64,
    retry: Backoff,
}

impl PendingTable {
    /// An empty table whose send buffer holds at most `capacity` messages.
    pub fn new(capacity: usize, retry: Backoff) -> Self {
        Self {
            entries: HashMap::new(),
            unsent: BTreeMap::new(),
            capacity,
            next_order: 0,
            retry,
        }
    }

    /// Adds a message. When `open`, returns the message to send now; otherwise buffers it.
    ///
    /// A request's first deadline runs from now, buffered or not, so a caller is never left
    /// waiting longer than it asked; a publish's runs from when it is sent.
    pub fn push(
        &mut self,
        now: u64,
        message: Outgoing,
        policy: AnswerPolicy,
        open: bool,
    ) -> Result<Option<Outbound>, SendError<Outgoing>> {
        if !open && self.unsent.len() >= self.capacity {
            return Err(SendError::BufferFull {
                capacity: self.capacity,
                message,
            });
        }
        let id = message.id().to_owned();
        let is_request = matches!(message, Outgoing::Request { .. });
        self.next_order += 1;
        let mut entry = Entry {
            message,
            policy,
            order: self.next_order,
            sent: false,
            attempts: 1,
            deadline: is_request.then(|| now.saturating_add(policy.timeout_ms)),
            resend_at: None,
        };
        let frame = if open {
            Some(Self::mark_sent(&mut entry, now))
        } else {
            self.unsent.insert(entry.order, id.clone());
            None
        };
        self.entries.insert(id, entry);
        Ok(frame)
    }

    fn mark_sent(entry: &mut Entry, now: u64) -> Outbound {
        entry.sent = true;
        entry.resend_at = None;
        if entry.deadline.is_none() {
            entry.deadline = Some(now.saturating_add(entry.policy.timeout_ms));
        }
        entry.message.to_outbound()
    }

    /// The connection opened: every buffered message, in the order it was made, to send now.
    pub fn take_unsent(&mut self, now: u64) -> Vec<Outbound> {
        let unsent = std::mem::take(&mut self.unsent);
        unsent
            .into_values()
            .filter_map(|id| self.entries.get_mut(&id).map(|e| Self::mark_sent(e, now)))
            .collect()
    }

    /// The answer for `id` arrived: the entry leaves the table.
    pub fn answer(&mut self, id: &str) -> Option<Outgoing> {
        let entry = self.entries.remove(id)?;
        self.unsent.remove(&entry.order);
        Some(entry.message)
    }

    /// The connection dropped. Sent requests with retries left go back to the buffer (to be
    /// sent again with the same id after reconnecting); the rest fail.
    pub fn connection_lost(&mut self) -> Vec<Failed> {
        let mut failed_ids = Vec::new();
        for (id, entry) in &mut self.entries {
            if !entry.sent {
                continue;
            }
            let is_request = matches!(entry.message, Outgoing::Request { .. });
            if is_request && entry.attempts <= entry.policy.retries {
                entry.attempts += 1;
                entry.sent = false;
                entry.resend_at = None;
                self.unsent.insert(entry.order, id.clone());
            } else {
                failed_ids.push(id.clone());
            }
        }
        self.fail(failed_ids, |_| RequestError::ConnectionLost)
    }

    /// Deadlines that have passed. Returns messages to send again (when `open`) and failures.
    pub fn expire(&mut self, now: u64, open: bool) -> (Vec<Outbound>, Vec<Failed>) {
        let mut frames = Vec::new();
        let mut failed_ids = Vec::new();
        for (id, entry) in &mut self.entries {
            if entry.resend_at.is_some_and(|at| at <= now) {
                entry.resend_at = None;
                entry.deadline = Some(now.saturating_add(entry.policy.timeout_ms));
                if open {
                    frames.push(Self::mark_sent(entry, now));
                } else {
                    self.unsent.insert(entry.order, id.clone());
                }
                continue;
            }
            if !entry.deadline.is_some_and(|at| at <= now) {
                continue;
            }
            if entry.attempts > entry.policy.retries {
                failed_ids.push(id.clone());
                continue;
            }
            let retry = entry.attempts - 1;
            entry.attempts += 1;
            if entry.sent {
                // Wait before sending again; a late answer to the first try still counts.
                entry.deadline = None;
                entry.sent = false;
                entry.resend_at = Some(now.saturating_add(self.retry.nominal(retry)));
            } else {
                entry.deadline = Some(now.saturating_add(entry.policy.timeout_ms));
            }
        }
        let failed = self.fail(failed_ids, |entry| RequestError::Timeout {
            attempts: entry.attempts,
        });
        (frames, failed)
    }

    /// Everything fails with `Closed` (the client was closed).
    pub fn close_all(&mut self) -> Vec<Failed> {
        let ids: Vec<String> = self.entries.keys().cloned().collect();
        self.fail(ids, |_| RequestError::Closed)
    }

    fn fail(&mut self, ids: Vec<String>, error: impl Fn(&Entry) -> RequestError) -> Vec<Failed> {
        let mut failed: Vec<(u64, Failed)> = ids
            .into_iter()
            .filter_map(|id| self.entries.remove(&id))
            .map(|entry| {
                self.unsent.remove(&entry.order);
                let error = error(&entry);
                (
                    entry.order,
                    Failed {
                        message: entry.message,
                        error,
                    },
                )
            })
            .collect();
        failed.sort_by_key(|(order, _)| *order);
        failed.into_iter().map(|(_, f)| f).collect()
    }

    /// The earliest deadline or resend time.
    pub fn next_deadline(&self) -> Option<u64> {
        self.entries
            .values()
            .filter_map(|e| match (e.deadline, e.resend_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            })
            .min()
    }

    /// Messages waiting for the connection.
    pub fn buffered(&self) -> usize {
        self.unsent.len()
    }

    /// Messages waiting for an answer, buffered ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str) -> Outgoing {
        Outgoing::Request {
            id: id.into(),
            event: "echo".into(),
            data: RawJson::null(),
            spread: false,
        }
    }

    fn publish(id: &str) -> Outgoing {
        Outgoing::Publish {
            id: id.into(),
            channel: "c".into(),
            event: "e".into(),
            data: RawJson::null(),
        }
    }

    const ONCE: AnswerPolicy = AnswerPolicy {
        timeout_ms: 100,
        retries: 0,
    };
    const TWICE: AnswerPolicy = AnswerPolicy {
        timeout_ms: 100,
        retries: 1,
    };

    #[test]
    fn buffers_until_open_in_order_and_hands_back_overflow() {
        let mut t = PendingTable::new(2, Backoff::default());
        assert_eq!(t.push(0, request("a"), ONCE, false), Ok(None));
        assert_eq!(t.push(0, publish("b"), ONCE, false), Ok(None));
        let overflow = t.push(0, request("c"), ONCE, false).unwrap_err();
        assert_eq!(overflow.kind(), "buffer_full");
        assert_eq!(overflow.into_message(), request("c"));
        let frames = t.take_unsent(10);
        assert_eq!(frames.len(), 2);
        assert_eq!(
            (frames[0].answer_id(), frames[1].answer_id()),
            (Some("a"), Some("b"))
        );
        assert_eq!(t.buffered(), 0);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn request_deadline_runs_from_creation_publish_from_send() {
        let mut t = PendingTable::new(8, Backoff::default());
        t.push(0, request("r"), ONCE, false).unwrap();
        t.push(0, publish("p"), ONCE, false).unwrap();
        assert_eq!(t.next_deadline(), Some(100));
        let (_, failed) = t.expire(100, false);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].error, RequestError::Timeout { attempts: 1 });
        assert_eq!(t.next_deadline(), None, "an unsent publish has no deadline");
        t.take_unsent(150);
        assert_eq!(t.next_deadline(), Some(250));
    }

    #[test]
    fn timed_out_request_is_resent_after_backoff_with_the_same_id() {
        let mut t = PendingTable::new(8, Backoff::default());
        assert!(t.push(0, request("r"), TWICE, true).unwrap().is_some());
        let (frames, failed) = t.expire(100, true);
        assert!(frames.is_empty() && failed.is_empty());
        assert_eq!(
            t.next_deadline(),
            Some(1_100),
            "resend after the first backoff step"
        );
        let (frames, _) = t.expire(1_100, true);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].answer_id(), Some("r"));
        let (_, failed) = t.expire(1_200, true);
        assert_eq!(failed[0].error, RequestError::Timeout { attempts: 2 });
        assert!(t.is_empty());
    }

    #[test]
    fn connection_loss_requeues_retryable_requests_and_fails_publishes() {
        let mut t = PendingTable::new(8, Backoff::default());
        t.push(0, request("r"), TWICE, true).unwrap();
        t.push(0, request("once"), ONCE, true).unwrap();
        t.push(0, publish("p"), TWICE, true).unwrap();
        let failed = t.connection_lost();
        let ids: Vec<&str> = failed.iter().map(|f| f.message.id()).collect();
        assert_eq!(ids, vec!["once", "p"]);
        assert!(
            failed
                .iter()
                .all(|f| f.error == RequestError::ConnectionLost)
        );
        assert_eq!(t.buffered(), 1);
        assert_eq!(t.answer("r"), Some(request("r")));
        assert_eq!(t.buffered(), 0, "an answer removes a buffered entry too");
    }

    #[test]
    fn close_fails_everything_in_order() {
        let mut t = PendingTable::new(8, Backoff::default());
        for id in ["a", "b", "c"] {
            t.push(0, request(id), ONCE, false).unwrap();
        }
        let failed = t.close_all();
        let ids: Vec<&str> = failed.iter().map(|f| f.message.id()).collect();
        assert_eq!(ids, vec!["a", "b", "c"]);
        assert!(t.is_empty() && t.buffered() == 0);
    }
}
