//! Turning held rates and event times into samples at a fixed step.

use super::error::TraceError;
use crate::predict::SERIES_STEPS_MAX;

/// The number of whole steps of `step_s` in `duration_s`, checked against
/// the series bounds. A duration within 10^-9 of a step boundary counts
/// as reaching it, so 10 × 0.1 s is 10 steps.
pub(crate) fn whole_steps(duration_s: f64, step_s: f64) -> Result<usize, TraceError> {
    let steps = (duration_s / step_s + 1e-9).floor();
    if !steps.is_finite() || steps > SERIES_STEPS_MAX as f64 {
        return Err(TraceError::TooLong { duration_s, step_s });
    }
    if steps < 1.0 {
        return Err(TraceError::TooShort { duration_s, step_s });
    }
    // A whole number in 1..=SERIES_STEPS_MAX (checked above).
    #[allow(clippy::cast_possible_truncation)]
    let steps = steps as usize;
    Ok(steps)
}

/// A rate that holds from `start_s` until the next point's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HeldRate {
    /// When the rate starts, seconds (non-decreasing across points).
    pub start_s: f64,
    /// The rate, Mbit/s.
    pub mbps: f64,
}

/// Samples at `step_s` from rates held until the next point; the last
/// point holds until `end_s`. Time starts at the first point. Each sample
/// is the time-weighted mean rate over its step; only whole steps are
/// kept. `points` must be non-empty with non-decreasing starts, and
/// `end_s ≥` the last start.
pub(crate) fn resample_held(
    points: &[HeldRate],
    end_s: f64,
    step_s: f64,
) -> Result<Vec<f64>, TraceError> {
    let first = points.first().ok_or(TraceError::Empty)?;
    let origin_s = first.start_s;
    let steps = whole_steps(end_s - origin_s, step_s)?;
    let segment_end = |j: usize| points.get(j + 1).map_or(end_s, |p| p.start_s) - origin_s;
    let mut samples = Vec::with_capacity(steps);
    let mut segment = 0;
    for k in 0..steps {
        let lo = k as f64 * step_s;
        let hi = (k + 1) as f64 * step_s;
        while segment < points.len() && segment_end(segment) <= lo {
            segment += 1;
        }
        let mut integral = 0.0;
        let mut j = segment;
        while j < points.len() && points[j].start_s - origin_s < hi {
            let a = (points[j].start_s - origin_s).max(lo);
            let b = segment_end(j).min(hi);
            if b > a {
                integral += points[j].mbps * (b - a);
            }
            j += 1;
        }
        samples.push(integral / step_s);
    }
    debug_assert_eq!(samples.len(), steps);
    Ok(samples)
}

/// Samples at `step_s` from the times of 1500-byte delivery opportunities
/// (`times_ms`, non-decreasing, from 0): the opportunities in each step ×
/// 1500 × 8 bits / step. The trace lasts until its last opportunity; only
/// whole steps are kept.
pub(crate) fn resample_opportunities(
    times_ms: &[u64],
    step_s: f64,
) -> Result<Vec<f64>, TraceError> {
    /// Bits per delivery opportunity: one 1500-byte packet.
    const BITS_PER_OPPORTUNITY: f64 = 1500.0 * 8.0;
    let last_ms = *times_ms.last().ok_or(TraceError::Empty)?;
    let steps = whole_steps(last_ms as f64 / 1000.0, step_s)?;
    let step_ms = step_s * 1000.0;
    let mut counts = vec![0_u64; steps];
    for &t in times_ms {
        let bin = (t as f64 / step_ms).floor();
        // Non-negative; compared with `steps` before use.
        #[allow(clippy::cast_possible_truncation)]
        let bin = bin as usize;
        match counts.get_mut(bin) {
            Some(count) => *count += 1,
            None => break,
        }
    }
    let mbps_per_opportunity = BITS_PER_OPPORTUNITY / step_s / 1e6;
    Ok(counts
        .into_iter()
        .map(|count| count as f64 * mbps_per_opportunity)
        .collect())
}
