//! The `predict-eval` report: one JSON object, and a table for people.

use super::metrics::Metrics;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The metrics of one predictor over every scored step
/// (docs/prediction.md defines each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorReport {
    /// Mean capped relative error, in `[0, 1]`.
    pub mape: f64,
    /// `1 − mape`.
    pub one_minus_mape: f64,
    /// Fraction of predictions within ±20 % of the outcome.
    pub within_20pct: f64,
    /// Root mean square error, Mbit/s.
    pub rmse_mbps: f64,
    /// Fraction of outcomes inside the band.
    pub band_coverage: f64,
    /// Mean band width, Mbit/s.
    pub band_mean_width_mbps: f64,
    /// Steps with no prediction (scored as 0 Mbit/s).
    pub unanswered: u64,
    /// Traces with at least one scored step.
    pub traces: usize,
    /// Steps scored.
    pub samples: u64,
}

impl PredictorReport {
    /// The report of `metrics` over `traces` traces.
    pub fn new(metrics: &Metrics, traces: usize) -> Self {
        Self {
            mape: metrics.mape,
            one_minus_mape: metrics.one_minus_mape,
            within_20pct: metrics.within_20pct,
            rmse_mbps: metrics.rmse_mbps,
            band_coverage: metrics.band_coverage,
            band_mean_width_mbps: metrics.band_mean_width_mbps,
            unanswered: metrics.unanswered,
            traces,
            samples: metrics.samples,
        }
    }
}

/// What `predict-eval` prints as its last stdout line, as one JSON object.
/// Field names are part of the command's interface (docs/prediction.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The horizon, seconds.
    pub horizon_s: f64,
    /// The step of the series, seconds.
    pub step_s: f64,
    /// History before the first scored step, seconds.
    pub warmup_s: f64,
    /// Traces with at least one scored step.
    pub traces: usize,
    /// Steps scored (per predictor; every predictor scores the same steps).
    pub samples: u64,
    /// Traces read but shorter than warmup + horizon + 1 step.
    pub traces_too_short: usize,
    /// Files that could not be read or parsed (listed on stderr).
    pub files_skipped: usize,
    /// Scored traces by detected format (`seconds-mbps`, `mahimahi`, `csv`).
    pub formats: BTreeMap<String, usize>,
    /// The baseline with the lowest `mape` (the first in report order on a
    /// tie).
    pub best_baseline: String,
    /// `1 − model.mape / best_baseline.mape`, when a model was evaluated:
    /// the target is ≥ 0.15 at 30 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_mape_reduction: Option<f64>,
    /// With a model and `--held-out-only`: files left out because the
    /// model was trained or validated on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_files_excluded: Option<usize>,
    /// Each predictor's metrics, by name (`model` for the learned one).
    pub predictors: BTreeMap<String, PredictorReport>,
}

impl EvalReport {
    /// The report as one line of JSON, without the newline.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a report of numbers and strings serializes")
    }

    /// The report as a table, one predictor per line, in `order`.
    pub fn table(&self, order: &[String]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "horizon {} s, step {} s, warmup {} s: {} traces, {} scored steps \
             ({} traces too short, {} files skipped)",
            self.horizon_s,
            self.step_s,
            self.warmup_s,
            self.traces,
            self.samples,
            self.traces_too_short,
            self.files_skipped
        );
        let _ = writeln!(
            out,
            "{:<14} {:>7} {:>7} {:>7} {:>10} {:>8} {:>11}",
            "predictor", "1-MAPE", "MAPE", "±20%", "RMSE Mb/s", "band cov", "band Mb/s"
        );
        for name in order {
            let Some(r) = self.predictors.get(name) else {
                continue;
            };
            let best = if *name == self.best_baseline {
                " (best baseline)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "{:<14} {:>7.3} {:>7.3} {:>7.3} {:>10.3} {:>8.3} {:>11.3}{best}",
                name,
                r.one_minus_mape,
                r.mape,
                r.within_20pct,
                r.rmse_mbps,
                r.band_coverage,
                r.band_mean_width_mbps
            );
        }
        out
    }
}
