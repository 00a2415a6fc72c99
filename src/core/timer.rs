//! One table of deadlines; the core's only time output is its earliest entry.

/// The things the client core waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Next reconnect attempt while waiting.
    Reconnect = 0,
    /// Auth, socket open and welcome must all finish before this.
    ConnectDeadline,
    /// Next heartbeat ping.
    Ping,
    /// The pong for the last ping must arrive before this.
    PongDeadline,
    /// Earliest request or publish-ack timeout, or request retry.
    Pending,
    /// Earliest outbox ack timeout, entry retry or retention expiry.
    Outbox,
    /// Paced deliveries (throttle, debounce), batched publishes, the breaker's half-open.
    Paced,
    /// The tabs part: the election's next step, a held-back share of the leader's state.
    Tabs,
}

const TIMERS: usize = 8;

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
