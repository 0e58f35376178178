//! End-to-end tests of the control plane: two hosts, each a real
//! `dwcp-dataplane serve` and a real `dwcp-controlplane run`, driven with
//! `dwcpctl` and the HTTP API; in network namespaces when root.

mod c10_dwcpctl_migration;
mod c20_restart;
mod c30_api_errors;
mod c40_mtls;
mod c50_live_changes;
mod c51_live_streams;
mod c60_dead_dataplane;
mod c70_prediction;

use dwcp_tests::{Host, Summary};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Parses a `dwcpctl --json` answer (its last stdout line).
pub fn json_of(stdout: &str) -> Value {
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout:?}"))
}

/// `dwcpctl show ID --json`.
pub fn show(host: &Host, id: &str) -> Value {
    let done = host.ctl(&["show", id, "--json"]);
    assert_eq!(done.code(), Some(0), "{}", done.describe());
    json_of(&done.stdout)
}

/// Polls `show` until `accept` holds or `deadline` passes (then panics
/// with the last answer).
pub fn wait_for(
    host: &Host,
    id: &str,
    deadline: Duration,
    what: &str,
    accept: impl Fn(&Value) -> bool,
) -> Value {
    let end = Instant::now() + deadline;
    loop {
        let migration = show(host, id);
        if accept(&migration) {
            return migration;
        }
        assert!(
            Instant::now() < end,
            "{what}: not reached within {deadline:?}; last: {migration}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `dwcpctl --json migrate --no-wait --vm VM --memory FILE --to host-b
/// [extra...]` on `host`; returns the new migration's id.
pub fn start_no_wait(host: &Host, vm: &str, memory: &std::path::Path, extra: &[&str]) -> String {
    let memory = memory.display().to_string();
    let mut args = vec![
        "--json",
        "migrate",
        "--no-wait",
        "--vm",
        vm,
        "--memory",
        &memory,
        "--to",
        "host-b",
    ];
    args.extend_from_slice(extra);
    let started = host.ctl(&args);
    assert_eq!(started.code(), Some(0), "{}", started.describe());
    json_of(&started.stdout)["id"]
        .as_str()
        .expect("the answer has an id")
        .to_owned()
}

/// Whether a migration is in a final state.
pub fn is_final(migration: &Value) -> bool {
    matches!(
        migration["state"].as_str(),
        Some("completed" | "failed" | "cancelled")
    )
}

/// The summary a `dwcpctl migrate` printed last.
pub fn summary_of(stdout: &str) -> Summary {
    Summary::from_stdout(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}
