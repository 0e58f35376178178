//! Bulk TCP through the link runs at the set rate.

use std::time::Duration;

use crate::support::{exclusive, number, Emulator, Process};

const RATE_MBIT: f64 = 40.0;
/// TCP payload per 1500-byte IP packet (20 IP + 20 TCP + 12 timestamp
/// option bytes of headers): the goodput the sink can see at most.
const PAYLOAD_FRACTION: f64 = 1448.0 / 1500.0;
/// The bound: within 10% of the set rate.
const RATE_TOLERANCE: f64 = 0.10;

#[test]
fn t20_bulk_tcp_goodput_is_within_10_percent_of_the_rate() {
    let Some(_machine) = exclusive("t20_throughput") else {
        return;
    };
    // 40 Mbit/s and 20 ms RTT: a BDP of 100 kB, about 67 packets.
    let emulator = Emulator::start(
        "tput",
        &[
            "--profile",
            "regional",
            "--rate-mbit",
            "40",
            "--rtt-ms",
            "20",
            "--loss",
            "0",
        ],
    );

    // Phase: 7 s of bulk data A -> B; the sink ignores the first 2 s.
    let mut sink = Process::in_namespace(
        &emulator.ns_b,
        &["tcp-sink", "--listen", "0.0.0.0:5201", "--warmup-secs", "2"],
    );
    sink.next_json(Duration::from_secs(10));
    let target = format!("{}:5201", emulator.addr_b());
    let mut source = Process::in_namespace(
        &emulator.ns_a,
        &["tcp-source", "--connect", &target, "--secs", "7"],
    );
    let sent = source.next_json(Duration::from_secs(30));
    let received = sink.next_json(Duration::from_secs(10));
    println!("t20 source: {sent}\nt20 sink: {received}");
    assert_eq!(
        number(&sent, &["bytes_sent"]),
        number(&received, &["bytes"])
    );
    let steady_mbit = number(&received, &["steady_bits_per_s"]) / 1e6;
    assert!(
        number(&received, &["steady_secs"]) > 4.0,
        "measured long enough"
    );
    let expected_mbit = RATE_MBIT * PAYLOAD_FRACTION;
    assert!(
        (steady_mbit - expected_mbit).abs() <= RATE_TOLERANCE * expected_mbit,
        "goodput {steady_mbit:.2} Mbit/s vs {expected_mbit:.2} Mbit/s expected at {RATE_MBIT} Mbit/s"
    );

    let exit = emulator.stop();
    println!("t20 exit: {exit}");
    assert_eq!(number(&exit, &["a2b", "dropped_ring"]), 0.0);
    assert_eq!(number(&exit, &["a2b", "write_errors"]), 0.0);
}
