//! Named HdrHistograms and the standard HdrHistogram interval log.
//!
//! `dwcp-dataplane migrate --stage-log FILE` writes one tagged interval per
//! page-path stage (dataplane/src/stage_log.rs); this module reads such
//! logs, merges them, and writes merged ones in the same format: a
//! `#[StartTime]`/`#[BaseTime]` header, then one interval per name, tagged
//! with it, V2-deflate encoded, values in µs (max-value divisor 1).

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Largest value a histogram here resolves, µs (the data plane's
/// `STAGE_US_MAX`, 10 minutes; larger values saturate).
pub const US_MAX: u64 = 600_000_000;
/// Significant figures kept (the data plane's `STAGE_SIGFIGS`).
pub const SIGFIGS: u8 = 3;
/// Name given to an interval without a tag.
pub const UNTAGGED: &str = "untagged";

/// An empty histogram of 1..=[`US_MAX`] µs at [`SIGFIGS`].
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, US_MAX, SIGFIGS).expect("static, valid histogram bounds")
}

/// Records `elapsed` in µs, clamped to 1..=[`US_MAX`].
pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(us.clamp(1, US_MAX));
}

/// Histograms by name, in the order the names first appeared.
#[derive(Debug, Clone, Default)]
pub struct NamedHistograms {
    entries: Vec<(String, Histogram<u64>)>,
}

impl NamedHistograms {
    /// None yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The histogram called `name`, created empty if missing.
    pub fn entry(&mut self, name: &str) -> &mut Histogram<u64> {
        let index = match self.entries.iter().position(|(n, _)| n == name) {
            Some(index) => index,
            None => {
                self.entries.push((name.to_owned(), new_histogram()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[index].1
    }

    /// The histogram called `name`.
    pub fn get(&self, name: &str) -> Option<&Histogram<u64>> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, h)| h)
    }

    /// Adds every value of `other`, name by name.
    pub fn merge(&mut self, other: &NamedHistograms) -> Result<()> {
        for (name, histogram) in &other.entries {
            self.entry(name)
                .add(histogram)
                .with_context(|| format!("merging histogram {name}"))?;
        }
        Ok(())
    }

    /// Names and histograms in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Histogram<u64>)> {
        self.entries.iter().map(|(n, h)| (n.as_str(), h))
    }

    /// Names in order.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|(n, _)| n.clone()).collect()
    }

    /// True if there is no histogram.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Reads an interval log: one histogram per tag (intervals with the same
/// tag are added up).
pub fn parse(bytes: &[u8]) -> Result<NamedHistograms> {
    let mut named = NamedHistograms::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry =
            entry.map_err(|e| anyhow::anyhow!("not an HdrHistogram interval log: {e:?}"))?;
        let LogEntry::Interval(interval) = entry else {
            continue;
        };
        let name = interval.tag().map_or(UNTAGGED, |t| t.as_str()).to_owned();
        let encoded = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .with_context(|| format!("interval {name}: histogram is not base64"))?;
        let histogram: Histogram<u64> = Deserializer::new()
            .deserialize(&mut encoded.as_slice())
            .map_err(|e| anyhow::anyhow!("interval {name}: bad histogram: {e:?}"))?;
        named
            .entry(&name)
            .add(&histogram)
            .with_context(|| format!("interval {name}: values out of range"))?;
    }
    Ok(named)
}

/// Reads the interval log at `path`.
pub fn read(path: &Path) -> Result<NamedHistograms> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let named = parse(&bytes).with_context(|| format!("parsing {}", path.display()))?;
    if named.is_empty() {
        bail!("{} holds no interval", path.display());
    }
    Ok(named)
}

/// Writes `named` to `path`: one interval per name, from `started`, each
/// lasting `elapsed`, with `comment` as the first line.
pub fn write(
    path: &Path,
    named: &NamedHistograms,
    comment: &str,
    started: SystemTime,
    elapsed: Duration,
) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment(comment)
            .with_start_time(started)
            .with_base_time(started)
            .with_max_value_divisor(1.0)
            .begin_log_with(&mut out, &mut serializer)
            .with_context(|| format!("writing {}", path.display()))?;
        for (name, histogram) in named.iter() {
            let tag = Tag::new(name)
                .with_context(|| format!("{name:?} cannot be a tag (spaces or commas)"))?;
            log.write_histogram(histogram, Duration::ZERO, elapsed, Some(tag))
                .map_err(|e| anyhow::anyhow!("writing interval {name}: {e:?}"))?;
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The percentiles reported per histogram, µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    /// Read off `histogram` (all zero when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self {
                count: 0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
            };
        }
        Self {
            count: histogram.len(),
            p50: histogram.value_at_quantile(0.5),
            p90: histogram.value_at_quantile(0.9),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_keeps_names_order_and_values() {
        let mut named = NamedHistograms::new();
        for us in [10u64, 20, 30, 4000] {
            record(named.entry("send"), Duration::from_micros(us));
        }
        named.entry("scan");
        record(named.entry("total"), Duration::from_secs(3600)); // saturates
        let dir = crate::scratch::TempDir::new().expect("temp dir");
        let path = dir.path().join("x.hlog");
        write(
            &path,
            &named,
            "test",
            SystemTime::now(),
            Duration::from_secs(1),
        )
        .expect("write");
        let back = read(&path).expect("read");
        assert_eq!(back.names(), ["send", "scan", "total"]);
        let send = Percentiles::of(back.get("send").expect("send"));
        assert_eq!(send.count, 4);
        assert_eq!(send.p50, 20);
        assert!((3998..=4003).contains(&send.max), "{send:?}");
        assert_eq!(Percentiles::of(back.get("scan").expect("scan")).count, 0);
        assert!(back.get("total").expect("total").max() >= US_MAX - US_MAX / 1000);

        let mut merged = back.clone();
        merged.merge(&back).expect("merge");
        assert_eq!(merged.get("send").map(Histogram::len), Some(8));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"Tag=x,0.0,1.0,5.0,notbase64!!\n").is_err());
        let dir = crate::scratch::TempDir::new().expect("temp dir");
        let path = dir.path().join("empty.hlog");
        std::fs::write(&path, "#only a comment\n").expect("write");
        assert!(read(&path).is_err());
    }
}
