//! The main job through the control planes: `dwcpctl migrate` on host A
//! moves a running guest to host B; both control planes show it, metrics
//! count it, and the two memory files are equal.

use super::json_of;
use dwcp_tests::{
    assert_same_bytes, init_logging, Guest, GuestOptions, HostOptions, HostPair, TempDir,
};

#[test]
fn c10_dwcpctl_migrates_a_running_guest_between_two_hosts() {
    init_logging();
    let dir = TempDir::new("c10");
    let hosts = HostPair::start(&dir, &HostOptions::default());
    tracing::info!(netns = hosts.netns.is_some(), "two hosts up");
    let guest = Guest::start(&dir, "guest", &GuestOptions::new("64M", "16M"));
    let pid = guest.pid().to_string();
    let memory = guest.memory.display().to_string();

    let done = hosts.a.ctl(&[
        "migrate",
        "--vm",
        "vm1",
        "--memory",
        &memory,
        "--to",
        "host-b",
        "--pause-pid",
        &pid,
    ]);
    assert_eq!(done.code(), Some(0), "{}", done.describe());
    let summary = super::summary_of(&done.stdout);
    assert!(summary.verified(), "{}", summary.0);
    assert!(
        summary.str("mode").is_some(),
        "summary has a mode: {}",
        summary.0
    );
    assert!(summary.u64("rounds") >= 1, "{}", summary.0);
    guest.assert_stopped("after a verified migration");
    assert_same_bytes(
        &guest.memory,
        &dir.join("vm1.ram"),
        "destination vs paused source",
    );

    let listed = json_of(&hosts.a.ctl(&["list", "--json"]).stdout);
    let on_a = &listed["migrations"][0];
    assert_eq!(on_a["state"], "completed", "{listed}");
    assert_eq!(on_a["role"], "source", "{listed}");
    let listed_b = json_of(&hosts.b.ctl(&["list", "--json"]).stdout);
    let on_b = &listed_b["migrations"][0];
    assert_eq!(on_b["id"], on_a["id"], "one id on both hosts: {listed_b}");
    assert_eq!(on_b["role"], "destination", "{listed_b}");
    assert_eq!(on_b["state"], "completed", "{listed_b}");

    let (code, metrics) = hosts.a.http("GET", "/metrics", None);
    assert_eq!(code, 200, "{metrics}");
    let wire_line = metrics
        .lines()
        .find(|l| l.starts_with("dwcp_migration_wire_bytes{"))
        .unwrap_or_else(|| panic!("no wire bytes metric:\n{metrics}"));
    let wire: f64 = wire_line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(wire > 1e6, "bytes on the wire counted: {wire_line}");
    assert!(
        metrics.contains("dwcp_system_component_health{component=\"dataplane\"} 2"),
        "{metrics}"
    );
}
