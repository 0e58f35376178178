//! The source engine: pre-copy rounds, switch-over, final round, verdict.
//!
//! # Design
//! One pinned thread. A round walks guest memory in windows of
//! [`SCAN_WINDOW_PAGES`]; in round 0 every page is sent, later rounds hash
//! each live page and send those whose hash differs from what was last
//! sent (see [`dwcp_dataplane_core::scan`]). A page to send is copied into
//! the open page batch straight from the mapping (one copy), then the copy
//! is hashed: that hash is what "sent" means. All-zero pages go as a marker.
//!
//! A full batch is sealed in its pool buffer and handed to a stream's queue
//! (round-robin over streams with room). The hot path does no allocation,
//! takes no lock and makes no syscall: buffers come from the pool, queues
//! are lock-free, the scratch list of dirty pages is preallocated, and the
//! clock is read once per window. When the pool or every queue is full the
//! engine backs off until the transport frees something.
//!
//! After each round the [`SwitchoverPolicy`] decides; on switch-over the
//! guest is paused, a last round runs, and `Final` (each stream's last seq
//! and the image digest) goes on stream 0. The migration is complete only
//! when the destination's `VerifyResult` says ok with the same digest.

use crate::error::MigrationError;
use crate::guest_memory::SourceMemory;
use crate::hooks::PauseHook;
use crate::live::LiveControl;
use crate::progress::{Phase, Progress, COMPUTE_WORKER};
use crate::source::inline::InlineTransport;
use crate::source::page_codec::{CollectedBatch, PageCodec};
use crate::source::range_schedule::RangeSchedule;
use crate::source::raw_batch::{raw_batch_report, OpenRawBatch};
use crate::summary::CodecSummary;
use dwcp_dataplane_core::backoff::IdleBackoff;
use dwcp_dataplane_core::frame_size::frame_pages;
use dwcp_dataplane_core::link::{SourceEvent, SourceLink};
use dwcp_dataplane_core::pacer::Pacer;
use dwcp_dataplane_core::page_stages::{PageStages, Stage};
use dwcp_dataplane_core::scan::{
    find_dirty, image_digest, is_zero_page, page_hash, zero_page_hash, PAGE_LEN,
};
use dwcp_dataplane_core::seal::FrameSealer;
use dwcp_dataplane_core::stream_tx::InFlight;
use dwcp_dataplane_core::switchover::{
    self, Decision, RoundReport, SwitchoverConfig, SwitchoverPolicy, SwitchoverReason,
    QUEUE_DRAIN_WAIT_MAX,
};
use dwcp_dataplane_core::throughput::ThroughputEstimator;
use dwcp_dataplane_core::worker_meter::IdleClock;
use dwcp_hugepages::BufferId;
use dwcp_shared::batch::BatchWriter;
use dwcp_shared::control::{Abort, AbortCode, Commit, Final, Goodbye, RoundEnd};
use dwcp_shared::limits::{
    ENCODED_BATCH_HEADER_LEN, FRAME_BODY_LEN_MAX, FRAME_HEADER_LEN, FRAME_TAG_LEN,
    PAGES_PER_BATCH_MAX,
};
use dwcp_shared::{FrameKind, WireError};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Pages hashed per window; the clock and the fatal flag are read once per window.
pub const SCAN_WINDOW_PAGES: usize = 1024;

// An encoded batch, after its round, fits a frame body (tag included).
const _: () = assert!(
    ENCODED_BATCH_HEADER_LEN + dwcp_codec::ENCODED_BATCH_LEN_MAX + FRAME_TAG_LEN
        <= FRAME_BODY_LEN_MAX as usize
);
const _: () = assert!(dwcp_codec::BATCH_PAYLOAD_PAGES_MAX == PAGES_PER_BATCH_MAX as usize);
// A window (of either size) in a stream's numbering is one run of guest
// pages: it starts at a multiple of its size, which divides a stripe.
const _: () =
    assert!(dwcp_shared::limits::STREAM_STRIPE_PAGES.is_multiple_of(SCAN_WINDOW_PAGES as u64));
const _: () = assert!(dwcp_shared::limits::STREAM_STRIPE_PAGES
    .is_multiple_of(dwcp_codec::BATCH_PAYLOAD_PAGES_MAX as u64));

/// Waits shorter than this yield instead of sleeping (sleeps overshoot by tens of µs).
const PACE_SLEEP_MIN: Duration = Duration::from_micros(200);

/// How long the engine waits for a finisher before it checks for failures.
const FINISH_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// With the transport on this thread ([`InlineTransport`]): how long the
/// engine waits for a finisher between the transport's passes (a finisher
/// does not wake the transport's ring).
const INLINE_FINISH_POLL_INTERVAL: Duration = Duration::from_micros(100);

/// How often a held engine looks for new live settings.
const HOLD_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// How often a wait for the queue to drain between rounds samples the
/// throughput and checks for failures (cold path: once per round).
const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How long the engine waits for its last frame (`Abort` when cancelled,
/// `Goodbye` at the end) to be written whole. An `Abort` queues behind what
/// stream 0 still had to write: up to its byte window, which a WAN link
/// drains in about a round trip or two.
const ABORT_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Engine settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// The switch-over policy's settings.
    pub switchover: SwitchoverConfig,
    /// How long to wait for the destination's verdict.
    pub verify_timeout: Duration,
    /// Test hook: flip a bit in the body of this frame (1-based count of sealed frames).
    pub tamper_frame: Option<u64>,
    /// Pace sending to this many bytes per second (frames as written, framing included).
    pub rate_limit_bytes_per_s: Option<u64>,
    /// The path's round trip as measured when stream 0 connected: the
    /// throughput estimate's window and the switch-over's verdict time.
    pub round_trip: Duration,
    /// The link's configured rate (`--link-mbps`), bytes per second: the
    /// switch-over never plans with more.
    pub link_bytes_per_s: f64,
    /// The fewest pages a raw frame is cut at (`frame_size::frame_pages`).
    pub frame_pages_min: usize,
    /// Test hook: fail after an ok verdict instead of sending `Commit`, as a
    /// source that died between the two would (the guest is resumed).
    pub skip_commit: bool,
}

/// What a successful engine run reports.
#[derive(Debug, Clone)]
pub struct EngineOutcome {
    /// Rounds run, the final one included.
    pub rounds: u32,
    /// Pages sent, markers included.
    pub pages_sent: u64,
    /// Pause to verdict.
    pub downtime: Duration,
    /// Why pre-copy stopped.
    pub switchover: SwitchoverReason,
    /// The verified image digest.
    pub digest: [u8; 16],
    /// When the verdict arrived.
    pub verified_at: Instant,
    /// From the verdict to the destination's acknowledgement of `Commit`.
    pub handover: Duration,
    /// The page codec's figures, if it was on.
    pub codec: Option<Box<CodecSummary>>,
    /// Scan and encode latencies.
    pub stages: Box<PageStages>,
}

/// A failed engine run, and whether the guest was paused when it failed.
#[derive(Debug)]
pub struct EngineFailure {
    /// Why.
    pub error: MigrationError,
    /// When the guest was paused, if it was. The caller resumes it, unless
    /// the error is [`MigrationError::HandoverInDoubt`].
    pub paused_at: Option<Instant>,
    /// Rounds started.
    pub rounds: u32,
    /// Pages sent.
    pub pages_sent: u64,
    /// The page codec's figures, if it was on.
    pub codec: Option<Box<CodecSummary>>,
}

/// What the engine shares with the thread that supervises the migration.
#[derive(Debug, Clone, Copy)]
pub struct EngineShared<'a> {
    /// Counters the engine publishes.
    pub progress: &'a Progress,
    /// Pauses and resumes the guest.
    pub hook: &'a PauseHook,
    /// Settings that may change while the engine runs.
    pub live: &'a LiveControl,
}

/// The engine; [`Engine::run`] is the thread body.
pub struct Engine<'a> {
    memory: &'a SourceMemory,
    link: &'a SourceLink,
    sealers: Vec<FrameSealer>,
    last_seq: Vec<u64>,
    sent_hashes: Vec<u64>,
    dirty: Vec<u32>,
    /// Open raw batches: one lane without the codec (frames to any stream),
    /// one per stream with it (its bottom rung; frames on that stream).
    raw_batches: Vec<Option<OpenRawBatch<'a>>>,
    progress: &'a Progress,
    hook: &'a PauseHook,
    config: EngineConfig,
    throughput: ThroughputEstimator,
    next_stream: usize,
    frames_sealed: u64,
    pages_sent: u64,
    zero_hash: u64,
    pacer: Option<Pacer>,
    /// Data extents of the current round (reused: no allocation per round once grown).
    extents: Vec<std::ops::Range<usize>>,
    /// The page codec; `None` sends raw `PageBatch` frames.
    codec: Option<PageCodec>,
    /// The round being sent.
    round: u32,
    /// Time spent waiting on the transport or the pacer since the codec last looked.
    blocked: Duration,
    /// Live settings, and the version of them last applied.
    live: &'a LiveControl,
    live_seen: u64,
    /// How many streams carry data (1 to the streams opened): the live setting.
    streams_active: usize,
    /// This thread's busy and idle time, published into `progress.workers`.
    idle_clock: IdleClock<'a>,
    /// Bytes of the frames sealed so far.
    bytes_sealed: u64,
    /// Per stream, bytes of the frames sealed for it.
    sealed_by_stream: Vec<u64>,
    /// Scan and encode latencies.
    stages: PageStages,
    /// Per stream: encoding time of the pages in its open batch (codec).
    batch_encode: Vec<Duration>,
    /// Per stream: the buffer of the batch a finisher thread is writing.
    finishing: Vec<Option<BufferId>>,
    /// Pages of the current round not yet scanned (the level controller's
    /// estimate of the work left).
    round_pages_left: u64,
    /// The transport, when this thread runs it too (one core for both).
    inline: Option<InlineTransport<'a>>,
    /// The guest is paused: a hold no longer applies (it would stretch the
    /// downtime, and past the destination's wait for `Commit` fail it).
    paused: bool,
    /// The last frame (`Abort` or `Goodbye`) is being sent: live settings
    /// no longer apply (a cancel after the hand-over, or a second one,
    /// must not drop it).
    ending: bool,
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("pages_sent", &self.pages_sent)
            .finish_non_exhaustive()
    }
}

impl<'a> Engine<'a> {
    /// An engine over `memory` sending through `link` with `sealers` (one per stream).
    pub fn new(
        memory: &'a SourceMemory,
        link: &'a SourceLink,
        sealers: Vec<FrameSealer>,
        shared: EngineShared<'a>,
        config: EngineConfig,
        codec: Option<PageCodec>,
    ) -> Self {
        let EngineShared {
            progress,
            hook,
            live,
        } = shared;
        progress.pacing_bytes_per_s.store(
            config.rate_limit_bytes_per_s.unwrap_or(0),
            Ordering::Relaxed,
        );
        progress.set_phase(Phase::PreCopy);
        assert_eq!(sealers.len(), link.tx.len(), "one sealer per stream");
        let pages = memory.page_count();
        let streams_active = sealers.len();
        progress.streams.store(
            u16::try_from(streams_active).expect("bounded by STREAMS_MAX"),
            Ordering::Relaxed,
        );
        Self {
            memory,
            link,
            last_seq: vec![0; sealers.len()],
            sealers,
            sent_hashes: vec![0; pages],
            dirty: vec![0; SCAN_WINDOW_PAGES],
            raw_batches: (0..if codec.is_some() { streams_active } else { 1 })
                .map(|_| None)
                .collect(),
            progress,
            hook,
            config,
            throughput: ThroughputEstimator::for_round_trip(config.round_trip),
            next_stream: 0,
            frames_sealed: 0,
            pages_sent: 0,
            zero_hash: zero_page_hash(),
            extents: Vec::new(),
            codec,
            round: 0,
            blocked: Duration::ZERO,
            pacer: config
                .rate_limit_bytes_per_s
                .map(|rate| Pacer::new(rate, Instant::now())),
            live,
            live_seen: 0,
            streams_active,
            idle_clock: IdleClock::start(&progress.workers[COMPUTE_WORKER], Instant::now()),
            bytes_sealed: 0,
            sealed_by_stream: vec![0; streams_active],
            stages: PageStages::new(),
            batch_encode: vec![Duration::ZERO; streams_active],
            finishing: vec![None; streams_active],
            round_pages_left: pages as u64,
            inline: None,
            paused: false,
            ending: false,
        }
    }

    /// This engine runs `transport` in its own thread
    /// ([`crate::source::inline`]): no other thread may run it.
    #[must_use]
    pub fn with_inline_transport(mut self, transport: InlineTransport<'a>) -> Self {
        self.inline = Some(transport);
        self
    }

    /// A pass of the inline transport, if there is one.
    fn pump(&mut self) {
        if let Some(inline) = self.inline.as_mut() {
            inline.pump();
        }
    }

    /// One step of a wait for `ready`, which the transport brings about:
    /// a back-off on the engine's doorbell, or with the transport inline,
    /// a pass of it and a back-off on its ring.
    fn idle_on(&mut self, backoff: &mut IdleBackoff, ready: impl FnOnce() -> bool) {
        match self.inline.as_mut() {
            Some(inline) => inline.wait_step(backoff, ready),
            None => backoff.idle_on(&self.link.engine_bell, ready),
        }
    }

    /// A wait of up to `wait` on the clock; with the transport inline, its
    /// passes run meanwhile and a completion may end the wait early (the
    /// caller checks again). A zero `wait` yields.
    fn pause_for(&mut self, wait: Duration) {
        match self.inline.as_mut() {
            Some(inline) => inline.wait(wait),
            None if wait.is_zero() => std::thread::yield_now(),
            None => std::thread::sleep(wait),
        }
    }

    /// Waits up to `wait` (the guest running) for the bytes in flight to
    /// drain to `target` drain bytes ([`RoundReport::drain_bytes`]),
    /// sampling the throughput and checking for failures every
    /// `DRAIN_POLL_INTERVAL`. The worker meter counts the wait as idle; the
    /// level controller leaves it out of its windows (a window holding up to
    /// a second of it would read as link-bound with a depressed rate, and
    /// count against the rung it was taken at).
    fn wait_for_drain(&mut self, target: u64, wait: Duration) -> Result<(), MigrationError> {
        let started = Instant::now();
        let until = started + wait;
        let drained = loop {
            let now = Instant::now();
            self.throughput
                .record(now, self.link.counters.bytes_acked.load(Ordering::Relaxed));
            if let Err(err) = self.check_fatal() {
                break Err(err);
            }
            if now >= until || self.drain_bytes() <= target {
                break Ok(());
            }
            self.pause_for(DRAIN_POLL_INTERVAL.min(until - now));
        };
        let waited = started.elapsed();
        self.idle_clock.add_idle(waited);
        if let Some(codec) = self.codec.as_mut() {
            codec.left_out(waited);
        }
        drained
    }

    /// Time blocked on the transport, the pacer or a hold: the codec's
    /// back-pressure signal, and this thread's idle time.
    fn add_blocked(&mut self, blocked: Duration) {
        self.blocked += blocked;
        self.idle_clock.add_idle(blocked);
    }

    /// Applies changed live settings; a cancellation is an error. While
    /// the settings say "held", waits here (the time counts as blocked).
    fn poll_live(&mut self) -> Result<(), MigrationError> {
        let version = self.live.version();
        if version == self.live_seen || self.ending {
            return Ok(());
        }
        self.live_seen = version;
        let settings = self.live.settings();
        if settings.cancelled {
            return Err(MigrationError::Cancelled);
        }
        let now = Instant::now();
        if let Some(rate) = settings.pacing_bytes_per_s {
            self.pacer = (rate > 0).then(|| Pacer::new(rate, now));
            self.progress
                .pacing_bytes_per_s
                .store(rate, Ordering::Relaxed);
        }
        if let (Some(tier), Some(codec)) = (settings.tier, self.codec.as_mut()) {
            codec.set_tier(tier, now);
        }
        if let Some(active) = settings.streams_active {
            let opened = self.sealers.len();
            self.streams_active = match usize::from(active) {
                0 => opened,
                n => n.min(opened),
            };
            self.next_stream %= self.streams_active;
            self.progress.streams.store(
                u16::try_from(self.streams_active).expect("bounded by STREAMS_MAX"),
                Ordering::Relaxed,
            );
        }
        tracing::info!(
            pacing_bytes_per_s = ?settings.pacing_bytes_per_s,
            tier = ?settings.tier,
            streams_active = self.streams_active,
            held = settings.held,
            "live settings applied"
        );
        if settings.held && self.paused {
            tracing::warn!("hold ignored: the guest is paused, the migration goes on to its end");
        } else if settings.held {
            while self.live.version() == self.live_seen {
                self.pause_for(HOLD_POLL_INTERVAL);
            }
            self.add_blocked(now.elapsed());
            return self.poll_live();
        }
        Ok(())
    }

    /// Runs the whole migration from the engine's side. With the transport
    /// inline, marks the migration finished and ends the transport before
    /// it returns; its frame latencies join the outcome's.
    pub fn run(mut self) -> Result<EngineOutcome, EngineFailure> {
        let mut outcome = self.run_migration();
        if let Some(inline) = self.inline.take() {
            self.link.finished.store(true, Ordering::Release);
            let stages = inline.finish();
            if let Ok(done) = outcome.as_mut() {
                done.stages.merge(&stages);
            }
        }
        outcome
    }

    fn run_migration(&mut self) -> Result<EngineOutcome, EngineFailure> {
        let mut policy = SwitchoverPolicy::new(self.config.switchover)
            .with_round_trip(self.config.round_trip)
            .with_link_rate(self.config.link_bytes_per_s);
        let mut round = 0u32;
        let switchover = loop {
            let report = self
                .run_round(round)
                .map_err(|e| self.fail(e, None, round))?;
            let floor = self.live.predicted_floor();
            policy.set_predicted_floor(floor.map(|f| f as f64));
            // What the link can drain, not what this round offered it.
            let decision = policy.decide(&report, self.throughput.peak_bytes_per_s());
            tracing::info!(
                round,
                dirty_pages = report.dirty_pages,
                inflight_bytes = report.inflight_bytes,
                inflight_bytes_stream_max = report.inflight_bytes_stream_max,
                scan_ms = crate::millis(report.scan_duration),
                throughput_mib_s = self.throughput.bytes_per_s() / 1048576.0,
                peak_mib_s = self.throughput.peak_bytes_per_s() / 1048576.0,
                predicted_floor_mib_s = floor.map(|f| f as f64 / 1048576.0),
                ?decision,
                "round done"
            );
            match decision {
                Decision::NextRound => {
                    if let Some(target) =
                        policy.queue_drain_target(&report, self.throughput.peak_bytes_per_s())
                    {
                        self.wait_for_drain(target, QUEUE_DRAIN_WAIT_MAX)
                            .map_err(|e| self.fail(e, None, round))?;
                    }
                    round += 1;
                }
                Decision::Switchover(reason) => break reason,
            }
        };
        if let Err(err) = self.hook.pause() {
            // A pause may half-happen (SIGSTOP sent, a thread not yet stopped):
            // undo it so a failed migration never leaves the guest stopped.
            if let Err(resume) = self.hook.resume() {
                tracing::error!(%resume, "could not resume the guest after a failed pause");
            }
            return Err(self.fail(err.into(), None, round));
        }
        let paused_at = Instant::now();
        self.paused = true;
        self.progress.set_phase(Phase::Paused);
        let final_round = round + 1;
        self.run_round(final_round)
            .map_err(|e| self.fail(e, Some(paused_at), final_round))?;
        let digest = image_digest(&self.sent_hashes);
        self.send_final(final_round, digest)
            .map_err(|e| self.fail(e, Some(paused_at), final_round))?;
        self.progress.set_phase(Phase::Verifying);
        self.await_verdict(digest)
            .map_err(|e| self.fail(e, Some(paused_at), final_round))?;
        let verified_at = Instant::now();
        let downtime = verified_at.duration_since(paused_at);
        if self.config.skip_commit {
            let fault = MigrationError::Failed(
                "fault injected: the source stopped between the verdict and the commit".into(),
            );
            return Err(self.fail(fault, Some(paused_at), final_round));
        }
        // Until `Commit` is queued the destination cannot have it, and a
        // failure resumes the guest here; after, it must stay paused.
        // `commit_seq` is published as it is queued (`seal_and_queue`).
        self.send_control(FrameKind::Commit, |body| Commit { digest }.encode(body))
            .map_err(|e| self.fail(e, Some(paused_at), final_round))?;
        debug_assert_eq!(
            self.link.commit_seq.load(Ordering::Acquire),
            self.last_seq[0],
            "Commit went out on stream 0"
        );
        self.await_commit_ack()
            .map_err(|e| self.fail(e, Some(paused_at), final_round))?;
        let handover = verified_at.elapsed();
        // Only now may the destination end: until `Goodbye` it answers a
        // re-established stream 0 with its ack of `Commit` again
        // (`goodbye_seq` is published as it is queued).
        self.send_last(FrameKind::Goodbye, |body| Goodbye.encode(body));
        self.publish_worker(Instant::now(), true);
        self.progress.set_phase(Phase::Done);
        Ok(EngineOutcome {
            rounds: final_round + 1,
            pages_sent: self.pages_sent,
            downtime,
            switchover,
            digest,
            verified_at,
            handover,
            codec: self.codec.as_ref().map(|c| Box::new(c.summary())),
            stages: Box::new(std::mem::take(&mut self.stages)),
        })
    }

    fn fail(
        &mut self,
        error: MigrationError,
        paused_at: Option<Instant>,
        round: u32,
    ) -> EngineFailure {
        if matches!(error, MigrationError::Cancelled) {
            self.abort_destination("cancelled by the operator");
        }
        self.publish_worker(Instant::now(), true);
        EngineFailure {
            error,
            paused_at,
            rounds: round + 1,
            pages_sent: self.pages_sent,
            codec: self.codec.as_ref().map(|c| Box::new(c.summary())),
        }
    }

    /// Tells the destination to stop (best effort: the migration is failing
    /// anyway), and gives the transport [`ABORT_FLUSH_TIMEOUT`] to write it.
    fn abort_destination(&mut self, reason: &str) {
        let abort = Abort::new(AbortCode::Shutdown, reason);
        self.send_last(FrameKind::Abort, |body| abort.encode(body));
    }

    /// Queues the source's last frame on stream 0 (best effort; live
    /// settings no longer apply) and gives the transport
    /// [`ABORT_FLUSH_TIMEOUT`] to write it whole (behind what stream 0
    /// still had to write) before the caller returns and the transport
    /// closes.
    fn send_last(
        &mut self,
        kind: FrameKind,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, WireError>,
    ) {
        self.ending = true;
        if let Err(err) = self.send_control(kind, encode) {
            tracing::debug!(%err, ?kind, "could not send the last frame to the destination");
            return;
        }
        let seq = self.last_seq[0];
        let deadline = Instant::now() + ABORT_FLUSH_TIMEOUT;
        while self.link.stream0_written_seq.load(Ordering::Acquire) < seq {
            if Instant::now() >= deadline || self.link.fatal.is_raised() {
                tracing::warn!(
                    ?kind,
                    "the last frame to the destination was not written in time"
                );
                return;
            }
            self.pause_for(Duration::from_millis(1));
        }
    }

    fn check_fatal(&mut self) -> Result<(), MigrationError> {
        self.poll_live()?;
        if let Some(SourceEvent::Aborted(abort)) = self.link.events.pop() {
            return Err(MigrationError::DestinationAborted {
                code: abort.code,
                reason: abort.reason,
            });
        }
        if self.link.fatal.is_raised() {
            let message = self
                .link
                .fatal
                .message()
                .unwrap_or_else(|| "transport failed".into());
            return Err(MigrationError::Failed(message));
        }
        Ok(())
    }

    fn run_round(&mut self, round: u32) -> Result<RoundReport, MigrationError> {
        let pages = self.memory.page_count();
        self.round = round;
        self.round_pages_left = pages as u64;
        self.progress.round.store(round, Ordering::Relaxed);
        let round_start = Instant::now();
        let mut scan_duration = Duration::ZERO;
        let mut dirty_pages = 0u64;
        // Holes read as zeros and are never touched: reading one through a
        // shared tmpfs mapping would allocate it on the host.
        let mut extents = std::mem::take(&mut self.extents);
        self.memory.data_extents(&mut extents)?;
        // Raw: one range, in order, batches to any active stream with room.
        // Codec: each stream's pages in its own numbering, the active ones a
        // window each in turn; a window never crosses a stripe, so it is
        // one run of guest pages.
        let ranges: Vec<std::ops::Range<usize>> = match &self.codec {
            None => std::iter::once(0..pages).collect(),
            Some(codec) => codec
                .local_ranges()
                .iter()
                .map(|r| {
                    usize::try_from(r.start).expect("page index fits usize")
                        ..usize::try_from(r.end).expect("page index fits usize")
                })
                .collect(),
        };
        let mut schedule = RangeSchedule::new(ranges);
        // With finisher threads, a batch's worth of each stream in turn: the
        // engine fills the next stream's batch while the last one's finishes.
        let batch_windows = self.codec.as_ref().is_some_and(PageCodec::has_finishers);
        let window_pages = if batch_windows {
            dwcp_codec::BATCH_PAYLOAD_PAGES_MAX
        } else {
            SCAN_WINDOW_PAGES
        };
        let mut sent = 0usize;
        loop {
            self.pump();
            self.check_fatal()?;
            let finishing = &self.finishing;
            let Some((range, window)) =
                schedule.next_window_preferring(self.streams_active, window_pages, |k| {
                    finishing.get(k).is_none_or(Option::is_none)
                })
            else {
                break;
            };
            sent += window.len();
            let window = match &self.codec {
                None => window,
                Some(codec) => {
                    let start = codec.global_page(range, window.start as u64);
                    let start = usize::try_from(start).expect("a page of the image");
                    start..start + window.len()
                }
            };
            dirty_pages += self.send_span(round, window, &extents, &mut scan_duration)?;
            if batch_windows {
                // The window's batch goes to a finisher now, whether full or
                // not: the stream's next window then finds it done.
                self.send_window_batch(range)?;
            }
            self.publish_progress(pages - sent);
        }
        self.extents = extents;
        self.flush_batch()?;
        let elapsed = round_start.elapsed().as_secs_f64().max(1e-6);
        if round > 0 {
            let rate = dirty_pages as f64 * PAGE_LEN as f64 / elapsed;
            self.progress
                .dirty_bytes_per_s
                .store(crate::saturating_u64(rate), Ordering::Relaxed);
        }
        let round_end = RoundEnd {
            round,
            pages_sent: dirty_pages,
            bytes_sent: self.link.counters.bytes_written.load(Ordering::Relaxed),
        };
        self.send_control(FrameKind::RoundEnd, |body| round_end.encode(body))?;
        Ok(RoundReport {
            round,
            dirty_pages,
            scan_duration,
            inflight_bytes: self.inflight_bytes(),
            inflight_bytes_stream_max: self.inflight_bytes_stream_max(),
            streams_active: u32::try_from(self.streams_active).expect("bounded by STREAMS_MAX"),
        })
    }

    /// [`RoundReport::drain_bytes`] of the bytes in flight now.
    fn drain_bytes(&self) -> u64 {
        switchover::drain_bytes(
            self.inflight_bytes(),
            self.inflight_bytes_stream_max(),
            u32::try_from(self.streams_active).expect("bounded by STREAMS_MAX"),
        )
    }

    /// The most bytes sealed and not yet acknowledged on any one stream.
    fn inflight_bytes_stream_max(&self) -> u64 {
        (0..self.sealed_by_stream.len())
            .map(|stream| self.stream_inflight_bytes(stream))
            .max()
            .unwrap_or(0)
    }

    /// Bytes sealed and not yet acknowledged on stream `stream`.
    fn stream_inflight_bytes(&self, stream: usize) -> u64 {
        let acked = self.link.acked_by_stream[stream].load(Ordering::Relaxed);
        self.sealed_by_stream[stream].saturating_sub(acked)
    }

    /// Bytes sealed and not yet acknowledged ahead of lane `lane`'s next
    /// frame: on its stream with the codec (a lane per stream), else the
    /// average of the active streams (the frame goes to any of them).
    fn lane_inflight_bytes(&self, lane: usize) -> u64 {
        if self.codec.is_some() {
            return self.stream_inflight_bytes(lane);
        }
        self.inflight_bytes() / self.streams_active.max(1) as u64
    }

    /// Bytes of the frames sealed and not yet acknowledged (queued, in a
    /// stream's window, or on the wire): the final round queues behind them.
    fn inflight_bytes(&self) -> u64 {
        let acked = self.link.counters.bytes_acked.load(Ordering::Relaxed);
        self.bytes_sealed.saturating_sub(acked)
    }

    /// Sends the pages of `span` (at most one window) that need it, data
    /// extents by scan and holes by marker; returns how many.
    fn send_span(
        &mut self,
        round: u32,
        span: std::ops::Range<usize>,
        extents: &[std::ops::Range<usize>],
        scan_duration: &mut Duration,
    ) -> Result<u64, MigrationError> {
        let mut sent = 0;
        let mut pos = span.start;
        let mut k = extents.partition_point(|e| e.end <= pos);
        while pos < span.end {
            match extents.get(k) {
                Some(extent) if extent.start <= pos => {
                    let end = extent.end.min(span.end);
                    sent += self.send_window(round, pos, end - pos, scan_duration)?;
                    pos = end;
                    k += 1;
                }
                next => {
                    let end = next.map_or(span.end, |e| e.start.min(span.end));
                    sent += self.send_holes(round, pos..end)?;
                    pos = end;
                }
            }
        }
        Ok(sent)
    }

    /// Sends the pages of one window of a data extent that need it; returns how many.
    fn send_window(
        &mut self,
        round: u32,
        first: usize,
        count: usize,
        scan_duration: &mut Duration,
    ) -> Result<u64, MigrationError> {
        if round == 0 {
            for index in first..first + count {
                self.send_page(round, index, false)?;
            }
            return Ok(count as u64);
        }
        let scan_start = Instant::now();
        let (found, scanned) = find_dirty(
            self.memory.pages(first, count),
            &self.sent_hashes[first..first + count],
            &mut self.dirty,
        );
        debug_assert_eq!(scanned, count, "the dirty list holds a whole window");
        let scanned_in = scan_start.elapsed();
        *scan_duration += scanned_in;
        self.stages.record(Stage::Scan, scanned_in);
        if let Some(codec) = &mut self.codec {
            codec.left_out(scanned_in);
        }
        for slot in 0..found {
            let index = first + self.dirty[slot] as usize;
            self.send_page(round, index, false)?;
        }
        Ok(found as u64)
    }

    /// Sends zero markers for hole pages whose last sent content was not zero
    /// (every hole page in round 0); returns how many.
    fn send_holes(
        &mut self,
        round: u32,
        holes: std::ops::Range<usize>,
    ) -> Result<u64, MigrationError> {
        let mut sent = 0u64;
        for index in holes {
            if round == 0 || self.sent_hashes[index] != self.zero_hash {
                self.send_page(round, index, true)?;
                sent += 1;
                if sent.is_multiple_of(SCAN_WINDOW_PAGES as u64) {
                    self.pump();
                    self.check_fatal()?;
                }
            }
        }
        Ok(sent)
    }

    fn publish_progress(&mut self, pages_remaining: usize) {
        self.round_pages_left = pages_remaining as u64;
        let now = Instant::now();
        self.throughput
            .record(now, self.link.counters.bytes_acked.load(Ordering::Relaxed));
        self.progress
            .pages_remaining
            .store(pages_remaining as u64, Ordering::Relaxed);
        self.progress.bytes_on_wire.store(
            self.link.counters.bytes_written.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.progress.throughput_bytes_per_s.store(
            crate::saturating_u64(self.throughput.bytes_per_s()),
            Ordering::Relaxed,
        );
    }

    /// Publishes this thread's busy and idle time (if due, or at the
    /// `end`) and the frames and bytes it sealed.
    fn publish_worker(&mut self, now: Instant, end: bool) {
        let meter = &self.progress.workers[COMPUTE_WORKER];
        meter.set_counts(self.frames_sealed, self.bytes_sealed);
        if end {
            self.idle_clock.stop(now);
        } else {
            self.idle_clock.publish_if_due(now);
        }
    }

    /// Packs one page: a zero marker if `in_hole` or all zero, else its bytes.
    fn send_page(&mut self, round: u32, index: usize, in_hole: bool) -> Result<(), MigrationError> {
        if self.codec.is_some() {
            return self.encode_page(index, in_hole);
        }
        self.push_raw(0, round, index, in_hole)
    }

    /// Copies page `index` (or a zero marker) into lane `lane`'s open raw
    /// batch, opening one if needed; sends the batch when it is full.
    fn push_raw(
        &mut self,
        lane: usize,
        round: u32,
        index: usize,
        in_hole: bool,
    ) -> Result<(), MigrationError> {
        let page = if in_hole {
            &[][..]
        } else {
            self.memory.pages(index, 1)
        };
        let page_index = index as u64;
        let zero = in_hole || is_zero_page(page);
        loop {
            if self.raw_batches[lane].is_none() {
                let buffer = self.take_buffer()?;
                // SAFETY: the buffer was just taken from the pool, so the engine
                // owns it until it hands the sealed frame to a stream queue.
                let bytes = unsafe { self.link.pool.slice_mut(buffer) };
                let body_end = bytes.len() - FRAME_TAG_LEN;
                let writer = BatchWriter::new(&mut bytes[FRAME_HEADER_LEN..body_end], round)
                    .map_err(wire)?;
                let pages_max =
                    frame_pages(self.lane_inflight_bytes(lane), self.config.frame_pages_min);
                self.raw_batches[lane] = Some(OpenRawBatch {
                    buffer,
                    writer,
                    opened_at: Instant::now(),
                    pages_max,
                    zero_pages: 0,
                    raw_pages: 0,
                });
            }
            let batch = self.raw_batches[lane].as_mut().expect("opened above");
            let pushed = if zero {
                batch.writer.push_zero(page_index)
            } else {
                batch.writer.push_raw(page_index, page)
            };
            match pushed {
                Ok(()) => {
                    self.sent_hashes[index] = if zero {
                        batch.zero_pages += 1;
                        self.zero_hash
                    } else {
                        batch.raw_pages += 1;
                        page_hash(batch.writer.last_payload())
                    };
                    let full = usize::from(batch.writer.page_count()) >= batch.pages_max;
                    self.pages_sent += 1;
                    self.progress
                        .pages
                        .store(self.pages_sent, Ordering::Relaxed);
                    if full {
                        self.flush_raw(lane)?;
                    }
                    return Ok(());
                }
                Err(WireError::BatchFull { .. }) => self.flush_raw(lane)?,
                Err(other) => return Err(wire(other)),
            }
        }
    }

    /// Seals lane `lane`'s open raw batch, if any: to any stream with room
    /// without the codec, on stream `lane` with it (and tells the level
    /// controller, as for an encoded batch).
    fn flush_raw(&mut self, lane: usize) -> Result<(), MigrationError> {
        let Some(batch) = self.raw_batches[lane].take() else {
            return Ok(());
        };
        let zero_pages = batch.zero_pages;
        let raw_pages = batch.raw_pages;
        let buffer = batch.buffer;
        let opened_at = batch.opened_at;
        let body_len = batch.writer.finish();
        self.stages.record(Stage::Encode, opened_at.elapsed());
        let stream = self.codec.is_some().then_some(lane);
        self.seal_and_queue(FrameKind::PageBatch, buffer, body_len, stream)?;
        let backlogged = self.codec.is_some() && self.backlogged(lane);
        if let Some(codec) = self.codec.as_mut() {
            let remaining = self.round_pages_left * PAGE_LEN as u64;
            let blocked = std::mem::take(&mut self.blocked);
            codec.batch_done(
                &raw_batch_report(zero_pages, raw_pages, body_len),
                Instant::now(),
                blocked,
                remaining,
                backlogged,
            );
            codec.publish(self.progress);
        }
        Ok(())
    }

    /// Codec path of `send_page`: pushes the page into its stream's encoder
    /// and sends the batch when it is full. On the bottom rung (no zstd) the
    /// page goes raw instead, straight into a `PageBatch` on its stream (one
    /// copy, as without the codec), and the encoder forgets it. A stream
    /// has at most one of the two batches open, so its frames carry the
    /// pages in the order they were taken.
    fn encode_page(&mut self, index: usize, in_hole: bool) -> Result<(), MigrationError> {
        self.collect_finished()?;
        let codec = self.codec.as_mut().expect("codec path");
        let page_index = index as u64;
        let stream = codec.stream_of(page_index);
        self.encoder_home(stream)?;
        let codec = self.codec.as_mut().expect("codec path");
        if codec.bottom_rung() {
            if codec.encoder(stream, page_index).0.batch_pages() > 0 {
                self.flush_encoded(stream)?;
                self.encoder_home(stream)?;
            }
            let codec = self.codec.as_mut().expect("codec path");
            let (encoder, local) = codec.encoder(stream, page_index);
            encoder
                .forget(local)
                .map_err(|e| MigrationError::Failed(format!("page codec: {e}")))?;
            return self.push_raw(stream, self.round, index, in_hole);
        }
        self.flush_raw(stream)?;
        let codec = self.codec.as_mut().expect("codec path");
        if !codec.encoder(stream, page_index).0.has_room() {
            self.flush_encoded(stream)?;
            self.encoder_home(stream)?;
        }
        let codec = self.codec.as_mut().expect("codec path");
        let started = Instant::now();
        let (encoder, local) = codec.encoder(stream, page_index);
        let pushed = if in_hole {
            encoder
                .push_zero(local)
                .map(|()| dwcp_codec::EncodingKind::Zero)
        } else {
            encoder.push(local, self.memory.pages(index, 1))
        };
        let kind = pushed.map_err(|e| MigrationError::Failed(format!("page codec: {e}")))?;
        // What the destination will hold is the encoder's copy, not the live page.
        self.sent_hashes[index] = if kind == dwcp_codec::EncodingKind::Zero {
            self.zero_hash
        } else {
            page_hash(encoder.last_page())
        };
        let full = !encoder.has_room();
        let encoded_in = started.elapsed();
        codec.add_encode_time(encoded_in);
        self.batch_encode[stream] += encoded_in;
        self.pages_sent += 1;
        self.progress
            .pages
            .store(self.pages_sent, Ordering::Relaxed);
        if full {
            self.flush_encoded(stream)?;
        }
        Ok(())
    }

    /// Writes stream `stream`'s open encoded batch into a frame on that
    /// stream: on a finisher thread if there are any (the frame is sealed
    /// when it comes back, see [`Engine::collect_finished`]), else here.
    fn flush_encoded(&mut self, stream: usize) -> Result<(), MigrationError> {
        let buffer = self.take_buffer()?;
        // SAFETY: just taken from the pool; owned by the engine until queued.
        let bytes = unsafe { self.link.pool.slice_mut(buffer) };
        let body_end = bytes.len() - FRAME_TAG_LEN;
        let body = &mut bytes[FRAME_HEADER_LEN..body_end];
        body[..ENCODED_BATCH_HEADER_LEN].copy_from_slice(&self.round.to_le_bytes());
        let codec = self.codec.as_mut().expect("codec path");
        if codec.has_finishers() {
            debug_assert!(
                self.finishing[stream].is_none(),
                "one batch away per stream"
            );
            // SAFETY: the engine owns `buffer` until it queues the frame,
            // which it does only after `collect` returns this stream's batch;
            // the pool's mapping outlives the engine and its finishers.
            unsafe { codec.send_away(stream, &mut body[ENCODED_BATCH_HEADER_LEN..]) };
            self.finishing[stream] = Some(buffer);
            return Ok(());
        }
        let started = Instant::now();
        let encoder = codec.stream_encoder(stream);
        let result = encoder.finish(&mut body[ENCODED_BATCH_HEADER_LEN..]);
        let finished_in = started.elapsed();
        self.queue_encoded(stream, buffer, result, finished_in)
    }

    /// With finishers: sends stream `stream`'s open batch away, unless its
    /// encoder is away already or the batch is empty.
    fn send_window_batch(&mut self, stream: usize) -> Result<(), MigrationError> {
        let codec = self.codec.as_mut().expect("finishers come with the codec");
        // An away encoder's batch is already finishing; on the bottom rung
        // the batch is empty (pages go raw).
        if codec.is_away(stream) {
            return Ok(());
        }
        if codec.stream_encoder(stream).batch_pages() == 0 {
            return Ok(());
        }
        self.flush_encoded(stream)
    }

    /// True when stream `stream`'s queue of frames the transport has not
    /// taken is at least half full: the link is behind the engine.
    fn backlogged(&self, stream: usize) -> bool {
        self.link
            .tx
            .get(stream)
            .is_some_and(|queue| queue.len() * 2 >= queue.capacity())
    }

    /// Seals every batch the finishers are done with; never waits.
    fn collect_finished(&mut self) -> Result<(), MigrationError> {
        while let Some(done) = self.codec.as_mut().and_then(|c| c.collect(None)) {
            self.queue_collected(done)?;
        }
        Ok(())
    }

    /// Waits until stream `stream`'s encoder is back from its finisher (if
    /// it is away), sealing finished batches as they come. The wait is
    /// this thread's idle time but not back-pressure from the link: the
    /// encoders are the bottleneck then.
    fn encoder_home(&mut self, stream: usize) -> Result<(), MigrationError> {
        while self.finishing[stream].is_some() {
            let started = Instant::now();
            let codec = self.codec.as_mut().expect("codec path");
            let done = match self.inline.as_mut() {
                None => codec.collect(Some(FINISH_POLL_INTERVAL)),
                Some(inline) => codec.collect(None).or_else(|| {
                    if inline.pump() {
                        None
                    } else {
                        codec.collect(Some(INLINE_FINISH_POLL_INTERVAL))
                    }
                }),
            };
            self.idle_clock.add_idle(started.elapsed());
            match done {
                Some(done) => self.queue_collected(done)?,
                None => self.check_fatal()?,
            }
        }
        Ok(())
    }

    fn queue_collected(&mut self, done: CollectedBatch) -> Result<(), MigrationError> {
        let buffer = self.finishing[done.stream]
            .take()
            .expect("a buffer for each batch away");
        self.queue_encoded(done.stream, buffer, done.result, done.spent)
    }

    /// Seals and queues stream `stream`'s finished batch in `buffer` and
    /// tells the level controller.
    fn queue_encoded(
        &mut self,
        stream: usize,
        buffer: BufferId,
        result: Result<dwcp_codec::BatchReport, dwcp_codec::CodecError>,
        finished_in: Duration,
    ) -> Result<(), MigrationError> {
        let report = result.map_err(|e| MigrationError::Failed(format!("page codec: {e}")))?;
        let codec = self.codec.as_mut().expect("codec path");
        codec.add_encode_time(finished_in);
        let encoded_in = std::mem::take(&mut self.batch_encode[stream]) + finished_in;
        self.stages.record(Stage::Encode, encoded_in);
        let body_len = ENCODED_BATCH_HEADER_LEN + report.len;
        self.seal_and_queue(FrameKind::EncodedBatch, buffer, body_len, Some(stream))?;
        let blocked = std::mem::take(&mut self.blocked);
        let backlogged = self.backlogged(stream);
        let codec = self.codec.as_mut().expect("codec path");
        codec.batch_done(
            &report,
            Instant::now(),
            blocked,
            self.round_pages_left * PAGE_LEN as u64,
            backlogged,
        );
        codec.publish(self.progress);
        Ok(())
    }

    /// Sends every open batch, encoded and raw (a stream has at most one),
    /// and waits for the finishers.
    fn flush_batch(&mut self) -> Result<(), MigrationError> {
        if let Some(codec) = &self.codec {
            let open: Vec<usize> = codec.open_streams().collect();
            for stream in open {
                self.flush_encoded(stream)?;
            }
            for stream in 0..self.finishing.len() {
                self.encoder_home(stream)?;
            }
        }
        for lane in 0..self.raw_batches.len() {
            self.flush_raw(lane)?;
        }
        Ok(())
    }

    fn send_control(
        &mut self,
        kind: FrameKind,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, WireError>,
    ) -> Result<(), MigrationError> {
        let buffer = self.take_buffer()?;
        // SAFETY: just taken from the pool; owned by the engine until queued.
        let bytes = unsafe { self.link.pool.slice_mut(buffer) };
        let body_end = bytes.len() - FRAME_TAG_LEN;
        let body_len = encode(&mut bytes[FRAME_HEADER_LEN..body_end]).map_err(wire)?;
        self.seal_and_queue(kind, buffer, body_len, Some(0))
    }

    fn send_final(&mut self, round: u32, digest: [u8; 16]) -> Result<(), MigrationError> {
        // Stream 0 carries Final itself, so its last data frame is the current seq.
        let last_seqs = self.last_seq.clone();
        let page_count = self.memory.page_count() as u64;
        let message = Final {
            round,
            page_count,
            digest,
            last_seqs,
        };
        self.send_control(FrameKind::Final, |body| message.encode(body))
    }

    /// Seals the frame in `buffer` on a stream with room (or `stream`) and
    /// queues it. On a failure before it is queued (a cancel or a fatal
    /// error seen while waiting for room or for the pacer) the buffer goes
    /// back to the pool and no sequence number is used: the stream's next
    /// frame (an `Abort`) follows the last one queued without a gap.
    fn seal_and_queue(
        &mut self,
        kind: FrameKind,
        buffer: BufferId,
        body_len: usize,
        stream: Option<usize>,
    ) -> Result<(), MigrationError> {
        let len = u32::try_from(FRAME_HEADER_LEN + body_len + FRAME_TAG_LEN)
            .expect("frames are bounded by FRAME_LEN_MAX");
        // Paced before the frame takes its stream and seq (the pacer counts
        // bytes, not which frame carries them).
        let chosen = match self.stream_with_room(stream).and_then(|chosen| {
            self.pace(len)?;
            Ok(chosen)
        }) {
            Ok(chosen) => chosen,
            Err(err) => {
                self.link.pool.put(buffer);
                return Err(err);
            }
        };
        if stream.is_none() {
            self.next_stream = (chosen + 1) % self.streams_active;
        }
        let seq = self.last_seq[chosen] + 1;
        // SAFETY: the engine still owns `buffer` (taken from the pool, not yet queued).
        let bytes = unsafe { self.link.pool.slice_mut(buffer) };
        let sealed = self.sealers[chosen].seal(kind, seq, bytes, body_len);
        let sealed_len = match sealed {
            Ok(sealed_len) => sealed_len,
            Err(err) => {
                self.link.pool.put(buffer);
                return Err(MigrationError::Failed(err.to_string()));
            }
        };
        debug_assert_eq!(sealed_len, len as usize, "header, body and tag");
        self.frames_sealed += 1;
        self.bytes_sealed += u64::from(len);
        self.sealed_by_stream[chosen] += u64::from(len);
        if self.config.tamper_frame == Some(self.frames_sealed) {
            tracing::warn!(
                stream = chosen,
                seq,
                "test hook: tampering with a sealed frame"
            );
            bytes[FRAME_HEADER_LEN] ^= 0x01;
        }
        self.last_seq[chosen] = seq;
        // The transport learns these seqs before it can take the frame.
        match kind {
            FrameKind::Commit => self.link.commit_seq.store(seq, Ordering::Release),
            FrameKind::Goodbye => self.link.goodbye_seq.store(seq, Ordering::Release),
            _ => {}
        }
        let queued_at = Instant::now();
        let pushed = self.link.tx[chosen].push(InFlight::queued(seq, buffer, len, queued_at));
        self.publish_worker(queued_at, false);
        assert!(
            pushed.is_ok(),
            "the engine is the only producer and saw room"
        );
        match self.inline.as_mut() {
            // Written at once: no hand-off, no doorbell.
            Some(inline) => {
                inline.pump();
            }
            None => self.link.transport_bell.ring(),
        }
        Ok(())
    }

    /// `stream` (or, for `None`, the next active stream in turn) once its
    /// queue has room, waiting for it; live settings are applied first.
    fn stream_with_room(&mut self, stream: Option<usize>) -> Result<usize, MigrationError> {
        self.poll_live()?;
        let streams = self.streams_active;
        let mut backoff = IdleBackoff::new();
        let mut waiting_since: Option<Instant> = None;
        let chosen = loop {
            let candidates = match stream {
                Some(s) => s..s + 1,
                None => 0..streams,
            };
            let found = candidates.clone().map(|k| match stream {
                Some(_) => k,
                None => (self.next_stream + k) % streams,
            });
            if let Some(s) = found.into_iter().find(|&s| !self.link.tx[s].is_full()) {
                break s;
            }
            waiting_since.get_or_insert_with(Instant::now);
            self.check_fatal()?;
            let link = self.link;
            match stream {
                Some(s) => self.idle_on(&mut backoff, || !link.tx[s].is_full()),
                None => self.idle_on(&mut backoff, || {
                    link.tx[..streams].iter().any(|queue| !queue.is_full())
                }),
            }
        };
        if let Some(since) = waiting_since {
            self.add_blocked(since.elapsed());
        }
        Ok(chosen)
    }

    /// Waits until the pacer (if any) allows `len` more bytes.
    fn pace(&mut self, len: u32) -> Result<(), MigrationError> {
        let started = Instant::now();
        loop {
            let Some(pacer) = self.pacer.as_mut() else {
                return Ok(());
            };
            match pacer.try_take(Instant::now(), u64::from(len)) {
                Ok(()) => {
                    // The pacer stands for the link: waiting on it is blocking.
                    self.add_blocked(started.elapsed());
                    return Ok(());
                }
                Err(wait) if wait > PACE_SLEEP_MIN => self.pause_for(wait - PACE_SLEEP_MIN / 2),
                Err(_) => self.pause_for(Duration::ZERO),
            }
            self.check_fatal()?;
        }
    }

    fn take_buffer(&mut self) -> Result<BufferId, MigrationError> {
        let mut backoff = IdleBackoff::new();
        let mut waiting_since: Option<Instant> = None;
        loop {
            if let Some(buffer) = self.link.pool.get() {
                if let Some(since) = waiting_since {
                    self.add_blocked(since.elapsed());
                }
                return Ok(buffer);
            }
            waiting_since.get_or_insert_with(Instant::now);
            self.check_fatal()?;
            let link = self.link;
            self.idle_on(&mut backoff, || link.pool.available() > 0);
        }
    }

    fn await_verdict(&mut self, digest: [u8; 16]) -> Result<(), MigrationError> {
        let deadline = Instant::now() + self.config.verify_timeout;
        let mut backoff = IdleBackoff::new();
        loop {
            match self.link.events.pop() {
                Some(SourceEvent::Verified(result)) => {
                    if result.ok && result.digest == digest {
                        return Ok(());
                    }
                    return Err(MigrationError::VerifyMismatch {
                        source_digest: crate::summary::hex(&digest),
                        destination: crate::summary::hex(&result.digest),
                    });
                }
                Some(SourceEvent::Aborted(abort)) => {
                    return Err(MigrationError::DestinationAborted {
                        code: abort.code,
                        reason: abort.reason,
                    })
                }
                None => {}
            }
            if self.link.fatal.is_raised() {
                return Err(MigrationError::Failed(
                    self.link.fatal.message().unwrap_or_default(),
                ));
            }
            if Instant::now() > deadline {
                return Err(MigrationError::Failed(format!(
                    "no verdict from the destination within {:?}",
                    self.config.verify_timeout
                )));
            }
            let link = self.link;
            self.idle_on(&mut backoff, || !link.events.is_empty());
        }
    }

    /// Waits until an `Ack` frame of the destination covered `Commit`
    /// (`commit_acked`; a resume point past it does not count: the
    /// destination may yet refuse the frame). Once `Commit` is queued the guest must stay paused
    /// whatever happens, since the destination may have it: every failure
    /// here is [`MigrationError::HandoverInDoubt`], an `Abort` from the
    /// destination included (its decoder may have taken `Commit` before the
    /// transport failed).
    fn await_commit_ack(&mut self) -> Result<(), MigrationError> {
        let in_doubt = |cause: String| MigrationError::HandoverInDoubt { cause };
        let deadline = Instant::now() + self.config.verify_timeout;
        let mut backoff = IdleBackoff::new();
        loop {
            if self.link.commit_acked.load(Ordering::Acquire) {
                return Ok(());
            }
            match self.link.events.pop() {
                // The destination sends its verdict again on a re-established stream 0.
                Some(SourceEvent::Verified(_)) | None => {}
                Some(SourceEvent::Aborted(abort)) => {
                    return Err(in_doubt(format!(
                        "the destination aborted after its verdict ({:?}): {}",
                        abort.code, abort.reason
                    )))
                }
            }
            if self.link.fatal.is_raised() {
                return Err(in_doubt(self.link.fatal.message().unwrap_or_default()));
            }
            if Instant::now() > deadline {
                return Err(in_doubt(format!(
                    "no acknowledgement within {:?}",
                    self.config.verify_timeout
                )));
            }
            let link = self.link;
            self.idle_on(&mut backoff, || {
                !link.events.is_empty() || link.commit_acked.load(Ordering::Acquire)
            });
        }
    }
}

fn wire(err: WireError) -> MigrationError {
    MigrationError::Failed(format!("cannot build a frame: {err}"))
}
