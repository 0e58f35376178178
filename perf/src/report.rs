//! The report: JSON (every raw run) and a markdown table, written with a
//! timestamped name and as `latest.json` / `latest.md`.

use crate::latency::LatencySection;
use crate::throughput::{ThroughputSection, Verdict};
use anyhow::{Context, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where and when the numbers were taken.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub tool: &'static str,
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub started_utc: String,
    pub command_line: String,
    pub cpus: usize,
    pub kernel: String,
    /// /proc/loadavg at start and end (a loaded machine gives noisy numbers).
    pub loadavg_start: String,
    pub loadavg_end: String,
    pub size_bytes: u64,
    pub seed: u64,
    pub child_timeout_s: u64,
    /// Core pinning of the loopback pair.
    pub pinning: String,
}

impl Meta {
    /// Collects what can be read cheaply.
    pub fn collect(size_bytes: u64, seed: u64, child_timeout_s: u64, pinning: String) -> Self {
        Self {
            tool: "dwcp-perf",
            started_utc: utc_timestamp(unix_now()),
            command_line: std::env::args().collect::<Vec<_>>().join(" "),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            loadavg_start: loadavg(),
            loadavg_end: String::new(),
            size_bytes,
            seed,
            child_timeout_s,
            pinning,
        }
    }
}

/// Everything one invocation measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub meta: Meta,
    pub throughput: Option<ThroughputSection>,
    pub latency: Option<LatencySection>,
}

impl Report {
    /// True if every target passed and every run succeeded.
    pub fn ok(&self) -> bool {
        self.throughput
            .as_ref()
            .is_none_or(ThroughputSection::all_pass)
            && self.latency.as_ref().is_none_or(LatencySection::all_ok)
    }

    /// Markdown tables.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.meta;
        let _ = writeln!(md, "# dwcp-perf results, {}\n", m.started_utc);
        let _ = writeln!(
            md,
            "`{}` — {} CPUs, kernel {}, memory {} bytes, loadavg {} → {}, pinning {}\n",
            m.command_line,
            m.cpus,
            m.kernel,
            m.size_bytes,
            m.loadavg_start,
            m.loadavg_end,
            m.pinning
        );
        if let Some(t) = &self.throughput {
            md += &throughput_markdown(t);
        }
        if let Some(l) = &self.latency {
            md += &latency_markdown(l);
        }
        md
    }

    /// Writes `<prefix>-<timestamp>.json|.md` and `latest.json|.md` into `dir`.
    pub fn write(&self, dir: &Path, prefix: &str) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let stamp = self.meta.started_utc.replace([':', '-'], "");
        let json = serde_json::to_string_pretty(self)? + "\n";
        let md = self.markdown();
        let mut written = Vec::new();
        for (name, text) in [
            (format!("{prefix}-{stamp}.json"), &json),
            (format!("{prefix}-{stamp}.md"), &md),
            ("latest.json".to_string(), &json),
            ("latest.md".to_string(), &md),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{v:.decimals$}"))
}

/// The throughput table.
pub fn throughput_markdown(t: &ThroughputSection) -> String {
    let mut md = String::new();
    let tcp_runs: Vec<String> = t
        .tcp_runs
        .iter()
        .map(|r| {
            r.result
                .as_ref()
                .map_or_else(|| "ERROR".into(), |p| format!("{:.3}", p.tcp_gbps))
        })
        .collect();
    let _ = writeln!(
        md,
        "## Throughput ({} bytes, {} runs, medians)\n",
        t.size_bytes, t.runs
    );
    let _ = writeln!(
        md,
        "Plain TCP (std::net, 1 stream, loopback): **{} GB/s** (runs: {})\n",
        opt(t.tcp_gbps, 3),
        tcp_runs.join(", ")
    );
    md += "| mode | streams | transfer_gbps | end_to_end_gbps | setup_ms | ratio_vs_tcp | target | verdict | runs ok |\n";
    md += "|---|---:|---:|---:|---:|---:|---:|---|---:|\n";
    for c in &t.configs {
        let verdict = match c.verdict {
            Verdict::Pass => c.verdict.label().to_string(),
            Verdict::Miss | Verdict::Error => format!("**{}**", c.verdict.label()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | ≥ {:.2} | {} | {}/{} |",
            c.mode.name(),
            c.streams,
            opt(c.transfer_gbps, 3),
            opt(c.end_to_end_gbps, 3),
            opt(c.setup_ms, 0),
            opt(c.ratio_vs_tcp, 3),
            c.target_ratio,
            verdict,
            c.runs_ok,
            c.runs.len()
        );
    }
    md += "\ntransfer_gbps = memory_bytes / transfer_ms (setup excluded); end_to_end_gbps = memory_bytes / total_ms; \
           ratio_vs_tcp = median transfer_gbps / median plain-TCP GB/s; GB = 10^9 bytes.\n";
    let errors: Vec<String> = t
        .configs
        .iter()
        .flat_map(|c| {
            c.runs.iter().filter_map(move |r| {
                r.outcome
                    .error
                    .as_ref()
                    .map(|e| format!("- {} × {} run {}: {e}", c.mode.name(), c.streams, r.run))
            })
        })
        .chain(t.tcp_runs.iter().filter_map(|r| {
            r.error
                .as_ref()
                .map(|e| format!("- tcp run {}: {e}", r.run))
        }))
        .collect();
    if !errors.is_empty() {
        md += "\nErrors:\n\n";
        md += &errors.join("\n");
        md += "\n";
    }
    md += "\n";
    md
}

/// The latency table.
pub fn latency_markdown(l: &LatencySection) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Page-path latency, {} ({} bytes, {} runs, medians of per-run percentiles, µs)\n",
        l.mode.name(),
        l.size_bytes,
        l.runs
    );
    md += "| streams | load | rate_limit_mbps | achieved_mbps | frames | p50_us | p90_us | p99_us | p999_us | max_us | runs ok |\n";
    md += "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for level in &l.levels {
        let p = level.latency_us;
        let rate = if level.load_pct == 100 {
            "unpaced".into()
        } else {
            opt(level.rate_limit_mbps, 0)
        };
        let _ = writeln!(
            md,
            "| {} | {}% | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
            level.streams,
            level.load_pct,
            rate,
            opt(level.achieved_mbps, 0),
            opt(p.map(|p| p.frames), 0),
            opt(p.map(|p| p.p50), 0),
            opt(p.map(|p| p.p90), 0),
            opt(p.map(|p| p.p99), 0),
            opt(p.map(|p| p.p999), 0),
            opt(p.map(|p| p.max), 0),
            level.runs_ok,
            level.runs.len()
        );
    }
    md += "\nLatency = per frame, sealed frame enqueued to a stream → destination acknowledged it written to guest memory. \
           100% = unpaced; 50% = --rate-limit-mbps at half the unpaced run's bytes_on_wire / transfer_ms.\n";
    let errors: Vec<String> = l
        .levels
        .iter()
        .flat_map(|level| {
            level.runs.iter().filter_map(move |r| {
                r.outcome.error.as_ref().map(|e| {
                    format!(
                        "- {} streams {}% run {}: {e}",
                        level.streams, level.load_pct, r.run
                    )
                })
            })
        })
        .collect();
    if !errors.is_empty() {
        md += "\nErrors:\n\n";
        md += &errors.join("\n");
        md += "\n";
    }
    md += "\n";
    md
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The contents of a small text file, trimmed; empty if unreadable.
pub fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The first three fields of /proc/loadavg.
pub fn loadavg() -> String {
    read_trimmed("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (proleptic Gregorian, UTC).
pub fn utc_timestamp(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dwcp_run::{Mode, Outcome};
    use crate::latency::{self, LatencyRecord};
    use crate::summary::{Latency, SourceSummary};
    use crate::tcp_peer::PeerRun;
    use crate::throughput::{self, DwcpRecord, PeerRecord};

    #[test]
    fn timestamps() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_735_689_599), "2024-12-31T23:59:59Z");
    }

    fn meta() -> Meta {
        Meta {
            tool: "dwcp-perf",
            started_utc: "2025-01-02T03:04:05Z".into(),
            command_line: "dwcp-perf all".into(),
            cpus: 2,
            kernel: "6.1".into(),
            loadavg_start: "1.00 1.00 1.00".into(),
            loadavg_end: "2.00 1.00 1.00".into(),
            size_bytes: 1 << 30,
            seed: 1,
            child_timeout_s: 120,
            pinning: "split".into(),
        }
    }

    fn dwcp(run: usize, transfer_ms: u64, error: Option<&str>) -> DwcpRecord {
        let summary = SourceSummary {
            verified: error.is_none(),
            total_ms: transfer_ms + 100,
            setup_ms: Some(100),
            transfer_ms: Some(transfer_ms),
            memory_bytes: 2_000_000_000,
            ..SourceSummary::default()
        };
        let outcome = Outcome {
            summary: Some(summary),
            error: error.map(String::from),
            wall_ms: 1.0,
        };
        let transfer_gbps = error.is_none().then(|| 2e9 / (transfer_ms as f64 * 1e6));
        DwcpRecord {
            run,
            transfer_gbps,
            end_to_end_gbps: transfer_gbps,
            ratio_vs_tcp_same_run: None,
            outcome,
        }
    }

    #[test]
    fn markdown_shows_pass_miss_and_errors() {
        let peer = PeerRun {
            bytes: 1,
            elapsed_ms: 1.0,
            tcp_gbps: 2.0,
        };
        let section = ThroughputSection {
            size_bytes: 2_000_000_000,
            runs: 1,
            tcp_gbps: Some(2.0),
            tcp_runs: vec![PeerRecord {
                run: 1,
                result: Some(peer),
                error: None,
            }],
            configs: vec![
                throughput::summarize(Mode::Aead, 1, Some(2.0), vec![dwcp(1, 1000, None)]), // 2.0 GB/s: 1.0
                throughput::summarize(Mode::Plain, 4, Some(2.0), vec![dwcp(1, 2000, None)]), // 1.0: 0.5
                throughput::summarize(
                    Mode::Plain,
                    1,
                    Some(2.0),
                    vec![dwcp(1, 1000, Some("timeout"))],
                ),
            ],
        };
        let report = Report {
            meta: meta(),
            throughput: Some(section),
            latency: None,
        };
        assert!(!report.ok());
        let md = report.markdown();
        assert!(md.contains("**2.000 GB/s**"), "{md}");
        assert!(
            md.contains("| aead | 1 | 2.000 | 2.000 | 100 | 1.000 | ≥ 0.80 | PASS | 1/1 |"),
            "{md}"
        );
        assert!(
            md.contains("| plain | 4 | 1.000 | 1.000 | 100 | 0.500 | ≥ 0.90 | **MISS** | 1/1 |"),
            "{md}"
        );
        assert!(
            md.contains("| plain | 1 | — | — | — | — | ≥ 0.90 | **ERROR** | 0/1 |"),
            "{md}"
        );
        assert!(md.contains("- plain × 1 run 1: timeout"), "{md}");
    }

    #[test]
    fn markdown_latency_rows() {
        let l = Latency {
            frames: 4096,
            p50: 100,
            p90: 200,
            p99: 300,
            p999: 400,
            max: 500,
        };
        let rec = |rate| LatencyRecord {
            run: 1,
            rate_limit_mbps: rate,
            achieved_mbps: Some(8000),
            latency_us: Some(l),
            outcome: Outcome {
                summary: None,
                error: None,
                wall_ms: 1.0,
            },
        };
        let section = LatencySection {
            size_bytes: 1,
            runs: 1,
            mode: Mode::Aead,
            levels: vec![
                latency::summarize(1, 100, vec![rec(None)]),
                latency::summarize(1, 50, vec![rec(Some(4000))]),
            ],
        };
        let md = latency_markdown(&section);
        assert!(
            md.contains("| 1 | 100% | unpaced | 8000 | 4096 | 100 | 200 | 300 | 400 | 500 | 1/1 |"),
            "{md}"
        );
        assert!(md.contains("| 1 | 50% | 4000 | 8000 |"), "{md}");
        assert!(section.all_ok());
    }

    #[test]
    fn writes_timestamped_and_latest() {
        let dir = crate::scratch::TempDir::new().expect("temp dir");
        let report = Report {
            meta: meta(),
            throughput: None,
            latency: None,
        };
        let paths = report.write(dir.path(), "throughput").expect("write");
        let names: Vec<String> = paths
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(String::from))
            .collect();
        assert_eq!(
            names,
            [
                "throughput-20250102T030405Z.json",
                "throughput-20250102T030405Z.md",
                "latest.json",
                "latest.md"
            ]
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&paths[2]).expect("read")).expect("json");
        assert_eq!(json["meta"]["cpus"], 2);
    }
}
