//! Messages the wire holds back to put them in order (a replay merged with live events): the
//! connection gives the hold a deadline and hands over what was held at the deadline, or
//! before the socket goes.

use super::{ConnOutput, Connection};

/// The longest the wire may hold messages back to put them in order (a replay that does not
/// finish by then is delivered as it comes, still without duplicates).
const HOLD_MS: u64 = 5_000;

impl Connection {
    /// After a frame: a deadline while the wire holds messages back, none otherwise.
    pub(super) fn arm_hold(&mut self, now: u64) {
        self.hold_deadline = if self.wire.holds() {
            Some(self.hold_deadline.unwrap_or(now.saturating_add(HOLD_MS)))
        } else {
            None
        };
    }

    /// Hands what the wire held back to the client, in the wire's order.
    pub(super) fn release_held(&mut self) {
        self.hold_deadline = None;
        for message in self.wire.release() {
            match message {
                Ok(message) => self.answered.push_back(message),
                Err(error) => self.output.push_back(ConnOutput::Error(error.into())),
            }
        }
    }
}
