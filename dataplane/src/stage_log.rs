//! The page path's stage histograms as an HdrHistogram interval log.
//!
//! # Format
//! The standard HdrHistogram log (readable by `HistogramLogAnalyzer`,
//! `hdrhistogram`'s `IntervalLogIterator` and every HdrHistogram port): a
//! `#[StartTime: ...]` and `#[BaseTime: ...]` header, then one interval per
//! stage covering the whole transfer, tagged with the stage's name (`scan`,
//! `encode`, `ring_wait`, `send`, `acknowledged`, `total`), each histogram
//! V2-deflate encoded. Values are microseconds (the log's max-value divisor
//! is 1, so `max` columns read in µs).

use dwcp_dataplane_core::page_stages::{PageStages, Stage};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Writes `stages` to `path` (created or truncated): one interval per
/// stage, from `started` lasting `elapsed`.
pub fn write(
    path: &Path,
    stages: &PageStages,
    started: SystemTime,
    elapsed: Duration,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("DWCP page path stage latencies, microseconds")
            .with_start_time(started)
            .with_base_time(started)
            .with_max_value_divisor(1.0)
            .begin_log_with(&mut out, &mut serializer)?;
        for stage in Stage::ALL {
            let tag = Tag::new(stage.name()).expect("stage names have no spaces or commas");
            log.write_histogram(stages.histogram(stage), Duration::ZERO, elapsed, Some(tag))
                .map_err(|e| std::io::Error::other(format!("stage {}: {e:?}", stage.name())))?;
        }
    }
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    #[test]
    fn every_stage_round_trips_through_the_log() {
        let mut stages = PageStages::new();
        for us in [5u64, 50, 500, 5000] {
            stages.record(Stage::Send, Duration::from_micros(us));
        }
        stages.record(Stage::Scan, Duration::from_micros(120));
        let dir = std::env::temp_dir().join(format!("dwcp-stage-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("stages.hlog");
        write(&path, &stages, SystemTime::now(), Duration::from_secs(2)).expect("write");
        let bytes = std::fs::read(&path).expect("read back");
        std::fs::remove_dir_all(&dir).expect("clean up");
        let mut seen = Vec::new();
        for entry in IntervalLogIterator::new(&bytes) {
            let LogEntry::Interval(interval) = entry.expect("valid log") else {
                continue;
            };
            let tag = interval.tag().expect("tagged").as_str().to_owned();
            let encoded = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                interval.encoded_histogram(),
            )
            .expect("base64");
            let histogram: hdrhistogram::Histogram<u64> = Deserializer::new()
                .deserialize(&mut encoded.as_slice())
                .expect("histogram");
            if tag == "send" {
                assert_eq!(histogram.len(), 4);
                assert!(histogram.equivalent(histogram.max(), 5000));
            }
            if tag == "scan" {
                assert_eq!(histogram.len(), 1);
            }
            assert_eq!(interval.duration(), Duration::from_secs(2));
            seen.push(tag);
        }
        assert_eq!(
            seen,
            [
                "scan",
                "encode",
                "ring_wait",
                "send",
                "acknowledged",
                "total"
            ]
        );
    }
}
