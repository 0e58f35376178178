//! The trainer (the `train` feature, burn): burn's forward pass equals the
//! plain-Rust one on the same weights, and a training run is reproducible
//! from its seed and writes a model that loads and predicts.

#![cfg(feature = "train")]

mod common;

use common::TempDir;

use burn::tensor::{Device, Tensor, TensorData};
use dwcp_controlplane::predict::lstm::file::{HeadEntry, LayerEntry, WeightsEntry};
use dwcp_controlplane::predict::lstm::network::{HeadWeights, LayerWeights, LstmNetwork};
use dwcp_controlplane::predict::model::LearnedModel;
use dwcp_controlplane::predict::split::{split_of, SplitSet};
use dwcp_controlplane::predict::trace::NameFilter;
use dwcp_controlplane::predict::train::net::LstmNet;
use dwcp_controlplane::predict::train::{train_predictor, SplitMix64, TrainOptions, TrainSettings};
use dwcp_controlplane::predict::{Horizon, LinkSample, Predictor};
use std::fmt::Write as _;

fn random_matrix(rng: &mut SplitMix64, rows: usize, cols: usize) -> Vec<Vec<f32>> {
    (0..rows)
        .map(|_| (0..cols).map(|_| rng.uniform_f32(0.6)).collect())
        .collect()
}

#[test]
fn burn_and_plain_rust_forward_agree_on_the_same_weights() {
    let (inputs, hidden, outputs, steps, batch) = (5, 6, 12, 40, 3);
    let mut rng = SplitMix64::new(99);
    let mut layers = Vec::new();
    for width in [inputs, hidden] {
        layers.push(LayerEntry {
            w_input: random_matrix(&mut rng, 4 * hidden, width),
            w_hidden: random_matrix(&mut rng, 4 * hidden, hidden),
            bias: random_matrix(&mut rng, 1, 4 * hidden).remove(0),
        });
    }
    let weights = WeightsEntry {
        layers,
        head: HeadEntry {
            weight: random_matrix(&mut rng, outputs, hidden),
            bias: random_matrix(&mut rng, 1, outputs).remove(0),
        },
    };
    let sequence: Vec<f32> = (0..batch * steps * inputs)
        .map(|_| rng.uniform_f32(2.0))
        .collect();

    let device = Device::flex();
    let net = LstmNet::from_weights(&weights, &device);
    assert_eq!(net.to_weights(), weights, "weights survive the round trip");
    let input = Tensor::<3>::from_data(
        TensorData::new(sequence.clone(), [batch, steps, inputs]),
        &device,
    );
    let burn_out: Vec<f32> = net
        .forward(input)
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 outputs");

    let flat = |rows: &[Vec<f32>]| rows.iter().flatten().copied().collect::<Vec<f32>>();
    let plain_layers = weights
        .layers
        .iter()
        .enumerate()
        .map(|(index, layer)| LayerWeights {
            inputs: if index == 0 { inputs } else { hidden },
            hidden,
            w_input: flat(&layer.w_input),
            w_hidden: flat(&layer.w_hidden),
            bias: layer.bias.clone(),
        })
        .collect();
    let head = HeadWeights {
        outputs,
        weight: flat(&weights.head.weight),
        bias: weights.head.bias.clone(),
    };
    let mut plain = LstmNetwork::new(plain_layers, head).expect("valid shapes");
    let mut max_difference = 0.0f32;
    for (row, window) in sequence.chunks_exact(steps * inputs).enumerate() {
        let plain_out = plain.forward(window);
        for (a, b) in plain_out
            .iter()
            .zip(&burn_out[row * outputs..(row + 1) * outputs])
        {
            max_difference = max_difference.max((a - b).abs());
        }
    }
    assert!(
        max_difference <= 1e-4,
        "burn and plain Rust differ by {max_difference}"
    );
    // The comparison can fail: other weights give other outputs.
    let mut other = weights.clone();
    other.head.bias[0] += 0.01;
    let other_out = LstmNet::from_weights(&other, &device)
        .forward(Tensor::<3>::from_data(
            TensorData::new(sequence, [batch, steps, inputs]),
            &device,
        ))
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 outputs");
    assert!((other_out[0] - burn_out[0] - 0.01).abs() < 1e-5);
}

/// Synthetic traces: a level that changes every 40 s with noise, named so
/// that at least two land in training and one in validation.
fn synthetic_traces(dir: &TempDir) {
    let mut rng = SplitMix64::new(5);
    let (mut train, mut validation) = (0, 0);
    for i in 0.. {
        let name = format!("synthetic_{i}.log");
        let set = split_of(&name);
        let needed = match set {
            SplitSet::Train => train < 2,
            SplitSet::Validation => validation < 1,
            SplitSet::Test | SplitSet::Calibration => false,
        };
        if !needed {
            if train >= 2 && validation >= 1 {
                break;
            }
            continue;
        }
        let mut text = String::new();
        let mut level = 2.0;
        for t in 0..200 {
            if t % 40 == 0 {
                level = 0.5 + 4.0 * rng.next_f64();
            }
            let _ = writeln!(text, "{t}.0\t{:.4}", level * (0.8 + 0.4 * rng.next_f64()));
        }
        let _ = writeln!(text, "200.0\t0");
        std::fs::write(dir.0.join(&name), text).expect("write a trace");
        match set {
            SplitSet::Train => train += 1,
            _ => validation += 1,
        }
    }
}

fn tiny_settings() -> TrainSettings {
    TrainSettings {
        window_s: 20.0,
        horizons_s: vec![5.0, 15.0],
        hidden: 4,
        batch: 16,
        examples_per_epoch: 64,
        max_epochs: 2,
        patience: 2,
        ..TrainSettings::default()
    }
}

#[test]
fn training_is_reproducible_from_its_seed_and_loads() {
    let dir = TempDir::new("reproducible");
    synthetic_traces(&dir);
    let options = |seed| TrainOptions {
        traces: vec![dir.0.clone()],
        filter: NameFilter::default(),
        seed,
        settings: tiny_settings(),
    };
    let first = train_predictor(&options(3)).expect("a model");
    let again = train_predictor(&options(3)).expect("a model");
    let first_json = serde_json::to_string(&first.model).expect("serializes");
    assert_eq!(
        first_json,
        serde_json::to_string(&again.model).expect("serializes"),
        "same seed, same files: same bytes"
    );
    let other = train_predictor(&options(4)).expect("a model");
    assert_ne!(first.model.weights, other.model.weights, "another seed");

    let training = &first.model.training;
    assert_eq!(training.seed, 3);
    assert_eq!(training.train_files.len(), 2);
    assert_eq!(training.validation_files.len(), 1);
    assert_eq!(training.validation_loss.len(), 2);

    let model = LearnedModel::from_json(&first_json, &dir.0.join("model.json"))
        .expect("the written model loads");
    let mut p = model
        .predictor(1.0, &[Horizon::from_steps(10).expect("a horizon")])
        .expect("a predictor");
    for x in [1.0, 2.0, 3.0, 2.5] {
        p.observe(&LinkSample::throughput_only(x));
    }
    let prediction = p
        .predict(Horizon::from_steps(10).expect("a horizon"))
        .expect("a prediction");
    assert!(
        prediction.mbps.is_finite() && prediction.mbps > 0.0,
        "{prediction:?}"
    );
}

#[test]
fn the_train_predictor_command_writes_a_model_that_loads() {
    let dir = TempDir::new("command");
    synthetic_traces(&dir);
    let out = dir.0.join("model.json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dwcp-controlplane"))
        .arg("train-predictor")
        .arg("--traces")
        .arg(&dir.0)
        .arg("--out")
        .arg(&out)
        .args([
            "--seed",
            "9",
            "--max-epochs",
            "1",
            "--examples-per-epoch",
            "32",
        ])
        .args(["--hidden", "3", "--window-s", "10"])
        .env("DWCP_LOG", "warn")
        .output()
        .expect("run dwcp-controlplane");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("wrote ") && stderr.contains("best epoch 1 of 1"),
        "{stderr}"
    );
    let model = LearnedModel::load(&out).expect("the model file loads");
    assert_eq!(model.file().training.seed, 9);
    assert_eq!(model.file().window_steps, 10);
    assert_eq!(model.file().architecture.hidden, 3);

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_dwcp-controlplane"))
        .args([
            "train-predictor",
            "--traces",
            "/nonexistent/dwcp-traces",
            "--out",
        ])
        .arg(dir.0.join("none.json"))
        .output()
        .expect("run dwcp-controlplane");
    assert_eq!(missing.status.code(), Some(1));
    assert!(!dir.0.join("none.json").exists(), "no file without a model");
}
