//! JSON bodies of the control plane's HTTP API (`/v1/...`), shared by the
//! server and `dwcpctl`. docs/operations.md lists the endpoints.
//!
//! Units are in the names: `_bytes`, `_mbps` (megabits per second, 10^6 bit/s),
//! `_ms`, `_s`. Every field a client may omit has `#[serde(default)]`; unknown
//! fields in a request are refused, so a typo is an error and not a silent
//! default.

use serde::{Deserialize, Serialize};

/// `POST /v1/migrations`: migrate a VM's memory to another host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartMigration {
    /// The VM's id (1..=64 characters of `[A-Za-z0-9._-]`).
    pub vm_id: String,
    /// The guest memory file on this host (QEMU memory-backend-file).
    pub memory_file: String,
    /// The destination host's id, as in the `[[peers]]` of the configuration.
    pub destination: String,
    /// Parallel TCP streams carrying data (`None`: chosen from the link mode).
    #[serde(default)]
    pub streams: Option<u16>,
    /// TCP streams to open, at least `streams`, so that the live count can
    /// later be raised up to it (`None`: open exactly `streams`).
    #[serde(default)]
    pub streams_max: Option<u16>,
    /// Downtime budget for the switch-over.
    #[serde(default)]
    pub downtime_ms: Option<u64>,
    /// Pacing rate, Mbit/s (`None`: the configuration's default; 0: unpaced).
    #[serde(default)]
    pub pacing_mbps: Option<u64>,
    /// Compression tier (`None`: chosen from the link mode).
    #[serde(default)]
    pub compression_tier: Option<CompressionTier>,
    /// Process to stop (SIGSTOP) for the switch-over and to continue
    /// (SIGCONT) if the migration fails after it: the VM's process.
    #[serde(default)]
    pub pause_pid: Option<u32>,
}

/// `PATCH /v1/migrations/{id}`: change a running migration; each field that
/// is present is applied within 100 ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMigration {
    /// New pacing rate, Mbit/s (0: unpaced).
    #[serde(default)]
    pub pacing_mbps: Option<u64>,
    /// New compression tier.
    #[serde(default)]
    pub compression_tier: Option<CompressionTier>,
    /// How many of the streams the migration opened carry data, 1 to
    /// `streams_connected` (more is 409: streams are opened at the start).
    #[serde(default)]
    pub streams: Option<u16>,
    /// `true`: hold sending (the guest keeps running, connections stay
    /// open, nothing is lost); `false`: go on.
    #[serde(default)]
    pub held: Option<bool>,
}

/// The page codec's ladder of levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompressionTier {
    /// Fast levels: the link is about as fast as the encoder.
    Datacenter,
    /// Strong levels: bytes on the wire cost more than CPU.
    Internet,
    /// No compression, only zero pages are elided.
    Off,
}

/// A peer link's class (see `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkModeName {
    /// Low latency, high bandwidth, no loss.
    Datacenter,
    /// High latency, low bandwidth or loss.
    Internet,
    /// In between.
    Hybrid,
    /// No samples yet.
    Unknown,
}

/// Which end of a migration this host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationRole {
    /// This host sends the memory.
    Source,
    /// This host receives it.
    Destination,
}

/// Where a migration is. `completed`, `failed`, `cancelled` and `in_doubt` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationState {
    /// Accepted by the control plane, not yet taken by the data plane.
    Pending,
    /// Destination: listening for the source.
    Listening,
    /// Pre-copy rounds while the guest runs.
    Running,
    /// Guest paused, final round.
    Paused,
    /// Waiting for the destination's verdict.
    Verifying,
    /// Verified by the destination.
    Completed,
    /// Failed; `error` says why.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
    /// Source: the hand-over was committed and never acknowledged; the
    /// guest stays paused until an operator settles who owns it (the
    /// destination's state says whether it took the guest).
    InDoubt,
}

impl MigrationState {
    /// Whether the migration is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::InDoubt
        )
    }
}

/// A migration as the API shows it (`GET /v1/migrations/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    /// The migration's id: 16 hex digits.
    pub id: String,
    /// The VM's id.
    pub vm_id: String,
    /// Which end this host is.
    pub role: MigrationRole,
    /// The memory file on this host.
    pub memory_file: String,
    /// The other host's id.
    pub peer: String,
    /// Where it is.
    pub state: MigrationState,
    /// Pre-copy round, 1-based (0 before the first).
    pub round: u32,
    /// Share of the memory sent in this round, 0..=100.
    pub percent: f64,
    /// Guest memory size.
    pub memory_bytes: u64,
    /// Pages sent (source) or written (destination) so far.
    pub pages: u64,
    /// Bytes on the wire so far.
    pub bytes_on_wire: u64,
    /// Current throughput, Mbit/s.
    pub throughput_mbps: f64,
    /// Guest dirty rate seen by the last round, Mbit/s.
    pub dirty_rate_mbps: f64,
    /// Estimated seconds to the end of the migration, when there is one.
    pub eta_s: Option<f64>,
    /// The peer link's mode when the migration started.
    pub mode: LinkModeName,
    /// Pacing rate in effect, Mbit/s (0: unpaced).
    pub pacing_mbps: u64,
    /// Compression tier in effect.
    pub compression_tier: CompressionTier,
    /// Streams carrying data (the live setting in effect).
    pub streams: u16,
    /// An operator asked to hold sending (see `PATCH`'s `held`).
    pub held: bool,
    /// Streams the migration opened: the most `streams` can be raised to
    /// (0: not yet known).
    pub streams_connected: u16,
    /// Why it failed.
    pub error: Option<String>,
    /// The data plane's JSON summary once final (with `mode` added).
    pub summary: Option<serde_json::Value>,
    /// How the link's bandwidth prediction drives the migration (source
    /// host only; `null` on the destination).
    #[serde(default)]
    pub prediction: Option<MigrationPrediction>,
}

/// What the bandwidth prediction of the link does for one migration
/// (docs/prediction.md §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationPrediction {
    /// Seconds to the end at the predicted bandwidth: the wire bytes still
    /// to send in this round (pages left × wire bytes per page so far) over
    /// the predicted mean of the next 30 s minus the dirty rate; `null`
    /// without a prediction, once final, or when the guest dirties faster.
    pub eta_s: Option<f64>,
    /// The predicted mean throughput of the next 30 s used for `eta_s`,
    /// Mbit/s.
    pub mbps: Option<f64>,
    /// The switch-over floor given to the data plane, Mbit/s (0: none): it
    /// plans the switch-over with the lower of this and its measured rate.
    pub floor_mbps: f64,
    /// The pacing follows the prediction (false: the operator set it).
    pub pacing_auto: bool,
    /// The stream count follows the prediction (false: the operator set it).
    pub streams_auto: bool,
}

/// `GET /v1/migrations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationList {
    /// Newest first.
    pub migrations: Vec<Migration>,
}

/// A peer's link as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The peer host's id.
    pub id: String,
    /// Its control plane's address.
    pub control_address: String,
    /// The link's class.
    pub mode: LinkModeName,
    /// Last round-trip time sample, ms.
    pub rtt_ms: Option<f64>,
    /// Last throughput sample, Mbit/s.
    pub throughput_mbps: Option<f64>,
    /// Last loss sample, percent of segments retransmitted.
    pub loss_percent: Option<f64>,
    /// The link's bandwidth prediction (`null` until a migration to the
    /// peer produced link samples).
    #[serde(default)]
    pub prediction: Option<LinkPrediction>,
}

/// A peer link's bandwidth prediction (docs/prediction.md §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkPrediction {
    /// `lstm` (the shipped model) or the fallback baseline (`ewma`).
    pub predictor: String,
    /// Link samples (one a second) fed since the predictor last started
    /// over.
    pub samples: u64,
    /// Age of the newest sample fed, ms.
    pub age_ms: u64,
    /// The samples measure the link (false: a migration paced by its
    /// operator, so the prediction is of that pace).
    pub measures_link: bool,
    /// One entry per horizon (5 and 30 s).
    pub horizons: Vec<HorizonPrediction>,
}

/// The predicted mean throughput over the next `horizon_s` seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonPrediction {
    /// The horizon, seconds.
    pub horizon_s: u32,
    /// Predicted mean, Mbit/s.
    pub mbps: f64,
    /// Lower bound of the band (80 % nominal), Mbit/s.
    pub lower_mbps: f64,
    /// Upper bound of the band, Mbit/s.
    pub upper_mbps: f64,
}

/// The data plane process as the control plane sees it through the tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataPlaneStatus {
    /// Heartbeat seen within the configured time-out.
    pub healthy: bool,
    /// Its process id (0 when the tables are not attached).
    pub pid: u32,
    /// How often the data plane (re)started on these tables.
    pub generation: u64,
    /// Age of its last heartbeat, ms.
    pub heartbeat_age_ms: Option<u64>,
    /// Why it is unhealthy.
    pub problem: Option<String>,
}

/// `GET /v1/node`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// This host's id.
    pub node_id: String,
    /// Control plane version.
    pub version: String,
    /// Seconds since this control plane process started.
    pub uptime_s: u64,
    /// The data plane.
    pub dataplane: DataPlaneStatus,
    /// Configured peers.
    pub peers: Vec<PeerStatus>,
    /// Migrations not yet final.
    pub migrations_active: u32,
    /// The data plane's worker threads (empty when it is down).
    pub workers: Vec<WorkerStatus>,
}

/// One data-plane thread, from the tables' worker records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// `engine`, `transport`, `decoder` or `serve`.
    pub role: String,
    /// The core it is pinned to, if it is.
    pub core: Option<u16>,
    /// The migration it works for (`None`: the serve loop).
    pub migration: Option<String>,
    /// Seconds spent working.
    pub busy_s: f64,
    /// Seconds spent idle (spinning, yielding, sleeping for lack of work).
    pub idle_s: f64,
    /// busy / (busy + idle): how close the thread is to limiting the migration.
    pub busy_fraction: f64,
    /// Frames handled.
    pub frames: u64,
    /// Bytes handled.
    pub bytes: u64,
}

/// `GET /health`: 200 when healthy, 503 otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` or `unhealthy`.
    pub status: String,
    /// Each component and its state (`ok` or a reason).
    pub components: std::collections::BTreeMap<String, String>,
}

/// Body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// What was wrong, naming the field or id.
    pub error: String,
}
