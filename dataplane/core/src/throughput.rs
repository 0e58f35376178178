//! Throughput estimate from a growing byte counter.
//!
//! # Design
//! The caller samples a monotonically growing counter (bytes acknowledged)
//! with the time it read it. The estimate is the counter's growth over the
//! last [`window`](ThroughputEstimator::window) divided by the time between
//! the two samples that span it: a plain average over a fixed stretch of
//! time, not a per-sample EWMA.
//!
//! Why a window of several round trips: acknowledgements arrive in bursts
//! once per round trip (more so with several streams and a pacing sender),
//! so the rate of any interval shorter than a round trip swings between
//! near zero and twice the link. The first version averaged 20 ms intervals
//! with an EWMA (weight 0.3, a memory of about 60 ms): on a 100 ms link it
//! read 10 MiB/s after one round and 51 MiB/s after the next on a link that
//! carried 23 MiB/s, and the switch-over that trusted the second reading
//! paused the guest for 507-638 ms against a 300 ms budget. The window is
//! [`WINDOW_ROUND_TRIPS`] round trips of the path, at least [`WINDOW_MIN`]
//! (loopback and datacenter links ack continuously) and at most
//! [`WINDOW_MAX`] (a rate the switch-over plans with must still follow a
//! link that changes within seconds).
//!
//! The **peak** ([`ThroughputEstimator::peak_bytes_per_s`]) is the highest
//! whole-window rate of the last [`PEAK_WINDOWS`] windows, the way BBR
//! estimates a path's bottleneck bandwidth: what the link can drain, which
//! is what a switch-over plans with. The current rate alone reads what the
//! sender offered: at the end of a round whose last stretch the engine spent
//! encoding (the link half idle), the real guest's read 7-9 MiB/s on a link
//! that had carried 23 MiB/s, and the switch-over waited rounds for a queue
//! that would have drained in time. A peak is too high only for the
//! [`PEAK_WINDOWS`] windows after the link slows down; the caller caps it
//! with the link's configured rate and the predicted floor.
//!
//! Bounds: at most [`SAMPLES_MAX`] samples are kept, allocated once; samples
//! closer than [`SAMPLE_INTERVAL_MIN`] (or `window / (SAMPLES_MAX / 2)`, if
//! longer) to the last kept one are ignored, so a window never needs more
//! than half of them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Shortest interval between two kept samples.
pub const SAMPLE_INTERVAL_MIN: Duration = Duration::from_millis(20);
/// Samples kept at most.
pub const SAMPLES_MAX: usize = 64;
/// Samples one window needs at most (the spacing is `window / WINDOW_SAMPLES_MAX`).
const WINDOW_SAMPLES_MAX: u32 = 32;
const _: () = assert!(WINDOW_SAMPLES_MAX as usize * 2 == SAMPLES_MAX);
/// Round trips of the path one window spans.
pub const WINDOW_ROUND_TRIPS: u32 = 4;
/// The shortest window.
pub const WINDOW_MIN: Duration = Duration::from_millis(200);
/// The longest window.
pub const WINDOW_MAX: Duration = Duration::from_secs(2);
/// Windows the peak looks back over.
pub const PEAK_WINDOWS: u32 = 5;

/// Throughput of a byte counter over a sliding window of time.
#[derive(Debug, Clone)]
pub struct ThroughputEstimator {
    /// Kept samples `(time, counter)`, oldest first; the oldest is the anchor
    /// at or just before `newest - window` once the window is full.
    samples: VecDeque<(Instant, u64)>,
    /// Whole-window rates of the last `PEAK_WINDOWS` windows, decreasing
    /// (a monotonic queue: the front is the peak).
    peaks: VecDeque<(Instant, f64)>,
    window: Duration,
    spacing: Duration,
}

impl Default for ThroughputEstimator {
    fn default() -> Self {
        Self::with_window(WINDOW_MIN)
    }
}

impl ThroughputEstimator {
    /// An estimator over the shortest window ([`WINDOW_MIN`]); the rate is 0
    /// until two samples are kept.
    pub fn new() -> Self {
        Self::default()
    }

    /// An estimator whose window spans [`WINDOW_ROUND_TRIPS`] round trips
    /// of `round_trip`, within [`WINDOW_MIN`]..=[`WINDOW_MAX`].
    pub fn for_round_trip(round_trip: Duration) -> Self {
        Self::with_window(round_trip.saturating_mul(WINDOW_ROUND_TRIPS))
    }

    /// An estimator over `window`, clamped to [`WINDOW_MIN`]..=[`WINDOW_MAX`].
    pub fn with_window(window: Duration) -> Self {
        let window = window.clamp(WINDOW_MIN, WINDOW_MAX);
        let spacing = SAMPLE_INTERVAL_MIN.max(window / WINDOW_SAMPLES_MAX);
        Self {
            samples: VecDeque::with_capacity(SAMPLES_MAX),
            peaks: VecDeque::with_capacity(SAMPLES_MAX),
            window,
            spacing,
        }
    }

    /// The stretch of time the estimate averages over.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Records that the counter read `total_bytes` at `now`.
    pub fn record(&mut self, now: Instant, total_bytes: u64) {
        if let Some(&(last, _)) = self.samples.back() {
            if now.saturating_duration_since(last) < self.spacing {
                return;
            }
        }
        if self.samples.len() == SAMPLES_MAX {
            self.samples.pop_front();
        }
        self.samples.push_back((now, total_bytes));
        // Drop the oldest while the next one still reaches back a whole window.
        while self.samples.len() > 2
            && now.saturating_duration_since(self.samples[1].0) >= self.window
        {
            self.samples.pop_front();
        }
        debug_assert!(self.samples.len() <= SAMPLES_MAX);
        let spans_a_window = self
            .samples
            .front()
            .is_some_and(|&(then, _)| now.saturating_duration_since(then) >= self.window);
        if spans_a_window {
            let rate = self.bytes_per_s();
            while self.peaks.back().is_some_and(|&(_, r)| r <= rate) {
                self.peaks.pop_back();
            }
            if self.peaks.len() == SAMPLES_MAX {
                self.peaks.pop_front();
            }
            self.peaks.push_back((now, rate));
        }
        let horizon = self.window.saturating_mul(PEAK_WINDOWS);
        while self
            .peaks
            .front()
            .is_some_and(|&(at, _)| now.saturating_duration_since(at) > horizon)
        {
            self.peaks.pop_front();
        }
    }

    /// The highest whole-window rate of the last [`PEAK_WINDOWS`] windows,
    /// bytes per second; the current rate until one whole window is known.
    pub fn peak_bytes_per_s(&self) -> f64 {
        self.peaks
            .front()
            .map_or_else(|| self.bytes_per_s(), |&(_, rate)| rate)
    }

    /// Current estimate in bytes per second (0 before two samples).
    pub fn bytes_per_s(&self) -> f64 {
        let (Some(&(then, bytes_then)), Some(&(now, bytes_now))) =
            (self.samples.front(), self.samples.back())
        else {
            return 0.0;
        };
        let elapsed = now.saturating_duration_since(then);
        if elapsed.is_zero() {
            return 0.0;
        }
        bytes_now.saturating_sub(bytes_then) as f64 / elapsed.as_secs_f64()
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
    fn adapts_to_a_change_within_one_window() {
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
            (t.bytes_per_s() - 10e6).abs() < 1e3,
            "10 MB/s once a whole window has passed at it, got {}",
            t.bytes_per_s()
        );
    }

    /// Acknowledgements of a 100 ms path at 25 MB/s arrive as one 2.5 MB
    /// burst per round trip; whenever it is read, a window of 4 round trips
    /// (read every 23 ms, out of step with the bursts) is within a quarter of
    /// the rate; an EWMA of 20 ms intervals read 0.4x to 1.7x.
    #[test]
    fn acknowledgements_in_bursts_once_per_round_trip_average_out() {
        let start = Instant::now();
        let rtt = Duration::from_millis(100);
        let mut t = ThroughputEstimator::for_round_trip(rtt);
        assert_eq!(t.window(), Duration::from_millis(400));
        let mut worst: f64 = 0.0;
        for ms in (0..5_000u64).step_by(23) {
            let bursts = ms / 100 + 1;
            t.record(start + Duration::from_millis(ms), bursts * 2_500_000);
            if ms >= 500 {
                worst = worst.max((t.bytes_per_s() / 25e6 - 1.0).abs());
            }
        }
        assert!(worst <= 0.25, "worst relative error {worst}");
    }

    /// 25 MB/s for 2 s, then 5 MB/s: the peak holds 25 for
    /// `PEAK_WINDOWS` windows of 400 ms, then follows down.
    #[test]
    fn the_peak_remembers_the_best_window_for_a_few_windows() {
        let start = Instant::now();
        let mut t = ThroughputEstimator::for_round_trip(Duration::from_millis(100));
        assert_eq!(t.peak_bytes_per_s(), 0.0);
        let mut bytes = 0u64;
        // Samples every 20 ms over `ms`, `step` bytes apart.
        let mut feed = |t: &mut ThroughputEstimator, ms: std::ops::RangeInclusive<u64>, step| {
            for at in ms.step_by(20) {
                t.record(start + Duration::from_millis(at), bytes);
                bytes += step;
            }
        };
        let near = |value: f64, expected: f64, within: f64| (value - expected).abs() < within;
        feed(&mut t, 0..=2_000, 500_000);
        assert!(
            near(t.peak_bytes_per_s(), 25e6, 1e3),
            "{}",
            t.peak_bytes_per_s()
        );
        feed(&mut t, 2_020..=3_000, 100_000);
        assert!(
            near(t.bytes_per_s(), 5e6, 1e3),
            "current {}",
            t.bytes_per_s()
        );
        assert!(
            near(t.peak_bytes_per_s(), 25e6, 1e6),
            "peak {}",
            t.peak_bytes_per_s()
        );
        feed(&mut t, 3_020..=5_000, 100_000);
        assert!(
            near(t.peak_bytes_per_s(), 5e6, 1e3),
            "peak {}",
            t.peak_bytes_per_s()
        );
        assert!(t.peaks.len() <= SAMPLES_MAX);
    }

    #[test]
    fn the_window_is_clamped_and_the_samples_stay_bounded() {
        assert_eq!(
            ThroughputEstimator::for_round_trip(Duration::from_micros(50)).window(),
            WINDOW_MIN
        );
        assert_eq!(
            ThroughputEstimator::for_round_trip(Duration::from_secs(5)).window(),
            WINDOW_MAX
        );
        let start = Instant::now();
        let mut t = ThroughputEstimator::with_window(WINDOW_MAX);
        for ms in 0..20_000u64 {
            t.record(start + Duration::from_millis(ms), ms * 1000);
            assert!(t.samples.len() <= SAMPLES_MAX);
        }
        assert!((t.bytes_per_s() - 1e6).abs() < 1.0, "{}", t.bytes_per_s());
        assert!(
            t.samples.len() <= SAMPLES_MAX / 2 + 2,
            "{}",
            t.samples.len()
        );
    }
}
