//! `LstmPredictor`: a trained model as a [`Predictor`].

use super::file::{CheckedModel, OUTPUTS_PER_HORIZON};
use super::inputs::{decode_log_ratio, InputSpec};
use super::network::LstmNetwork;
use crate::predict::features::{FeatureExtractor, FeatureVector};
use crate::predict::{Horizon, LinkSample, Prediction, Predictor};
use std::collections::VecDeque;

/// The name of the learned predictor ([`Predictor::name`]).
pub const LSTM_PREDICTOR_NAME: &str = "lstm";

/// The log ratios `(lower, point, upper)` of one horizon.
type LogBand = [f64; 3];

/// A trained LSTM fed one sample per step.
///
/// After each sample it rebuilds the input window (the feature vectors of
/// the last `window_steps` steps, relative to their level), runs the
/// network from a zero state over it and keeps the decoded log ratios of
/// every model horizon; [`predict`](Predictor::predict) reads them. A
/// horizon between two model horizons is interpolated linearly in
/// seconds on the log ratios. Nothing is allocated after construction.
#[derive(Debug, Clone)]
pub struct LstmPredictor {
    extractor: FeatureExtractor,
    spec: InputSpec,
    network: LstmNetwork,
    window: VecDeque<FeatureVector>,
    window_steps: usize,
    /// The standardised inputs of the current window.
    inputs: Vec<f32>,
    /// Model horizons, steps.
    horizons: Vec<usize>,
    band_adjust_log: Vec<f64>,
    /// Per model horizon, after the last sample.
    bands: Vec<LogBand>,
    level_mbps: f64,
    observed: bool,
}

/// `ln(1 + e^x)`, without overflow.
fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

impl LstmPredictor {
    /// A predictor running `model` on steps of `step_s` seconds (the
    /// caller checked it against the model's step).
    pub fn new(model: &CheckedModel, step_s: f64) -> Self {
        let file = &model.file;
        let window_steps = file.window_steps;
        let horizons = file.horizons_steps.clone();
        Self {
            extractor: FeatureExtractor::new(step_s, file.features.used.into()),
            spec: model.spec.clone(),
            network: model.network.clone(),
            window: VecDeque::with_capacity(window_steps),
            window_steps,
            inputs: vec![0.0; window_steps * model.spec.width()],
            bands: vec![[0.0; 3]; horizons.len()],
            horizons,
            band_adjust_log: file.band_adjust_log.clone(),
            level_mbps: 0.0,
            observed: false,
        }
    }

    /// The horizons the model was trained for, steps.
    pub fn model_horizons(&self) -> &[usize] {
        &self.horizons
    }

    /// Recomputes the window's outputs.
    fn refresh(&mut self) {
        let (older, newer) = self.window.as_slices();
        self.level_mbps = self
            .spec
            .fill(&[older, newer], self.window_steps, &mut self.inputs);
        let outputs = self.network.forward(&self.inputs);
        for ((band, chunk), adjust) in self
            .bands
            .iter_mut()
            .zip(outputs.chunks_exact(OUTPUTS_PER_HORIZON))
            .zip(&self.band_adjust_log)
        {
            let median = f64::from(chunk[1]);
            let point = f64::from(chunk[3]);
            let lower = median - softplus(f64::from(chunk[0])) - adjust;
            let upper = median + softplus(f64::from(chunk[2])) + adjust;
            *band = [lower.min(point), point, upper.max(point)];
        }
    }

    /// The log band for `steps` ahead: a model horizon's, or interpolated
    /// between the two around it; `None` outside the model's range.
    fn log_band(&self, steps: usize) -> Option<LogBand> {
        let above = self.horizons.iter().position(|&h| h >= steps)?;
        if self.horizons[above] == steps {
            return Some(self.bands[above]);
        }
        let below = above.checked_sub(1)?;
        let (h0, h1) = (self.horizons[below] as f64, self.horizons[above] as f64);
        let weight = (steps as f64 - h0) / (h1 - h0);
        let (b0, b1) = (self.bands[below], self.bands[above]);
        Some([0, 1, 2].map(|k| b0[k] + weight * (b1[k] - b0[k])))
    }
}

impl Predictor for LstmPredictor {
    fn name(&self) -> &str {
        LSTM_PREDICTOR_NAME
    }

    fn observe(&mut self, sample: &LinkSample) {
        let mbps = sample.throughput_mbps;
        if !(mbps.is_finite() && mbps >= 0.0) {
            return;
        }
        self.extractor.observe(sample);
        let Some(features) = self.extractor.features() else {
            return;
        };
        if self.window.len() == self.window_steps {
            self.window.pop_front();
        }
        self.window.push_back(features);
        self.observed = true;
        self.refresh();
    }

    fn predict(&self, horizon: Horizon) -> Option<Prediction> {
        if !self.observed {
            return None;
        }
        let band = self.log_band(horizon.steps())?;
        let floor = self.spec.level_floor_mbps();
        let [lower, point, upper] = band.map(|y| decode_log_ratio(y, self.level_mbps, floor));
        Some(Prediction::new(point, lower, upper))
    }

    fn reset(&mut self) {
        self.extractor.reset();
        self.window.clear();
        self.bands.fill([0.0; 3]);
        self.level_mbps = 0.0;
        self.observed = false;
    }
}
