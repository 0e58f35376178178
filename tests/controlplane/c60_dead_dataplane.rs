//! A dead data plane is detected: health turns unhealthy and its running
//! migration is reported failed, never completed, also after the data
//! plane comes back.

use super::wait_for;
use dwcp_tests::{init_logging, Guest, GuestOptions, HostOptions, HostPair, TempDir};
use std::time::Duration;

#[test]
fn c60_dead_dataplane_is_unhealthy_and_its_migration_failed() {
    init_logging();
    let dir = TempDir::new("c60");
    let mut hosts = HostPair::start(&dir, &HostOptions::default());
    let guest = Guest::start(&dir, "guest", &GuestOptions::new("128M", "4M"));
    let id = super::start_no_wait(&hosts.a, "vm6", &guest.memory, &["--pacing-mbps", "40"]);
    wait_for(&hosts.a, &id, Duration::from_secs(30), "running", |m| {
        m["state"] == "running"
    });

    tracing::info!("SIGKILL the data plane of host-a");
    let mut dp = hosts.a.dataplane.take().expect("running");
    dp.signal(libc::SIGKILL);
    let _ = dp.wait(Duration::from_secs(10));
    let failed = wait_for(
        &hosts.a,
        &id,
        Duration::from_secs(10),
        "reported failed",
        |m| m["state"] == "failed",
    );
    assert!(
        failed["error"].as_str().unwrap_or("").contains("heartbeat"),
        "the error names the cause: {failed}"
    );
    let (code, health) = hosts.a.http("GET", "/health", None);
    assert_eq!(code, 503, "{health}");
    assert!(health.contains("unhealthy"), "{health}");

    tracing::info!("restart the data plane: the migration stays failed");
    hosts.a.start_dataplane();
    let again = wait_for(
        &hosts.a,
        &id,
        Duration::from_secs(10),
        "healthy again",
        |m| m["state"] != "running" && m["error"].as_str().is_some_and(|e| e.contains("restarted")),
    );
    assert_eq!(again["state"], "failed", "{again}");
    let (code, _) = hosts.a.http("GET", "/health", None);
    assert_eq!(code, 200, "healthy after the restart");
}
