//! When to stop pre-copy and pause the guest.
//!
//! # Design
//! After each round the engine reports how many pages it found dirty and how
//! long a full scan took. The final round runs with the guest paused and
//! must scan every page again, then send what changed, so the downtime of a
//! switch-over now is estimated as
//!
//! `full_scan_time + dirty_pages × PAGE_SIZE / throughput + VERIFY_OVERHEAD`.
//!
//! The policy switches when that fits the downtime budget (default 300 ms),
//! when rounds stop converging (the dirty set shrank by less than
//! `1 - stall_ratio` for `stall_rounds` rounds in a row), or at
//! `rounds_max`. Round 0 sends everything and never switches unless it is
//! the last round allowed: it says nothing yet about the dirty rate.

use std::time::Duration;

/// Fixed allowance for the destination's verification and the last round trip.
pub const VERIFY_OVERHEAD: Duration = Duration::from_millis(5);
/// Upper bound on pre-copy rounds a configuration may ask for.
pub const ROUNDS_MAX: u32 = 1000;

/// Switch-over settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwitchoverConfig {
    /// The downtime the operator accepts.
    pub downtime_budget: Duration,
    /// Rounds before switching regardless (round 0 included).
    pub rounds_max: u32,
    /// Consecutive non-converging rounds that count as a stall.
    pub stall_rounds: u32,
    /// A round converges if its dirty set is below `stall_ratio` × the previous one.
    pub stall_ratio: f64,
}

impl SwitchoverConfig {
    /// The defaults: 300 ms, 30 rounds, 3 stalled rounds at ratio 0.95.
    pub const DEFAULTS: SwitchoverConfig = SwitchoverConfig {
        downtime_budget: Duration::from_millis(300),
        rounds_max: 30,
        stall_rounds: 3,
        stall_ratio: 0.95,
    };
}

/// What one pre-copy round found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundReport {
    /// Round number, 0 first.
    pub round: u32,
    /// Pages sent because they changed (all pages in round 0).
    pub dirty_pages: u64,
    /// How long hashing every page took this round.
    pub scan_duration: Duration,
}

/// Why the policy switched over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SwitchoverReason {
    /// The estimated downtime fits the budget.
    FitsBudget {
        /// The estimate.
        estimated_downtime: Duration,
    },
    /// Rounds stopped converging.
    Stalled,
    /// The round limit was reached.
    RoundsExhausted,
}

impl SwitchoverReason {
    /// A short label for logs and summaries.
    pub fn label(&self) -> &'static str {
        match self {
            SwitchoverReason::FitsBudget { .. } => "fits_budget",
            SwitchoverReason::Stalled => "stalled",
            SwitchoverReason::RoundsExhausted => "rounds_exhausted",
        }
    }
}

/// The policy's verdict after a round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Run another pre-copy round.
    NextRound,
    /// Pause the guest and run the final round.
    Switchover(SwitchoverReason),
}

/// Decides, round by round, when to switch over.
#[derive(Debug, Clone)]
pub struct SwitchoverPolicy {
    config: SwitchoverConfig,
    previous_dirty: Option<u64>,
    stalled_rounds: u32,
}

impl SwitchoverPolicy {
    /// A policy with `config`; panics on a config that `validate` would reject.
    pub fn new(config: SwitchoverConfig) -> Self {
        assert!(
            config.rounds_max >= 1 && config.rounds_max <= ROUNDS_MAX,
            "rounds_max in 1..=ROUNDS_MAX"
        );
        assert!(
            config.stall_ratio > 0.0 && config.stall_ratio <= 1.0,
            "stall_ratio in (0, 1]"
        );
        Self {
            config,
            previous_dirty: None,
            stalled_rounds: 0,
        }
    }

    /// Estimated downtime if the guest were paused now.
    pub fn estimate_downtime(report: &RoundReport, throughput_bytes_per_s: f64) -> Duration {
        let bytes = report.dirty_pages as f64 * f64::from(dwcp_shared::limits::PAGE_SIZE);
        let transfer = if throughput_bytes_per_s > 0.0 {
            Duration::from_secs_f64((bytes / throughput_bytes_per_s).min(3600.0))
        } else if bytes > 0.0 {
            Duration::from_secs(3600)
        } else {
            Duration::ZERO
        };
        report.scan_duration + transfer + VERIFY_OVERHEAD
    }

    /// Judges a finished round.
    pub fn decide(&mut self, report: &RoundReport, throughput_bytes_per_s: f64) -> Decision {
        let last_allowed = report.round + 1 >= self.config.rounds_max;
        if report.round == 0 {
            self.previous_dirty = None;
            return if last_allowed {
                Decision::Switchover(SwitchoverReason::RoundsExhausted)
            } else {
                Decision::NextRound
            };
        }
        let estimated_downtime = Self::estimate_downtime(report, throughput_bytes_per_s);
        if estimated_downtime <= self.config.downtime_budget {
            return Decision::Switchover(SwitchoverReason::FitsBudget { estimated_downtime });
        }
        if let Some(previous) = self.previous_dirty {
            let converging =
                (report.dirty_pages as f64) < previous as f64 * self.config.stall_ratio;
            self.stalled_rounds = if converging {
                0
            } else {
                self.stalled_rounds + 1
            };
        }
        self.previous_dirty = Some(report.dirty_pages);
        if self.stalled_rounds >= self.config.stall_rounds {
            return Decision::Switchover(SwitchoverReason::Stalled);
        }
        if last_allowed {
            return Decision::Switchover(SwitchoverReason::RoundsExhausted);
        }
        Decision::NextRound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GBPS: f64 = 1e9 / 8.0;

    fn report(round: u32, dirty_pages: u64, scan_ms: u64) -> RoundReport {
        RoundReport {
            round,
            dirty_pages,
            scan_duration: Duration::from_millis(scan_ms),
        }
    }

    #[test]
    fn round_zero_never_switches_unless_it_is_the_last() {
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        assert_eq!(policy.decide(&report(0, 0, 1), 1e12), Decision::NextRound);
        let mut one = SwitchoverPolicy::new(SwitchoverConfig {
            rounds_max: 1,
            ..SwitchoverConfig::DEFAULTS
        });
        assert_eq!(
            one.decide(&report(0, 10, 1), 1e9),
            Decision::Switchover(SwitchoverReason::RoundsExhausted)
        );
    }

    #[test]
    fn switches_when_the_estimate_fits_the_budget() {
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        // 10_000 pages = 41 MB at 10 Gb/s = 33 ms, + 50 ms scan + 5 ms.
        match policy.decide(&report(1, 10_000, 50), 10.0 * GBPS) {
            Decision::Switchover(SwitchoverReason::FitsBudget { estimated_downtime }) => {
                assert!(
                    estimated_downtime > Duration::from_millis(85)
                        && estimated_downtime < Duration::from_millis(95)
                );
            }
            other => panic!("expected a switch-over, got {other:?}"),
        }
        // The same set at 1 Gb/s takes 328 ms: too long.
        assert_eq!(
            policy.decide(&report(1, 10_000, 50), GBPS),
            Decision::NextRound
        );
    }

    #[test]
    fn unknown_throughput_never_fits_unless_nothing_is_dirty() {
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        assert_eq!(policy.decide(&report(1, 1, 1), 0.0), Decision::NextRound);
        assert!(matches!(
            policy.decide(&report(2, 0, 1), 0.0),
            Decision::Switchover(SwitchoverReason::FitsBudget { .. })
        ));
    }

    #[test]
    fn a_dirty_set_that_stops_shrinking_is_a_stall() {
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        let slow = 1e6;
        assert_eq!(
            policy.decide(&report(1, 50_000, 10), slow),
            Decision::NextRound
        );
        assert_eq!(
            policy.decide(&report(2, 40_000, 10), slow),
            Decision::NextRound,
            "converging"
        );
        assert_eq!(
            policy.decide(&report(3, 39_500, 10), slow),
            Decision::NextRound,
            "stall 1"
        );
        assert_eq!(
            policy.decide(&report(4, 39_400, 10), slow),
            Decision::NextRound,
            "stall 2"
        );
        assert_eq!(
            policy.decide(&report(5, 39_300, 10), slow),
            Decision::Switchover(SwitchoverReason::Stalled)
        );
    }

    #[test]
    fn the_round_limit_forces_a_switch() {
        let config = SwitchoverConfig {
            rounds_max: 3,
            stall_rounds: 100,
            ..SwitchoverConfig::DEFAULTS
        };
        let mut policy = SwitchoverPolicy::new(config);
        assert_eq!(policy.decide(&report(0, 100, 1), 1.0), Decision::NextRound);
        assert_eq!(policy.decide(&report(1, 100, 1), 1.0), Decision::NextRound);
        assert_eq!(
            policy.decide(&report(2, 100, 1), 1.0),
            Decision::Switchover(SwitchoverReason::RoundsExhausted)
        );
    }
}
