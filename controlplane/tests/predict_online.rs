//! Online prediction through its public API: a predictor fed like the
//! supervisor feeds it, steering a migration as a link degrades, and how
//! `dwcpctl` and the JSON bodies show the result.

use dwcp_controlplane::api_types::{
    HorizonPrediction, LinkModeName, LinkPrediction, Migration, MigrationPrediction, PeerStatus,
};
use dwcp_controlplane::cli::render;
use dwcp_controlplane::predict::online::{OnlinePredictor, TimedSample, SETTLE_MS};
use dwcp_controlplane::predict::online_rules::{steer, SteeredJob, PACING_HEADROOM};

/// A sample at second `s` of `mbps`, as the supervisor offers it.
fn sample(s: u64, mbps: f64) -> TimedSample {
    TimedSample {
        unix_ms: 1_700_000_000_000 + s * 1000,
        throughput_mbps: mbps,
        rtt_ms: 40.0,
        jitter_ms: 2.0,
        loss_percent: 0.0,
        measures_link: true,
    }
}

#[test]
fn a_degrading_link_lowers_the_floor_and_the_pacing() {
    let (mut online, warning) = OnlinePredictor::select(None);
    assert_eq!(warning, None);
    let mut job = SteeredJob {
        pacing_follows_prediction: true,
        streams_follow_prediction: false,
        pacing_bytes_per_s: 0,
        streams_active: 4,
        streams_connected: 4,
        floor_bytes_per_s: 0,
        shared_path: true,
        streams_changed_unix_ms: None,
    };
    let apply = |online: &OnlinePredictor, s: u64, job: &mut SteeredJob| {
        let now = sample(s, 1.0).unix_ms + SETTLE_MS;
        let steering = steer(job, online.forecast(), now);
        if let Some(floor) = steering.floor_bytes_per_s {
            job.floor_bytes_per_s = floor;
        }
        if let Some(pacing) = steering.pacing_bytes_per_s {
            job.pacing_bytes_per_s = pacing;
        }
        steering
    };
    // A steady 100 Mbit/s for a minute.
    for s in 0..60 {
        online.offer(sample(s, 100.0));
        online.settle(sample(s, 1.0).unix_ms + SETTLE_MS);
        let steering = apply(&online, s, &mut job);
        if s < 9 {
            assert!(steering.is_empty(), "no steering during the warm-up: {s}");
        }
    }
    let steady = online.forecast().expect("60 steps").clone();
    assert_eq!(steady.steps, 60);
    let (steady_floor, steady_pacing) = (job.floor_bytes_per_s, job.pacing_bytes_per_s);
    assert!(
        steady_floor > 8_000_000 && steady_floor < 12_500_000,
        "a floor just under 100 Mbit/s: {steady_floor}"
    );
    let upper = steady.short().upper * 1e6 / 8.0;
    assert!(
        (steady_pacing as f64 - upper * PACING_HEADROOM).abs() <= 0.1 * steady_pacing as f64 + 1.0,
        "pacing {steady_pacing} near {PACING_HEADROOM} × the upper band {upper}"
    );
    // The link drops to 20 Mbit/s: within 30 s the floor and the pacing follow.
    for s in 60..90 {
        online.offer(sample(s, 20.0));
        online.settle(sample(s, 1.0).unix_ms + SETTLE_MS);
        apply(&online, s, &mut job);
    }
    assert!(
        job.floor_bytes_per_s < steady_floor / 3,
        "floor {} after the drop (was {steady_floor})",
        job.floor_bytes_per_s
    );
    assert!(
        job.pacing_bytes_per_s < steady_pacing / 2,
        "pacing {} after the drop (was {steady_pacing})",
        job.pacing_bytes_per_s
    );
    // No samples for 10 s (the migration held): the floor is cleared.
    let steering = apply(&online, 100, &mut job);
    assert_eq!(steering.floor_bytes_per_s, Some(0));
    assert_eq!(steering.pacing_bytes_per_s, None, "the last pacing stays");
}

fn link_prediction() -> LinkPrediction {
    LinkPrediction {
        predictor: "lstm".into(),
        samples: 42,
        age_ms: 300,
        measures_link: true,
        horizons: vec![
            HorizonPrediction {
                horizon_s: 5,
                mbps: 93.14,
                lower_mbps: 80.21,
                upper_mbps: 101.0,
            },
            HorizonPrediction {
                horizon_s: 30,
                mbps: 90.0,
                lower_mbps: 70.04,
                upper_mbps: 110.54,
            },
        ],
    }
}

fn peer(id: &str, prediction: Option<LinkPrediction>) -> PeerStatus {
    PeerStatus {
        id: id.into(),
        control_address: "192.0.2.2:7701".into(),
        mode: LinkModeName::Internet,
        rtt_ms: Some(40.0),
        throughput_mbps: Some(95.0),
        loss_percent: Some(0.0),
        prediction,
    }
}

#[test]
fn dwcpctl_shows_predictions_only_where_there_are_some() {
    let peers = [
        peer("host-b", Some(link_prediction())),
        peer("host-c", None),
    ];
    assert_eq!(
        render::predictions_table(&peers),
        "\
PEER    PREDICTOR  SAMPLES     NEXT 5S MBIT/S    NEXT 30S MBIT/S
host-b  lstm            42  93.1 (80.2-101.0)  90.0 (70.0-110.5)
"
    );
    assert_eq!(render::predictions_table(&[peer("host-c", None)]), "");
    let mut prediction = MigrationPrediction {
        eta_s: Some(4.24),
        mbps: Some(93.14),
        floor_mbps: 80.0,
        pacing_auto: true,
        streams_auto: false,
    };
    assert_eq!(
        render::prediction_line(&prediction),
        "eta 4.2s at 93.1 Mbit/s, floor 80.0 Mbit/s, pacing auto, streams set"
    );
    prediction.mbps = None;
    prediction.eta_s = None;
    prediction.floor_mbps = 0.0;
    assert_eq!(
        render::prediction_line(&prediction),
        "eta -, floor none, pacing auto, streams set"
    );
}

#[test]
fn bodies_without_prediction_fields_still_parse() {
    // An API answer from before online prediction: no `prediction` keys.
    let migration = r#"{"id":"43b9e62261739843","vm_id":"vm1","role":"source","memory_file":"/dev/shm/vm1.ram","peer":"host-b","state":"running","round":1,"percent":20.3,"memory_bytes":268435456,"pages":13568,"bytes_on_wire":35222391,"throughput_mbps":392.7,"dirty_rate_mbps":0.0,"eta_s":4.3,"mode":"unknown","pacing_mbps":400,"compression_tier":"datacenter","streams":1,"held":false,"streams_connected":1,"error":null,"summary":null}"#;
    let parsed: Migration = serde_json::from_str(migration).expect("an older body");
    assert_eq!(parsed.prediction, None);
    let peer_body = r#"{"id":"host-b","control_address":"192.0.2.2:7701","mode":"unknown","rtt_ms":null,"throughput_mbps":null,"loss_percent":null}"#;
    let parsed: PeerStatus = serde_json::from_str(peer_body).expect("an older body");
    assert_eq!(parsed.prediction, None);
    // And the new ones round-trip.
    let with = peer("host-b", Some(link_prediction()));
    let text = serde_json::to_string(&with).expect("JSON");
    assert!(
        text.contains(r#""horizons":[{"horizon_s":5,"mbps":93.14"#),
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<PeerStatus>(&text).expect("back"),
        with
    );
}
