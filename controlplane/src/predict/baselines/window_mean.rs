//! `WindowMean`: the mean of the last `H` seconds, for a horizon of `H`.

use crate::predict::{Horizon, PointForecaster, RecentSamples};

/// Forecasts the mean over the next `h` steps as the mean of the last `h`
/// steps (of all held, at the start): the look-back matches the horizon.
/// The traces' README names it the best simple predictor on fixed
/// broadband.
#[derive(Debug, Clone)]
pub struct WindowMean {
    recent: RecentSamples,
}

impl WindowMean {
    /// A window mean that can look back `longest` steps; a longer horizon
    /// uses the last `longest` steps.
    ///
    /// # Panics
    /// If `longest` is 0 or too large for [`RecentSamples`].
    pub fn new(longest: Horizon) -> Self {
        Self {
            recent: RecentSamples::new(longest.steps()),
        }
    }
}

impl PointForecaster for WindowMean {
    fn name(&self) -> &str {
        "mean_last_h"
    }

    fn observe(&mut self, mbps: f64) {
        self.recent.push(mbps);
    }

    fn forecast(&self, horizon: Horizon) -> Option<f64> {
        self.recent.mean_newest(horizon.steps())
    }

    fn reset(&mut self) {
        self.recent.clear();
    }
}
