//! The round-trip time over the link matches the `--rtt-ms` setting.

use std::time::Duration;

use crate::support::{exclusive, number, Emulator, Process};

const RTT_MS: f64 = 40.0;
/// The bound: within 10% of the setting.
const RTT_TOLERANCE: f64 = 0.10;

#[test]
fn t10_udp_echo_rtt_is_within_10_percent_of_the_setting() {
    let Some(_machine) = exclusive("t10_rtt") else {
        return;
    };
    let emulator = Emulator::start(
        "rtt",
        &[
            "--profile",
            "regional",
            "--rate-mbit",
            "30",
            "--rtt-ms",
            "40",
            "--loss",
            "0",
        ],
    );
    assert_eq!(number(&emulator.ready, &["one_way_delay_us"]), 20_000.0);

    // Phase: 300 probes 2 ms apart, echoed from B.
    let mut echo = Process::in_namespace(&emulator.ns_b, &["udp-echo", "--listen", "0.0.0.0:7007"]);
    echo.next_json(Duration::from_secs(10));
    let target = format!("{}:7007", emulator.addr_b());
    let mut probe = Process::in_namespace(
        &emulator.ns_a,
        &[
            "udp-probe",
            "--target",
            &target,
            "--count",
            "300",
            "--interval-us",
            "2000",
        ],
    );
    let result = probe.next_json(Duration::from_secs(20));
    println!("t10 probe: {result}");
    assert_eq!(number(&result, &["lost"]), 0.0, "no loss is configured");
    let p50_ms = number(&result, &["rtt_us", "p50"]) / 1e3;
    let min_ms = number(&result, &["rtt_us", "min"]) / 1e3;
    assert!(
        (p50_ms - RTT_MS).abs() <= RTT_TOLERANCE * RTT_MS,
        "median RTT {p50_ms} ms vs setting {RTT_MS} ms"
    );
    // The model never delivers early: no probe beats the configured RTT.
    assert!(
        min_ms >= RTT_MS,
        "minimum RTT {min_ms} ms below the setting"
    );

    drop(echo);
    let exit = emulator.stop();
    println!("t10 exit: {exit}");
    assert!(number(&exit, &["a2b", "packets_out"]) >= 300.0);
}
