//! A cancel that lands while the engine waits on its pacer reaches the
//! destination as the operator's cancel, not as a protocol error.
//!
//! The engine paces a frame after it has chosen its stream and sequence
//! number; a cancel seen in that wait must not leave a gap in the stream's
//! numbering before the `Abort` that follows (a real destination, in this
//! process, over loopback).

use super::migrate_with;
use crate::config::{DestinationConfig, SourceConfig};
use crate::destination::receive;
use crate::error::ErrorKind;
use crate::live::MigrationHandles;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// How long the source runs, paced, before the cancel.
const RUN_BEFORE_CANCEL: Duration = Duration::from_millis(400);
/// How long the test waits for the destination to listen.
const LISTEN_WAIT_MAX: Duration = Duration::from_secs(10);

#[test]
fn a_cancel_during_a_pacing_wait_reaches_the_destination_as_a_cancel() {
    // 16 MiB at 8 Mbit/s is 16 s: the engine spends its time waiting on
    // the pacer.
    cancel_reaches_the_destination("pacing", 1, Some(8), 16);
}

/// Under load on several streams the `Abort` queues behind stream 0's
/// frames while the others keep writing. The engine now waits for the
/// `Abort` itself to be written, not for any byte; on loopback stream 0's
/// window drains too fast for the old wait to lose it (this test passed
/// with it too), so this checks the behaviour under load, and the
/// difference matters on a link whose window is full.
#[test]
fn a_cancel_under_load_on_four_streams_reaches_the_destination_as_a_cancel() {
    // 64 MiB at 400 Mbit/s is about 1.3 s on four streams.
    cancel_reaches_the_destination("four-streams", 4, Some(400), 64);
}

fn cancel_reaches_the_destination(label: &str, streams: u16, mbps: Option<u64>, mib: u32) {
    let dir = std::env::temp_dir().join(format!("dwcp-cancel-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let source_memory = dir.join("source.ram");
    // Every page different and not zero: each goes as data.
    let bytes: Vec<u8> = (0..mib << 20)
        .map(|i| (i % 251 + 1).to_le_bytes()[0])
        .collect();
    std::fs::write(&source_memory, &bytes).expect("guest memory file");
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        probe.local_addr().expect("bound").port()
    };
    let address = format!("127.0.0.1:{port}");
    let destination = {
        let config = DestinationConfig {
            listen: address.clone(),
            memory: dir.join("destination.ram"),
            insecure_plaintext: true,
            accept_timeout_ms: 10_000,
            progress: false,
            ..DestinationConfig::DEFAULTS
        };
        std::thread::spawn(move || receive(config))
    };
    let deadline = Instant::now() + LISTEN_WAIT_MAX;
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(Instant::now() < deadline, "the destination never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let handles = MigrationHandles::default();
    let source = {
        let config = SourceConfig {
            memory: source_memory,
            destination: address,
            insecure_plaintext: true,
            streams: Some(streams),
            rate_limit_mbps: mbps,
            codec: false,
            progress: false,
            ..SourceConfig::DEFAULTS
        };
        let handles = handles.clone();
        std::thread::spawn(move || migrate_with(config, &handles))
    };
    std::thread::sleep(RUN_BEFORE_CANCEL);
    handles.live.cancel();
    let source = source.join().expect("source");
    let destination = destination.join().expect("destination");
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert_eq!(source.error_kind, Some(ErrorKind::Cancelled), "{source:?}");
    let error = destination.error.clone().unwrap_or_default();
    assert!(
        error.contains("cancelled by the operator") && !error.contains("protocol"),
        "the destination names the cancel: {destination:?}"
    );
}
