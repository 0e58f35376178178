//! The one-line JSON summary printed last by both roles.
//!
//! The keys are a contract other tools parse (`scripts/demo.sh` prints the
//! source's line last): add keys, never rename or remove them.

use serde::Serialize;

/// Result of one side of a migration.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// "source" or "destination".
    pub role: &'static str,
    /// True only if the destination verified the whole image digest.
    pub verified: bool,
    /// Wall time of the whole migration, connect to verdict, in ms.
    pub total_ms: u64,
    /// Connect, handshakes and buffer set-up (the destination allocates and
    /// populates its memory image here), in ms (source; null on the destination).
    pub setup_ms: Option<u64>,
    /// First page sent to destination-verified, in ms (source; null on the destination).
    pub transfer_ms: Option<u64>,
    /// Guest pause to destination-verified (or to resumed, on a failure after
    /// the pause), in ms; null when the guest was never paused, and on the destination.
    pub downtime_ms: Option<u64>,
    /// Source: from the verdict to the destination's acknowledgement of
    /// `Commit` (the guest is the destination's once it has `Commit`, half
    /// of this after the verdict; not part of `downtime_ms`); null on the
    /// destination and when no `Commit` was acknowledged.
    pub handover_ms: Option<u64>,
    /// Rounds run, the final paused round included.
    pub rounds: u32,
    /// Guest memory size.
    pub memory_bytes: u64,
    /// Bytes written to (source) or read from (destination) the sockets, framing and retransmissions included.
    pub bytes_on_wire: u64,
    /// Pages sent (source) or applied (destination), zero-page markers included.
    pub pages_sent: u64,
    /// `bytes_on_wire` over `total_ms`, in Mbit/s (10^6 bits).
    pub throughput_mbps: f64,
    /// Streams used.
    pub streams: u16,
    /// AES-256-GCM (true) or explicit plaintext (false).
    pub encrypted: bool,
    /// Why pre-copy stopped (source): fits_budget, stalled or rounds_exhausted.
    pub switchover_reason: Option<&'static str>,
    /// Streams re-established after a break.
    pub reconnects: u64,
    /// The image digest (xxh3-128 of page hashes), hex.
    pub digest: Option<String>,
    /// Source: per-frame latency from enqueue (sealed frame queued to a
    /// stream) to acknowledged (destination wrote it to guest memory), µs.
    pub latency_us: Option<LatencySummary>,
    /// Source: percentiles of each stage of the page path, µs, by stage name
    /// (`scan`, `encode`, `ring_wait`, `send`, `acknowledged`, `total`; see
    /// `dwcp_dataplane_core::page_stages`).
    pub stages_us: Option<std::collections::BTreeMap<&'static str, LatencySummary>>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// Its class: config, key, memory, resources, connect, transfer, verify.
    pub error_kind: Option<crate::error::ErrorKind>,
    /// Source: the page codec's figures; null when pages went raw (`--codec off`
    /// or a destination without the codec).
    pub codec: Option<CodecSummary>,
    /// Destination: time spent decoding encoded batches, in ms (null without the codec).
    pub decode_cpu_ms: Option<u64>,
    /// Destination: how its transport ended a migration that reached its end:
    /// `goodbye` (the source's `Goodbye` after our ack of its `Commit`: the
    /// normal end), `verdict_written` (a failed verdict went out whole) or
    /// `close_grace` (neither within `CLOSE_GRACE`: the source may not have
    /// our last message); null on the source and on other failures.
    pub end: Option<&'static str>,
    /// Who ran the transport: `own` (a thread of its own) or `shared` (one
    /// thread ran it and the engine, or the decoder, both pinned to one
    /// core); null if it never started.
    pub transport_thread: Option<&'static str>,
}

/// What the page codec did on the source.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CodecSummary {
    /// Pages per encoding kind (zero, duplicate, delta, zstd, raw).
    pub pages_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Encoded bytes per kind: delta = token and prefix sections, zstd / raw
    /// = literal sections as sent; zero and duplicate pages cost only their
    /// records, counted in `control_bytes`.
    pub bytes_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Control records and trailers.
    pub control_bytes: u64,
    /// All encoded batches (sum of the above); frame headers and AEAD tags
    /// are in `bytes_on_wire` only.
    pub encoded_bytes: u64,
    /// Encoded batches sent.
    pub batches: u64,
    /// Engine-thread time spent encoding (pushes and batch compression), in ms.
    pub encode_cpu_ms: u64,
    /// zstd level at the end (0: none).
    pub level_final: i32,
    /// Level step-downs (encoder slower than the link).
    pub steps_down: u64,
    /// Level step-ups (link slower than the encoder).
    pub steps_up: u64,
    /// Threads that finished batches beside the engine (0: the engine did).
    pub finisher_threads: usize,
}

/// Percentiles of a latency histogram, µs.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Frames measured.
    pub frames: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl LatencySummary {
    /// Percentiles of `histogram`.
    pub fn from_histogram(histogram: &hdrhistogram::Histogram<u64>) -> Self {
        Self {
            frames: histogram.len(),
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

impl Summary {
    /// An unverified summary with nothing measured yet.
    pub fn new(role: &'static str, encrypted: bool) -> Self {
        Self {
            role,
            verified: false,
            total_ms: 0,
            setup_ms: None,
            transfer_ms: None,
            downtime_ms: None,
            handover_ms: None,
            rounds: 0,
            memory_bytes: 0,
            bytes_on_wire: 0,
            pages_sent: 0,
            throughput_mbps: 0.0,
            streams: 0,
            encrypted,
            switchover_reason: None,
            reconnects: 0,
            digest: None,
            latency_us: None,
            stages_us: None,
            error: None,
            error_kind: None,
            codec: None,
            decode_cpu_ms: None,
            end: None,
            transport_thread: None,
        }
    }

    /// The summary as one JSON line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a struct of plain fields always serialises")
    }
}

/// Mbit/s from bytes and milliseconds.
pub fn mbps(bytes: u64, millis: u64) -> f64 {
    if millis == 0 {
        return 0.0;
    }
    let value = bytes as f64 * 8.0 / 1e6 / (millis as f64 / 1e3);
    (value * 10.0).round() / 10.0
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
