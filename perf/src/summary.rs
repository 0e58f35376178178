//! The one-line JSON summary `dwcp-dataplane migrate` prints last on stdout.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Per-frame latency percentiles, µs (enqueue to acknowledged-written).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub frames: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// The source's summary (the fields this tool uses; unknown keys are ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceSummary {
    pub verified: bool,
    pub total_ms: u64,
    pub setup_ms: Option<u64>,
    pub transfer_ms: Option<u64>,
    pub downtime_ms: Option<u64>,
    pub rounds: u32,
    pub memory_bytes: u64,
    pub bytes_on_wire: u64,
    pub pages_sent: u64,
    pub throughput_mbps: f64,
    pub streams: u16,
    pub encrypted: bool,
    pub latency_us: Option<Latency>,
    pub error: Option<String>,
}

impl SourceSummary {
    /// Parses the last non-empty line of `stdout`.
    pub fn from_stdout(stdout: &str) -> Result<Self> {
        let Some(line) = stdout.lines().rev().map(str::trim).find(|l| !l.is_empty()) else {
            bail!("no summary line on stdout");
        };
        serde_json::from_str(line).with_context(|| format!("summary is not JSON: {line:.200}"))
    }

    /// The reason this run does not count, if any.
    pub fn problem(&self) -> Option<String> {
        if let Some(error) = &self.error {
            return Some(error.clone());
        }
        if !self.verified {
            return Some("destination did not verify the image".into());
        }
        if self.transfer_ms.is_none() {
            return Some("summary has no transfer_ms".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"role":"source","verified":true,"total_ms":1500,"setup_ms":400,"transfer_ms":1100,"downtime_ms":3,"rounds":2,"memory_bytes":1073741824,"bytes_on_wire":1075000000,"pages_sent":262144,"throughput_mbps":5733.3,"streams":4,"encrypted":true,"switchover_reason":"fits_budget","reconnects":0,"digest":"ab","latency_us":{"frames":4096,"p50":800,"p90":1200,"p99":2000,"p999":3000,"max":4000},"error":null}"#;

    #[test]
    fn parses_last_line() {
        let stdout = format!("some log\n{LINE}\n\n");
        let s = SourceSummary::from_stdout(&stdout).expect("valid");
        assert!(s.verified);
        assert_eq!(s.transfer_ms, Some(1100));
        assert_eq!(s.setup_ms, Some(400));
        assert_eq!(s.memory_bytes, 1 << 30);
        assert_eq!(s.streams, 4);
        assert_eq!(s.latency_us.map(|l| l.p999), Some(3000));
        assert_eq!(s.problem(), None);
    }

    #[test]
    fn failures_are_reported() {
        let s = SourceSummary::from_stdout(
            r#"{"verified":false,"total_ms":5,"transfer_ms":null,"error":"connect refused"}"#,
        )
        .expect("valid");
        assert_eq!(s.problem().as_deref(), Some("connect refused"));
        let s = SourceSummary::from_stdout(r#"{"verified":false}"#).expect("valid");
        assert!(s.problem().is_some());
        assert!(SourceSummary::from_stdout("").is_err());
        assert!(SourceSummary::from_stdout("not json").is_err());
    }
}
