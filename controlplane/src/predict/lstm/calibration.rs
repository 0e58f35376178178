//! Calibrating a trained model's band on held-out trace files: the
//! conformal margins stored in the model file.
//!
//! # Design
//!
//! After training, the model is run (by the predictor the control plane
//! runs, [`LstmPredictor`]) over the **calibration files**: whole trace
//! files that were neither trained on nor are test files
//! ([`split`](crate::predict::split)). Every step the evaluation would
//! score (after the 10 s warm-up, with the horizon still inside the trace)
//! gives, per model horizon, the raw band (log ratios to the window's
//! level), a volatility statistic and the outcome.
//!
//! The band is calibrated by **Mondrian conformalized quantile
//! regression** (Romano et al. 2019; Vovk et al. 2005). The conformity
//! score of a step is `max(lower − y, y − upper)` (`y` the outcome's log
//! ratio). Steps are put in [`CALIBRATION_BINS`] bins of equal count by
//! the statistic ([`CalibrationStatistic`]), and each bin's margin is the
//! `⌈(n + 1) · c⌉`-th smallest of its `n` scores, `c` the target coverage.
//! The band is then `[lower − m, upper + m]` with the margin `m` of the
//! bin the current statistic falls in. Binning by volatility calibrates a
//! calm fixed link and a volatile cellular one separately without knowing
//! which family a link is, and a link more volatile than anything
//! calibrated gets the margin of the most volatile bin.
//!
//! Nothing here looks at test files; the constants (bins, statistic,
//! coverage) were chosen on the calibration files (docs/prediction.md
//! §8.1).

use super::file::{CheckedModel, FileProblem};
use super::predictor::LstmPredictor;
use crate::predict::band::quantile_sorted;
use crate::predict::eval::EvalConfig;
use crate::predict::lstm::inputs::log_ratio;
use crate::predict::{Horizon, LinkSample, Predictor, ThroughputSeries};
use serde::{Deserialize, Serialize};

/// The online correction's step the trainer writes: 0.02 in log ratio
/// (2 % of band per miss), chosen a priori: small against the margins
/// (0 to 0.13) so that a link like the calibration files keeps them, large
/// enough to move a band by 0.1 within some ten misses.
pub const ONLINE_STEP_LOG: f64 = 0.02;
/// The largest online step a model file may carry.
pub const ONLINE_STEP_LOG_MAX: f64 = 1.0;

/// The `method` of a [`BandCalibration`].
pub const CALIBRATION_METHOD: &str = "mondrian_cqr";
/// Bins of the Mondrian calibration (equal counts of calibration steps).
pub const CALIBRATION_BINS: usize = 4;
/// The most bins a model file may have per horizon.
pub const CALIBRATION_BINS_MAX: usize = 64;

/// What the calibration bins steps by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibrationStatistic {
    /// The coefficient of variation of the last 30 s:
    /// `std_30s / (mean_30s + φ)`.
    Cv30s,
    /// The width of the raw band of the horizon, in log ratio.
    BandWidthLog,
}

impl CalibrationStatistic {
    /// The name in model files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cv30s => "cv_30s",
            Self::BandWidthLog => "band_width_log",
        }
    }

    /// The statistic called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "cv_30s" => Some(Self::Cv30s),
            "band_width_log" => Some(Self::BandWidthLog),
            _ => None,
        }
    }

    /// Its value at a step with raw outputs `raw` and the 30 s coefficient
    /// of variation `cv_30s`.
    pub fn value(self, raw: &RawOutputs, cv_30s: f64) -> f64 {
        match self {
            Self::Cv30s => cv_30s,
            Self::BandWidthLog => raw.upper - raw.lower,
        }
    }
}

/// The statistic the trainer calibrates with.
pub const CALIBRATION_STATISTIC: CalibrationStatistic = CalibrationStatistic::Cv30s;

/// The network's outputs for one horizon, log ratios to the level.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RawOutputs {
    /// The 10 % quantile (before calibration).
    pub lower: f64,
    /// The 90 % quantile (before calibration).
    pub upper: f64,
    /// The point forecast.
    pub point: f64,
}

/// The band's conformal margins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandCalibration {
    /// [`CALIBRATION_METHOD`].
    pub method: String,
    /// A [`CalibrationStatistic`] name.
    pub statistic: String,
    /// The coverage aimed at.
    pub coverage: f64,
    /// Per horizon, the bins' boundaries, ascending (one fewer than bins):
    /// a statistic `s` is in the first bin whose boundary is `≥ s`, or the
    /// last.
    pub bin_edges: Vec<Vec<f64>>,
    /// Per horizon, per bin, how far the band is widened on each side, in
    /// log ratio (negative narrows).
    pub margins_log: Vec<Vec<f64>>,
    /// Per horizon, the calibration steps the margins came from.
    pub steps: Vec<usize>,
    /// The online correction's step `η`, log ratio
    /// ([`tracker`](super::tracker)); 0 (or left out): none.
    #[serde(default)]
    pub online_step_log: f64,
}

impl BandCalibration {
    /// No calibration: one bin, no margin, for `horizons` horizons.
    pub fn none(horizons: usize) -> Self {
        Self {
            method: CALIBRATION_METHOD.to_owned(),
            statistic: CALIBRATION_STATISTIC.as_str().to_owned(),
            coverage: 0.0,
            bin_edges: vec![Vec::new(); horizons],
            margins_log: vec![vec![0.0]; horizons],
            steps: vec![0; horizons],
            online_step_log: 0.0,
        }
    }

    /// Checks the calibration of a model with `horizons` horizons.
    pub fn check(&self, horizons: usize) -> Result<CalibrationStatistic, FileProblem> {
        if self.method != CALIBRATION_METHOD {
            return Err(FileProblem::Incompatible(format!(
                "band calibration {:?}, this build reads {CALIBRATION_METHOD:?}",
                self.method
            )));
        }
        let statistic = CalibrationStatistic::from_name(&self.statistic).ok_or_else(|| {
            FileProblem::Incompatible(format!(
                "unknown calibration statistic {:?}",
                self.statistic
            ))
        })?;
        let corrupt = |what: &str| FileProblem::Corrupt(format!("band_calibration: {what}"));
        if self.bin_edges.len() != horizons
            || self.margins_log.len() != horizons
            || self.steps.len() != horizons
        {
            return Err(corrupt("one entry per horizon"));
        }
        for (edges, margins) in self.bin_edges.iter().zip(&self.margins_log) {
            if margins.len() != edges.len() + 1 || margins.len() > CALIBRATION_BINS_MAX {
                return Err(corrupt("one margin more than boundaries, at most 64"));
            }
            if edges.iter().chain(margins).any(|v| !v.is_finite())
                || edges.windows(2).any(|w| w[0] > w[1])
            {
                return Err(corrupt("finite margins and ascending boundaries"));
            }
        }
        if !(0.0..=1.0).contains(&self.coverage) {
            return Err(corrupt("a coverage in 0..=1"));
        }
        if !(0.0..=ONLINE_STEP_LOG_MAX).contains(&self.online_step_log) {
            return Err(corrupt("an online step in 0..=1"));
        }
        Ok(statistic)
    }

    /// The margin of horizon `k` at the statistic `value`.
    pub fn margin(&self, k: usize, value: f64) -> f64 {
        let edges = &self.bin_edges[k];
        let bin = edges.partition_point(|&edge| edge < value);
        self.margins_log[k][bin]
    }
}

/// One scored step of one horizon, as the calibration sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationStep {
    /// The network's outputs.
    pub raw: RawOutputs,
    /// The 30 s coefficient of variation.
    pub cv_30s: f64,
    /// The window's level, Mbit/s.
    pub level_mbps: f64,
    /// The outcome (mean over the horizon), Mbit/s.
    pub actual_mbps: f64,
    /// The outcome's log ratio to the level.
    pub actual_log: f64,
}

/// Per model horizon, the steps of `series` the evaluation would score,
/// as `model` (its calibration ignored) sees them.
pub fn collect_steps(model: &CheckedModel, series: &ThroughputSeries) -> Vec<Vec<CalibrationStep>> {
    let horizons = &model.file.horizons_steps;
    let mut steps = vec![Vec::new(); horizons.len()];
    let longest = horizons[horizons.len() - 1];
    let Ok(longest) = Horizon::from_steps(longest) else {
        return steps;
    };
    let warmup = EvalConfig::new(longest, series.step_s()).warmup_steps;
    let mut predictor = LstmPredictor::new(model, series.step_s());
    let floor = model.spec.level_floor_mbps();
    let samples = series.mbps();
    let mut prefix = Vec::with_capacity(samples.len() + 1);
    prefix.push(0.0);
    for &x in samples {
        prefix.push(prefix[prefix.len() - 1] + x);
    }
    for (t, &mbps) in samples.iter().enumerate() {
        if t + horizons[0] >= samples.len() {
            break;
        }
        predictor.observe(&LinkSample::throughput_only(mbps));
        if t + 1 < warmup {
            continue;
        }
        let state = predictor.raw_state();
        for (k, &h) in horizons.iter().enumerate() {
            if t + h >= samples.len() {
                continue;
            }
            let actual_mbps = (prefix[t + h + 1] - prefix[t + 1]) / h as f64;
            steps[k].push(CalibrationStep {
                raw: state.raw[k],
                cv_30s: state.cv_30s,
                level_mbps: state.level_mbps,
                actual_mbps,
                actual_log: log_ratio(actual_mbps, state.level_mbps, floor),
            });
        }
    }
    steps
}

/// The conformal margin: the `⌈(n + 1) · coverage⌉`-th smallest score (the
/// largest when that is past the end); 0 without scores.
pub fn conformal_margin(mut scores: Vec<f64>, coverage: f64) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.sort_by(f64::total_cmp);
    let n = scores.len();
    // A rank in 1..=n+1, well inside usize.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((n as f64 + 1.0) * coverage).ceil().max(1.0) as usize;
    scores[rank.min(n) - 1]
}

/// Bins and margins of one horizon's `steps` for `statistic`.
pub fn fit_bins(
    steps: &[CalibrationStep],
    statistic: CalibrationStatistic,
    bins: usize,
    coverage: f64,
) -> (Vec<f64>, Vec<f64>) {
    assert!(
        (1..=CALIBRATION_BINS_MAX).contains(&bins),
        "1..={CALIBRATION_BINS_MAX} bins"
    );
    let value = |s: &CalibrationStep| statistic.value(&s.raw, s.cv_30s);
    let mut values: Vec<f64> = steps.iter().map(value).collect();
    if values.is_empty() {
        return (Vec::new(), vec![0.0]);
    }
    values.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..bins)
        .map(|b| quantile_sorted(&values, b as f64 / bins as f64))
        .collect();
    edges.dedup();
    let mut scores = vec![Vec::new(); edges.len() + 1];
    for s in steps {
        let bin = edges.partition_point(|&edge| edge < value(s));
        scores[bin].push((s.raw.lower - s.actual_log).max(s.actual_log - s.raw.upper));
    }
    let margins = scores
        .into_iter()
        .map(|s| conformal_margin(s, coverage))
        .collect();
    (edges, margins)
}

/// The band calibration of `model` fitted on the steps of `series` (the
/// calibration files), aiming at `coverage`.
pub fn calibrate(
    model: &CheckedModel,
    series: &[ThroughputSeries],
    coverage: f64,
) -> BandCalibration {
    let horizons = model.file.horizons_steps.len();
    let mut steps = vec![Vec::new(); horizons];
    for s in series {
        for (all, more) in steps.iter_mut().zip(collect_steps(model, s)) {
            all.extend(more);
        }
    }
    let mut band = BandCalibration::none(horizons);
    band.coverage = coverage;
    band.online_step_log = ONLINE_STEP_LOG;
    for (k, s) in steps.iter().enumerate() {
        let (edges, margins) = fit_bins(s, CALIBRATION_STATISTIC, CALIBRATION_BINS, coverage);
        band.bin_edges[k] = edges;
        band.margins_log[k] = margins;
        band.steps[k] = s.len();
    }
    band
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(lower: f64, upper: f64, actual_log: f64, cv: f64) -> CalibrationStep {
        CalibrationStep {
            raw: RawOutputs {
                lower,
                upper,
                point: 0.0,
            },
            cv_30s: cv,
            level_mbps: 1.0,
            actual_mbps: 1.0,
            actual_log,
        }
    }

    #[test]
    fn the_margin_is_the_conformal_rank() {
        let scores: Vec<f64> = (1..=9).map(f64::from).collect();
        // ⌈10 × 0.8⌉ = 8th smallest.
        assert_eq!(conformal_margin(scores.clone(), 0.8), 8.0);
        assert_eq!(
            conformal_margin(scores, 1.0),
            9.0,
            "past the end: the largest"
        );
        assert_eq!(conformal_margin(Vec::new(), 0.8), 0.0);
    }

    #[test]
    fn calm_and_volatile_steps_get_their_own_margins() {
        // Calm steps (cv 0.1) always land inside the raw band, volatile
        // ones (cv 1.0) 0.5 outside it.
        let mut steps: Vec<CalibrationStep> = (0..100).map(|_| step(-0.1, 0.1, 0.0, 0.1)).collect();
        steps.extend((0..100).map(|_| step(-0.1, 0.1, 0.6, 1.0)));
        let (edges, margins) = fit_bins(&steps, CalibrationStatistic::Cv30s, 2, 0.8);
        assert_eq!(edges.len(), 1);
        assert!((margins[0] - -0.1).abs() < 1e-12, "{margins:?}");
        assert!((margins[1] - 0.5).abs() < 1e-12, "{margins:?}");
        let mut band = BandCalibration::none(1);
        band.bin_edges[0] = edges;
        band.margins_log[0] = margins.clone();
        assert_eq!(band.margin(0, 0.05), margins[0]);
        assert_eq!(
            band.margin(0, 5.0),
            margins[1],
            "beyond the calibrated: the last bin"
        );
        assert!(band.check(1).is_ok());
    }

    #[test]
    fn bad_calibrations_are_refused() {
        let mut band = BandCalibration::none(2);
        assert!(band.check(2).is_ok());
        assert!(matches!(band.check(3), Err(FileProblem::Corrupt(_))));
        band.margins_log[1] = vec![f64::NAN];
        assert!(matches!(band.check(2), Err(FileProblem::Corrupt(_))));
        let mut other = BandCalibration::none(1);
        other.method = "isotonic".into();
        assert!(matches!(other.check(1), Err(FileProblem::Incompatible(_))));
    }
}
