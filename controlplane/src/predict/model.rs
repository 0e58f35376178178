//! Loading the learned predictor, and falling back to a baseline.
//!
//! # Design
//!
//! [`LearnedModel`] is a checked model file ([`lstm::file`](super::lstm::file));
//! [`LearnedModel::predictor`] makes a `Box<dyn Predictor>` of it, the same
//! trait object the baselines are, so `predict-eval` and the control plane
//! use a model exactly like a baseline. [`load_model`] does both.
//!
//! The model trained by the project ships in the repository
//! (`controlplane/models/pba-lstm-v1.json`) and is built into the binary
//! ([`LearnedModel::shipped`]), so a fresh checkout predicts without any
//! file at run time. [`select_predictor`] is what the control plane calls:
//! the shipped model or a model file, and when that cannot be used, the
//! [`FALLBACK_BASELINE`] with one warning naming the reason.

use super::baselines::Baseline;
use super::lstm::file::{CheckedModel, FileProblem, ModelFile, TrainedFile};
use super::lstm::LstmPredictor;
use super::{Horizon, Predictor, ThroughputSeries};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The key of the learned model in `predict-eval` reports.
pub const MODEL_REPORT_NAME: &str = "model";

/// The shipped model's path in the repository.
pub const SHIPPED_MODEL_PATH: &str = "controlplane/models/pba-lstm-v1.json";

/// The shipped model's text, built into the binary.
const SHIPPED_MODEL_JSON: &str = include_str!("../../models/pba-lstm-v1.json");

/// The largest model file read: 16 MiB (the shipped one is under 100 kB).
pub const MODEL_FILE_BYTES_MAX: u64 = 16 << 20;

/// The predictor used when no learned model can be: the EWMA, the best
/// baseline at 15 to 60 s on the cellular traces and within 0.02 of the
/// best elsewhere (docs/prediction.md §7).
pub const FALLBACK_BASELINE: Baseline = Baseline::Ewma;

/// A model file that cannot be used.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The file cannot be read.
    #[error("{}: cannot read the model file", path.display())]
    Io {
        /// The model file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a model (not JSON, not this format, bad shapes or
    /// values).
    #[error("{}: corrupt model file: {reason}", path.display())]
    Corrupt {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A model, but for another version, step, horizon or feature set.
    #[error("{}: incompatible model: {reason}", path.display())]
    Incompatible {
        /// The model file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
}

/// Which part of the training a trace file was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainingRole {
    /// Its windows were trained on.
    Train,
    /// It chose the epoch (and calibrated).
    Validation,
    /// It fitted the point blend and the band calibration.
    Calibration,
}

impl TrainingRole {
    /// `"training"`, `"validation"` or `"calibration"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "training",
            Self::Validation => "validation",
            Self::Calibration => "calibration",
        }
    }
}

/// A checked model file.
#[derive(Debug, Clone)]
pub struct LearnedModel {
    path: PathBuf,
    checked: CheckedModel,
}

impl LearnedModel {
    /// The model in `text`, read from `path` (named in errors).
    pub fn from_json(text: &str, path: &Path) -> Result<Self, ModelError> {
        let checked = ModelFile::parse(text).map_err(|problem| match problem {
            FileProblem::Corrupt(reason) => ModelError::Corrupt {
                path: path.to_owned(),
                reason,
            },
            FileProblem::Incompatible(reason) => ModelError::Incompatible {
                path: path.to_owned(),
                reason,
            },
        })?;
        Ok(Self {
            path: path.to_owned(),
            checked,
        })
    }

    /// Reads and checks the model file at `path`.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        use std::io::Read;
        let io = |source| ModelError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MODEL_FILE_BYTES_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MODEL_FILE_BYTES_MAX {
            return Err(ModelError::Corrupt {
                path: path.to_owned(),
                reason: format!("over {MODEL_FILE_BYTES_MAX} bytes"),
            });
        }
        let text = String::from_utf8(bytes).map_err(|_| ModelError::Corrupt {
            path: path.to_owned(),
            reason: "not UTF-8 text".into(),
        })?;
        Self::from_json(&text, path)
    }

    /// The model shipped in the repository, as built into this binary.
    pub fn shipped() -> Result<Self, ModelError> {
        Self::from_json(
            SHIPPED_MODEL_JSON,
            Path::new(concat!(
                "(built in) ",
                "controlplane/models/pba-lstm-v1.json"
            )),
        )
    }

    /// The file the model came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed file.
    pub fn file(&self) -> &ModelFile {
        &self.checked.file
    }

    /// The checked model (file, inputs, network).
    pub fn checked(&self) -> &CheckedModel {
        &self.checked
    }

    /// The horizons the model answers: from its shortest to its longest
    /// trained horizon, in steps.
    pub fn horizon_range_steps(&self) -> (usize, usize) {
        let horizons = &self.checked.file.horizons_steps;
        (horizons[0], horizons[horizons.len() - 1])
    }

    /// A predictor for steps of `step_s` seconds answering `horizons`;
    /// [`ModelError::Incompatible`] when the step is not the model's or a
    /// horizon is outside its range.
    pub fn predictor(
        &self,
        step_s: f64,
        horizons: &[Horizon],
    ) -> Result<LstmPredictor, ModelError> {
        let incompatible = |reason: String| ModelError::Incompatible {
            path: self.path.clone(),
            reason,
        };
        let model_step = self.checked.file.step_s;
        if (step_s - model_step).abs() > 1e-9 * model_step {
            return Err(incompatible(format!(
                "trained on {model_step} s steps, asked for {step_s} s steps"
            )));
        }
        let (shortest, longest) = self.horizon_range_steps();
        if let Some(h) = horizons
            .iter()
            .find(|h| !(shortest..=longest).contains(&h.steps()))
        {
            return Err(incompatible(format!(
                "predicts {} to {} s ahead, asked for {} s",
                shortest as f64 * model_step,
                longest as f64 * model_step,
                h.steps() as f64 * model_step
            )));
        }
        Ok(LstmPredictor::new(&self.checked, step_s))
    }

    /// Whether the trace file `name` with this series was used in
    /// training, matched by name or by content
    /// ([`ThroughputSeries::fingerprint`]).
    pub fn training_role(&self, name: &str, series: &ThroughputSeries) -> Option<TrainingRole> {
        let fingerprint = format!("{:016x}", series.fingerprint());
        let matches = |files: &[TrainedFile]| {
            files
                .iter()
                .any(|f| f.name == name || f.fingerprint == fingerprint)
        };
        let training = &self.checked.file.training;
        if matches(&training.train_files) {
            Some(TrainingRole::Train)
        } else if matches(&training.validation_files) {
            Some(TrainingRole::Validation)
        } else if matches(&training.calibration_files) {
            Some(TrainingRole::Calibration)
        } else {
            None
        }
    }
}

/// The learned predictor stored at `path`, for steps of `step_s` seconds,
/// answering `horizons`.
pub fn load_model(
    path: &Path,
    step_s: f64,
    horizons: &[Horizon],
) -> Result<Box<dyn Predictor>, ModelError> {
    let model = LearnedModel::load(path)?;
    Ok(Box::new(model.predictor(step_s, horizons)?))
}

/// The predictor the control plane should use: the model at `model_path`,
/// or the shipped model when `None`; if that cannot be used, the
/// [`FALLBACK_BASELINE`] and the one warning to log, which names the
/// model, the reason and the fallback.
///
/// # Panics
/// As [`Baseline::build`]: if `step_s` is out of range or `horizons` is
/// empty or too long.
pub fn select_predictor(
    model_path: Option<&Path>,
    step_s: f64,
    horizons: &[Horizon],
) -> (Box<dyn Predictor>, Option<String>) {
    let model = match model_path {
        Some(path) => LearnedModel::load(path),
        None => LearnedModel::shipped(),
    };
    match model.and_then(|m| m.predictor(step_s, horizons)) {
        Ok(predictor) => (Box::new(predictor), None),
        Err(err) => {
            let warning = format!(
                "bandwidth model unusable, predicting with the {} baseline instead: {}",
                FALLBACK_BASELINE.name(),
                super::eval::error_chain(&err)
            );
            (FALLBACK_BASELINE.build(step_s, horizons), Some(warning))
        }
    }
}
