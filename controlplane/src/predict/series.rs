//! `ThroughputSeries`: a trace as throughput samples at a fixed step.

use super::horizon::{check_step_s, HorizonError};
use thiserror::Error;

/// The most samples one series may hold: 10^7, about 116 days of 1 s
/// steps (80 MB of `f64`), far beyond any trace here.
pub const SERIES_STEPS_MAX: usize = 10_000_000;

/// Throughput samples at a fixed step: `mbps[i]` is the mean throughput
/// over `[i·step_s, (i+1)·step_s)` seconds from the start of the trace.
///
/// Invariants (checked by [`new`](Self::new)): the step is valid, there is
/// at least one sample and at most [`SERIES_STEPS_MAX`], every sample is
/// finite and `≥ 0`.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputSeries {
    step_s: f64,
    mbps: Vec<f64>,
}

/// A series that breaks an invariant of [`ThroughputSeries`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SeriesError {
    /// The step is not usable.
    #[error("bad step")]
    Step(#[source] HorizonError),
    /// No samples at all.
    #[error("the series has no samples")]
    Empty,
    /// More than [`SERIES_STEPS_MAX`] samples.
    #[error("the series has {len} samples, more than the maximum of {SERIES_STEPS_MAX}")]
    TooLong {
        /// Samples given.
        len: usize,
    },
    /// A sample is negative, NaN or infinite.
    #[error("sample {index} is {value} Mbit/s; samples must be finite and >= 0")]
    BadSample {
        /// Index of the sample.
        index: usize,
        /// Its value.
        value: f64,
    },
}

impl ThroughputSeries {
    /// A series of `mbps` samples, one per `step_s` seconds.
    pub fn new(step_s: f64, mbps: Vec<f64>) -> Result<Self, SeriesError> {
        check_step_s(step_s).map_err(SeriesError::Step)?;
        if mbps.is_empty() {
            return Err(SeriesError::Empty);
        }
        if mbps.len() > SERIES_STEPS_MAX {
            return Err(SeriesError::TooLong { len: mbps.len() });
        }
        if let Some((index, &value)) = mbps
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
        {
            return Err(SeriesError::BadSample { index, value });
        }
        Ok(Self { step_s, mbps })
    }

    /// The step, seconds.
    pub fn step_s(&self) -> f64 {
        self.step_s
    }

    /// The samples, Mbit/s.
    pub fn mbps(&self) -> &[f64] {
        &self.mbps
    }

    /// Number of samples (at least 1).
    pub fn len(&self) -> usize {
        self.mbps.len()
    }

    /// Always `false`: a series has at least one sample.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Length of the series, seconds.
    pub fn duration_s(&self) -> f64 {
        self.step_s * self.mbps.len() as f64
    }

    /// Mean of the samples, Mbit/s.
    pub fn mean_mbps(&self) -> f64 {
        self.mbps.iter().sum::<f64>() / self.mbps.len() as f64
    }

    /// A 64-bit FNV-1a hash of the step and the samples (their bits): two
    /// files with the same series have the same fingerprint, whatever their
    /// names or formatting. A learned model records its training files'
    /// fingerprints so that they are not scored as held out.
    pub fn fingerprint(&self) -> u64 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let words =
            std::iter::once(self.step_s.to_bits()).chain(self.mbps.iter().map(|v| v.to_bits()));
        words.flat_map(u64::to_le_bytes).fold(OFFSET, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        })
    }
}
