//! The link mode detector: the original's rule and test vectors through
//! `classify`, exact threshold boundaries, the margins of the hysteresis
//! from each mode, the dwell, and no flapping under seeded noise around
//! every threshold. Time is simulated: `t0 + offset`, no clock reads.

use dwcp_controlplane::config::ModeThresholds;
use dwcp_controlplane::mode::{classify, LinkMode, LinkObservation, ModeChange, ModeDetector};
use std::time::{Duration, Instant};

use LinkMode::{Datacenter, Hybrid, Internet};

const DEFAULTS: ModeThresholds = ModeThresholds::DEFAULT;

fn obs(rtt_ms: f64, bandwidth_mbps: f64, loss_percent: f64) -> LinkObservation {
    LinkObservation {
        rtt_ms,
        bandwidth_mbps,
        loss_percent,
    }
}

/// A clean datacenter link, an internet link and a link in between.
const DC_LINK: LinkObservation = LinkObservation {
    rtt_ms: 5.0,
    bandwidth_mbps: 2000.0,
    loss_percent: 0.0,
};
const WAN_LINK: LinkObservation = LinkObservation {
    rtt_ms: 100.0,
    bandwidth_mbps: 2000.0,
    loss_percent: 0.0,
};
const MID_LINK: LinkObservation = LinkObservation {
    rtt_ms: 30.0,
    bandwidth_mbps: 2000.0,
    loss_percent: 0.5,
};

/// xorshift64: deterministic noise without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `center ± spread`.
    fn around(&mut self, center: f64, spread: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        center + spread * (2.0 * unit - 1.0)
    }
}

/// Feeds `samples` one per second starting at `t0 + start_s` seconds;
/// returns each change with its offset from `t0`.
fn feed(
    detector: &mut ModeDetector,
    t0: Instant,
    start_s: u64,
    samples: impl IntoIterator<Item = LinkObservation>,
) -> Vec<(Duration, ModeChange)> {
    let mut changes = Vec::new();
    for (i, sample) in (start_s..).zip(samples) {
        let at = Duration::from_secs(i);
        if let Some(change) = detector.observe(t0 + at, sample) {
            changes.push((at, change));
        }
    }
    changes
}

fn transitions(changes: &[(Duration, ModeChange)]) -> Vec<(u64, Option<LinkMode>, LinkMode)> {
    changes
        .iter()
        .map(|(at, c)| (at.as_secs(), c.from, c.to))
        .collect()
}

#[test]
fn the_originals_vectors() {
    assert_eq!(classify(&obs(5.0, 2000.0, 0.0), &DEFAULTS), Datacenter);
    assert_eq!(classify(&obs(75.0, 2000.0, 0.0), &DEFAULTS), Internet);
    assert_eq!(classify(&obs(5.0, 100.0, 0.0), &DEFAULTS), Internet);
    assert_eq!(classify(&obs(5.0, 2000.0, 2.0), &DEFAULTS), Internet);
    assert_eq!(classify(&obs(30.0, 2000.0, 0.5), &DEFAULTS), Hybrid);
}

#[test]
fn thresholds_are_exact() {
    let cases = [
        (obs(10.0, 2000.0, 0.0), Hybrid, "10 ms is not datacenter"),
        (obs(9.999, 2000.0, 0.0), Datacenter, "just under 10 ms is"),
        (obs(50.0, 2000.0, 0.0), Hybrid, "50 ms is not internet"),
        (obs(50.001, 2000.0, 0.0), Internet, "just over 50 ms is"),
        (
            obs(5.0, 1000.0, 0.0),
            Datacenter,
            "1000 Mbit/s is datacenter-eligible",
        ),
        (
            obs(5.0, 999.999, 0.0),
            Internet,
            "just under 1000 Mbit/s is internet",
        ),
        (
            obs(5.0, 2000.0, 0.1),
            Datacenter,
            "0.1 % loss is datacenter-eligible",
        ),
        (obs(5.0, 2000.0, 0.100_01), Hybrid, "just over 0.1 % is not"),
        (obs(20.0, 2000.0, 1.0), Hybrid, "1 % loss is not internet"),
        (
            obs(5.0, 2000.0, 1.0),
            Hybrid,
            "1 % loss is not internet, nor datacenter",
        ),
        (
            obs(20.0, 2000.0, 1.000_01),
            Internet,
            "just over 1 % is internet",
        ),
    ];
    for (observation, expected, why) in cases {
        assert_eq!(
            classify(&observation, &DEFAULTS),
            expected,
            "{why}: {observation:?}"
        );
    }
}

#[test]
fn mode_is_unknown_until_every_field_has_a_sample() {
    let t0 = Instant::now();
    let mut detector = ModeDetector::new(ModeThresholds {
        dwell_ms: 3_600_000,
        ..DEFAULTS
    });
    assert_eq!(detector.mode(), None);
    assert_eq!(detector.average(), None);

    assert_eq!(detector.observe(t0, obs(5.0, f64::NAN, 0.0)), None);
    assert_eq!(detector.mode(), None, "no bandwidth yet");
    assert_eq!(detector.average(), None);

    // The first classification ignores the (hour-long) dwell.
    let change = detector
        .observe(t0 + Duration::from_secs(1), obs(7.0, 2000.0, 0.0))
        .expect("first classification");
    assert_eq!((change.from, change.to), (None, Datacenter));
    assert_eq!(detector.mode(), Some(Datacenter));
    assert_eq!(detector.average(), Some(obs(6.0, 2000.0, 0.0)));
}

#[test]
fn average_covers_the_window_and_skips_invalid_values_field_by_field() {
    let t0 = Instant::now();
    let mut detector = ModeDetector::new(ModeThresholds {
        window: 3,
        ..DEFAULTS
    });
    let at = |s: u64| t0 + Duration::from_secs(s);
    detector.observe(at(0), obs(5.0, 2000.0, 0.0));
    detector.observe(at(1), obs(f64::NAN, -1.0, f64::INFINITY));
    assert_eq!(
        detector.average(),
        Some(obs(5.0, 2000.0, 0.0)),
        "an all-invalid sample changes nothing"
    );
    detector.observe(at(2), obs(8.0, f64::NEG_INFINITY, 0.5));
    assert_eq!(detector.average(), Some(obs(6.5, 2000.0, 0.25)));
    detector.observe(at(3), obs(11.0, 1000.0, 0.25));
    detector.observe(at(4), obs(14.0, 3000.0, -0.5));
    assert_eq!(
        detector.average(),
        Some(obs(11.0, 2000.0, 0.25)),
        "only the last 3 valid values of each field count"
    );
}

#[test]
fn margins_from_each_mode() {
    // (mode first entered with a canonical link, steady observation, mode after two minutes of it)
    let cases = [
        (DC_LINK, obs(11.9, 2000.0, 0.0), Datacenter),
        (DC_LINK, obs(12.1, 2000.0, 0.0), Hybrid),
        (DC_LINK, obs(59.0, 2000.0, 0.0), Hybrid),
        (DC_LINK, obs(61.0, 2000.0, 0.0), Internet),
        (DC_LINK, obs(5.0, 801.0, 0.0), Datacenter),
        (DC_LINK, obs(5.0, 799.0, 0.0), Internet),
        (DC_LINK, obs(5.0, 2000.0, 0.119), Datacenter),
        (DC_LINK, obs(5.0, 2000.0, 0.121), Hybrid),
        (DC_LINK, obs(5.0, 2000.0, 1.19), Hybrid),
        (DC_LINK, obs(5.0, 2000.0, 1.21), Internet),
        (WAN_LINK, obs(40.1, 2000.0, 0.0), Internet),
        (WAN_LINK, obs(39.9, 2000.0, 0.0), Hybrid),
        (WAN_LINK, obs(8.1, 2000.0, 0.0), Hybrid),
        (WAN_LINK, obs(7.9, 2000.0, 0.0), Datacenter),
        (WAN_LINK, obs(5.0, 1199.0, 0.0), Internet),
        (WAN_LINK, obs(5.0, 1201.0, 0.0), Datacenter),
        (WAN_LINK, obs(5.0, 2000.0, 0.81), Internet),
        (WAN_LINK, obs(5.0, 2000.0, 0.79), Hybrid),
        (WAN_LINK, obs(5.0, 2000.0, 0.081), Hybrid),
        (WAN_LINK, obs(5.0, 2000.0, 0.079), Datacenter),
        (MID_LINK, obs(8.1, 2000.0, 0.0), Hybrid),
        (MID_LINK, obs(7.9, 2000.0, 0.0), Datacenter),
        (MID_LINK, obs(59.0, 2000.0, 0.0), Hybrid),
        (MID_LINK, obs(61.0, 2000.0, 0.0), Internet),
        (MID_LINK, obs(5.0, 1199.0, 0.0), Hybrid),
        (MID_LINK, obs(5.0, 1201.0, 0.0), Datacenter),
        (MID_LINK, obs(30.0, 801.0, 0.0), Hybrid),
        (MID_LINK, obs(30.0, 799.0, 0.0), Internet),
        (MID_LINK, obs(5.0, 2000.0, 0.081), Hybrid),
        (MID_LINK, obs(5.0, 2000.0, 0.079), Datacenter),
        (MID_LINK, obs(30.0, 2000.0, 1.19), Hybrid),
        (MID_LINK, obs(30.0, 2000.0, 1.21), Internet),
    ];
    let mut failures = Vec::new();
    for (start, steady, expected) in cases {
        let t0 = Instant::now();
        let mut detector = ModeDetector::new(DEFAULTS);
        let first = detector.observe(t0, start).expect("first classification");
        feed(&mut detector, t0, 1, std::iter::repeat_n(steady, 120));
        if detector.mode() != Some(expected) {
            failures.push(format!(
                "from {} with {steady:?}: {:?}, expected {expected}",
                first.to,
                detector.mode()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_step_change_switches_once_and_not_before_the_dwell() {
    for dwell_s in [10, 20] {
        let t0 = Instant::now();
        let mut detector = ModeDetector::new(ModeThresholds {
            dwell_ms: dwell_s * 1000,
            ..DEFAULTS
        });
        // Datacenter for 5 s, then the RTT jumps to 100 ms for a minute.
        let samples = std::iter::repeat_n(DC_LINK, 5).chain(std::iter::repeat_n(WAN_LINK, 60));
        let changes = feed(&mut detector, t0, 0, samples);
        assert_eq!(
            transitions(&changes),
            [(0, None, Datacenter), (dwell_s, Some(Datacenter), Internet)],
            "dwell {dwell_s} s: {changes:#?}"
        );
        let reason = &changes[1].1.reason;
        assert!(
            reason.contains("> 60.000"),
            "the reason gives the shifted threshold: {reason}"
        );
    }
}

#[test]
fn a_step_after_a_long_stable_period_passes_through_hybrid_once() {
    // The moving average ramps through the hybrid band: one switch as soon
    // as it leaves the widened datacenter region, one more a dwell later.
    let t0 = Instant::now();
    let mut detector = ModeDetector::new(DEFAULTS);
    let samples = std::iter::repeat_n(DC_LINK, 60).chain(std::iter::repeat_n(WAN_LINK, 120));
    let changes = feed(&mut detector, t0, 0, samples);
    assert_eq!(
        transitions(&changes),
        [
            (0, None, Datacenter),
            (60, Some(Datacenter), Hybrid),
            (70, Some(Hybrid), Internet)
        ],
        "{changes:#?}"
    );
}

#[test]
fn switching_back_needs_the_dwell_and_the_margin() {
    let t0 = Instant::now();
    let mut detector = ModeDetector::new(ModeThresholds {
        dwell_ms: 30_000,
        ..DEFAULTS
    });

    // Internet at 0 s; a datacenter link from 1 s fills the window by 10 s,
    // but the switch waits for the dwell.
    let mut changes = feed(&mut detector, t0, 0, [WAN_LINK]);
    changes.extend(feed(&mut detector, t0, 1, std::iter::repeat_n(DC_LINK, 59)));
    assert_eq!(
        transitions(&changes),
        [(0, None, Internet), (30, Some(Internet), Datacenter)]
    );

    // Raw-hybrid RTTs inside the margin (< 12 ms) keep Datacenter for 5 minutes.
    let inside = feed(
        &mut detector,
        t0,
        60,
        std::iter::repeat_n(obs(11.5, 2000.0, 0.0), 300),
    );
    assert_eq!(classify(&obs(11.5, 2000.0, 0.0), &DEFAULTS), Hybrid);
    assert!(inside.is_empty(), "{inside:#?}");

    // Past the margin, the switch comes as soon as the average crosses it.
    let outside = feed(
        &mut detector,
        t0,
        360,
        std::iter::repeat_n(obs(13.0, 2000.0, 0.0), 60),
    );
    assert_eq!(
        transitions(&outside),
        [(363, Some(Datacenter), Hybrid)],
        "{outside:#?}"
    );
    assert!(
        outside[0].1.reason.contains(">= 12.000"),
        "{}",
        outside[0].1.reason
    );
}

#[test]
fn dwell_is_inclusive_to_the_millisecond() {
    let t0 = Instant::now();
    let mut detector = ModeDetector::new(ModeThresholds {
        window: 1,
        dwell_ms: 10_000,
        ..DEFAULTS
    });
    assert!(detector.observe(t0, DC_LINK).is_some());
    assert_eq!(
        detector.observe(t0 + Duration::from_millis(9_999), WAN_LINK),
        None
    );
    let change = detector
        .observe(t0 + Duration::from_millis(10_000), WAN_LINK)
        .expect("dwell passed");
    assert_eq!((change.from, change.to), (Some(Datacenter), Internet));
    // Time going backwards counts as no time.
    assert_eq!(detector.observe(t0, DC_LINK), None);
}

/// Ten minutes at 1 s steps of a link whose raw class flips constantly.
fn noisy_scenarios() -> Vec<(&'static str, Vec<LinkObservation>)> {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut scenario =
        |f: &mut dyn FnMut(&mut XorShift, usize) -> LinkObservation| -> Vec<LinkObservation> {
            (0..600).map(|i| f(&mut rng, i)).collect()
        };
    vec![
        (
            "rtt around 10 ms",
            scenario(&mut |r, _| obs(r.around(10.0, 1.5), 2000.0, 0.0)),
        ),
        (
            "rtt around 50 ms",
            scenario(&mut |r, _| obs(r.around(50.0, 7.5), 2000.0, 0.0)),
        ),
        (
            "bandwidth around 1000 Mbit/s",
            scenario(&mut |r, _| obs(5.0, r.around(1000.0, 150.0), 0.0)),
        ),
        (
            "loss around 0.1 %",
            scenario(&mut |r, _| obs(5.0, 2000.0, r.around(0.1, 0.015))),
        ),
        (
            "loss around 1 %",
            scenario(&mut |r, _| obs(20.0, 2000.0, r.around(1.0, 0.15))),
        ),
        (
            "rtt alternating 9/11 ms",
            scenario(&mut |_, i| obs(if i % 2 == 0 { 9.0 } else { 11.0 }, 2000.0, 0.0)),
        ),
        (
            "rtt alternating 45/55 ms",
            scenario(&mut |_, i| obs(if i % 2 == 0 { 45.0 } else { 55.0 }, 2000.0, 0.0)),
        ),
    ]
}

fn raw_flips(samples: &[LinkObservation]) -> usize {
    samples
        .windows(2)
        .filter(|pair| classify(&pair[0], &DEFAULTS) != classify(&pair[1], &DEFAULTS))
        .count()
}

#[test]
fn noise_around_a_threshold_does_not_flap() {
    for (name, samples) in noisy_scenarios() {
        assert!(
            raw_flips(&samples) >= 100,
            "{name}: the input must flap under the raw rule"
        );
        let mut detector = ModeDetector::new(DEFAULTS);
        let changes = feed(&mut detector, Instant::now(), 0, samples);
        assert_eq!(
            changes.first().map(|(_, c)| c.from),
            Some(None),
            "{name}: first classification"
        );
        let switches = changes.len() - 1;
        assert!(
            switches <= 1,
            "{name}: {switches} switches: {:?}",
            transitions(&changes)
        );
    }
}

#[test]
fn without_hysteresis_and_dwell_the_same_noise_flaps() {
    // The control for the test above: it can fail.
    let bare = ModeThresholds {
        window: 1,
        hysteresis: 0.0,
        dwell_ms: 0,
        ..DEFAULTS
    };
    for (name, samples) in noisy_scenarios() {
        let flips = raw_flips(&samples);
        let mut detector = ModeDetector::new(bare.clone());
        let changes = feed(&mut detector, Instant::now(), 0, samples);
        assert_eq!(
            changes.len() - 1,
            flips,
            "{name}: window 1 without margins follows the raw rule"
        );
    }
}

#[test]
fn dwell_alone_bounds_the_switch_rate() {
    let dwell = Duration::from_secs(10);
    let no_margin = ModeThresholds {
        hysteresis: 0.0,
        dwell_ms: 10_000,
        window: 1,
        ..DEFAULTS
    };
    for (name, samples) in noisy_scenarios() {
        let mut detector = ModeDetector::new(no_margin.clone());
        let changes = feed(&mut detector, Instant::now(), 0, samples);
        assert!(
            changes.len() > 10,
            "{name}: without a margin the mode still moves"
        );
        for pair in changes.windows(2) {
            assert!(
                pair[1].0 - pair[0].0 >= dwell,
                "{name}: switches {:?} and {:?}",
                pair[0].0,
                pair[1].0
            );
        }
    }
}

#[test]
fn link_mode_names() {
    assert_eq!(
        [Datacenter, Internet, Hybrid].map(LinkMode::as_str),
        ["datacenter", "internet", "hybrid"]
    );
    assert_eq!(Hybrid.to_string(), "hybrid");
    assert_eq!(
        serde_json::to_string(&Datacenter).expect("json"),
        "\"datacenter\""
    );
}

#[test]
#[should_panic(expected = "mode.window")]
fn invalid_thresholds_are_a_bug() {
    let _ = ModeDetector::new(ModeThresholds {
        window: 0,
        ..DEFAULTS
    });
}
