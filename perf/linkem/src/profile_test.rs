use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::model::{GilbertElliott, RateConfig};

fn context(scale: Scale, forward_max_bps: u64) -> ResolveContext {
    ResolveContext {
        scale,
        forward_max_bps,
        mtu: 1500,
        traces_dir: PathBuf::from("/nonexistent/traces"),
    }
}

fn profile(name: &str) -> &'static Profile {
    find(name).expect("known profile")
}

fn constant_rate(config: &crate::model::DirectionConfig) -> u64 {
    match config.rate {
        RateConfig::Constant { bits_per_s } => bits_per_s,
        RateConfig::Trace { .. } => panic!("a constant rate"),
    }
}

#[test]
fn every_profile_of_the_issue_exists_with_its_figures() {
    let expect = [
        ("datacenter", 10_000_000_000, 100, 0.0),
        ("regional", 1_000_000_000, 20_000, 0.0),
        ("internet", 200_000_000, 100_000, 0.005),
        ("intercontinental", 100_000_000, 250_000, 0.01),
    ];
    for (name, rate_bps, rtt_us, loss) in expect {
        let profile = profile(name);
        assert_eq!(
            (profile.rate_bps, profile.rtt_us, profile.loss),
            (rate_bps, rtt_us, loss),
            "{name}"
        );
        assert!(profile.trace.is_none());
    }
    assert_eq!(
        profile("cellular").trace.map(|trace| trace.format),
        Some(TraceFormat::Mahimahi)
    );
    assert!(find("moon").is_none());
}

#[test]
fn rtt_is_split_evenly_and_rates_are_kept_below_the_forwarding_limit() {
    let link = resolve(
        profile("internet"),
        &LinkOverrides::default(),
        &context(Scale::Auto, 1_000_000_000),
    )
    .expect("resolves");
    assert_eq!(link.scale, 1.0);
    for direction in [&link.a2b, &link.b2a] {
        assert_eq!(direction.delay, Duration::from_millis(50));
        assert_eq!(constant_rate(direction), 200_000_000);
        assert_eq!(direction.loss, 0.005);
    }
}

#[test]
fn auto_scale_picks_one_factor_for_both_directions() {
    let overrides = LinkOverrides {
        rate_bps_b2a: Some(1_000_000_000),
        ..LinkOverrides::default()
    };
    let link = resolve(
        profile("datacenter"),
        &overrides,
        &context(Scale::Auto, 2_000_000_000),
    )
    .expect("resolves");
    assert!((link.scale - 0.2).abs() < 1e-12);
    assert_eq!(constant_rate(&link.a2b), 2_000_000_000);
    assert_eq!(constant_rate(&link.b2a), 200_000_000);
    // Delay and loss are not scaled.
    assert_eq!(link.a2b.delay, Duration::from_micros(50));
}

#[test]
fn an_explicit_scale_is_applied_and_checked() {
    let link = resolve(
        profile("regional"),
        &LinkOverrides::default(),
        &context(Scale::Factor(0.5), 1),
    )
    .expect("resolves");
    assert_eq!(constant_rate(&link.a2b), 500_000_000);
    for bad in [0.0, 1.5, f64::NAN] {
        let error = resolve(
            profile("regional"),
            &LinkOverrides::default(),
            &context(Scale::Factor(bad), 1),
        );
        assert!(matches!(error, Err(SettingsError::Scale { .. })), "{bad}");
    }
}

#[test]
fn per_direction_overrides_win_over_both_direction_ones() {
    let overrides = LinkOverrides {
        rate_bps: Some(30_000_000),
        rate_bps_a2b: Some(10_000_000),
        loss: Some(0.03),
        loss_b2a: Some(0.0),
        rtt: Some(Duration::from_millis(40)),
        burst_loss: Some(GilbertElliott {
            p_good_to_bad: 0.01,
            p_bad_to_good: 0.5,
            loss_bad: 1.0,
        }),
        queue_packets: Some(77),
        ..LinkOverrides::default()
    };
    let link = resolve(
        profile("internet"),
        &overrides,
        &context(Scale::Auto, 1_000_000_000),
    )
    .expect("resolves");
    assert_eq!(constant_rate(&link.a2b), 10_000_000);
    assert_eq!(constant_rate(&link.b2a), 30_000_000);
    assert_eq!((link.a2b.loss, link.b2a.loss), (0.03, 0.0));
    assert_eq!(link.b2a.delay, Duration::from_millis(20));
    assert_eq!(link.a2b.queue.packets, 77);
    assert!(link.b2a.burst_loss.is_some());
}

#[test]
fn default_queue_is_one_bdp_with_floors() {
    // 200 Mbit/s x 100 ms = 2.5 MB.
    let internet = default_queue(200e6, Duration::from_millis(100), 1500);
    assert_eq!((internet.bytes, internet.packets), (2_500_000, 1667));
    // A small BDP gets the 1000-packet floor.
    let small = default_queue(10e6, Duration::from_millis(10), 1500);
    assert_eq!(
        (small.bytes, small.packets),
        (QUEUE_DEFAULT_BYTES_MIN, 1000)
    );
    // A large MTU raises the floor to 64 packets of it.
    let jumbo = default_queue(10e6, Duration::from_millis(10), 65_000);
    assert_eq!(jumbo.bytes, 64 * 65_000);
}

#[test]
fn out_of_range_settings_name_the_direction() {
    let overrides = LinkOverrides {
        loss_b2a: Some(1.5),
        ..LinkOverrides::default()
    };
    let error = resolve(
        profile("internet"),
        &overrides,
        &context(Scale::Auto, 1_000_000_000),
    )
    .expect_err("loss above 1");
    assert!(
        matches!(
            error,
            SettingsError::Config {
                direction: "b2a",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_missing_profile_trace_names_the_path_and_the_variable() {
    let error = resolve(
        profile("cellular"),
        &LinkOverrides::default(),
        &context(Scale::Auto, 1_000_000_000),
    )
    .expect_err("no traces there");
    let message = error.to_string();
    assert!(
        message.contains("/nonexistent/traces/mahimahi/TMobile-LTE-short.down"),
        "{message}"
    );
    assert!(message.contains(TRACES_DIR_ENV), "{message}");
}

#[test]
fn an_explicit_rate_replaces_the_profile_trace_in_that_direction() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/bandwidth-traces");
    if !dir.is_dir() {
        println!("SKIPPED: no traces folder at {}", dir.display());
        return;
    }
    let mut context = context(Scale::Auto, 1_000_000_000);
    context.traces_dir = dir;
    let overrides = LinkOverrides {
        rate_bps_b2a: Some(5_000_000),
        ..LinkOverrides::default()
    };
    let link = resolve(profile("cellular"), &overrides, &context).expect("resolves");
    assert!(matches!(link.a2b.rate, RateConfig::Trace { .. }));
    assert_eq!(constant_rate(&link.b2a), 5_000_000);
    let mean = link.a2b.rate.mean_bits_per_s();
    assert!((16e6..17.5e6).contains(&mean), "{mean}");
}
