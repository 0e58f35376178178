//! `dwcp-controlplane place-scenario`: the JSON last line, its verdicts
//! agreeing with its figures and exit status, and bad arguments (exit 2).
//! Seeds other than the benchmark's.

mod common;

use common::controlplane;
use dwcp_controlplane::place::scenario::{
    ScenarioReport, CROSS_REDUCTION_MIN, LIF_MAX, REBALANCE_MEMORY_RATIO_MAX,
};

#[test]
fn the_report_is_the_last_line_and_its_verdicts_follow_its_figures() {
    let out = controlplane([
        "place-scenario",
        "--vms",
        "120",
        "--regions",
        "3",
        "--seed",
        "77",
    ]);
    let line = out.stdout.lines().last().expect("a last line");
    let report: ScenarioReport =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!((report.vms, report.regions, report.seed), (120, 3, 77));
    assert!(report.hosts >= 3 && report.apps >= 2);
    let v = &report.verdicts;
    assert_eq!(
        v.cross_traffic_vs_greedy,
        report.cross_reduction_vs_first_fit >= CROSS_REDUCTION_MIN
    );
    assert_eq!(v.lif, report.placement.lif_regions < LIF_MAX);
    assert_eq!(
        v.rebalance_memory,
        report.shift.moves > 0
            && report.shift.cross_share_after <= 0.15
            && report.shift.memory_ratio < REBALANCE_MEMORY_RATIO_MAX
    );
    assert_eq!(
        report.pass,
        v.cross_traffic_vs_greedy
            && v.lif
            && v.rebalance_memory
            && v.constraints
            && v.no_oscillation
    );
    assert_eq!(
        out.code,
        Some(if report.pass { 0 } else { 3 }),
        "{}",
        out.stderr
    );
    // Figures that hold on any generated instance.
    assert!(report.cross_reduction_vs_first_fit >= 0.4, "{line}");
    assert!(report.placement.broken.is_none() && report.greedy_first_fit.broken.is_none());
    assert!(
        report.shift.cross_share_before > 0.15,
        "the shift crosses the threshold"
    );
    assert!(
        out.stderr.contains("place-scenario: 120 VMs, 3 regions"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        vec!["place-scenario", "--vms", "1"],
        vec!["place-scenario", "--regions", "0"],
        vec!["place-scenario", "--regions", "17"],
        vec!["place-scenario", "--seed", "x"],
    ] {
        let out = controlplane(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
