//! The slot of the learned predictor (the LSTM step).
//!
//! # Design
//!
//! [`load_model`] turns a model file into a `Box<dyn Predictor>`, the same
//! trait object the baselines are, so `predict-eval` and the control plane
//! use a model exactly like a baseline. This build has no learned model:
//! `load_model` checks that the file can be read and then answers
//! [`ModelError::NotBuilt`], and `predict-eval --model` fails with that
//! message instead of silently evaluating the baselines alone.
//!
//! The LSTM step replaces the body of `load_model`. Its errors are already
//! here so callers can be written now: a missing, corrupt or incompatible
//! model file makes the online control plane fall back to the best
//! baseline with one warning, while `predict-eval` fails.

use super::{Horizon, Predictor};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The key of the learned model in `predict-eval` reports.
pub const MODEL_REPORT_NAME: &str = "model";

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
    /// The file is not a model (bad magic, checksum or encoding).
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
    /// This binary was built without a learned predictor.
    #[error(
        "{}: this build of dwcp-controlplane has no learned predictor (the LSTM step of \
         docs/prediction.md is not built yet); run without --model to evaluate the baselines",
        path.display()
    )]
    NotBuilt {
        /// The model file.
        path: PathBuf,
    },
}

/// The learned predictor stored at `path`, for steps of `step_s` seconds,
/// answering `horizons`.
pub fn load_model(
    path: &Path,
    step_s: f64,
    horizons: &[Horizon],
) -> Result<Box<dyn Predictor>, ModelError> {
    let _ = (step_s, horizons);
    std::fs::metadata(path).map_err(|source| ModelError::Io {
        path: path.to_owned(),
        source,
    })?;
    Err(ModelError::NotBuilt {
        path: path.to_owned(),
    })
}
