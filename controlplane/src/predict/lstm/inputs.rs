//! The LSTM's input window and target transform, shared by the trainer and
//! the predictor so that both build exactly the same numbers.
//!
//! # Design
//!
//! The model looks at the [`FeatureVector`]s of the last `window` steps.
//! Everything about throughput is taken relative to the window's **level**
//! `L`, the mean throughput of the real (not padded) steps in the window,
//! so the model is the same for a 0.5 Mbit/s cellular link and a 50 Mbit/s
//! one:
//!
//! - an input with the transform [`InputTransform::LogRatio`] is
//!   `ln((x + φ) / (L + φ))`, `φ` the level floor (a small rate that keeps
//!   zeros finite), for the throughput and its recent statistics;
//! - [`InputTransform::Identity`] is the raw value (flags, time of day);
//! - the pseudo input [`HISTORY_PADDING`] is 1 at the steps before the
//!   first sample (a window is left-padded with the oldest real step while
//!   the history is shorter than the window) and 0 elsewhere.
//!
//! Each input is then standardised with the mean and standard deviation of
//! the training windows, stored in the model file.
//!
//! The target for a horizon is `ln((A + φ) / (L + φ))`, `A` the mean
//! throughput over the horizon; [`decode_log_ratio`] turns a predicted log
//! ratio back into Mbit/s.

use crate::predict::features::{FeatureVector, FEATURE_NAMES};

/// The name of the pseudo input that flags padded window steps.
pub const HISTORY_PADDING: &str = "history_padding";

/// The largest predicted log ratio decoded (e^20 times the level); a
/// bound against overflow, far beyond any trained output.
pub const LOG_RATIO_BOUND: f64 = 20.0;

/// How one input is computed from a window step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputTransform {
    /// `ln((x + φ) / (L + φ))`.
    LogRatio,
    /// The value as it is.
    Identity,
}

impl InputTransform {
    /// The name used in model files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LogRatio => "log_ratio_to_level",
            Self::Identity => "identity",
        }
    }

    /// The transform called `name` in a model file.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "log_ratio_to_level" => Some(Self::LogRatio),
            "identity" => Some(Self::Identity),
            _ => None,
        }
    }
}

/// Where an input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputSource {
    /// A [`FeatureVector`] entry, by index into [`FEATURE_NAMES`].
    Feature(usize),
    /// The [`HISTORY_PADDING`] flag.
    HistoryPadding,
}

impl InputSource {
    /// The source called `name` ([`FEATURE_NAMES`] or [`HISTORY_PADDING`]).
    pub fn from_name(name: &str) -> Option<Self> {
        if name == HISTORY_PADDING {
            return Some(Self::HistoryPadding);
        }
        FEATURE_NAMES
            .iter()
            .position(|n| *n == name)
            .map(Self::Feature)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Feature(index) => FEATURE_NAMES[index],
            Self::HistoryPadding => HISTORY_PADDING,
        }
    }
}

/// One input of the model: its source, transform and standardisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Input {
    /// Where it comes from.
    pub source: InputSource,
    /// How it is transformed before standardisation.
    pub transform: InputTransform,
    /// Mean of the transformed value over the training windows.
    pub mean: f32,
    /// Standard deviation of the same (> 0).
    pub std: f32,
}

/// The inputs of a model and how to build its window.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    inputs: Vec<Input>,
    /// `1 / std` per input.
    inv_std: Vec<f32>,
    level_floor_mbps: f64,
}

/// `ln((x + φ) / (level + φ))`, with `x` clamped at 0.
pub fn log_ratio(x_mbps: f64, level_mbps: f64, floor_mbps: f64) -> f64 {
    ((x_mbps.max(0.0) + floor_mbps) / (level_mbps.max(0.0) + floor_mbps)).ln()
}

/// The throughput whose log ratio to `level_mbps` is `log_ratio`
/// (clamped to ±[`LOG_RATIO_BOUND`]), at least 0.
pub fn decode_log_ratio(log_ratio: f64, level_mbps: f64, floor_mbps: f64) -> f64 {
    let y = log_ratio.clamp(-LOG_RATIO_BOUND, LOG_RATIO_BOUND);
    ((level_mbps.max(0.0) + floor_mbps) * y.exp() - floor_mbps).max(0.0)
}

impl InputSpec {
    /// A spec for `inputs` with the level floor `level_floor_mbps`.
    ///
    /// # Panics
    /// If an input's standard deviation is not finite and positive, its
    /// mean is not finite, or the floor is not finite and positive (the
    /// model file loader checks these first).
    pub fn new(inputs: Vec<Input>, level_floor_mbps: f64) -> Self {
        assert!(
            level_floor_mbps.is_finite() && level_floor_mbps > 0.0,
            "level floor {level_floor_mbps} must be finite and > 0"
        );
        for input in &inputs {
            assert!(
                input.std.is_finite() && input.std > 0.0 && input.mean.is_finite(),
                "input {} has mean {} and std {}",
                input.source.name(),
                input.mean,
                input.std
            );
        }
        let inv_std = inputs.iter().map(|input| 1.0 / input.std).collect();
        Self {
            inputs,
            inv_std,
            level_floor_mbps,
        }
    }

    /// The inputs, in model order.
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// Inputs per window step.
    pub fn width(&self) -> usize {
        self.inputs.len()
    }

    /// The level floor `φ`, Mbit/s.
    pub fn level_floor_mbps(&self) -> f64 {
        self.level_floor_mbps
    }

    /// The level of a window: the mean throughput of its steps, Mbit/s
    /// (0 for an empty window).
    pub fn level(window: &[&[FeatureVector]; 2]) -> f64 {
        let count = window[0].len() + window[1].len();
        if count == 0 {
            return 0.0;
        }
        let sum: f64 = window
            .iter()
            .flat_map(|part| part.iter())
            .map(|v| f64::from(v.0[0]).max(0.0))
            .sum();
        sum / count as f64
    }

    /// Fills `out` (`window_steps × width`, step-major) with the
    /// standardised inputs of the real steps in `window` (its two parts in
    /// time order, oldest first, at most `window_steps` steps in all),
    /// left-padded with the oldest step; returns the window's level.
    ///
    /// # Panics
    /// If `window` is empty or longer than `window_steps`, or `out` has the
    /// wrong length.
    pub fn fill(
        &self,
        window: &[&[FeatureVector]; 2],
        window_steps: usize,
        out: &mut [f32],
    ) -> f64 {
        let real = window[0].len() + window[1].len();
        assert!(
            (1..=window_steps).contains(&real),
            "a window of {real} steps for {window_steps}"
        );
        let width = self.width();
        assert_eq!(out.len(), window_steps * width, "input buffer size");
        let level = Self::level(window);
        let oldest = window[0].first().or(window[1].first());
        let oldest = oldest.expect("the window is not empty");
        let padded = window_steps - real;
        let steps = std::iter::repeat_n(oldest, padded)
            .chain(window[0].iter())
            .chain(window[1].iter());
        for (position, (step, row)) in steps.zip(out.chunks_exact_mut(width)).enumerate() {
            let is_padding = position < padded;
            for ((input, inv_std), slot) in self.inputs.iter().zip(&self.inv_std).zip(row) {
                let raw = self.raw(input, step, is_padding, level);
                *slot = (raw - input.mean) * inv_std;
            }
        }
        level
    }

    /// The transformed value of `input` at one step, before
    /// standardisation.
    pub fn raw(&self, input: &Input, step: &FeatureVector, is_padding: bool, level: f64) -> f32 {
        let value = match input.source {
            InputSource::HistoryPadding => return if is_padding { 1.0 } else { 0.0 },
            InputSource::Feature(index) => step.0[index],
        };
        match input.transform {
            InputTransform::Identity => value,
            InputTransform::LogRatio => {
                let ratio = log_ratio(f64::from(value), level, self.level_floor_mbps);
                // Bounded by the floor: |ln| stays far below f32::MAX.
                #[allow(clippy::cast_possible_truncation)]
                let ratio = ratio as f32;
                ratio
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::features::FEATURE_COUNT;

    fn step(mbps: f32) -> FeatureVector {
        let mut v = [0.0; FEATURE_COUNT];
        v[0] = mbps;
        FeatureVector(v)
    }

    #[test]
    fn log_ratio_round_trips_and_keeps_zero_finite() {
        let floor = 0.01;
        for (x, level) in [(0.0, 1.0), (2.0, 1.0), (0.5, 3.0), (7.0, 0.0)] {
            let y = log_ratio(x, level, floor);
            assert!(y.is_finite());
            assert!((decode_log_ratio(y, level, floor) - x).abs() < 1e-9);
        }
        assert_eq!(decode_log_ratio(-1e9, 1.0, floor), 0.0);
        assert!(decode_log_ratio(1e9, 1.0, floor).is_finite());
    }

    #[test]
    fn fill_pads_with_the_oldest_step_and_flags_it() {
        let spec = InputSpec::new(
            vec![
                Input {
                    source: InputSource::Feature(0),
                    transform: InputTransform::LogRatio,
                    mean: 0.0,
                    std: 1.0,
                },
                Input {
                    source: InputSource::HistoryPadding,
                    transform: InputTransform::Identity,
                    mean: 0.5,
                    std: 0.5,
                },
            ],
            0.01,
        );
        let steps = [step(1.0), step(3.0)];
        let mut out = vec![0.0; 8];
        let level = spec.fill(&[&steps[..1], &steps[1..]], 4, &mut out);
        assert!((level - 2.0).abs() < 1e-12);
        let low = (1.01f32 / 2.01).ln();
        let high = (3.01f32 / 2.01).ln();
        // Two padded steps (flag 1 → (1 − 0.5) / 0.5 = 1), then the real ones.
        let want = [low, 1.0, low, 1.0, low, -1.0, high, -1.0];
        for (got, want) in out.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{out:?}");
        }
    }
}
