//! The learned predictor without burn: a hand-made model file with outputs
//! computed here from the LSTM equations, the model file's error kinds,
//! the fallback to a baseline, and the shipped model (loads, is causal,
//! answers every horizon it was trained for).

mod common;

use common::TempDir;

use dwcp_controlplane::predict::model::{
    load_model, select_predictor, LearnedModel, ModelError, FALLBACK_BASELINE,
};
use dwcp_controlplane::predict::{Horizon, LinkSample, Prediction, Predictor};
use serde_json::{json, Value};
use std::path::Path;

fn h(steps: usize) -> Horizon {
    Horizon::from_steps(steps).expect("a valid horizon")
}

const FLOOR: f64 = 0.01;
// One unit, one input. Gate rows in the order i, f, g, o.
const W_INPUT: [f64; 4] = [0.5, -0.3, 0.8, 0.2];
const W_HIDDEN: [f64; 4] = [0.1, 0.4, -0.6, 0.3];
const BIAS: [f64; 4] = [0.05, 1.0, -0.1, 0.0];
// Two horizons (1 and 3 steps) × (a, m, b, p).
const HEAD_W: [f64; 8] = [0.3, 1.5, -0.2, 1.2, 0.0, -0.7, 0.4, -0.9];
const HEAD_B: [f64; 8] = [0.1, 0.05, -0.3, -0.02, 0.2, 0.1, 0.0, 0.15];
const BAND_ADJUST: [f64; 2] = [0.05, -0.02];

/// A model reading the throughput's log ratio to the level (standardised
/// with mean 0.1 and std 2) over a window of 2 steps.
fn tiny_model() -> Value {
    json!({
        "format": "dwcp-bandwidth-lstm",
        "format_version": 2,
        "step_s": 1.0,
        "window_steps": 2,
        "horizons_steps": [1, 3],
        "quantiles": [0.1, 0.5, 0.9],
        "target": "log_ratio_to_level",
        "band_calibration": {
            "method": "mondrian_cqr", "statistic": "cv_30s", "coverage": 0.8,
            "bin_edges": [[], []], "margins_log": [[BAND_ADJUST[0]], [BAND_ADJUST[1]]],
            "steps": [0, 0]
        },
        "features": {
            "used": {"rtt": false, "loss": false, "jitter": false, "time_of_day": false},
            "level_floor_mbps": FLOOR,
            "inputs": [
                {"name": "throughput_mbps", "transform": "log_ratio_to_level", "mean": 0.1, "std": 2.0}
            ]
        },
        "architecture": {
            "cell": "lstm", "layers": 1, "hidden": 1, "gate_order": "ifgo",
            "output": "band_median_point"
        },
        "training": {
            "seed": 1,
            "train_files": [{"name": "seen.log", "fingerprint": "0000000000000000"}],
            "validation_files": [],
            "test_files": [],
            "settings": {},
            "validation_loss": [0.5],
            "best_epoch": 1
        },
        "weights": {
            "layers": [{
                "w_input": W_INPUT.map(|w| vec![w]),
                "w_hidden": W_HIDDEN.map(|w| vec![w]),
                "bias": BIAS
            }],
            "head": {"weight": HEAD_W.map(|w| vec![w]), "bias": HEAD_B}
        }
    })
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softplus(x: f64) -> f64 {
    x.exp().ln_1p()
}

/// The prediction of the tiny model after `samples` (at most 2 are in the
/// window), from the equations in docs/prediction.md.
fn expected(samples: &[f64], horizon_index: usize) -> [f64; 3] {
    let window = &samples[samples.len().saturating_sub(2)..];
    let level = window.iter().sum::<f64>() / window.len() as f64;
    let mut inputs: Vec<f64> = window
        .iter()
        .map(|x| (((x + FLOOR) / (level + FLOOR)).ln() - 0.1) / 2.0)
        .collect();
    while inputs.len() < 2 {
        inputs.insert(0, inputs[0]);
    }
    let (mut hid, mut cell) = (0.0, 0.0);
    for x in inputs {
        let z: Vec<f64> = (0..4)
            .map(|k| W_INPUT[k] * x + W_HIDDEN[k] * hid + BIAS[k])
            .collect();
        cell = sigmoid(z[1]) * cell + sigmoid(z[0]) * z[2].tanh();
        hid = sigmoid(z[3]) * cell.tanh();
    }
    let out: Vec<f64> = (0..8).map(|k| HEAD_W[k] * hid + HEAD_B[k]).collect();
    let k = horizon_index * 4;
    let (median, point) = (out[k + 1], out[k + 3]);
    let adjust = BAND_ADJUST[horizon_index];
    let lower = (median - softplus(out[k]) - adjust).min(point);
    let upper = (median + softplus(out[k + 2]) + adjust).max(point);
    [lower, point, upper].map(|y| ((level + FLOOR) * y.exp() - FLOOR).max(0.0))
}

fn assert_close(got: &Prediction, want: [f64; 3]) {
    let got = [got.lower, got.mbps, got.upper];
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "got {got:?}, want {want:?}"
        );
    }
}

fn feed(p: &mut dyn Predictor, samples: &[f64]) {
    for &x in samples {
        p.observe(&LinkSample::throughput_only(x));
    }
}

#[test]
fn the_tiny_model_gives_the_hand_computed_outputs() {
    let dir = TempDir::new("tiny");
    let path = dir.write("tiny.json", tiny_model().to_string());
    let mut p = load_model(&path, 1.0, &[h(1), h(2), h(3)]).expect("the tiny model loads");
    assert_eq!(p.predict(h(1)), None, "no prediction before a sample");
    let samples = [2.0, 0.5, 3.0, 0.0, 1.2];
    for n in 1..=samples.len() {
        feed(p.as_mut(), &samples[n - 1..n]);
        let seen = &samples[..n];
        assert_close(&p.predict(h(1)).expect("a prediction"), expected(seen, 0));
        assert_close(&p.predict(h(3)).expect("a prediction"), expected(seen, 1));
        // Two steps: halfway between the horizons, on the log ratios.
        let (a, b) = (expected(seen, 0), expected(seen, 1));
        let level = seen[seen.len().saturating_sub(2)..].iter().sum::<f64>()
            / seen[seen.len().saturating_sub(2)..].len() as f64;
        let log = |x: f64| ((x + FLOOR) / (level + FLOOR)).ln();
        let mid = [0, 1, 2].map(|k| {
            let y = 0.5 * (log(a[k]) + log(b[k]));
            ((level + FLOOR) * y.exp() - FLOOR).max(0.0)
        });
        assert_close(&p.predict(h(2)).expect("a prediction"), mid);
    }
    // Bad samples are ignored; reset forgets.
    let before = p.predict(h(1));
    p.observe(&LinkSample::throughput_only(f64::NAN));
    p.observe(&LinkSample::throughput_only(-1.0));
    assert_eq!(p.predict(h(1)), before);
    p.reset();
    assert_eq!(p.predict(h(1)), None);
}

/// A named change to the tiny model.
type Change = (&'static str, Box<dyn Fn(&mut Value)>);

fn load_error(model: &Value, step_s: f64, horizons: &[Horizon]) -> ModelError {
    let dir = TempDir::new("errors");
    let path = dir.write("model.json", model.to_string());
    load_model(&path, step_s, horizons).expect_err("an unusable model")
}

#[test]
fn each_kind_of_bad_model_file_has_its_error() {
    let missing = Path::new("/nonexistent/dwcp/model.json");
    let err = load_model(missing, 1.0, &[h(1)]).expect_err("no file");
    assert!(matches!(err, ModelError::Io { .. }), "{err}");

    let dir = TempDir::new("garbage");
    let garbage = dir.write("garbage.json", "not a model");
    let err = load_model(&garbage, 1.0, &[h(1)]).expect_err("not JSON");
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");

    let corrupt_cases: Vec<Change> = vec![
        ("another format", Box::new(|m| m["format"] = json!("onnx"))),
        ("no weights", Box::new(|m| m["weights"] = json!(null))),
        (
            "a short row",
            Box::new(|m| m["weights"]["layers"][0]["w_hidden"][2] = json!([])),
        ),
        (
            "a missing gate",
            Box::new(|m| {
                m["weights"]["layers"][0]["bias"] = json!([0.0, 0.0, 0.0]);
            }),
        ),
        (
            "a zero std",
            Box::new(|m| m["features"]["inputs"][0]["std"] = json!(0.0)),
        ),
        (
            "a head too small",
            Box::new(|m| m["weights"]["head"]["bias"] = json!([0.0])),
        ),
    ];
    for (what, change) in corrupt_cases {
        let mut model = tiny_model();
        change(&mut model);
        let err = load_error(&model, 1.0, &[h(1)]);
        assert!(matches!(err, ModelError::Corrupt { .. }), "{what}: {err}");
    }

    let incompatible_cases: Vec<Change> = vec![
        (
            "format version 2",
            Box::new(|m| m["format_version"] = json!(1)),
        ),
        (
            "an unknown input",
            Box::new(|m| m["features"]["inputs"][0]["name"] = json!("snr_db")),
        ),
        (
            "an unknown transform",
            Box::new(|m| {
                m["features"]["inputs"][0]["transform"] = json!("square");
            }),
        ),
        (
            "other quantiles",
            Box::new(|m| m["quantiles"] = json!([0.05, 0.5, 0.95])),
        ),
    ];
    for (what, change) in incompatible_cases {
        let mut model = tiny_model();
        change(&mut model);
        let err = load_error(&model, 1.0, &[h(1)]);
        assert!(
            matches!(err, ModelError::Incompatible { .. }),
            "{what}: {err}"
        );
    }

    let err = load_error(&tiny_model(), 0.5, &[h(2)]);
    assert!(
        matches!(err, ModelError::Incompatible { .. }) && err.to_string().contains("steps"),
        "another step: {err}"
    );
    let err = load_error(&tiny_model(), 1.0, &[h(4)]);
    assert!(
        matches!(err, ModelError::Incompatible { .. }) && err.to_string().contains("ahead"),
        "a horizon beyond the model's: {err}"
    );
}

#[test]
fn an_unusable_model_falls_back_to_the_baseline_with_one_warning() {
    let dir = TempDir::new("fallback");
    let garbage = dir.write("garbage.json", "{\"format\": \"dwcp-bandwidth-lstm\"}");
    let (p, warning) = select_predictor(Some(&garbage), 1.0, &[h(5)]);
    assert_eq!(p.name(), FALLBACK_BASELINE.name());
    let warning = warning.expect("a warning");
    assert!(
        warning.contains("garbage.json")
            && warning.contains("format version")
            && warning.contains(FALLBACK_BASELINE.name()),
        "{warning}"
    );
    assert_eq!(warning.lines().count(), 1, "one line: {warning}");

    let good = dir.write("tiny.json", tiny_model().to_string());
    let (p, warning) = select_predictor(Some(&good), 1.0, &[h(1)]);
    assert_eq!((p.name(), warning), ("lstm", None));
}

#[test]
fn the_shipped_model_loads_and_predicts_out_of_the_box() {
    let model = LearnedModel::shipped().expect("the shipped model checks");
    let file = model.file();
    assert_eq!(file.step_s, 1.0);
    assert_eq!(file.horizons_steps, vec![5, 15, 30, 60]);
    assert!(!file.training.train_files.is_empty());
    let (mut p, warning) = select_predictor(None, 1.0, &[h(5), h(30), h(60)]);
    assert_eq!((p.name(), warning), ("lstm", None));
    // A steady link is predicted near its rate, inside a band around it.
    feed(p.as_mut(), &[5.0; 120]);
    for steps in [5, 10, 30, 60] {
        let prediction = p.predict(h(steps)).expect("a prediction");
        assert!(
            (prediction.mbps - 5.0).abs() < 1.0,
            "{steps} s on a steady 5 Mbit/s link: {prediction:?}"
        );
        assert!(prediction.lower <= prediction.mbps && prediction.mbps <= prediction.upper);
    }
}

/// The model sees only its past: two series with the same first 200
/// samples and different futures get the same predictions up to step 199.
#[test]
fn the_shipped_model_is_causal() {
    let past: Vec<f64> = (0..200)
        .map(|i| 2.0 + (f64::from(i) * 0.37).sin())
        .collect();
    let mut a = past.clone();
    a.extend([50.0; 100]);
    let mut b = past;
    b.extend([0.0; 100]);
    let model = LearnedModel::shipped().expect("the shipped model checks");
    let mut pa = model.predictor(1.0, &[h(30)]).expect("a predictor");
    let mut pb = model.predictor(1.0, &[h(30)]).expect("a predictor");
    for t in 0..200 {
        pa.observe(&LinkSample::throughput_only(a[t]));
        pb.observe(&LinkSample::throughput_only(b[t]));
        assert_eq!(pa.predict(h(30)), pb.predict(h(30)), "step {t}");
    }
    pa.observe(&LinkSample::throughput_only(a[200]));
    pb.observe(&LinkSample::throughput_only(b[200]));
    assert_ne!(pa.predict(h(30)), pb.predict(h(30)));
}
