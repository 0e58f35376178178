//! The JSON lines on stdout: one `ready` line, one exit line.
//!
//! Stdout carries nothing else; logs go to stderr. Each line is written
//! whole and flushed, so a reader can wait for the line and parse it.

use std::io::Write;

use dwcp_linkem::model::{DirectionConfig, GilbertElliott, JitterDistribution, RateConfig};
use dwcp_linkem::profile::ResolvedLink;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::netns::TopologyConfig;

/// One direction's settings as the ready line shows them.
#[derive(Debug, Clone, Serialize)]
pub struct DirectionSettings {
    /// Mean rate after scaling, bits per second.
    pub rate_bps: u64,
    /// A trace file when the rate comes from one.
    pub trace: Option<String>,
    /// Its format.
    pub trace_format: Option<&'static str>,
    /// One-way propagation delay.
    pub one_way_delay_us: u64,
    /// Jitter scale (0 without jitter).
    pub jitter_us: u64,
    /// Jitter distribution, when there is jitter.
    pub jitter_distribution: Option<JitterDistribution>,
    /// Random loss probability.
    pub loss: f64,
    /// Bursty loss, when set.
    pub burst_loss: Option<GilbertElliott>,
    /// Queue limit in packets.
    pub queue_packets: u32,
    /// Queue limit in bytes.
    pub queue_bytes: u64,
}

impl DirectionSettings {
    /// Reads them off a resolved config.
    pub fn of(config: &DirectionConfig) -> Self {
        let (trace, trace_format) = match &config.rate {
            RateConfig::Constant { .. } => (None, None),
            RateConfig::Trace { trace, .. } => (
                Some(trace.origin().display().to_string()),
                Some(trace.format().name()),
            ),
        };
        DirectionSettings {
            // JUSTIFICATION: a reporting value; rates are far below 2^63.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            rate_bps: config.rate.mean_bits_per_s().round() as u64,
            trace,
            trace_format,
            one_way_delay_us: micros(config.delay),
            jitter_us: config.jitter.map_or(0, |jitter| micros(jitter.scale)),
            jitter_distribution: config.jitter.map(|jitter| jitter.distribution),
            loss: config.loss,
            burst_loss: config.burst_loss,
            queue_packets: config.queue.packets,
            queue_bytes: config.queue.bytes,
        }
    }
}

fn micros(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The line printed once the link forwards.
#[derive(Debug, Clone, Serialize)]
pub struct ReadyLine {
    /// Always true.
    pub ready: bool,
    /// The emulator's process id.
    pub pid: u32,
    /// Namespace A.
    pub ns_a: String,
    /// Namespace B.
    pub ns_b: String,
    /// TUN device name in both namespaces.
    pub dev: String,
    /// Address in A.
    pub addr_a: String,
    /// Address in B.
    pub addr_b: String,
    /// Prefix length of both addresses.
    pub prefix_len: u8,
    /// MTU of both devices.
    pub mtu: u32,
    /// Profile name.
    pub profile: &'static str,
    /// Rate scale applied to both directions.
    pub scale: f64,
    /// Forwarding rate the auto scale was computed from.
    pub forward_max_bps: u64,
    /// A to B mean rate (same as `a2b.rate_bps`).
    pub rate_bps: u64,
    /// A to B one-way delay (half the RTT).
    pub one_way_delay_us: u64,
    /// Round-trip propagation delay.
    pub rtt_us: u64,
    /// A to B random loss.
    pub loss: f64,
    /// Seed of the A to B direction (B to A uses a derived one).
    pub seed: u64,
    /// Full settings A to B.
    pub a2b: DirectionSettings,
    /// Full settings B to A.
    pub b2a: DirectionSettings,
}

impl ReadyLine {
    /// Assembles the line.
    pub fn new(
        topology: &TopologyConfig,
        link: &ResolvedLink,
        forward_max_bps: u64,
        seed: u64,
    ) -> Self {
        let a2b = DirectionSettings::of(&link.a2b);
        ReadyLine {
            ready: true,
            pid: std::process::id(),
            ns_a: topology.a.ns.clone(),
            ns_b: topology.b.ns.clone(),
            dev: topology.dev.clone(),
            addr_a: topology.a.addr.to_string(),
            addr_b: topology.b.addr.to_string(),
            prefix_len: topology.a.prefix_len,
            mtu: topology.mtu,
            profile: link.profile,
            scale: link.scale,
            forward_max_bps,
            rate_bps: a2b.rate_bps,
            one_way_delay_us: a2b.one_way_delay_us,
            rtt_us: micros(link.rtt),
            loss: a2b.loss,
            seed,
            b2a: DirectionSettings::of(&link.b2a),
            a2b,
        }
    }
}

/// Percentiles of how late packets were written, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LatenessSummary {
    /// Packets measured.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl LatenessSummary {
    /// From a histogram in nanoseconds.
    pub fn from_histogram(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return LatenessSummary::default();
        }
        // JUSTIFICATION: lateness values are far below 2^53 ns.
        #[allow(clippy::cast_precision_loss)]
        let micros = |nanos: u64| nanos as f64 / 1e3;
        LatenessSummary {
            count: histogram.len(),
            mean: histogram.mean() / 1e3,
            p50: micros(histogram.value_at_quantile(0.5)),
            p99: micros(histogram.value_at_quantile(0.99)),
            p999: micros(histogram.value_at_quantile(0.999)),
            max: micros(histogram.max()),
        }
    }
}

/// Counters of one direction of the forwarder.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DirectionCounters {
    /// Packets read from the input device.
    pub packets_in: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Packets written to the output device.
    pub packets_out: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Dropped by random or bursty loss.
    pub dropped_loss: u64,
    /// Dropped by the bottleneck queue (tail drop).
    pub dropped_queue: u64,
    /// Dropped because the forwarder's ring was full (should stay 0).
    pub dropped_ring: u64,
    /// Writes the output device refused.
    pub write_errors: u64,
    /// Packets still held when the emulator stopped (discarded).
    pub held_at_exit: u64,
    /// Ring size in bytes.
    pub ring_bytes: u64,
    /// Ring size in packets.
    pub ring_slots: u64,
    /// How late packets were written.
    pub late_us: LatenessSummary,
}

/// The line printed when the emulator stops.
#[derive(Debug, Clone, Serialize)]
pub struct ExitLine {
    /// Always true.
    pub exit: bool,
    /// `signal` or `error`.
    pub reason: &'static str,
    /// The signal's number when stopped by one.
    pub signal: Option<i32>,
    /// The error when stopped by one.
    pub error: Option<String>,
    /// Seconds the forwarder ran.
    pub run_secs: f64,
    /// CPU seconds (user + system) the process used, softirq work done in
    /// its writes included.
    pub cpu_secs: f64,
    /// A to B.
    pub a2b: DirectionCounters,
    /// B to A.
    pub b2a: DirectionCounters,
}

/// Writes `line` as one JSON line on stdout and flushes.
pub fn print_line(line: &impl Serialize) -> std::io::Result<()> {
    let text = serde_json::to_string(line).map_err(std::io::Error::other)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

/// CPU seconds (user + system) this process has used.
pub fn process_cpu_secs() -> f64 {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid for writes for the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    // JUSTIFICATION: CPU seconds far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    let secs = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
