//! `Holt`: Holt's linear method with a damped trend (Gardner & McKenzie).

use super::ewma::alpha_for_step;
use crate::predict::horizon::check_step_s;
use crate::predict::{Horizon, PointForecaster};

/// Smoothing constants of [`Holt`], per step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoltParams {
    /// Level gain, in `(0, 1]`.
    pub alpha: f64,
    /// Trend gain, in `[0, 1]`.
    pub beta: f64,
    /// Trend damping per step, in `(0, 1]`; 1 is Holt's undamped method.
    pub phi: f64,
}

impl HoltParams {
    /// The documented constants for 1 s steps, chosen a priori and not
    /// fitted to any trace: the level gain of the EWMA baseline (1/8) so
    /// that the two differ only by the trend; a trend gain a quarter of it
    /// (1/32), so the trend is a slow average of level changes; a damping
    /// of 0.9 per step, so a trend is extrapolated over about 9 steps
    /// (`φ/(1−φ)`) and no further, because a throughput trend seldom
    /// lasts a 60 s horizon.
    pub const DEFAULT_1S: Self = Self {
        alpha: 0.125,
        beta: 0.031_25,
        phi: 0.9,
    };

    /// [`DEFAULT_1S`](Self::DEFAULT_1S) converted to steps of `step_s`
    /// seconds (same time constants).
    ///
    /// # Panics
    /// If `step_s` is outside the accepted range.
    pub fn for_step(step_s: f64) -> Self {
        check_step_s(step_s).expect("the caller validated the step");
        let base = Self::DEFAULT_1S;
        Self {
            alpha: alpha_for_step(base.alpha, step_s),
            beta: alpha_for_step(base.beta, step_s),
            phi: base.phi.powf(step_s),
        }
    }
}

/// Level and trend after at least one sample.
#[derive(Debug, Clone, Copy)]
struct State {
    level_mbps: f64,
    /// Change per step, Mbit/s.
    trend_mbps: f64,
    /// Whether the trend has been set from two samples yet.
    has_trend: bool,
}

/// Damped Holt: `ℓ ← αx + (1−α)(ℓ + φb)`, `b ← β(ℓ_new − ℓ) + (1−β)φb`.
/// The first sample sets the level (trend 0), the second sets the level
/// to itself and the trend to the difference; the recursion runs from the
/// third. The forecast of the mean over the next `h` steps is
/// `ℓ + b · (1/h) Σ_{i=1..h} Σ_{j=1..i} φ^j`, clamped at 0.
#[derive(Debug, Clone)]
pub struct Holt {
    params: HoltParams,
    state: Option<State>,
}

impl Holt {
    /// Damped Holt with `params`.
    ///
    /// # Panics
    /// If a constant is outside its range.
    pub fn new(params: HoltParams) -> Self {
        let HoltParams { alpha, beta, phi } = params;
        assert!(
            alpha > 0.0 && alpha <= 1.0,
            "Holt alpha {alpha} outside (0, 1]"
        );
        assert!(
            (0.0..=1.0).contains(&beta),
            "Holt beta {beta} outside [0, 1]"
        );
        assert!(phi > 0.0 && phi <= 1.0, "Holt phi {phi} outside (0, 1]");
        Self {
            params,
            state: None,
        }
    }

    /// The documented constants for steps of `step_s` seconds.
    pub fn for_step(step_s: f64) -> Self {
        Self::new(HoltParams::for_step(step_s))
    }

    /// The constants in use.
    pub fn params(&self) -> HoltParams {
        self.params
    }
}

/// `(1/h) Σ_{i=1..h} Σ_{j=1..i} φ^j`: the average number of trend steps
/// over a horizon of `h` steps; `(h+1)/2` when `φ = 1`.
pub fn damped_trend_steps(phi: f64, h: usize) -> f64 {
    let h_f = h as f64;
    if phi >= 1.0 {
        return (h_f + 1.0) / 2.0;
    }
    // Σ_{j=1..i} φ^j = φ(1−φ^i)/(1−φ); summed over i = 1..h.
    let geometric_h = phi * (1.0 - phi.powf(h_f)) / (1.0 - phi);
    phi / (1.0 - phi) * (h_f - geometric_h) / h_f
}

impl PointForecaster for Holt {
    fn name(&self) -> &str {
        "holt_damped"
    }

    fn observe(&mut self, mbps: f64) {
        let HoltParams { alpha, beta, phi } = self.params;
        self.state = Some(match self.state {
            None => State {
                level_mbps: mbps,
                trend_mbps: 0.0,
                has_trend: false,
            },
            Some(s) if !s.has_trend => State {
                level_mbps: mbps,
                trend_mbps: mbps - s.level_mbps,
                has_trend: true,
            },
            Some(s) => {
                let level = alpha * mbps + (1.0 - alpha) * (s.level_mbps + phi * s.trend_mbps);
                let trend = beta * (level - s.level_mbps) + (1.0 - beta) * phi * s.trend_mbps;
                State {
                    level_mbps: level,
                    trend_mbps: trend,
                    has_trend: true,
                }
            }
        });
    }

    fn forecast(&self, horizon: Horizon) -> Option<f64> {
        let s = self.state?;
        let steps = damped_trend_steps(self.params.phi, horizon.steps());
        Some((s.level_mbps + s.trend_mbps * steps).max(0.0))
    }

    fn reset(&mut self) {
        self.state = None;
    }
}
