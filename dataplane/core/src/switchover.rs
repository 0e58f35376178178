//! When to stop pre-copy and pause the guest.
//!
//! # Design
//! After each round the engine reports how many pages it found dirty and how
//! long a full scan took. The final round runs with the guest paused and
//! must scan every page again, then send what changed, so the downtime of a
//! switch-over now is estimated as
//!
//! `max(full_scan_time, drain_bytes / throughput)
//!  + dirty_pages × PAGE_SIZE / throughput + round_trip + VERIFY_OVERHEAD`.
//!
//! `round_trip` is the path's measured round trip
//! ([`SwitchoverPolicy::with_round_trip`]): the downtime ends when the
//! destination's verdict is back, so the final frame's way there and the
//! verdict's way back are part of it. On a 100 ms link that is a third of a
//! 300 ms budget, which a fixed allowance of a few milliseconds ignored.
//!
//! `drain_bytes` ([`RoundReport::drain_bytes`]) are the frames sent but not
//! yet acknowledged when the round ended: the final round's frames queue
//! behind them. They drain while the final round scans, so only the part
//! that outlasts the scan adds to the estimate. With several streams the
//! fullest one decides: its backlog drains at its share of the link (a
//! stream in loss recovery or in BBR's ProbeRTT holds more than the others
//! and drains slower), so `drain_bytes` is the larger of the bytes in
//! flight and the fullest stream's bytes times the active streams.
//!
//! `throughput` is the measured throughput, or the control plane's predicted
//! lower bound of the link's bandwidth when that is lower
//! ([`SwitchoverPolicy::set_predicted_floor`]): the final round happens
//! over the next few seconds, and a link that is predicted to slow down
//! should not be trusted at the rate it had so far. The floor can only make
//! the estimate longer, so it delays a switch-over, never hastens one.
//!
//! The policy switches when that fits the downtime budget (default 300 ms),
//! when rounds stop converging (the dirty set shrank by less than
//! `1 - stall_ratio` for `stall_rounds` rounds in a row), or at
//! `rounds_max`. A round whose dirty set did not grow and alone fits the
//! budget converges too, whatever the bytes in flight did: only the queue
//! is over the budget, the final round would queue behind it, and pausing
//! the guest cannot make the link drain it sooner. So while the link
//! drains it, or while a stream sits in loss recovery and drains nothing,
//! another round (with the guest running) is cheaper than pausing. On a
//! lossy WAN link rounds of a quiet guest take 50 ms while a few MB drain
//! behind retransmissions; three such rounds used to count as a stall and
//! paused the guest for up to 2 s, and until this rule also covered a
//! queue that stopped draining for a few rounds (a stream waiting out a
//! retransmission timeout), it still did, once for 2.1 s. `rounds_max`
//! bounds the wait, and between such rounds the engine waits for the
//! queue to drain to where the round would fit
//! ([`SwitchoverPolicy::queue_drain_target`]) instead of scanning again at
//! once. Round 0 sends everything and never switches unless it
//! is the last round allowed: it says nothing yet about the dirty rate.

use std::time::Duration;

/// Fixed allowance for the destination's verification, beside the round trip.
pub const VERIFY_OVERHEAD: Duration = Duration::from_millis(5);
/// Upper bound on pre-copy rounds a configuration may ask for.
pub const ROUNDS_MAX: u32 = 1000;
/// The longest wait between rounds for a queue to drain
/// ([`SwitchoverPolicy::queue_drain_target`]).
pub const QUEUE_DRAIN_WAIT_MAX: Duration = Duration::from_secs(1);

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
    /// Bytes of frames queued or sent but not yet acknowledged when the round ended.
    pub inflight_bytes: u64,
    /// The most of those bytes any one stream holds.
    pub inflight_bytes_stream_max: u64,
    /// Streams the engine sends on (at least 1).
    pub streams_active: u32,
}

impl RoundReport {
    /// The bytes the link must carry before the fullest stream has drained,
    /// if every active stream gets an equal share of the throughput: a
    /// stream holding more than its share drains at its share (a TCP
    /// stream's congestion control does not take over another's rate
    /// within a few round trips), so its backlog counts `streams_active`
    /// times.
    pub fn drain_bytes(&self) -> u64 {
        drain_bytes(
            self.inflight_bytes,
            self.inflight_bytes_stream_max,
            self.streams_active,
        )
    }

    /// The same round with nothing in flight: what its dirty pages alone
    /// would cost.
    fn without_queue(&self) -> RoundReport {
        RoundReport {
            inflight_bytes: 0,
            inflight_bytes_stream_max: 0,
            ..*self
        }
    }
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
    /// The predicted lower bound of the bandwidth, bytes per second.
    predicted_floor: Option<f64>,
    /// The path's round trip: the final frame's way out and the verdict's back.
    round_trip: Duration,
    /// The link's rate, bytes per second, if known: nothing drains faster.
    link_rate: Option<f64>,
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
            predicted_floor: None,
            round_trip: Duration::ZERO,
            link_rate: None,
        }
    }

    /// The same policy never planning with more than `bytes_per_s` (the
    /// link's configured rate): acknowledgements measure what the
    /// destination wrote, and a destination that fell behind and catches up
    /// acknowledges faster than the link delivers (measured: 30-35 MiB/s
    /// over 4 round trips of a 200 Mbit/s link, 23.8 MiB/s of payload).
    /// Not finite or not positive: no cap.
    pub fn with_link_rate(mut self, bytes_per_s: f64) -> Self {
        self.link_rate = Some(bytes_per_s).filter(|r| r.is_finite() && *r > 0.0);
        self
    }

    /// The same policy planning with the path's measured `round_trip`
    /// (zero, the default, for a policy that does not know it).
    pub fn with_round_trip(mut self, round_trip: Duration) -> Self {
        self.round_trip = round_trip;
        self
    }

    /// Sets the predicted lower bound of the link's bandwidth, bytes per
    /// second, for the next decisions; `None`, 0 or a value that is not
    /// finite means none.
    pub fn set_predicted_floor(&mut self, floor_bytes_per_s: Option<f64>) {
        self.predicted_floor = floor_bytes_per_s.filter(|f| f.is_finite() && *f > 0.0);
    }

    /// The bandwidth a switch-over is planned with: the measured
    /// throughput, or the predicted floor or the link's rate when lower.
    pub fn planning_throughput(&self, measured_bytes_per_s: f64) -> f64 {
        [self.predicted_floor, self.link_rate]
            .into_iter()
            .flatten()
            .fold(measured_bytes_per_s, f64::min)
    }

    /// Estimated downtime if the guest were paused now.
    pub fn estimate_downtime(&self, report: &RoundReport, throughput_bytes_per_s: f64) -> Duration {
        let bytes = report.dirty_pages as f64 * f64::from(dwcp_shared::limits::PAGE_SIZE);
        let transfer = transfer_time(bytes, throughput_bytes_per_s);
        let drain = transfer_time(report.drain_bytes() as f64, throughput_bytes_per_s);
        report.scan_duration.max(drain) + transfer + self.round_trip + VERIFY_OVERHEAD
    }

    /// How far the queue must drain, with the guest running, before the
    /// next round is worth scanning, when only the bytes in flight keep the
    /// estimate over the budget: the [`RoundReport::drain_bytes`] at which
    /// this round would fit, at the planning throughput. `None` when the
    /// round fits or its dirty pages alone do not. The caller waits for
    /// that, at most [`QUEUE_DRAIN_WAIT_MAX`].
    ///
    /// Scanning again at once gains nothing: the link drains the queue at
    /// its own pace while the guest runs, and a quiet guest's rounds take a
    /// few tens of ms, so back-to-back rounds used up `rounds_max` in under
    /// a second on a 250 ms link whose queue needed two, and switched over
    /// with 6-10 MB still queued (1.5-2.2 s of downtime). A target, not a
    /// time: waiting the time the excess takes at the planning throughput
    /// (the link's peak) came back too early whenever the queue drained
    /// slower than that, and on a 2-core machine each early round's scan
    /// (50 ms of CPU for 1 GiB) slowed the destination's drain further: 3
    /// MB took 1 s to drain, in 16 rounds (`perf/wan-bench.sh`, real guest).
    pub fn queue_drain_target(
        &self,
        report: &RoundReport,
        throughput_bytes_per_s: f64,
    ) -> Option<u64> {
        let rate = self.planning_throughput(throughput_bytes_per_s);
        let budget = self.config.downtime_budget;
        let quiet = report.without_queue();
        if self.estimate_downtime(report, rate) <= budget
            || self.estimate_downtime(&quiet, rate) > budget
        {
            return None;
        }
        // The estimate is max(scan, drain) + the rest: the drain may take
        // what the budget leaves after the rest.
        let rest = self
            .estimate_downtime(&quiet, rate)
            .saturating_sub(quiet.scan_duration);
        let drain_time = budget.saturating_sub(rest);
        // `as` saturates (an infinite rate gives u64::MAX, NaN 0).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let target = (drain_time.as_secs_f64() * rate) as u64;
        Some(target)
    }

    /// Judges a finished round, given the measured throughput (the
    /// estimate uses [`planning_throughput`](Self::planning_throughput)).
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
        let estimated_downtime =
            self.estimate_downtime(report, self.planning_throughput(throughput_bytes_per_s));
        if estimated_downtime <= self.config.downtime_budget {
            return Decision::Switchover(SwitchoverReason::FitsBudget { estimated_downtime });
        }
        if let Some(previous) = self.previous_dirty {
            let shrinking = (report.dirty_pages as f64) < previous as f64 * self.config.stall_ratio;
            // Only the queue is over the budget: the dirty pages alone fit.
            let dirty_fits = self.estimate_downtime(
                &report.without_queue(),
                self.planning_throughput(throughput_bytes_per_s),
            ) <= self.config.downtime_budget;
            let queue_bound = dirty_fits && report.dirty_pages <= previous;
            let converging = shrinking || queue_bound;
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

/// How long `bytes` take at `bytes_per_s`, at most an hour (an hour while
/// the rate is still unknown and there are bytes; nothing when there are none).
/// [`RoundReport::drain_bytes`] of `inflight_bytes` in flight, the fullest
/// stream holding `stream_max`, over `streams_active` streams.
pub fn drain_bytes(inflight_bytes: u64, stream_max: u64, streams_active: u32) -> u64 {
    inflight_bytes.max(stream_max.saturating_mul(u64::from(streams_active.max(1))))
}

fn transfer_time(bytes: f64, bytes_per_s: f64) -> Duration {
    if bytes_per_s > 0.0 {
        Duration::from_secs_f64((bytes / bytes_per_s).min(3600.0))
    } else if bytes > 0.0 {
        Duration::from_secs(3600)
    } else {
        Duration::ZERO
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
            inflight_bytes: 0,
            inflight_bytes_stream_max: 0,
            streams_active: 1,
        }
    }

    #[test]
    fn bytes_still_in_flight_count_where_they_outlast_the_scan() {
        let mb_s = 25e6; // 200 Mbit/s
        let queued = |inflight_bytes| RoundReport {
            inflight_bytes,
            ..report(1, 250, 50)
        };
        let plan = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        // 250 pages = 1.024 MB: 41 ms, + 50 ms scan + 5 ms = 96 ms: fits.
        let idle = plan.estimate_downtime(&queued(0), mb_s);
        assert!(idle > Duration::from_millis(95) && idle < Duration::from_millis(97));
        // 1 MB queued drains in 40 ms, within the 50 ms scan: no change.
        assert_eq!(plan.estimate_downtime(&queued(1_000_000), mb_s), idle);
        // 10 MB queued (a full window) drains in 400 ms: 400 + 41 + 5 ms.
        let full = plan.estimate_downtime(&queued(10_000_000), mb_s);
        assert!(full > Duration::from_millis(445) && full < Duration::from_millis(447));
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        assert_eq!(
            policy.decide(&queued(10_000_000), mb_s),
            Decision::NextRound
        );
        assert!(matches!(
            policy.decide(&queued(1_000_000), mb_s),
            Decision::Switchover(SwitchoverReason::FitsBudget { .. })
        ));
        assert_eq!(
            plan.estimate_downtime(&queued(1), 0.0),
            Duration::from_secs(3600) + Duration::from_secs(3600) + VERIFY_OVERHEAD,
            "an unknown rate with bytes queued never fits"
        );
    }

    /// The downtime ends with the verdict back at the source: on a 100 ms
    /// path a round that fits 300 ms on the bytes alone (96 ms) and with
    /// 5 MB queued (200 + 41 + 5 ms) no longer fits once the round trip
    /// counts (346 ms), and waits for the queue to drain.
    #[test]
    fn the_round_trip_counts_towards_the_downtime() {
        let mb_s = 25e6; // 200 Mbit/s
        let rtt = Duration::from_millis(100);
        let queued = |inflight_bytes| RoundReport {
            inflight_bytes,
            ..report(1, 250, 50)
        };
        let local = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        let wan = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS).with_round_trip(rtt);
        assert_eq!(
            wan.estimate_downtime(&queued(0), mb_s),
            local.estimate_downtime(&queued(0), mb_s) + rtt
        );
        let mut local = local;
        let mut wan = wan;
        assert!(matches!(
            local.decide(&queued(5_000_000), mb_s),
            Decision::Switchover(SwitchoverReason::FitsBudget { .. })
        ));
        assert_eq!(wan.decide(&queued(5_000_000), mb_s), Decision::NextRound);
        assert!(matches!(
            wan.decide(&queued(1_000_000), mb_s),
            Decision::Switchover(SwitchoverReason::FitsBudget { .. })
        ));
    }

    /// 3 MB in flight, all on one of 3 streams, drain at a third of the
    /// link: 360 ms at 25 MB/s, not 120 ms.
    #[test]
    fn a_backlog_on_one_stream_drains_at_its_share() {
        let mb_s = 25e6;
        let spread = RoundReport {
            inflight_bytes: 3_000_000,
            inflight_bytes_stream_max: 1_000_000,
            streams_active: 3,
            ..report(1, 0, 10)
        };
        let piled = RoundReport {
            inflight_bytes_stream_max: 3_000_000,
            ..spread
        };
        assert_eq!(spread.drain_bytes(), 3_000_000);
        assert_eq!(piled.drain_bytes(), 9_000_000);
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        let estimate = policy.estimate_downtime(&piled, mb_s);
        assert!(
            estimate > Duration::from_millis(364) && estimate < Duration::from_millis(366),
            "{estimate:?}"
        );
        assert!(matches!(
            policy.decide(&spread, mb_s),
            Decision::Switchover(SwitchoverReason::FitsBudget { .. })
        ));
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        assert_eq!(policy.decide(&piled, mb_s), Decision::NextRound);
    }

    #[test]
    fn the_link_rate_caps_the_planning_throughput() {
        let mb_s = 25e6;
        let policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        assert_eq!(policy.planning_throughput(36e6), 36e6);
        let capped = policy.clone().with_link_rate(mb_s);
        assert_eq!(capped.planning_throughput(36e6), mb_s);
        assert_eq!(capped.planning_throughput(20e6), 20e6);
        assert_eq!(
            policy
                .clone()
                .with_link_rate(f64::NAN)
                .planning_throughput(36e6),
            36e6
        );
        // 6 MB in flight: 167 ms at a catching-up 36 MB/s fits 300 ms with a
        // 100 ms round trip; at the link's 25 MB/s (240 ms) it does not.
        let queued = RoundReport {
            inflight_bytes: 6_000_000,
            inflight_bytes_stream_max: 2_000_000,
            streams_active: 3,
            ..report(1, 0, 50)
        };
        let rtt = Duration::from_millis(100);
        let mut trusting = policy.clone().with_round_trip(rtt);
        assert!(matches!(
            trusting.decide(&queued, 36e6),
            Decision::Switchover(SwitchoverReason::FitsBudget { .. })
        ));
        let mut capped = capped.with_round_trip(rtt);
        assert_eq!(capped.decide(&queued, 36e6), Decision::NextRound);
    }

    /// On a 250 ms path at 12.5 MB/s a round with 2 dirty pages and a 15 ms
    /// scan costs 255.7 ms besides its queue: the queue may take 44.3 ms,
    /// 554 kB at that rate. With more queued (5 MB on one of 3 streams, or
    /// 0.5 MB on each) the engine waits for it to drain to 554 kB; nothing
    /// to wait for when the round fits or when the dirty pages alone are
    /// over the budget; a queue drained to the target fits.
    #[test]
    fn a_queue_bound_round_waits_for_the_queue_to_drain_to_where_it_fits() {
        let mb_s = 12.5e6;
        let policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS)
            .with_round_trip(Duration::from_millis(250));
        let queued = |inflight_bytes, stream_max, dirty_pages| RoundReport {
            inflight_bytes,
            inflight_bytes_stream_max: stream_max,
            streams_active: 3,
            ..report(5, dirty_pages, 15)
        };
        let target = policy
            .queue_drain_target(&queued(5_000_000, 5_000_000, 2), mb_s)
            .expect("15 MB to drain: over the budget");
        assert!((554_000..=554_700).contains(&target), "{target}");
        assert_eq!(
            policy.queue_drain_target(&queued(1_500_000, 500_000, 2), mb_s),
            Some(target)
        );
        assert_eq!(policy.queue_drain_target(&queued(0, 0, 2), mb_s), None);
        assert_eq!(
            policy.queue_drain_target(&queued(500_000, 500_000, 10_000), mb_s),
            None
        );
        let drained = queued(target, target / 3, 2);
        assert_eq!(policy.queue_drain_target(&drained, mb_s), None);
        assert!(
            policy.estimate_downtime(&drained, mb_s) <= SwitchoverConfig::DEFAULTS.downtime_budget
        );
        // A queue that drains within the scan (32 ms of queue behind a 40 ms
        // scan): the scan, not the queue, sets the estimate, which fits.
        let slow_scan = RoundReport {
            scan_duration: Duration::from_millis(40),
            ..queued(400_000, 400_000 / 3, 2)
        };
        assert_eq!(policy.queue_drain_target(&slow_scan, mb_s), None);
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
    fn rounds_go_on_while_the_bytes_in_flight_drain() {
        // A quiet guest (nothing dirty) behind 4 MB in flight at a measured
        // 1 MB/s: 4 s of drain, over the budget, but draining.
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig {
            rounds_max: 12,
            ..SwitchoverConfig::DEFAULTS
        });
        let queued = |round, inflight_bytes| RoundReport {
            round,
            dirty_pages: 0,
            scan_duration: Duration::from_millis(50),
            inflight_bytes,
            inflight_bytes_stream_max: inflight_bytes,
            streams_active: 1,
        };
        for (round, inflight) in [
            (1, 4_000_000),
            (2, 3_990_000),
            (3, 3_980_000),
            (4, 3_970_000),
        ] {
            assert_eq!(
                policy.decide(&queued(round, inflight), 1e6),
                Decision::NextRound,
                "round {round}: still draining"
            );
        }
        // The drain stops (a stream waiting out a retransmission timeout,
        // the measured rate near 0): pausing would not drain it sooner, so
        // this is no stall; the rounds go on up to the round limit.
        for round in 5..11 {
            assert_eq!(
                policy.decide(&queued(round, 3_970_000), 1e3),
                Decision::NextRound,
                "round {round}: the queue is stuck, the guest is quiet"
            );
        }
        assert_eq!(
            policy.decide(&queued(11, 3_970_000), 1e3),
            Decision::Switchover(SwitchoverReason::RoundsExhausted)
        );
    }

    #[test]
    fn a_growing_dirty_set_behind_a_stuck_queue_is_still_a_stall() {
        // The queue is stuck and the guest dirties more each round: not
        // queue-bound (the dirty set grows), so three rounds are a stall.
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        let queued = |round, dirty_pages| RoundReport {
            round,
            dirty_pages,
            scan_duration: Duration::from_millis(50),
            inflight_bytes: 4_000_000,
            inflight_bytes_stream_max: 4_000_000,
            streams_active: 1,
        };
        assert_eq!(policy.decide(&queued(1, 10), 1e6), Decision::NextRound);
        assert_eq!(policy.decide(&queued(2, 11), 1e6), Decision::NextRound);
        assert_eq!(policy.decide(&queued(3, 12), 1e6), Decision::NextRound);
        assert_eq!(
            policy.decide(&queued(4, 13), 1e6),
            Decision::Switchover(SwitchoverReason::Stalled)
        );
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
    fn a_predicted_floor_below_the_measured_rate_delays_the_switch() {
        // 10_000 pages fit at the measured 10 Gb/s (88 ms) ...
        let mut measured_only = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        assert!(matches!(
            measured_only.decide(&report(1, 10_000, 50), 10.0 * GBPS),
            Decision::Switchover(SwitchoverReason::FitsBudget { .. })
        ));
        // ... but not at a predicted floor of 0.5 Gb/s (655 ms + 55 ms).
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        policy.set_predicted_floor(Some(0.5 * GBPS));
        assert_eq!(policy.planning_throughput(10.0 * GBPS), 0.5 * GBPS);
        assert_eq!(
            policy.decide(&report(1, 10_000, 50), 10.0 * GBPS),
            Decision::NextRound
        );
        assert_eq!(
            policy.decide(&report(2, 5_000, 50), 10.0 * GBPS),
            Decision::NextRound,
            "5_000 pages: 328 ms at the floor"
        );
        // 2_000 pages: 131 ms at the floor + 55 ms fits: two rounds later.
        match policy.decide(&report(3, 2_000, 50), 10.0 * GBPS) {
            Decision::Switchover(SwitchoverReason::FitsBudget { estimated_downtime }) => {
                assert!(
                    estimated_downtime > Duration::from_millis(180)
                        && estimated_downtime < Duration::from_millis(192),
                    "{estimated_downtime:?}"
                );
            }
            other => panic!("expected a switch-over at round 3, got {other:?}"),
        }
    }

    #[test]
    fn a_floor_above_the_measured_rate_or_none_changes_nothing() {
        let mut policy = SwitchoverPolicy::new(SwitchoverConfig::DEFAULTS);
        policy.set_predicted_floor(Some(100.0 * GBPS));
        assert_eq!(policy.planning_throughput(GBPS), GBPS);
        // Too long at the measured 1 Gb/s: a higher floor does not hasten it.
        assert_eq!(
            policy.decide(&report(1, 10_000, 50), GBPS),
            Decision::NextRound
        );
        for none in [
            None,
            Some(0.0),
            Some(-1.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
        ] {
            policy.set_predicted_floor(none);
            assert_eq!(policy.planning_throughput(GBPS), GBPS, "{none:?}");
        }
        policy.set_predicted_floor(Some(0.5 * GBPS));
        policy.set_predicted_floor(None);
        assert!(matches!(
            policy.decide(&report(2, 10_000, 50), 10.0 * GBPS),
            Decision::Switchover(SwitchoverReason::FitsBudget { .. })
        ));
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
