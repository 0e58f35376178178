//! How many streams to open and how much each may hold in flight.
//!
//! # Design
//! The source keeps sealed frames until the destination acknowledges them
//! (written to its image). To keep a link busy, the bytes in flight over
//! all streams must cover what the link carries while a frame makes that
//! trip, and under loss that is several round trips, not one: TCP delivers
//! in order, so every byte behind a lost segment waits for its
//! retransmission (at 0.5 % loss and 200 Mbit/s a stream is behind a hole
//! most of the time), and frames also queue in the bottleneck and the
//! socket buffers and wait for the destination's write before their ack
//! leaves. Measured on the `internet` profile (docs/performance.md), frames
//! took 0.4 to 0.9 s from queued to acknowledged on a 100 ms link, and a
//! window of 4 round trips reached 0.70 of the link where 8 reached 0.84 to
//! 0.88. So the migration's window is [`WINDOW_RTTS`] round trips at the
//! link rate:
//!
//! ```text
//! link_window  = min(link_bytes_per_s × RTT × WINDOW_RTTS, WINDOW_TOTAL_BYTES_MAX)
//! capacity     = clamp(SO_SNDBUF / 2, STREAM_CAPACITY_MIN, STREAM_CAPACITY_MAX)
//! streams      = --streams, else clamp(⌈link_window / (STREAM_WINDOW_SOCKETS × capacity)⌉, 1, STREAMS_DERIVED_MAX)
//! window_bytes = max(⌈link_window / streams⌉, --inflight-frames × FRAME_BUFFER_LEN)
//! frames       = max(--inflight-frames,
//!                    min(⌈link_window / streams / FRAME_BYTES_PLANNED⌉, WINDOW_FRAMES_MAX / streams))
//! ```
//!
//! (`window_bytes` and `frames` per stream.) A stream's share is sized
//! from what its socket can buffer (the kernel's send buffer, half of which
//! is payload), so the stream count follows from the window in bytes, not
//! from an assumption about frame sizes. A stream's window may hold
//! [`STREAM_WINDOW_SOCKETS`] socket buffers: the part the socket cannot
//! take waits in the stream's queue, ready as it drains. Every extra TCP
//! flow through one bottleneck adds to its queue overflows and to the
//! chance that some stream's tail is in loss recovery when a round ends;
//! and since the page codec's streams own stripes of memory, fewer streams
//! carry the data as evenly. Measured with the real 1 GiB guest
//! (docs/performance.md), 3 streams against the 5 to 6 that one socket
//! buffer per stream gave: `internet` 5.9-6.0 s against 6.8-8.4 s,
//! `regional` 4.3-4.5 s against 6.1-6.9 s, `intercontinental` 11.5 s
//! against 12.6 s; incompressible memory on `internet` 0.855 of the link
//! against 0.862. The window is counted in
//! **bytes** ([`dwcp_uring::byte_window`]); the frame count only sizes the
//! frame buffers (one full-size buffer per frame, whatever its length),
//! planned for compressed frames of [`FRAME_BYTES_PLANNED`] (the real
//! guest's frames average 65 to 72 KB with the codec's batch format 2).
//!
//! The floor of a stream's window, `--inflight-frames` full frames (16:
//! 1024 raw pages), is the window every stream had when it was counted in
//! frames. It is needed twice: on a link with a small bandwidth-delay
//! product (loopback, a datacenter) the destination's processing, not the
//! network, dominates the ack's return, and that window kept it busy; and
//! with the page codec the engine fills one stream's page range a scan
//! window (1024 pages) at a time, so a stream that cannot take a whole
//! scan window holds the engine while the other streams drain (8 streams
//! of 2.5 MB each reached 0.59 of the `internet` link, against 0.83 for 5
//! of 4 MB). The floor raises neither the stream count nor the buffers.

use crate::config::STREAMS_DERIVED_MAX;
use crate::FRAME_BUFFER_LEN;
use std::time::Duration;

/// Round trips at the link rate the in-flight window covers.
pub const WINDOW_RTTS: u64 = 8;
/// Most bytes the derivation puts in flight over all streams.
pub const WINDOW_TOTAL_BYTES_MAX: u64 = 256 << 20;
/// Frame size the number of frame buffers is planned for.
pub const FRAME_BYTES_PLANNED: u64 = 64 << 10;
/// Most frame buffers the derivation plans over all streams (beyond
/// `--inflight-frames` per stream): 1024 × 260 KiB = 260 MiB.
pub const WINDOW_FRAMES_MAX: u64 = 1024;
/// Socket buffers of payload one stream's window may hold (see the module docs).
pub const STREAM_WINDOW_SOCKETS: u64 = 2;
/// Smallest payload one stream's socket is assumed to buffer.
pub const STREAM_CAPACITY_MIN: u64 = 1 << 20;
/// Largest payload one stream's socket is assumed to buffer.
pub const STREAM_CAPACITY_MAX: u64 = 64 << 20;
/// Payload one stream's socket is assumed to buffer when its send buffer
/// cannot be read.
pub const STREAM_CAPACITY_DEFAULT: u64 = 4 << 20;

const _: () = assert!(STREAM_CAPACITY_MIN <= STREAM_CAPACITY_DEFAULT);
const _: () = assert!(STREAM_CAPACITY_DEFAULT <= STREAM_CAPACITY_MAX);
const _: () = assert!(STREAM_CAPACITY_MIN >= FRAME_BUFFER_LEN as u64);
const _: () = assert!(WINDOW_FRAMES_MAX >= STREAMS_DERIVED_MAX);
const _: () = assert!(STREAMS_DERIVED_MAX <= dwcp_shared::limits::STREAMS_MAX as u64);

/// What the link needs, as the source measured and was told it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkEstimate {
    /// The link's bandwidth, bytes per second (`--link-mbps`).
    pub bytes_per_s: f64,
    /// The round-trip time (the first connection's).
    pub rtt: Duration,
    /// The send buffer the kernel gave that connection (`SO_SNDBUF`), if known.
    pub socket_send_buffer: Option<u64>,
}

/// The streams of a migration and each one's in-flight window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPlan {
    /// Streams to open.
    pub streams: u16,
    /// Most bytes of unacknowledged frames per stream.
    pub stream_window_bytes: u64,
    /// Most unacknowledged frames per stream (frame buffers).
    pub stream_frames: usize,
    /// The bytes all streams' windows hold together.
    pub window_total_bytes: u64,
}

impl WindowPlan {
    /// The plan for `link`, with `streams` fixed by the operator or
    /// derived, and `inflight_frames` (`--inflight-frames`) full frames as
    /// the floor of the window and the frame count of each stream.
    pub fn new(link: LinkEstimate, streams: Option<u16>, inflight_frames: usize) -> Self {
        assert!(inflight_frames >= 1, "at least one frame per stream");
        let floor_frames = inflight_frames as u64;
        let bdp = link.bytes_per_s.max(0.0) * link.rtt.as_secs_f64();
        let link_window = crate::saturating_u64((bdp * WINDOW_RTTS as f64).ceil())
            .clamp(1, WINDOW_TOTAL_BYTES_MAX);
        let capacity = link
            .socket_send_buffer
            .map_or(STREAM_CAPACITY_DEFAULT, |sndbuf| sndbuf / 2)
            .clamp(STREAM_CAPACITY_MIN, STREAM_CAPACITY_MAX);
        let streams = streams.unwrap_or_else(|| {
            let derived = link_window
                .div_ceil(capacity * STREAM_WINDOW_SOCKETS)
                .clamp(1, STREAMS_DERIVED_MAX);
            u16::try_from(derived).expect("clamped to STREAMS_DERIVED_MAX")
        });
        assert!(streams >= 1, "at least one stream");
        let stream_window_bytes = link_window
            .div_ceil(u64::from(streams))
            .max(floor_frames * FRAME_BUFFER_LEN as u64);
        let planned_frames = link_window
            .div_ceil(u64::from(streams))
            .div_ceil(FRAME_BYTES_PLANNED)
            .min(WINDOW_FRAMES_MAX / u64::from(streams));
        let stream_frames = usize::try_from(planned_frames.max(floor_frames))
            .expect("bounded by WINDOW_FRAMES_MAX or --inflight-frames");
        Self {
            streams,
            stream_window_bytes,
            stream_frames,
            window_total_bytes: stream_window_bytes * u64::from(streams),
        }
    }

    /// Frame buffers the source needs: per stream its window's frames and
    /// a queue of `queue_frames` between the engine and the transport, plus
    /// `slack` (the open batch, control frames).
    pub fn buffers(&self, queue_frames: usize, slack: u32) -> u32 {
        let per_stream = u32::try_from(self.stream_frames + queue_frames)
            .expect("bounded by WINDOW_FRAMES_MAX and INFLIGHT_FRAMES_MAX");
        u32::from(self.streams) * per_stream + slack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const FULL: u64 = FRAME_BUFFER_LEN as u64;

    fn link(mbps: f64, rtt: Duration, sndbuf: Option<u64>) -> LinkEstimate {
        LinkEstimate {
            bytes_per_s: mbps * 1e6 / 8.0,
            rtt,
            socket_send_buffer: sndbuf,
        }
    }

    fn internet() -> LinkEstimate {
        link(200.0, Duration::from_millis(100), Some(8 * MIB))
    }

    fn loopback() -> LinkEstimate {
        link(10_000.0, Duration::from_micros(50), Some(8 * MIB))
    }

    #[test]
    fn loopback_keeps_one_stream_of_sixteen_full_frames() {
        // 10 Gbit/s × 50 µs × 8 = 500 KB: far below the floor.
        let plan = WindowPlan::new(loopback(), None, 16);
        assert_eq!(plan.streams, 1);
        assert_eq!(plan.stream_frames, 16);
        assert_eq!(plan.stream_window_bytes, 16 * FULL);
        assert_eq!(plan.window_total_bytes, 16 * FULL);
        assert_eq!(plan.buffers(4, 4), 24);
    }

    #[test]
    fn the_internet_profile_gets_eight_round_trips_in_bytes() {
        // 200 Mbit/s × 100 ms = 2.5 MB; 8 round trips = 20 MB. The socket
        // buffers 4 MiB of payload (SO_SNDBUF 8 MiB), a stream's window two
        // of those: 3 streams of 6.67 MB.
        let plan = WindowPlan::new(internet(), None, 16);
        assert_eq!(plan.streams, 3);
        assert_eq!(plan.stream_window_bytes, 6_666_667);
        assert_eq!(plan.window_total_bytes, 3 * 6_666_667);
        // 6.67 MB in 64 KiB frames: 102 buffers, so 70 KB compressed
        // frames keep the window in flight, where 16 frames kept 1.1 MB.
        assert_eq!(plan.stream_frames, 102);
        assert_eq!(plan.buffers(4, 4), 3 * (102 + 4) + 4);
    }

    #[test]
    fn every_stream_holds_at_least_a_scan_window() {
        // 8 streams share 20 MB: 2.5 MB each, below 16 full frames.
        let eight = WindowPlan::new(internet(), Some(8), 16);
        assert_eq!(eight.streams, 8);
        assert_eq!(eight.stream_window_bytes, 16 * FULL);
        assert_eq!(eight.stream_frames, 39, "2.5 MB in 64 KiB frames");
        let many = WindowPlan::new(loopback(), Some(16), 16);
        assert_eq!(many.stream_window_bytes, 16 * FULL);
        assert_eq!(many.stream_frames, 16);
        // Two streams on the internet link: 10 MB each, above the floor.
        let two = WindowPlan::new(internet(), Some(2), 16);
        assert_eq!(two.stream_window_bytes, 10_000_000);
        assert_eq!(two.window_total_bytes, 20_000_000);
        assert_eq!(two.stream_frames, 153, "10 MB in 64 KiB frames");
    }

    #[test]
    fn the_socket_buffer_sets_the_stream_count() {
        let roomy = WindowPlan::new(
            link(200.0, Duration::from_millis(100), Some(64 * MIB)),
            None,
            16,
        );
        assert_eq!(roomy.streams, 1, "32 MiB of payload holds the 20 MB window");
        assert_eq!(roomy.stream_window_bytes, 20_000_000);
        assert_eq!(roomy.stream_frames, 306);
        // net.core.wmem_max's usual default: 212 992 bytes, doubled.
        let tight = WindowPlan::new(
            link(200.0, Duration::from_millis(100), Some(425_984)),
            None,
            16,
        );
        assert_eq!(tight.streams, 10, "1 MiB assumed at least: 2 MiB a stream");
        let unknown = WindowPlan::new(link(200.0, Duration::from_millis(100), None), None, 16);
        assert_eq!(unknown.streams, 3, "assumes 4 MiB per socket");
    }

    #[test]
    fn bounds_hold_on_a_huge_link_and_the_floor_follows_the_flag() {
        let huge = WindowPlan::new(
            link(400_000.0, Duration::from_secs(1), Some(8 * MIB)),
            None,
            16,
        );
        assert_eq!(huge.window_total_bytes, WINDOW_TOTAL_BYTES_MAX);
        assert_eq!(huge.streams, 16);
        assert_eq!(huge.stream_frames, 64, "1024 buffers over 16 streams");
        assert_eq!(huge.stream_window_bytes, WINDOW_TOTAL_BYTES_MAX / 16);
        let deep = WindowPlan::new(loopback(), None, 64);
        assert_eq!(
            (deep.streams, deep.stream_frames, deep.stream_window_bytes),
            (1, 64, 64 * FULL),
            "the floor is not a reason for more streams"
        );
    }
}
