//! The owned record types the [`Tables`](super::Tables) API takes and
//! returns, and their enums.
//!
//! Every enum is stored as a `u8` code; code 0 is never a variant, so a
//! zeroed field never decodes as a value (it is "absent" where the field is
//! an `Option`, and a [`TablesError::Field`](super::TablesError::Field)
//! otherwise). Who writes each record is stated on its type.

/// Declares a `u8`-coded enum with `code` / `from_code`.
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $code:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name { $( $(#[$vmeta])* $variant = $code, )+ }

        impl $name {
            /// The code stored in the tables file (never 0).
            pub const fn code(self) -> u8 {
                self as u8
            }

            /// The variant for a stored code; `None` for 0 and unknown codes.
            pub const fn from_code(code: u8) -> Option<Self> {
                match code {
                    $( $code => Some(Self::$variant), )+
                    _ => None,
                }
            }
        }
    };
}

/// The node this data plane serves. Written by the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node id; 1 to `NODE_ID_LEN_MAX` bytes (empty means "not set").
    pub node_id: String,
}

coded_enum! {
    /// How the link to a peer is treated.
    pub enum LinkMode {
        /// Low-latency datacenter fabric.
        Datacenter = 1,
        /// Wide-area internet path.
        Internet = 2,
        /// Mixed; decided per measurement.
        Hybrid = 3,
    }
}

/// A peer data plane. Written by the control plane; the slot is empty when
/// `peer_id` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    /// The peer's node id; 1 to `NODE_ID_LEN_MAX` bytes.
    pub peer_id: String,
    /// The peer data plane's `host:port` or `[v6]:port`.
    pub data_address: String,
    /// The link mode, if the control plane chose one.
    pub mode: Option<LinkMode>,
}

coded_enum! {
    /// Which end of a migration this data plane is.
    pub enum JobRole {
        /// Source: reads guest memory and sends it.
        Send = 1,
        /// Destination: listens, receives and writes guest memory.
        Receive = 2,
    }
}

coded_enum! {
    /// What the control plane wants a job to do.
    pub enum RequestedState {
        /// Run (or resume) the migration.
        Run = 1,
        /// Pause sending; keep the connection.
        Pause = 2,
        /// Stop and tear down.
        Cancel = 3,
    }
}

coded_enum! {
    /// Page compression tier.
    pub enum CompressionTier {
        /// Cheap compression for fast links.
        Datacenter = 1,
        /// Stronger compression for slow links.
        Internet = 2,
        /// No compression.
        Off = 3,
    }
}

/// A migration the control plane asks the data plane to run. Written by the
/// control plane; the slot is empty when `job_id` is 0. The status of the
/// job is the [`JobStatus`] in the same slot.
#[derive(Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// Nonzero, unique per migration.
    pub job_id: u64,
    /// At least 1; bumped by the control plane on every change of the spec.
    pub spec_version: u32,
    /// Source or destination.
    pub role: JobRole,
    /// Run, pause or cancel.
    pub requested: RequestedState,
    /// The VM id; 1 to `VM_ID_LEN_MAX` bytes.
    pub vm_id: String,
    /// The guest memory file; 1 to `PATH_LEN_MAX` bytes.
    pub memory_path: String,
    /// Send: the destination data plane's `host:port`. Receive: the listen
    /// `host:port`.
    pub address: String,
    /// Receive: expected guest memory size in bytes (0 = any). Send: must be 0.
    pub memory_bytes: u64,
    /// Streams (TCP connections) to open; 0 = automatic. Fixed for the
    /// migration's life.
    pub streams: u16,
    /// Live: how many of the opened streams carry data (1 to `streams`);
    /// 0 = all of them. A running migration applies a change within 100 ms.
    pub streams_active: u16,
    /// Sending rate limit in bytes per second; 0 = unpaced.
    pub pacing_bytes_per_s: u64,
    /// Compression tier.
    pub compression: CompressionTier,
    /// Whether the page codec is enabled.
    pub codec: bool,
    /// Downtime target in milliseconds; at least 1.
    pub downtime_ms: u32,
    /// Most pre-copy rounds; at least 1.
    pub max_rounds: u32,
    /// Id of `key`; nonzero.
    pub key_id: u64,
    /// The pre-shared migration key (the file is mode 0600).
    pub key: [u8; 32],
    /// Send: the process to stop (SIGSTOP) for the switch-over; 0 = none.
    pub pause_pid: u32,
    /// The peer link's mode when the job started, if measured.
    pub link_mode: Option<LinkMode>,
    /// The other host's id, as the control plane knows it (may be empty).
    pub peer_id: String,
    /// The control plane sets `pacing_bytes_per_s` from its bandwidth
    /// prediction (the operator did not fix the pacing). Only the control
    /// plane reads it; the data plane paces at whatever the spec says.
    pub pacing_follows_prediction: bool,
    /// The control plane sets `streams_active` from its bandwidth
    /// prediction (the operator did not fix the stream count).
    pub streams_follow_prediction: bool,
    /// Live: the lower bound of the control plane's bandwidth prediction
    /// for the link, bytes per second; 0 = none. A source's switch-over
    /// estimate uses the lower of this and its measured throughput.
    pub predicted_floor_bytes_per_s: u64,
}

impl std::fmt::Debug for JobSpec {
    /// Everything except the key, which is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSpec")
            .field("job_id", &self.job_id)
            .field("spec_version", &self.spec_version)
            .field("role", &self.role)
            .field("requested", &self.requested)
            .field("vm_id", &self.vm_id)
            .field("memory_path", &self.memory_path)
            .field("address", &self.address)
            .field("memory_bytes", &self.memory_bytes)
            .field("streams", &self.streams)
            .field("streams_active", &self.streams_active)
            .field("pacing_bytes_per_s", &self.pacing_bytes_per_s)
            .field("compression", &self.compression)
            .field("codec", &self.codec)
            .field("downtime_ms", &self.downtime_ms)
            .field("max_rounds", &self.max_rounds)
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .field("pause_pid", &self.pause_pid)
            .field("link_mode", &self.link_mode)
            .field("peer_id", &self.peer_id)
            .field("pacing_follows_prediction", &self.pacing_follows_prediction)
            .field("streams_follow_prediction", &self.streams_follow_prediction)
            .field(
                "predicted_floor_bytes_per_s",
                &self.predicted_floor_bytes_per_s,
            )
            .finish()
    }
}

coded_enum! {
    /// Where a job is, as the data plane reports it.
    pub enum JobState {
        /// The spec was read and accepted.
        Accepted = 1,
        /// Destination: waiting for the source to connect.
        Listening = 2,
        /// Pages are moving.
        Running = 3,
        /// Paused on request.
        Paused = 4,
        /// All rounds done; the digest is being compared.
        Verifying = 5,
        /// Finished and verified (final).
        Completed = 6,
        /// Stopped on an error (final).
        Failed = 7,
        /// Stopped on request (final).
        Cancelled = 8,
        /// Source: `Commit` went out and was never acknowledged; the guest
        /// stays paused until an operator settles who owns it (final).
        InDoubt = 9,
    }
}

impl JobState {
    /// True for `Completed`, `Failed`, `Cancelled` and `InDoubt`: the job
    /// will not change state again.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::InDoubt
        )
    }
}

/// Number of page encodings counted per job: zero, duplicate, delta, zstd,
/// raw, in that order (the index into `pages_by_kind` / `bytes_by_kind`).
pub const ENCODING_KINDS: usize = 5;

/// Progress of a job. Written by the data plane; the slot is empty when
/// `job_id` is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// The [`JobSpec::job_id`] this status belongs to.
    pub job_id: u64,
    /// The `spec_version` the data plane last applied.
    pub applied_spec_version: u32,
    /// Current state.
    pub state: JobState,
    /// Current pre-copy round.
    pub round: u32,
    /// Guest memory size in bytes.
    pub memory_bytes: u64,
    /// Pages sent (source) or written (destination) so far.
    pub pages_done: u64,
    /// Pages left in this round.
    pub pages_remaining: u64,
    /// Bytes sent or received on the wire.
    pub bytes_on_wire: u64,
    /// Pages per encoding (see [`ENCODING_KINDS`]).
    pub pages_by_kind: [u64; ENCODING_KINDS],
    /// Wire bytes per encoding (see [`ENCODING_KINDS`]).
    pub bytes_by_kind: [u64; ENCODING_KINDS],
    /// Guest dirty rate in bytes per second.
    pub dirty_bytes_per_s: u64,
    /// Transfer rate in bytes per second.
    pub throughput_bytes_per_s: u64,
    /// Streams carrying data now (the live setting in effect).
    pub streams_active: u16,
    /// Streams (connections) the migration opened; 0 = not yet known.
    pub streams_connected: u16,
    /// Pacing in effect, bytes per second (0 = unpaced).
    pub pacing_bytes_per_s: u64,
    /// Compression tier in effect.
    pub compression: CompressionTier,
    /// When the job started (Unix ms).
    pub started_unix_ms: u64,
    /// When this status was written (Unix ms).
    pub updated_unix_ms: u64,
    /// When the job reached a final state (Unix ms); 0 until then.
    pub finished_unix_ms: u64,
    /// Measured downtime in milliseconds.
    pub downtime_ms: u64,
    /// Error message, up to `ERROR_LEN_MAX` bytes.
    pub error: Option<String>,
    /// The data plane's final summary (JSON), up to `SUMMARY_LEN_MAX` bytes.
    pub summary_json: Option<String>,
}

coded_enum! {
    /// What a data-plane worker thread does.
    pub enum WorkerRole {
        /// Migration engine (rounds, dirty tracking).
        Engine = 1,
        /// Network transport.
        Transport = 2,
        /// Page decoder (destination).
        Decoder = 3,
        /// Serves a listener.
        Serve = 4,
    }
}

/// Counters of one data-plane worker thread. Written by the data plane; the
/// slot is empty when the role code is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCounters {
    /// What the worker does.
    pub role: WorkerRole,
    /// The CPU core it is pinned to, if any.
    pub core: Option<u16>,
    /// The job it works for (0 = none).
    pub job_id: u64,
    /// Nanoseconds spent working.
    pub busy_ns: u64,
    /// Nanoseconds spent idle.
    pub idle_ns: u64,
    /// Frames handled.
    pub frames: u64,
    /// Bytes handled.
    pub bytes: u64,
}

/// Most loss a [`LinkSample`] can report: 1,000,000 parts per million.
pub const LOSS_PPM_MAX: u32 = 1_000_000;

/// A measurement of the link to the peer in the same slot of the peer
/// table. Written by the data plane; the slot is empty when
/// `sample_unix_ms` is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSample {
    /// The address measured (`host:port` or `[v6]:port`).
    pub peer_address: String,
    /// When the sample was taken (Unix ms); nonzero.
    pub sample_unix_ms: u64,
    /// Smoothed round-trip time in microseconds.
    pub rtt_us: u32,
    /// Round-trip time variance in microseconds.
    pub rtt_var_us: u32,
    /// Throughput in bytes per second.
    pub throughput_bytes_per_s: u64,
    /// TCP segments sent.
    pub segments_out: u64,
    /// TCP retransmissions.
    pub retransmits: u64,
    /// Loss in parts per million, at most [`LOSS_PPM_MAX`].
    pub loss_ppm: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_zero_is_invalid() {
        for s in [
            JobState::Accepted,
            JobState::Listening,
            JobState::Running,
            JobState::Paused,
            JobState::Verifying,
            JobState::Completed,
            JobState::Failed,
            JobState::Cancelled,
            JobState::InDoubt,
        ] {
            assert_eq!(JobState::from_code(s.code()), Some(s));
        }
        assert_eq!(JobState::from_code(0), None);
        assert_eq!(JobState::from_code(10), None);
        assert_eq!(LinkMode::from_code(0), None);
        assert_eq!(WorkerRole::from_code(5), None);
        assert_eq!(CompressionTier::from_code(3), Some(CompressionTier::Off));
        assert!(JobState::Cancelled.is_final() && !JobState::Verifying.is_final());
        assert!(JobState::InDoubt.is_final());
    }

    #[test]
    fn job_spec_debug_hides_the_key() {
        let spec = JobSpec {
            job_id: 1,
            spec_version: 1,
            role: JobRole::Send,
            requested: RequestedState::Run,
            vm_id: "vm".into(),
            memory_path: "/m".into(),
            address: "h:1".into(),
            memory_bytes: 0,
            streams: 0,
            streams_active: 0,
            pacing_bytes_per_s: 0,
            compression: CompressionTier::Off,
            codec: false,
            downtime_ms: 1,
            max_rounds: 1,
            key_id: 1,
            key: [0xAB; 32],
            pause_pid: 0,
            link_mode: None,
            peer_id: String::new(),
            pacing_follows_prediction: false,
            streams_follow_prediction: false,
            predicted_floor_bytes_per_s: 0,
        };
        let shown = format!("{spec:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("171"), "0xAB printed as a number: {shown}");
    }
}
