//! The learned model's input vector: layout, recent statistics, and the
//! defaults and flags of inputs a trace does not record.

use dwcp_controlplane::predict::features::{
    FeatureExtractor, FeatureSet, FEATURE_COUNT, FEATURE_NAMES,
};
use dwcp_controlplane::predict::LinkSample;

fn feature(extractor: &FeatureExtractor, name: &str) -> f32 {
    let vector = extractor.features().expect("features after a sample");
    vector
        .get(name)
        .unwrap_or_else(|| panic!("no feature {name}"))
}

#[test]
fn names_are_distinct_and_cover_the_vector() {
    let mut names = FEATURE_NAMES.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), FEATURE_COUNT);
}

#[test]
fn throughput_statistics_over_5_and_30_seconds() {
    let mut x = FeatureExtractor::new(1.0, FeatureSet::ALL);
    assert_eq!(x.features(), None);
    // 40 samples 1..=40: the last 30 are 11..=40, the last 5 are 36..=40.
    for i in 1..=40 {
        x.observe(&LinkSample::throughput_only(f64::from(i)));
    }
    assert_eq!(feature(&x, "throughput_mbps"), 40.0);
    assert_eq!(feature(&x, "mean_5s_mbps"), 38.0);
    assert_eq!(feature(&x, "mean_30s_mbps"), 25.5);
    assert_eq!(feature(&x, "min_30s_mbps"), 11.0);
    assert_eq!(feature(&x, "max_30s_mbps"), 40.0);
    // Population standard deviation of 30 consecutive integers.
    let want = ((30.0_f64 * 30.0 - 1.0) / 12.0).sqrt();
    assert!((f64::from(feature(&x, "std_30s_mbps")) - want).abs() < 1e-4);
    // 5 s steps: the 30 s window is the last 6 samples.
    let mut coarse = FeatureExtractor::new(5.0, FeatureSet::ALL);
    for i in 1..=10 {
        coarse.observe(&LinkSample::throughput_only(f64::from(i)));
    }
    assert_eq!(feature(&coarse, "mean_30s_mbps"), 7.5);
    assert_eq!(feature(&coarse, "mean_5s_mbps"), 10.0);
}

#[test]
fn missing_inputs_are_zero_with_a_zero_flag() {
    let mut x = FeatureExtractor::new(1.0, FeatureSet::ALL);
    x.observe(&LinkSample::throughput_only(3.0));
    for name in [
        "rtt_ms",
        "loss_percent",
        "jitter_ms",
        "time_of_day_sin",
        "time_of_day_cos",
    ] {
        assert_eq!(feature(&x, name), 0.0, "{name}");
    }
    for name in [
        "rtt_known",
        "loss_known",
        "jitter_known",
        "time_of_day_known",
    ] {
        assert_eq!(feature(&x, name), 0.0, "{name}");
    }
}

fn measured() -> LinkSample {
    LinkSample {
        throughput_mbps: 3.0,
        rtt_ms: Some(40.0),
        loss_percent: Some(0.5),
        jitter_ms: Some(4.0),
        // 06:00 UTC: a quarter of the day.
        time_of_day_s: Some(21_600.0),
    }
}

#[test]
fn measured_inputs_are_used_when_the_model_uses_them() {
    let mut x = FeatureExtractor::new(1.0, FeatureSet::ALL);
    x.observe(&measured());
    assert_eq!(feature(&x, "rtt_ms"), 40.0);
    assert_eq!(feature(&x, "loss_percent"), 0.5);
    assert_eq!(feature(&x, "jitter_ms"), 4.0);
    assert!((feature(&x, "time_of_day_sin") - 1.0).abs() < 1e-6);
    assert!(feature(&x, "time_of_day_cos").abs() < 1e-6);
    for name in [
        "rtt_known",
        "loss_known",
        "jitter_known",
        "time_of_day_known",
    ] {
        assert_eq!(feature(&x, name), 1.0, "{name}");
    }
}

#[test]
fn a_throughput_only_model_never_sees_measured_extras() {
    let mut x = FeatureExtractor::new(1.0, FeatureSet::THROUGHPUT_ONLY);
    x.observe(&measured());
    assert_eq!(feature(&x, "rtt_ms"), 0.0);
    assert_eq!(feature(&x, "rtt_known"), 0.0);
    assert_eq!(feature(&x, "time_of_day_known"), 0.0);
    assert_eq!(feature(&x, "throughput_mbps"), 3.0);
}

#[test]
fn unusable_measurements_count_as_missing() {
    let mut x = FeatureExtractor::new(1.0, FeatureSet::ALL);
    x.observe(&LinkSample {
        rtt_ms: Some(f64::NAN),
        loss_percent: Some(-1.0),
        ..measured()
    });
    assert_eq!(feature(&x, "rtt_known"), 0.0);
    assert_eq!(feature(&x, "loss_known"), 0.0);
    assert_eq!(feature(&x, "jitter_known"), 1.0);
    x.observe(&LinkSample::throughput_only(f64::NAN));
    assert_eq!(
        feature(&x, "throughput_mbps"),
        3.0,
        "a NaN throughput is ignored"
    );
    x.reset();
    assert_eq!(x.features(), None);
}
