//! Pure text formatting for `dwcpctl`: numbers with units, the ETA, the live
//! progress line, the `list` table and the `show` and `status` texts. No I/O
//! and no clock here, so every output format is unit-tested
//! (`controlplane/tests/dwcpctl_render.rs`).
//!
//! Conventions: rates are Mbit/s (10^6 bit/s) with one decimal, sizes are
//! binary (KiB, MiB, GiB, TiB), a missing or meaningless value is `-`.
//! Tables are left-aligned text and right-aligned numbers, columns two spaces
//! apart, no trailing blanks.

use std::fmt::Write as _;

use crate::api_types::{
    CompressionTier, DataPlaneStatus, Health, HorizonPrediction, LinkModeName, Migration,
    MigrationPrediction, MigrationRole, MigrationState, NodeStatus, PeerStatus, WorkerStatus,
};

/// Shown for a value that is absent, negative or not finite.
pub const MISSING: &str = "-";
/// ETAs from this many seconds up are shown as `>99h`: an estimate that far
/// out says only "not converging".
pub const ETA_DISPLAY_MAX_S: f64 = 99.0 * 3600.0;
/// Columns are this many spaces apart.
const COLUMN_GAP: &str = "  ";

/// How a table column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// A table column: its header and alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Header text, upper case by convention.
    pub header: &'static str,
    /// Alignment of the header and the cells.
    pub align: Align,
}

impl Column {
    /// A left-aligned column.
    pub const fn left(header: &'static str) -> Self {
        Self {
            header,
            align: Align::Left,
        }
    }

    /// A right-aligned column.
    pub const fn right(header: &'static str) -> Self {
        Self {
            header,
            align: Align::Right,
        }
    }
}

/// Renders an aligned table: a header line, then one line per row, each
/// ending in `\n`. Every row must have one cell per column.
pub fn render_table(columns: &[Column], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns
        .iter()
        .map(|column| column.header.chars().count())
        .collect();
    for row in rows {
        assert_eq!(
            row.len(),
            columns.len(),
            "a table row has one cell per column"
        );
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<&str> = columns.iter().map(|column| column.header).collect();
    push_row(&mut out, columns, &widths, &header);
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        push_row(&mut out, columns, &widths, &cells);
    }
    out
}

fn push_row(out: &mut String, columns: &[Column], widths: &[usize], cells: &[&str]) {
    let mut line = String::new();
    for (index, ((column, width), cell)) in columns.iter().zip(widths).zip(cells).enumerate() {
        if index > 0 {
            line.push_str(COLUMN_GAP);
        }
        let pad = width.saturating_sub(cell.chars().count());
        match column.align {
            Align::Left => {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
            Align::Right => {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            }
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// Renders `label  value` lines with the values aligned, each ending in `\n`.
/// A multi-line value continues under the value column.
pub fn render_fields(fields: &[(&str, String)]) -> String {
    let width = fields
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in fields {
        for (index, value_line) in value.lines().enumerate() {
            let shown_label = if index == 0 { *label } else { "" };
            let line = format!("{shown_label:<width$}{COLUMN_GAP}{value_line}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if value.is_empty() {
            out.push_str(label);
            out.push('\n');
        }
    }
    out
}

/// A rate in Mbit/s with one decimal and its unit: `9412.3 Mbit/s`; `-` when
/// negative or not finite.
pub fn format_mbps(mbps: f64) -> String {
    if mbps.is_finite() && mbps >= 0.0 {
        format!("{mbps:.1} Mbit/s")
    } else {
        MISSING.to_string()
    }
}

/// An optional rate (`PeerStatus` samples): `-` when absent.
pub fn format_optional_mbps(mbps: Option<f64>) -> String {
    mbps.map_or_else(|| MISSING.to_string(), format_mbps)
}

/// A share in percent with one decimal, clamped to 0..=100: `45.2%`.
pub fn format_percent(percent: f64) -> String {
    if percent.is_finite() {
        format!("{:.1}%", percent.clamp(0.0, 100.0))
    } else {
        MISSING.to_string()
    }
}

/// A size in binary units: `512 B`, `1.5 KiB`, `4.0 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision loss above 2^53 bytes is far below the one decimal shown.
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// The ETA as the API gives it (`eta_s`): `-` when absent, negative or not
/// finite; `4.2s` under 10 s, `42s` under a minute, `4m05s` under an hour,
/// `2h03m` below `ETA_DISPLAY_MAX_S`, then `>99h`.
pub fn format_eta(eta_s: Option<f64>) -> String {
    let Some(eta_s) = eta_s.filter(|eta_s| eta_s.is_finite() && *eta_s >= 0.0) else {
        return MISSING.to_string();
    };
    if eta_s >= ETA_DISPLAY_MAX_S {
        return ">99h".to_string();
    }
    if eta_s < 9.95 {
        return format!("{eta_s:.1}s");
    }
    format_duration_s(whole_seconds(eta_s))
}

/// Rounds a finite, non-negative number of seconds below
/// `ETA_DISPLAY_MAX_S` to whole seconds.
fn whole_seconds(seconds: f64) -> u64 {
    assert!(seconds.is_finite() && (0.0..ETA_DISPLAY_MAX_S).contains(&seconds));
    // The assert bounds the value to 0..356400, which u64 holds exactly.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = seconds.round() as u64;
    whole
}

/// A whole number of seconds: `42s`, `4m05s`, `2h03m`, `3d04h`.
pub fn format_duration_s(seconds: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    if seconds < MINUTE {
        format!("{seconds}s")
    } else if seconds < HOUR {
        format!("{}m{:02}s", seconds / MINUTE, seconds % MINUTE)
    } else if seconds < DAY {
        format!("{}h{:02}m", seconds / HOUR, seconds % HOUR / MINUTE)
    } else {
        format!("{}d{:02}h", seconds / DAY, seconds % DAY / HOUR)
    }
}

/// A pacing rate: `unpaced` for 0, else `N Mbit/s`.
pub fn format_pacing(pacing_mbps: u64) -> String {
    if pacing_mbps == 0 {
        "unpaced".to_string()
    } else {
        format!("{pacing_mbps} Mbit/s")
    }
}

/// The state's API name: `running`, `completed`, ...
pub fn state_name(state: MigrationState) -> &'static str {
    match state {
        MigrationState::Pending => "pending",
        MigrationState::Listening => "listening",
        MigrationState::Running => "running",
        MigrationState::Paused => "paused",
        MigrationState::Verifying => "verifying",
        MigrationState::Completed => "completed",
        MigrationState::Failed => "failed",
        MigrationState::Cancelled => "cancelled",
        MigrationState::InDoubt => "in_doubt",
    }
}

/// The role's API name: `source` or `destination`.
pub fn role_name(role: MigrationRole) -> &'static str {
    match role {
        MigrationRole::Source => "source",
        MigrationRole::Destination => "destination",
    }
}

/// The link mode's API name.
pub fn mode_name(mode: LinkModeName) -> &'static str {
    match mode {
        LinkModeName::Datacenter => "datacenter",
        LinkModeName::Internet => "internet",
        LinkModeName::Hybrid => "hybrid",
        LinkModeName::Unknown => "unknown",
    }
}

/// The compression tier's API name.
pub fn tier_name(tier: CompressionTier) -> &'static str {
    match tier {
        CompressionTier::Datacenter => "datacenter",
        CompressionTier::Internet => "internet",
        CompressionTier::Off => "off",
    }
}

/// The live progress line of a migration: round, percent of this round,
/// throughput, dirty rate, ETA, state. Fixed-width so it does not jitter,
/// and at most 78 characters for rates below 10^6 Mbit/s, so that with the
/// spinner it fits an 80-column terminal:
/// `round  3   45.2%    9412.3 Mbit/s  dirty    120.0 Mbit/s  ETA   12s  running`.
pub fn progress_line(migration: &Migration) -> String {
    format!(
        "round {:>2}  {:>6}  {:>15}  dirty {:>15}  ETA {:>5}  {}",
        migration.round,
        format_percent(migration.percent),
        format_mbps(migration.throughput_mbps),
        format_mbps(migration.dirty_rate_mbps),
        format_eta(migration.eta_s),
        state_name(migration.state),
    )
}

/// The progress line for a log (stderr not a terminal): prefixed with the
/// seconds since `dwcpctl` started following: `[  12.3s] round ...`.
pub fn plain_progress_line(elapsed_s: f64, migration: &Migration) -> String {
    format!("[{elapsed_s:>7.1}s] {}", progress_line(migration))
}

/// What `dwcpctl` prints on stdout last when a migration is final: its
/// `summary` as compact one-line JSON, or the whole migration as JSON when
/// the summary is null.
pub fn final_json_line(migration: &Migration) -> String {
    match &migration.summary {
        Some(summary) => summary.to_string(),
        None => to_json_line(migration),
    }
}

/// Compact one-line JSON of an API value.
pub fn to_json_line<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("API types serialize: plain structs with string map keys")
}

/// One line for stderr when a migration is final:
/// `migration 0123456789abcdef (vm1 to host-b) failed: reason`.
pub fn final_message(migration: &Migration) -> String {
    let mut line = format!(
        "migration {} ({} {} {}) {}",
        migration.id,
        migration.vm_id,
        match migration.role {
            MigrationRole::Source => "to",
            MigrationRole::Destination => "from",
        },
        migration.peer,
        state_name(migration.state),
    );
    if let Some(error) = &migration.error {
        let _ = write!(line, ": {error}");
    }
    line
}

/// The `list` table, newest first as the API returns them; `no migrations`
/// when empty.
pub fn migrations_table(migrations: &[Migration]) -> String {
    if migrations.is_empty() {
        return "no migrations\n".to_string();
    }
    const COLUMNS: [Column; 10] = [
        Column::left("ID"),
        Column::left("VM"),
        Column::left("ROLE"),
        Column::left("PEER"),
        Column::left("STATE"),
        Column::right("ROUND"),
        Column::right("PERCENT"),
        Column::right("THROUGHPUT"),
        Column::right("DIRTY"),
        Column::right("ETA"),
    ];
    let rows: Vec<Vec<String>> = migrations
        .iter()
        .map(|migration| {
            vec![
                migration.id.clone(),
                migration.vm_id.clone(),
                role_name(migration.role).to_string(),
                migration.peer.clone(),
                state_name(migration.state).to_string(),
                migration.round.to_string(),
                format_percent(migration.percent),
                format_mbps(migration.throughput_mbps),
                format_mbps(migration.dirty_rate_mbps),
                format_eta(migration.eta_s),
            ]
        })
        .collect();
    render_table(&COLUMNS, &rows)
}

/// The `show` text: one aligned `label  value` line per field; `error` and
/// `summary` only when present.
pub fn migration_text(migration: &Migration) -> String {
    let mut fields = vec![
        ("migration", migration.id.clone()),
        ("vm", migration.vm_id.clone()),
        ("role", role_name(migration.role).to_string()),
        ("peer", migration.peer.clone()),
        (
            "memory",
            format!(
                "{} ({})",
                migration.memory_file,
                format_bytes(migration.memory_bytes)
            ),
        ),
        ("state", state_name(migration.state).to_string()),
        (
            "round",
            format!(
                "{} ({} of this round)",
                migration.round,
                format_percent(migration.percent)
            ),
        ),
        ("pages", migration.pages.to_string()),
        ("on the wire", format_bytes(migration.bytes_on_wire)),
        ("throughput", format_mbps(migration.throughput_mbps)),
        ("dirty rate", format_mbps(migration.dirty_rate_mbps)),
        ("eta", format_eta(migration.eta_s)),
        ("link mode", mode_name(migration.mode).to_string()),
        ("pacing", format_pacing(migration.pacing_mbps)),
        (
            "compression",
            tier_name(migration.compression_tier).to_string(),
        ),
        (
            "streams",
            format!(
                "{} carrying data of {} opened",
                migration.streams, migration.streams_connected
            ),
        ),
    ];
    if let Some(prediction) = &migration.prediction {
        fields.push(("prediction", prediction_line(prediction)));
    }
    if migration.held {
        fields.push((
            "held",
            "yes: sending is held (dwcpctl set ID --continue)".to_string(),
        ));
    }
    if let Some(error) = &migration.error {
        fields.push(("error", error.clone()));
    }
    if let Some(summary) = &migration.summary {
        fields.push(("summary", summary.to_string()));
    }
    render_fields(&fields)
}

/// The data plane as one line: `healthy, pid 4242, generation 1, heartbeat 12 ms ago`.
pub fn dataplane_line(dataplane: &DataPlaneStatus) -> String {
    let mut line = String::from(if dataplane.healthy {
        "healthy"
    } else {
        "UNHEALTHY"
    });
    if dataplane.pid != 0 {
        let _ = write!(line, ", pid {}", dataplane.pid);
    } else {
        line.push_str(", tables not attached");
    }
    let _ = write!(line, ", generation {}", dataplane.generation);
    match dataplane.heartbeat_age_ms {
        Some(age_ms) => {
            let _ = write!(line, ", heartbeat {age_ms} ms ago");
        }
        None => line.push_str(", no heartbeat"),
    }
    if let Some(problem) = &dataplane.problem {
        let _ = write!(line, ": {problem}");
    }
    line
}

/// The peers table of `status`; `no peers configured` when empty.
pub fn peers_table(peers: &[PeerStatus]) -> String {
    if peers.is_empty() {
        return "no peers configured\n".to_string();
    }
    const COLUMNS: [Column; 6] = [
        Column::left("PEER"),
        Column::left("ADDRESS"),
        Column::left("MODE"),
        Column::right("RTT"),
        Column::right("THROUGHPUT"),
        Column::right("LOSS"),
    ];
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|peer| {
            vec![
                peer.id.clone(),
                peer.control_address.clone(),
                mode_name(peer.mode).to_string(),
                peer.rtt_ms
                    .filter(|rtt_ms| rtt_ms.is_finite() && *rtt_ms >= 0.0)
                    .map_or_else(|| MISSING.to_string(), |rtt_ms| format!("{rtt_ms:.2} ms")),
                format_optional_mbps(peer.throughput_mbps),
                peer.loss_percent
                    .filter(|loss| loss.is_finite())
                    .map_or_else(|| MISSING.to_string(), |loss| format!("{loss:.2}%")),
            ]
        })
        .collect();
    render_table(&COLUMNS, &rows)
}

/// What the prediction does for a migration, on one line:
/// `eta 4.2s at 93.1 Mbit/s, floor 80.0 Mbit/s, pacing auto, streams set`.
pub fn prediction_line(prediction: &MigrationPrediction) -> String {
    let setting = |auto: bool| if auto { "auto" } else { "set" };
    let eta = match prediction.mbps {
        Some(mbps) => format!(
            "eta {} at {}",
            format_eta(prediction.eta_s),
            format_mbps(mbps)
        ),
        None => format!("eta {MISSING}"),
    };
    let floor = if prediction.floor_mbps > 0.0 {
        format_mbps(prediction.floor_mbps)
    } else {
        "none".to_string()
    };
    format!(
        "{eta}, floor {floor}, pacing {}, streams {}",
        setting(prediction.pacing_auto),
        setting(prediction.streams_auto)
    )
}

/// A predicted mean and its band: `93.1 (80.2-101.0)`, Mbit/s.
fn band_cell(horizon: Option<&HorizonPrediction>) -> String {
    horizon.map_or_else(
        || MISSING.to_string(),
        |h| format!("{:.1} ({:.1}-{:.1})", h.mbps, h.lower_mbps, h.upper_mbps),
    )
}

/// The peers' bandwidth predictions, Mbit/s; empty when no peer has one.
pub fn predictions_table(peers: &[PeerStatus]) -> String {
    const COLUMNS: [Column; 5] = [
        Column::left("PEER"),
        Column::left("PREDICTOR"),
        Column::right("SAMPLES"),
        Column::right("NEXT 5S MBIT/S"),
        Column::right("NEXT 30S MBIT/S"),
    ];
    let rows: Vec<Vec<String>> = peers
        .iter()
        .filter_map(|peer| {
            let prediction = peer.prediction.as_ref()?;
            let horizon = |s: u32| prediction.horizons.iter().find(|h| h.horizon_s == s);
            Some(vec![
                peer.id.clone(),
                prediction.predictor.clone(),
                prediction.samples.to_string(),
                band_cell(horizon(5)),
                band_cell(horizon(30)),
            ])
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    render_table(&COLUMNS, &rows)
}

/// The `status` text: node, health with each component, data plane, active
/// migrations, then the peers table (and their predictions, if any).
pub fn status_text(node: &NodeStatus, health: &Health) -> String {
    let components: Vec<String> = health
        .components
        .iter()
        .map(|(name, state)| format!("{name}: {state}"))
        .collect();
    let fields = vec![
        ("node", node.node_id.clone()),
        ("version", node.version.clone()),
        ("uptime", format_duration_s(node.uptime_s)),
        ("health", health.status.clone()),
        (
            "components",
            if components.is_empty() {
                MISSING.to_string()
            } else {
                components.join("\n")
            },
        ),
        ("data plane", dataplane_line(&node.dataplane)),
        ("migrations", format!("{} active", node.migrations_active)),
    ];
    let mut out = render_fields(&fields);
    out.push('\n');
    out.push_str(&peers_table(&node.peers));
    let predictions = predictions_table(&node.peers);
    if !predictions.is_empty() {
        out.push('\n');
        out.push_str(&predictions);
    }
    if !node.workers.is_empty() {
        out.push('\n');
        out.push_str(&workers_table(&node.workers));
    }
    out
}

/// The data plane's threads: role, core, migration, busy share, frames, bytes.
pub fn workers_table(workers: &[WorkerStatus]) -> String {
    let mut out = format!(
        "{:<10} {:>4} {:<16} {:>6} {:>10} {:>10}\n",
        "WORKER", "CORE", "MIGRATION", "BUSY", "FRAMES", "MIB"
    );
    for w in workers {
        out.push_str(&format!(
            "{:<10} {:>4} {:<16} {:>5.1}% {:>10} {:>10.1}\n",
            w.role,
            w.core
                .map_or_else(|| MISSING.to_string(), |c| c.to_string()),
            w.migration.as_deref().unwrap_or(MISSING),
            w.busy_fraction * 100.0,
            w.frames,
            w.bytes as f64 / 1_048_576.0,
        ));
    }
    out
}
