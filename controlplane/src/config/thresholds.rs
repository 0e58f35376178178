//! `[mode]`: thresholds of the link mode detector (`crate::mode`).

use super::check;
use super::error::ConfigError;
use serde::{Deserialize, Serialize};

/// Highest packet loss, in percent.
pub const LOSS_PERCENT_MAX: f64 = 100.0;
/// Most samples in the detector's moving average.
pub const WINDOW_SAMPLES_MAX: usize = 600;
/// Largest relative hysteresis margin.
pub const HYSTERESIS_MAX: f64 = 0.9;
/// Longest minimum time in a mode, in milliseconds (one hour).
pub const DWELL_MS_MAX: u64 = 3_600_000;

/// `[mode]`: thresholds of the link mode detector. The rule they feed is
/// described in `crate::mode` and docs/mode-detector.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModeThresholds {
    /// Datacenter needs an average RTT below this, in milliseconds (> 0).
    pub datacenter_rtt_ms: f64,
    /// Internet if the average RTT is above this, in milliseconds (> `datacenter_rtt_ms`).
    pub internet_rtt_ms: f64,
    /// Datacenter needs at least this bandwidth, Internet is below it, in
    /// Mbit/s (10^6 bit/s; > 0).
    pub bandwidth_mbps: f64,
    /// Datacenter needs at most this packet loss, in percent (0..=100).
    pub datacenter_loss_percent: f64,
    /// Internet if packet loss is above this, in percent
    /// (`datacenter_loss_percent`..=100).
    pub internet_loss_percent: f64,
    /// Samples in the moving average (1..=600).
    pub window: usize,
    /// Relative margin a value must cross beyond a threshold to leave the
    /// current mode (0..=0.9; 0.2 = 20 %).
    pub hysteresis: f64,
    /// Minimum time in a mode before switching, in milliseconds (0..=3600000).
    pub dwell_ms: u64,
}

impl ModeThresholds {
    /// The defaults: the original's thresholds (10 ms, 50 ms, 1 Gbit/s,
    /// 0.1 %, 1 %, 10 samples) plus a 20 % margin and a 10 s dwell.
    pub const DEFAULT: Self = Self {
        datacenter_rtt_ms: 10.0,
        internet_rtt_ms: 50.0,
        bandwidth_mbps: 1000.0,
        datacenter_loss_percent: 0.1,
        internet_loss_percent: 1.0,
        window: 10,
        hysteresis: 0.2,
        dwell_ms: 10_000,
    };

    /// Checks that every number is finite, in range, and that the internet
    /// thresholds lie beyond the datacenter ones.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::finite("mode.datacenter_rtt_ms", self.datacenter_rtt_ms)?;
        check::finite("mode.internet_rtt_ms", self.internet_rtt_ms)?;
        check::finite("mode.bandwidth_mbps", self.bandwidth_mbps)?;
        check::finite("mode.datacenter_loss_percent", self.datacenter_loss_percent)?;
        check::finite("mode.internet_loss_percent", self.internet_loss_percent)?;
        check::finite("mode.hysteresis", self.hysteresis)?;
        check::above("mode.datacenter_rtt_ms", self.datacenter_rtt_ms, 0.0, "> 0")?;
        check::above(
            "mode.internet_rtt_ms",
            self.internet_rtt_ms,
            self.datacenter_rtt_ms,
            &format!("> {} (mode.datacenter_rtt_ms)", self.datacenter_rtt_ms),
        )?;
        check::above("mode.bandwidth_mbps", self.bandwidth_mbps, 0.0, "> 0")?;
        check::in_range(
            "mode.datacenter_loss_percent",
            self.datacenter_loss_percent,
            0.0..=LOSS_PERCENT_MAX,
        )?;
        check::in_range(
            "mode.internet_loss_percent",
            self.internet_loss_percent,
            self.datacenter_loss_percent..=LOSS_PERCENT_MAX,
        )?;
        check::in_range("mode.window", self.window, 1..=WINDOW_SAMPLES_MAX)?;
        check::in_range("mode.hysteresis", self.hysteresis, 0.0..=HYSTERESIS_MAX)?;
        check::in_range("mode.dwell_ms", self.dwell_ms, 0..=DWELL_MS_MAX)
    }
}

impl Default for ModeThresholds {
    fn default() -> Self {
        Self::DEFAULT
    }
}
