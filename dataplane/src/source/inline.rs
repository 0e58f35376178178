//! The source's transport run by the engine's thread, for an end that has
//! one core.
//!
//! # Design
//! Two polling threads pinned to one core only take turns, in slices of
//! tens of µs: an acknowledgement that arrives while the engine has the
//! core waits for the engine's slice to end before the transport reads it
//! (docs/latency-profiling.md §4). So when `--engine-core` and
//! `--transport-core` name the same core, the engine's thread runs the
//! transport's passes itself ([`SourceTransport::step`]):
//! - after each frame it queues, so the frame is written at once;
//! - once per scan window, so acknowledgements are read while it scans;
//! - in every wait: for queue room, a pool buffer, the pacer, the
//!   verdict, the ack of `Commit`, the queue to drain, a hold, a finisher.
//!
//! Everything the engine waits on but the clock, live settings and the
//! finishers comes from the transport, so an idle wait sleeps on the
//! transport's ring (its completions and its doorbell) rather than on the
//! engine's doorbell. The transport keeps its rules and its order of
//! events; only who runs it changes.

use dwcp_dataplane_core::backoff::{IdleAction, IdleBackoff};
use dwcp_dataplane_core::page_stages::PageStages;
use dwcp_dataplane_core::worker_meter::{IdleClock, WorkerMeter};
use dwcp_uring::source_io::{SourceStep, SourceTransport};
use std::time::{Duration, Instant};

/// The transport, run in passes by the engine's thread.
pub struct InlineTransport<'a> {
    /// `None` once the loop ended (and the connections were closed).
    transport: Option<SourceTransport>,
    /// The transport's frame latencies, once it ended.
    stages: PageStages,
    /// The transport's worker meter.
    meter: &'a WorkerMeter,
    /// Counts the transport's passes that did something as busy, the rest
    /// of the thread's time as idle.
    clock: IdleClock<'a>,
}

impl std::fmt::Debug for InlineTransport<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineTransport")
            .field("ended", &self.transport.is_none())
            .finish_non_exhaustive()
    }
}

impl<'a> InlineTransport<'a> {
    /// Takes over `transport`; its busy and idle time go to `meter`.
    pub fn new(transport: SourceTransport, meter: &'a WorkerMeter) -> Self {
        Self {
            transport: Some(transport),
            stages: PageStages::new(),
            meter,
            clock: IdleClock::start(meter, Instant::now()),
        }
    }

    /// One pass of the transport; true if it did something (its loop
    /// ending counts). Once the loop ended, false.
    pub fn pump(&mut self) -> bool {
        let Some(transport) = self.transport.as_mut() else {
            return false;
        };
        let now = Instant::now();
        match transport.step(now) {
            SourceStep::Worked => {
                self.clock.busy_from(now);
                let end = Instant::now();
                self.clock.idle_from(end);
                transport.report(self.meter);
                true
            }
            SourceStep::Idle => {
                self.clock.idle_from(now);
                false
            }
            SourceStep::Ended => {
                self.end();
                true
            }
        }
    }

    /// One step of a wait for `ready`: a pass of the transport, and if it
    /// did nothing and `ready` is false, one back-off action of `backoff`,
    /// whose sleep waits on the transport's ring.
    pub fn wait_step(&mut self, backoff: &mut IdleBackoff, ready: impl FnOnce() -> bool) {
        if self.pump() {
            backoff.reset();
            return;
        }
        if ready() {
            return;
        }
        match backoff.next_action() {
            IdleAction::Spin => std::hint::spin_loop(),
            IdleAction::Yield => std::thread::yield_now(),
            IdleAction::Sleep(timeout) => self.sleep(timeout),
        }
    }

    /// A pass of the transport; if it did nothing, a sleep of up to
    /// `timeout` on its ring (a completion ends it early), or a yield for
    /// a zero `timeout`. For waits on the clock: the caller checks again.
    pub fn wait(&mut self, timeout: Duration) {
        if self.pump() {
            return;
        }
        if timeout.is_zero() {
            std::thread::yield_now();
        } else {
            self.sleep(timeout);
        }
    }

    /// Sleeps up to `timeout` on the transport's ring; once its loop
    /// ended, on the clock.
    fn sleep(&mut self, timeout: Duration) {
        match self.transport.as_mut() {
            Some(transport) => transport.sleep(timeout),
            None => std::thread::sleep(timeout),
        }
    }

    /// Closes the connections after the loop ended, as the transport's
    /// own thread would at once.
    fn end(&mut self) {
        if let Some(transport) = self.transport.take() {
            self.stages = transport.finish(self.meter);
            self.clock.stop(Instant::now());
        }
    }

    /// Ends the transport (the caller marked the migration finished, or a
    /// fatal error is raised) and returns its frame latencies.
    pub fn finish(mut self) -> PageStages {
        self.end();
        std::mem::take(&mut self.stages)
    }
}

impl Drop for InlineTransport<'_> {
    /// A panicking engine drops its transport while unwinding: the
    /// connections are still closed and the kernel's operations on them
    /// waited for (or their buffers leaked), as at a normal end, so that no
    /// read completes into freed memory.
    fn drop(&mut self) {
        self.end();
    }
}
