//! Prometheus metrics at `/metrics`, read from the tables at scrape time
//! (so a restarted control plane reports the same numbers at once).
//!
//! Names follow the original's (`dwcp_system_component_health` with 0 down /
//! 2 healthy) where it had one; units are in the names. Migrations are shown
//! as the API shows them (failed when the data plane is dead).

use super::service::ControlPlane;
use super::view;
use crate::predict::online::ONLINE_HORIZONS_S;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type GaugeF64 = Gauge<f64, AtomicU64>;

/// The encoding kinds in the tables' order.
const KINDS: [&str; dwcp_shared::tables::ENCODING_KINDS] =
    ["zero", "duplicate", "delta", "zstd", "raw"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MigrationLabels {
    migration: String,
    vm: String,
    role: String,
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    migration: String,
    vm: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    migration: String,
    vm: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    peer: String,
    mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PredictionLabels {
    peer: String,
    /// The horizon, seconds (`5`, `30`).
    horizon_seconds: String,
    /// `mean`, `lower` or `upper`.
    bound: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PredictorLabels {
    peer: String,
    predictor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    /// Slot in the worker table: tells apart two threads of one role.
    slot: String,
    role: String,
    migration: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    component: String,
}

/// Renders the metrics; holds nothing between scrapes.
#[derive(Debug, Default)]
pub struct Metrics;

impl Metrics {
    /// The OpenMetrics text of `node`'s current state.
    pub fn render(&self, node: &ControlPlane) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::with_prefix("dwcp");
        let bytes_by_kind = Family::<KindLabels, GaugeF64>::default();
        let wire = Family::<MigrationLabels, GaugeF64>::default();
        let throughput = Family::<MigrationLabels, GaugeF64>::default();
        let dirty = Family::<MigrationLabels, GaugeF64>::default();
        let rounds = Family::<MigrationLabels, GaugeF64>::default();
        let downtime = Family::<MigrationLabels, GaugeF64>::default();
        let streams = Family::<MigrationLabels, GaugeF64>::default();
        let state = Family::<StateLabels, GaugeF64>::default();
        let rtt = Family::<PeerLabels, GaugeF64>::default();
        let loss = Family::<PeerLabels, GaugeF64>::default();
        let link_throughput = Family::<PeerLabels, GaugeF64>::default();
        let mode = Family::<ModeLabels, GaugeF64>::default();
        let predicted = Family::<PredictionLabels, GaugeF64>::default();
        let prediction_samples = Family::<PredictorLabels, GaugeF64>::default();
        let predicted_eta = Family::<MigrationLabels, GaugeF64>::default();
        let predicted_floor = Family::<MigrationLabels, GaugeF64>::default();
        let health = Family::<ComponentLabels, GaugeF64>::default();
        let active = GaugeF64::default();
        let worker_busy = Family::<WorkerLabels, GaugeF64>::default();
        let worker_idle = Family::<WorkerLabels, GaugeF64>::default();
        let worker_frames = Family::<WorkerLabels, GaugeF64>::default();
        let worker_bytes = Family::<WorkerLabels, GaugeF64>::default();
        for (slot, worker) in node.workers().iter().enumerate() {
            let labels = WorkerLabels {
                slot: slot.to_string(),
                role: worker.role.clone(),
                migration: worker.migration.clone().unwrap_or_default(),
            };
            worker_busy.get_or_create(&labels).set(worker.busy_s);
            worker_idle.get_or_create(&labels).set(worker.idle_s);
            worker_frames
                .get_or_create(&labels)
                .set(worker.frames as f64);
            worker_bytes.get_or_create(&labels).set(worker.bytes as f64);
        }

        let links = node.peer_links();
        let jobs = node.jobs().unwrap_or_default();
        let problem = node.dataplane_problem();
        let mut active_count = 0u32;
        for job in &jobs {
            let forecast = links
                .iter()
                .find(|l| l.peer == job.spec.peer_id)
                .and_then(|l| l.forecast.as_ref());
            let m =
                view::migration_view(&job.spec, job.status.as_ref(), problem.as_deref(), forecast);
            if !m.state.is_final() {
                active_count += 1;
            }
            let labels = MigrationLabels {
                migration: m.id.clone(),
                vm: m.vm_id.clone(),
                role: format!("{:?}", m.role).to_lowercase(),
                peer: m.peer.clone(),
            };
            wire.get_or_create(&labels).set(m.bytes_on_wire as f64);
            throughput
                .get_or_create(&labels)
                .set(m.throughput_mbps * 1e6 / 8.0);
            dirty
                .get_or_create(&labels)
                .set(m.dirty_rate_mbps * 1e6 / 8.0);
            rounds.get_or_create(&labels).set(f64::from(m.round));
            streams.get_or_create(&labels).set(f64::from(m.streams));
            if let Some(prediction) = &m.prediction {
                predicted_floor
                    .get_or_create(&labels)
                    .set(prediction.floor_mbps * 1e6 / 8.0);
                if let Some(eta_s) = prediction.eta_s {
                    predicted_eta.get_or_create(&labels).set(eta_s);
                }
            }
            if let Some(status) = &job.status {
                if status.finished_unix_ms > 0 {
                    downtime
                        .get_or_create(&labels)
                        .set(status.downtime_ms as f64 / 1000.0);
                }
                for (k, name) in KINDS.iter().enumerate() {
                    bytes_by_kind
                        .get_or_create(&KindLabels {
                            migration: m.id.clone(),
                            vm: m.vm_id.clone(),
                            kind: (*name).to_owned(),
                        })
                        .set(status.bytes_by_kind[k] as f64);
                }
            }
            let state_name = serde_json::to_value(m.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            state
                .get_or_create(&StateLabels {
                    migration: m.id,
                    vm: m.vm_id,
                    state: state_name,
                })
                .set(1.0);
        }
        active.set(f64::from(active_count));
        for link in links {
            let peer = link.peer;
            let labels = PeerLabels { peer: peer.clone() };
            if let Some(forecast) = &link.forecast {
                prediction_samples
                    .get_or_create(&PredictorLabels {
                        peer: peer.clone(),
                        predictor: forecast.predictor.clone(),
                    })
                    .set(forecast.steps as f64);
                for (horizon_s, p) in ONLINE_HORIZONS_S.iter().zip(&forecast.horizons) {
                    for (bound, mbps) in [("mean", p.mbps), ("lower", p.lower), ("upper", p.upper)]
                    {
                        predicted
                            .get_or_create(&PredictionLabels {
                                peer: peer.clone(),
                                horizon_seconds: horizon_s.to_string(),
                                bound: bound.to_owned(),
                            })
                            .set(mbps * 1e6 / 8.0);
                    }
                }
            }
            if let Some(sample) = link.last {
                rtt.get_or_create(&labels)
                    .set(f64::from(sample.rtt_us) / 1e6);
                loss.get_or_create(&labels)
                    .set(f64::from(sample.loss_ppm) / 1e6);
                link_throughput
                    .get_or_create(&labels)
                    .set(sample.throughput_bytes_per_s as f64);
            }
            let name = serde_json::to_value(link.mode)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            mode.get_or_create(&ModeLabels { peer, mode: name })
                .set(1.0);
        }
        for (component, verdict) in node.health().components {
            health
                .get_or_create(&ComponentLabels { component })
                .set(if verdict == "ok" { 2.0 } else { 0.0 });
        }

        registry.register(
            "migration_bytes_by_kind",
            "Bytes on the wire per page encoding kind (codec on)",
            bytes_by_kind,
        );
        registry.register("migration_wire_bytes", "Bytes on the wire so far", wire);
        registry.register(
            "migration_throughput_bytes_per_second",
            "Current migration throughput",
            throughput,
        );
        registry.register(
            "migration_dirty_rate_bytes_per_second",
            "Guest dirty rate seen by the last round",
            dirty,
        );
        registry.register("migration_rounds", "Pre-copy rounds so far", rounds);
        registry.register(
            "migration_downtime_seconds",
            "Guest pause to verified image, final migrations",
            downtime,
        );
        registry.register(
            "migration_streams_active",
            "TCP streams of the migration carrying data",
            streams,
        );
        registry.register(
            "worker_busy_seconds",
            "Data-plane thread time spent working",
            worker_busy,
        );
        registry.register(
            "worker_idle_seconds",
            "Data-plane thread time spent idle for lack of work",
            worker_idle,
        );
        registry.register(
            "worker_frames",
            "Frames a data-plane thread handled",
            worker_frames,
        );
        registry.register(
            "worker_bytes",
            "Bytes a data-plane thread handled",
            worker_bytes,
        );
        registry.register(
            "migration_state",
            "1 for the migration's current state",
            state,
        );
        registry.register("migrations_active", "Migrations not yet final", active);
        registry.register(
            "link_rtt_seconds",
            "Last round-trip time sample per peer",
            rtt,
        );
        registry.register(
            "link_loss_ratio",
            "Retransmitted / sent segments, last sample per peer",
            loss,
        );
        registry.register(
            "link_throughput_bytes_per_second",
            "Last throughput sample per peer",
            link_throughput,
        );
        registry.register("link_mode", "1 for the peer link's current mode", mode);
        registry.register(
            "link_predicted_throughput_bytes_per_second",
            "Predicted mean throughput of the peer link over the next horizon_seconds, and its band",
            predicted,
        );
        registry.register(
            "link_prediction_samples",
            "Link samples fed to the peer link's predictor since it last started over",
            prediction_samples,
        );
        registry.register(
            "migration_predicted_eta_seconds",
            "Seconds to the end of the migration at the predicted bandwidth",
            predicted_eta,
        );
        registry.register(
            "migration_predicted_floor_bytes_per_second",
            "Switch-over floor given to the data plane (0: none), source migrations",
            predicted_floor,
        );
        registry.register(
            "system_component_health",
            "Component health: 0 down, 2 healthy",
            health,
        );
        let mut text = String::new();
        encode(&mut text, &registry)?;
        Ok(text)
    }
}
