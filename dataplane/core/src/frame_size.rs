//! How many pages the engine puts in a raw `PageBatch` frame.
//!
//! # Design
//! A frame is the unit every stage of the page path handles whole: it is
//! sealed, sent, received, opened, written and acknowledged at once, so a
//! page waits for the other pages of its frame at every stage. Full frames
//! ([`PAGES_PER_BATCH_MAX`], 256 KiB) cost the least per byte and are what
//! a busy link needs; on an idle link they are pure delay (measured on the
//! 2-core test machine with `perf/run.sh stages`, loopback at half load: a
//! frame's median enqueue to acknowledged 540-620 µs with 64 pages, 154-171
//! µs with this rule; docs/latency-profiling.md).
//!
//! So the frame follows the queue, as adaptive batching does: a new frame
//! holds about an eighth of the bytes already in flight on its stream
//! (sealed and not yet acknowledged), rounded up to a power of two and kept
//! within [`FRAME_PAGES_MIN`]..=[`PAGES_PER_BATCH_MAX`]. Its own service
//! time then adds at most about an eighth to the wait its pages would have
//! anyway. With a window of frames in flight (a loaded or long link) every
//! frame is full, as before; on an idle stream a frame is one page.
//!
//! Both bounds were measured, not assumed (loopback at half load, p99 of
//! enqueue to acknowledged on the 2-core machine, docs/latency-profiling.md
//! §4): eight runs each of the build with a floor of 8 pages and a quarter
//! of the flight and of the build with this rule (and a one-thread
//! destination), interleaved, read 315-815 µs (median 394) against 159-387
//! µs (median 258), the unpaced rate unchanged; a sixteenth made frames so
//! small that their per-frame costs (a header, an AEAD tag, an
//! acknowledgement, a wake-up of each stage) showed again.

use dwcp_shared::limits::{PAGES_PER_BATCH_MAX, PAGE_SIZE};

/// The fewest pages a frame is cut at: one page, so that a page on an idle
/// stream waits for no other (what the per-frame costs take back is bounded
/// by [`IN_FLIGHT_SHARE`], which grows the frame with the queue).
pub const FRAME_PAGES_MIN: usize = 1;

/// A new frame holds about `1 / IN_FLIGHT_SHARE` of the bytes in flight.
pub const IN_FLIGHT_SHARE: u64 = 8;

const _: () = assert!(FRAME_PAGES_MIN.is_power_of_two());
const _: () = assert!(FRAME_PAGES_MIN <= PAGES_PER_BATCH_MAX as usize);

/// True if `pages` may be the smallest frame (`--frame-pages-min`): a power
/// of two within [`FRAME_PAGES_MIN`]..=[`PAGES_PER_BATCH_MAX`].
pub fn is_valid_pages_min(pages: usize) -> bool {
    pages.is_power_of_two() && (FRAME_PAGES_MIN..=PAGES_PER_BATCH_MAX as usize).contains(&pages)
}

/// The page count to cut a raw frame at, given the bytes sealed and not
/// yet acknowledged on its stream, and the smallest frame allowed
/// (`pages_min`, see [`is_valid_pages_min`]; [`PAGES_PER_BATCH_MAX`] keeps
/// every frame full, as a run that must put the same bytes on the wire
/// every time needs).
pub fn frame_pages(inflight_bytes: u64, pages_min: usize) -> usize {
    assert!(is_valid_pages_min(pages_min), "pages_min {pages_min}");
    let share_pages = (inflight_bytes / IN_FLIGHT_SHARE).div_ceil(PAGE_SIZE as u64);
    let pages = usize::try_from(share_pages)
        .unwrap_or(usize::MAX)
        .clamp(pages_min, PAGES_PER_BATCH_MAX as usize);
    // At most 64 after the clamp, itself a power of two: no overflow, no cap.
    pages.next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = PAGE_SIZE as u64;
    const FULL: usize = PAGES_PER_BATCH_MAX as usize;

    #[test]
    fn an_idle_stream_gets_the_smallest_frames() {
        assert_eq!(frame_pages(0, FRAME_PAGES_MIN), FRAME_PAGES_MIN);
        assert_eq!(
            frame_pages(FRAME_PAGES_MIN as u64 * PAGE, FRAME_PAGES_MIN),
            FRAME_PAGES_MIN
        );
    }

    #[test]
    fn frames_grow_with_the_bytes_in_flight_to_a_full_frame() {
        assert_eq!(
            frame_pages(IN_FLIGHT_SHARE * 9 * PAGE, FRAME_PAGES_MIN),
            16,
            "9 pages round up to 16"
        );
        assert_eq!(
            frame_pages(IN_FLIGHT_SHARE * 32 * PAGE, FRAME_PAGES_MIN),
            32
        );
        assert_eq!(
            frame_pages(IN_FLIGHT_SHARE * 33 * PAGE, FRAME_PAGES_MIN),
            FULL
        );
        assert_eq!(
            frame_pages(16 * 256 * 1024, FRAME_PAGES_MIN),
            FULL,
            "a window of full frames"
        );
        assert_eq!(frame_pages(u64::MAX, FRAME_PAGES_MIN), FULL);
        assert_eq!(
            frame_pages(0, FULL),
            FULL,
            "a floor of 64 keeps frames full"
        );
        assert_eq!(frame_pages(0, 16), 16);
        assert!(is_valid_pages_min(1) && is_valid_pages_min(8) && is_valid_pages_min(64));
        assert!(!is_valid_pages_min(0) && !is_valid_pages_min(24) && !is_valid_pages_min(128));
        let mut last = 0;
        for inflight in (0..64 * 1024 * 1024).step_by(4096 * 7) {
            let pages = frame_pages(inflight, FRAME_PAGES_MIN);
            assert!(pages >= last, "monotonic at {inflight}");
            assert!(pages.is_power_of_two() && (FRAME_PAGES_MIN..=FULL).contains(&pages));
            last = pages;
        }
    }
}
