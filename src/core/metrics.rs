//! Counters and samples an app can read as a snapshot (`client.metrics()`).

use std::collections::VecDeque;

/// Samples kept for percentiles.
const SAMPLES: usize = 256;

/// A bounded window of samples.
#[derive(Debug, Clone, Default)]
pub struct Window(VecDeque<u64>);

impl Window {
    /// Adds a sample, forgetting the oldest past the window.
    pub fn push(&mut self, sample: u64) {
        if self.0.len() >= SAMPLES {
            self.0.pop_front();
        }
        self.0.push_back(sample);
    }

    /// The latest sample.
    pub fn last(&self) -> Option<u64> {
        self.0.back().copied()
    }

    /// The `p`-th percentile (0–100) of the window.
    pub fn percentile(&self, p: u64) -> Option<u64> {
        if self.0.is_empty() {
            return None;
        }
        let mut sorted: Vec<u64> = self.0.iter().copied().collect();
        sorted.sort_unstable();
        let rank = (p.min(100) as usize * sorted.len()).saturating_sub(1) / 100;
        sorted.get(rank).copied()
    }
}

/// What the client counts.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Heartbeat round trips, ms.
    pub rtt: Window,
    /// Time app handlers took per delivered message, µs.
    pub dispatch: Window,
    /// Messages received and sent (several may share a frame).
    pub messages_in: u64,
    pub messages_out: u64,
    /// Events dropped as duplicates (sequence or publish id seen before).
    pub duplicates_dropped: u64,
    /// Sequence gaps seen, each answered by asking for the channel again.
    pub gaps_refetched: u64,
    /// Deliveries folded into a later one by throttle, debounce or coalescing.
    pub deliveries_coalesced: u64,
    /// Errors by kind, sorted by kind (a handful of kinds: a list is smaller than a map).
    pub errors: Vec<(&'static str, u64)>,
}

impl Metrics {
    /// Counts an error of `kind`.
    pub fn error(&mut self, kind: &'static str) {
        match self.errors.binary_search_by(|(k, _)| k.cmp(&kind)) {
            Ok(i) => {
                if let Some((_, n)) = self.errors.get_mut(i) {
                    *n += 1;
                }
            }
            Err(i) => self.errors.insert(i, (kind, 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_over_a_bounded_window() {
        let mut w = Window::default();
        assert_eq!(w.percentile(50), None);
        for n in 1..=100 {
            w.push(n);
        }
        assert_eq!(
            (w.percentile(50), w.percentile(99), w.percentile(100)),
            (Some(50), Some(99), Some(100))
        );
        for _ in 0..SAMPLES {
            w.push(7);
        }
        assert_eq!(w.percentile(99), Some(7), "old samples age out");
        assert_eq!(w.last(), Some(7));
    }
}
