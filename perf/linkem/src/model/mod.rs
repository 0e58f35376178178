//! The pure link model: one `LinkDirection` per direction.
//!
//! # Design
//! No clock and no I/O: every call takes `now`, every random draw comes from
//! ChaCha streams seeded by the caller, so a run is reproducible from its
//! seed and its arrival times. The I/O shell (the `dwcp-linkem` binary) reads
//! packets from one TUN device, asks `LinkDirection::offer` for a verdict,
//! and writes the packet into the other TUN device at the verdict's time.

mod bottleneck;
pub mod config;
pub mod direction;
mod jitter;
mod loss;

pub use config::{
    ConfigError, DirectionConfig, GilbertElliott, JitterConfig, JitterDistribution, QueueLimit,
    RateConfig,
};
pub use direction::{DirectionStats, DropCause, LinkDirection, Verdict};
pub use jitter::NORMAL_CUT_SCALES;
