//! The stream count of a running migration changes through the API: the
//! data plane shows the new count in effect, refuses more than it opened,
//! and the worker table shows the migration's threads at work.

use super::{is_final, wait_for};
use dwcp_tests::{init_logging, Guest, GuestOptions, HostOptions, HostPair, TempDir};
use std::time::{Duration, Instant};

#[test]
fn c51_stream_count_changes_reach_a_running_migration() {
    init_logging();
    let dir = TempDir::new("c51");
    let hosts = HostPair::start(&dir, &HostOptions::default());
    let guest = Guest::start(&dir, "guest", &GuestOptions::new("256M", "4M"));
    let pid = guest.pid().to_string();
    let id = super::start_no_wait(
        &hosts.a,
        "vm51",
        &guest.memory,
        &[
            "--pause-pid",
            &pid,
            "--pacing-mbps",
            "40",
            "--streams",
            "2",
            "--streams-max",
            "4",
        ],
    );
    let running = wait_for(
        &hosts.a,
        &id,
        Duration::from_secs(30),
        "running on 2 of 4 streams",
        |m| m["state"] == "running" && m["streams"] == 2 && m["streams_connected"] == 4,
    );
    tracing::info!(%running, "running");

    // The worker table shows this migration's engine and transport at work.
    let node = super::json_of(&hosts.a.ctl(&["status", "--json"]).stdout);
    let workers = node["node"]["workers"]
        .as_array()
        .or_else(|| node["workers"].as_array())
        .cloned()
        .unwrap_or_default();
    let of_migration = |role: &str| {
        workers
            .iter()
            .find(|w| w["role"] == role && w["migration"] == id.as_str())
            .cloned()
    };
    let engine = of_migration("engine").unwrap_or_else(|| panic!("engine worker: {node}"));
    let transport = of_migration("transport").unwrap_or_else(|| panic!("transport worker: {node}"));
    assert!(engine["frames"].as_u64().unwrap_or(0) > 0, "{engine}");
    assert!(transport["bytes"].as_u64().unwrap_or(0) > 0, "{transport}");
    let fraction = engine["busy_fraction"].as_f64().unwrap_or(-1.0);
    assert!((0.0..=1.0).contains(&fraction), "{engine}");
    assert!(
        workers.iter().any(|w| w["role"] == "serve"),
        "the serve loop has a record: {node}"
    );
    let metrics = hosts.a.http("GET", "/metrics", None).1;
    assert!(
        metrics.contains("dwcp_worker_busy_seconds{") && metrics.contains("role=\"engine\""),
        "worker metrics: {metrics}"
    );

    // Down to one stream, visible within a second.
    let changed_at = Instant::now();
    let set = hosts.a.ctl(&["set", &id, "--streams", "1"]);
    assert_eq!(set.code(), Some(0), "{}", set.describe());
    let one = wait_for(&hosts.a, &id, Duration::from_secs(5), "1 stream", |m| {
        is_final(m) || m["streams"] == 1
    });
    tracing::info!(seen_after = ?changed_at.elapsed(), %one, "stream count applied");
    assert_eq!(one["streams"], 1, "{one}");

    // More than it opened: refused, naming the bound; nothing changes.
    let (code, body) = hosts.a.http(
        "PATCH",
        &format!("/v1/migrations/{id}"),
        Some(r#"{"streams":5}"#),
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("opened 4 streams"), "{body}");
    let refused = hosts.a.ctl(&["set", &id, "--streams", "5"]);
    assert_ne!(refused.code(), Some(0), "{}", refused.describe());

    // Hold: the migration stays running but its wire bytes stop moving.
    let set = hosts.a.ctl(&["set", &id, "--hold"]);
    assert_eq!(set.code(), Some(0), "{}", set.describe());
    let held = wait_for(&hosts.a, &id, Duration::from_secs(5), "held", |m| {
        m["held"] == true
    });
    assert_eq!(held["state"], "running", "{held}");
    // Frames queued before the hold drain first; then the transport
    // thread (its own counter in the worker table) writes nothing.
    let transport_bytes = || {
        let node = super::json_of(&hosts.a.ctl(&["status", "--json"]).stdout);
        node["node"]["workers"]
            .as_array()
            .and_then(|w| {
                w.iter()
                    .find(|w| w["role"] == "transport" && w["migration"] == id.as_str())
            })
            .and_then(|w| w["bytes"].as_u64())
            .unwrap_or_else(|| panic!("transport worker of {id}: {node}"))
    };
    // Frames queued before the hold may take a while to drain on a loaded
    // machine; a held migration then stays still, while an unheld one paced
    // at 40 Mbit/s would move ~5 MB every second.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = transport_bytes();
    let mut still_since = Instant::now();
    while still_since.elapsed() < Duration::from_millis(1500) {
        assert!(
            Instant::now() < deadline,
            "a held migration's transport kept writing for 20 s (last {last} bytes)"
        );
        std::thread::sleep(Duration::from_millis(300));
        let now = transport_bytes();
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    let held_again = super::show(&hosts.a, &id);
    assert_eq!(held_again["state"], "running", "{held_again}");
    let set = hosts.a.ctl(&["set", &id, "--continue"]);
    assert_eq!(set.code(), Some(0), "{}", set.describe());

    // Back up to every stream opened, then let it finish fast.
    let set = hosts
        .a
        .ctl(&["set", &id, "--streams", "4", "--pacing-mbps", "0"]);
    assert_eq!(set.code(), Some(0), "{}", set.describe());
    let four = wait_for(&hosts.a, &id, Duration::from_secs(5), "4 streams", |m| {
        is_final(m) || m["streams"] == 4
    });
    assert!(is_final(&four) || four["streams"] == 4, "{four}");
    let last = wait_for(&hosts.a, &id, Duration::from_secs(120), "final", is_final);
    assert_eq!(last["state"], "completed", "{last}");
    assert_eq!(last["summary"]["verified"], true, "{last}");
}
