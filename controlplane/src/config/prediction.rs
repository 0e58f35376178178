//! `[prediction]`: the bandwidth predictor (docs/prediction.md §9).

use super::{check, ConfigError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[prediction]`: which learned model predicts the peer links'
/// bandwidth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionSection {
    /// A model file written by `train-predictor`; left out, the model
    /// shipped in the binary. A file that is missing, corrupt or
    /// incompatible is not a configuration error: the control plane logs
    /// one warning and predicts with the EWMA baseline
    /// ([`select_predictor`](crate::predict::model::select_predictor)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
}

impl PredictionSection {
    /// Checks that a model path, if given, is an absolute file path (it is
    /// read when the control plane starts; whether it can be used is not a
    /// configuration error).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match &self.model {
            Some(path) => check::absolute_file_path("prediction.model", path),
            None => Ok(()),
        }
    }
}
