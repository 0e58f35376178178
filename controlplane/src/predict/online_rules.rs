//! What the control plane does with a link's forecast: the switch-over
//! floor, the pacing and the stream count of a running migration, and its
//! predicted time to finish. Pure functions of the forecast and the job;
//! docs/prediction.md §9 states the rules.
//!
//! # Design
//!
//! A migration's own throughput is what the link samples measure, so a
//! rule that holds a migration below its prediction would feed the
//! predictor less and less (pacing at 95 % of the prediction converges to
//! zero). Every rule here therefore leaves room above the prediction:
//! pacing is the upper band times [`PACING_HEADROOM`], and the stream count
//! is what carries the upper band times the same headroom. The floor only
//! ever lowers the bandwidth the data plane plans its switch-over with.
//!
//! Values written to the job spec change only by more than
//! [`CHANGE_THRESHOLD`] (the stream count: at most once per
//! [`STREAMS_CHANGE_INTERVAL_MS`]), so a steady link rewrites nothing.

use super::online::LinkForecast;

/// A forecast steers only after this many steps of history (the warm-up of
/// the evaluation, docs/prediction.md §2).
pub const STEER_STEPS_MIN: u64 = 10;
/// A forecast older than this does not steer, ms (the link is no longer
/// sampled: no migration to the peer runs, or it is held).
pub const FORECAST_AGE_MAX_MS: u64 = 5_000;
/// Pacing and stream count aim at the upper band times this.
pub const PACING_HEADROOM: f64 = 1.25;
/// The lowest pacing the prediction sets, bytes per second (1 Mbit/s).
pub const PACING_MIN_BYTES_PER_S: u64 = 125_000;
/// A value is rewritten when the new one differs by more than this share.
pub const CHANGE_THRESHOLD: f64 = 0.10;
/// The least time between two stream-count changes of one migration, ms.
pub const STREAMS_CHANGE_INTERVAL_MS: u64 = 5_000;
/// The send window one TCP stream can have, bytes: Linux's default
/// `net.ipv4.tcp_wmem` maximum.
pub const STREAM_WINDOW_BYTES: f64 = 4_194_304.0;
/// Payload bytes per TCP segment (an MTU of 1500 with timestamps).
pub const SEGMENT_BYTES: f64 = 1448.0;
/// The constant of the Mathis et al. (1997) bound `MSS / RTT × C / √p`:
/// `√(3/2)`.
pub const MATHIS_CONSTANT: f64 = 1.224_744_871_391_589;
/// Bytes of a guest page.
pub const PAGE_BYTES: u64 = 4096;

const _: () = assert!(PACING_HEADROOM > 1.0, "room above the prediction");
const _: () = assert!(CHANGE_THRESHOLD > 0.0 && CHANGE_THRESHOLD < 1.0);

/// A running source migration as the steering rules see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SteeredJob {
    /// The pacing follows the prediction (the operator did not fix it).
    pub pacing_follows_prediction: bool,
    /// The stream count follows the prediction.
    pub streams_follow_prediction: bool,
    /// The pacing in the spec now, bytes per second (0: unpaced).
    pub pacing_bytes_per_s: u64,
    /// Streams carrying data now.
    pub streams_active: u16,
    /// Streams the migration opened (0: not known yet).
    pub streams_connected: u16,
    /// The floor in the spec now, bytes per second (0: none).
    pub floor_bytes_per_s: u64,
    /// The link's mode is internet or hybrid: a path with other traffic
    /// and a bottleneck to fit. On datacenter and unknown links the
    /// prediction neither paces nor changes streams.
    pub shared_path: bool,
    /// When the prediction last changed its stream count (Unix ms).
    pub streams_changed_unix_ms: Option<u64>,
}

/// What to write into a job's spec; `None` leaves a value as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Steering {
    /// New `predicted_floor_bytes_per_s` (0: none).
    pub floor_bytes_per_s: Option<u64>,
    /// New pacing, bytes per second (0: unpaced).
    pub pacing_bytes_per_s: Option<u64>,
    /// New `streams_active`.
    pub streams_active: Option<u16>,
}

impl Steering {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Bytes per second from Mbit/s (rounded, saturating).
pub fn bytes_per_s(mbps: f64) -> u64 {
    let bytes = (mbps * 1e6 / 8.0).round();
    if bytes.is_nan() || bytes <= 0.0 {
        0
    } else if bytes >= u64::MAX as f64 {
        u64::MAX
    } else {
        // Finite, in 1..u64::MAX and whole (checked and rounded above).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = bytes as u64;
        whole
    }
}

/// Whether `new` differs from `current` by more than [`CHANGE_THRESHOLD`]
/// of `current`, or one of them is 0 and the other not.
fn differs(current: u64, new: u64) -> bool {
    if current == 0 || new == 0 {
        return current != new;
    }
    (new as f64 - current as f64).abs() > CHANGE_THRESHOLD * current as f64
}

/// The rate one TCP stream can carry over a path with `rtt_ms` and
/// `loss_percent`, bytes per second: the window bound
/// ([`STREAM_WINDOW_BYTES`] per RTT), and with loss the lower Mathis bound.
/// `None` without an RTT.
pub fn stream_rate_bytes_per_s(rtt_ms: f64, loss_percent: f64) -> Option<f64> {
    if !(rtt_ms.is_finite() && rtt_ms > 0.0) {
        return None;
    }
    let rtt_s = rtt_ms / 1000.0;
    let window = STREAM_WINDOW_BYTES / rtt_s;
    let loss = loss_percent / 100.0;
    if loss.is_finite() && loss > 0.0 {
        Some(window.min(SEGMENT_BYTES / rtt_s * MATHIS_CONSTANT / loss.sqrt()))
    } else {
        Some(window)
    }
}

/// The streams needed to carry `target_bytes_per_s` at `per_stream`, in
/// `1..=connected`.
fn streams_for(target_bytes_per_s: f64, per_stream: f64, connected: u16) -> u16 {
    let needed = (target_bytes_per_s / per_stream).ceil();
    if needed.is_nan() || needed < 1.0 {
        1
    } else if needed >= f64::from(connected) {
        connected
    } else {
        // In 1..connected (checked above), whole (ceil).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = needed as u16;
        n
    }
}

/// The changes `forecast` calls for in `job` at `now_unix_ms`.
///
/// - **Floor**: with a usable forecast (at least [`STEER_STEPS_MIN`]
///   steps, at most [`FORECAST_AGE_MAX_MS`] old) the lower band of the
///   short horizon (at least 1 byte/s); without one, 0 (none).
/// - **Pacing**, when it follows the prediction, on a shared path, with a
///   usable forecast of steps that measure the link: the upper band of the
///   short horizon times [`PACING_HEADROOM`], at least
///   [`PACING_MIN_BYTES_PER_S`]. On a path that is not shared: unpaced.
/// - **Streams**, under the same conditions plus a known RTT and opened
///   count: enough streams to carry that pacing target at
///   [`stream_rate_bytes_per_s`], in `1..=streams_connected`.
pub fn steer(job: &SteeredJob, forecast: Option<&LinkForecast>, now_unix_ms: u64) -> Steering {
    let usable = forecast
        .filter(|f| f.steps >= STEER_STEPS_MIN && f.age_ms(now_unix_ms) <= FORECAST_AGE_MAX_MS);
    let mut steering = Steering::default();
    let floor = usable.map_or(0, |f| bytes_per_s(f.short().lower).max(1));
    if differs(job.floor_bytes_per_s, floor) {
        steering.floor_bytes_per_s = Some(floor);
    }
    if !job.shared_path {
        if job.pacing_follows_prediction && job.pacing_bytes_per_s != 0 {
            steering.pacing_bytes_per_s = Some(0);
        }
        return steering;
    }
    let Some(forecast) = usable.filter(|f| f.measures_link) else {
        return steering;
    };
    let target = forecast.short().upper * 1e6 / 8.0 * PACING_HEADROOM;
    if job.pacing_follows_prediction {
        let pacing =
            bytes_per_s(forecast.short().upper * PACING_HEADROOM).max(PACING_MIN_BYTES_PER_S);
        if differs(job.pacing_bytes_per_s, pacing) {
            steering.pacing_bytes_per_s = Some(pacing);
        }
    }
    let interval_passed = job
        .streams_changed_unix_ms
        .is_none_or(|t| now_unix_ms.saturating_sub(t) >= STREAMS_CHANGE_INTERVAL_MS);
    if job.streams_follow_prediction && job.streams_connected > 0 && interval_passed {
        if let Some(per_stream) = stream_rate_bytes_per_s(forecast.rtt_ms, forecast.loss_percent) {
            let streams = streams_for(target, per_stream, job.streams_connected);
            if streams != job.streams_active {
                steering.streams_active = Some(streams);
            }
        }
    }
    steering
}

/// A migration's progress as the ETA needs it (from its status record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Pages still to send in this round.
    pub pages_remaining: u64,
    /// Pages sent so far (all rounds).
    pub pages_done: u64,
    /// Bytes on the wire so far.
    pub bytes_on_wire: u64,
    /// The guest's dirty rate, bytes of pages per second.
    pub dirty_bytes_per_s: u64,
}

/// Seconds to the end of the migration at `predicted_mbps`.
///
/// The remaining bytes are the **wire bytes still to send in this round**:
/// the pages left in it times the wire bytes per page the migration has
/// averaged so far (compression, zero and duplicate pages and framing
/// included; a whole page before the first is sent). The link samples
/// measure wire bytes, so both sides of the division are wire bytes. What
/// the guest dirties meanwhile must be sent again, so the dirty rate,
/// scaled by the same ratio, is taken off the predicted rate (as the
/// measured `eta_s` does). `None` without a predicted rate or when the
/// guest dirties at least as fast as the link is predicted to drain.
pub fn predicted_eta_s(progress: &Progress, predicted_mbps: f64) -> Option<f64> {
    let predicted = predicted_mbps * 1e6 / 8.0;
    if !(predicted.is_finite() && predicted > 0.0) {
        return None;
    }
    let wire_per_page = if progress.pages_done > 0 && progress.bytes_on_wire > 0 {
        progress.bytes_on_wire as f64 / progress.pages_done as f64
    } else {
        PAGE_BYTES as f64
    };
    let remaining = progress.pages_remaining as f64 * wire_per_page;
    let dirty = progress.dirty_bytes_per_s as f64 * wire_per_page / PAGE_BYTES as f64;
    let drain = predicted - dirty;
    (drain > 0.0).then(|| remaining / drain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::Prediction;

    /// A forecast of `steps` steps at `unix_ms` whose short horizon is
    /// `lower..upper` around `mbps`.
    fn forecast(steps: u64, unix_ms: u64, (lower, mbps, upper): (f64, f64, f64)) -> LinkForecast {
        LinkForecast {
            unix_ms,
            predictor: "lstm".into(),
            steps,
            measures_link: true,
            rtt_ms: 50.0,
            loss_percent: 0.0,
            horizons: [Prediction::new(mbps, lower, upper); 2],
        }
    }

    fn job() -> SteeredJob {
        SteeredJob {
            pacing_follows_prediction: true,
            streams_follow_prediction: true,
            pacing_bytes_per_s: 0,
            streams_active: 8,
            streams_connected: 8,
            floor_bytes_per_s: 0,
            shared_path: true,
            streams_changed_unix_ms: None,
        }
    }

    const NOW: u64 = 100_000;

    #[test]
    fn a_usable_forecast_sets_floor_pacing_and_streams() {
        let f = forecast(10, NOW - 1_000, (80.0, 100.0, 120.0));
        let s = steer(&job(), Some(&f), NOW);
        assert_eq!(s.floor_bytes_per_s, Some(10_000_000), "80 Mbit/s");
        assert_eq!(
            s.pacing_bytes_per_s,
            Some(18_750_000),
            "120 × 1.25 = 150 Mbit/s"
        );
        // No loss: one stream's 4 MiB window per 50 ms carries 84 MB/s.
        assert_eq!(s.streams_active, Some(1));
    }

    #[test]
    fn loss_needs_more_streams_up_to_those_opened() {
        let mut f = forecast(10, NOW, (80.0, 100.0, 120.0));
        f.loss_percent = 0.1;
        // Mathis: 1448 B / 50 ms × 1.2247 / √0.001 = 1.12 MB/s per stream;
        // 18.75 MB/s needs 17, 8 opened.
        let per_stream = stream_rate_bytes_per_s(50.0, 0.1).expect("an RTT");
        assert!((per_stream - 1_121_600.0).abs() < 1_000.0, "{per_stream}");
        assert_eq!(
            steer(&job(), Some(&f), NOW).streams_active,
            None,
            "8 already"
        );
        let s = steer(
            &SteeredJob {
                streams_active: 2,
                ..job()
            },
            Some(&f),
            NOW,
        );
        assert_eq!(s.streams_active, Some(8));
        f.horizons = [Prediction::new(5.0, 4.0, 6.0); 2];
        // 6 × 1.25 = 7.5 Mbit/s = 0.94 MB/s: one stream.
        assert_eq!(steer(&job(), Some(&f), NOW).streams_active, Some(1));
        assert_eq!(stream_rate_bytes_per_s(0.0, 1.0), None, "no RTT");
    }

    #[test]
    fn a_young_or_stale_forecast_only_clears_the_floor() {
        let young = forecast(9, NOW, (80.0, 100.0, 120.0));
        let stale = forecast(50, NOW - FORECAST_AGE_MAX_MS - 1, (80.0, 100.0, 120.0));
        for f in [Some(&young), Some(&stale), None] {
            let with_floor = SteeredJob {
                floor_bytes_per_s: 10_000_000,
                pacing_bytes_per_s: 5_000_000,
                ..job()
            };
            let s = steer(&with_floor, f, NOW);
            assert_eq!(
                s,
                Steering {
                    floor_bytes_per_s: Some(0),
                    ..Steering::default()
                },
                "{f:?}"
            );
            assert!(steer(&job(), f, NOW).is_empty(), "nothing to clear");
        }
        let just_fresh = forecast(10, NOW - FORECAST_AGE_MAX_MS, (80.0, 100.0, 120.0));
        assert!(steer(&job(), Some(&just_fresh), NOW)
            .floor_bytes_per_s
            .is_some());
    }

    #[test]
    fn operator_values_are_never_touched() {
        let f = forecast(30, NOW, (80.0, 100.0, 120.0));
        let fixed = SteeredJob {
            pacing_follows_prediction: false,
            streams_follow_prediction: false,
            pacing_bytes_per_s: 5_000_000,
            ..job()
        };
        let s = steer(&fixed, Some(&f), NOW);
        assert_eq!((s.pacing_bytes_per_s, s.streams_active), (None, None));
        assert_eq!(
            s.floor_bytes_per_s,
            Some(10_000_000),
            "the floor always follows"
        );
        // Not on a shared path either: an operator's pacing stays.
        let dc = SteeredJob {
            shared_path: false,
            ..fixed
        };
        assert_eq!(steer(&dc, Some(&f), NOW).pacing_bytes_per_s, None);
    }

    #[test]
    fn datacenter_links_are_not_paced_and_keep_their_streams() {
        let f = forecast(30, NOW, (80.0, 100.0, 120.0));
        let dc = SteeredJob {
            shared_path: false,
            ..job()
        };
        let s = steer(&dc, Some(&f), NOW);
        assert_eq!((s.pacing_bytes_per_s, s.streams_active), (None, None));
        let was_paced = SteeredJob {
            pacing_bytes_per_s: 18_750_000,
            ..dc
        };
        assert_eq!(
            steer(&was_paced, Some(&f), NOW).pacing_bytes_per_s,
            Some(0),
            "a link that became datacenter is unpaced again"
        );
    }

    #[test]
    fn paced_history_neither_paces_nor_changes_streams() {
        let mut f = forecast(30, NOW, (80.0, 100.0, 120.0));
        f.measures_link = false;
        let s = steer(&job(), Some(&f), NOW);
        assert_eq!((s.pacing_bytes_per_s, s.streams_active), (None, None));
        assert_eq!(s.floor_bytes_per_s, Some(10_000_000));
    }

    #[test]
    fn small_changes_and_quick_stream_changes_are_held_back() {
        let f = forecast(30, NOW, (80.0, 100.0, 120.0));
        let settled = SteeredJob {
            floor_bytes_per_s: 10_900_000,
            pacing_bytes_per_s: 17_100_000,
            streams_active: 2,
            streams_changed_unix_ms: Some(NOW - STREAMS_CHANGE_INTERVAL_MS + 1),
            ..job()
        };
        assert!(
            steer(&settled, Some(&f), NOW).is_empty(),
            "within 10 %, too soon"
        );
        let moved = SteeredJob {
            floor_bytes_per_s: 11_200_000,
            pacing_bytes_per_s: 16_900_000,
            streams_changed_unix_ms: Some(NOW - STREAMS_CHANGE_INTERVAL_MS),
            ..settled
        };
        assert_eq!(
            steer(&moved, Some(&f), NOW),
            Steering {
                floor_bytes_per_s: Some(10_000_000),
                pacing_bytes_per_s: Some(18_750_000),
                streams_active: Some(1),
            }
        );
    }

    #[test]
    fn pacing_never_goes_below_the_minimum_and_the_floor_below_one() {
        let f = forecast(30, NOW, (0.0, 0.0, 0.0));
        let s = steer(&job(), Some(&f), NOW);
        assert_eq!(s.pacing_bytes_per_s, Some(PACING_MIN_BYTES_PER_S));
        assert_eq!(
            s.floor_bytes_per_s,
            Some(1),
            "a link that may carry nothing"
        );
    }

    #[test]
    fn the_eta_is_wire_bytes_left_over_the_predicted_drain() {
        // 1000 pages left, 2048 wire bytes per page so far, no dirtying:
        // 2,048,000 B at 8 Mbit/s (1 MB/s) = 2.048 s.
        let progress = Progress {
            pages_remaining: 1000,
            pages_done: 500,
            bytes_on_wire: 1_024_000,
            dirty_bytes_per_s: 0,
        };
        let eta = predicted_eta_s(&progress, 8.0).expect("a rate");
        assert!((eta - 2.048).abs() < 1e-9, "{eta}");
        // Dirtying 1 MB/s of pages costs 0.5 MB/s of wire: twice as long.
        let dirty = Progress {
            dirty_bytes_per_s: 1_000_000,
            ..progress
        };
        let eta = predicted_eta_s(&dirty, 8.0).expect("drains");
        assert!((eta - 4.096).abs() < 1e-9, "{eta}");
        // Before the first page: a whole page each.
        let fresh = Progress {
            pages_done: 0,
            bytes_on_wire: 0,
            ..progress
        };
        let eta = predicted_eta_s(&fresh, 8.0).expect("a rate");
        assert!((eta - 4.096).abs() < 1e-9, "{eta}");
        let flooded = Progress {
            dirty_bytes_per_s: 2_000_000,
            ..progress
        };
        assert_eq!(
            predicted_eta_s(&flooded, 8.0),
            None,
            "dirtied as fast as sent"
        );
        assert_eq!(predicted_eta_s(&progress, 0.0), None);
        assert_eq!(predicted_eta_s(&progress, f64::NAN), None);
    }

    #[test]
    fn bytes_per_s_rounds_and_saturates() {
        assert_eq!(bytes_per_s(8.0), 1_000_000);
        assert_eq!(bytes_per_s(-1.0), 0);
        assert_eq!(bytes_per_s(f64::NAN), 0);
        assert_eq!(bytes_per_s(f64::INFINITY), u64::MAX);
    }
}
