//! One scenario (a load on a path): its migrations, each with a stage log,
//! merged into one histogram per stage.

use super::hlog::{self, NamedHistograms, Percentiles};
use crate::bench::Bench;
use crate::dwcp_run::{Placement, Spec};
use crate::stats;
use crate::summary::SourceSummary;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The stages `dwcp-dataplane migrate --stage-log` writes, in page-path
/// order (dataplane/core/src/page_stages.rs).
pub const STAGES: [&str; 6] = [
    "scan",
    "encode",
    "ring_wait",
    "send",
    "acknowledged",
    "total",
];

/// How a scenario or section went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every run succeeded.
    Ok,
    /// A run failed (its histograms are left out).
    Error,
    /// Not run; `reason` says why.
    Skipped,
}

impl Status {
    /// Upper-case label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Error => "ERROR",
            Status::Skipped => "SKIPPED",
        }
    }
}

/// One migration of a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// 1-based.
    pub run: usize,
    /// `--rate-limit-mbps` given (None: unpaced).
    pub rate_limit_mbps: Option<u64>,
    /// bytes_on_wire / transfer_ms, Mbit/s.
    pub achieved_mbps: Option<u64>,
    /// Frames in its `total` histogram.
    pub frames: Option<u64>,
    /// Why it does not count, if it does not.
    pub error: Option<String>,
    /// Receiver start to both processes gone, ms.
    pub wall_ms: f64,
    /// CPU time the hypervisor stole from this machine meanwhile, ms, all
    /// CPUs together (`steal` of /proc/stat; `None` where there is none).
    pub steal_ms: Option<u64>,
    /// The receiver's and the source's command lines.
    pub commands: Vec<String>,
    /// The source's JSON summary.
    pub summary: Option<SourceSummary>,
}

/// A scenario's runs and merged histograms.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// `loopback-50`, `loopback-100`, `wan-<profile>`.
    pub name: String,
    /// What load on what path.
    pub description: String,
    pub status: Status,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// Median `--rate-limit-mbps` of the successful runs.
    pub rate_limit_mbps: Option<f64>,
    /// Median achieved rate of the successful runs, Mbit/s.
    pub achieved_mbps: Option<f64>,
    pub runs_ok: usize,
    /// Percentiles of each stage over every frame of the successful runs, µs.
    pub stages: BTreeMap<String, Percentiles>,
    /// Stage names in page-path order.
    pub stage_order: Vec<String>,
    /// Its interval log, relative to the output folder.
    pub hlog: Option<String>,
    /// Its plot, relative to the output folder.
    pub plot: Option<String>,
    pub runs: Vec<RunRecord>,
    /// Merged histograms of the successful runs.
    #[serde(skip)]
    pub histograms: NamedHistograms,
}

impl Scenario {
    /// Not run yet.
    pub fn new(name: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            status: Status::Ok,
            reason: None,
            rate_limit_mbps: None,
            achieved_mbps: None,
            runs_ok: 0,
            stages: BTreeMap::new(),
            stage_order: Vec::new(),
            hlog: None,
            plot: None,
            runs: Vec::new(),
            histograms: NamedHistograms::new(),
        }
    }

    /// Will not run, because of `reason`.
    pub fn skipped(name: &str, description: &str, reason: &str) -> Self {
        let mut s = Self::new(name, description);
        s.status = Status::Skipped;
        s.reason = Some(reason.to_owned());
        s
    }

    /// Adds one run: its histograms when it succeeded.
    pub fn add(&mut self, mut record: RunRecord, histograms: Option<NamedHistograms>) {
        if record.error.is_none() {
            match histograms {
                Some(h) => {
                    if let Err(e) = self.histograms.merge(&h) {
                        record.error = Some(format!("{e:#}"));
                    }
                }
                None => record.error = Some("no stage histograms".into()),
            }
        }
        self.runs.push(record);
    }

    /// Marks the scenario failed for a reason outside its runs.
    pub fn fail(&mut self, reason: String) {
        self.status = Status::Error;
        self.reason = Some(reason);
    }

    /// Medians, percentiles and the status, once every run was added.
    pub fn finish(&mut self) {
        if self.status == Status::Skipped {
            return;
        }
        let ok: Vec<&RunRecord> = self.runs.iter().filter(|r| r.error.is_none()).collect();
        self.runs_ok = ok.len();
        let rates: Vec<u64> = ok.iter().filter_map(|r| r.rate_limit_mbps).collect();
        let achieved: Vec<u64> = ok.iter().filter_map(|r| r.achieved_mbps).collect();
        self.rate_limit_mbps = stats::median_u64(&rates);
        self.achieved_mbps = stats::median_u64(&achieved);
        self.stage_order = self.histograms.names();
        self.stages = self
            .histograms
            .iter()
            .map(|(name, h)| (name.to_owned(), Percentiles::of(h)))
            .collect();
        if self.runs_ok < self.runs.len() || self.runs.is_empty() {
            self.status = Status::Error;
            if self.reason.is_none() {
                self.reason = Some(format!(
                    "{} of {} runs failed",
                    self.runs.len() - self.runs_ok,
                    self.runs.len()
                ));
            }
        }
    }
}

/// Runs one migration of `bench`'s memory per `spec` with a stage log at
/// `log`, and reads the log back.
pub fn measure(
    bench: &Bench,
    run: usize,
    spec: Spec,
    placement: &Placement,
    log: &Path,
) -> Result<(RunRecord, Option<NamedHistograms>)> {
    let mut placement = placement.clone();
    placement.stage_log = Some(log.to_path_buf());
    let steal_before = super::steal::steal_ms_now();
    let (outcome, commands) = bench
        .runner
        .run_placed(bench.memory.path(), spec, &placement)?;
    let steal_ms = steal_before
        .zip(super::steal::steal_ms_now())
        .map(|(before, after)| after.saturating_sub(before));
    let mut error = outcome.error.clone();
    let summary = outcome.summary.clone();
    let achieved_mbps = summary.as_ref().filter(|_| error.is_none()).and_then(|s| {
        s.transfer_ms
            .and_then(|ms| stats::mbit_per_s(s.bytes_on_wire, ms))
    });
    let mut histograms = None;
    if error.is_none() {
        match hlog::read(log) {
            Ok(h) => {
                let missing: Vec<&str> = STAGES
                    .iter()
                    .copied()
                    .filter(|s| h.get(s).is_none())
                    .collect();
                if missing.is_empty() {
                    histograms = Some(h);
                } else {
                    error = Some(format!("the stage log lacks {missing:?}"));
                }
            }
            Err(e) => error = Some(format!("{e:#}")),
        }
    }
    let _ = std::fs::remove_file(log);
    let frames = histograms
        .as_ref()
        .and_then(|h: &NamedHistograms| h.get("total"))
        .map(hdrhistogram::Histogram::len);
    Ok((
        RunRecord {
            run,
            rate_limit_mbps: spec.rate_limit_mbps,
            achieved_mbps,
            frames,
            error,
            wall_ms: outcome.wall_ms,
            steal_ms,
            commands,
            summary,
        },
        histograms,
    ))
}

/// A one-line account of a run for stderr.
pub fn describe(record: &RunRecord) -> String {
    match &record.error {
        None => format!(
            "{} frames at {} Mbit/s, p99 {} us, hypervisor steal {} ms",
            record.frames.unwrap_or(0),
            record
                .achieved_mbps
                .map_or_else(|| "?".into(), |r| r.to_string()),
            record
                .summary
                .as_ref()
                .and_then(|s| s.latency_us.as_ref())
                .map_or_else(|| "?".into(), |l| l.p99.to_string()),
            record
                .steal_ms
                .map_or_else(|| "?".into(), |ms| ms.to_string())
        ),
        Some(e) => format!("ERROR {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(run: usize, error: Option<&str>, rate: u64) -> RunRecord {
        RunRecord {
            run,
            rate_limit_mbps: Some(rate),
            achieved_mbps: Some(rate - 10),
            frames: Some(10),
            error: error.map(str::to_owned),
            wall_ms: 1.0,
            steal_ms: Some(0),
            commands: Vec::new(),
            summary: None,
        }
    }

    fn histograms(us: u64) -> NamedHistograms {
        let mut h = NamedHistograms::new();
        for stage in STAGES {
            hlog::record(h.entry(stage), Duration::from_micros(us));
        }
        h
    }

    #[test]
    fn failed_runs_are_left_out_and_mark_the_scenario() {
        let mut s = Scenario::new("loopback-50", "x");
        s.add(record(1, None, 100), Some(histograms(10)));
        s.add(record(2, Some("boom"), 300), Some(histograms(99_999)));
        s.add(record(3, None, 200), Some(histograms(30)));
        s.finish();
        assert_eq!(s.status, Status::Error);
        assert_eq!(s.runs_ok, 2);
        assert_eq!(s.stages["total"].count, 2);
        assert_eq!(s.stages["total"].max, 30);
        assert_eq!(s.rate_limit_mbps, Some(150.0));
        assert_eq!(s.stage_order, STAGES);
    }

    #[test]
    fn all_ok_and_missing_histograms() {
        let mut s = Scenario::new("a", "x");
        s.add(record(1, None, 100), Some(histograms(10)));
        s.finish();
        assert_eq!(s.status, Status::Ok);
        let mut s = Scenario::new("b", "x");
        s.add(record(1, None, 100), None);
        s.finish();
        assert_eq!(s.status, Status::Error);
        let mut s = Scenario::new("c", "x");
        s.finish();
        assert_eq!(s.status, Status::Error, "no run at all is not a success");
        let mut s = Scenario::skipped("d", "x", "why");
        s.finish();
        assert_eq!(s.status, Status::Skipped);
    }
}
