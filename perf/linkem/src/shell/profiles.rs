//! `dwcp-linkem profiles`: the profile table, as text or JSON.

use anyhow::Result;
use dwcp_linkem::profile::{default_queue, Profile, PROFILES};
use serde::Serialize;

use super::capacity::forward_max_bps;
use super::report::print_line;

/// MTU the printed auto scale assumes (the `run` default).
const PRINTED_MTU: u32 = 1500;

#[derive(Debug, Serialize)]
struct ProfileRow {
    #[serde(flatten)]
    profile: Profile,
    default_queue_packets: u32,
    default_queue_bytes: u64,
    auto_scale_at_mtu_1500: f64,
}

fn row(profile: &Profile) -> ProfileRow {
    let forward_max = forward_max_bps(PRINTED_MTU);
    // JUSTIFICATION: rates are below 2^53, exact in f64.
    #[allow(clippy::cast_precision_loss)]
    let (rate, forward_max) = (profile.rate_bps as f64, forward_max as f64);
    let scale = (forward_max / rate).min(1.0);
    let queue = default_queue(rate * scale, profile.rtt(), PRINTED_MTU);
    ProfileRow {
        profile: *profile,
        default_queue_packets: queue.packets,
        default_queue_bytes: queue.bytes,
        auto_scale_at_mtu_1500: scale,
    }
}

/// Prints every profile.
pub fn print(json: bool) -> Result<()> {
    let rows: Vec<ProfileRow> = PROFILES.iter().map(row).collect();
    if json {
        print_line(&rows)?;
        return Ok(());
    }
    println!(
        "{:<17} {:>11} {:>9} {:>6} {:>10} {:>11}  trace",
        "profile", "rate", "rtt", "loss", "queue", "auto scale"
    );
    for row in rows {
        let profile = &row.profile;
        // JUSTIFICATION: display only.
        #[allow(clippy::cast_precision_loss)]
        let rate_mbit = profile.rate_bps as f64 / 1e6;
        #[allow(clippy::cast_precision_loss)]
        let rtt_ms = profile.rtt_us as f64 / 1e3;
        println!(
            "{:<17} {:>6.1} Mb/s {:>6.1} ms {:>5.1}% {:>7} pk {:>11.3}  {}",
            profile.name,
            rate_mbit,
            rtt_ms,
            profile.loss * 100.0,
            row.default_queue_packets,
            row.auto_scale_at_mtu_1500,
            profile.trace.map_or("-", |trace| trace.file),
        );
    }
    Ok(())
}
