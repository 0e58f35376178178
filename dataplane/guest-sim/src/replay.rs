//! Replaying a recorded change between two real guest snapshots: the memory
//! starts as the "from" image, and every page that differs in the "to" image
//! is copied in, one at a time in random order, spread evenly over a set
//! time. At the end the memory equals the "to" image.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use memmap2::Mmap;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::fill::{is_zero, PAGE};

/// Indices of the pages that differ between `a` and `b` (same length).
pub fn differing_pages(a: &[u8], b: &[u8]) -> Vec<usize> {
    a.chunks(PAGE)
        .zip(b.chunks(PAGE))
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, _)| i)
        .collect()
}

/// Copies `src` into `dst` (same length), skipping pages that are zero in
/// `src`: `dst` must start zeroed (a fresh or truncated file), and those
/// pages then stay unallocated.
pub fn copy_nonzero_pages(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.chunks_mut(PAGE).zip(src.chunks(PAGE)) {
        if !is_zero(s) {
            d.copy_from_slice(s);
        }
    }
}

/// When each differing page is due: page `i` of `n` (in replay order) at
/// `start + span * (i + 1) / n`, so the last one lands at `start + span`.
#[derive(Debug, Clone)]
pub struct Schedule {
    n: usize,
    span: Duration,
    start: Instant,
}

impl Schedule {
    pub fn new(n: usize, span: Duration, start: Instant) -> Self {
        Schedule { n, span, start }
    }

    /// How many pages should have been copied by `now`.
    pub fn due(&self, now: Instant) -> usize {
        if self.span.is_zero() {
            return self.n;
        }
        let el = now.saturating_duration_since(self.start).as_nanos();
        let due = (self.n as u128 * el) / self.span.as_nanos();
        usize::try_from(due).unwrap_or(usize::MAX).min(self.n)
    }

    /// Time from `now` until page `done` (0-based) is due; None past the end.
    pub fn next_due_in(&self, done: usize, now: Instant) -> Option<Duration> {
        if done >= self.n {
            return None;
        }
        let at_ns = self.span.as_nanos() * (done as u128 + 1) / self.n as u128;
        let at = Duration::from_nanos(u64::try_from(at_ns).unwrap_or(u64::MAX));
        Some((self.start + at).saturating_duration_since(now))
    }
}

/// A replay in progress: the "to" image, the pages to copy in order, and
/// the schedule.
#[derive(Debug)]
pub struct ReplayPlan {
    to: Mmap,
    order: Vec<usize>,
    next: usize,
    schedule: Schedule,
}

fn map_image(path: &Path, flag: &str, size: usize) -> Result<Mmap> {
    let file = File::open(path).with_context(|| format!("{flag} {}: open", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("{flag} {}: stat", path.display()))?
        .len();
    if len != size as u64 {
        bail!(
            "{flag} {}: the image is {len} bytes but --size is {size} bytes; they must be equal",
            path.display()
        );
    }
    // SAFETY: the image is opened read-only and only read through this map.
    // Snapshot images are inputs nobody writes while the simulator runs; if
    // someone truncated one anyway, reads would fault (SIGBUS) rather than
    // silently corrupt this process.
    unsafe { Mmap::map(&file) }.with_context(|| format!("{flag} {}: mmap", path.display()))
}

impl ReplayPlan {
    /// Loads the two images (each exactly `mem.len()` bytes), copies `from`
    /// into `mem` (which must start zeroed), and finds the differing pages,
    /// shuffled by `rng`. The schedule spreads them over `span` from
    /// [`ReplayPlan::start`].
    pub fn load(
        from: &Path,
        to: &Path,
        span: Duration,
        mem: &mut [u8],
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let from_map = map_image(from, "--replay-from", mem.len())?;
        let to_map = map_image(to, "--replay-to", mem.len())?;
        copy_nonzero_pages(mem, &from_map);
        let mut order = differing_pages(&from_map, &to_map);
        order.shuffle(rng);
        Ok(ReplayPlan {
            schedule: Schedule::new(order.len(), span, Instant::now()),
            to: to_map,
            order,
            next: 0,
        })
    }

    /// Pages that differ (and will be copied in all).
    pub fn total(&self) -> usize {
        self.order.len()
    }

    pub fn applied(&self) -> usize {
        self.next
    }

    pub fn is_done(&self) -> bool {
        self.next >= self.order.len()
    }

    /// Starts the schedule at `now`.
    pub fn start(&mut self, now: Instant) {
        self.schedule.start = now;
    }

    /// Delays the rest of the schedule by `d` (time the guest stood still).
    pub fn shift(&mut self, d: Duration) {
        self.schedule.start += d;
    }

    pub fn due(&self, now: Instant) -> usize {
        self.schedule.due(now)
    }

    pub fn next_due_in(&self, now: Instant) -> Option<Duration> {
        self.schedule.next_due_in(self.next, now)
    }

    /// Copies the next differing page from the "to" image into `mem`;
    /// returns its index, or None when all are done.
    pub fn apply_next(&mut self, mem: &mut [u8]) -> Option<usize> {
        let page = *self.order.get(self.next)?;
        let r = page * PAGE..((page + 1) * PAGE).min(mem.len());
        mem[r.clone()].copy_from_slice(&self.to[r]);
        self.next += 1;
        Some(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn finds_differing_pages() {
        let a = vec![0u8; 8 * PAGE];
        let mut b = a.clone();
        b[3 * PAGE + 17] = 1;
        b[7 * PAGE] = 9;
        assert_eq!(differing_pages(&a, &b), vec![3, 7]);
        assert!(differing_pages(&a, &a).is_empty());
    }

    #[test]
    fn schedule_spreads_pages() {
        let t0 = Instant::now();
        let s = Schedule::new(100, Duration::from_secs(10), t0);
        assert_eq!(s.due(t0), 0);
        assert_eq!(s.due(t0 + Duration::from_millis(100)), 1);
        assert_eq!(s.due(t0 + Duration::from_secs(5)), 50);
        assert_eq!(s.due(t0 + Duration::from_secs(11)), 100);
        assert_eq!(s.next_due_in(0, t0), Some(Duration::from_millis(100)));
        assert_eq!(s.next_due_in(100, t0), None);
        let now = Schedule::new(5, Duration::ZERO, t0);
        assert_eq!(now.due(t0), 5);
    }

    #[test]
    fn replay_ends_at_the_to_image() {
        let dir = std::env::temp_dir().join(format!("guest-sim-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create test dir");
        let mut from = vec![0u8; 16 * PAGE];
        from[PAGE..2 * PAGE].fill(0xCC);
        from[5 * PAGE] = 3;
        let mut to = from.clone();
        to[PAGE + 100] = 1;
        to[5 * PAGE] = 0;
        to[9 * PAGE..10 * PAGE].fill(7);
        std::fs::write(dir.join("from"), &from).expect("write from");
        std::fs::write(dir.join("to"), &to).expect("write to");
        let mut mem = vec![0u8; 16 * PAGE];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut plan = ReplayPlan::load(
            &dir.join("from"),
            &dir.join("to"),
            Duration::from_secs(1),
            &mut mem,
            &mut rng,
        )
        .expect("load");
        assert!(mem == from);
        assert_eq!(plan.total(), 3);
        let t0 = Instant::now();
        plan.start(t0);
        assert_eq!(plan.due(t0), 0);
        while plan.apply_next(&mut mem).is_some() {}
        assert!(plan.is_done());
        assert!(mem == to);

        let mut small = vec![0u8; 8 * PAGE];
        let err = ReplayPlan::load(
            &dir.join("from"),
            &dir.join("to"),
            Duration::ZERO,
            &mut small,
            &mut rng,
        )
        .expect_err("size mismatch");
        assert!(format!("{err:#}").contains("--replay-from"));
        std::fs::remove_dir_all(&dir).expect("remove test dir");
    }
}
