//! A circuit breaker around sending durable publishes: after `threshold` consecutive failures
//! (ack timeouts, retryable refusals) it opens and nothing is sent for `cooldown_ms`; then one
//! probe goes out (half-open): an ack closes it, a failure opens it again. Entries wait in
//! the outbox meanwhile, and the state says so.
//!
//! Failures less than [`EPISODE_MS`] apart are one failure: the entries of one window time
//! out together, and a server that lost one window has failed once, not once per entry.

/// Failures closer together than this count once.
pub const EPISODE_MS: u64 = 1_000;

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Sending normally.
    Closed,
    /// Not sending until this time.
    Open { until: u64 },
    /// One probe allowed; `probing` once it is out.
    HalfOpen { probing: bool },
}

impl BreakerState {
    /// The name JS sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen { .. } => "half-open",
        }
    }
}

/// The breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown_ms: u64,
    failures: u32,
    last_failure: Option<u64>,
    state: BreakerState,
}

impl Breaker {
    /// Opens after `threshold` consecutive failures (default 5), half-opens after
    /// `cooldown_ms` (default 30 s).
    pub fn new(threshold: u32, cooldown_ms: u64) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown_ms,
            failures: 0,
            last_failure: None,
            state: BreakerState::Closed,
        }
    }

    /// The current state (after moving from open to half-open if the cooldown passed).
    pub fn state(&mut self, now: u64) -> BreakerState {
        if let BreakerState::Open { until } = self.state {
            if now >= until {
                self.state = BreakerState::HalfOpen { probing: false };
            }
        }
        self.state
    }

    /// The state as it reads at `now`, without moving it (for reads that change nothing).
    pub fn state_at(&self, now: u64) -> BreakerState {
        match self.state {
            BreakerState::Open { until } if now >= until => {
                BreakerState::HalfOpen { probing: false }
            }
            state => state,
        }
    }

    /// Consecutive failures counted.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// How many entries may be sent now: all (closed), one probe (half-open), none (open).
    pub fn allowance(&mut self, now: u64) -> usize {
        match self.state(now) {
            BreakerState::Closed => usize::MAX,
            BreakerState::HalfOpen { probing: false } => 1,
            _ => 0,
        }
    }

    /// `sent` entries went out (a half-open breaker's probe is now out).
    pub fn sent(&mut self, sent: usize) {
        if sent > 0 && self.state == (BreakerState::HalfOpen { probing: false }) {
            self.state = BreakerState::HalfOpen { probing: true };
        }
    }

    /// The connection dropped: a probe out on it will never be answered, so the next
    /// connection may send another.
    pub fn connection_lost(&mut self) {
        if self.state == (BreakerState::HalfOpen { probing: true }) {
            self.state = BreakerState::HalfOpen { probing: false };
        }
    }

    /// The server acked: closed again.
    pub fn success(&mut self) {
        self.failures = 0;
        self.last_failure = None;
        self.state = BreakerState::Closed;
    }

    /// A send failed (ack timeout, retryable refusal).
    pub fn failure(&mut self, now: u64) {
        let half_open = matches!(self.state, BreakerState::HalfOpen { .. });
        let same_episode = self
            .last_failure
            .is_some_and(|t| now < t.saturating_add(EPISODE_MS));
        if same_episode && !half_open {
            return;
        }
        self.last_failure = Some(now);
        self.failures = self.failures.saturating_add(1);
        if half_open || self.failures >= self.threshold {
            self.state = BreakerState::Open {
                until: now.saturating_add(self.cooldown_ms),
            };
        }
    }

    /// When an open breaker half-opens.
    pub fn next_deadline(&self) -> Option<u64> {
        match self.state {
            BreakerState::Open { until } => Some(until),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_after_the_cooldown() {
        let mut b = Breaker::new(5, 30_000);
        for t in 0..4 {
            b.failure(t * 1_000);
        }
        assert_eq!(b.state(4_000), BreakerState::Closed);
        b.success();
        assert_eq!(b.failures(), 0, "failures must be consecutive");
        for _ in 0..10 {
            b.failure(5_000);
        }
        assert_eq!(b.failures(), 1, "failures of one moment are one episode");
        for t in 1..5 {
            b.failure(5_000 + t * 1_000);
        }
        assert_eq!(b.state(9_000), BreakerState::Open { until: 39_000 });
        assert_eq!(b.allowance(38_999), 0);
        assert_eq!(b.allowance(39_000), 1, "half-open: one probe");
        b.sent(1);
        assert_eq!(b.allowance(39_000), 0, "only one");
        b.failure(39_500);
        assert_eq!(
            b.state(39_500),
            BreakerState::Open { until: 69_500 },
            "a failed probe opens it again"
        );
        assert_eq!(b.allowance(69_500), 1);
        b.sent(1);
        b.connection_lost();
        assert_eq!(
            b.allowance(69_500),
            1,
            "a probe lost with its connection may be sent again"
        );
        b.sent(1);
        b.success();
        assert_eq!(b.state(69_600), BreakerState::Closed);
        assert_eq!(b.allowance(69_600), usize::MAX);
    }
}
