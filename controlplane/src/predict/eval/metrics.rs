//! The metrics of a prediction against its outcome, and their totals.

use crate::predict::Prediction;

/// The relative tolerance of `within_20pct`.
pub const WITHIN_TOLERANCE: f64 = 0.2;

/// `min(1, |p − a| / a)`: the relative error capped at 1. For `a = 0` the
/// cap decides: 0 when `p = 0` too, else 1 (any error relative to nothing
/// is total).
pub fn capped_relative_error(predicted_mbps: f64, actual_mbps: f64) -> f64 {
    let error = (predicted_mbps - actual_mbps).abs();
    if actual_mbps > 0.0 {
        (error / actual_mbps).min(1.0)
    } else if error == 0.0 {
        0.0
    } else {
        1.0
    }
}

/// `|p − a| ≤ 0.2 a`; for `a = 0` only `p = 0` is within.
pub fn is_within_20pct(predicted_mbps: f64, actual_mbps: f64) -> bool {
    (predicted_mbps - actual_mbps).abs() <= WITHIN_TOLERANCE * actual_mbps
}

/// The metrics over a set of scored steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Steps scored.
    pub samples: u64,
    /// Mean of the capped relative error, in `[0, 1]`.
    pub mape: f64,
    /// `1 − mape`.
    pub one_minus_mape: f64,
    /// Fraction of steps with the prediction within ±20 % of the outcome.
    pub within_20pct: f64,
    /// Root mean square error, Mbit/s.
    pub rmse_mbps: f64,
    /// Fraction of steps whose outcome lies in the band.
    pub band_coverage: f64,
    /// Mean width of the band, Mbit/s.
    pub band_mean_width_mbps: f64,
    /// Steps where the predictor gave no prediction (scored as 0 Mbit/s
    /// with the band `[0, 0]`).
    pub unanswered: u64,
}

/// Running totals of the metrics; steps are pooled (each step weighs the
/// same, whichever trace it comes from).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MetricsAccumulator {
    samples: u64,
    relative_error_sum: f64,
    within: u64,
    squared_error_sum: f64,
    covered: u64,
    band_width_sum: f64,
    unanswered: u64,
}

impl MetricsAccumulator {
    /// No steps yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scores one step: `prediction` (or none) against `actual_mbps`.
    pub fn add(&mut self, prediction: Option<Prediction>, actual_mbps: f64) {
        assert!(
            actual_mbps.is_finite() && actual_mbps >= 0.0,
            "outcome {actual_mbps} is not finite and >= 0"
        );
        let prediction = prediction.unwrap_or_else(|| {
            self.unanswered += 1;
            Prediction::new(0.0, 0.0, 0.0)
        });
        let p = prediction.mbps;
        self.samples += 1;
        self.relative_error_sum += capped_relative_error(p, actual_mbps);
        self.within += u64::from(is_within_20pct(p, actual_mbps));
        self.squared_error_sum += (p - actual_mbps) * (p - actual_mbps);
        self.covered += u64::from(prediction.covers(actual_mbps));
        self.band_width_sum += prediction.upper - prediction.lower;
    }

    /// Adds the steps of `other`.
    pub fn merge(&mut self, other: &Self) {
        self.samples += other.samples;
        self.relative_error_sum += other.relative_error_sum;
        self.within += other.within;
        self.squared_error_sum += other.squared_error_sum;
        self.covered += other.covered;
        self.band_width_sum += other.band_width_sum;
        self.unanswered += other.unanswered;
    }

    /// Steps scored so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The metrics; `None` before the first step.
    pub fn finish(&self) -> Option<Metrics> {
        if self.samples == 0 {
            return None;
        }
        let n = self.samples as f64;
        let mape = self.relative_error_sum / n;
        Some(Metrics {
            samples: self.samples,
            mape,
            one_minus_mape: 1.0 - mape,
            within_20pct: self.within as f64 / n,
            rmse_mbps: (self.squared_error_sum / n).sqrt(),
            band_coverage: self.covered as f64 / n,
            band_mean_width_mbps: self.band_width_sum / n,
            unanswered: self.unanswered,
        })
    }
}
