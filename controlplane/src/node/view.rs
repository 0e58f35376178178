//! How a job in the tables looks in the API: pure conversions from the
//! control plane's spec and the data plane's status record.

use crate::api_types::{
    CompressionTier as ApiTier, HorizonPrediction, LinkModeName, LinkPrediction, Migration,
    MigrationPrediction, MigrationRole, MigrationState, WorkerStatus,
};
use crate::predict::online::{LinkForecast, ONLINE_HORIZONS_S};
use crate::predict::online_rules::{predicted_eta_s, Progress};
use dwcp_shared::tables::{
    CompressionTier, JobRole, JobSpec, JobState, JobStatus, LinkMode, RequestedState,
    WorkerCounters, WorkerRole,
};

/// Bytes of a guest page.
const PAGE_BYTES: u64 = 4096;

/// The migration's id as the API spells it.
pub fn migration_id(job_id: u64) -> String {
    format!("{job_id:016x}")
}

/// Parses an API id back; `None` if it is not 16 hex digits or zero.
pub fn parse_migration_id(text: &str) -> Option<u64> {
    if text.len() != 16 {
        return None;
    }
    u64::from_str_radix(text, 16).ok().filter(|&id| id != 0)
}

/// Mbit/s from bytes per second.
pub fn mbps(bytes_per_s: u64) -> f64 {
    bytes_per_s as f64 * 8.0 / 1e6
}

/// The API's name of a link mode.
pub fn mode_name(mode: Option<LinkMode>) -> LinkModeName {
    match mode {
        None => LinkModeName::Unknown,
        Some(LinkMode::Datacenter) => LinkModeName::Datacenter,
        Some(LinkMode::Internet) => LinkModeName::Internet,
        Some(LinkMode::Hybrid) => LinkModeName::Hybrid,
    }
}

/// The API's tier from the table's.
pub fn api_tier(tier: CompressionTier) -> ApiTier {
    match tier {
        CompressionTier::Datacenter => ApiTier::Datacenter,
        CompressionTier::Internet => ApiTier::Internet,
        CompressionTier::Off => ApiTier::Off,
    }
}

/// The table's tier from the API's.
pub fn table_tier(tier: ApiTier) -> CompressionTier {
    match tier {
        ApiTier::Datacenter => CompressionTier::Datacenter,
        ApiTier::Internet => CompressionTier::Internet,
        ApiTier::Off => CompressionTier::Off,
    }
}

/// The API state from a status record (`None`: the data plane has not
/// taken the job yet).
pub fn api_state(status: Option<&JobStatus>) -> MigrationState {
    match status.map(|s| s.state) {
        None | Some(JobState::Accepted) => MigrationState::Pending,
        Some(JobState::Listening) => MigrationState::Listening,
        Some(JobState::Running) => MigrationState::Running,
        Some(JobState::Paused) => MigrationState::Paused,
        Some(JobState::Verifying) => MigrationState::Verifying,
        Some(JobState::Completed) => MigrationState::Completed,
        Some(JobState::Failed) => MigrationState::Failed,
        Some(JobState::Cancelled) => MigrationState::Cancelled,
        Some(JobState::InDoubt) => MigrationState::InDoubt,
    }
}

/// Seconds left: the pages still to send in this round plus what the guest
/// dirties meanwhile, at the current throughput; `None` without a rate or
/// when the guest dirties faster than the link drains.
pub fn eta_seconds(status: &JobStatus) -> Option<f64> {
    if status.state.is_final() || status.throughput_bytes_per_s == 0 {
        return None;
    }
    let remaining = (status.pages_remaining * PAGE_BYTES) as f64;
    let drain = status.throughput_bytes_per_s as f64 - status.dirty_bytes_per_s as f64;
    (drain > 0.0).then(|| remaining / drain)
}

/// What the link's forecast does for a source job (`None` for a receive
/// job): the predicted ETA while the migration is not `final`, the floor
/// and which settings follow the prediction.
pub fn migration_prediction(
    spec: &JobSpec,
    status: Option<&JobStatus>,
    forecast: Option<&LinkForecast>,
    is_final: bool,
) -> Option<MigrationPrediction> {
    if spec.role != JobRole::Send {
        return None;
    }
    let predicted_mbps = forecast.filter(|_| !is_final).map(|f| f.long().mbps);
    let eta_s = status.zip(predicted_mbps).and_then(|(s, predicted)| {
        let progress = Progress {
            pages_remaining: s.pages_remaining,
            pages_done: s.pages_done,
            bytes_on_wire: s.bytes_on_wire,
            dirty_bytes_per_s: s.dirty_bytes_per_s,
        };
        predicted_eta_s(&progress, predicted)
    });
    Some(MigrationPrediction {
        eta_s,
        mbps: predicted_mbps,
        floor_mbps: mbps(spec.predicted_floor_bytes_per_s),
        pacing_auto: spec.pacing_follows_prediction,
        streams_auto: spec.streams_follow_prediction,
    })
}

/// The API view of a link's forecast at `now_unix_ms`.
pub fn link_prediction(forecast: &LinkForecast, now_unix_ms: u64) -> LinkPrediction {
    LinkPrediction {
        predictor: forecast.predictor.clone(),
        samples: forecast.steps,
        age_ms: forecast.age_ms(now_unix_ms),
        measures_link: forecast.measures_link,
        horizons: ONLINE_HORIZONS_S
            .iter()
            .zip(&forecast.horizons)
            .map(|(&horizon_s, p)| HorizonPrediction {
                horizon_s,
                mbps: p.mbps,
                lower_mbps: p.lower,
                upper_mbps: p.upper,
            })
            .collect(),
    }
}

/// The API view of one job. `override_error` replaces the state with
/// `failed` and this error (the control plane knows the data plane died);
/// `forecast` is the peer link's, for the predicted ETA.
pub fn migration_view(
    spec: &JobSpec,
    status: Option<&JobStatus>,
    override_error: Option<&str>,
    forecast: Option<&LinkForecast>,
) -> Migration {
    let mut state = api_state(status);
    let mut error = status.and_then(|s| s.error.clone());
    if let (Some(reason), false) = (override_error, state.is_final()) {
        state = MigrationState::Failed;
        error = Some(reason.to_owned());
    }
    let memory_bytes = status.map_or(spec.memory_bytes, |s| s.memory_bytes);
    let percent = status.map_or(0.0, |s| {
        let pages = s.memory_bytes / PAGE_BYTES;
        if s.state == JobState::Completed {
            100.0
        } else if pages == 0 {
            0.0
        } else {
            100.0 * (pages.saturating_sub(s.pages_remaining)) as f64 / pages as f64
        }
    });
    let summary = status
        .and_then(|s| s.summary_json.as_deref())
        .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .map(|mut value| {
            if let Some(object) = value.as_object_mut() {
                object.insert(
                    "mode".into(),
                    serde_json::to_value(mode_name(spec.link_mode)).unwrap_or_default(),
                );
                object.insert("migration_id".into(), migration_id(spec.job_id).into());
            }
            value
        });
    Migration {
        id: migration_id(spec.job_id),
        vm_id: spec.vm_id.clone(),
        role: match spec.role {
            JobRole::Send => MigrationRole::Source,
            JobRole::Receive => MigrationRole::Destination,
        },
        memory_file: spec.memory_path.clone(),
        peer: spec.peer_id.clone(),
        state,
        round: status.map_or(0, |s| s.round),
        percent,
        memory_bytes,
        pages: status.map_or(0, |s| s.pages_done),
        bytes_on_wire: status.map_or(0, |s| s.bytes_on_wire),
        throughput_mbps: status.map_or(0.0, |s| mbps(s.throughput_bytes_per_s)),
        dirty_rate_mbps: status.map_or(0.0, |s| mbps(s.dirty_bytes_per_s)),
        eta_s: status.and_then(eta_seconds),
        mode: mode_name(spec.link_mode),
        pacing_mbps: status.map_or(spec.pacing_bytes_per_s, |s| s.pacing_bytes_per_s) * 8
            / 1_000_000,
        compression_tier: api_tier(status.map_or(spec.compression, |s| s.compression)),
        streams: status.map_or(
            match spec.streams_active {
                0 => spec.streams,
                active => active,
            },
            |s| s.streams_active,
        ),
        held: spec.requested == RequestedState::Pause,
        streams_connected: status
            .map(|s| s.streams_connected)
            .filter(|&n| n > 0)
            .unwrap_or(spec.streams),
        error,
        summary,
        prediction: migration_prediction(spec, status, forecast, state.is_final()),
    }
}

/// The API's view of a worker record.
pub fn worker_view(worker: &WorkerCounters) -> WorkerStatus {
    let busy_s = worker.busy_ns as f64 / 1e9;
    let idle_s = worker.idle_ns as f64 / 1e9;
    let total = busy_s + idle_s;
    WorkerStatus {
        role: match worker.role {
            WorkerRole::Engine => "engine",
            WorkerRole::Transport => "transport",
            WorkerRole::Decoder => "decoder",
            WorkerRole::Serve => "serve",
        }
        .to_owned(),
        core: worker.core,
        migration: (worker.job_id != 0).then(|| migration_id(worker.job_id)),
        busy_s,
        idle_s,
        busy_fraction: if total > 0.0 { busy_s / total } else { 0.0 },
        frames: worker.frames,
        bytes: worker.bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        assert_eq!(migration_id(0xab), "00000000000000ab");
        assert_eq!(parse_migration_id("00000000000000ab"), Some(0xab));
        assert_eq!(parse_migration_id("0000000000000000"), None);
        assert_eq!(parse_migration_id("ab"), None);
        assert_eq!(parse_migration_id("zzzzzzzzzzzzzzzz"), None);
    }
}
