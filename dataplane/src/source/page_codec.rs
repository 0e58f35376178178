//! The source's page codec: one encoder per stream, the level controller,
//! and the per-kind accounting the summary reports.
//!
//! # Design
//!
//! With the codec on, every page is pinned to one stream
//! ([`stream_pages`]: contiguous ranges). A stream's encoder only sees its
//! own pages, and its frames reach the destination's decoder in order, so
//! duplicate and delta references (which name the destination's current
//! content) always name content that stream wrote or the baseline held, and
//! never race with another stream. The engine visits the ranges
//! interleaved (one scan window of each in turn) so that every stream has
//! work at once.
//!
//! The zstd level follows the [`LevelController`]: the engine reports the
//! time it spent blocked on the transport (full queues, no free buffer, the
//! pacer); little blocking means the encoder is the bottleneck and the level
//! steps down, down to no zstd at all, so compression never makes the
//! migration slower than sending raw; much blocking means the link is, and
//! it steps back up to the link tier's strongest level. On that bottom rung
//! ([`PageCodec::bottom_rung`]) the engine sends pages raw, outside the
//! encoders, with the one copy of `--codec off`.

use crate::error::MigrationError;
use crate::live::LiveTier;
use crate::progress::Progress;
use crate::summary::CodecSummary;
use dwcp_codec::{BatchReport, Encoder, EncoderConfig, EncodingKind, PAGE_SIZE};
use dwcp_dataplane_core::level_control::{Level, LevelControlConfig, LevelController, LinkTier};
use dwcp_shared::limits::stream_pages;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What the operator chose for the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecSettings {
    /// Selects the ladder of zstd levels the controller moves on.
    pub tier: LinkTier,
    /// A fixed zstd level (0: none) instead of the controller.
    pub fixed_level: Option<i32>,
    /// Delta cache pages, split evenly over the streams.
    pub delta_cache_pages: usize,
}

/// The per-stream encoders and their controller.
pub struct PageCodec {
    encoders: Vec<Encoder>,
    ranges: Vec<Range<u64>>,
    pages_per_stream: u64,
    control: LevelController,
    totals: BatchReport,
    encode_time: Duration,
    batches: u64,
}

impl std::fmt::Debug for PageCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCodec")
            .field("streams", &self.encoders.len())
            .field("level", &self.control.level())
            .finish_non_exhaustive()
    }
}

fn zstd_level(level: Level) -> i32 {
    level.unwrap_or(0)
}

impl PageCodec {
    /// Encoders for `page_count` pages over `streams` streams; allocates and
    /// commits the delta caches (part of the migration's set-up time).
    pub fn new(
        settings: CodecSettings,
        page_count: u64,
        streams: u16,
        now: Instant,
    ) -> Result<Self, MigrationError> {
        let control = match settings.fixed_level {
            Some(level) => LevelController::fixed((level != 0).then_some(level)),
            None => LevelController::new(settings.tier, LevelControlConfig::DEFAULTS, now),
        };
        let ranges: Vec<Range<u64>> = (0..streams)
            .map(|s| stream_pages(page_count, streams, s))
            .collect();
        let per_stream_cache = settings.delta_cache_pages / usize::from(streams);
        let encoders = ranges
            .iter()
            .map(|range| {
                let pages = range.end - range.start;
                let config = EncoderConfig {
                    zstd_level: zstd_level(control.level()),
                    delta_cache_pages: per_stream_cache,
                    dup_index_entries: usize::try_from(pages).unwrap_or(usize::MAX),
                };
                Encoder::new(config, pages)
                    .map_err(|e| MigrationError::Failed(format!("page codec set-up: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            encoders,
            pages_per_stream: page_count.div_ceil(u64::from(streams)),
            ranges,
            control,
            totals: BatchReport::default(),
            encode_time: Duration::ZERO,
            batches: 0,
        })
    }

    /// Each stream's page range.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// The stream that carries page `index`.
    pub fn stream_of(&self, index: u64) -> usize {
        usize::try_from(index / self.pages_per_stream).expect("below the stream count")
    }

    /// Stream `stream`'s encoder and the index of `page` in its range.
    pub fn encoder(&mut self, stream: usize, page: u64) -> (&mut Encoder, u64) {
        let local = page - self.ranges[stream].start;
        (&mut self.encoders[stream], local)
    }

    /// True on the bottom rung (no zstd): pages then go raw, outside the
    /// encoders (see the engine).
    pub fn bottom_rung(&self) -> bool {
        self.control.level().is_none()
    }

    /// Streams with pages waiting in an open batch.
    pub fn open_streams(&self) -> impl Iterator<Item = usize> + '_ {
        self.encoders
            .iter()
            .enumerate()
            .filter(|(_, e)| e.batch_pages() > 0)
            .map(|(s, _)| s)
    }

    /// Adds time spent in the codec (pushes and finishes).
    pub fn add_encode_time(&mut self, spent: Duration) {
        self.encode_time += spent;
    }

    /// Records a finished batch, the time the engine was blocked since the
    /// last one and the guest bytes left in the round; applies a level
    /// change to every encoder.
    pub fn batch_done(
        &mut self,
        report: &BatchReport,
        now: Instant,
        blocked: Duration,
        remaining_bytes: u64,
    ) {
        self.totals.add(report);
        self.batches += 1;
        self.control.set_remaining(remaining_bytes);
        let progressed = report.pages_by_kind.iter().sum::<u64>() * PAGE_SIZE as u64;
        if let Some(level) = self.control.observe(now, blocked, progressed) {
            tracing::info!(level = ?level, "page codec level changed");
            for encoder in &mut self.encoders {
                encoder
                    .set_level(zstd_level(level))
                    .expect("ladder levels are valid zstd levels");
            }
        }
    }

    /// Moves to `tier`'s ladder (at its starting rung), or to no zstd for
    /// [`LiveTier::Off`]; replaces a fixed level.
    pub fn set_tier(&mut self, tier: LiveTier, now: Instant) {
        self.control = match tier {
            LiveTier::Datacenter => {
                LevelController::new(LinkTier::Datacenter, LevelControlConfig::DEFAULTS, now)
            }
            LiveTier::Internet => {
                LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, now)
            }
            LiveTier::Off => LevelController::fixed(None),
        };
        let level = zstd_level(self.control.level());
        for encoder in &mut self.encoders {
            encoder
                .set_level(level)
                .expect("ladder levels are valid zstd levels");
        }
    }

    /// Publishes the per-kind totals and the level for the supervisor.
    pub fn publish(&self, progress: &Progress) {
        for kind in EncodingKind::ALL {
            let slot = kind.slot();
            progress.pages_by_kind[slot].store(self.totals.pages_by_kind[slot], Ordering::Relaxed);
            progress.bytes_by_kind[slot].store(self.totals.bytes_by_kind[slot], Ordering::Relaxed);
        }
        progress.codec_level.store(
            zstd_level(self.control.level()).to_le_bytes()[0],
            Ordering::Relaxed,
        );
    }

    /// The figures for the migration summary.
    pub fn summary(&self) -> CodecSummary {
        let per_kind = |values: &[u64; 5]| {
            EncodingKind::ALL
                .iter()
                .map(|k| (k.name(), values[k.slot()]))
                .collect()
        };
        CodecSummary {
            pages_by_kind: per_kind(&self.totals.pages_by_kind),
            bytes_by_kind: per_kind(&self.totals.bytes_by_kind),
            control_bytes: self.totals.control_bytes,
            encoded_bytes: self.totals.len as u64,
            batches: self.batches,
            encode_cpu_ms: crate::millis(self.encode_time),
            level_final: zstd_level(self.control.level()),
            steps_down: self.control.steps_down(),
            steps_up: self.control.steps_up(),
        }
    }
}
