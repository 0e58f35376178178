use std::time::{Duration, Instant};

use super::*;

fn push(ring: &mut PacketRing, len: usize, fill: u8, at: Instant) -> bool {
    match ring.reserve(len) {
        Some(region) => {
            region[..len].fill(fill);
            ring.commit(len, at);
            true
        }
        None => false,
    }
}

#[test]
fn packets_come_out_in_order_with_their_bytes() {
    let t0 = Instant::now();
    let mut ring = PacketRing::new(1000, 16);
    for k in 0..5u8 {
        assert!(push(
            &mut ring,
            100 + usize::from(k),
            k,
            t0 + Duration::from_millis(u64::from(k))
        ));
    }
    for k in 0..5u8 {
        let (at, bytes) = ring.front().expect("a packet");
        assert_eq!(at, t0 + Duration::from_millis(u64::from(k)));
        assert_eq!(bytes.len(), 100 + usize::from(k));
        assert!(bytes.iter().all(|&byte| byte == k));
        ring.pop_front();
    }
    assert!(ring.is_empty());
}

#[test]
fn the_tail_wraps_and_never_overwrites_held_packets() {
    let t0 = Instant::now();
    let mut ring = PacketRing::new(1000, 64);
    // 3 x 300 = 900 bytes; a 4th of 300 does not fit at the end or the start.
    for k in 0..3 {
        assert!(push(&mut ring, 300, k, t0));
    }
    assert!(!push(&mut ring, 300, 9, t0));
    // Free the first: 300 bytes at the start; the 100 at the end are skipped.
    ring.pop_front();
    assert!(push(&mut ring, 300, 3, t0));
    assert!(!push(&mut ring, 1, 9, t0), "full: tail met the head");
    ring.pop_front();
    assert!(push(&mut ring, 250, 4, t0));
    assert!(!push(&mut ring, 51, 9, t0));
    assert!(push(&mut ring, 50, 5, t0));
    for expected in [2u8, 3, 4, 5] {
        let (_, bytes) = ring.front().expect("a packet");
        assert!(
            bytes.iter().all(|&byte| byte == expected),
            "packet {expected} intact"
        );
        ring.pop_front();
    }
    assert!(ring.is_empty());
}

#[test]
fn an_abandoned_reservation_is_reused() {
    let t0 = Instant::now();
    let mut ring = PacketRing::new(1000, 4);
    assert!(ring.reserve(600).is_some());
    // Not committed (a dropped packet): the same space is handed out again.
    assert!(push(&mut ring, 600, 1, t0));
    assert_eq!(ring.len(), 1);
}

#[test]
fn the_slot_limit_refuses_packets() {
    let t0 = Instant::now();
    let mut ring = PacketRing::new(10_000, 3);
    for k in 0..3 {
        assert!(push(&mut ring, 10, k, t0));
    }
    assert!(ring.reserve(10).is_none());
    assert_eq!(ring.capacity_slots(), 3);
}

#[test]
#[should_panic(expected = "reordered")]
fn committing_an_earlier_time_is_a_bug() {
    let t0 = Instant::now();
    let mut ring = PacketRing::new(1000, 4);
    push(&mut ring, 10, 0, t0 + Duration::from_millis(5));
    push(&mut ring, 10, 0, t0);
}

#[test]
fn sizing_covers_queue_and_bytes_in_flight() {
    use crate::model::{DirectionConfig, QueueLimit, RateConfig};
    let config = DirectionConfig {
        rate: RateConfig::Constant {
            bits_per_s: 200_000_000,
        },
        delay: Duration::from_millis(50),
        jitter: None,
        loss: 0.0,
        burst_loss: None,
        queue: QueueLimit {
            packets: 2000,
            bytes: 3_000_000,
        },
    };
    let (bytes, slots) = PacketRing::size_for(&config, 1500);
    // (3 MB queue + 1.25 MB in flight + 96 kB) x 2.
    assert_eq!(bytes, 8_692_000);
    assert_eq!(slots, bytes / RING_BYTES_PER_SLOT);
}
