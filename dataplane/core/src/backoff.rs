//! Idle back-off for polling loops.
//!
//! # Design
//! A data-plane loop spins while it finds work. When a pass finds none it
//! calls [`IdleBackoff::idle`], which first spins (`SPIN_PASSES_MAX` passes,
//! cheap and lowest latency), then yields the core (`YIELD_PASSES_MAX`
//! passes), then sleeps for a doubling interval capped at
//! [`SLEEP_US_MAX`]. Any pass that finds work calls [`IdleBackoff::reset`].
//! With the cap at 1 ms an idle loop wakes 1000 times a second, which costs
//! well under 5% of a core, and the machine's two cores stay available to
//! the other stages and to the guest.

use std::time::Duration;

/// Idle passes spent spinning before the loop starts yielding.
pub const SPIN_PASSES_MAX: u32 = 64;
/// Idle passes spent yielding before the loop starts sleeping.
pub const YIELD_PASSES_MAX: u32 = 128;
/// The longest sleep of an idle loop, in microseconds. Work arrives through
/// [`crate::doorbell`]s, which end a sleep at once, so this cap only bounds
/// how late a loop notices what rings no bell: the fatal flag, cold-path
/// channel messages (reconnects, joins) and time-outs. 10 ms keeps an idle
/// loop at 100 wake-ups a second (measured: an established, idle migration
/// costs each process about 1% of a core; `tests/migration/t81_idle_dataplane.rs`).
pub const SLEEP_US_MAX: u64 = 10_000;
/// The first sleep of an idle loop, in microseconds.
pub const SLEEP_US_MIN: u64 = 10;

/// What an idle pass should do; [`IdleBackoff::idle`] does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleAction {
    /// Busy-wait one iteration (`spin_loop` hint).
    Spin,
    /// Give the core to another thread.
    Yield,
    /// Sleep this long.
    Sleep(Duration),
}

/// Spin, then yield, then sleep with a doubling, capped interval.
#[derive(Debug, Default, Clone)]
pub struct IdleBackoff {
    idle_passes: u32,
}

impl IdleBackoff {
    /// A back-off that starts by spinning.
    pub fn new() -> Self {
        Self::default()
    }

    /// The loop found work: the next idle pass starts by spinning again.
    pub fn reset(&mut self) {
        self.idle_passes = 0;
    }

    /// Decides what the next idle pass does (pure; see [`Self::idle`]).
    pub fn next_action(&mut self) -> IdleAction {
        let passes = self.idle_passes;
        self.idle_passes = self.idle_passes.saturating_add(1);
        if passes < SPIN_PASSES_MAX {
            IdleAction::Spin
        } else if passes < SPIN_PASSES_MAX + YIELD_PASSES_MAX {
            IdleAction::Yield
        } else {
            let doublings = (passes - SPIN_PASSES_MAX - YIELD_PASSES_MAX).min(16);
            let sleep_us = (SLEEP_US_MIN << doublings).min(SLEEP_US_MAX);
            IdleAction::Sleep(Duration::from_micros(sleep_us))
        }
    }

    /// Performs one idle pass whose sleeping phase sleeps through `bell`,
    /// unless `has_work` (checked after announcing the sleep) says otherwise.
    pub fn idle_on(&mut self, bell: &crate::doorbell::Doorbell, has_work: impl FnOnce() -> bool) {
        match self.next_action() {
            IdleAction::Spin => std::hint::spin_loop(),
            IdleAction::Yield => std::thread::yield_now(),
            IdleAction::Sleep(duration) => bell.sleep(duration, has_work),
        }
    }

    /// Performs one idle pass.
    pub fn idle(&mut self) {
        match self.next_action() {
            IdleAction::Spin => std::hint::spin_loop(),
            IdleAction::Yield => std::thread::yield_now(),
            IdleAction::Sleep(duration) => std::thread::sleep(duration),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_then_yields_then_sleeps_up_to_the_cap() {
        let mut backoff = IdleBackoff::new();
        for _ in 0..SPIN_PASSES_MAX {
            assert_eq!(backoff.next_action(), IdleAction::Spin);
        }
        for _ in 0..YIELD_PASSES_MAX {
            assert_eq!(backoff.next_action(), IdleAction::Yield);
        }
        assert_eq!(
            backoff.next_action(),
            IdleAction::Sleep(Duration::from_micros(SLEEP_US_MIN))
        );
        let mut last = Duration::ZERO;
        for _ in 0..100 {
            if let IdleAction::Sleep(d) = backoff.next_action() {
                assert!(d >= last);
                assert!(d <= Duration::from_micros(SLEEP_US_MAX));
                last = d;
            } else {
                panic!("back-off left the sleeping phase without a reset");
            }
        }
        assert_eq!(last, Duration::from_micros(SLEEP_US_MAX));
    }

    #[test]
    fn reset_returns_to_spinning() {
        let mut backoff = IdleBackoff::new();
        for _ in 0..1000 {
            backoff.next_action();
        }
        backoff.reset();
        assert_eq!(backoff.next_action(), IdleAction::Spin);
    }
}
