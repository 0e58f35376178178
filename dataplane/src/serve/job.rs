//! One migration the serve loop runs for the control plane: its thread,
//! its live handles, and the status record it publishes.

use crate::config::{DestinationConfig, SourceConfig};
use crate::live::{LiveTier, MigrationHandles};
use crate::progress::Phase;
use crate::summary::Summary;
use dwcp_dataplane_core::keys::PreSharedKey;
use dwcp_dataplane_core::level_control::LinkTier;
use dwcp_shared::tables::{
    CompressionTier, JobRole, JobSpec, JobState, JobStatus, RequestedState, ENCODING_KINDS,
};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

/// A receive job waits this long for the source (the control plane asks
/// the destination first, then starts the source).
pub const RECEIVE_ACCEPT_TIMEOUT_MS: u64 = 60_000;

/// A running job.
#[derive(Debug)]
pub struct RunningJob {
    /// The job's id (the spec's).
    pub job_id: u64,
    /// Send or receive.
    pub role: JobRole,
    /// The spec version applied last.
    pub applied_spec_version: u32,
    /// Shared with the migration.
    pub handles: MigrationHandles,
    /// Wall-clock start, ms since the epoch.
    pub started_unix_ms: u64,
    /// The destination address (send) or listen address (receive).
    pub address: String,
    thread: Option<JoinHandle<Summary>>,
}

fn tier(compression: CompressionTier) -> LiveTier {
    match compression {
        CompressionTier::Datacenter => LiveTier::Datacenter,
        CompressionTier::Internet => LiveTier::Internet,
        CompressionTier::Off => LiveTier::Off,
    }
}

fn compression(tier: LiveTier) -> CompressionTier {
    match tier {
        LiveTier::Datacenter => CompressionTier::Datacenter,
        LiveTier::Internet => CompressionTier::Internet,
        LiveTier::Off => CompressionTier::Off,
    }
}

fn psk(spec: &JobSpec) -> Arc<PreSharedKey> {
    let hex: String = spec.key.iter().map(|b| format!("{b:02x}")).collect();
    Arc::new(PreSharedKey::from_file_bytes(hex.as_bytes()).expect("a 32-byte key is long enough"))
}

/// The source settings for a send job.
pub fn source_config(spec: &JobSpec) -> SourceConfig {
    SourceConfig {
        memory: PathBuf::from(&spec.memory_path),
        destination: spec.address.clone(),
        key: Some(psk(spec)),
        streams: (spec.streams > 0).then_some(spec.streams),
        downtime_ms: u64::from(spec.downtime_ms),
        max_rounds: spec.max_rounds,
        codec: spec.codec,
        link_tier: match spec.compression {
            CompressionTier::Internet => LinkTier::Internet,
            CompressionTier::Datacenter | CompressionTier::Off => LinkTier::Datacenter,
        },
        compression_level: (spec.compression == CompressionTier::Off).then_some(0),
        pause: match i32::try_from(spec.pause_pid) {
            Ok(pid) if pid > 0 => crate::config::PauseConfig::Signal(pid),
            _ => crate::config::PauseConfig::None,
        },
        ..SourceConfig::DEFAULTS
    }
}

/// The destination settings for a receive job.
pub fn destination_config(spec: &JobSpec) -> DestinationConfig {
    DestinationConfig {
        listen: spec.address.clone(),
        memory: PathBuf::from(&spec.memory_path),
        memory_size: (spec.memory_bytes > 0).then_some(spec.memory_bytes),
        key: Some(psk(spec)),
        accept_timeout_ms: RECEIVE_ACCEPT_TIMEOUT_MS,
        ..DestinationConfig::DEFAULTS
    }
}

impl RunningJob {
    /// Starts `spec`'s migration on its own supervisor thread.
    pub fn start(spec: &JobSpec, now_unix_ms: u64) -> std::io::Result<Self> {
        let handles = MigrationHandles::default();
        let mut job = Self {
            job_id: spec.job_id,
            role: spec.role,
            applied_spec_version: 0,
            handles: handles.clone(),
            started_unix_ms: now_unix_ms,
            address: spec.address.clone(),
            thread: None,
        };
        job.apply(spec);
        let name = format!("dwcp-job-{:016x}", spec.job_id);
        // One span per migration: the supervisor thread's log lines carry its id.
        let span = tracing::info_span!("migration", id = %format!("{:016x}", spec.job_id), vm = %spec.vm_id);
        let thread = match spec.role {
            JobRole::Send => {
                let config = source_config(spec);
                std::thread::Builder::new().name(name).spawn(move || {
                    span.in_scope(|| crate::source::migrate_with(config, &handles))
                })?
            }
            JobRole::Receive => {
                let config = destination_config(spec);
                std::thread::Builder::new().name(name).spawn(move || {
                    span.in_scope(|| crate::destination::receive_with(config, &handles))
                })?
            }
        };
        job.thread = Some(thread);
        Ok(job)
    }

    /// Applies `spec`'s live fields (pacing, tier, active streams, hold,
    /// cancel, predicted floor) if its version moved.
    pub fn apply(&mut self, spec: &JobSpec) {
        if spec.spec_version == self.applied_spec_version {
            return;
        }
        let live = &self.handles.live;
        let now = live.settings();
        if now.pacing_bytes_per_s != Some(spec.pacing_bytes_per_s) {
            live.set_pacing(spec.pacing_bytes_per_s);
        }
        if spec.codec && now.tier != Some(tier(spec.compression)) {
            live.set_tier(tier(spec.compression));
        }
        let hold = spec.requested == RequestedState::Pause;
        if now.held != hold {
            live.set_held(hold);
        }
        // Unset and 0 both mean "every stream opened".
        if spec.role == JobRole::Send && now.streams_active.unwrap_or(0) != spec.streams_active {
            live.set_streams_active(spec.streams_active);
        }
        live.set_predicted_floor(spec.predicted_floor_bytes_per_s);
        if spec.requested == RequestedState::Cancel && !now.cancelled {
            tracing::info!(job_id = spec.job_id, "cancel requested");
            live.cancel();
        }
        self.applied_spec_version = spec.spec_version;
    }

    /// Whether the migration's thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Joins the ended thread: its summary, or `None` if it panicked.
    pub fn join(&mut self) -> Option<Summary> {
        self.thread.take().and_then(|t| t.join().ok())
    }

    /// The status record for the running migration.
    pub fn status(&self, now_unix_ms: u64) -> JobStatus {
        let p = &self.handles.progress;
        let state = match (p.phase(), self.role) {
            (Phase::Starting, _) => JobState::Accepted,
            (Phase::Listening, _) => JobState::Listening,
            (Phase::PreCopy, _) => JobState::Running,
            (Phase::Paused, _) => JobState::Paused,
            (Phase::Verifying | Phase::Done, _) => JobState::Verifying,
        };
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let mut pages_by_kind = [0u64; ENCODING_KINDS];
        let mut bytes_by_kind = [0u64; ENCODING_KINDS];
        for k in 0..ENCODING_KINDS {
            pages_by_kind[k] = load(&p.pages_by_kind[k]);
            bytes_by_kind[k] = load(&p.bytes_by_kind[k]);
        }
        let live = self.handles.live.settings();
        JobStatus {
            job_id: self.job_id,
            applied_spec_version: self.applied_spec_version,
            state,
            round: p.round.load(Ordering::Relaxed) + 1,
            memory_bytes: load(&p.memory_bytes),
            pages_done: load(&p.pages),
            pages_remaining: load(&p.pages_remaining),
            bytes_on_wire: load(&p.bytes_on_wire),
            pages_by_kind,
            bytes_by_kind,
            dirty_bytes_per_s: load(&p.dirty_bytes_per_s),
            throughput_bytes_per_s: load(&p.throughput_bytes_per_s),
            streams_active: p.streams.load(Ordering::Relaxed),
            streams_connected: p.streams_connected.load(Ordering::Relaxed),
            pacing_bytes_per_s: load(&p.pacing_bytes_per_s),
            compression: compression(live.tier.unwrap_or(LiveTier::Datacenter)),
            started_unix_ms: self.started_unix_ms,
            updated_unix_ms: now_unix_ms,
            finished_unix_ms: 0,
            downtime_ms: 0,
            error: None,
            summary_json: None,
        }
    }

    /// The final status record from the migration's summary (`None`: the
    /// migration thread panicked).
    pub fn final_status(&self, summary: Option<&Summary>, now_unix_ms: u64) -> JobStatus {
        let mut status = self.status(now_unix_ms);
        status.finished_unix_ms = now_unix_ms.max(1);
        match summary {
            None => {
                status.state = JobState::Failed;
                status.error = Some("the migration thread panicked".into());
            }
            Some(summary) => {
                status.state = if summary.verified {
                    JobState::Completed
                } else if summary.error_kind == Some(crate::error::ErrorKind::Cancelled) {
                    JobState::Cancelled
                } else if summary.error_kind == Some(crate::error::ErrorKind::InDoubt) {
                    JobState::InDoubt
                } else {
                    JobState::Failed
                };
                status.error.clone_from(&summary.error);
                status.bytes_on_wire = summary.bytes_on_wire;
                status.downtime_ms = summary.downtime_ms.unwrap_or(0);
                status.round = summary.rounds;
                if summary.verified {
                    status.pages_remaining = 0;
                }
                status.summary_json = Some(summary.to_json_line());
            }
        }
        status
    }
}
