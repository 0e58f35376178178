//! The thresholds one classification compares against, shifted by the
//! hysteresis margin, and the text that explains a decision.

use super::{LinkMode, LinkObservation};
use crate::config::ModeThresholds;

/// The thresholds one classification compares against.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Datacenter needs rtt below this.
    dc_rtt_ms: f64,
    /// Datacenter needs bandwidth at or above this.
    dc_bandwidth_mbps: f64,
    /// Datacenter needs loss at or below this.
    dc_loss_percent: f64,
    /// Internet if rtt is above this.
    internet_rtt_ms: f64,
    /// Internet if bandwidth is below this.
    internet_bandwidth_mbps: f64,
    /// Internet if loss is above this.
    internet_loss_percent: f64,
}

/// Direction a threshold moves in: towards needing a better link (lower
/// rtt and loss, more bandwidth) or a worse one.
#[derive(Debug, Clone, Copy)]
enum Shift {
    Better,
    Worse,
}

impl Shift {
    /// Factors for (rtt and loss, bandwidth).
    fn factors(self, margin: f64) -> (f64, f64) {
        match self {
            Self::Better => (1.0 - margin, 1.0 + margin),
            Self::Worse => (1.0 + margin, 1.0 - margin),
        }
    }
}

impl Limits {
    pub(super) fn raw(t: &ModeThresholds) -> Self {
        Self::shifted(t, 0.0, Shift::Better, Shift::Better)
    }

    /// The thresholds while in `current`: each moved against leaving it.
    pub(super) fn against_leaving(current: LinkMode, t: &ModeThresholds) -> Self {
        // Inside a mode its own region grows; outside it a region shrinks.
        let dc = if current == LinkMode::Datacenter {
            Shift::Worse
        } else {
            Shift::Better
        };
        let internet = if current == LinkMode::Internet {
            Shift::Better
        } else {
            Shift::Worse
        };
        Self::shifted(t, t.hysteresis, dc, internet)
    }

    fn shifted(t: &ModeThresholds, margin: f64, dc: Shift, internet: Shift) -> Self {
        let (dc_delay, dc_bandwidth) = dc.factors(margin);
        let (internet_delay, internet_bandwidth) = internet.factors(margin);
        Self {
            dc_rtt_ms: t.datacenter_rtt_ms * dc_delay,
            dc_bandwidth_mbps: t.bandwidth_mbps * dc_bandwidth,
            dc_loss_percent: t.datacenter_loss_percent * dc_delay,
            internet_rtt_ms: t.internet_rtt_ms * internet_delay,
            internet_bandwidth_mbps: t.bandwidth_mbps * internet_bandwidth,
            internet_loss_percent: t.internet_loss_percent * internet_delay,
        }
    }

    pub(super) fn classify(&self, obs: &LinkObservation) -> LinkMode {
        if self.datacenter_terms(obs).iter().all(|term| term.holds()) {
            LinkMode::Datacenter
        } else if self.internet_terms(obs).iter().any(|term| term.holds()) {
            LinkMode::Internet
        } else {
            LinkMode::Hybrid
        }
    }

    /// The Datacenter conditions (all must hold).
    fn datacenter_terms(&self, obs: &LinkObservation) -> [Term; 3] {
        [
            Term {
                name: "rtt",
                unit: "ms",
                value: obs.rtt_ms,
                op: Op::Below,
                limit: self.dc_rtt_ms,
            },
            Term {
                name: "bandwidth",
                unit: "Mbit/s",
                value: obs.bandwidth_mbps,
                op: Op::AtLeast,
                limit: self.dc_bandwidth_mbps,
            },
            Term {
                name: "loss",
                unit: "%",
                value: obs.loss_percent,
                op: Op::AtMost,
                limit: self.dc_loss_percent,
            },
        ]
    }

    /// The Internet conditions (any one suffices).
    fn internet_terms(&self, obs: &LinkObservation) -> [Term; 3] {
        [
            Term {
                name: "rtt",
                unit: "ms",
                value: obs.rtt_ms,
                op: Op::Above,
                limit: self.internet_rtt_ms,
            },
            Term {
                name: "bandwidth",
                unit: "Mbit/s",
                value: obs.bandwidth_mbps,
                op: Op::Below,
                limit: self.internet_bandwidth_mbps,
            },
            Term {
                name: "loss",
                unit: "%",
                value: obs.loss_percent,
                op: Op::Above,
                limit: self.internet_loss_percent,
            },
        ]
    }

    /// Why `obs` classifies as `to`: the conditions that decided it, with
    /// the thresholds as shifted.
    pub(super) fn explain(&self, obs: &LinkObservation, to: LinkMode) -> String {
        let join = |terms: &[Term], keep: bool, separator: &str| -> String {
            let texts: Vec<String> = terms
                .iter()
                .filter(|t| t.holds() == keep)
                .map(Term::describe)
                .collect();
            texts.join(separator)
        };
        let datacenter = self.datacenter_terms(obs);
        let internet = self.internet_terms(obs);
        match to {
            LinkMode::Datacenter => format!("average {}", join(&datacenter, true, ", ")),
            LinkMode::Internet => format!("average {}", join(&internet, true, ", ")),
            LinkMode::Hybrid => format!(
                "average {} (not datacenter) and {} (not internet)",
                join(&datacenter, false, ", "),
                join(&internet, false, ", ")
            ),
        }
    }
}

/// A comparison of one averaged field with one threshold.
#[derive(Debug, Clone, Copy)]
enum Op {
    Below,
    AtMost,
    Above,
    AtLeast,
}

/// One condition of the rule.
#[derive(Debug, Clone, Copy)]
struct Term {
    name: &'static str,
    unit: &'static str,
    value: f64,
    op: Op,
    limit: f64,
}

impl Term {
    fn holds(&self) -> bool {
        match self.op {
            Op::Below => self.value < self.limit,
            Op::AtMost => self.value <= self.limit,
            Op::Above => self.value > self.limit,
            Op::AtLeast => self.value >= self.limit,
        }
    }

    /// `rtt 14.50 ms >= 12.00`: the comparison that is true.
    fn describe(&self) -> String {
        let symbol = match (self.op, self.holds()) {
            (Op::Below, true) | (Op::AtLeast, false) => "<",
            (Op::AtMost, true) | (Op::Above, false) => "<=",
            (Op::Above, true) | (Op::AtMost, false) => ">",
            (Op::AtLeast, true) | (Op::Below, false) => ">=",
        };
        format!(
            "{} {:.3} {} {symbol} {:.3}",
            self.name, self.value, self.unit, self.limit
        )
    }
}
