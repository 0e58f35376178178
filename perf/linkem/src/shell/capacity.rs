//! The highest rates this machine's forwarder sustains, measured, and the
//! MTU they were measured at. `--scale auto` fits profile rates to them.
//!
//! Measured with the release build on the 2-core Debian 12 build machine,
//! one bulk TCP stream (BBR) from namespace A to B through the emulator:
//! with no rate limit and no delay it carried 1.5-1.8 Gbit/s at MTU 1500,
//! 3.8-4.9 Gbit/s at 9000 and 6.6-13 Gbit/s at 65000. The figures below are
//! the rates it *sustains* as a limit with a delay (goodput at least 95% of
//! the set rate on a quiet machine), which is what auto scaling needs; see
//! docs/linkem.md for the runs.

/// (smallest MTU the figure applies to, sustained forwarding rate in bit/s),
/// ascending by MTU.
pub const FORWARD_MAX_BPS_BY_MTU: [(u32, u64); 3] = [
    (0, 1_000_000_000),
    (9_000, 3_000_000_000),
    (65_000, 5_000_000_000),
];

/// The measured forwarding rate for `mtu`: the figure of the largest
/// measured MTU not above it.
pub fn forward_max_bps(mtu: u32) -> u64 {
    FORWARD_MAX_BPS_BY_MTU
        .iter()
        .rev()
        .find(|(mtu_min, _)| *mtu_min <= mtu)
        .map_or(FORWARD_MAX_BPS_BY_MTU[0].1, |(_, bps)| *bps)
}
