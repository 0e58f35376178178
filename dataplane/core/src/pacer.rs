//! Send pacing: a token bucket in bytes.
//!
//! # Design
//! `rate_bytes_per_s` tokens accrue per second; sending `n` bytes takes `n`
//! tokens, and [`Pacer::try_take`] either takes them or says how long until
//! they will be there, so the caller decides how to wait. Tokens accrue up
//! to the frame asked for plus `burst_bytes`: a sender late by less than the
//! burst loses none of its rate whatever its frame size, one that fell
//! further behind sends at most one frame and one burst at once, and any
//! frame size can go once its tokens are there (no deadlock).

use std::time::{Duration, Instant};

/// Burst allowance: this long at the configured rate. The pacer is a cap,
/// so an engine that fell behind (a stall, a scan) does not catch up in a
/// burst: at half load on loopback a 10 ms burst after each stall queued
/// hundreds of frames at the destination, and the frames sent in those
/// bursts (and at the start, with a full bucket) were about half of the
/// p99 of enqueue to acknowledged (docs/latency-profiling.md §4).
pub const BURST_DURATION: Duration = Duration::from_millis(1);

/// A byte token bucket.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate_bytes_per_s: f64,
    burst_bytes: f64,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    /// A full bucket at `rate_bytes_per_s` with a burst of [`BURST_DURATION`] worth.
    pub fn new(rate_bytes_per_s: u64, now: Instant) -> Self {
        assert!(rate_bytes_per_s > 0, "a pacer needs a positive rate");
        let rate = rate_bytes_per_s as f64;
        let burst = rate * BURST_DURATION.as_secs_f64();
        Self {
            rate_bytes_per_s: rate,
            burst_bytes: burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes `bytes` tokens at `now`, or returns how long to wait for them.
    pub fn try_take(&mut self, now: Instant, bytes: u64) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        let needed = bytes as f64;
        self.tokens =
            (self.tokens + elapsed * self.rate_bytes_per_s).min(needed + self.burst_bytes);
        if self.tokens >= needed {
            self.tokens -= needed;
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            (needed - self.tokens) / self.rate_bytes_per_s,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_run_rate_is_respected() {
        let start = Instant::now();
        let mut pacer = Pacer::new(100_000_000, start);
        let mut now = start;
        let mut sent = 0u64;
        while now < start + Duration::from_secs(2) {
            match pacer.try_take(now, 262_144) {
                Ok(()) => sent += 262_144,
                Err(wait) => now += wait,
            }
        }
        let rate = sent as f64 / 2.0;
        assert!((rate - 100e6).abs() / 100e6 < 0.02, "rate {rate}");
    }

    #[test]
    fn after_a_stall_at_most_one_burst_goes_at_once() {
        let start = Instant::now();
        let rate = 375_000_000; // 3 Gbit/s
        let mut pacer = Pacer::new(rate, start);
        let frame = 8_192;
        let burst_bytes = |pacer: &mut Pacer, now: Instant| {
            let mut sent = 0u64;
            while pacer.try_take(now, frame).is_ok() {
                sent += frame;
            }
            sent
        };
        let allowance = rate as f64 * BURST_DURATION.as_secs_f64();
        let first = burst_bytes(&mut pacer, start) as f64;
        assert!(
            first <= allowance + frame as f64,
            "start: {first} bytes at once"
        );
        // A 50 ms stall of the sender earns no more than the allowance.
        let later = burst_bytes(&mut pacer, start + Duration::from_millis(50)) as f64;
        assert!(
            later <= allowance + frame as f64 && later >= allowance - frame as f64,
            "after a stall: {later} bytes at once, allowance {allowance}"
        );
    }

    #[test]
    fn a_frame_larger_than_the_burst_goes_once_its_tokens_are_there() {
        let start = Instant::now();
        let mut pacer = Pacer::new(1_000, start);
        let wait = pacer
            .try_take(start, 1_000_000)
            .expect_err("a 1 B burst holds no 1 MB frame");
        assert!(
            wait > Duration::from_secs(990) && wait <= Duration::from_secs(1000),
            "the frame waits for its tokens at the rate: {wait:?}"
        );
        assert!(pacer.try_take(start + wait, 1_000_000).is_ok());
    }

    #[test]
    fn a_late_sender_of_large_frames_keeps_its_rate() {
        // 100 Mbit/s, where 1 ms of burst is far less than a 256 KiB frame;
        // the sender comes back 500 us after every wait it is told.
        let rate = 12_500_000u64;
        let frame = 262_144u64;
        let start = Instant::now();
        let mut pacer = Pacer::new(rate, start);
        let mut now = start;
        let mut sent = 0u64;
        while now < start + Duration::from_secs(4) {
            match pacer.try_take(now, frame) {
                Ok(()) => sent += frame,
                Err(wait) => now += wait + Duration::from_micros(500),
            }
        }
        let achieved = sent as f64 / 4.0;
        assert!(
            achieved >= rate as f64 * 0.99,
            "late by less than the burst, the sender loses no rate: {achieved} of {rate}"
        );
    }
}
