//! The switch-over is planned with the control plane's predicted lower
//! bound of the bandwidth when that is below the measured throughput
//! (docs/prediction.md §9.2): over the same converging pre-copy, a low
//! floor switches later than the measured throughput alone, a floor too
//! low for the budget never fits it (pre-copy ends by its other rules),
//! and a floor above the measured rate changes nothing.

use dwcp_dataplane_core::switchover::{
    Decision, RoundReport, SwitchoverConfig, SwitchoverPolicy, SwitchoverReason,
};
use std::time::Duration;

/// 1 Gbit/s in bytes per second.
const GBPS: f64 = 1e9 / 8.0;
/// The measured throughput of every round: 10 Gbit/s.
const MEASURED: f64 = 10.0 * GBPS;

/// Round `round` of a guest whose dirty set halves every round from
/// 64,000 pages, 20 ms per scan.
fn round(round: u32) -> RoundReport {
    RoundReport {
        round,
        dirty_pages: 64_000 >> round.min(16),
        scan_duration: Duration::from_millis(20),
        inflight_bytes: 0,
        inflight_bytes_stream_max: 0,
        streams_active: 1,
    }
}

/// Runs rounds until the policy switches; the round and the reason.
fn run(floor_bytes_per_s: Option<f64>) -> (u32, SwitchoverReason) {
    let config = SwitchoverConfig {
        rounds_max: 12,
        ..SwitchoverConfig::DEFAULTS
    };
    let mut policy = SwitchoverPolicy::new(config);
    policy.set_predicted_floor(floor_bytes_per_s);
    for r in 0..config.rounds_max {
        if let Decision::Switchover(reason) = policy.decide(&round(r), MEASURED) {
            return (r, reason);
        }
    }
    panic!("the round limit always ends pre-copy");
}

#[test]
fn a_low_predicted_floor_delays_the_switch_over() {
    let (measured_round, reason) = run(None);
    assert!(
        matches!(reason, SwitchoverReason::FitsBudget { .. }),
        "{reason:?}"
    );
    // At 10 Gbit/s the 32,000 pages of round 1 (131 MB) take 105 ms + 25 ms.
    assert_eq!(measured_round, 1);

    // At a predicted lower bound of 1 Gbit/s the first set that fits
    // 300 ms is round 3's: 8,000 pages (33 MB) in 262 ms + 25 ms.
    let (floor_round, reason) = run(Some(GBPS));
    assert!(
        matches!(reason, SwitchoverReason::FitsBudget { estimated_downtime }
            if estimated_downtime <= SwitchoverConfig::DEFAULTS.downtime_budget),
        "{reason:?}"
    );
    assert_eq!(floor_round, 3);
    assert!(floor_round > measured_round);

    // The lower the floor, the later (never earlier) the switch-over.
    let mut previous = measured_round;
    for floor_gbps in [5.0, 2.0, 1.0, 0.5, 0.25] {
        let (r, _) = run(Some(floor_gbps * GBPS));
        assert!(r >= previous, "{floor_gbps} Gbit/s: round {r} < {previous}");
        previous = r;
    }
}

#[test]
fn a_floor_too_low_for_the_budget_never_fits_it() {
    // 1 Mbit/s: even the 31 pages of round 11 take 1 s.
    let (r, reason) = run(Some(1e6 / 8.0));
    assert_eq!(r, 11, "the last round allowed");
    assert_eq!(reason, SwitchoverReason::RoundsExhausted);
}

#[test]
fn a_floor_above_the_measured_rate_changes_nothing() {
    assert_eq!(run(Some(100.0 * MEASURED)), run(None));
}
