//! Training examples: every step of every trace of a set, with the window
//! before it and the mean throughput over each horizon after it.

use crate::predict::features::{FeatureExtractor, FeatureSet, FeatureVector};
use crate::predict::lstm::inputs::{log_ratio, Input, InputSpec};
use crate::predict::{LinkSample, ThroughputSeries};

/// One trace, ready to cut windows from.
#[derive(Debug, Clone)]
pub struct PreparedTrace {
    /// The feature vector after each sample.
    features: Vec<FeatureVector>,
    /// `prefix[i]` = sum of samples `0..i`.
    prefix: Vec<f64>,
}

impl PreparedTrace {
    /// The features and prefix sums of `series` for a model using `used`.
    pub fn new(series: &ThroughputSeries, used: FeatureSet) -> Self {
        let mut extractor = FeatureExtractor::new(series.step_s(), used);
        let mut features = Vec::with_capacity(series.len());
        let mut prefix = Vec::with_capacity(series.len() + 1);
        prefix.push(0.0);
        for &mbps in series.mbps() {
            extractor.observe(&LinkSample::throughput_only(mbps));
            features.push(extractor.features().expect("a sample was observed"));
            prefix.push(prefix.last().copied().unwrap_or(0.0) + mbps);
        }
        Self { features, prefix }
    }

    /// Samples in the trace.
    fn samples(&self) -> usize {
        self.features.len()
    }

    /// The mean of samples `t+1 ..= t+h`, if the trace is long enough.
    pub fn future_mean(&self, t: usize, h: usize) -> Option<f64> {
        let end = t.checked_add(h)?.checked_add(1)?;
        let sum = self.prefix.get(end)? - self.prefix.get(t + 1)?;
        Some(sum / h as f64)
    }

    /// The window ending at step `t`: the last `window_steps` feature
    /// vectors (fewer at the start).
    pub fn window(&self, t: usize, window_steps: usize) -> &[FeatureVector] {
        let start = (t + 1).saturating_sub(window_steps);
        &self.features[start..=t]
    }
}

/// A step to predict from: trace index and step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    /// Index into the set's traces.
    pub trace: u32,
    /// The last step observed.
    pub t: u32,
}

/// A set of traces and its examples.
#[derive(Debug, Clone)]
pub struct ExampleSet {
    /// The traces.
    pub traces: Vec<PreparedTrace>,
    /// Every step with at least the shortest horizon ahead, in trace order.
    pub examples: Vec<Example>,
}

/// One batch as flat arrays, ready for tensors.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// `rows × window × width` standardised inputs.
    pub inputs: Vec<f32>,
    /// `rows × horizons` target log ratios (0 where masked).
    pub targets: Vec<f32>,
    /// `rows × horizons` outcomes, Mbit/s (0 where masked).
    pub actual_mbps: Vec<f32>,
    /// `rows × horizons`: 1 where the horizon fits in the trace, else 0.
    pub mask: Vec<f32>,
    /// Per row, the window's level, Mbit/s.
    pub levels: Vec<f64>,
    /// Rows.
    pub rows: usize,
}

impl ExampleSet {
    /// The examples of `traces` for horizons `horizons` (steps, ascending).
    pub fn new(traces: Vec<PreparedTrace>, horizons: &[usize]) -> Self {
        let shortest = horizons.first().copied().unwrap_or(1);
        let mut examples = Vec::new();
        for (index, trace) in traces.iter().enumerate() {
            let last = trace.samples().saturating_sub(shortest + 1);
            if trace.samples() <= shortest {
                continue;
            }
            for t in 0..=last {
                examples.push(Example {
                    trace: u32::try_from(index).expect("fewer than 2^32 traces"),
                    t: u32::try_from(t).expect("a series is shorter than 2^32 steps"),
                });
            }
        }
        Self { traces, examples }
    }

    /// The inputs, targets and mask of `examples`.
    pub fn batch(
        &self,
        examples: &[Example],
        spec: &InputSpec,
        window_steps: usize,
        horizons: &[usize],
    ) -> Batch {
        let width = spec.width();
        let rows = examples.len();
        let mut batch = Batch {
            inputs: vec![0.0; rows * window_steps * width],
            targets: vec![0.0; rows * horizons.len()],
            actual_mbps: vec![0.0; rows * horizons.len()],
            mask: vec![0.0; rows * horizons.len()],
            levels: Vec::with_capacity(rows),
            rows,
        };
        let floor = spec.level_floor_mbps();
        let row_inputs = batch.inputs.chunks_exact_mut(window_steps * width);
        let row_targets = batch.targets.chunks_exact_mut(horizons.len());
        let row_actual = batch.actual_mbps.chunks_exact_mut(horizons.len());
        let row_mask = batch.mask.chunks_exact_mut(horizons.len());
        for ((((example, inputs), targets), actual), mask) in examples
            .iter()
            .zip(row_inputs)
            .zip(row_targets)
            .zip(row_actual)
            .zip(row_mask)
        {
            let trace = &self.traces[example.trace as usize];
            let t = example.t as usize;
            let level = spec.fill(&[trace.window(t, window_steps), &[]], window_steps, inputs);
            batch.levels.push(level);
            for (k, h) in horizons.iter().enumerate() {
                if let Some(mean) = trace.future_mean(t, *h) {
                    // Rates, and their log ratios (bounded by the floor),
                    // fit in f32.
                    #[allow(clippy::cast_possible_truncation)]
                    {
                        targets[k] = log_ratio(mean, level, floor) as f32;
                        actual[k] = mean as f32;
                    }
                    mask[k] = 1.0;
                }
            }
        }
        batch
    }

    /// Mean and standard deviation of each input before standardisation,
    /// over the windows of every `stride`-th example (all window steps);
    /// a standard deviation under 1e-6 (an input that never varies) is 1.
    pub fn input_statistics(
        &self,
        spec: &InputSpec,
        window_steps: usize,
        stride: usize,
    ) -> Vec<(f32, f32)> {
        let width = spec.width();
        let mut sum = vec![0.0f64; width];
        let mut sum_sq = vec![0.0f64; width];
        let mut count = 0u64;
        for example in self.examples.iter().step_by(stride.max(1)) {
            let trace = &self.traces[example.trace as usize];
            let window = trace.window(example.t as usize, window_steps);
            let level = InputSpec::level(&[window, &[]]);
            let padded = window_steps - window.len();
            let oldest = &window[0];
            let steps = std::iter::repeat_n(oldest, padded).chain(window.iter());
            for (position, step) in steps.enumerate() {
                for (k, input) in spec.inputs().iter().enumerate() {
                    let raw = f64::from(spec.raw(input, step, position < padded, level));
                    sum[k] += raw;
                    sum_sq[k] += raw * raw;
                }
                count += 1;
            }
        }
        let n = count.max(1) as f64;
        sum.iter()
            .zip(&sum_sq)
            .map(|(s, sq)| {
                let mean = s / n;
                let std = (sq / n - mean * mean).max(0.0).sqrt();
                let std = if std < 1e-6 { 1.0 } else { std };
                // Statistics of f32 inputs fit in f32.
                #[allow(clippy::cast_possible_truncation)]
                (mean as f32, std as f32)
            })
            .collect()
    }
}

/// `inputs` with their statistics set.
pub fn standardised(inputs: &[Input], statistics: &[(f32, f32)]) -> Vec<Input> {
    inputs
        .iter()
        .zip(statistics)
        .map(|(input, &(mean, std))| Input {
            mean,
            std,
            ..*input
        })
        .collect()
}
