//! Named link profiles, and how overrides and rate scaling resolve into the
//! two directions' configs.
//!
//! # Design
//! A profile gives a rate (or a trace), an RTT and a loss rate. Overrides
//! replace single settings, for both directions or for one. The RTT is split
//! evenly into the one-way delay of each direction. The rate scale (one
//! factor for both directions) multiplies every rate, trace rates included,
//! and leaves delay and loss alone; `Scale::Auto` picks
//! `min(1, forward_max / highest mean rate)`. Default queue: one BDP at the
//! scaled mean rate and the RTT, at least `QUEUE_DEFAULT_BYTES_MIN` and 64
//! packets of the MTU, and as many packets as those bytes in 1500-byte
//! packets.

mod resolve;

pub use resolve::{
    resolve, LinkOverrides, ResolveContext, ResolvedLink, Scale, SettingsError, TRACES_DIR_ENV,
};

use std::time::Duration;

use serde::Serialize;

use crate::model::QueueLimit;
use crate::trace::TraceFormat;

/// Bytes of a full-size packet, used to turn queue bytes into packets.
pub const FULL_PACKET_BYTES: u64 = 1500;
/// Smallest default queue in bytes (1000 full-size packets, netem's default
/// limit).
pub const QUEUE_DEFAULT_BYTES_MIN: u64 = 1000 * FULL_PACKET_BYTES;

/// A trace a profile replays, relative to the traces folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProfileTrace {
    /// Path below the traces folder.
    pub file: &'static str,
    /// Its format.
    pub format: TraceFormat,
}

/// A named link profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Profile {
    /// Name given to `--profile`.
    pub name: &'static str,
    /// What it stands for.
    pub description: &'static str,
    /// Rate in bits per second, both directions (ignored with a trace).
    pub rate_bps: u64,
    /// Round-trip propagation delay in microseconds.
    pub rtt_us: u64,
    /// Random loss probability per packet, both directions.
    pub loss: f64,
    /// A trace replacing the fixed rate, both directions.
    pub trace: Option<ProfileTrace>,
}

impl Profile {
    /// The round-trip propagation delay.
    pub fn rtt(&self) -> Duration {
        Duration::from_micros(self.rtt_us)
    }
}

/// Every profile; the first is the default.
pub const PROFILES: [Profile; 5] = [
    Profile {
        name: "internet",
        description: "cross-country internet path",
        rate_bps: 200_000_000,
        rtt_us: 100_000,
        loss: 0.005,
        trace: None,
    },
    Profile {
        name: "datacenter",
        description: "same datacenter, one switch hop",
        rate_bps: 10_000_000_000,
        rtt_us: 100,
        loss: 0.0,
        trace: None,
    },
    Profile {
        name: "regional",
        description: "datacenters in one region",
        rate_bps: 1_000_000_000,
        rtt_us: 20_000,
        loss: 0.0,
        trace: None,
    },
    Profile {
        name: "intercontinental",
        description: "across an ocean",
        rate_bps: 100_000_000,
        rtt_us: 250_000,
        loss: 0.01,
        trace: None,
    },
    Profile {
        name: "cellular",
        description: "T-Mobile LTE (mahimahi trace, about 16.7 Mbit/s mean, looping every 140 s)",
        rate_bps: 16_700_000,
        rtt_us: 80_000,
        loss: 0.0,
        trace: Some(ProfileTrace {
            file: "mahimahi/TMobile-LTE-short.down",
            format: TraceFormat::Mahimahi,
        }),
    },
];

/// The profile called `name`.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|profile| profile.name == name)
}

/// Packets of `mtu` bytes the default queue always has room for: one full
/// read burst of the forwarder, whose packets get the same arrival time.
pub const QUEUE_DEFAULT_MTU_PACKETS_MIN: u64 = 64;

/// The default queue for a direction of mean rate `bits_per_s` on a path of
/// round-trip time `rtt` with packets up to `mtu` bytes: one BDP, at least
/// `QUEUE_DEFAULT_BYTES_MIN` and at least `QUEUE_DEFAULT_MTU_PACKETS_MIN`
/// packets of `mtu`; as many packets as those bytes in 1500-byte packets.
pub fn default_queue(bits_per_s: f64, rtt: Duration, mtu: u32) -> QueueLimit {
    let bdp_bytes = bits_per_s / 8.0 * rtt.as_secs_f64();
    let floor = QUEUE_DEFAULT_BYTES_MIN.max(QUEUE_DEFAULT_MTU_PACKETS_MIN * u64::from(mtu));
    // JUSTIFICATION: clamped to the queue maximum before the cast.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let bytes = bdp_bytes.clamp(floor as f64, crate::model::config::QUEUE_BYTES_MAX as f64) as u64;
    let packets = bytes.div_ceil(FULL_PACKET_BYTES);
    QueueLimit {
        packets: u32::try_from(packets)
            .unwrap_or(u32::MAX)
            .min(crate::model::config::QUEUE_PACKETS_MAX),
        bytes,
    }
}

#[cfg(test)]
#[path = "profile_test.rs"]
mod tests;
