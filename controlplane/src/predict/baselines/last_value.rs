//! `LastValue`: tomorrow is like today.

use crate::predict::{Horizon, PointForecaster};

/// Forecasts the last sample, whatever the horizon.
#[derive(Debug, Clone, Default)]
pub struct LastValue {
    last_mbps: Option<f64>,
}

impl LastValue {
    /// A forecaster with no sample yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl PointForecaster for LastValue {
    fn name(&self) -> &str {
        "last_value"
    }

    fn observe(&mut self, mbps: f64) {
        self.last_mbps = Some(mbps);
    }

    fn forecast(&self, _horizon: Horizon) -> Option<f64> {
        self.last_mbps
    }

    fn reset(&mut self) {
        self.last_mbps = None;
    }
}
