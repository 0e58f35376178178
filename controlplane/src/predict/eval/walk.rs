//! The causal walk over one series.

use crate::predict::{Horizon, LinkSample, Prediction, Predictor, ThroughputSeries};

/// History a predictor gets before its first scored step: 10 s.
pub const WARMUP_S: f64 = 10.0;

/// What an evaluation scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalConfig {
    /// How far ahead each prediction looks.
    pub horizon: Horizon,
    /// Samples observed before the first scored step (at least 1).
    pub warmup_steps: usize,
}

impl EvalConfig {
    /// `horizon` with the warmup of [`WARMUP_S`] in steps of `step_s`
    /// (`ceil(WARMUP_S / step_s)`, at least 1).
    pub fn new(horizon: Horizon, step_s: f64) -> Self {
        let steps = (WARMUP_S / step_s).ceil().max(1.0);
        // Bounded by the step range: at most 10 / 0.01 = 1000.
        #[allow(clippy::cast_possible_truncation)]
        let warmup_steps = steps as usize;
        Self {
            horizon,
            warmup_steps,
        }
    }

    /// The steps scored on a series of `len` samples: `len − warmup − h + 1`
    /// when positive.
    pub fn scored_steps(&self, len: usize) -> usize {
        (len + 1).saturating_sub(self.warmup_steps + self.horizon.steps())
    }
}

/// One scored step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredStep {
    /// Index of the last sample the predictor had observed.
    pub t: usize,
    /// Its answer for the mean over samples `t+1 ..= t+h`.
    pub prediction: Option<Prediction>,
    /// That mean, Mbit/s.
    pub actual_mbps: f64,
}

/// Walks `series` causally: resets `predictor`, feeds it sample `t`, and
/// once it has seen `warmup_steps` samples and `h` samples remain, asks
/// for the mean of samples `t+1 ..= t+h` and hands the answer and the
/// outcome to `on_step`. The predictor is never given a sample after `t`
/// before it answers for `t`: it gets samples only through
/// [`Predictor::observe`], one at a time, in order.
pub fn walk(
    series: &ThroughputSeries,
    predictor: &mut dyn Predictor,
    config: &EvalConfig,
    mut on_step: impl FnMut(ScoredStep),
) {
    assert!(
        config.warmup_steps >= 1,
        "the warmup is at least one sample"
    );
    let samples = series.mbps();
    let h = config.horizon.steps();
    predictor.reset();
    for (t, &mbps) in samples.iter().enumerate() {
        if t + h >= samples.len() {
            break;
        }
        predictor.observe(&LinkSample::throughput_only(mbps));
        if t + 1 < config.warmup_steps {
            continue;
        }
        let prediction = predictor.predict(config.horizon);
        // Summed afresh (h ≤ Horizon::STEPS_MAX) so that no rounding error
        // carries from step to step.
        let future = &samples[t + 1..=t + h];
        let actual_mbps = future.iter().sum::<f64>() / h as f64;
        on_step(ScoredStep {
            t,
            prediction,
            actual_mbps,
        });
    }
}
