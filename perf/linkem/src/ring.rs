//! A preallocated FIFO of variable-length packets with delivery times.
//!
//! # Design
//! One contiguous byte buffer and a bounded slot queue, both allocated in
//! `new` (every page of the buffer touched there); nothing allocates
//! afterwards. Packets are appended at the tail in
//! the order the model accepted them, which is also delivery order (the
//! model never reorders), so the forwarder only ever looks at the front.
//!
//! A packet is read straight into the ring: `reserve(max_len)` hands out a
//! contiguous free region of `max_len` bytes (wrapping to offset 0 when the
//! end of the buffer is too short), the caller reads into it, then either
//! `commit`s the length it read with its delivery time or abandons it (the
//! next `reserve` reuses the region). Free space is derived from the first
//! and last slots: data occupies `[first.offset, last.end)` when
//! `last.offset >= first.offset`, and `[first.offset, cap) + [0, last.end)`
//! when the tail has wrapped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::model::DirectionConfig;
use crate::model::NORMAL_CUT_SCALES;
use crate::model::{JitterDistribution, RateConfig};

/// Smallest ring, in bytes.
pub const RING_BYTES_MIN: usize = 4 << 20;
/// Largest ring, in bytes, per direction.
pub const RING_BYTES_MAX: usize = 512 << 20;
/// Slots per ring byte: one slot per this many bytes of ring (a pure TCP
/// ACK is 52 bytes, so a ring full of ACKs still has slots).
pub const RING_BYTES_PER_SLOT: usize = 48;
/// Fewest slots.
pub const RING_SLOTS_MIN: usize = 1024;
/// Most slots per ring (16 MiB of slot entries).
pub const RING_SLOTS_MAX: usize = 1 << 20;
/// Headroom multiplier on the estimated bytes in flight.
pub const RING_HEADROOM: f64 = 2.0;
/// Stride of the pre-touch in `new`.
const PAGE_BYTES: usize = 4096;
/// Window over which a trace's peak rate is taken for sizing.
pub const PEAK_WINDOW: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: usize,
    len: usize,
    at: Instant,
}

impl Slot {
    fn end(&self) -> usize {
        self.offset + self.len
    }
}

/// A bounded FIFO of packets held until their delivery time.
#[derive(Debug)]
pub struct PacketRing {
    bytes: Box<[u8]>,
    slots: VecDeque<Slot>,
    slots_max: usize,
    /// (offset, length) handed out by the last `reserve`, not yet committed.
    reserved: Option<(usize, usize)>,
}

impl PacketRing {
    /// A ring of `bytes` bytes and at most `slots` packets.
    ///
    /// # Panics
    /// If either is 0.
    pub fn new(bytes: usize, slots: usize) -> Self {
        assert!(bytes > 0, "an empty ring");
        assert!(slots > 0, "a ring without slots");
        let mut buffer = vec![0u8; bytes].into_boxed_slice();
        // Touch every page now, so that the forwarding loop never takes a
        // first-touch page fault (or a compaction stall behind one).
        for page in buffer.chunks_mut(PAGE_BYTES) {
            page[0] = std::hint::black_box(0);
        }
        PacketRing {
            bytes: buffer,
            slots: VecDeque::with_capacity(slots),
            slots_max: slots,
            reserved: None,
        }
    }

    /// (bytes, slots) for one direction: the queue limit plus what the
    /// peak rate puts in flight during the longest delay and jitter, plus
    /// 64 packets of `mtu`, times `RING_HEADROOM`, clamped to
    /// `RING_BYTES_MIN..=RING_BYTES_MAX`; slots = bytes / 48 clamped to
    /// `RING_SLOTS_MIN..=RING_SLOTS_MAX`.
    pub fn size_for(config: &DirectionConfig, mtu: usize) -> (usize, usize) {
        let peak_bits_per_s = match &config.rate {
            // JUSTIFICATION: rates are below 2^53, exact in f64.
            #[allow(clippy::cast_precision_loss)]
            RateConfig::Constant { bits_per_s } => *bits_per_s as f64,
            RateConfig::Trace { trace, scale } => trace.peak_bits_per_s(PEAK_WINDOW) * scale,
        };
        let jitter_max = config
            .jitter
            .map_or(Duration::ZERO, |jitter| match jitter.distribution {
                JitterDistribution::Uniform => jitter.scale,
                JitterDistribution::Normal => jitter.scale.mul_f64(NORMAL_CUT_SCALES),
            });
        let in_flight_bytes = peak_bits_per_s / 8.0 * (config.delay + jitter_max).as_secs_f64();
        // JUSTIFICATION: queue bytes are at most 1 GiB and mtu at most 64 KiB.
        #[allow(clippy::cast_precision_loss)]
        let fixed = (config.queue.bytes as f64) + 64.0 * mtu as f64;
        let wanted = (fixed + in_flight_bytes) * RING_HEADROOM;
        // JUSTIFICATION: clamped to RING_BYTES_MAX before the cast.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let bytes = wanted.clamp(RING_BYTES_MIN as f64, RING_BYTES_MAX as f64) as usize;
        let slots = (bytes / RING_BYTES_PER_SLOT).clamp(RING_SLOTS_MIN, RING_SLOTS_MAX);
        (bytes, slots)
    }

    /// A free contiguous region of `max_len` bytes, or `None` when the ring
    /// has no room (bytes or slots). Replaces any earlier reservation.
    pub fn reserve(&mut self, max_len: usize) -> Option<&mut [u8]> {
        self.reserved = None;
        if self.slots.len() >= self.slots_max || max_len > self.bytes.len() {
            return None;
        }
        let cap = self.bytes.len();
        let offset = match (self.slots.front(), self.slots.back()) {
            (Some(first), Some(last)) if last.offset >= first.offset => {
                if cap - last.end() >= max_len {
                    last.end()
                } else if first.offset >= max_len {
                    0
                } else {
                    return None;
                }
            }
            (Some(first), Some(last)) => {
                if first.offset - last.end() >= max_len {
                    last.end()
                } else {
                    return None;
                }
            }
            _ => 0,
        };
        self.reserved = Some((offset, max_len));
        Some(&mut self.bytes[offset..offset + max_len])
    }

    /// Appends the first `len` bytes of the last reservation, to be
    /// delivered at `at`.
    ///
    /// # Panics
    /// Without a reservation, with `len` 0 or above the reserved length, or
    /// with `at` before the current last packet's time (a reorder).
    pub fn commit(&mut self, len: usize, at: Instant) {
        let (offset, max_len) = self.reserved.take().expect("commit without reserve");
        assert!(len > 0, "an empty packet");
        assert!(len <= max_len, "packet longer than its reservation");
        if let Some(last) = self.slots.back() {
            assert!(at >= last.at, "packets would be reordered");
        }
        debug_assert!(
            self.slots.len() < self.slots_max,
            "reserve checked the slots"
        );
        self.slots.push_back(Slot { offset, len, at });
    }

    /// Delivery time of the front packet.
    pub fn next_due(&self) -> Option<Instant> {
        self.slots.front().map(|slot| slot.at)
    }

    /// The front packet and its delivery time.
    pub fn front(&self) -> Option<(Instant, &[u8])> {
        self.slots
            .front()
            .map(|slot| (slot.at, &self.bytes[slot.offset..slot.end()]))
    }

    /// Removes the front packet.
    pub fn pop_front(&mut self) {
        self.slots.pop_front();
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no packet is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Capacity in bytes.
    pub fn capacity_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Capacity in packets.
    pub fn capacity_slots(&self) -> usize {
        self.slots_max
    }
}

#[cfg(test)]
#[path = "ring_test.rs"]
mod tests;
