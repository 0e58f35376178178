//! A set loss rate drops that share of packets, and the emulator's exit
//! counters account for every one of them.

use std::time::Duration;

use crate::support::{exclusive, number, Emulator};

const PROBES: f64 = 5000.0;
const LOSS: f64 = 0.02;
/// Probes that may be lost outside the emulator (0.5%).
const OUTSIDE_LOSS_MAX: f64 = 25.0;

#[test]
fn t30_loss_rate_matches_the_setting_and_the_counters() {
    let Some(_machine) = exclusive("t30_loss") else {
        return;
    };
    // Loss only A -> B, so every lost probe was lost on the way out.
    let emulator = Emulator::start(
        "loss",
        &[
            "--profile",
            "regional",
            "--rate-mbit",
            "50",
            "--rtt-ms",
            "2",
            "--loss-a2b",
            "2%",
            "--loss-b2a",
            "0",
            "--seed",
            "7",
        ],
    );
    assert_eq!(number(&emulator.ready, &["a2b", "loss"]), LOSS);
    assert_eq!(number(&emulator.ready, &["b2a", "loss"]), 0.0);

    // Phase: 5000 probes 200 us apart.
    let echo = emulator.udp_echo();
    let result = emulator.udp_probe(
        &[
            "--count",
            "5000",
            "--interval-us",
            "200",
            "--linger-ms",
            "500",
        ],
        Duration::from_secs(30),
    );
    println!("t30 probe: {result}");
    drop(echo);
    let exit = emulator.stop();
    println!("t30 exit: {exit}");

    // The emulator dropped the set share of what it was offered: four
    // standard deviations of a binomial(5000, 0.02) are +-0.79 points.
    let offered = number(&exit, &["a2b", "packets_in"]);
    let dropped = number(&exit, &["a2b", "dropped_loss"]);
    assert!(offered >= PROBES, "offered {offered}");
    let sigma = (LOSS * (1.0 - LOSS) / offered).sqrt();
    let emulated = dropped / offered;
    assert!(
        (emulated - LOSS).abs() < 4.0 * sigma,
        "emulator loss {emulated} vs {LOSS}"
    );
    // End to end the probe saw those losses: every one of them, plus at most
    // a few lost outside the emulator (a helper starved on a busy machine).
    let lost = number(&result, &["lost"]);
    let outside = lost - dropped;
    assert!(
        (0.0..=OUTSIDE_LOSS_MAX).contains(&outside),
        "probe lost {lost}, emulator dropped {dropped}"
    );
    assert_eq!(number(&exit, &["b2a", "dropped_loss"]), 0.0);
    assert!(number(&exit, &["a2b", "packets_in"]) >= PROBES);
    // Conservation: in = out + dropped + held.
    for direction in ["a2b", "b2a"] {
        let counted = [
            "packets_out",
            "dropped_loss",
            "dropped_queue",
            "dropped_ring",
            "held_at_exit",
        ]
        .iter()
        .map(|key| number(&exit, &[direction, key]))
        .sum::<f64>();
        assert_eq!(
            number(&exit, &[direction, "packets_in"]),
            counted,
            "{direction}"
        );
    }
}
