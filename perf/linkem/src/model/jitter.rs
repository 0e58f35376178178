//! Random extra delay per packet.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::config::{JitterConfig, JitterDistribution};

/// The half-normal sample is cut at this many `scale`s.
pub const NORMAL_CUT_SCALES: f64 = 4.0;

/// Draws the extra delay of one packet.
pub(crate) fn sample(jitter: &JitterConfig, rng: &mut ChaCha8Rng) -> Duration {
    let scale_ns = u64::try_from(jitter.scale.as_nanos()).unwrap_or(u64::MAX);
    if scale_ns == 0 {
        return Duration::ZERO;
    }
    match jitter.distribution {
        JitterDistribution::Uniform => Duration::from_nanos(rng.gen_range(0..=scale_ns)),
        JitterDistribution::Normal => {
            // Box–Muller: u1 in (0, 1] so that ln(u1) is finite.
            let u1 = 1.0 - rng.gen::<f64>();
            let u2: f64 = rng.gen();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let scales = z.abs().min(NORMAL_CUT_SCALES);
            jitter.scale.mul_f64(scales)
        }
    }
}
