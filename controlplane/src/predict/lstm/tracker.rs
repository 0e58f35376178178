//! `MarginTracker`: the online correction of one horizon's band margin.
//!
//! # Design
//!
//! The calibrated margins ([`calibration`](super::calibration)) hold for
//! links like the calibration files; a link unlike them (another family,
//! a link that changed) can be covered less. After each sample the
//! tracker learns whether the band it issued `h` steps ago covered the
//! mean of the `h` samples since, and moves its extra margin `δ` (log
//! ratio, added to both sides):
//!
//! `δ ← clamp(δ + η (miss − α), 0, B)`
//!
//! with `α` the miss rate the calibration aimed at (`1 − coverage`), `η`
//! the model file's `online_step_log` and `B` = [`TRACKER_BOUND_LOG`].
//! This is the quantile tracker of online conformal prediction (Gibbs and
//! Candès 2021; Angelopoulos et al. 2023), one-sided: whatever the link,
//! its long-run miss rate is at most `α + (B + η) / (η T)` after `T`
//! outcomes. It only widens: a link covered better than the calibration
//! files keeps the calibrated band, so a steady link does not shrink its
//! band to the point and the lower bound stays a conservative floor for
//! the switch-over. Causal: an outcome is used only once all its samples
//! were observed. No allocation after construction.

use std::collections::VecDeque;

/// The bound of the extra margin, log ratio (a factor of e either way).
pub const TRACKER_BOUND_LOG: f64 = 1.0;

/// The online margin of one horizon (module documentation).
#[derive(Debug, Clone)]
pub struct MarginTracker {
    horizon_steps: usize,
    miss_target: f64,
    step_log: f64,
    /// The bands issued after each of the last `h` samples, oldest first,
    /// Mbit/s.
    issued: VecDeque<(f64, f64)>,
    /// The last `h` samples, Mbit/s.
    recent: VecDeque<f64>,
    adjust_log: f64,
}

impl MarginTracker {
    /// A tracker for a horizon of `horizon_steps`, aiming at the miss rate
    /// `miss_target`, moving by `step_log` (0: never moves).
    ///
    /// # Panics
    /// If `horizon_steps` is 0, `miss_target` is outside `0..=1` or
    /// `step_log` is negative or not finite (the model file check refuses
    /// these first).
    pub fn new(horizon_steps: usize, miss_target: f64, step_log: f64) -> Self {
        assert!(horizon_steps >= 1, "a horizon of at least one step");
        assert!(
            (0.0..=1.0).contains(&miss_target),
            "miss target {miss_target}"
        );
        assert!(step_log.is_finite() && step_log >= 0.0, "step {step_log}");
        Self {
            horizon_steps,
            miss_target,
            step_log,
            issued: VecDeque::with_capacity(horizon_steps + 1),
            recent: VecDeque::with_capacity(horizon_steps + 1),
            adjust_log: 0.0,
        }
    }

    /// The extra margin now, log ratio.
    pub fn adjust_log(&self) -> f64 {
        self.adjust_log
    }

    /// Takes the next sample; scores the band issued `h` samples ago once
    /// its outcome is complete.
    pub fn observe(&mut self, mbps: f64) {
        if self.recent.len() == self.horizon_steps {
            self.recent.pop_front();
        }
        self.recent.push_back(mbps);
        if self.issued.len() < self.horizon_steps {
            return;
        }
        let Some((lower, upper)) = self.issued.pop_front() else {
            return;
        };
        let actual = self.recent.iter().sum::<f64>() / self.horizon_steps as f64;
        let miss = if (lower..=upper).contains(&actual) {
            0.0
        } else {
            1.0
        };
        self.adjust_log = (self.adjust_log + self.step_log * (miss - self.miss_target))
            .clamp(0.0, TRACKER_BOUND_LOG);
    }

    /// Records the band issued after the latest sample, Mbit/s.
    pub fn issue(&mut self, lower_mbps: f64, upper_mbps: f64) {
        if self.issued.len() == self.horizon_steps {
            self.issued.pop_front();
        }
        self.issued.push_back((lower_mbps, upper_mbps));
    }

    /// Forgets everything (a new link).
    pub fn reset(&mut self) {
        self.issued.clear();
        self.recent.clear();
        self.adjust_log = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_widen_and_hits_narrow_after_the_horizon() {
        let mut tracker = MarginTracker::new(2, 0.2, 0.1);
        // Bands of [0, 1] around a link at 5: every outcome is a miss, but
        // the first is known only after two more samples.
        tracker.observe(5.0);
        tracker.issue(0.0, 1.0);
        tracker.observe(5.0);
        tracker.issue(0.0, 1.0);
        assert_eq!(tracker.adjust_log(), 0.0, "no outcome complete yet");
        tracker.observe(5.0);
        assert!(
            (tracker.adjust_log() - 0.08).abs() < 1e-12,
            "one miss: +η(1 − α)"
        );
        tracker.issue(4.0, 6.0);
        tracker.observe(5.0);
        assert!((tracker.adjust_log() - 0.16).abs() < 1e-12, "a second miss");
        tracker.issue(4.0, 6.0);
        tracker.observe(5.0);
        assert!((tracker.adjust_log() - 0.14).abs() < 1e-12, "a hit: −ηα");
        tracker.reset();
        assert_eq!(tracker.adjust_log(), 0.0);
    }

    #[test]
    fn hits_never_narrow_the_calibrated_band() {
        let mut tracker = MarginTracker::new(1, 0.15, 0.5);
        for _ in 0..10 {
            tracker.observe(0.5);
            tracker.issue(0.0, 1.0);
        }
        assert_eq!(tracker.adjust_log(), 0.0);
    }

    #[test]
    fn the_margin_stays_bounded() {
        let mut tracker = MarginTracker::new(1, 0.15, 0.5);
        for _ in 0..100 {
            tracker.observe(10.0);
            tracker.issue(0.0, 1.0);
        }
        assert_eq!(tracker.adjust_log(), TRACKER_BOUND_LOG);
    }
}
