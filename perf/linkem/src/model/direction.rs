//! One direction of the emulated link: loss, bottleneck queue, delay, jitter.
//!
//! # Design
//! For each packet offered at `now`, in this order:
//! 1. packets whose serialisation ended by `now` leave the queue;
//! 2. loss: the independent random loss and the Gilbert–Elliott chain each
//!    decide; lost if either says so (`DropCause::Loss`). A lost packet
//!    takes no queue space and no bottleneck time (as in netem);
//! 3. tail drop: with the queue not empty, a packet that would make it hold
//!    more than `queue.packets` packets or `queue.bytes` bytes is dropped
//!    (`DropCause::Queue`);
//! 4. serialisation: the bottleneck gives its departure time;
//! 5. delivery at `departure + delay + jitter`, raised to the previous
//!    delivery time so that packets are never reordered.
//!
//! Pure: no clock, no I/O; the caller passes `now`, the seed fixes every
//! random draw. Call order: `new`, then `offer` with non-decreasing `now`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::bottleneck::Bottleneck;
use super::config::{DirectionConfig, PACKET_LEN_MAX};
use super::jitter;
use super::loss::LossModel;

const STREAM_RANDOM_LOSS: u64 = 1;
const STREAM_BURST_LOSS: u64 = 2;
const STREAM_JITTER: u64 = 3;

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    /// Random or bursty loss.
    Loss,
    /// The bottleneck queue was full (tail drop).
    Queue,
}

/// What happens to an offered packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it at `at` (never before `now`, never before the previous
    /// delivered packet).
    Deliver {
        /// Delivery time.
        at: Instant,
    },
    /// Drop it.
    Drop(DropCause),
}

/// Counters of one direction since `new`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DirectionStats {
    /// Packets offered.
    pub packets_offered: u64,
    /// Bytes offered.
    pub bytes_offered: u64,
    /// Packets given a delivery time.
    pub packets_delivered: u64,
    /// Bytes given a delivery time.
    pub bytes_delivered: u64,
    /// Packets dropped by random or bursty loss.
    pub dropped_loss: u64,
    /// Packets dropped because the queue was full.
    pub dropped_queue: u64,
}

/// The model of one direction of the link.
#[derive(Debug)]
pub struct LinkDirection {
    config: DirectionConfig,
    bottleneck: Bottleneck,
    loss: LossModel,
    jitter_rng: ChaCha8Rng,
    /// (departure from the bottleneck, length) of packets still in it.
    queue: VecDeque<(Instant, u32)>,
    queue_bytes: u64,
    last_delivery: Instant,
    last_offer: Instant,
    stats: DirectionStats,
}

fn rng_stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

impl LinkDirection {
    /// A direction with an empty queue at `now` (also trace time 0). The
    /// config must have passed `DirectionConfig::validate`. Allocates its
    /// queue for `config.queue.packets` entries here, never in `offer`.
    pub fn new(config: DirectionConfig, seed: u64, now: Instant) -> Self {
        let loss = LossModel::new(
            config.loss,
            config.burst_loss,
            rng_stream(seed, STREAM_RANDOM_LOSS),
            rng_stream(seed, STREAM_BURST_LOSS),
        );
        LinkDirection {
            bottleneck: Bottleneck::new(&config.rate, now),
            loss,
            jitter_rng: rng_stream(seed, STREAM_JITTER),
            queue: VecDeque::with_capacity(config.queue.packets as usize),
            queue_bytes: 0,
            last_delivery: now,
            last_offer: now,
            stats: DirectionStats::default(),
            config,
        }
    }

    /// Decides the fate of a packet of `len` bytes arriving at `now`.
    ///
    /// # Panics
    /// If `len` is 0 or above `PACKET_LEN_MAX`, or `now` is earlier than the
    /// previous call's `now`: both are caller bugs.
    pub fn offer(&mut self, now: Instant, len: usize) -> Verdict {
        assert!(len > 0, "an empty packet");
        assert!(len <= PACKET_LEN_MAX, "packet of {len} bytes");
        assert!(now >= self.last_offer, "time went backwards");
        self.last_offer = now;
        self.stats.packets_offered += 1;
        self.stats.bytes_offered += len as u64;
        while let Some(&(departure, bytes)) = self.queue.front() {
            if departure > now {
                break;
            }
            self.queue.pop_front();
            self.queue_bytes -= u64::from(bytes);
        }
        if self.loss.is_lost() {
            self.stats.dropped_loss += 1;
            return Verdict::Drop(DropCause::Loss);
        }
        let limit = self.config.queue;
        let would_overflow = self.queue.len() >= limit.packets as usize
            || self.queue_bytes + len as u64 > limit.bytes;
        if !self.queue.is_empty() && would_overflow {
            self.stats.dropped_queue += 1;
            return Verdict::Drop(DropCause::Queue);
        }
        let departure = self.bottleneck.depart(now, len);
        debug_assert!(
            self.queue.len() < self.queue.capacity(),
            "queue ring would grow"
        );
        // JUSTIFICATION: len <= PACKET_LEN_MAX (asserted above) fits in u32.
        #[allow(clippy::cast_possible_truncation)]
        self.queue.push_back((departure, len as u32));
        self.queue_bytes += len as u64;
        let extra = match &self.config.jitter {
            Some(jitter) => jitter::sample(jitter, &mut self.jitter_rng),
            None => Duration::ZERO,
        };
        let at = (departure + self.config.delay + extra).max(self.last_delivery);
        self.last_delivery = at;
        self.stats.packets_delivered += 1;
        self.stats.bytes_delivered += len as u64;
        Verdict::Deliver { at }
    }

    /// Its configuration.
    pub fn config(&self) -> &DirectionConfig {
        &self.config
    }

    /// Counters since `new`.
    pub fn stats(&self) -> DirectionStats {
        self.stats
    }

    /// Packets accepted that had not finished serialisation at the last
    /// `offer`.
    pub fn queued_packets(&self) -> usize {
        self.queue.len()
    }

    /// When the bottleneck finishes the last accepted packet.
    pub fn busy_until(&self) -> Instant {
        self.bottleneck.busy_until()
    }
}

#[cfg(test)]
#[path = "direction_test.rs"]
mod tests;
