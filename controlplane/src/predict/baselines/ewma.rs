//! `Ewma`: exponentially weighted moving average.

use crate::predict::horizon::check_step_s;
use crate::predict::{Horizon, PointForecaster};

/// The EWMA gain for 1 s steps: 1/8, the gain of TCP's smoothed RTT
/// (RFC 6298, §2). Chosen a priori, not fitted to any trace: a time
/// constant of about 7.5 s (half-life 5.2 s), between the 5 s and 60 s
/// horizons asked for.
pub const EWMA_ALPHA_1S: f64 = 0.125;

/// `s ← s + α (x − s)`, started at the first sample; forecasts `s` for
/// every horizon.
#[derive(Debug, Clone)]
pub struct Ewma {
    alpha: f64,
    smoothed_mbps: Option<f64>,
}

/// The gain per step of `step_s` seconds that keeps the time constant of a
/// gain `alpha_1s` per second: `1 − (1 − alpha_1s)^step_s`.
pub fn alpha_for_step(alpha_1s: f64, step_s: f64) -> f64 {
    1.0 - (1.0 - alpha_1s).powf(step_s)
}

impl Ewma {
    /// An EWMA with gain `alpha` per step.
    ///
    /// # Panics
    /// If `alpha` is not in `(0, 1]`.
    pub fn new(alpha: f64) -> Self {
        assert!(
            alpha > 0.0 && alpha <= 1.0,
            "EWMA gain {alpha} outside (0, 1]"
        );
        Self {
            alpha,
            smoothed_mbps: None,
        }
    }

    /// The documented EWMA ([`EWMA_ALPHA_1S`]) for steps of `step_s`
    /// seconds.
    ///
    /// # Panics
    /// If `step_s` is outside the accepted range.
    pub fn for_step(step_s: f64) -> Self {
        check_step_s(step_s).expect("the caller validated the step");
        Self::new(alpha_for_step(EWMA_ALPHA_1S, step_s))
    }

    /// The gain per step.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
}

impl PointForecaster for Ewma {
    fn name(&self) -> &str {
        "ewma"
    }

    fn observe(&mut self, mbps: f64) {
        self.smoothed_mbps = Some(match self.smoothed_mbps {
            None => mbps,
            Some(s) => s + self.alpha * (mbps - s),
        });
    }

    fn forecast(&self, _horizon: Horizon) -> Option<f64> {
        self.smoothed_mbps
    }

    fn reset(&mut self) {
        self.smoothed_mbps = None;
    }
}
