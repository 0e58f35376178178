//! summary.json and the printed tables of `dwcp-perf stages`.

use super::api::ApiMigration;
use super::hlog::Percentiles;
use super::rtt::RttStats;
use super::scenario::{Scenario, Status};
use crate::report::{loadavg, read_trimmed};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The target's fixed part: p99 of `total` at 50% load on loopback must be
/// at most this many µs plus one RTT.
pub const TARGET_BUDGET_US: u64 = 200;
/// The scenario the target is judged on.
pub const TARGET_SCENARIO: &str = "loopback-50";
/// The stage the target is judged on.
pub const TARGET_STAGE: &str = "total";

/// Facts about the machine.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub cores: usize,
    /// CPUs online.
    pub cpus_online: String,
    pub cpu_model: String,
    pub kernel: String,
    pub memory_total: String,
    pub loadavg_start: String,
    pub loadavg_end: String,
    /// Core pinning of the loopback pair.
    pub pinning: String,
}

impl Machine {
    /// Reads /proc and /sys.
    pub fn collect(pinning: String) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpus_online: read_trimmed("/sys/devices/system/cpu/online"),
            cpu_model: field(&cpuinfo, "model name"),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            memory_total: field(&meminfo, "MemTotal"),
            loadavg_start: loadavg(),
            loadavg_end: String::new(),
            pinning,
        }
    }
}

/// The value of the first `key: value` line.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// PASS, MISS or ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Miss,
    /// Not judged: no data (a run failed or the RTT is unknown).
    Error,
}

impl Verdict {
    /// Upper-case label.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Error => "ERROR",
        }
    }
}

/// The target and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub description: String,
    pub scenario: &'static str,
    pub stage: &'static str,
    /// Measured p99, µs.
    pub p99_us: Option<u64>,
    /// RTT of the same path (ping-pong p50), µs.
    pub rtt_us: Option<f64>,
    pub budget_us: u64,
    /// budget_us + rtt_us.
    pub limit_us: Option<f64>,
    pub verdict: Verdict,
}

impl Target {
    /// Judges `p99_us` (None: no data) against the budget plus `rtt_us`.
    pub fn judge(p99_us: Option<u64>, rtt_us: Option<f64>) -> Self {
        let limit_us = rtt_us.map(|rtt| TARGET_BUDGET_US as f64 + rtt);
        let verdict = match (p99_us, limit_us) {
            (Some(p99), Some(limit)) if p99 as f64 <= limit => Verdict::Pass,
            (Some(_), Some(_)) => Verdict::Miss,
            _ => Verdict::Error,
        };
        Self {
            description: format!(
                "data-plane page path on loopback at 50% load: p99 of stage `{TARGET_STAGE}` (enqueue to acknowledged) <= {TARGET_BUDGET_US} us + one RTT"
            ),
            scenario: TARGET_SCENARIO,
            stage: TARGET_STAGE,
            p99_us,
            rtt_us,
            budget_us: TARGET_BUDGET_US,
            limit_us,
            verdict,
        }
    }
}

/// RTTs measured in this run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rtts {
    pub loopback: Option<RttStats>,
    /// Over the emulated link, A to B.
    pub wan: Option<RttStats>,
    /// The link profile's configured round-trip propagation delay.
    pub wan_configured_us: Option<u64>,
    /// Why a measurement failed.
    pub errors: Vec<String>,
}

/// The API-call part.
#[derive(Debug, Clone, Serialize)]
pub struct ApiSection {
    pub status: Status,
    pub reason: Option<String>,
    /// Percentiles per call kind, µs.
    pub calls: BTreeMap<String, Percentiles>,
    pub errors: Vec<String>,
    pub migrations: Vec<ApiMigration>,
    pub hlog: Option<String>,
    pub plot: Option<String>,
    pub commands: Vec<String>,
}

impl ApiSection {
    /// Not run.
    pub fn skipped(reason: &str) -> Self {
        Self {
            status: Status::Skipped,
            reason: Some(reason.to_owned()),
            calls: BTreeMap::new(),
            errors: Vec::new(),
            migrations: Vec::new(),
            hlog: None,
            plot: None,
            commands: Vec::new(),
        }
    }
}

/// The flamegraph part.
#[derive(Debug, Clone, Serialize)]
pub struct Flamegraph {
    /// `written`, `skipped` or `failed`.
    pub status: &'static str,
    pub file: Option<String>,
    pub reason: Option<String>,
    pub commands: Vec<String>,
}

/// Settings of the invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub size_bytes: u64,
    pub runs: usize,
    pub mode: &'static str,
    pub streams: u16,
    pub wan_profile: String,
    pub api_calls: u32,
    pub api_migrations: u32,
    pub api_memory_bytes: u64,
    pub seed: u64,
    pub child_timeout_s: u64,
}

/// Everything summary.json holds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub tool: &'static str,
    pub started_utc: String,
    pub finished_utc: String,
    pub command_line: String,
    pub out_dir: String,
    pub machine: Machine,
    pub settings: Settings,
    pub rtt: Rtts,
    pub target: Target,
    pub scenarios: Vec<Scenario>,
    pub api: ApiSection,
    pub flamegraph: Flamegraph,
    /// dwcp-linkem's ready line, when the WAN scenario ran.
    pub linkem: Option<serde_json::Value>,
    pub plot_font: Option<String>,
    pub files: Vec<String>,
    /// Problems that do not fail the run (printed on stderr too).
    pub warnings: Vec<String>,
    /// The exit status is 0 exactly when this is true.
    pub ok: bool,
}

impl Summary {
    /// True if the target passed, no scenario failed and the API part did not fail.
    pub fn compute_ok(&self) -> bool {
        self.target.verdict == Verdict::Pass
            && self.scenarios.iter().all(|s| s.status != Status::Error)
            && self.api.status != Status::Error
    }
}

fn percentile_row(md: &mut String, name: &str, p: &Percentiles, extra: &str) {
    let _ = writeln!(
        md,
        "| {name} | {} | {} | {} | {} | {} | {} |{extra}",
        p.count, p.p50, p.p90, p.p99, p.p999, p.max
    );
}

/// The tables printed at the end (markdown).
pub fn tables(s: &Summary) -> String {
    let mut md = String::new();
    let m = &s.machine;
    let _ = writeln!(md, "# dwcp-perf stages, {}\n", s.started_utc);
    let _ = writeln!(
        md,
        "`{}`: {} cores ({}), kernel {}, loadavg {} -> {}; {} bytes x {} runs, {}; pinning {}\n",
        s.command_line,
        m.cores,
        m.cpu_model,
        m.kernel,
        m.loadavg_start,
        m.loadavg_end,
        s.settings.size_bytes,
        s.settings.runs,
        s.settings.mode,
        m.pinning
    );
    let rtt = |r: &Option<RttStats>| {
        r.as_ref().map_or_else(
            || "not measured".into(),
            |r| {
                format!(
                    "p50 {:.1} us (min {:.1}, p99 {:.1}, {} round trips; connect {:.1} us)",
                    r.p50_us, r.min_us, r.p99_us, r.samples, r.connect_us
                )
            },
        )
    };
    let _ = writeln!(md, "RTT loopback: {}", rtt(&s.rtt.loopback));
    if s.rtt.wan.is_some() || s.rtt.wan_configured_us.is_some() {
        let _ = writeln!(
            md,
            "RTT WAN ({}): {}; configured {} us",
            s.settings.wan_profile,
            rtt(&s.rtt.wan),
            s.rtt
                .wan_configured_us
                .map_or_else(|| "?".into(), |v| v.to_string())
        );
    }
    md.push('\n');
    for scenario in &s.scenarios {
        let _ = write!(
            md,
            "## {} — {}: {}",
            scenario.name,
            scenario.description,
            scenario.status.label()
        );
        if scenario.status != Status::Skipped {
            let _ = write!(
                md,
                " ({}/{} runs ok; rate limit {}, achieved {}; hypervisor steal {} ms)",
                scenario.runs_ok,
                scenario.runs.len(),
                opt(scenario.rate_limit_mbps, "none"),
                opt(scenario.achieved_mbps, "?"),
                scenario
                    .runs
                    .iter()
                    .map(|r| r.steal_ms)
                    .sum::<Option<u64>>()
                    .map_or_else(|| "?".to_owned(), |ms| ms.to_string())
            );
        }
        if let Some(reason) = &scenario.reason {
            let _ = write!(md, " — {reason}");
        }
        md.push_str("\n\n");
        if scenario.stages.is_empty() {
            continue;
        }
        md.push_str("| stage | count | p50 | p90 | p99 | p99.9 | max |\n");
        md.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for name in &scenario.stage_order {
            if let Some(p) = scenario.stages.get(name) {
                percentile_row(&mut md, name, p, "");
            }
        }
        md.push_str("\n(µs)\n\n");
    }
    let _ = write!(md, "## control-plane API calls: {}", s.api.status.label());
    if let Some(reason) = &s.api.reason {
        let _ = write!(md, " — {reason}");
    }
    md.push_str("\n\n");
    if !s.api.calls.is_empty() {
        md.push_str("| call | count | p50 | p90 | p99 | p99.9 | max |\n");
        md.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for name in super::api::CALLS {
            if let Some(p) = s.api.calls.get(name) {
                percentile_row(&mut md, name, p, "");
            }
        }
        md.push_str("\n(µs)\n\n");
    }
    let t = &s.target;
    let _ = writeln!(
        md,
        "**Target** ({}): p99 {} us vs limit {} us ({} + RTT {}): **{}**",
        t.description,
        t.p99_us.map_or_else(|| "?".into(), |v| v.to_string()),
        t.limit_us.map_or_else(|| "?".into(), |v| format!("{v:.1}")),
        t.budget_us,
        t.rtt_us.map_or_else(|| "?".into(), |v| format!("{v:.1}")),
        t.verdict.label()
    );
    let _ = writeln!(
        md,
        "\nFlamegraph: {}{}",
        s.flamegraph.status,
        s.flamegraph
            .reason
            .as_ref()
            .map_or_else(String::new, |r| format!(" ({r})"))
    );
    md
}

fn opt(v: Option<f64>, none: &str) -> String {
    v.map_or_else(|| none.to_owned(), |v| format!("{v:.0} Mbit/s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_computed_not_assumed() {
        let t = Target::judge(Some(230), Some(31.5));
        assert_eq!(t.verdict, Verdict::Pass);
        assert_eq!(t.limit_us, Some(231.5));
        assert_eq!(Target::judge(Some(232), Some(31.5)).verdict, Verdict::Miss);
        assert_eq!(Target::judge(None, Some(31.5)).verdict, Verdict::Error);
        assert_eq!(Target::judge(Some(1), None).verdict, Verdict::Error);
    }

    #[test]
    fn reads_key_value_lines() {
        let text = "processor\t: 0\nmodel name\t: Fancy CPU @ 3GHz\nflags : a b\n";
        assert_eq!(field(text, "model name"), "Fancy CPU @ 3GHz");
        assert_eq!(field(text, "missing"), "");
    }
}
