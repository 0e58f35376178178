//! Link bandwidth prediction: how much throughput will a link give over the
//! next `H` seconds?
//!
//! # Design
//!
//! A pure core with a thin I/O shell, like the mode detector:
//!
//! - [`ThroughputSeries`] is a trace as samples at a fixed step (1 s by
//!   default). [`trace`] turns the text of a trace file into one (the
//!   "seconds Mbps" format, mahimahi delivery opportunities, CSV; detected
//!   automatically); [`trace::load_trace_file`] and
//!   [`trace::collect_trace_files`] are the only functions here that touch
//!   the file system.
//! - A [`Predictor`] is fed one [`LinkSample`] per step with
//!   [`observe`](Predictor::observe) and answers
//!   [`predict(horizon)`](Predictor::predict) with a [`Prediction`]: the
//!   mean throughput over the next `horizon` steps and a band around it. It
//!   does no I/O, reads no clock and sees nothing but the samples it was
//!   given, which is what makes every evaluation causal by construction.
//! - [`baselines`] holds the simple predictors (last value, EWMA, harmonic
//!   mean, mean of the last `H` seconds, damped Holt). Each is a
//!   [`PointForecaster`] wrapped in [`Banded`], which adds a band from the
//!   quantiles of its own recent errors ([`ResidualBand`]).
//! - [`eval`] walks a series causally, scores each step with the metrics of
//!   docs/prediction.md and renders the `predict-eval` report (its last
//!   stdout line is one JSON object that other tools parse).
//! - [`features`] defines the input vector of the learned model (the LSTM
//!   step): throughput, RTT, loss, jitter, recent statistics and time of
//!   day, with documented defaults for what a trace does not record.
//! - [`lstm`] is the learned predictor: a small LSTM read from a JSON model
//!   file and run in plain Rust; [`model`] loads it ([`model::load_model`])
//!   and picks the predictor the control plane uses, falling back to a
//!   baseline with one warning ([`model::select_predictor`]).
//! - [`online`] runs a predictor per peer link on the data plane's link
//!   samples (one step a second), and [`online_rules`] turns its forecast
//!   into a migration's switch-over floor, pacing, stream count and
//!   predicted ETA (docs/prediction.md §9).
//! - [`split`] decides which trace files train, validate and test a model;
//!   `train` (the `train` cargo feature, with burn) trains one
//!   (`dwcp-controlplane train-predictor`).
//!
//! Units are in the names: `_mbps` is Mbit/s (10^6 bit/s), `_s` seconds,
//! `_ms` milliseconds. A horizon is counted in steps ([`Horizon`]); the
//! caller converts from seconds with [`Horizon::from_secs`].

mod band;
mod banded;
pub mod baselines;
pub mod eval;
pub mod features;
mod horizon;
pub mod lstm;
pub mod model;
pub mod online;
pub mod online_rules;
mod recent;
mod sample;
mod series;
pub mod split;
pub mod trace;
#[cfg(feature = "train")]
pub mod train;

pub use band::{ResidualBand, BAND_MIN_RESIDUALS, BAND_QUANTILES, BAND_WINDOW, COLD_BAND_FACTORS};
pub use banded::{Banded, PointForecaster};
pub use horizon::{Horizon, HorizonError, STEP_S_DEFAULT, STEP_S_MAX, STEP_S_MIN};
pub use recent::RecentSamples;
pub use sample::LinkSample;
pub use series::{SeriesError, ThroughputSeries, SERIES_STEPS_MAX};

use std::fmt;

/// A prediction of the mean throughput over the next `horizon` steps, with
/// a band meant to hold the outcome most of the time (80 % nominal for the
/// baselines, [`BAND_QUANTILES`]).
///
/// Invariant: `0 ≤ lower ≤ mbps ≤ upper`, all finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Predicted mean throughput, Mbit/s.
    pub mbps: f64,
    /// Lower bound of the band, Mbit/s.
    pub lower: f64,
    /// Upper bound of the band, Mbit/s.
    pub upper: f64,
}

impl Prediction {
    /// A prediction with its band; the band is widened to contain `mbps` and
    /// everything is clamped to `≥ 0`.
    ///
    /// # Panics
    /// If any value is NaN or infinite (a predictor bug).
    pub fn new(mbps: f64, lower: f64, upper: f64) -> Self {
        assert!(
            mbps.is_finite(),
            "predicted throughput {mbps} is not finite"
        );
        assert!(lower.is_finite(), "band lower bound {lower} is not finite");
        assert!(upper.is_finite(), "band upper bound {upper} is not finite");
        let mbps = mbps.max(0.0);
        Self {
            mbps,
            lower: lower.max(0.0).min(mbps),
            upper: upper.max(mbps),
        }
    }

    /// Whether `actual_mbps` lies in the band (bounds included).
    pub fn covers(&self, actual_mbps: f64) -> bool {
        self.lower <= actual_mbps && actual_mbps <= self.upper
    }
}

/// An online throughput predictor: one sample per step in, predictions out.
///
/// Call order: [`observe`](Self::observe) once per step, in time order;
/// [`predict`](Self::predict) any number of times between observations (it
/// must not change state: two calls with nothing observed in between give
/// the same answer); [`reset`](Self::reset) to start a new link or trace.
/// The step length is fixed when the predictor is built.
///
/// A predictor sees only what it was given through `observe`: the
/// evaluation ([`eval::walk`]) never hands it a sample from after the step
/// it predicts from.
pub trait Predictor: fmt::Debug + Send {
    /// A short stable name, used as the key in reports (`"ewma"`).
    fn name(&self) -> &str;

    /// Takes the sample of the step that just ended. A sample whose
    /// throughput is NaN, infinite or negative is ignored (as if the step
    /// had not happened), so a bad measurement cannot poison the state.
    fn observe(&mut self, sample: &LinkSample);

    /// The mean throughput over the next `horizon` steps; `None` while the
    /// predictor has too little history to answer.
    fn predict(&self, horizon: Horizon) -> Option<Prediction>;

    /// Forgets every observation, as if just built.
    fn reset(&mut self);
}
