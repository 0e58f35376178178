//! `ModeDetector`: moving averages, hysteresis and dwell over `Limits`.

use super::limits::Limits;
use super::{LinkMode, LinkObservation, ModeChange};
use crate::config::ModeThresholds;
use std::time::{Duration, Instant};

/// The last `capacity` valid values of one field.
#[derive(Debug, Clone)]
struct SampleWindow {
    /// Values held, at most `capacity` (`Vec::capacity` may be larger).
    values: Vec<f64>,
    capacity: usize,
    /// Where the next value goes once `values` is full.
    next: usize,
}

impl SampleWindow {
    fn new(capacity: usize) -> Self {
        assert!(capacity >= 1, "a sample window holds at least one value");
        Self {
            values: Vec::with_capacity(capacity),
            capacity,
            next: 0,
        }
    }

    /// Adds `value` unless it is NaN, infinite or negative.
    fn push_valid(&mut self, value: f64) {
        if !value.is_finite() || value < 0.0 {
            return;
        }
        if self.values.len() < self.capacity {
            self.values.push(value);
        } else {
            self.values[self.next] = value;
            self.next = (self.next + 1) % self.values.len();
        }
    }

    /// Mean of the values held; `None` before the first.
    fn mean(&self) -> Option<f64> {
        if self.values.is_empty() {
            return None;
        }
        // Summed afresh (at most WINDOW_SAMPLES_MAX values) so no rounding
        // error accumulates over a long-running detector.
        let sum: f64 = self.values.iter().sum();
        // Exact: at most WINDOW_SAMPLES_MAX values.
        let len = self.values.len() as f64;
        Some(sum / len)
    }
}

/// The current stable mode and when it was entered.
#[derive(Debug, Clone, Copy)]
struct Stable {
    mode: LinkMode,
    since: Instant,
}

/// Moving-average link mode detector with hysteresis and dwell (see the
/// module documentation for the exact rule).
///
/// Call [`observe`](Self::observe) for each sample, in time order; read
/// [`mode`](Self::mode) and [`average`](Self::average) at any time.
#[derive(Debug, Clone)]
pub struct ModeDetector {
    thresholds: ModeThresholds,
    rtt_ms: SampleWindow,
    bandwidth_mbps: SampleWindow,
    loss_percent: SampleWindow,
    stable: Option<Stable>,
}

impl ModeDetector {
    /// A detector with no samples (mode unknown).
    ///
    /// # Panics
    /// If `thresholds` fails [`ModeThresholds::validate`]; a loaded
    /// configuration has already passed it.
    pub fn new(thresholds: ModeThresholds) -> Self {
        if let Err(e) = thresholds.validate() {
            panic!("ModeDetector::new: invalid thresholds: {e}");
        }
        let window = thresholds.window;
        Self {
            thresholds,
            rtt_ms: SampleWindow::new(window),
            bandwidth_mbps: SampleWindow::new(window),
            loss_percent: SampleWindow::new(window),
            stable: None,
        }
    }

    /// Adds a sample taken at `now` (NaN, infinite and negative values are
    /// ignored field by field); returns `Some(change)` when the stable mode
    /// changes. `now` must not go backwards (if it does, no time has passed).
    pub fn observe(&mut self, now: Instant, obs: LinkObservation) -> Option<ModeChange> {
        self.rtt_ms.push_valid(obs.rtt_ms);
        self.bandwidth_mbps.push_valid(obs.bandwidth_mbps);
        self.loss_percent.push_valid(obs.loss_percent);
        let average = self.average()?;
        let (from, limits) = match self.stable {
            None => (None, Limits::raw(&self.thresholds)),
            Some(stable) => {
                let dwell = Duration::from_millis(self.thresholds.dwell_ms);
                if now.saturating_duration_since(stable.since) < dwell {
                    return None;
                }
                (
                    Some(stable.mode),
                    Limits::against_leaving(stable.mode, &self.thresholds),
                )
            }
        };
        let to = limits.classify(&average);
        if from == Some(to) {
            return None;
        }
        self.stable = Some(Stable {
            mode: to,
            since: now,
        });
        Some(ModeChange {
            from,
            to,
            reason: limits.explain(&average, to),
        })
    }

    /// The stable mode; `None` until every field has had a valid sample.
    pub fn mode(&self) -> Option<LinkMode> {
        self.stable.map(|stable| stable.mode)
    }

    /// Moving average of each field over its last `window` valid values;
    /// `None` until every field has had one.
    pub fn average(&self) -> Option<LinkObservation> {
        Some(LinkObservation {
            rtt_ms: self.rtt_ms.mean()?,
            bandwidth_mbps: self.bandwidth_mbps.mean()?,
            loss_percent: self.loss_percent.mean()?,
        })
    }

    /// The thresholds this detector was built with.
    pub fn thresholds(&self) -> &ModeThresholds {
        &self.thresholds
    }
}
