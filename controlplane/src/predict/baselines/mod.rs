//! The simple predictors a learned model has to beat.
//!
//! Each is a [`PointForecaster`] over throughput alone, used through
//! [`Banded`] so that it also gives a band. Every constant is chosen a
//! priori and documented on its definition (docs/prediction.md lists them);
//! none is fitted to the traces.
//!
//! | name | forecast of the mean over the next `h` steps |
//! |---|---|
//! | `last_value` | the last sample |
//! | `ewma` | EWMA, gain 1/8 per second ([`EWMA_ALPHA_1S`]) |
//! | `harmonic_mean` | harmonic mean of the last 5 samples ([`HARMONIC_SAMPLES`]) |
//! | `mean_last_h` | mean of the last `h` samples |
//! | `holt_damped` | Holt's linear method, damped trend ([`HoltParams::DEFAULT_1S`]) |

mod ewma;
mod harmonic_mean;
mod holt;
mod last_value;
mod window_mean;

pub use ewma::{alpha_for_step, Ewma, EWMA_ALPHA_1S};
pub use harmonic_mean::{HarmonicMean, HARMONIC_SAMPLES};
pub use holt::{damped_trend_steps, Holt, HoltParams};
pub use last_value::LastValue;
pub use window_mean::WindowMean;

use super::{Banded, Horizon, PointForecaster, Predictor};

/// The baselines by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Baseline {
    /// [`LastValue`].
    LastValue,
    /// [`Ewma`].
    Ewma,
    /// [`HarmonicMean`].
    HarmonicMean,
    /// [`WindowMean`].
    WindowMean,
    /// [`Holt`] with a damped trend.
    HoltDamped,
}

impl Baseline {
    /// Every baseline, in report order.
    pub const ALL: [Self; 5] = [
        Self::LastValue,
        Self::Ewma,
        Self::HarmonicMean,
        Self::WindowMean,
        Self::HoltDamped,
    ];

    /// The name used in reports; the same as the predictor's
    /// [`Predictor::name`].
    pub fn name(self) -> &'static str {
        match self {
            Self::LastValue => "last_value",
            Self::Ewma => "ewma",
            Self::HarmonicMean => "harmonic_mean",
            Self::WindowMean => "mean_last_h",
            Self::HoltDamped => "holt_damped",
        }
    }

    /// The baseline for steps of `step_s` seconds, with a band calibrated
    /// for each of `horizons`.
    ///
    /// # Panics
    /// If `step_s` is outside the accepted range, or `horizons` is empty or
    /// too long for [`Banded::new`].
    pub fn build(self, step_s: f64, horizons: &[Horizon]) -> Box<dyn Predictor> {
        fn banded<F: PointForecaster + 'static>(f: F, horizons: &[Horizon]) -> Box<dyn Predictor> {
            Box::new(Banded::new(f, horizons))
        }
        match self {
            Self::LastValue => banded(LastValue::new(), horizons),
            Self::Ewma => banded(Ewma::for_step(step_s), horizons),
            Self::HarmonicMean => banded(HarmonicMean::default(), horizons),
            Self::WindowMean => {
                let longest = horizons
                    .iter()
                    .copied()
                    .max()
                    .expect("at least one horizon");
                banded(WindowMean::new(longest), horizons)
            }
            Self::HoltDamped => banded(Holt::for_step(step_s), horizons),
        }
    }
}
