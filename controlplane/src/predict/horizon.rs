//! `Horizon`: how far ahead a prediction looks, in steps.

use thiserror::Error;

/// The step of a series and of the predictors when nobody says otherwise:
/// one second, the rate at which the control plane feeds link samples.
pub const STEP_S_DEFAULT: f64 = 1.0;
/// The shortest step accepted, seconds.
pub const STEP_S_MIN: f64 = 0.01;
/// The longest step accepted, seconds.
pub const STEP_S_MAX: f64 = 3600.0;

/// How far ahead a prediction looks: the mean over the next `steps` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Horizon {
    steps: usize,
}

/// A horizon or step that cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum HorizonError {
    /// Zero steps ahead is not a prediction.
    #[error("the horizon must be at least one step")]
    Zero,
    /// Longer than [`Horizon::STEPS_MAX`].
    #[error("a horizon of {steps} steps is longer than the maximum of {max} steps", max = Horizon::STEPS_MAX)]
    TooLong {
        /// The steps asked for.
        steps: usize,
    },
    /// The step is not finite or outside [`STEP_S_MIN`]..=[`STEP_S_MAX`].
    #[error("a step of {step_s} s is outside {STEP_S_MIN}..={STEP_S_MAX} s")]
    BadStep {
        /// The step asked for, seconds.
        step_s: f64,
    },
    /// The horizon is not a whole number of steps.
    #[error("a horizon of {horizon_s} s is not a whole number of {step_s} s steps")]
    NotMultiple {
        /// The horizon asked for, seconds.
        horizon_s: f64,
        /// The step, seconds.
        step_s: f64,
    },
}

/// Checks a step length in seconds.
pub(crate) fn check_step_s(step_s: f64) -> Result<(), HorizonError> {
    if step_s.is_finite() && (STEP_S_MIN..=STEP_S_MAX).contains(&step_s) {
        Ok(())
    } else {
        Err(HorizonError::BadStep { step_s })
    }
}

impl Horizon {
    /// The longest horizon: an hour of 1 s steps. Predictors keep this many
    /// samples at most, so the bound is also a memory bound.
    pub const STEPS_MAX: usize = 3600;

    /// A horizon of `steps` steps.
    pub fn from_steps(steps: usize) -> Result<Self, HorizonError> {
        if steps == 0 {
            return Err(HorizonError::Zero);
        }
        if steps > Self::STEPS_MAX {
            return Err(HorizonError::TooLong { steps });
        }
        Ok(Self { steps })
    }

    /// A horizon of `horizon_s` seconds in steps of `step_s` seconds; the
    /// ratio must be a whole number (to within 1e-6 of a step).
    pub fn from_secs(horizon_s: f64, step_s: f64) -> Result<Self, HorizonError> {
        check_step_s(step_s)?;
        let not_multiple = HorizonError::NotMultiple { horizon_s, step_s };
        let ratio = horizon_s / step_s;
        if !ratio.is_finite() || ratio < 0.0 {
            return Err(not_multiple);
        }
        let rounded = ratio.round();
        if (ratio - rounded).abs() > 1e-6 {
            return Err(not_multiple);
        }
        if rounded > Self::STEPS_MAX as f64 {
            return Err(HorizonError::TooLong {
                steps: Self::STEPS_MAX.saturating_add(1),
            });
        }
        // The value is a whole number in 0..=STEPS_MAX (checked above).
        #[allow(clippy::cast_possible_truncation)]
        let steps = rounded as usize;
        Self::from_steps(steps)
    }

    /// The number of steps ahead, in `1..=STEPS_MAX`.
    pub fn steps(self) -> usize {
        self.steps
    }
}
