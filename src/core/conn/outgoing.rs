//! What the connection sends: messages queued by the other parts, encoded by the wire and
//! joined into frames under the server's frame limit, and what the wire answers by itself.

use super::{ConnOutput, Connection};
use crate::core::output::Action;
use crate::protocol::{Encoded, Inbound, Outbound, PeerLimits};

impl Connection {
    /// The server told its limits: frames to it stay under its frame limit.
    pub fn handle_limits(&mut self, limits: PeerLimits) {
        self.peer_frame_bytes = limits.frame.and_then(|n| usize::try_from(n).ok());
    }

    /// Queues a message; it goes out (encoded by the wire, batched where it can) at the next
    /// [`Connection::flush`].
    pub fn send(&mut self, message: Outbound) {
        self.outgoing.push(message);
    }

    /// Encodes what was queued, into as few frames as the wire allows; returns how many
    /// messages went out.
    pub fn flush(&mut self) -> usize {
        self.transmit_wire();
        let count = self.outgoing.len();
        if count == 0 {
            return 0;
        }
        let mut frames = Vec::with_capacity(count);
        for message in std::mem::take(&mut self.outgoing) {
            match self.wire.encode(message) {
                Ok(Encoded::Frame(frame)) => frames.push(frame),
                Ok(Encoded::FrameThen(frame, answer)) => {
                    frames.push(frame);
                    self.answered.push_back(answer);
                }
                Ok(Encoded::Answered(answer)) => self.answered.push_back(answer),
                Ok(Encoded::Nothing) => {}
                Err(error) => self.output.push_back(ConnOutput::Error(error.into())),
            }
        }
        let max_bytes = self.peer_frame_bytes.unwrap_or(usize::MAX);
        for frame in self.wire.join(frames, self.config.max_batch, max_bytes) {
            self.output
                .push_back(ConnOutput::Action(Action::Send(frame)));
        }
        self.transmit_wire();
        count
    }

    /// True when the wire answered something by itself that was not polled yet.
    pub fn has_answered(&self) -> bool {
        !self.answered.is_empty()
    }

    /// What the wire answered by itself (a subscription live at once, a message too large).
    #[must_use]
    pub fn poll_answered(&mut self) -> Option<Inbound> {
        self.answered.pop_front()
    }

    pub(super) fn transmit_wire(&mut self) {
        while let Some(frame) = self.wire.poll_transmit() {
            self.output
                .push_back(ConnOutput::Action(Action::Send(frame)));
        }
    }
}
