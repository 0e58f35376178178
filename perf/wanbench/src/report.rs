//! What one profile's run produced, and how it is shown: a markdown
//! section, and one JSON line.

use crate::row::{Row, Status};
use crate::targets::Target;
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Bytes in a MiB, for the table.
const MIB: f64 = 1_048_576.0;

/// One profile's results.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileResult {
    /// Profile name.
    pub profile: String,
    /// The emulator's ready line (of the first link of this profile).
    pub link: Option<Value>,
    /// Emulated A to B rate, bit/s (after any scaling).
    pub link_rate_bps: u64,
    /// Round-trip propagation delay, ms.
    pub rtt_ms: f64,
    /// Random loss A to B.
    pub loss: f64,
    /// Rate scale the emulator applied.
    pub scale: f64,
    /// Guests, described.
    pub guests: Vec<(String, String)>,
    /// The rows.
    pub rows: Vec<Row>,
    /// The targets.
    pub targets: Vec<Target>,
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.decimals$}"))
}

fn status_text(row: &Row) -> &'static str {
    match row.status {
        Status::Ok => "yes",
        Status::Error => "**ERROR**",
        Status::Skipped => "SKIPPED",
    }
}

/// Markdown cell text: pipes escaped, newlines as spaces.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

impl ProfileResult {
    /// The heading line's link description.
    pub fn link_text(&self) -> String {
        format!(
            "{:.1} Mbit/s, RTT {:.1} ms, loss {:.2} % (as emulated; rate scale {:.2})",
            self.link_rate_bps as f64 / 1e6,
            self.rtt_ms,
            self.loss * 100.0,
            self.scale
        )
    }

    /// The markdown section: heading, guests, table, targets.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### {}: {}\n", self.profile, self.link_text());
        for (guest, description) in &self.guests {
            let _ = writeln!(out, "- `{guest}`: {description}");
        }
        out.push('\n');
        out.push_str("| guest | contender | settings | time (s) | wire A→B (MiB) | goodput (of link) | downtime (ms) | verified | notes |\n");
        out.push_str("|---|---|---|---:|---:|---:|---:|---|---|\n");
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.guest.name(),
                row.contender.name(),
                cell(&row.settings),
                opt(row.time_s, 1),
                opt(row.wire_bytes.map(|b| b as f64 / MIB), 1),
                opt(row.goodput_fraction, 3),
                row.downtime_ms
                    .map_or_else(|| "–".into(), |d| d.to_string()),
                status_text(row),
                cell(&row.note),
            );
        }
        out.push('\n');
        out.push_str(
            "| target | DWCP streams | measured | bound | verdict |\n|---|---|---:|---:|---|\n",
        );
        for t in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {}{} | {} | {} {:.2} | **{}** |",
                cell(t.description),
                t.dwcp_streams.as_deref().unwrap_or("–"),
                if t.primary { "" } else { " (reference)" },
                opt(t.measured, 3),
                t.comparison,
                t.threshold,
                t.verdict.as_str()
            );
        }
        out
    }

    /// The one JSON line of this profile.
    pub fn json_line(&self) -> Value {
        let contenders: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let settings = row.dwcp.as_ref().map(|d| &d.settings);
                let streams = row
                    .dwcp
                    .as_ref()
                    .and_then(|d| d.source.as_ref().map(|s| s.streams));
                json!({
                    "guest": row.guest.name(),
                    "contender": row.contender.name(),
                    "dwcp_streams": row.variant,
                    "status": row.status,
                    "time_s": row.time_s,
                    "wire_bytes": row.wire_bytes,
                    "goodput_fraction": row.goodput_fraction,
                    "verified": row.verified,
                    "downtime_ms": row.downtime_ms,
                    "streams": streams,
                    "link_tier": settings.map(|s| s.link_tier),
                })
            })
            .collect();
        let image_bytes = self.rows.iter().map(|r| r.image_bytes).max().unwrap_or(0);
        json!({
            "profile": self.profile,
            "link_rate_bps": self.link_rate_bps,
            "rtt_ms": self.rtt_ms,
            "loss": self.loss,
            "scale": self.scale,
            "image_bytes": image_bytes,
            "contenders": contenders,
            "targets": self.targets,
        })
    }

    /// True when every row that ran was verified, and no target missed.
    pub fn all_good(&self) -> bool {
        self.rows.iter().all(|r| r.status != Status::Error)
            && self.targets.iter().filter(|t| t.primary).all(|t| {
                !matches!(
                    t.verdict,
                    crate::targets::Verdict::Miss | crate::targets::Verdict::Error
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::GuestKind;
    use crate::peers::Contender;

    fn result() -> ProfileResult {
        let rows = vec![
            Row::empty(
                GuestKind::Incompressible,
                Contender::Tcp,
                1 << 30,
                Status::Skipped,
                "".into(),
            )
            .measured(86.0, 200_000_000),
            Row::error(
                GuestKind::Incompressible,
                Contender::Rsync,
                1 << 30,
                "a|b\nc".into(),
            ),
            Row::empty(
                GuestKind::Snapshots,
                Contender::Dwcp,
                1 << 30,
                Status::Skipped,
                "data absent".into(),
            ),
        ];
        let targets = crate::targets::evaluate("internet", &rows);
        ProfileResult {
            profile: "internet".into(),
            link: None,
            link_rate_bps: 200_000_000,
            rtt_ms: 100.0,
            loss: 0.005,
            scale: 1.0,
            guests: vec![("incompressible".into(), "random".into())],
            rows,
            targets,
        }
    }

    #[test]
    fn markdown_has_one_line_per_row_and_target() {
        let md = result().markdown();
        assert!(
            md.starts_with("### internet: 200.0 Mbit/s, RTT 100.0 ms, loss 0.50 %"),
            "{md}"
        );
        assert!(
            md.contains("| incompressible | tcp | 1 stream | 86.0 | – | 0.499 | – | yes |"),
            "{md}"
        );
        assert!(md.contains("| **ERROR** | a\\|b c |"), "{md}");
        assert!(md.contains("zstd -1 -T0 \\| TCP"), "{md}");
        assert!(md.contains("| SKIPPED | data absent |"), "{md}");
        assert_eq!(md.matches("| **SKIPPED** |").count(), 3, "{md}");
        assert_eq!(md.matches("| **ERROR** |").count(), 1, "{md}");
    }

    #[test]
    fn json_line_has_the_contract_fields() {
        let line = result().json_line();
        assert_eq!(line["profile"], "internet");
        assert_eq!(line["link_rate_bps"], 200_000_000);
        let first = &line["contenders"][0];
        for key in [
            "guest",
            "contender",
            "time_s",
            "wire_bytes",
            "goodput_fraction",
            "verified",
            "downtime_ms",
        ] {
            assert!(first.get(key).is_some(), "{key} missing in {first}");
        }
        assert_eq!(first["verified"], true);
        assert_eq!(line["contenders"][1]["status"], "error");
        assert_eq!(line["targets"].as_array().map(Vec::len), Some(3));
        assert_eq!(line["targets"][0]["verdict"], "SKIPPED");
        let text = serde_json::to_string(&line).expect("json");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn errors_make_the_run_not_all_good() {
        assert!(!result().all_good());
        let mut fine = result();
        fine.rows.retain(|r| r.status != Status::Error);
        fine.targets.clear();
        assert!(fine.all_good());
        let mut reference_miss = fine.clone();
        reference_miss.targets = crate::targets::evaluate("internet", &[]);
        for t in &mut reference_miss.targets {
            t.verdict = crate::targets::Verdict::Miss;
            t.primary = false;
        }
        assert!(reference_miss.all_good(), "only the primary set counts");
    }
}
