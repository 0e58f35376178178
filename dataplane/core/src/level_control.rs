//! Adaptive compression level: step the zstd level down when the encoder is
//! the bottleneck and up when the link is.
//!
//! # Design
//! The source compresses page batches with zstd at a level taken from a
//! ladder that depends on the link tier ([`LinkTier::ladder`]), weakest rung
//! first; the bottom rung is always `None` (no zstd, pages still go through
//! zero, duplicate and delta detection). Compression must never make a
//! migration slower than sending raw, so the level follows back-pressure:
//! the fraction of wall time the engine spent blocked waiting for the
//! transport (full stream queues, or an empty buffer pool).
//!
//! - A high blocked fraction means the link is the bottleneck: the encoder
//!   has CPU to spare, and more compression sends fewer bytes.
//! - A low blocked fraction means the encoder is the bottleneck: the link
//!   waits for it, and a weaker level (or none) is faster.
//!
//! The caller reports blocked time through [`LevelController::observe`]
//! whenever it likes; the controller sums it over a window of
//! [`LevelControlConfig::window`] wall time, less the time the caller says
//! was neither encoding nor blocked ([`LevelController::exclude`]: scanning
//! for the pages a later round must send). A window left with less than
//! half its length decides nothing. When a window closes its blocked
//! fraction of the time counted (clamped to `[0, 1]`) decides:
//!
//! - below `blocked_low`: one rung down, if not at the bottom;
//! - above `blocked_high`: one rung up, if not at the tier's top;
//! - otherwise: no change.
//!
//! A change is only made once the level has been held for `dwell` since the
//! previous change, so the controller never moves more than one rung per
//! dwell and the gap between `blocked_low` and `blocked_high` gives
//! hysteresis. Two rules refine this:
//!
//! - **Probe undo.** A step up is a probe. If a window closing within
//!   `dwell` of a step up is below `blocked_low`, the probe made the encoder
//!   the bottleneck, and the controller steps back down at once without
//!   waiting for the dwell: the cost of a bad probe is one window, not one
//!   dwell. This is the only case in which two changes come closer than
//!   `dwell`.
//! - **Probe back-off.** Each undone probe doubles the dwell required before
//!   the next step up, up to [`PROBE_BACKOFF_MAX`] × `dwell`; a step up that
//!   is held for a full dwell resets it. Without this, a signal that
//!   alternates around the thresholds would probe and undo once per dwell;
//!   with it, failed probes grow rarer and the level settles.
//!
//! - **Throughput guard.** Blocked time says which way the bottleneck
//!   lies, not whether a move pays: on a slow link whose encoder is also
//!   short of CPU, dropping to a weaker level makes the engine faster but
//!   sends more bytes than the link carries, so the guest memory moved per
//!   second falls. The caller therefore also reports the guest bytes it
//!   encoded, and the controller keeps, per rung, the rate (guest bytes per
//!   second, an average of its windows) it last measured there. The data
//!   plane reports the non-zero guest bytes: zero pages cost nothing at
//!   any level and lie in long runs, and a window that crossed one made
//!   "no zstd" look faster than zstd -1 and held the internet tier there. A move to
//!   a rung whose rate, measured within [`RUNG_RATE_MEMORY`], is more than
//!   [`RATE_MARGIN`] below the current rung's is not made, neither as a
//!   step down nor as the undo of a probe (a step up that left the encoder
//!   the bottleneck but moves more guest memory per second is kept).
//!   Rates older than the memory are forgotten, so a rung is tried again
//!   when conditions may have changed, and rates of the first `dwell`, or
//!   of the first [`RATE_WARMUP_ROUND_TRIPS`] round trips when the caller
//!   gives the round trip and that is longer, are not recorded (the
//!   transfer is still starting: on loopback they made "no zstd" look
//!   slower than zstd -1 and held the controller at -1; on a 100 ms path
//!   TCP was still ramping up after the first dwell, a window at zstd 3 was
//!   link-bound and slower than zstd 6 had been, and the controller went
//!   back to zstd 6 in 4 of 27 real-guest runs).
//!   A step down to a rung whose rate is not known is a probe too: if a
//!   window there shows a rate clearly below the rung above's, the
//!   controller steps back at once instead of after a dwell (and the guard
//!   then keeps it from trying again while that rate is fresh).
//!   A weaker rung counts as worse only if its window was link-bound
//!   (blocked at least `blocked_low`): that is the case the guard is for.
//!   A weaker level costs less CPU per guest byte, so a weaker rung that
//!   was still encoder-bound yet moved less memory measured noise (another
//!   process on the core, harder pages in that window), not the level. On
//!   the 2-core machine one such window at zstd 3 sent the internet tier
//!   back to zstd 6 and held it there for the rest of a 1 GiB round
//!   (7 MiB/s on a 24 MiB/s link; `perf/wan-bench.sh`).
//!   The guard is on for the internet tier only: on a datacenter link a
//!   migration lasts seconds and the rate of a 200 ms window depends more
//!   on which pages it covered (zero pages are nearly free) than on the
//!   level, so on loopback it held the controller at zstd -1, 1.56x slower
//!   than raw pages (`perf/codec-vs-raw.sh`), where blocked time alone
//!   settles at no zstd.
//!
//! The controller starts at the tier's strongest rung: on a slow link that
//! is right from the first batch, and on a fast one it walks down one rung
//! per dwell. [`LevelController::fixed`] pins a level for operators who set
//! one explicitly. Like the rest of this crate it reads no clock: callers
//! pass `now`, assumed never to go backwards (earlier instants count as no
//! elapsed time).

use std::time::{Duration, Instant};

/// One rung: a zstd level, or `None` for "no zstd" (pages still go through
/// zero/duplicate/delta detection).
pub type Level = Option<i32>;

/// Largest factor by which undone probes stretch the dwell before a step up.
pub const PROBE_BACKOFF_MAX: u32 = 8;

/// How long a rung's measured rate is trusted by the throughput guard.
/// Three default dwells: a rung that is really slower costs one window per span
/// (it is measured again), while a verdict from a window that is no longer
/// true (the link still ramping up when it was taken) holds for at most
/// this long. At 10 s one such verdict held zstd 6 on a 2-core machine for
/// the whole 5 s round of a 1 GiB guest (`perf/wan-bench.sh`).
pub const RUNG_RATE_MEMORY: Duration = Duration::from_secs(3);

/// Round trips after the start whose rates the throughput guard does not
/// record, where that is longer than a dwell: TCP's start-up (BBR's
/// doubling, then its drain) takes about ten round trips to reach the
/// link's rate, and the windows until then measure the ramp, not the level.
pub const RATE_WARMUP_ROUND_TRIPS: u32 = 20;

/// A step up (a probe) is tried only while the work left in the round, at
/// the current rate, spans at least this many dwells: a probe costs up to a
/// dwell at the slower rung and a dwell to judge it, and can only pay back
/// over the time after that. Near the end of a round (or in a migration of
/// a few seconds) it cannot.
pub const PROBE_PAYBACK_DWELLS: u32 = 4;

/// A rung whose rate is below the current one's by more than this fraction
/// counts as worse (the windows' rates vary by a few percent).
pub const RATE_MARGIN: f64 = 0.10;

/// Levels for a datacenter link, weakest first.
const DATACENTER_LADDER: &[Level] = &[None, Some(-1), Some(1)];
/// Levels for an internet link, weakest first.
const INTERNET_LADDER: &[Level] = &[None, Some(1), Some(3), Some(6)];

/// The kind of link a migration runs over, which picks the ladder of levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTier {
    /// A fast link (tens of Gb/s): only cheap levels pay off.
    Datacenter,
    /// A slow link: stronger levels pay off.
    Internet,
}

impl LinkTier {
    /// Where a controller starts. Datacenter: no zstd, the cheapest rung: a
    /// fast link is likely faster than the encoder, and starting high would
    /// make the first seconds slower than raw while it steps down. Internet:
    /// the strongest rung, since bytes are what is short there.
    pub fn start_rung(self) -> usize {
        match self {
            LinkTier::Datacenter => 0,
            LinkTier::Internet => self.ladder().len() - 1,
        }
    }

    /// The ladder of levels from weakest to strongest for this tier.
    /// Datacenter: `[None, Some(-1), Some(1)]`. Internet:
    /// `[None, Some(1), Some(3), Some(6)]`.
    pub fn ladder(self) -> &'static [Level] {
        match self {
            LinkTier::Datacenter => DATACENTER_LADDER,
            LinkTier::Internet => INTERNET_LADDER,
        }
    }

    /// Parses `"datacenter"` or `"internet"` (as given on the command line).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "datacenter" => Some(LinkTier::Datacenter),
            "internet" => Some(LinkTier::Internet),
            _ => None,
        }
    }

    /// The name [`LinkTier::from_name`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            LinkTier::Datacenter => "datacenter",
            LinkTier::Internet => "internet",
        }
    }
}

/// Level control settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelControlConfig {
    /// Evaluation window: blocked time is summed over this much wall time.
    pub window: Duration,
    /// Below this blocked fraction the encoder is the bottleneck: step down.
    pub blocked_low: f64,
    /// Above this blocked fraction the link is the bottleneck: step up.
    pub blocked_high: f64,
    /// Minimum time at a rung before another change (see the module docs
    /// for the probe-undo exception).
    pub dwell: Duration,
}

impl LevelControlConfig {
    /// The defaults: 200 ms windows, step down below 0.05, up above 0.30,
    /// 1 s dwell.
    pub const DEFAULTS: LevelControlConfig = LevelControlConfig {
        window: Duration::from_millis(200),
        blocked_low: 0.05,
        blocked_high: 0.30,
        dwell: Duration::from_secs(1),
    };

    /// Returns the config if `0 <= blocked_low < blocked_high <= 1`,
    /// `window > 0` and `dwell >= window`, or says what is wrong.
    pub fn validate(self) -> Result<Self, &'static str> {
        // `contains` is false for NaN, so NaN is rejected here.
        if !(0.0..=1.0).contains(&self.blocked_low) {
            return Err("blocked_low must be in [0, 1]");
        }
        if !(0.0..=1.0).contains(&self.blocked_high) {
            return Err("blocked_high must be in [0, 1]");
        }
        if self.blocked_low >= self.blocked_high {
            return Err("blocked_low must be below blocked_high");
        }
        if self.window.is_zero() {
            return Err("window must be positive");
        }
        if self.dwell < self.window {
            return Err("dwell must be at least one window");
        }
        Ok(self)
    }
}

impl Default for LevelControlConfig {
    fn default() -> Self {
        Self::DEFAULTS
    }
}

/// Chooses the compression level batch by batch.
#[derive(Debug, Clone)]
pub struct LevelController {
    mode: Mode,
}

#[derive(Debug, Clone)]
enum Mode {
    Fixed(Level),
    Adaptive(Box<Adaptive>),
}

#[derive(Debug, Clone)]
struct Adaptive {
    ladder: &'static [Level],
    config: LevelControlConfig,
    rung: usize,
    window_start: Instant,
    blocked_in_window: Duration,
    /// Time of the open window spent neither encoding nor blocked
    /// ([`LevelController::exclude`]).
    excluded_in_window: Duration,
    last_change: Instant,
    /// The last change was a step up not yet held for a full dwell.
    probing: bool,
    /// The last change was a step down, not yet held for a full dwell, to
    /// a rung whose rate was not known (throughput guard only).
    descending: bool,
    /// Multiplier of `dwell` before the next step up, 1..=PROBE_BACKOFF_MAX.
    probe_backoff: u32,
    steps_down: u64,
    steps_up: u64,
    /// Guest bytes encoded in the open window.
    progressed_in_window: u64,
    /// Guest bytes encoded since the controller started.
    progressed_total: u64,
    /// The throughput guard is on (internet tier only).
    guard: bool,
    /// When the controller started: rates of the first `warmup` (connection
    /// ramp-up, the destination's start) are not recorded.
    started: Instant,
    /// `dwell`, or [`RATE_WARMUP_ROUND_TRIPS`] round trips if longer.
    warmup: Duration,
    /// Per rung: the last measured rate, when, and whether it was link-bound.
    rung_rate: Vec<Option<RungRate>>,
    /// Guest bytes left in the round, as last reported; `None`: unknown.
    remaining: Option<u64>,
    /// The link's rate in bytes per second, if known
    /// ([`LevelController::set_link_rate`]).
    link_rate: Option<f64>,
}

/// A rung's measured rate (throughput guard).
#[derive(Debug, Clone, Copy)]
struct RungRate {
    /// Guest bytes per second, an average of its windows.
    rate: f64,
    /// When its last window closed.
    at: Instant,
    /// Its last window was blocked at least `blocked_low` of the time: the
    /// link, not the encoder, held the rate.
    link_bound: bool,
}

impl Adaptive {
    /// Folds a closed window's rate into the current rung's. A window that
    /// is link-bound where the last was not (or the reverse) starts the
    /// average afresh: an encoder-bound window of noise must not stay in
    /// the rate that a later link-bound window makes count.
    fn record_rate(&mut self, rate: f64, link_bound: bool, now: Instant) {
        let rate = match self.fresh(self.rung, now) {
            Some(old) if old.link_bound == link_bound => 0.5 * old.rate + 0.5 * rate,
            _ => rate,
        };
        self.rung_rate[self.rung] = Some(RungRate {
            rate,
            at: now,
            link_bound,
        });
    }

    /// `rung`'s measurement (rate, time, link-bound) if taken within
    /// [`RUNG_RATE_MEMORY`].
    fn fresh(&self, rung: usize, now: Instant) -> Option<RungRate> {
        self.rung_rate[rung].filter(|r| now.saturating_duration_since(r.at) <= RUNG_RATE_MEMORY)
    }

    /// `rung`'s rate if measured within [`RUNG_RATE_MEMORY`].
    fn fresh_rate(&self, rung: usize, now: Instant) -> Option<f64> {
        self.fresh(rung, now).map(|r| r.rate)
    }

    /// `Some(true)` when rung `a`'s recent rate is clearly below rung `b`'s,
    /// `None` when either is not known, or when `a` is the weaker rung and
    /// was not link-bound (then its lower rate is noise, module docs).
    fn worse(&self, a: usize, b: usize, now: Instant) -> Option<bool> {
        if !self.guard {
            return None;
        }
        let (a_rate, b_rate) = (self.fresh(a, now)?, self.fresh_rate(b, now)?);
        if a < b && !a_rate.link_bound {
            return None;
        }
        Some(a_rate.rate < b_rate * (1.0 - RATE_MARGIN))
    }

    /// False when the work left, at `rate` guest bytes/s or at the average
    /// rate since the start if that is higher, is shorter than
    /// [`PROBE_PAYBACK_DWELLS`] dwells (true when it is not known). The
    /// average keeps one stalled window (the transport catching up, a
    /// burst of acks) from making the work left look long.
    fn probe_can_pay(&self, rate: f64, now: Instant) -> bool {
        let Some(remaining) = self.remaining else {
            return true;
        };
        let lifetime = now.saturating_duration_since(self.started).as_secs_f64();
        let average = if lifetime > 0.0 {
            self.progressed_total as f64 / lifetime
        } else {
            0.0
        };
        let rate = rate.max(average);
        let payback = self
            .config
            .dwell
            .saturating_mul(PROBE_PAYBACK_DWELLS)
            .as_secs_f64();
        rate > 0.0 && remaining as f64 / rate >= payback
    }

    /// True when the current rung's fresh rate is clearly above the link's
    /// rate (guard on, both known): raw pages (no zstd) put one byte on the
    /// wire per guest byte, so they can move at most the link's rate, and
    /// stepping down to them can only be slower.
    fn outruns_raw(&self, now: Instant) -> bool {
        if !self.guard {
            return false;
        }
        match (self.fresh_rate(self.rung, now), self.link_rate) {
            (Some(rate), Some(link)) => rate > link * (1.0 + RATE_MARGIN),
            _ => false,
        }
    }

    fn observe(&mut self, now: Instant, blocked: Duration, progressed: u64) -> Option<Level> {
        self.blocked_in_window = self.blocked_in_window.saturating_add(blocked);
        self.progressed_in_window = self.progressed_in_window.saturating_add(progressed);
        self.progressed_total = self.progressed_total.saturating_add(progressed);
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < self.config.window {
            return None;
        }
        let counted = elapsed.saturating_sub(self.excluded_in_window);
        let blocked_in_window = self.blocked_in_window;
        let progressed_in_window = self.progressed_in_window;
        self.window_start = now;
        self.blocked_in_window = Duration::ZERO;
        self.excluded_in_window = Duration::ZERO;
        self.progressed_in_window = 0;
        if counted < self.config.window / 2 {
            // Mostly scanning: too little encoding or waiting to say which
            // way the bottleneck lies.
            return None;
        }
        // `counted >= window / 2 > 0`, so the divisions are finite.
        let fraction = (blocked_in_window.as_secs_f64() / counted.as_secs_f64()).clamp(0.0, 1.0);
        let rate = progressed_in_window as f64 / counted.as_secs_f64();
        if now.saturating_duration_since(self.started) >= self.warmup {
            self.record_rate(rate, fraction >= self.config.blocked_low, now);
        }

        let since_change = now.saturating_duration_since(self.last_change);
        let dwelt = since_change >= self.config.dwell;
        if self.probing && dwelt {
            // The probe held for a full dwell: it was a good one.
            self.probing = false;
            self.probe_backoff = 1;
        }
        if self.descending && dwelt {
            self.descending = false;
        }
        if self.descending && self.worse(self.rung, self.rung + 1, now) == Some(true) {
            // A step down into the unknown that moves clearly less guest
            // memory per second than the rung above did: back at once, not
            // after a dwell (on the internet tier a dwell at no zstd sent
            // 25 MB raw where zstd -1 moved three times the memory).
            self.descending = false;
            self.rung += 1;
            self.steps_up += 1;
            self.last_change = now;
            return Some(self.ladder[self.rung]);
        }
        // Neither a plain step down nor the undo of a probe goes to a rung
        // known to be clearly slower than this one, nor to raw pages from a
        // rung that already moves more than the link carries raw.
        let down_pays = self.rung > 0
            && !self.worse(self.rung - 1, self.rung, now).unwrap_or(false)
            && !(self.rung == 1 && self.outruns_raw(now));
        if fraction < self.config.blocked_low && (dwelt || self.probing) && down_pays {
            if self.probing {
                // Undoing a probe that made the encoder the bottleneck.
                self.probing = false;
                self.probe_backoff = (self.probe_backoff * 2).min(PROBE_BACKOFF_MAX);
            }
            self.descending = self.guard && self.fresh_rate(self.rung - 1, now).is_none();
            self.rung -= 1;
            self.steps_down += 1;
            self.last_change = now;
            return Some(self.ladder[self.rung]);
        }
        let top = self.ladder.len() - 1;
        if fraction > self.config.blocked_high
            && self.rung < top
            && since_change >= self.config.dwell.saturating_mul(self.probe_backoff)
            && !self.worse(self.rung + 1, self.rung, now).unwrap_or(false)
            && self.probe_can_pay(rate, now)
        {
            self.rung += 1;
            self.steps_up += 1;
            self.probing = true;
            self.descending = false;
            self.last_change = now;
            return Some(self.ladder[self.rung]);
        }
        None
    }
}

impl LevelController {
    /// Starts at the tier's [`LinkTier::start_rung`], at time
    /// `now`; panics on a config that [`LevelControlConfig::validate`]
    /// rejects.
    pub fn new(tier: LinkTier, config: LevelControlConfig, now: Instant) -> Self {
        if let Err(why) = config.validate() {
            panic!("invalid level control config: {why}");
        }
        let ladder = tier.ladder();
        assert!(
            ladder.len() >= 2 && ladder[0].is_none(),
            "a ladder starts at no zstd and has a level above it"
        );
        Self {
            mode: Mode::Adaptive(Box::new(Adaptive {
                ladder,
                config,
                rung: tier.start_rung(),
                window_start: now,
                blocked_in_window: Duration::ZERO,
                excluded_in_window: Duration::ZERO,
                last_change: now,
                probing: false,
                descending: false,
                probe_backoff: 1,
                steps_down: 0,
                steps_up: 0,
                progressed_in_window: 0,
                progressed_total: 0,
                guard: tier == LinkTier::Internet,
                started: now,
                warmup: config.dwell,
                rung_rate: vec![None; ladder.len()],
                remaining: None,
                link_rate: None,
            })),
        }
    }

    /// Starts pinned at a fixed level (no adaptation), e.g. for
    /// `--compression-level`.
    pub fn fixed(level: Level) -> Self {
        Self {
            mode: Mode::Fixed(level),
        }
    }

    /// The level to use for the next batch.
    pub fn level(&self) -> Level {
        match &self.mode {
            Mode::Fixed(level) => *level,
            Mode::Adaptive(a) => a.ladder[a.rung],
        }
    }

    /// Reports that since the last call the engine spent `blocked` waiting
    /// for the transport and encoded `progressed` bytes of guest memory;
    /// returns `Some(new level)` when the level changes.
    pub fn observe(&mut self, now: Instant, blocked: Duration, progressed: u64) -> Option<Level> {
        match &mut self.mode {
            Mode::Fixed(_) => None,
            Mode::Adaptive(a) => a.observe(now, blocked, progressed),
        }
    }

    /// Reports the guest bytes left to send in the current round (as far as
    /// the caller knows: not yet scanned counts as left); a step up is
    /// tried only while they take [`PROBE_PAYBACK_DWELLS`] dwells or more
    /// at the current rate. Until the first call the work left is unknown
    /// and does not hold a step up back.
    pub fn set_remaining(&mut self, bytes: u64) {
        if let Mode::Adaptive(a) = &mut self.mode {
            a.remaining = Some(bytes);
        }
    }

    /// Tells the controller the link's rate, bytes per second (the
    /// operator's `--link-mbps`): with the throughput guard on, it does not
    /// step down to raw pages from a rung that already moves clearly more
    /// non-zero guest memory per second than that (raw pages cannot: one
    /// wire byte per guest byte). Ignored if not finite and positive.
    pub fn set_link_rate(&mut self, bytes_per_s: f64) {
        if let Mode::Adaptive(a) = &mut self.mode {
            a.link_rate = (bytes_per_s.is_finite() && bytes_per_s > 0.0).then_some(bytes_per_s);
        }
    }

    /// Tells the controller the path's round trip: the throughput guard
    /// records no rate for the first [`RATE_WARMUP_ROUND_TRIPS`] of them
    /// (or the first dwell, if longer).
    pub fn set_round_trip(&mut self, round_trip: Duration) {
        if let Mode::Adaptive(a) = &mut self.mode {
            a.warmup = a
                .config
                .dwell
                .max(round_trip.saturating_mul(RATE_WARMUP_ROUND_TRIPS));
        }
    }

    /// Reports time since the last call that the engine spent neither
    /// encoding nor blocked (scanning a later round's pages for the few that
    /// changed): the open window leaves it out, and a window left with less
    /// than half its length decides nothing. Counted as time the encoder was
    /// busy, a round of scanning read as "the encoder is the bottleneck" and
    /// stepped the internet tier down to no zstd for the round's dirty pages.
    pub fn exclude(&mut self, spent: Duration) {
        if let Mode::Adaptive(a) = &mut self.mode {
            a.excluded_in_window = a.excluded_in_window.saturating_add(spent);
        }
    }

    /// How many step-downs so far (for the migration summary).
    pub fn steps_down(&self) -> u64 {
        match &self.mode {
            Mode::Fixed(_) => 0,
            Mode::Adaptive(a) => a.steps_down,
        }
    }

    /// How many step-ups so far (for the migration summary).
    pub fn steps_up(&self) -> u64 {
        match &self.mode {
            Mode::Fixed(_) => 0,
            Mode::Adaptive(a) => a.steps_up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(10);
    /// Guest bytes per tick when every rung runs at the same rate (the
    /// throughput guard then never objects).
    const RATE_UNIFORM: u64 = 1 << 20;

    /// Drives `controller` from `*now` for `span`, one observation per
    /// [`TICK`] blocked for `fraction` of it, and returns every change with
    /// the time it happened.
    fn drive(
        controller: &mut LevelController,
        now: &mut Instant,
        span: Duration,
        fraction: f64,
    ) -> Vec<(Instant, Level)> {
        let end = *now + span;
        let mut changes = Vec::new();
        while *now < end {
            *now += TICK;
            if let Some(level) = controller.observe(*now, TICK.mul_f64(fraction), RATE_UNIFORM) {
                assert_eq!(level, controller.level(), "the returned level is current");
                changes.push((*now, level));
            }
        }
        changes
    }

    /// Drives `controller`, started at `start`, for `span`, one observation
    /// per [`TICK`]: `plant(elapsed, level, changes so far)` gives that
    /// tick's blocked fraction and guest KB at the current level. Returns
    /// every change with its time since `start`.
    fn drive_plant(
        controller: &mut LevelController,
        start: Instant,
        span: Duration,
        mut plant: impl FnMut(Duration, Level, &[(Duration, Level)]) -> (f64, u64),
    ) -> Vec<(Duration, Level)> {
        let mut now = start;
        let mut changes = Vec::new();
        while now < start + span {
            now += TICK;
            let elapsed = now - start;
            let (fraction, kb_per_tick) = plant(elapsed, controller.level(), &changes);
            let blocked = TICK.mul_f64(fraction);
            if let Some(level) = controller.observe(now, blocked, kb_per_tick * 1000) {
                changes.push((elapsed, level));
            }
        }
        changes
    }

    /// When `changes` first went to `level`.
    fn first_change_to(changes: &[(Duration, Level)], level: Level) -> Option<Duration> {
        changes.iter().find(|c| c.1 == level).map(|c| c.0)
    }

    /// The ramp of the two tests below: zstd 6 encoder-bound at 300 KB per
    /// tick; at zstd 3 the link is the limit, 100 KB per tick while it ramps
    /// up (the first 1.6 s), 600 after.
    fn ramp_plant(elapsed: Duration, level: Level) -> (f64, u64) {
        match level {
            Some(6) => (0.0, 300),
            Some(3) if elapsed < Duration::from_millis(1600) => (0.9, 100),
            Some(3) => (0.5, 600),
            _ => (0.0, 1000),
        }
    }

    /// Like [`drive`], but stops at the first change.
    fn next_change(
        controller: &mut LevelController,
        now: &mut Instant,
        limit: Duration,
        fraction: f64,
    ) -> Option<(Instant, Level)> {
        let end = *now + limit;
        while *now < end {
            *now += TICK;
            if let Some(level) = controller.observe(*now, TICK.mul_f64(fraction), RATE_UNIFORM) {
                return Some((*now, level));
            }
        }
        None
    }

    /// A controller that has just stepped down to `None` at the returned time.
    fn controller_at_bottom(tier: LinkTier) -> (LevelController, Instant) {
        let mut now = Instant::now();
        let mut controller = LevelController::new(tier, LevelControlConfig::DEFAULTS, now);
        // Datacenter starts there; Internet steps down one rung per dwell.
        let rungs = tier.start_rung();
        let span = Duration::from_secs(u64::try_from(rungs).expect("small ladder"));
        drive(&mut controller, &mut now, span, 0.0);
        assert_eq!(controller.level(), None);
        (controller, now)
    }

    #[test]
    fn an_unblocked_engine_steps_down_one_rung_per_dwell_to_none() {
        let start = Instant::now();
        let mut now = start;
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, now);
        assert_eq!(controller.level(), Some(6), "starts at the top");
        let changes = drive(&mut controller, &mut now, Duration::from_secs(10), 0.0);
        let expected = [
            (start + Duration::from_secs(1), Some(3)),
            (start + Duration::from_secs(2), Some(1)),
            (start + Duration::from_secs(3), None),
        ];
        assert_eq!(changes, expected);
        assert_eq!(controller.level(), None);
        assert_eq!((controller.steps_down(), controller.steps_up()), (3, 0));
    }

    #[test]
    fn a_step_down_into_a_clearly_slower_rung_is_undone_at_once() {
        // Internet tier, encoder-bound at every zstd level (never blocked,
        // the same rate): it walks down to no zstd at 3 s. There the link
        // is the limit (always blocked) and a quarter of the memory moves.
        let start = Instant::now();
        let mut now = start;
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, now);
        let mut changes = Vec::new();
        while now < start + Duration::from_secs(8) {
            now += TICK;
            let (blocked, progressed) = match controller.level() {
                None => (TICK, RATE_UNIFORM / 4),
                Some(_) => (Duration::ZERO, RATE_UNIFORM),
            };
            if let Some(level) = controller.observe(now, blocked, progressed) {
                changes.push((now.saturating_duration_since(start), level));
            }
        }
        let (down_at, _) = changes[2];
        assert_eq!(changes[2].1, None, "{changes:?}");
        let (up_at, level) = changes[3];
        assert_eq!(level, Some(1), "{changes:?}");
        assert!(
            up_at - down_at < LevelControlConfig::DEFAULTS.dwell,
            "back within a dwell: {changes:?}"
        );
        // Known slower now: not tried again while that is fresh, and each
        // later try is undone as quickly.
        for pair in changes[2..].chunks(2) {
            let [(down, to_none), (up, to_one)] = pair else {
                panic!("a try of no zstd was not undone: {changes:?}");
            };
            assert_eq!((*to_none, *to_one), (None, Some(1)), "{changes:?}");
            assert!(
                *up - *down < LevelControlConfig::DEFAULTS.dwell,
                "{changes:?}"
            );
        }
        let tries: Vec<Duration> = changes.iter().skip(2).step_by(2).map(|c| c.0).collect();
        assert!(tries.len() >= 2, "no second try in 8 s: {changes:?}");
        assert!(
            tries.windows(2).all(|t| t[1] - t[0] >= RUNG_RATE_MEMORY),
            "{changes:?}"
        );
    }

    #[test]
    fn an_encoder_bound_window_of_noise_does_not_send_the_level_back_up() {
        // Internet tier, encoder-bound at every level (never blocked), each
        // weaker level faster; but the first window at zstd 3 is slowed to
        // a third of zstd 6's rate by something else on the core. It is
        // still encoder-bound, so the level is not to blame: the controller
        // keeps walking down instead of returning to zstd 6 and staying
        // there while that rate is fresh (`RUNG_RATE_MEMORY`).
        let start = Instant::now();
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, start);
        let window = LevelControlConfig::DEFAULTS.window;
        let changes = drive_plant(
            &mut controller,
            start,
            Duration::from_secs(5),
            |elapsed, level, changes| match level {
                Some(6) => (0.0, 300),
                Some(3)
                    if elapsed <= first_change_to(changes, Some(3)).unwrap_or(elapsed) + window =>
                {
                    (0.0, 100)
                }
                Some(3) => (0.0, 600),
                _ => (0.0, 1000),
            },
        );
        let levels: Vec<Level> = changes.iter().map(|c| c.1).collect();
        assert!(levels.contains(&Some(3)), "{levels:?}");
        assert!(!levels.contains(&Some(6)), "{levels:?}");
        assert_eq!(levels, [Some(3), Some(1), None]);
    }

    #[test]
    fn a_noise_window_does_not_stay_in_the_rate_a_link_bound_window_makes_count() {
        // zstd 6 encoder-bound at 300 KB per tick. After the step to zstd 3
        // its first window is noise (encoder-bound, 100 KB per tick), its
        // next link-bound (blocked 0.2) and faster than zstd 6 (400). The
        // average of the two (250) would be clearly below zstd 6 and count,
        // the second window being link-bound; the controller must stay.
        let start = Instant::now();
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, start);
        let window = LevelControlConfig::DEFAULTS.window;
        let changes = drive_plant(
            &mut controller,
            start,
            Duration::from_secs(3),
            |elapsed, level, changes| match level {
                Some(6) => (0.0, 300),
                Some(3)
                    if elapsed <= first_change_to(changes, Some(3)).unwrap_or(elapsed) + window =>
                {
                    (0.0, 100)
                }
                Some(3) => (0.2, 400),
                _ => (0.0, 1000),
            },
        );
        let levels: Vec<Level> = changes.iter().map(|c| c.1).collect();
        assert_eq!(levels, [Some(3)]);
    }

    #[test]
    fn a_verdict_taken_while_the_link_ramped_up_expires() {
        // Internet tier, the ramp of `ramp_plant`. The first try of zstd 3
        // falls in the ramp and is undone; once that verdict expires the
        // controller tries zstd 3 again and keeps it (or goes lower).
        let start = Instant::now();
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, start);
        let changes = drive_plant(&mut controller, start, Duration::from_secs(8), |e, l, _| {
            ramp_plant(e, l)
        });
        assert!(changes.len() >= 3, "tried zstd 3 once only: {changes:?}");
        assert_eq!(
            changes[..2].iter().map(|c| c.1).collect::<Vec<_>>(),
            [Some(3), Some(6)]
        );
        let (back_at, _) = changes[1];
        let (again_at, level) = changes[2];
        assert_eq!(level, Some(3), "{changes:?}");
        assert!(
            again_at - back_at <= RUNG_RATE_MEMORY + LevelControlConfig::DEFAULTS.window * 2,
            "{changes:?}"
        );
        assert_ne!(controller.level(), Some(6), "{changes:?}");
    }

    #[test]
    fn told_the_round_trip_the_guard_waits_out_the_ramp() {
        // The ramp of the test above, on a 100 ms path: no rate is recorded
        // for 2 s, so the first try of zstd 3 is not undone by the guard (it
        // is left only after the ramp, by a blocked-time probe of zstd 6).
        let start = Instant::now();
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, start);
        controller.set_round_trip(Duration::from_millis(100));
        let changes = drive_plant(&mut controller, start, Duration::from_secs(8), |e, l, _| {
            ramp_plant(e, l)
        });
        // zstd 3 is held past the ramp (later probes of zstd 6, made
        // because zstd 3 stays link-bound, are undone at once).
        assert_eq!(changes[0].1, Some(3), "{changes:?}");
        assert!(changes[1].0 > Duration::from_millis(1600), "{changes:?}");
        assert_ne!(controller.level(), Some(6), "{changes:?}");
        for pair in changes[1..].chunks(2) {
            let [(up, Some(6)), (down, Some(3))] = pair else {
                panic!("a probe of zstd 6 not undone to zstd 3: {changes:?}");
            };
            assert!(
                *down - *up < LevelControlConfig::DEFAULTS.dwell,
                "{changes:?}"
            );
        }
    }

    #[test]
    fn no_step_down_to_raw_pages_from_a_rung_faster_than_the_link() {
        // Encoder-bound at every level (never blocked): without a link rate
        // it walks down to raw pages at 3 s (the first test); with one that
        // zstd -1 already outruns by 2x, it stops at zstd -1.
        let mut now = Instant::now();
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, now);
        let rate_per_s = RATE_UNIFORM as f64 / TICK.as_secs_f64();
        controller.set_link_rate(rate_per_s / 2.0);
        let changes = drive(&mut controller, &mut now, Duration::from_secs(10), 0.0);
        let levels: Vec<Level> = changes.iter().map(|(_, level)| *level).collect();
        assert_eq!(levels, [Some(3), Some(1)]);
        // A link as fast as zstd -1's rate: raw pages may be faster.
        let mut now = Instant::now();
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, now);
        controller.set_link_rate(rate_per_s);
        let changes = drive(&mut controller, &mut now, Duration::from_secs(10), 0.0);
        assert_eq!(changes.last().map(|(_, level)| *level), Some(None));
    }

    #[test]
    fn time_spent_scanning_is_not_time_the_encoder_was_the_bottleneck() {
        // Half of each tick is spent scanning, and the engine is blocked for
        // 4 % of it: 8 % of the time it encodes or waits, between the
        // thresholds, so the level holds. Counted as encoder time, 4 % would
        // step down (the last phase).
        let mut now = Instant::now();
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, now);
        for _ in 0..500 {
            now += TICK;
            controller.exclude(TICK / 2);
            let changed = controller.observe(now, TICK.mul_f64(0.04), RATE_UNIFORM);
            assert_eq!(changed, None);
        }
        // Pure scanning (every tick left out) decides nothing either.
        for _ in 0..500 {
            now += TICK;
            controller.exclude(TICK);
            assert_eq!(controller.observe(now, Duration::ZERO, 0), None);
        }
        assert_eq!(controller.level(), Some(6));
        let stepped = next_change(&mut controller, &mut now, Duration::from_secs(2), 0.04);
        assert_eq!(stepped.map(|(_, level)| level), Some(Some(3)));
    }

    #[test]
    fn a_blocked_engine_climbs_from_none_to_the_top_and_stays() {
        for tier in [LinkTier::Datacenter, LinkTier::Internet] {
            let (mut controller, mut now) = controller_at_bottom(tier);
            let start = now;
            let downs = controller.steps_down();
            // Blocked for longer than the wall time: clamped to fully blocked.
            let changes = drive(&mut controller, &mut now, Duration::from_secs(20), 1.5);
            let ladder = tier.ladder();
            assert_eq!(changes.len(), ladder.len() - 1, "{tier:?}: {changes:?}");
            for (i, (at, level)) in changes.iter().enumerate() {
                assert_eq!(*level, ladder[i + 1], "{tier:?} climbs one rung at a time");
                let gap = at.saturating_duration_since(start);
                let expected = Duration::from_secs(u64::try_from(i + 1).expect("small"));
                assert_eq!(gap, expected, "{tier:?} climbs one rung per dwell");
            }
            assert_eq!(
                controller.level(),
                *ladder.last().expect("non-empty ladder")
            );
            assert_eq!(
                controller.steps_up(),
                u64::try_from(ladder.len() - 1).expect("small")
            );
            assert_eq!(controller.steps_down(), downs);
        }
    }

    #[test]
    fn no_probe_when_the_round_ends_before_it_could_pay_back() {
        // RATE_UNIFORM per 10 ms tick: 100 MiB/s of guest memory.
        let rate = RATE_UNIFORM * 100;
        let payback = rate * u64::from(PROBE_PAYBACK_DWELLS);
        for (remaining, climbs) in [(payback / 2, false), (payback * 2, true)] {
            let (mut controller, mut now) = controller_at_bottom(LinkTier::Datacenter);
            controller.set_remaining(remaining);
            let changes = drive(&mut controller, &mut now, Duration::from_secs(3), 1.0);
            assert_eq!(
                !changes.is_empty(),
                climbs,
                "{remaining} bytes left at {rate} B/s: {changes:?}"
            );
        }
    }

    #[test]
    fn a_stalled_window_does_not_make_the_work_left_look_long() {
        // 1 s unblocked at 100 MiB/s, then the transport stalls: blocked,
        // 1 % of that rate. 2 s of work are left at the first rate, 200 s
        // at the stalled one: too little for a probe to pay back.
        let full = RATE_UNIFORM * 100;
        let (mut controller, mut now) = controller_at_bottom(LinkTier::Datacenter);
        controller.set_remaining(2 * full);
        let mut changes = Vec::new();
        for tick in 0..140 {
            now += TICK;
            let (blocked, progressed) = if tick < 100 {
                (Duration::ZERO, RATE_UNIFORM)
            } else {
                (TICK, RATE_UNIFORM / 100)
            };
            changes.extend(controller.observe(now, blocked, progressed));
        }
        assert!(changes.is_empty(), "{changes:?}");
        // The same stall with 20 s of work left is worth a probe.
        controller.set_remaining(20 * full);
        let changes = drive(&mut controller, &mut now, Duration::from_millis(400), 1.0);
        assert_eq!(changes.len(), 1, "{changes:?}");
    }

    #[test]
    fn a_fraction_between_the_thresholds_never_changes_the_level() {
        let mut now = Instant::now();
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, now);
        // One step down to leave room both ways.
        drive(&mut controller, &mut now, Duration::from_millis(1000), 0.0);
        assert_eq!(controller.level(), Some(3));
        for fraction in [0.06, 0.15, 0.29] {
            let changes = drive(&mut controller, &mut now, Duration::from_secs(10), fraction);
            assert!(changes.is_empty(), "fraction {fraction}: {changes:?}");
        }
        assert_eq!(controller.level(), Some(3));
    }

    #[test]
    fn dwell_is_respected_between_changes_except_to_undo_a_probe() {
        let dwell = LevelControlConfig::DEFAULTS.dwell;
        let mut now = Instant::now();
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, now);
        // (when, level before, level after) of every change.
        let mut changes: Vec<(Instant, Level, Level)> = Vec::new();
        // A signal that swings between the extremes at uneven intervals.
        for round in 0..60 {
            let span = Duration::from_millis([300, 700, 1300, 200][round % 4]);
            let fraction = if round % 2 == 0 { 0.0 } else { 1.0 };
            let mut before = controller.level();
            for (at, level) in drive(&mut controller, &mut now, span, fraction) {
                changes.push((at, before, level));
                before = level;
            }
        }
        let ups = changes.iter().filter(|(_, b, a)| a > b).count();
        assert!(
            ups >= 3,
            "the signal moves the level both ways: {changes:?}"
        );
        assert!(changes.len() - ups >= 3, "{changes:?}");
        let mut undos = 0;
        for pair in changes.windows(2) {
            let [(then, then_before, then_after), (at, before, after)] = pair else {
                unreachable!("windows of two");
            };
            assert_eq!(before, then_after, "changes chain");
            let undo = then_after > then_before && after < before;
            let gap = at.saturating_duration_since(*then);
            if undo && gap < dwell {
                undos += 1;
            } else {
                assert!(gap >= dwell, "changes {gap:?} apart: {changes:?}");
            }
        }
        assert!(
            undos >= 1,
            "the signal exercises the probe undo: {changes:?}"
        );
    }

    #[test]
    fn a_probe_that_unblocks_the_engine_is_undone_at_the_next_window() {
        let (mut controller, mut now) = controller_at_bottom(LinkTier::Internet);
        let config = LevelControlConfig::DEFAULTS;
        let downs = controller.steps_down();
        let up = drive(&mut controller, &mut now, config.dwell, 1.0);
        assert_eq!(up, vec![(now, Some(1))], "a probe after one dwell");
        let down = drive(&mut controller, &mut now, config.window, 0.0);
        assert_eq!(down, vec![(now, None)], "undone one window later");
        assert!(config.window < config.dwell, "sooner than the dwell");
        assert_eq!(controller.steps_up(), 1);
        assert_eq!(controller.steps_down(), downs + 1);
    }

    #[test]
    fn undone_probes_back_off_and_a_held_probe_resets_the_back_off() {
        let (mut controller, mut now) = controller_at_bottom(LinkTier::Internet);
        let dwell = LevelControlConfig::DEFAULTS.dwell;
        let window = LevelControlConfig::DEFAULTS.window;
        let limit = dwell * (PROBE_BACKOFF_MAX + 1);
        let mut waits = Vec::new();
        for _ in 0..6 {
            let undone_at = now;
            let (at, level) = next_change(&mut controller, &mut now, limit, 1.0).expect("a probe");
            assert_eq!(level, Some(1));
            waits.push(at.saturating_duration_since(undone_at));
            let undo = next_change(&mut controller, &mut now, window, 0.0);
            assert_eq!(undo, Some((now, None)), "probe undone");
        }
        let expected: Vec<Duration> = [1, 2, 4, 8, 8, 8].iter().map(|k| dwell * *k).collect();
        assert_eq!(waits, expected, "the wait before a probe doubles, capped");
        // A probe that holds for a full dwell resets the back-off.
        let probe = next_change(&mut controller, &mut now, limit, 1.0);
        assert_eq!(probe.map(|(_, level)| level), Some(Some(1)));
        let held = drive(&mut controller, &mut now, dwell, 0.2);
        assert!(held.is_empty(), "{held:?}");
        let start = now;
        let climb = next_change(&mut controller, &mut now, limit, 1.0);
        assert_eq!(climb, Some((start + window, Some(3))), "no back-off left");
    }

    #[test]
    fn a_fixed_controller_never_changes() {
        for level in [None, Some(-1), Some(3), Some(19)] {
            let mut controller = LevelController::fixed(level);
            let mut now = Instant::now();
            for fraction in [0.0, 1.0, 0.0, 0.5] {
                let changes = drive(&mut controller, &mut now, Duration::from_secs(5), fraction);
                assert!(changes.is_empty(), "{level:?}: {changes:?}");
                assert_eq!(controller.level(), level);
            }
            assert_eq!((controller.steps_down(), controller.steps_up()), (0, 0));
        }
    }

    #[test]
    fn config_validation_rejects_bad_values() {
        let good = LevelControlConfig::DEFAULTS;
        assert_eq!(good.validate(), Ok(good));
        assert_eq!(LevelControlConfig::default(), good);
        let edge = LevelControlConfig {
            blocked_low: 0.0,
            blocked_high: 1.0,
            dwell: good.window,
            ..good
        };
        assert_eq!(edge.validate(), Ok(edge), "the bounds themselves are fine");
        let bad = [
            LevelControlConfig {
                blocked_low: -0.1,
                ..good
            },
            LevelControlConfig {
                blocked_high: 1.1,
                ..good
            },
            LevelControlConfig {
                blocked_low: 0.3,
                blocked_high: 0.3,
                ..good
            },
            LevelControlConfig {
                blocked_low: 0.5,
                blocked_high: 0.2,
                ..good
            },
            LevelControlConfig {
                blocked_low: f64::NAN,
                ..good
            },
            LevelControlConfig {
                blocked_high: f64::NAN,
                ..good
            },
            LevelControlConfig {
                window: Duration::ZERO,
                ..good
            },
            LevelControlConfig {
                dwell: good.window - Duration::from_nanos(1),
                ..good
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?} accepted");
        }
    }

    #[test]
    #[should_panic(expected = "invalid level control config")]
    fn new_panics_on_an_invalid_config() {
        let config = LevelControlConfig {
            window: Duration::ZERO,
            ..LevelControlConfig::DEFAULTS
        };
        let _ = LevelController::new(LinkTier::Datacenter, config, Instant::now());
    }

    #[test]
    fn ladders_run_from_none_to_the_strongest_level() {
        assert_eq!(LinkTier::Datacenter.ladder(), &[None, Some(-1), Some(1)]);
        assert_eq!(
            LinkTier::Internet.ladder(),
            &[None, Some(1), Some(3), Some(6)]
        );
        for tier in [LinkTier::Datacenter, LinkTier::Internet] {
            let ladder = tier.ladder();
            assert_eq!(ladder.first(), Some(&None), "{tier:?} starts without zstd");
            assert!(ladder.len() >= 2, "{tier:?} has something to adapt");
            let levels: Vec<i32> = ladder[1..].iter().map(|l| l.expect("zstd")).collect();
            assert!(
                levels.windows(2).all(|w| w[0] < w[1]),
                "{tier:?} strictly weakest to strongest: {ladder:?}"
            );
            let start = LevelController::new(tier, LevelControlConfig::DEFAULTS, Instant::now());
            assert_eq!(start.level(), ladder[tier.start_rung()]);
        }
    }

    #[test]
    fn tier_names_round_trip() {
        for tier in [LinkTier::Datacenter, LinkTier::Internet] {
            assert_eq!(LinkTier::from_name(tier.name()), Some(tier));
        }
        assert_eq!(LinkTier::from_name("lan"), None);
        assert_eq!(LinkTier::from_name("Internet"), None);
    }

    #[test]
    fn alternating_windows_around_the_thresholds_do_not_flap() {
        let config = LevelControlConfig::DEFAULTS;
        assert_eq!(config.window, Duration::from_millis(200));
        assert_eq!(config.dwell, Duration::from_secs(1));
        let start = Instant::now();
        let mut now = start;
        let mut controller = LevelController::new(LinkTier::Internet, config, now);
        let mut changes: Vec<(Instant, bool)> = Vec::new();
        let seconds = 60u32;
        for window in 0..seconds * 5 {
            let fraction = if window % 2 == 0 { 0.04 } else { 0.31 };
            let before = controller.level();
            for (at, level) in drive(&mut controller, &mut now, config.window, fraction) {
                changes.push((at, level > before));
            }
        }
        let total = changes.len();
        assert!(
            total <= usize::try_from(seconds / 2).expect("small"),
            "well below one change per second: {total} changes in {seconds} s: {changes:?}"
        );
        let late = changes
            .iter()
            .filter(|(at, _)| at.saturating_duration_since(start) >= Duration::from_secs(30))
            .count();
        assert!(
            late <= 8,
            "failed probes back off: {late} changes in the last 30 s: {changes:?}"
        );
        // Within any one second there is at most one change, or a probe and
        // its undo.
        for (i, (at, _)) in changes.iter().enumerate() {
            let within: Vec<&(Instant, bool)> = changes[i..]
                .iter()
                .take_while(|(t, _)| t.saturating_duration_since(*at) < Duration::from_secs(1))
                .collect();
            match within.as_slice() {
                [_] => {}
                [(_, true), (_, false)] => {}
                other => panic!(
                    "flapping at {:?}: {other:?}",
                    at.saturating_duration_since(start)
                ),
            }
        }
    }

    /// A slow link and a CPU-starved encoder: zstd 1 moves the most guest
    /// memory per second while its engine is never blocked, and no zstd is
    /// link-bound at half that rate. The blocked-time rule alone walks down
    /// to no zstd and stays there; the throughput guard brings it back to
    /// zstd 1, where it stays but for one window per [`RUNG_RATE_MEMORY`]
    /// (the guard's knowledge of no zstd expires, and it is measured again).
    #[test]
    fn the_throughput_guard_keeps_the_rung_that_moves_the_most_memory() {
        // (blocked fraction, guest KB per tick) per level.
        let plant = |level: Level| match level {
            None => (0.9, 470u64),
            Some(1) => (0.0, 1000),
            Some(3) => (0.0, 600),
            _ => (0.0, 300),
        };
        let start = Instant::now();
        let mut now = start;
        let mut controller =
            LevelController::new(LinkTier::Internet, LevelControlConfig::DEFAULTS, now);
        let mut time_at = std::collections::HashMap::<Level, Duration>::new();
        let mut went_to_none_after_settling = 0;
        while now < start + Duration::from_secs(9) {
            let level = controller.level();
            let (fraction, kb_per_tick) = plant(level);
            now += TICK;
            let progressed = kb_per_tick * 1000;
            let changed = controller.observe(now, TICK.mul_f64(fraction), progressed);
            *time_at.entry(level).or_default() += TICK;
            if changed == Some(None) && now > start + Duration::from_secs(5) {
                went_to_none_after_settling += 1;
            }
        }
        // From 5 s to 9 s: one try of no zstd at most per memory span.
        let tries_max = u32::try_from(
            Duration::from_secs(4)
                .as_millis()
                .div_ceil(RUNG_RATE_MEMORY.as_millis()),
        )
        .expect("a few");
        assert!(
            went_to_none_after_settling <= tries_max,
            "{went_to_none_after_settling} tries: {time_at:?}"
        );
        let at_none = time_at.get(&None).copied().unwrap_or_default();
        let window = LevelControlConfig::DEFAULTS.window;
        assert!(at_none <= window * (1 + tries_max), "{time_at:?}");
        assert_eq!(controller.level(), Some(1), "{time_at:?}");
        let at_one = time_at.get(&Some(1)).copied().unwrap_or_default();
        assert!(at_one >= Duration::from_secs(5), "{time_at:?}");
    }
}
