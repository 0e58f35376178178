//! The source's page codec: one encoder per stream, the level controller,
//! and the per-kind accounting the summary reports.
//!
//! # Design
//!
//! With the codec on, every page is pinned to one stream
//! ([`stream_of_page`]: stripes of 4 MiB dealt to the streams in turn). A
//! stream's encoder only sees its own pages, numbered `0..n` in guest
//! order, and its frames reach the destination's decoder in order, so
//! duplicate and delta references (which name the destination's current
//! content) always name content that stream wrote or the baseline held, and
//! never race with another stream. The engine visits the streams' pages
//! interleaved (one window of each in turn) so that every stream has work
//! at once, and the stripes spread the data over the streams evenly.
//!
//! The zstd level follows the [`LevelController`]: the engine reports the
//! time it spent blocked on the transport (full queues, no free buffer, the
//! pacer); little blocking means the encoder is the bottleneck and the level
//! steps down, down to no zstd at all, so compression never makes the
//! migration slower than sending raw; much blocking means the link is, and
//! it steps back up to the link tier's strongest level. On that bottom rung
//! ([`PageCodec::bottom_rung`]) the engine sends pages raw, outside the
//! encoders, with the one copy of `--codec off`.
//!
//! With finisher threads ([`BatchFinishers`]) a full batch is finished
//! (compressed) away from the engine: [`PageCodec::send_away`] hands the
//! stream's encoder to a finisher and [`PageCodec::collect`] takes it back.
//! While a stream's encoder is away the engine leaves that stream alone; a
//! level change reaches an away encoder when it comes back.

use crate::error::MigrationError;
use crate::live::LiveTier;
use crate::progress::Progress;
use crate::source::batch_finishers::BatchFinishers;
use crate::summary::CodecSummary;
use dwcp_codec::{
    BatchReport, CacheCommit, CodecError, Encoder, EncoderConfig, EncodingKind, PAGE_SIZE,
};
use dwcp_dataplane_core::level_control::{Level, LevelControlConfig, LevelController, LinkTier};
use dwcp_shared::limits::{
    stream_global_page, stream_local_page, stream_of_page, stream_page_count,
};
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
    /// Threads that finish (compress) batches beside the engine; 0
    /// finishes them on the engine thread.
    pub finisher_threads: usize,
    /// The link's rate, Mbit/s (`--link-mbps`), for the level controller
    /// ([`LevelController::set_link_rate`]).
    pub link_mbps: u64,
    /// The path's round trip, for the level controller
    /// ([`LevelController::set_round_trip`]).
    pub round_trip: Duration,
}

/// A batch a finisher thread wrote, its encoder already back home.
#[derive(Debug)]
pub struct CollectedBatch {
    /// The stream whose batch it is.
    pub stream: usize,
    /// What `finish` reported, or why it failed.
    pub result: Result<BatchReport, CodecError>,
    /// Time the finish took on its thread.
    pub spent: Duration,
}

/// The per-stream encoders and their controller.
pub struct PageCodec {
    /// Per stream; `None` while a finisher has it.
    encoders: Vec<Option<Encoder>>,
    finishers: Option<BatchFinishers>,
    /// Per stream: its pages in its own numbering, `0..count`.
    local_ranges: Vec<Range<u64>>,
    streams: u16,
    control: LevelController,
    /// What the operator chose (to restart the controller).
    settings: CodecSettings,
    /// Internet tier: a backlog in the stream's queue counts as
    /// back-pressure (see [`PageCodec::batch_done`]).
    backlog_is_pressure: bool,
    /// When the last batch was reported.
    last_batch_at: Instant,
    totals: BatchReport,
    encode_time: Duration,
    batches: u64,
}

impl std::fmt::Debug for PageCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCodec")
            .field("streams", &self.encoders.len())
            .field("level", &self.control.level())
            .field("finishers", &self.finishers)
            .finish_non_exhaustive()
    }
}

/// The controller `settings` ask for, started at `now`.
fn controller(settings: CodecSettings, now: Instant) -> LevelController {
    match settings.fixed_level {
        Some(level) => LevelController::fixed((level != 0).then_some(level)),
        None => adaptive(settings, now),
    }
}

fn adaptive(settings: CodecSettings, now: Instant) -> LevelController {
    let mut control = LevelController::new(settings.tier, LevelControlConfig::DEFAULTS, now);
    control.set_link_rate(settings.link_mbps as f64 * 1e6 / 8.0);
    control.set_round_trip(settings.round_trip);
    control
}

fn zstd_level(level: Level) -> i32 {
    level.unwrap_or(0)
}

impl PageCodec {
    /// Encoders for `page_count` pages over `streams` streams; allocates the
    /// delta caches (the OS commits a slot when it is first used).
    pub fn new(
        settings: CodecSettings,
        page_count: u64,
        streams: u16,
        now: Instant,
    ) -> Result<Self, MigrationError> {
        let control = controller(settings, now);
        let local_ranges: Vec<Range<u64>> = (0..streams)
            .map(|s| 0..stream_page_count(page_count, streams, s))
            .collect();
        let per_stream_cache = settings.delta_cache_pages / usize::from(streams);
        let encoders = local_ranges
            .iter()
            .map(|range| {
                let pages = range.end - range.start;
                let config = EncoderConfig {
                    zstd_level: zstd_level(control.level()),
                    delta_cache_pages: per_stream_cache,
                    dup_index_entries: usize::try_from(pages).unwrap_or(usize::MAX),
                };
                // Set-up is on the migration's critical path and a guest's
                // zero pages never use their slots: let encoding fault in the
                // slots it uses (docs/codec.md, "Memory").
                Encoder::with_cache_commit(config, pages, CacheCommit::OnFirstUse)
                    .map(Some)
                    .map_err(|e| MigrationError::Failed(format!("page codec set-up: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        tracing::info!(
            streams,
            setup_ms = crate::millis(now.elapsed()),
            "page codec encoders ready"
        );
        let finishers = match settings.finisher_threads {
            0 => None,
            threads => Some(
                BatchFinishers::start(threads, usize::from(streams)).map_err(|cause| {
                    MigrationError::Spawn {
                        role: "batch finisher",
                        cause,
                    }
                })?,
            ),
        };
        Ok(Self {
            encoders,
            finishers,
            local_ranges,
            streams,
            control,
            settings,
            backlog_is_pressure: settings.fixed_level.is_none()
                && settings.tier == LinkTier::Internet,
            last_batch_at: now,
            totals: BatchReport::default(),
            encode_time: Duration::ZERO,
            batches: 0,
        })
    }

    /// Starts the level controller afresh at `now` (the set-up ran before
    /// the transfer), at the level the encoders were built with.
    pub fn restart_control(&mut self, now: Instant) {
        self.control = controller(self.settings, now);
        self.last_batch_at = now;
    }

    /// Each stream's pages in its own numbering (`0..count`).
    pub fn local_ranges(&self) -> &[Range<u64>] {
        &self.local_ranges
    }

    /// The guest page that is page `local` of stream `stream`.
    pub fn global_page(&self, stream: usize, local: u64) -> u64 {
        let stream = u16::try_from(stream).expect("below the stream count");
        stream_global_page(local, self.streams, stream)
    }

    /// The stream that carries page `index`.
    pub fn stream_of(&self, index: u64) -> usize {
        usize::from(stream_of_page(index, self.streams))
    }

    /// Stream `stream`'s encoder and the index of guest page `page` in the
    /// stream's numbering; the encoder must be home (see
    /// [`PageCodec::is_away`]).
    pub fn encoder(&mut self, stream: usize, page: u64) -> (&mut Encoder, u64) {
        debug_assert_eq!(
            self.stream_of(page),
            stream,
            "page {page} is not stream {stream}'s"
        );
        let local = stream_local_page(page, self.streams);
        (self.stream_encoder(stream), local)
    }

    /// Stream `stream`'s encoder, which must be home.
    pub fn stream_encoder(&mut self, stream: usize) -> &mut Encoder {
        self.encoders[stream]
            .as_mut()
            .expect("the engine waits for an away encoder before using it")
    }

    /// True while a finisher has stream `stream`'s encoder.
    pub fn is_away(&self, stream: usize) -> bool {
        self.encoders[stream].is_none()
    }

    /// True if batches are finished on finisher threads.
    pub fn has_finishers(&self) -> bool {
        self.finishers.is_some()
    }

    /// Hands stream `stream`'s encoder to a finisher to write its open batch
    /// into `out`.
    ///
    /// # Safety
    /// `out` must stay valid, and untouched by the caller, until
    /// [`PageCodec::collect`] returns this stream's batch.
    pub unsafe fn send_away(&mut self, stream: usize, out: &mut [u8]) {
        let finishers = self.finishers.as_ref().expect("finisher threads running");
        let encoder = self.encoders[stream].take().expect("the encoder is home");
        // SAFETY: the caller's contract is `submit`'s.
        unsafe { finishers.submit(stream, encoder, out) };
    }

    /// A batch a finisher is done with (waiting up to `wait`, if given, for
    /// one), its encoder checked back in at the current level.
    pub fn collect(&mut self, wait: Option<Duration>) -> Option<CollectedBatch> {
        let finishers = self.finishers.as_ref()?;
        let done = match wait {
            Some(timeout) => finishers.wait_done(timeout),
            None => finishers.try_done(),
        }?;
        let mut encoder = done.encoder;
        let level = zstd_level(self.control.level());
        if encoder.level() != level {
            encoder
                .set_level(level)
                .expect("ladder levels are valid zstd levels");
        }
        assert!(
            self.encoders[done.stream].is_none(),
            "one batch away per stream"
        );
        self.encoders[done.stream] = Some(encoder);
        Some(CollectedBatch {
            stream: done.stream,
            result: done.result,
            spent: done.spent,
        })
    }

    /// True on the bottom rung (no zstd): pages then go raw, outside the
    /// encoders (see the engine).
    pub fn bottom_rung(&self) -> bool {
        self.control.level().is_none()
    }

    /// Streams whose encoder is home with pages waiting in an open batch.
    pub fn open_streams(&self) -> impl Iterator<Item = usize> + '_ {
        self.encoders
            .iter()
            .enumerate()
            .filter(|(_, e)| e.as_ref().is_some_and(|e| e.batch_pages() > 0))
            .map(|(s, _)| s)
    }

    /// Sets every home encoder to the controller's level (away ones get it
    /// when they come back).
    fn apply_level(&mut self) {
        let level = zstd_level(self.control.level());
        for encoder in self.encoders.iter_mut().flatten() {
            encoder
                .set_level(level)
                .expect("ladder levels are valid zstd levels");
        }
    }

    /// Reports time the engine spent neither encoding nor blocked on a
    /// batch (scanning for a later round's dirty pages, or waiting between
    /// rounds for the queue to drain): the level controller leaves it out
    /// ([`LevelController::exclude`]).
    pub fn left_out(&mut self, spent: Duration) {
        self.control.exclude(spent);
    }

    /// Adds time spent in the codec (pushes and finishes).
    pub fn add_encode_time(&mut self, spent: Duration) {
        self.encode_time += spent;
    }

    /// Records a finished batch, the time the engine was blocked since the
    /// last one, the guest bytes left in the round and whether the batch's
    /// stream queue was `backlogged` (at least half full); applies a level
    /// change to every home encoder.
    ///
    /// On the internet tier a backlogged queue counts as back-pressure for
    /// the whole time since the last batch: there the queues hold seconds
    /// of link time, so the engine rarely blocks even when the link is the
    /// bottleneck, and blocked time alone walked the level down while the
    /// link was already the limit (more bytes, slower migration).
    pub fn batch_done(
        &mut self,
        report: &BatchReport,
        now: Instant,
        blocked: Duration,
        remaining_bytes: u64,
        backlogged: bool,
    ) {
        let since_last = now.saturating_duration_since(self.last_batch_at);
        self.last_batch_at = now;
        let blocked = if backlogged && self.backlog_is_pressure {
            blocked.max(since_last)
        } else {
            blocked
        };
        self.totals.add(report);
        self.batches += 1;
        self.control.set_remaining(remaining_bytes);
        // Zero pages cost nothing at any level, and they lie in long runs: a
        // window that crossed one would look fast whatever the level, and
        // make the throughput guard hold a level that is not (it held the
        // internet tier at no zstd for 10 s, sending 219 MB raw on a 25 MB/s
        // link). Progress is the non-zero guest memory encoded.
        let zero_pages = report.pages_by_kind[EncodingKind::Zero.slot()];
        let progressed = (report.pages_by_kind.iter().sum::<u64>() - zero_pages) * PAGE_SIZE as u64;
        if let Some(level) = self.control.observe(now, blocked, progressed) {
            tracing::info!(level = ?level, "page codec level changed");
            self.apply_level();
        }
    }

    /// Moves to `tier`'s ladder (at its starting rung), or to no zstd for
    /// [`LiveTier::Off`]; replaces a fixed level.
    pub fn set_tier(&mut self, tier: LiveTier, now: Instant) {
        self.backlog_is_pressure = tier == LiveTier::Internet;
        self.control = match tier {
            LiveTier::Datacenter => adaptive(
                CodecSettings {
                    tier: LinkTier::Datacenter,
                    ..self.settings
                },
                now,
            ),
            LiveTier::Internet => adaptive(
                CodecSettings {
                    tier: LinkTier::Internet,
                    ..self.settings
                },
                now,
            ),
            LiveTier::Off => LevelController::fixed(None),
        };
        self.apply_level();
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
            finisher_threads: self.finishers.as_ref().map_or(0, BatchFinishers::threads),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(10);

    fn codec(tier: LinkTier, now: Instant) -> PageCodec {
        let settings = CodecSettings {
            tier,
            fixed_level: None,
            delta_cache_pages: 0,
            finisher_threads: 0,
            link_mbps: 10_000,
            round_trip: Duration::from_micros(100),
        };
        let pages = 4 * dwcp_shared::limits::STREAM_STRIPE_PAGES;
        PageCodec::new(settings, pages, 2, now).expect("codec")
    }

    /// Steps down and up in 5 s of 64-page batches every [`TICK`], never
    /// blocked, each with its queue `backlogged` or not.
    fn steps_in_five_seconds(tier: LinkTier, backlogged: bool) -> (u64, u64) {
        let start = Instant::now();
        let mut codec = codec(tier, start);
        let mut report = BatchReport::default();
        report.pages_by_kind[EncodingKind::Zstd.slot()] = 64;
        let mut now = start;
        for _ in 0..500 {
            now += TICK;
            codec.batch_done(&report, now, Duration::ZERO, 1 << 40, backlogged);
        }
        let summary = codec.summary();
        (summary.steps_down, summary.steps_up)
    }

    #[test]
    fn a_backlogged_queue_holds_the_internet_level_and_an_empty_one_lets_it_fall() {
        assert_eq!(steps_in_five_seconds(LinkTier::Internet, true), (0, 0));
        assert!(steps_in_five_seconds(LinkTier::Internet, false).0 > 0);
    }

    #[test]
    fn zero_pages_do_not_make_a_weak_level_look_fast() {
        // Encoder-bound (never blocked) windows of non-zero pages walk the
        // internet tier down to no zstd.
        let start = Instant::now();
        let mut codec = codec(LinkTier::Internet, start);
        let mut encoded = BatchReport::default();
        encoded.pages_by_kind[EncodingKind::Zstd.slot()] = 64;
        let mut now = start;
        while codec.summary().level_final != 0 {
            assert!(now - start < Duration::from_secs(10), "never stepped down");
            now += TICK;
            codec.batch_done(&encoded, now, Duration::ZERO, 1 << 40, false);
        }
        // There the link is the limit (the queue stays backlogged) and the
        // guest is mostly zero pages: more guest bytes per second than
        // zstd -1 moved, but far fewer non-zero ones. The level must go
        // back up.
        let mut raw = BatchReport::default();
        raw.pages_by_kind[EncodingKind::Zero.slot()] = 240;
        raw.pages_by_kind[EncodingKind::Raw.slot()] = 16;
        let at_none = now;
        while codec.summary().level_final == 0 {
            assert!(
                now - at_none < Duration::from_secs(5),
                "held at no zstd on a link-bound internet tier"
            );
            now += TICK;
            codec.batch_done(&raw, now, Duration::ZERO, 1 << 40, true);
        }
        assert_eq!(codec.summary().level_final, 1);
    }

    #[test]
    fn the_datacenter_tier_goes_by_blocked_time_alone() {
        // It starts at no zstd; a backlog counted as blocked time would
        // make it step up.
        assert_eq!(steps_in_five_seconds(LinkTier::Datacenter, true), (0, 0));
    }

    #[test]
    fn pages_go_to_their_stripe_s_stream_in_the_stream_s_numbering() {
        let stripe = dwcp_shared::limits::STREAM_STRIPE_PAGES;
        let mut codec = codec(LinkTier::Datacenter, Instant::now());
        assert_eq!(codec.local_ranges(), &[0..2 * stripe, 0..2 * stripe]);
        assert!(!codec.has_finishers());
        let page = 3 * stripe + 5;
        assert_eq!(codec.stream_of(page), 1);
        assert_eq!(codec.encoder(1, page).1, stripe + 5);
        assert_eq!(codec.global_page(1, stripe + 5), page);
    }
}
