//! `ResidualBand`: a confidence band from the quantiles of recent errors.

use super::recent::RecentSamples;
use super::Prediction;

/// The quantiles of `actual / forecast` that bound the band: the central
/// 80 %, the coverage the issue asks of the learned model.
pub const BAND_QUANTILES: (f64, f64) = (0.1, 0.9);
/// How many recent ratios the quantiles are taken over: 300, five minutes
/// of 1 s steps, long enough for a stable 10 % quantile (30 ratios below
/// it) and short enough to follow a link that changes character.
pub const BAND_WINDOW: usize = 300;
/// Ratios needed before the band is calibrated; before that it is the cold
/// band.
pub const BAND_MIN_RESIDUALS: usize = 20;
/// The band, as factors of the forecast, until [`BAND_MIN_RESIDUALS`]
/// ratios are known: `[0.5 × forecast, 1.5 × forecast]`.
pub const COLD_BAND_FACTORS: (f64, f64) = (0.5, 1.5);

/// Multiplicative band around a point forecast: `[q_lo × f, q_hi × f]`
/// where `q_lo`, `q_hi` are the [`BAND_QUANTILES`] of the last
/// [`BAND_WINDOW`] ratios `actual / forecast` recorded.
///
/// Ratios, not differences, because throughput errors scale with the
/// level: a band learnt at 2 Mbit/s still fits when the link moves to
/// 20 Mbit/s. A forecast of 0 gives no ratio and is not recorded. The
/// ratios are also kept sorted (one binary search and one move per
/// record), so the quantiles are read directly and
/// [`band`](Self::band) is cheap and takes `&self`.
#[derive(Debug, Clone)]
pub struct ResidualBand {
    /// The ratios in the order recorded, to know which one leaves.
    ratios: RecentSamples,
    /// The same ratios, ascending.
    sorted: Vec<f64>,
}

impl Default for ResidualBand {
    fn default() -> Self {
        Self::new()
    }
}

impl ResidualBand {
    /// An uncalibrated band over the last [`BAND_WINDOW`] ratios.
    pub fn new() -> Self {
        Self {
            ratios: RecentSamples::new(BAND_WINDOW),
            sorted: Vec::with_capacity(BAND_WINDOW),
        }
    }

    /// Records how a forecast turned out. Ignored when the forecast is not
    /// positive or either value is not finite.
    pub fn record(&mut self, forecast_mbps: f64, actual_mbps: f64) {
        if !(forecast_mbps.is_finite() && forecast_mbps > 0.0 && actual_mbps.is_finite()) {
            return;
        }
        let ratio = actual_mbps.max(0.0) / forecast_mbps;
        if !ratio.is_finite() {
            return;
        }
        if let Some(dropped) = self.ratios.push(ratio) {
            let at = self
                .sorted
                .partition_point(|x| x.total_cmp(&dropped).is_lt());
            debug_assert_eq!(self.sorted.get(at).copied(), Some(dropped));
            self.sorted.remove(at);
        }
        let at = self.sorted.partition_point(|x| x.total_cmp(&ratio).is_lt());
        self.sorted.insert(at, ratio);
        debug_assert_eq!(self.sorted.len(), self.ratios.len());
    }

    /// Whether enough ratios are known for the band to be calibrated.
    pub fn is_calibrated(&self) -> bool {
        self.sorted.len() >= BAND_MIN_RESIDUALS
    }

    /// The factors `(lower, upper)` applied to a forecast: calibrated, or
    /// [`COLD_BAND_FACTORS`].
    pub fn factors(&self) -> (f64, f64) {
        if !self.is_calibrated() {
            return COLD_BAND_FACTORS;
        }
        (
            quantile_sorted(&self.sorted, BAND_QUANTILES.0),
            quantile_sorted(&self.sorted, BAND_QUANTILES.1),
        )
    }

    /// The prediction for a point forecast, with its band.
    pub fn band(&self, forecast_mbps: f64) -> Prediction {
        let (lo, hi) = self.factors();
        Prediction::new(forecast_mbps, forecast_mbps * lo, forecast_mbps * hi)
    }

    /// Forgets every ratio.
    pub fn clear(&mut self) {
        self.ratios.clear();
        self.sorted.clear();
    }
}

/// The `q` quantile of ascending `sorted` values (linear interpolation
/// between order statistics, "type 7").
///
/// # Panics
/// If `sorted` is empty or `q` is outside `0..=1`.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of no values");
    assert!((0.0..=1.0).contains(&q), "quantile level {q} outside 0..=1");
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor();
    let fraction = position - below;
    // `below` is a whole number in 0..len (q ≤ 1).
    #[allow(clippy::cast_possible_truncation)]
    let index = below as usize;
    match sorted.get(index + 1) {
        Some(&next) if fraction > 0.0 => sorted[index] + fraction * (next - sorted[index]),
        _ => sorted[index],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_between_order_statistics() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_sorted(&values, 0.0), 1.0);
        assert_eq!(quantile_sorted(&values, 1.0), 5.0);
        assert_eq!(quantile_sorted(&values, 0.5), 3.0);
        // Position 0.1 × 4 = 0.4: 1 + 0.4 × (2 − 1).
        assert!((quantile_sorted(&values, 0.1) - 1.4).abs() < 1e-12);
        // Position 0.9 × 4 = 3.6: 4 + 0.6 × (5 − 4).
        assert!((quantile_sorted(&values, 0.9) - 4.6).abs() < 1e-12);
        assert_eq!(quantile_sorted(&[7.0], 0.9), 7.0);
    }

    #[test]
    fn band_keeps_the_window_sorted_as_ratios_leave() {
        let mut band = ResidualBand::new();
        // Ratios 1, 2, …, BAND_WINDOW + 50: the first 50 leave.
        for i in 1..=BAND_WINDOW + 50 {
            band.record(1.0, i as f64);
        }
        assert_eq!(band.sorted.len(), BAND_WINDOW);
        assert_eq!(band.sorted.first().copied(), Some(51.0));
        assert!(band.sorted.windows(2).all(|w| w[0] < w[1]));
    }
}
