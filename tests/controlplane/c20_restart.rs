//! Killing the source's control plane in the middle of a migration does not
//! interrupt it; the restarted control plane re-attaches to the tables and
//! shows the migration's progress and result.

use super::{is_final, wait_for};
use dwcp_tests::{
    assert_same_bytes, init_logging, Guest, GuestOptions, HostOptions, HostPair, TempDir,
};
use std::time::Duration;

#[test]
fn c20_controlplane_killed_and_restarted_mid_migration() {
    init_logging();
    let dir = TempDir::new("c20");
    let mut hosts = HostPair::start(&dir, &HostOptions::default());
    // 128 MiB paced at 200 Mbit/s: at least ~5 s of pre-copy to kill into.
    let guest = Guest::start(&dir, "guest", &GuestOptions::new("128M", "8M"));
    let pid = guest.pid().to_string();
    let id = super::start_no_wait(
        &hosts.a,
        "vm2",
        &guest.memory,
        &["--pause-pid", &pid, "--pacing-mbps", "200"],
    );
    wait_for(
        &hosts.a,
        &id,
        Duration::from_secs(30),
        "pre-copy running",
        |m| m["state"] == "running" && m["bytes_on_wire"].as_u64().unwrap_or(0) > 0,
    );

    tracing::info!("SIGKILL the control plane of host-a mid-migration");
    let mut old = hosts.a.controlplane.take().expect("running");
    old.signal(libc::SIGKILL);
    let _ = old.wait(Duration::from_secs(10));
    let before = hosts.a.dataplane.as_mut().expect("dp").is_running();
    assert!(before, "the data plane survives the control plane");
    std::thread::sleep(Duration::from_millis(500));
    hosts.a.start_controlplane();

    let seen = super::show(&hosts.a, &id);
    assert!(
        seen["bytes_on_wire"].as_u64().unwrap_or(0) > 0,
        "the restarted control plane shows the progress: {seen}"
    );
    let last = wait_for(
        &hosts.a,
        &id,
        Duration::from_secs(120),
        "migration final",
        is_final,
    );
    assert_eq!(last["state"], "completed", "{last}");
    assert_eq!(last["summary"]["verified"], true, "{last}");
    assert_same_bytes(
        &guest.memory,
        &dir.join("vm2.ram"),
        "destination vs paused source",
    );
}
