//! `predict-eval`: every baseline (and the model) over every trace.

use super::report::{EvalReport, PredictorReport};
use super::timed::{StepLatency, Timed};
use super::walk::{walk, EvalConfig, WARMUP_S};
use super::MetricsAccumulator;
use crate::predict::baselines::Baseline;
use crate::predict::model::{LearnedModel, ModelError, TrainingRole, MODEL_REPORT_NAME};
use crate::predict::trace::{
    collect_trace_files, load_trace_file, LoadedTrace, NameFilter, ParseOptions, TraceFileError,
};
use crate::predict::{Horizon, HorizonError, Predictor};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use thiserror::Error;

/// What `predict-eval` evaluates.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictEvalOptions {
    /// Trace directories and files.
    pub traces: Vec<PathBuf>,
    /// Which file names in the directories are traces.
    pub filter: NameFilter,
    /// A learned model to evaluate beside the baselines.
    pub model: Option<PathBuf>,
    /// With a model: leave out the files it was trained or validated on
    /// instead of refusing to run.
    pub held_out_only: bool,
    /// The horizon, seconds.
    pub horizon_s: f64,
    /// The step and the CSV columns.
    pub parse: ParseOptions,
}

/// Why `predict-eval` produced no report.
#[derive(Debug, Error)]
pub enum PredictEvalError {
    /// The horizon or step cannot be used.
    #[error("bad --horizon or --step-s")]
    Horizon(#[source] HorizonError),
    /// The model cannot be loaded.
    #[error("--model")]
    Model(#[source] ModelError),
    /// Some trace files were used to train the model.
    #[error(
        "{count} of the trace files were used to train {model} ({examples}); scoring them \
         would not be a held-out evaluation: leave them out, or pass --held-out-only to skip them"
    )]
    TrainedOn {
        /// The model file.
        model: String,
        /// How many files.
        count: usize,
        /// The first few, with their role.
        examples: String,
    },
    /// A path given with `--traces` cannot be listed.
    #[error("--traces")]
    Collect(#[source] TraceFileError),
    /// No trace file under the paths given.
    #[error("no trace files under {paths}")]
    NoFiles {
        /// The paths, comma-separated.
        paths: String,
    },
    /// Nothing scored: no file was usable and long enough.
    #[error(
        "no step scored: {files} files, {skipped} unusable, {too_short} shorter than the warmup \
         ({warmup_s} s) plus the horizon ({horizon_s} s) plus one step"
    )]
    NoSamples {
        /// Files found.
        files: usize,
        /// Files that could not be read or parsed.
        skipped: usize,
        /// Traces too short.
        too_short: usize,
        /// The warmup, seconds.
        warmup_s: f64,
        /// The horizon, seconds.
        horizon_s: f64,
    },
}

impl PredictEvalError {
    /// Whether the command line was at fault (exit status 2) rather than
    /// the traces (1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Horizon(_) | Self::Model(_) | Self::TrainedOn { .. }
        )
    }
}

/// A finished evaluation: the report and what did not go into it.
#[derive(Debug)]
pub struct EvalRun {
    /// The report (its JSON line is the command's last stdout line).
    pub report: EvalReport,
    /// Predictor names in report order: the baselines, then the model.
    pub order: Vec<String>,
    /// Files that could not be read or parsed.
    pub skipped: Vec<TraceFileError>,
    /// Traces too short to score a step.
    pub too_short: Vec<PathBuf>,
    /// Files left out because the model was trained on them
    /// (`--held-out-only`).
    pub trained_on: Vec<PathBuf>,
    /// Mean time of one observe + predict per predictor, microseconds
    /// (wall clock, for information only: not in the JSON).
    pub step_us: BTreeMap<String, f64>,
    /// The learned model's per-step latency percentiles (stderr only).
    pub model_latency: Option<StepLatency>,
}

impl EvalRun {
    /// The table for stderr: skipped files, then the metrics and timings.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for err in &self.skipped {
            let _ = writeln!(out, "skipped: {}", error_chain(err));
        }
        for path in &self.too_short {
            let _ = writeln!(out, "too short: {}", path.display());
        }
        if !self.trained_on.is_empty() {
            let _ = writeln!(
                out,
                "left out: {} files the model was trained or validated on",
                self.trained_on.len()
            );
        }
        out.push_str(&self.report.table(&self.order));
        let timings: Vec<String> = self
            .order
            .iter()
            .filter_map(|name| Some(format!("{name} {:.2}", self.step_us.get(name)?)))
            .collect();
        let _ = writeln!(out, "µs per observe+predict: {}", timings.join(", "));
        if let Some(l) = &self.model_latency {
            let _ = writeln!(
                out,
                "model latency per step (observe + predict) over {} steps: wall p50 {:.1} µs, \
                 p99 {:.1} µs, max {:.1} µs; thread CPU p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
                l.steps,
                l.wall.p50_us,
                l.wall.p99_us,
                l.wall.max_us,
                l.cpu.p50_us,
                l.cpu.p99_us,
                l.cpu.max_us
            );
        }
        out
    }
}

/// `err` and its sources, joined by `": "`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A predictor under evaluation: a baseline, or the learned model timed
/// step by step.
#[derive(Debug)]
enum Slot {
    Plain(Box<dyn Predictor>),
    Timed(Timed),
}

impl Slot {
    fn predictor(&mut self) -> &mut dyn Predictor {
        match self {
            Self::Plain(predictor) => predictor.as_mut(),
            Self::Timed(timed) => timed,
        }
    }
}

/// One predictor's totals.
#[derive(Debug)]
struct Entry {
    slot: Slot,
    metrics: MetricsAccumulator,
    elapsed: Duration,
    steps: u64,
}

/// Runs the evaluation: builds the predictors, reads every trace, walks
/// each predictor over each trace and pools the steps.
pub fn run_predict_eval(options: &PredictEvalOptions) -> Result<EvalRun, PredictEvalError> {
    let step_s = options.parse.step_s;
    let horizon =
        Horizon::from_secs(options.horizon_s, step_s).map_err(PredictEvalError::Horizon)?;
    let config = EvalConfig::new(horizon, step_s);
    let mut entries: Vec<(String, Entry)> = Vec::new();
    let entry = |slot| Entry {
        slot,
        metrics: MetricsAccumulator::new(),
        elapsed: Duration::ZERO,
        steps: 0,
    };
    for baseline in Baseline::ALL {
        let predictor = baseline.build(step_s, &[horizon]);
        entries.push((baseline.name().to_owned(), entry(Slot::Plain(predictor))));
    }
    let model = match &options.model {
        Some(path) => {
            let model = LearnedModel::load(path).map_err(PredictEvalError::Model)?;
            let predictor = model
                .predictor(step_s, &[horizon])
                .map_err(PredictEvalError::Model)?;
            let timed = Timed::new(Box::new(predictor));
            entries.push((MODEL_REPORT_NAME.to_owned(), entry(Slot::Timed(timed))));
            Some(model)
        }
        None => None,
    };
    let files =
        collect_trace_files(&options.traces, &options.filter).map_err(PredictEvalError::Collect)?;
    if files.is_empty() {
        let paths: Vec<String> = options
            .traces
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(PredictEvalError::NoFiles {
            paths: paths.join(", "),
        });
    }
    let mut skipped = Vec::new();
    let mut loaded: Vec<LoadedTrace> = Vec::with_capacity(files.len());
    let mut trained_on: Vec<(PathBuf, TrainingRole)> = Vec::new();
    for file in &files {
        let trace = match load_trace_file(file, &options.parse) {
            Ok(trace) => trace,
            Err(err) => {
                skipped.push(err);
                continue;
            }
        };
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let role = model
            .as_ref()
            .and_then(|m| m.training_role(name.as_deref().unwrap_or(""), &trace.series));
        match role {
            Some(role) => trained_on.push((trace.path, role)),
            None => loaded.push(trace),
        }
    }
    if !trained_on.is_empty() && !options.held_out_only {
        let examples: Vec<String> = trained_on
            .iter()
            .take(3)
            .map(|(path, role)| format!("{}: {}", path.display(), role.as_str()))
            .collect();
        let more = if trained_on.len() > 3 { ", …" } else { "" };
        return Err(PredictEvalError::TrainedOn {
            model: model
                .as_ref()
                .map_or(String::new(), |m| m.path().display().to_string()),
            count: trained_on.len(),
            examples: format!("{}{more}", examples.join(", ")),
        });
    }
    let mut too_short = Vec::new();
    let mut formats: BTreeMap<String, usize> = BTreeMap::new();
    let mut traces = 0;
    for trace in loaded {
        if config.scored_steps(trace.series.len()) == 0 {
            too_short.push(trace.path);
            continue;
        }
        traces += 1;
        *formats.entry(trace.format.as_str().to_owned()).or_default() += 1;
        let walked = trace.series.len().saturating_sub(horizon.steps()) as u64;
        for (_, e) in &mut entries {
            let metrics = &mut e.metrics;
            let predictor = e.slot.predictor();
            let started = Instant::now();
            walk(&trace.series, predictor, &config, |step| {
                metrics.add(step.prediction, step.actual_mbps);
            });
            e.elapsed += started.elapsed();
            e.steps += walked;
        }
    }
    let no_samples = PredictEvalError::NoSamples {
        files: files.len(),
        skipped: skipped.len(),
        too_short: too_short.len(),
        warmup_s: WARMUP_S,
        horizon_s: options.horizon_s,
    };
    let mut predictors = BTreeMap::new();
    let mut step_us = BTreeMap::new();
    let model_latency = entries.iter_mut().find_map(|(_, e)| match &mut e.slot {
        Slot::Timed(timed) => timed.latency(),
        Slot::Plain(_) => None,
    });
    let mut best: Option<(String, f64)> = None;
    for (name, e) in &entries {
        let Some(metrics) = e.metrics.finish() else {
            return Err(no_samples);
        };
        let is_baseline = name != MODEL_REPORT_NAME;
        if is_baseline && best.as_ref().is_none_or(|(_, mape)| metrics.mape < *mape) {
            best = Some((name.clone(), metrics.mape));
        }
        predictors.insert(name.clone(), PredictorReport::new(&metrics, traces));
        let steps = e.steps.max(1) as f64;
        step_us.insert(name.clone(), e.elapsed.as_secs_f64() * 1e6 / steps);
    }
    let (best_baseline, best_mape) = best.ok_or(no_samples)?;
    let model_mape_reduction = predictors
        .get(MODEL_REPORT_NAME)
        .map(|model| 1.0 - model.mape / best_mape);
    let samples = predictors.get(&best_baseline).map_or(0, |r| r.samples);
    let report = EvalReport {
        horizon_s: options.horizon_s,
        step_s,
        warmup_s: config.warmup_steps as f64 * step_s,
        traces,
        samples,
        traces_too_short: too_short.len(),
        files_skipped: skipped.len(),
        formats,
        best_baseline,
        model_mape_reduction,
        model_files_excluded: model.as_ref().map(|_| trained_on.len()),
        predictors,
    };
    Ok(EvalRun {
        report,
        order: entries.into_iter().map(|(name, _)| name).collect(),
        skipped,
        too_short,
        trained_on: trained_on.into_iter().map(|(path, _)| path).collect(),
        step_us,
        model_latency,
    })
}
