//! `LstmPredictor`: a trained model as a [`Predictor`].

use super::calibration::{BandCalibration, CalibrationStatistic, RawOutputs};
use super::file::{CheckedModel, OUTPUTS_PER_HORIZON};
use super::inputs::{decode_log_ratio, InputSpec};
use super::network::LstmNetwork;
use super::tracker::MarginTracker;
use crate::predict::features::{FeatureExtractor, FeatureVector};
use crate::predict::{Horizon, LinkSample, Prediction, Predictor};
use std::collections::VecDeque;

/// The name of the learned predictor ([`Predictor::name`]).
pub const LSTM_PREDICTOR_NAME: &str = "lstm";

/// The log ratios `(lower, point, upper)` of one horizon.
type LogBand = [f64; 3];

/// What the predictor computed after its last sample, before the
/// calibration (what [`calibration`](super::calibration) fits on).
#[derive(Debug, Clone, PartialEq)]
pub struct RawState {
    /// Per model horizon, the network's outputs.
    pub raw: Vec<RawOutputs>,
    /// The coefficient of variation of the last 30 s.
    pub cv_30s: f64,
    /// The window's level, Mbit/s.
    pub level_mbps: f64,
}

/// A trained LSTM fed one sample per step.
///
/// After each sample it rebuilds the input window (the feature vectors of
/// the last `window_steps` steps, relative to their level), runs the
/// network from a zero state over it and keeps the decoded log ratios of
/// every model horizon; [`predict`](Predictor::predict) reads them. A
/// horizon between two model horizons is interpolated linearly in
/// seconds on the log ratios. The band is widened by the calibrated
/// margin of the current volatility ([`calibration`](super::calibration))
/// plus the link's online correction ([`tracker`](super::tracker)).
/// Nothing is allocated after construction.
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
    calibration: BandCalibration,
    statistic: CalibrationStatistic,
    /// Per model horizon, the online margin correction.
    trackers: Vec<MarginTracker>,
    /// Per model horizon, the network's outputs after the last sample.
    raw: Vec<RawOutputs>,
    /// Per model horizon, after the last sample.
    bands: Vec<LogBand>,
    cv_30s: f64,
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
            raw: vec![RawOutputs::default(); horizons.len()],
            trackers: horizons
                .iter()
                .map(|&h| {
                    MarginTracker::new(
                        h,
                        1.0 - file.band_calibration.coverage,
                        file.band_calibration.online_step_log,
                    )
                })
                .collect(),
            horizons,
            calibration: file.band_calibration.clone(),
            statistic: model.statistic,
            cv_30s: 0.0,
            level_mbps: 0.0,
            observed: false,
        }
    }

    /// The horizons the model was trained for, steps.
    pub fn model_horizons(&self) -> &[usize] {
        &self.horizons
    }

    /// What the predictor computed after its last sample, before the
    /// calibration.
    pub fn raw_state(&self) -> RawState {
        RawState {
            raw: self.raw.clone(),
            cv_30s: self.cv_30s,
            level_mbps: self.level_mbps,
        }
    }

    /// Recomputes the window's outputs.
    fn refresh(&mut self) {
        let (older, newer) = self.window.as_slices();
        self.level_mbps = self
            .spec
            .fill(&[older, newer], self.window_steps, &mut self.inputs);
        let floor = self.spec.level_floor_mbps();
        let newest = self.window.back().map_or([0.0; 2], |v| [v.0[2], v.0[3]]);
        let [mean_30s, std_30s] = newest.map(|x| f64::from(x).max(0.0));
        self.cv_30s = std_30s / (mean_30s + floor);
        let outputs = self.network.forward(&self.inputs);
        for (k, (band, chunk)) in self
            .bands
            .iter_mut()
            .zip(outputs.chunks_exact(OUTPUTS_PER_HORIZON))
            .enumerate()
        {
            let median = f64::from(chunk[1]);
            let raw = RawOutputs {
                lower: median - softplus(f64::from(chunk[0])),
                upper: median + softplus(f64::from(chunk[2])),
                point: f64::from(chunk[3]),
            };
            self.raw[k] = raw;
            let point = raw.point;
            let margin = self
                .calibration
                .margin(k, self.statistic.value(&raw, self.cv_30s))
                + self.trackers[k].adjust_log();
            *band = [
                (raw.lower - margin).min(point),
                point,
                (raw.upper + margin).max(point),
            ];
            let [lower, _, upper] = band.map(|y| decode_log_ratio(y, self.level_mbps, floor));
            self.trackers[k].issue(lower, upper);
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
        for tracker in &mut self.trackers {
            tracker.observe(mbps);
        }
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
        self.raw.fill(RawOutputs::default());
        for tracker in &mut self.trackers {
            tracker.reset();
        }
        self.cv_30s = 0.0;
        self.level_mbps = 0.0;
        self.observed = false;
    }
}
