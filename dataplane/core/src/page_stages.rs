//! Latency of each stage of the source's page path, as HdrHistograms.
//!
//! # Design
//! A frame's life on the source: the engine **scans** a window of pages for
//! changes, **encodes** the changed ones into a frame, queues it; the frame
//! **waits in the ring** until the transport takes it, is **sent** (its last
//! byte written to the socket), and is **acknowledged** when the destination
//! says it wrote it. Each stage has a histogram in µs:
//!
//! | stage | unit recorded | from → to |
//! |---|---|---|
//! | `scan` | one scan window ([`crate::scan`], pre-copy rounds after the first) | hashing starts → ends |
//! | `encode` | one frame | the engine's time building it (codec: encoding its pages and sealing the batch; raw: copying the pages in) |
//! | `ring_wait` | one frame | queued by the engine → taken by the transport |
//! | `send` | one frame | taken → last byte written (includes waiting behind the stream's earlier frames) |
//! | `acknowledged` | one frame | last byte written → the destination's ack releasing it |
//! | `total` | one frame | queued → acknowledged (`ring_wait + send + acknowledged`) |
//!
//! Each thread owns the histograms it records into (engine: scan, encode;
//! transport: the rest), preallocated, so recording never allocates or
//! locks; the source merges them when the threads end. Values are clamped
//! to `1..=`[`STAGE_US_MAX`] (3 significant digits).

use hdrhistogram::Histogram;
use std::time::Duration;

/// Largest value a stage histogram resolves, µs (10 minutes; larger saturate).
pub const STAGE_US_MAX: u64 = 600_000_000;
/// Significant figures kept.
pub const STAGE_SIGFIGS: u8 = 3;

/// A stage of the source's page path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Hashing a window of pages for changes.
    Scan,
    /// Building one frame.
    Encode,
    /// Queued by the engine until the transport takes the frame.
    RingWait,
    /// Taken until its last byte is written.
    Send,
    /// Written until acknowledged.
    Acknowledged,
    /// Queued until acknowledged.
    Total,
}

impl Stage {
    /// Every stage, in page-path order.
    pub const ALL: [Stage; 6] = [
        Stage::Scan,
        Stage::Encode,
        Stage::RingWait,
        Stage::Send,
        Stage::Acknowledged,
        Stage::Total,
    ];

    /// The stage's name in summaries, logs and file names.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Scan => "scan",
            Stage::Encode => "encode",
            Stage::RingWait => "ring_wait",
            Stage::Send => "send",
            Stage::Acknowledged => "acknowledged",
            Stage::Total => "total",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One histogram per [`Stage`], µs.
#[derive(Debug, Clone)]
pub struct PageStages {
    histograms: Vec<Histogram<u64>>,
}

impl Default for PageStages {
    fn default() -> Self {
        Self::new()
    }
}

impl PageStages {
    /// Empty histograms (allocated here, never while recording).
    pub fn new() -> Self {
        Self {
            histograms: Stage::ALL
                .iter()
                .map(|_| {
                    Histogram::new_with_bounds(1, STAGE_US_MAX, STAGE_SIGFIGS)
                        .expect("static, valid histogram bounds")
                })
                .collect(),
        }
    }

    /// Records one `stage` of `elapsed`.
    pub fn record(&mut self, stage: Stage, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.histograms[stage.index()].saturating_record(us.clamp(1, STAGE_US_MAX));
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &PageStages) {
        for (mine, theirs) in self.histograms.iter_mut().zip(&other.histograms) {
            mine.add(theirs)
                .expect("same bounds: the histograms are built alike");
        }
    }

    /// The histogram of `stage`.
    pub fn histogram(&self, stage: Stage) -> &Histogram<u64> {
        &self.histograms[stage.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_stage_and_merges() {
        let mut engine = PageStages::new();
        let mut transport = PageStages::new();
        engine.record(Stage::Scan, Duration::from_micros(150));
        engine.record(Stage::Scan, Duration::from_nanos(10)); // below 1 µs counts as 1
        transport.record(Stage::Send, Duration::from_millis(2));
        transport.record(Stage::Total, Duration::from_secs(3600)); // saturates
        engine.merge(&transport);
        assert_eq!(engine.histogram(Stage::Scan).len(), 2);
        assert_eq!(engine.histogram(Stage::Scan).min(), 1);
        assert_eq!(engine.histogram(Stage::Send).len(), 1);
        assert!(engine.histogram(Stage::Send).max() >= 1999);
        assert!(engine.histogram(Stage::Total).max() >= STAGE_US_MAX - STAGE_US_MAX / 1000);
        assert_eq!(engine.histogram(Stage::Encode).len(), 0);
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
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
