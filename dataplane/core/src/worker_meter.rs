//! Busy and idle time of one worker thread, and the frames and bytes it handled.
//!
//! # Design
//! A worker thread (engine, decoder, transport) owns an [`IdleClock`] and
//! tells it when it starts and stops idling, with the `now` it already read
//! for its own loop; the clock never reads time itself. Every
//! [`PUBLISH_INTERVAL`] (or when the thread asks) the clock stores the
//! totals into the shared [`WorkerMeter`]: four `Relaxed` stores, no lock,
//! so the hot path pays nothing per page. Readers (the serve loop that
//! writes the tables' worker records) take a [`WorkerSnapshot`]; its fields
//! are individually current but not one atomic view, which is what counters
//! sampled every 100 ms need.
//!
//! Busy time is wall time since the clock started minus idle time, so time
//! the thread was descheduled while working counts as busy: it is the
//! thread's share of the wall clock, the figure an operator compares with
//! 100% to see which stage limits a migration.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// How often an [`IdleClock`] stores its totals into its meter on its own.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(20);

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Its clock has not started.
    NotStarted,
    /// Running.
    Running,
    /// Its clock stopped: the thread ended.
    Ended,
}

/// The shared side: totals of one worker thread.
#[derive(Debug, Default)]
pub struct WorkerMeter {
    busy_ns: AtomicU64,
    idle_ns: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
    /// The pinned core plus one; 0 = not pinned.
    core_plus_one: AtomicU32,
    /// `WorkerState` as 0, 1, 2.
    state: AtomicU8,
}

/// A reading of a [`WorkerMeter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// Nanoseconds working (wall time minus idle time).
    pub busy_ns: u64,
    /// Nanoseconds idle (spinning, yielding or sleeping for lack of work).
    pub idle_ns: u64,
    /// Frames handled.
    pub frames: u64,
    /// Bytes handled.
    pub bytes: u64,
    /// The core the thread is pinned to, if it is.
    pub core: Option<u16>,
    /// Where the worker is.
    pub state: WorkerState,
}

impl WorkerMeter {
    /// Records the core the thread is pinned to (`None`: not pinned).
    pub fn set_core(&self, core: Option<usize>) {
        let code = core
            .and_then(|c| u32::try_from(c).ok())
            .map_or(0, |c| c.saturating_add(1));
        self.core_plus_one.store(code, Ordering::Relaxed);
    }

    /// Adds `frames` frames of `bytes` bytes in total.
    pub fn count(&self, frames: u64, bytes: u64) {
        self.frames.fetch_add(frames, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Sets the frame and byte totals (for threads that keep their own).
    pub fn set_counts(&self, frames: u64, bytes: u64) {
        self.frames.store(frames, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// The current totals.
    pub fn snapshot(&self) -> WorkerSnapshot {
        WorkerSnapshot {
            busy_ns: self.busy_ns.load(Ordering::Relaxed),
            idle_ns: self.idle_ns.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            core: match self.core_plus_one.load(Ordering::Relaxed) {
                0 => None,
                code => u16::try_from(code - 1).ok(),
            },
            state: match self.state.load(Ordering::Relaxed) {
                0 => WorkerState::NotStarted,
                1 => WorkerState::Running,
                _ => WorkerState::Ended,
            },
        }
    }
}

/// The thread's side: measures idle stretches and publishes into a meter.
#[derive(Debug)]
pub struct IdleClock<'a> {
    meter: &'a WorkerMeter,
    started: Instant,
    idle: Duration,
    idle_since: Option<Instant>,
    published: Instant,
}

impl<'a> IdleClock<'a> {
    /// Starts measuring at `now`; the meter shows the worker as running.
    pub fn start(meter: &'a WorkerMeter, now: Instant) -> Self {
        meter.state.store(1, Ordering::Relaxed);
        Self {
            meter,
            started: now,
            idle: Duration::ZERO,
            idle_since: None,
            published: now,
        }
    }

    /// The thread found no work at `now` (a no-op when already idle).
    pub fn idle_from(&mut self, now: Instant) {
        self.idle_since.get_or_insert(now);
    }

    /// The thread found work at `now`; publishes if due.
    pub fn busy_from(&mut self, now: Instant) {
        if let Some(since) = self.idle_since.take() {
            self.idle += now.saturating_duration_since(since);
        }
        self.publish_if_due(now);
    }

    /// Adds an idle stretch the thread measured itself.
    pub fn add_idle(&mut self, idle: Duration) {
        self.idle += idle;
    }

    /// Idle time so far, the open stretch up to `now` included.
    pub fn idle_at(&self, now: Instant) -> Duration {
        self.idle
            + self
                .idle_since
                .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// Publishes when [`PUBLISH_INTERVAL`] passed since the last time.
    pub fn publish_if_due(&mut self, now: Instant) {
        if now.saturating_duration_since(self.published) >= PUBLISH_INTERVAL {
            self.publish(now);
        }
    }

    /// Stores busy and idle totals as of `now` into the meter.
    pub fn publish(&mut self, now: Instant) {
        let idle = self.idle_at(now);
        let busy = now
            .saturating_duration_since(self.started)
            .saturating_sub(idle);
        self.meter
            .busy_ns
            .store(saturating_ns(busy), Ordering::Relaxed);
        self.meter
            .idle_ns
            .store(saturating_ns(idle), Ordering::Relaxed);
        self.published = now;
    }

    /// Publishes the totals as of `now` and marks the worker ended.
    pub fn stop(&mut self, now: Instant) {
        self.publish(now);
        self.meter.state.store(2, Ordering::Relaxed);
    }
}

fn saturating_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ns(d: Duration) -> u64 {
        saturating_ns(d)
    }

    #[test]
    fn busy_is_wall_time_minus_idle_stretches() {
        let meter = WorkerMeter::default();
        assert_eq!(meter.snapshot().state, WorkerState::NotStarted);
        let t0 = Instant::now();
        let mut clock = IdleClock::start(&meter, t0);
        clock.idle_from(t0 + ms(10));
        clock.idle_from(t0 + ms(15)); // still idle: the stretch began at 10
        clock.busy_from(t0 + ms(40));
        clock.add_idle(ms(5));
        clock.idle_from(t0 + ms(90));
        // The open stretch (90..100) counts at publish time.
        clock.publish(t0 + ms(100));
        let s = meter.snapshot();
        assert_eq!(s.idle_ns, ns(ms(30 + 5 + 10)));
        assert_eq!(s.busy_ns, ns(ms(100 - 45)));
        assert_eq!(s.state, WorkerState::Running);
        clock.stop(t0 + ms(120));
        let s = meter.snapshot();
        assert_eq!(s.idle_ns, ns(ms(65)));
        assert_eq!(s.busy_ns, ns(ms(55)));
        assert_eq!(s.state, WorkerState::Ended);
    }

    #[test]
    fn publishes_on_its_own_only_after_the_interval() {
        let meter = WorkerMeter::default();
        let t0 = Instant::now();
        let mut clock = IdleClock::start(&meter, t0);
        clock.busy_from(t0 + PUBLISH_INTERVAL / 2);
        assert_eq!(meter.snapshot().busy_ns, 0, "not due yet");
        clock.busy_from(t0 + PUBLISH_INTERVAL);
        assert_eq!(meter.snapshot().busy_ns, ns(PUBLISH_INTERVAL));
    }

    #[test]
    fn counts_and_core_round_trip() {
        let meter = WorkerMeter::default();
        assert_eq!(meter.snapshot().core, None);
        meter.set_core(Some(3));
        meter.count(2, 100);
        meter.count(1, 50);
        let s = meter.snapshot();
        assert_eq!((s.frames, s.bytes, s.core), (3, 150, Some(3)));
        meter.set_counts(7, 9);
        meter.set_core(None);
        let s = meter.snapshot();
        assert_eq!((s.frames, s.bytes, s.core), (7, 9, None));
    }
}
