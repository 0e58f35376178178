//! `[migration]`: defaults applied to a new migration when the request does
//! not say otherwise.

use super::check;
use super::error::ConfigError;
use serde::{Deserialize, Serialize};

/// Most parallel streams a migration may use (the wire protocol's bound).
pub const STREAMS_MAX: u16 = dwcp_shared::limits::STREAMS_MAX;
/// Longest downtime budget, in milliseconds.
pub const DOWNTIME_MS_MAX: u64 = 60_000;
/// Most pre-copy rounds.
pub const MAX_ROUNDS_MAX: u32 = 1000;
/// Highest pacing rate, in Mbit/s (100 Gbit/s).
pub const PACING_MBPS_MAX: u64 = 100_000;

/// Bytes per second for a pacing rate in Mbit/s (10^6 bit/s): the one place
/// where bits become bytes. Saturates instead of overflowing (a validated
/// rate is at most `PACING_MBPS_MAX`, far below that).
pub fn pacing_bytes_per_s(mbps: u64) -> u64 {
    mbps.saturating_mul(1_000_000 / 8)
}

/// `[migration]`: defaults for new migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MigrationDefaults {
    /// Parallel TCP streams: 0 = chosen from the link mode, else 1..=64.
    pub streams: u16,
    /// Downtime budget of the switch-over, in milliseconds (1..=60000).
    pub downtime_ms: u64,
    /// Most pre-copy rounds before the switch-over is forced (1..=1000).
    pub max_rounds: u32,
    /// Pacing rate in Mbit/s (10^6 bit/s): 0 = unpaced, else 1..=100000.
    pub pacing_mbps: u64,
    /// Whether pages go through the page codec.
    pub codec: bool,
}

impl MigrationDefaults {
    /// The defaults: streams from the link mode, 300 ms downtime, 30 rounds,
    /// unpaced, codec on.
    pub const DEFAULT: Self = Self {
        streams: 0,
        downtime_ms: 300,
        max_rounds: 30,
        pacing_mbps: 0,
        codec: true,
    };

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::in_range("migration.streams", self.streams, 0..=STREAMS_MAX)?;
        check::in_range(
            "migration.downtime_ms",
            self.downtime_ms,
            1..=DOWNTIME_MS_MAX,
        )?;
        check::in_range("migration.max_rounds", self.max_rounds, 1..=MAX_ROUNDS_MAX)?;
        check::in_range(
            "migration.pacing_mbps",
            self.pacing_mbps,
            0..=PACING_MBPS_MAX,
        )
    }
}

impl Default for MigrationDefaults {
    fn default() -> Self {
        Self::DEFAULT
    }
}
