//! The evaluation: metric definitions on hand-computed examples, the steps
//! the walk scores, and causality (a predictor only ever sees the past).

use dwcp_controlplane::predict::baselines::Baseline;
use dwcp_controlplane::predict::eval::{
    capped_relative_error, is_within_20pct, walk, EvalConfig, MetricsAccumulator, ScoredStep,
};
use dwcp_controlplane::predict::{Horizon, LinkSample, Prediction, Predictor, ThroughputSeries};
use std::cell::RefCell;

fn h(steps: usize) -> Horizon {
    Horizon::from_steps(steps).expect("a valid horizon")
}

fn series(samples: Vec<f64>) -> ThroughputSeries {
    ThroughputSeries::new(1.0, samples).expect("a valid series")
}

fn scored(
    series: &ThroughputSeries,
    p: &mut dyn Predictor,
    config: &EvalConfig,
) -> Vec<ScoredStep> {
    let mut steps = Vec::new();
    walk(series, p, config, |step| steps.push(step));
    steps
}

#[test]
fn capped_relative_error_by_hand() {
    assert!((capped_relative_error(12.0, 10.0) - 0.2).abs() < 1e-12);
    assert!((capped_relative_error(8.0, 10.0) - 0.2).abs() < 1e-12);
    assert_eq!(capped_relative_error(30.0, 10.0), 1.0, "capped at 1");
    assert_eq!(capped_relative_error(0.0, 10.0), 1.0);
    assert_eq!(
        capped_relative_error(0.0, 0.0),
        0.0,
        "nothing predicted, nothing came"
    );
    assert_eq!(
        capped_relative_error(0.5, 0.0),
        1.0,
        "anything against nothing"
    );
}

#[test]
fn within_20pct_by_hand() {
    assert!(is_within_20pct(12.0, 10.0));
    assert!(is_within_20pct(8.0, 10.0));
    assert!(!is_within_20pct(12.5, 10.0));
    assert!(!is_within_20pct(7.9, 10.0));
    assert!(is_within_20pct(0.0, 0.0));
    assert!(!is_within_20pct(0.1, 0.0));
}

#[test]
fn accumulated_metrics_by_hand() {
    let mut acc = MetricsAccumulator::new();
    assert_eq!(acc.finish(), None);
    // p = 12 in [11, 13], a = 10: error 0.2, within, (−2)² = 4, not covered.
    acc.add(Some(Prediction::new(12.0, 11.0, 13.0)), 10.0);
    // p = 5 in [4, 6], a = 10: error 0.5, not within, 25, not covered.
    acc.add(Some(Prediction::new(5.0, 4.0, 6.0)), 10.0);
    // p = 3 in [0, 5], a = 0: error capped at 1, 9, covered.
    acc.add(Some(Prediction::new(3.0, 0.0, 5.0)), 0.0);
    // No answer, a = 2: scored as 0 with band [0, 0]: error 1, 4.
    acc.add(None, 2.0);
    let m = acc.finish().expect("four steps");
    assert_eq!(m.samples, 4);
    assert_eq!(m.unanswered, 1);
    assert!((m.mape - 2.7 / 4.0).abs() < 1e-12, "{m:?}");
    assert!((m.one_minus_mape - (1.0 - 2.7 / 4.0)).abs() < 1e-12);
    assert!((m.within_20pct - 0.25).abs() < 1e-12);
    assert!((m.rmse_mbps - (42.0_f64 / 4.0).sqrt()).abs() < 1e-12);
    assert!((m.band_coverage - 0.25).abs() < 1e-12);
    assert!((m.band_mean_width_mbps - 9.0 / 4.0).abs() < 1e-12);

    // Merging two halves gives the same totals.
    let mut first = MetricsAccumulator::new();
    first.add(Some(Prediction::new(12.0, 11.0, 13.0)), 10.0);
    first.add(Some(Prediction::new(5.0, 4.0, 6.0)), 10.0);
    let mut second = MetricsAccumulator::new();
    second.add(Some(Prediction::new(3.0, 0.0, 5.0)), 0.0);
    second.add(None, 2.0);
    first.merge(&second);
    assert_eq!(first.finish(), Some(m));
}

#[test]
fn the_warmup_follows_the_step() {
    assert_eq!(EvalConfig::new(h(30), 1.0).warmup_steps, 10);
    assert_eq!(EvalConfig::new(h(60), 0.5).warmup_steps, 20);
    assert_eq!(EvalConfig::new(h(6), 5.0).warmup_steps, 2);
    assert_eq!(EvalConfig::new(h(1), 60.0).warmup_steps, 1);
}

#[test]
fn the_walk_scores_every_step_with_history_and_a_full_horizon() {
    let ramp = series((0..50).map(f64::from).collect());
    let config = EvalConfig::new(h(4), 1.0);
    let mut p = Baseline::LastValue.build(1.0, &[h(4)]);
    let steps = scored(&ramp, p.as_mut(), &config);
    // t from warmup − 1 = 9 to 50 − 1 − 4 = 45.
    assert_eq!(steps.len(), 37);
    assert_eq!(config.scored_steps(50), 37);
    assert_eq!(steps.first().map(|s| s.t), Some(9));
    assert_eq!(steps.last().map(|s| s.t), Some(45));
    for step in &steps {
        let t = step.t as f64;
        // Mean of t+1 ..= t+4 is t + 2.5; the last value seen is t.
        assert_eq!(step.actual_mbps, t + 2.5);
        assert_eq!(step.prediction.map(|p| p.mbps), Some(t));
    }
    // Too short: 13 samples leave no step with 10 of history and 4 ahead.
    assert!(scored(&series(vec![1.0; 13]), p.as_mut(), &config).is_empty());
    assert_eq!(config.scored_steps(13), 0);
    assert_eq!(scored(&series(vec![1.0; 14]), p.as_mut(), &config).len(), 1);
}

/// A predictor that records what it has been given and checks, each time
/// it is asked, that it has seen exactly the past.
#[derive(Debug, Default)]
struct Spy {
    seen: Vec<f64>,
    /// Samples seen at each `predict` call.
    asked_after: RefCell<Vec<usize>>,
}

impl Predictor for Spy {
    fn name(&self) -> &str {
        "spy"
    }

    fn observe(&mut self, sample: &LinkSample) {
        self.seen.push(sample.throughput_mbps);
    }

    fn predict(&self, _horizon: Horizon) -> Option<Prediction> {
        self.asked_after.borrow_mut().push(self.seen.len());
        let last = *self.seen.last()?;
        Some(Prediction::new(last, last, last))
    }

    fn reset(&mut self) {
        self.seen.clear();
    }
}

#[test]
fn a_predictor_has_seen_exactly_the_past_when_asked() {
    let samples: Vec<f64> = (0..40).map(|i| f64::from(i * i % 17)).collect();
    let trace = series(samples.clone());
    let config = EvalConfig::new(h(5), 1.0);
    let mut spy = Spy::default();
    // Leftovers from an earlier walk must be cleared by the walk's reset.
    spy.observe(&LinkSample::throughput_only(1e9));
    let steps = scored(&trace, &mut spy, &config);
    let asked = spy.asked_after.borrow().clone();
    assert_eq!(asked.len(), steps.len());
    for (step, seen) in steps.iter().zip(&asked) {
        assert_eq!(
            *seen,
            step.t + 1,
            "asked at t = {} after {seen} samples",
            step.t
        );
        assert_eq!(step.prediction.map(|p| p.mbps), Some(samples[step.t]));
    }
    // It never received a sample it could only have had from the future:
    // the last one given is the last one a horizon can still be scored for.
    assert_eq!(spy.seen, samples[..samples.len() - 5]);
}

#[test]
fn predictions_do_not_depend_on_the_future() {
    // Same first 60 samples; after that one series jumps 100×.
    let past: Vec<f64> = (0..60).map(|i| 5.0 + f64::from(i % 7)).collect();
    let mut calm = past.clone();
    calm.extend((0..60).map(|i| 5.0 + f64::from(i % 5)));
    let mut wild = past.clone();
    wild.extend((0..60).map(|i| 500.0 + 100.0 * f64::from(i % 3)));
    let horizon = h(30);
    let config = EvalConfig::new(horizon, 1.0);
    for baseline in Baseline::ALL {
        let mut p = baseline.build(1.0, &[horizon]);
        let on_calm = scored(&series(calm.clone()), p.as_mut(), &config);
        let on_wild = scored(&series(wild.clone()), p.as_mut(), &config);
        assert_eq!(on_calm.len(), on_wild.len());
        let mut outcomes_differ = 0;
        for (a, b) in on_calm.iter().zip(&on_wild) {
            if a.t < past.len() {
                assert_eq!(a.prediction, b.prediction, "{} at t = {}", p.name(), a.t);
            } else {
                assert_ne!(a.prediction, b.prediction, "{} at t = {}", p.name(), a.t);
            }
            outcomes_differ += usize::from(a.actual_mbps != b.actual_mbps);
        }
        // The futures differ from t = 30 on, so the test is not vacuous.
        assert_eq!(
            outcomes_differ,
            on_calm.iter().filter(|s| s.t >= 30).count()
        );
    }
}

#[test]
fn a_constant_trace_scores_perfectly() {
    let config = EvalConfig::new(h(30), 1.0);
    for baseline in Baseline::ALL {
        let mut p = baseline.build(1.0, &[h(30)]);
        let mut acc = MetricsAccumulator::new();
        walk(&series(vec![6.0; 200]), p.as_mut(), &config, |s| {
            acc.add(s.prediction, s.actual_mbps);
        });
        let m = acc.finish().expect("scored steps");
        assert_eq!(m.samples, 161);
        // Exact up to rounding (the harmonic mean of 6s is 6 ± 1 ulp).
        assert!(m.mape < 1e-12 && m.rmse_mbps < 1e-12, "{}: {m:?}", p.name());
        assert_eq!(m.within_20pct, 1.0, "{}", p.name());
        assert_eq!(m.band_coverage, 1.0, "{}", p.name());
    }
}
