//! Resolving a profile plus overrides into the two directions' configs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{default_queue, Profile};
use crate::model::config::TRACE_SCALE_MIN;
use crate::model::{ConfigError, DirectionConfig, GilbertElliott, JitterConfig, RateConfig};
use crate::trace::{BandwidthTrace, TraceError, TraceFormat};

/// Environment variable naming the bandwidth-traces folder.
pub const TRACES_DIR_ENV: &str = "DWCP_TRACES_DIR";

/// How rates are scaled to what the machine can forward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// `min(1, forward_max / highest mean rate)`.
    Auto,
    /// This factor, in `(0, 1]`.
    Factor(f64),
}

/// Settings that replace the profile's. `None` keeps the profile's value.
/// Per-direction values win over both-direction values; an explicit rate
/// wins over any trace in that direction; `trace` wins over the profile's
/// rate and trace.
#[derive(Debug, Clone, Default)]
pub struct LinkOverrides {
    /// Rate of both directions, bits per second.
    pub rate_bps: Option<u64>,
    /// Rate A to B.
    pub rate_bps_a2b: Option<u64>,
    /// Rate B to A.
    pub rate_bps_b2a: Option<u64>,
    /// Round-trip propagation delay (half each way).
    pub rtt: Option<Duration>,
    /// Jitter, both directions.
    pub jitter: Option<JitterConfig>,
    /// Random loss, both directions.
    pub loss: Option<f64>,
    /// Random loss A to B.
    pub loss_a2b: Option<f64>,
    /// Random loss B to A.
    pub loss_b2a: Option<f64>,
    /// Bursty loss, both directions.
    pub burst_loss: Option<GilbertElliott>,
    /// Queue limit in packets, both directions.
    pub queue_packets: Option<u32>,
    /// Queue limit in bytes, both directions.
    pub queue_bytes: Option<u64>,
    /// A trace file and its format, both directions.
    pub trace: Option<(PathBuf, TraceFormat)>,
}

/// The outcome: both directions, validated.
#[derive(Debug, Clone)]
pub struct ResolvedLink {
    /// The profile's name.
    pub profile: &'static str,
    /// A to B.
    pub a2b: DirectionConfig,
    /// B to A.
    pub b2a: DirectionConfig,
    /// The rate scale applied to both directions.
    pub scale: f64,
    /// The round-trip propagation delay.
    pub rtt: Duration,
}

/// Settings that do not resolve.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A profile's trace is not where it is looked for.
    #[error(
        "bandwidth trace {} not found: set {env_var} to the folder that holds mahimahi/ and hsdpa-fcc/",
        path.display()
    )]
    TraceMissing {
        /// Where it was looked for.
        path: PathBuf,
        /// The variable that moves the folder.
        env_var: &'static str,
    },
    /// A trace does not parse.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// An explicit scale outside `(0, 1]`.
    #[error("scale {factor} is outside (0, 1]")]
    Scale {
        /// The rejected factor.
        factor: f64,
    },
    /// A resolved direction is out of range.
    #[error("direction {direction}")]
    Config {
        /// `a2b` or `b2a`.
        direction: &'static str,
        /// What is out of range.
        #[source]
        source: ConfigError,
    },
}

#[derive(Debug, Clone)]
enum UnscaledRate {
    Constant(u64),
    Trace(Arc<BandwidthTrace>),
}

impl UnscaledRate {
    fn mean_bits_per_s(&self) -> f64 {
        match self {
            // JUSTIFICATION: rates are below 2^53, exact in f64.
            #[allow(clippy::cast_precision_loss)]
            UnscaledRate::Constant(bits_per_s) => *bits_per_s as f64,
            UnscaledRate::Trace(trace) => trace.mean_bits_per_s(),
        }
    }

    fn scaled(&self, scale: f64) -> RateConfig {
        match self {
            UnscaledRate::Constant(bits_per_s) => {
                // JUSTIFICATION: rates are below 2^53 and scale is in (0, 1].
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let bits_per_s = (*bits_per_s as f64 * scale).round() as u64;
                RateConfig::Constant { bits_per_s }
            }
            UnscaledRate::Trace(trace) => RateConfig::Trace {
                trace: Arc::clone(trace),
                scale,
            },
        }
    }
}

fn load_trace(path: &Path, format: TraceFormat) -> Result<Arc<BandwidthTrace>, SettingsError> {
    if !path.exists() {
        return Err(SettingsError::TraceMissing {
            path: path.to_path_buf(),
            env_var: TRACES_DIR_ENV,
        });
    }
    Ok(Arc::new(BandwidthTrace::load(path, format)?))
}

/// What resolving needs to know about the machine and the topology.
#[derive(Debug, Clone)]
pub struct ResolveContext {
    /// How rates are scaled.
    pub scale: Scale,
    /// The highest rate the forwarder sustains (for `Scale::Auto`).
    pub forward_max_bps: u64,
    /// MTU of the link (for the default queue).
    pub mtu: u32,
    /// Where a profile's trace is looked for.
    pub traces_dir: PathBuf,
}

/// Resolves `profile` with `overrides` in `context`.
pub fn resolve(
    profile: &'static Profile,
    overrides: &LinkOverrides,
    context: &ResolveContext,
) -> Result<ResolvedLink, SettingsError> {
    let traces_dir = context.traces_dir.as_path();
    let trace = match (&overrides.trace, &profile.trace) {
        (Some((path, format)), _) => Some(load_trace(path, *format)?),
        (None, Some(profile_trace)) => Some(load_trace(
            &traces_dir.join(profile_trace.file),
            profile_trace.format,
        )?),
        (None, None) => None,
    };
    let shared = match (overrides.rate_bps, &trace) {
        (Some(bits_per_s), _) => UnscaledRate::Constant(bits_per_s),
        (None, Some(trace)) => UnscaledRate::Trace(Arc::clone(trace)),
        (None, None) => UnscaledRate::Constant(profile.rate_bps),
    };
    let a2b_rate = overrides
        .rate_bps_a2b
        .map_or_else(|| shared.clone(), UnscaledRate::Constant);
    let b2a_rate = overrides
        .rate_bps_b2a
        .map_or_else(|| shared.clone(), UnscaledRate::Constant);
    let highest = a2b_rate.mean_bits_per_s().max(b2a_rate.mean_bits_per_s());
    let factor = match context.scale {
        // JUSTIFICATION: the forwarding rate is below 2^53, exact in f64.
        #[allow(clippy::cast_precision_loss)]
        Scale::Auto => (context.forward_max_bps as f64 / highest).clamp(TRACE_SCALE_MIN, 1.0),
        Scale::Factor(factor) => {
            if !(factor.is_finite() && factor > 0.0 && factor <= 1.0) {
                return Err(SettingsError::Scale { factor });
            }
            factor
        }
    };
    let rtt = overrides.rtt.unwrap_or(profile.rtt());
    let direction = |rate: &UnscaledRate, loss: Option<f64>, name: &'static str| {
        let rate = rate.scaled(factor);
        let mut queue = default_queue(rate.mean_bits_per_s(), rtt, context.mtu);
        if let Some(packets) = overrides.queue_packets {
            queue.packets = packets;
        }
        if let Some(bytes) = overrides.queue_bytes {
            queue.bytes = bytes;
        }
        DirectionConfig {
            rate,
            delay: rtt / 2,
            jitter: overrides.jitter,
            loss: loss.or(overrides.loss).unwrap_or(profile.loss),
            burst_loss: overrides.burst_loss,
            queue,
        }
        .validate()
        .map_err(|source| SettingsError::Config {
            direction: name,
            source,
        })
    };
    Ok(ResolvedLink {
        profile: profile.name,
        a2b: direction(&a2b_rate, overrides.loss_a2b, "a2b")?,
        b2a: direction(&b2a_rate, overrides.loss_b2a, "b2a")?,
        scale: factor,
        rtt,
    })
}
