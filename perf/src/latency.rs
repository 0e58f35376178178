//! Page-path latency (enqueue to acknowledged-written, from the source's
//! HdrHistogram) at 100% load (unpaced) and 50% load (paced at half the
//! unpaced run's wire rate).

use crate::bench::Bench;
use crate::dwcp_run::{Mode, Outcome, Spec};
use crate::stats;
use crate::summary::Latency;
use anyhow::Result;
use serde::Serialize;

/// One migration in the latency test.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRecord {
    pub run: usize,
    /// `--rate-limit-mbps` given (None = unpaced).
    pub rate_limit_mbps: Option<u64>,
    /// bytes_on_wire / transfer_ms, Mbit/s.
    pub achieved_mbps: Option<u64>,
    pub latency_us: Option<Latency>,
    pub outcome: Outcome,
}

/// Medians over runs of each percentile, µs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyMedians {
    pub frames: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencyMedians {
    /// Per-field medians; `None` if `samples` is empty.
    pub fn of(samples: &[Latency]) -> Option<Self> {
        let field =
            |f: fn(&Latency) -> u64| stats::median_u64(&samples.iter().map(f).collect::<Vec<_>>());
        Some(Self {
            frames: field(|l| l.frames)?,
            p50: field(|l| l.p50)?,
            p90: field(|l| l.p90)?,
            p99: field(|l| l.p99)?,
            p999: field(|l| l.p999)?,
            max: field(|l| l.max)?,
        })
    }
}

/// One streams × load level.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyLevel {
    pub streams: u16,
    /// 100 (unpaced) or 50 (paced at half the unpaced wire rate).
    pub load_pct: u32,
    pub runs_ok: usize,
    pub rate_limit_mbps: Option<f64>,
    pub achieved_mbps: Option<f64>,
    pub latency_us: Option<LatencyMedians>,
    pub runs: Vec<LatencyRecord>,
}

/// The latency section of the report.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySection {
    pub size_bytes: u64,
    pub runs: usize,
    pub mode: Mode,
    pub levels: Vec<LatencyLevel>,
}

impl LatencySection {
    /// True if every run of every level succeeded.
    pub fn all_ok(&self) -> bool {
        self.levels
            .iter()
            .all(|l| l.runs_ok == l.runs.len() && l.latency_us.is_some())
    }
}

/// Half of the unpaced wire rate, Mbit/s (at least 1).
pub fn half_rate(full_mbps: u64) -> u64 {
    (full_mbps / 2).max(1)
}

/// For each streams count and run: unpaced, then paced at half its rate.
pub fn run(bench: &Bench, runs: usize, mode: Mode, streams: &[u16]) -> Result<LatencySection> {
    let mut levels = Vec::new();
    for &s in streams {
        let mut full = Vec::new();
        let mut half = Vec::new();
        for run in 1..=runs {
            let unpaced = measure(
                bench,
                run,
                Spec {
                    mode,
                    streams: s,
                    rate_limit_mbps: None,
                },
            )?;
            let paced = match unpaced.achieved_mbps {
                Some(rate) => Some(measure(
                    bench,
                    run,
                    Spec {
                        mode,
                        streams: s,
                        rate_limit_mbps: Some(half_rate(rate)),
                    },
                )?),
                None => None,
            };
            eprintln!(
                "dwcp-perf: latency run {run}/{runs} {}x{s}: 100% {}; 50% {}",
                mode.name(),
                describe(&unpaced),
                paced
                    .as_ref()
                    .map_or_else(|| "skipped (unpaced run failed)".into(), describe)
            );
            full.push(unpaced);
            half.push(paced.unwrap_or(LatencyRecord {
                run,
                rate_limit_mbps: None,
                achieved_mbps: None,
                latency_us: None,
                outcome: Outcome {
                    summary: None,
                    error: Some("skipped: the unpaced run failed".into()),
                    wall_ms: 0.0,
                },
            }));
        }
        levels.push(summarize(s, 100, full));
        levels.push(summarize(s, 50, half));
    }
    Ok(LatencySection {
        size_bytes: bench.memory.size(),
        runs,
        mode,
        levels,
    })
}

fn describe(r: &LatencyRecord) -> String {
    match (&r.outcome.error, r.latency_us) {
        (None, Some(l)) => format!(
            "{} Mbit/s p50 {} p99 {} max {} us",
            r.achieved_mbps.unwrap_or(0),
            l.p50,
            l.p99,
            l.max
        ),
        (e, _) => format!("ERROR {}", e.as_deref().unwrap_or("no latency in summary")),
    }
}

fn measure(bench: &Bench, run: usize, spec: Spec) -> Result<LatencyRecord> {
    let outcome = bench.runner.run(bench.memory.path(), spec)?;
    let ok = outcome.error.is_none();
    let summary = outcome.summary.as_ref().filter(|_| ok);
    let achieved_mbps = summary.and_then(|s| {
        s.transfer_ms
            .and_then(|ms| stats::mbit_per_s(s.bytes_on_wire, ms))
    });
    let latency_us = summary.and_then(|s| s.latency_us);
    Ok(LatencyRecord {
        run,
        rate_limit_mbps: spec.rate_limit_mbps,
        achieved_mbps,
        latency_us,
        outcome,
    })
}

/// Medians of one level.
pub fn summarize(streams: u16, load_pct: u32, runs: Vec<LatencyRecord>) -> LatencyLevel {
    let ok: Vec<&LatencyRecord> = runs
        .iter()
        .filter(|r| r.outcome.error.is_none() && r.latency_us.is_some())
        .collect();
    let samples: Vec<Latency> = ok.iter().filter_map(|r| r.latency_us).collect();
    let rates: Vec<u64> = ok.iter().filter_map(|r| r.rate_limit_mbps).collect();
    let achieved: Vec<u64> = ok.iter().filter_map(|r| r.achieved_mbps).collect();
    LatencyLevel {
        streams,
        load_pct,
        runs_ok: ok.len(),
        rate_limit_mbps: stats::median_u64(&rates),
        achieved_mbps: stats::median_u64(&achieved),
        latency_us: LatencyMedians::of(&samples),
        runs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lat(p50: u64) -> Latency {
        Latency {
            frames: 100,
            p50,
            p90: p50 * 2,
            p99: p50 * 3,
            p999: p50 * 4,
            max: p50 * 5,
        }
    }

    fn rec(run: usize, p50: u64, rate: Option<u64>) -> LatencyRecord {
        LatencyRecord {
            run,
            rate_limit_mbps: rate,
            achieved_mbps: Some(1000),
            latency_us: Some(lat(p50)),
            outcome: Outcome {
                summary: None,
                error: None,
                wall_ms: 0.0,
            },
        }
    }

    #[test]
    fn half_rate_never_zero() {
        assert_eq!(half_rate(8000), 4000);
        assert_eq!(half_rate(1), 1);
        assert_eq!(half_rate(0), 1);
    }

    #[test]
    fn medians_per_percentile() {
        let level = summarize(
            1,
            50,
            vec![
                rec(1, 10, Some(400)),
                rec(2, 30, Some(500)),
                rec(3, 20, Some(600)),
            ],
        );
        let m = level.latency_us.expect("three runs");
        assert_eq!(m.p50, 20.0);
        assert_eq!(m.p999, 80.0);
        assert_eq!(m.max, 100.0);
        assert_eq!(level.rate_limit_mbps, Some(500.0));
        assert_eq!(level.runs_ok, 3);
        assert!(LatencyMedians::of(&[]).is_none());
    }
}
