//! Link mode detection: is the path to a peer a datacenter link, an internet
//! link, or something in between?
//!
//! # Design
//!
//! A pure core: the caller measures RTT, bandwidth and loss, passes each
//! sample with the time it was taken, and gets back a [`ModeChange`] when the
//! stable mode changes. No I/O, no clock reads, no logging.
//!
//! [`classify`] is the original's rule on one observation, without memory:
//!
//! - **Datacenter** if rtt < `datacenter_rtt_ms` AND bandwidth ≥
//!   `bandwidth_mbps` AND loss ≤ `datacenter_loss_percent`;
//! - otherwise **Internet** if rtt > `internet_rtt_ms` OR bandwidth <
//!   `bandwidth_mbps` OR loss > `internet_loss_percent`;
//! - otherwise **Hybrid**.
//!
//! [`ModeDetector`] applies it to the moving average of the last `window`
//! samples (each field averaged over its own last `window` valid values;
//! NaN, infinite and negative values are dropped field by field), with
//! hysteresis and a dwell time:
//!
//! - **Unknown first.** [`ModeDetector::mode`] is `None` until every field
//!   has had one valid value (the original said Hybrid, from made-up
//!   defaults). The first classification is immediate and returns a change
//!   from `None`.
//! - **Hysteresis.** Afterwards the average is classified with every
//!   threshold moved by the relative margin `h` against leaving the current
//!   mode. The Datacenter thresholds are eased (rtt·(1+h), bandwidth·(1−h),
//!   loss·(1+h)) while in Datacenter and tightened (rtt·(1−h),
//!   bandwidth·(1+h), loss·(1−h)) otherwise; the Internet thresholds are
//!   eased (rtt·(1−h), bandwidth·(1+h), loss·(1−h)) while in Internet and
//!   tightened (rtt·(1+h), bandwidth·(1−h), loss·(1+h)) otherwise. So leaving
//!   Datacenter for Internet on latency needs rtt > `internet_rtt_ms`·(1+h),
//!   and entering Datacenter from Hybrid needs rtt < `datacenter_rtt_ms`·(1−h),
//!   bandwidth ≥ `bandwidth_mbps`·(1+h) and loss ≤ `datacenter_loss_percent`·(1−h).
//! - **Dwell.** A switch also needs at least `dwell_ms` since the last switch
//!   (the first classification counts as one). A candidate blocked by the
//!   dwell is not remembered: it must still hold at a sample after the dwell.
//!
//! A step change is smoothed by the average, which can pass through the
//! Hybrid band on its way: a long-stable Datacenter link whose RTT jumps to
//! 100 ms goes Datacenter → Hybrid after about one sample and Hybrid →
//! Internet one dwell later. docs/mode-detector.md has the rule, the margins
//! as numbers and the test vectors.

mod detector;
mod limits;

pub use detector::ModeDetector;

use crate::config::ModeThresholds;
use limits::Limits;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of link leads to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkMode {
    /// Short, fast, clean: few streams, light compression.
    Datacenter,
    /// Long, slow or lossy: many streams, strong compression.
    Internet,
    /// Neither clearly.
    Hybrid,
}

impl LinkMode {
    /// `"datacenter"`, `"internet"` or `"hybrid"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Datacenter => "datacenter",
            Self::Internet => "internet",
            Self::Hybrid => "hybrid",
        }
    }
}

impl fmt::Display for LinkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One measurement of a link, or an average of several.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkObservation {
    /// Round-trip time, in milliseconds.
    pub rtt_ms: f64,
    /// Available bandwidth, in Mbit/s (10^6 bit/s).
    pub bandwidth_mbps: f64,
    /// Packet loss, in percent (0..=100).
    pub loss_percent: f64,
}

/// A change of the detector's stable mode.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeChange {
    /// The previous mode; `None` at the first classification.
    pub from: Option<LinkMode>,
    /// The new mode.
    pub to: LinkMode,
    /// The averages and the (margin-shifted) thresholds that decided it.
    pub reason: String,
}

/// The raw rule on one observation, without averaging, hysteresis or dwell.
/// A NaN field satisfies no comparison, so an all-NaN observation is Hybrid;
/// [`ModeDetector`] never passes NaN.
pub fn classify(obs: &LinkObservation, t: &ModeThresholds) -> LinkMode {
    Limits::raw(t).classify(obs)
}
