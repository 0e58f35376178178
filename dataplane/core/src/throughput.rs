//! Throughput estimate from a growing byte counter.
//!
//! # Design
//! The caller samples a monotonically growing counter (bytes acknowledged)
//! with the time it read it. Samples closer than [`SAMPLE_INTERVAL_MIN`] to
//! the previous accepted one are ignored; each accepted interval's rate
//! feeds an exponentially weighted average with weight [`EWMA_WEIGHT`], so
//! the estimate follows the link within a few hundred milliseconds without
//! jumping on one slow ack.

use std::time::{Duration, Instant};

/// Shortest interval that yields a rate sample.
pub const SAMPLE_INTERVAL_MIN: Duration = Duration::from_millis(20);
/// Weight of the newest interval in the average.
pub const EWMA_WEIGHT: f64 = 0.3;

/// Windowed throughput of a byte counter.
#[derive(Debug, Clone, Default)]
pub struct ThroughputEstimator {
    last: Option<(Instant, u64)>,
    rate_bytes_per_s: f64,
}

impl ThroughputEstimator {
    /// No samples yet; the rate is 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the counter read `total_bytes` at `now`.
    pub fn record(&mut self, now: Instant, total_bytes: u64) {
        let Some((then, bytes_then)) = self.last else {
            self.last = Some((now, total_bytes));
            return;
        };
        let elapsed = now.saturating_duration_since(then);
        if elapsed < SAMPLE_INTERVAL_MIN {
            return;
        }
        let rate = total_bytes.saturating_sub(bytes_then) as f64 / elapsed.as_secs_f64();
        self.rate_bytes_per_s = if self.rate_bytes_per_s == 0.0 {
            rate
        } else {
            EWMA_WEIGHT * rate + (1.0 - EWMA_WEIGHT) * self.rate_bytes_per_s
        };
        self.last = Some((now, total_bytes));
    }

    /// Current estimate in bytes per second (0 before two samples).
    pub fn bytes_per_s(&self) -> f64 {
        self.rate_bytes_per_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_a_steady_rate_and_ignores_close_samples() {
        let start = Instant::now();
        let mut t = ThroughputEstimator::new();
        assert_eq!(t.bytes_per_s(), 0.0);
        for step in 0..=10u64 {
            t.record(start + Duration::from_millis(100 * step), step * 10_000_000);
        }
        assert!(
            (t.bytes_per_s() - 100e6).abs() < 1e3,
            "100 MB/s, got {}",
            t.bytes_per_s()
        );
        t.record(start + Duration::from_millis(1001), 20_000_000_000);
        assert!(
            (t.bytes_per_s() - 100e6).abs() < 1e3,
            "a sample 1 ms later is ignored"
        );
    }

    #[test]
    fn adapts_to_a_change_within_a_few_samples() {
        let start = Instant::now();
        let mut t = ThroughputEstimator::new();
        let mut bytes = 0;
        for step in 0..=5u64 {
            t.record(start + Duration::from_millis(100 * step), bytes);
            bytes += 10_000_000;
        }
        for step in 6..=20u64 {
            bytes += 1_000_000;
            t.record(start + Duration::from_millis(100 * step), bytes);
        }
        assert!(
            t.bytes_per_s() < 12e6,
            "converged towards 10 MB/s, got {}",
            t.bytes_per_s()
        );
    }
}
