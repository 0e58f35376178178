//! Online prediction: one predictor per peer link, fed with the data
//! plane's link samples as they appear in the tables.
//!
//! # Design
//!
//! A pure core, like the predictors it wraps: [`OnlinePredictor`] takes
//! [`TimedSample`]s carrying their own time (the data plane's
//! `sample_unix_ms`) and is told the current time by its caller
//! ([`settle`](OnlinePredictor::settle)); it reads no clock and does no I/O.
//!
//! The data plane writes one sample per destination address a send job
//! dials, every second, all with the same time. Two migrations to the same
//! peer therefore give two samples with one time: they are one **step** of
//! the link, whose throughput is their sum (the link carries both) and whose
//! RTT and loss are the worse of the two. A step is fed to the predictor
//! when a sample with a later time arrives, or [`SETTLE_MS`] after its own
//! time (the data plane writes the samples of one pass within microseconds;
//! the delay only covers a control plane that read between two of them).
//!
//! Rules, each a named bound:
//!
//! - a sample not later than the last step fed is ignored (the same sample
//!   read again, a slot the data plane stopped writing);
//! - a step less than [`STEP_MIN_MS`] after the last one is dropped: the
//!   predictors are built for 1 s steps, and the data plane samples once a
//!   second ([`ONLINE_STEP_S`]);
//! - after a gap of more than [`GAP_RESET_MS`] (no migration to the peer
//!   ran), the predictor starts over: its history describes another time;
//! - the history is of one kind: steps whose throughput measures the link,
//!   or steps limited by an operator's pacing. When the kind changes the
//!   predictor starts over, so a paced migration's rate never becomes the
//!   link's predicted capacity, and a paced migration's prediction is its
//!   pace.
//!
//! Memory is bounded: the wrapped predictor keeps at most its window
//! (60 steps for the LSTM, [`Horizon::STEPS_MAX`] at most for any), and the
//! wrapper one pending step.

use super::model::select_predictor;
use super::{Horizon, LinkSample, Prediction, Predictor, STEP_S_DEFAULT};
use std::path::Path;

/// The step of online prediction, seconds: the data plane's link-sample
/// interval.
pub const ONLINE_STEP_S: f64 = STEP_S_DEFAULT;
/// The horizons predicted online, seconds: the switch-over and pacing use
/// the short one, the ETA the long one.
pub const ONLINE_HORIZONS_S: [u32; 2] = [5, 30];
/// Index of the short horizon in [`ONLINE_HORIZONS_S`].
pub const SHORT_HORIZON: usize = 0;
/// Index of the long horizon in [`ONLINE_HORIZONS_S`].
pub const LONG_HORIZON: usize = 1;
/// A pending step is fed this long after its time, ms.
pub const SETTLE_MS: u64 = 500;
/// Steps closer than this to the previous one are dropped, ms.
pub const STEP_MIN_MS: u64 = 500;
/// A gap longer than this between two steps restarts the predictor, ms.
pub const GAP_RESET_MS: u64 = 30_000;
/// Seconds in a day (for the time-of-day input).
const DAY_S: u64 = 86_400;

const _: () = assert!(SETTLE_MS <= 1_000 && STEP_MIN_MS <= 1_000);
const _: () = assert!(GAP_RESET_MS >= 2_000);

/// One link sample as the control plane read it from the tables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedSample {
    /// When the data plane took it (Unix ms).
    pub unix_ms: u64,
    /// The migration's throughput, Mbit/s (finite, > 0; the caller leaves
    /// out samples with no throughput measured).
    pub throughput_mbps: f64,
    /// Smoothed RTT, ms.
    pub rtt_ms: f64,
    /// RTT variation, ms.
    pub jitter_ms: f64,
    /// Retransmitted segments, percent of those sent.
    pub loss_percent: f64,
    /// The throughput measures the link: false when the operator's pacing
    /// limits it.
    pub measures_link: bool,
}

impl TimedSample {
    /// Two samples of the same time as one step of the link.
    fn merge(self, other: TimedSample) -> TimedSample {
        TimedSample {
            unix_ms: self.unix_ms,
            throughput_mbps: self.throughput_mbps + other.throughput_mbps,
            rtt_ms: self.rtt_ms.max(other.rtt_ms),
            jitter_ms: self.jitter_ms.max(other.jitter_ms),
            loss_percent: self.loss_percent.max(other.loss_percent),
            measures_link: self.measures_link && other.measures_link,
        }
    }

    /// Whether it can be fed at all.
    fn is_usable(&self) -> bool {
        self.unix_ms > 0 && self.throughput_mbps.is_finite() && self.throughput_mbps > 0.0
    }
}

/// What the predictor says about a link after its latest step.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkForecast {
    /// The time of the latest step (Unix ms).
    pub unix_ms: u64,
    /// The predictor's name (`lstm`, or the fallback baseline's).
    pub predictor: String,
    /// Steps fed since the predictor last started over.
    pub steps: u64,
    /// The steps measure the link (false: an operator's pacing limits them).
    pub measures_link: bool,
    /// The latest step's RTT, ms.
    pub rtt_ms: f64,
    /// The latest step's loss, percent.
    pub loss_percent: f64,
    /// One prediction per horizon of [`ONLINE_HORIZONS_S`], in that order:
    /// the mean throughput over the next `H` seconds and its band, Mbit/s.
    pub horizons: [Prediction; ONLINE_HORIZONS_S.len()],
}

impl LinkForecast {
    /// The prediction for the short horizon (5 s).
    pub fn short(&self) -> &Prediction {
        &self.horizons[SHORT_HORIZON]
    }

    /// The prediction for the long horizon (30 s).
    pub fn long(&self) -> &Prediction {
        &self.horizons[LONG_HORIZON]
    }

    /// Milliseconds from the latest step to `now_unix_ms` (0 if earlier).
    pub fn age_ms(&self, now_unix_ms: u64) -> u64 {
        now_unix_ms.saturating_sub(self.unix_ms)
    }
}

/// The online horizons as [`Horizon`]s of [`ONLINE_STEP_S`] steps.
pub fn online_horizons() -> [Horizon; ONLINE_HORIZONS_S.len()] {
    ONLINE_HORIZONS_S.map(|h| {
        Horizon::from_secs(f64::from(h), ONLINE_STEP_S).expect("whole seconds in 1 s steps")
    })
}

/// A predictor of one peer link, fed step by step.
#[derive(Debug)]
pub struct OnlinePredictor {
    predictor: Box<dyn Predictor>,
    horizons: [Horizon; ONLINE_HORIZONS_S.len()],
    /// The step being gathered (samples of one time).
    pending: Option<TimedSample>,
    /// The time of the last step fed.
    last_step_ms: Option<u64>,
    steps: u64,
    measures_link: bool,
    forecast: Option<LinkForecast>,
}

impl OnlinePredictor {
    /// Wraps `predictor`, which must answer the [`ONLINE_HORIZONS_S`] in
    /// steps of [`ONLINE_STEP_S`].
    pub fn new(predictor: Box<dyn Predictor>) -> Self {
        Self {
            predictor,
            horizons: online_horizons(),
            pending: None,
            last_step_ms: None,
            steps: 0,
            measures_link: true,
            forecast: None,
        }
    }

    /// The predictor the control plane uses
    /// ([`select_predictor`]: the model at `model_path` or the shipped one,
    /// else the fallback baseline), and the warning to log once if it fell
    /// back.
    pub fn select(model_path: Option<&Path>) -> (Self, Option<String>) {
        let (predictor, warning) = select_predictor(model_path, ONLINE_STEP_S, &online_horizons());
        (Self::new(predictor), warning)
    }

    /// The wrapped predictor's name.
    pub fn name(&self) -> &str {
        self.predictor.name()
    }

    /// Steps fed since the predictor last started over.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The forecast after the latest step; `None` before the first step,
    /// or while the predictor cannot answer yet.
    pub fn forecast(&self) -> Option<&LinkForecast> {
        self.forecast.as_ref()
    }

    /// Takes a sample. Returns whether a step was fed (the pending one,
    /// because this sample is later).
    pub fn offer(&mut self, sample: TimedSample) -> bool {
        if !sample.is_usable() || self.last_step_ms.is_some_and(|last| sample.unix_ms <= last) {
            return false;
        }
        match self.pending {
            None => {
                self.pending = Some(sample);
                false
            }
            Some(pending) if pending.unix_ms == sample.unix_ms => {
                self.pending = Some(pending.merge(sample));
                false
            }
            // A slot that lags behind the step being gathered.
            Some(pending) if sample.unix_ms < pending.unix_ms => false,
            Some(pending) => {
                self.pending = Some(sample);
                self.feed(pending)
            }
        }
    }

    /// Feeds the pending step if it is at least [`SETTLE_MS`] old at
    /// `now_unix_ms`. Returns whether a step was fed.
    pub fn settle(&mut self, now_unix_ms: u64) -> bool {
        match self.pending {
            Some(pending) if now_unix_ms.saturating_sub(pending.unix_ms) >= SETTLE_MS => {
                self.pending = None;
                self.feed(pending)
            }
            _ => false,
        }
    }

    /// Feeds one step; `false` if it is dropped as too close to the last.
    fn feed(&mut self, step: TimedSample) -> bool {
        if let Some(last) = self.last_step_ms {
            if step.unix_ms < last + STEP_MIN_MS {
                return false;
            }
            if step.unix_ms - last > GAP_RESET_MS || step.measures_link != self.measures_link {
                self.start_over();
            }
        }
        self.predictor.observe(&LinkSample {
            throughput_mbps: step.throughput_mbps,
            rtt_ms: Some(step.rtt_ms),
            loss_percent: Some(step.loss_percent),
            jitter_ms: Some(step.jitter_ms),
            time_of_day_s: Some(((step.unix_ms / 1000) % DAY_S) as f64),
        });
        self.last_step_ms = Some(step.unix_ms);
        self.steps += 1;
        self.measures_link = step.measures_link;
        let predictions = self.horizons.map(|h| self.predictor.predict(h));
        self.forecast = match predictions {
            [Some(short), Some(long)] => Some(LinkForecast {
                unix_ms: step.unix_ms,
                predictor: self.predictor.name().to_owned(),
                steps: self.steps,
                measures_link: step.measures_link,
                rtt_ms: step.rtt_ms,
                loss_percent: step.loss_percent,
                horizons: [short, long],
            }),
            _ => None,
        };
        true
    }

    fn start_over(&mut self) {
        self.predictor.reset();
        self.steps = 0;
        self.forecast = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::baselines::Baseline;

    fn ewma() -> OnlinePredictor {
        OnlinePredictor::new(Baseline::Ewma.build(ONLINE_STEP_S, &online_horizons()))
    }

    fn at(unix_ms: u64, mbps: f64) -> TimedSample {
        TimedSample {
            unix_ms,
            throughput_mbps: mbps,
            rtt_ms: 20.0,
            jitter_ms: 1.0,
            loss_percent: 0.0,
            measures_link: true,
        }
    }

    #[test]
    fn a_step_is_fed_when_a_later_sample_arrives_or_once_settled() {
        let mut online = ewma();
        assert!(!online.offer(at(10_000, 100.0)), "pending");
        assert!(online.forecast().is_none());
        assert!(!online.settle(10_499), "not settled yet");
        assert!(
            online.offer(at(11_000, 200.0)),
            "the later sample feeds the first"
        );
        let first = online.forecast().expect("one step").clone();
        assert_eq!((first.unix_ms, first.steps), (10_000, 1));
        assert_eq!(
            first.short().mbps,
            100.0,
            "the EWMA starts at the first sample"
        );
        assert!(online.settle(11_500), "settled");
        let second = online.forecast().expect("two steps");
        assert_eq!((second.unix_ms, second.steps), (11_000, 2));
        // EWMA gain 1/8: 100 + (200 - 100) / 8.
        assert!((second.short().mbps - 112.5).abs() < 1e-9, "{second:?}");
        assert!(!online.settle(20_000), "nothing pending");
    }

    #[test]
    fn samples_of_one_time_are_one_step_of_their_summed_throughput() {
        let mut online = ewma();
        online.offer(at(5_000, 30.0));
        online.offer(TimedSample {
            rtt_ms: 80.0,
            loss_percent: 2.0,
            ..at(5_000, 70.0)
        });
        assert!(online.settle(6_000));
        let forecast = online.forecast().expect("a step");
        assert_eq!(forecast.steps, 1);
        assert_eq!(forecast.short().mbps, 100.0);
        assert_eq!((forecast.rtt_ms, forecast.loss_percent), (80.0, 2.0));
    }

    #[test]
    fn stale_repeated_and_unmeasured_samples_are_ignored() {
        let mut online = ewma();
        online.offer(at(5_000, 50.0));
        online.settle(6_000);
        assert!(
            !online.offer(at(5_000, 999.0)),
            "the same sample read again"
        );
        assert!(!online.offer(at(4_000, 999.0)), "older");
        assert!(!online.offer(at(7_000, 0.0)), "no throughput measured");
        assert!(!online.offer(at(7_000, f64::NAN)));
        assert!(!online.settle(9_000), "nothing was taken");
        // A slot lagging behind the step being gathered is left out.
        online.offer(at(8_000, 50.0));
        assert!(!online.offer(at(7_500, 999.0)));
        online.settle(9_000);
        let forecast = online.forecast().expect("two steps");
        assert_eq!(forecast.steps, 2);
        assert_eq!(forecast.short().mbps, 50.0);
    }

    #[test]
    fn steps_closer_than_the_minimum_are_dropped() {
        let mut online = ewma();
        online.offer(at(5_000, 50.0));
        online.settle(5_600);
        online.offer(at(5_400, 500.0));
        assert!(!online.settle(6_000), "400 ms after the last step");
        assert_eq!(online.steps(), 1);
        assert_eq!(online.forecast().expect("one step").short().mbps, 50.0);
    }

    #[test]
    fn a_long_gap_or_a_change_of_kind_starts_over() {
        let mut online = ewma();
        for s in 0..5u64 {
            online.offer(at(1_000 * (s + 1), 10.0));
        }
        online.settle(6_000);
        assert_eq!(online.steps(), 5);
        // 31 s without samples: the old history is dropped.
        online.offer(at(36_001, 90.0));
        online.settle(37_000);
        let after_gap = online.forecast().expect("a step");
        assert_eq!(after_gap.steps, 1);
        assert_eq!(after_gap.short().mbps, 90.0, "nothing of the old 10 Mbit/s");
        // An operator-paced migration: a new history of its pace.
        online.offer(TimedSample {
            measures_link: false,
            ..at(38_000, 40.0)
        });
        online.settle(39_000);
        let paced = online.forecast().expect("a step");
        assert_eq!((paced.steps, paced.measures_link), (1, false));
        assert_eq!(paced.short().mbps, 40.0);
        // Exactly the gap bound is not a gap.
        online.offer(TimedSample {
            measures_link: false,
            ..at(38_000 + GAP_RESET_MS, 40.0)
        });
        online.settle(u64::MAX);
        assert_eq!(online.steps(), 2);
    }

    #[test]
    fn the_shipped_model_is_selected_and_answers_both_horizons() {
        let (mut online, warning) = OnlinePredictor::select(None);
        assert_eq!(warning, None);
        assert_eq!(online.name(), "lstm");
        for s in 0..20u64 {
            online.offer(at(1_000 * (s + 1), 8.0 + (s % 3) as f64));
        }
        online.settle(u64::MAX);
        let forecast = online.forecast().expect("20 steps");
        assert_eq!(forecast.steps, 20);
        for p in &forecast.horizons {
            assert!(p.lower <= p.mbps && p.mbps <= p.upper, "{p:?}");
            assert!(
                p.mbps > 4.0 && p.mbps < 16.0,
                "near the 8-10 Mbit/s fed: {p:?}"
            );
        }
    }

    #[test]
    fn an_unusable_model_file_falls_back_to_the_ewma_with_a_warning() {
        let (online, warning) = OnlinePredictor::select(Some(Path::new("/nonexistent/model.json")));
        assert_eq!(online.name(), "ewma");
        let warning = warning.expect("one warning");
        assert!(
            warning.contains("/nonexistent/model.json") && warning.contains("ewma"),
            "{warning}"
        );
    }
}
