//! One table of deadlines, one slot per part; the core's only time output is its earliest
//! entry. Each part keeps what its deadline is for; the table only says when.

/// The things the client core waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The connection part's next deadline: a reconnect, the connect timeout, a ping, a pong
    /// or the server's heartbeat that is due.
    Connection = 0,
    /// The messaging part's next deadline: an answer's timeout or retry, a paced delivery,
    /// a batch of publishes.
    Messaging,
    /// The outbox part's next deadline: an ack timeout, a retry, a retention, the breaker's
    /// half-open.
    Outbox,
    /// The tabs part: the election's next step, a held-back share of the leader's state.
    Tabs,
}

const TIMERS: usize = 4;

/// Deadlines in milliseconds of the caller's monotonic clock, one slot per [`Timer`].
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    slots: [Option<u64>; TIMERS],
}

impl TimerTable {
    /// Sets (or moves) a timer.
    pub fn set(&mut self, timer: Timer, at: u64) {
        if let Some(slot) = self.slots.get_mut(timer as usize) {
            *slot = Some(at);
        }
    }

    /// Clears a timer.
    pub fn stop(&mut self, timer: Timer) {
        if let Some(slot) = self.slots.get_mut(timer as usize) {
            *slot = None;
        }
    }

    /// When a timer fires, if it is set.
    pub fn get(&self, timer: Timer) -> Option<u64> {
        self.slots.get(timer as usize).copied().flatten()
    }

    /// True when the timer is set and `now` has reached it; the timer is cleared.
    pub fn expire(&mut self, timer: Timer, now: u64) -> bool {
        match self.get(timer) {
            Some(at) if at <= now => {
                self.stop(timer);
                true
            }
            _ => false,
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<u64> {
        self.slots.iter().flatten().copied().min()
    }
}
