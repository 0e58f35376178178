//! The bottleneck server: when does a packet finish serialisation?
//!
//! # Design
//! A single FIFO server. A packet starts service at `max(now, busy_until)`
//! and departs when its bits have been served:
//! - constant rate: `start + len * 8 / rate`, in integer nanoseconds with the
//!   remainder carried to the next back-to-back packet, so N packets of L
//!   bytes take exactly `floor(N * L * 8e9 / rate)` ns (the carry is dropped
//!   when the server goes idle);
//! - rate steps (hsdpa traces): the bits are served across steps at each
//!   step's rate, zero-rate steps serving nothing;
//! - delivery opportunities (mahimahi traces): each opportunity serves
//!   `bytes_per_opportunity` bytes; bytes an opportunity has left after the
//!   packets waiting at its time are lost, a packet may span opportunities,
//!   and it departs at the time of the opportunity that serves its last byte.
//!
//! Trace time 0 is the `epoch` given at construction; traces loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::RateConfig;
use crate::trace::{BandwidthTrace, TraceShape, MAHIMAHI_OPPORTUNITY_BYTES};

const NANOS_PER_S: u128 = 1_000_000_000;

/// A FIFO server with a constant or trace-driven rate.
#[derive(Debug)]
pub(crate) struct Bottleneck {
    epoch: Instant,
    busy_until: Instant,
    service: Service,
}

#[derive(Debug)]
enum Service {
    Constant {
        bits_per_s: u64,
        /// Remainder of `bits * 1e9 / rate` not yet turned into a nanosecond.
        carry: u128,
    },
    Steps {
        trace: Arc<BandwidthTrace>,
        scale: f64,
        bits_per_period: f64,
    },
    Opportunities {
        trace: Arc<BandwidthTrace>,
        bytes_per_opportunity: u64,
        /// Global index (cycle * len + index) of the first unused opportunity.
        next_index: u64,
        /// Bytes left in the last used opportunity.
        credit_bytes: u64,
        /// When that opportunity occurred; its credit serves only packets
        /// that were already waiting then.
        credit_at: Option<Instant>,
    },
}

impl Bottleneck {
    /// A server idle at `epoch`, which is also trace time 0.
    pub(crate) fn new(rate: &RateConfig, epoch: Instant) -> Self {
        let service = match rate {
            RateConfig::Constant { bits_per_s } => Service::Constant {
                bits_per_s: *bits_per_s,
                carry: 0,
            },
            RateConfig::Trace { trace, scale } => match trace.shape() {
                TraceShape::Steps { .. } => Service::Steps {
                    trace: Arc::clone(trace),
                    scale: *scale,
                    bits_per_period: trace.bits_per_period() * scale,
                },
                TraceShape::Opportunities { .. } => {
                    // JUSTIFICATION: scale is in [1e-3, 1] (validated), so
                    // the product is in [1.5, 1500].
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let bytes = (f64::from(MAHIMAHI_OPPORTUNITY_BYTES) * scale).round() as u64;
                    Service::Opportunities {
                        trace: Arc::clone(trace),
                        bytes_per_opportunity: bytes.max(1),
                        next_index: 0,
                        credit_bytes: 0,
                        credit_at: None,
                    }
                }
            },
        };
        Bottleneck {
            epoch,
            busy_until: epoch,
            service,
        }
    }

    /// When the last accepted packet finishes serialisation.
    pub(crate) fn busy_until(&self) -> Instant {
        self.busy_until
    }

    /// Serves a packet of `len` bytes arriving at `now`; returns its
    /// departure time (never before `now`, never before the previous one).
    pub(crate) fn depart(&mut self, now: Instant, len: usize) -> Instant {
        let idle = now >= self.busy_until;
        let start = now.max(self.busy_until);
        let start_ns = nanos_between(self.epoch, start);
        let departure = match &mut self.service {
            Service::Constant { bits_per_s, carry } => {
                if idle {
                    *carry = 0;
                }
                let numerator = bits_of(len) * NANOS_PER_S + *carry;
                let rate = u128::from(*bits_per_s);
                *carry = numerator % rate;
                start + duration_from_nanos(numerator / rate)
            }
            Service::Steps {
                trace,
                scale,
                bits_per_period,
            } => {
                let end_ns = serve_steps(trace, *scale, *bits_per_period, start_ns, len);
                self.epoch + Duration::from_nanos(end_ns)
            }
            Service::Opportunities {
                trace,
                bytes_per_opportunity,
                next_index,
                credit_bytes,
                credit_at,
            } => {
                let mut need = len as u64;
                if *credit_at == Some(start) {
                    let take = need.min(*credit_bytes);
                    *credit_bytes -= take;
                    need -= take;
                }
                if need == 0 {
                    start
                } else {
                    let times = opportunity_times(trace);
                    let period_ns = trace.period_ns();
                    let mut index =
                        (*next_index).max(first_opportunity_at(times, period_ns, start_ns));
                    let mut time_ns;
                    loop {
                        time_ns = opportunity_time(times, period_ns, index);
                        index += 1;
                        if *bytes_per_opportunity >= need {
                            *credit_bytes = *bytes_per_opportunity - need;
                            break;
                        }
                        need -= *bytes_per_opportunity;
                    }
                    *next_index = index;
                    let departure = self.epoch + duration_from_nanos(u128::from(time_ns));
                    *credit_at = Some(departure);
                    departure
                }
            }
        };
        debug_assert!(departure >= start, "a packet departs before it starts");
        self.busy_until = departure;
        departure
    }
}

fn bits_of(len: usize) -> u128 {
    len as u128 * 8
}

fn nanos_between(earlier: Instant, later: Instant) -> u64 {
    u64::try_from(later.saturating_duration_since(earlier).as_nanos()).unwrap_or(u64::MAX)
}

fn duration_from_nanos(nanos: u128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

fn opportunity_times(trace: &BandwidthTrace) -> &[u64] {
    match trace.shape() {
        TraceShape::Opportunities { times_ns } => times_ns,
        TraceShape::Steps { .. } => {
            unreachable!("an opportunity service holds an opportunity trace")
        }
    }
}

/// Trace time of global opportunity `index` (cycle * len + position).
fn opportunity_time(times: &[u64], period_ns: u64, index: u64) -> u64 {
    let count = times.len() as u64;
    let cycle = index / count;
    // JUSTIFICATION: index % count < count = times.len(), a usize.
    #[allow(clippy::cast_possible_truncation)]
    let position = (index % count) as usize;
    cycle * period_ns + times[position]
}

/// Global index of the first opportunity at or after trace time `at_ns`.
fn first_opportunity_at(times: &[u64], period_ns: u64, at_ns: u64) -> u64 {
    let count = times.len() as u64;
    let cycle = at_ns / period_ns;
    let offset = at_ns % period_ns;
    let position = times.partition_point(|&time| time < offset) as u64;
    cycle * count + position
}

/// Trace time at which `len` bytes starting service at `start_ns` are done.
fn serve_steps(
    trace: &BandwidthTrace,
    scale: f64,
    bits_per_period: f64,
    start_ns: u64,
    len: usize,
) -> u64 {
    let TraceShape::Steps {
        starts_ns,
        bits_per_s,
    } = trace.shape()
    else {
        unreachable!("a step service holds a step trace");
    };
    let period_ns = trace.period_ns();
    // JUSTIFICATION: at most 65535 * 8 bits, exact in f64.
    #[allow(clippy::cast_precision_loss)]
    let mut bits = (len * 8) as f64;
    let mut now_ns = start_ns;
    // Skip whole periods first so that the walk below stays within about two
    // periods of steps whatever the rate.
    if bits > 2.0 * bits_per_period {
        // JUSTIFICATION: bits / bits_per_period is finite and positive here.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = (bits / bits_per_period).floor() as u64 - 1;
        // JUSTIFICATION: whole is small (bits <= 524280).
        #[allow(clippy::cast_precision_loss)]
        let served = whole as f64 * bits_per_period;
        bits -= served;
        now_ns += whole * period_ns;
    }
    loop {
        let cycle_start = now_ns - now_ns % period_ns;
        let offset = now_ns % period_ns;
        let position = starts_ns.partition_point(|&start| start <= offset) - 1;
        let step_end = starts_ns.get(position + 1).copied().unwrap_or(period_ns);
        let rate = bits_per_s[position] * scale;
        let step_left_ns = step_end - offset;
        if rate > 0.0 {
            // JUSTIFICATION: step lengths are below one day, exact in f64.
            #[allow(clippy::cast_precision_loss)]
            let available = rate * step_left_ns as f64 / 1e9;
            if available >= bits {
                // JUSTIFICATION: bits / rate * 1e9 <= step_left_ns, a u64.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let needed_ns = (bits / rate * 1e9).ceil() as u64;
                return now_ns + needed_ns.min(step_left_ns);
            }
            bits -= available;
        }
        now_ns = cycle_start + step_end;
    }
}
