//! Exponential backoff with jitter, in integer milliseconds.

/// How long to wait before the n-th retry: `initial × factor^n`, capped, then spread by jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry (default 1 s).
    pub initial_ms: u64,
    /// Growth per retry (default 2).
    pub factor: u32,
    /// Largest delay (default 30 s); jitter never takes a delay above it.
    pub max_ms: u64,
    /// Spread around the nominal delay, in thousandths (default 500: ±50 %).
    pub jitter_permille: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial_ms: 1_000,
            factor: 2,
            max_ms: 30_000,
            jitter_permille: 500,
        }
    }
}

impl Backoff {
    /// The nominal (unjittered) delay before retry number `retry` (0-based), capped at `max_ms`.
    pub fn nominal(&self, retry: u32) -> u64 {
        let mut delay = self.initial_ms.min(self.max_ms);
        for _ in 0..retry {
            if delay >= self.max_ms {
                break;
            }
            delay = delay
                .saturating_mul(u64::from(self.factor.max(1)))
                .min(self.max_ms);
        }
        delay
    }

    /// The delay before retry number `retry`, jittered by `random` (any `u64`).
    ///
    /// The result lies in `[nominal × (1 − j), min(max, nominal × (1 + j))]`.
    pub fn delay(&self, retry: u32, random: u64) -> u64 {
        let nominal = self.nominal(retry);
        let jitter = u64::from(self.jitter_permille.min(1_000));
        let spread = nominal.saturating_mul(jitter) / 1_000;
        let low = nominal - spread;
        let width = spread.saturating_mul(2).saturating_add(1);
        low.saturating_add(random % width).min(self.max_ms.max(low))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_doubles_to_thirty_seconds() {
        let b = Backoff::default();
        let nominal: Vec<u64> = (0..8).map(|n| b.nominal(n)).collect();
        assert_eq!(
            nominal,
            [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
        assert_eq!(b.nominal(u32::MAX), 30_000);
    }

    #[test]
    fn jitter_spans_half_to_one_and_a_half() {
        let b = Backoff::default();
        assert_eq!(b.delay(0, 0), 500);
        assert_eq!(b.delay(0, 1_000), 1_500);
        assert_eq!(b.delay(1, 1_000), 2_000);
        // At the cap the upper half is clipped to the cap.
        assert_eq!(b.delay(10, 0), 15_000);
        assert_eq!(b.delay(10, 30_000), 30_000);
    }

    #[test]
    fn no_jitter_gives_the_nominal_delay() {
        let b = Backoff {
            jitter_permille: 0,
            ..Backoff::default()
        };
        for n in 0..10 {
            assert_eq!(b.delay(n, 12345 * u64::from(n)), b.nominal(n));
        }
    }
}
