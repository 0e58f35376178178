//! The `[prediction] model` key, and what a model file that cannot be used
//! does: the EWMA fallback with one warning naming the file and the
//! reason (docs/prediction.md §8.2, §9.1).

mod common;

use common::TempDir;

use dwcp_controlplane::config::{ControlPlaneConfig, EXAMPLE};
use dwcp_controlplane::predict::lstm::file::MODEL_FORMAT_VERSION;
use dwcp_controlplane::predict::model::{LearnedModel, SHIPPED_MODEL_PATH};
use dwcp_controlplane::predict::online::OnlinePredictor;
use std::path::{Path, PathBuf};

#[test]
fn the_model_key_is_optional_and_takes_a_path() {
    let plain = ControlPlaneConfig::from_toml_str(EXAMPLE).expect("the example parses");
    assert_eq!(plain.prediction.model, None, "left out: the shipped model");

    let with = format!("{EXAMPLE}\n[prediction]\nmodel = \"/etc/dwcp/pba.json\"\n");
    let config = ControlPlaneConfig::from_toml_str(&with).expect("a model path parses");
    assert_eq!(
        config.prediction.model.as_deref(),
        Some(Path::new("/etc/dwcp/pba.json"))
    );

    for bad in ["", "models/pba.json", "/"] {
        let text = format!("{EXAMPLE}\n[prediction]\nmodel = \"{bad}\"\n");
        let err = ControlPlaneConfig::from_toml_str(&text).expect_err("not an absolute file path");
        assert!(
            err.to_string().contains("prediction.model"),
            "{bad:?}: {err}"
        );
    }

    let typo = format!("{EXAMPLE}\n[prediction]\nmodle = \"x\"\n");
    assert!(
        ControlPlaneConfig::from_toml_str(&typo).is_err(),
        "unknown key"
    );
}

/// The shipped model with its `format_version` set to `version`.
fn shipped_with_version(version: u32) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(SHIPPED_MODEL_PATH);
    let text = std::fs::read_to_string(path).expect("the shipped model is in the repository");
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    value["format_version"] = serde_json::json!(version);
    value.to_string()
}

#[test]
fn a_model_file_that_cannot_be_used_falls_back_with_one_warning() {
    let dir = TempDir::new("model-config");
    let corrupt = dir.write(
        "corrupt.json",
        "{\"format\": \"dwcp-bandwidth-lstm\", \"weights\": ",
    );
    let old = dir.write("old.json", shipped_with_version(MODEL_FORMAT_VERSION - 1));
    let missing: PathBuf = dir.path("missing.json");
    let cases: [(&Path, &str); 3] = [
        (&missing, "cannot read"),
        (&corrupt, "corrupt"),
        (&old, "incompatible model: format version 1"),
    ];
    for (path, reason) in cases {
        let (predictor, warning) = OnlinePredictor::select(Some(path));
        assert_eq!(predictor.name(), "ewma", "{}", path.display());
        let warning = warning.expect("a warning");
        assert_eq!(warning.lines().count(), 1, "one line: {warning}");
        assert!(
            warning.contains(&path.display().to_string())
                && warning.contains(reason)
                && warning.contains("ewma baseline"),
            "{warning}"
        );
    }

    let current = dir.write("current.json", shipped_with_version(MODEL_FORMAT_VERSION));
    let (predictor, warning) = OnlinePredictor::select(Some(&current));
    assert_eq!((predictor.name(), warning), ("lstm", None));
    let (shipped, warning) = OnlinePredictor::select(None);
    assert_eq!(
        (shipped.name(), warning),
        ("lstm", None),
        "the shipped model"
    );
    assert!(LearnedModel::load(&current).is_ok());
}

#[test]
fn the_shipped_model_is_calibrated_on_files_apart_from_training_and_test() {
    let model = LearnedModel::shipped().expect("the shipped model checks");
    let file = model.file();
    let band = &file.band_calibration;
    assert_eq!(band.statistic, "cv_30s");
    assert!((band.coverage - 0.85).abs() < 1e-12);
    for (edges, margins) in band.bin_edges.iter().zip(&band.margins_log) {
        assert_eq!(edges.len() + 1, margins.len());
        assert_eq!(margins.len(), 4, "four volatility bins");
    }
    let training = &file.training;
    assert!(!training.calibration_files.is_empty());
    for calibration in &training.calibration_files {
        let name = &calibration.name;
        assert!(
            !training.train_files.iter().any(|f| &f.name == name)
                && !training.test_files.contains(name),
            "{name} is also a training or test file"
        );
    }
}
