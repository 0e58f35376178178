//! `HarmonicMean`: the harmonic mean of the last few samples.

use crate::predict::{Horizon, PointForecaster, RecentSamples};

/// Samples in the harmonic mean: 5, as in the MPC and Pensieve video
/// bitrate controllers' throughput predictor (Yin et al., SIGCOMM 2015).
pub const HARMONIC_SAMPLES: usize = 5;

/// `n / Σ 1/x` over the last `n` samples (fewer at the start); forecasts it
/// for every horizon. The harmonic mean leans towards the low samples, so a
/// short dip weighs more than a short burst. A zero sample makes it 0 (the
/// limit as a sample goes to 0).
#[derive(Debug, Clone)]
pub struct HarmonicMean {
    recent: RecentSamples,
}

impl HarmonicMean {
    /// The harmonic mean of the last `samples` samples.
    ///
    /// # Panics
    /// If `samples` is 0 or too large for [`RecentSamples`].
    pub fn new(samples: usize) -> Self {
        Self {
            recent: RecentSamples::new(samples),
        }
    }
}

impl Default for HarmonicMean {
    fn default() -> Self {
        Self::new(HARMONIC_SAMPLES)
    }
}

impl PointForecaster for HarmonicMean {
    fn name(&self) -> &str {
        "harmonic_mean"
    }

    fn observe(&mut self, mbps: f64) {
        self.recent.push(mbps);
    }

    fn forecast(&self, _horizon: Horizon) -> Option<f64> {
        if self.recent.is_empty() {
            return None;
        }
        let count = self.recent.len();
        let mut reciprocal_sum = 0.0;
        for x in self.recent.newest(count) {
            if x <= 0.0 {
                return Some(0.0);
            }
            reciprocal_sum += 1.0 / x;
        }
        Some(count as f64 / reciprocal_sum)
    }

    fn reset(&mut self) {
        self.recent.clear();
    }
}
