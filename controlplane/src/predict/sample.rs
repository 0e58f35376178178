//! `LinkSample`: what a predictor is told about one step of a link.

/// One step of a link as measured by the data plane, or as read from a
/// trace (which records throughput only: every other field is `None`).
///
/// The baselines use `throughput_mbps` alone; the learned model reads the
/// rest through [`FeatureExtractor`](super::features::FeatureExtractor),
/// which replaces a `None` by the documented default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkSample {
    /// Mean throughput over the step, Mbit/s (≥ 0).
    pub throughput_mbps: f64,
    /// Smoothed round-trip time at the end of the step, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Packet loss over the step, percent (0..=100).
    pub loss_percent: Option<f64>,
    /// RTT variation over the step, milliseconds.
    pub jitter_ms: Option<f64>,
    /// Seconds since midnight UTC at the end of the step (0..86400).
    pub time_of_day_s: Option<f64>,
}

impl LinkSample {
    /// A sample with throughput only, as from a trace.
    pub fn throughput_only(throughput_mbps: f64) -> Self {
        Self {
            throughput_mbps,
            ..Self::default()
        }
    }
}
