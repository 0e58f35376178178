//! The forwarding loop: one thread, both directions, no busy idling.
//!
//! # Design
//! Each pass: write every packet whose delivery time has come, or comes
//! within the direction's tolerance (both directions, FIFO, as the model
//! never reorders); `ppoll` the two TUN descriptors and the signalfd until
//! the next packet's [`wake_time`]; then read up to `BURST_MAX` packets
//! from each readable TUN straight into that direction's `PacketRing`, ask
//! the model for a verdict, and commit or drop.
//!
//! The tolerance is [`tolerance_of`] the one-way delay: a packet may leave
//! that much early. Timer wake-ups here are tens of microseconds late, so
//! where the tolerance is at least `SPIN_BELOW` the loop just wakes a
//! tolerance early; where it is less (paths under 50 ms each way) it wakes
//! `SPIN_BELOW` earlier still and spins (zero-timeout polls) for the rest.
//! It also spins when a read burst was cut short, never when no packet is
//! held. The timer slack of the thread is set to 1 ns so that `ppoll` wakes
//! when asked. Nothing allocates after `Forwarder::new`; nothing is logged
//! per packet. The lateness of every write (wall clock at `write` minus the
//! delivery time; 0 for a packet written early) goes into a preallocated
//! histogram.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dwcp_linkem::model::{DirectionConfig, DropCause, LinkDirection, Verdict};
use dwcp_linkem::ring::PacketRing;
use hdrhistogram::Histogram;

use super::report::{DirectionCounters, LatenessSummary};
use super::signals::SignalFd;
use super::tun::TunDevice;

/// Most packets read from one TUN device per pass. They share one arrival
/// time, so the default queue holds at least this many packets of the MTU.
pub const BURST_MAX: usize = 64;
const _: () = assert!(BURST_MAX as u64 <= dwcp_linkem::profile::QUEUE_DEFAULT_MTU_PACKETS_MIN);
/// Where the tolerance is under this, the loop wakes this long before a
/// packet's earliest time and spins (zero-timeout polls) for the rest.
pub const SPIN_BELOW: Duration = Duration::from_micros(50);
/// A packet may be written this fraction of its direction's one-way delay
/// before its computed time (the tolerance): 50 µs on `internet`'s 50 ms,
/// 0.1 % of the delay, far below what TCP can tell from jitter.
pub const TOLERANCE_DELAY_DIVISOR: u32 = 1000;
/// The largest tolerance, whatever the delay.
pub const TOLERANCE_MAX: Duration = Duration::from_micros(200);

/// How early a packet of a direction with this one-way delay may leave.
pub fn tolerance_of(delay: Duration) -> Duration {
    (delay / TOLERANCE_DELAY_DIVISOR).min(TOLERANCE_MAX)
}

/// When the loop must be awake for a packet due at `due` that may leave
/// `tolerance` early: `due − tolerance`, less [`SPIN_BELOW`] where the
/// tolerance cannot absorb a late timer (`now` if that is before the
/// clock's origin).
pub fn wake_time(due: Instant, tolerance: Duration, now: Instant) -> Instant {
    let spin = if tolerance >= SPIN_BELOW {
        Duration::ZERO
    } else {
        SPIN_BELOW
    };
    due.checked_sub(tolerance + spin).unwrap_or(now)
}

/// Longest sleep when no packet is held (signals wake the loop anyway).
pub const IDLE_WAIT_MAX: Duration = Duration::from_secs(1);
/// Highest lateness the histogram resolves, in nanoseconds (60 s).
const LATENESS_NS_MAX: u64 = 60_000_000_000;

/// One direction: its input device, model, ring and counters.
#[derive(Debug)]
struct Direction<'a> {
    input: &'a TunDevice,
    output: &'a TunDevice,
    model: LinkDirection,
    ring: PacketRing,
    /// Where packets go when the ring is full (read to drain the device).
    scratch: Box<[u8]>,
    mtu: usize,
    counters: DirectionCounters,
    lateness_ns: Histogram<u64>,
    /// How early a packet may leave ([`tolerance_of`] the delay).
    tolerance: Duration,
}

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A termination signal with this number.
    Signal(i32),
}

/// Both directions and the signal source.
#[derive(Debug)]
pub struct Forwarder<'a> {
    a2b: Direction<'a>,
    b2a: Direction<'a>,
    signals: &'a SignalFd,
}

impl<'a> Direction<'a> {
    fn new(
        input: &'a TunDevice,
        output: &'a TunDevice,
        config: DirectionConfig,
        seed: u64,
        mtu: usize,
        now: Instant,
    ) -> Result<Self> {
        let (bytes, slots) = PacketRing::size_for(&config, mtu);
        let lateness_ns = Histogram::new_with_bounds(1, LATENESS_NS_MAX, 3)
            .context("cannot allocate the lateness histogram")?;
        let counters = DirectionCounters {
            ring_bytes: bytes as u64,
            ring_slots: slots as u64,
            ..DirectionCounters::default()
        };
        let tolerance = tolerance_of(config.delay);
        Ok(Direction {
            input,
            output,
            tolerance,
            model: LinkDirection::new(config, seed, now),
            ring: PacketRing::new(bytes, slots),
            scratch: vec![0u8; mtu].into_boxed_slice(),
            mtu,
            counters,
            lateness_ns,
        })
    }

    /// Writes every held packet due by `now` plus the tolerance. One written
    /// early counts as on time (lateness 0).
    fn deliver_due(&mut self, now: Instant) {
        let horizon = now + self.tolerance;
        while let Some((at, packet)) = self.ring.front() {
            if at > horizon {
                break;
            }
            let written_at = Instant::now();
            match self.output.write_packet(packet) {
                Ok(()) => {
                    self.counters.packets_out += 1;
                    self.counters.bytes_out += packet.len() as u64;
                }
                Err(_) => self.counters.write_errors += 1,
            }
            let late_ns = u64::try_from(written_at.saturating_duration_since(at).as_nanos())
                .unwrap_or(u64::MAX);
            self.lateness_ns.saturating_record(late_ns.max(1));
            self.ring.pop_front();
        }
    }

    /// Reads up to `BURST_MAX` packets; returns true when the burst was
    /// cut short with packets possibly still waiting.
    fn read_burst(&mut self, now: Instant) -> io::Result<bool> {
        for _ in 0..BURST_MAX {
            let Some(region) = self.ring.reserve(self.mtu) else {
                match self.input.read_packet(&mut self.scratch)? {
                    Some(len) => {
                        self.counters.packets_in += 1;
                        self.counters.bytes_in += len as u64;
                        self.counters.dropped_ring += 1;
                        continue;
                    }
                    None => return Ok(false),
                }
            };
            let Some(len) = self.input.read_packet(region)? else {
                return Ok(false);
            };
            if len == 0 {
                continue;
            }
            self.counters.packets_in += 1;
            self.counters.bytes_in += len as u64;
            match self.model.offer(now, len) {
                Verdict::Deliver { at } => self.ring.commit(len, at),
                Verdict::Drop(DropCause::Loss) => self.counters.dropped_loss += 1,
                Verdict::Drop(DropCause::Queue) => self.counters.dropped_queue += 1,
            }
        }
        Ok(true)
    }

    /// When the loop must be awake for this direction's next packet
    /// ([`wake_time`]); `None` when no packet is held.
    fn wake_at(&self, now: Instant) -> Option<Instant> {
        let due = self.ring.next_due()?;
        Some(wake_time(due, self.tolerance, now))
    }

    fn finish(mut self) -> DirectionCounters {
        self.counters.held_at_exit = self.ring.len() as u64;
        self.counters.late_us = LatenessSummary::from_histogram(&self.lateness_ns);
        self.counters
    }
}

fn set_timer_slack_to_minimum() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and touches no
    // memory of ours.
    let result = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
    if result != 0 {
        tracing::warn!("cannot set the timer slack: {}", io::Error::last_os_error());
    }
}

fn timespec_of(wait: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(wait.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(wait.subsec_nanos().cast_signed()),
    }
}

impl<'a> Forwarder<'a> {
    /// Both directions, models started at `now`. A to B reads `tun_a` and
    /// writes `tun_b`; B to A the reverse. Allocates the rings here.
    pub fn new(
        tun_a: &'a TunDevice,
        tun_b: &'a TunDevice,
        a2b: DirectionConfig,
        b2a: DirectionConfig,
        seed: u64,
        mtu: usize,
        signals: &'a SignalFd,
    ) -> Result<Self> {
        let now = Instant::now();
        Ok(Forwarder {
            a2b: Direction::new(tun_a, tun_b, a2b, seed, mtu, now)?,
            b2a: Direction::new(tun_b, tun_a, b2a, seed ^ 0x9e37_79b9_7f4a_7c15, mtu, now)?,
            signals,
        })
    }

    /// (bytes, slots) of each direction's ring.
    pub fn ring_sizes(&self) -> [(usize, usize); 2] {
        [
            (
                self.a2b.ring.capacity_bytes(),
                self.a2b.ring.capacity_slots(),
            ),
            (
                self.b2a.ring.capacity_bytes(),
                self.b2a.ring.capacity_slots(),
            ),
        ]
    }

    /// Runs until a termination signal or an I/O error.
    pub fn run(&mut self) -> Result<StopReason> {
        set_timer_slack_to_minimum();
        let mut fds = [
            pollfd(self.a2b.input.as_raw_fd()),
            pollfd(self.b2a.input.as_raw_fd()),
            pollfd(self.signals.as_raw_fd()),
        ];
        let mut more_waiting = false;
        loop {
            let now = Instant::now();
            self.a2b.deliver_due(now);
            self.b2a.deliver_due(now);
            let now = Instant::now();
            let wake_at = match (self.a2b.wake_at(now), self.b2a.wake_at(now)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // Timer wake-ups here are tens of microseconds late
            // (docs/linkem.md): `wake_at` leaves room for that.
            let wait = match wake_at {
                _ if more_waiting => Duration::ZERO,
                Some(at) => at.saturating_duration_since(now),
                None => IDLE_WAIT_MAX,
            };
            let timeout = timespec_of(wait);
            // SAFETY: `fds` is a valid array of 3 pollfds and `timeout` a
            // valid timespec, both alive for the call; a null sigmask keeps
            // the current one.
            let ready = unsafe {
                libc::ppoll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    &timeout,
                    std::ptr::null(),
                )
            };
            if ready < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error).context("ppoll on the TUN devices");
            }
            if fds[2].revents != 0 {
                if let Some(signal) = self.signals.take().context("reading the signalfd")? {
                    return Ok(StopReason::Signal(signal));
                }
            }
            more_waiting = false;
            let now = Instant::now();
            if fds[0].revents != 0 {
                more_waiting |= self.a2b.read_burst(now).context("reading TUN device A")?;
            }
            if fds[1].revents != 0 {
                more_waiting |= self.b2a.read_burst(now).context("reading TUN device B")?;
            }
        }
    }

    /// The counters of both directions (A to B, B to A).
    pub fn finish(self) -> [DirectionCounters; 2] {
        [self.a2b.finish(), self.b2a.finish()]
    }
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tolerance_is_a_thousandth_of_the_delay_and_bounded() {
        let us = Duration::from_micros;
        assert_eq!(tolerance_of(Duration::from_millis(50)), us(50));
        assert_eq!(tolerance_of(Duration::from_millis(10)), us(10));
        assert_eq!(tolerance_of(us(50)), Duration::from_nanos(50));
        assert_eq!(tolerance_of(Duration::ZERO), Duration::ZERO);
        assert_eq!(tolerance_of(Duration::from_secs(2)), TOLERANCE_MAX);
        // Only delays of 50 ms and more leave the loop without a spin.
        assert!(tolerance_of(Duration::from_millis(50)) >= SPIN_BELOW);
        assert!(tolerance_of(Duration::from_millis(49)) < SPIN_BELOW);
    }

    #[test]
    fn the_loop_wakes_a_tolerance_early_and_spins_only_below_spin_below() {
        let now = Instant::now();
        let due = now + Duration::from_millis(10);
        let us = Duration::from_micros;
        // internet: 50 us early, no spin.
        assert_eq!(wake_time(due, us(50), now), due - us(50));
        assert_eq!(wake_time(due, us(125), now), due - us(125));
        // regional: 10 us early and 50 us of spin before that.
        assert_eq!(wake_time(due, us(10), now), due - us(60));
        // datacenter: as before the tolerance, 50 us of spin.
        assert_eq!(wake_time(due, Duration::ZERO, now), due - SPIN_BELOW);
        // Never later than the earliest time a packet may leave.
        for tolerance in [0, 10, 49, 50, 200].map(us) {
            assert!(wake_time(due, tolerance, now) <= due - tolerance);
        }
    }
}
