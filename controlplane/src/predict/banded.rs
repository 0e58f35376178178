//! `Banded`: a point forecaster plus a residual band per horizon, as a
//! [`Predictor`].

use super::band::{ResidualBand, COLD_BAND_FACTORS};
use super::recent::RecentSamples;
use super::{Horizon, LinkSample, Prediction, Predictor};
use std::collections::VecDeque;
use std::fmt;

/// A predictor of a single number: the mean throughput over the next
/// `horizon` steps, from throughput samples alone. [`Banded`] turns one
/// into a [`Predictor`].
pub trait PointForecaster: fmt::Debug + Send {
    /// A short stable name (`"ewma"`).
    fn name(&self) -> &str;
    /// Takes the throughput of the step that just ended, Mbit/s (finite,
    /// `≥ 0`).
    fn observe(&mut self, mbps: f64);
    /// The forecast mean over the next `horizon` steps, `≥ 0`; `None`
    /// before the first sample.
    fn forecast(&self, horizon: Horizon) -> Option<f64>;
    /// Forgets every sample.
    fn reset(&mut self);
}

/// One horizon whose band is calibrated.
#[derive(Debug, Clone)]
struct HorizonTrack {
    horizon: Horizon,
    /// The forecasts of the last `horizon` steps, oldest first (NaN where
    /// the forecaster had none). The oldest matures when the next sample
    /// arrives: its outcome is then the mean of the newest `horizon`
    /// samples.
    pending: VecDeque<f64>,
    band: ResidualBand,
}

/// A [`PointForecaster`] with a confidence band for each horizon given at
/// construction.
///
/// After each sample it records every forecast it would have given, and
/// when a forecast's horizon has passed it records `actual / forecast` in
/// that horizon's [`ResidualBand`]. Only past samples are involved, so the
/// band is causal too. A horizon not given at construction gets the point
/// forecast with the cold band ([`COLD_BAND_FACTORS`]).
///
/// Cost per sample: one forecast per tracked horizon, a mean over up to
/// `horizon` samples and a quantile selection over up to
/// [`BAND_WINDOW`](super::BAND_WINDOW) ratios.
#[derive(Debug, Clone)]
pub struct Banded<F> {
    forecaster: F,
    /// The newest samples, as many as the longest tracked horizon.
    recent: RecentSamples,
    tracks: Vec<HorizonTrack>,
}

impl<F: PointForecaster> Banded<F> {
    /// The most horizons one predictor calibrates a band for.
    pub const TRACKED_HORIZONS_MAX: usize = 8;

    /// `forecaster` with a band calibrated for each of `horizons`
    /// (duplicates are merged).
    ///
    /// # Panics
    /// If `horizons` is empty or has more than
    /// [`TRACKED_HORIZONS_MAX`](Self::TRACKED_HORIZONS_MAX) distinct values.
    pub fn new(forecaster: F, horizons: &[Horizon]) -> Self {
        let mut distinct = horizons.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(!distinct.is_empty(), "a banded predictor needs a horizon");
        assert!(
            distinct.len() <= Self::TRACKED_HORIZONS_MAX,
            "{} horizons is more than {}",
            distinct.len(),
            Self::TRACKED_HORIZONS_MAX
        );
        let longest = distinct.iter().map(|h| h.steps()).max().unwrap_or(1);
        let tracks = distinct
            .into_iter()
            .map(|horizon| HorizonTrack {
                horizon,
                pending: VecDeque::with_capacity(horizon.steps()),
                band: ResidualBand::new(),
            })
            .collect();
        Self {
            forecaster,
            recent: RecentSamples::new(longest),
            tracks,
        }
    }

    /// The wrapped forecaster.
    pub fn forecaster(&self) -> &F {
        &self.forecaster
    }

    /// The band of a tracked horizon.
    pub fn band(&self, horizon: Horizon) -> Option<&ResidualBand> {
        self.tracks
            .iter()
            .find(|track| track.horizon == horizon)
            .map(|track| &track.band)
    }
}

impl<F: PointForecaster> Predictor for Banded<F> {
    fn name(&self) -> &str {
        self.forecaster.name()
    }

    fn observe(&mut self, sample: &LinkSample) {
        let mbps = sample.throughput_mbps;
        if !(mbps.is_finite() && mbps >= 0.0) {
            return;
        }
        self.recent.push(mbps);
        for track in &mut self.tracks {
            let steps = track.horizon.steps();
            if track.pending.len() == steps {
                let forecast = track.pending.pop_front().unwrap_or(f64::NAN);
                let actual = self.recent.mean_newest(steps).unwrap_or(f64::NAN);
                track.band.record(forecast, actual);
            }
        }
        self.forecaster.observe(mbps);
        for track in &mut self.tracks {
            let forecast = self.forecaster.forecast(track.horizon).unwrap_or(f64::NAN);
            track.pending.push_back(forecast);
            debug_assert!(track.pending.len() <= track.horizon.steps());
        }
    }

    fn predict(&self, horizon: Horizon) -> Option<Prediction> {
        let point = self.forecaster.forecast(horizon)?;
        Some(match self.band(horizon) {
            Some(band) => band.band(point),
            None => {
                let (lo, hi) = COLD_BAND_FACTORS;
                Prediction::new(point, point * lo, point * hi)
            }
        })
    }

    fn reset(&mut self) {
        self.forecaster.reset();
        self.recent.clear();
        for track in &mut self.tracks {
            track.pending.clear();
            track.band.clear();
        }
    }
}
