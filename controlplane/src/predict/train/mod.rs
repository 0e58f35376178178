//! `train-predictor`: trains the bandwidth LSTM with burn (CPU, the Flex
//! backend) and writes a model file. Only built with the `train` feature.
//!
//! # Design
//!
//! - Files are split by name ([`split`](super::split)): training files
//!   give the examples, validation files choose the epoch, calibration
//!   and validation files fit the point blend and the band, test files are
//!   never read.
//! - An example is a step `t` of a training trace: the input window of
//!   the steps up to `t` ([`lstm::inputs`](super::lstm::inputs), the code
//!   the predictor runs) and, per horizon, the log ratio of the mean
//!   throughput after `t` to the window's level (masked where the trace
//!   ends first).
//! - The loss is the pinball loss at the 10 %, 50 % and 90 % quantiles of
//!   every horizon (the band) plus the capped relative error of the point
//!   forecast, the metric `predict-eval` reports; Adam (the learning
//!   rate halved when the validation loss stalls), gradient norm clipped, a fixed number of
//!   examples per epoch drawn in a seeded order, early stopping on the
//!   validation loss.
//! - The band is then widened per
//!   horizon and volatility bin by the margins that make it cover
//!   [`BAND_TARGET_COVERAGE`] of the calibration outcomes (Mondrian
//!   conformalized quantile regression,
//!   [`lstm::calibration`](super::lstm::calibration)), run by the
//!   predictor the control plane runs.
//!
//! Everything random comes from one [`SplitMix64`](rng::SplitMix64) seeded
//! with `--seed`; the Flex backend runs on one thread; so the same
//! command on the same files writes the same bytes.

mod dataset;
pub mod net;
mod rng;
mod trainer;

pub use rng::SplitMix64;
pub use trainer::{train_predictor, TrainError, TrainOutcome};

use crate::predict::trace::NameFilter;
use serde::Serialize;
use std::path::PathBuf;

/// The band coverage the calibration aims at on the calibration files:
/// 85 %, so that files it has not seen get the 80 % the issue asks. Chosen
/// on the calibration files alone: calibrated on half of them (by file)
/// at 80 %, the other half's HSDPA files were covered only 75–78 %; at
/// 85 % every half, family and horizon was covered at least 80 %
/// (docs/prediction.md §8.1).
pub const BAND_TARGET_COVERAGE: f64 = 0.85;

/// The seed of the shipped model, and the default of `--seed`.
pub const DEFAULT_SEED: u64 = 20_240_611;

/// The training settings; every one is recorded in the model file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSettings {
    /// The step of the series, seconds.
    pub step_s: f64,
    /// The input window, seconds.
    pub window_s: f64,
    /// The horizons, seconds.
    pub horizons_s: Vec<f64>,
    /// LSTM layers.
    pub layers: usize,
    /// Hidden units per layer.
    pub hidden: usize,
    /// Examples per gradient step.
    pub batch: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// The gradient norm clip.
    pub gradient_clip_norm: f32,
    /// Examples drawn per epoch.
    pub examples_per_epoch: usize,
    /// Epochs at most.
    pub max_epochs: usize,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    /// Epochs without a better validation loss before the learning rate
    /// is halved (counted again from each halving).
    pub halving_patience: usize,
    /// Every how many validation examples one is scored.
    pub validation_stride: usize,
    /// Every how many training examples one enters the input statistics.
    pub statistics_stride: usize,
    /// `φ` of the log ratios, Mbit/s.
    pub level_floor_mbps: f64,
    /// Weight of the point forecast's capped relative error against the
    /// band's pinball loss.
    pub point_loss_weight: f64,
}

impl Default for TrainSettings {
    /// The settings of the shipped model (docs/prediction.md §8 says why).
    fn default() -> Self {
        Self {
            step_s: 1.0,
            window_s: 60.0,
            horizons_s: vec![5.0, 15.0, 30.0, 60.0],
            layers: 1,
            hidden: 32,
            batch: 128,
            learning_rate: 2e-3,
            gradient_clip_norm: 1.0,
            examples_per_epoch: 16_384,
            max_epochs: 24,
            patience: 6,
            halving_patience: 2,
            validation_stride: 4,
            statistics_stride: 10,
            level_floor_mbps: 0.01,
            point_loss_weight: 1.0,
        }
    }
}

/// What `train-predictor` trains on and how.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// Trace directories and files.
    pub traces: Vec<PathBuf>,
    /// Which file names in the directories are traces.
    pub filter: NameFilter,
    /// The seed.
    pub seed: u64,
    /// The settings.
    pub settings: TrainSettings,
}
