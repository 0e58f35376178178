//! The input vector of the learned predictor, one per step.
//!
//! # Design
//!
//! The LSTM (the next step of the bandwidth predictor) reads one
//! [`FeatureVector`] per step. Traces record throughput only, while the
//! data plane also measures RTT, loss and jitter, and the control plane
//! knows the time of day. Each optional input therefore comes as a value
//! plus a "known" flag; a missing value is its documented default (0) with
//! the flag at 0.
//!
//! A model trained on traces has never seen a known RTT: feeding it one
//! online would be an input it was not trained on. The model file records
//! the [`FeatureSet`] it was trained with, and the extractor forces every
//! input outside that set to its default, whatever the data plane measured.
//!
//! Layout ([`FEATURE_NAMES`], in this order; `_mbps` Mbit/s):
//!
//! | index | name | value | default |
//! |---|---|---|---|
//! | 0 | `throughput_mbps` | the step's throughput | – |
//! | 1 | `mean_5s_mbps` | mean of the last 5 s | – |
//! | 2 | `mean_30s_mbps` | mean of the last 30 s | – |
//! | 3 | `std_30s_mbps` | population standard deviation of the last 30 s | – |
//! | 4 | `min_30s_mbps` | minimum of the last 30 s | – |
//! | 5 | `max_30s_mbps` | maximum of the last 30 s | – |
//! | 6 | `rtt_ms` | smoothed RTT | 0 |
//! | 7 | `loss_percent` | loss over the step | 0 |
//! | 8 | `jitter_ms` | RTT variation | 0 |
//! | 9 | `time_of_day_sin` | sin(2π · seconds since midnight UTC / 86400) | 0 |
//! | 10 | `time_of_day_cos` | cos(same) | 0 |
//! | 11 | `rtt_known` | 1 if `rtt_ms` is measured and used, else 0 | 0 |
//! | 12 | `loss_known` | same for loss | 0 |
//! | 13 | `jitter_known` | same for jitter | 0 |
//! | 14 | `time_of_day_known` | same for the time of day | 0 |
//!
//! "The last 5 s" is the newest `ceil(5 / step_s)` samples including this
//! one (fewer at the start). Values are raw: scaling belongs to the model,
//! which stores its own normalisation. A NaN, infinite or negative optional
//! input counts as missing; a sample with such a throughput is ignored.

use super::horizon::check_step_s;
use super::{LinkSample, RecentSamples};

/// Inputs per step.
pub const FEATURE_COUNT: usize = 15;

/// The name of each input, by index.
pub const FEATURE_NAMES: [&str; FEATURE_COUNT] = [
    "throughput_mbps",
    "mean_5s_mbps",
    "mean_30s_mbps",
    "std_30s_mbps",
    "min_30s_mbps",
    "max_30s_mbps",
    "rtt_ms",
    "loss_percent",
    "jitter_ms",
    "time_of_day_sin",
    "time_of_day_cos",
    "rtt_known",
    "loss_known",
    "jitter_known",
    "time_of_day_known",
];

/// The short statistics window, seconds.
pub const SHORT_WINDOW_S: f64 = 5.0;
/// The long statistics window, seconds.
pub const LONG_WINDOW_S: f64 = 30.0;
/// Seconds in a day, the period of the time-of-day inputs.
pub const DAY_S: f64 = 86_400.0;

/// The inputs of one step, laid out as in the module documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureVector(pub [f32; FEATURE_COUNT]);

impl FeatureVector {
    /// The input called `name` ([`FEATURE_NAMES`]).
    pub fn get(&self, name: &str) -> Option<f32> {
        let index = FEATURE_NAMES.iter().position(|n| *n == name)?;
        Some(self.0[index])
    }
}

/// Which optional inputs a model uses; the others are always the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeatureSet {
    /// `rtt_ms` is used.
    pub rtt: bool,
    /// `loss_percent` is used.
    pub loss: bool,
    /// `jitter_ms` is used.
    pub jitter: bool,
    /// The time of day is used.
    pub time_of_day: bool,
}

impl FeatureSet {
    /// Throughput only: what a model trained on the traces uses.
    pub const THROUGHPUT_ONLY: Self = Self {
        rtt: false,
        loss: false,
        jitter: false,
        time_of_day: false,
    };
    /// Every input.
    pub const ALL: Self = Self {
        rtt: true,
        loss: true,
        jitter: true,
        time_of_day: true,
    };
}

/// Turns link samples into [`FeatureVector`]s; keeps the last 30 s.
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    used: FeatureSet,
    short_steps: usize,
    recent: RecentSamples,
    last: Option<LinkSample>,
}

/// `ceil(window_s / step_s)`, at least 1.
fn window_steps(window_s: f64, step_s: f64) -> usize {
    let steps = (window_s / step_s).ceil().max(1.0);
    // Bounded by the step range: at most 30 / 0.01 = 3000.
    #[allow(clippy::cast_possible_truncation)]
    let steps = steps as usize;
    steps
}

/// The value of an optional input if it is usable, else `None`.
fn usable(value: Option<f64>, used: bool) -> Option<f64> {
    value.filter(|v| used && v.is_finite() && *v >= 0.0)
}

impl FeatureExtractor {
    /// An extractor for steps of `step_s` seconds using the optional
    /// inputs in `used`.
    ///
    /// # Panics
    /// If `step_s` is outside the accepted range.
    pub fn new(step_s: f64, used: FeatureSet) -> Self {
        check_step_s(step_s).expect("the caller validated the step");
        Self {
            used,
            short_steps: window_steps(SHORT_WINDOW_S, step_s),
            recent: RecentSamples::new(window_steps(LONG_WINDOW_S, step_s)),
            last: None,
        }
    }

    /// Takes the sample of the step that just ended; like
    /// [`Predictor::observe`](super::Predictor::observe), ignores a sample
    /// whose throughput is NaN, infinite or negative.
    pub fn observe(&mut self, sample: &LinkSample) {
        let mbps = sample.throughput_mbps;
        if !(mbps.is_finite() && mbps >= 0.0) {
            return;
        }
        self.recent.push(mbps);
        self.last = Some(*sample);
    }

    /// The inputs after the last sample; `None` before the first.
    pub fn features(&self) -> Option<FeatureVector> {
        let last = self.last?;
        let long = self.recent.len();
        let mean_30 = self.recent.mean_newest(long)?;
        let variance = self
            .recent
            .newest(long)
            .map(|x| (x - mean_30) * (x - mean_30))
            .sum::<f64>()
            / long as f64;
        let min_30 = self.recent.newest(long).fold(f64::INFINITY, f64::min);
        let max_30 = self.recent.newest(long).fold(0.0, f64::max);
        let rtt = usable(last.rtt_ms, self.used.rtt);
        let loss = usable(last.loss_percent, self.used.loss);
        let jitter = usable(last.jitter_ms, self.used.jitter);
        let time_of_day = usable(last.time_of_day_s, self.used.time_of_day);
        let angle = time_of_day.map(|s| std::f64::consts::TAU * s.rem_euclid(DAY_S) / DAY_S);
        let flag = |present: bool| if present { 1.0 } else { 0.0 };
        let values: [f64; FEATURE_COUNT] = [
            self.recent.last().unwrap_or(0.0),
            self.recent.mean_newest(self.short_steps).unwrap_or(0.0),
            mean_30,
            variance.sqrt(),
            min_30,
            max_30,
            rtt.unwrap_or(0.0),
            loss.unwrap_or(0.0),
            jitter.unwrap_or(0.0),
            angle.map_or(0.0, f64::sin),
            angle.map_or(0.0, f64::cos),
            flag(rtt.is_some()),
            flag(loss.is_some()),
            flag(jitter.is_some()),
            flag(angle.is_some()),
        ];
        // Narrowing to f32 is the model's precision; throughput below
        // 10^38 Mbit/s fits.
        #[allow(clippy::cast_possible_truncation)]
        let vector = values.map(|v| v as f32);
        Some(FeatureVector(vector))
    }

    /// Forgets every sample.
    pub fn reset(&mut self) {
        self.recent.clear();
        self.last = None;
    }
}
