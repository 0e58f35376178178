//! The dirty loop: writes pages at a set byte rate (a token bucket refilled
//! from a monotonic clock) in a set pattern, or replays a recorded change,
//! and obeys pause/stop requests between page writes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

use crate::fill::{is_zero, PAGE};
use crate::replay::ReplayPlan;

/// Which pages get dirtied (`--pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pattern {
    /// Any page, uniformly.
    Uniform,
    /// 90% of writes in a hot set (random contiguous regions), 10% anywhere.
    Hotset,
    /// Walk the memory in order, wrapping around.
    Sequential,
}

/// A token bucket in bytes. Pure: the caller passes the time.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` bytes per second; at most `burst` bytes saved up (at least one
    /// page, so a page can always be taken eventually). Starts empty.
    pub fn new(rate: u64, burst: u64, now: Instant) -> Self {
        TokenBucket {
            rate: rate as f64,
            burst: burst.max(PAGE as u64) as f64,
            tokens: 0.0,
            last: now,
        }
    }

    /// The burst for a rate: 20 ms worth, at least one page.
    pub fn default_burst(rate: u64) -> u64 {
        (rate / 50).max(PAGE as u64)
    }

    fn refill(&mut self, now: Instant) {
        if now > self.last {
            let dt = (now - self.last).as_secs_f64();
            self.tokens = (self.tokens + self.rate * dt).min(self.burst);
            self.last = now;
        }
    }

    /// Takes `n` bytes if they are available at `now`.
    pub fn try_take(&mut self, n: u64, now: Instant) -> bool {
        self.refill(now);
        let n = n as f64;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// How long from `now` until `n` bytes are available.
    pub fn wait_time(&mut self, n: u64, now: Instant) -> Duration {
        self.refill(now);
        let missing = n as f64 - self.tokens;
        if missing <= 0.0 || self.rate <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(missing / self.rate).unwrap_or(Duration::MAX)
    }

    /// Forgets the time since the last refill (after a pause): no catch-up.
    pub fn reset(&mut self, now: Instant) {
        self.last = now;
    }
}

/// Picks the next page to dirty.
#[derive(Debug, Clone)]
pub enum PagePicker {
    Uniform {
        pages: usize,
    },
    Hotset {
        pages: usize,
        /// (first page, length) of each hot region, in address order.
        regions: Vec<(usize, usize)>,
        hot_pages: usize,
    },
    Sequential {
        pages: usize,
        next: usize,
    },
}

/// Float to usize for sizes computed from fractions; callers clamp.
#[allow(clippy::cast_possible_truncation)]
fn f64_to_usize(x: f64) -> usize {
    x.max(0.0) as usize
}

impl PagePicker {
    /// `pages` must be at least 1. The hot set (for `Hotset`) is up to 8
    /// contiguous regions, one in each eighth of memory, of random lengths
    /// adding up to about `hotset_fraction` of the pages.
    pub fn new(pattern: Pattern, pages: usize, hotset_fraction: f64, rng: &mut ChaCha8Rng) -> Self {
        let pages = pages.max(1);
        match pattern {
            Pattern::Uniform => PagePicker::Uniform { pages },
            Pattern::Sequential => PagePicker::Sequential { pages, next: 0 },
            Pattern::Hotset => {
                let want = f64_to_usize((pages as f64 * hotset_fraction).ceil()).clamp(1, pages);
                let k = want.min(8);
                let slot = pages / k;
                let weights: Vec<f64> = (0..k).map(|_| rng.gen_range(0.5..1.5)).collect();
                let sum: f64 = weights.iter().sum();
                let mut regions = Vec::with_capacity(k);
                for (i, w) in weights.iter().enumerate() {
                    let len = f64_to_usize((want as f64 * w / sum).round()).clamp(1, slot);
                    let start = i * slot + rng.gen_range(0..=slot - len);
                    regions.push((start, len));
                }
                let hot_pages = regions.iter().map(|r| r.1).sum();
                PagePicker::Hotset {
                    pages,
                    regions,
                    hot_pages,
                }
            }
        }
    }

    pub fn pick(&mut self, rng: &mut ChaCha8Rng) -> usize {
        match self {
            PagePicker::Uniform { pages } => rng.gen_range(0..*pages),
            PagePicker::Sequential { pages, next } => {
                let p = *next;
                *next = (p + 1) % *pages;
                p
            }
            PagePicker::Hotset {
                pages,
                regions,
                hot_pages,
            } => {
                if !rng.gen_bool(0.9) {
                    return rng.gen_range(0..*pages);
                }
                let mut r = rng.gen_range(0..*hot_pages);
                for &(start, len) in regions.iter() {
                    if r < len {
                        return start + r;
                    }
                    r -= len;
                }
                // Unreachable: r < hot_pages, the sum of the lengths.
                regions.first().map_or(0, |r| r.0)
            }
        }
    }
}

/// Gives a page a partial, realistic change and returns the bytes written:
/// rarely zeroes a whole page (freed), otherwise overwrites a random span of
/// 64..=4096 bytes (log-uniform length, so small changes are common) with
/// random bytes. On a zero page that turns it non-zero.
pub fn mutate_page(page: &mut [u8], rng: &mut ChaCha8Rng) -> usize {
    if rng.gen_bool(0.03) && !is_zero(page) {
        page.fill(0);
        return page.len();
    }
    let len = f64_to_usize(2f64.powf(rng.gen_range(6.0..=12.0))).clamp(64, page.len());
    let start = rng.gen_range(0..=page.len() - len);
    rng.fill_bytes(&mut page[start..start + len]);
    len
}

/// What the loop does.
#[derive(Debug)]
pub enum Workload {
    /// Nothing (rate 0): wait to be stopped.
    Idle,
    /// Dirty pages at a byte rate.
    Rate {
        bucket: TokenBucket,
        picker: PagePicker,
    },
    /// Replay a recorded change, then idle.
    Replay(ReplayPlan),
}

/// Most pages written between two checks of the clock and stop/duration.
const MAX_BATCH: usize = 256;
/// Longest sleep: an idle or slow guest wakes this often to check flags.
const MAX_SLEEP: Duration = Duration::from_millis(5);
/// A loop iteration this much later than the last means the process was
/// stopped (SIGSTOP) or starved; a replay schedule is shifted by the gap.
const GAP: Duration = Duration::from_millis(100);
/// When dirtying at a rate lands on a zero page, it is kept with this
/// probability (else another page is picked), so dirtying mostly hits used
/// memory and the zero fraction stays roughly as filled.
const KEEP_ZERO_PAGE: f64 = 0.1;
const PICK_ATTEMPTS: usize = 4;

impl Workload {
    fn start(&mut self, now: Instant) {
        match self {
            Workload::Idle => {}
            Workload::Rate { bucket, .. } => bucket.reset(now),
            Workload::Replay(plan) => plan.start(now),
        }
    }

    /// Time stood still for `gap` (pause or stop): no catch-up afterwards.
    fn skip(&mut self, gap: Duration, now: Instant) {
        match self {
            Workload::Idle => {}
            Workload::Rate { bucket, .. } => bucket.reset(now),
            Workload::Replay(plan) => plan.shift(gap),
        }
    }

    /// Dirties one page if one is due at `now`; returns the bytes written.
    fn step(&mut self, mem: &mut [u8], rng: &mut ChaCha8Rng, now: Instant) -> Option<usize> {
        match self {
            Workload::Idle => None,
            Workload::Rate { bucket, picker } => {
                if !bucket.try_take(PAGE as u64, now) {
                    return None;
                }
                let mut idx = picker.pick(rng);
                for _ in 1..PICK_ATTEMPTS {
                    let page = &mem[idx * PAGE..(idx + 1) * PAGE];
                    if !is_zero(page) || rng.gen_bool(KEEP_ZERO_PAGE) {
                        break;
                    }
                    idx = picker.pick(rng);
                }
                Some(mutate_page(&mut mem[idx * PAGE..(idx + 1) * PAGE], rng))
            }
            Workload::Replay(plan) => {
                if plan.applied() >= plan.due(now) {
                    return None;
                }
                plan.apply_next(mem).map(|_| PAGE)
            }
        }
    }

    /// How long until the next page is due (capped by the caller).
    fn wait(&mut self, now: Instant) -> Duration {
        match self {
            Workload::Idle => MAX_SLEEP,
            Workload::Rate { bucket, .. } => bucket.wait_time(PAGE as u64, now),
            Workload::Replay(plan) => plan.next_due_in(now).unwrap_or(MAX_SLEEP),
        }
    }
}

/// What the loop asks about each time round.
pub trait Control {
    fn stop_requested(&self) -> bool;
    fn pause_requested(&self) -> bool;
}

/// Where and for how long the loop runs.
#[derive(Debug, Default, Clone)]
pub struct RunConfig {
    pub duration: Option<Duration>,
    pub ready_file: Option<PathBuf>,
    pub state_file: Option<PathBuf>,
}

/// What the loop did; written as JSON to --stats-file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub pages_dirtied: u64,
    /// Bytes actually changed (span lengths); `bytes_dirtied` is in pages.
    pub bytes_written: u64,
    pub elapsed: Duration,
    pub memory_bytes: u64,
}

impl Stats {
    /// `bytes_dirtied` counts whole pages (what a migration source must
    /// resend), in the same unit as --dirty-rate.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"pages_dirtied\": {}, \"bytes_dirtied\": {}, \"elapsed_ms\": {}, \"memory_bytes\": {}, \"bytes_written\": {}}}\n",
            self.pages_dirtied,
            self.pages_dirtied * PAGE as u64,
            self.elapsed.as_millis(),
            self.memory_bytes,
            self.bytes_written,
        )
    }
}

/// Writes `contents` to `path` atomically: a temporary file in the same
/// directory, then rename.
pub fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// The dirty loop over a memory.
#[derive(Debug)]
pub struct Dirtier<'m> {
    mem: &'m mut [u8],
    workload: Workload,
    rng: ChaCha8Rng,
}

impl<'m> Dirtier<'m> {
    pub fn new(mem: &'m mut [u8], workload: Workload, rng: ChaCha8Rng) -> Self {
        Dirtier { mem, workload, rng }
    }

    /// Runs until `ctl` asks to stop or the duration has passed. Between
    /// page writes it checks for a pause request; once paused (the page in
    /// progress finished) it writes "paused\n" to the state file, and
    /// "running\n" when resumed (and at the start).
    pub fn run(&mut self, ctl: &impl Control, cfg: &RunConfig) -> Result<Stats> {
        let start = Instant::now();
        let mut stats = Stats {
            memory_bytes: self.mem.len() as u64,
            ..Stats::default()
        };
        self.workload.start(start);
        let state = |s: &str| match &cfg.state_file {
            Some(p) => write_atomic(p, s),
            None => Ok(()),
        };
        state("running\n")?;
        let mut ready = cfg.ready_file.is_none();
        let mut paused_since: Option<Instant> = None;
        let mut last_tick = start;
        let mut replay_done_logged = false;
        loop {
            let now = Instant::now();
            if ctl.stop_requested() || cfg.duration.is_some_and(|d| now - start >= d) {
                break;
            }
            if ctl.pause_requested() {
                if paused_since.is_none() {
                    paused_since = Some(now);
                    state("paused\n")?;
                    tracing::info!(pages_dirtied = stats.pages_dirtied, "paused");
                }
            } else if let Some(since) = paused_since.take() {
                self.workload.skip(now - since, now);
                state("running\n")?;
                tracing::info!(paused_ms = (now - since).as_millis(), "resumed");
            } else {
                let gap = now - last_tick;
                if gap > GAP {
                    self.workload.skip(gap, now);
                }
            }
            last_tick = now;

            let mut wrote = 0;
            if paused_since.is_none() {
                while wrote < MAX_BATCH && !ctl.pause_requested() && !ctl.stop_requested() {
                    match self.workload.step(self.mem, &mut self.rng, now) {
                        Some(n) => {
                            wrote += 1;
                            stats.pages_dirtied += 1;
                            stats.bytes_written += n as u64;
                        }
                        None => break,
                    }
                }
            }
            if !ready {
                if let Some(p) = &cfg.ready_file {
                    write_atomic(p, "ready\n")?;
                }
                ready = true;
            }
            if let Workload::Replay(plan) = &self.workload {
                if plan.is_done() && !replay_done_logged {
                    replay_done_logged = true;
                    tracing::info!(pages = plan.applied(), "replay complete; idle");
                }
            }
            if wrote < MAX_BATCH {
                let wait = if paused_since.is_some() {
                    Duration::from_millis(1)
                } else {
                    self.workload.wait(Instant::now())
                };
                std::thread::sleep(wait.clamp(Duration::from_micros(20), MAX_SLEEP));
            }
        }
        stats.elapsed = start.elapsed();
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::cell::Cell;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    /// Takes pages as fast as the bucket allows while fake time advances in
    /// `step` increments; returns the bytes taken over `total`.
    fn drain(rate: u64, step: Duration, total: Duration) -> u64 {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(rate, TokenBucket::default_burst(rate), t0);
        let mut taken = 0u64;
        let mut t = Duration::ZERO;
        while t <= total {
            while b.try_take(PAGE as u64, t0 + t) {
                taken += PAGE as u64;
            }
            t += step;
        }
        taken
    }

    fn within_5pct(got: u64, want: u64) -> bool {
        let (g, w) = (got as f64, want as f64);
        (g - w).abs() <= w * 0.05
    }

    #[test]
    fn bucket_respects_rate() {
        for (rate, step) in [
            (32u64 << 20, Duration::from_millis(1)),
            (32 << 20, Duration::from_millis(5)),
            (1 << 30, Duration::from_micros(300)),
            (4 << 20, Duration::from_millis(7)),
            (40_960, Duration::from_millis(3)),
        ] {
            let got = drain(rate, step, Duration::from_secs(10));
            assert!(
                within_5pct(got, rate * 10),
                "rate {rate} step {step:?}: {got}"
            );
        }
    }

    #[test]
    fn bucket_below_one_page_per_second() {
        // 1 KiB/s: a page every 4 s, so 25 pages in 100 s.
        let got = drain(1024, Duration::from_millis(50), Duration::from_secs(100));
        assert!((24..=25).contains(&(got / PAGE as u64)), "{got}");
    }

    #[test]
    fn bucket_has_no_catch_up_after_idle() {
        let t0 = Instant::now();
        let rate = 4 << 20;
        let mut b = TokenBucket::new(rate, TokenBucket::default_burst(rate), t0);
        let later = t0 + Duration::from_secs(60);
        let mut n = 0u64;
        while b.try_take(PAGE as u64, later) {
            n += PAGE as u64;
        }
        assert!(n <= TokenBucket::default_burst(rate));
        b.reset(later + Duration::from_secs(60));
        assert!(!b.try_take(PAGE as u64, later + Duration::from_secs(60)));
    }

    #[test]
    fn bucket_wait_time() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(PAGE as u64 * 100, PAGE as u64, t0);
        let w = b.wait_time(PAGE as u64, t0);
        assert!((w.as_secs_f64() - 0.01).abs() < 1e-6, "{w:?}");
        assert_eq!(
            b.wait_time(PAGE as u64, t0 + Duration::from_millis(20)),
            Duration::ZERO
        );
    }

    #[test]
    fn hotset_concentrates_writes() {
        let pages = 10_000;
        let mut r = rng(5);
        let mut p = PagePicker::new(Pattern::Hotset, pages, 0.1, &mut r);
        let PagePicker::Hotset {
            regions, hot_pages, ..
        } = p.clone()
        else {
            panic!("not a hotset picker");
        };
        assert!((900..=1100).contains(&hot_pages), "{hot_pages}");
        assert!(regions.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0));
        let hot = |i: usize| regions.iter().any(|&(s, l)| (s..s + l).contains(&i));
        let n = 100_000;
        let in_hot = (0..n).filter(|_| hot(p.pick(&mut r))).count();
        let frac = in_hot as f64 / n as f64;
        assert!((0.89..=0.93).contains(&frac), "{frac}");
    }

    #[test]
    fn hotset_whole_memory_and_tiny() {
        let mut r = rng(1);
        for (pages, f) in [(10, 1.0), (1, 0.1), (3, 0.5), (100, 0.001)] {
            let mut p = PagePicker::new(Pattern::Hotset, pages, f, &mut r);
            for _ in 0..1000 {
                assert!(p.pick(&mut r) < pages);
            }
        }
    }

    #[test]
    fn sequential_wraps() {
        let mut r = rng(1);
        let mut p = PagePicker::new(Pattern::Sequential, 3, 0.1, &mut r);
        let got: Vec<usize> = (0..7).map(|_| p.pick(&mut r)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn mutation_changes_pages() {
        let mut r = rng(2);
        let mut changed = 0;
        let mut zeroed = 0;
        for _ in 0..1000 {
            let mut page = vec![7u8; PAGE];
            let n = mutate_page(&mut page, &mut r);
            assert!((64..=PAGE).contains(&n));
            if page.iter().all(|&b| b == 0) {
                zeroed += 1;
            }
            if page != vec![7u8; PAGE] {
                changed += 1;
            }
        }
        assert!(changed >= 999);
        assert!((10..=60).contains(&zeroed), "{zeroed}");
        let mut zero = vec![0u8; PAGE];
        mutate_page(&mut zero, &mut r);
        assert!(!is_zero(&zero));
    }

    struct FakeControl {
        pause: Cell<bool>,
        calls: Cell<u64>,
        stop_after: u64,
    }

    impl Control for FakeControl {
        fn stop_requested(&self) -> bool {
            self.calls.set(self.calls.get() + 1);
            self.calls.get() > self.stop_after
        }
        fn pause_requested(&self) -> bool {
            self.pause.get()
        }
    }

    #[test]
    fn loop_dirties_at_rate() {
        let mut mem = vec![1u8; 4 << 20];
        let rate = 8u64 << 20;
        let now = Instant::now();
        let workload = Workload::Rate {
            bucket: TokenBucket::new(rate, TokenBucket::default_burst(rate), now),
            picker: PagePicker::new(Pattern::Uniform, 1024, 0.1, &mut rng(1)),
        };
        let ctl = FakeControl {
            pause: Cell::new(false),
            calls: Cell::new(0),
            stop_after: u64::MAX,
        };
        let cfg = RunConfig {
            duration: Some(Duration::from_millis(500)),
            ..RunConfig::default()
        };
        let stats = Dirtier::new(&mut mem, workload, rng(2))
            .run(&ctl, &cfg)
            .expect("run");
        let secs = stats.elapsed.as_secs_f64();
        let rate_got = stats.pages_dirtied as f64 * PAGE as f64 / secs;
        // Generous bounds: the machine running the tests may be loaded.
        assert!(
            rate_got > rate as f64 * 0.7 && rate_got < rate as f64 * 1.1,
            "{rate_got}"
        );
        assert!(stats
            .to_json()
            .contains(&format!("\"memory_bytes\": {}", 4 << 20)));
    }

    #[test]
    fn loop_paused_writes_nothing_and_says_so() {
        let dir = std::env::temp_dir().join(format!("guest-sim-loop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create test dir");
        let mut mem = vec![1u8; 1 << 20];
        let rate = 64u64 << 20;
        let workload = Workload::Rate {
            bucket: TokenBucket::new(rate, TokenBucket::default_burst(rate), Instant::now()),
            picker: PagePicker::new(Pattern::Sequential, 256, 0.1, &mut rng(1)),
        };
        let ctl = FakeControl {
            pause: Cell::new(true),
            calls: Cell::new(0),
            stop_after: 20,
        };
        let cfg = RunConfig {
            duration: None,
            ready_file: Some(dir.join("ready")),
            state_file: Some(dir.join("state")),
        };
        let stats = Dirtier::new(&mut mem, workload, rng(2))
            .run(&ctl, &cfg)
            .expect("run");
        assert_eq!(stats.pages_dirtied, 0);
        assert!(mem.iter().all(|&b| b == 1));
        assert_eq!(
            std::fs::read_to_string(dir.join("state")).expect("state"),
            "paused\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("ready")).expect("ready"),
            "ready\n"
        );
        std::fs::remove_dir_all(&dir).expect("remove test dir");
    }
}
