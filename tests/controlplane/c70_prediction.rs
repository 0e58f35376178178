//! The bandwidth prediction online: while a migration runs, the source's
//! control plane feeds the link samples to the peer link's predictor, and
//! the prediction shows in `GET /v1/node`, in `/metrics` and in
//! `dwcpctl status`; the migration shows its predicted ETA and the
//! switch-over floor the control plane gave the data plane; the prediction
//! stays after the migration ended.
//!
//! Timing: the migration is paced by the operator at 20 Mbit/s without
//! compression, so its first round alone takes over 30 s (256 MiB of which
//! about 90 MB are not zero or duplicate pages; pacing counts wire bytes),
//! while a prediction needs one link sample (the data plane writes one a
//! second) and the floor ten. Every wait is a poll with a deadline; a slow
//! machine only makes the migration longer.

use super::{is_final, wait_for};
use dwcp_tests::{init_logging, Guest, GuestOptions, HostOptions, HostPair, TempDir};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The operator's pacing, Mbit/s.
const PACING_MBPS: f64 = 20.0;

/// `GET /v1/node` on `host`.
fn node(host: &dwcp_tests::Host) -> Value {
    let (code, body) = host.http("GET", "/v1/node", None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The prediction of the link to `host-b`, once it has `samples` samples.
fn wait_for_link_prediction(host: &dwcp_tests::Host, samples: u64, deadline: Duration) -> Value {
    let end = Instant::now() + deadline;
    loop {
        let node = node(host);
        let prediction = &node["peers"][0]["prediction"];
        if prediction["samples"].as_u64().unwrap_or(0) >= samples {
            return prediction.clone();
        }
        assert!(
            Instant::now() < end,
            "no prediction with {samples} samples within {deadline:?}: {node}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Checks a link prediction's shape: both horizons, ordered bands, a mean
/// no higher than twice the pacing that limits every sample.
fn check_link_prediction(prediction: &Value) {
    assert_eq!(
        prediction["predictor"], "lstm",
        "the shipped model: {prediction}"
    );
    assert_eq!(
        prediction["measures_link"], false,
        "an operator-paced migration measures its pace: {prediction}"
    );
    let horizons = prediction["horizons"].as_array().expect("horizons");
    let seconds: Vec<u64> = horizons
        .iter()
        .filter_map(|h| h["horizon_s"].as_u64())
        .collect();
    assert_eq!(seconds, [5, 30], "{prediction}");
    for h in horizons {
        let value = |key: &str| h[key].as_f64().unwrap_or(f64::NAN);
        let (lower, mean, upper) = (value("lower_mbps"), value("mbps"), value("upper_mbps"));
        assert!(
            0.0 <= lower && lower <= mean && mean <= upper,
            "an ordered band: {h}"
        );
        assert!(
            mean > 0.0 && mean <= 2.0 * PACING_MBPS,
            "paced at {PACING_MBPS} Mbit/s: {h}"
        );
    }
}

#[test]
fn c70_predictions_drive_a_running_migration_and_are_shown() {
    init_logging();
    let dir = TempDir::new("c70");
    let hosts = HostPair::start(&dir, &HostOptions::default());
    assert!(
        node(&hosts.a)["peers"][0]["prediction"].is_null(),
        "no prediction before any link sample"
    );
    let guest = Guest::start(&dir, "guest", &GuestOptions::new("256M", "4M"));
    let pid = guest.pid().to_string();
    let id = super::start_no_wait(
        &hosts.a,
        "vm70",
        &guest.memory,
        &["--pause-pid", &pid, "--pacing-mbps", "20", "--tier", "off"],
    );

    // A prediction appears with the first link samples.
    let first = wait_for_link_prediction(&hosts.a, 1, Duration::from_secs(30));
    tracing::info!(%first, "first prediction");
    check_link_prediction(&first);

    // The running migration shows its predicted ETA; the operator fixed the
    // pacing, the stream count follows the prediction.
    let with_eta = wait_for(
        &hosts.a,
        &id,
        Duration::from_secs(30),
        "a predicted ETA",
        |m| is_final(m) || m["prediction"]["eta_s"].is_f64(),
    );
    assert_eq!(with_eta["state"], "running", "{with_eta}");
    let prediction = &with_eta["prediction"];
    assert!(
        prediction["eta_s"].as_f64().unwrap_or(-1.0) > 0.0,
        "{with_eta}"
    );
    assert!(
        prediction["mbps"].as_f64().unwrap_or(0.0) > 0.0,
        "{with_eta}"
    );
    assert_eq!(prediction["pacing_auto"], false, "{with_eta}");
    assert_eq!(prediction["streams_auto"], true, "{with_eta}");

    // After ten samples the control plane writes the switch-over floor
    // into the job spec, where the data plane reads it.
    let with_floor = wait_for(
        &hosts.a,
        &id,
        Duration::from_secs(60),
        "a switch-over floor",
        |m| is_final(m) || m["prediction"]["floor_mbps"].as_f64().unwrap_or(0.0) > 0.0,
    );
    assert_eq!(with_floor["state"], "running", "{with_floor}");
    let floor = with_floor["prediction"]["floor_mbps"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(floor <= 2.0 * PACING_MBPS, "{with_floor}");
    check_link_prediction(&wait_for_link_prediction(
        &hosts.a,
        10,
        Duration::from_secs(5),
    ));

    // The destination has no prediction of its own for this migration.
    let received = super::show(&hosts.b, &id);
    assert!(received["prediction"].is_null(), "{received}");

    let metrics = hosts.a.http("GET", "/metrics", None).1;
    for needle in [
        "dwcp_link_predicted_throughput_bytes_per_second{",
        "horizon_seconds=\"30\"",
        "bound=\"lower\"",
        "dwcp_link_prediction_samples{",
        "predictor=\"lstm\"",
        "dwcp_migration_predicted_eta_seconds{",
        "dwcp_migration_predicted_floor_bytes_per_second{",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} in the metrics: {metrics}"
        );
    }
    let status = hosts.a.ctl(&["status"]);
    assert_eq!(status.code(), Some(0), "{}", status.describe());
    assert!(
        status.stdout.contains("PREDICTOR") && status.stdout.contains("lstm"),
        "{}",
        status.stdout
    );

    // Unpaced, it finishes soon; the link's prediction stays.
    let set = hosts.a.ctl(&["set", &id, "--pacing-mbps", "0"]);
    assert_eq!(set.code(), Some(0), "{}", set.describe());
    let last = wait_for(&hosts.a, &id, Duration::from_secs(120), "final", is_final);
    assert_eq!(last["state"], "completed", "{last}");
    assert!(last["prediction"].is_object(), "{last}");
    assert!(
        last["prediction"]["eta_s"].is_null(),
        "no ETA once final: {last}"
    );
    let after = node(&hosts.a)["peers"][0]["prediction"].clone();
    assert!(
        after["samples"].as_u64().unwrap_or(0) >= 1,
        "the prediction outlives the migration: {after}"
    );
}
