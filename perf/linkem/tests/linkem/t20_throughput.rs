//! Bulk TCP through the link runs at the set rate.

use std::time::Duration;

use crate::support::{exclusive, number, Emulator, Process};

const RATE_MBIT: f64 = 40.0;
/// TCP payload per 1500-byte IP packet (20 IP + 20 TCP + 12 timestamp
/// option bytes of headers): the goodput the sink can see at most.
const PAYLOAD_FRACTION: f64 = 1448.0 / 1500.0;
/// The bound: within 10% of the set rate.
const RATE_TOLERANCE: f64 = 0.10;

/// Attempts at most: a miss is measured once more, on a fresh link. A rate
/// the emulator gets wrong misses both; a few seconds in which the shared
/// 2-core machine gave the emulator too little CPU (one CI run measured
/// 24 Mbit/s where every run before and after measured 38-39) miss one.
const ATTEMPTS: usize = 2;

#[test]
fn t20_bulk_tcp_goodput_is_within_10_percent_of_the_rate() {
    let Some(_machine) = exclusive("t20_throughput") else {
        return;
    };
    let expected_mbit = RATE_MBIT * PAYLOAD_FRACTION;
    let mut measured = Vec::new();
    for attempt in 1..=ATTEMPTS {
        let steady_mbit = steady_goodput_mbit();
        measured.push(steady_mbit);
        if (steady_mbit - expected_mbit).abs() <= RATE_TOLERANCE * expected_mbit {
            return;
        }
        println!("t20 attempt {attempt}: {steady_mbit:.2} Mbit/s, outside the tolerance");
    }
    panic!(
        "goodput {measured:.2?} Mbit/s in {ATTEMPTS} attempts vs {expected_mbit:.2} Mbit/s expected at {RATE_MBIT} Mbit/s"
    );
}

/// One bulk transfer through a fresh 40 Mbit/s link; its steady goodput.
fn steady_goodput_mbit() -> f64 {
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
    assert!(
        number(&received, &["steady_secs"]) > 4.0,
        "measured long enough"
    );

    let exit = emulator.stop();
    println!("t20 exit: {exit}");
    assert_eq!(number(&exit, &["a2b", "dropped_ring"]), 0.0);
    assert_eq!(number(&exit, &["a2b", "write_errors"]), 0.0);
    number(&received, &["steady_bits_per_s"]) / 1e6
}
