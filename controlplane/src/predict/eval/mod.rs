//! Causal evaluation of predictors on traces.
//!
//! # Design
//!
//! [`walk()`] is the one place where a predictor meets a series. It resets
//! the predictor, then for each step `t` feeds sample `t` through
//! [`Predictor::observe`](crate::predict::Predictor::observe); once the
//! predictor has seen [`WARMUP_S`] of history and `h` samples remain, it
//! asks for the mean over samples `t+1 ..= t+h` and scores the answer
//! against that mean. The predictor holds no reference to the series, so
//! it cannot see a sample before it is fed.
//!
//! Scoring ([`MetricsAccumulator`], docs/prediction.md), with `p` the
//! prediction and `a` the outcome:
//!
//! - `mape`: mean of `min(1, |p − a| / a)`; with `a = 0` the term is 0
//!   when `p = 0`, else 1. `one_minus_mape = 1 − mape`.
//! - `within_20pct`: fraction with `|p − a| ≤ 0.2 a`.
//! - `rmse_mbps`: `sqrt(mean((p − a)²))`.
//! - `band_coverage`: fraction with `lower ≤ a ≤ upper`.
//!
//! Every scored step weighs the same (steps are pooled across traces), and
//! no step is skipped: a step with `a = 0` is defined by the cap, and a
//! step the predictor does not answer is scored as a prediction of 0 with
//! the band `[0, 0]`.
//!
//! [`run_predict_eval`] is the `predict-eval` command without its clap
//! shell: it reads the trace files, runs every baseline (and the model)
//! and builds the [`EvalReport`].

mod command;
mod metrics;
mod report;
mod timed;
mod walk;

pub use command::{error_chain, run_predict_eval, EvalRun, PredictEvalError, PredictEvalOptions};
pub use metrics::{
    capped_relative_error, is_within_20pct, Metrics, MetricsAccumulator, WITHIN_TOLERANCE,
};
pub use report::{EvalReport, PredictorReport};
pub use timed::{Percentiles, StepLatency, Timed};
pub use walk::{walk, EvalConfig, ScoredStep, WARMUP_S};
