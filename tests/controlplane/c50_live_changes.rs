//! Pacing and compression tier changed through the API reach a running
//! migration: the data plane reports the new values in effect and the
//! throughput follows the pacing.

use super::{is_final, wait_for};
use dwcp_tests::{init_logging, Guest, GuestOptions, HostOptions, HostPair, TempDir};
use std::time::{Duration, Instant};

#[test]
fn c50_pacing_and_tier_changes_reach_a_running_migration() {
    init_logging();
    let dir = TempDir::new("c50");
    let hosts = HostPair::start(&dir, &HostOptions::default());
    let guest = Guest::start(&dir, "guest", &GuestOptions::new("256M", "4M"));
    let pid = guest.pid().to_string();
    let id = super::start_no_wait(
        &hosts.a,
        "vm5",
        &guest.memory,
        &[
            "--pause-pid",
            &pid,
            "--pacing-mbps",
            "40",
            "--tier",
            "datacenter",
        ],
    );
    let slow = wait_for(
        &hosts.a,
        &id,
        Duration::from_secs(30),
        "paced at 40 Mbit/s",
        |m| {
            m["state"] == "running"
                && m["pacing_mbps"] == 40
                && m["throughput_mbps"].as_f64().unwrap_or(0.0) > 0.0
        },
    );
    tracing::info!(%slow, "running paced");

    let changed_at = Instant::now();
    let set = hosts
        .a
        .ctl(&["set", &id, "--pacing-mbps", "4000", "--tier", "internet"]);
    assert_eq!(set.code(), Some(0), "{}", set.describe());
    let fast = wait_for(
        &hosts.a,
        &id,
        Duration::from_secs(5),
        "new pacing in effect",
        |m| is_final(m) || (m["pacing_mbps"] == 4000 && m["compression_tier"] == "internet"),
    );
    let seen_after = changed_at.elapsed();
    tracing::info!(?seen_after, %fast, "change visible through the API");
    if !is_final(&fast) {
        assert_eq!(fast["pacing_mbps"], 4000, "{fast}");
    }
    let last = wait_for(&hosts.a, &id, Duration::from_secs(120), "final", is_final);
    assert_eq!(last["state"], "completed", "{last}");
    // 256 MiB at 40 Mbit/s would take over 50 s; the raised pacing finished it far sooner.
    let total_ms = last["summary"]["total_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(total_ms < 45_000, "the raised pacing took effect: {last}");
}
