//! `Timed`: a predictor wrapper that measures each step's observe +
//! predict time, for the learned model's latency percentiles: wall time
//! (what a caller waits, including time the thread was not running) and
//! the thread's CPU time (the work itself, whatever else the machine
//! runs).

use crate::predict::{Horizon, LinkSample, Prediction, Predictor};
use std::cell::Cell;
use std::time::Instant;

/// Percentiles of per-step times, microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Slowest.
    pub max_us: f64,
}

impl Percentiles {
    /// The percentiles of `ns` (nanoseconds); `None` if empty.
    fn of(mut ns: Vec<u64>) -> Option<Self> {
        if ns.is_empty() {
            return None;
        }
        ns.sort_unstable();
        let at = |q: f64| {
            // An index within the vector's length.
            #[allow(clippy::cast_possible_truncation)]
            let index = ((ns.len() - 1) as f64 * q).round() as usize;
            ns[index] as f64 / 1000.0
        };
        Some(Self {
            p50_us: at(0.5),
            p99_us: at(0.99),
            max_us: at(1.0),
        })
    }
}

/// Latency of the steps a [`Timed`] predictor saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLatency {
    /// Steps measured.
    pub steps: usize,
    /// Wall time per step.
    pub wall: Percentiles,
    /// The thread's CPU time per step.
    pub cpu: Percentiles,
}

/// CPU time consumed by the calling thread, nanoseconds (0 if the clock
/// cannot be read).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the whole call, and
    // `clock_gettime` writes nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Wall and CPU nanoseconds of one step.
#[derive(Debug, Clone, Copy, Default)]
struct StepCost {
    wall_ns: u64,
    cpu_ns: u64,
}

impl StepCost {
    fn plus(self, other: Self) -> Self {
        Self {
            wall_ns: self.wall_ns.saturating_add(other.wall_ns),
            cpu_ns: self.cpu_ns.saturating_add(other.cpu_ns),
        }
    }
}

/// Wall and CPU clocks read together.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    wall: Instant,
    cpu_ns: u64,
}

impl Stamp {
    fn now() -> Self {
        Self {
            wall: Instant::now(),
            cpu_ns: thread_cpu_ns(),
        }
    }

    /// The cost since the stamp.
    fn cost(self) -> StepCost {
        let cpu_ns = thread_cpu_ns().saturating_sub(self.cpu_ns);
        StepCost {
            wall_ns: u64::try_from(self.wall.elapsed().as_nanos()).unwrap_or(u64::MAX),
            cpu_ns,
        }
    }
}

/// Wraps a predictor; a step's time is its `observe` plus the `predict`
/// calls before the next `observe`.
#[derive(Debug)]
pub struct Timed {
    inner: Box<dyn Predictor>,
    /// Cost of each finished step.
    steps: Vec<StepCost>,
    /// The current step's cost so far.
    current: Cell<StepCost>,
    started: bool,
}

impl Timed {
    /// Steps reserved up front, so that recording rarely allocates.
    const RESERVED_STEPS: usize = 1 << 18;

    /// `inner`, timed.
    pub fn new(inner: Box<dyn Predictor>) -> Self {
        Self {
            inner,
            steps: Vec::with_capacity(Self::RESERVED_STEPS),
            current: Cell::new(StepCost::default()),
            started: false,
        }
    }

    fn finish_step(&mut self) {
        if self.started {
            self.steps.push(self.current.get());
        }
        self.current.set(StepCost::default());
        self.started = false;
    }

    /// The percentiles over every step so far; `None` before one.
    pub fn latency(&mut self) -> Option<StepLatency> {
        self.finish_step();
        Some(StepLatency {
            steps: self.steps.len(),
            wall: Percentiles::of(self.steps.iter().map(|s| s.wall_ns).collect())?,
            cpu: Percentiles::of(self.steps.iter().map(|s| s.cpu_ns).collect())?,
        })
    }
}

impl Predictor for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn observe(&mut self, sample: &LinkSample) {
        self.finish_step();
        let started = Stamp::now();
        self.inner.observe(sample);
        self.current.set(started.cost());
        self.started = true;
    }

    fn predict(&self, horizon: Horizon) -> Option<Prediction> {
        let started = Stamp::now();
        let prediction = self.inner.predict(horizon);
        self.current.set(self.current.get().plus(started.cost()));
        prediction
    }

    fn reset(&mut self) {
        self.finish_step();
        self.inner.reset();
    }
}
