//! The baselines on synthetic series with known answers (constant, step
//! change, linear trend, hand-computed means), their bands, and the
//! horizon and prediction types they use.

use dwcp_controlplane::predict::baselines::{
    alpha_for_step, damped_trend_steps, Baseline, Ewma, HarmonicMean, Holt, HoltParams, LastValue,
    WindowMean, EWMA_ALPHA_1S,
};
use dwcp_controlplane::predict::{
    Banded, Horizon, HorizonError, LinkSample, PointForecaster, Prediction, Predictor,
    BAND_MIN_RESIDUALS, COLD_BAND_FACTORS,
};

fn h(steps: usize) -> Horizon {
    Horizon::from_steps(steps).expect("a valid horizon")
}

fn feed(f: &mut dyn PointForecaster, samples: &[f64]) {
    for &x in samples {
        f.observe(x);
    }
}

fn feed_predictor(p: &mut dyn Predictor, samples: &[f64]) {
    for &x in samples {
        p.observe(&LinkSample::throughput_only(x));
    }
}

fn forecast(f: &dyn PointForecaster, steps: usize) -> f64 {
    f.forecast(h(steps)).expect("a forecast after a sample")
}

fn assert_close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

#[test]
fn every_baseline_is_exact_on_a_constant_series() {
    let horizons = [h(5), h(30)];
    for baseline in Baseline::ALL {
        let mut p = baseline.build(1.0, &horizons);
        assert_eq!(p.name(), baseline.name());
        assert_eq!(
            p.predict(h(5)),
            None,
            "{}: no prediction before a sample",
            p.name()
        );
        feed_predictor(p.as_mut(), &[8.0; 100]);
        for horizon in horizons {
            let prediction = p.predict(horizon).expect("a prediction");
            assert_eq!(prediction, Prediction::new(8.0, 8.0, 8.0), "{}", p.name());
        }
    }
}

#[test]
fn baseline_names_are_distinct() {
    let mut names: Vec<&str> = Baseline::ALL.iter().map(|b| b.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Baseline::ALL.len());
}

#[test]
fn last_value_follows_a_step_at_once() {
    let mut f = LastValue::new();
    assert_eq!(f.forecast(h(1)), None);
    feed(&mut f, &[4.0, 4.0, 12.0]);
    assert_eq!(forecast(&f, 30), 12.0);
    f.reset();
    assert_eq!(f.forecast(h(1)), None);
}

#[test]
fn ewma_decays_geometrically_after_a_step() {
    let mut f = Ewma::for_step(1.0);
    assert_eq!(f.alpha(), EWMA_ALPHA_1S);
    feed(&mut f, &[4.0; 10]);
    assert_eq!(forecast(&f, 5), 4.0);
    for k in 1..=20 {
        f.observe(12.0);
        // 12 + (4 − 12)(1 − α)^k.
        let want = 12.0 - 8.0 * (1.0 - EWMA_ALPHA_1S).powi(k);
        assert_close(forecast(&f, 5), want);
    }
}

#[test]
fn ewma_keeps_its_time_constant_at_other_steps() {
    let five = Ewma::for_step(5.0);
    assert_close(five.alpha(), 1.0 - 0.875_f64.powi(5));
    assert_close(alpha_for_step(0.125, 1.0), 0.125);
    // Five 1 s steps of 12 after 4 move it as far as one 5 s step.
    let mut one_s = Ewma::for_step(1.0);
    let mut five_s = Ewma::for_step(5.0);
    one_s.observe(4.0);
    five_s.observe(4.0);
    feed(&mut one_s, &[12.0; 5]);
    five_s.observe(12.0);
    assert_close(forecast(&one_s, 1), forecast(&five_s, 1));
}

#[test]
fn harmonic_mean_of_the_last_five() {
    let mut f = HarmonicMean::default();
    feed(&mut f, &[1.0, 2.0, 4.0]);
    assert_close(forecast(&f, 1), 3.0 / 1.75);
    // Six samples: the window is 2, 4, 8, 8, 8.
    feed(&mut f, &[8.0, 8.0, 8.0]);
    assert_close(forecast(&f, 1), 5.0 / (0.5 + 0.25 + 3.0 / 8.0));
    f.observe(0.0);
    assert_eq!(
        forecast(&f, 1),
        0.0,
        "a zero sample makes the harmonic mean 0"
    );
}

#[test]
fn window_mean_looks_back_as_far_as_the_horizon() {
    let mut f = WindowMean::new(h(5));
    feed(&mut f, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
    assert_close(forecast(&f, 3), 9.0);
    assert_close(forecast(&f, 5), 8.0);
    // Longer than it keeps: the last five.
    assert_close(forecast(&f, 60), 8.0);
    let mut young = WindowMean::new(h(5));
    feed(&mut young, &[2.0, 4.0]);
    assert_close(forecast(&young, 5), 3.0);
}

#[test]
fn undamped_holt_is_exact_on_a_line() {
    let mut f = Holt::new(HoltParams {
        phi: 1.0,
        ..HoltParams::DEFAULT_1S
    });
    // x_t = 2 + 0.5 t for t = 0..=9, ending at 6.5.
    let line: Vec<f64> = (0..10).map(|t| 2.0 + 0.5 * f64::from(t)).collect();
    feed(&mut f, &line);
    // Mean of 7, 7.5, 8, 8.5 = 6.5 + 0.5 × 2.5.
    assert_close(forecast(&f, 4), 7.75);
    assert_close(forecast(&f, 1), 7.0);
}

#[test]
fn damped_holt_extrapolates_less_and_never_below_zero() {
    assert_close(damped_trend_steps(0.5, 2), 0.625);
    assert_close(damped_trend_steps(1.0, 30), 15.5);
    for steps in 1..=60 {
        let brute: f64 = (1..=steps)
            .map(|i| (1..=i).map(|j| 0.9_f64.powi(j)).sum::<f64>())
            .sum::<f64>()
            / f64::from(steps);
        let steps_usize = usize::try_from(steps).expect("small");
        assert_close(damped_trend_steps(0.9, steps_usize), brute);
    }
    let params = HoltParams {
        alpha: 1.0,
        beta: 1.0,
        phi: 0.5,
    };
    let mut f = Holt::new(params);
    // α = β = 1: level = last sample, trend = last difference.
    feed(&mut f, &[10.0, 12.0, 14.0]);
    assert_close(forecast(&f, 2), 14.0 + 2.0 * 0.625);
    feed(&mut f, &[6.0, 1.0]);
    assert_eq!(forecast(&f, 30), 0.0, "a falling trend is clamped at 0");
    assert_eq!(Holt::for_step(1.0).params(), HoltParams::DEFAULT_1S);
}

#[test]
fn the_band_is_cold_then_follows_the_quantiles_of_the_ratios() {
    let mut p = Banded::new(LastValue::new(), &[h(1)]);
    // 1, 2, 1, 2, …: after a 1 the next is 2 (ratio 2), after a 2 it is 1
    // (ratio 0.5).
    let alternating: Vec<f64> = (0..400)
        .map(|i| if i % 2 == 0 { 1.0 } else { 2.0 })
        .collect();
    feed_predictor(&mut p, &alternating[..5]);
    let band = p.band(h(1)).expect("a tracked horizon");
    assert!(!band.is_calibrated());
    assert_eq!(band.factors(), COLD_BAND_FACTORS);
    // The 5th sample is a 1.
    assert_eq!(p.predict(h(1)), Some(Prediction::new(1.0, 0.5, 1.5)));
    p.reset();
    feed_predictor(&mut p, &alternating[..BAND_MIN_RESIDUALS + 1]);
    assert!(p.band(h(1)).expect("tracked").is_calibrated());
    feed_predictor(&mut p, &alternating[BAND_MIN_RESIDUALS + 1..]);
    assert_eq!(p.band(h(1)).expect("tracked").factors(), (0.5, 2.0));
    // The last sample is a 2: band [1, 4].
    assert_eq!(p.predict(h(1)), Some(Prediction::new(2.0, 1.0, 4.0)));
    // A horizon that was not tracked gets the cold band.
    assert_eq!(p.predict(h(7)), Some(Prediction::new(2.0, 1.0, 3.0)));
}

#[test]
fn the_band_of_a_long_horizon_waits_for_its_outcomes() {
    let mut p = Banded::new(LastValue::new(), &[h(30)]);
    // The first ratio is known only 30 samples after the first forecast.
    feed_predictor(&mut p, &[3.0; 30 + BAND_MIN_RESIDUALS - 1]);
    assert!(!p.band(h(30)).expect("tracked").is_calibrated());
    p.observe(&LinkSample::throughput_only(3.0));
    assert!(p.band(h(30)).expect("tracked").is_calibrated());
    assert_eq!(p.predict(h(30)), Some(Prediction::new(3.0, 3.0, 3.0)));
}

#[test]
fn reset_forgets_everything() {
    for baseline in Baseline::ALL {
        let mut p = baseline.build(1.0, &[h(5)]);
        feed_predictor(p.as_mut(), &[1.0, 50.0, 3.0, 80.0, 2.0, 9.0, 7.0]);
        p.reset();
        assert_eq!(p.predict(h(5)), None, "{}", p.name());
        let mut fresh = baseline.build(1.0, &[h(5)]);
        feed_predictor(p.as_mut(), &[5.0, 6.0]);
        feed_predictor(fresh.as_mut(), &[5.0, 6.0]);
        assert_eq!(p.predict(h(5)), fresh.predict(h(5)), "{}", p.name());
    }
}

#[test]
fn bad_samples_are_ignored() {
    for baseline in Baseline::ALL {
        let mut p = baseline.build(1.0, &[h(5)]);
        feed_predictor(p.as_mut(), &[3.0, 4.0, 5.0]);
        let before = p.predict(h(5));
        feed_predictor(p.as_mut(), &[f64::NAN, f64::INFINITY, -1.0]);
        assert_eq!(p.predict(h(5)), before, "{}", p.name());
    }
}

#[test]
fn predictions_keep_their_invariant() {
    let p = Prediction::new(5.0, 6.0, 4.0);
    assert_eq!((p.lower, p.mbps, p.upper), (5.0, 5.0, 5.0));
    let p = Prediction::new(-1.0, -3.0, 2.0);
    assert_eq!((p.lower, p.mbps, p.upper), (0.0, 0.0, 2.0));
    let p = Prediction::new(5.0, 4.0, 6.0);
    assert!(p.covers(4.0) && p.covers(6.0) && !p.covers(6.5) && !p.covers(3.9));
}

#[test]
fn horizons_are_whole_steps_within_bounds() {
    assert_eq!(Horizon::from_secs(30.0, 1.0).map(Horizon::steps), Ok(30));
    assert_eq!(Horizon::from_secs(30.0, 0.5).map(Horizon::steps), Ok(60));
    assert_eq!(Horizon::from_secs(30.0, 5.0).map(Horizon::steps), Ok(6));
    assert_eq!(Horizon::from_secs(0.0, 1.0), Err(HorizonError::Zero));
    assert!(matches!(
        Horizon::from_secs(2.5, 1.0),
        Err(HorizonError::NotMultiple { .. })
    ));
    assert!(matches!(
        Horizon::from_secs(-5.0, 1.0),
        Err(HorizonError::NotMultiple { .. })
    ));
    assert!(matches!(
        Horizon::from_secs(1e9, 1.0),
        Err(HorizonError::TooLong { .. })
    ));
    assert!(matches!(
        Horizon::from_secs(30.0, 0.0),
        Err(HorizonError::BadStep { .. })
    ));
    assert!(matches!(
        Horizon::from_secs(30.0, f64::NAN),
        Err(HorizonError::BadStep { .. })
    ));
    assert_eq!(
        Horizon::from_steps(Horizon::STEPS_MAX).map(Horizon::steps),
        Ok(3600)
    );
    assert!(Horizon::from_steps(Horizon::STEPS_MAX + 1).is_err());
}
