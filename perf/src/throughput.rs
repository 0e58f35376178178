//! Throughput: DWCP (mode × streams) against a plain-TCP copy of the same
//! bytes, interleaved run by run.

use crate::bench::Bench;
use crate::dwcp_run::{Mode, Outcome, Spec};
use crate::stats;
use crate::tcp_peer::{self, PeerRun};
use anyhow::Result;
use serde::Serialize;

/// Target ratio to single-stream plain TCP: aead ≥ 0.8, plain ≥ 0.9.
pub fn target(mode: Mode) -> f64 {
    match mode {
        Mode::Aead => 0.8,
        Mode::Plain => 0.9,
    }
}

/// PASS / MISS / ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Median ratio reaches the target, every run succeeded.
    Pass,
    /// Median ratio below the target.
    Miss,
    /// A run failed, or there is no ratio to judge.
    Error,
}

impl Verdict {
    /// Judges a configuration.
    pub fn judge(ratio: Option<f64>, target: f64, runs_ok: usize, runs: usize) -> Self {
        match ratio {
            _ if runs_ok < runs => Verdict::Error,
            None => Verdict::Error,
            Some(r) if stats::meets(r, target) => Verdict::Pass,
            Some(_) => Verdict::Miss,
        }
    }

    /// Upper-case label.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Error => "ERROR",
        }
    }
}

/// One plain-TCP copy.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRecord {
    pub run: usize,
    pub result: Option<PeerRun>,
    pub error: Option<String>,
}

/// One migration in the throughput test.
#[derive(Debug, Clone, Serialize)]
pub struct DwcpRecord {
    pub run: usize,
    /// memory_bytes / transfer_ms, GB/s.
    pub transfer_gbps: Option<f64>,
    /// memory_bytes / total_ms, GB/s.
    pub end_to_end_gbps: Option<f64>,
    /// transfer_gbps over the same run's plain-TCP GB/s.
    pub ratio_vs_tcp_same_run: Option<f64>,
    pub outcome: Outcome,
}

/// Results of one mode × streams.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigResult {
    pub mode: Mode,
    pub streams: u16,
    pub target_ratio: f64,
    pub runs_ok: usize,
    /// Median memory_bytes / transfer_ms, GB/s.
    pub transfer_gbps: Option<f64>,
    /// Median memory_bytes / total_ms, GB/s.
    pub end_to_end_gbps: Option<f64>,
    /// Median setup_ms.
    pub setup_ms: Option<f64>,
    /// Median transfer_gbps over median plain-TCP GB/s.
    pub ratio_vs_tcp: Option<f64>,
    pub verdict: Verdict,
    pub runs: Vec<DwcpRecord>,
}

/// The throughput section of the report.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputSection {
    pub size_bytes: u64,
    pub runs: usize,
    /// Median plain-TCP (std::net, 1 stream) GB/s.
    pub tcp_gbps: Option<f64>,
    pub tcp_runs: Vec<PeerRecord>,
    pub configs: Vec<ConfigResult>,
}

impl ThroughputSection {
    /// True if every configuration passed.
    pub fn all_pass(&self) -> bool {
        self.configs.iter().all(|c| c.verdict == Verdict::Pass)
    }
}

/// Runs `runs` rounds of: plain-TCP copy, then every mode × streams.
pub fn run(
    bench: &Bench,
    runs: usize,
    modes: &[Mode],
    streams: &[u16],
) -> Result<ThroughputSection> {
    let specs: Vec<(Mode, u16)> = modes
        .iter()
        .flat_map(|&m| streams.iter().map(move |&s| (m, s)))
        .collect();
    let mut tcp_runs = Vec::new();
    let mut records: Vec<Vec<DwcpRecord>> = vec![Vec::new(); specs.len()];
    let size = bench.memory.size();

    for run in 1..=runs {
        let peer = tcp_peer::copy(bench.memory.bytes());
        crate::interrupt::check()?;
        let peer_gbps = peer.as_ref().ok().map(|p| p.tcp_gbps);
        let mut line = match &peer {
            Ok(p) => format!("run {run}/{runs}: tcp {:.3} GB/s", p.tcp_gbps),
            Err(e) => format!("run {run}/{runs}: tcp ERROR {e:#}"),
        };
        tcp_runs.push(match peer {
            Ok(result) => PeerRecord {
                run,
                result: Some(result),
                error: None,
            },
            Err(e) => PeerRecord {
                run,
                result: None,
                error: Some(format!("{e:#}")),
            },
        });

        for (i, &(mode, streams)) in specs.iter().enumerate() {
            let outcome = bench.runner.run(
                bench.memory.path(),
                Spec {
                    mode,
                    streams,
                    rate_limit_mbps: None,
                },
            )?;
            let record = record(run, outcome, peer_gbps);
            line += &match (&record.outcome.error, record.transfer_gbps) {
                (None, Some(g)) => format!("; {}x{} {g:.3}", mode.name(), streams),
                (e, _) => format!(
                    "; {}x{} ERROR {}",
                    mode.name(),
                    streams,
                    e.as_deref().unwrap_or("?")
                ),
            };
            records[i].push(record);
        }
        eprintln!("dwcp-perf: {line}");
    }

    let tcp_values: Vec<f64> = tcp_runs
        .iter()
        .filter_map(|r| r.result.as_ref().map(|p| p.tcp_gbps))
        .collect();
    let tcp_gbps = stats::median(&tcp_values);
    let configs = specs
        .iter()
        .zip(records)
        .map(|(&(mode, streams), runs)| summarize(mode, streams, tcp_gbps, runs))
        .collect();
    Ok(ThroughputSection {
        size_bytes: size,
        runs,
        tcp_gbps,
        tcp_runs,
        configs,
    })
}

/// Rates of one migration.
fn record(run: usize, outcome: Outcome, peer_gbps: Option<f64>) -> DwcpRecord {
    let ok = outcome.error.is_none();
    let summary = outcome.summary.as_ref().filter(|_| ok);
    let transfer_gbps = summary.and_then(|s| {
        s.transfer_ms
            .and_then(|ms| stats::gbps(s.memory_bytes, ms as f64))
    });
    let end_to_end_gbps = summary.and_then(|s| stats::gbps(s.memory_bytes, s.total_ms as f64));
    let ratio_vs_tcp_same_run = transfer_gbps
        .zip(peer_gbps)
        .and_then(|(d, t)| stats::ratio(d, t));
    DwcpRecord {
        run,
        transfer_gbps,
        end_to_end_gbps,
        ratio_vs_tcp_same_run,
        outcome,
    }
}

/// Medians and verdict of one configuration.
pub fn summarize(
    mode: Mode,
    streams: u16,
    tcp_gbps: Option<f64>,
    runs: Vec<DwcpRecord>,
) -> ConfigResult {
    let ok: Vec<&DwcpRecord> = runs.iter().filter(|r| r.transfer_gbps.is_some()).collect();
    let transfer: Vec<f64> = ok.iter().filter_map(|r| r.transfer_gbps).collect();
    let end_to_end: Vec<f64> = ok.iter().filter_map(|r| r.end_to_end_gbps).collect();
    let setup: Vec<u64> = ok
        .iter()
        .filter_map(|r| r.outcome.summary.as_ref().and_then(|s| s.setup_ms))
        .collect();
    let transfer_gbps = stats::median(&transfer);
    let ratio_vs_tcp = transfer_gbps
        .zip(tcp_gbps)
        .and_then(|(d, t)| stats::ratio(d, t));
    let target_ratio = target(mode);
    ConfigResult {
        mode,
        streams,
        target_ratio,
        runs_ok: ok.len(),
        transfer_gbps,
        end_to_end_gbps: stats::median(&end_to_end),
        setup_ms: stats::median_u64(&setup),
        ratio_vs_tcp,
        verdict: Verdict::judge(ratio_vs_tcp, target_ratio, ok.len(), runs.len()),
        runs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::SourceSummary;

    fn ok_run(run: usize, transfer_ms: u64) -> DwcpRecord {
        let summary = SourceSummary {
            verified: true,
            total_ms: transfer_ms + 500,
            setup_ms: Some(500),
            transfer_ms: Some(transfer_ms),
            memory_bytes: 1_000_000_000,
            ..SourceSummary::default()
        };
        record(
            run,
            Outcome {
                summary: Some(summary),
                error: None,
                wall_ms: 0.0,
            },
            Some(2.0),
        )
    }

    #[test]
    fn verdicts() {
        assert_eq!(Verdict::judge(Some(0.85), 0.8, 3, 3), Verdict::Pass);
        assert_eq!(Verdict::judge(Some(0.85), 0.9, 3, 3), Verdict::Miss);
        assert_eq!(Verdict::judge(Some(0.95), 0.9, 2, 3), Verdict::Error);
        assert_eq!(Verdict::judge(None, 0.9, 0, 0), Verdict::Error);
    }

    #[test]
    fn summarize_medians_and_ratio() {
        // 1 GB in 1000/500/800 ms -> 1.0/2.0/1.25 GB/s, median 1.25; TCP 2.0 -> 0.625.
        let runs = vec![ok_run(1, 1000), ok_run(2, 500), ok_run(3, 800)];
        assert_eq!(runs[1].ratio_vs_tcp_same_run, Some(1.0));
        let c = summarize(Mode::Aead, 1, Some(2.0), runs);
        assert_eq!(c.transfer_gbps, Some(1.25));
        assert_eq!(c.ratio_vs_tcp, Some(0.625));
        assert_eq!(c.setup_ms, Some(500.0));
        assert_eq!(c.end_to_end_gbps, Some(1e9 / 1.3e9));
        assert_eq!(c.verdict, Verdict::Miss);
    }

    #[test]
    fn failed_run_is_an_error() {
        let failed = record(
            2,
            Outcome {
                summary: None,
                error: Some("boom".into()),
                wall_ms: 0.0,
            },
            Some(2.0),
        );
        assert_eq!(failed.transfer_gbps, None);
        let c = summarize(Mode::Plain, 4, Some(1.0), vec![ok_run(1, 500), failed]);
        assert_eq!(c.runs_ok, 1);
        assert_eq!(c.verdict, Verdict::Error);
    }
}
