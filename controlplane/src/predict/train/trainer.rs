//! The training run: files, examples, the loop, the band calibration and
//! the model file.

use super::dataset::{standardised, Batch, Example, ExampleSet, PreparedTrace};
use super::net::{pinball_loss, relative_error_loss, split_outputs, LstmNet};
use super::rng::SplitMix64;
use super::{TrainOptions, BAND_TARGET_COVERAGE};
use crate::predict::eval::capped_relative_error;
use crate::predict::features::{FeatureSet, FEATURE_NAMES};
use crate::predict::lstm::calibration::{calibrate, BandCalibration};
use crate::predict::lstm::file::{
    Architecture, FeatureSpec, InputEntry, ModelFile, TrainedFile, TrainingRecord, MODEL_FORMAT,
    MODEL_FORMAT_VERSION, MODEL_QUANTILES, OUTPUTS_PER_HORIZON, OUTPUT_LAYOUT,
};
use crate::predict::lstm::inputs::{
    decode_log_ratio, Input, InputSource, InputSpec, InputTransform, HISTORY_PADDING,
};
use crate::predict::split::{split_of, SplitSet};
use crate::predict::trace::{collect_trace_files, load_trace_file, ParseOptions, TraceFileError};
use crate::predict::{Horizon, HorizonError, ThroughputSeries};
use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module as _;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use std::time::Instant;
use thiserror::Error;

/// Why no model was trained.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A step, window or horizon that cannot be used.
    #[error("bad step or horizon")]
    Horizon(#[source] HorizonError),
    /// A setting out of range.
    #[error("bad setting: {0}")]
    Setting(String),
    /// A `--traces` path cannot be listed.
    #[error("--traces")]
    Collect(#[source] TraceFileError),
    /// No training or no validation example.
    #[error("{0}")]
    NoData(String),
    /// The model built does not pass the model file checks (a bug).
    #[error("the trained model does not check: {0}")]
    Check(String),
}

/// A finished training run.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The model file.
    pub model: ModelFile,
    /// Files that could not be read (not used).
    pub skipped: Vec<TraceFileError>,
    /// Training examples, validation examples.
    pub examples: (usize, usize),
    /// Calibration files (validation files included).
    pub calibration_files: usize,
    /// Wall time of the run, seconds (not in the model file).
    pub elapsed_s: f64,
}

/// The inputs of the shipped design, before standardisation: the
/// throughput and its recent statistics as log ratios to the level, and
/// the padding flag.
fn design_inputs() -> Vec<Input> {
    let mut inputs: Vec<Input> = FEATURE_NAMES[..6]
        .iter()
        .map(|name| Input {
            source: InputSource::from_name(name).expect("a feature name"),
            transform: InputTransform::LogRatio,
            mean: 0.0,
            std: 1.0,
        })
        .collect();
    inputs.push(Input {
        source: InputSource::from_name(HISTORY_PADDING).expect("the padding input"),
        transform: InputTransform::Identity,
        mean: 0.0,
        std: 1.0,
    });
    inputs
}

/// Whole steps in `seconds`.
fn steps(seconds: f64, step_s: f64) -> Result<usize, TrainError> {
    Horizon::from_secs(seconds, step_s)
        .map(Horizon::steps)
        .map_err(TrainError::Horizon)
}

/// A set's traces, file records and series.
#[derive(Default)]
struct LoadedSet {
    traces: Vec<PreparedTrace>,
    files: Vec<TrainedFile>,
    series: Vec<ThroughputSeries>,
}

/// A batch as tensors.
struct BatchTensors {
    /// `[rows, window, width]`.
    inputs: Tensor<3>,
    /// `[rows, horizons]` target log ratios.
    targets: Tensor<2>,
    /// `[rows, horizons]` outcomes, Mbit/s.
    actual: Tensor<2>,
    /// `[rows, 1]` the window's level plus the floor.
    scale: Tensor<2>,
    /// `[rows, horizons]` 1 where the outcome is known.
    mask: Tensor<2>,
}

impl BatchTensors {
    fn new(batch: &Batch, shape: (usize, usize, usize), floor: f64, device: &Device) -> Self {
        let (window, width, horizons) = shape;
        let rows = batch.rows;
        let matrix = |values: &[f32], cols: usize| {
            Tensor::from_data(TensorData::new(values.to_vec(), [rows, cols]), device)
        };
        // Levels are rates, well inside f32.
        #[allow(clippy::cast_possible_truncation)]
        let scale: Vec<f32> = batch.levels.iter().map(|l| (l + floor) as f32).collect();
        Self {
            inputs: Tensor::from_data(
                TensorData::new(batch.inputs.clone(), [rows, window, width]),
                device,
            ),
            targets: matrix(&batch.targets, horizons),
            actual: matrix(&batch.actual_mbps, horizons),
            scale: matrix(&scale, 1),
            mask: matrix(&batch.mask, horizons),
        }
    }

    /// The training loss of the head's outputs on this batch: the pinball
    /// loss of the band outputs plus `point_weight` times the capped
    /// relative error of the point forecast.
    fn loss(self, outputs: [Tensor<2>; 4], floor: f64, point_weight: f64) -> Tensor<1> {
        let [lower, median, upper, point] = outputs;
        let band = pinball_loss(
            [lower, median, upper],
            MODEL_QUANTILES,
            self.targets,
            self.mask.clone(),
        );
        let point = relative_error_loss(point, self.scale, floor, self.actual, self.mask);
        band + point.mul_scalar(point_weight)
    }
}

/// What a pass over validation examples measured.
struct Validation {
    /// Mean training loss.
    loss: f64,
    /// Per horizon, the capped relative error of the point forecast
    /// (docs/prediction.md's `mape`).
    mape: Vec<f64>,
}

/// Scores the model on validation examples.
fn validate(
    net: &LstmNet,
    set: &ExampleSet,
    examples: &[Example],
    spec: &InputSpec,
    shape: (usize, &[usize]),
    batch_rows: usize,
    point_weight: f64,
) -> Validation {
    let (window, horizons) = shape;
    let net = net.valid();
    let device = net.head_bias.val().device();
    let mut loss_sum = 0.0;
    let mut weight_sum = 0.0;
    let mut counts = vec![0usize; horizons.len()];
    let mut relative_error = vec![0.0; horizons.len()];
    let floor = spec.level_floor_mbps();
    for chunk in examples.chunks(batch_rows) {
        let batch = set.batch(chunk, spec, window, horizons);
        let tensors = BatchTensors::new(
            &batch,
            (window, spec.width(), horizons.len()),
            floor,
            &device,
        );
        let outputs = split_outputs(net.forward(tensors.inputs.clone()), horizons.len());
        let count: f64 = batch.mask.iter().map(|m| f64::from(*m)).sum();
        let loss: f32 = tensors
            .loss(outputs.clone(), floor, point_weight)
            .into_scalar();
        loss_sum += f64::from(loss) * count;
        weight_sum += count;
        let [_, _, _, point] = outputs.map(|q| {
            q.into_data()
                .try_into_vec::<f32>()
                .expect("a float tensor reads as f32")
        });
        let k_count = horizons.len();
        for (row, level) in batch.levels.iter().enumerate() {
            let at = row * k_count;
            for k in 0..k_count {
                if batch.mask[at + k] == 0.0 {
                    continue;
                }
                let y = batch.targets[at + k];
                counts[k] += 1;
                let actual = decode_log_ratio(f64::from(y), *level, floor);
                let predicted = decode_log_ratio(f64::from(point[at + k]), *level, floor);
                relative_error[k] += capped_relative_error(predicted, actual);
            }
        }
    }
    let mape = relative_error
        .iter()
        .zip(&counts)
        .map(|(sum, n)| sum / (*n).max(1) as f64)
        .collect();
    Validation {
        loss: loss_sum / weight_sum.max(1.0),
        mape,
    }
}

/// Trains a model as `options` say.
pub fn train_predictor(options: &TrainOptions) -> Result<TrainOutcome, TrainError> {
    let started = Instant::now();
    let settings = &options.settings;
    let step_s = settings.step_s;
    let window = steps(settings.window_s, step_s)?;
    let horizons: Vec<usize> = settings
        .horizons_s
        .iter()
        .map(|h| steps(*h, step_s))
        .collect::<Result<_, _>>()?;
    if horizons.is_empty() || horizons.windows(2).any(|w| w[0] >= w[1]) {
        return Err(TrainError::Setting(
            "horizons must be given in ascending order".into(),
        ));
    }
    if settings.hidden == 0 || settings.layers == 0 || settings.batch == 0 {
        return Err(TrainError::Setting(
            "hidden units, layers and batch must be at least 1".into(),
        ));
    }
    let files =
        collect_trace_files(&options.traces, &options.filter).map_err(TrainError::Collect)?;
    let parse = ParseOptions { step_s, csv: None };
    let used = FeatureSet::THROUGHPUT_ONLY;
    let mut skipped = Vec::new();
    let mut train = LoadedSet::default();
    let mut validation = LoadedSet::default();
    let mut calibration = LoadedSet::default();
    let mut test_files = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let set = match split_of(&name) {
            SplitSet::Test => {
                test_files.push(name);
                continue;
            }
            SplitSet::Train => &mut train,
            SplitSet::Validation => &mut validation,
            SplitSet::Calibration => &mut calibration,
        };
        match load_trace_file(path, &parse) {
            Ok(trace) => {
                set.files.push(TrainedFile {
                    name,
                    fingerprint: format!("{:016x}", trace.series.fingerprint()),
                });
                set.traces.push(PreparedTrace::new(&trace.series, used));
                set.series.push(trace.series);
            }
            Err(err) => skipped.push(err),
        }
    }
    let train_set = ExampleSet::new(train.traces, &horizons);
    let validation_set = ExampleSet::new(validation.traces, &horizons);
    if train_set.examples.is_empty() || validation_set.examples.is_empty() {
        return Err(TrainError::NoData(format!(
            "{} training and {} validation examples from {} files: both sets need a trace \
             longer than the shortest horizon",
            train_set.examples.len(),
            validation_set.examples.len(),
            files.len()
        )));
    }
    tracing::info!(
        train_files = train.files.len(),
        validation_files = validation.files.len(),
        calibration_files = calibration.files.len(),
        test_files = test_files.len(),
        train_examples = train_set.examples.len(),
        validation_examples = validation_set.examples.len(),
        "training the bandwidth LSTM"
    );

    let raw_spec = InputSpec::new(design_inputs(), settings.level_floor_mbps);
    let statistics = train_set.input_statistics(&raw_spec, window, settings.statistics_stride);
    let spec = InputSpec::new(
        standardised(&design_inputs(), &statistics),
        settings.level_floor_mbps,
    );
    let width = spec.width();
    let outputs = horizons.len() * OUTPUTS_PER_HORIZON;

    let device = Device::flex().autodiff();
    let mut rng = SplitMix64::new(options.seed);
    let mut net = LstmNet::init(
        width,
        settings.layers,
        settings.hidden,
        outputs,
        &mut rng,
        &device,
    );
    let mut optimizer = AdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(
            settings.gradient_clip_norm,
        )))
        .init();
    let validation_examples: Vec<Example> = validation_set
        .examples
        .iter()
        .copied()
        .step_by(settings.validation_stride.max(1))
        .collect();
    let mut order: Vec<Example> = train_set.examples.clone();
    let mut cursor = order.len();
    let mut best: Option<(f64, usize, LstmNet)> = None;
    let mut validation_loss = Vec::new();
    let mut learning_rate = settings.learning_rate;
    let mut last_change = 0;
    for epoch in 1..=settings.max_epochs {
        let mut train_loss = 0.0;
        let mut batches = 0usize;
        let mut drawn = 0;
        while drawn < settings.examples_per_epoch {
            if cursor + settings.batch > order.len() {
                rng.shuffle(&mut order);
                cursor = 0;
            }
            let rows = settings.batch.min(order.len());
            let chunk = &order[cursor..cursor + rows];
            cursor += rows;
            drawn += rows;
            let batch = train_set.batch(chunk, &spec, window, &horizons);
            let floor = settings.level_floor_mbps;
            let tensors =
                BatchTensors::new(&batch, (window, width, horizons.len()), floor, &device);
            let outputs = split_outputs(net.forward(tensors.inputs.clone()), horizons.len());
            let loss = tensors.loss(outputs, floor, settings.point_loss_weight);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            let value: f32 = loss.into_scalar();
            train_loss += f64::from(value);
            batches += 1;
            net = optimizer.step(learning_rate, net, grads);
        }
        let measured = validate(
            &net,
            &validation_set,
            &validation_examples,
            &spec,
            (window, &horizons),
            settings.batch * 4,
            settings.point_loss_weight,
        );
        let loss = measured.loss;
        validation_loss.push(loss);
        tracing::info!(
            epoch,
            train_loss = train_loss / batches.max(1) as f64,
            validation_loss = loss,
            validation_mape = ?measured.mape,
            learning_rate,
            elapsed_s = started.elapsed().as_secs_f64(),
            "epoch done"
        );
        let improved = best.as_ref().is_none_or(|(b, _, _)| loss < *b);
        if improved {
            best = Some((loss, epoch, net.clone()));
            last_change = epoch;
            continue;
        }
        let best_epoch = best.as_ref().map_or(0, |(_, e, _)| *e);
        if epoch - best_epoch >= settings.patience {
            break;
        }
        if epoch - last_change >= settings.halving_patience {
            learning_rate /= 2.0;
            last_change = epoch;
        }
    }
    let (_, best_epoch, net) = best.ok_or_else(|| TrainError::Setting("max_epochs is 0".into()))?;

    tracing::info!(best_epoch, "kept");

    let model = ModelFile {
        format: MODEL_FORMAT.to_owned(),
        format_version: MODEL_FORMAT_VERSION,
        step_s,
        window_steps: window,
        horizons_steps: horizons.clone(),
        quantiles: MODEL_QUANTILES.to_vec(),
        target: "log_ratio_to_level".to_owned(),
        band_calibration: BandCalibration::none(horizons.len()),
        features: FeatureSpec {
            used: used.into(),
            level_floor_mbps: settings.level_floor_mbps,
            inputs: spec
                .inputs()
                .iter()
                .map(|input| InputEntry {
                    name: input.source.name().to_owned(),
                    transform: input.transform.as_str().to_owned(),
                    mean: input.mean,
                    std: input.std,
                })
                .collect(),
        },
        architecture: Architecture {
            cell: "lstm".to_owned(),
            layers: settings.layers,
            hidden: settings.hidden,
            gate_order: "ifgo".to_owned(),
            output: OUTPUT_LAYOUT.to_owned(),
        },
        training: TrainingRecord {
            seed: options.seed,
            train_files: train.files,
            validation_files: validation.files,
            calibration_files: calibration.files,
            test_files,
            settings: serde_json::to_value(settings).expect("settings serialize"),
            validation_loss,
            best_epoch,
        },
        weights: net.to_weights(),
    };
    let checked = model
        .check()
        .map_err(|problem| TrainError::Check(format!("{problem:?}")))?;
    // Calibrated on the calibration and the validation files: held out of
    // training by file (the validation files only chose the epoch).
    let calibration_series: Vec<ThroughputSeries> = calibration
        .series
        .into_iter()
        .chain(validation.series)
        .collect();
    let calibration_files = calibration_series.len();
    let band_calibration = calibrate(&checked, &calibration_series, BAND_TARGET_COVERAGE);
    tracing::info!(
        calibration_files,
        margins_log = ?band_calibration.margins_log,
        bin_edges = ?band_calibration.bin_edges,
        elapsed_s = started.elapsed().as_secs_f64(),
        "calibrated"
    );
    let model = ModelFile {
        band_calibration,
        ..checked.file
    }
    .check()
    .map_err(|problem| TrainError::Check(format!("{problem:?}")))?
    .file;
    Ok(TrainOutcome {
        model,
        skipped,
        calibration_files,
        examples: (train_set.examples.len(), validation_set.examples.len()),
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}
