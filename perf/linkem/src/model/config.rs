//! The settings of one direction of the emulated link, and their validation.

use std::sync::Arc;
use std::time::Duration;

use crate::trace::BandwidthTrace;

/// Lowest constant rate accepted, in bits per second.
pub const RATE_BPS_MIN: u64 = 1_000;
/// Highest constant rate accepted, in bits per second (100 Gbit/s).
pub const RATE_BPS_MAX: u64 = 100_000_000_000;
/// Longest one-way delay accepted.
pub const DELAY_MAX: Duration = Duration::from_secs(10);
/// Largest jitter scale accepted.
pub const JITTER_MAX: Duration = Duration::from_secs(10);
/// Most packets a bottleneck queue may be configured to hold (its ring is
/// preallocated to this many entries at most).
pub const QUEUE_PACKETS_MAX: u32 = 1 << 20;
/// Most bytes a bottleneck queue may be configured to hold (1 GiB).
pub const QUEUE_BYTES_MAX: u64 = 1 << 30;
/// Largest packet the model accepts (the largest IPv4/IPv6 packet without
/// jumbograms).
pub const PACKET_LEN_MAX: usize = 65_535;
/// Smallest trace scale factor accepted.
pub const TRACE_SCALE_MIN: f64 = 1e-3;

/// How the bottleneck's rate is set.
#[derive(Debug, Clone)]
pub enum RateConfig {
    /// A fixed rate in bits per second.
    Constant {
        /// Bits per second, in `RATE_BPS_MIN..=RATE_BPS_MAX`.
        bits_per_s: u64,
    },
    /// A rate replayed from a bandwidth trace, looping at its end, multiplied
    /// by `scale` (1.0 = as recorded).
    Trace {
        /// The parsed trace, shared between directions.
        trace: Arc<BandwidthTrace>,
        /// Multiplier on the trace's rates, in `TRACE_SCALE_MIN..=1.0`.
        scale: f64,
    },
}

impl RateConfig {
    /// The long-run mean rate in bits per second (the trace's mean for a
    /// trace, scaled).
    pub fn mean_bits_per_s(&self) -> f64 {
        match self {
            // JUSTIFICATION: u64 to f64 may round above 2^53 bit/s, far above
            // RATE_BPS_MAX; this is a reporting value.
            #[allow(clippy::cast_precision_loss)]
            RateConfig::Constant { bits_per_s } => *bits_per_s as f64,
            RateConfig::Trace { trace, scale } => trace.mean_bits_per_s() * scale,
        }
    }
}

/// The distribution of the random extra delay added to each packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JitterDistribution {
    /// Uniform in `[0, scale]`: mean `scale / 2`.
    Uniform,
    /// Half-normal with parameter `scale` (the absolute value of a normal
    /// with mean 0 and standard deviation `scale`), cut at `4 * scale`:
    /// mean about `0.8 * scale`.
    Normal,
}

/// Random extra delay per packet. It never reorders packets: a packet is
/// delivered no earlier than the one before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// The scale of the extra delay (see `JitterDistribution`).
    pub scale: Duration,
    /// The distribution.
    pub distribution: JitterDistribution,
}

/// Gilbert–Elliott bursty loss: a two-state Markov chain stepped once per
/// packet. In the bad state a packet is lost with `loss_bad`; in the good
/// state only the independent random loss applies.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GilbertElliott {
    /// Probability per packet of moving from good to bad.
    pub p_good_to_bad: f64,
    /// Probability per packet of moving from bad to good (mean bad run =
    /// `1 / p_bad_to_good` packets).
    pub p_bad_to_good: f64,
    /// Loss probability of a packet sent in the bad state.
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// The stationary loss rate: `loss_bad * p_gb / (p_gb + p_bg)`.
    pub fn mean_loss(&self) -> f64 {
        let sum = self.p_good_to_bad + self.p_bad_to_good;
        if sum <= 0.0 {
            return 0.0;
        }
        self.loss_bad * self.p_good_to_bad / sum
    }
}

/// Tail-drop limits of the bottleneck queue. A packet is dropped when,
/// counting the packets that have not finished serialisation (the one on
/// the wire included), it would make the queue exceed either limit. A packet
/// arriving at an empty queue is always accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueLimit {
    /// Packets, in `1..=QUEUE_PACKETS_MAX`.
    pub packets: u32,
    /// Bytes, in `1..=QUEUE_BYTES_MAX`.
    pub bytes: u64,
}

/// Everything that defines one direction of the link.
#[derive(Debug, Clone)]
pub struct DirectionConfig {
    /// Bottleneck rate.
    pub rate: RateConfig,
    /// One-way propagation delay, added after serialisation.
    pub delay: Duration,
    /// Optional random extra delay.
    pub jitter: Option<JitterConfig>,
    /// Independent random loss probability per packet, in `[0, 1]`.
    pub loss: f64,
    /// Optional bursty loss on top of `loss`.
    pub burst_loss: Option<GilbertElliott>,
    /// Bottleneck queue limits.
    pub queue: QueueLimit,
}

/// A setting outside its documented range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Rate outside `RATE_BPS_MIN..=RATE_BPS_MAX`.
    #[error("rate {bits_per_s} bit/s is outside {min}..={max}")]
    Rate {
        /// The rejected value.
        bits_per_s: u64,
        /// Lowest accepted.
        min: u64,
        /// Highest accepted.
        max: u64,
    },
    /// Trace scale outside `TRACE_SCALE_MIN..=1.0` or not finite.
    #[error("trace scale {scale} is outside {min}..=1")]
    TraceScale {
        /// The rejected value.
        scale: f64,
        /// Lowest accepted.
        min: f64,
    },
    /// A delay or jitter above its maximum.
    #[error("{what} {value_us} us is above the maximum {max_us} us")]
    Duration {
        /// Which setting.
        what: &'static str,
        /// The rejected value in microseconds.
        value_us: u128,
        /// The maximum in microseconds.
        max_us: u128,
    },
    /// A probability outside `[0, 1]` or not finite.
    #[error("probability {what} = {value} is outside [0, 1]")]
    Probability {
        /// Which setting.
        what: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// `p_bad_to_good` is 0, so the chain would never leave the bad state.
    #[error("burst loss p_bad_to_good must be above 0 (the bad state would never end)")]
    BurstNeverEnds,
    /// A queue limit outside its range.
    #[error("queue limit {what} = {value} is outside 1..={max}")]
    Queue {
        /// Which limit.
        what: &'static str,
        /// The rejected value.
        value: u64,
        /// The maximum.
        max: u64,
    },
}

fn check_probability(what: &'static str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::Probability { what, value })
    }
}

fn check_duration(what: &'static str, value: Duration, max: Duration) -> Result<(), ConfigError> {
    if value <= max {
        Ok(())
    } else {
        Err(ConfigError::Duration {
            what,
            value_us: value.as_micros(),
            max_us: max.as_micros(),
        })
    }
}

impl DirectionConfig {
    /// Checks every setting against its documented range and returns the
    /// config unchanged when all are in range.
    pub fn validate(self) -> Result<Self, ConfigError> {
        match &self.rate {
            RateConfig::Constant { bits_per_s } => {
                if !(RATE_BPS_MIN..=RATE_BPS_MAX).contains(bits_per_s) {
                    return Err(ConfigError::Rate {
                        bits_per_s: *bits_per_s,
                        min: RATE_BPS_MIN,
                        max: RATE_BPS_MAX,
                    });
                }
            }
            RateConfig::Trace { scale, .. } => {
                if !(scale.is_finite() && (TRACE_SCALE_MIN..=1.0).contains(scale)) {
                    return Err(ConfigError::TraceScale {
                        scale: *scale,
                        min: TRACE_SCALE_MIN,
                    });
                }
            }
        }
        check_duration("delay", self.delay, DELAY_MAX)?;
        if let Some(jitter) = &self.jitter {
            check_duration("jitter", jitter.scale, JITTER_MAX)?;
        }
        check_probability("loss", self.loss)?;
        if let Some(ge) = &self.burst_loss {
            check_probability("p_good_to_bad", ge.p_good_to_bad)?;
            check_probability("p_bad_to_good", ge.p_bad_to_good)?;
            check_probability("loss_bad", ge.loss_bad)?;
            if ge.p_bad_to_good <= 0.0 {
                return Err(ConfigError::BurstNeverEnds);
            }
        }
        if !(1..=QUEUE_PACKETS_MAX).contains(&self.queue.packets) {
            return Err(ConfigError::Queue {
                what: "packets",
                value: u64::from(self.queue.packets),
                max: u64::from(QUEUE_PACKETS_MAX),
            });
        }
        if !(1..=QUEUE_BYTES_MAX).contains(&self.queue.bytes) {
            return Err(ConfigError::Queue {
                what: "bytes",
                value: self.queue.bytes,
                max: QUEUE_BYTES_MAX,
            });
        }
        Ok(self)
    }
}
