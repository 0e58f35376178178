//! The model file: JSON with a format version, the feature and
//! normalisation spec, the architecture, the training record and the
//! weights (docs/prediction.md §8 shows one).
//!
//! # Checks
//!
//! [`ModelFile::parse`] sorts what can be wrong into two kinds
//! ([`FileProblem`]): **corrupt** (not JSON, not this format, missing
//! fields, weights of the wrong shape, non-finite numbers) and
//! **incompatible** (a well-formed model this build cannot use: another
//! format version, an input or transform it does not know, other
//! quantiles). The step and horizons are checked when a predictor is built.

use super::calibration::{BandCalibration, CalibrationStatistic};
use super::inputs::{Input, InputSource, InputSpec, InputTransform};
use super::network::{HeadWeights, LayerWeights, LstmNetwork};
use crate::predict::features::FeatureSet;
use serde::{Deserialize, Serialize};

/// The `format` field of every model file.
pub const MODEL_FORMAT: &str = "dwcp-bandwidth-lstm";
/// The format version this build reads and writes. Version 2 replaced
/// version 1's single band margin per horizon (`band_adjust_log`) with
/// the binned calibration ([`calibration`](super::calibration)); a
/// version 1 file is incompatible.
pub const MODEL_FORMAT_VERSION: u32 = 2;
/// The quantiles the band outputs are trained for: the lower bound, the
/// band's centre (the median) and the upper bound, a nominal 80 % band.
pub const MODEL_QUANTILES: [f64; 3] = [0.1, 0.5, 0.9];
/// Outputs per horizon: `(a, m, b, p)`, the band's log ratios
/// `m − softplus(a)` and `m + softplus(b)` around the median `m`, and the
/// point forecast `p` (trained for the capped relative error).
pub const OUTPUTS_PER_HORIZON: usize = 4;
/// The `architecture.output` of this layout.
pub const OUTPUT_LAYOUT: &str = "band_median_point";
/// The most LSTM layers a model file may have.
pub const LAYERS_MAX: usize = 4;
/// The most hidden units per layer.
pub const HIDDEN_MAX: usize = 256;
/// The most inputs per step.
pub const INPUTS_MAX: usize = 64;
/// The longest input window, steps.
pub const WINDOW_STEPS_MAX: usize = 3600;
/// The most horizons one model predicts.
pub const HORIZONS_MAX: usize = 8;

/// Which optional link measurements the model was trained with
/// ([`FeatureSet`] as JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSetSpec {
    /// RTT.
    pub rtt: bool,
    /// Loss.
    pub loss: bool,
    /// Jitter.
    pub jitter: bool,
    /// Time of day.
    pub time_of_day: bool,
}

impl From<FeatureSet> for FeatureSetSpec {
    fn from(set: FeatureSet) -> Self {
        Self {
            rtt: set.rtt,
            loss: set.loss,
            jitter: set.jitter,
            time_of_day: set.time_of_day,
        }
    }
}

impl From<FeatureSetSpec> for FeatureSet {
    fn from(spec: FeatureSetSpec) -> Self {
        Self {
            rtt: spec.rtt,
            loss: spec.loss,
            jitter: spec.jitter,
            time_of_day: spec.time_of_day,
        }
    }
}

/// One input as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputEntry {
    /// A [`FEATURE_NAMES`](crate::predict::features::FEATURE_NAMES) entry or
    /// `history_padding`.
    pub name: String,
    /// `log_ratio_to_level` or `identity`.
    pub transform: String,
    /// Standardisation mean.
    pub mean: f32,
    /// Standardisation standard deviation.
    pub std: f32,
}

/// The inputs and their normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// The optional measurements used; every other one is fed as missing.
    pub used: FeatureSetSpec,
    /// `φ` of the log ratios, Mbit/s.
    pub level_floor_mbps: f64,
    /// The inputs per window step, in order.
    pub inputs: Vec<InputEntry>,
}

/// The shape of the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// `"lstm"`.
    pub cell: String,
    /// LSTM layers.
    pub layers: usize,
    /// Hidden units per layer.
    pub hidden: usize,
    /// `"ifgo"`: the gate order of the weight rows.
    pub gate_order: String,
    /// [`OUTPUT_LAYOUT`]: per horizon, outputs `(a, m, b, p)` give the
    /// band `(m − softplus(a), m + softplus(b))` and the point `p`, all
    /// log ratios ([`OUTPUTS_PER_HORIZON`]).
    pub output: String,
}

/// A trace file the model saw in training.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainedFile {
    /// The file name (no directory).
    pub name: String,
    /// [`ThroughputSeries::fingerprint`](crate::predict::ThroughputSeries::fingerprint)
    /// of its 1 s series, 16 hex digits.
    pub fingerprint: String,
}

/// How the model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The seed of the weight initialisation and the example order.
    pub seed: u64,
    /// Files whose windows were trained on.
    pub train_files: Vec<TrainedFile>,
    /// Files used to stop early (and, with the calibration files, to
    /// calibrate).
    pub validation_files: Vec<TrainedFile>,
    /// Files used only to calibrate the band.
    #[serde(default)]
    pub calibration_files: Vec<TrainedFile>,
    /// Files kept for testing (names only; never read in training).
    pub test_files: Vec<String>,
    /// Every other training setting, for the record.
    pub settings: serde_json::Value,
    /// Validation pinball loss after each epoch.
    pub validation_loss: Vec<f64>,
    /// The epoch (from 1) whose weights were kept.
    pub best_epoch: usize,
}

/// One layer's weights as stored (`4H` rows; gate order `i, f, g, o`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerEntry {
    /// `4H × I`.
    pub w_input: Vec<Vec<f32>>,
    /// `4H × H`.
    pub w_hidden: Vec<Vec<f32>>,
    /// `4H`.
    pub bias: Vec<f32>,
}

/// The head's weights as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadEntry {
    /// `outputs × H`.
    pub weight: Vec<Vec<f32>>,
    /// `outputs`.
    pub bias: Vec<f32>,
}

/// All weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsEntry {
    /// The LSTM layers, first to last.
    pub layers: Vec<LayerEntry>,
    /// The output layer.
    pub head: HeadEntry,
}

/// A model file, field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// [`MODEL_FORMAT`].
    pub format: String,
    /// [`MODEL_FORMAT_VERSION`].
    pub format_version: u32,
    /// The step of the series the model reads, seconds.
    pub step_s: f64,
    /// Steps in the input window.
    pub window_steps: usize,
    /// The horizons predicted, steps, ascending.
    pub horizons_steps: Vec<usize>,
    /// [`MODEL_QUANTILES`].
    pub quantiles: Vec<f64>,
    /// `"log_ratio_to_level"`: what the outputs are.
    pub target: String,
    /// The band's conformal margins, fitted on the calibration files.
    pub band_calibration: BandCalibration,
    /// The inputs.
    pub features: FeatureSpec,
    /// The network's shape.
    pub architecture: Architecture,
    /// How it was trained.
    pub training: TrainingRecord,
    /// The weights.
    pub weights: WeightsEntry,
}

/// What is wrong with a model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    /// Not a usable model file at all.
    Corrupt(String),
    /// A model this build cannot use.
    Incompatible(String),
}

/// A checked model file, ready to build predictors from.
#[derive(Debug, Clone)]
pub struct CheckedModel {
    /// The file as parsed.
    pub file: ModelFile,
    /// Its inputs.
    pub spec: InputSpec,
    /// Its network (a template, cloned per predictor).
    pub network: LstmNetwork,
    /// What the band calibration bins by.
    pub statistic: CalibrationStatistic,
}

fn corrupt(reason: impl Into<String>) -> FileProblem {
    FileProblem::Corrupt(reason.into())
}

fn incompatible(reason: impl Into<String>) -> FileProblem {
    FileProblem::Incompatible(reason.into())
}

/// Rows of `columns` values each, flattened; `None` on a ragged matrix.
fn flatten(rows: &[Vec<f32>], columns: usize) -> Option<Vec<f32>> {
    if rows.iter().any(|row| row.len() != columns) {
        return None;
    }
    Some(rows.iter().flatten().copied().collect())
}

impl ModelFile {
    /// Parses and checks a model file's text.
    pub fn parse(text: &str) -> Result<CheckedModel, FileProblem> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|err| corrupt(format!("not JSON: {err}")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(MODEL_FORMAT) {
            return Err(corrupt(format!("no \"format\": \"{MODEL_FORMAT}\"")));
        }
        let version = value.get("format_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(MODEL_FORMAT_VERSION)) {
            return Err(incompatible(format!(
                "format version {}, this build reads version {MODEL_FORMAT_VERSION}",
                version.map_or("missing".to_owned(), |v| v.to_string())
            )));
        }
        let file: Self =
            serde_json::from_value(value).map_err(|err| corrupt(format!("bad field: {err}")))?;
        file.check()
    }

    /// Checks the fields against each other and builds the spec and the
    /// network.
    pub fn check(self) -> Result<CheckedModel, FileProblem> {
        if self.quantiles != MODEL_QUANTILES {
            return Err(incompatible(format!(
                "quantiles {:?}, this build uses {MODEL_QUANTILES:?}",
                self.quantiles
            )));
        }
        if self.target != "log_ratio_to_level" {
            return Err(incompatible(format!("unknown target {:?}", self.target)));
        }
        let arch = &self.architecture;
        if arch.cell != "lstm" || arch.gate_order != "ifgo" || arch.output != OUTPUT_LAYOUT {
            return Err(incompatible(format!(
                "architecture {}/{}/{}, this build runs lstm/ifgo/{OUTPUT_LAYOUT}",
                arch.cell, arch.gate_order, arch.output
            )));
        }
        if !(1..=LAYERS_MAX).contains(&arch.layers) || !(1..=HIDDEN_MAX).contains(&arch.hidden) {
            return Err(corrupt(format!(
                "{} layers of {} units (1..={LAYERS_MAX} layers, 1..={HIDDEN_MAX} units)",
                arch.layers, arch.hidden
            )));
        }
        if !(1..=WINDOW_STEPS_MAX).contains(&self.window_steps) {
            return Err(corrupt(format!(
                "a window of {} steps (1..={WINDOW_STEPS_MAX})",
                self.window_steps
            )));
        }
        let horizons = &self.horizons_steps;
        if horizons.is_empty()
            || horizons.len() > HORIZONS_MAX
            || horizons[0] == 0
            || horizons.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(corrupt(format!(
                "horizons {horizons:?}: 1..={HORIZONS_MAX} ascending, from 1 step"
            )));
        }
        let statistic = self.band_calibration.check(horizons.len())?;
        if !(self.step_s.is_finite() && self.step_s > 0.0) {
            return Err(corrupt(format!("step {} s", self.step_s)));
        }
        let spec = self.input_spec()?;
        let network = self.network(spec.width())?;
        Ok(CheckedModel {
            file: self,
            spec,
            network,
            statistic,
        })
    }

    fn input_spec(&self) -> Result<InputSpec, FileProblem> {
        let features = &self.features;
        let floor = features.level_floor_mbps;
        if !(floor.is_finite() && floor > 0.0) {
            return Err(corrupt(format!("level floor {floor} Mbit/s")));
        }
        if features.inputs.is_empty() || features.inputs.len() > INPUTS_MAX {
            return Err(corrupt(format!(
                "{} inputs (1..={INPUTS_MAX})",
                features.inputs.len()
            )));
        }
        let mut inputs = Vec::with_capacity(features.inputs.len());
        for entry in &features.inputs {
            let source = InputSource::from_name(&entry.name)
                .ok_or_else(|| incompatible(format!("unknown input {:?}", entry.name)))?;
            let transform = InputTransform::from_name(&entry.transform).ok_or_else(|| {
                incompatible(format!(
                    "unknown transform {:?} of {}",
                    entry.transform, entry.name
                ))
            })?;
            if !(entry.mean.is_finite() && entry.std.is_finite() && entry.std > 0.0) {
                return Err(corrupt(format!(
                    "input {}: mean {} and std {}",
                    entry.name, entry.mean, entry.std
                )));
            }
            inputs.push(Input {
                source,
                transform,
                mean: entry.mean,
                std: entry.std,
            });
        }
        Ok(InputSpec::new(inputs, floor))
    }

    fn network(&self, width: usize) -> Result<LstmNetwork, FileProblem> {
        let arch = &self.architecture;
        let weights = &self.weights;
        if weights.layers.len() != arch.layers {
            return Err(corrupt(format!(
                "{} weight layers for {} LSTM layers",
                weights.layers.len(),
                arch.layers
            )));
        }
        let h = arch.hidden;
        let mut layers = Vec::with_capacity(arch.layers);
        let mut inputs = width;
        for (index, layer) in weights.layers.iter().enumerate() {
            let bad = |what: &str| corrupt(format!("layer {index}: {what} is not {}×…", 4 * h));
            if layer.w_input.len() != 4 * h {
                return Err(bad("w_input"));
            }
            if layer.w_hidden.len() != 4 * h {
                return Err(bad("w_hidden"));
            }
            let w_input = flatten(&layer.w_input, inputs)
                .ok_or_else(|| corrupt(format!("layer {index}: w_input rows of {inputs}")))?;
            let w_hidden = flatten(&layer.w_hidden, h)
                .ok_or_else(|| corrupt(format!("layer {index}: w_hidden rows of {h}")))?;
            layers.push(LayerWeights {
                inputs,
                hidden: h,
                w_input,
                w_hidden,
                bias: layer.bias.clone(),
            });
            inputs = h;
        }
        let outputs = self.horizons_steps.len() * OUTPUTS_PER_HORIZON;
        if weights.head.weight.len() != outputs {
            return Err(corrupt(format!(
                "head: {} rows for {outputs} outputs",
                weights.head.weight.len()
            )));
        }
        let head = HeadWeights {
            outputs,
            weight: flatten(&weights.head.weight, h)
                .ok_or_else(|| corrupt(format!("head: rows of {h}")))?,
            bias: weights.head.bias.clone(),
        };
        let all_finite = layers
            .iter()
            .flat_map(|l| l.w_input.iter().chain(&l.w_hidden).chain(&l.bias))
            .chain(head.weight.iter().chain(&head.bias))
            .all(|w| w.is_finite());
        if !all_finite {
            return Err(corrupt("a weight is not finite"));
        }
        LstmNetwork::new(layers, head).map_err(|err| corrupt(err.0))
    }
}
